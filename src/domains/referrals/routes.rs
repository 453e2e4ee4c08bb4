//! `/referral-statuses`, `/referrals`: parse, call the rule, answer.

use crate::http::Path;
use utoipa_axum::{router::OpenApiRouter, routes};

use super::{
    HistoryEntry, NewNote, NewReferral, ReferralFilter, ReferralId, ReferralRequest,
    ReferralStatus, SpecialistNote, Transition, NOTE, REFERRAL,
};
use crate::http::{
    ApiError, AppJson, AppQuery, Created, ListResponse, PageParams, Problem, Tagged,
};
use crate::kit::{route, route_unaudited, Access, AppState, Ctx, Perm};

pub fn router() -> OpenApiRouter<AppState> {
    let read = Access::Perm(Perm::ReferralsRead);
    let write = Access::Perm(Perm::ReferralsWrite);
    OpenApiRouter::new()
        .routes(route_unaudited(
            Access::SignedIn,
            REFERRAL,
            "the status graph is the same for everyone and names no patient",
            routes!(list_statuses),
        ))
        .routes(route(write, REFERRAL, routes!(create_referral)))
        .routes(route(read, REFERRAL, routes!(list_referrals)))
        .routes(route(read, REFERRAL, routes!(get_referral)))
        .routes(route(write, REFERRAL, routes!(transition_referral)))
        .routes(route(read, REFERRAL, routes!(referral_history)))
        .routes(route(write, NOTE, routes!(create_note)))
        .routes(route(read, NOTE, routes!(list_notes)))
}

/// The referral status graph: every status, whether it is final, and the arrows out of it
/// with who may take each.
#[utoipa::path(get, path = "/referral-statuses", tag = "referrals",
    responses((status = 200, body = Vec<ReferralStatus>)))]
async fn list_statuses(ctx: Ctx) -> Result<axum::Json<Vec<ReferralStatus>>, ApiError> {
    let s = ctx.read(|conn, _| super::statuses(conn)).await?;
    Ok(axum::Json(s))
}

/// Refer: a doctor on the patient's care team (or with an appointment with them) to another
/// doctor, or an admin naming both. The specialist joins the care team at once.
#[utoipa::path(post, path = "/referrals", tag = "referrals", request_body = NewReferral,
    responses((status = 201, body = ReferralRequest), (status = 403, body = Problem),
        (status = 404, body = Problem), (status = 409, body = Problem),
        (status = 422, body = Problem)))]
async fn create_referral(
    ctx: Ctx,
    AppJson(body): AppJson<NewReferral>,
) -> Result<Created<ReferralRequest>, ApiError> {
    let r = ctx.write(move |tx| super::refer(tx, body)).await?;
    Ok(Created {
        location: format!("/api/v1/referrals/{}", r.id),
        version: Some(r.version),
        body: r,
    })
}

#[utoipa::path(get, path = "/referrals", tag = "referrals", params(ReferralFilter, PageParams),
    responses((status = 200, body = ListResponse<ReferralRequest>), (status = 403, body = Problem),
        (status = 422, body = Problem)))]
async fn list_referrals(
    ctx: Ctx,
    AppQuery(f): AppQuery<ReferralFilter>,
    AppQuery(page): AppQuery<PageParams>,
) -> Result<ListResponse<ReferralRequest>, ApiError> {
    let page = page.page()?;
    let found = ctx
        .read(move |conn, actor| super::list(conn, actor, f, &page))
        .await?;
    Ok(ctx.reveal(found).await?)
}

#[utoipa::path(get, path = "/referrals/{id}", tag = "referrals", params(("id" = String, Path)),
    responses((status = 200, body = ReferralRequest), (status = 404, body = Problem)))]
async fn get_referral(
    ctx: Ctx,
    Path(id): Path<ReferralId>,
) -> Result<Tagged<ReferralRequest>, ApiError> {
    let found = ctx
        .read(move |conn, actor| super::get(conn, actor, &id))
        .await?;
    let r = ctx.reveal(found).await?;
    Ok(Tagged(r.version, r))
}

/// Take an arrow of the status graph (`GET /referral-statuses` says which, and who may).
#[utoipa::path(post, path = "/referrals/{id}/transition", tag = "referrals",
    params(("id" = String, Path)), request_body = Transition,
    responses((status = 200, body = ReferralRequest), (status = 403, body = Problem),
        (status = 404, body = Problem), (status = 409, body = Problem),
        (status = 422, body = Problem)))]
async fn transition_referral(
    ctx: Ctx,
    Path(id): Path<ReferralId>,
    AppJson(body): AppJson<Transition>,
) -> Result<Tagged<ReferralRequest>, ApiError> {
    let r = ctx
        .write(move |tx| super::transition(tx, &id, body))
        .await?;
    Ok(Tagged(r.version, r))
}

/// Every transition of the referral, its creation first.
#[utoipa::path(get, path = "/referrals/{id}/history", tag = "referrals",
    params(("id" = String, Path)),
    responses((status = 200, body = Vec<HistoryEntry>), (status = 404, body = Problem)))]
async fn referral_history(
    ctx: Ctx,
    Path(id): Path<ReferralId>,
) -> Result<axum::Json<Vec<HistoryEntry>>, ApiError> {
    let found = ctx
        .read(move |conn, actor| super::history(conn, actor, &id))
        .await?;
    Ok(axum::Json(ctx.reveal(found).await?))
}

/// A note by the referral's specialist, while it is accepted, scheduled or completed.
#[utoipa::path(post, path = "/referrals/{id}/notes", tag = "referrals",
    params(("id" = String, Path)), request_body = NewNote,
    responses((status = 201, body = SpecialistNote), (status = 403, body = Problem),
        (status = 404, body = Problem), (status = 409, body = Problem),
        (status = 422, body = Problem)))]
async fn create_note(
    ctx: Ctx,
    Path(id): Path<ReferralId>,
    AppJson(body): AppJson<NewNote>,
) -> Result<Created<SpecialistNote>, ApiError> {
    let n = ctx.write(move |tx| super::add_note(tx, &id, body)).await?;
    Ok(Created {
        location: format!("/api/v1/referrals/{}/notes", n.referral_request_id),
        version: None,
        body: n,
    })
}

/// The specialist's notes, oldest first (the patient, both doctors, admins).
#[utoipa::path(get, path = "/referrals/{id}/notes", tag = "referrals",
    params(("id" = String, Path), PageParams),
    responses((status = 200, body = ListResponse<SpecialistNote>), (status = 404, body = Problem)))]
async fn list_notes(
    ctx: Ctx,
    Path(id): Path<ReferralId>,
    AppQuery(page): AppQuery<PageParams>,
) -> Result<ListResponse<SpecialistNote>, ApiError> {
    let page = page.page()?;
    let found = ctx
        .read(move |conn, actor| super::notes(conn, actor, &id, &page))
        .await?;
    Ok(ctx.reveal(found).await?)
}
