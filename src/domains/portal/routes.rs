//! `/messages`: parse, call the rule, answer.

use axum::extract::Path;
use utoipa_axum::{router::OpenApiRouter, routes};

use super::{BoxQuery, Message, MessageId, NewMessage, MESSAGE};
use crate::http::{ApiError, AppJson, AppQuery, Created, ListResponse, PageParams, Problem};
use crate::kit::{route, Access, AppState, Ctx};

pub fn router() -> OpenApiRouter<AppState> {
    // Every signed-in user has a mailbox; who may write to whom is the rule's (`may_write`).
    let mail = Access::SignedIn;
    OpenApiRouter::new()
        .routes(route(mail, MESSAGE, routes!(send_message)))
        .routes(route(mail, MESSAGE, routes!(list_messages)))
        .routes(route(mail, MESSAGE, routes!(get_message)))
        .routes(route(mail, MESSAGE, routes!(read_message)))
        .routes(route(mail, MESSAGE, routes!(get_thread)))
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
