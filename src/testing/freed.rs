//! Secrets typed into form fields do not outlive the field in freed memory.
//!
//! The lib's test binary runs on an allocator that, while a watch is on,
//! looks into every block given back for a sentinel and counts the blocks
//! that still hold it. Off, it costs one atomic load per free.

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::Mutex;

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use zeroize::Zeroizing;

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

/// `parts` in one buffer sized up front (so that building it leaves no
/// copy behind: the test's own text must not be what the watch finds).
fn joined(parts: &[&str]) -> Zeroizing<String> {
    let mut s = Zeroizing::new(String::with_capacity(parts.iter().map(|p| p.len()).sum()));
    for p in parts {
        s.push_str(p);
    }
    s
}

/// The sentinel as base64-safe text (it sits in a key's body).
const SECRET_B64: &str = "Snt1nElPrivateKeyForTheZeroiseTestThatIsLongEnoughToGrow";

/// A PEM bundle whose private key carries the sentinel, with `eol` line
/// breaks (a terminal pastes `\r`) and a control character to drop.
fn pem_with_key(eol: &str) -> Zeroizing<String> {
    joined(&[
        "-----BEGIN CERTIFICATE-----",
        eol,
        "MIIBszCCAVmgAwIBAgIUYWJj",
        eol,
        "-----END CERTIFICATE-----",
        eol,
        "-----BEGIN PRIVATE KEY-----",
        eol,
        "MC4CAQAwBQYDK2VwBCIEI",
        SECRET_B64,
        "\x07",
        eol,
        "MC4CAQAwBQYDK2VwBCIEI",
        SECRET_B64,
        eol,
        "-----END PRIVATE KEY-----",
        eol,
    ])
}

/// The multi-line field (ssl-certificates, keys): a pasted private key,
/// edited (typed into, a line broken and joined again), then dropped.
#[test]
fn a_pasted_private_key_leaves_nothing_in_freed_memory() {
    use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
    let key = |c: KeyCode| KeyEvent::new(c, KeyModifiers::NONE);
    let n = freed_with_sentinel(|| {
        let mut input = crate::ui::forms::MultiLineInput::default();
        input.paste(&pem_with_key("\r"));
        assert!(input.value().contains(SECRET_B64));
        // Pasted again in the middle of a line, typed into, Enter and
        // Backspace (a line split and joined).
        input.key(&key(KeyCode::Up));
        input.key(&key(KeyCode::Up));
        input.paste(&pem_with_key("\r\n"));
        for c in SECRET_B64.chars() {
            input.key(&key(KeyCode::Char(c)));
        }
        input.key(&key(KeyCode::Enter));
        input.key(&key(KeyCode::Backspace));
        let value = input.value();
        assert!(value.contains(SECRET_B64));
        drop(std::hint::black_box(value));
        drop(std::hint::black_box(input));
    });
    assert_eq!(n, 0, "freed blocks still held the pasted key");
}

/// `harvcred password set` reads the password from stdin.
#[test]
fn the_password_read_from_stdin_leaves_nothing_in_freed_memory() {
    let n = freed_with_sentinel(|| {
        let typed = joined(&[SECRET, "\r\n"]);
        let mut input = std::io::Cursor::new(typed.as_bytes());
        let read = crate::cli::password::read_secret("New rancher password", &mut input).unwrap();
        assert_eq!(read.as_str(), SECRET);
        drop(std::hint::black_box(read));
    });
    assert_eq!(n, 0, "freed blocks still held the password read");
}

/// `harvcred settings set ssl-certificates --key-file -` reads the key from
/// stdin: a small key and one larger than the buffer reserved up front.
#[test]
fn a_key_read_from_stdin_leaves_nothing_in_freed_memory() {
    for size in [3_000, 200_000] {
        let n = freed_with_sentinel(|| {
            let pem = pem_with_key("\n");
            let mut text = Zeroizing::new(String::with_capacity(size + pem.len()));
            text.push_str(&pem);
            while text.len() < size {
                text.push_str(SECRET_B64);
            }
            // A pipe gives what it holds, a page at a time.
            struct Pipe<'a>(&'a [u8]);
            impl std::io::Read for Pipe<'_> {
                fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
                    let n = buf.len().min(self.0.len()).min(4096);
                    buf[..n].copy_from_slice(&self.0[..n]);
                    self.0 = &self.0[n..];
                    Ok(n)
                }
            }
            let read = crate::cli::settings::read_all(Pipe(text.as_bytes())).unwrap();
            assert!(read.contains(SECRET_B64));
            drop(std::hint::black_box(read));
        });
        assert_eq!(n, 0, "{size} bytes: freed blocks still held the key read");
    }
}

/// What a node answers (`sudo cat` of a token file, the gather script's
/// shadow line and token files) is read through a buffer wiped whenever it
/// grows: 200 kB arriving a page at a time, as over the mux.
#[test]
fn a_node_answer_read_over_ssh_leaves_nothing_in_freed_memory() {
    let n = freed_with_sentinel(|| {
        let mut text = Zeroizing::new(String::with_capacity(200_000 + SECRET.len()));
        while text.len() < 200_000 {
            text.push_str(SECRET);
        }
        let rt = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        let read = rt.block_on(async {
            let mut pipe = text.as_bytes();
            crate::node::pool::read_capped(&mut pipe, 1 << 20)
                .await
                .unwrap()
                .unwrap()
        });
        let read = Zeroizing::new(read);
        assert_eq!(read.len(), text.len());
        drop(std::hint::black_box(read));
        drop(rt);
    });
    assert_eq!(n, 0, "freed blocks still held the node's answer");
}

/// The gather script's answer: a file's content (here rancher's shadow
/// line) decoded into a buffer of its own that is wiped with the result.
#[test]
fn gathered_file_contents_are_wiped_with_the_result() {
    use base64::Engine as _;
    let n = freed_with_sentinel(|| {
        let line = joined(&["rancher:$6$salt$", SECRET, ":19000:0:99999:7:::\n"]);
        let b64 = Zeroizing::new(base64::engine::general_purpose::STANDARD.encode(line.as_bytes()));
        let out = joined(&["T 1700000000\nF /etc/shadow\n", &b64, "\n"]);
        let files = crate::node::gather::parse(out.as_bytes()).unwrap();
        assert_eq!(files.files.len(), 1);
        drop(std::hint::black_box(files));
    });
    assert_eq!(n, 0, "freed blocks still held the shadow line");
}

/// A Setting read from the API (its value may hold a proxy's credentials,
/// a registry password or a private key; an annotation may copy it): the
/// object is wiped once read, and the value kept is zeroised.
#[test]
fn a_setting_read_from_the_api_leaves_nothing_in_freed_memory() {
    let n = freed_with_sentinel(|| {
        let json = joined(&[
            r#"{"apiVersion":"harvesterhci.io/v1beta1","kind":"Setting","metadata":{"name":"containerd-registry","resourceVersion":"7","annotations":{"copy":""#,
            SECRET,
            r#""}},"value":""#,
            SECRET,
            r#"","default":"{}"}"#,
        ]);
        let obj: kube::api::DynamicObject = serde_json::from_slice(json.as_bytes()).unwrap();
        let read = crate::cluster::settings::SettingRead::of(obj);
        assert_eq!(*read.value, SECRET);
        drop(std::hint::black_box(read));
    });
    assert_eq!(n, 0, "freed blocks still held the setting's value");
}

/// `password set` and `proxy set` read their secret line from stdin one
/// byte at a time: nothing past the line is taken from the pipe (std's
/// stdin would keep it, and the line, in a buffer for the process's life),
/// and no freed block holds it.
#[test]
fn a_secret_line_read_unbuffered_takes_nothing_past_it_and_leaves_nothing() {
    use std::io::Read as _;
    let (rx, tx) = nix::unistd::pipe().unwrap();
    let sent = joined(&[SECRET, "\nwhat follows\n"]);
    nix::unistd::write(&tx, sent.as_bytes()).unwrap();
    drop(tx);
    let n = freed_with_sentinel(|| {
        use std::os::fd::AsRawFd as _;
        let mut input = crate::hardening::UnbufferedFd::new(rx.as_raw_fd());
        let read = crate::cli::password::read_secret("New rancher password", &mut input).unwrap();
        assert_eq!(read.as_str(), SECRET);
        drop(std::hint::black_box(read));
        drop(input);
    });
    assert_eq!(n, 0, "freed blocks still held the line read");
    let mut rest = String::new();
    std::fs::File::from(rx).read_to_string(&mut rest).unwrap();
    assert_eq!(rest, "what follows\n", "nothing past the line was read");
}
