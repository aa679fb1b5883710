//! Timestamps: milliseconds since the epoch inside, RFC 3339 on the wire.

/// Milliseconds since the Unix epoch.
pub type Millis = i64;

use chrono::{DateTime, SecondsFormat, Utc};

pub fn now_millis() -> Millis {
    Utc::now().timestamp_millis()
}

pub fn to_rfc3339(ms: Millis) -> String {
    DateTime::<Utc>::from_timestamp_millis(ms)
        .unwrap_or_default()
        .to_rfc3339_opts(SecondsFormat::Millis, true)
}

pub fn parse_rfc3339(s: &str) -> Option<Millis> {
    DateTime::parse_from_rfc3339(s)
        .ok()
        .map(|d| d.timestamp_millis())
}

/// A point in time as a person types it: RFC 3339, or a span back from
/// `now` (`90s`, `30m`, `24h`, `7d`).
pub fn parse_when(s: &str, now: Millis) -> Option<Millis> {
    let s = s.trim();
    if let Some(t) = parse_rfc3339(s) {
        return Some(t);
    }
    Some(now.saturating_sub(parse_span_ms(s)?))
}

/// A span as a person types it (`90s`, `30m`, `8h`, `7d`), in milliseconds.
pub fn parse_span_ms(s: &str) -> Option<i64> {
    let s = s.trim();
    let unit = match s.chars().last()? {
        's' => 1_000,
        'm' => 60_000,
        'h' => 3_600_000,
        'd' => 86_400_000,
        _ => return None,
    };
    let n: i64 = s[..s.len() - 1].parse().ok().filter(|n| *n >= 0)?;
    n.checked_mul(unit)
}

/// `#[serde(with = "rfc3339")]` for a `Millis` field.
pub mod rfc3339 {
    use super::*;
    use serde::{Deserialize, Deserializer, Serializer, de::Error};

    pub fn serialize<S: Serializer>(ms: &Millis, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&to_rfc3339(*ms))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Millis, D::Error> {
        let text = String::deserialize(d)?;
        parse_rfc3339(&text)
            .ok_or_else(|| D::Error::custom(format!("not an RFC 3339 time: {text}")))
    }
}

/// `#[serde(with = "rfc3339_opt")]` for an `Option<Millis>` field.
pub mod rfc3339_opt {
    use super::*;
    use serde::{Deserialize, Deserializer, Serializer, de::Error};

    pub fn serialize<S: Serializer>(ms: &Option<Millis>, s: S) -> Result<S::Ok, S::Error> {
        match ms {
            Some(ms) => s.serialize_str(&to_rfc3339(*ms)),
            None => s.serialize_none(),
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Millis>, D::Error> {
        match Option::<String>::deserialize(d)? {
            None => Ok(None),
            Some(text) => parse_rfc3339(&text)
                .map(Some)
                .ok_or_else(|| D::Error::custom(format!("not an RFC 3339 time: {text}"))),
        }
    }
}

/// `#[serde(with = "rfc3339_or_millis")]` for a `Millis` field written as
/// RFC 3339 that was once written as epoch milliseconds (stored rows, old
/// exports): both are read, RFC 3339 is written.
pub mod rfc3339_or_millis {
    use super::*;
    use serde::{Deserialize, Deserializer, Serializer, de::Error};

    pub fn serialize<S: Serializer>(ms: &Millis, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&to_rfc3339(*ms))
    }

    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Either {
        Millis(Millis),
        Text(String),
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Millis, D::Error> {
        match Either::deserialize(d)? {
            Either::Millis(ms) => Ok(ms),
            Either::Text(text) => parse_rfc3339(&text)
                .ok_or_else(|| D::Error::custom(format!("not an RFC 3339 time: {text}"))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(serde::Serialize, serde::Deserialize, PartialEq, Debug)]
    struct At {
        #[serde(with = "rfc3339_or_millis")]
        at: Millis,
    }

    #[test]
    fn written_as_rfc3339_read_either_way() {
        let at = At {
            at: 1_764_000_000_123,
        };
        let text = serde_json::to_string(&at).unwrap_or_default();
        assert_eq!(text, r#"{"at":"2025-11-24T16:00:00.123Z"}"#);
        assert_eq!(
            serde_json::from_str::<At>(&text).ok(),
            Some(At { at: at.at })
        );
        assert_eq!(
            serde_json::from_str::<At>(r#"{"at":1764000000123}"#).ok(),
            Some(At { at: at.at })
        );
        assert!(serde_json::from_str::<At>(r#"{"at":"yesterday"}"#).is_err());
    }
}
