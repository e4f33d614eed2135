//! Cluster profiles (客群画像) in the console and the API: the latest `zhiying segment run`
//! (`derived/segments.json`), each cluster's size, description and how it differs from the
//! population, with a link to the cluster as an audience.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use minijinja::{Value, context};
use zhiying_audience::segments::{SegmentProfiles, load_profiles};
use zhiying_core::access::Permission;

use crate::AppState;
use crate::auth::{Principal, Routes};
use crate::error::ApiError;
use crate::i18n::{Lang, Locale};

pub fn routes() -> Routes {
    Routes::new()
        .get("/v1/segments", Permission::AudienceRead, api)
        .get("/console/segments", Permission::AudienceRead, page)
}

fn load(state: &AppState) -> Result<Option<SegmentProfiles>, ApiError> {
    load_profiles(&state.data_dir).map_err(|e| ApiError::internal("reading segment profiles", e))
}

/// The latest segmentation's cluster profiles, or `{"segmentation": null}` before the first run.
#[utoipa::path(get, path = "/v1/segments", tag = "audiences",
    responses((status = 200, description = "Cluster profiles of the latest segmentation", body = Object)))]
pub async fn api(State(state): State<AppState>) -> Result<Json<serde_json::Value>, ApiError> {
    Ok(Json(serde_json::json!({ "segmentation": load(&state)? })))
}

/// Chart data: the standardised mean difference of every feature per cluster (a heatmap), and
/// the silhouette of every k tried.
fn charts(p: &SegmentProfiles, lang: Lang) -> serde_json::Value {
    let labels = match lang {
        Lang::Zh => &p.labels_zh,
        Lang::En => &p.labels_en,
    };
    let mut cells = Vec::new();
    for (c, cluster) in p.clusters.iter().enumerate() {
        for (f, smd) in cluster.smd.iter().enumerate() {
            cells.push(serde_json::json!([f, c, (smd * 100.0).round() / 100.0]));
        }
    }
    serde_json::json!({
        "features": labels,
        "clusters": (1..=p.clusters.len()).map(|k| format!("c{k}")).collect::<Vec<_>>(),
        "smd": cells,
        "k_scores": p.k_scores.iter().map(|s| [s.k as f64, s.silhouette]).collect::<Vec<_>>(),
    })
}

async fn page(State(state): State<AppState>, locale: Locale, me: Principal) -> Response {
    let profiles = match load(&state) {
        Ok(p) => p,
        Err(e) => return crate::console::error_page(&state, &locale, &e, Some(&me)),
    };
    let lang = locale.lang;
    let view = profiles.as_ref().map(|p| {
        let clusters: Vec<Value> = p
            .clusters
            .iter()
            .zip(&p.expressions)
            .enumerate()
            .map(|(k, (c, expr))| {
                let phrases: Vec<&str> = c
                    .top_features
                    .iter()
                    .map(|f| match lang {
                        Lang::Zh => f.phrase_zh.as_str(),
                        Lang::En => f.phrase_en.as_str(),
                    })
                    .collect();
                context! {
                    code => format!("c{}", k + 1),
                    size => c.size,
                    share => c.share,
                    description => match lang {
                        Lang::Zh => &c.description_zh,
                        Lang::En => &c.description_en,
                    },
                    phrases => phrases,
                    expr => expr,
                }
            })
            .collect();
        context! {
            name => &p.name,
            customers => p.customers,
            k => p.k,
            silhouette => p.silhouette,
            clusters => clusters,
            charts => Value::from_serialize(charts(p, lang)),
        }
    });
    crate::console::page(
        &state,
        &locale,
        Some(&me),
        StatusCode::OK,
        "segments.html",
        "segments",
        context! { seg => view },
    )
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use axum::body::Body;
    use axum::http::Request;
    use tower::ServiceExt;
    use zhiying_audience::segments::{SegmentProfiles, save_profiles};
    use zhiying_bankmodels::{ModelScores, ScoreRow, write_scores};
    use zhiying_core::DataDir;
    use zhiying_engine::{AnalyticsEngine, DataFusionEngine};
    use zhiying_segment::{ClusterOptions, FeatureMatrix, FeatureMeta};

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

    /// Two well-separated groups: young low-AUM and older high-AUM customers.
    fn profiles() -> SegmentProfiles {
        let n = 200;
        let age: Vec<f64> = (0..n)
            .map(|i| {
                if i < 120 {
                    25.0 + (i % 7) as f64
                } else {
                    58.0 + (i % 5) as f64
                }
            })
            .collect();
        let aum: Vec<f64> = (0..n)
            .map(|i| {
                if i < 120 {
                    8_000.0 + (i * 37 % 900) as f64
                } else {
                    900_000.0 + (i * 53 % 9_000) as f64
                }
            })
            .collect();
        let metas = vec![
            FeatureMeta::new("age", "年龄", "Age"),
            FeatureMeta::new("aum_yuan", "资产管理规模", "AUM"),
        ];
        let m = FeatureMatrix::new(metas, vec![age, aum]).unwrap();
        let c = zhiying_segment::cluster(
            &m,
            &ClusterOptions {
                k_min: 2,
                k_max: 4,
                seed: 7,
                ..ClusterOptions::default()
            },
        )
        .unwrap();
        SegmentProfiles {
            name: "测试分群".into(),
            customers: n,
            k: c.k,
            silhouette: c.silhouette,
            k_scores: c.k_scores.clone(),
            features: vec!["age".into(), "aum_yuan".into()],
            labels_zh: vec!["年龄".into(), "资产管理规模".into()],
            labels_en: vec!["Age".into(), "AUM".into()],
            means: c.means.clone(),
            std_devs: c.std_devs.clone(),
            expressions: (1..=c.k).map(|k| format!("segment = \"c{k}\"")).collect(),
            clusters: c.clusters,
        }
    }

    #[tokio::test]
    async fn cluster_profiles_page_api_and_customer_scores() {
        let tmp = tempfile::tempdir().unwrap();
        let dd = DataDir::new(tmp.path());
        let engine = Arc::new(DataFusionEngine::open(&dd).await.unwrap());
        let store = Arc::new(
            zhiying_store::SqlStore::open_with(&zhiying_store::StoreOptions::default(), &dd)
                .await
                .unwrap(),
        );
        let token =
            crate::tests::user_with_token(&store, "root", &zhiying_core::domain::Role::ALL).await;
        let state = AppState::new(dd.clone(), engine.clone(), store);
        let app = router(state.clone());

        // Before any segmentation: the page says how to make one, the API answers null.
        let (status, body) = get(&app, &token, "/console/segments?lang=en").await;
        assert_eq!(status, 200, "{body}");
        assert!(body.contains("zhiying segment run"), "{body}");
        let (_, body) = get(&app, &token, "/v1/segments").await;
        assert_eq!(
            serde_json::from_str::<serde_json::Value>(&body).unwrap()["segmentation"],
            serde_json::Value::Null
        );

        let p = profiles();
        assert_eq!(p.k, 2, "the planted two groups are found");
        save_profiles(&dd, &p).unwrap();
        let (status, body) = get(&app, &token, "/v1/segments").await;
        assert_eq!(status, 200);
        let v: serde_json::Value = serde_json::from_str(&body).unwrap();
        assert_eq!(v["segmentation"]["k"], 2);
        let sizes: Vec<u64> = v["segmentation"]["clusters"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c["size"].as_u64().unwrap())
            .collect();
        assert_eq!(sizes, [120, 80]);

        for (lang, word) in [("en", "Open as audience"), ("zh", "作为人群打开")] {
            let (status, html) = get(&app, &token, &format!("/console/segments?lang={lang}")).await;
            assert_eq!(status, 200);
            assert!(html.contains(word), "{lang}: {html}");
            assert!(html.contains(r#"data-chart="segment-smd""#));
            assert!(
                html.contains(&p.clusters[0].description_en)
                    || html.contains(&p.clusters[0].description_zh)
            );
            assert!(
                html.contains("/console/audiences?expr=segment%20%3D%20%22c1%22"),
                "{html}"
            );
        }

        // Customer 360 shows the customer's scores with their reason codes.
        write_scores(
            &dd,
            &[ModelScores {
                model: "churn".into(),
                version: "v1".into(),
                as_of: "2026-09-30".into(),
                rows: vec![ScoreRow {
                    customer_id: "C1".into(),
                    model: "churn".into(),
                    score: 0.8123,
                    band: Some("high".into()),
                    reasons: Some(
                        "complaints_90d=2 (+0.81); competitor_transfers_90d=3 (+0.66)".into(),
                    ),
                }],
            }],
        )
        .unwrap();
        engine.refresh().await.unwrap();
        let scores = crate::models::customer_page_scores(&state, "C1").await;
        assert_eq!(scores.len(), 1);
        let s = serde_json::to_value(&scores[0]).unwrap();
        assert_eq!(s["model"], "churn");
        assert_eq!(s["band"], "high");
        assert_eq!(
            s["reasons"],
            serde_json::json!([
                "complaints_90d=2 (+0.81)",
                "competitor_transfers_90d=3 (+0.66)"
            ])
        );
    }
}
