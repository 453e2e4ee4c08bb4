//! Fan-out of committed events to live streams (SSE today; chat sockets next). It knows no
//! domain: an `Event` carries a topic, whom it is for, the id of the row, and the row's JSON.
//!
//! On SQLite (one node) a write publishes straight to this node's hub after commit
//! (`db::Tx::publish`); on PostgreSQL the write issues `pg_notify` inside its transaction and
//! every node (this one included) receives it through LISTEN after commit.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use diesel::connection::SimpleConnection;
use diesel::{Connection, PgConnection};
use serde::{Deserialize, Serialize};
use tokio::sync::broadcast;

pub const PG_CHANNEL: &str = "healthapi_notifications";
/// `application_name` of each node's LISTEN connection.
pub const LISTENER_APPLICATION_NAME: &str = "healthapi-listener";
/// The topic of the hub's catch-up signal (see `Hub::resync`).
pub const RESYNC: &str = "__resync";

/// Payloads at or above this size travel without their data (PostgreSQL's limit is 8000
/// bytes): the subscriber loads the row by id.
pub const PG_PAYLOAD_LIMIT: usize = 7900;

/// A committed change that live streams may want.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Event {
    /// What it is, e.g. `notification`.
    pub topic: String,
    /// Whom it is for (a user id), so a stream picks its own.
    pub key: String,
    /// The row's id: streams send it as the event id and replay from it.
    pub id: String,
    /// The row as JSON; `None` when it was too large to travel (load it by `id`).
    pub data: Option<String>,
}

impl Event {
    /// The payload of a `pg_notify`: the event, without its data when that would not fit.
    pub fn pg_payload(&self) -> String {
        let full = serde_json::to_string(self).expect("strings always serialise");
        if full.len() < PG_PAYLOAD_LIMIT {
            return full;
        }
        let slim = Event {
            data: None,
            ..self.clone()
        };
        serde_json::to_string(&slim).expect("strings always serialise")
    }
}

pub struct Hub {
    tx: broadcast::Sender<Arc<Event>>,
    stopped: AtomicBool,
    /// Flips to true on shutdown so open streams end instead of holding the server open.
    shutdown: tokio::sync::watch::Sender<bool>,
}

impl Default for Hub {
    fn default() -> Self {
        let (tx, _) = broadcast::channel(4096);
        Hub {
            tx,
            stopped: AtomicBool::new(false),
            shutdown: tokio::sync::watch::Sender::new(false),
        }
    }
}

impl Hub {
    /// Ends the PostgreSQL listener (on shutdown).
    pub fn stop(&self) {
        self.stopped.store(true, Ordering::Relaxed);
        self.shutdown.send_replace(true);
    }
    /// Resolves `changed()` when the server shuts down.
    pub fn shutdown_watch(&self) -> tokio::sync::watch::Receiver<bool> {
        self.shutdown.subscribe()
    }
    fn is_stopped(&self) -> bool {
        self.stopped.load(Ordering::Relaxed)
    }
    pub fn publish_local(&self, e: Event) {
        // No subscriber is fine: the row is committed and will be replayed on connect.
        let _ = self.tx.send(Arc::new(e));
    }
    /// Asks every open stream to reload what it may have missed from the database (an event of
    /// topic `RESYNC`, which streams never show).
    pub fn resync(&self) {
        let _ = self.tx.send(Arc::new(Event {
            topic: RESYNC.to_string(),
            key: String::new(),
            id: String::new(),
            data: None,
        }));
    }
    pub fn subscribe(&self) -> broadcast::Receiver<Arc<Event>> {
        self.tx.subscribe()
    }
}

/// The ids a live stream has sent lately, to drop the same row arriving twice (in a replay and
/// live, or twice from the hub). Bounded: the oldest are forgotten first.
pub struct Seen {
    order: std::collections::VecDeque<String>,
    ids: std::collections::HashSet<String>,
    /// The greatest id sent: where a catch-up from the database starts.
    newest: Option<String>,
}

impl Seen {
    const CAP: usize = 4096;

    /// A stream that has seen everything up to `newest` (an id), if anything.
    pub fn new(newest: Option<String>) -> Seen {
        Seen {
            order: Default::default(),
            ids: Default::default(),
            newest,
        }
    }

    /// Records an id; false if it was sent already.
    pub fn insert(&mut self, id: &str) -> bool {
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

    pub fn contains(&self, id: &str) -> bool {
        self.ids.contains(id)
    }

    /// The greatest id seen.
    pub fn newest(&self) -> Option<&str> {
        self.newest.as_deref()
    }
}

/// Listens on PostgreSQL for events committed by any node and publishes them here. Runs on
/// its own thread with its own connection; reconnects after errors. Returns once the first
/// `LISTEN` is in place (or after a few seconds), so a node does not accept streams that would
/// miss what other nodes commit in its first moments.
pub fn spawn_pg_listener(url: String, hub: Arc<Hub>) {
    let (ready_tx, ready_rx) = std::sync::mpsc::channel::<()>();
    std::thread::Builder::new()
        .name("pg-listen".into())
        .spawn(move || loop {
            if hub.is_stopped() {
                return;
            }
            match PgConnection::establish(&url) {
                Ok(mut conn) => {
                    // Named, so operators (and tests) can tell this connection apart.
                    let listen = format!(
                        "SET application_name = '{LISTENER_APPLICATION_NAME}'; LISTEN {PG_CHANNEL}"
                    );
                    if let Err(e) = conn.batch_execute(&listen) {
                        tracing::warn!(error = %e, "LISTEN failed");
                    } else {
                        let _ = ready_tx.send(());
                        // Whatever was committed while we were not listening never reaches
                        // us: tell open streams to catch up from the database.
                        hub.resync();
                        if let Err(e) = listen_loop(&mut conn, &hub) {
                            tracing::warn!(error = %e, "event listener lost its connection");
                        }
                    }
                }
                Err(e) => tracing::warn!(error = %e, "event listener cannot connect"),
            }
            std::thread::sleep(Duration::from_secs(1));
        })
        .expect("spawning the listener thread");
    if ready_rx.recv_timeout(Duration::from_secs(5)).is_err() {
        tracing::warn!("event listener not ready yet; live streams may start late");
    }
}

fn listen_loop(conn: &mut PgConnection, hub: &Hub) -> diesel::QueryResult<()> {
    let mut last_ping = std::time::Instant::now();
    while !hub.is_stopped() {
        let mut payloads = Vec::new();
        for n in conn.notifications_iter() {
            payloads.push(n?.payload);
        }
        if payloads.is_empty() {
            // A dropped connection does not always show as an error while only polling for
            // notifications: a round trip every second makes sure we notice and reconnect.
            if last_ping.elapsed() >= Duration::from_secs(1) {
                conn.batch_execute("SELECT 1")?;
                last_ping = std::time::Instant::now();
            }
            // notifications_iter only reads what has arrived; poll gently.
            std::thread::sleep(Duration::from_millis(10));
            continue;
        }
        for payload in payloads {
            match serde_json::from_str::<Event>(&payload) {
                Ok(event) => hub.publish_local(event),
                Err(e) => tracing::warn!(error = %e, "unreadable event payload"),
            }
        }
    }
    Ok(())
}
