//! The marketing-copy checker on arbitrary text.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let report = zhiying_compliance::check(text);
    for v in &report.violations {
        assert!(v.byte_start <= v.byte_end && v.byte_end <= text.len(), "{v:?}");
        assert!(text.is_char_boundary(v.byte_start) && text.is_char_boundary(v.byte_end), "{v:?}");
    }
});
