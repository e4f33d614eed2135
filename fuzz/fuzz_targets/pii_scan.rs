//! PII detectors (free text and structured fields) and the masking operators.
#![no_main]
use libfuzzer_sys::fuzz_target;
use zhiying_pii::{Operator, PiiKind, apply, classify_field, mask, scan};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let findings = scan(text);
    let mut prev_end = 0;
    for f in &findings {
        // Spans are sorted, non-overlapping, in bounds and on character boundaries.
        assert!(f.start >= prev_end && f.start < f.end && f.end <= text.len());
        assert!(text.is_char_boundary(f.start) && text.is_char_boundary(f.end));
        assert!((0.0..=1.0).contains(&f.confidence));
        prev_end = f.end;
        let _ = mask(&text[f.start..f.end], f.kind);
    }
    let masked = apply(text, &findings, &mut Operator::Mask);
    let redacted = apply(text, &findings, &mut Operator::Redact);
    assert!(findings.is_empty() || redacted != text || findings.iter().all(|f| &text[f.start..f.end] == f.kind.tag()));
    let _ = masked;
    // Structured fields: the text split as "column=value".
    if let Some((col, val)) = text.split_once('=') {
        let _ = classify_field(col, val);
    }
    for kind in PiiKind::ALL {
        let _ = mask(text, kind);
    }
});
