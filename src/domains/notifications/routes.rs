use std::convert::Infallible;
use std::time::Duration;

use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::IntoResponse;
use diesel::prelude::*;
use futures::Stream;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::{router::OpenApiRouter, routes};

use super::{notify, NewNotification, Notification};
use crate::app::AppState;
use crate::auth::permissions::Perm;
use crate::auth::Ctx;
use crate::db::now;
use crate::db::schema::{notifications, users};
use crate::http::{ApiError, AppJson, AppQuery, Created, ListResponse, PageParams, Validator};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_notifications, send_notification))
        .routes(routes!(unread_count))
        .routes(routes!(mark_read))
        .routes(routes!(read_all))
        .routes(routes!(stream))
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct NotificationFilter {
    /// `true`: only unread ones.
    pub unread: Option<bool>,
}

/// The caller's own notifications, newest first.
#[utoipa::path(get, path = "/notifications", tag = "notifications",
    params(NotificationFilter, PageParams),
    responses((status = 200, body = ListResponse<Notification>)))]
async fn list_notifications(
    State(state): State<AppState>,
    ctx: Ctx,
    AppQuery(f): AppQuery<NotificationFilter>,
    AppQuery(page): AppQuery<PageParams>,
) -> Result<ListResponse<Notification>, ApiError> {
    let page = page.page()?;
    let user_id = ctx.user_id().to_string();
    let rows = state
        .db
        .read(move |conn| {
            let mut q = notifications::table
                .filter(notifications::user_id.eq(user_id))
                .select(Notification::as_select())
                .order(notifications::id.desc())
                .limit(page.limit + 1)
                .into_boxed();
            if f.unread == Some(true) {
                q = q.filter(notifications::read_at.is_null());
            }
            if let Some(after) = page.after {
                q = q.filter(notifications::id.lt(after));
            }
            Ok(q.load(conn)?)
        })
        .await?;
    Ok(ListResponse::from_rows(rows, page.limit, |n| n.id.clone()))
}

#[derive(Serialize, ToSchema)]
pub struct UnreadCount {
    pub count: i64,
}

#[utoipa::path(get, path = "/notifications/unread-count", tag = "notifications",
    responses((status = 200, body = UnreadCount)))]
async fn unread_count(
    State(state): State<AppState>,
    ctx: Ctx,
) -> Result<axum::Json<UnreadCount>, ApiError> {
    let user_id = ctx.user_id().to_string();
    let count = state
        .db
        .read(move |conn| {
            Ok(notifications::table
                .filter(notifications::user_id.eq(user_id))
                .filter(notifications::read_at.is_null())
                .count()
                .get_result(conn)?)
        })
        .await?;
    Ok(axum::Json(UnreadCount { count }))
}

/// Marks one of the caller's notifications read; someone else's is 404.
#[utoipa::path(post, path = "/notifications/{id}/read", tag = "notifications",
    params(("id" = String, Path)),
    responses((status = 200, body = Notification), (status = 404, body = crate::http::Problem)))]
async fn mark_read(
    State(state): State<AppState>,
    ctx: Ctx,
    Path(id): Path<String>,
) -> Result<axum::Json<Notification>, ApiError> {
    let user_id = ctx.user_id().to_string();
    let n = state
        .db
        .write(move |tx| {
            diesel::update(
                notifications::table
                    .filter(notifications::id.eq(&id))
                    .filter(notifications::user_id.eq(&user_id))
                    .filter(notifications::read_at.is_null()),
            )
            .set(notifications::read_at.eq(now()))
            .execute(tx.conn)?;
            notifications::table
                .filter(notifications::id.eq(&id))
                .filter(notifications::user_id.eq(&user_id))
                .select(Notification::as_select())
                .first(tx.conn)
                .optional()?
                .ok_or_else(ApiError::not_found)
        })
        .await?;
    Ok(axum::Json(n))
}

#[derive(Serialize, ToSchema)]
pub struct ReadAll {
    /// How many were marked read.
    pub updated: usize,
}

#[utoipa::path(post, path = "/notifications/read-all", tag = "notifications",
    responses((status = 200, body = ReadAll)))]
async fn read_all(
    State(state): State<AppState>,
    ctx: Ctx,
) -> Result<axum::Json<ReadAll>, ApiError> {
    let user_id = ctx.user_id().to_string();
    let updated = state
        .db
        .write(move |tx| {
            Ok(diesel::update(
                notifications::table
                    .filter(notifications::user_id.eq(&user_id))
                    .filter(notifications::read_at.is_null()),
            )
            .set(notifications::read_at.eq(now()))
            .execute(tx.conn)?)
        })
        .await?;
    Ok(axum::Json(ReadAll { updated }))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SystemMessage {
    pub user_id: String,
    pub title: String,
    pub body: String,
}

/// A system message from an admin to one user.
#[utoipa::path(post, path = "/notifications", tag = "notifications",
    request_body = SystemMessage,
    responses((status = 201, body = Notification), (status = 403, body = crate::http::Problem),
        (status = 409, body = crate::http::Problem), (status = 422, body = crate::http::Problem)))]
async fn send_notification(
    State(state): State<AppState>,
    ctx: Ctx,
    AppJson(body): AppJson<SystemMessage>,
) -> Result<Created<Notification>, ApiError> {
    ctx.require(Perm::NotificationsSend, "create", "notification")?;
    let mut v = Validator::new();
    v.text("user_id", &body.user_id, 1, 64);
    v.text("title", &body.title, 1, 200);
    v.text("body", &body.body, 1, 2000);
    v.finish()?;
    let entry_ctx = ctx.clone();
    let n = state
        .db
        .write(move |tx| {
            let exists: i64 = users::table
                .filter(users::id.eq(&body.user_id))
                .count()
                .get_result(tx.conn)?;
            if exists == 0 {
                return Err(ApiError::conflict("user_id does not name an existing user"));
            }
            let n = notify(
                tx,
                NewNotification {
                    user_id: &body.user_id,
                    kind: "system",
                    title: body.title,
                    body: body.body,
                    resource_type: None,
                    resource_id: None,
                },
            )?;
            crate::audit::record(
                tx.conn,
                &entry_ctx.entry("create", "notification", Some(&n.id), None),
            )?;
            Ok(n)
        })
        .await?;
    Ok(Created {
        location: format!("/api/v1/notifications/{}", n.id),
        version: None,
        body: n,
    })
}

/// Server-sent events: every new notification of the caller, event id = notification id.
/// Sending `Last-Event-ID` replays what was created after that id first.
#[utoipa::path(get, path = "/notifications/stream", tag = "notifications",
    responses((status = 200, description = "text/event-stream of notifications", content_type = "text/event-stream")))]
async fn stream(
    State(state): State<AppState>,
    ctx: Ctx,
    headers: HeaderMap,
) -> Result<impl IntoResponse, ApiError> {
    let last_seen = headers
        .get("last-event-id")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    let user_id = ctx.user_id().to_string();
    // Subscribe before the replay query so nothing committed in between is missed.
    let live = state.hub.subscribe();
    let replay = match &last_seen {
        Some(last) => {
            let (uid, last) = (user_id.clone(), last.clone());
            state
                .db
                .read(move |conn| Ok(missed_since(conn, &uid, &last)?))
                .await?
        }
        None => Vec::new(),
    };
    let db = state.db.clone();
    let shutdown = state.hub.shutdown_watch();
    let events = event_stream(db, user_id, last_seen, replay, live, shutdown);
    Ok((
        StatusCode::OK,
        Sse::new(events).keep_alive(KeepAlive::new().interval(Duration::from_secs(15))),
    ))
}

fn missed_since(
    conn: &mut crate::db::DbConn,
    user_id: &str,
    last: &str,
) -> QueryResult<Vec<Notification>> {
    notifications::table
        .filter(notifications::user_id.eq(user_id))
        .filter(notifications::id.gt(last))
        .order(notifications::id)
        .limit(1000)
        .select(Notification::as_select())
        .load(conn)
}

fn to_event(n: &Notification) -> Event {
    Event::default()
        .id(n.id.clone())
        .event("notification")
        .json_data(n)
        .unwrap_or_else(|_| Event::default().comment("unserialisable"))
}

/// The ids a stream has sent lately, to drop the same notification arriving twice (in the
/// replay and live, or twice from the hub). Bounded: the oldest are forgotten first.
struct Sent {
    order: std::collections::VecDeque<String>,
    ids: std::collections::HashSet<String>,
    /// The greatest id sent: where a catch-up from the database starts.
    newest: Option<String>,
}

impl Sent {
    const CAP: usize = 4096;

    fn new(last_seen: Option<String>) -> Sent {
        Sent {
            order: Default::default(),
            ids: Default::default(),
            newest: last_seen,
        }
    }

    /// Records an id; false if it was sent already.
    fn insert(&mut self, id: &str) -> bool {
        if !self.ids.insert(id.to_string()) {
            return false;
        }
        self.order.push_back(id.to_string());
        if self.order.len() > Self::CAP {
            if let Some(old) = self.order.pop_front() {
                self.ids.remove(&old);
            }
        }
        if self.newest.as_deref().is_none_or(|n| id > n) {
            self.newest = Some(id.to_string());
        }
        true
    }
}

/// The replay first, then live notifications of this user. A live one is sent even when its id
/// sorts before one already sent: ids are taken when a transaction starts, and concurrent
/// transactions (or nodes) commit in any order. Duplicates are dropped by id.
fn event_stream(
    db: crate::db::Db,
    user_id: String,
    last_seen: Option<String>,
    replay: Vec<Notification>,
    mut live: tokio::sync::broadcast::Receiver<std::sync::Arc<Notification>>,
    mut shutdown: tokio::sync::watch::Receiver<bool>,
) -> impl Stream<Item = Result<Event, Infallible>> {
    async_stream::stream! {
        let mut sent = Sent::new(last_seen);
        for n in replay {
            if sent.insert(&n.id) {
                yield Ok(to_event(&n));
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
                Ok(n) if n.id.is_empty() => true,
                Ok(n) => {
                    if n.user_id == user_id && sent.insert(&n.id) {
                        yield Ok(to_event(&n));
                    }
                    false
                }
                // Fell behind the hub.
                Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => true,
                Err(tokio::sync::broadcast::error::RecvError::Closed) => break,
            };
            if catch_up {
                let (uid, last) = (user_id.clone(), sent.newest.clone().unwrap_or_default());
                let missed = db.read(move |conn| Ok(missed_since(conn, &uid, &last)?)).await;
                if let Ok(missed) = missed {
                    for n in missed {
                        if sent.insert(&n.id) {
                            yield Ok(to_event(&n));
                        }
                    }
                }
            }
        }
    }
}
