//! Log lines without personal data: a writer that masks every identifier the detectors find
//! before a line reaches the log (issue 7, item 3: "logs never contain unmasked PII").
//!
//! [`RedactingWriter`] wraps any `io::Write` (stderr, a file). It buffers what it is given,
//! and writes each complete line after [`redact_log_line`]; a partial last line is written
//! when the writer is flushed or dropped, so no line is split across two scans. The CLI
//! builds one per log event (`tracing_subscriber::fmt().with_writer(|| …)`), which makes
//! every line of the server, the pipeline and the CLI pass through it.

use std::borrow::Cow;
use std::io::{self, Write};

use crate::{Operator, PiiKind, apply, scan};

/// `line` with every identifier replaced by its tag (`[手机号]`, `[身份证]`, `[银行卡]`, …).
/// Loopback and unspecified IP addresses (`127.0.0.1`, `0.0.0.0`, `::1`) are kept: they
/// name this machine, not a person, and the server's own address must stay readable.
pub fn redact_log_line(line: &str) -> Cow<'_, str> {
    let mut found = scan(line);
    found.retain(|f| {
        if f.kind != PiiKind::IpAddress {
            return true;
        }
        match line[f.start..f.end]
            .trim_matches(|c| c == '[' || c == ']')
            .parse::<std::net::IpAddr>()
        {
            Ok(ip) => !(ip.is_loopback() || ip.is_unspecified()),
            Err(_) => true,
        }
    });
    if found.is_empty() {
        Cow::Borrowed(line)
    } else {
        Cow::Owned(apply(line, &found, &mut Operator::Redact))
    }
}

/// A writer that masks identifiers line by line before passing the bytes on.
pub struct RedactingWriter<W: Write> {
    inner: W,
    buf: Vec<u8>,
}

impl<W: Write> RedactingWriter<W> {
    pub fn new(inner: W) -> Self {
        RedactingWriter {
            inner,
            buf: Vec::new(),
        }
    }

    fn emit(&mut self, upto: usize) -> io::Result<()> {
        let chunk: Vec<u8> = self.buf.drain(..upto).collect();
        let text = String::from_utf8_lossy(&chunk);
        self.inner.write_all(redact_log_line(&text).as_bytes())
    }
}

impl<W: Write> Write for RedactingWriter<W> {
    fn write(&mut self, bytes: &[u8]) -> io::Result<usize> {
        self.buf.extend_from_slice(bytes);
        if let Some(last) = self.buf.iter().rposition(|b| *b == b'\n') {
            self.emit(last + 1)?;
        }
        Ok(bytes.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        if !self.buf.is_empty() {
            let n = self.buf.len();
            self.emit(n)?;
        }
        self.inner.flush()
    }
}

impl<W: Write> Drop for RedactingWriter<W> {
    fn drop(&mut self) {
        // Nothing sensible to do with an error while dropping a log writer.
        let _ = self.flush();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identifiers_are_masked_and_local_addresses_kept() {
        let line = "unmask for 客户张三丰 phone=13812345678 id 11010519491231002X card 6222021234567894 from 203.0.113.9 at http://127.0.0.1:8080/console\n";
        let out = redact_log_line(line);
        for leaked in [
            "13812345678",
            "11010519491231002X",
            "6222021234567894",
            "203.0.113.9",
        ] {
            assert!(!out.contains(leaked), "{leaked} leaked: {out}");
        }
        assert!(
            out.contains("[手机号]") && out.contains("[身份证]"),
            "{out}"
        );
        assert!(out.contains("http://127.0.0.1:8080/console"), "{out}");
        assert!(matches!(
            redact_log_line("server stopped\n"),
            Cow::Borrowed(_)
        ));
    }

    #[test]
    fn lines_split_across_writes_are_scanned_whole() {
        let mut out = Vec::new();
        {
            let mut w = RedactingWriter::new(&mut out);
            w.write_all(b"first 1381234").unwrap();
            w.write_all(b"5678 second\nthird 1391234").unwrap();
            w.write_all(b"5678").unwrap();
        }
        let text = String::from_utf8(out).unwrap();
        assert!(
            !text.contains("13812345678") && !text.contains("13912345678"),
            "{text}"
        );
        assert_eq!(text.matches("[手机号]").count(), 2, "{text}");
        assert!(text.starts_with("first [手机号] second\nthird "), "{text}");
    }
}
