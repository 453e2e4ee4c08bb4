//! The patient portal's messages: who may write to whom, privacy (admins included), threads,
//! boxes and read receipts.

use serde_json::json;

use crate::clinical::*;
use crate::common::*;

async fn write(app: &TestApp, token: &str, to: &str, body: &str, reply_to: Option<&str>) -> Resp {
    app.post(
        "/messages",
        token,
        json!({"receiver_id": to, "subject": "Question", "body": body, "reply_to": reply_to}),
    )
    .await
}

async fn who_writes_to_whom(app: &TestApp) {
    let p = app.patient("Mara").await;
    let d = app.doctor("Mdoc", "family medicine").await;
    book(app, &d.token, p.pid(), d.did(), &slot(1, 60), &slot(1, 90))
        .await
        .expect(201);
    let off = app.doctor("Offteam", "surgery").await;
    let other = app.patient("Quinn").await;
    let billing = app.staff("billing").await;
    let pharmacist = app.staff("pharmacist").await;
    let admin_id = app.get("/auth/me", &app.admin_token).await.expect(200).id();
    // A patient: to their care team's doctors and admins only.
    let first = write(app, &p.token, &d.user_id, "Can I take ibuprofen?", None)
        .await
        .expect(201);
    assert_eq!(first.body["thread_id"], first.body["id"]);
    write(app, &p.token, &admin_id, "Billing question", None)
        .await
        .expect(201);
    for to in [&off.user_id, &other.user_id, &billing.user_id] {
        write(app, &p.token, to, "hi", None).await.problem(404);
    }
    write(app, &p.token, &uuid::Uuid::now_v7().to_string(), "hi", None)
        .await
        .problem(404);
    // A doctor: to their patients and staff; staff to staff; admins to anyone.
    let reply = write(
        app,
        &d.token,
        &p.user_id,
        "Yes, with food.",
        Some(first.id().as_str()),
    )
    .await
    .expect(201);
    assert_eq!(reply.body["thread_id"], first.body["id"]);
    write(app, &d.token, &other.user_id, "hi", None)
        .await
        .problem(404);
    write(app, &d.token, &billing.user_id, "A claim", None)
        .await
        .expect(201);
    write(app, &billing.token, &pharmacist.user_id, "Hello", None)
        .await
        .expect(201);
    write(app, &billing.token, &p.user_id, "hi", None)
        .await
        .problem(404);
    write(app, &app.admin_token, &other.user_id, "Welcome", None)
        .await
        .expect(201);
    // Bad input.
    write(app, &p.token, &d.user_id, " ", None)
        .await
        .problem(422);
    write(app, &p.token, &d.user_id, &"x".repeat(10_001), None)
        .await
        .problem(422);
    let elsewhere = write(app, &app.admin_token, &other.user_id, "Another", None)
        .await
        .expect(201)
        .id();
    write(app, &p.token, &d.user_id, "hijack", Some(&elsewhere))
        .await
        .problem(409);
    // The receiver is told.
    assert!(notifications(app, &d.token)
        .await
        .iter()
        .any(|n| n["kind"] == "message" && n["resource_id"] == first.id().as_str()));
}

async fn messages_are_private(app: &TestApp) {
    let p = app.patient("Priv").await;
    let d = app.doctor("Privdoc", "family medicine").await;
    book(app, &d.token, p.pid(), d.did(), &slot(1, 60), &slot(1, 90))
        .await
        .expect(201);
    let m = write(app, &p.token, &d.user_id, "Private symptoms", None)
        .await
        .expect(201)
        .id();
    let path = format!("/messages/{m}");
    for who in [&p.token, &d.token] {
        let got = app.get(&path, who).await.expect(200);
        assert_eq!(got.body["body"], "Private symptoms");
    }
    let other = app.patient("Nosy").await;
    for token in [&app.admin_token, &other.token] {
        app.get(&path, token).await.problem(404);
        app.get(&format!("/messages/threads/{m}"), token)
            .await
            .problem(404);
        app.post(&format!("{path}/read"), token, json!({}))
            .await
            .problem(404);
    }
    // Boxes and read receipts.
    let inbox = app
        .get("/messages?box=inbox&unread=true", &d.token)
        .await
        .expect(200)
        .items();
    assert!(inbox.iter().any(|x| x["id"] == m.as_str()));
    let sent = app
        .get("/messages?box=sent", &p.token)
        .await
        .expect(200)
        .items();
    assert!(sent.iter().any(|x| x["id"] == m.as_str()));
    assert!(app
        .get("/messages", &p.token)
        .await
        .expect(200)
        .items()
        .iter()
        .all(|x| x["id"] != m.as_str()));
    app.post(&format!("{path}/read"), &p.token, json!({}))
        .await
        .problem(403);
    let read = app
        .post(&format!("{path}/read"), &d.token, json!({}))
        .await
        .expect(200);
    assert!(!read.body["read_at"].is_null());
    assert!(app
        .get("/messages?unread=true", &d.token)
        .await
        .expect(200)
        .items()
        .iter()
        .all(|x| x["id"] != m.as_str()));
    // The thread, oldest first.
    write(app, &d.token, &p.user_id, "Come in tomorrow.", Some(&m))
        .await
        .expect(201);
    let thread = app
        .get(&format!("/messages/threads/{m}"), &p.token)
        .await
        .expect(200)
        .body;
    let bodies: Vec<&str> = thread
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x["body"].as_str().unwrap())
        .collect();
    assert_eq!(bodies, ["Private symptoms", "Come in tomorrow."]);
    // The trail names the message, never its body.
    let items = audit_until(
        app,
        &format!("resource_type=message&user_id={}", d.user_id),
        |items| has_entry(items, "read", "message", Some(&m), "success"),
    )
    .await;
    let text = serde_json::to_string(&items).unwrap();
    assert!(!text.contains("Private symptoms"));
}

async fn feedback_and_its_summary(app: &TestApp) {
    let p = app.patient("Fern").await;
    let d = app.doctor("Fdoc", "family medicine").await;
    let appt = book(app, &p.token, p.pid(), d.did(), &slot(1, 60), &slot(1, 90))
        .await
        .expect(201)
        .id();
    let give = |token: String, body: serde_json::Value| async move {
        app.post("/feedback", &token, body).await
    };
    give(p.token.clone(), json!({"rating": 6, "category": "app"}))
        .await
        .problem(422);
    give(p.token.clone(), json!({"rating": 3, "category": "weather"}))
        .await
        .problem(422);
    let mine = give(
        p.token.clone(),
        json!({"rating": 5, "category": "appointment", "appointment_id": appt,
               "comment": "On time and kind."}),
    )
    .await
    .expect(201);
    assert_eq!(mine.body["user_id"], p.user_id.as_str());
    give(p.token.clone(), json!({"rating": 2, "category": "app"}))
        .await
        .expect(201);
    // About someone else's appointment: 409.
    let other = app.patient("Gus").await;
    give(
        other.token.clone(),
        json!({"rating": 1, "category": "appointment", "appointment_id": appt}),
    )
    .await
    .problem(409);
    give(other.token.clone(), json!({"rating": 4, "category": "app"}))
        .await
        .expect(201);
    // Each their own; admins everyone's, with filters.
    assert_eq!(
        app.get("/feedback", &p.token)
            .await
            .expect(200)
            .items()
            .len(),
        2
    );
    assert_eq!(
        app.get("/feedback", &other.token)
            .await
            .expect(200)
            .items()
            .len(),
        1
    );
    let apps = app
        .get("/feedback?category=app", &app.admin_token)
        .await
        .expect(200)
        .items();
    assert!(apps.len() >= 2 && apps.iter().all(|f| f["category"] == "app"));
    // The summary, computed in SQL: admins only.
    app.get("/feedback/summary", &p.token).await.problem(403);
    let summary = app
        .get("/feedback/summary", &app.admin_token)
        .await
        .expect(200)
        .body;
    let of = |c: &str| {
        summary
            .as_array()
            .unwrap()
            .iter()
            .find(|s| s["category"] == c)
            .cloned()
            .unwrap()
    };
    assert_eq!(of("app")["count"], 2);
    assert_eq!(of("app")["mean_rating"], 3.0);
    assert_eq!(of("appointment")["mean_rating"], 5.0);
}

both_backends!(
    who_writes_to_whom,
    messages_are_private,
    feedback_and_its_summary
);
