//! `/notifications`: the caller's own list, read state, system messages, and the SSE stream.

use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use crate::http::Path;
use axum::http::{HeaderMap, StatusCode};
use axum::response::sse::{Event as SseEvent, KeepAlive, Sse};
use axum::response::IntoResponse;
use futures::Stream;
use serde::Serialize;
use utoipa::ToSchema;
use utoipa_axum::{router::OpenApiRouter, routes};

use super::{Notification, NotificationFilter, SystemMessage, NOTIFICATION, TOPIC};
use crate::db::Db;
use crate::http::{ApiError, AppJson, AppQuery, Created, ListResponse, PageParams, Problem};
use crate::kit::AppState;
use crate::kit::{route, route_unaudited, Access, Audited, Ctx, Perm, Result};
use crate::realtime::{Event, Seen};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(route(
            Access::SignedIn,
            NOTIFICATION,
            routes!(list_notifications),
        ))
        .routes(route(
            Access::Perm(Perm::NotificationsSend),
            NOTIFICATION,
            routes!(send_notification),
        ))
        .routes(route_unaudited(
            Access::SignedIn,
            NOTIFICATION,
            "a count of one's own unread notifications, polled by clients",
            routes!(unread_count),
        ))
        .routes(route(Access::SignedIn, NOTIFICATION, routes!(mark_read)))
        .routes(route(Access::SignedIn, NOTIFICATION, routes!(read_all)))
        .routes(route(Access::SignedIn, NOTIFICATION, routes!(stream)))
}

/// List the caller's notifications
///
/// Any signed-in user, their own only. Newest first; `unread=true` keeps the unread ones; paged.
/// Notifications are created by the flows that concern the caller (a booking, a lab result, a
/// message...) in the same transaction. Audited as a `search`.
#[utoipa::path(get, path = "/notifications", tag = "notifications",
    params(NotificationFilter, PageParams),
    responses((status = 200, body = ListResponse<Notification>)))]
async fn list_notifications(
    ctx: Ctx,
    AppQuery(f): AppQuery<NotificationFilter>,
    AppQuery(page): AppQuery<PageParams>,
) -> Result<ListResponse<Notification>, ApiError> {
    let page = page.page()?;
    let user = ctx.user_id().to_string();
    let list = ctx
        .read(move |conn, _| super::list_own(conn, &user, f, &page))
        .await?;
    Ok(ctx
        .reveal(Audited::search(
            list,
            NOTIFICATION,
            None,
            std::iter::empty(),
        ))
        .await?)
}

#[derive(Serialize, ToSchema)]
pub struct UnreadCount {
    pub count: i64,
}

/// Count the caller's unread notifications
///
/// Any signed-in user, their own only: what a client polls for a badge. Not audited (a count of
/// one's own notifications).
#[utoipa::path(get, path = "/notifications/unread-count", tag = "notifications",
    responses((status = 200, body = UnreadCount)))]
async fn unread_count(ctx: Ctx) -> Result<axum::Json<UnreadCount>, ApiError> {
    let user = ctx.user_id().to_string();
    let count = ctx
        .read(move |conn, _| super::unread_count(conn, &user))
        .await?;
    Ok(axum::Json(UnreadCount { count }))
}

/// Mark a notification read
///
/// Any signed-in user, on their own notifications only: someone else's is 404 (audited as a refused
/// update). Marking one that is read already keeps its first `read_at`. Audited as `update`.
#[utoipa::path(post, path = "/notifications/{id}/read", tag = "notifications",
    params(("id" = String, Path)),
    responses((status = 200, body = Notification), (status = 404, body = Problem)))]
async fn mark_read(ctx: Ctx, Path(id): Path<String>) -> Result<axum::Json<Notification>, ApiError> {
    Ok(axum::Json(
        ctx.write(move |tx| super::mark_read(tx, &id)).await?,
    ))
}

#[derive(Serialize, ToSchema)]
pub struct ReadAll {
    /// How many were marked read.
    pub updated: usize,
}

/// Mark every notification read
///
/// Any signed-in user: every unread notification of the caller becomes read; the answer says how
/// many. Audited as `update`.
#[utoipa::path(post, path = "/notifications/read-all", tag = "notifications",
    responses((status = 200, body = ReadAll)))]
async fn read_all(ctx: Ctx) -> Result<axum::Json<ReadAll>, ApiError> {
    let updated = ctx.write(super::mark_all_read).await?;
    Ok(axum::Json(ReadAll { updated }))
}

/// Send a system notification
///
/// Needs `notifications:send` (admin). A `system` notification to one user, with a title (1–200
/// characters) and a body (1–2000); it reaches their open streams at once. A user that does not
/// exist is 409. Audited as `create`.
#[utoipa::path(post, path = "/notifications", tag = "notifications",
    request_body = SystemMessage,
    responses((status = 201, body = Notification), (status = 403, body = Problem),
        (status = 409, body = Problem), (status = 422, body = Problem)))]
async fn send_notification(
    ctx: Ctx,
    AppJson(body): AppJson<SystemMessage>,
) -> Result<Created<Notification>, ApiError> {
    let n = ctx.write(move |tx| super::send(tx, body)).await?;
    Ok(Created {
        location: format!("/api/v1/notifications/{}", n.id),
        version: None,
        body: n,
    })
}

/// Stream the caller's notifications
///
/// Any signed-in user: server-sent events (`text/event-stream`) of every new notification of the
/// caller, event `notification`, event id = notification id, with a keep-alive every 15 seconds.
/// Sending `Last-Event-ID` replays what was created after that id first (up to 1,000). Opening the
/// stream is audited as one `search`.
#[utoipa::path(get, path = "/notifications/stream", tag = "notifications",
    responses((status = 200, description = "text/event-stream of notifications", content_type = "text/event-stream")))]
async fn stream(ctx: Ctx, headers: HeaderMap) -> Result<impl IntoResponse, ApiError> {
    let last_seen = headers
        .get("last-event-id")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    let user = ctx.user_id().to_string();
    let state = ctx.state().clone();
    // Subscribe before the replay query so nothing committed in between is missed.
    let live = state.hub.subscribe();
    let replay = match &last_seen {
        Some(last) => {
            let (u, last) = (user.clone(), last.clone());
            ctx.read(move |conn, _| super::missed_since(conn, &u, &last))
                .await?
        }
        None => Vec::new(),
    };
    // Opening the stream reads one's notifications: one entry, at the start.
    ctx.reveal(Audited::search((), NOTIFICATION, None, std::iter::empty()))
        .await?;
    let events = event_stream(
        state.db.clone(),
        user,
        last_seen,
        replay,
        live,
        state.hub.shutdown_watch(),
    );
    Ok((
        StatusCode::OK,
        Sse::new(events).keep_alive(KeepAlive::new().interval(Duration::from_secs(15))),
    ))
}

fn to_sse(n: &Notification) -> SseEvent {
    SseEvent::default()
        .id(n.id.clone())
        .event(TOPIC)
        .json_data(n)
        .unwrap_or_else(|_| SseEvent::default().comment("unserialisable"))
}

/// The notification an event carries, or, when it travelled without its data (too large for
/// a NOTIFY payload), the row it names.
async fn notification_of(db: &Db, e: &Event, user_id: &str) -> Option<Notification> {
    if let Some(n) = e.data.as_deref().and_then(|d| serde_json::from_str(d).ok()) {
        return Some(n);
    }
    let (id, user) = (e.id.clone(), user_id.to_string());
    db.read(move |conn| super::load_own(conn, &id, &user))
        .await
        .ok()
        .flatten()
}

/// The replay first, then live notifications of this user. A live one is sent even when its id
/// sorts before one already sent: ids are taken when a transaction starts, and concurrent
/// transactions (or nodes) commit in any order. Duplicates are dropped by id.
fn event_stream(
    db: Db,
    user_id: String,
    last_seen: Option<String>,
    replay: Vec<Notification>,
    mut live: tokio::sync::broadcast::Receiver<Arc<Event>>,
    mut shutdown: tokio::sync::watch::Receiver<bool>,
) -> impl Stream<Item = Result<SseEvent, Infallible>> {
    async_stream::stream! {
        let mut sent = Seen::new(last_seen);
        for n in replay {
            if sent.insert(&n.id) {
                yield Ok(to_sse(&n));
            }
        }
        loop {
            let received = tokio::select! {
                r = live.recv() => r,
                // The server is shutting down: end the stream (the client reconnects elsewhere
                // with Last-Event-ID).
                _ = shutdown.changed() => break,
            };
            let catch_up = match received {
                // The hub's resync signal: the listener reconnected and may have missed some.
                Ok(e) if e.topic == crate::realtime::RESYNC => true,
                Ok(e) => {
                    if e.topic == TOPIC && e.key == user_id && !sent.contains(&e.id) {
                        if let Some(n) = notification_of(&db, &e, &user_id).await {
                            if sent.insert(&n.id) {
                                yield Ok(to_sse(&n));
                            }
                        }
                    }
                    false
                }
                // Fell behind the hub.
                Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => true,
                Err(tokio::sync::broadcast::error::RecvError::Closed) => break,
            };
            if catch_up {
                let (uid, last) = (user_id.clone(), sent.newest().unwrap_or_default().to_string());
                let missed = db
                    .read(move |conn| super::missed_since(conn, &uid, &last))
                    .await;
                if let Ok(missed) = missed {
                    for n in missed {
                        if sent.insert(&n.id) {
                            yield Ok(to_sse(&n));
                        }
                    }
                }
            }
        }
    }
}
