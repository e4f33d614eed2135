//! Invariants of the binning on random data.

use proptest::prelude::*;
use zhiying_scorecard::{
    BinRule, BinningOptions, Direction, Feature, MISSING_CODE, Monotonic, bin_variable,
};

fn data() -> impl Strategy<Value = (Vec<f64>, Vec<bool>)> {
    (30usize..400, 1u32..60, any::<u64>(), 0.0f64..0.2).prop_flat_map(|(n, range, _, miss)| {
        (
            proptest::collection::vec((0..range, 0.0f64..1.0, 0.0f64..1.0), n),
            Just(miss),
        )
            .prop_map(move |(v, miss)| {
                let x: Vec<f64> = v
                    .iter()
                    .map(|&(k, _, m)| if m < miss { f64::NAN } else { k as f64 * 1.5 })
                    .collect();
                // Risk loosely rising with x plus noise, so merges of every kind happen.
                let y: Vec<bool> = v
                    .iter()
                    .map(|&(k, u, _)| u < 0.15 + 0.5 * (k as f64 / 60.0))
                    .collect();
                (x, y)
            })
    })
}

fn options() -> impl Strategy<Value = BinningOptions> {
    (
        1usize..9,
        0.0f64..0.2,
        2usize..40,
        prop_oneof![
            Just(Monotonic::Auto),
            Just(Monotonic::Ascending),
            Just(Monotonic::Descending)
        ],
        prop_oneof![Just(0.0), Just(2.706), Just(3.841)],
    )
        .prop_map(
            |(max_bins, min_bin_share, fine_bins, monotonic, chi2_threshold)| BinningOptions {
                max_bins,
                min_bin_share,
                fine_bins,
                monotonic,
                chi2_threshold,
            },
        )
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(300))]

    #[test]
    fn numeric_bins_are_monotone_and_consistent((x, y) in data(), opts in options()) {
        let bad = y.iter().filter(|&&b| b).count();
        prop_assume!(bad > 0 && bad < y.len());
        let b = bin_variable("x", Feature::Numeric(&x), &y, &opts).expect("binning");
        let regular: Vec<_> = b.bins.iter().filter(|b| !b.missing).collect();
        let woe: Vec<f64> = regular.iter().map(|b| b.woe).collect();
        // Monotone WOE in the requested direction (strictly).
        let up = woe.windows(2).all(|w| w[1] > w[0]);
        let down = woe.windows(2).all(|w| w[1] < w[0]);
        match opts.monotonic {
            Monotonic::Ascending => prop_assert!(up, "{woe:?}"),
            Monotonic::Descending => prop_assert!(down, "{woe:?}"),
            _ => prop_assert!(up || down, "{woe:?}"),
        }
        if woe.len() >= 2 {
            prop_assert_eq!(b.direction, Some(if up { Direction::Ascending } else { Direction::Descending }));
        }
        // At most max_bins regular bins, each with the minimum share when there are several.
        prop_assert!(regular.len() <= opts.max_bins);
        let non_missing = x.iter().filter(|v| !v.is_nan()).count() as f64;
        if regular.len() > 1 {
            for r in &regular {
                prop_assert!(r.count as f64 >= (opts.min_bin_share * non_missing).ceil() - 1e-9);
            }
        }
        // Counts add up; IV is the sum of non-negative contributions.
        prop_assert_eq!(b.bins.iter().map(|b| b.count).sum::<u64>(), y.len() as u64);
        prop_assert!(b.bins.iter().all(|b| b.iv >= -1e-12));
        prop_assert!((b.iv - b.bins.iter().map(|b| b.iv).sum::<f64>()).abs() < 1e-9);
        // Re-applying the rule to the training data reproduces the table's counts.
        let idx = b.bin_indices(Feature::Numeric(&x)).expect("apply");
        let mut counts = vec![(0u64, 0u64); b.bins.len()];
        for (k, &t) in idx.iter().zip(&y) {
            let k = k.expect("every training value has a bin");
            if t { counts[k].1 += 1 } else { counts[k].0 += 1 }
        }
        for (c, bin) in counts.iter().zip(&b.bins) {
            prop_assert_eq!(*c, (bin.good, bin.bad));
        }
        if let BinRule::Numeric { cuts } = &b.rule {
            prop_assert!(cuts.windows(2).all(|w| w[1] > w[0]));
        }
    }

    #[test]
    fn categorical_bins_cover_every_level_once(
        codes in proptest::collection::vec(0u32..12, 40..300),
        noise in proptest::collection::vec(0.0f64..1.0, 300),
        opts in options(),
    ) {
        let levels: Vec<String> = (0..12).map(|i| format!("L{i}")).collect();
        let codes: Vec<u32> = codes.iter().enumerate().map(|(i, &c)| if i % 17 == 0 { MISSING_CODE } else { c }).collect();
        let y: Vec<bool> = codes.iter().zip(&noise).map(|(&c, &u)| u < 0.1 + (c % 12) as f64 * 0.06).collect();
        let bad = y.iter().filter(|&&b| b).count();
        prop_assume!(bad > 0 && bad < y.len());
        let f = Feature::Categorical { codes: &codes, levels: &levels };
        let b = bin_variable("c", f, &y, &opts).expect("binning");
        let BinRule::Categorical { groups } = &b.rule else { panic!("categorical") };
        let mut seen: Vec<&String> = groups.iter().flatten().collect();
        let n_seen = seen.len();
        seen.sort();
        seen.dedup();
        prop_assert_eq!(seen.len(), n_seen, "a level is in two bins");
        let present = levels.iter().enumerate().filter(|(i, _)| codes.contains(&(*i as u32))).count();
        prop_assert_eq!(n_seen, present);
        prop_assert!(groups.len() <= opts.max_bins);
        let woe: Vec<f64> = b.bins.iter().filter(|b| !b.missing).map(|b| b.woe).collect();
        prop_assert!(woe.windows(2).all(|w| w[1] > w[0]), "{woe:?}");
        prop_assert_eq!(b.bins.iter().map(|b| b.count).sum::<u64>(), y.len() as u64);
    }
}
