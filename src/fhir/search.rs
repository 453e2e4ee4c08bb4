//! The search parameters of a FHIR search: parsed from the raw query (FHIR repeats a name,
//! `date=ge2026-01-01&date=lt2026-02-01`, which a struct cannot hold), checked against the
//! parameters the resource type declares, and turned into our filters.
//!
//! Unknown parameters and modifiers are refused (400) rather than ignored: a search that
//! silently drops a filter returns more patient data than its caller asked for.

use chrono::{Datelike, NaiveDate};

use crate::http::{ApiError, Page, DEFAULT_LIMIT, MAX_LIMIT};
use crate::kit::Timestamp;

/// A search parameter a resource type supports, as `metadata` lists it.
#[derive(Clone, Copy, Debug)]
pub struct Param {
    pub name: &'static str,
    /// FHIR's SearchParamType: `token`, `reference`, `date`, `string`.
    pub kind: &'static str,
    pub doc: &'static str,
}

/// Parameters every search takes (besides the type's own).
pub const COMMON: &[Param] = &[
    Param {
        name: "_count",
        kind: "number",
        doc: "Entries per page, 1-500 (default 50); 0 for the total alone",
    },
    Param {
        name: "_cursor",
        kind: "string",
        doc: "The page after the one whose `next` link carried it (opaque)",
    },
    Param {
        name: "_format",
        kind: "token",
        doc: "`json` or `application/fhir+json` (the only format served)",
    },
];

/// A parsed search.
#[derive(Debug)]
pub struct Search {
    pairs: Vec<(String, String)>,
    /// Entries per page; 0 asks only for the total.
    pub count: i64,
    cursor: Option<String>,
}

fn invalid(param: &str, why: impl Into<String>) -> ApiError {
    ApiError::field(param, why)
}

impl Search {
    /// Parses `raw` (the query string) against the type's parameters `params` and `COMMON`.
    pub fn parse(raw: Option<&str>, params: &[Param]) -> Result<Search, ApiError> {
        let pairs: Vec<(String, String)> = form_urlencoded::parse(raw.unwrap_or("").as_bytes())
            .map(|(k, v)| (k.into_owned(), v.into_owned()))
            .collect();
        for (name, _) in &pairs {
            let known = params.iter().chain(COMMON).any(|p| p.name == name);
            if !known {
                let mut names: Vec<&str> = params.iter().chain(COMMON).map(|p| p.name).collect();
                names.sort_unstable();
                return Err(ApiError::bad_request(format!(
                    "unknown search parameter `{name}` (modifiers are not supported); this type supports: {}",
                    names.join(", ")
                )));
            }
        }
        let mut search = Search {
            pairs,
            count: DEFAULT_LIMIT,
            cursor: None,
        };
        if let Some(c) = search.one("_count")? {
            search.count = match c.parse::<i64>() {
                Ok(n) if n >= 0 => n.min(MAX_LIMIT),
                _ => return Err(invalid("_count", "must be a whole number from 0")),
            };
        }
        search.cursor = search.one("_cursor")?.map(str::to_string);
        if let Some(f) = search.one("_format")? {
            if !matches!(f, "json" | "application/fhir+json" | "application/json") {
                return Err(ApiError::new(
                    axum::http::StatusCode::NOT_ACCEPTABLE,
                    "not-acceptable",
                    format!("_format `{f}`: this server answers FHIR JSON only"),
                ));
            }
        }
        Ok(search)
    }

    /// The value of a parameter given at most once.
    pub fn one<'a>(&'a self, name: &'a str) -> Result<Option<&'a str>, ApiError> {
        let mut values = self.all(name);
        let first = values.next();
        if values.next().is_some() {
            return Err(invalid(name, "may be given once"));
        }
        Ok(first)
    }

    pub fn all<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a str> + 'a {
        self.pairs
            .iter()
            .filter(move |(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// The page to fetch: `_count` entries after the cursor.
    pub fn page(&self) -> Result<Page, ApiError> {
        crate::http::PageParams {
            limit: Some(self.count.max(1)),
            cursor: self.cursor.clone(),
        }
        .page()
        .map_err(|_| invalid("_cursor", "is not a cursor this server issued"))
    }

    /// The query string of this search without its cursor: the `self` link, and with the next
    /// cursor the `next` link.
    pub fn query_without_cursor(&self) -> String {
        let mut out = form_urlencoded::Serializer::new(String::new());
        for (k, v) in &self.pairs {
            if k != "_cursor" {
                out.append_pair(k, v);
            }
        }
        out.finish()
    }

    /// A reference parameter to one of ours (`Patient/<id>` or `<id>`) of type `kind`.
    pub fn reference(&self, name: &str, kind: &str) -> Result<Option<String>, ApiError> {
        let Some(v) = self.one(name)? else {
            return Ok(None);
        };
        let id = match v.split_once('/') {
            Some((k, id)) if k == kind => id,
            Some(_) => return Err(invalid(name, format!("must reference a {kind}"))),
            None => v,
        };
        crate::kit::ids::canonical_uuid(id)
            .map(Some)
            .ok_or_else(|| invalid(name, format!("`{v}` is not a {kind} id")))
    }

    /// `_id`, checked as one of our ids. A search by id is the resource's read, so it takes
    /// no other filter (400 if given one).
    pub fn id(&self) -> Result<Option<String>, ApiError> {
        let Some(v) = self.raw_id()? else {
            return Ok(None);
        };
        crate::kit::ids::canonical_uuid(v)
            .map(Some)
            .ok_or_else(|| invalid("_id", format!("`{v}` is not an id of this server")))
    }

    /// `_id` as given (for the types whose ids are not only ours: `image-<id>`), alone.
    pub fn raw_id(&self) -> Result<Option<&str>, ApiError> {
        let Some(v) = self.one("_id")? else {
            return Ok(None);
        };
        if let Some((other, _)) = self
            .pairs
            .iter()
            .find(|(k, _)| k != "_id" && !COMMON.iter().any(|p| p.name == k))
        {
            return Err(invalid(
                "_id",
                format!("is a read of one resource: it does not combine with `{other}`"),
            ));
        }
        Ok(Some(v))
    }

    /// A token parameter's code (`code`, or `system|code` where the system must be `system`).
    pub fn token(&self, name: &str, system: Option<&str>) -> Result<Option<String>, ApiError> {
        let Some(v) = self.one(name)? else {
            return Ok(None);
        };
        match v.split_once('|') {
            None => Ok(Some(v.to_string())),
            Some((s, code)) if s.is_empty() || Some(s) == system => Ok(Some(code.to_string())),
            Some((s, _)) => Err(invalid(
                name,
                match system {
                    Some(want) => format!("system `{s}` is not the one searched here ({want})"),
                    None => format!("system `{s}`: this parameter takes a code alone"),
                },
            )),
        }
    }

    /// The bounds every value of a date parameter sets, intersected: the earliest time
    /// included and the first time excluded.
    pub fn dates(&self, name: &str) -> Result<Bounds, ApiError> {
        let mut b = Bounds::default();
        for v in self.all(name) {
            b = b.and(parse_date(v).map_err(|why| invalid(name, why))?);
        }
        Ok(b)
    }
}

/// A half-open time interval `[from, to)`; either end may be open.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Bounds {
    pub from: Option<Timestamp>,
    pub to: Option<Timestamp>,
}

impl Bounds {
    fn and(self, o: Bounds) -> Bounds {
        Bounds {
            from: self.from.max(o.from),
            to: match (self.to, o.to) {
                (Some(a), Some(b)) => Some(a.min(b)),
                (a, b) => a.or(b),
            },
        }
    }

    /// Does `[from, to)` hold `t`?
    pub fn holds(&self, t: Timestamp) -> bool {
        self.from.is_none_or(|f| t >= f) && self.to.is_none_or(|e| t < e)
    }
}

/// One date parameter value: an optional prefix (`eq` `ne`-less: `eq`, `lt`, `le`, `gt`, `ge`,
/// `sa`, `eb`) and a date of any FHIR precision (`2026`, `2026-03`, `2026-03-04`, or a time
/// with its offset). A value names the interval of its precision; the prefix says which side
/// of it matches.
fn parse_date(v: &str) -> Result<Bounds, String> {
    let (prefix, value) = match v.get(..2) {
        Some(p @ ("eq" | "lt" | "le" | "gt" | "ge" | "sa" | "eb")) => (p, &v[2..]),
        Some("ne" | "ap") => {
            return Err(format!(
                "prefix `{}` is not supported (eq, lt, le, gt, ge, sa, eb are)",
                &v[..2]
            ))
        }
        _ => ("eq", v),
    };
    let (start, end) = interval(value).ok_or_else(|| {
        format!(
            "`{value}` is not a FHIR date (YYYY, YYYY-MM, YYYY-MM-DD or a time with its offset)"
        )
    })?;
    Ok(match prefix {
        "eq" => Bounds {
            from: Some(start),
            to: Some(end),
        },
        "lt" | "eb" => Bounds {
            from: None,
            to: Some(start),
        },
        "le" => Bounds {
            from: None,
            to: Some(end),
        },
        "gt" | "sa" => Bounds {
            from: Some(end),
            to: None,
        },
        _ => Bounds {
            from: Some(start),
            to: None,
        },
    })
}

/// The interval a date of some precision names, `[start, end)`.
fn interval(value: &str) -> Option<(Timestamp, Timestamp)> {
    let day = |d: NaiveDate| Timestamp::from_db(d.and_hms_opt(0, 0, 0).expect("midnight"));
    let ymd = |y: i32, m: u32, d: u32| NaiveDate::from_ymd_opt(y, m, d);
    let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    match value.len() {
        4 if digits(value) => {
            let y: i32 = value.parse().ok()?;
            Some((day(ymd(y, 1, 1)?), day(ymd(y + 1, 1, 1)?)))
        }
        7 if digits(&value[..4]) && &value[4..5] == "-" && digits(&value[5..]) => {
            let (y, m): (i32, u32) = (value[..4].parse().ok()?, value[5..].parse().ok()?);
            let first = ymd(y, m, 1)?;
            let next = if m == 12 {
                ymd(y + 1, 1, 1)?
            } else {
                ymd(y, m + 1, 1)?
            };
            Some((day(first), day(next)))
        }
        10 => {
            let d = NaiveDate::parse_from_str(value, "%Y-%m-%d").ok()?;
            (d.year() >= 1900).then_some(())?;
            Some((day(d), day(d.succ_opt()?)))
        }
        _ => {
            // A time: an instant of its own (to the microsecond, as we store them).
            let t = Timestamp::parse(value).ok()?;
            let next = t.naive() + chrono::Duration::microseconds(1);
            Some((t, Timestamp::from_db(next)))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ts(s: &str) -> Timestamp {
        Timestamp::parse(s).unwrap()
    }

    #[test]
    fn date_prefixes_name_the_sides_of_the_interval_of_their_precision() {
        let b = parse_date("2026-03").unwrap();
        assert_eq!(b.from, Some(ts("2026-03-01T00:00:00Z")));
        assert_eq!(b.to, Some(ts("2026-04-01T00:00:00Z")));
        let b = parse_date("gt2026-12-31").unwrap();
        assert_eq!((b.from, b.to), (Some(ts("2027-01-01T00:00:00Z")), None));
        let b = parse_date("le2026").unwrap();
        assert_eq!((b.from, b.to), (None, Some(ts("2027-01-01T00:00:00Z"))));
        let b = parse_date("lt2026-05-04T10:00:00+02:00").unwrap();
        assert_eq!((b.from, b.to), (None, Some(ts("2026-05-04T08:00:00Z"))));
        assert!(parse_date("ne2026").is_err());
        assert!(parse_date("2026-13").is_err());
        assert!(parse_date("2026-02-30").is_err());
        assert!(parse_date("2026-05-04T10:00").is_err());
        assert!(parse_date("yesterday").is_err());
    }

    #[test]
    fn repeated_date_values_intersect() {
        let s = Search::parse(
            Some("date=ge2026-01-01&date=lt2026-02-01"),
            &[Param {
                name: "date",
                kind: "date",
                doc: "",
            }],
        )
        .unwrap();
        let b = s.dates("date").unwrap();
        assert!(b.holds(ts("2026-01-31T23:59:59Z")));
        assert!(!b.holds(ts("2026-02-01T00:00:00Z")));
        assert!(!b.holds(ts("2025-12-31T23:59:59Z")));
    }

    #[test]
    fn unknown_parameters_and_modifiers_are_refused() {
        let params = [Param {
            name: "name",
            kind: "string",
            doc: "",
        }];
        assert!(Search::parse(Some("nmae=x"), &params).is_err());
        assert!(Search::parse(Some("name:exact=x"), &params).is_err());
        assert!(Search::parse(Some("name=x&_count=10"), &params).is_ok());
        assert!(Search::parse(Some("_count=-1"), &params).is_err());
        assert!(Search::parse(Some("_format=xml"), &params).is_err());
    }
}
