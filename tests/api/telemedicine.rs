//! Telemedicine: virtual visits (scheduling rules, consent, clashes, the state machine), video
//! sessions, chat over REST and over the WebSocket, and who reaches each of them.

use std::time::Duration;

use futures::{SinkExt, StreamExt};
use reqwest::Method;
use serde_json::{json, Value};
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::Message;

use crate::clinical::*;
use crate::common::*;

pub const TELEMEDICINE_FORM: &str = "01900000-0000-7000-8000-000000000001";

/// The patient gives (or revokes) their telemedicine consent.
pub async fn telemedicine_consent(app: &TestApp, patient: &Actor, action: &str) {
    app.post(
        "/consents",
        &patient.token,
        json!({"consent_form_id": TELEMEDICINE_FORM, "action": action}),
    )
    .await
    .expect(201);
}

/// POST /virtual-visits.
pub async fn schedule(
    app: &TestApp,
    token: &str,
    patient_id: &str,
    doctor_id: &str,
    start: &str,
    end: &str,
) -> Resp {
    app.post(
        "/virtual-visits",
        token,
        json!({"patient_id": patient_id, "doctor_id": doctor_id, "scheduled_start": start,
               "scheduled_end": end, "reason": "follow-up"}),
    )
    .await
}

/// A consenting patient, a doctor, and a visit between them, scheduled by the patient.
pub struct Visit {
    pub patient: Actor,
    pub doctor: Actor,
    pub id: String,
}

pub async fn visit(app: &TestApp, name: &str) -> Visit {
    let patient = app.patient(name).await;
    let doctor = app.doctor(&format!("{name}Doc"), "telehealth").await;
    telemedicine_consent(app, &patient, "given").await;
    let id = schedule(
        app,
        &patient.token,
        patient.pid(),
        doctor.did(),
        &slot(1, 60),
        &slot(1, 90),
    )
    .await
    .expect(201)
    .id();
    Visit {
        patient,
        doctor,
        id,
    }
}

fn problem_type(r: &Resp) -> &str {
    r.body["type"].as_str().unwrap_or_default()
}

async fn visit_flow(app: &TestApp) {
    let v = visit(app, "Vera").await;
    let got = app
        .get(&format!("/virtual-visits/{}", v.id), &v.doctor.token)
        .await
        .expect(200);
    assert_eq!(got.body["status"], "scheduled");
    assert_eq!(got.body["version"], 1);
    assert_eq!(got.header("etag"), Some("\"1\""));
    assert!(got.body["appointment_id"].is_null());
    // The doctor is told, and joins the care team with source `virtual_visit`.
    let n = notifications(app, &v.doctor.token).await;
    assert!(
        n.iter().any(|n| n["kind"] == "virtual_visit_scheduled"
            && n["resource_type"] == "virtual_visit"
            && n["resource_id"] == v.id.as_str()),
        "{n:?}"
    );
    assert!(care_team(app, v.patient.pid())
        .await
        .contains(&(v.doctor.did().to_string(), "virtual_visit".to_string())));
    // The doctor starts the video: the visit moves to in_progress.
    let s = app
        .post(
            &format!("/virtual-visits/{}/video-sessions", v.id),
            &v.doctor.token,
            json!({}),
        )
        .await
        .expect(201);
    let room = s.body["room"].as_str().unwrap().to_string();
    assert!(room.len() >= 32, "{room}");
    assert!(s.body["join_url"].is_null(), "no template configured");
    assert_eq!(s.body["started_by"], v.doctor.user_id.as_str());
    assert!(s.body["ended_at"].is_null());
    let sid = s.id();
    assert_eq!(
        s.header("location"),
        Some(format!("/api/v1/video-sessions/{sid}").as_str())
    );
    let read = app
        .get(&format!("/video-sessions/{sid}"), &v.patient.token)
        .await
        .expect(200);
    assert_eq!(read.body["room"], room.as_str());
    assert_eq!(read.header("etag"), Some("\"1\""));
    let got = app
        .get(&format!("/virtual-visits/{}", v.id), &v.patient.token)
        .await
        .expect(200);
    assert_eq!(got.body["status"], "in_progress");
    assert_eq!(got.body["version"], 2);
    assert!(!got.body["started_at"].is_null());
    // The patient hears that it started.
    assert!(notifications(app, &v.patient.token)
        .await
        .iter()
        .any(|n| n["kind"] == "video_session_started"));
    // One live session per visit.
    let again = app
        .post(
            &format!("/virtual-visits/{}/video-sessions", v.id),
            &v.patient.token,
            json!({}),
        )
        .await
        .problem(409);
    assert!(problem_type(&again).ends_with("/session-live"), "{again:?}");
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let ended = app
        .post(
            &format!("/video-sessions/{sid}/end"),
            &v.patient.token,
            json!({}),
        )
        .await
        .expect(200);
    assert!(
        ended.body["duration_seconds"].as_i64().unwrap() >= 1,
        "{ended:?}"
    );
    assert!(!ended.body["ended_at"].is_null());
    assert_eq!(ended.body["version"], 2);
    app.post(
        &format!("/video-sessions/{sid}/end"),
        &v.doctor.token,
        json!({}),
    )
    .await
    .problem(409);
    // A second session after the first ended, then completion ends it.
    let second = app
        .post(
            &format!("/virtual-visits/{}/video-sessions", v.id),
            &v.patient.token,
            json!({}),
        )
        .await
        .expect(201)
        .id();
    assert_ne!(second, sid);
    let sessions = app
        .get(
            &format!("/virtual-visits/{}/video-sessions", v.id),
            &v.doctor.token,
        )
        .await
        .expect(200)
        .items();
    assert_eq!(sessions.len(), 2);
    assert_eq!(sessions[0]["id"], sid.as_str(), "oldest first");
    // The patient may not complete; the doctor may.
    app.patch(
        &format!("/virtual-visits/{}", v.id),
        &v.patient.token,
        json!({"status": "completed"}),
    )
    .await
    .problem(403);
    let done = app
        .patch(
            &format!("/virtual-visits/{}", v.id),
            &v.doctor.token,
            json!({"status": "completed"}),
        )
        .await
        .expect(200);
    assert_eq!(done.body["status"], "completed");
    assert!(!done.body["ended_at"].is_null());
    let sessions = app
        .get(
            &format!("/virtual-visits/{}/video-sessions", v.id),
            &v.doctor.token,
        )
        .await
        .expect(200)
        .items();
    assert!(
        sessions.iter().all(|s| !s["ended_at"].is_null()),
        "completing ends the live session: {sessions:?}"
    );
    // Final: no chat, no video, no change.
    let closed = app
        .post(
            &format!("/virtual-visits/{}/chat", v.id),
            &v.patient.token,
            json!({"body": "one more thing"}),
        )
        .await
        .problem(409);
    assert!(closed.body["detail"]
        .as_str()
        .unwrap()
        .contains("completed"));
    app.post(
        &format!("/virtual-visits/{}/video-sessions", v.id),
        &v.doctor.token,
        json!({}),
    )
    .await
    .problem(409);
    let r = app
        .patch(
            &format!("/virtual-visits/{}", v.id),
            &v.doctor.token,
            json!({"status": "cancelled", "cancel_reason": "too late"}),
        )
        .await
        .problem(409);
    assert!(r.body["detail"].as_str().unwrap().contains("completed"));
    // Every step is in the audit trail.
    let items = audit_until(app, &format!("patient_id={}", v.patient.pid()), |items| {
        has_entry(items, "create", "virtual_visit", Some(&v.id), "success")
            && has_entry(
                items,
                "state_change",
                "virtual_visit",
                Some(&v.id),
                "success",
            )
            && has_entry(items, "create", "video_session", Some(&sid), "success")
            && has_entry(items, "update", "video_session", Some(&sid), "success")
            && has_entry(items, "read", "virtual_visit", Some(&v.id), "success")
    })
    .await;
    assert!(!items.is_empty());
}

async fn join_url_comes_from_the_template(app: &TestApp) {
    // This server has a template (see the wrapper below).
    let v = visit(app, "Tess").await;
    let s = app
        .post(
            &format!("/virtual-visits/{}/video-sessions", v.id),
            &v.patient.token,
            json!({}),
        )
        .await
        .expect(201);
    let room = s.body["room"].as_str().unwrap();
    assert_eq!(
        s.body["join_url"].as_str(),
        Some(format!("https://meet.example.test/{room}#config.prejoin=true").as_str())
    );
}

async fn consent_is_enforced(app: &TestApp) {
    let patient = app.patient("Noconsent").await;
    let doctor = app.doctor("Consult", "telehealth").await;
    let r = schedule(
        app,
        &doctor.token,
        patient.pid(),
        doctor.did(),
        &slot(1, 60),
        &slot(1, 90),
    )
    .await
    .problem(409);
    assert!(problem_type(&r).ends_with("/consent-required"), "{r:?}");
    // A patient record without an account cannot have consented.
    let plain = new_patient(app, "Nologin").await;
    let r = schedule(
        app,
        &doctor.token,
        &plain,
        doctor.did(),
        &slot(1, 60),
        &slot(1, 90),
    )
    .await
    .problem(409);
    assert!(problem_type(&r).ends_with("/consent-required"));
    telemedicine_consent(app, &patient, "given").await;
    let id = schedule(
        app,
        &doctor.token,
        patient.pid(),
        doctor.did(),
        &slot(1, 60),
        &slot(1, 90),
    )
    .await
    .expect(201)
    .id();
    // The patient is told the doctor scheduled it; the doctor (who acted) is not.
    assert!(notifications(app, &patient.token)
        .await
        .iter()
        .any(|n| n["kind"] == "virtual_visit_scheduled"));
    assert!(!notifications(app, &doctor.token)
        .await
        .iter()
        .any(|n| n["kind"] == "virtual_visit_scheduled"));
    // A revocation stops the next video session.
    telemedicine_consent(app, &patient, "revoked").await;
    let r = app
        .post(
            &format!("/virtual-visits/{id}/video-sessions"),
            &doctor.token,
            json!({}),
        )
        .await
        .problem(409);
    assert!(problem_type(&r).ends_with("/consent-required"));
    telemedicine_consent(app, &patient, "given").await;
    app.post(
        &format!("/virtual-visits/{id}/video-sessions"),
        &doctor.token,
        json!({}),
    )
    .await
    .expect(201);
}

async fn times_clashes_and_appointments(app: &TestApp) {
    let v = visit(app, "Clara").await;
    let (p, d) = (&v.patient, &v.doctor);
    let bad = |start: String, end: String, field: &'static str| async move {
        let r = schedule(app, &p.token, p.pid(), d.did(), &start, &end)
            .await
            .problem(422);
        assert!(
            r.body["errors"]
                .as_array()
                .unwrap()
                .iter()
                .any(|e| e["field"] == field),
            "{r:?}"
        );
    };
    bad(slot(2, 60), slot(2, 30), "scheduled_end").await;
    bad(slot(2, 60), slot(3, 60), "scheduled_end").await;
    bad(slot(-1, 60), slot(-1, 90), "scheduled_start").await;
    let r = app
        .post(
            "/virtual-visits",
            &p.token,
            json!({"patient_id": p.pid(), "doctor_id": d.did(), "scheduled_start": "tomorrow",
                   "scheduled_end": slot(2, 90)}),
        )
        .await;
    assert!(r.status == 422 || r.status == 400, "{r:?}");
    let r = app
        .post(
            "/virtual-visits",
            &p.token,
            json!({"patient_id": p.pid(), "doctor_id": d.did(), "scheduled_start": slot(2, 60),
                   "scheduled_end": slot(2, 90), "status": "completed"}),
        )
        .await;
    assert!(
        r.status == 422 || r.status == 400,
        "unknown fields are refused: {r:?}"
    );
    // The doctor's overlapping visit clashes; one that touches does not.
    let other = app.patient("Otto").await;
    telemedicine_consent(app, &other, "given").await;
    let r = schedule(
        app,
        &other.token,
        other.pid(),
        d.did(),
        &slot(1, 75),
        &slot(1, 100),
    )
    .await
    .problem(409);
    assert!(problem_type(&r).ends_with("/booking-clash"), "{r:?}");
    schedule(
        app,
        &other.token,
        other.pid(),
        d.did(),
        &slot(1, 90),
        &slot(1, 120),
    )
    .await
    .expect(201);
    // Dangling references.
    let ghost = uuid::Uuid::now_v7().to_string();
    schedule(app, &p.token, p.pid(), &ghost, &slot(3, 60), &slot(3, 90))
        .await
        .problem(409);
    // From an appointment: only one of the same patient and doctor.
    let appt = book(app, &p.token, p.pid(), d.did(), &slot(4, 60), &slot(4, 90))
        .await
        .expect(201)
        .id();
    let r = app
        .post(
            "/virtual-visits",
            &other.token,
            json!({"patient_id": other.pid(), "doctor_id": d.did(), "appointment_id": appt,
                   "scheduled_start": slot(4, 120), "scheduled_end": slot(4, 150)}),
        )
        .await
        .problem(409);
    assert!(r.body["detail"].as_str().unwrap().contains("appointment"));
    app.post(
        "/virtual-visits",
        &p.token,
        json!({"patient_id": p.pid(), "doctor_id": d.did(), "appointment_id": ghost,
               "scheduled_start": slot(4, 60), "scheduled_end": slot(4, 90)}),
    )
    .await
    .problem(409);
    let linked = app
        .post(
            "/virtual-visits",
            &p.token,
            json!({"patient_id": p.pid(), "doctor_id": d.did(), "appointment_id": appt,
                   "scheduled_start": slot(4, 60), "scheduled_end": slot(4, 90)}),
        )
        .await
        .expect(201);
    assert_eq!(linked.body["appointment_id"], appt.as_str());
    // A patient schedules only for themself.
    schedule(
        app,
        &p.token,
        other.pid(),
        d.did(),
        &slot(5, 60),
        &slot(5, 90),
    )
    .await
    .problem(403);
}

/// Eight patients race for one slot of a doctor: exactly one wins, on both backends.
async fn concurrent_clashes_leave_one_visit(app: &TestApp) {
    let doctor = app.doctor("Busy", "telehealth").await;
    let mut patients = Vec::new();
    for i in 0..8 {
        let p = app.patient(&format!("Racer{i}")).await;
        telemedicine_consent(app, &p, "given").await;
        patients.push(p);
    }
    let (start, end) = (slot(6, 60), slot(6, 120));
    let results = futures::future::join_all(
        patients
            .iter()
            .map(|p| schedule(app, &p.token, p.pid(), doctor.did(), &start, &end)),
    )
    .await;
    let created = results.iter().filter(|r| r.status == 201).count();
    let clashed = results.iter().filter(|r| r.status == 409).count();
    assert_eq!((created, clashed), (1, 7), "{results:?}");
}

async fn reschedule_cancel_and_versions(app: &TestApp) {
    let v = visit(app, "Rita").await;
    let path = format!("/virtual-visits/{}", v.id);
    let r = app
        .call(
            Method::PATCH,
            &path,
            Some(&v.patient.token),
            Some(json!({"reason": "new reason"})),
            &[("if-match", "\"7\"")],
        )
        .await;
    assert_eq!(r.status, 412, "{r:?}");
    let moved = app
        .call(
            Method::PATCH,
            &path,
            Some(&v.patient.token),
            Some(json!({"scheduled_start": slot(2, 60), "scheduled_end": slot(2, 100)})),
            &[("if-match", "\"1\"")],
        )
        .await
        .expect(200);
    assert_eq!(moved.body["version"], 2);
    assert_eq!(ts(&moved.body["scheduled_start"]), ts(&json!(slot(2, 60))));
    assert!(notifications(app, &v.doctor.token)
        .await
        .iter()
        .any(|n| n["kind"] == "virtual_visit_rescheduled"));
    // Nobody sets in_progress by hand; a scheduled visit cannot be completed.
    app.patch(&path, &v.doctor.token, json!({"status": "in_progress"}))
        .await
        .problem(403);
    let r = app
        .patch(&path, &v.doctor.token, json!({"status": "completed"}))
        .await
        .problem(409);
    assert!(
        r.body["detail"].as_str().unwrap().contains("scheduled"),
        "{r:?}"
    );
    // Cancelling needs a reason; the other party is told.
    app.patch(&path, &v.patient.token, json!({"status": "cancelled"}))
        .await
        .problem(422);
    let c = app
        .patch(
            &path,
            &v.patient.token,
            json!({"status": "cancelled", "cancel_reason": "feeling better"}),
        )
        .await
        .expect(200);
    assert_eq!(c.body["status"], "cancelled");
    assert_eq!(c.body["cancel_reason"], "feeling better");
    let n = notifications(app, &v.doctor.token).await;
    assert!(n.iter().any(|n| n["kind"] == "virtual_visit_cancelled"
        && n["body"].as_str().unwrap().contains("feeling better")));
    app.patch(&path, &v.doctor.token, json!({"reason": "x"}))
        .await
        .problem(409);
    // No hard deletes.
    let r = app.delete(&path, &app.admin_token).await;
    assert_eq!(r.status, 405);
}

/// Who reaches a visit, its sessions and its chat: its patient, its doctor and admins. Another
/// doctor of the patient's care team does not; roles without telemedicine permissions get 403.
async fn access_matrix(app: &TestApp) {
    let v = visit(app, "Mia").await;
    // Another doctor on the patient's care team (through an appointment).
    let colleague = app.doctor("Colleague", "cardiology").await;
    book(
        app,
        &colleague.token,
        v.patient.pid(),
        colleague.did(),
        &slot(3, 60),
        &slot(3, 90),
    )
    .await
    .expect(201);
    let stranger = app.patient("Stranger").await;
    let msg = app
        .post(
            &format!("/virtual-visits/{}/chat", v.id),
            &v.patient.token,
            json!({"body": "hello doctor"}),
        )
        .await
        .expect(201);
    assert_eq!(msg.body["sender_user_id"], v.patient.user_id.as_str());
    let session = app
        .post(
            &format!("/virtual-visits/{}/video-sessions", v.id),
            &v.doctor.token,
            json!({}),
        )
        .await
        .expect(201)
        .id();
    let reads = [
        format!("/virtual-visits/{}", v.id),
        format!("/virtual-visits/{}/video-sessions", v.id),
        format!("/virtual-visits/{}/chat", v.id),
        format!("/video-sessions/{session}"),
    ];
    for who in [&v.patient, &v.doctor] {
        for path in &reads {
            app.get(path, &who.token).await.expect(200);
        }
        let list = app
            .get("/virtual-visits", &who.token)
            .await
            .expect(200)
            .items();
        assert!(list.iter().any(|x| x["id"] == v.id.as_str()));
    }
    for path in &reads {
        app.get(path, &app.admin_token).await.expect(200);
    }
    for who in [&colleague, &stranger] {
        for path in &reads {
            app.get(path, &who.token).await.problem(404);
        }
        let list = app
            .get("/virtual-visits", &who.token)
            .await
            .expect(200)
            .items();
        assert!(
            !list.iter().any(|x| x["id"] == v.id.as_str()),
            "{} sees a visit not theirs",
            who.email
        );
        app.patch(&reads[0], &who.token, json!({"reason": "mine now"}))
            .await
            .problem(404);
        app.post(&reads[1], &who.token, json!({}))
            .await
            .problem(404);
        app.post(&reads[2], &who.token, json!({"body": "hi"}))
            .await
            .problem(404);
        app.post(
            &format!("/virtual-visits/{}/chat/ticket", v.id),
            &who.token,
            json!({}),
        )
        .await
        .problem(404);
        app.post(&format!("{}/end", reads[3]), &who.token, json!({}))
            .await
            .problem(404);
    }
    // Filtering by the patient does not leak either.
    let list = app
        .get(
            &format!("/virtual-visits?patient_id={}", v.patient.pid()),
            &colleague.token,
        )
        .await
        .expect(200)
        .items();
    assert!(list.is_empty(), "{list:?}");
    // Admins reach but do not take part.
    app.post(&reads[2], &app.admin_token, json!({"body": "admin here"}))
        .await
        .problem(403);
    app.post(&reads[1], &app.admin_token, json!({}))
        .await
        .problem(403);
    // Roles without telemedicine permissions.
    for role in ["pharmacist", "lab_technician", "billing", "auditor"] {
        let staff = app.staff(role).await;
        app.get(&reads[0], &staff.token).await.problem(403);
        app.get("/virtual-visits", &staff.token).await.problem(403);
        app.post(&reads[2], &staff.token, json!({"body": "hi"}))
            .await
            .problem(403);
    }
    let items = audit_until(app, "resource_type=virtual_visit&outcome=denied", |items| {
        items
            .iter()
            .any(|e| e["user_id"] == colleague.user_id.as_str())
    })
    .await;
    assert!(!items.is_empty());
}

async fn chat_over_rest(app: &TestApp) {
    let v = visit(app, "Chad").await;
    let path = format!("/virtual-visits/{}/chat", v.id);
    app.post(&path, &v.patient.token, json!({"body": "   "}))
        .await
        .problem(422);
    app.post(&path, &v.patient.token, json!({"body": "x".repeat(4001)}))
        .await
        .problem(422);
    let r = app
        .post(&path, &v.patient.token, json!({"text": "wrong field"}))
        .await;
    assert!(r.status == 422 || r.status == 400, "{r:?}");
    let first = app
        .post(&path, &v.patient.token, json!({"body": "é".repeat(4000)}))
        .await
        .expect(201);
    assert!(first.header("location").is_some());
    let mut ids = vec![first.id()];
    for (who, body) in [
        (&v.patient, "are you there?"),
        (&v.doctor, "yes, hello"),
        (&v.patient, "thanks"),
    ] {
        ids.push(
            app.post(&path, &who.token, json!({"body": body}))
                .await
                .expect(201)
                .id(),
        );
    }
    let all = app.get(&path, &v.doctor.token).await.expect(200).items();
    let got: Vec<&str> = all.iter().map(|m| m["id"].as_str().unwrap()).collect();
    assert_eq!(got, ids.iter().map(String::as_str).collect::<Vec<_>>());
    assert_eq!(all[2]["sender_user_id"], v.doctor.user_id.as_str());
    assert_eq!(all[2]["patient_id"], v.patient.pid());
    let since = app
        .get(&format!("{path}?after={}", ids[1]), &v.patient.token)
        .await
        .expect(200)
        .items();
    assert_eq!(since.len(), 2);
    assert_eq!(since[0]["id"], ids[2].as_str());
    // Paging goes through the same order.
    let paged = app.all_pages(&path, &v.patient.token, 1).await;
    assert_eq!(paged.len(), 4);
    // At most one unread chat notification per visit.
    let unread = |n: &Vec<Value>| {
        n.iter()
            .filter(|n| n["kind"] == "chat_message" && n["read_at"].is_null())
            .count()
    };
    let doctor_n = notifications(app, &v.doctor.token).await;
    assert_eq!(unread(&doctor_n), 1, "{doctor_n:?}");
    let patient_n = notifications(app, &v.patient.token).await;
    assert_eq!(unread(&patient_n), 1, "{patient_n:?}");
    let r = app
        .post("/notifications/read-all", &v.doctor.token, json!({}))
        .await;
    assert!(r.status.is_success(), "{r:?}");
    app.post(&path, &v.patient.token, json!({"body": "one more"}))
        .await
        .expect(201);
    assert_eq!(unread(&notifications(app, &v.doctor.token).await), 1);
    // Unknown objects: 404, over REST and over the socket.
    let ghost = uuid::Uuid::now_v7().to_string();
    for path in [
        format!("/virtual-visits/{ghost}/chat"),
        format!("/virtual-visits/{ghost}/video-sessions"),
        format!("/video-sessions/{ghost}/end"),
        format!("/virtual-visits/{ghost}/chat/ticket"),
    ] {
        app.post(&path, &v.patient.token, json!({"body": "anyone?"}))
            .await
            .problem(404);
    }
    app.get(&format!("/virtual-visits/{ghost}"), &v.patient.token)
        .await
        .problem(404);
    assert_eq!(
        Socket::open(app, &ghost, Auth::Bearer(&v.patient.token), None)
            .await
            .err(),
        Some(404)
    );
    // Nothing half-written: refused messages are not in the log.
    assert_eq!(
        app.get(&path, &v.doctor.token)
            .await
            .expect(200)
            .items()
            .len(),
        5
    );
    let items = audit_until(app, "resource_type=chat_message", |items| {
        items.iter().filter(|e| e["action"] == "create").count() >= 5
    })
    .await;
    assert!(has_entry(
        &items,
        "create",
        "chat_message",
        Some(&ids[0]),
        "success"
    ));
}

/// A WebSocket client of the chat.
struct Socket {
    ws: tokio_tungstenite::WebSocketStream<
        tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>,
    >,
}

enum Auth<'a> {
    Bearer(&'a str),
    Ticket(&'a str),
    Nothing,
}

impl Socket {
    /// Opens the visit's chat socket; the HTTP status when the server refuses.
    async fn open(
        app: &TestApp,
        visit: &str,
        auth: Auth<'_>,
        after: Option<&str>,
    ) -> Result<Socket, u16> {
        let mut url = app
            .url(&format!("/virtual-visits/{visit}/chat/ws"))
            .replacen("http://", "ws://", 1);
        let mut query = Vec::new();
        if let Auth::Ticket(t) = auth {
            query.push(format!("ticket={t}"));
        }
        if let Some(a) = after {
            query.push(format!("after={a}"));
        }
        if !query.is_empty() {
            url = format!("{url}?{}", query.join("&"));
        }
        let mut req = url.into_client_request().unwrap();
        if let Auth::Bearer(t) = auth {
            req.headers_mut()
                .insert("authorization", format!("Bearer {t}").parse().unwrap());
        }
        match tokio_tungstenite::connect_async(req).await {
            Ok((ws, _)) => Ok(Socket { ws }),
            Err(tokio_tungstenite::tungstenite::Error::Http(resp)) => Err(resp.status().as_u16()),
            Err(e) => panic!("socket: {e}"),
        }
    }

    async fn send(&mut self, text: &str) {
        self.ws.send(Message::text(text)).await.expect("frame sent");
    }

    /// The next JSON frame (10 s at most).
    async fn next(&mut self) -> Value {
        loop {
            let m = tokio::time::timeout(Duration::from_secs(10), self.ws.next())
                .await
                .expect("a frame within 10 s")
                .expect("the socket is open")
                .expect("a frame");
            match m {
                Message::Text(t) => return serde_json::from_str(t.as_str()).expect("JSON frame"),
                Message::Close(c) => panic!("socket closed: {c:?}"),
                _ => continue,
            }
        }
    }

    async fn message(&mut self) -> Value {
        let f = self.next().await;
        assert_eq!(f["type"], "message", "{f}");
        f["message"].clone()
    }

    async fn error(&mut self) -> Value {
        let f = self.next().await;
        assert_eq!(f["type"], "error", "{f}");
        assert!(f["detail"].as_str().is_some_and(|d| !d.is_empty()), "{f}");
        f
    }

    /// Nothing arrives within `ms`.
    async fn quiet(&mut self, ms: u64) {
        if let Ok(Some(Ok(m))) =
            tokio::time::timeout(Duration::from_millis(ms), self.ws.next()).await
        {
            if matches!(m, Message::Text(_)) {
                panic!("unexpected frame: {m:?}");
            }
        }
    }
}

async fn ticket(app: &TestApp, visit: &str, token: &str) -> String {
    let t = app
        .post(
            &format!("/virtual-visits/{visit}/chat/ticket"),
            token,
            json!({}),
        )
        .await
        .expect(201);
    assert_eq!(t.body["expires_in"], 60);
    t.body["ticket"].as_str().unwrap().to_string()
}

async fn chat_over_the_socket(app: &TestApp) {
    let v = visit(app, "Sofia").await;
    let mut doctor = Socket::open(app, &v.id, Auth::Bearer(&v.doctor.token), None)
        .await
        .expect("the doctor's socket opens");
    let t = ticket(app, &v.id, &v.patient.token).await;
    let mut patient = Socket::open(app, &v.id, Auth::Ticket(&t), None)
        .await
        .expect("the patient's socket opens with a ticket");
    // Single use.
    assert_eq!(
        Socket::open(app, &v.id, Auth::Ticket(&t), None).await.err(),
        Some(401)
    );
    assert_eq!(
        Socket::open(app, &v.id, Auth::Ticket("not-a-ticket"), None)
            .await
            .err(),
        Some(401)
    );
    assert_eq!(
        Socket::open(app, &v.id, Auth::Nothing, None).await.err(),
        Some(401)
    );
    // A ticket opens only the visit it was issued for.
    let other = visit(app, "Otto").await;
    let t2 = ticket(app, &other.id, &other.patient.token).await;
    assert_eq!(
        Socket::open(app, &v.id, Auth::Ticket(&t2), None)
            .await
            .err(),
        Some(401)
    );
    // Outsiders: 404, as over REST.
    assert_eq!(
        Socket::open(app, &v.id, Auth::Bearer(&other.patient.token), None)
            .await
            .err(),
        Some(404)
    );
    let auditor = app.staff("auditor").await;
    assert_eq!(
        Socket::open(app, &v.id, Auth::Bearer(&auditor.token), None)
            .await
            .err(),
        Some(403)
    );
    // A frame from one participant reaches both, stored first.
    patient.send(r#"{"body": "hello from the patient"}"#).await;
    let m1 = patient.message().await;
    assert_eq!(m1["body"], "hello from the patient");
    assert_eq!(m1["sender_user_id"], v.patient.user_id.as_str());
    assert_eq!(doctor.message().await["id"], m1["id"]);
    doctor.send(r#"{"body": "hello from the doctor"}"#).await;
    let m2 = doctor.message().await;
    assert_eq!(patient.message().await["id"], m2["id"]);
    // A REST post reaches the sockets too.
    let m3 = app
        .post(
            &format!("/virtual-visits/{}/chat", v.id),
            &v.patient.token,
            json!({"body": "over REST"}),
        )
        .await
        .expect(201)
        .id();
    assert_eq!(doctor.message().await["id"], m3.as_str());
    assert_eq!(patient.message().await["id"], m3.as_str());
    // Bad frames: an error frame each, the socket stays open, nothing is stored.
    for bad in [
        "not json".to_string(),
        r#"{"text": "wrong field"}"#.to_string(),
        r#"{"body": ""}"#.to_string(),
        json!({"body": "x".repeat(4001)}).to_string(),
    ] {
        patient.send(&bad).await;
        patient.error().await;
    }
    patient
        .ws
        .send(Message::binary(vec![1, 2, 3]))
        .await
        .unwrap();
    patient.error().await;
    doctor.quiet(300).await;
    let stored = app
        .get(&format!("/virtual-visits/{}/chat", v.id), &v.doctor.token)
        .await
        .expect(200)
        .items();
    assert_eq!(stored.len(), 3, "{stored:?}");
    patient.send(r#"{"body": "still here"}"#).await;
    let m4 = patient.message().await;
    assert_eq!(doctor.message().await["id"], m4["id"]);
    // Reconnecting with ?after= replays what was missed.
    drop(patient);
    doctor.send(r#"{"body": "while you were away"}"#).await;
    let m5 = doctor.message().await;
    let mut back = Socket::open(
        app,
        &v.id,
        Auth::Bearer(&v.patient.token),
        m4["id"].as_str(),
    )
    .await
    .unwrap();
    assert_eq!(back.message().await["id"], m5["id"]);
    back.quiet(200).await;
    // An admin may watch, not write.
    let mut admin = Socket::open(app, &v.id, Auth::Bearer(&app.admin_token), None)
        .await
        .unwrap();
    admin.send(r#"{"body": "admin"}"#).await;
    let e = admin.error().await;
    assert_eq!(e["problem"]["status"], 403, "{e}");
    doctor.send(r#"{"body": "last"}"#).await;
    assert_eq!(admin.message().await["body"], "last");
    // The visit ends: frames are refused with a 409 error frame.
    app.patch(
        &format!("/virtual-visits/{}", v.id),
        &v.doctor.token,
        json!({"status": "cancelled", "cancel_reason": "done"}),
    )
    .await
    .expect(200);
    back.message().await; // "last"
    back.send(r#"{"body": "too late"}"#).await;
    let e = back.error().await;
    assert_eq!(e["problem"]["status"], 409, "{e}");
    // Signing out ends the socket at its next frame.
    app.post("/auth/logout", &v.doctor.token, json!({})).await;
    doctor.message().await; // "last"
    doctor.send(r#"{"body": "after logout"}"#).await;
    let closed = tokio::time::timeout(Duration::from_secs(10), doctor.ws.next()).await;
    assert!(
        matches!(
            closed,
            Ok(Some(Ok(Message::Close(_)))) | Ok(None) | Ok(Some(Err(_)))
        ),
        "{closed:?}"
    );
    // The socket's openings and writes are audited.
    let items = audit_until(app, &format!("patient_id={}", v.patient.pid()), |items| {
        has_entry(items, "read", "chat_message", Some(&v.id), "success")
            && has_entry(items, "create", "chat_ticket", Some(&v.id), "success")
            && items
                .iter()
                .filter(|e| e["action"] == "create" && e["resource_type"] == "chat_message")
                .count()
                >= 6
    })
    .await;
    assert!(!items.is_empty());
}

/// A client that stops reading holds nobody else up: the other participant's socket gets every
/// message while the silent one's buffers fill.
async fn a_slow_reader_stalls_nobody(app: &TestApp) {
    let v = visit(app, "Slow").await;
    let _silent = Socket::open(app, &v.id, Auth::Bearer(&v.doctor.token), None)
        .await
        .unwrap();
    let mut reader = Socket::open(app, &v.id, Auth::Bearer(&v.patient.token), None)
        .await
        .unwrap();
    let body = "y".repeat(4000);
    let path = format!("/virtual-visits/{}/chat", v.id);
    for _ in 0..150 {
        app.post(&path, &v.patient.token, json!({"body": body}))
            .await
            .expect(201);
    }
    for _ in 0..150 {
        assert_eq!(reader.message().await["body"].as_str().unwrap().len(), 4000);
    }
}

/// A message posted on one node reaches a socket on another (PostgreSQL LISTEN/NOTIFY).
async fn chat_across_nodes(app: &TestApp) {
    let node2 = TestApp::spawn_on(
        Backend::Postgres,
        app.database_url.clone(),
        tempfile::tempdir().unwrap(),
        None,
    )
    .await;
    let v = visit(app, "Nadia").await;
    let t = ticket(app, &v.id, &v.doctor.token).await;
    // The ticket from node one opens a socket on node two.
    let mut far = Socket::open(&node2, &v.id, Auth::Ticket(&t), None)
        .await
        .unwrap();
    let mut near = Socket::open(app, &v.id, Auth::Bearer(&v.patient.token), None)
        .await
        .unwrap();
    near.send(r#"{"body": "across the cluster"}"#).await;
    let m = near.message().await;
    assert_eq!(far.message().await["id"], m["id"]);
    far.send(r#"{"body": "and back"}"#).await;
    assert_eq!(near.message().await["body"], "and back");
    assert_eq!(far.message().await["body"], "and back");
    node2.stop().await;
}

async fn join_url_sqlite() {
    let app = TestApp::spawn_with(Backend::Sqlite, |c| {
        c.video_url_template = Some("https://meet.example.test/{room}#config.prejoin=true".into());
    })
    .await
    .unwrap();
    join_url_comes_from_the_template(&app).await;
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn join_url_from_template() {
    join_url_sqlite().await;
}

both_backends!(
    visit_flow,
    consent_is_enforced,
    times_clashes_and_appointments,
    concurrent_clashes_leave_one_visit,
    reschedule_cancel_and_versions,
    access_matrix,
    chat_over_rest,
    chat_over_the_socket,
    a_slow_reader_stalls_nobody,
);

postgres_only!(chat_across_nodes);
