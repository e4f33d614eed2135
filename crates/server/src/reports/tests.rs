//! The campaign report and the experiments list on a synthetic bank: every number must be
//! what `zhiying-measure` computes on the same facts, or what the raw facts say.

use std::sync::Arc;

use axum::body::Body;
use axum::http::Request;
use tower::ServiceExt;
use zhiying_core::DataDir;
use zhiying_core::schema::FACT_TABLES;
use zhiying_engine::{AnalyticsEngine, DataFusionEngine};
use zhiying_experiment::power::{cohens_h, power};
use zhiying_experiment::stats::srm;
use zhiying_store::OperationalStore;
use zhiying_store::{Assignment, ExperimentArm, NewExperiment};
use zhiying_synth::{GenerateConfig, OutputFormat};

use super::{CampaignReport, ExperimentsList};
use crate::{AppState, router};

async fn get(app: &axum::Router, token: &str, uri: &str) -> (u16, String) {
    let res = app
        .clone()
        .oneshot(
            Request::builder()
                .uri(uri)
                .header("authorization", format!("Bearer {token}"))
                .body(Body::empty())
                .unwrap(),
        )
        .await
        .unwrap();
    let status = res.status().as_u16();
    let bytes = axum::body::to_bytes(res.into_body(), usize::MAX)
        .await
        .unwrap();
    (status, String::from_utf8_lossy(&bytes).into_owned())
}

fn close(a: f64, b: f64) -> bool {
    (a - b).abs() <= 1e-12 * (1.0 + a.abs().max(b.abs()))
}

async fn count(engine: &dyn AnalyticsEngine, sql: &str) -> u64 {
    let rows = engine.query_json(sql).await.unwrap();
    rows[0]["n"].as_u64().unwrap()
}

/// A synthetic bank's facts in a data directory, served by the router with a root token.
struct Bank {
    _dir: tempfile::TempDir,
    dd: DataDir,
    engine: Arc<DataFusionEngine>,
    store: Arc<zhiying_store::SqlStore>,
    token: String,
    app: axum::Router,
}

async fn synthetic_bank(customers: u64) -> Bank {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("gen");
    zhiying_synth::generate(
        &GenerateConfig {
            customers,
            months: 12,
            seed: 7,
            out: out.clone(),
            format: OutputFormat::Parquet,
            ..GenerateConfig::default()
        },
        &mut |_| {},
    )
    .unwrap();
    let dd = DataDir::new(dir.path().join("data"));
    for t in FACT_TABLES {
        let src = out.join(format!("{}.parquet", t.name));
        if src.exists() {
            let dst = dd.fact_batch(t.name, "synthetic");
            std::fs::create_dir_all(dst.parent().unwrap()).unwrap();
            std::fs::copy(&src, &dst).unwrap();
        }
    }
    let engine = Arc::new(DataFusionEngine::open(&dd).await.unwrap());
    let store = Arc::new(
        zhiying_store::SqlStore::open_with(&zhiying_store::StoreOptions::default(), &dd)
            .await
            .unwrap(),
    );
    let token =
        crate::tests::user_with_token(&store, "root", &zhiying_core::domain::Role::ALL).await;
    let app = router(AppState::new(dd.clone(), engine.clone(), store.clone()));
    Bank {
        _dir: dir,
        dd,
        engine,
        store,
        token,
        app,
    }
}

/// The report once its uplift model is no longer being trained in the background.
async fn report_when_ready(app: &axum::Router, token: &str, id: &str) -> CampaignReport {
    for _ in 0..400 {
        let (status, body) = get(app, token, &format!("/v1/campaigns/{id}/report")).await;
        assert_eq!(status, 200, "{body}");
        let r: CampaignReport = serde_json::from_str(&body).unwrap();
        if r.uplift.status != "computing" {
            return r;
        }
        tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    }
    panic!("the uplift model of {id} was not trained within two minutes");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn campaign_report_and_experiments_list_on_the_synthetic_bank() {
    let Bank {
        _dir,
        dd,
        engine,
        store,
        token,
        app,
    } = synthetic_bank(8_000).await;

    // ---- the report: every number is zhiying-measure's -------------------------------
    let effects = zhiying_measure::campaign_effects(&*engine, 0.05)
        .await
        .unwrap();
    let totals = zhiying_measure::kpis(&*engine, zhiying_measure::Breakdown::Campaign)
        .await
        .unwrap();
    assert_eq!(
        effects.len(),
        4,
        "the synthetic bank has four measured campaigns"
    );
    let (status, body) = get(&app, &token, "/v1/campaigns/CP001/report").await;
    assert_eq!(status, 200, "{body}");
    let r: CampaignReport = serde_json::from_str(&body).unwrap();
    let e = effects.iter().find(|e| e.campaign_id == "CP001").unwrap();
    let effect = r.effect.as_ref().expect("CP001 has a holdout");
    // Exactly what `measure campaigns` computes (floats through JSON: to 1e-12).
    assert_eq!(effect.campaign_id, e.campaign_id);
    assert_eq!(effect.treated.customers, e.treated.customers);
    assert_eq!(effect.treated.converted, e.treated.converted);
    assert_eq!(effect.treated.revenue_fen, e.treated.revenue_fen);
    assert_eq!(effect.untreated.customers, e.untreated.customers);
    assert_eq!(effect.untreated.converted, e.untreated.converted);
    assert_eq!(effect.cost_fen, e.cost_fen);
    assert_eq!(effect.significant, e.significant);
    assert_eq!(effect.verdict_en, e.verdict_en);
    assert_eq!(effect.verdict_zh, e.verdict_zh);
    for (got, want) in [
        (effect.lift, e.lift),
        (effect.lift_ci[0], e.lift_ci[0]),
        (effect.lift_ci[1], e.lift_ci[1]),
        (effect.p_value, e.p_value),
        (effect.incremental_conversions, e.incremental_conversions),
        (effect.incremental_revenue_fen, e.incremental_revenue_fen),
        (effect.roi.unwrap(), e.roi.unwrap()),
    ] {
        assert!(close(got, want), "{got} vs {want}");
    }
    let k = totals.iter().find(|k| k.campaign_id == "CP001").unwrap();
    assert_eq!(
        (
            r.kpis.customers,
            r.kpis.reach,
            r.kpis.delivered,
            r.kpis.opened
        ),
        (k.customers, k.reach, k.delivered, k.opened)
    );
    assert_eq!(
        (
            r.kpis.clicked,
            r.kpis.converted,
            r.kpis.revenue_fen,
            r.kpis.cost_fen
        ),
        (k.clicked, k.converted, k.revenue_fen, k.cost_fen)
    );
    assert!(close(r.kpis.roi.unwrap(), k.roi.unwrap()));
    assert!(close(r.kpis.open_rate, k.open_rate));
    let named = engine
        .query_json("SELECT name FROM campaigns WHERE campaign_id = 'CP001'")
        .await
        .unwrap();
    assert_eq!(r.name.as_deref(), named[0]["name"].as_str());
    assert!(r.name.is_some());

    // Against the raw facts.
    let contacts = count(
        &*engine,
        "SELECT COUNT(*) AS n FROM contacts WHERE campaign_id = 'CP001'",
    )
    .await;
    assert_eq!(r.kpis.customers, contacts);
    let treated = count(
        &*engine,
        "SELECT COUNT(*) AS n FROM contacts WHERE campaign_id = 'CP001' AND \"group\" = 'treatment'",
    )
    .await;
    assert_eq!(effect.treated.customers, treated);
    let converted_treated = count(
        &*engine,
        "SELECT COUNT(DISTINCT r.customer_id) AS n FROM responses r JOIN contacts c
           ON c.customer_id = r.customer_id AND c.campaign_id = 'CP001' AND c.\"group\" = 'treatment'
         WHERE r.campaign_id = 'CP001' AND r.response_type IN ('convert', 'accept')",
    )
    .await;
    assert_eq!(effect.treated.converted, converted_treated);
    let reach: u64 = r.daily.iter().map(|d| d.reach).sum();
    assert_eq!(reach, r.kpis.reach, "daily reach adds up to the total");
    let last = r.daily.last().unwrap();
    assert!(
        (last.cumulative_rate_treated - effect.treated.conversion_rate).abs() < 1e-12,
        "the cumulative treated rate ends at the treated conversion rate: {} vs {}",
        last.cumulative_rate_treated,
        effect.treated.conversion_rate
    );
    assert!((last.cumulative_rate_untreated - effect.untreated.conversion_rate).abs() < 1e-12);
    let by_group: u64 = r.groups.iter().map(|g| g.customers).sum();
    assert_eq!(by_group, contacts);

    // The first view does not wait for the uplift model: it is trained in the background.
    assert_eq!(r.uplift.status, "computing", "{:?}", r.uplift.note);
    assert!(r.uplift.model.is_none());
    let (_, html) = get(&app, &token, "/console/campaigns/CP001/report?lang=en").await;
    assert!(
        html.contains("data-uplift=\"computing\"") || html.contains("data-chart=\"report-qini\""),
        "the page says the model is being computed"
    );

    // The uplift model: trained on treated + untreated, its Qini curve ends at the
    // measured incremental conversions, and it is cached.
    let r = report_when_ready(&app, &token, "CP001").await;
    assert_eq!(r.uplift.status, "ok", "{:?}", r.uplift.note);
    assert!(
        r.uplift.cached,
        "the view reads what the background task saved"
    );
    let m = r.uplift.model.as_ref().unwrap();
    assert_eq!(
        m.rows as u64,
        effect.treated.customers + effect.untreated.customers
    );
    assert_eq!(m.treated_rows as u64, effect.treated.customers);
    assert_eq!(m.qini_curve.len(), 101);
    let end = m.qini_curve.last().unwrap();
    assert!(
        (end.incremental - effect.incremental_conversions).abs() < 1e-6,
        "Qini curve ends at {} but measure says {}",
        end.incremental,
        effect.incremental_conversions
    );
    assert!((m.observed_uplift - effect.lift).abs() < 1e-12);
    let cache = dd.root().join("reports/uplift/CP001.json");
    assert!(cache.exists());
    // What the CLI calls once responses are simulated: reads a matching cache, and trains
    // (the same model: seeded) when there is none.
    let again = super::refresh_uplift(&*engine, &dd, "CP001").await;
    assert!(again.cached && again.model.as_ref() == Some(m));
    std::fs::remove_file(&cache).unwrap();
    let trained = super::refresh_uplift(&*engine, &dd, "CP001").await;
    assert_eq!(trained.status, "ok", "{:?}", trained.note);
    assert!(!trained.cached);
    assert!(close(
        trained.model.as_ref().unwrap().pooled_qini,
        m.pooled_qini
    ));
    assert!(cache.exists(), "the trained model is saved");
    let (_, body) = get(&app, &token, "/v1/campaigns/CP001/report").await;
    let again: CampaignReport = serde_json::from_str(&body).unwrap();
    assert!(again.uplift.cached, "the second view reads the cache");
    let m2 = again.uplift.model.as_ref().unwrap();
    assert_eq!(m2.rows, m.rows);
    assert!(close(m2.pooled_qini, m.pooled_qini));

    // Unknown campaign: 404 with a hint.
    let (status, body) = get(&app, &token, "/v1/campaigns/NOPE/report").await;
    assert_eq!(status, 404);
    assert!(body.contains("campaign_not_measured"), "{body}");

    // ---- the report page in both languages ---------------------------------------------
    for (lang, title, verdict) in [
        ("en", "Campaign report", &e.verdict_en),
        ("zh", "营销活动报告", &e.verdict_zh),
    ] {
        let (status, html) = get(
            &app,
            &token,
            &format!("/console/campaigns/CP001/report?lang={lang}"),
        )
        .await;
        assert_eq!(status, 200, "{html}");
        assert!(html.contains(title), "{lang}");
        assert!(html.contains(verdict.as_str()), "{lang}: verdict missing");
        for chart in ["report-daily", "report-effect", "report-qini"] {
            assert!(html.contains(&format!("data-chart=\"{chart}\"")), "{chart}");
        }
    }

    // ---- the experiments list ----------------------------------------------------------
    let (status, body) = get(&app, &token, "/v1/experiments").await;
    assert_eq!(status, 200, "{body}");
    let list: ExperimentsList = serde_json::from_str(&body).unwrap();
    assert!(close(list.mde_relative, 0.10));
    for c in ["CP001", "CP002", "CP003", "CP004", "EXP001"] {
        assert!(list.experiments.iter().any(|x| x.id == c), "{c} missing");
    }
    let cp = list.experiments.iter().find(|x| x.id == "CP001").unwrap();
    assert_eq!(
        cp.report.as_deref(),
        Some("/console/campaigns/CP001/report")
    );
    let holdout = count(
        &*engine,
        "SELECT COUNT(*) AS n FROM contacts WHERE campaign_id = 'CP001' AND \"group\" = 'holdout'",
    )
    .await;
    let arm_n = |arm: &str| cp.arms.iter().find(|a| a.arm == arm).unwrap().n;
    assert_eq!(arm_n("holdout"), holdout);
    assert_eq!(arm_n("treatment"), treated);
    let want = srm(&[holdout as f64, (contacts - holdout) as f64], &[0.1, 0.9]).unwrap();
    let got = cp.srm.as_ref().unwrap();
    assert!((got.p_value - want.p_value).abs() < 1e-12);
    assert!(!got.mismatch, "the planted 10% holdout is honoured");
    let p = &cp.power[0];
    assert_eq!(p.n_control, effect.untreated.customers);
    let base = effect.untreated.conversion_rate;
    let want_power = power(
        cohens_h(base * 1.1, base),
        effect.untreated.customers as f64,
        0.05,
        effect.treated.customers as f64 / effect.untreated.customers as f64,
    );
    assert!((p.power - want_power).abs() < 1e-12);
    assert_eq!(p.underpowered, want_power < 0.8);

    // The experiment fact: arm sizes from the assignments, an even planned split.
    let exp = list.experiments.iter().find(|x| x.id == "EXP001").unwrap();
    let names: Vec<&str> = exp.arms.iter().map(|a| a.arm.as_str()).collect();
    assert_eq!(names, ["control", "banner_a", "banner_b"]);
    for a in &exp.arms {
        let n = count(
            &*engine,
            &format!(
                "SELECT COUNT(DISTINCT customer_id) AS n FROM assignments WHERE experiment_id = 'EXP001' AND arm = '{}'",
                a.arm
            ),
        )
        .await;
        assert_eq!(a.n, n, "{}", a.arm);
    }
    assert!(!exp.srm.as_ref().unwrap().mismatch);
    assert_eq!(exp.power.len(), 2);

    // The stated MDE decides the under-powered flag.
    let (_, body) = get(&app, &token, "/v1/experiments?mde=0.01").await;
    let tiny: ExperimentsList = serde_json::from_str(&body).unwrap();
    assert!(
        tiny.experiments
            .iter()
            .flat_map(|x| &x.power)
            .all(|p| p.underpowered),
        "a 1% relative lift is beyond every sample here"
    );
    let (_, body) = get(&app, &token, "/v1/experiments?mde=5").await;
    let huge: ExperimentsList = serde_json::from_str(&body).unwrap();
    let cp = huge.experiments.iter().find(|x| x.id == "CP001").unwrap();
    assert!(
        !cp.power[0].underpowered,
        "a sixfold rate is easy to detect"
    );
    let (status, _) = get(&app, &token, "/v1/experiments?mde=-1").await;
    assert_eq!(status, 400);

    // An experiment assigned by Zhiying with a broken split is flagged.
    store
        .create_experiment(&NewExperiment {
            experiment_id: "exp-srm".into(),
            name: "broken split".into(),
            salt: "s".into(),
            layer: "home".into(),
            bucket_start: 0,
            bucket_end: 10_000,
            arms: vec![
                ExperimentArm {
                    name: "control".into(),
                    weight: 1.0,
                },
                ExperimentArm {
                    name: "b".into(),
                    weight: 1.0,
                },
            ],
            control_arm: "control".into(),
        })
        .await
        .unwrap();
    let assignments: Vec<Assignment> = (0..1000)
        .map(|k| Assignment {
            experiment_id: "exp-srm".into(),
            customer_id: format!("C{k:08}"),
            arm: if k < 600 { "control" } else { "b" }.into(),
            assigned_at: 0,
        })
        .collect();
    store.record_assignments(&assignments).await.unwrap();
    let (_, body) = get(&app, &token, "/v1/experiments").await;
    let list: ExperimentsList = serde_json::from_str(&body).unwrap();
    let broken = list.experiments.iter().find(|x| x.id == "exp-srm").unwrap();
    let s = broken.srm.as_ref().unwrap();
    assert_eq!(s.observed, [600, 400]);
    assert!(s.mismatch && s.p_value < 0.001, "{s:?}");

    for (lang, title) in [("en", "Experiments"), ("zh", "实验列表")] {
        let (status, html) = get(&app, &token, &format!("/console/experiments?lang={lang}")).await;
        assert_eq!(status, 200, "{html}");
        assert!(html.contains(title));
        assert!(html.contains("href=\"/console/campaigns/CP001/report\""));
        assert!(
            html.contains("data-flag=\"srm\""),
            "the broken split is flagged"
        );
        assert!(html.contains("data-chart=\"experiment-power\""));
    }
}

/// Writes `select` (over the synthetic `contacts` and `responses` batches) as a new batch of
/// `table`, as if another source had delivered it.
async fn add_batch(dd: &DataDir, table: &str, batch: &str, select: &str) {
    let ctx = datafusion::prelude::SessionContext::new();
    for t in ["contacts", "responses"] {
        // The catalogue's types, so the new batch reads like every other.
        let schema = zhiying_core::schema::fact_table(t).unwrap().arrow_schema();
        ctx.register_parquet(
            t,
            dd.fact_batch(t, "synthetic").to_str().unwrap(),
            datafusion::prelude::ParquetReadOptions::default().schema(&schema),
        )
        .await
        .unwrap();
    }
    let dst = dd.fact_batch(table, batch);
    let sql = format!(
        "COPY ({select}) TO '{}' STORED AS PARQUET",
        dst.to_str().unwrap()
    );
    ctx.sql(&sql).await.unwrap().collect().await.unwrap();
    assert!(dst.is_file(), "{} not written", dst.display());
}

fn micros(v: &serde_json::Value) -> i64 {
    chrono::DateTime::parse_from_rfc3339(v.as_str().unwrap())
        .unwrap()
        .timestamp_micros()
}

/// The report's attribution against `zhiying-attribution` called directly on paths built
/// here from the raw facts: the customers the campaign reached (a contact sent or
/// delivered), their touches of every campaign from 30 days before the campaign's first
/// contact to its last contact or response, and their first conversion in the campaign.
async fn expected_attribution(
    engine: &dyn AnalyticsEngine,
    id: &str,
) -> zhiying_attribution::AttributionReport {
    use zhiying_attribution::{Conversion, Touchpoint, attribute, build_paths};
    let contacts = engine
        .query_json(
            "SELECT contact_id, campaign_id, customer_id, channel, ts, status FROM contacts",
        )
        .await
        .unwrap();
    let responses = engine
        .query_json(&format!(
            "SELECT customer_id, ts, response_type, revenue_fen FROM responses WHERE campaign_id = '{id}'"
        ))
        .await
        .unwrap();
    let str_of = |r: &zhiying_engine::Row, k: &str| r[k].as_str().unwrap_or("").to_string();
    let touched =
        |r: &zhiying_engine::Row| matches!(r["status"].as_str(), Some("sent" | "delivered"));
    let mine: Vec<_> = contacts.iter().filter(|r| r["campaign_id"] == id).collect();
    let reached: std::collections::HashSet<String> = mine
        .iter()
        .filter(|r| touched(r))
        .map(|r| str_of(r, "customer_id"))
        .collect();
    let times = mine
        .iter()
        .map(|r| micros(&r["ts"]))
        .chain(responses.iter().map(|r| micros(&r["ts"])));
    let t0 = times.clone().min().unwrap() - 30 * 86_400 * 1_000_000;
    let t1 = times.max().unwrap();
    let mut touches: Vec<(String, i64, String, Touchpoint)> = contacts
        .iter()
        .filter(|r| touched(r) && reached.contains(&str_of(r, "customer_id")))
        .map(|r| {
            (
                str_of(r, "customer_id"),
                micros(&r["ts"]),
                str_of(r, "contact_id"),
                r,
            )
        })
        .filter(|(_, ts, _, _)| (t0..=t1).contains(ts))
        .map(|(c, ts, k, r)| {
            let t = Touchpoint {
                customer_id: c.clone(),
                timestamp: ts,
                channel: str_of(r, "channel"),
                campaign: Some(str_of(r, "campaign_id")),
            };
            (c, ts, k, t)
        })
        .collect();
    touches.sort_by(|a, b| (&a.0, a.1, &a.2).cmp(&(&b.0, b.1, &b.2)));
    let mut first: std::collections::BTreeMap<String, (i64, f64)> = Default::default();
    for r in &responses {
        let c = str_of(r, "customer_id");
        if !reached.contains(&c)
            || !matches!(r["response_type"].as_str(), Some("convert" | "accept"))
        {
            continue;
        }
        let (ts, rev) = (
            micros(&r["ts"]),
            r["revenue_fen"].as_i64().unwrap_or(0) as f64,
        );
        let e = first.entry(c).or_insert((ts, 0.0));
        e.0 = e.0.min(ts);
        e.1 += rev;
    }
    let conversions: Vec<Conversion> = first
        .into_iter()
        .map(|(customer_id, (timestamp, value))| Conversion {
            customer_id,
            timestamp,
            value,
        })
        .collect();
    let touches: Vec<Touchpoint> = touches.into_iter().map(|t| t.3).collect();
    let (path_opts, cfg) = super::attribution::options();
    let paths = build_paths(&touches, &conversions, &path_opts).unwrap();
    attribute(&paths, &cfg).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn campaign_report_attributes_conversions_over_contact_paths() {
    let bank = synthetic_bank(3_000).await;
    let (dd, app, token) = (&bank.dd, &bank.app, bank.token.as_str());
    // A follow-up call two days after CP001 to half of the customers it reached: their
    // paths become "app_push > call" and the like.
    add_batch(
        dd,
        "contacts",
        "followup",
        "SELECT concat('F', contact_id) AS contact_id, 'CP9F' AS campaign_id, customer_id, offer_id,
           'call' AS channel, ts + INTERVAL '2 days' AS ts, \"group\", status
         FROM contacts WHERE campaign_id = 'CP001' AND status = 'delivered'
           AND CAST(right(customer_id, 1) AS INT) % 2 = 0",
    )
    .await;
    // A campaign on one channel: CP002's SMS contacts and their responses, copied.
    add_batch(
        dd,
        "contacts",
        "single",
        "SELECT concat('S', contact_id) AS contact_id, 'CPS' AS campaign_id, customer_id, offer_id,
           channel, ts, \"group\", status
         FROM contacts WHERE campaign_id = 'CP002' AND channel = 'sms'",
    )
    .await;
    add_batch(
        dd,
        "responses",
        "single",
        "SELECT concat('S', r.response_id) AS response_id, concat('S', r.contact_id) AS contact_id,
           'CPS' AS campaign_id, r.customer_id, r.ts, r.response_type, r.revenue_fen
         FROM responses r JOIN contacts c ON c.contact_id = r.contact_id
         WHERE r.campaign_id = 'CP002' AND c.channel = 'sms'",
    )
    .await;
    bank.engine.refresh().await.unwrap();

    let r = report_when_ready(app, token, "CP001").await;
    let a = &r.attribution;
    assert_eq!(a.status, "ok", "{:?}", a.note);
    assert!(!a.single_touch, "the follow-up makes two-touch paths");
    assert!(a.channels.iter().any(|c| c == "call"), "{:?}", a.channels);
    let got = a.report.as_ref().unwrap();
    let want = expected_attribution(&*bank.engine, "CP001").await;
    assert_eq!(got.models, want.models);
    assert_eq!(got.models.len(), 6);
    assert!(close(got.total_conversions, want.total_conversions));
    assert!(close(
        got.unattributed_conversions,
        want.unattributed_conversions
    ));
    assert!(close(got.total_value, want.total_value));
    assert_eq!(got.channels.len(), want.channels.len());
    for (g, w) in got.channels.iter().zip(&want.channels) {
        assert_eq!(g.channel, w.channel);
        assert!(close(g.paths, w.paths) && close(g.converting_paths, w.converting_paths));
        for (x, y) in g.credits.iter().zip(&w.credits) {
            assert_eq!(x.model, y.model);
            for (p, q) in [
                (x.conversions, y.conversions),
                (x.value, y.value),
                (x.share, y.share),
            ] {
                assert!(
                    (p - q).abs() <= 1e-9 * (1.0 + q.abs()),
                    "{} {:?}: {p} vs {q}",
                    g.channel,
                    x.model
                );
            }
        }
    }
    // Every model hands out the converted reached customers (those with a touch in the
    // window); the rest are reported as unattributed.
    let converted = count(
        &*bank.engine,
        "SELECT COUNT(DISTINCT r.customer_id) AS n FROM responses r JOIN contacts c
           ON c.customer_id = r.customer_id AND c.campaign_id = 'CP001' AND c.status IN ('sent', 'delivered')
         WHERE r.campaign_id = 'CP001' AND r.response_type IN ('convert', 'accept')",
    )
    .await;
    assert_eq!(a.conversions, converted);
    assert!(close(
        got.total_conversions + got.unattributed_conversions,
        converted as f64
    ));
    for m in &got.models {
        let total: f64 = got
            .channels
            .iter()
            .map(|c| c.credit(*m).unwrap().conversions)
            .sum();
        assert!(
            (total - got.total_conversions).abs() < 1e-9,
            "{m:?}: {total}"
        );
    }
    // The call always comes after CP001's own contact: last touch credits it, first touch
    // (almost) never does.
    let call = got.channels.iter().find(|c| c.channel == "call").unwrap();
    let credit = |m| call.credit(m).unwrap().conversions;
    use zhiying_attribution::Model;
    assert!(
        credit(Model::LastTouch) > credit(Model::FirstTouch),
        "{call:?}"
    );
    assert!(credit(Model::LastTouch) > 0.0);

    // The page: the grouped bar chart and the table, with zh and en model names.
    for (lang, heading, model) in [
        ("en", "Attribution by channel", "Markov (removal effect)"),
        ("zh", "渠道归因", "马尔可夫（移除效应）"),
    ] {
        let (status, html) = get(
            app,
            token,
            &format!("/console/campaigns/CP001/report?lang={lang}"),
        )
        .await;
        assert_eq!(status, 200, "{html}");
        assert!(html.contains(heading) && html.contains(model), "{lang}");
        assert!(html.contains("data-chart=\"report-attribution\""), "{lang}");
        assert!(html.contains("<tr data-channel=\"call\">"), "{lang}");
    }

    // One channel: said plainly, no chart.
    let r = report_when_ready(app, token, "CPS").await;
    assert_eq!(
        r.attribution.status, "single_channel",
        "{:?}",
        r.attribution.note
    );
    assert_eq!(r.attribution.channels, ["sms"]);
    assert!(r.attribution.conversions > 0);
    let (_, html) = get(app, token, "/console/campaigns/CPS/report?lang=en").await;
    assert!(html.contains("data-attribution=\"single_channel\""));
    assert!(!html.contains("data-chart=\"report-attribution\""));
}
