//! `/consent-forms`, `/consents`, `/users/{id}/consent-status`,
//! `/patients/{id}/consent-check/{kind}`.

use crate::http::Path;
use axum::http::StatusCode;
use utoipa_axum::{router::OpenApiRouter, routes};

use super::{
    ConsentEvent, ConsentFilter, ConsentForm, ConsentKind, ConsentStatus, FormChange, FormFilter,
    NewConsent, NewForm, CHECK, CONSENT, FORM, STATUS,
};
use crate::http::{
    ApiError, AppJson, AppQuery, Created, ListResponse, PageParams, Problem, Tagged,
};
use crate::kit::AppState;
use crate::kit::{
    route, route_unaudited, Access, Ctx, Error, IfMatch, PatientId, Perm, UserId, WireEnum,
};

pub fn router() -> OpenApiRouter<AppState> {
    let forms = Access::Perm(Perm::ConsentFormsWrite);
    let read = Access::Perm(Perm::ConsentRead);
    OpenApiRouter::new()
        .routes(route(forms, FORM, routes!(create_form)))
        .routes(route_unaudited(
            Access::SignedIn,
            FORM,
            "the published consent texts",
            routes!(list_forms),
        ))
        .routes(route_unaudited(
            Access::SignedIn,
            FORM,
            "the published consent texts",
            routes!(get_form),
        ))
        .routes(route(forms, FORM, routes!(patch_form)))
        .routes(route(
            Access::Perm(Perm::ConsentWrite),
            CONSENT,
            routes!(record_consent),
        ))
        .routes(route(read, CONSENT, routes!(list_consents)))
        .routes(route(read, STATUS, routes!(consent_status)))
        .routes(route(read, CHECK, routes!(consent_check)))
}

/// Publish a consent form
///
/// Needs `consent_forms:write` (admin). A kind, a title (1–200 characters) and the text (up to
/// 20,000); its `version` counts the forms of the same kind. The text never changes afterwards: a
/// new text is a new form. Active unless `active` is false. Audited as `create`.
#[utoipa::path(post, path = "/consent-forms", tag = "consent", request_body = NewForm,
    responses((status = 201, body = ConsentForm), (status = 403, body = Problem),
        (status = 422, body = Problem)))]
async fn create_form(
    ctx: Ctx,
    AppJson(body): AppJson<NewForm>,
) -> Result<Created<ConsentForm>, ApiError> {
    let form = ctx.write(move |tx| super::create_form(tx, body)).await?;
    Ok(Created {
        location: format!("/api/v1/consent-forms/{}", form.id),
        version: Some(form.version),
        body: form,
    })
}

/// List consent forms
///
/// Any signed-in user: the published consent texts, filtered by `kind` and `active`; in creation
/// order, paged. Not audited (the texts name no one).
#[utoipa::path(get, path = "/consent-forms", tag = "consent", params(FormFilter, PageParams),
    responses((status = 200, body = ListResponse<ConsentForm>)))]
async fn list_forms(
    ctx: Ctx,
    AppQuery(f): AppQuery<FormFilter>,
    AppQuery(page): AppQuery<PageParams>,
) -> Result<ListResponse<ConsentForm>, ApiError> {
    let page = page.page()?;
    Ok(ctx
        .read(move |conn, _| super::list_forms(conn, f, &page))
        .await?)
}

/// Read a consent form
///
/// Any signed-in user reads any form, retired ones included. Not audited (it names no one). The
/// `ETag` is the form's version.
#[utoipa::path(get, path = "/consent-forms/{id}", tag = "consent", params(("id" = String, Path)),
    responses((status = 200, body = ConsentForm), (status = 404, body = Problem)))]
async fn get_form(ctx: Ctx, Path(id): Path<String>) -> Result<Tagged<ConsentForm>, ApiError> {
    let f = ctx.read(move |conn, _| super::get_form(conn, &id)).await?;
    Ok(Tagged(f.version, f))
}

/// Retire or re-activate a consent form
///
/// Needs `consent_forms:write` (admin). Only `active` changes; the text of a form never does
/// (publish a new one). A retired form takes no new `given` consent. `If-Match` is honoured (412
/// when stale). Audited as `update`.
#[utoipa::path(patch, path = "/consent-forms/{id}", tag = "consent", params(("id" = String, Path)),
    request_body = FormChange,
    responses((status = 200, body = ConsentForm), (status = 403, body = Problem),
        (status = 404, body = Problem), (status = 412, body = Problem)))]
async fn patch_form(
    ctx: Ctx,
    Path(id): Path<String>,
    if_match: IfMatch,
    AppJson(body): AppJson<FormChange>,
) -> Result<Tagged<ConsentForm>, ApiError> {
    let form = ctx
        .write(move |tx| super::change_form(tx, &id, body, if_match))
        .await?;
    Ok(Tagged(form.version, form))
}

/// Give or revoke consent
///
/// Needs `consent:write` (every built-in role). Appends a `given` or `revoked` event for the
/// caller's own account on a form, with the caller's address; there is no PATCH or DELETE. A form
/// that does not exist is 409, and so is giving consent on a retired form. The flows that need
/// consent (virtual visits, remote monitoring) read the latest event on every request, so a
/// revocation takes effect at once. Audited as `consent_given` or `consent_revoked`.
#[utoipa::path(post, path = "/consents", tag = "consent", request_body = NewConsent,
    responses((status = 201, body = ConsentEvent), (status = 409, body = Problem),
        (status = 422, body = Problem)))]
async fn record_consent(
    ctx: Ctx,
    AppJson(body): AppJson<NewConsent>,
) -> Result<Created<ConsentEvent>, ApiError> {
    let ev = ctx.write(move |tx| super::record(tx, body)).await?;
    Ok(Created {
        location: format!("/api/v1/consents?user_id={}", ev.user_id),
        version: None,
        body: ev,
    })
}

/// List a user's consent history
///
/// Needs `consent:read`. One user's events, oldest first: `user_id` defaults to the caller; another
/// user's history is for an admin or a doctor on their patient record's care team (404 for anyone
/// else). Paged. Audited as a `search`.
#[utoipa::path(get, path = "/consents", tag = "consent", params(ConsentFilter, PageParams),
    responses((status = 200, body = ListResponse<ConsentEvent>), (status = 403, body = Problem),
        (status = 404, body = Problem)))]
async fn list_consents(
    ctx: Ctx,
    AppQuery(f): AppQuery<ConsentFilter>,
    AppQuery(page): AppQuery<PageParams>,
) -> Result<ListResponse<ConsentEvent>, ApiError> {
    let page = page.page()?;
    let found = ctx
        .read(move |conn, actor| super::list_consents(conn, actor, f, &page))
        .await?;
    Ok(ctx.reveal(found).await?)
}

/// Read a user's current consents
///
/// Needs `consent:read`. One entry per consent kind: `given`, `revoked` or `none`, since when, and
/// the form (the active form of the kind when there is no event). The user themself, an admin, or a
/// doctor on their patient record's care team (404 otherwise). Audited as a `read`.
#[utoipa::path(get, path = "/users/{id}/consent-status", tag = "consent", params(("id" = String, Path)),
    responses((status = 200, body = Vec<ConsentStatus>), (status = 403, body = Problem),
        (status = 404, body = Problem)))]
async fn consent_status(
    ctx: Ctx,
    Path(id): Path<UserId>,
) -> Result<axum::Json<Vec<ConsentStatus>>, ApiError> {
    let found = ctx
        .read(move |conn, actor| super::status(conn, actor, &id))
        .await?;
    Ok(axum::Json(ctx.reveal(found).await?))
}

/// Check a patient's consent
///
/// Needs `consent:read`, and clinical reach of the patient (the patient, an admin, a doctor on the
/// care team; 404 otherwise). A pre-flight for clients: 204 if the patient has given consent of
/// this kind, else 409 `consent-required`, the same check virtual visits and device uploads apply.
/// An unknown kind is 422. Audited as a `read`, whatever the outcome.
#[utoipa::path(get, path = "/patients/{id}/consent-check/{kind}", tag = "consent",
    params(("id" = String, Path), ("kind" = ConsentKind, Path)),
    responses((status = 204), (status = 403, body = Problem), (status = 404, body = Problem),
        (status = 409, body = Problem), (status = 422, body = Problem)))]
async fn consent_check(
    ctx: Ctx,
    Path((id, kind)): Path<(PatientId, String)>,
) -> Result<StatusCode, ApiError> {
    let kind = ConsentKind::parse(&kind).ok_or_else(|| {
        Error::field(
            "kind",
            format!("must be one of: {}", ConsentKind::names().join(", ")),
        )
    })?;
    let found = ctx
        .read(move |conn, actor| super::check(conn, actor, &id, kind))
        .await?;
    ctx.reveal(found).await??;
    Ok(StatusCode::NO_CONTENT)
}
