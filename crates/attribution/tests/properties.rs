//! Axioms every model must satisfy on arbitrary paths.

use proptest::prelude::*;
use zhiying_attribution::{
    AttributionConfig, Conversion, Event, FunnelSpec, Model, PathOptions, Paths, Touchpoint,
    attribute, build_paths, funnel, markov, shapley,
};

const CHANNELS: [&str; 7] = ["app", "sms", "call", "branch", "email", "wechat", "web"];

/// (steps as channel indices, ages, conversions, non-conversions, value).
type Row = (Vec<usize>, Vec<f64>, u8, u8, f64);

fn rows(max_channel: usize) -> impl Strategy<Value = Vec<Row>> {
    prop::collection::vec(
        (
            prop::collection::vec(0..max_channel, 1..6),
            prop::collection::vec(0.0f64..60.0, 6),
            0u8..4,
            0u8..4,
            0.0f64..1000.0,
        ),
        1..25,
    )
}

fn build(rows: &[Row], swap: Option<(usize, usize)>, timed: bool) -> Paths {
    let mut p = Paths::new();
    for c in CHANNELS {
        p.channel_id(c);
    }
    for (steps, ages, c, n, v) in rows {
        let (c, mut n) = (*c as f64, *n as f64);
        if c == 0.0 && n == 0.0 {
            n = 1.0;
        }
        let v = if c > 0.0 { *v } else { 0.0 };
        let map = |s: usize| match swap {
            Some((a, b)) if s == a => b,
            Some((a, b)) if s == b => a,
            _ => s,
        } as u32;
        let ids: Vec<u32> = steps.iter().map(|&s| map(s)).collect();
        if timed {
            let mut a: Vec<f64> = ages[..ids.len()].to_vec();
            a.sort_by(|x, y| y.total_cmp(x));
            let s: Vec<(u32, f64)> = ids.into_iter().zip(a).collect();
            p.push_timed(&s, c, n, v).unwrap();
        } else {
            p.push_ids(&ids, c, n, v).unwrap();
        }
    }
    p
}

fn tol(x: f64) -> f64 {
    1e-9 * x.abs().max(1.0)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn every_model_hands_out_exactly_the_conversions_and_value(
        rows in rows(7), timed in any::<bool>(), order in 1usize..4,
    ) {
        let p = build(&rows, None, timed);
        prop_assume!(p.total_conversions() > 0.0);
        let cfg = AttributionConfig { markov_order: order, ..AttributionConfig::default() };
        let r = attribute(&p, &cfg).unwrap();
        for m in Model::ALL {
            let (mut c, mut v, mut s) = (0.0, 0.0, 0.0);
            for ch in &r.channels {
                let cr = ch.credit(m).unwrap();
                prop_assert!(cr.conversions >= -1e-12 && cr.value >= -1e-9, "{:?} negative", m);
                c += cr.conversions;
                v += cr.value;
                s += cr.share;
            }
            prop_assert!((c - r.total_conversions).abs() < tol(r.total_conversions), "{m:?} conv {c}");
            prop_assert!((s - 1.0).abs() < 1e-9, "{m:?} share {s}");
            if r.total_value > 0.0 {
                prop_assert!((v - r.total_value).abs() < tol(r.total_value), "{m:?} value {v}");
            }
        }
    }

    #[test]
    fn shapley_and_markov_treat_interchangeable_channels_alike(rows in rows(4)) {
        // Adding each path with app and sms swapped makes the two channels symmetric.
        let mut both = rows.clone();
        both.extend(rows.iter().map(|(s, a, c, n, v)| {
            let s = s.iter().map(|&x| match x { 0 => 1, 1 => 0, o => o }).collect();
            (s, a.clone(), *c, *n, *v)
        }));
        let p = build(&both, None, false);
        prop_assume!(p.total_conversions() > 0.0);
        let s = shapley(&p, 20).unwrap();
        prop_assert!((s.conversions[0] - s.conversions[1]).abs() < tol(s.conversions[0]));
        prop_assert!((s.value[0] - s.value[1]).abs() < tol(s.value[0]));
        let m = markov(&p, 1, false).unwrap();
        prop_assert!((m.conversions[0] - m.conversions[1]).abs() < 1e-8 * m.conversions[0].max(1.0));
    }

    #[test]
    fn shapley_exact_dp_equals_unanimity_expansion_and_ignores_null_players(rows in rows(7)) {
        let p = build(&rows, None, false);
        prop_assume!(p.total_conversions() > 0.0);
        let exact = shapley(&p, 20).unwrap();
        let expansion = shapley(&p, 0).unwrap();
        for c in 0..CHANNELS.len() {
            prop_assert!((exact.conversions[c] - expansion.conversions[c]).abs() < tol(exact.conversions[c]));
            prop_assert!((exact.value[c] - expansion.value[c]).abs() < tol(exact.value[c]));
        }
        for (c, row) in exact.ordered.iter().enumerate() {
            let total: f64 = row.by_position.iter().sum();
            prop_assert!((total - exact.conversions[c]).abs() < tol(total), "ordered rows sum to Shapley");
        }
        let on_converting: Vec<bool> = (0..CHANNELS.len() as u32)
            .map(|c| p.iter().any(|x| x.conversions > 0.0 && x.steps.contains(&c)))
            .collect();
        for (c, &used) in on_converting.iter().enumerate() {
            if !used {
                prop_assert_eq!(exact.conversions[c], 0.0);
            }
        }
    }

    #[test]
    fn built_paths_account_for_every_conversion(
        touches in prop::collection::vec((0u8..5, 0i64..90, 0usize..7), 0..60),
        convs in prop::collection::vec((0u8..5, 0i64..90, 1.0f64..100.0), 0..15),
        lookback in 1.0f64..40.0,
        reset in any::<bool>(),
    ) {
        let day = 86_400_000_000i64;
        let t: Vec<Touchpoint> = touches.iter().map(|&(c, d, ch)| Touchpoint {
            customer_id: format!("c{c}"), timestamp: d * day, channel: CHANNELS[ch].into(), campaign: None,
        }).collect();
        let cv: Vec<Conversion> = convs.iter().map(|&(c, d, v)| Conversion {
            customer_id: format!("c{c}"), timestamp: d * day + day / 2, value: v,
        }).collect();
        let opts = PathOptions { lookback_days: lookback, reset_after_conversion: reset, ..PathOptions::default() };
        let p = build_paths(&t, &cv, &opts).unwrap();
        let (un_c, un_v) = p.unattributed();
        prop_assert_eq!(p.total_conversions() + un_c, cv.len() as f64);
        let value: f64 = cv.iter().map(|c| c.value).sum();
        prop_assert!((p.total_value() + un_v - value).abs() < 1e-9 * value.max(1.0));
        for path in p.iter() {
            let ages = path.ages_days.unwrap();
            prop_assert!(ages.iter().all(|&a| a >= 0.0 && a <= lookback + 1e-9));
            prop_assert!(ages.windows(2).all(|w| w[0] >= w[1]), "touches in time order");
        }
    }

    #[test]
    fn funnel_counts_never_grow(
        events in prop::collection::vec((0u8..6, 0i64..200, 0usize..4), 0..80),
        window in 0.1f64..5.0,
    ) {
        let names = ["visit", "apply", "approve", "fund"];
        let ev: Vec<Event> = events.iter().map(|&(c, h, e)| Event {
            customer_id: format!("c{c}"), timestamp: h * 3_600_000_000, event: names[e].into(),
        }).collect();
        let spec = FunnelSpec { steps: names.iter().map(|s| s.to_string()).collect(), window_days: window };
        let r = funnel(&ev, &spec).unwrap();
        prop_assert!(r.steps.windows(2).all(|w| w[1].customers <= w[0].customers));
        prop_assert!(r.steps[0].customers <= r.customers);
        let wider = funnel(&ev, &FunnelSpec { window_days: window * 2.0, ..spec }).unwrap();
        for (a, b) in r.steps.iter().zip(&wider.steps) {
            prop_assert!(b.customers >= a.customers, "a wider window never loses customers");
        }
    }
}
