//! The `Bundle` of a search (`searchset`): the page's resources, the total, and the links to
//! this page and the next.

use axum::extract::FromRequestParts;
use axum::http::header;
use axum::http::request::Parts;
use serde_json::{json, Value};

use super::search::Search;
use super::BASE_PATH;

/// The facade's absolute base URL as the caller reached it (`http://host:port/fhir/R4`), for
/// `fullUrl` and links: from `Host`, and `X-Forwarded-Proto` behind a TLS proxy.
#[derive(Clone, Debug)]
pub struct Base(pub String);

impl<S: Send + Sync> FromRequestParts<S> for Base {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        let header = |name: &str| {
            parts
                .headers
                .get(name)
                .and_then(|v| v.to_str().ok())
                .map(str::to_string)
        };
        let host = header(header::HOST.as_str()).unwrap_or_else(|| "localhost".into());
        let scheme = match header("x-forwarded-proto").as_deref() {
            Some("https") => "https",
            _ => "http",
        };
        Ok(Base(format!("{scheme}://{host}{BASE_PATH}")))
    }
}

pub struct Bundle;

impl Bundle {
    /// A search's page of `kind` resources (`entries` already mapped), with `total` matches in
    /// all and the cursor of the next page, if any.
    pub fn searchset(
        base: &Base,
        kind: &str,
        search: &Search,
        total: i64,
        entries: Vec<Value>,
        next_cursor: Option<String>,
    ) -> Value {
        let query = search.query_without_cursor();
        let url = |extra: Option<&str>| {
            let mut q = query.clone();
            if let Some(c) = extra {
                let pair = form_urlencoded::Serializer::new(String::new())
                    .append_pair("_cursor", c)
                    .finish();
                if !q.is_empty() {
                    q.push('&');
                }
                q.push_str(&pair);
            }
            if q.is_empty() {
                format!("{}/{kind}", base.0)
            } else {
                format!("{}/{kind}?{q}", base.0)
            }
        };
        let mut links = vec![json!({ "relation": "self", "url": url(None) })];
        if let Some(c) = next_cursor.filter(|_| search.count > 0) {
            links.push(json!({ "relation": "next", "url": url(Some(&c)) }));
        }
        let entries: Vec<Value> = if search.count == 0 {
            Vec::new()
        } else {
            entries
                .into_iter()
                .map(|r| entry(base, r, "match"))
                .collect()
        };
        let mut bundle = json!({
            "resourceType": "Bundle",
            "type": "searchset",
            "total": total,
            "link": links,
        });
        // FHIR JSON has no empty arrays: an empty page has no `entry` at all.
        if !entries.is_empty() {
            bundle["entry"] = entries.into();
        }
        bundle
    }
}

/// A bundle entry for `resource`, with its absolute `fullUrl`.
pub fn entry(base: &Base, resource: Value, mode: &str) -> Value {
    let full_url = format!(
        "{}/{}/{}",
        base.0,
        resource["resourceType"].as_str().unwrap_or_default(),
        resource["id"].as_str().unwrap_or_default()
    );
    json!({ "fullUrl": full_url, "resource": resource, "search": { "mode": mode } })
}
