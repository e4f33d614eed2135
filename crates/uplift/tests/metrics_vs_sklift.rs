//! scikit-uplift's metrics on fixed data, to 1e-6. The constants below are the output of
//! `crates/uplift/tests/sklift_reference.py` (scikit-uplift 0.5.1, run in the throwaway
//! venv /var/cache/zhiying-tools/pyref-uplift), pasted verbatim.

use zhiying_uplift::metrics::{
    AtKStrategy, qini_auc_score, qini_curve, uplift_at_k, uplift_auc_score, uplift_curve,
};

// scikit-uplift 0.5.1, numpy 2.4.6
const T: [bool; 60] = [
    true, false, false, false, true, true, false, false, false, false, true, false, false, false,
    true, false, true, false, false, true, false, false, true, false, false, true, false, true,
    false, true, true, true, false, true, true, false, false, false, true, false, false, true,
    true, false, true, true, false, false, false, false, false, false, true, true, true, true,
    false, false, true, false,
];
const SCORE: [f64; 60] = [
    -1.2, -1.4, -0.5, 0.1, -1.5, -0.5, -0.0, -0.0, 0.9, 0.8, 0.3, 0.9, 0.9, -1.1, 2.2, -0.0, -0.6,
    0.6, -0.5, 0.6, -1.2, 0.7, -1.3, 0.4, -0.2, -0.5, 0.2, -0.6, -0.8, 0.4, 1.9, -1.0, 1.2, 1.1,
    -1.1, 0.2, 0.5, -0.9, 1.1, 0.9, 1.7, 0.4, 0.9, 1.8, 0.2, -0.5, -1.5, 0.3, -1.3, 1.1, 0.1, 0.8,
    0.2, 1.2, -0.5, 0.1, 1.4, -1.3, 0.2, 1.0,
];
const Y: [f64; 60] = [
    0.0, 1.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 1.0, 1.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 1.0,
    1.0, 1.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 1.0, 1.0, 0.0, 0.0, 1.0,
    0.0, 1.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 1.0, 1.0, 1.0, 1.0, 0.0, 1.0, 1.0, 1.0, 0.0, 0.0, 0.0,
    0.0, 1.0, 0.0,
];
const SPEND: [f64; 60] = [
    0.0, 67.85, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 74.93, 88.89, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0,
    13.5, 29.08, 146.3, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 65.28, 0.0, 0.0, 0.0, 19.81, 38.59,
    0.0, 0.0, 118.18, 0.0, 72.89, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 18.96, 86.92, 41.78, 27.51, 0.0,
    100.06, 117.83, 48.36, 0.0, 0.0, 0.0, 0.0, 30.65, 0.0,
];
const QINI_AUC_NEG: f64 = 0.2675405270502334;
const QINI_AUC_NONEG: f64 = 25.061332091156526;
const UPLIFT_AUC: f64 = 0.274346493085184;
const AT_10_OVERALL: f64 = 0.3333333333333333;
const AT_10_BY_GROUP: f64 = 0.0;
const AT_20_OVERALL: f64 = 0.16666666666666666;
const AT_20_BY_GROUP: f64 = 0.11428571428571432;
const AT_30_OVERALL: f64 = 0.0;
const AT_30_BY_GROUP: f64 = 0.12857142857142856;
const QINI_X: [f64; 30] = [
    0.0, 1.0, 2.0, 3.0, 4.0, 5.0, 7.0, 10.0, 11.0, 16.0, 18.0, 19.0, 21.0, 22.0, 25.0, 27.0, 32.0,
    35.0, 38.0, 39.0, 45.0, 47.0, 48.0, 49.0, 50.0, 52.0, 54.0, 57.0, 58.0, 60.0,
];
const QINI_Y: [f64; 30] = [
    0.0,
    0.0,
    0.0,
    0.0,
    0.0,
    0.0,
    1.0,
    1.0,
    1.1666666666666665,
    0.20000000000000018,
    0.0,
    0.15384615384615374,
    1.0,
    1.1333333333333333,
    1.75,
    2.0588235294117645,
    3.5789473684210527,
    3.666666666666667,
    4.083333333333333,
    4.199999999999999,
    3.0,
    2.5555555555555554,
    2.7142857142857144,
    2.1724137931034484,
    1.931034482758621,
    2.866666666666667,
    2.064516129032258,
    1.4545454545454541,
    0.9411764705882346,
    0.14285714285714235,
];
const UPLIFT_X: [f64; 30] = [
    0.0, 1.0, 2.0, 3.0, 4.0, 5.0, 7.0, 10.0, 11.0, 16.0, 18.0, 19.0, 21.0, 22.0, 25.0, 27.0, 32.0,
    35.0, 38.0, 39.0, 45.0, 47.0, 48.0, 49.0, 50.0, 52.0, 54.0, 57.0, 58.0, 60.0,
];
const UPLIFT_Y: [f64; 30] = [
    0.0,
    0.0,
    0.0,
    0.0,
    0.0,
    0.0,
    2.333333333333333,
    2.0,
    2.566666666666667,
    0.5333333333333332,
    0.0,
    0.4871794871794865,
    3.0,
    3.5619047619047617,
    4.861111111111111,
    5.5588235294117645,
    8.809716599190283,
    9.166666666666668,
    11.083333333333332,
    11.7,
    7.500000000000001,
    6.005555555555555,
    6.514285714285714,
    5.322413793103447,
    4.597701149425286,
    6.775757575757576,
    4.847124824684432,
    3.4545454545454546,
    2.2745098039215668,
    0.34285714285714364,
];
const SPEND_QINI_Y: [f64; 30] = [
    0.0,
    0.0,
    0.0,
    0.0,
    0.0,
    0.0,
    48.36,
    40.66,
    45.245000000000005,
    -45.40400000000001,
    -76.50500000000001,
    -65.37615384615385,
    -47.42500000000001,
    -37.78,
    -0.22937500000000455,
    16.124705882352913,
    128.49210526315784,
    135.0933333333333,
    166.44916666666663,
    175.22879999999995,
    126.0933333333333,
    97.22148148148148,
    107.5328571428571,
    35.62965517241372,
    18.114137931034463,
    52.0333333333333,
    -60.881290322580696,
    -81.67363636363638,
    -114.67941176470595,
    -134.6414285714286,
];
const SPEND_UPLIFT_Y: [f64; 30] = [
    0.0,
    0.0,
    0.0,
    0.0,
    0.0,
    0.0,
    112.84,
    81.32,
    99.53899999999999,
    -121.07733333333337,
    -229.51500000000001,
    -207.0244871794872,
    -142.27500000000003,
    -118.73714285714293,
    -0.6371527777778496,
    43.53670588235292,
    316.28825910931175,
    337.73333333333335,
    451.79059523809525,
    488.1373714285714,
    315.23333333333335,
    228.47048148148144,
    258.07885714285715,
    87.29265517241382,
    43.128899835796375,
    122.9878787878787,
    -142.93868162692866,
    -193.97488636363633,
    -277.14191176470604,
    -323.1394285714287,
];
const SPEND_QINI_AUC_NEG: f64 = 0.2334446256198419;

fn close(got: f64, want: f64, what: &str) {
    assert!(
        (got - want).abs() <= 1e-6,
        "{what}: got {got}, scikit-uplift gives {want}"
    );
}

fn close_all(got: &[f64], want: &[f64], what: &str) {
    assert_eq!(got.len(), want.len(), "{what}: number of points");
    for (i, (g, w)) in got.iter().zip(want).enumerate() {
        close(*g, *w, &format!("{what}[{i}]"));
    }
}

#[test]
fn normalised_scores_match() {
    close(
        qini_auc_score(&Y, &SCORE, &T, true).unwrap(),
        QINI_AUC_NEG,
        "qini_auc_score",
    );
    close(
        qini_auc_score(&Y, &SCORE, &T, false).unwrap(),
        QINI_AUC_NONEG,
        "qini_auc_score(negative_effect=False)",
    );
    close(
        uplift_auc_score(&Y, &SCORE, &T).unwrap(),
        UPLIFT_AUC,
        "uplift_auc_score",
    );
    close(
        qini_auc_score(&SPEND, &SCORE, &T, true).unwrap(),
        SPEND_QINI_AUC_NEG,
        "qini_auc_score on spend",
    );
}

#[test]
fn uplift_at_k_matches_both_strategies() {
    let cases = [
        (0.1, AT_10_OVERALL, AT_10_BY_GROUP),
        (0.2, AT_20_OVERALL, AT_20_BY_GROUP),
        (0.3, AT_30_OVERALL, AT_30_BY_GROUP),
    ];
    for (k, overall, by_group) in cases {
        close(
            uplift_at_k(&Y, &SCORE, &T, AtKStrategy::Overall, k).unwrap(),
            overall,
            &format!("uplift_at_k overall {k}"),
        );
        close(
            uplift_at_k(&Y, &SCORE, &T, AtKStrategy::ByGroup, k).unwrap(),
            by_group,
            &format!("uplift_at_k by_group {k}"),
        );
    }
}

#[test]
fn curves_match_point_by_point() {
    let q = qini_curve(&Y, &SCORE, &T).unwrap();
    close_all(&q.x, &QINI_X, "qini x");
    close_all(&q.y, &QINI_Y, "qini y");
    let u = uplift_curve(&Y, &SCORE, &T).unwrap();
    close_all(&u.x, &UPLIFT_X, "uplift x");
    close_all(&u.y, &UPLIFT_Y, "uplift y");
    close_all(
        &qini_curve(&SPEND, &SCORE, &T).unwrap().y,
        &SPEND_QINI_Y,
        "spend qini y",
    );
    close_all(
        &uplift_curve(&SPEND, &SCORE, &T).unwrap().y,
        &SPEND_UPLIFT_Y,
        "spend uplift y",
    );
}
