//! Product propensity: for each product category, a look-alike model of who holds it.
//!
//! The label is "holds a product of the category on the snapshot day"; the features are
//! everything else about the customer, minus that category's own holding flag (and the
//! product count is recomputed without it). Customers who don't hold the category are
//! scored: a high score means they look like the customers who do, which is how bank
//! cross-sell models are usually built when purchases are too rare to learn from directly.
//! Categories with too few holders are skipped and reported.

use zhiying_core::DataDir;
use zhiying_models::{Column, ColumnData, Frame};

use crate::features::{FeatureTable, HOLDING_CATEGORIES};
use crate::scores::{ModelScores, ScoreRow, rank_bands};
use crate::{BankModelError, BankModelsOptions, ModelSummary};

pub fn model_name(category: &str) -> String {
    format!("propensity_{category}")
}

/// The feature frame for `category`: its holding flag removed (returned as the label) and
/// `n_products` counting the other categories only.
pub fn frame_for(
    table: &FeatureTable,
    category: &str,
) -> Result<(Frame, Vec<f64>), BankModelError> {
    let mut frame = table.frame.clone();
    let label_col = frame.take_column(&format!("has_{category}"))?;
    let y: Vec<f64> = match &label_col.data {
        ColumnData::Numeric(v) => v.iter().map(|x| if *x > 0.5 { 1.0 } else { 0.0 }).collect(),
        ColumnData::Categorical { .. } => {
            return Err(BankModelError::data(
                &model_name(category),
                "holding flag is not numeric",
            ));
        }
    };
    let n = frame.take_column("n_products")?;
    if let ColumnData::Numeric(v) = n.data {
        let others = v.iter().zip(&y).map(|(n, h)| n - h).collect();
        let mut cols: Vec<Column> = frame.columns().to_vec();
        cols.push(Column::numeric("n_other_products", others));
        frame = Frame::new(cols)?;
    }
    Ok((frame, y))
}

/// Scores the customers of `current` who do not hold `category` with a propensity model
/// (the trained one or a registered champion), through the same preprocessing as
/// training ([`frame_for`]). Returns the score rows and the scoring frame (for drift).
pub fn score(
    model: &zhiying_models::GbdtModel,
    current: &FeatureTable,
    category: &str,
) -> Result<(Vec<ScoreRow>, Frame), BankModelError> {
    let name = model_name(category);
    let (frame, y) = frame_for(current, category)?;
    let non_holders: Vec<usize> = (0..y.len()).filter(|&i| y[i] < 0.5).collect();
    let x = frame.select_rows(&non_holders)?;
    let p = model.predict(&x)?;
    let bands = rank_bands(&p);
    let rows: Vec<ScoreRow> = non_holders
        .iter()
        .zip(&p)
        .zip(bands)
        .map(|((&i, &score), band)| ScoreRow {
            customer_id: current.customer_ids[i].clone(),
            model: name.clone(),
            score,
            band: Some(band.to_string()),
            reasons: None,
        })
        .collect();
    Ok((rows, x))
}

pub fn train_and_score(
    dd: &DataDir,
    current: &FeatureTable,
    opts: &BankModelsOptions,
) -> Result<Vec<(ModelSummary, ModelScores)>, BankModelError> {
    let end = current.snapshot;
    let mut out = Vec::new();
    for category in HOLDING_CATEGORIES {
        let name = model_name(category);
        let (frame, y) = frame_for(current, category)?;
        let holders = y.iter().filter(|v| **v > 0.5).count();
        if holders < 100 || holders + 100 > y.len() {
            tracing::info!(model = %name, holders, "skipped: too few holders or non-holders");
            continue;
        }
        let cfg = zhiying_models::GbdtConfig {
            num_trees: 250,
            learning_rate: 0.08,
            ..crate::gbdt_config(opts)
        };
        let trained =
            match crate::fit_binary(&name, &frame, &y, &current.customer_ids, opts, cfg.clone()) {
                Ok(t) => t,
                Err(BankModelError::Data { problem, .. }) => {
                    tracing::info!(model = %name, %problem, "skipped");
                    continue;
                }
                Err(e) => return Err(e),
            };
        let (rows, _) = score(&trained.model, current, category)?;
        let version = crate::version_of(end, &trained.report);
        let mut summary = ModelSummary {
            name: name.clone(),
            kind: "propensity".into(),
            version: version.clone(),
            label: format!(
                "holds a {category} product on the snapshot day (look-alike); scored for customers who do not"
            ),
            train_snapshot: end,
            score_snapshot: end,
            train_rows: trained.train_rows,
            test_rows: trained.test_rows,
            positives: trained.positives,
            test_auc: Some(trained.report.auc),
            test_ks: Some(trained.report.ks.statistic),
            top_features: crate::top_features(&trained.report, 8),
            scored: rows.len(),
            artifact: Default::default(),
            report: Some(trained.report),
            clv: None,
            training_data_hash: trained.data_hash,
            params: crate::gbdt_params(&cfg),
        };
        crate::save_model(
            dd,
            &mut summary,
            Some(&trained.model),
            None,
            Some(trained.reference),
        )?;
        out.push((
            summary,
            ModelScores {
                model: name,
                version,
                as_of: end.to_string(),
                rows,
            },
        ));
    }
    Ok(out)
}
