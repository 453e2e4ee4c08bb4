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

/// List the referral status graph
///
/// Any signed-in user. Every referral status, whether it is final, and the arrows out of it with
/// who may take each (`specialist`, `referring_doctor`, `admin`): the data that `POST
/// /referrals/{id}/transition` is checked against. Not audited (it names no patient).
#[utoipa::path(get, path = "/referral-statuses", tag = "referrals",
    responses((status = 200, body = Vec<ReferralStatus>)))]
async fn list_statuses(ctx: Ctx) -> Result<axum::Json<Vec<ReferralStatus>>, ApiError> {
    let s = ctx.read(|conn, _| super::statuses(conn)).await?;
    Ok(axum::Json(s))
}

/// Refer a patient to a specialist
///
/// Needs `referrals:write`. A doctor refers as themself (an admin names `referring_doctor_id`, 422
/// without) and must be on the patient's care team or be the doctor of the named `appointment_id`
/// (404 otherwise); a missing patient, doctor or specialist is 409, and the specialist must be
/// another doctor (422). The referral starts `pending`, the specialist joins the care team at once,
/// and the patient and whichever doctor did not act are notified. Audited as `create`.
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

/// List referrals
///
/// Needs `referrals:read`. The referrals the caller reaches: a patient their own, a doctor those
/// they made or received and those of their care team's patients, an admin all. Filters:
/// `patient_id`, `specialist_id`, `referring_doctor_id`, `status`; in creation order, paged.
/// Audited as a `search` per patient listed.
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

/// Read a referral
///
/// Needs `referrals:read`. The patient, either of its doctors, a doctor on the patient's care team,
/// or an admin; anyone else gets 404. Audited as a `read`. The `ETag` is the referral's version.
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

/// Move a referral along its status graph
///
/// Needs `referrals:write`. Takes one arrow of the graph (`GET /referral-statuses`): who may take
/// it is the graph's (403), an arrow the graph lacks is 409. A `reason` is kept in the history;
/// `scheduled` may name the specialist's `appointment_id` with the patient (409 if it is not).
/// Rejecting or cancelling takes the specialist off the care team unless another live referral
/// keeps them. The patient and whichever doctor did not act are notified. Audited as
/// `state_change`.
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

/// Read a referral's history
///
/// Needs `referrals:read`, and the same reach as reading the referral (404 otherwise). Every
/// transition, the creation first, with who took it, when and why. Audited as a `read`.
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

/// Write a specialist's note on a referral
///
/// Needs `referrals:write`; only the referral's specialist (403), while it is `accepted`,
/// `scheduled` or `completed` (409 `illegal-transition` otherwise). The note is 1–10,000
/// characters. The referring doctor is notified. Audited as `create` of `specialist_note`.
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

/// List a referral's specialist notes
///
/// Needs `referrals:read`: the patient, the two doctors of the referral, or an admin (404 for
/// anyone else, the rest of the care team included). Oldest first, paged. Audited as a `search`.
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
