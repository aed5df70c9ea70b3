//! A line's severity read from its text.
//!
//! journald's PRIORITY says nothing for RKE2: everything its services write
//! to stdout/stderr is stored as 6 (info), a fatal error included. The level
//! is in the text, in one of the formats the Kubernetes stack uses:
//! logrus (`level=error`, RKE2, rancherd, rancher-system-agent), JSON
//! (`"level":"warn"`, etcd, zap) and klog's header (`E1129 17:03:55.123456`,
//! kubelet and the control plane).

/// Syslog numbering: 0 emerg … 7 debug, as [`LogLine::priority`] holds it.
///
/// [`LogLine::priority`]: super::LogLine::priority
pub fn level_of(message: &[u8]) -> Option<u8> {
    klog(message).or_else(|| keyed(message))
}

/// klog: `Lmmdd hh:mm:ss.uuuuuu` at the start.
fn klog(m: &[u8]) -> Option<u8> {
    let head = m.get(..7)?;
    if !head[1..5].iter().all(u8::is_ascii_digit) || head[5] != b' ' || !head[6].is_ascii_digit() {
        return None;
    }
    match head[0] {
        b'F' => Some(2),
        b'E' => Some(3),
        b'W' => Some(4),
        b'I' => Some(6),
        _ => None,
    }
}

/// The first `level=NAME` (logrus) or `"level":"NAME"` (JSON), near the
/// start: further in, it is more likely quoted text than the line's own level.
fn keyed(m: &[u8]) -> Option<u8> {
    const SEARCH: usize = 96;
    let head = &m[..m.len().min(SEARCH)];
    let logrus = memchr::memmem::find_iter(head, b"level=")
        .find(|&i| i == 0 || matches!(head[i - 1], b' ' | b'\t'));
    let value = if let Some(i) = logrus {
        &m[i + 6..]
    } else if let Some(i) = memchr::memmem::find(head, b"\"level\":\"") {
        &m[i + 9..]
    } else {
        return None;
    };
    let name_len = value
        .iter()
        .take(8)
        .take_while(|c| c.is_ascii_alphabetic())
        .count();
    match value[..name_len].to_ascii_lowercase().as_slice() {
        b"panic" => Some(0),
        b"fatal" | b"dpanic" => Some(2),
        b"error" => Some(3),
        b"warning" | b"warn" => Some(4),
        b"info" => Some(6),
        b"debug" | b"trace" => Some(7),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn levels_of_the_formats_rke2_writes() {
        for (line, want) in [
            (
                &b"time=\"2026-11-29T17:03:55Z\" level=warning msg=\"Cluster-Http-Server\""[..],
                Some(4),
            ),
            (
                b"time=\"x\" level=fatal msg=\"bootstrap data already found\"",
                Some(2),
            ),
            (b"level=error msg=\"x\"", Some(3)),
            (
                b"time=\"x\" level=info msg=\"Pod for etcd is synced\"",
                Some(6),
            ),
            (
                b"{\"level\":\"warn\",\"ts\":\"2026-11-29T17:03:55Z\",\"msg\":\"slow fdatasync\"}",
                Some(4),
            ),
            (
                b"E1129 17:03:55.123456    1234 reflector.go:138] failed to list",
                Some(3),
            ),
            (b"W1129 17:03:55.123456    1234 x.go:1] w", Some(4)),
            (b"F1129 17:03:55.123456    1234 x.go:1] f", Some(2)),
            (b"I1129 17:03:55.123456    1234 x.go:1] i", Some(6)),
            // Not levels.
            (b"Started rke2-server.service", None),
            (b"msg=\"user set loglevel=error\"", None),
            (b"loglevel=debug level=error msg=x", Some(3)),
            (b"Error 1129 is not klog", None),
            (b"level=", None),
            (b"", None),
        ] {
            assert_eq!(level_of(line), want, "{}", String::from_utf8_lossy(line));
        }
        // Far into the line it is text, not the line's level.
        let mut long = vec![b'x'; 200];
        long.extend_from_slice(b" level=error");
        assert_eq!(level_of(&long), None);
    }
}
