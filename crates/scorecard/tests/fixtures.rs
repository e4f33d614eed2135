//! Hand-computed fixtures: WOE/IV tables, the points-scaling formula and reason-code order.

use zhiying_scorecard::{
    Baseline, BinRule, BinningOptions, Direction, Feature, Monotonic, NamedFeature, Scaling,
    Scorecard, ScorecardOptions, bin_variable,
};

fn rows(spec: &[(f64, usize, usize)]) -> (Vec<f64>, Vec<bool>) {
    let (mut x, mut y) = (Vec::new(), Vec::new());
    for &(v, good, bad) in spec {
        for _ in 0..good {
            x.push(v);
            y.push(false);
        }
        for _ in 0..bad {
            x.push(v);
            y.push(true);
        }
    }
    (x, y)
}

#[test]
fn categorical_woe_iv_by_hand() {
    // A: 40 good / 10 bad, B: 30 / 20, C: 30 / 70; 100 good and 100 bad in all.
    // WOE = ln(%bad / %good): A ln(0.10/0.40) = -1.386294, B ln(0.20/0.30) = -0.405465,
    // C ln(0.70/0.30) = 0.847298. IV = 0.415888 + 0.040547 + 0.338919 = 0.795354.
    let levels: Vec<String> = ["C", "A", "B"].iter().map(|s| s.to_string()).collect();
    let mut codes = Vec::new();
    let mut y = Vec::new();
    for (code, good, bad) in [(1u32, 40, 10), (2, 30, 20), (0, 30, 70)] {
        codes.extend(std::iter::repeat_n(code, good + bad));
        y.extend(std::iter::repeat_n(false, good));
        y.extend(std::iter::repeat_n(true, bad));
    }
    let opts = BinningOptions {
        min_bin_share: 0.0,
        ..BinningOptions::default()
    };
    let b = bin_variable(
        "grade",
        Feature::Categorical {
            codes: &codes,
            levels: &levels,
        },
        &y,
        &opts,
    )
    .expect("binning");
    let labels: Vec<&str> = b.bins.iter().map(|b| b.label.as_str()).collect();
    assert_eq!(labels, ["A", "B", "C"], "levels ordered by bad rate");
    let expected = [
        (40, 10, -1.3862943611198906, 0.41588830833596724),
        (30, 20, -0.4054651081081643, 0.04054651081081642),
        (30, 70, 0.8472978603872037, 0.33891914415488145),
    ];
    for (bin, (good, bad, woe, iv)) in b.bins.iter().zip(expected) {
        assert_eq!((bin.good, bin.bad, bin.count), (good, bad, good + bad));
        assert!(
            (bin.woe - woe).abs() < 1e-12,
            "{} woe {}",
            bin.label,
            bin.woe
        );
        assert!((bin.iv - iv).abs() < 1e-12, "{} iv {}", bin.label, bin.iv);
    }
    assert!((b.iv - 0.7953539633016651).abs() < 1e-12);
    assert_eq!(b.direction, Some(Direction::Ascending));
}

#[test]
fn numeric_monotonic_merge_and_missing_bin_by_hand() {
    // x=1: 45 good 5 bad, x=2: 40/10, x=3: 40/10, x=4: 20/30, missing: 10/10.
    // Bad rates 0.10, 0.20, 0.20, 0.60: x=2 and x=3 tie, so strictly ascending WOE merges
    // them: bins [-inf,2) [2,4) [4,inf) plus missing. Totals 155 good, 65 bad.
    let (mut x, mut y) = rows(&[(1.0, 45, 5), (2.0, 40, 10), (3.0, 40, 10), (4.0, 20, 30)]);
    x.extend([f64::NAN; 20]);
    y.extend(std::iter::repeat_n(false, 10));
    y.extend(std::iter::repeat_n(true, 10));
    let b = bin_variable("x", Feature::Numeric(&x), &y, &BinningOptions::default()).expect("bin");
    assert_eq!(
        b.rule,
        BinRule::Numeric {
            cuts: vec![2.0, 4.0]
        }
    );
    let labels: Vec<&str> = b.bins.iter().map(|b| b.label.as_str()).collect();
    assert_eq!(labels, ["[-inf,2)", "[2,4)", "[4,inf)", "missing"]);
    // ln((5/65)/(45/155)), ln((20/65)/(80/155)), ln((30/65)/(20/155)), ln((10/65)/(10/155)).
    let expected = [
        (45, 5, -1.3281867303126098, 0.28343438909896884),
        (80, 20, -0.5172565140962809, 0.10781525355853),
        (20, 30, 1.274502955131774, 0.42378013892719035),
        (10, 10, 0.8690378470236096, 0.07763117243883362),
    ];
    for (bin, (good, bad, woe, iv)) in b.bins.iter().zip(expected) {
        assert_eq!((bin.good, bin.bad), (good, bad), "{}", bin.label);
        assert!(
            (bin.woe - woe).abs() < 1e-12,
            "{} woe {}",
            bin.label,
            bin.woe
        );
        assert!((bin.iv - iv).abs() < 1e-12, "{} iv {}", bin.label, bin.iv);
    }
    assert!((b.iv - 0.8926609540235229).abs() < 1e-12);
    assert!(b.bins[3].missing);
    assert_eq!(b.direction, Some(Direction::Ascending));
    // Applying the rule: boundaries go to the upper bin, NaN to the missing bin.
    let idx = b
        .bin_indices(Feature::Numeric(&[0.0, 1.99, 2.0, 3.5, 4.0, 1e9, f64::NAN]))
        .expect("apply");
    assert_eq!(
        idx,
        [
            Some(0),
            Some(0),
            Some(1),
            Some(1),
            Some(2),
            Some(2),
            Some(3)
        ]
    );
}

#[test]
fn no_constraint_keeps_a_u_shape_and_max_bins_caps() {
    // Bad rates 0.4, 0.1, 0.4 over three values: U-shaped.
    let (x, y) = rows(&[(1.0, 60, 40), (2.0, 90, 10), (3.0, 60, 40)]);
    let free = BinningOptions {
        monotonic: Monotonic::None,
        ..BinningOptions::default()
    };
    let b = bin_variable("u", Feature::Numeric(&x), &y, &free).expect("bin");
    assert_eq!(b.bins.len(), 3);
    assert_eq!(b.direction, None);
    let mono =
        bin_variable("u", Feature::Numeric(&x), &y, &BinningOptions::default()).expect("bin");
    assert_eq!(
        mono.bins.len(),
        2,
        "a monotone fit must merge one side of the U"
    );
    let two = BinningOptions {
        max_bins: 1,
        ..free
    };
    let b = bin_variable("u", Feature::Numeric(&x), &y, &two).expect("bin");
    assert_eq!(b.bins.len(), 1);
    assert!(b.iv.abs() < 1e-12);
}

#[test]
fn small_categorical_levels_merge_into_neighbours() {
    // "rare" has 2% of rows: below the 5% floor it must join another bin.
    let levels: Vec<String> = ["a", "b", "rare"].iter().map(|s| s.to_string()).collect();
    let mut codes = Vec::new();
    let mut y = Vec::new();
    for (c, good, bad) in [(0u32, 400, 100), (1, 280, 200), (2, 10, 10)] {
        codes.extend(std::iter::repeat_n(c, good + bad));
        y.extend(std::iter::repeat_n(false, good));
        y.extend(std::iter::repeat_n(true, bad));
    }
    let b = bin_variable(
        "v",
        Feature::Categorical {
            codes: &codes,
            levels: &levels,
        },
        &y,
        &BinningOptions::default(),
    )
    .expect("bin");
    assert_eq!(b.bins.len(), 2);
    assert!(b.bins.iter().all(|bin| bin.share >= 0.05));
    let BinRule::Categorical { groups } = &b.rule else {
        panic!("categorical rule expected")
    };
    assert!(
        groups
            .iter()
            .any(|g| g.len() == 2 && g.contains(&"rare".to_string()))
    );
    // An unseen level has no bin (there is no missing bin): WOE 0.
    let other: Vec<String> = vec!["zzz".into()];
    let w = b
        .transform(Feature::Categorical {
            codes: &[0],
            levels: &other,
        })
        .expect("apply");
    assert_eq!(w, [0.0]);
}

#[test]
fn scaling_formula() {
    let s = Scaling::default();
    // factor = 20 / ln 2, offset = 600 − factor · ln 50.
    assert!((s.factor() - 28.853_900_817_779_27).abs() < 1e-12);
    assert!((s.offset() - 487.1228762045055).abs() < 1e-9);
    // Odds 50:1 (P(bad) = 1/51) score 600; 100:1 scores 620; 25:1 scores 580.
    assert!((s.score_of_logit((1.0f64 / 50.0).ln()) - 600.0).abs() < 1e-9);
    assert!((s.score_of_logit((1.0f64 / 100.0).ln()) - 620.0).abs() < 1e-9);
    assert!((s.score_of_logit((1.0f64 / 25.0).ln()) - 580.0).abs() < 1e-9);
    assert!((s.prob_bad_of_score(600.0) - 1.0 / 51.0).abs() < 1e-12);
    let other = Scaling {
        pdo: 50.0,
        base_score: 500.0,
        base_odds: 19.0,
    };
    assert!((other.score_of_logit(-(19.0f64).ln()) - 500.0).abs() < 1e-9);
    assert!((other.score_of_logit(-(38.0f64).ln()) - 550.0).abs() < 1e-9);
    assert!(
        Scaling {
            pdo: 0.0,
            ..Scaling::default()
        }
        .validate()
        .is_err()
    );
}

/// Two risk drivers with a clear order; used by the scorecard-level checks below.
fn toy_book() -> (Vec<f64>, Vec<u32>, Vec<String>, Vec<bool>) {
    let levels: Vec<String> = ["own", "rent", "free"]
        .iter()
        .map(|s| s.to_string())
        .collect();
    let (mut age, mut housing, mut y) = (Vec::new(), Vec::new(), Vec::new());
    let mut state = 12345u64;
    let mut rnd = move || {
        state = state
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (state >> 11) as f64 / (1u64 << 53) as f64
    };
    for _ in 0..3000 {
        let a = 20.0 + (rnd() * 45.0).floor();
        let h = (rnd() * 3.0).floor() as u32;
        let logit = -1.0 - 0.05 * (a - 40.0) + [-0.6, 0.3, 0.8][h as usize];
        age.push(a);
        housing.push(h);
        y.push(rnd() < 1.0 / (1.0 + (-logit).exp()));
    }
    (age, housing, levels, y)
}

#[test]
fn unrounded_points_add_up_to_the_scaled_model_log_odds() {
    let (age, housing, levels, y) = toy_book();
    let f = [
        NamedFeature {
            name: "age",
            feature: Feature::Numeric(&age),
        },
        NamedFeature {
            name: "housing",
            feature: Feature::Categorical {
                codes: &housing,
                levels: &levels,
            },
        },
    ];
    let opts = ScorecardOptions {
        round_points: false,
        ..ScorecardOptions::default()
    };
    let card = Scorecard::fit(&f, &y, &opts).expect("fit");
    assert_eq!(card.variables.len(), 2);
    assert!(card.fit.converged);
    let p = card.predict_proba(&f).expect("p");
    let s = card.score(&f).expect("score");
    for (pi, si) in p.iter().zip(&s) {
        let logit = (pi / (1.0 - pi)).ln();
        assert!((card.scaling.score_of_logit(logit) - si).abs() < 1e-6);
    }
    // Rounded points stay within half a point per term of the exact score.
    let rounded = Scorecard::fit(&f, &y, &ScorecardOptions::default()).expect("fit");
    let sr = rounded.score(&f).expect("score");
    for (a, b) in s.iter().zip(&sr) {
        assert!((a - b).abs() <= 1.5 + 1e-9);
        assert_eq!(b.fract(), 0.0);
    }
    // Older applicants and owners are safer, so they score higher.
    let age_pts = &card
        .variables
        .iter()
        .find(|v| v.binning.name == "age")
        .expect("age")
        .points;
    assert!(age_pts.windows(2).all(|w| w[1] > w[0]), "{age_pts:?}");
}

#[test]
fn reason_codes_are_ordered_by_points_lost() {
    let (age, housing, levels, y) = toy_book();
    let f = [
        NamedFeature {
            name: "age",
            feature: Feature::Numeric(&age),
        },
        NamedFeature {
            name: "housing",
            feature: Feature::Categorical {
                codes: &housing,
                levels: &levels,
            },
        },
    ];
    let card = Scorecard::fit(&f, &y, &ScorecardOptions::default()).expect("fit");
    let bins = card.bin_indices(&f).expect("bins");
    for baseline in [Baseline::BestPossible, Baseline::PopulationAverage] {
        let reasons = card.reason_codes(&f, 2, baseline).expect("reasons");
        assert_eq!(reasons.len(), y.len());
        let mut cited_rows = 0;
        for (row, rs) in reasons.iter().enumerate() {
            assert!(rs.len() <= 2);
            cited_rows += usize::from(!rs.is_empty());
            for (r, w) in rs.iter().enumerate() {
                assert_eq!(w.rank, r + 1);
                assert!(w.points_lost > 0.0);
                assert!((w.baseline_points - w.points - w.points_lost).abs() < 1e-9);
                let j = card
                    .variables
                    .iter()
                    .position(|v| v.binning.name == w.variable)
                    .expect("variable");
                let k = bins[j][row].expect("bin");
                assert_eq!(w.points, card.variables[j].points[k]);
                assert_eq!(w.bin, card.variables[j].binning.bins[k].label);
                if baseline == Baseline::BestPossible {
                    let best = card.variables[j]
                        .points
                        .iter()
                        .cloned()
                        .fold(f64::MIN, f64::max);
                    assert_eq!(w.baseline_points, best);
                }
                assert!(w.text_en.contains(&w.variable) && w.text_zh.contains('分'));
            }
            assert!(rs.windows(2).all(|p| p[0].points_lost >= p[1].points_lost));
        }
        assert!(cited_rows > 0);
    }
    // An applicant in the best bin of every variable gets no reason against the best.
    let best_row = (0..y.len())
        .find(|&i| {
            card.variables.iter().zip(&bins).all(|(v, b)| {
                let best = v.points.iter().cloned().fold(f64::MIN, f64::max);
                b[i].map(|k| v.points[k]) == Some(best)
            })
        })
        .expect("some applicant has the best bins");
    let r = card
        .reason_codes(&f, 5, Baseline::BestPossible)
        .expect("reasons");
    assert!(r[best_row].is_empty());
}
