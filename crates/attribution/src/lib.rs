//! Channel attribution over contact paths: rule-based, Markov removal effect and Shapley;
//! funnels and path analysis.
//!
//! A bank reaches a customer by app push, SMS, call centre and branch before the customer
//! opens a product. This crate answers "which channels earned the conversions":
//!
//! * [`build_paths`] cuts touchpoints and conversions into paths (touches within a lookback
//!   before each conversion, plus non-converting tails); [`read_paths_csv`] takes
//!   pre-aggregated paths as ChannelAttribution (R) does.
//! * [`attribute`] runs last touch, first touch, linear, time decay (2^(-Δt/h)), position
//!   based (40/20/40), Markov removal effect (order 1-4) and Shapley (Zhao et al. 2018, exact
//!   over all coalitions up to 20 channels) side by side.
//! * [`synergy`] gives pairwise synergy and Shapley interaction matrices for a heatmap;
//!   [`funnel`] and [`path_stats`] give funnels, top paths, lengths and time to conversion.
//!
//! * [`run_files`] does all of it from two CSV files in one call, for the CLI and server.
//!
//! Every report is `serde` serialisable and has a human `Display`.
//!
//! ```
//! use zhiying_attribution::{AttributionConfig, Model, Paths, attribute};
//!
//! let mut paths = Paths::new();
//! paths.push(&["app", "sms", "call"], 3.0, 7.0, 3000.0).unwrap(); // 3 conversions, 7 not
//! paths.push(&["sms"], 1.0, 9.0, 500.0).unwrap();
//! paths.push(&["app"], 0.0, 12.0, 0.0).unwrap();
//! let report = attribute(&paths, &AttributionConfig::default()).unwrap();
//! let sms = report.channels.iter().find(|c| c.channel == "sms").unwrap();
//! let markov = sms.credit(Model::Markov).unwrap();
//! assert!(markov.conversions > 0.0 && markov.share <= 1.0);
//! // Every model hands out exactly the observed conversions.
//! let total: f64 = report.channels.iter().map(|c| c.credit(Model::Shapley).unwrap().conversions).sum();
//! assert!((total - 4.0).abs() < 1e-9);
//! println!("{report}");
//! ```

mod error;
mod funnel;
mod io;
mod markov;
mod paths;
mod report;
mod rules;
mod run;
mod shapley;
mod stats;
mod synergy;

pub use error::{AttributionError, Result};
pub use funnel::{Event, FunnelReport, FunnelSpec, FunnelStep, events_from_journeys, funnel};
pub use io::{
    ConversionColumns, EventColumns, PathColumns, TouchpointColumns, read_conversions_csv,
    read_events_csv, read_paths_csv, read_touchpoints_csv,
};
pub use markov::{MAX_ORDER as MAX_MARKOV_ORDER, MarkovResult, RemovalEffect, markov};
pub use paths::{Conversion, PathOptions, PathRef, Paths, StepKey, Touchpoint, build_paths};
pub use report::{AttributionConfig, AttributionReport, ChannelCredits, Credit, Model, attribute};
pub use run::{RunOptions, RunReport, run_files, run_paths, run_paths_file};
pub use shapley::{
    ChannelSet, DEFAULT_MAX_EXACT as SHAPLEY_MAX_EXACT, ORDERED_POSITIONS, OrderedShapley,
    ShapleyMethod, ShapleyResult, channel_sets, shapley,
};
pub use stats::{LengthBucket, PathStats, PathStatsOptions, TimeToConversion, TopPath, path_stats};
pub use synergy::{MAX_SYNERGY_CHANNELS, SynergyReport, synergy};
