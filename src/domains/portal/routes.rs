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

/// Send a secure message
///
/// Any signed-in user, to a receiver they may write to: a patient to a doctor of their care team or
/// an admin; a doctor to a patient of their care team or any staff user; staff to staff; an admin
/// to anyone. Any other receiver, or one that does not exist or is inactive, is 404. Subject 1–200
/// characters, body 1–10,000. `reply_to` (a message of the caller's, 409 otherwise) puts it in that
/// thread. The receiver is notified. Audited as `create` (by id; the body never enters the trail).
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

/// List the caller's messages
///
/// Any signed-in user: their inbox (`box=inbox`, the default; `unread=true` for unread ones) or
/// their sent box (`box=sent`), newest first, paged. Nobody, admins included, lists anyone else's
/// mail. Audited as a `search`.
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

/// Read a message
///
/// Any signed-in user, for a message they sent or received (404 for anyone else, admins included).
/// Reading does not mark it read. Audited as a `read`, by id.
#[utoipa::path(get, path = "/messages/{id}", tag = "portal", params(("id" = String, Path)),
    responses((status = 200, body = Message), (status = 404, body = Problem)))]
async fn get_message(ctx: Ctx, Path(id): Path<MessageId>) -> Result<axum::Json<Message>, ApiError> {
    let found = ctx
        .read(move |conn, actor| super::get(conn, actor, &id))
        .await?;
    Ok(axum::Json(ctx.reveal(found).await?))
}

/// Mark a message read
///
/// Its receiver only (403 for the sender, 404 for anyone else); marking it again keeps the first
/// `read_at`. Audited as `update`.
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

/// Read a message thread
///
/// Any signed-in user: the messages of the thread that they sent or received, oldest first; 404
/// when there are none. Audited as a `read` of the thread.
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

/// Give feedback
///
/// Any signed-in user. A rating of 1–5 in a category, with an optional comment (up to 5,000
/// characters); about an appointment only one of the caller's own, as its patient or its doctor
/// (409). Audited as `create`.
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

/// List feedback
///
/// Any signed-in user sees their own feedback; admins see everyone's. Filters: `category`,
/// `rating`, and a `from`/`to` window; newest first, paged. Not audited (it names no patient).
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

/// Summarise feedback by category
///
/// Admins only (403 otherwise, audited). The count and mean rating per category, computed in the
/// database. Not audited as a read (counts and means, no one's data).
#[utoipa::path(get, path = "/feedback/summary", tag = "portal",
    responses((status = 200, body = Vec<CategorySummary>), (status = 403, body = Problem)))]
async fn feedback_summary(ctx: Ctx) -> Result<axum::Json<Vec<CategorySummary>>, ApiError> {
    let s = ctx.read(feedback::summary).await?;
    Ok(axum::Json(s))
}

/// Add an educational resource
///
/// Needs `portal:write` (admin). A title, a summary, a Markdown body, an optional http(s) link, a
/// category and up to 20 tags (lowercase slugs), and a language (BCP 47, default `en`); a draft
/// that only admins see until `published`. Audited as `create`.
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

/// Change an educational resource
///
/// Needs `portal:write` (admin). Changes the fields given; `tags` replace the old ones, and `url:
/// null` removes the link. Publishing makes it visible to everyone. `If-Match` is honoured (412
/// when stale). Audited as `update`.
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

/// Search educational resources
///
/// Any signed-in user. Full-text search with `q` (web-search style: all words, `"a phrase"`, `or`,
/// `-word`; best match first), filters by `category`, `tag` and `language`; without `q`, in
/// creation order; paged. Published ones only, but for admins (who may filter on `published`). Not
/// audited (health education names no patient).
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

/// Read an educational resource
///
/// Any signed-in user reads a published resource; a draft only admins (404 for anyone else). Not
/// audited (it names no patient). The `ETag` is its version, for `If-Match` on `PATCH`.
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

/// Recommend an educational resource to a patient
///
/// A doctor on the patient's care team (403 for other callers; 404 out of reach) recommends a
/// published resource, with an optional note, once per patient and resource (409). The patient is
/// notified. Audited as `create` of an `education_recommendation`.
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

/// List a patient's recommended resources
///
/// The patient, a doctor on their care team, or an admin (404 for anyone else). Newest first, each
/// with the recommending doctor, the note and the resource's card; paged. Audited as a `search`.
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
