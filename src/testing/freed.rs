//! Secrets typed into form fields do not outlive the field in freed memory.
//!
//! The lib's test binary runs on an allocator that, while a watch is on,
//! looks into every block given back for a sentinel and counts the blocks
//! that still hold it. Off, it costs one atomic load per free.

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

struct Watching;

static ON: AtomicBool = AtomicBool::new(false);
static FOUND: AtomicUsize = AtomicUsize::new(0);
/// What is looked for (a prefix of the sentinel: a reallocated buffer holds
/// only what had been typed when it grew).
const NEEDLE: &[u8] = b"Snt1n";
/// One watch at a time.
static WATCH: Mutex<()> = Mutex::new(());

unsafe impl GlobalAlloc for Watching {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        if ON.load(Ordering::Relaxed) {
            // SAFETY: the block is still ours until System.dealloc below.
            let block = unsafe { std::slice::from_raw_parts(ptr, layout.size()) };
            if block.windows(NEEDLE.len()).any(|w| w == NEEDLE) {
                FOUND.fetch_add(1, Ordering::Relaxed);
            }
        }
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static ALLOC: Watching = Watching;

/// Blocks freed during `f` that still held the sentinel.
fn freed_with_sentinel(f: impl FnOnce()) -> usize {
    let _one = WATCH.lock().unwrap_or_else(|e| e.into_inner());
    FOUND.store(0, Ordering::SeqCst);
    ON.store(true, Ordering::SeqCst);
    f();
    ON.store(false, Ordering::SeqCst);
    FOUND.load(Ordering::SeqCst)
}

/// The sentinel password, long enough that typing it grows the buffer
/// several times.
const SECRET: &str = "Snt1n-el-passw0rd-for-the-zeroise-test-that-is-long";

fn typed(input: &mut crate::ui::forms::LineInput, text: &str) {
    use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
    for c in text.chars() {
        input.key(&KeyEvent::new(KeyCode::Char(c), KeyModifiers::NONE));
    }
}

#[test]
fn the_watch_sees_a_plain_string_freed_with_the_secret() {
    let n = freed_with_sentinel(|| {
        let mut s = String::new();
        for c in SECRET.chars() {
            s.push(c);
        }
        drop(std::hint::black_box(s));
    });
    assert!(n >= 1, "a plain String leaves the text behind: {n}");
}

#[test]
fn a_typed_password_is_wiped_when_the_field_grows_edits_and_drops() {
    use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
    let n = freed_with_sentinel(|| {
        let mut input = crate::ui::forms::LineInput::default();
        typed(&mut input, SECRET);
        assert_eq!(input.text(), SECRET);
        // Edits in the middle, then clear with ctrl-u and type it again.
        input.key(&KeyEvent::new(KeyCode::Home, KeyModifiers::NONE));
        input.key(&KeyEvent::new(KeyCode::Delete, KeyModifiers::NONE));
        input.key(&KeyEvent::new(KeyCode::End, KeyModifiers::NONE));
        input.key(&KeyEvent::new(KeyCode::Char('u'), KeyModifiers::CONTROL));
        typed(&mut input, SECRET);
        let copy = input.clone();
        drop(std::hint::black_box(input));
        drop(std::hint::black_box(copy));
    });
    assert_eq!(n, 0, "freed blocks still held the typed password");
}

/// The console's `:password` form: typed twice, checked at every key (length,
/// common passwords, the second entry), then cancelled and closed.
#[test]
fn the_password_form_leaves_nothing_typed_in_freed_memory() {
    use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
    let n = freed_with_sentinel(|| {
        let mut app = crate::app::password_walk::tests::at_form(SECRET);
        app.update(crate::app::Msg::Key(KeyEvent::new(
            KeyCode::Esc,
            KeyModifiers::NONE,
        )));
        drop(std::hint::black_box(app));
    });
    assert_eq!(n, 0, "freed blocks still held the typed password");
}
