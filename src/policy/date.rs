//! Policy dates: `YYYY-MM-DD`, written as a string (`"2023-11-17"`) or as a
//! TOML date (`2023-11-17`).

use std::fmt;

use serde::de::{self, Deserializer, MapAccess, Visitor};
use serde::{Deserialize, de::value::MapAccessDeserializer};
use time::format_description::BorrowedFormatItem;
use time::macros::format_description;
use time::{Date, Month};

use super::model::S;

const FORMAT: &[BorrowedFormatItem<'static>] = format_description!("[year]-[month]-[day]");

/// `YYYY-MM-DD` → seconds since the Unix epoch at 00:00 UTC.
pub(crate) fn parse_date(s: &str) -> Option<i64> {
    // `[year]` would also take a sign: `+2023-11-17`.
    if !s.starts_with(|c: char| c.is_ascii_digit()) {
        return None;
    }
    let date = Date::parse(s, FORMAT).ok()?;
    Some(date.midnight().assume_utc().unix_timestamp())
}

/// A hint for a date [`parse_date`] rejects: the date alone for a date and
/// time, the date zero-padded, or why its month or day does not exist.
pub(crate) fn date_help(s: &str) -> Option<String> {
    if let Some((date, rest)) = s.split_once(['T', 't', ' '])
        && parse_date(date).is_some()
    {
        let why = if rest.trim().is_empty() {
            ""
        } else {
            "a date has no time of day; "
        };
        return Some(format!("{why}did you mean `{date}`?"));
    }
    let mut parts = s.split('-');
    let (y, m, d) = (parts.next()?, parts.next()?, parts.next()?);
    if parts.next().is_some() || !y.starts_with(|c: char| c.is_ascii_digit()) {
        return None;
    }
    let (y, m, d): (i32, u8, u8) = (y.parse().ok()?, m.parse().ok()?, d.parse().ok()?);
    if y > 9999 {
        return None;
    }
    let Ok(month) = Month::try_from(m) else {
        return Some("months are 01 to 12".to_owned());
    };
    let days = month.length(y);
    if d == 0 || d > days {
        return Some(format!("{month} {y} has {days} days"));
    }
    let padded = format!("{y:04}-{m:02}-{d:02}");
    (padded != s).then(|| format!("did you mean `{padded}`?"))
}

/// A date field as text, whichever way it was written, so that a TOML date
/// and the same date quoted load the same; a TOML date with a time of day
/// keeps it and fails validation.
pub(crate) fn date<'de, D: Deserializer<'de>>(d: D) -> Result<S<String>, D::Error> {
    let v = S::<DateText>::deserialize(d)?;
    let span = v.span();
    Ok(S::new(span, v.into_inner().0))
}

/// [`date`] for an optional field (with `#[serde(default)]`).
pub(crate) fn optional_date<'de, D: Deserializer<'de>>(
    d: D,
) -> Result<Option<S<String>>, D::Error> {
    date(d).map(Some)
}

struct DateText(String);

impl<'de> Deserialize<'de> for DateText {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(DateVisitor)
    }
}

struct DateVisitor;

impl<'de> Visitor<'de> for DateVisitor {
    type Value = DateText;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a date, 2023-11-17 or \"2023-11-17\"")
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<DateText, E> {
        Ok(DateText(v.to_owned()))
    }

    // The TOML deserializer hands a date over as a one-entry map.
    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<DateText, A::Error> {
        let dt = toml::value::Datetime::deserialize(MapAccessDeserializer::new(map))?;
        Ok(DateText(dt.to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::{date_help, parse_date};

    #[test]
    fn dates() {
        assert_eq!(parse_date("1970-01-01"), Some(0));
        assert_eq!(parse_date("1969-12-31"), Some(-86_400));
        assert_eq!(parse_date("2023-11-17"), Some(1_700_179_200));
        assert_eq!(parse_date("2024-02-29"), Some(1_709_164_800));
        assert_eq!(parse_date("2000-02-29"), Some(951_782_400));
        assert_eq!(parse_date("2023-02-29"), None);
        assert_eq!(parse_date("1900-02-29"), None);
        assert_eq!(parse_date("2023-13-01"), None);
        assert_eq!(parse_date("2023-04-31"), None);
        assert_eq!(parse_date("2023-1-01"), None);
        assert_eq!(parse_date("20231101"), None);
        assert_eq!(parse_date("2023-11-17T00:00:00Z"), None);
        assert_eq!(parse_date("2023-11-17 "), None);
        assert_eq!(parse_date("+2023-11-17"), None);
        assert_eq!(parse_date("-2023-11-17"), None);
        assert_eq!(parse_date("02023-11-17"), None);
        assert_eq!(parse_date("0001-01-01"), Some(-62_135_596_800));
        assert_eq!(parse_date(""), None);
    }

    #[test]
    fn hints() {
        let hint = |s| date_help(s);
        assert_eq!(
            hint("2026-7-8").as_deref(),
            Some("did you mean `2026-07-08`?")
        );
        assert_eq!(
            hint("2023-02-29").as_deref(),
            Some("February 2023 has 28 days")
        );
        assert_eq!(
            hint("2023-04-31").as_deref(),
            Some("April 2023 has 30 days")
        );
        assert_eq!(hint("2023-13-01").as_deref(), Some("months are 01 to 12"));
        assert_eq!(
            hint("2023-11-17T10:00:00Z").as_deref(),
            Some("a date has no time of day; did you mean `2023-11-17`?")
        );
        assert_eq!(hint("next year"), None);
        assert_eq!(hint("20231117"), None);
        assert_eq!(hint("+2023-11-17"), None);
        assert_eq!(hint("99999-01-01"), None);
    }
}
