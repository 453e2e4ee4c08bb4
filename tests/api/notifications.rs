//! Notifications: own list, read state, system messages, and the SSE stream with replay and
//! (on PostgreSQL) delivery across nodes.

use std::time::Duration;

use crate::common::*;
use futures::StreamExt;
use reqwest::Method;
use serde_json::{json, Value};

async fn send(app: &TestApp, user_id: &str, title: &str) -> String {
    let r = app
        .post(
            "/notifications",
            &app.admin_token,
            json!({"user_id": user_id, "title": title, "body": format!("body of {title}")}),
        )
        .await
        .expect(201);
    assert_eq!(r.body["user_id"], user_id);
    assert_eq!(r.body["kind"], "system");
    assert_eq!(r.body["title"], title);
    assert!(r.body["read_at"].is_null());
    assert!(r.header("location").is_some());
    r.id()
}

fn titles(r: &Resp) -> Vec<String> {
    r.items()
        .iter()
        .map(|n| n["title"].as_str().unwrap().to_string())
        .collect()
}

async fn own_list_and_read_state(app: &TestApp) {
    let a = app.patient("Ada").await;
    let b = app.patient("Ben").await;
    let dr = app.doctor("Cy", "cardiology").await;
    let a1 = send(app, &a.user_id, "a1").await;
    let a2 = send(app, &a.user_id, "a2").await;
    let a3 = send(app, &a.user_id, "a3").await;
    let b1 = send(app, &b.user_id, "b1").await;
    send(app, &dr.user_id, "d1").await;

    // Own only, newest first.
    let r = app.get("/notifications", &a.token).await.expect(200);
    assert_eq!(titles(&r), vec!["a3", "a2", "a1"]);
    assert!(r.items().iter().all(|n| n["user_id"] == a.user_id.as_str()));
    let r = app.get("/notifications", &b.token).await.expect(200);
    assert_eq!(titles(&r), vec!["b1"]);
    let r = app.get("/notifications", &dr.token).await.expect(200);
    assert_eq!(titles(&r), vec!["d1"]);
    // The admin's own list does not include what they sent to others.
    let r = app
        .get("/notifications", &app.admin_token)
        .await
        .expect(200);
    assert!(r.items().is_empty(), "{}", r.text);
    // Pagination.
    let pages = app.all_pages("/notifications", &a.token, 2).await;
    assert_eq!(pages.len(), 3);

    let count = |token: String| async move {
        app.get("/notifications/unread-count", &token)
            .await
            .expect(200)
            .body
    };
    assert_eq!(count(a.token.clone()).await, json!({"count": 3}));
    assert_eq!(count(b.token.clone()).await, json!({"count": 1}));

    // Mark one read.
    let r = app
        .call(
            Method::POST,
            &format!("/notifications/{a2}/read"),
            Some(&a.token),
            None,
            &[],
        )
        .await
        .expect(200);
    assert_eq!(r.body["id"], a2.as_str());
    let read_at = r.body["read_at"].as_str().expect("read_at set").to_string();
    // Again: still read, same time.
    let r = app
        .call(
            Method::POST,
            &format!("/notifications/{a2}/read"),
            Some(&a.token),
            None,
            &[],
        )
        .await
        .expect(200);
    assert_eq!(r.body["read_at"], read_at.as_str());
    assert_eq!(count(a.token.clone()).await, json!({"count": 2}));
    let unread = app
        .get("/notifications?unread=true", &a.token)
        .await
        .expect(200);
    assert_eq!(titles(&unread), vec!["a3", "a1"]);
    let all = app
        .get("/notifications?unread=false", &a.token)
        .await
        .expect(200);
    assert_eq!(all.items().len(), 3);
    app.get("/notifications?unread=maybe", &a.token)
        .await
        .problem(422);

    // Someone else's notification: 404, and it stays unread.
    app.call(
        Method::POST,
        &format!("/notifications/{b1}/read"),
        Some(&a.token),
        None,
        &[],
    )
    .await
    .problem(404);
    app.call(
        Method::POST,
        "/notifications/00000000-0000-0000-0000-000000000000/read",
        Some(&a.token),
        None,
        &[],
    )
    .await
    .problem(404);
    assert_eq!(count(b.token.clone()).await, json!({"count": 1}));

    // Read all: only the caller's.
    let r = app
        .call(
            Method::POST,
            "/notifications/read-all",
            Some(&a.token),
            None,
            &[],
        )
        .await
        .expect(200);
    assert_eq!(r.body["updated"], 2);
    assert_eq!(count(a.token.clone()).await, json!({"count": 0}));
    let unread = app
        .get("/notifications?unread=true", &a.token)
        .await
        .expect(200);
    assert!(unread.items().is_empty());
    let r = app.get("/notifications", &a.token).await.expect(200);
    assert!(r.items().iter().all(|n| n["read_at"].is_string()));
    assert_eq!(count(b.token.clone()).await, json!({"count": 1}));
    let _ = (a1, a3);

    app.call(Method::GET, "/notifications", None, None, &[])
        .await
        .problem(401);
}

async fn system_messages(app: &TestApp) {
    let p = app.patient("Dee").await;
    let dr = app.doctor("Eli", "surgery").await;
    let id = send(app, &p.user_id, "Welcome").await;
    let r = app.get("/notifications", &p.token).await.expect(200);
    let n = &r.items()[0];
    assert_eq!(n["id"], id.as_str());
    assert_eq!(n["body"], "body of Welcome");
    assert_eq!(n["kind"], "system");
    assert!(n["created_at"].as_str().is_some_and(|t| t.ends_with('Z')));
    // Only admins send.
    for token in [&p.token, &dr.token] {
        app.post(
            "/notifications",
            token,
            json!({"user_id": p.user_id, "title": "hi", "body": "there"}),
        )
        .await
        .problem(403);
    }
    app.post(
        "/notifications",
        &app.admin_token,
        json!({"user_id": "00000000-0000-0000-0000-000000000000", "title": "hi", "body": "x"}),
    )
    .await
    .problem(409);
    let r = app
        .post(
            "/notifications",
            &app.admin_token,
            json!({"user_id": p.user_id, "title": "  ", "body": "x"}),
        )
        .await
        .problem(422);
    assert!(r.text.contains("title"), "{}", r.text);
    app.post(
        "/notifications",
        &app.admin_token,
        json!({"user_id": p.user_id, "body": "x"}),
    )
    .await
    .problem(422);
    app.post(
        "/notifications",
        &app.admin_token,
        json!({"user_id": p.user_id, "title": "t", "body": "x", "kind": "alarm"}),
    )
    .await
    .problem(422);
    // Nothing but the first message arrived.
    let r = app.get("/notifications", &p.token).await.expect(200);
    assert_eq!(r.items().len(), 1);
    // Sending is audited.
    let log = app
        .get(
            "/audit-logs?resource_type=notification&action=create",
            &app.admin_token,
        )
        .await
        .expect(200);
    assert!(log.items().iter().any(|e| e["resource_id"] == id.as_str()));
}

#[derive(Debug, Default)]
struct SseEvent {
    id: Option<String>,
    event: Option<String>,
    data: String,
}

/// Reads server-sent events from a streaming response.
pub struct Sse {
    stream: futures::stream::BoxStream<'static, Result<Vec<u8>, String>>,
    buf: Vec<u8>,
}

impl Sse {
    pub async fn open(app: &TestApp, token: &str, last_event_id: Option<&str>) -> Sse {
        let mut req = app
            .client
            .get(app.url("/notifications/stream"))
            .bearer_auth(token)
            .header("accept", "text/event-stream")
            .timeout(Duration::from_secs(3600));
        if let Some(id) = last_event_id {
            req = req.header("last-event-id", id);
        }
        let resp = req.send().await.expect("stream opens");
        assert_eq!(resp.status().as_u16(), 200);
        let ct = resp
            .headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_string();
        assert!(ct.starts_with("text/event-stream"), "content type {ct}");
        Sse {
            stream: resp
                .bytes_stream()
                .map(|r| r.map(|b| b.to_vec()).map_err(|e| e.to_string()))
                .boxed(),
            buf: Vec::new(),
        }
    }

    /// The next event (comments and keep-alives skipped), or `None` after `within`.
    async fn next(&mut self, within: Duration) -> Option<SseEvent> {
        let deadline = tokio::time::Instant::now() + within;
        loop {
            // A complete event ends with a blank line (decoded whole: a character may span
            // chunks).
            let end = self.buf.windows(2).position(|w| w == b"\n\n");
            if let Some(end) = end {
                let block = String::from_utf8(self.buf[..end].to_vec()).expect("UTF-8 event");
                self.buf.drain(..end + 2);
                let mut ev = SseEvent::default();
                let mut data = Vec::new();
                for line in block.lines() {
                    if line.starts_with(':') {
                        continue;
                    }
                    let (field, value) = line.split_once(':').unwrap_or((line, ""));
                    let value = value.strip_prefix(' ').unwrap_or(value);
                    match field {
                        "id" => ev.id = Some(value.to_string()),
                        "event" => ev.event = Some(value.to_string()),
                        "data" => data.push(value.to_string()),
                        _ => {}
                    }
                }
                if ev.id.is_none() && data.is_empty() {
                    continue;
                }
                ev.data = data.join("\n");
                return Some(ev);
            }
            let chunk = tokio::time::timeout_at(deadline, self.stream.next()).await;
            match chunk {
                Ok(Some(Ok(bytes))) => self.buf.extend_from_slice(&bytes),
                Ok(Some(Err(e))) => panic!("stream failed: {e}"),
                Ok(None) | Err(_) => return None,
            }
        }
    }

    pub async fn expect(&mut self) -> (String, Value) {
        let ev = self
            .next(Duration::from_secs(10))
            .await
            .expect("an event within 10 s");
        let data: Value = serde_json::from_str(&ev.data).expect("event data is JSON");
        assert_eq!(ev.event.as_deref(), Some("notification"));
        (ev.id.expect("an event id"), data)
    }
}

async fn stream_delivers_and_replays(app: &TestApp) {
    let p = app.patient("Fay").await;
    let other = app.patient("Gus").await;
    let mut sse = Sse::open(app, &p.token, None).await;
    // Someone else's message never shows up on this stream.
    send(app, &other.user_id, "not yours").await;
    let first = send(app, &p.user_id, "live one").await;
    let (id, data) = sse.expect().await;
    assert_eq!(id, first, "event id = notification id");
    assert_eq!(data["id"], first.as_str());
    assert_eq!(data["title"], "live one");
    assert_eq!(data["user_id"], p.user_id.as_str());
    drop(sse);

    // Two more while disconnected.
    let second = send(app, &p.user_id, "missed one").await;
    let third = send(app, &p.user_id, "missed two").await;
    send(app, &other.user_id, "still not yours").await;
    let mut sse = Sse::open(app, &p.token, Some(&first)).await;
    let (id2, d2) = sse.expect().await;
    let (id3, d3) = sse.expect().await;
    assert_eq!(
        (id2.as_str(), id3.as_str()),
        (second.as_str(), third.as_str())
    );
    assert_eq!(d2["title"], "missed one");
    assert_eq!(d3["title"], "missed two");
    // Then live again, no duplicates.
    let fourth = send(app, &p.user_id, "live two").await;
    let (id4, _) = sse.expect().await;
    assert_eq!(id4, fourth);
    assert!(
        sse.next(Duration::from_millis(500)).await.is_none(),
        "nothing else arrives"
    );
    // Events caused by flows arrive too (break-glass on the patient's record).
    let dr = app.doctor("Hal", "emergency").await;
    app.post(
        &format!("/patients/{}/break-glass", p.pid()),
        &dr.token,
        json!({"reason": "patient unresponsive on arrival"}),
    )
    .await
    .expect(201);
    let (_, d5) = sse.expect().await;
    assert_eq!(d5["kind"], "break_glass");
    // A large notification (near the body limit, multibyte) is delivered whole.
    let big_body = "\u{1F600}".repeat(2000);
    let r = app
        .post(
            "/notifications",
            &app.admin_token,
            json!({"user_id": p.user_id, "title": "big", "body": big_body}),
        )
        .await
        .expect(201);
    let (id6, d6) = sse.expect().await;
    assert_eq!(id6, r.id());
    assert!(d6["body"] == big_body.as_str(), "the whole body arrives");
    // Without a token there is no stream.
    app.call(Method::GET, "/notifications/stream", None, None, &[])
        .await
        .problem(401);
}

async fn stream_across_nodes(app: &TestApp) {
    let node2 = TestApp::spawn_on(
        Backend::Postgres,
        app.database_url.clone(),
        tempfile::tempdir().unwrap(),
        None,
    )
    .await;
    let p = app.patient("Ida").await;
    let mut sse = Sse::open(&node2, &p.token, None).await;
    let mut sse1 = Sse::open(app, &p.token, None).await;
    let id = send(app, &p.user_id, "from node one").await;
    let (got, data) = sse.expect().await;
    assert_eq!(got, id, "{data}");
    assert_eq!(data["title"], "from node one");
    let (got, _) = sse1.expect().await;
    assert_eq!(got, id, "the sending node's own stream gets it as well");
    // And the other way round.
    let id2 = send(&node2, &p.user_id, "from node two").await;
    let (got, _) = sse1.expect().await;
    assert_eq!(got, id2);
    let (got, _) = sse.expect().await;
    assert_eq!(got, id2);
    // Replay works on either node, whichever node created the rows.
    let mut again = Sse::open(&node2, &p.token, Some(&id)).await;
    let (got, _) = again.expect().await;
    assert_eq!(got, id2);
    drop(again);
    drop(sse);
    drop(sse1);
    node2.stop().await;
}

/// A notification whose id sorts before one already streamed (its transaction began earlier but
/// committed later, or another node's clock) must still be delivered live. PostgreSQL only: the
/// late commit is simulated from outside with a row and a NOTIFY.
async fn stream_delivers_late_commits(app: &TestApp) {
    let p = app.patient("Kai").await;
    let early_id = uuid::Uuid::now_v7().to_string();
    tokio::time::sleep(Duration::from_millis(5)).await;
    let mut sse = Sse::open(app, &p.token, None).await;
    let first = send(app, &p.user_id, "committed first").await;
    assert!(early_id < first);
    let (got, _) = sse.expect().await;
    assert_eq!(got, first);
    // What a node publishes: the event without its data, as a notification too large for a
    // NOTIFY payload travels; the stream loads the row.
    let payload = json!({
        "topic": "notification", "key": p.user_id, "id": early_id, "data": null
    });
    app.sql(&format!(
        "INSERT INTO notifications (id, user_id, kind, title, body, created_at)
             VALUES ('{early_id}', '{}', 'system', 'committed late', 'x', '2025-01-01 00:00:00');
         SELECT pg_notify('healthapi_notifications', '{payload}');",
        p.user_id
    ));
    let (got, data) = sse.expect().await;
    assert_eq!(got, early_id);
    assert_eq!(data["title"], "committed late");
    // It is an ordinary notification of the user.
    let list = app.get("/notifications", &p.token).await.expect(200);
    assert_eq!(list.items().len(), 2);
}

/// When the node's LISTEN connection drops, notifications committed before it is back are not
/// lost: the reconnected listener tells open streams to catch up from the database.
async fn stream_catches_up_after_listener_reconnects(app: &TestApp) {
    let p = app.patient("Lea").await;
    let mut sse = Sse::open(app, &p.token, None).await;
    #[derive(diesel::QueryableByName)]
    struct Killed {
        #[diesel(sql_type = diesel::sql_types::Bool)]
        #[allow(dead_code)]
        killed: bool,
    }
    use diesel::{Connection, RunQueryDsl};
    let mut conn = diesel::PgConnection::establish(&app.database_url).unwrap();
    let killed: Vec<Killed> = diesel::sql_query(format!(
        "SELECT pg_terminate_backend(pid) AS killed FROM pg_stat_activity
          WHERE datname = current_database() AND application_name = '{}'",
        healthapi::realtime::LISTENER_APPLICATION_NAME
    ))
    .load(&mut conn)
    .unwrap();
    assert_eq!(killed.len(), 1, "this node's one listener connection");
    // Committed while the listener is down (it waits a second before reconnecting).
    let id = send(app, &p.user_id, "while reconnecting").await;
    let (got, data) = sse.expect().await;
    assert_eq!(got, id);
    assert_eq!(data["title"], "while reconnecting");
}

both_backends!(
    own_list_and_read_state,
    system_messages,
    stream_delivers_and_replays
);

// What only PostgreSQL has: LISTEN/NOTIFY between nodes.
postgres_only!(
    stream_catches_up_after_listener_reconnects,
    stream_delivers_late_commits,
    stream_across_nodes,
);

/// Shutdown ends open streams (clients reconnect elsewhere with Last-Event-ID) instead of
/// holding the server open.
async fn stream_ends_on_shutdown(backend: Backend) {
    let Some(mut app) = TestApp::spawn(backend).await else {
        eprintln!("HEALTHAPI_TEST_POSTGRES_URL unset: PostgreSQL run skipped");
        return;
    };
    let p = app.patient("Ends").await;
    let mut sse = Sse::open(&app, &p.token, None).await;
    app.stop_server().await;
    let end = tokio::time::timeout(Duration::from_secs(10), async {
        loop {
            match sse.stream.next().await {
                // Keep-alive comments may still arrive before the end.
                Some(Ok(_)) => continue,
                Some(Err(_)) | None => return,
            }
        }
    })
    .await;
    assert!(end.is_ok(), "the stream ended when the server stopped");
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_stream_ends_on_shutdown() {
    stream_ends_on_shutdown(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_stream_ends_on_shutdown() {
    stream_ends_on_shutdown(Backend::Postgres).await;
}
