//! Channels, and the bank's local clock (Asia/Shanghai) that quiet hours are read on.

use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, FixedOffset, NaiveDate, NaiveTime, Timelike, Utc};
use serde::{Deserialize, Serialize};

/// A channel an offer can be presented on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Channel {
    AppPush,
    Sms,
    Email,
    Wechat,
    CallCentre,
    Branch,
}

impl Channel {
    pub const ALL: [Channel; 6] = [
        Channel::AppPush,
        Channel::Sms,
        Channel::Email,
        Channel::Wechat,
        Channel::CallCentre,
        Channel::Branch,
    ];

    /// Dense index, for per-channel arrays.
    pub fn index(self) -> usize {
        self as usize
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Channel::AppPush => "app_push",
            Channel::Sms => "sms",
            Channel::Email => "email",
            Channel::Wechat => "wechat",
            Channel::CallCentre => "call_centre",
            Channel::Branch => "branch",
        }
    }

    /// The channel code of the `consents` and `contacts` tables (`call` for the call centre).
    pub fn schema_code(self) -> &'static str {
        match self {
            Channel::CallCentre => "call",
            other => other.as_str(),
        }
    }

    pub fn name_zh(self) -> &'static str {
        match self {
            Channel::AppPush => "手机银行推送",
            Channel::Sms => "短信",
            Channel::Email => "电子邮件",
            Channel::Wechat => "微信",
            Channel::CallCentre => "电话外呼",
            Channel::Branch => "网点",
        }
    }

    pub fn name_en(self) -> &'static str {
        match self {
            Channel::AppPush => "app push",
            Channel::Sms => "SMS",
            Channel::Email => "e-mail",
            Channel::Wechat => "WeChat",
            Channel::CallCentre => "call centre",
            Channel::Branch => "branch",
        }
    }
}

impl fmt::Display for Channel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An unknown channel name.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "'{0}' is not a channel: expected one of app_push, sms, email, wechat, call_centre, branch"
)]
pub struct ParseChannelError(pub String);

impl FromStr for Channel {
    type Err = ParseChannelError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let t = s.trim().to_ascii_lowercase();
        match t.as_str() {
            "call" | "call_center" => return Ok(Channel::CallCentre),
            "push" | "app" | "mobile_app" => return Ok(Channel::AppPush),
            _ => {}
        }
        Channel::ALL
            .into_iter()
            .find(|c| c.as_str() == t)
            .ok_or_else(|| ParseChannelError(s.to_string()))
    }
}

/// Asia/Shanghai is UTC+8 all year (China has had no daylight saving since 1991), so a
/// fixed offset is exact and needs no time-zone database.
pub fn shanghai() -> FixedOffset {
    FixedOffset::east_opt(8 * 3600).expect("UTC+8 is a valid offset")
}

/// `t` on the bank's local clock.
pub fn local(t: DateTime<Utc>) -> DateTime<FixedOffset> {
    t.with_timezone(&shanghai())
}

/// The local calendar day of `t` (offer validity dates are local days).
pub fn local_date(t: DateTime<Utc>) -> NaiveDate {
    local(t).date_naive()
}

/// A daily window of local time in which a channel must not be used, e.g. 21:00–08:00.
/// `start > end` wraps past midnight.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct QuietHours {
    #[serde(with = "hhmm")]
    pub start: NaiveTime,
    #[serde(with = "hhmm")]
    pub end: NaiveTime,
}

impl QuietHours {
    /// `start`–`end` in whole hours, local time.
    pub fn hours(start: u32, end: u32) -> Self {
        let t = |h: u32| NaiveTime::from_hms_opt(h % 24, 0, 0).unwrap_or(NaiveTime::MIN);
        QuietHours {
            start: t(start),
            end: t(end),
        }
    }

    /// Whether local time `t` falls inside the window.
    pub fn contains(&self, t: DateTime<Utc>) -> bool {
        let lt = local(t).time();
        let lt = NaiveTime::from_hms_opt(lt.hour(), lt.minute(), lt.second()).unwrap_or(lt);
        if self.start <= self.end {
            lt >= self.start && lt < self.end
        } else {
            lt >= self.start || lt < self.end
        }
    }

    /// "21:00–08:00".
    pub fn label(&self) -> String {
        format!(
            "{}–{}",
            self.start.format("%H:%M"),
            self.end.format("%H:%M")
        )
    }
}

mod hhmm {
    use chrono::NaiveTime;
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(t: &NaiveTime, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&t.format("%H:%M").to_string())
    }
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<NaiveTime, D::Error> {
        let s = String::deserialize(d)?;
        NaiveTime::parse_from_str(s.trim(), "%H:%M").map_err(|_| {
            serde::de::Error::custom(format!(
                "quiet-hours time '{s}' is not HH:MM (24-hour local time, e.g. \"21:00\")"
            ))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn channel_names_round_trip_and_aliases() {
        for c in Channel::ALL {
            assert_eq!(c.as_str().parse::<Channel>(), Ok(c));
        }
        assert_eq!("call".parse::<Channel>(), Ok(Channel::CallCentre));
        assert!("fax".parse::<Channel>().is_err());
        assert_eq!(Channel::CallCentre.schema_code(), "call");
    }

    #[test]
    fn quiet_hours_wrap_midnight_on_shanghai_time() {
        let q = QuietHours::hours(21, 8);
        // 13:30 UTC is 21:30 in Shanghai: quiet.
        assert!(q.contains(Utc.with_ymd_and_hms(2024, 6, 1, 13, 30, 0).unwrap()));
        // 23:59 UTC is 07:59 next day: quiet. 00:00 UTC is 08:00: not quiet.
        assert!(q.contains(Utc.with_ymd_and_hms(2024, 6, 1, 23, 59, 0).unwrap()));
        assert!(!q.contains(Utc.with_ymd_and_hms(2024, 6, 2, 0, 0, 0).unwrap()));
        // 04:00 UTC is noon.
        assert!(!q.contains(Utc.with_ymd_and_hms(2024, 6, 1, 4, 0, 0).unwrap()));
        let day = QuietHours::hours(12, 14);
        assert!(day.contains(Utc.with_ymd_and_hms(2024, 6, 1, 4, 0, 0).unwrap()));
        assert_eq!(q.label(), "21:00–08:00");
        let j = serde_json::to_string(&q).unwrap();
        assert_eq!(j, r#"{"start":"21:00","end":"08:00"}"#);
        assert_eq!(serde_json::from_str::<QuietHours>(&j).unwrap(), q);
        assert!(serde_json::from_str::<QuietHours>(r#"{"start":"9pm","end":"08:00"}"#).is_err());
    }
}
