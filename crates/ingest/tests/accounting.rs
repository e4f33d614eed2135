//! Property: for any mixture of good, bad and duplicate rows, every row is accounted for
//! (accepted + rejected + duplicates == read), exactly the distinct good rows are stored,
//! and every bad row and in-input repeat is in the quarantine at its own line.

mod common;

use common::*;
use proptest::prelude::*;
use std::collections::{BTreeMap, BTreeSet};
use zhiying_core::DataDir;
use zhiying_core::schema::CUSTOMERS;

#[derive(Debug, Clone)]
enum Row {
    Good(u16),
    /// A malformed row; the number picks the defect.
    Bad(u8),
    /// A repeat of the n-th good row written so far (modulo), or a good row if none yet.
    Dup(u16),
}

fn row_strategy() -> impl Strategy<Value = Row> {
    prop_oneof![
        4 => (0u16..400).prop_map(Row::Good),
        3 => (0u8..7).prop_map(Row::Bad),
        2 => any::<u16>().prop_map(Row::Dup),
    ]
}

fn bad_line(kind: u8, n: usize) -> String {
    match kind {
        0 => format!("B{n},core,f,1990-02-30,2020-01-01"),
        1 => format!("B{n},nowhere,f,,2020-01-01"),
        2 => format!("B{n},core,q,,2020-01-01"),
        3 => ",core,f,,2020-01-01".to_string(),
        4 => format!("B{n},core,f,,2020-01-01,extra"),
        5 => format!("B{n},core,f"),
        _ => format!("B{n},core,f,,yesterday"),
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]

    #[test]
    fn every_row_is_accounted_for(rows in proptest::collection::vec(row_strategy(), 0..60)) {
        let tmp = tempfile::tempdir().unwrap();
        let dd = DataDir::new(tmp.path().join("data"));
        let mut csv = String::from("customer_id,source_system,gender,birth_date,open_date\n");
        let mut good_ids: Vec<u16> = Vec::new();
        let mut first_line: BTreeMap<u16, u64> = BTreeMap::new();
        let mut expect_quarantine: BTreeMap<u64, String> = BTreeMap::new();
        for (n, r) in rows.iter().enumerate() {
            let line = n as u64 + 2;
            let id = match r {
                Row::Bad(k) => {
                    csv.push_str(&bad_line(*k, n));
                    csv.push('\n');
                    expect_quarantine.insert(line, String::new());
                    continue;
                }
                Row::Good(id) => *id,
                Row::Dup(i) if !good_ids.is_empty() => good_ids[*i as usize % good_ids.len()],
                Row::Dup(i) => *i % 400,
            };
            csv.push_str(&format!("G{id},crm,m,1980-01-0{},2020-01-01\n", 1 + id % 9));
            good_ids.push(id);
            match first_line.get(&id) {
                Some(l) => { expect_quarantine.insert(line, format!("duplicate of line {l}")); }
                None => { first_line.insert(id, line); }
            }
        }
        let f = write(tmp.path(), "c.csv", &csv);
        let s = ingest(&dd, &CUSTOMERS, std::slice::from_ref(&f));
        prop_assert_eq!(s.rows_read, rows.len() as u64);
        prop_assert_eq!(s.accepted + s.rejected + s.duplicates_skipped, s.rows_read);
        prop_assert_eq!(s.accepted, first_line.len() as u64);
        let bad = rows.iter().filter(|r| matches!(r, Row::Bad(_))).count() as u64;
        prop_assert_eq!(s.rejected, bad);
        let q = s.quarantine_path.as_ref().map(|p| quarantine(p)).unwrap_or_default();
        let got: BTreeMap<u64, String> =
            q.iter().map(|r| (r["line"].as_u64().unwrap(), r["reason"].as_str().unwrap().to_string())).collect();
        prop_assert_eq!(got.keys().collect::<BTreeSet<_>>(), expect_quarantine.keys().collect::<BTreeSet<_>>());
        for (line, want) in &expect_quarantine {
            let reason = &got[line];
            prop_assert!(!reason.is_empty() && reason.contains(':'), "line {} has no reason: {}", line, reason);
            if !want.is_empty() {
                prop_assert!(reason.starts_with(want.as_str()), "line {}: {} vs {}", line, reason, want);
            }
        }
        // Re-ingest adds nothing and still accounts for every row.
        let again = ingest(&dd, &CUSTOMERS, &[f]);
        prop_assert_eq!(again.accepted, 0);
        prop_assert_eq!(again.accepted + again.rejected + again.duplicates_skipped, again.rows_read);
        prop_assert_eq!(zhiying_ingest::table_row_counts(&dd).unwrap()["customers"], first_line.len() as u64);
    }
}
