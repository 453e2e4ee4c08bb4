//! `/virtual-visits`, `/video-sessions` and the chat socket: parse, call the rule, answer.

use axum::extract::ws::WebSocketUpgrade;
use axum::extract::FromRequestParts;

use crate::http::Path;
use axum::http::request::Parts;
use axum::response::Response;
use serde::Deserialize;
use utoipa_axum::{router::OpenApiRouter, routes};

use super::chat::{self, ChatFilter, ChatMessage, ChatTicket, MessageId, NewChatMessage, CHAT};
use super::video::{self, SessionId, VideoSession, SESSION};
use super::{socket, NewVisit, VirtualVisit, VisitChange, VisitFilter, VisitId, VISIT};
use crate::http::{
    ApiError, AppJson, AppQuery, Created, ListResponse, PageParams, Problem, Tagged,
};
use crate::kit::ctx::{client_addr, request_id};
use crate::kit::{route, Access, Actor, AppState, Ctx, IfMatch, Perm, Timestamp};

pub fn router() -> OpenApiRouter<AppState> {
    let read = Access::Perm(Perm::TelemedicineRead);
    let write = Access::Perm(Perm::TelemedicineWrite);
    OpenApiRouter::new()
        .routes(route(write, VISIT, routes!(create_visit)))
        .routes(route(read, VISIT, routes!(list_visits)))
        .routes(route(read, VISIT, routes!(get_visit)))
        .routes(route(write, VISIT, routes!(patch_visit)))
        .routes(route(write, SESSION, routes!(start_session)))
        .routes(route(read, SESSION, routes!(list_sessions)))
        .routes(route(read, SESSION, routes!(get_session)))
        .routes(route(write, SESSION, routes!(end_session)))
        .routes(route(write, CHAT, routes!(post_message)))
        .routes(route(read, CHAT, routes!(list_messages)))
        .routes(route(read, chat::TICKET, routes!(create_ticket)))
        .routes(route(read, CHAT, routes!(chat_socket)))
}

/// Schedule a virtual visit
///
/// Needs `telemedicine:write`. A patient schedules for themself, a doctor as the visit's doctor, an
/// admin for anyone (403 otherwise). Times must lie in the future, end after start, within the
/// longest visit (422). The patient must have given `telemedicine` consent (409
/// `consent-required`); an overlap with another scheduled or in-progress visit of the doctor is 409
/// `booking-clash`, even when concurrent. The doctor joins the care team and the other party is
/// notified. Audited as `create`.
#[utoipa::path(post, path = "/virtual-visits", tag = "telemedicine", request_body = NewVisit,
    responses((status = 201, body = VirtualVisit), (status = 403, body = Problem),
        (status = 409, body = Problem), (status = 422, body = Problem)))]
async fn create_visit(
    ctx: Ctx,
    AppJson(body): AppJson<NewVisit>,
) -> Result<Created<VirtualVisit>, ApiError> {
    let visit = ctx.write(move |tx| super::schedule(tx, body, true)).await?;
    Ok(Created {
        location: format!("/api/v1/virtual-visits/{}", visit.id),
        version: Some(visit.version),
        body: visit,
    })
}

/// List virtual visits
///
/// Needs `telemedicine:read`. The visits the caller takes part in, as patient or doctor (every
/// visit for admins; the rest of the care team does not see them). Filters: `patient_id`,
/// `doctor_id`, `status`, and a `from`/`to` window on the start time; by start time, paged. Audited
/// as a `search` per patient listed.
#[utoipa::path(get, path = "/virtual-visits", tag = "telemedicine", params(VisitFilter, PageParams),
    responses((status = 200, body = ListResponse<VirtualVisit>), (status = 403, body = Problem),
        (status = 422, body = Problem)))]
async fn list_visits(
    ctx: Ctx,
    AppQuery(f): AppQuery<VisitFilter>,
    AppQuery(page): AppQuery<PageParams>,
) -> Result<ListResponse<VirtualVisit>, ApiError> {
    let page = page.page()?;
    let found = ctx
        .read(move |conn, actor| super::list(conn, actor, f, &page))
        .await?;
    Ok(ctx.reveal(found).await?)
}

/// Read a virtual visit
///
/// Needs `telemedicine:read`: the visit's patient, its doctor, or an admin (404 for anyone else).
/// Audited as a `read`. The `ETag` is its version, for `If-Match` on `PATCH`.
#[utoipa::path(get, path = "/virtual-visits/{id}", tag = "telemedicine", params(("id" = String, Path)),
    responses((status = 200, body = VirtualVisit), (status = 404, body = Problem)))]
async fn get_visit(ctx: Ctx, Path(id): Path<VisitId>) -> Result<Tagged<VirtualVisit>, ApiError> {
    let found = ctx
        .read(move |conn, actor| super::get(conn, actor, &id))
        .await?;
    let v = ctx.reveal(found).await?;
    Ok(Tagged(v.version, v))
}

/// Reschedule, cancel or complete a virtual visit
///
/// Needs `telemedicine:write`; the visit's patient, its doctor or an admin (404 for anyone else,
/// 403 for a status the caller may not set). New times only while `scheduled` (409 otherwise),
/// checked for clashes like scheduling. Cancel (either party, with a `cancel_reason`, 422 without)
/// while scheduled or in progress; complete (the doctor or an admin) once in progress; other moves
/// are 409 `illegal-transition`. Completing or cancelling ends a live video session; a cancellation
/// or a new time notifies the other party. `If-Match` is honoured (412 when stale). Audited as
/// `update` or `state_change`.
#[utoipa::path(patch, path = "/virtual-visits/{id}", tag = "telemedicine", params(("id" = String, Path)),
    request_body = VisitChange,
    responses((status = 200, body = VirtualVisit), (status = 403, body = Problem),
        (status = 404, body = Problem), (status = 409, body = Problem),
        (status = 412, body = Problem), (status = 422, body = Problem)))]
async fn patch_visit(
    ctx: Ctx,
    Path(id): Path<VisitId>,
    if_match: IfMatch,
    AppJson(body): AppJson<VisitChange>,
) -> Result<Tagged<VirtualVisit>, ApiError> {
    let v = ctx
        .write(move |tx| super::change(tx, &id, body, if_match, Timestamp::now()))
        .await?;
    Ok(Tagged(v.version, v))
}

/// Start a video session
///
/// Needs `telemedicine:write`; the visit's patient or doctor (403 for an admin, 404 for anyone
/// else). The patient's telemedicine consent is checked again (409 `consent-required`); the visit
/// must be scheduled or in progress and have no live session (409). The answer holds the room's
/// name and, when configured, its join URL. The first session moves the visit to `in_progress`; the
/// other party is notified. Audited as `create`.
#[utoipa::path(post, path = "/virtual-visits/{id}/video-sessions", tag = "telemedicine",
    params(("id" = String, Path)),
    responses((status = 201, body = VideoSession), (status = 403, body = Problem),
        (status = 404, body = Problem), (status = 409, body = Problem)))]
async fn start_session(
    ctx: Ctx,
    Path(id): Path<VisitId>,
) -> Result<Created<VideoSession>, ApiError> {
    let template = ctx.state().config.video_url_template.clone();
    let s = ctx
        .write(move |tx| video::start(tx, &id, template.as_deref(), Timestamp::now()))
        .await?;
    Ok(Created {
        location: format!("/api/v1/video-sessions/{}", s.id),
        version: Some(s.version),
        body: s,
    })
}

/// List a visit's video sessions
///
/// Needs `telemedicine:read`: the visit's patient, its doctor, or an admin (404 otherwise). Oldest
/// first, paged. Audited as a `search`.
#[utoipa::path(get, path = "/virtual-visits/{id}/video-sessions", tag = "telemedicine",
    params(("id" = String, Path), PageParams),
    responses((status = 200, body = ListResponse<VideoSession>), (status = 404, body = Problem)))]
async fn list_sessions(
    ctx: Ctx,
    Path(id): Path<VisitId>,
    AppQuery(page): AppQuery<PageParams>,
) -> Result<ListResponse<VideoSession>, ApiError> {
    let page = page.page()?;
    let found = ctx
        .read(move |conn, actor| video::list(conn, actor, &id, &page))
        .await?;
    Ok(ctx.reveal(found).await?)
}

/// Read a video session
///
/// Needs `telemedicine:read`: the visit's patient, its doctor, or an admin (404 otherwise). Audited
/// as a `read`.
#[utoipa::path(get, path = "/video-sessions/{id}", tag = "telemedicine",
    params(("id" = String, Path)),
    responses((status = 200, body = VideoSession), (status = 404, body = Problem)))]
async fn get_session(
    ctx: Ctx,
    Path(id): Path<SessionId>,
) -> Result<Tagged<VideoSession>, ApiError> {
    let found = ctx
        .read(move |conn, actor| video::get(conn, actor, &id))
        .await?;
    let s = ctx.reveal(found).await?;
    Ok(Tagged(s.version, s))
}

/// End a video session
///
/// Needs `telemedicine:write`: the visit's patient, its doctor, or an admin clearing a stuck one
/// (404 for anyone else). Sets `ended_at` and `duration_seconds`; a second end is 409
/// `illegal-transition`. Audited as `update`.
#[utoipa::path(post, path = "/video-sessions/{id}/end", tag = "telemedicine",
    params(("id" = String, Path)),
    responses((status = 200, body = VideoSession), (status = 404, body = Problem),
        (status = 409, body = Problem)))]
async fn end_session(
    ctx: Ctx,
    Path(id): Path<SessionId>,
) -> Result<Tagged<VideoSession>, ApiError> {
    let s = ctx
        .write(move |tx| video::end(tx, &id, Timestamp::now()))
        .await?;
    Ok(Tagged(s.version, s))
}

/// Post a chat message to a visit
///
/// Needs `telemedicine:write`; the visit's patient or doctor (403 for an admin, 404 for anyone
/// else), while the visit is scheduled or in progress (409 once closed). The body is 1–4000
/// characters, not blank. The message reaches every connected socket of the visit, on every node,
/// and the other party is notified unless a chat notification of this visit is still unread.
/// Audited as `create`.
#[utoipa::path(post, path = "/virtual-visits/{id}/chat", tag = "telemedicine",
    params(("id" = String, Path)), request_body = NewChatMessage,
    responses((status = 201, body = ChatMessage), (status = 403, body = Problem),
        (status = 404, body = Problem), (status = 409, body = Problem),
        (status = 422, body = Problem)))]
async fn post_message(
    ctx: Ctx,
    Path(id): Path<VisitId>,
    AppJson(body): AppJson<NewChatMessage>,
) -> Result<Created<ChatMessage>, ApiError> {
    let m = ctx
        .write(move |tx| chat::post(tx, &id, body, Timestamp::now()))
        .await?;
    Ok(Created {
        location: format!(
            "/api/v1/virtual-visits/{}/chat?after={}",
            m.virtual_visit_id, m.id
        ),
        version: None,
        body: m,
    })
}

/// List a visit's chat messages
///
/// Needs `telemedicine:read`: the visit's patient, its doctor, or an admin (404 otherwise). Oldest
/// first; `after` (a message id) for what came since; paged. Audited as a `search` of the chat.
#[utoipa::path(get, path = "/virtual-visits/{id}/chat", operation_id = "list_chat_messages", tag = "telemedicine",
    params(("id" = String, Path), ChatFilter, PageParams),
    responses((status = 200, body = ListResponse<ChatMessage>), (status = 404, body = Problem)))]
async fn list_messages(
    ctx: Ctx,
    Path(id): Path<VisitId>,
    AppQuery(f): AppQuery<ChatFilter>,
    AppQuery(page): AppQuery<PageParams>,
) -> Result<ListResponse<ChatMessage>, ApiError> {
    let page = page.page()?;
    let found = ctx
        .read(move |conn, actor| chat::history(conn, actor, &id, f.after, &page))
        .await?;
    Ok(ctx.reveal(found).await?)
}

/// Get a ticket for the chat socket
///
/// Needs `telemedicine:read`: the visit's patient, its doctor, or an admin (404 otherwise). A
/// single-use ticket, valid 60 seconds, that opens the chat socket as the caller: `GET
/// /virtual-visits/{id}/chat/ws?ticket=...` (browsers cannot set headers on a WebSocket, and a
/// session token never goes into a URL). Only its hash is stored. Audited as `create`.
#[utoipa::path(post, path = "/virtual-visits/{id}/chat/ticket", tag = "telemedicine",
    params(("id" = String, Path)),
    responses((status = 201, body = ChatTicket), (status = 404, body = Problem)))]
async fn create_ticket(
    ctx: Ctx,
    Path(id): Path<VisitId>,
) -> Result<(axum::http::StatusCode, axum::Json<ChatTicket>), ApiError> {
    let token_hash = ctx.principal().token_hash.clone();
    let t = ctx
        .write(move |tx| chat::issue_ticket(tx, &id, &token_hash))
        .await?;
    Ok((axum::http::StatusCode::CREATED, axum::Json(t)))
}

/// The query of the chat socket.
#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
struct SocketParams {
    /// A message id: replay what came after it before live messages.
    after: Option<MessageId>,
    /// A ticket from `POST /virtual-visits/{id}/chat/ticket`, instead of the bearer header.
    ticket: Option<String>,
}

/// The caller of the chat socket: the bearer header, as every route, or a single-use ticket.
struct SocketCaller(Ctx);

impl FromRequestParts<AppState> for SocketCaller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        if parts
            .headers
            .contains_key(axum::http::header::AUTHORIZATION)
        {
            return Ok(SocketCaller(Ctx::from_request_parts(parts, state).await?));
        }
        let AppQuery(q) = AppQuery::<SocketParams>::from_request_parts(parts, state).await?;
        let Some(ticket) = q.ticket else {
            return Err(ApiError::unauthorized());
        };
        let Path(visit) = Path::<VisitId>::from_request_parts(parts, state)
            .await
            .map_err(|_| ApiError::not_found())?;
        let visitor = Actor::visitor(request_id(parts), client_addr(parts), state.audit.clone());
        let principal = visitor
            .write(&state.db, move |tx| {
                chat::redeem_ticket(tx, &visit, &ticket)
            })
            .await?;
        Ok(SocketCaller(
            Ctx::with_principal(parts, state, std::sync::Arc::new(principal)).await?,
        ))
    }
}

/// Open the chat socket of a visit
///
/// Needs `telemedicine:read` (the bearer header, or a `ticket` from the ticket route): the visit's
/// patient, its doctor, or an admin (404 otherwise). Frames are JSON: send `{"body": "..."}`;
/// receive `{"type": "message", "message": ChatMessage}` for every message of the visit (yours too,
/// once stored), and `{"type": "error", "detail": "...", "problem": Problem}` for a frame that was
/// refused (the socket stays open). `?after=` replays what was missed first. Opening it is audited
/// as a read of the chat.
#[utoipa::path(get, path = "/virtual-visits/{id}/chat/ws", tag = "telemedicine",
    params(("id" = String, Path), SocketParams),
    responses((status = 101, description = "Switching to the WebSocket protocol"),
        (status = 401, body = Problem), (status = 404, body = Problem)))]
async fn chat_socket(
    SocketCaller(ctx): SocketCaller,
    Path(id): Path<VisitId>,
    AppQuery(q): AppQuery<SocketParams>,
    ws: WebSocketUpgrade,
) -> Result<Response, ApiError> {
    let live = socket::Live::start(&ctx, id, q.after).await?;
    Ok(ws
        .max_message_size(socket::MAX_FRAME_BYTES)
        .on_upgrade(move |ws| live.run(ws)))
}
