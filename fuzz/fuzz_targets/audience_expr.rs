//! The audience expression language: lexer, parser, binder and evaluation over a small
//! fixture index (built once).
#![no_main]
use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use zhiying_audience::{AudienceIndex, fixture, load_index, parse};
use zhiying_core::DataDir;

fn index() -> &'static AudienceIndex {
    static IX: OnceLock<AudienceIndex> = OnceLock::new();
    IX.get_or_init(|| {
        let dir = std::env::temp_dir().join(format!("zhiying-fuzz-audience-{}", std::process::id()));
        let dd = DataDir::new(&dir);
        let spec = fixture::FixtureSpec {
            customers: 300,
            ..Default::default()
        };
        fixture::write_fixture(&dd, &spec).expect("fixture");
        let (ix, _) = load_index(&dd).expect("index");
        let _ = std::fs::remove_dir_all(&dir);
        ix
    })
}

fuzz_target!(|data: &[u8]| {
    let Ok(src) = std::str::from_utf8(data) else {
        return;
    };
    if let Err(e) = parse(src) {
        // Error spans point into the source.
        assert!(e.span.start <= e.span.end && e.span.end <= src.len(), "{e:?}");
    }
    let ix = index();
    if let Ok(q) = ix.compile(src) {
        let _ = ix.evaluate(&q);
    }
});
