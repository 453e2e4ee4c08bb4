//! A FHIR R4 facade over the domains: read and search, as FHIR JSON, under `/fhir/R4`.
//!
//! It is a second *shape* of the same data, not a second access path: every handler is a route
//! stated with `kit::route` like the JSON API's (the same permission, the same `Ctx`), and
//! calls the domains' own read and list functions, so the patient compartment, the care team,
//! consent and the audit trail apply exactly as they do there. What this layer adds is the
//! mapping to FHIR resources (one file per resource type), the search parameters, the
//! `Bundle` of a search, and `OperationOutcome` for every error (`outcome`).
//!
//! Which resources and parameters are supported, and how our objects map, is in
//! docs/guide/fhir.md; `capability` states the same to FHIR clients, from the same table.

mod audit_event;
mod billing;
mod bundle;
mod capability;
mod communication;
mod condition;
mod consent;
mod diagnostics;
mod everything;
pub mod import;
mod medication;
mod observation;
mod outcome;
mod patient;
mod scheduling;
mod search;

use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::Value;
use utoipa_axum::router::OpenApiRouter;

use crate::audit::Resource;
use crate::db::DbConn;
use crate::http::{ApiError, ListResponse, Page};
use crate::kit::{Actor, AppState, Audited, Ctx, Perm};

pub use bundle::{Base, Bundle};
pub use search::Search;

/// Where the facade is mounted.
pub const BASE_PATH: &str = "/fhir/R4";
/// The media type of every answer.
pub const FHIR_JSON: &str = "application/fhir+json; charset=utf-8";
/// The systems of our own identifiers.
pub const MRN_SYSTEM: &str = "https://healthapi.dev/fhir/identifier/mrn";
pub const LICENSE_SYSTEM: &str = "https://healthapi.dev/fhir/identifier/license";
/// The code systems of what we hold coded.
pub const LOINC: &str = "http://loinc.org";

/// The facade's routes (without the mount point): the resource types' reads and searches,
/// `metadata`, and an `OperationOutcome` for any other path under it.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .merge(capability::router())
        .merge(patient::router())
        .merge(scheduling::router())
        .merge(observation::router())
        .merge(diagnostics::router())
        .merge(medication::router())
        .merge(billing::router())
        .merge(everything::router())
        .merge(audit_event::router())
        .merge(consent::router())
        .merge(communication::router())
        .merge(condition::router())
}

/// Mounts the facade at `BASE_PATH`: its routes with their OpenAPI statements (for the route
/// table, not the public document: FHIR clients read `metadata`), every error as an
/// `OperationOutcome`.
pub fn mounted() -> (axum::Router<AppState>, utoipa::openapi::OpenApi) {
    let (router, api) = OpenApiRouter::new()
        .nest(BASE_PATH, router())
        .split_for_parts();
    let router = router
        .route(
            &format!("{BASE_PATH}/{{*rest}}"),
            axum::routing::any(outcome::unknown_path),
        )
        .layer(axum::middleware::from_fn(outcome::problems_as_outcomes));
    (router, api)
}

/// A FHIR resource or bundle as the answer, with its status and headers.
pub struct Fhir {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Value,
}

impl Fhir {
    pub fn ok(body: Value) -> Fhir {
        Fhir {
            status: StatusCode::OK,
            headers: HeaderMap::new(),
            body,
        }
    }

    /// A single resource, with its version as the `ETag` (`W/"3"`, as FHIR spells it) and its
    /// last change as `Last-Modified`.
    pub fn resource(body: Value) -> Fhir {
        let mut out = Fhir::ok(body);
        if let Some(v) = out.body["meta"]["versionId"].as_str() {
            if let Ok(tag) = HeaderValue::from_str(&format!("W/\"{v}\"")) {
                out.headers.insert(header::ETAG, tag);
            }
        }
        if let Some(t) = out.body["meta"]["lastUpdated"]
            .as_str()
            .and_then(|t| chrono::DateTime::parse_from_rfc3339(t).ok())
        {
            let http_date = t
                .with_timezone(&chrono::Utc)
                .format("%a, %d %b %Y %H:%M:%S GMT")
                .to_string();
            if let Ok(v) = HeaderValue::from_str(&http_date) {
                out.headers.insert(header::LAST_MODIFIED, v);
            }
        }
        out
    }
}

impl IntoResponse for Fhir {
    fn into_response(self) -> Response {
        let mut res = (self.status, self.headers, self.body.to_string()).into_response();
        res.headers_mut()
            .insert(header::CONTENT_TYPE, HeaderValue::from_static(FHIR_JSON));
        res
    }
}

/// The caller's role holds `perm`, else 403, audited as a refused read of `resource`: for the
/// types made of tables with permissions of their own (Observation, ServiceRequest).
pub fn require(ctx: &Ctx, perm: Perm, resource: Resource) -> Result<(), ApiError> {
    if ctx.actor().holds(perm) {
        return Ok(());
    }
    Err(ctx
        .deny(
            crate::kit::Error::forbidden("your role may not read these resources"),
            crate::audit::Action::Read,
            resource,
            None,
            None,
        )
        .into())
}

/// `meta` of a resource: its version and when it last changed.
pub fn meta(version: i32, updated: crate::kit::Timestamp) -> Value {
    serde_json::json!({ "versionId": version.to_string(), "lastUpdated": updated })
}

/// A reference to one of our resources: `{"reference": "Patient/<id>"}`.
pub fn reference(kind: &str, id: &str) -> Value {
    serde_json::json!({ "reference": format!("{kind}/{id}") })
}

/// A `CodeableConcept` of one coding, with its text.
pub fn concept(system: &str, code: &str, display: &str) -> Value {
    let mut coding = serde_json::json!({ "system": system, "code": code });
    if !display.is_empty() {
        coding["display"] = display.into();
    }
    serde_json::json!({ "coding": [coding], "text": if display.is_empty() { code } else { display } })
}

/// A `CodeableConcept` with only text (what we hold is free text, not a code).
pub fn text_concept(text: &str) -> Value {
    serde_json::json!({ "text": text })
}

/// Drops the members whose value is `null` (FHIR forbids nulls) from an object, at its top
/// level: mappings write optional fields as `Option`s and let this remove the absent ones.
pub fn without_nulls(mut v: Value) -> Value {
    if let Some(o) = v.as_object_mut() {
        o.retain(|_, x| !x.is_null());
    }
    v
}

/// Where a type's search reads its matches: the domain's count and list functions under the
/// caller's scope, the list's rows mapped to resources. A FHIR type made from two of our tables
/// (Observation: lab results and device readings) has a source for each.
pub struct Source {
    count: Box<CountFn>,
    list: Box<ListFn>,
}

/// A domain's list function: a page of what matches a filter, to be revealed.
type DomainList<F, T> =
    fn(&mut DbConn, &Actor, F, &Page) -> crate::kit::Result<Audited<ListResponse<T>>>;

type CountFn = dyn FnOnce(&mut DbConn, &Actor) -> crate::kit::Result<i64> + Send;
type ListFn = dyn FnOnce(&mut DbConn, &Actor, &Page) -> crate::kit::Result<Listed> + Send;

/// A source's page: the mapped resources (to be revealed), how many, and the domain's cursor
/// after them (neither of which is patient data).
struct Listed {
    rows: Audited<Vec<Value>>,
    len: usize,
    next: Option<String>,
}

impl Source {
    /// A source whose rows map to resources one by one.
    pub fn new<T, C, L>(count: C, list: L, map: fn(&T) -> Value) -> Source
    where
        T: utoipa::ToSchema + 'static,
        C: FnOnce(&mut DbConn, &Actor) -> crate::kit::Result<i64> + Send + 'static,
        L: FnOnce(&mut DbConn, &Actor, &Page) -> crate::kit::Result<Audited<ListResponse<T>>>
            + Send
            + 'static,
    {
        Source::joined(count, list, move |_, items: &[T]| {
            Ok(items.iter().map(map).collect())
        })
    }

    /// The usual source: a domain's count and list functions, called with the same filter.
    pub fn of<F, T>(
        filter: F,
        count: fn(&mut DbConn, &Actor, &F) -> crate::kit::Result<i64>,
        list: DomainList<F, T>,
        map: fn(&T) -> Value,
    ) -> Source
    where
        F: Clone + Send + 'static,
        T: utoipa::ToSchema + 'static,
    {
        let counted = filter.clone();
        Source::new(
            move |conn, actor| count(conn, actor, &counted),
            move |conn, actor, page| list(conn, actor, filter, page),
            map,
        )
    }

    /// A source whose page of rows maps to resources with what else it reads of them
    /// (a report's results).
    pub fn joined<T, C, L, J>(count: C, list: L, join: J) -> Source
    where
        T: utoipa::ToSchema + 'static,
        C: FnOnce(&mut DbConn, &Actor) -> crate::kit::Result<i64> + Send + 'static,
        L: FnOnce(&mut DbConn, &Actor, &Page) -> crate::kit::Result<Audited<ListResponse<T>>>
            + Send
            + 'static,
        J: FnOnce(&mut DbConn, &[T]) -> crate::kit::Result<Vec<Value>> + Send + 'static,
    {
        Source {
            count: Box::new(count),
            list: Box::new(move |conn, actor, page| {
                let found = list(conn, actor, page)?;
                let (mut len, mut next, mut failed) = (0, None, None);
                let rows = found.map(|l| {
                    len = l.items.len();
                    next = l.next_cursor;
                    join(conn, &l.items).unwrap_or_else(|e| {
                        failed = Some(e);
                        Vec::new()
                    })
                });
                if let Some(e) = failed {
                    return Err(e);
                }
                let next = next
                    .map(|c| {
                        crate::http::decode_cursor(&c).map_err(|_| {
                            crate::kit::Error::internal("a list gave a cursor it cannot read")
                        })
                    })
                    .transpose()?;
                Ok(Listed { rows, len, next })
            }),
        }
    }
}

/// A type's search: the total over its sources and a page of the matches, read together under
/// the caller's scope by the domains' own functions; the page revealed (audited as the JSON
/// API's lists are) and mapped into a `searchset`. Sources are read one after the other: a
/// page that ends one fills up from the next. The cursor is `<source>:<its own cursor>`.
pub async fn search_page(
    ctx: &Ctx,
    base: &Base,
    kind: &str,
    search: &Search,
    sources: Vec<Source>,
) -> Result<Fhir, ApiError> {
    let bad_cursor = || ApiError::field("_cursor", "is not a cursor this server issued");
    let page = search.page()?;
    let n = sources.len();
    let (first, mut after) = match &page.after {
        None => (0, None),
        Some(c) => {
            let (i, inner) = c.split_once(':').ok_or_else(bad_cursor)?;
            match i.parse::<usize>() {
                Ok(i) if i < n => (i, (!inner.is_empty()).then(|| inner.to_string())),
                _ => return Err(bad_cursor()),
            }
        }
    };
    let (total, rows, next) = ctx
        .read(move |conn, actor| {
            let mut total = 0;
            let mut pages = Vec::new();
            let mut next = None;
            let mut room = page.limit;
            for (i, source) in sources.into_iter().enumerate() {
                total += (source.count)(conn, actor)?;
                // `_count=0` still reads a page (of one, never shown): the total alone says
                // something of the patients it counts, so the search is audited like any.
                if i < first || room == 0 {
                    continue;
                }
                let inner = Page {
                    limit: room,
                    after: after.take(),
                };
                let listed = (source.list)(conn, actor, &inner)?;
                room -= listed.len as i64;
                next = match listed.next {
                    Some(c) => Some(format!("{i}:{c}")),
                    // This source is done and the page full: the next page starts with the
                    // next source, if there is one.
                    None if room == 0 && i + 1 < n => Some(format!("{}:", i + 1)),
                    None => None,
                };
                pages.push(listed.rows);
            }
            Ok((total, Audited::all(pages), next))
        })
        .await?;
    let entries = ctx.reveal(rows).await?.into_iter().flatten().collect();
    let next = next.map(|c| crate::http::encode_cursor(&c));
    Ok(Fhir::ok(Bundle::searchset(
        base, kind, search, total, entries, next,
    )))
}

/// A search by `_id`: the resource's read (audited as a read), as a `searchset` of it, or of
/// nothing when it does not exist or is out of reach.
pub async fn search_by_id<T, F>(
    ctx: &Ctx,
    base: &Base,
    kind: &str,
    search: &Search,
    read: F,
    map: impl Fn(&T) -> Value,
) -> Result<Fhir, ApiError>
where
    T: Send + 'static,
    F: FnOnce(&mut DbConn, &Actor) -> crate::kit::Result<Audited<T>> + Send + 'static,
{
    let entries = match ctx.read(read).await {
        Ok(found) => vec![map(&ctx.reveal(found).await?)],
        Err(crate::kit::Error::NotFound) => Vec::new(),
        Err(e) => return Err(e.into()),
    };
    let total = entries.len() as i64;
    Ok(Fhir::ok(Bundle::searchset(
        base, kind, search, total, entries, None,
    )))
}
