//! The audit trail's read side. There is no route that changes or deletes an entry.

use axum::extract::{Path, State};
use diesel::prelude::*;
use serde::Deserialize;
use utoipa::IntoParams;
use utoipa_axum::{router::OpenApiRouter, routes};

use crate::app::AppState;
use crate::audit::AuditLog;
use crate::auth::permissions::Perm;
use crate::auth::Ctx;
use crate::db::schema::{audit_head, audit_logs, audit_patient_index, patients};
use crate::http::{parse_time, ApiError, AppQuery, ListResponse, PageParams};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_audit_logs))
        .routes(routes!(patient_access_log))
}

#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct AuditFilter {
    pub user_id: Option<String>,
    pub patient_id: Option<String>,
    pub resource_type: Option<String>,
    pub action: Option<String>,
    pub outcome: Option<String>,
    /// RFC 3339; entries at or after.
    pub from: Option<String>,
    /// RFC 3339; entries before.
    pub to: Option<String>,
}

/// Seals what is pending, then pages through the chain newest first.
async fn query(
    state: &AppState,
    f: AuditFilter,
    page: PageParams,
) -> Result<ListResponse<AuditLog>, ApiError> {
    let page = page.page()?;
    let from = f
        .from
        .as_deref()
        .map(|v| parse_time("from", v))
        .transpose()?;
    let to = f.to.as_deref().map(|v| parse_time("to", v)).transpose()?;
    let after: Option<i64> = match page.after {
        Some(a) => Some(
            a.parse()
                .map_err(|_| ApiError::field("cursor", "is not a cursor this server issued"))?,
        ),
        None => None,
    };
    // Readers see their own request's entries: seal what is waiting first.
    state.audit.flush().await.map_err(ApiError::internal)?;
    let rows = state
        .db
        .read(move |conn| {
            // Every filter but the patient's, newest first, one more than a page.
            let filtered = || {
                let mut q = audit_logs::table
                    .select(AuditLog::as_select())
                    .order(audit_logs::seq.desc())
                    .limit(page.limit + 1)
                    .into_boxed();
                if let Some(a) = after {
                    q = q.filter(audit_logs::seq.lt(a));
                }
                if let Some(v) = &f.user_id {
                    q = q.filter(audit_logs::user_id.eq(v.clone()));
                }
                if let Some(v) = &f.resource_type {
                    q = q.filter(audit_logs::resource_type.eq(v.clone()));
                }
                if let Some(v) = &f.action {
                    q = q.filter(audit_logs::action.eq(v.clone()));
                }
                if let Some(v) = &f.outcome {
                    q = q.filter(audit_logs::outcome.eq(v.clone()));
                }
                if let Some(v) = from {
                    q = q.filter(audit_logs::occurred_at.ge(v));
                }
                if let Some(v) = to {
                    q = q.filter(audit_logs::occurred_at.lt(v));
                }
                q
            };
            let Some(patient) = &f.patient_id else {
                return Ok(filtered().load(conn)?);
            };
            // By patient: the entries sealed since the indexer's mark (`indexed_seq`) are
            // not in audit_patient_index yet and come from audit_logs' tail; older ones
            // through the index. Every tail entry is newer than every indexed one, so the two
            // lists, newest first, follow each other. (The indexer may move on between the
            // statements: bounding both sides by the `indexed_seq` read first keeps an entry
            // from showing twice.)
            let indexed: i64 = audit_head::table
                .find(1)
                .select(audit_head::indexed_seq)
                .first(conn)?;
            let mut rows: Vec<AuditLog> = filtered()
                .filter(audit_logs::seq.gt(indexed))
                .filter(audit_logs::patient_id.eq(patient.clone()))
                .load(conn)?;
            if (rows.len() as i64) <= page.limit {
                // The entry's own patient is checked too: an index row is only a pointer.
                let older: Vec<AuditLog> = filtered()
                    .filter(audit_logs::patient_id.eq(patient.clone()))
                    .filter(
                        audit_logs::seq.eq_any(
                            audit_patient_index::table
                                .filter(audit_patient_index::patient_id.eq(patient.clone()))
                                // Not past the page's cursor either: a patient's later
                                // entries need not be read to page through older ones.
                                .filter(
                                    audit_patient_index::seq
                                        .le(after.map_or(indexed, |a| indexed.min(a - 1))),
                                )
                                .select(audit_patient_index::seq),
                        ),
                    )
                    .load(conn)?;
                rows.extend(older);
                rows.truncate(page.limit as usize + 1);
            }
            Ok(rows)
        })
        .await?;
    Ok(ListResponse::from_rows(rows, page.limit, |e| {
        e.seq.to_string()
    }))
}

/// The audit trail (admin, auditor), newest first.
#[utoipa::path(get, path = "/audit-logs", tag = "audit", params(AuditFilter, PageParams),
    responses((status = 200, body = ListResponse<AuditLog>), (status = 403, body = crate::http::Problem)))]
async fn list_audit_logs(
    State(state): State<AppState>,
    ctx: Ctx,
    AppQuery(f): AppQuery<AuditFilter>,
    AppQuery(page): AppQuery<PageParams>,
) -> Result<ListResponse<AuditLog>, ApiError> {
    ctx.require(Perm::AuditRead, "search", "audit_log")?;
    ctx.audit
        .record_async(ctx.entry("search", "audit_log", None, f.patient_id.as_deref()));
    query(&state, f, page).await
}

#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct AccessLogFilter {
    pub from: Option<String>,
    pub to: Option<String>,
}

/// Who touched this patient's data: for the patient themself, admin and auditor.
#[utoipa::path(get, path = "/patients/{id}/access-log", tag = "audit",
    params(("id" = String, Path), AccessLogFilter, PageParams),
    responses((status = 200, body = ListResponse<AuditLog>), (status = 403, body = crate::http::Problem),
        (status = 404, body = crate::http::Problem)))]
async fn patient_access_log(
    State(state): State<AppState>,
    ctx: Ctx,
    Path(id): Path<String>,
    AppQuery(f): AppQuery<AccessLogFilter>,
    AppQuery(page): AppQuery<PageParams>,
) -> Result<ListResponse<AuditLog>, ApiError> {
    let own = ctx.principal.patient_id.as_deref() == Some(id.as_str());
    if !own && !ctx.principal.perms.has(Perm::AuditRead) {
        // A patient asking about someone else must not learn that they exist.
        if ctx.principal.patient_id.is_some() {
            return Err(ctx.not_found("search", "audit_log", &id, Some(&id)));
        }
        return Err(ctx.denied(
            ApiError::forbidden(),
            "search",
            "audit_log",
            None,
            Some(&id),
        ));
    }
    let pid = id.clone();
    let exists: i64 = state
        .db
        .read(move |conn| Ok(patients::table.find(pid).count().get_result(conn)?))
        .await?;
    if exists == 0 {
        return Err(ApiError::not_found());
    }
    ctx.audit
        .record_async(ctx.entry("search", "audit_log", None, Some(&id)));
    query(
        &state,
        AuditFilter {
            patient_id: Some(id),
            from: f.from,
            to: f.to,
            ..Default::default()
        },
        page,
    )
    .await
}
