//! `/messages`, `/educational-resources`, `/feedback` (and `/surveys`, in `survey_routes.rs`):
//! parse, call the rule, answer.

use crate::http::Path;
use utoipa_axum::{router::OpenApiRouter, routes};

use super::education::{
    self, EducationalResource, NewRecommendation, NewResource, Recommendation, ResourceChange,
    ResourceFilter, ResourceId, EDUCATION, RECOMMENDATION,
};
use super::feedback::{self, CategorySummary, Feedback, FeedbackFilter, NewFeedback, FEEDBACK};
use super::{BoxQuery, Message, MessageId, NewMessage, MESSAGE};
use crate::http::{
    ApiError, AppJson, AppQuery, Created, ListResponse, PageParams, Problem, Tagged,
};
use crate::kit::{route, route_unaudited, Access, AppState, Ctx, IfMatch, PatientId, Perm};

pub fn router() -> OpenApiRouter<AppState> {
    // Every signed-in user has a mailbox; who may write to whom is the rule's (`may_write`).
    let mail = Access::SignedIn;
    OpenApiRouter::new()
        .routes(route(mail, MESSAGE, routes!(send_message)))
        .routes(route(mail, MESSAGE, routes!(list_messages)))
        .routes(route(mail, MESSAGE, routes!(get_message)))
        .routes(route(mail, MESSAGE, routes!(read_message)))
        .routes(route(mail, MESSAGE, routes!(get_thread)))
        // Admins write resources; everyone reads the published ones.
        .routes(route(
            Access::Perm(Perm::PortalWrite),
            EDUCATION,
            routes!(create_resource),
        ))
        .routes(route(
            Access::Perm(Perm::PortalWrite),
            EDUCATION,
            routes!(patch_resource),
        ))
        .routes(route_unaudited(
            Access::SignedIn,
            EDUCATION,
            "health education for everyone; it names no patient",
            routes!(list_resources),
        ))
        .routes(route_unaudited(
            Access::SignedIn,
            EDUCATION,
            "health education for everyone; it names no patient",
            routes!(get_resource),
        ))
        // Who recommends (a care-team doctor) and who reads (the compartment) is the rule's.
        .routes(route(Access::SignedIn, RECOMMENDATION, routes!(recommend)))
        .routes(route(
            Access::SignedIn,
            RECOMMENDATION,
            routes!(recommended),
        ))
        // Every user may give feedback and read their own; the summary is the rule's (admins).
        .routes(route(Access::SignedIn, FEEDBACK, routes!(give_feedback)))
        .routes(route_unaudited(
            Access::SignedIn,
            FEEDBACK,
            "feedback is the caller's own, or admins' reading of ratings; it names no patient",
            routes!(list_feedback),
        ))
        .routes(route_unaudited(
            Access::SignedIn,
            FEEDBACK,
            "counts and means, no one's data",
            routes!(feedback_summary),
        ))
        .merge(super::survey_routes::router())
}

/// Send a message: a patient to a doctor of their care team or an admin; a doctor to a
/// patient of theirs or any staff; staff to staff; admins to anyone. Anyone else: 404.
#[utoipa::path(post, path = "/messages", tag = "portal", request_body = NewMessage,
    responses((status = 201, body = Message), (status = 404, body = Problem),
        (status = 409, body = Problem), (status = 422, body = Problem)))]
async fn send_message(
    ctx: Ctx,
    AppJson(body): AppJson<NewMessage>,
) -> Result<Created<Message>, ApiError> {
    let m = ctx.write(move |tx| super::send(tx, body)).await?;
    Ok(Created {
        location: format!("/api/v1/messages/{}", m.id),
        version: None,
        body: m,
    })
}

/// The caller's inbox (default) or sent box, newest first.
#[utoipa::path(get, path = "/messages", tag = "portal", params(BoxQuery, PageParams),
    responses((status = 200, body = ListResponse<Message>)))]
async fn list_messages(
    ctx: Ctx,
    AppQuery(q): AppQuery<BoxQuery>,
    AppQuery(page): AppQuery<PageParams>,
) -> Result<ListResponse<Message>, ApiError> {
    let page = page.page()?;
    let found = ctx
        .read(move |conn, actor| super::list(conn, actor, q, &page))
        .await?;
    Ok(ctx.reveal(found).await?)
}

/// One message the caller sent or received (404 for anyone else, admins included).
#[utoipa::path(get, path = "/messages/{id}", tag = "portal", params(("id" = String, Path)),
    responses((status = 200, body = Message), (status = 404, body = Problem)))]
async fn get_message(ctx: Ctx, Path(id): Path<MessageId>) -> Result<axum::Json<Message>, ApiError> {
    let found = ctx
        .read(move |conn, actor| super::get(conn, actor, &id))
        .await?;
    Ok(axum::Json(ctx.reveal(found).await?))
}

/// The receiver marks a message read.
#[utoipa::path(post, path = "/messages/{id}/read", tag = "portal", params(("id" = String, Path)),
    responses((status = 200, body = Message), (status = 403, body = Problem),
        (status = 404, body = Problem)))]
async fn read_message(
    ctx: Ctx,
    Path(id): Path<MessageId>,
) -> Result<axum::Json<Message>, ApiError> {
    let m = ctx.write(move |tx| super::mark_read(tx, &id)).await?;
    Ok(axum::Json(m))
}

/// A thread: the messages of it the caller sent or received, oldest first.
#[utoipa::path(get, path = "/messages/threads/{thread_id}", tag = "portal",
    params(("thread_id" = String, Path)),
    responses((status = 200, body = Vec<Message>), (status = 404, body = Problem)))]
async fn get_thread(
    ctx: Ctx,
    Path(thread_id): Path<String>,
) -> Result<axum::Json<Vec<Message>>, ApiError> {
    let found = ctx
        .read(move |conn, actor| super::thread(conn, actor, &thread_id))
        .await?;
    Ok(axum::Json(ctx.reveal(found).await?))
}

/// Give feedback: a rating 1–5 in a category, a comment; about an appointment only your own.
#[utoipa::path(post, path = "/feedback", tag = "portal", request_body = NewFeedback,
    responses((status = 201, body = Feedback), (status = 409, body = Problem),
        (status = 422, body = Problem)))]
async fn give_feedback(
    ctx: Ctx,
    AppJson(body): AppJson<NewFeedback>,
) -> Result<Created<Feedback>, ApiError> {
    let f = ctx.write(move |tx| feedback::give(tx, body)).await?;
    Ok(Created {
        location: "/api/v1/feedback".to_string(),
        version: None,
        body: f,
    })
}

/// The caller's own feedback; admins see everyone's. Newest first.
#[utoipa::path(get, path = "/feedback", tag = "portal", params(FeedbackFilter, PageParams),
    responses((status = 200, body = ListResponse<Feedback>)))]
async fn list_feedback(
    ctx: Ctx,
    AppQuery(f): AppQuery<FeedbackFilter>,
    AppQuery(page): AppQuery<PageParams>,
) -> Result<ListResponse<Feedback>, ApiError> {
    let page = page.page()?;
    Ok(ctx
        .read(move |conn, actor| feedback::list(conn, actor, f, &page))
        .await?)
}

/// Count and mean rating per category (admins).
#[utoipa::path(get, path = "/feedback/summary", tag = "portal",
    responses((status = 200, body = Vec<CategorySummary>), (status = 403, body = Problem)))]
async fn feedback_summary(ctx: Ctx) -> Result<axum::Json<Vec<CategorySummary>>, ApiError> {
    let s = ctx.read(feedback::summary).await?;
    Ok(axum::Json(s))
}

/// Add an educational resource (admins): Markdown, category, tags, language; a draft until
/// `published`.
#[utoipa::path(post, path = "/educational-resources", tag = "portal", request_body = NewResource,
    responses((status = 201, body = EducationalResource), (status = 403, body = Problem),
        (status = 422, body = Problem)))]
async fn create_resource(
    ctx: Ctx,
    AppJson(body): AppJson<NewResource>,
) -> Result<Created<EducationalResource>, ApiError> {
    let r = ctx.write(move |tx| education::create(tx, body)).await?;
    Ok(Created {
        location: format!("/api/v1/educational-resources/{}", r.id),
        version: Some(r.version),
        body: r,
    })
}

/// Change a resource (admins; `If-Match` honoured); `tags` replace the old ones.
#[utoipa::path(patch, path = "/educational-resources/{id}", tag = "portal",
    params(("id" = String, Path)), request_body = ResourceChange,
    responses((status = 200, body = EducationalResource), (status = 403, body = Problem),
        (status = 404, body = Problem), (status = 412, body = Problem),
        (status = 422, body = Problem)))]
async fn patch_resource(
    ctx: Ctx,
    Path(id): Path<ResourceId>,
    if_match: IfMatch,
    AppJson(body): AppJson<ResourceChange>,
) -> Result<Tagged<EducationalResource>, ApiError> {
    let r = ctx
        .write(move |tx| education::change(tx, &id, body, if_match))
        .await?;
    Ok(Tagged(r.version, r))
}

/// Educational resources: full-text search with `q` (best match first), filters by category,
/// tag and language. Published ones only, but for admins.
#[utoipa::path(get, path = "/educational-resources", tag = "portal",
    params(ResourceFilter, PageParams),
    responses((status = 200, body = ListResponse<EducationalResource>),
        (status = 422, body = Problem)))]
async fn list_resources(
    ctx: Ctx,
    AppQuery(f): AppQuery<ResourceFilter>,
    AppQuery(page): AppQuery<PageParams>,
) -> Result<ListResponse<EducationalResource>, ApiError> {
    let page = page.page()?;
    Ok(ctx
        .read(move |conn, actor| education::list(conn, actor, f, &page))
        .await?)
}

/// One educational resource (a draft only for admins).
#[utoipa::path(get, path = "/educational-resources/{id}", tag = "portal",
    params(("id" = String, Path)),
    responses((status = 200, body = EducationalResource), (status = 404, body = Problem)))]
async fn get_resource(
    ctx: Ctx,
    Path(id): Path<ResourceId>,
) -> Result<Tagged<EducationalResource>, ApiError> {
    let r = ctx
        .read(move |conn, actor| education::get(conn, actor, &id))
        .await?;
    Ok(Tagged(r.version, r))
}

/// A doctor of the patient's care team recommends a published resource; the patient is told.
#[utoipa::path(post, path = "/patients/{id}/educational-resources", tag = "portal",
    params(("id" = String, Path)), request_body = NewRecommendation,
    responses((status = 201, body = Recommendation), (status = 403, body = Problem),
        (status = 404, body = Problem), (status = 409, body = Problem),
        (status = 422, body = Problem)))]
async fn recommend(
    ctx: Ctx,
    Path(id): Path<PatientId>,
    AppJson(body): AppJson<NewRecommendation>,
) -> Result<Created<Recommendation>, ApiError> {
    let location = format!("/api/v1/patients/{id}/educational-resources");
    let r = ctx
        .write(move |tx| education::recommend(tx, &id, body))
        .await?;
    Ok(Created {
        location,
        version: None,
        body: r,
    })
}

/// The resources recommended to a patient, newest first (the patient, their care team,
/// admins).
#[utoipa::path(get, path = "/patients/{id}/educational-resources", tag = "portal",
    params(("id" = String, Path), PageParams),
    responses((status = 200, body = ListResponse<Recommendation>),
        (status = 404, body = Problem)))]
async fn recommended(
    ctx: Ctx,
    Path(id): Path<PatientId>,
    AppQuery(page): AppQuery<PageParams>,
) -> Result<ListResponse<Recommendation>, ApiError> {
    let page = page.page()?;
    let found = ctx
        .read(move |conn, actor| education::recommended(conn, actor, &id, &page))
        .await?;
    Ok(ctx.reveal(found).await?)
}
