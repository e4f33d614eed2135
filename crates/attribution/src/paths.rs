//! Contact paths: the ordered channels a customer saw before converting (or not).
//!
//! [`Paths`] stores paths flat (one channel-id buffer plus offsets) so a million paths cost a
//! few allocations, and every model walks the same representation. Paths come either from raw
//! touchpoints and conversions through [`build_paths`], or pre-aggregated ("app > sms > call",
//! conversions, non-conversions, value) as ChannelAttribution (R) and similar tools take them.

use rustc_hash::FxHashMap as HashMap;

use serde::{Deserialize, Serialize};

use crate::error::{AttributionError, Result};

const MICROS_PER_DAY: f64 = 86_400.0 * 1e6;

/// One marketing contact: the customer saw `channel` (optionally in `campaign`) at `timestamp`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Touchpoint {
    pub customer_id: String,
    /// UTC microseconds since the epoch.
    pub timestamp: i64,
    pub channel: String,
    pub campaign: Option<String>,
}

/// One conversion (an account opened, a product bought) worth `value`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Conversion {
    pub customer_id: String,
    /// UTC microseconds since the epoch.
    pub timestamp: i64,
    pub value: f64,
}

/// What names a path step: the channel, the campaign, or both ("sms:welcome").
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StepKey {
    #[default]
    Channel,
    /// The campaign, falling back to the channel when a touch has none.
    Campaign,
    ChannelCampaign,
}

/// How [`build_paths`] cuts customer histories into paths.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default)]
pub struct PathOptions {
    /// Touches older than this many days before a conversion are not part of its path.
    pub lookback_days: f64,
    /// Keep the touches after a customer's last conversion as a non-converting path (the
    /// Markov model needs them: without failures every channel looks perfect).
    pub include_non_converting: bool,
    /// A conversion consumes its touches, so the next conversion's path starts afresh.
    /// With `false` a touch may count towards several conversions inside the lookback.
    pub reset_after_conversion: bool,
    pub step_key: StepKey,
    /// Give conversions without any touch in the lookback this channel (e.g. "direct");
    /// `None` leaves them unattributed and reports them separately.
    pub direct_channel: Option<String>,
}

impl Default for PathOptions {
    fn default() -> Self {
        Self {
            lookback_days: 30.0,
            include_non_converting: true,
            reset_after_conversion: true,
            step_key: StepKey::Channel,
            direct_channel: None,
        }
    }
}

/// One path as the models read it.
#[derive(Debug, Clone, Copy)]
pub struct PathRef<'a> {
    /// Channel ids in contact order; names are in [`Paths::channels`].
    pub steps: &'a [u32],
    /// Days from each touch to the conversion (or, for a non-converting path, to its last
    /// touch); `None` for pre-aggregated paths that carry no times.
    pub ages_days: Option<&'a [f64]>,
    pub conversions: f64,
    pub non_conversions: f64,
    pub value: f64,
}

/// A set of contact paths over interned channel names.
#[derive(Debug, Clone, Default)]
pub struct Paths {
    channels: Vec<String>,
    channel_ids: HashMap<String, u32>,
    steps: Vec<u32>,
    /// Parallel to `steps`; NaN where the path carries no times.
    ages: Vec<f64>,
    offsets: Vec<usize>,
    conversions: Vec<f64>,
    non_conversions: Vec<f64>,
    values: Vec<f64>,
    unattributed_conversions: f64,
    unattributed_value: f64,
}

impl Paths {
    pub fn new() -> Self {
        Self {
            offsets: vec![0],
            ..Self::default()
        }
    }

    /// Interns a channel name, returning its id.
    pub fn channel_id(&mut self, name: &str) -> u32 {
        if let Some(&id) = self.channel_ids.get(name) {
            return id;
        }
        let id = self.channels.len() as u32;
        self.channels.push(name.to_string());
        self.channel_ids.insert(name.to_string(), id);
        id
    }

    fn check_counts(&self, conversions: f64, non_conversions: f64, value: f64) -> Result<()> {
        let index = self.len();
        let bad = |message: String| Err(AttributionError::Record { index, message });
        if !(conversions.is_finite() && conversions >= 0.0) {
            return bad(format!(
                "conversions must be a finite number >= 0, got {conversions}"
            ));
        }
        if !(non_conversions.is_finite() && non_conversions >= 0.0) {
            return bad(format!(
                "non-conversions must be a finite number >= 0, got {non_conversions}"
            ));
        }
        if !value.is_finite() {
            return bad(format!("value must be finite, got {value}"));
        }
        if conversions == 0.0 && value != 0.0 {
            return bad(format!(
                "value {value} on a path without conversions: value belongs to conversions"
            ));
        }
        if conversions == 0.0 && non_conversions == 0.0 {
            return bad("a path needs conversions or non-conversions > 0".into());
        }
        Ok(())
    }

    /// Adds a path of channel ids (from [`Paths::channel_id`]) without times.
    pub fn push_ids(
        &mut self,
        steps: &[u32],
        conversions: f64,
        non_conversions: f64,
        value: f64,
    ) -> Result<()> {
        self.check_counts(conversions, non_conversions, value)?;
        if steps.is_empty() {
            return Err(AttributionError::Record {
                index: self.len(),
                message: "a path needs at least one channel; add conversions without touches \
                          with `push_unattributed`"
                    .into(),
            });
        }
        if let Some(&bad) = steps.iter().find(|&&s| s as usize >= self.channels.len()) {
            return Err(AttributionError::Record {
                index: self.len(),
                message: format!("channel id {bad} was never interned with `channel_id`"),
            });
        }
        self.steps.extend_from_slice(steps);
        self.ages.extend(std::iter::repeat_n(f64::NAN, steps.len()));
        self.finish(conversions, non_conversions, value);
        Ok(())
    }

    /// Adds a path of channel names without times (pre-aggregated input).
    pub fn push(
        &mut self,
        channels: &[&str],
        conversions: f64,
        non_conversions: f64,
        value: f64,
    ) -> Result<()> {
        let ids: Vec<u32> = channels.iter().map(|c| self.channel_id(c)).collect();
        self.push_ids(&ids, conversions, non_conversions, value)
    }

    /// Adds a path whose touches carry their age in days before the conversion (or the
    /// path's end), which the time-decay model and time-to-conversion statistics use.
    pub fn push_timed(
        &mut self,
        steps: &[(u32, f64)],
        conversions: f64,
        non_conversions: f64,
        value: f64,
    ) -> Result<()> {
        if let Some((_, age)) = steps.iter().find(|(_, a)| !(a.is_finite() && *a >= 0.0)) {
            return Err(AttributionError::Record {
                index: self.len(),
                message: format!("touch age must be finite and >= 0 days, got {age}"),
            });
        }
        let ids: Vec<u32> = steps.iter().map(|s| s.0).collect();
        self.push_ids(&ids, conversions, non_conversions, value)?;
        let n = self.ages.len();
        for (slot, (_, age)) in self.ages[n - steps.len()..].iter_mut().zip(steps) {
            *slot = *age;
        }
        Ok(())
    }

    /// Records conversions that had no touch to credit (reported, never attributed).
    pub fn push_unattributed(&mut self, conversions: f64, value: f64) {
        self.unattributed_conversions += conversions;
        self.unattributed_value += value;
    }

    fn finish(&mut self, conversions: f64, non_conversions: f64, value: f64) {
        self.offsets.push(self.steps.len());
        self.conversions.push(conversions);
        self.non_conversions.push(non_conversions);
        self.values.push(value);
    }

    /// Number of path records.
    pub fn len(&self) -> usize {
        self.conversions.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Channel names, indexed by channel id.
    pub fn channels(&self) -> &[String] {
        &self.channels
    }

    pub fn get(&self, i: usize) -> PathRef<'_> {
        let (a, b) = (self.offsets[i], self.offsets[i + 1]);
        let ages = &self.ages[a..b];
        PathRef {
            steps: &self.steps[a..b],
            ages_days: if ages.first().is_some_and(|x| x.is_nan()) {
                None
            } else {
                Some(ages)
            },
            conversions: self.conversions[i],
            non_conversions: self.non_conversions[i],
            value: self.values[i],
        }
    }

    pub fn iter(&self) -> impl Iterator<Item = PathRef<'_>> + '_ {
        (0..self.len()).map(|i| self.get(i))
    }

    pub fn total_conversions(&self) -> f64 {
        self.conversions.iter().sum()
    }

    pub fn total_non_conversions(&self) -> f64 {
        self.non_conversions.iter().sum()
    }

    pub fn total_value(&self) -> f64 {
        self.values.iter().sum()
    }

    /// Conversions without any touch in the lookback, and their value.
    pub fn unattributed(&self) -> (f64, f64) {
        (self.unattributed_conversions, self.unattributed_value)
    }

    /// True when every path carries touch times.
    pub fn is_timed(&self) -> bool {
        (0..self.len()).all(|i| self.get(i).ages_days.is_some())
    }

    /// "app > sms > call" for a path.
    pub fn format_path(&self, steps: &[u32], separator: &str) -> String {
        let mut s = String::new();
        for (i, &c) in steps.iter().enumerate() {
            if i > 0 {
                s.push_str(separator);
            }
            s.push_str(&self.channels[c as usize]);
        }
        s
    }
}

fn step_name<'a>(t: &'a Touchpoint, key: StepKey, buf: &'a mut String) -> &'a str {
    match (key, &t.campaign) {
        (StepKey::Channel, _) | (StepKey::Campaign, None) => &t.channel,
        (StepKey::Campaign, Some(c)) => c,
        (StepKey::ChannelCampaign, None) => &t.channel,
        (StepKey::ChannelCampaign, Some(c)) => {
            buf.clear();
            buf.push_str(&t.channel);
            buf.push(':');
            buf.push_str(c);
            buf
        }
    }
}

/// Cuts each customer's history into paths: the touches before each conversion within the
/// lookback window, and (optionally) the touches after the last conversion as a
/// non-converting path. Touches at the same instant as a conversion count towards it.
pub fn build_paths(
    touchpoints: &[Touchpoint],
    conversions: &[Conversion],
    options: &PathOptions,
) -> Result<Paths> {
    if !(options.lookback_days.is_finite() && options.lookback_days > 0.0) {
        return Err(AttributionError::Option {
            option: "lookback_days",
            message: format!(
                "must be a positive number of days (e.g. 30), got {}",
                options.lookback_days
            ),
        });
    }
    if let Some((i, c)) = conversions
        .iter()
        .enumerate()
        .find(|(_, c)| !c.value.is_finite())
    {
        return Err(AttributionError::Record {
            index: i,
            message: format!(
                "conversion of customer `{}` has a non-finite value",
                c.customer_id
            ),
        });
    }
    let lookback = (options.lookback_days * MICROS_PER_DAY) as i64;
    let mut paths = Paths::new();
    let mut customers: HashMap<&str, u32> = HashMap::default();
    // (customer, timestamp, kind: 0 = touch, 1 = conversion, index); touches sort first so a
    // touch at the conversion's instant belongs to it.
    let mut events: Vec<(u32, i64, u8, u32)> =
        Vec::with_capacity(touchpoints.len() + conversions.len());
    let mut buf = String::new();
    let mut channel_of = Vec::with_capacity(touchpoints.len());
    for (i, t) in touchpoints.iter().enumerate() {
        let n = customers.len() as u32;
        let c = *customers.entry(t.customer_id.as_str()).or_insert(n);
        events.push((c, t.timestamp, 0, i as u32));
        let name = step_name(t, options.step_key, &mut buf);
        channel_of.push(paths.channel_id(name));
    }
    for (i, cv) in conversions.iter().enumerate() {
        let n = customers.len() as u32;
        let c = *customers.entry(cv.customer_id.as_str()).or_insert(n);
        events.push((c, cv.timestamp, 1, i as u32));
    }
    events.sort_unstable();
    // Interned on first use, so an unused "direct" channel does not show up with zero credit.
    let direct = options.direct_channel.as_deref();

    let mut pending: Vec<(i64, u32)> = Vec::new();
    let mut steps: Vec<(u32, f64)> = Vec::new();
    let mut i = 0;
    while i < events.len() {
        let customer = events[i].0;
        pending.clear();
        let mut last_conversion: Option<i64> = None;
        while i < events.len() && events[i].0 == customer {
            let (_, ts, kind, idx) = events[i];
            i += 1;
            if kind == 0 {
                pending.push((ts, channel_of[idx as usize]));
                continue;
            }
            let value = conversions[idx as usize].value;
            steps.clear();
            steps.extend(
                pending
                    .iter()
                    .filter(|(t, _)| ts - t <= lookback)
                    .map(|&(t, ch)| (ch, (ts - t) as f64 / MICROS_PER_DAY)),
            );
            if steps.is_empty() {
                match direct {
                    Some(d) => {
                        let id = paths.channel_id(d);
                        paths.push_timed(&[(id, 0.0)], 1.0, 0.0, value)?
                    }
                    None => paths.push_unattributed(1.0, value),
                }
            } else {
                paths.push_timed(&steps, 1.0, 0.0, value)?;
            }
            if options.reset_after_conversion {
                pending.clear();
            }
            last_conversion = Some(ts);
        }
        if options.include_non_converting {
            let after: Vec<(i64, u32)> = pending
                .iter()
                .copied()
                .filter(|&(t, _)| last_conversion.is_none_or(|lc| t > lc))
                .collect();
            if let Some(&(end, _)) = after.last() {
                steps.clear();
                steps.extend(
                    after
                        .iter()
                        .filter(|(t, _)| end - t <= lookback)
                        .map(|&(t, ch)| (ch, (end - t) as f64 / MICROS_PER_DAY)),
                );
                paths.push_timed(&steps, 0.0, 1.0, 0.0)?;
            }
        }
    }
    Ok(paths)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn day(d: f64) -> i64 {
        (d * MICROS_PER_DAY) as i64
    }

    fn touch(c: &str, d: f64, ch: &str) -> Touchpoint {
        Touchpoint {
            customer_id: c.into(),
            timestamp: day(d),
            channel: ch.into(),
            campaign: None,
        }
    }

    #[test]
    fn lookback_reset_and_non_converting_tail() {
        let t = vec![
            touch("a", 0.0, "sms"),
            touch("a", 40.0, "app"),
            touch("a", 45.0, "call"),
            touch("a", 60.0, "email"),
            touch("b", 1.0, "web"),
        ];
        let c = vec![Conversion {
            customer_id: "a".into(),
            timestamp: day(50.0),
            value: 7.0,
        }];
        let p = build_paths(&t, &c, &PathOptions::default()).unwrap();
        assert_eq!(p.len(), 3);
        let names = |i: usize| p.format_path(p.get(i).steps, " > ");
        // sms at day 0 is 50 days old: outside the 30-day lookback.
        assert_eq!(names(0), "app > call");
        assert_eq!(p.get(0).ages_days.unwrap(), &[10.0, 5.0]);
        assert_eq!((p.get(0).conversions, p.get(0).value), (1.0, 7.0));
        assert_eq!(names(1), "email");
        assert_eq!(p.get(1).non_conversions, 1.0);
        assert_eq!(names(2), "web");
        assert_eq!(p.unattributed(), (0.0, 0.0));
    }

    #[test]
    fn conversion_without_touch_is_unattributed_or_direct() {
        let c = vec![Conversion {
            customer_id: "z".into(),
            timestamp: 0,
            value: 3.0,
        }];
        let p = build_paths(&[], &c, &PathOptions::default()).unwrap();
        assert_eq!((p.len(), p.unattributed()), (0, (1.0, 3.0)));
        let opts = PathOptions {
            direct_channel: Some("direct".into()),
            ..PathOptions::default()
        };
        let p = build_paths(&[], &c, &opts).unwrap();
        assert_eq!(p.channels(), &["direct".to_string()]);
        let t = vec![touch("z", -1.0, "sms")];
        let p = build_paths(&t, &c, &opts).unwrap();
        assert_eq!(p.channels(), &["sms".to_string()], "direct only when used");
        assert_eq!(p.total_value(), 3.0);
    }

    #[test]
    fn without_reset_a_touch_serves_two_conversions() {
        let t = vec![touch("a", 0.0, "sms")];
        let c = vec![
            Conversion {
                customer_id: "a".into(),
                timestamp: day(1.0),
                value: 1.0,
            },
            Conversion {
                customer_id: "a".into(),
                timestamp: day(2.0),
                value: 1.0,
            },
        ];
        let opts = PathOptions {
            reset_after_conversion: false,
            ..PathOptions::default()
        };
        assert_eq!(build_paths(&t, &c, &opts).unwrap().len(), 2);
        let p = build_paths(&t, &c, &PathOptions::default()).unwrap();
        assert_eq!((p.len(), p.unattributed().0), (1, 1.0));
    }

    #[test]
    fn steps_can_be_named_by_campaign() {
        let mut t = vec![touch("a", 0.0, "sms"), touch("a", 1.0, "app")];
        t[0].campaign = Some("welcome".into());
        let c = vec![Conversion {
            customer_id: "a".into(),
            timestamp: day(2.0),
            value: 1.0,
        }];
        for (key, want) in [
            (StepKey::Channel, "sms > app"),
            (StepKey::Campaign, "welcome > app"),
            (StepKey::ChannelCampaign, "sms:welcome > app"),
        ] {
            let opts = PathOptions {
                step_key: key,
                ..PathOptions::default()
            };
            let p = build_paths(&t, &c, &opts).unwrap();
            assert_eq!(p.format_path(p.get(0).steps, " > "), want);
        }
    }

    #[test]
    fn bad_records_are_refused() {
        let mut p = Paths::new();
        assert!(p.push(&[], 1.0, 0.0, 0.0).is_err());
        assert!(p.push(&["a"], -1.0, 0.0, 0.0).is_err());
        assert!(p.push(&["a"], 0.0, 0.0, 0.0).is_err());
        assert!(p.push(&["a"], 0.0, 2.0, 5.0).is_err());
        assert!(p.push(&["a"], 1.0, 2.0, 5.0).is_ok());
        let opts = PathOptions {
            lookback_days: 0.0,
            ..PathOptions::default()
        };
        let e = build_paths(&[], &[], &opts).unwrap_err().to_string();
        assert!(e.contains("lookback_days"), "{e}");
    }
}
