//! Scheduled retraining of the bank models inside `zhiying serve`.
//!
//! The interval is `zhiying serve --retrain-every 7d`, or else the store setting
//! `models.retrain_every` (`"7d"`, `"12h"`, `"90m"`, or a number of days). A background
//! task checks every `tick` whether the interval has passed since the last retraining
//! (setting `models.last_retrain`, else the newest registered bank model) and, when it
//! has, trains the bank models again and registers every one as a new version. New
//! versions are challengers: a model that already has a champion keeps it until a person
//! requests the promotion and another approves it — the scheduler never promotes (only a
//! model's very first version becomes champion, as for a manual run).
//!
//! Time comes from a [`Clock`], so tests drive the schedule without waiting.

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use zhiying_store::{OperationalStore, StoreError};

use crate::AppState;

/// The setting holding the interval.
pub const SETTING_EVERY: &str = "models.retrain_every";
/// The setting holding the last successful scheduled retraining (RFC 3339).
pub const SETTING_LAST: &str = "models.last_retrain";
/// The author recorded on versions the scheduler registers.
pub const SCHEDULER_AUTHOR: &str = "scheduler";

/// Where "now" comes from.
pub trait Clock: Send + Sync {
    fn now(&self) -> DateTime<Utc>;
}

/// The wall clock.
#[derive(Debug, Default, Clone, Copy)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> DateTime<Utc> {
        Utc::now()
    }
}

/// Parses `7d`, `12h`, `90m`, `3600s` or a bare number of days.
pub fn parse_interval(text: &str) -> Result<Duration, String> {
    let t = text.trim();
    let (num, unit) = match t.find(|c: char| !(c.is_ascii_digit() || c == '.')) {
        Some(i) => (&t[..i], t[i..].trim()),
        None => (t, "d"),
    };
    let n: f64 = num.parse().map_err(|_| {
        format!("retrain interval {text:?}: expected a number and a unit, e.g. 7d, 12h, 90m")
    })?;
    let secs = match unit {
        "d" | "day" | "days" => n * 86_400.0,
        "h" | "hour" | "hours" => n * 3_600.0,
        "m" | "min" | "minutes" => n * 60.0,
        "s" | "sec" | "seconds" => n,
        other => {
            return Err(format!(
                "retrain interval {text:?}: unknown unit {other:?}; use d, h, m or s"
            ));
        }
    };
    if !(secs >= 60.0 && secs.is_finite()) {
        return Err(format!(
            "retrain interval {text:?}: must be at least one minute"
        ));
    }
    Ok(Duration::from_secs_f64(secs))
}

/// What one check decided.
#[derive(Debug, Clone, PartialEq)]
pub enum Tick {
    /// No interval configured: nothing is ever retrained.
    NotConfigured,
    /// Not yet: the next retraining is due at this time.
    NotDue { next: DateTime<Utc> },
    /// Retrained now; the job's summary.
    Retrained { summary: String },
}

/// The schedule: an interval (or the store setting) and a clock.
pub struct RetrainSchedule {
    /// Overrides the store setting when set (`--retrain-every`).
    pub every: Option<Duration>,
    pub clock: Arc<dyn Clock>,
}

impl RetrainSchedule {
    async fn interval(&self, store: &dyn OperationalStore) -> Result<Option<Duration>, String> {
        if let Some(d) = self.every {
            return Ok(Some(d));
        }
        match store
            .get_setting(SETTING_EVERY)
            .await
            .map_err(|e| e.to_string())?
        {
            None => Ok(None),
            Some(serde_json::Value::String(s)) => parse_interval(&s).map(Some),
            Some(serde_json::Value::Number(n)) => parse_interval(&n.to_string()).map(Some),
            Some(other) => Err(format!(
                "setting {SETTING_EVERY} is {other}: give a string like \"7d\" or a number of days"
            )),
        }
    }

    /// The last retraining: the setting, else the newest bank model registration.
    async fn last(
        &self,
        store: &dyn OperationalStore,
    ) -> Result<Option<DateTime<Utc>>, StoreError> {
        if let Some(serde_json::Value::String(s)) = store.get_setting(SETTING_LAST).await?
            && let Ok(t) = DateTime::parse_from_rfc3339(&s)
        {
            return Ok(Some(t.with_timezone(&Utc)));
        }
        let newest = store
            .models(None)
            .await?
            .iter()
            .filter(|m| {
                m.model
                    .algorithm
                    .starts_with(zhiying_bankmodels::registry::BANK_PREFIX)
            })
            .map(|m| m.created_at)
            .max();
        Ok(newest.and_then(DateTime::from_timestamp_micros))
    }

    /// Runs `job` if the interval has passed, then records the time.
    pub async fn tick<F, Fut>(&self, store: &dyn OperationalStore, job: F) -> Result<Tick, String>
    where
        F: FnOnce() -> Fut,
        Fut: std::future::Future<Output = Result<String, String>>,
    {
        let Some(every) = self.interval(store).await? else {
            return Ok(Tick::NotConfigured);
        };
        let now = self.clock.now();
        if let Some(last) = self.last(store).await.map_err(|e| e.to_string())? {
            let next = last
                + chrono::Duration::from_std(every)
                    .map_err(|e| format!("retrain interval: {e}"))?;
            if now < next {
                return Ok(Tick::NotDue { next });
            }
        }
        let summary = job().await?;
        store
            .put_setting(
                SETTING_LAST,
                &serde_json::Value::String(now.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)),
            )
            .await
            .map_err(|e| e.to_string())?;
        Ok(Tick::Retrained { summary })
    }
}

/// Trains the bank models, registers them (challengers) and re-scores with the champions;
/// LightGBM runs on a blocking thread so requests keep being served.
pub async fn retrain_bank_models(state: AppState) -> Result<String, String> {
    let handle = tokio::runtime::Handle::current();
    let st = state.clone();
    let run = tokio::task::spawn_blocking(move || {
        handle.block_on(async {
            let opts = zhiying_bankmodels::BankModelsOptions {
                num_threads: 1,
                ..Default::default()
            };
            zhiying_bankmodels::registry::train_register_and_score(
                st.engine.as_ref(),
                &st.data_dir,
                st.store.as_ref(),
                &opts,
                SCHEDULER_AUTHOR,
            )
            .await
        })
    })
    .await
    .map_err(|e| format!("retraining task: {e}"))?
    .map_err(|e| e.to_string())?;
    state.engine.refresh().await.map_err(|e| e.to_string())?;
    let versions: Vec<String> = run
        .registered
        .iter()
        .map(|e| format!("{} v{} ({})", e.model.name, e.version, e.status.as_str()))
        .collect();
    Ok(format!("registered {}", versions.join(", ")))
}

/// Starts the background task: checks every `tick` and retrains when due.
pub fn spawn(
    state: AppState,
    schedule: RetrainSchedule,
    tick: Duration,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut timer = tokio::time::interval(tick);
        loop {
            timer.tick().await;
            let st = state.clone();
            match schedule
                .tick(state.store.as_ref(), || retrain_bank_models(st))
                .await
            {
                Ok(Tick::Retrained { summary }) => {
                    tracing::info!(%summary, "scheduled retraining done")
                }
                Ok(Tick::NotDue { next }) => tracing::debug!(%next, "retraining not due"),
                Ok(Tick::NotConfigured) => {}
                Err(e) => tracing::error!(error = %e, "scheduled retraining failed"),
            }
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Mutex;
    use std::sync::atomic::{AtomicUsize, Ordering};

    struct FakeClock(Mutex<DateTime<Utc>>);

    impl Clock for FakeClock {
        fn now(&self) -> DateTime<Utc> {
            *self.0.lock().unwrap()
        }
    }

    impl FakeClock {
        fn advance(&self, d: chrono::Duration) {
            *self.0.lock().unwrap() += d;
        }
    }

    #[test]
    fn intervals_parse_with_units_and_reject_nonsense() {
        assert_eq!(
            parse_interval("7d").unwrap(),
            Duration::from_secs(7 * 86_400)
        );
        assert_eq!(
            parse_interval("7").unwrap(),
            Duration::from_secs(7 * 86_400)
        );
        assert_eq!(
            parse_interval("12h").unwrap(),
            Duration::from_secs(12 * 3_600)
        );
        assert_eq!(parse_interval("90m").unwrap(), Duration::from_secs(90 * 60));
        assert!(
            parse_interval("10s")
                .unwrap_err()
                .contains("at least one minute")
        );
        assert!(parse_interval("7w").unwrap_err().contains("unknown unit"));
        assert!(
            parse_interval("soon")
                .unwrap_err()
                .contains("expected a number")
        );
    }

    #[tokio::test]
    async fn retrains_only_when_due_by_the_injected_clock() {
        let tmp = tempfile::tempdir().unwrap();
        let dd = zhiying_core::DataDir::new(tmp.path());
        let store = zhiying_store::open(None, &dd).await.unwrap();
        let t0 = DateTime::parse_from_rfc3339("2026-11-01T02:00:00Z")
            .unwrap()
            .with_timezone(&Utc);
        let clock = Arc::new(FakeClock(Mutex::new(t0)));
        let counter = AtomicUsize::new(0);
        let runs = &counter;
        let job = move || async move {
            runs.fetch_add(1, Ordering::SeqCst);
            Ok::<_, String>("ok".to_string())
        };

        // Nothing configured: never runs.
        let schedule = RetrainSchedule {
            every: None,
            clock: clock.clone(),
        };
        assert_eq!(
            schedule.tick(store.as_ref(), job).await.unwrap(),
            Tick::NotConfigured
        );
        assert_eq!(runs.load(Ordering::SeqCst), 0);

        // The store setting turns it on; with no previous run it is due at once.
        store
            .put_setting(SETTING_EVERY, &serde_json::json!("7d"))
            .await
            .unwrap();
        assert!(matches!(
            schedule.tick(store.as_ref(), job).await.unwrap(),
            Tick::Retrained { .. }
        ));
        assert_eq!(runs.load(Ordering::SeqCst), 1);
        assert_eq!(
            store.get_setting(SETTING_LAST).await.unwrap(),
            Some(serde_json::json!("2026-11-01T02:00:00Z"))
        );

        // A day later: not due, and says when.
        clock.advance(chrono::Duration::days(1));
        assert_eq!(
            schedule.tick(store.as_ref(), job).await.unwrap(),
            Tick::NotDue {
                next: t0 + chrono::Duration::days(7)
            }
        );
        assert_eq!(runs.load(Ordering::SeqCst), 1);

        // Seven days after the last run: due again.
        clock.advance(chrono::Duration::days(6));
        assert!(matches!(
            schedule.tick(store.as_ref(), job).await.unwrap(),
            Tick::Retrained { .. }
        ));
        assert_eq!(runs.load(Ordering::SeqCst), 2);

        // A failing job is reported and does not count as a run: it is retried next tick.
        clock.advance(chrono::Duration::days(8));
        let err = schedule
            .tick(store.as_ref(), || async {
                Err::<String, _>("no data".to_string())
            })
            .await
            .unwrap_err();
        assert_eq!(err, "no data");
        assert!(matches!(
            schedule.tick(store.as_ref(), job).await.unwrap(),
            Tick::Retrained { .. }
        ));
        assert_eq!(runs.load(Ordering::SeqCst), 3);

        // The flag overrides the setting.
        let hourly = RetrainSchedule {
            every: Some(parse_interval("1h").unwrap()),
            clock: clock.clone(),
        };
        clock.advance(chrono::Duration::minutes(59));
        assert!(matches!(
            hourly.tick(store.as_ref(), job).await.unwrap(),
            Tick::NotDue { .. }
        ));
        clock.advance(chrono::Duration::minutes(1));
        assert!(matches!(
            hourly.tick(store.as_ref(), job).await.unwrap(),
            Tick::Retrained { .. }
        ));
        assert_eq!(runs.load(Ordering::SeqCst), 4);
    }
}
