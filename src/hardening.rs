//! Process hardening while secrets are held: no core dumps.
//! (`harvcred lab` is left alone: the nodes it starts inherit the limit, and
//! a real Harvester node has none; the console it opens sets it.)
//!
//! A core file of harvcred would hold whatever it had in memory (a typed
//! password, the cluster token read from a node, a proxy's credentials), on
//! disk, readable by whoever collects crashes. So every command that may
//! read a secret first sets RLIMIT_CORE to 0 (soft and hard, inherited by
//! the `ssh` it starts) and marks the process not dumpable (no core, and no
//! ptrace or `/proc/PID/mem` by other processes of the same user).

use std::io;

use zeroize::Zeroizing;

/// Disables core dumps for this process and its children.
pub fn disable_core_dumps() -> io::Result<()> {
    let zero = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: plain system calls with a valid, initialised argument.
    if unsafe { libc::setrlimit(libc::RLIMIT_CORE, &zero) } != 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: PR_SET_DUMPABLE takes one integer argument.
    if unsafe { libc::prctl(libc::PR_SET_DUMPABLE, 0 as libc::c_ulong, 0, 0, 0) } != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// A descriptor read one byte at a time, for a secret's line on stdin:
/// `std::io::stdin()` reads through a buffer of its own that lives as long
/// as the process and keeps the last bytes read (the secret) until they are
/// overwritten. This reads no byte past the line, and its one-byte buffer
/// is wiped when dropped.
pub struct UnbufferedFd {
    fd: std::os::fd::RawFd,
    byte: [u8; 1],
    held: bool,
}

impl UnbufferedFd {
    /// Standard input.
    pub fn stdin() -> UnbufferedFd {
        UnbufferedFd::new(0)
    }
    /// `fd`, which must stay open while this is used (it is not closed).
    pub fn new(fd: std::os::fd::RawFd) -> UnbufferedFd {
        UnbufferedFd {
            fd,
            byte: [0],
            held: false,
        }
    }
}

impl std::io::Read for UnbufferedFd {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        use std::io::BufRead as _;
        let n = {
            let got = self.fill_buf()?;
            let n = got.len().min(buf.len());
            buf[..n].copy_from_slice(&got[..n]);
            n
        };
        self.consume(n);
        Ok(n)
    }
}

impl std::io::BufRead for UnbufferedFd {
    fn fill_buf(&mut self) -> std::io::Result<&[u8]> {
        while !self.held {
            // SAFETY: reads at most one byte into our own one-byte buffer.
            match unsafe { libc::read(self.fd, self.byte.as_mut_ptr().cast(), 1) } {
                1 => self.held = true,
                0 => return Ok(&[]),
                _ => {
                    let e = io::Error::last_os_error();
                    if e.kind() != io::ErrorKind::Interrupted {
                        return Err(e);
                    }
                }
            }
        }
        Ok(&self.byte)
    }
    fn consume(&mut self, amt: usize) {
        if amt > 0 {
            self.held = false;
        }
    }
}

impl Drop for UnbufferedFd {
    fn drop(&mut self) {
        use zeroize::Zeroize as _;
        self.byte.zeroize();
    }
}

/// Everything `r` gives (a secret from stdin), in a buffer wiped whenever it
/// grows and when dropped: `read_to_end` would free the outgrown buffers
/// with their bytes in them.
pub fn read_to_end_wiped(mut r: impl std::io::Read) -> std::io::Result<Zeroizing<Vec<u8>>> {
    let mut buf = Zeroizing::new(Vec::with_capacity(64 * 1024));
    let mut chunk = Zeroizing::new(vec![0u8; 8192]);
    loop {
        let n = match r.read(&mut chunk) {
            Ok(0) => return Ok(buf),
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        extend_wiped(&mut buf, &chunk[..n]);
    }
}

/// Appends `bytes` to `buf`; when it must grow, into a new buffer, the old
/// one wiped as it is dropped (`Vec`'s own growth frees it with its bytes).
pub fn extend_wiped(buf: &mut Zeroizing<Vec<u8>>, bytes: &[u8]) {
    if buf.capacity() - buf.len() < bytes.len() {
        let mut bigger = Zeroizing::new(Vec::with_capacity(
            (buf.capacity() * 2).max(buf.len() + bytes.len()),
        ));
        bigger.extend_from_slice(buf);
        *buf = bigger;
    }
    buf.extend_from_slice(bytes);
}

#[cfg(test)]
mod tests {
    /// Whether this process may dump core: (RLIMIT_CORE soft, hard, dumpable).
    fn core_state() -> (libc::rlim_t, libc::rlim_t, i32) {
        let mut r = libc::rlimit {
            rlim_cur: 1,
            rlim_max: 1,
        };
        // SAFETY: valid out-pointer.
        assert_eq!(unsafe { libc::getrlimit(libc::RLIMIT_CORE, &mut r) }, 0);
        // SAFETY: PR_GET_DUMPABLE takes no argument.
        let dumpable = unsafe { libc::prctl(libc::PR_GET_DUMPABLE, 0, 0, 0, 0) };
        (r.rlim_cur, r.rlim_max, dumpable)
    }

    const CHILD: &str = "HARVCRED_CORE_DUMP_CHILD";

    /// Runs the test `name` alone in a fresh copy of the test binary (the
    /// change is for the whole process and cannot be undone).
    fn in_child(name: &str) {
        let home = tempfile::tempdir().unwrap();
        let out = std::process::Command::new(std::env::current_exe().unwrap())
            .args([name, "--exact", "--nocapture", "--test-threads=1"])
            .env(CHILD, "1")
            .env("HOME", home.path())
            .env("KUBECONFIG", "/nonexistent")
            .env_remove("XDG_CONFIG_HOME")
            .env_remove("XDG_STATE_HOME")
            .output()
            .unwrap();
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success() && text.contains("1 passed"),
            "{text}\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    /// `harvcred status` reads token and hash bytes from nodes: once it has
    /// started, the process can no longer dump core (and this is what
    /// /proc/self/limits shows too).
    #[test]
    fn a_command_that_reads_secrets_cannot_dump_core() {
        if std::env::var_os(CHILD).is_none() {
            return in_child("hardening::tests::a_command_that_reads_secrets_cannot_dump_core");
        }
        use clap::Parser as _;
        assert_ne!(core_state().2, 0, "a test process starts dumpable");
        let cli = crate::cli::Cli::parse_from(["harvcred", "status"]);
        let _ = crate::cli::run(cli);
        assert_eq!(core_state(), (0, 0, 0));
        let limits = std::fs::read_to_string("/proc/self/limits").unwrap();
        let core = limits
            .lines()
            .find(|l| l.starts_with("Max core file size"))
            .unwrap();
        assert_eq!(
            core.split_whitespace().collect::<Vec<_>>()[4..6],
            ["0", "0"]
        );
    }

    /// The console, before it reads anything.
    #[test]
    fn the_console_cannot_dump_core() {
        if std::env::var_os(CHILD).is_none() {
            return in_child("hardening::tests::the_console_cannot_dump_core");
        }
        use clap::Parser as _;
        let cli =
            crate::cli::Cli::parse_from(["harvcred", "--inventory", "/nonexistent/nodes.toml"]);
        // As `harvcred lab` opens it, past cli::run's own call.
        let opts = crate::cli::console_options(&cli.connect, &cli.console);
        assert!(
            crate::console::run(opts).is_err(),
            "no inventory: it stops at once"
        );
        assert_eq!(core_state(), (0, 0, 0));
    }

    /// Shell completions hold nothing secret, and the lab's nodes must keep
    /// the limits a real node has (they inherit the supervisor's): both
    /// leave the process as it is.
    #[test]
    fn completions_and_the_lab_leave_core_dumps_alone() {
        if std::env::var_os(CHILD).is_none() {
            return in_child("hardening::tests::completions_and_the_lab_leave_core_dumps_alone");
        }
        use clap::Parser as _;
        let before = core_state();
        for args in [
            &["harvcred", "completions", "bash"][..],
            &["harvcred", "lab", "scenarios"],
        ] {
            let _ = crate::cli::run(crate::cli::Cli::parse_from(args));
            assert_eq!(core_state(), before, "{args:?}");
        }
    }
}
