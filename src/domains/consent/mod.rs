//! Consent: forms, the append-only history of given/revoked, the current status per kind, and
//! `require_consent`, the one check every domain that needs consent calls.

use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use diesel::prelude::*;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::{router::OpenApiRouter, routes};

use crate::app::AppState;
use crate::auth::access::{on_care_team, Reach};
use crate::auth::permissions::Perm;
use crate::auth::Ctx;
use crate::db::schema::{consent_forms, consent_history, patients};
use crate::db::{new_id, now, DbConn, Tx};
use crate::http::{
    check_version, if_match, utc, ApiError, AppJson, AppQuery, Created, ListResponse, PageParams,
    Tagged, Validator,
};

pub const KINDS: &[&str] = &[
    "treatment",
    "telemedicine",
    "remote_monitoring",
    "data_sharing",
    "research",
];
pub const GIVEN: &str = "given";
pub const REVOKED: &str = "revoked";

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(create_form, list_forms))
        .routes(routes!(get_form, patch_form))
        .routes(routes!(record_consent, list_consents))
        .routes(routes!(consent_status))
        .routes(routes!(consent_check))
}

/// The latest event of `user_id` for any form of `kind`: (form id, action, when).
pub fn current(
    conn: &mut DbConn,
    user_id: &str,
    kind: &str,
) -> QueryResult<Option<(String, String, chrono::NaiveDateTime)>> {
    consent_history::table
        .inner_join(consent_forms::table)
        .filter(consent_history::user_id.eq(user_id))
        .filter(consent_forms::kind.eq(kind))
        .order((
            consent_history::recorded_at.desc(),
            consent_history::id.desc(),
        ))
        .select((
            consent_history::consent_form_id,
            consent_history::action,
            consent_history::recorded_at,
        ))
        .first(conn)
        .optional()
}

pub fn consent_required(kind: &str) -> ApiError {
    ApiError::new(
        StatusCode::CONFLICT,
        "consent-required",
        format!("the patient has not given {kind} consent"),
    )
}

/// The enforcement point: `Ok` only if the patient's account has a current `given` consent of
/// this kind. Read on every call (no cache), so a revocation takes effect on the next request.
/// A patient without an account cannot have consented.
pub fn require_consent(conn: &mut DbConn, patient_id: &str, kind: &str) -> Result<(), ApiError> {
    let user: Option<Option<String>> = patients::table
        .find(patient_id)
        .select(patients::user_id)
        .first(conn)
        .optional()?;
    let Some(Some(user_id)) = user else {
        return Err(consent_required(kind));
    };
    match current(conn, &user_id, kind)? {
        Some((_, action, _)) if action == GIVEN => Ok(()),
        _ => Err(consent_required(kind)),
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema, Queryable, Selectable)]
#[diesel(table_name = consent_forms)]
pub struct ConsentForm {
    pub id: String,
    /// `treatment`, `telemedicine`, `remote_monitoring`, `data_sharing`, `research`.
    pub kind: String,
    pub title: String,
    pub body: String,
    pub version: i32,
    pub active: bool,
    #[serde(with = "crate::http::utc_naive")]
    #[schema(value_type = String, format = DateTime)]
    pub created_at: chrono::NaiveDateTime,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateForm {
    pub kind: String,
    pub title: String,
    pub body: String,
    /// Defaults to true.
    pub active: Option<bool>,
}

/// Publish a consent form (admin). Its `version` counts forms of the same kind.
#[utoipa::path(post, path = "/consent-forms", tag = "consent", request_body = CreateForm,
    responses((status = 201, body = ConsentForm), (status = 403, body = crate::http::Problem),
        (status = 422, body = crate::http::Problem)))]
async fn create_form(
    State(state): State<AppState>,
    ctx: Ctx,
    AppJson(body): AppJson<CreateForm>,
) -> Result<Created<ConsentForm>, ApiError> {
    ctx.require(Perm::ConsentFormsWrite, "create", "consent_form")?;
    let mut v = Validator::new();
    v.one_of("kind", &body.kind, KINDS);
    v.text("title", &body.title, 1, 200);
    v.text("body", &body.body, 1, 20_000);
    v.finish()?;
    let form = state
        .db
        .write(move |tx| {
            let n: i64 = consent_forms::table
                .filter(consent_forms::kind.eq(&body.kind))
                .count()
                .get_result(tx.conn)?;
            let form = ConsentForm {
                id: new_id(),
                kind: body.kind,
                title: body.title.trim().to_string(),
                body: body.body,
                version: n as i32 + 1,
                active: body.active.unwrap_or(true),
                created_at: now(),
            };
            diesel::insert_into(consent_forms::table)
                .values((
                    consent_forms::id.eq(&form.id),
                    consent_forms::kind.eq(&form.kind),
                    consent_forms::title.eq(&form.title),
                    consent_forms::body.eq(&form.body),
                    consent_forms::version.eq(form.version),
                    consent_forms::active.eq(form.active),
                    consent_forms::created_at.eq(form.created_at),
                ))
                .execute(tx.conn)?;
            crate::audit::record(
                tx.conn,
                &ctx.entry("create", "consent_form", Some(&form.id), None),
            )?;
            Ok(form)
        })
        .await?;
    Ok(Created {
        location: format!("/api/v1/consent-forms/{}", form.id),
        version: Some(form.version),
        body: form,
    })
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct FormFilter {
    pub kind: Option<String>,
    pub active: Option<bool>,
}

#[utoipa::path(get, path = "/consent-forms", tag = "consent", params(FormFilter, PageParams),
    responses((status = 200, body = ListResponse<ConsentForm>)))]
async fn list_forms(
    State(state): State<AppState>,
    _ctx: Ctx,
    AppQuery(f): AppQuery<FormFilter>,
    AppQuery(page): AppQuery<PageParams>,
) -> Result<ListResponse<ConsentForm>, ApiError> {
    let page = page.page()?;
    let rows = state
        .db
        .read(move |conn| {
            let mut q = consent_forms::table
                .select(ConsentForm::as_select())
                .order(consent_forms::id)
                .limit(page.limit + 1)
                .into_boxed();
            if let Some(a) = page.after {
                q = q.filter(consent_forms::id.gt(a));
            }
            if let Some(k) = f.kind {
                q = q.filter(consent_forms::kind.eq(k));
            }
            if let Some(a) = f.active {
                q = q.filter(consent_forms::active.eq(a));
            }
            Ok(q.load(conn)?)
        })
        .await?;
    Ok(ListResponse::from_rows(rows, page.limit, |f| f.id.clone()))
}

fn load_form(conn: &mut DbConn, id: &str) -> QueryResult<Option<ConsentForm>> {
    consent_forms::table
        .find(id)
        .select(ConsentForm::as_select())
        .first(conn)
        .optional()
}

#[utoipa::path(get, path = "/consent-forms/{id}", tag = "consent", params(("id" = String, Path)),
    responses((status = 200, body = ConsentForm), (status = 404, body = crate::http::Problem)))]
async fn get_form(
    State(state): State<AppState>,
    _ctx: Ctx,
    Path(id): Path<String>,
) -> Result<Tagged<ConsentForm>, ApiError> {
    let f = state
        .db
        .read(move |conn| Ok(load_form(conn, &id)?))
        .await?
        .ok_or_else(ApiError::not_found)?;
    Ok(Tagged(f.version, f))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PatchForm {
    pub active: bool,
}

/// Retire or re-activate a form (admin). The text of a form never changes: publish a new one.
#[utoipa::path(patch, path = "/consent-forms/{id}", tag = "consent", params(("id" = String, Path)),
    request_body = PatchForm,
    responses((status = 200, body = ConsentForm), (status = 403, body = crate::http::Problem),
        (status = 404, body = crate::http::Problem), (status = 412, body = crate::http::Problem)))]
async fn patch_form(
    State(state): State<AppState>,
    ctx: Ctx,
    Path(id): Path<String>,
    headers: HeaderMap,
    AppJson(body): AppJson<PatchForm>,
) -> Result<Tagged<ConsentForm>, ApiError> {
    ctx.require(Perm::ConsentFormsWrite, "update", "consent_form")?;
    let expected = if_match(&headers)?;
    let form = state
        .db
        .write(move |tx| {
            crate::db::lock_row(tx.conn, "consent_forms", &id)?;
            let cur = load_form(tx.conn, &id)?.ok_or_else(ApiError::not_found)?;
            check_version(expected, cur.version)?;
            diesel::update(consent_forms::table.find(&id))
                .set(consent_forms::active.eq(body.active))
                .execute(tx.conn)?;
            crate::audit::record(
                tx.conn,
                &ctx.entry("update", "consent_form", Some(&id), None),
            )?;
            load_form(tx.conn, &id)?.ok_or_else(ApiError::not_found)
        })
        .await?;
    Ok(Tagged(form.version, form))
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema, Queryable, Selectable)]
#[diesel(table_name = consent_history)]
pub struct ConsentEvent {
    pub id: String,
    pub consent_form_id: String,
    pub user_id: String,
    /// `given` or `revoked`.
    pub action: String,
    #[serde(with = "crate::http::utc_naive")]
    #[schema(value_type = String, format = DateTime)]
    pub recorded_at: chrono::NaiveDateTime,
    pub client_addr: Option<String>,
}

/// Appends a consent event for the caller's own account, in the caller's transaction.
pub fn record(
    tx: &mut Tx,
    ctx: &Ctx,
    form_id: &str,
    action: &str,
) -> Result<ConsentEvent, ApiError> {
    let form = load_form(tx.conn, form_id)?
        .ok_or_else(|| ApiError::conflict("consent_form_id does not name an existing form"))?;
    if action == GIVEN && !form.active {
        return Err(ApiError::conflict(
            "this consent form is retired; give consent on its successor",
        ));
    }
    let ev = ConsentEvent {
        id: new_id(),
        consent_form_id: form.id,
        user_id: ctx.user_id().to_string(),
        action: action.to_string(),
        recorded_at: now(),
        client_addr: Some(ctx.client_addr.clone()).filter(|a| !a.is_empty()),
    };
    diesel::insert_into(consent_history::table)
        .values((
            consent_history::id.eq(&ev.id),
            consent_history::consent_form_id.eq(&ev.consent_form_id),
            consent_history::user_id.eq(&ev.user_id),
            consent_history::action.eq(&ev.action),
            consent_history::recorded_at.eq(ev.recorded_at),
            consent_history::client_addr.eq(&ev.client_addr),
        ))
        .execute(tx.conn)?;
    let action_name = if action == GIVEN {
        "consent_given"
    } else {
        "consent_revoked"
    };
    crate::audit::record(
        tx.conn,
        &ctx.entry(
            action_name,
            "consent",
            Some(&ev.id),
            ctx.principal.patient_id.as_deref(),
        ),
    )?;
    Ok(ev)
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RecordConsent {
    pub consent_form_id: String,
    /// `given` or `revoked`.
    pub action: String,
}

/// Give or revoke consent for oneself. Append-only: there is no PATCH or DELETE.
#[utoipa::path(post, path = "/consents", tag = "consent", request_body = RecordConsent,
    responses((status = 201, body = ConsentEvent), (status = 409, body = crate::http::Problem),
        (status = 422, body = crate::http::Problem)))]
async fn record_consent(
    State(state): State<AppState>,
    ctx: Ctx,
    AppJson(body): AppJson<RecordConsent>,
) -> Result<Created<ConsentEvent>, ApiError> {
    ctx.require(Perm::ConsentWrite, "create", "consent")?;
    let mut v = Validator::new();
    v.one_of("action", &body.action, &[GIVEN, REVOKED]);
    v.text("consent_form_id", &body.consent_form_id, 1, 64);
    v.finish()?;
    let actor = ctx.clone();
    let ev = state
        .db
        .write(move |tx| record(tx, &actor, &body.consent_form_id, &body.action))
        .await?;
    Ok(Created {
        location: format!("/api/v1/consents?user_id={}", ev.user_id),
        version: None,
        body: ev,
    })
}

/// The Patient record of a user account, if it has one.
fn patient_of_user(conn: &mut DbConn, user_id: &str) -> QueryResult<Option<String>> {
    patients::table
        .filter(patients::user_id.eq(user_id))
        .select(patients::id)
        .first(conn)
        .optional()
}

/// May the caller see this user's consents? Self, admin, a doctor with the user's patient on
/// their care team. `Some(patient id of the user, if any)` when they may (for the audit entry).
fn may_see_consents(
    conn: &mut DbConn,
    ctx: &Ctx,
    user_id: &str,
) -> QueryResult<Option<Option<String>>> {
    let p = &ctx.principal;
    let pid = patient_of_user(conn, user_id)?;
    if p.user_id == user_id || p.is_admin {
        return Ok(Some(pid));
    }
    let Some(d) = &p.doctor_id else {
        return Ok(None);
    };
    match pid {
        Some(pid) if on_care_team(conn, d, &pid)? => Ok(Some(Some(pid))),
        _ => Ok(None),
    }
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ConsentFilter {
    /// Whose history; defaults to the caller.
    pub user_id: Option<String>,
}

/// The consent history of one user, oldest first.
#[utoipa::path(get, path = "/consents", tag = "consent", params(ConsentFilter, PageParams),
    responses((status = 200, body = ListResponse<ConsentEvent>), (status = 404, body = crate::http::Problem)))]
async fn list_consents(
    State(state): State<AppState>,
    ctx: Ctx,
    AppQuery(f): AppQuery<ConsentFilter>,
    AppQuery(page): AppQuery<PageParams>,
) -> Result<ListResponse<ConsentEvent>, ApiError> {
    let page = page.page()?;
    let user_id = f.user_id.unwrap_or_else(|| ctx.user_id().to_string());
    let actor = ctx.clone();
    let uid = user_id.clone();
    let found = state
        .db
        .read(move |conn| {
            let Some(patient_id) = may_see_consents(conn, &actor, &uid)? else {
                return Ok(None);
            };
            let mut q = consent_history::table
                .filter(consent_history::user_id.eq(&uid))
                .select(ConsentEvent::as_select())
                .order(consent_history::id)
                .limit(page.limit + 1)
                .into_boxed();
            if let Some(a) = page.after {
                q = q.filter(consent_history::id.gt(a));
            }
            Ok(Some((q.load(conn)?, patient_id)))
        })
        .await?;
    let Some((rows, patient_id)) = found else {
        return Err(ctx.not_found("search", "consent", &user_id, None));
    };
    ctx.audit_read("consent", None, patient_id.as_deref());
    Ok(ListResponse::from_rows(rows, page.limit, |e| e.id.clone()))
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct ConsentStatus {
    pub kind: String,
    /// The form of the latest event, or the active form of this kind when there is none.
    pub consent_form_id: Option<String>,
    /// `given`, `revoked` or `none`.
    pub status: String,
    pub since: Option<chrono::DateTime<chrono::Utc>>,
}

/// The current consent per kind for a user.
#[utoipa::path(get, path = "/users/{id}/consent-status", tag = "consent", params(("id" = String, Path)),
    responses((status = 200, body = Vec<ConsentStatus>), (status = 404, body = crate::http::Problem)))]
async fn consent_status(
    State(state): State<AppState>,
    ctx: Ctx,
    Path(id): Path<String>,
) -> Result<axum::Json<Vec<ConsentStatus>>, ApiError> {
    let actor = ctx.clone();
    let uid = id.clone();
    let out = state
        .db
        .read(move |conn| {
            let Some(patient_id) = may_see_consents(conn, &actor, &uid)? else {
                return Ok(None);
            };
            let mut out = Vec::new();
            for kind in KINDS {
                let s = match current(conn, &uid, kind)? {
                    Some((form, action, at)) => ConsentStatus {
                        kind: kind.to_string(),
                        consent_form_id: Some(form),
                        status: action,
                        since: Some(utc(at)),
                    },
                    None => ConsentStatus {
                        kind: kind.to_string(),
                        consent_form_id: consent_forms::table
                            .filter(consent_forms::kind.eq(kind))
                            .filter(consent_forms::active.eq(true))
                            .order(consent_forms::version.desc())
                            .select(consent_forms::id)
                            .first(conn)
                            .optional()?,
                        status: "none".to_string(),
                        since: None,
                    },
                };
                out.push(s);
            }
            Ok(Some((out, patient_id)))
        })
        .await?;
    let Some((out, patient_id)) = out else {
        return Err(ctx.not_found("read", "consent", &id, None));
    };
    ctx.audit_read("consent_status", Some(&id), patient_id.as_deref());
    Ok(axum::Json(out))
}

/// Pre-flight for clients: 204 if the patient has given consent of this kind, else 409
/// `consent-required` — the same check virtual visits and device uploads apply.
#[utoipa::path(get, path = "/patients/{id}/consent-check/{kind}", tag = "consent",
    params(("id" = String, Path), ("kind" = String, Path)),
    responses((status = 204), (status = 404, body = crate::http::Problem),
        (status = 409, body = crate::http::Problem), (status = 422, body = crate::http::Problem)))]
async fn consent_check(
    State(state): State<AppState>,
    ctx: Ctx,
    Path((id, kind)): Path<(String, String)>,
) -> Result<StatusCode, ApiError> {
    let mut v = Validator::new();
    v.one_of("kind", &kind, KINDS);
    v.finish()?;
    let p = ctx.principal.clone();
    let pid = id.clone();
    let reach = state
        .db
        .read(move |conn| {
            Ok(crate::domains::patients::patient_exists(conn, &pid)?
                && crate::auth::access::can_reach_patient(conn, &p, &pid, Reach::Clinical)?)
        })
        .await?;
    if !reach {
        return Err(ctx.not_found("read", "consent", &id, Some(&id)));
    }
    let pid = id.clone();
    let outcome = state
        .db
        .read(move |conn| require_consent(conn, &pid, &kind))
        .await;
    ctx.audit_read("consent_check", Some(&id), Some(&id));
    outcome.map(|()| StatusCode::NO_CONTENT)
}
