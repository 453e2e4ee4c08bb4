//! `/messages`: parse, call the rule, answer.

use axum::extract::Path;
use utoipa_axum::{router::OpenApiRouter, routes};

use super::feedback::{self, CategorySummary, Feedback, FeedbackFilter, NewFeedback, FEEDBACK};
use super::{BoxQuery, Message, MessageId, NewMessage, MESSAGE};
use crate::http::{ApiError, AppJson, AppQuery, Created, ListResponse, PageParams, Problem};
use crate::kit::{route, route_unaudited, Access, AppState, Ctx};

pub fn router() -> OpenApiRouter<AppState> {
    // Every signed-in user has a mailbox; who may write to whom is the rule's (`may_write`).
    let mail = Access::SignedIn;
    OpenApiRouter::new()
        .routes(route(mail, MESSAGE, routes!(send_message)))
        .routes(route(mail, MESSAGE, routes!(list_messages)))
        .routes(route(mail, MESSAGE, routes!(get_message)))
        .routes(route(mail, MESSAGE, routes!(read_message)))
        .routes(route(mail, MESSAGE, routes!(get_thread)))
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
    Ok(ctx.reveal(found).await)
}

/// One message the caller sent or received (404 for anyone else, admins included).
#[utoipa::path(get, path = "/messages/{id}", tag = "portal", params(("id" = String, Path)),
    responses((status = 200, body = Message), (status = 404, body = Problem)))]
async fn get_message(ctx: Ctx, Path(id): Path<MessageId>) -> Result<axum::Json<Message>, ApiError> {
    let found = ctx
        .read(move |conn, actor| super::get(conn, actor, &id))
        .await?;
    Ok(axum::Json(ctx.reveal(found).await))
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
    Ok(axum::Json(ctx.reveal(found).await))
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
