//! The chat socket: what a participant missed (`?after=`), then every message of the visit as
//! it is committed, on whichever node it was written (the live hub: PostgreSQL LISTEN/NOTIFY,
//! or this node's own on SQLite). Frames a participant sends are stored exactly like
//! `POST /virtual-visits/{id}/chat`; a refused frame is answered with an error frame.
//!
//! A slow reader cannot hold anyone else up: each socket has its own bounded place in the hub
//! (falling behind drops events there, and the socket catches up from the database), and a
//! send that waits longer than `SEND_TIMEOUT` closes that socket.

use std::sync::Arc;
use std::time::Duration;

use axum::extract::ws::{CloseFrame, Message, WebSocket};
use serde_json::json;
use tokio::sync::broadcast::{self, error::RecvError};

use super::chat::{self, ChatMessage, MessageId, NewChatMessage, CHAT_TOPIC};
use super::VisitId;
use crate::http::ApiError;
use crate::kit::{Action, Ctx, Error, Perm, Timestamp};
use crate::realtime::{Event, Seen, RESYNC};

/// The largest frame a client may send (a 4,000-character message is at most 16 KB).
pub const MAX_FRAME_BYTES: usize = 64 * 1024;
/// A send that takes longer than this closes the socket: the client stopped reading.
const SEND_TIMEOUT: Duration = Duration::from_secs(10);
/// How often an idle socket checks that its session is still live.
const SESSION_CHECK: Duration = Duration::from_secs(15);
/// Close codes (RFC 6455): going away, policy violation.
const GOING_AWAY: u16 = 1001;
const POLICY: u16 = 1008;

/// A socket about to open: its caller, its visit, what it replays and where live goes on.
pub struct Live {
    ctx: Ctx,
    visit: VisitId,
    replay: Vec<ChatMessage>,
    seen: Seen,
    events: broadcast::Receiver<Arc<Event>>,
}

impl Live {
    /// Checks the caller reaches the visit (404, audited, otherwise; the opening is an audited
    /// read of the chat), subscribes to the hub, then reads the replay, so nothing committed in
    /// between is lost.
    pub async fn start(ctx: &Ctx, visit: VisitId, after: Option<MessageId>) -> Result<Live, Error> {
        let v = visit.clone();
        let opened = ctx
            .read(move |conn, actor| chat::open(conn, actor, &v))
            .await?;
        ctx.reveal(opened).await?;
        let events = ctx.state().hub.subscribe();
        let v = visit.clone();
        let (replay, newest) = ctx
            .read(move |conn, _| chat::replay(conn, &v, after.as_ref()))
            .await?;
        Ok(Live {
            ctx: ctx.clone(),
            visit,
            replay,
            seen: Seen::new(newest),
            events,
        })
    }

    /// Serves the socket until the client leaves, its session ends, it stops reading, or the
    /// server shuts down.
    pub async fn run(mut self, mut ws: WebSocket) {
        let mut shutdown = self.ctx.state().hub.shutdown_watch();
        let mut check = tokio::time::interval(SESSION_CHECK);
        check.tick().await;
        for m in std::mem::take(&mut self.replay) {
            if self.seen.insert(m.id.as_str()) && !send(&mut ws, message_frame(&m)).await {
                return;
            }
        }
        loop {
            tokio::select! {
                frame = ws.recv() => match frame {
                    Some(Ok(Message::Text(text))) => {
                        if !self.signed_in().await {
                            close(&mut ws, POLICY, "the session has ended").await;
                            return;
                        }
                        if let Some(refusal) = self.receive(text.as_str()).await {
                            if !send(&mut ws, refusal).await {
                                return;
                            }
                        }
                    }
                    Some(Ok(Message::Binary(_))) => {
                        let refusal = error_frame(&ApiError::bad_request(
                            "frames are JSON text: {\"body\": \"...\"}",
                        ));
                        if !send(&mut ws, refusal).await {
                            return;
                        }
                    }
                    // Pings are answered by the socket itself.
                    Some(Ok(Message::Ping(_) | Message::Pong(_))) => {}
                    Some(Ok(Message::Close(_))) | Some(Err(_)) | None => return,
                },
                event = self.events.recv() => {
                    let catch_up = match event {
                        Ok(e) if e.topic == RESYNC => true,
                        Ok(e) => {
                            if e.topic == CHAT_TOPIC && e.key == self.visit.as_str() {
                                if let Some(m) = self.message_of(&e).await {
                                    if self.seen.insert(m.id.as_str())
                                        && !send(&mut ws, message_frame(&m)).await
                                    {
                                        return;
                                    }
                                }
                            }
                            false
                        }
                        // This socket fell behind the hub: the database has what it missed.
                        Err(RecvError::Lagged(_)) => true,
                        Err(RecvError::Closed) => return,
                    };
                    if catch_up && !self.catch_up(&mut ws).await {
                        return;
                    }
                }
                _ = check.tick() => {
                    if !self.signed_in().await {
                        close(&mut ws, POLICY, "the session has ended").await;
                        return;
                    }
                }
                _ = shutdown.changed() => {
                    close(&mut ws, GOING_AWAY, "the server is shutting down").await;
                    return;
                }
            }
        }
    }

    /// Stores a frame's message as the caller; the refusal to send back when it is refused.
    /// The stored message reaches this socket, like every other, through the hub.
    async fn receive(&self, text: &str) -> Option<Message> {
        let m: NewChatMessage = match crate::http::parse_json(text.as_bytes()) {
            Ok(m) => m,
            Err(e) => return Some(error_frame(&e)),
        };
        if !self.ctx.actor().holds(Perm::TelemedicineWrite) {
            let e = self.ctx.deny(
                Error::forbidden("your role may not write in a chat"),
                Action::Create,
                chat::CHAT,
                Some(self.visit.as_str()),
                None,
            );
            return Some(error_frame(&e.into()));
        }
        let visit = self.visit.clone();
        match self
            .ctx
            .write(move |tx| chat::post(tx, &visit, m, Timestamp::now()))
            .await
        {
            Ok(_) => None,
            Err(e) => Some(error_frame(&e.into())),
        }
    }

    /// Is the session the socket opened with still live (not signed out, expired or revoked,
    /// the account still active)?
    async fn signed_in(&self) -> bool {
        let hash = self.ctx.principal().token_hash.clone();
        matches!(
            self.ctx
                .read(move |conn, _| crate::auth::lookup_session(conn, &hash))
                .await,
            Ok(Some(_))
        )
    }

    /// The message an event carries, or the row it names when it travelled without it.
    async fn message_of(&self, e: &Event) -> Option<ChatMessage> {
        if let Some(m) = e.data.as_deref().and_then(|d| serde_json::from_str(d).ok()) {
            return Some(m);
        }
        let id = e.id.clone();
        self.ctx
            .read(move |conn, _| chat::load(conn, &id))
            .await
            .ok()
            .flatten()
    }

    /// Sends what the database has after the newest message sent; false if the socket failed.
    async fn catch_up(&mut self, ws: &mut WebSocket) -> bool {
        let (visit, last) = (self.visit.clone(), self.seen.newest().map(str::to_string));
        let missed = self
            .ctx
            .read(move |conn, _| chat::missed_since(conn, &visit, last.as_deref()))
            .await
            .unwrap_or_default();
        for m in missed {
            if self.seen.insert(m.id.as_str()) && !send(ws, message_frame(&m)).await {
                return false;
            }
        }
        true
    }
}

fn message_frame(m: &ChatMessage) -> Message {
    Message::Text(json!({"type": "message", "message": m}).to_string().into())
}

fn error_frame(e: &ApiError) -> Message {
    Message::Text(
        json!({"type": "error", "detail": e.detail, "problem": e.problem()})
            .to_string()
            .into(),
    )
}

/// Sends one frame; false when the client is gone or has not read for `SEND_TIMEOUT`.
async fn send(ws: &mut WebSocket, m: Message) -> bool {
    matches!(
        tokio::time::timeout(SEND_TIMEOUT, ws.send(m)).await,
        Ok(Ok(()))
    )
}

async fn close(ws: &mut WebSocket, code: u16, reason: &str) {
    let frame = CloseFrame {
        code,
        reason: reason.into(),
    };
    let _ = tokio::time::timeout(SEND_TIMEOUT, ws.send(Message::Close(Some(frame)))).await;
}
