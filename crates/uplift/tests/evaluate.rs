//! `evaluate_csv` end to end on small generated CSVs: folds, report, exports, refusals.

use std::io::Write;

use rand::{Rng, SeedableRng};
use rand_pcg::Pcg64;
use zhiying_uplift::evaluate::{experiment_folds, load_experiment};
use zhiying_uplift::{
    EvaluateOptions, Learner, OutcomeKind, UpliftError, UpliftReport, evaluate_csv,
};

/// A randomised test with three arms; "mail" lifts `bought` by 0.3 for age > 40 only.
fn write_csv(dir: &tempfile::TempDir, n: usize) -> std::path::PathBuf {
    let path = dir.path().join("test.csv");
    let mut f = std::fs::File::create(&path).unwrap();
    writeln!(f, "id,age,region,arm,bought,amount").unwrap();
    let mut rng = Pcg64::seed_from_u64(9);
    for i in 0..n {
        let age: f64 = rng.random_range(20.0..60.0);
        let region = ["north", "south"][rng.random_range(0..2)];
        let arm = ["mail", "none", "sms"][rng.random_range(0..3)];
        let p = 0.2
            + if arm == "mail" && age > 40.0 {
                0.3
            } else {
                0.0
            };
        let bought = rng.random::<f64>() < p;
        let amount = if bought {
            rng.random_range(10.0..100.0)
        } else {
            0.0
        };
        writeln!(
            f,
            "{i},{age:.1},{region},{arm},{},{amount:.2}",
            if bought { "yes" } else { "no" }
        )
        .unwrap();
    }
    path
}

fn opts(path: &std::path::Path) -> EvaluateOptions {
    let mut o = EvaluateOptions::new(path, "arm", "mail", "none", "bought");
    o.exclude = vec!["id".into(), "amount".into()];
    o.folds = 3;
    o
}

#[test]
fn finds_the_effect_and_exports_the_folds() {
    let dir = tempfile::tempdir().unwrap();
    let path = write_csv(&dir, 4500);
    let report: UpliftReport = evaluate_csv(&opts(&path)).unwrap();
    assert_eq!(report.outcome_kind, OutcomeKind::Binary);
    assert_eq!(report.positive.as_deref(), Some("yes"));
    assert_eq!(report.features, vec!["age", "region"]);
    assert_eq!(report.rows, report.treated_rows + report.control_rows);
    assert!(report.rows > 2800 && report.rows < 3200, "{}", report.rows);
    assert_eq!(report.per_fold.len(), 3);
    // Half the treated gain 0.3: the model ranks them first.
    assert!(report.qini.mean > 0.08, "{report}");
    assert!(
        report.qini.mean > report.random_qini.mean + 0.08,
        "{report}"
    );
    assert!(
        report.uplift_at_30.mean > report.observed_uplift,
        "{report}"
    );
    assert_eq!(report.qini_curve.len(), 101);
    assert_eq!(report.qini_curve[100].targeted, report.rows);
    let text = report.to_string();
    for needle in [
        "Qini coefficient",
        "AUUC",
        "uplift@10%",
        "uplift@30%",
        "by_group",
    ] {
        assert!(text.contains(needle), "{needle} missing from:\n{text}");
    }
    // JSON round trip (the row results stay out of the JSON).
    let json = serde_json::to_string(&report).unwrap();
    let back: UpliftReport = serde_json::from_str(&json).unwrap();
    assert_eq!(back.per_fold, report.per_fold);
    assert!(back.row_results.is_empty());
    // Same seed, same result; the exported folds are the ones used.
    let again = evaluate_csv(&opts(&path)).unwrap();
    assert_eq!(again.per_fold, report.per_fold);
    let out = dir.path().join("rows.csv");
    report.write_rows(&out).unwrap();
    let text = std::fs::read_to_string(&out).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines[0], "row,fold,treated,outcome,uplift");
    assert_eq!(lines.len(), report.rows + 1);
    let exp = load_experiment(&opts(&path)).unwrap();
    let folds = experiment_folds(&exp, 3, 42).unwrap();
    for (i, line) in lines[1..].iter().enumerate() {
        let fields: Vec<&str> = line.split(',').collect();
        let fold: usize = fields[1].parse().unwrap();
        assert!(folds[fold].test.binary_search(&i).is_ok());
        assert_eq!(fields[0].parse::<usize>().unwrap(), exp.source_rows[i]);
    }
    // Each fold holds treatment × outcome in proportion.
    for f in &folds {
        let treated_buyers = f
            .test
            .iter()
            .filter(|&&i| exp.treated[i] && exp.y[i] == 1.0)
            .count();
        let all = (0..exp.y.len())
            .filter(|&i| exp.treated[i] && exp.y[i] == 1.0)
            .count();
        assert!(treated_buyers * 3 + 3 >= all && treated_buyers * 3 <= all + 3);
    }
}

#[test]
fn other_learners_and_a_continuous_outcome() {
    let dir = tempfile::tempdir().unwrap();
    let path = write_csv(&dir, 3000);
    let mut o = opts(&path);
    o.learner = "x".parse().unwrap();
    let x = evaluate_csv(&o).unwrap();
    assert!(x.qini.mean > x.random_qini.mean + 0.1, "{x}");
    o.learner = Learner::ClassTransformation;
    let ct = evaluate_csv(&o).unwrap();
    assert!(ct.qini.mean > ct.random_qini.mean + 0.05, "{ct}");
    // Spend as the outcome: regression trees, the same metrics on amounts.
    o.learner = Learner::T;
    o.outcome = "amount".into();
    o.exclude = vec!["id".into(), "bought".into()];
    let spend = evaluate_csv(&o).unwrap();
    assert_eq!(spend.outcome_kind, OutcomeKind::Continuous);
    assert!(spend.qini.mean > spend.random_qini.mean, "{spend}");
    // Class transformation cannot take an amount.
    o.learner = Learner::ClassTransformation;
    assert!(matches!(
        evaluate_csv(&o),
        Err(UpliftError::NotBinary { .. })
    ));
}

#[test]
fn refusals_name_the_fix() {
    let dir = tempfile::tempdir().unwrap();
    let path = write_csv(&dir, 200);
    let mut o = opts(&path);
    o.treatment = "email".into();
    let err = evaluate_csv(&o).unwrap_err();
    assert!(matches!(err, UpliftError::ArmValueNotFound { .. }), "{err}");
    assert!(err.to_string().contains("\"mail\""), "{err}");
    let mut o = opts(&path);
    o.control = "mail".into();
    assert!(matches!(
        evaluate_csv(&o),
        Err(UpliftError::SameArms { .. })
    ));
    let mut o = opts(&path);
    o.exclude.push("bought".into());
    assert!(matches!(
        evaluate_csv(&o),
        Err(UpliftError::ExcludedRole { .. })
    ));
    let mut o = opts(&path);
    o.treatment_col = "group".into();
    assert!(evaluate_csv(&o).unwrap_err().to_string().contains("arm"));
    let mut o = opts(&path);
    o.exclude.push("nope".into());
    assert!(evaluate_csv(&o).unwrap_err().to_string().contains("nope"));
    let mut o = opts(&path);
    o.exclude = vec!["id".into(), "amount".into(), "age".into(), "region".into()];
    assert!(matches!(evaluate_csv(&o), Err(UpliftError::NoFeatures)));
    // A missing outcome names its line.
    let bad = dir.path().join("bad.csv");
    std::fs::write(&bad, "x,arm,y\n1,a,1\n2,b,\n3,a,0\n4,b,1\n").unwrap();
    let o = EvaluateOptions::new(&bad, "arm", "a", "b", "y");
    let err = evaluate_csv(&o).unwrap_err();
    assert!(
        matches!(err, UpliftError::MissingValue { line: 3, .. }),
        "{err}"
    );
}
