//! One time type and one date type, parsed strictly where they enter (JSON bodies, query
//! parameters) and stored and compared as times on both backends.
//!
//! A timestamp is RFC 3339 with a four-digit year from 1900 to 9999 and an explicit offset
//! (`Z` or `±hh:mm`), normalised to UTC and cut to microseconds (what both databases store);
//! a leap second (`23:59:60`) is refused. Within that range the form SQLite stores
//! (`YYYY-MM-DD HH:MM:SS.ffffff`, Diesel's) sorts as the time does, so comparisons in SQL are
//! comparisons of times on SQLite as on PostgreSQL. A date is exactly `YYYY-MM-DD`.
//! Anything else is a 422 naming the field.

use chrono::{DateTime, NaiveDate, NaiveDateTime, Timelike, Utc};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// The earliest and latest year a timestamp may name.
/// What a timestamp's text starts with, in OpenAPI (`pattern`, beside `format: date-time`):
/// a four-digit year from 1900. (The bounds hold for the time in UTC: an offset can still move
/// the first and the last hours of the range out of it, which `parse` refuses.)
pub const TIMESTAMP_PATTERN: &str = "^(19[0-9]{2}|[2-9][0-9]{3})-";

pub const MIN_YEAR: i32 = 1900;
pub const MAX_YEAR: i32 = 9999;

/// A moment in UTC, to the microsecond.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Timestamp(NaiveDateTime);

impl Timestamp {
    /// Now, to the microsecond.
    pub fn now() -> Timestamp {
        Timestamp(crate::db::now())
    }

    /// A stored value (naive UTC, already microseconds).
    pub fn from_db(t: NaiveDateTime) -> Timestamp {
        Timestamp(t)
    }

    /// The value to store or compare in SQL.
    pub fn naive(self) -> NaiveDateTime {
        self.0
    }

    pub fn utc(self) -> DateTime<Utc> {
        self.0.and_utc()
    }

    /// Parses the wire form (see the module's rules); the message says what is wrong.
    pub fn parse(s: &str) -> Result<Timestamp, &'static str> {
        const WHAT: &str =
            "must be an RFC 3339 timestamp with an offset, e.g. 2026-05-04T09:30:00Z";
        // RFC 3339 spells the year with exactly four digits: chrono also takes `+10000-…`.
        let b = s.as_bytes();
        let four_digit_year = b.len() >= 20
            && b[..4].iter().all(u8::is_ascii_digit)
            && b[4] == b'-'
            && (b[10] == b'T' || b[10] == b't');
        if !four_digit_year {
            return Err(WHAT);
        }
        let t = DateTime::parse_from_rfc3339(s).map_err(|_| WHAT)?;
        let t = t.with_timezone(&Utc).naive_utc();
        if t.nanosecond() >= 1_000_000_000 {
            return Err("must not be a leap second (23:59:60)");
        }
        if !(MIN_YEAR..=MAX_YEAR).contains(&chrono::Datelike::year(&t)) {
            return Err("must be between the years 1900 and 9999");
        }
        let micros = t
            .with_nanosecond(t.nanosecond() / 1_000 * 1_000)
            .expect("fewer nanoseconds than before");
        Ok(Timestamp(micros))
    }

    /// Parses a query parameter or a field: 422 naming `field` when it is not a timestamp.
    pub fn parse_field(field: &str, s: &str) -> Result<Timestamp, super::Error> {
        Timestamp::parse(s).map_err(|why| super::Error::field(field, why))
    }

    /// The page cursor of a list ordered by `(time, id)`: `<time>|<id>` of the page's last item.
    pub fn cursor(t: Timestamp, id: &str) -> String {
        format!("{}|{id}", t.0.format(CURSOR_FORMAT))
    }

    /// Reads back a `cursor`: 422 when it is not one.
    pub fn parse_cursor(c: &str) -> Result<(Timestamp, String), super::Error> {
        let bad = || super::Error::field("cursor", "is not a cursor this server issued");
        let (t, id) = c.split_once('|').ok_or_else(bad)?;
        let t = NaiveDateTime::parse_from_str(t, CURSOR_FORMAT).map_err(|_| bad())?;
        Ok((Timestamp(t), id.to_string()))
    }
}

const CURSOR_FORMAT: &str = "%Y-%m-%dT%H:%M:%S%.f";

/// The rules of a booked time window (an appointment, a virtual visit): `end` after `start`,
/// at most `max_hours` long, and, when `now` is given, `start` not in the past (one minute of
/// grace for clock skew). Field names come with their values; `what` names the thing booked.
pub fn check_window(
    v: &mut super::Validator,
    what: &str,
    (start_field, start): (&str, Timestamp),
    (end_field, end): (&str, Timestamp),
    max_hours: i64,
    now: Option<Timestamp>,
) {
    if end <= start {
        v.error(end_field, format!("must be after {start_field}"));
    } else if end - start > chrono::Duration::hours(max_hours) {
        v.error(
            end_field,
            format!("{what} is at most {max_hours} hours long"),
        );
    }
    if now.is_some_and(|now| start < now - chrono::Duration::minutes(1)) {
        v.error(start_field, "must not be in the past");
    }
}

impl std::ops::Add<chrono::Duration> for Timestamp {
    type Output = Timestamp;
    fn add(self, d: chrono::Duration) -> Timestamp {
        Timestamp(self.0 + d)
    }
}

impl std::ops::Sub<chrono::Duration> for Timestamp {
    type Output = Timestamp;
    fn sub(self, d: chrono::Duration) -> Timestamp {
        Timestamp(self.0 - d)
    }
}

impl std::ops::Sub for Timestamp {
    type Output = chrono::Duration;
    fn sub(self, other: Timestamp) -> chrono::Duration {
        self.0 - other.0
    }
}

impl std::fmt::Display for Timestamp {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(
            &self
                .utc()
                .to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true),
        )
    }
}

impl Serialize for Timestamp {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        // chrono's own form (`AutoSi` fractions, `Z`), as before this type existed.
        self.utc().serialize(s)
    }
}

impl<'de> Deserialize<'de> for Timestamp {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Timestamp, D::Error> {
        let s = std::borrow::Cow::<'de, str>::deserialize(d)?;
        Timestamp::parse(&s).map_err(serde::de::Error::custom)
    }
}

impl utoipa::PartialSchema for Timestamp {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        utoipa::openapi::ObjectBuilder::new()
            .schema_type(utoipa::openapi::schema::Type::String)
            .format(Some(utoipa::openapi::SchemaFormat::KnownFormat(
                utoipa::openapi::KnownFormat::DateTime,
            )))
            .pattern(Some(TIMESTAMP_PATTERN))
            .examples(["2026-05-04T09:30:00Z"])
            .description(Some(
                "RFC 3339 with an offset, e.g. 2026-05-04T09:30:00Z, of a year 1900–9999 in UTC; \
                 stored in UTC to the microsecond",
            ))
            .into()
    }
}

impl utoipa::ToSchema for Timestamp {}

/// A calendar date, exactly `YYYY-MM-DD`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Date(NaiveDate);

impl Date {
    pub fn from_db(d: NaiveDate) -> Date {
        Date(d)
    }

    pub fn naive(self) -> NaiveDate {
        self.0
    }

    pub fn parse(s: &str) -> Result<Date, &'static str> {
        const WHAT: &str = "must be a date, YYYY-MM-DD";
        let b = s.as_bytes();
        let shape = b.len() == 10
            && b[4] == b'-'
            && b[7] == b'-'
            && b.iter()
                .enumerate()
                .all(|(i, c)| i == 4 || i == 7 || c.is_ascii_digit());
        if !shape {
            return Err(WHAT);
        }
        NaiveDate::parse_from_str(s, "%Y-%m-%d")
            .map(Date)
            .map_err(|_| "is not a calendar date")
    }

    pub fn today() -> Date {
        Date(Utc::now().date_naive())
    }
}

impl std::fmt::Display for Date {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // `YYYY-MM-DD` for every year in range.
        self.0.fmt(f)
    }
}

impl Serialize for Date {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        self.0.serialize(s)
    }
}

impl<'de> Deserialize<'de> for Date {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Date, D::Error> {
        let s = std::borrow::Cow::<'de, str>::deserialize(d)?;
        Date::parse(&s).map_err(serde::de::Error::custom)
    }
}

impl utoipa::PartialSchema for Date {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        utoipa::openapi::ObjectBuilder::new()
            .schema_type(utoipa::openapi::schema::Type::String)
            .format(Some(utoipa::openapi::SchemaFormat::KnownFormat(
                utoipa::openapi::KnownFormat::Date,
            )))
            .examples(["2026-05-04"])
            .description(Some("YYYY-MM-DD"))
            .into()
    }
}

impl utoipa::ToSchema for Date {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_are_strict_rfc3339_in_range_to_the_microsecond() {
        let t = Timestamp::parse("2031-03-04T12:00:00.123456789+02:00").unwrap();
        assert_eq!(t.to_string(), "2031-03-04T10:00:00.123456Z");
        assert_eq!(
            Timestamp::parse("2031-03-04T10:00:00Z")
                .unwrap()
                .to_string(),
            "2031-03-04T10:00:00Z"
        );
        assert_eq!(
            Timestamp::parse("2031-03-04t10:00:00.5z")
                .unwrap()
                .to_string(),
            "2031-03-04T10:00:00.500Z"
        );
        for bad in [
            "+10000-01-01T00:00:00Z",
            "10000-01-01T00:00:00Z",
            "1899-12-31T23:59:59Z",
            "2030-06-30T23:59:60Z",
            "2030-06-30T10:00:00",
            "2030-06-30 10:00:00Z",
            "2030-06-30",
            "",
            "yesterday",
        ] {
            assert!(Timestamp::parse(bad).is_err(), "{bad} accepted");
        }
        assert!(Timestamp::parse("9999-12-31T23:59:59.999999Z").is_ok());
        assert!(Timestamp::parse("1900-01-01T00:00:00Z").is_ok());
    }

    /// Stored on SQLite as Diesel's text, the years in range sort as the times do.
    #[test]
    fn stored_text_sorts_as_time() {
        let a = Timestamp::parse("2029-01-01T00:00:00Z").unwrap();
        let b = Timestamp::parse("9999-01-01T00:00:00.000001Z").unwrap();
        let text = |t: Timestamp| t.naive().format("%F %T%.f").to_string();
        assert!(a < b && text(a) < text(b));
    }

    #[test]
    fn dates_are_exactly_yyyy_mm_dd() {
        assert_eq!(Date::parse("1990-01-02").unwrap().to_string(), "1990-01-02");
        for bad in [
            "1990-1-2",
            "+1990-01-02",
            "1990-01-02T00:00:00Z",
            "19900102",
            "1990-02-30",
        ] {
            assert!(Date::parse(bad).is_err(), "{bad} accepted");
        }
    }
}
