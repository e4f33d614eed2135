//! Real data: UCI bank marketing (bank-full, Moro, Cortez & Rita 2014), the benchmark the
//! brief (§5) sets for boosted trees: 5-fold stratified AUC without `duration` ≥ 0.795.

use zhiying_models::eval::EvaluationReport;
use zhiying_models::frame::{ColumnData, CsvOptions, read_csv};
use zhiying_models::gbdt::{Gbdt, GbdtConfig};
use zhiying_models::{cross_validate, stratified_k_fold};

fn bank_full() -> std::path::PathBuf {
    zhiying_datasets::locate_file("bank-full.csv.gz").expect(
        "bank-full.csv.gz not found in $ZHIYING_DATASETS_DIR, datasets/ or ../shared/datasets",
    )
}

#[test]
fn loads_bank_full_with_types_and_unknown_as_a_level() {
    let frame = read_csv(&bank_full(), &CsvOptions::default()).unwrap();
    assert_eq!(frame.n_rows(), 45_211);
    assert_eq!(frame.n_cols(), 17);
    for numeric in [
        "age", "balance", "day", "duration", "campaign", "pdays", "previous",
    ] {
        assert!(
            !frame.column(numeric).unwrap().is_categorical(),
            "{numeric} should be numeric"
        );
    }
    for cat in [
        "job",
        "marital",
        "education",
        "default",
        "housing",
        "loan",
        "contact",
        "month",
        "poutcome",
        "y",
    ] {
        assert!(
            frame.column(cat).unwrap().is_categorical(),
            "{cat} should be categorical"
        );
    }
    // "unknown" is a real answer in bank-full, not a missing value.
    let ColumnData::Categorical { levels, .. } = &frame.column("job").unwrap().data else {
        unreachable!()
    };
    assert_eq!(levels.len(), 12);
    assert!(levels.iter().any(|l| l == "unknown"));
    assert_eq!(frame.column("job").unwrap().missing_count(), 0);
    let (_, target) = frame.split_binary_target("y", None).unwrap();
    assert_eq!(target.positive, "yes");
    assert_eq!(target.positives(), 5_289);
}

#[test]
fn gbdt_five_fold_auc_without_duration() {
    let frame = read_csv(&bank_full(), &CsvOptions::default()).unwrap();
    let (mut x, target) = frame.split_binary_target("y", None).unwrap();
    x.drop_columns(&["duration"]).unwrap();
    let folds = stratified_k_fold(&target.y, 5, 42).unwrap();
    let gbdt = Gbdt {
        config: GbdtConfig {
            num_trees: 300,
            learning_rate: 0.05,
            num_leaves: 31,
            max_bin: 255,
            // One thread: OpenMP threads spin badly on a busy shared CI machine, and one
            // thread keeps the run within a minute there.
            num_threads: 1,
            ..GbdtConfig::default()
        },
    };
    let report = cross_validate(&gbdt, &x, &target.y, &folds, |_| {}).unwrap();
    assert_eq!(report.folds.len(), 5);
    assert!(
        report.auc.mean >= 0.795,
        "5-fold AUC {:.4} below the 0.795 floor",
        report.auc.mean
    );
    // Python LightGBM 4.7.0 (pip) with the same settings on these very folds, computed
    // once by scripts/bench/gbdt.sh (`zhiying model cv --write-folds` hands it the folds):
    // mean AUC 0.800895. The brief asks for parity within 0.005.
    const LIGHTGBM_PYTHON_AUC: f64 = 0.800_895;
    assert!(
        (report.auc.mean - LIGHTGBM_PYTHON_AUC).abs() <= 0.005,
        "AUC {:.4} vs Python LightGBM {LIGHTGBM_PYTHON_AUC}",
        report.auc.mean
    );
    // Every fold, not just the mean, should be a usable model.
    assert!(
        report.folds.iter().all(|f| f.auc > 0.77),
        "{:?}",
        report.folds
    );

    // The evaluation report on the out-of-fold scores reads like a real campaign model:
    // the top decile converts at several times the base rate.
    let r = EvaluationReport::binary(&target.y, &report.out_of_fold).unwrap();
    assert!((r.base_rate - 5_289.0 / 45_211.0).abs() < 1e-12);
    assert!(r.gains[0].lift > 3.5, "top-decile lift {}", r.gains[0].lift);
    assert!(r.gains[0].lift > r.gains[9].lift);
    assert!(r.calibration.expected_calibration_error < 0.02);
    assert!((r.gini - (2.0 * r.auc - 1.0)).abs() < 1e-12);
}
