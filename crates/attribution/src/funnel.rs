//! Ordered funnels: how many customers reach each step, in order, within a window of their
//! first step, with step-to-step conversion and the median time between steps.
//!
//! The semantics are ClickHouse's `windowFunnel`: for every customer the deepest step reached
//! by any chain that starts at a step-1 event and completes within the window counts. Among
//! chains reaching the same step the one that started latest is kept, since it has the most
//! window left for the next step. One event advances at most one step.

use rustc_hash::FxHashMap as HashMap;
use std::fmt;

use serde::{Deserialize, Serialize};

use crate::error::{AttributionError, Result};
use crate::paths::{Conversion, Touchpoint};

const MICROS_PER_HOUR: f64 = 3_600.0 * 1e6;

/// One customer event (a touch, a visit, an application step, a conversion).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Event {
    pub customer_id: String,
    /// UTC microseconds since the epoch.
    pub timestamp: i64,
    pub event: String,
}

/// Touchpoints (event = channel) and conversions (event = `conversion_event`) as one stream.
pub fn events_from_journeys(
    touchpoints: &[Touchpoint],
    conversions: &[Conversion],
    conversion_event: &str,
) -> Vec<Event> {
    touchpoints
        .iter()
        .map(|t| Event {
            customer_id: t.customer_id.clone(),
            timestamp: t.timestamp,
            event: t.channel.clone(),
        })
        .chain(conversions.iter().map(|c| Event {
            customer_id: c.customer_id.clone(),
            timestamp: c.timestamp,
            event: conversion_event.to_string(),
        }))
        .collect()
}

/// The funnel to measure.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct FunnelSpec {
    /// Event types in order; a type may repeat ("visit", "visit").
    pub steps: Vec<String>,
    /// Every step must happen within this many days of the first.
    pub window_days: f64,
}

/// One row of a funnel.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct FunnelStep {
    pub step: String,
    /// Customers who reached this step (and all before it) in order within the window.
    pub customers: u64,
    /// customers / customers at the previous step (1 for the first step).
    pub conversion_from_previous: f64,
    /// customers / customers at the first step.
    pub conversion_from_first: f64,
    /// Median hours from the previous step, over customers who reached this step.
    pub median_hours_from_previous: Option<f64>,
}

/// The result of [`funnel`].
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct FunnelReport {
    pub window_days: f64,
    /// Customers with at least one event.
    pub customers: u64,
    pub steps: Vec<FunnelStep>,
}

fn median(v: &mut [f64]) -> Option<f64> {
    if v.is_empty() {
        return None;
    }
    v.sort_unstable_by(f64::total_cmp);
    let n = v.len();
    Some(if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    })
}

/// Measures `spec` over `events` (any order).
pub fn funnel(events: &[Event], spec: &FunnelSpec) -> Result<FunnelReport> {
    if spec.steps.is_empty() {
        return Err(AttributionError::Option {
            option: "steps",
            message: "a funnel needs at least one step, e.g. app > branch > conversion".into(),
        });
    }
    if !(spec.window_days.is_finite() && spec.window_days > 0.0) {
        return Err(AttributionError::Option {
            option: "window_days",
            message: format!(
                "must be a positive number of days, got {}",
                spec.window_days
            ),
        });
    }
    let window = (spec.window_days * 86_400.0 * 1e6) as i64;
    let m = spec.steps.len();
    let mut customers: HashMap<&str, u32> = HashMap::default();
    let mut rows: Vec<(u32, i64, usize)> = Vec::with_capacity(events.len());
    for (i, e) in events.iter().enumerate() {
        let n = customers.len() as u32;
        let c = *customers.entry(e.customer_id.as_str()).or_insert(n);
        rows.push((c, e.timestamp, i));
    }
    // Stable order within a customer and instant: the input order.
    rows.sort_unstable();
    // Steps each event type can be: indices into spec.steps, deepest first.
    let mut step_of: HashMap<&str, Vec<usize>> = HashMap::default();
    for (i, s) in spec.steps.iter().enumerate().rev() {
        step_of.entry(s.as_str()).or_default().push(i);
    }
    let mut reached = vec![0u64; m];
    let mut gaps: Vec<Vec<f64>> = vec![Vec::new(); m];
    // chains[k] = times of the latest-starting chain that has reached step k.
    let mut chains: Vec<Option<Vec<i64>>> = vec![None; m];
    let mut i = 0;
    while i < rows.len() {
        let customer = rows[i].0;
        chains.iter_mut().for_each(|c| *c = None);
        while i < rows.len() && rows[i].0 == customer {
            let (_, ts, idx) = rows[i];
            i += 1;
            let Some(levels) = step_of.get(events[idx].event.as_str()) else {
                continue;
            };
            for &k in levels {
                if k == 0 {
                    chains[0] = Some(vec![ts]);
                    continue;
                }
                let extended = match &chains[k - 1] {
                    Some(prev) if ts - prev[0] <= window => {
                        let mut c = prev.clone();
                        c.push(ts);
                        Some(c)
                    }
                    _ => None,
                };
                if let Some(c) = extended {
                    let later = chains[k].as_ref().is_none_or(|old| c[0] >= old[0]);
                    if later {
                        chains[k] = Some(c);
                    }
                }
            }
        }
        if let Some(deepest) = chains.iter().rposition(Option::is_some) {
            let chain = chains[deepest].as_ref().map_or(&[][..], Vec::as_slice);
            for k in 0..=deepest {
                reached[k] += 1;
                if k > 0 {
                    gaps[k].push((chain[k] - chain[k - 1]) as f64 / MICROS_PER_HOUR);
                }
            }
        }
    }
    let first = reached[0];
    let steps = spec
        .steps
        .iter()
        .enumerate()
        .map(|(k, name)| {
            let prev = if k == 0 { reached[0] } else { reached[k - 1] };
            let ratio = |a: u64, b: u64| if b > 0 { a as f64 / b as f64 } else { 0.0 };
            FunnelStep {
                step: name.clone(),
                customers: reached[k],
                conversion_from_previous: ratio(reached[k], prev),
                conversion_from_first: ratio(reached[k], first),
                median_hours_from_previous: median(&mut gaps[k]),
            }
        })
        .collect();
    Ok(FunnelReport {
        window_days: spec.window_days,
        customers: customers.len() as u64,
        steps,
    })
}

impl fmt::Display for FunnelReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "Funnel over {} customers, window {} days",
            self.customers, self.window_days
        )?;
        let w = self
            .steps
            .iter()
            .map(|s| s.step.chars().count())
            .max()
            .unwrap_or(4)
            .max(4);
        writeln!(
            f,
            "{:>3} {:<w$} {:>10} {:>10} {:>10} {:>14}",
            "#", "step", "customers", "from prev", "from first", "median hours"
        )?;
        for (i, s) in self.steps.iter().enumerate() {
            let med = s
                .median_hours_from_previous
                .map_or("-".to_string(), |h| format!("{h:.1}"));
            writeln!(
                f,
                "{:>3} {:<w$} {:>10} {:>9.1}% {:>9.1}% {:>14}",
                i + 1,
                s.step,
                s.customers,
                s.conversion_from_previous * 100.0,
                s.conversion_from_first * 100.0,
                med
            )?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ev(c: &str, hours: i64, e: &str) -> Event {
        Event {
            customer_id: c.into(),
            timestamp: hours * 3_600_000_000,
            event: e.into(),
        }
    }

    fn spec(steps: &[&str], days: f64) -> FunnelSpec {
        FunnelSpec {
            steps: steps.iter().map(|s| s.to_string()).collect(),
            window_days: days,
        }
    }

    #[test]
    fn counts_order_window_and_medians() {
        let events = vec![
            ev("a", 0, "visit"),
            ev("a", 2, "apply"),
            ev("a", 5, "buy"),
            // b applies before visiting: only step 1.
            ev("b", 0, "apply"),
            ev("b", 1, "visit"),
            // c completes, but buys after the 1-day window of its first visit; a later
            // visit restarts the chain inside the window.
            ev("c", 0, "visit"),
            ev("c", 30, "visit"),
            ev("c", 34, "apply"),
            ev("c", 40, "buy"),
            ev("d", 0, "buy"),
        ];
        let r = funnel(&events, &spec(&["visit", "apply", "buy"], 1.0)).unwrap();
        let counts: Vec<u64> = r.steps.iter().map(|s| s.customers).collect();
        assert_eq!(counts, [3, 2, 2]);
        assert_eq!(r.customers, 4);
        assert!((r.steps[1].conversion_from_previous - 2.0 / 3.0).abs() < 1e-15);
        // apply - visit: a 2h, c 4h -> 3h; buy - apply: a 3h, c 6h -> 4.5h.
        assert_eq!(r.steps[1].median_hours_from_previous, Some(3.0));
        assert_eq!(r.steps[2].median_hours_from_previous, Some(4.5));
        let narrow = funnel(&events, &spec(&["visit", "apply", "buy"], 5.0 / 24.0)).unwrap();
        assert_eq!(narrow.steps[2].customers, 1);
    }

    #[test]
    fn journeys_become_events() {
        let t = vec![Touchpoint {
            customer_id: "a".into(),
            timestamp: 0,
            channel: "sms".into(),
            campaign: None,
        }];
        let c = vec![Conversion {
            customer_id: "a".into(),
            timestamp: 3_600_000_000,
            value: 5.0,
        }];
        let ev = events_from_journeys(&t, &c, "conversion");
        let r = funnel(&ev, &spec(&["sms", "conversion"], 30.0)).unwrap();
        assert_eq!(r.steps[1].customers, 1);
        assert_eq!(r.steps[1].median_hours_from_previous, Some(1.0));
        let text = r.to_string();
        assert!(
            text.contains("conversion") && text.contains("100.0%"),
            "{text}"
        );
    }

    #[test]
    fn repeated_step_needs_two_events() {
        let events = vec![
            ev("a", 0, "visit"),
            ev("b", 0, "visit"),
            ev("b", 1, "visit"),
        ];
        let r = funnel(&events, &spec(&["visit", "visit"], 1.0)).unwrap();
        assert_eq!(r.steps[1].customers, 1);
        assert!(funnel(&events, &spec(&[], 1.0)).is_err());
        assert!(funnel(&events, &spec(&["visit"], -1.0)).is_err());
    }
}
