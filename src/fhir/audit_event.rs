//! AuditEvent: the sealed entries of our audit trail, for those who read it (`audit:read`).

use axum::extract::RawQuery;
use serde_json::{json, Value};
use utoipa_axum::{router::OpenApiRouter, routes};

use super::capability::TypeDef;
use super::search::{Param, Search};
use super::{reference, search_by_id, search_page, without_nulls, Base, Fhir, Source};
use crate::audit::AuditLog;
use crate::domains::accounts::{self, AuditFilter, AUDIT_LOG};
use crate::http::ApiError;
use crate::kit::{route, Access, AppState, Ctx, Error, Perm};

/// Our audit actions, as a code system of their own (`subtype`).
pub const ACTION_SYSTEM: &str = "https://healthapi.dev/fhir/CodeSystem/audit-action";
/// Our resource names (`entity.what.identifier.system` is this and the name).
pub const RESOURCE_SYSTEM: &str = "https://healthapi.dev/fhir/audit-resource/";

pub const AUDIT_EVENT_TYPE: TypeDef = TypeDef {
    kind: "AuditEvent",
    doc: "An entry of the tamper-evident audit trail (/api/v1/audit-logs), newest first: who (the user id and role, the client address), did what (our action as the subtype, C/R/U/D/E as the action), to which object (our resource name and id) of which patient, with what outcome (0 success, 4 denied, 8 error), when. Its id is the entry's sequence number. Reading the trail is itself audited.",
    params: &[
        Param {
            name: "_id",
            kind: "token",
            doc: "The entry's sequence number (alone: a read)",
        },
        Param {
            name: "patient",
            kind: "reference",
            doc: "The patient the entry names (Patient/<id> or <id>)",
        },
        Param {
            name: "agent",
            kind: "reference",
            doc: "The user who acted (their user id)",
        },
        Param {
            name: "subtype",
            kind: "token",
            doc: "Our action: create, read, search, update, state_change, delete, login, break_glass, ...",
        },
        Param {
            name: "date",
            kind: "date",
            doc: "When it happened, with prefixes eq, lt, le, gt, ge, sa, eb",
        },
    ],
    operations: &[],
};

pub fn router() -> OpenApiRouter<AppState> {
    let read = Access::Perm(Perm::AuditRead);
    OpenApiRouter::new()
        .routes(route(read, AUDIT_LOG, routes!(read_audit_event)))
        .routes(route(read, AUDIT_LOG, routes!(search_audit_events)))
}

pub fn audit_event(e: &AuditLog) -> Value {
    let action = match e.action.as_str() {
        "create" | "register" => "C",
        "read" | "search" => "R",
        "update" | "state_change" | "password_change" => "U",
        "delete" => "D",
        _ => "E",
    };
    let outcome = match e.outcome.as_str() {
        "success" => "0",
        "denied" => "4",
        _ => "8",
    };
    let who = match &e.user_id {
        Some(u) => {
            json!({ "identifier": { "system": "https://healthapi.dev/fhir/identifier/user", "value": u } })
        }
        None => json!({ "display": e.role.as_deref().unwrap_or("anonymous") }),
    };
    let agent = without_nulls(json!({
        "who": who,
        "role": e.role.as_deref().map(|r| json!([super::text_concept(r)])),
        "requestor": true,
        "network": e.client_addr.as_deref().filter(|a| !a.is_empty()).map(|a| json!({ "address": a, "type": "2" })),
    }));
    let mut entities = vec![without_nulls(json!({
        "what": without_nulls(json!({
            "identifier": e.resource_id.as_deref().map(|id| json!({
                "system": format!("{RESOURCE_SYSTEM}{}", e.resource_type),
                "value": id,
            })),
            "display": e.resource_type,
        })),
    }))];
    if let Some(p) = &e.patient_id {
        entities.push(json!({
            "what": reference("Patient", p),
            "role": {
                "system": "http://terminology.hl7.org/CodeSystem/object-role",
                "code": "1",
                "display": "Patient",
            },
        }));
    }
    json!({
        "resourceType": "AuditEvent",
        "id": e.seq.to_string(),
        "type": {
            "system": "http://terminology.hl7.org/CodeSystem/audit-event-type",
            "code": "rest",
            "display": "RESTful Operation",
        },
        "subtype": [{ "system": ACTION_SYSTEM, "code": e.action }],
        "action": action,
        "recorded": e.occurred_at.and_utc(),
        "outcome": outcome,
        "agent": [agent],
        "source": { "observer": { "display": "healthapi" } },
        "entity": entities,
    })
}

/// Read an AuditEvent
#[utoipa::path(get, path = "/AuditEvent/{id}", tag = "fhir", params(("id" = String, Path)),
    responses((status = 200, description = "An AuditEvent", content_type = "application/fhir+json")))]
async fn read_audit_event(
    ctx: Ctx,
    axum::extract::Path(id): axum::extract::Path<String>,
) -> Result<Fhir, ApiError> {
    let seq: i64 = id.parse().map_err(|_| Error::NotFound)?;
    let found = ctx
        .read(move |conn, actor| accounts::audit_entry(conn, actor, seq))
        .await?;
    Ok(Fhir::ok(audit_event(&ctx.reveal(found).await?)))
}

/// Search AuditEvents
#[utoipa::path(get, path = "/AuditEvent", tag = "fhir",
    responses((status = 200, description = "A searchset Bundle of AuditEvents", content_type = "application/fhir+json")))]
async fn search_audit_events(
    ctx: Ctx,
    base: Base,
    RawQuery(query): RawQuery,
) -> Result<Fhir, ApiError> {
    let search = Search::parse(query.as_deref(), AUDIT_EVENT_TYPE.params)?;
    // What was written until now is in the page: the pending entries are sealed first, as the
    // JSON API's trail does.
    ctx.state()
        .audit
        .flush()
        .await
        .map_err(ApiError::internal)?;
    if let Some(v) = search.one("_id")? {
        let Ok(seq) = v.parse::<i64>() else {
            return Err(ApiError::field("_id", "is a sequence number"));
        };
        return search_by_id(
            &ctx,
            &base,
            "AuditEvent",
            &search,
            move |conn, actor| accounts::audit_entry(conn, actor, seq),
            audit_event,
        )
        .await;
    }
    let dates = search.dates("date")?;
    let filter = AuditFilter {
        patient_id: search.reference("patient", "Patient")?,
        user_id: search
            .one("agent")?
            .map(|a| a.trim_start_matches("User/").to_string()),
        action: search.token("subtype", Some(ACTION_SYSTEM))?,
        from: dates.from,
        to: dates.to,
        ..Default::default()
    };
    let counted = filter.clone();
    search_page(
        &ctx,
        &base,
        "AuditEvent",
        &search,
        vec![Source::new(
            move |conn, _| accounts::count_audit(conn, &counted),
            move |conn, _, page| accounts::audit_page(conn, filter, page),
            audit_event,
        )],
    )
    .await
}
