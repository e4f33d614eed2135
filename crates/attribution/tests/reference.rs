//! Markov and Shapley results against independent computations.
//!
//! The constants come from `scripts/reference/attribution_refs.py`: absorbing-chain matrix
//! inversion (numpy) for Markov, brute-force enumeration of all 720 join orders for Shapley,
//! and brute force over coalitions for the interaction index. `MAM_RE` is the
//! marketing-attribution-models package's removal effects on the same paths.

use zhiying_attribution::{
    AttributionConfig, Model, Paths, ShapleyMethod, attribute, markov, shapley, synergy,
};

const PATHS: [(&str, f64, f64, f64); 11] = [
    ("app > sms > call", 3.0, 7.0, 3000.0),
    ("sms", 1.0, 9.0, 500.0),
    ("app", 2.0, 12.0, 800.0),
    ("branch > app", 4.0, 2.0, 9000.0),
    ("email > email > app > branch", 2.0, 5.0, 4100.0),
    ("call > sms", 0.0, 6.0, 0.0),
    ("wechat > app > sms", 1.0, 3.0, 1200.0),
    ("sms > branch", 2.0, 1.0, 5000.0),
    ("email", 0.0, 8.0, 0.0),
    ("wechat > call > branch > app > sms", 1.0, 0.0, 2500.0),
    ("app > app > call", 1.0, 4.0, 700.0),
];

const MARKOV1_P_CONV: f64 = 0.22972972972972974;
const MARKOV1_RE: [f64; 6] = [
    0.6797698559587994,
    0.34760007859809583,
    0.2954956848731153,
    0.3179119247897081,
    0.10994491830710951,
    0.07752748274339372,
];
const MARKOV1_RE_VALUE: [f64; 6] = [
    0.6923479388284297,
    0.30596403043996534,
    0.20495067841258263,
    0.4157909118435531,
    0.11197927785018003,
    0.07418508258785095,
];
const MARKOV1_CONV: [f64; 6] = [
    6.3208466551281965,
    3.232162731061495,
    2.747669516325614,
    2.956107142465268,
    1.0223238983576763,
    0.720890056661751,
];
const MARKOV1_VALUE: [f64; 6] = [
    10278.495773511226,
    4542.297040770085,
    3042.6676584127454,
    6172.770785279109,
    1662.427905904603,
    1101.3408361222325,
];
const MARKOV2_P_CONV: f64 = 0.22972972972972974;
const MARKOV2_RE: [f64; 6] = [
    0.8235294117647058,
    0.47058823529411764,
    0.2700280112044817,
    0.4901960784313726,
    0.11764705882352944,
    0.11484593837535018,
];
const MARKOV2_RE_VALUE: [f64; 6] = [
    0.7947761194029851,
    0.455223880597015,
    0.18734896943852175,
    0.6920398009950249,
    0.15298507462686572,
    0.1170220326936745,
];
const MARKOV2_CONV: [f64; 6] = [
    6.121999020088192,
    3.4982851543361098,
    2.0073493385595294,
    3.6440470357667816,
    0.8745712885840278,
    0.8537481626653605,
];
const MARKOV2_VALUE: [f64; 6] = [
    8877.234556198995,
    5084.613219982524,
    2092.590233860099,
    7729.723485241191,
    1708.7634591744552,
    1307.0750455427362,
];
const SHAPLEY_CONV: [f64; 6] = [
    6.7,
    3.533333333333333,
    1.7,
    3.8666666666666667,
    0.6666666666666666,
    0.5333333333333333,
];
const SHAPLEY_VALUE: [f64; 6] = [
    8916.666666666666,
    4900.0,
    1850.0,
    8866.666666666666,
    1366.6666666666667,
    900.0,
];
const INTERACTION: [f64; 15] = [
    2.25,
    2.75,
    5.25,
    1.0,
    0.75,
    1.75,
    2.2500000000000004,
    0.0,
    0.75,
    0.25,
    0.0,
    0.25,
    1.0,
    0.25,
    0.0,
];
const SYNERGY: [f64; 15] = [
    0.0, 1.0, 4.0, 0.0, 0.0, 0.0, 2.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0,
];
const MAM_RE: [f64; 6] = [
    0.6797698559587995,
    0.34760007859809583,
    0.2954956848731155,
    0.3179119247897081,
    0.10994491830710951,
    0.07752748274339372,
];

fn example() -> Paths {
    let mut p = Paths::new();
    for (path, c, n, v) in PATHS {
        let steps: Vec<&str> = path.split('>').map(str::trim).collect();
        p.push(&steps, c, n, v).unwrap();
    }
    assert_eq!(
        p.channels(),
        ["app", "sms", "call", "branch", "email", "wechat"]
    );
    p
}

fn close(got: &[f64], want: &[f64], what: &str) {
    assert_eq!(got.len(), want.len(), "{what}");
    for (i, (g, w)) in got.iter().zip(want).enumerate() {
        assert!(
            (g - w).abs() <= 1e-9 * w.abs().max(1.0),
            "{what}[{i}]: got {g}, want {w}"
        );
    }
}

#[test]
fn markov_first_order_matches_matrix_inversion_and_mam() {
    let r = markov(&example(), 1, false).unwrap();
    assert!((r.conversion_probability - MARKOV1_P_CONV).abs() < 1e-12);
    let re: Vec<f64> = r.removal_effects.iter().map(|e| e.removal_effect).collect();
    let rev: Vec<f64> = r
        .removal_effects
        .iter()
        .map(|e| e.value_removal_effect)
        .collect();
    close(&re, &MARKOV1_RE, "removal effect");
    close(&re, &MAM_RE, "removal effect vs mam");
    close(&rev, &MARKOV1_RE_VALUE, "value removal effect");
    close(&r.conversions, &MARKOV1_CONV, "conversions");
    close(&r.value, &MARKOV1_VALUE, "value");
    // Collapsing repeats leaves first-order effects unchanged.
    let c = markov(&example(), 1, true).unwrap();
    close(&c.conversions, &MARKOV1_CONV, "collapsed conversions");
}

#[test]
fn markov_second_order_matches_matrix_inversion() {
    let r = markov(&example(), 2, false).unwrap();
    assert_eq!(r.states, 19);
    assert!((r.conversion_probability - MARKOV2_P_CONV).abs() < 1e-12);
    let re: Vec<f64> = r.removal_effects.iter().map(|e| e.removal_effect).collect();
    let rev: Vec<f64> = r
        .removal_effects
        .iter()
        .map(|e| e.value_removal_effect)
        .collect();
    close(&re, &MARKOV2_RE, "removal effect");
    close(&rev, &MARKOV2_RE_VALUE, "value removal effect");
    close(&r.conversions, &MARKOV2_CONV, "conversions");
    close(&r.value, &MARKOV2_VALUE, "value");
}

#[test]
fn shapley_matches_permutation_enumeration() {
    for max_exact in [20, 0] {
        let r = shapley(&example(), max_exact).unwrap();
        assert_eq!(r.players, 6);
        let want = if max_exact == 0 {
            ShapleyMethod::UnanimityExpansion
        } else {
            ShapleyMethod::ExactSubsetDp
        };
        assert_eq!(r.method, want);
        close(&r.conversions, &SHAPLEY_CONV, "shapley conversions");
        close(&r.value, &SHAPLEY_VALUE, "shapley value");
    }
}

#[test]
#[allow(clippy::needless_range_loop)] // matrix indices
fn interaction_and_synergy_match_brute_force() {
    let s = synergy(&example()).unwrap();
    let n = s.channels.len();
    let mut inter = Vec::new();
    let mut syn = Vec::new();
    for a in 0..n {
        for b in a + 1..n {
            inter.push(s.interaction[a][b]);
            syn.push(s.synergy[a][b]);
            assert_eq!(s.interaction[a][b], s.interaction[b][a]);
        }
        // The interaction diagonal is the Shapley value.
        assert!((s.interaction[a][a] - SHAPLEY_CONV[a]).abs() < 1e-9);
    }
    close(&inter, &INTERACTION, "interaction index");
    close(&syn, &SYNERGY, "synergy");
    // app & sms share "app > sms > call" (10), "wechat > app > sms" (4), the long path (1).
    assert_eq!(s.paths_with_both[0][1], 15.0);
    assert!((s.conversion_rate_with_both[0][1] - 5.0 / 15.0).abs() < 1e-15);
}

#[test]
fn report_puts_reference_numbers_side_by_side() {
    let r = attribute(&example(), &AttributionConfig::default()).unwrap();
    assert_eq!(r.total_conversions, 17.0);
    let col = |m: Model| -> Vec<f64> {
        r.channels
            .iter()
            .map(|c| c.credit(m).unwrap().conversions)
            .collect()
    };
    close(&col(Model::Markov), &MARKOV1_CONV, "report markov");
    close(&col(Model::Shapley), &SHAPLEY_CONV, "report shapley");
    let text = r.to_string();
    assert!(
        text.contains("Markov order 1") && text.contains("wechat"),
        "{text}"
    );
    let json = serde_json::to_value(&r).unwrap();
    assert_eq!(json["channels"][0]["credits"][5]["model"], "markov");
}

#[test]
fn partial_json_config_takes_defaults() {
    let cfg: AttributionConfig =
        serde_json::from_str(r#"{"models": ["markov", "last_touch"], "markov_order": 2}"#).unwrap();
    assert_eq!(cfg.models, [Model::Markov, Model::LastTouch]);
    assert_eq!((cfg.markov_order, cfg.half_life_days), (2, 7.0));
    let r = attribute(&example(), &cfg).unwrap();
    let markov: Vec<f64> = r
        .channels
        .iter()
        .map(|c| c.credit(Model::Markov).unwrap().conversions)
        .collect();
    close(&markov, &MARKOV2_CONV, "order-2 credits through the config");
    assert!(r.shapley.is_none());
    let e = "linear, nope"
        .split(", ")
        .map(str::parse::<Model>)
        .collect::<Result<Vec<_>, _>>();
    assert!(e.unwrap_err().to_string().contains("unknown model `nope`"));
}
