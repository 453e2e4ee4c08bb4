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

/// Publish a consent form (admin). Its `version` counts forms of the same kind.
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

#[utoipa::path(get, path = "/consent-forms/{id}", tag = "consent", params(("id" = String, Path)),
    responses((status = 200, body = ConsentForm), (status = 404, body = Problem)))]
async fn get_form(ctx: Ctx, Path(id): Path<String>) -> Result<Tagged<ConsentForm>, ApiError> {
    let f = ctx.read(move |conn, _| super::get_form(conn, &id)).await?;
    Ok(Tagged(f.version, f))
}

/// Retire or re-activate a form (admin). The text of a form never changes: publish a new one.
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

/// Give or revoke consent for oneself. Append-only: there is no PATCH or DELETE.
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

/// The consent history of one user, oldest first: oneself, or a user whose patient record the
/// caller reaches.
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

/// The current consent per kind for a user.
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

/// Pre-flight for clients: 204 if the patient has given consent of this kind, else 409
/// `consent-required` — the same check virtual visits and device uploads apply.
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
