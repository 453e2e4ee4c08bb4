//! `/surveys`: parse, call the rule, answer.

use crate::http::Path;
use utoipa_axum::{router::OpenApiRouter, routes};

use super::surveys::{
    self, NewResponse, NewSurvey, Survey, SurveyChange, SurveyFilter, SurveyId, SurveyResponse,
    SurveyResults, SURVEY, SURVEY_RESPONSE,
};
use crate::http::{
    ApiError, AppJson, AppQuery, Created, ListResponse, PageParams, Problem, Tagged,
};
use crate::kit::{route, route_unaudited, Access, AppState, Ctx, IfMatch, Perm};

/// The survey routes. Managing surveys and reading their results takes `portal:write` (of the
/// built-in roles, admins'); every signed-in user reads and answers the surveys for their
/// audience (the rule decides which).
pub fn router() -> OpenApiRouter<AppState> {
    let manage = Access::Perm(Perm::PortalWrite);
    OpenApiRouter::new()
        .routes(route(manage, SURVEY, routes!(create_survey)))
        .routes(route(manage, SURVEY, routes!(patch_survey)))
        .routes(route_unaudited(
            Access::SignedIn,
            SURVEY,
            "a survey's questions are no one's data",
            routes!(list_surveys),
        ))
        .routes(route_unaudited(
            Access::SignedIn,
            SURVEY,
            "a survey's questions are no one's data",
            routes!(get_survey),
        ))
        .routes(route(
            Access::SignedIn,
            SURVEY_RESPONSE,
            routes!(respond_to_survey),
        ))
        .routes(route_unaudited(
            manage,
            SURVEY,
            "counts, means and anonymous texts: no one's data",
            routes!(survey_results),
        ))
}

/// Create a survey
///
/// Needs `portal:write` (admin). A title, an audience (`all`, `patients`, `staff`) and 1–50
/// questions: single or multiple choice (2–20 options), a scale (`min` below `max`) or text; ids
/// are generated where absent. Active unless `active` is false. Audited as `create`.
#[utoipa::path(post, path = "/surveys", tag = "portal", request_body = NewSurvey,
    responses((status = 201, body = Survey), (status = 403, body = Problem),
        (status = 422, body = Problem)))]
async fn create_survey(
    ctx: Ctx,
    AppJson(body): AppJson<NewSurvey>,
) -> Result<Created<Survey>, ApiError> {
    let s = ctx.write(move |tx| surveys::create(tx, body)).await?;
    Ok(Created {
        location: format!("/api/v1/surveys/{}", s.id),
        version: Some(s.version),
        body: s,
    })
}

/// List surveys
///
/// Any signed-in user: the active surveys for the caller's audience (patients: `all` and
/// `patients`; staff, every role but patient: `all` and `staff`); admins see every one and may
/// filter by `active` and `audience`. Newest first, paged. Not audited (questions are no one's
/// data).
#[utoipa::path(get, path = "/surveys", tag = "portal", params(SurveyFilter, PageParams),
    responses((status = 200, body = ListResponse<Survey>)))]
async fn list_surveys(
    ctx: Ctx,
    AppQuery(f): AppQuery<SurveyFilter>,
    AppQuery(page): AppQuery<PageParams>,
) -> Result<ListResponse<Survey>, ApiError> {
    let page = page.page()?;
    Ok(ctx
        .read(move |conn, actor| surveys::list(conn, actor, f, &page))
        .await?)
}

/// Read a survey
///
/// Any signed-in user, with the same visibility as the list (404 otherwise). Not audited (questions
/// are no one's data). The `ETag` is its version, for `If-Match` on `PATCH`.
#[utoipa::path(get, path = "/surveys/{id}", tag = "portal", params(("id" = String, Path)),
    responses((status = 200, body = Survey), (status = 404, body = Problem)))]
async fn get_survey(ctx: Ctx, Path(id): Path<SurveyId>) -> Result<Tagged<Survey>, ApiError> {
    let s = ctx
        .read(move |conn, actor| surveys::get(conn, actor, &id))
        .await?;
    Ok(Tagged(s.version, s))
}

/// Change a survey
///
/// Needs `portal:write` (admin). Changes the fields given; the questions are replaced whole, and
/// only while the survey has no response (409; sending them unchanged is no change). `If-Match` is
/// honoured (412 when stale). Audited as `update`.
#[utoipa::path(patch, path = "/surveys/{id}", tag = "portal", params(("id" = String, Path)),
    request_body = SurveyChange,
    responses((status = 200, body = Survey), (status = 403, body = Problem),
        (status = 404, body = Problem), (status = 409, body = Problem),
        (status = 412, body = Problem), (status = 422, body = Problem)))]
async fn patch_survey(
    ctx: Ctx,
    Path(id): Path<SurveyId>,
    if_match: IfMatch,
    AppJson(body): AppJson<SurveyChange>,
) -> Result<Tagged<Survey>, ApiError> {
    let s = ctx
        .write(move |tx| surveys::change(tx, &id, body, if_match))
        .await?;
    Ok(Tagged(s.version, s))
}

/// Answer a survey
///
/// Any signed-in user, once per survey: an active one for the caller's audience (404 otherwise).
/// `answers` maps question ids to answers, each checked against its question (422 naming it,
/// `answers.<question id>`; required questions must be answered). A second response is 409. Audited
/// as `create` of a `survey_response`.
#[utoipa::path(post, path = "/surveys/{id}/responses", tag = "portal",
    params(("id" = String, Path)), request_body = NewResponse,
    responses((status = 201, body = SurveyResponse), (status = 404, body = Problem),
        (status = 409, body = Problem), (status = 422, body = Problem)))]
async fn respond_to_survey(
    ctx: Ctx,
    Path(id): Path<SurveyId>,
    AppJson(body): AppJson<NewResponse>,
) -> Result<Created<SurveyResponse>, ApiError> {
    let r = ctx.write(move |tx| surveys::respond(tx, &id, body)).await?;
    Ok(Created {
        location: format!("/api/v1/surveys/{}", r.survey_id),
        version: None,
        body: r,
    })
}

/// Read a survey's results
///
/// Needs `portal:write` (admin). Per question how many answered; counts per option of choice
/// questions, the mean of scales, and the text answers without who gave them. Not audited
/// (aggregates and anonymous texts).
#[utoipa::path(get, path = "/surveys/{id}/results", tag = "portal",
    params(("id" = String, Path)),
    responses((status = 200, body = SurveyResults), (status = 403, body = Problem),
        (status = 404, body = Problem)))]
async fn survey_results(
    ctx: Ctx,
    Path(id): Path<SurveyId>,
) -> Result<axum::Json<SurveyResults>, ApiError> {
    let r = ctx
        .read(move |conn, actor| surveys::results(conn, actor, &id))
        .await?;
    Ok(axum::Json(r))
}
