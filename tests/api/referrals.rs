//! Referrals: the status graph as data, requests and their transitions (who may take which
//! arrow), the specialist's place on the care team, notes, and who reaches each.

use serde_json::{json, Value};

use crate::clinical::*;
use crate::common::*;

/// A patient, a referring doctor on their care team (through an appointment), a specialist.
pub struct Case {
    pub patient: Actor,
    pub referring: Actor,
    pub specialist: Actor,
}

pub async fn case(app: &TestApp, name: &str) -> Case {
    let patient = app.patient(name).await;
    let referring = app.doctor(&format!("{name}Gp"), "family medicine").await;
    let specialist = app.doctor(&format!("{name}Spec"), "cardiology").await;
    book(
        app,
        &referring.token,
        patient.pid(),
        referring.did(),
        &slot(1, 60),
        &slot(1, 90),
    )
    .await
    .expect(201);
    Case {
        patient,
        referring,
        specialist,
    }
}

pub async fn refer(app: &TestApp, token: &str, patient: &str, specialist: &str) -> Resp {
    app.post(
        "/referrals",
        token,
        json!({"patient_id": patient, "specialist_id": specialist,
               "reason": "Chest pain on exertion", "priority": "urgent",
               "specialty": "cardiology"}),
    )
    .await
}

async fn go(app: &TestApp, token: &str, id: &str, body: Value) -> Resp {
    app.post(&format!("/referrals/{id}/transition"), token, body)
        .await
}

fn sources(team: &[(String, String)], doctor: &str) -> Vec<String> {
    team.iter()
        .filter(|(d, _)| d == doctor)
        .map(|(_, s)| s.clone())
        .collect()
}

async fn the_graph_is_data(app: &TestApp) {
    let p = app.patient("Graph").await;
    let statuses = app
        .get("/referral-statuses", &p.token)
        .await
        .expect(200)
        .body;
    let all = statuses.as_array().unwrap();
    let codes: Vec<&str> = all.iter().map(|s| s["code"].as_str().unwrap()).collect();
    assert_eq!(
        codes,
        [
            "pending",
            "accepted",
            "scheduled",
            "completed",
            "rejected",
            "cancelled"
        ]
    );
    let of = |code: &str| all.iter().find(|s| s["code"] == code).unwrap().clone();
    assert_eq!(
        of("pending")["next"],
        json!(["accepted", "rejected", "cancelled"])
    );
    assert_eq!(
        of("accepted")["next"],
        json!(["scheduled", "completed", "cancelled"])
    );
    assert_eq!(of("scheduled")["next"], json!(["completed", "cancelled"]));
    for done in ["completed", "rejected", "cancelled"] {
        assert_eq!(of(done)["is_final"], true);
        assert_eq!(of(done)["next"], json!([]));
    }
    assert_eq!(of("pending")["is_final"], false);
    let cancel = of("pending")["arrows"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["to"] == "cancelled")
        .unwrap()
        .clone();
    assert_eq!(cancel["by"], json!(["referring_doctor", "admin"]));
    assert!(of("pending")["id"].is_string() && of("pending")["display"] == "Pending");
}

async fn referral_flow(app: &TestApp) {
    let c = case(app, "Ruth").await;
    let (p, r, s) = (&c.patient, &c.referring, &c.specialist);
    // A doctor off the care team does not reach the patient; the patient does not refer.
    let stranger = app.doctor("Stranger", "surgery").await;
    refer(app, &stranger.token, p.pid(), s.did())
        .await
        .problem(404);
    refer(app, &p.token, p.pid(), s.did()).await.problem(403);
    refer(app, &r.token, p.pid(), r.did()).await.problem(422);
    refer(app, &r.token, p.pid(), &uuid::Uuid::now_v7().to_string())
        .await
        .problem(409);
    let created = refer(app, &r.token, p.pid(), s.did()).await.expect(201);
    assert_eq!(created.body["status"], "pending");
    assert_eq!(created.body["referring_doctor_id"], r.did());
    assert_eq!(created.body["priority"], "urgent");
    assert!(created.body["status_id"].is_string());
    let id = created.id();
    // The specialist joins the care team at once, and is told; so is the patient.
    assert!(sources(&care_team(app, p.pid()).await, s.did()).contains(&"referral".to_string()));
    for who in [s, p] {
        assert!(notifications(app, &who.token)
            .await
            .iter()
            .any(|n| n["kind"] == "referral_status" && n["resource_id"] == id.as_str()));
    }
    app.get(&format!("/referrals/{id}"), &s.token)
        .await
        .expect(200);
    // Notes wait for acceptance.
    let notes = format!("/referrals/{id}/notes");
    app.post(&notes, &s.token, json!({"note": "Too early"}))
        .await
        .problem(409);
    // Who may take which arrow is the graph's.
    go(app, &r.token, &id, json!({"to": "accepted"}))
        .await
        .problem(403);
    go(app, &s.token, &id, json!({"to": "scheduled"}))
        .await
        .problem(409);
    let accepted = go(app, &s.token, &id, json!({"to": "accepted"}))
        .await
        .expect(200);
    assert_eq!(accepted.body["status"], "accepted");
    assert_eq!(accepted.body["version"], 2);
    assert_ne!(accepted.body["status_id"], created.body["status_id"]);
    let back = go(app, &s.token, &id, json!({"to": "pending"}))
        .await
        .problem(409);
    assert!(back.text.contains("accepted"), "{back:?}");
    assert!(notifications(app, &r.token)
        .await
        .iter()
        .any(|n| n["kind"] == "referral_status" && n["title"] == "Referral accepted"));
    // Notes: the specialist only; the referring doctor is told.
    let n = app
        .post(&notes, &s.token, json!({"note": "ECG shows no ischaemia."}))
        .await
        .expect(201);
    assert_eq!(n.body["specialist_id"], s.did());
    app.post(&notes, &r.token, json!({"note": "Mine"}))
        .await
        .problem(403);
    app.post(&notes, &s.token, json!({"note": "  "}))
        .await
        .problem(422);
    assert!(notifications(app, &r.token)
        .await
        .iter()
        .any(|n| n["kind"] == "specialist_note"));
    for who in [p, r, s] {
        let got = app.get(&notes, &who.token).await.expect(200).items();
        assert_eq!(got.len(), 1);
        assert_eq!(got[0]["note"], "ECG shows no ischaemia.");
    }
    app.get(&notes, &app.admin_token).await.expect(200);
    // Another doctor of the care team reads the referral, not the notes.
    let colleague = app.doctor("Colleague", "family medicine").await;
    book(
        app,
        &colleague.token,
        p.pid(),
        colleague.did(),
        &slot(2, 60),
        &slot(2, 90),
    )
    .await
    .expect(201);
    app.get(&format!("/referrals/{id}"), &colleague.token)
        .await
        .expect(200);
    app.get(&notes, &colleague.token).await.problem(404);
    // Scheduled, with the specialist's appointment (not another's).
    let mine = book(app, &s.token, p.pid(), s.did(), &slot(3, 60), &slot(3, 90))
        .await
        .expect(201)
        .id();
    let theirs = book(
        app,
        &colleague.token,
        p.pid(),
        colleague.did(),
        &slot(4, 60),
        &slot(4, 90),
    )
    .await
    .expect(201)
    .id();
    go(
        app,
        &s.token,
        &id,
        json!({"to": "scheduled", "appointment_id": theirs}),
    )
    .await
    .problem(409);
    go(
        app,
        &s.token,
        &id,
        json!({"to": "completed", "appointment_id": mine}),
    )
    .await
    .problem(422);
    let scheduled = go(
        app,
        &s.token,
        &id,
        json!({"to": "scheduled", "appointment_id": mine}),
    )
    .await
    .expect(200);
    assert_eq!(scheduled.body["appointment_id"], mine.as_str());
    go(app, &s.token, &id, json!({"to": "completed"}))
        .await
        .expect(200);
    app.post(&notes, &s.token, json!({"note": "Follow up in a year."}))
        .await
        .expect(201);
    let r2 = go(
        app,
        &r.token,
        &id,
        json!({"to": "cancelled", "reason": "too late"}),
    )
    .await
    .problem(409);
    assert!(r2.text.contains("completed"));
    // The history: creation and every transition.
    let h = app
        .get(&format!("/referrals/{id}/history"), &p.token)
        .await
        .expect(200)
        .body;
    let steps: Vec<(Value, Value)> = h
        .as_array()
        .unwrap()
        .iter()
        .map(|e| (e["from"].clone(), e["to"].clone()))
        .collect();
    assert_eq!(
        steps,
        [
            (Value::Null, json!("pending")),
            (json!("pending"), json!("accepted")),
            (json!("accepted"), json!("scheduled")),
            (json!("scheduled"), json!("completed")),
        ]
    );
    assert_eq!(h[1]["by"], s.user_id.as_str());
    // Completed keeps the specialist on the team.
    assert!(sources(&care_team(app, p.pid()).await, s.did()).contains(&"referral".to_string()));
    let items = audit_until(app, &format!("patient_id={}", p.pid()), |items| {
        has_entry(items, "create", "referral_request", Some(&id), "success")
            && has_entry(
                items,
                "state_change",
                "referral_request",
                Some(&id),
                "success",
            )
            && has_entry(
                items,
                "state_change",
                "referral_request",
                Some(&id),
                "denied",
            )
            && items
                .iter()
                .any(|e| e["resource_type"] == "specialist_note" && e["action"] == "create")
    })
    .await;
    assert!(!items.is_empty());
}

async fn rejection_and_cancellation_end_the_link(app: &TestApp) {
    let c = case(app, "Rhea").await;
    let (p, r, s) = (&c.patient, &c.referring, &c.specialist);
    let record = write_record(app, &r.token, p.pid(), "visit_note")
        .await
        .expect(201)
        .id();
    let id = refer(app, &r.token, p.pid(), s.did())
        .await
        .expect(201)
        .id();
    app.get(&format!("/medical-records/{record}"), &s.token)
        .await
        .expect(200);
    // `reason` is optional (the contract's `reason?`), but bounded.
    go(
        app,
        &s.token,
        &id,
        json!({"to": "rejected", "reason": "x".repeat(2001)}),
    )
    .await
    .problem(422);
    let rejected = go(
        app,
        &s.token,
        &id,
        json!({"to": "rejected", "reason": "Not my field"}),
    )
    .await
    .expect(200);
    assert_eq!(rejected.body["status"], "rejected");
    assert!(!sources(&care_team(app, p.pid()).await, s.did()).contains(&"referral".to_string()));
    // Off the team: the patient's record is out of reach; the referral itself is still theirs.
    app.get(&format!("/medical-records/{record}"), &s.token)
        .await
        .problem(404);
    app.get(&format!("/referrals/{id}"), &s.token)
        .await
        .expect(200);
    let h = app
        .get(&format!("/referrals/{id}/history"), &r.token)
        .await
        .expect(200)
        .body;
    assert_eq!(h[1]["reason"], "Not my field");
    // A new referral brings them back.
    let again = refer(app, &r.token, p.pid(), s.did())
        .await
        .expect(201)
        .id();
    assert!(sources(&care_team(app, p.pid()).await, s.did()).contains(&"referral".to_string()));
    app.get(&format!("/medical-records/{record}"), &s.token)
        .await
        .expect(200);
    // Two live referrals to the same specialist: cancelling one keeps the link.
    let third = refer(app, &r.token, p.pid(), s.did())
        .await
        .expect(201)
        .id();
    go(
        app,
        &r.token,
        &third,
        json!({"to": "cancelled", "reason": "duplicate"}),
    )
    .await
    .expect(200);
    assert!(sources(&care_team(app, p.pid()).await, s.did()).contains(&"referral".to_string()));
    // Another source keeps the specialist on the team when the referral ends.
    book(app, &s.token, p.pid(), s.did(), &slot(5, 60), &slot(5, 90))
        .await
        .expect(201);
    go(
        app,
        &app.admin_token,
        &again,
        json!({"to": "cancelled", "reason": "admin tidy-up"}),
    )
    .await
    .expect(200);
    let team = sources(&care_team(app, p.pid()).await, s.did());
    assert!(!team.contains(&"referral".to_string()), "{team:?}");
    assert!(team.contains(&"appointment".to_string()), "{team:?}");
    app.get(&format!("/medical-records/{record}"), &s.token)
        .await
        .expect(200);
    // The patient and both doctors heard of the cancellation by the admin.
    for who in [p, r, s] {
        assert!(notifications(app, &who.token)
            .await
            .iter()
            .any(|n| n["kind"] == "referral_status" && n["resource_id"] == again.as_str()));
    }
}

async fn who_reaches_referrals(app: &TestApp) {
    let c = case(app, "Rena").await;
    let (p, r, s) = (&c.patient, &c.referring, &c.specialist);
    // An admin names both doctors.
    app.post(
        "/referrals",
        &app.admin_token,
        json!({"patient_id": p.pid(), "specialist_id": s.did(), "reason": "x"}),
    )
    .await
    .problem(422);
    let id = app
        .post(
            "/referrals",
            &app.admin_token,
            json!({"patient_id": p.pid(), "referring_doctor_id": r.did(),
                   "specialist_id": s.did(), "reason": "Second opinion"}),
        )
        .await
        .expect(201)
        .id();
    let reads = [
        format!("/referrals/{id}"),
        format!("/referrals/{id}/history"),
        format!("/referrals/{id}/notes"),
    ];
    for token in [&p.token, &r.token, &s.token, &app.admin_token] {
        for path in &reads {
            app.get(path, token).await.expect(200);
        }
        let list = app.get("/referrals", token).await.expect(200).items();
        assert!(list.iter().any(|x| x["id"] == id.as_str()));
    }
    let other_patient = app.patient("Outsider").await;
    let other_doctor = app.doctor("Outside", "neurology").await;
    for who in [&other_patient, &other_doctor] {
        for path in &reads {
            app.get(path, &who.token).await.problem(404);
        }
        let list = app
            .get(&format!("/referrals?patient_id={}", p.pid()), &who.token)
            .await
            .expect(200)
            .items();
        assert!(list.is_empty());
    }
    go(app, &other_doctor.token, &id, json!({"to": "accepted"}))
        .await
        .problem(404);
    // The patient reads, never moves a referral.
    go(
        app,
        &p.token,
        &id,
        json!({"to": "cancelled", "reason": "x"}),
    )
    .await
    .problem(403);
    // Filters.
    let by_specialist = app
        .get(
            &format!("/referrals?specialist_id={}&status=pending", s.did()),
            &r.token,
        )
        .await
        .expect(200)
        .items();
    assert_eq!(by_specialist.len(), 1);
    for role in ["pharmacist", "lab_technician", "billing", "auditor"] {
        let staff = app.staff(role).await;
        app.get("/referrals", &staff.token).await.problem(403);
        app.get(&reads[0], &staff.token).await.problem(403);
        go(app, &staff.token, &id, json!({"to": "accepted"}))
            .await
            .problem(403);
    }
    assert_eq!(app.delete(&reads[0], &app.admin_token).await.status, 405);
}

both_backends!(
    the_graph_is_data,
    referral_flow,
    rejection_and_cancellation_end_the_link,
    who_reaches_referrals,
);
