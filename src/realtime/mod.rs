//! Fan-out of committed notifications to live SSE streams. On SQLite (one node) a write publishes
//! straight to this node's hub after commit; on PostgreSQL the write issues `pg_notify` inside its
//! transaction and every node (this one included) receives it through LISTEN after commit.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use diesel::connection::SimpleConnection;
use diesel::{Connection, PgConnection};
use tokio::sync::broadcast;

use crate::domains::notifications::Notification;

pub const PG_CHANNEL: &str = "healthapi_notifications";

pub struct Hub {
    tx: broadcast::Sender<Arc<Notification>>,
    stopped: AtomicBool,
}

impl Default for Hub {
    fn default() -> Self {
        let (tx, _) = broadcast::channel(4096);
        Hub {
            tx,
            stopped: AtomicBool::new(false),
        }
    }
}

impl Hub {
    /// Ends the PostgreSQL listener (on shutdown).
    pub fn stop(&self) {
        self.stopped.store(true, Ordering::Relaxed);
    }
    fn is_stopped(&self) -> bool {
        self.stopped.load(Ordering::Relaxed)
    }
    pub fn publish_local(&self, n: Notification) {
        // No subscriber is fine: the row is committed and will be replayed on connect.
        let _ = self.tx.send(Arc::new(n));
    }
    pub fn subscribe(&self) -> broadcast::Receiver<Arc<Notification>> {
        self.tx.subscribe()
    }
}

/// Listens on PostgreSQL for notifications committed by any node and publishes them here.
/// Runs on its own thread with its own connection; reconnects after errors.
pub fn spawn_pg_listener(url: String, hub: Arc<Hub>) {
    std::thread::Builder::new()
        .name("pg-listen".into())
        .spawn(move || loop {
            if hub.is_stopped() {
                return;
            }
            match PgConnection::establish(&url) {
                Ok(mut conn) => {
                    if let Err(e) = conn.batch_execute(&format!("LISTEN {PG_CHANNEL}")) {
                        tracing::warn!(error = %e, "LISTEN failed");
                    } else {
                        if let Err(e) = listen_loop(&mut conn, &hub) {
                            tracing::warn!(error = %e, "notification listener lost its connection");
                        }
                    }
                }
                Err(e) => tracing::warn!(error = %e, "notification listener cannot connect"),
            }
            std::thread::sleep(Duration::from_secs(1));
        })
        .expect("spawning the listener thread");
}

fn listen_loop(conn: &mut PgConnection, hub: &Hub) -> diesel::QueryResult<()> {
    while !hub.is_stopped() {
        let mut got = false;
        for n in conn.notifications_iter() {
            let n = n?;
            got = true;
            match serde_json::from_str::<Notification>(&n.payload) {
                Ok(notification) => hub.publish_local(notification),
                Err(e) => tracing::warn!(error = %e, "unreadable notification payload"),
            }
        }
        if !got {
            // notifications_iter only reads what has arrived; poll gently.
            std::thread::sleep(Duration::from_millis(10));
        }
    }
    Ok(())
}
