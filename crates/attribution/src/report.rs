//! [`attribute`]: every model side by side per channel, as one serialisable report.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::error::{AttributionError, Result};
use crate::markov::{MarkovResult, markov};
use crate::paths::Paths;
use crate::rules::{Rule, attribute_rule};
use crate::shapley::{DEFAULT_MAX_EXACT, ShapleyResult, shapley};

/// An attribution model.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Model {
    LastTouch,
    FirstTouch,
    Linear,
    TimeDecay,
    PositionBased,
    Markov,
    Shapley,
}

impl Model {
    pub const ALL: [Model; 7] = [
        Model::LastTouch,
        Model::FirstTouch,
        Model::Linear,
        Model::TimeDecay,
        Model::PositionBased,
        Model::Markov,
        Model::Shapley,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Model::LastTouch => "last_touch",
            Model::FirstTouch => "first_touch",
            Model::Linear => "linear",
            Model::TimeDecay => "time_decay",
            Model::PositionBased => "position_based",
            Model::Markov => "markov",
            Model::Shapley => "shapley",
        }
    }
}

impl std::str::FromStr for Model {
    type Err = AttributionError;
    fn from_str(s: &str) -> Result<Self> {
        Model::ALL
            .into_iter()
            .find(|m| m.name() == s.trim().to_ascii_lowercase().replace('-', "_"))
            .ok_or_else(|| AttributionError::Option {
                option: "models",
                message: format!(
                    "unknown model `{s}`; choose from {}",
                    Model::ALL.map(Model::name).join(", ")
                ),
            })
    }
}

/// Which models to run and their parameters.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct AttributionConfig {
    pub models: Vec<Model>,
    /// Time-decay half-life in days (in touches for paths without times).
    pub half_life_days: f64,
    /// Position-based (U-shaped) shares of the first, middle and last touches.
    pub position_weights: [f64; 3],
    /// Markov order k: a state is the last k channels.
    pub markov_order: usize,
    /// Merge consecutive repeats ("sms > sms > app" -> "sms > app") for the Markov chain.
    pub markov_collapse_repeats: bool,
    /// Shapley runs the exact subset DP up to this many converting channels.
    pub shapley_max_exact_channels: usize,
}

impl Default for AttributionConfig {
    fn default() -> Self {
        Self {
            models: Model::ALL.to_vec(),
            half_life_days: 7.0,
            position_weights: [0.4, 0.2, 0.4],
            markov_order: 1,
            markov_collapse_repeats: false,
            shapley_max_exact_channels: DEFAULT_MAX_EXACT,
        }
    }
}

/// One model's credit to one channel.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Credit {
    pub model: Model,
    pub conversions: f64,
    pub value: f64,
    /// Share of the attributed conversions, 0-1.
    pub share: f64,
}

/// All models' credits to one channel, in the order of [`AttributionReport::models`].
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct ChannelCredits {
    pub channel: String,
    /// Paths that touch the channel at least once.
    pub paths: f64,
    pub converting_paths: f64,
    pub credits: Vec<Credit>,
}

impl ChannelCredits {
    pub fn credit(&self, model: Model) -> Option<&Credit> {
        self.credits.iter().find(|c| c.model == model)
    }
}

/// The result of [`attribute`].
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct AttributionReport {
    pub models: Vec<Model>,
    pub path_records: usize,
    /// Conversions and value on paths (what the models distribute).
    pub total_conversions: f64,
    pub total_value: f64,
    pub total_non_conversions: f64,
    /// Conversions with no touch in the lookback: reported, not attributed.
    pub unattributed_conversions: f64,
    pub unattributed_value: f64,
    pub channels: Vec<ChannelCredits>,
    pub markov: Option<MarkovResult>,
    pub shapley: Option<ShapleyResult>,
    pub config: AttributionConfig,
    pub notes: Vec<String>,
}

fn check_config(cfg: &AttributionConfig) -> Result<()> {
    if cfg.models.is_empty() {
        return Err(AttributionError::Option {
            option: "models",
            message: "choose at least one model".into(),
        });
    }
    if !(cfg.half_life_days.is_finite() && cfg.half_life_days > 0.0) {
        return Err(AttributionError::Option {
            option: "half_life_days",
            message: format!("must be a positive number, got {}", cfg.half_life_days),
        });
    }
    let [f, m, l] = cfg.position_weights;
    if ![f, m, l].iter().all(|w| w.is_finite() && *w >= 0.0) || f + l <= 0.0 {
        return Err(AttributionError::Option {
            option: "position_weights",
            message: format!(
                "need three shares >= 0 with first + last > 0 (e.g. 0.4, 0.2, 0.4), got {f}, {m}, {l}"
            ),
        });
    }
    Ok(())
}

/// Runs the configured models over `paths` and reports each channel's credit under each.
pub fn attribute(paths: &Paths, cfg: &AttributionConfig) -> Result<AttributionReport> {
    check_config(cfg)?;
    let total_conversions = paths.total_conversions();
    if total_conversions <= 0.0 {
        return Err(AttributionError::Empty(format!(
            "{} paths but no conversions on them; check the conversion file and the lookback window",
            paths.len()
        )));
    }
    let k = paths.channels().len();
    let mut notes = Vec::new();
    let mut markov_result = None;
    let mut shapley_result = None;
    let mut columns: Vec<(Vec<f64>, Vec<f64>)> = Vec::with_capacity(cfg.models.len());
    for &model in &cfg.models {
        let [first, middle, last] = cfg.position_weights;
        let rule = match model {
            Model::LastTouch => Some(Rule::LastTouch),
            Model::FirstTouch => Some(Rule::FirstTouch),
            Model::Linear => Some(Rule::Linear),
            Model::TimeDecay => Some(Rule::TimeDecay {
                half_life_days: cfg.half_life_days,
            }),
            Model::PositionBased => Some(Rule::PositionBased {
                first,
                middle,
                last,
            }),
            Model::Markov | Model::Shapley => None,
        };
        columns.push(match (rule, model) {
            (Some(r), _) => attribute_rule(paths, r),
            (None, Model::Markov) => {
                let r = markov(paths, cfg.markov_order, cfg.markov_collapse_repeats)?;
                let out = (r.conversions.clone(), r.value.clone());
                markov_result = Some(r);
                out
            }
            (None, _) => {
                let r = shapley(paths, cfg.shapley_max_exact_channels)?;
                let out = (r.conversions.clone(), r.value.clone());
                shapley_result = Some(r);
                out
            }
        });
    }
    if cfg.models.contains(&Model::TimeDecay) && !paths.is_timed() {
        notes.push(format!(
            "some paths carry no touch times: time decay counts touches before the last one, with a half-life of {} touches",
            cfg.half_life_days
        ));
    }
    if cfg.models.contains(&Model::Markov) && paths.total_non_conversions() == 0.0 {
        notes.push(
            "no non-converting paths: the Markov model sees no failures, so removal effects reflect path structure only"
                .into(),
        );
    }
    let (unattributed_conversions, unattributed_value) = paths.unattributed();
    if unattributed_conversions > 0.0 {
        notes.push(format!(
            "{unattributed_conversions} conversions had no touch in the lookback window and are not attributed"
        ));
    }
    let mut reach = vec![(0.0, 0.0); k];
    let mut seen = vec![usize::MAX; k];
    for (i, p) in paths.iter().enumerate() {
        for &c in p.steps {
            if seen[c as usize] != i {
                seen[c as usize] = i;
                reach[c as usize].0 += p.conversions + p.non_conversions;
                reach[c as usize].1 += p.conversions;
            }
        }
    }
    let channels = paths
        .channels()
        .iter()
        .enumerate()
        .map(|(c, name)| ChannelCredits {
            channel: name.clone(),
            paths: reach[c].0,
            converting_paths: reach[c].1,
            credits: cfg
                .models
                .iter()
                .zip(&columns)
                .map(|(&model, (conv, value))| Credit {
                    model,
                    conversions: conv[c],
                    value: value[c],
                    share: conv[c] / total_conversions,
                })
                .collect(),
        })
        .collect();
    Ok(AttributionReport {
        models: cfg.models.clone(),
        path_records: paths.len(),
        total_conversions,
        total_value: paths.total_value(),
        total_non_conversions: paths.total_non_conversions(),
        unattributed_conversions,
        unattributed_value,
        channels,
        markov: markov_result,
        shapley: shapley_result,
        config: cfg.clone(),
        notes,
    })
}

/// Formats a number compactly for console tables.
pub(crate) fn num(v: f64) -> String {
    if v == v.trunc() && v.abs() < 1e15 {
        format!("{v:.0}")
    } else if v.abs() >= 100.0 {
        format!("{v:.1}")
    } else {
        format!("{v:.2}")
    }
}

impl fmt::Display for AttributionReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "Channel attribution: {} paths, {} conversions worth {}, {} non-conversions",
            self.path_records,
            num(self.total_conversions),
            num(self.total_value),
            num(self.total_non_conversions)
        )?;
        let width = self
            .channels
            .iter()
            .map(|c| c.channel.chars().count())
            .max()
            .unwrap_or(7)
            .max(7);
        write!(f, "\nConversions credited (share)\n{:<width$}", "channel")?;
        for m in &self.models {
            write!(f, " {:>20}", m.name())?;
        }
        writeln!(f)?;
        let mut order: Vec<&ChannelCredits> = self.channels.iter().collect();
        // Largest channels first by the last model run (usually the data-driven one).
        order.sort_by(|a, b| {
            let key = |c: &ChannelCredits| c.credits.last().map_or(0.0, |x| x.conversions);
            key(b).total_cmp(&key(a))
        });
        for c in &order {
            write!(f, "{:<width$}", c.channel)?;
            for cr in &c.credits {
                let cell = format!("{} ({:.1}%)", num(cr.conversions), cr.share * 100.0);
                write!(f, " {cell:>20}")?;
            }
            writeln!(f)?;
        }
        write!(f, "\nValue credited\n{:<width$}", "channel")?;
        for m in &self.models {
            write!(f, " {:>20}", m.name())?;
        }
        writeln!(f)?;
        for c in &order {
            write!(f, "{:<width$}", c.channel)?;
            for cr in &c.credits {
                write!(f, " {:>20}", num(cr.value))?;
            }
            writeln!(f)?;
        }
        if let Some(m) = &self.markov {
            writeln!(
                f,
                "\nMarkov order {}: {} states, P(conversion) = {:.4}; removal effects:",
                m.order, m.states, m.conversion_probability
            )?;
            for r in &m.removal_effects {
                writeln!(
                    f,
                    "  {:<width$} {:.4} (value {:.4})",
                    r.channel, r.removal_effect, r.value_removal_effect
                )?;
            }
        }
        if let Some(s) = &self.shapley {
            let how = match s.method {
                crate::shapley::ShapleyMethod::ExactSubsetDp => "exact over all coalitions",
                crate::shapley::ShapleyMethod::UnanimityExpansion => "by unanimity expansion",
            };
            writeln!(
                f,
                "\nShapley over {} channels, {how}; ordered variant by position of first appearance:",
                s.players
            )?;
            write!(f, "{:<width$}", "channel")?;
            for i in 1..=crate::shapley::ORDERED_POSITIONS {
                let last = i == crate::shapley::ORDERED_POSITIONS;
                write!(f, " {:>9}", format!("{i}{}", if last { "+" } else { "" }))?;
            }
            writeln!(f)?;
            for o in &s.ordered {
                write!(f, "{:<width$}", o.channel)?;
                for v in &o.by_position {
                    write!(f, " {:>9}", num(*v))?;
                }
                writeln!(f)?;
            }
        }
        if self.unattributed_conversions > 0.0 {
            writeln!(
                f,
                "\nUnattributed: {} conversions worth {}",
                num(self.unattributed_conversions),
                num(self.unattributed_value)
            )?;
        }
        for n in &self.notes {
            writeln!(f, "note: {n}")?;
        }
        Ok(())
    }
}
