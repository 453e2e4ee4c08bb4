//! Appointments: who may book, validation, clash detection (also under concurrency),
//! rescheduling, the status state machine, notifications, lists, the compartment and audit.

use crate::clinical::*;
use crate::common::*;
use futures::future::join_all;
use reqwest::Method;
use serde_json::{json, Value};

fn ids(items: &[Value]) -> Vec<String> {
    items
        .iter()
        .map(|i| i["id"].as_str().expect("an id").to_string())
        .collect()
}

async fn patch_status(app: &TestApp, token: &str, id: &str, body: Value) -> Resp {
    app.patch(&format!("/appointments/{id}"), token, body).await
}

async fn booking_rules_and_who_may_book(app: &TestApp) {
    let ann = app.patient("Ann").await;
    let bob = app.patient("Bob").await;
    let dr = app.doctor("House", "diagnostics").await;
    let other_dr = new_doctor(app, "Wilson").await;

    // The patient books for themself: 201 booked, version 1, Location + ETag.
    let r = book(
        app,
        &ann.token,
        ann.pid(),
        dr.did(),
        &slot(3, 600),
        &slot(3, 630),
    )
    .await
    .expect(201);
    let id = r.id();
    assert_eq!(
        r.header("location"),
        Some(format!("/api/v1/appointments/{id}").as_str())
    );
    assert_eq!(r.header("etag"), Some("\"1\""));
    assert_eq!(r.body["status"], "booked");
    assert_eq!(r.body["version"], 1);
    assert_eq!(r.body["patient_id"], ann.pid());
    assert_eq!(r.body["doctor_id"], dr.did());
    assert_eq!(r.body["reason"], "check-up");
    assert!(r.body["cancel_reason"].is_null());
    assert_eq!(ts(&r.body["start_time"]), ts(&json!(slot(3, 600))));
    assert_eq!(ts(&r.body["end_time"]), ts(&json!(slot(3, 630))));
    ts(&r.body["created_at"]);
    ts(&r.body["updated_at"]);
    let got = app
        .get(&format!("/appointments/{id}"), &ann.token)
        .await
        .expect(200);
    assert_eq!(got.header("etag"), Some("\"1\""));
    assert_eq!(
        got.body, r.body,
        "read back equals what the create returned"
    );

    // A patient may not book for someone else.
    book(
        app,
        &ann.token,
        bob.pid(),
        dr.did(),
        &slot(4, 600),
        &slot(4, 630),
    )
    .await
    .problem(403);
    // A doctor books only as the appointment's doctor.
    book(
        app,
        &dr.token,
        bob.pid(),
        dr.did(),
        &slot(4, 600),
        &slot(4, 630),
    )
    .await
    .expect(201);
    book(
        app,
        &dr.token,
        bob.pid(),
        &other_dr,
        &slot(5, 600),
        &slot(5, 630),
    )
    .await
    .problem(403);
    // Admin books for anyone.
    book(
        app,
        &app.admin_token,
        bob.pid(),
        &other_dr,
        &slot(5, 600),
        &slot(5, 630),
    )
    .await
    .expect(201);
    // Staff roles without the right to book.
    for role in ["billing", "pharmacist", "lab_technician", "auditor"] {
        let s = app.staff(role).await;
        book(
            app,
            &s.token,
            ann.pid(),
            dr.did(),
            &slot(6, 600),
            &slot(6, 630),
        )
        .await
        .problem(403);
        app.get("/appointments", &s.token).await.problem(403);
        app.get(&format!("/appointments/{id}"), &s.token)
            .await
            .problem(403);
        patch_status(app, &s.token, &id, json!({"status": "checked_in"}))
            .await
            .problem(403);
    }
    // No token at all.
    app.call(
        Method::POST,
        "/appointments",
        None,
        Some(json!({"patient_id": ann.pid(), "doctor_id": dr.did(),
                    "start_time": slot(6, 600), "end_time": slot(6, 630)})),
        &[],
    )
    .await
    .problem(401);

    // Dangling references are 409 (admin, so the role check passes).
    let nobody = "00000000-0000-0000-0000-000000000000";
    book(
        app,
        &app.admin_token,
        nobody,
        dr.did(),
        &slot(7, 600),
        &slot(7, 630),
    )
    .await
    .problem(409);
    book(
        app,
        &app.admin_token,
        ann.pid(),
        nobody,
        &slot(7, 600),
        &slot(7, 630),
    )
    .await
    .problem(409);
}

async fn booking_validation(app: &TestApp) {
    let pid = new_patient(app, "Vera").await;
    let did = new_doctor(app, "Vale").await;
    let admin = &app.admin_token;
    let field_of = |r: &Resp| -> Vec<String> {
        r.body["errors"]
            .as_array()
            .expect("errors")
            .iter()
            .map(|e| e["field"].as_str().unwrap().to_string())
            .collect()
    };
    // End before or at the start.
    let r = book(app, admin, &pid, &did, &slot(3, 600), &slot(3, 540))
        .await
        .problem(422);
    assert!(field_of(&r).contains(&"end_time".to_string()), "{}", r.text);
    book(app, admin, &pid, &did, &slot(3, 600), &slot(3, 600))
        .await
        .problem(422);
    // Longer than 12 hours; exactly 12 is fine.
    let r = book(app, admin, &pid, &did, &slot(3, 0), &slot(3, 12 * 60 + 1))
        .await
        .problem(422);
    assert!(field_of(&r).contains(&"end_time".to_string()), "{}", r.text);
    book(app, admin, &pid, &did, &slot(3, 0), &slot(3, 12 * 60))
        .await
        .expect(201);
    // In the past.
    let r = book(app, admin, &pid, &did, &slot(-1, 600), &slot(-1, 630))
        .await
        .problem(422);
    assert!(
        field_of(&r).contains(&"start_time".to_string()),
        "{}",
        r.text
    );
    // Missing field, wrong type, unknown field, not a time.
    let r = app
        .post(
            "/appointments",
            admin,
            json!({"patient_id": pid, "doctor_id": did, "start_time": slot(4, 600)}),
        )
        .await
        .problem(422);
    assert!(field_of(&r).contains(&"end_time".to_string()), "{}", r.text);
    app.post(
        "/appointments",
        admin,
        json!({"patient_id": pid, "doctor_id": did, "start_time": 12, "end_time": slot(4, 630)}),
    )
    .await
    .problem(422);
    app.post(
        "/appointments",
        admin,
        json!({"patient_id": pid, "doctor_id": did, "start_time": "tomorrow at noon",
               "end_time": slot(4, 630)}),
    )
    .await
    .problem(422);
    let r = app
        .post(
            "/appointments",
            admin,
            json!({"patient_id": pid, "doctor_id": did, "start_time": slot(4, 600),
                   "end_time": slot(4, 630), "status": "completed"}),
        )
        .await
        .problem(422);
    assert!(field_of(&r).contains(&"status".to_string()), "{}", r.text);
    // Malformed JSON.
    app.post_raw(
        "/appointments",
        admin,
        "application/json",
        b"{\"patient_id\": ".to_vec(),
    )
    .await
    .problem(400);
    // Nothing of the rejected ones was stored.
    let all = app.all_pages("/appointments", admin, 50).await;
    assert_eq!(all.len(), 1, "only the 12-hour booking exists");
}

async fn booking_clashes(app: &TestApp) {
    let p1 = new_patient(app, "Cleo").await;
    let p2 = new_patient(app, "Dora").await;
    let d1 = new_doctor(app, "Ames").await;
    let d2 = new_doctor(app, "Berg").await;
    let admin = &app.admin_token;
    // 10:00-11:00, p1 with d1.
    let first = book(app, admin, &p1, &d1, &slot(2, 600), &slot(2, 660))
        .await
        .expect(201)
        .id();
    // The doctor is busy: another patient overlapping (inside, around, partial) -> 409.
    for (s, e) in [(610, 620), (540, 720), (630, 700), (570, 601)] {
        let r = book(app, admin, &p2, &d1, &slot(2, s), &slot(2, e))
            .await
            .problem(409);
        assert!(
            r.body["type"].as_str().unwrap().ends_with("/booking-clash"),
            "{}",
            r.text
        );
    }
    // The patient is busy: another doctor overlapping -> 409.
    book(app, admin, &p1, &d2, &slot(2, 630), &slot(2, 690))
        .await
        .problem(409);
    // Times are instants: the same slot written with another offset clashes too.
    let shifted = |utc: &str| {
        chrono::DateTime::parse_from_rfc3339(utc)
            .unwrap()
            .with_timezone(&chrono::FixedOffset::east_opt(2 * 3600).unwrap())
            .to_rfc3339()
    };
    assert!(shifted(&slot(2, 600)).ends_with("+02:00"));
    book(
        app,
        admin,
        &p2,
        &d1,
        &shifted(&slot(2, 615)),
        &shifted(&slot(2, 645)),
    )
    .await
    .problem(409);
    // Back-to-back is no overlap.
    book(app, admin, &p2, &d1, &slot(2, 660), &slot(2, 690))
        .await
        .expect(201);
    book(app, admin, &p1, &d2, &slot(2, 540), &slot(2, 600))
        .await
        .expect(201);
    // Other people at the same time do not clash.
    let p3 = new_patient(app, "Enzo").await;
    let d3 = new_doctor(app, "Cole").await;
    book(app, admin, &p3, &d3, &slot(2, 600), &slot(2, 660))
        .await
        .expect(201);
    // A checked-in appointment still holds its slot; a cancelled one frees it.
    patch_status(app, admin, &first, json!({"status": "checked_in"}))
        .await
        .expect(200);
    book(app, admin, &p2, &d1, &slot(2, 600), &slot(2, 630))
        .await
        .problem(409);
    patch_status(
        app,
        admin,
        &first,
        json!({"status": "cancelled", "cancel_reason": "doctor ill"}),
    )
    .await
    .expect(200);
    book(app, admin, &p2, &d1, &slot(2, 600), &slot(2, 630))
        .await
        .expect(201);
    // A no-show frees it too.
    let later = book(app, admin, &p1, &d1, &slot(3, 600), &slot(3, 660))
        .await
        .expect(201)
        .id();
    patch_status(app, admin, &later, json!({"status": "no_show"}))
        .await
        .expect(200);
    book(app, admin, &p2, &d1, &slot(3, 600), &slot(3, 660))
        .await
        .expect(201);
}

/// Eight simultaneous bookings of the same doctor for overlapping times (different patients):
/// exactly one wins; likewise eight for the same patient with different doctors.
async fn concurrent_bookings(app: &TestApp) {
    let doctor = new_doctor(app, "Rush").await;
    let mut patients = Vec::new();
    for i in 0..8 {
        patients.push(new_patient(app, &format!("Racer{i}")).await);
    }
    for round in 0..3 {
        let day = 2 + round;
        let results = join_all(patients.iter().enumerate().map(|(i, p)| {
            let start = slot(day, 600 + i as i64 * 5);
            let end = slot(day, 660 + i as i64 * 5);
            let doctor = doctor.clone();
            let p = p.clone();
            async move { book(app, &app.admin_token, &p, &doctor, &start, &end).await }
        }))
        .await;
        let mut codes: Vec<u16> = results.iter().map(|r| r.status.as_u16()).collect();
        codes.sort();
        assert_eq!(
            codes,
            vec![201, 409, 409, 409, 409, 409, 409, 409],
            "round {round}: {:?}",
            results.iter().map(|r| &r.text).collect::<Vec<_>>()
        );
    }
    let booked = app
        .all_pages(
            &format!("/appointments?doctor_id={doctor}&status=booked"),
            &app.admin_token,
            50,
        )
        .await;
    assert_eq!(booked.len(), 3, "one per round");

    // The same patient with eight different doctors at once.
    let patient = patients[0].clone();
    let mut doctors = Vec::new();
    for i in 0..8 {
        doctors.push(new_doctor(app, &format!("Dash{i}")).await);
    }
    let results = join_all(doctors.iter().enumerate().map(|(i, d)| {
        let start = slot(10, 600 + i as i64 * 5);
        let end = slot(10, 660 + i as i64 * 5);
        let d = d.clone();
        let patient = patient.clone();
        async move { book(app, &app.admin_token, &patient, &d, &start, &end).await }
    }))
    .await;
    let mut codes: Vec<u16> = results.iter().map(|r| r.status.as_u16()).collect();
    codes.sort();
    assert_eq!(
        codes,
        vec![201, 409, 409, 409, 409, 409, 409, 409],
        "{:?}",
        results.iter().map(|r| &r.text).collect::<Vec<_>>()
    );
    let mine = app
        .all_pages(
            &format!(
                "/appointments?patient_id={patient}&from={}&to={}",
                enc(&slot(10, 0)),
                enc(&slot(11, 0))
            ),
            &app.admin_token,
            50,
        )
        .await;
    assert_eq!(mine.len(), 1);

    // Concurrent reschedules of two appointments into the same slot: one wins.
    let d = new_doctor(app, "Swap").await;
    let a = book(
        app,
        &app.admin_token,
        &patients[1],
        &d,
        &slot(12, 600),
        &slot(12, 630),
    )
    .await
    .expect(201)
    .id();
    let b = book(
        app,
        &app.admin_token,
        &patients[2],
        &d,
        &slot(12, 700),
        &slot(12, 730),
    )
    .await
    .expect(201)
    .id();
    let results = join_all([a, b].into_iter().map(|id| async move {
        app.patch(
            &format!("/appointments/{id}"),
            &app.admin_token,
            json!({"start_time": slot(12, 900), "end_time": slot(12, 930)}),
        )
        .await
    }))
    .await;
    let mut codes: Vec<u16> = results.iter().map(|r| r.status.as_u16()).collect();
    codes.sort();
    assert_eq!(codes, vec![200, 409]);
}

/// Simultaneous status changes of one appointment: the state machine holds (exactly one
/// `no_show` wins; with one If-Match, exactly one change of any kind wins).
async fn concurrent_status_changes(app: &TestApp) {
    let pid = new_patient(app, "Tess").await;
    let did = new_doctor(app, "Race").await;
    let id = book(
        app,
        &app.admin_token,
        &pid,
        &did,
        &slot(2, 600),
        &slot(2, 630),
    )
    .await
    .expect(201)
    .id();
    let path = format!("/appointments/{id}");
    let results = join_all((0..8).map(|_| {
        let path = path.clone();
        async move {
            app.patch(&path, &app.admin_token, json!({"status": "no_show"}))
                .await
        }
    }))
    .await;
    let mut codes: Vec<u16> = results.iter().map(|r| r.status.as_u16()).collect();
    codes.sort();
    assert_eq!(
        codes,
        vec![200, 409, 409, 409, 409, 409, 409, 409],
        "{results:?}"
    );
    let cur = app.get(&path, &app.admin_token).await.expect(200);
    assert_eq!(cur.body["version"], 2);

    // Check-in and cancel racing with the same If-Match: one wins, the other is stale.
    let id = book(
        app,
        &app.admin_token,
        &pid,
        &did,
        &slot(3, 600),
        &slot(3, 630),
    )
    .await
    .expect(201)
    .id();
    let path = format!("/appointments/{id}");
    let bodies = (0..8).map(|i| {
        if i % 2 == 0 {
            json!({"status": "checked_in"})
        } else {
            json!({"status": "cancelled", "cancel_reason": "race"})
        }
    });
    let results = join_all(bodies.map(|body| {
        let path = path.clone();
        async move {
            app.call(
                Method::PATCH,
                &path,
                Some(&app.admin_token),
                Some(body),
                &[("if-match", "\"1\"")],
            )
            .await
        }
    }))
    .await;
    let mut codes: Vec<u16> = results.iter().map(|r| r.status.as_u16()).collect();
    codes.sort();
    assert_eq!(
        codes,
        vec![200, 412, 412, 412, 412, 412, 412, 412],
        "{results:?}"
    );
    let cur = app.get(&path, &app.admin_token).await.expect(200);
    assert_eq!(cur.body["version"], 2);
}

async fn reschedule(app: &TestApp) {
    let ann = app.patient("Ann").await;
    let dr = app.doctor("Moss", "cardiology").await;
    let other = new_patient(app, "Olga").await;
    let r = book(
        app,
        &ann.token,
        ann.pid(),
        dr.did(),
        &slot(3, 600),
        &slot(3, 630),
    )
    .await
    .expect(201);
    let id = r.id();
    let path = format!("/appointments/{id}");
    // Someone else holds 14:00-15:00 with the same doctor.
    book(
        app,
        &app.admin_token,
        &other,
        dr.did(),
        &slot(3, 840),
        &slot(3, 900),
    )
    .await
    .expect(201);

    // The patient moves their own appointment; If-Match with the current version.
    let r = app
        .call(
            Method::PATCH,
            &path,
            Some(&ann.token),
            Some(json!({"start_time": slot(3, 720), "end_time": slot(3, 750), "reason": "moved"})),
            &[("if-match", "\"1\"")],
        )
        .await
        .expect(200);
    assert_eq!(r.body["version"], 2);
    assert_eq!(r.header("etag"), Some("\"2\""));
    assert_eq!(r.body["status"], "booked");
    assert_eq!(r.body["reason"], "moved");
    assert_eq!(ts(&r.body["start_time"]), ts(&json!(slot(3, 720))));
    assert_eq!(ts(&r.body["end_time"]), ts(&json!(slot(3, 750))));
    // Only the end moves: the start stays.
    let r = app
        .patch(&path, &dr.token, json!({"end_time": slot(3, 780)}))
        .await
        .expect(200);
    assert_eq!(ts(&r.body["start_time"]), ts(&json!(slot(3, 720))));
    assert_eq!(ts(&r.body["end_time"]), ts(&json!(slot(3, 780))));
    assert_eq!(r.body["version"], 3);
    // A stale If-Match is 412 and changes nothing.
    app.call(
        Method::PATCH,
        &path,
        Some(&ann.token),
        Some(json!({"start_time": slot(3, 480), "end_time": slot(3, 510)})),
        &[("if-match", "\"1\"")],
    )
    .await
    .problem(412);
    // Clash rules again: into the other appointment's slot -> 409.
    app.patch(
        &path,
        &ann.token,
        json!({"start_time": slot(3, 870), "end_time": slot(3, 930)}),
    )
    .await
    .problem(409);
    // The patient's own other appointment counts as a clash as well.
    let d2 = new_doctor(app, "Second").await;
    book(
        app,
        &ann.token,
        ann.pid(),
        &d2,
        &slot(3, 1000),
        &slot(3, 1060),
    )
    .await
    .expect(201);
    app.patch(
        &path,
        &ann.token,
        json!({"start_time": slot(3, 1030), "end_time": slot(3, 1090)}),
    )
    .await
    .problem(409);
    // Validation again: end before start, too long, in the past.
    app.patch(
        &path,
        &ann.token,
        json!({"start_time": slot(3, 720), "end_time": slot(3, 700)}),
    )
    .await
    .problem(422);
    app.patch(&path, &ann.token, json!({"end_time": slot(4, 720)}))
        .await
        .problem(422);
    app.patch(
        &path,
        &ann.token,
        json!({"start_time": slot(-2, 720), "end_time": slot(-2, 750)}),
    )
    .await
    .problem(422);
    // Unknown fields are refused: nobody can move an appointment to another doctor.
    app.patch(&path, &ann.token, json!({"doctor_id": dr.did()}))
        .await
        .problem(422);
    let cur = app.get(&path, &ann.token).await.expect(200);
    assert_eq!(cur.body["version"], 3, "rejected changes left no trace");
    assert_eq!(ts(&cur.body["start_time"]), ts(&json!(slot(3, 720))));

    // The doctor got a notice of the move the patient made.
    let n = notifications(app, &dr.token).await;
    assert!(
        n.iter()
            .any(|n| n["kind"] == "appointment_rescheduled" && n["resource_id"] == id.as_str()),
        "{n:?}"
    );

    // Only while booked.
    app.patch(&path, &dr.token, json!({"status": "checked_in"}))
        .await
        .expect(200);
    app.patch(
        &path,
        &dr.token,
        json!({"start_time": slot(3, 1000), "end_time": slot(3, 1030)}),
    )
    .await
    .problem(409);
}

/// Every (from, to) pair of the state machine: the five legal ones succeed, all others are 409.
async fn status_state_machine(app: &TestApp) {
    let admin = app.admin_token.clone();
    let pid = new_patient(app, "Stan").await;
    let did = new_doctor(app, "Flow").await;
    let statuses = ["booked", "checked_in", "completed", "cancelled", "no_show"];
    // How to reach each status from booked.
    let path_to = |s: &str| -> Vec<&'static str> {
        match s {
            "booked" => vec![],
            "checked_in" => vec!["checked_in"],
            "completed" => vec!["checked_in", "completed"],
            "cancelled" => vec!["cancelled"],
            "no_show" => vec!["no_show"],
            _ => unreachable!(),
        }
    };
    let legal = [
        ("booked", "checked_in"),
        ("booked", "cancelled"),
        ("booked", "no_show"),
        ("checked_in", "completed"),
        ("checked_in", "cancelled"),
    ];
    let mut minute = 0;
    // Staying in the same status is no transition either: 409 (so a repeated cancel or check-in
    // is refused, not silently re-applied).
    for from in statuses {
        for to in statuses {
            minute += 30;
            let id = book(
                app,
                &admin,
                &pid,
                &did,
                &slot(5, minute),
                &slot(5, minute + 20),
            )
            .await
            .expect(201)
            .id();
            for step in path_to(from) {
                patch_status(
                    app,
                    &admin,
                    &id,
                    json!({"status": step, "cancel_reason": "set up"}),
                )
                .await
                .expect(200);
            }
            let before = app
                .get(&format!("/appointments/{id}"), &admin)
                .await
                .expect(200);
            let r = patch_status(
                app,
                &admin,
                &id,
                json!({"status": to, "cancel_reason": "testing"}),
            )
            .await;
            if legal.contains(&(from, to)) {
                let r = r.expect(200);
                assert_eq!(r.body["status"], to, "{from} -> {to}");
                assert_eq!(
                    r.body["version"].as_i64().unwrap(),
                    before.body["version"].as_i64().unwrap() + 1
                );
                if to == "cancelled" {
                    assert_eq!(r.body["cancel_reason"], "testing");
                }
            } else {
                let r = r.problem(409);
                assert!(
                    r.body["type"]
                        .as_str()
                        .unwrap()
                        .ends_with("/illegal-transition"),
                    "{from} -> {to}: {}",
                    r.text
                );
                let after = app
                    .get(&format!("/appointments/{id}"), &admin)
                    .await
                    .expect(200);
                assert_eq!(after.body, before.body, "{from} -> {to} changed nothing");
            }
        }
    }
    // Final means final: not even the reason or the cancel reason of a finished appointment
    // changes, nor its times.
    let done = app
        .all_pages("/appointments?status=completed", &admin, 50)
        .await;
    let cancelled = app
        .all_pages("/appointments?status=cancelled", &admin, 50)
        .await;
    let no_show = app
        .all_pages("/appointments?status=no_show", &admin, 50)
        .await;
    for a in [&done[0], &cancelled[0], &no_show[0]] {
        let id = a["id"].as_str().unwrap();
        for body in [
            json!({"reason": "rewritten"}),
            json!({"cancel_reason": "rewritten"}),
            json!({"start_time": slot(9, 600), "end_time": slot(9, 630)}),
            json!({}),
        ] {
            patch_status(app, &admin, id, body).await.problem(409);
        }
        let after = app
            .get(&format!("/appointments/{id}"), &admin)
            .await
            .expect(200);
        assert_eq!(&after.body, a);
    }
    // Cancelling needs a reason: 422 without one (or with a blank one), nothing changes.
    let id = book(app, &admin, &pid, &did, &slot(6, 600), &slot(6, 630))
        .await
        .expect(201)
        .id();
    let r = patch_status(app, &admin, &id, json!({"status": "cancelled"}))
        .await
        .problem(422);
    assert_eq!(r.body["errors"][0]["field"], "cancel_reason", "{}", r.text);
    patch_status(
        app,
        &admin,
        &id,
        json!({"status": "cancelled", "cancel_reason": "   "}),
    )
    .await
    .problem(422);
    // Not a status at all.
    patch_status(app, &admin, &id, json!({"status": "finished"}))
        .await
        .problem(422);
    let cur = app
        .get(&format!("/appointments/{id}"), &admin)
        .await
        .expect(200);
    assert_eq!(cur.body["status"], "booked");
    assert_eq!(cur.body["version"], 1);
}

async fn patient_may_only_cancel_own(app: &TestApp) {
    let ann = app.patient("Ann").await;
    let bob = app.patient("Bob").await;
    let dr = app.doctor("Kerr", "neurology").await;
    let id = book(
        app,
        &ann.token,
        ann.pid(),
        dr.did(),
        &slot(3, 600),
        &slot(3, 630),
    )
    .await
    .expect(201)
    .id();
    let path = format!("/appointments/{id}");
    // Another patient: the appointment does not exist for them.
    app.get(&path, &bob.token).await.problem(404);
    app.patch(
        &path,
        &bob.token,
        json!({"status": "cancelled", "cancel_reason": "not mine"}),
    )
    .await
    .problem(404);
    app.patch(
        &path,
        &bob.token,
        json!({"start_time": slot(3, 700), "end_time": slot(3, 730)}),
    )
    .await
    .problem(404);
    assert!(app
        .all_pages("/appointments", &bob.token, 50)
        .await
        .is_empty());
    assert!(app
        .all_pages(
            &format!("/appointments?patient_id={}", ann.pid()),
            &bob.token,
            50
        )
        .await
        .is_empty());
    // The patient may not move their own appointment through the clinical states.
    for s in ["checked_in", "completed", "no_show"] {
        app.patch(&path, &ann.token, json!({"status": s}))
            .await
            .problem(403);
    }
    // But may cancel it.
    let r = app
        .patch(
            &path,
            &ann.token,
            json!({"status": "cancelled", "cancel_reason": "feeling better"}),
        )
        .await
        .expect(200);
    assert_eq!(r.body["status"], "cancelled");
    assert_eq!(r.body["cancel_reason"], "feeling better");
    // A second cancel is refused and keeps the first reason.
    app.patch(
        &path,
        &ann.token,
        json!({"status": "cancelled", "cancel_reason": "changed my mind"}),
    )
    .await
    .problem(409);
    let cur = app.get(&path, &ann.token).await.expect(200);
    assert_eq!(cur.body["cancel_reason"], "feeling better");
    // The doctor hears about it.
    let n = notifications(app, &dr.token).await;
    assert!(
        n.iter()
            .any(|n| n["kind"] == "appointment_cancelled" && n["resource_id"] == id.as_str()),
        "{n:?}"
    );
    // A checked-in appointment: the patient still cannot complete it.
    let id2 = book(
        app,
        &ann.token,
        ann.pid(),
        dr.did(),
        &slot(4, 600),
        &slot(4, 630),
    )
    .await
    .expect(201)
    .id();
    app.patch(
        &format!("/appointments/{id2}"),
        &dr.token,
        json!({"status": "checked_in"}),
    )
    .await
    .expect(200);
    app.patch(
        &format!("/appointments/{id2}"),
        &ann.token,
        json!({"status": "completed"}),
    )
    .await
    .problem(403);
    // The refusals are audited as denied.
    audit_until(
        app,
        &format!(
            "resource_type=appointment&outcome=denied&user_id={}",
            bob.user_id
        ),
        |items| items.len() >= 3,
    )
    .await;
}

async fn notifications_on_booking_and_cancelling(app: &TestApp) {
    let ann = app.patient("Ann").await;
    let dr = app.doctor("Pike", "dermatology").await;
    let before = notifications(app, &dr.token).await.len();
    // The patient books: the doctor is told, the patient (who acted) is not.
    let id = book(
        app,
        &ann.token,
        ann.pid(),
        dr.did(),
        &slot(3, 600),
        &slot(3, 630),
    )
    .await
    .expect(201)
    .id();
    let n = notifications(app, &dr.token).await;
    assert_eq!(n.len(), before + 1, "{n:?}");
    let booked: Vec<&Value> = n
        .iter()
        .filter(|n| n["kind"] == "appointment_booked")
        .collect();
    assert_eq!(booked.len(), 1, "{n:?}");
    assert_eq!(booked[0]["resource_type"], "appointment");
    assert_eq!(booked[0]["resource_id"], id.as_str());
    assert_eq!(booked[0]["user_id"], dr.user_id.as_str());
    assert!(booked[0]["read_at"].is_null());
    assert!(notifications(app, &ann.token)
        .await
        .iter()
        .all(|n| n["kind"] != "appointment_booked"));
    let count = app
        .get("/notifications/unread-count", &dr.token)
        .await
        .expect(200);
    assert!(count.body["count"].as_i64().unwrap() >= 1);

    // The doctor cancels: the patient is told, with the reason.
    app.patch(
        &format!("/appointments/{id}"),
        &dr.token,
        json!({"status": "cancelled", "cancel_reason": "conference"}),
    )
    .await
    .expect(200);
    let n = notifications(app, &ann.token).await;
    let cancelled: Vec<&Value> = n
        .iter()
        .filter(|n| n["kind"] == "appointment_cancelled")
        .collect();
    assert_eq!(cancelled.len(), 1, "{n:?}");
    assert_eq!(cancelled[0]["resource_id"], id.as_str());
    assert_eq!(cancelled[0]["user_id"], ann.user_id.as_str());
    assert!(
        cancelled[0]["body"]
            .as_str()
            .unwrap()
            .contains("conference"),
        "{:?}",
        cancelled[0]
    );
    assert!(notifications(app, &dr.token)
        .await
        .iter()
        .all(|n| n["kind"] != "appointment_cancelled"));

    // The doctor books for the patient: the patient is told.
    let id2 = book(
        app,
        &dr.token,
        ann.pid(),
        dr.did(),
        &slot(4, 600),
        &slot(4, 630),
    )
    .await
    .expect(201)
    .id();
    let n = notifications(app, &ann.token).await;
    assert!(n
        .iter()
        .any(|n| n["kind"] == "appointment_booked" && n["resource_id"] == id2.as_str()));
    // The admin books: both are told.
    let id3 = book(
        app,
        &app.admin_token,
        ann.pid(),
        dr.did(),
        &slot(5, 600),
        &slot(5, 630),
    )
    .await
    .expect(201)
    .id();
    for who in [&ann.token, &dr.token] {
        let n = notifications(app, who).await;
        assert!(n
            .iter()
            .any(|n| n["kind"] == "appointment_booked" && n["resource_id"] == id3.as_str()));
    }
    // A state change other than cancelling notifies nobody.
    let before_p = notifications(app, &ann.token).await.len();
    let before_d = notifications(app, &dr.token).await.len();
    app.patch(
        &format!("/appointments/{id3}"),
        &dr.token,
        json!({"status": "checked_in"}),
    )
    .await
    .expect(200);
    assert_eq!(notifications(app, &ann.token).await.len(), before_p);
    assert_eq!(notifications(app, &dr.token).await.len(), before_d);
}

async fn list_filters_pagination_and_compartment(app: &TestApp) {
    let ann = app.patient("Ann").await;
    let dr = app.doctor("Lund", "oncology").await;
    let bea = new_patient(app, "Bea").await;
    let cy = new_patient(app, "Cy").await;
    let d2 = new_doctor(app, "Ng").await;
    let admin = &app.admin_token;
    // ann: 4 with dr (days 2..5), 1 with d2 (day 6); bea: 2 with dr (day 7); cy: 3 with d2.
    let mut ann_ids = Vec::new();
    for day in 2..6 {
        ann_ids.push(
            book(
                app,
                admin,
                ann.pid(),
                dr.did(),
                &slot(day, 600),
                &slot(day, 630),
            )
            .await
            .expect(201)
            .id(),
        );
    }
    ann_ids.push(
        book(app, admin, ann.pid(), &d2, &slot(6, 600), &slot(6, 630))
            .await
            .expect(201)
            .id(),
    );
    let mut bea_ids = Vec::new();
    for m in [600, 700] {
        bea_ids.push(
            book(app, admin, &bea, dr.did(), &slot(7, m), &slot(7, m + 30))
                .await
                .expect(201)
                .id(),
        );
    }
    let mut cy_ids = Vec::new();
    for day in [2, 3, 4] {
        cy_ids.push(
            book(app, admin, &cy, &d2, &slot(day, 900), &slot(day, 930))
                .await
                .expect(201)
                .id(),
        );
    }
    app.patch(
        &format!("/appointments/{}", ann_ids[0]),
        admin,
        json!({"status": "cancelled", "cancel_reason": "moved away"}),
    )
    .await
    .expect(200);

    // Admin sees all 10, in start-time order, across pages of 3.
    let all = app.all_pages("/appointments", admin, 3).await;
    assert_eq!(all.len(), 10);
    let starts: Vec<_> = all.iter().map(|a| ts(&a["start_time"])).collect();
    let mut sorted = starts.clone();
    sorted.sort();
    assert_eq!(starts, sorted, "ordered by start time");
    let mut unique_ids = ids(&all);
    unique_ids.sort();
    unique_ids.dedup();
    assert_eq!(unique_ids.len(), 10, "no item twice across pages");
    let first = app.get("/appointments?limit=3", admin).await.expect(200);
    assert_eq!(first.items().len(), 3);
    assert!(first.body["next_cursor"].is_string());
    let last = app.get("/appointments?limit=500", admin).await.expect(200);
    assert!(last.body["next_cursor"].is_null());
    app.get("/appointments?cursor=garbage", admin)
        .await
        .problem(422);

    // Filters.
    let by = |q: String| async move {
        let mut v = ids(&app.all_pages(&format!("/appointments?{q}"), admin, 2).await);
        v.sort();
        v
    };
    let sorted_ids = |mut v: Vec<String>| {
        v.sort();
        v
    };
    assert_eq!(
        by(format!("patient_id={}", ann.pid())).await,
        sorted_ids(ann_ids.clone())
    );
    assert_eq!(by(format!("doctor_id={d2}")).await.len(), 4);
    assert_eq!(
        by(format!("patient_id={}&doctor_id={}", ann.pid(), dr.did()))
            .await
            .len(),
        4
    );
    assert_eq!(
        by("status=cancelled".into()).await,
        vec![ann_ids[0].clone()]
    );
    assert_eq!(by("status=booked".into()).await.len(), 9);
    // from is inclusive, to exclusive, on start_time.
    let day2_to_3 = by(format!(
        "from={}&to={}",
        enc(&slot(2, 600)),
        enc(&slot(3, 600))
    ))
    .await;
    assert_eq!(
        day2_to_3,
        sorted_ids(vec![ann_ids[0].clone(), cy_ids[0].clone()])
    );
    assert_eq!(
        by(format!("from={}", enc(&slot(7, 0)))).await,
        sorted_ids(bea_ids.clone())
    );
    assert_eq!(
        by(format!("to={}", enc(&slot(2, 601)))).await,
        vec![ann_ids[0].clone()]
    );
    app.get("/appointments?status=finished", admin)
        .await
        .problem(422);
    app.get("/appointments?from=yesterday", admin)
        .await
        .problem(422);

    // The patient sees only their own, even when asking for someone else's.
    let mine = ids(&app.all_pages("/appointments", &ann.token, 2).await);
    assert_eq!(sorted_ids(mine), sorted_ids(ann_ids.clone()));
    assert!(app
        .all_pages(&format!("/appointments?patient_id={bea}"), &ann.token, 50)
        .await
        .is_empty());
    // The doctor sees their own appointments plus those of their care team's patients.
    let seen = ids(&app.all_pages("/appointments", &dr.token, 4).await);
    let mut want = ann_ids.clone();
    want.extend(bea_ids.clone());
    assert_eq!(sorted_ids(seen), sorted_ids(want));
    assert!(app
        .all_pages(&format!("/appointments?patient_id={cy}"), &dr.token, 50)
        .await
        .is_empty());
    // Not a single object outside reach either.
    app.get(&format!("/appointments/{}", cy_ids[0]), &dr.token)
        .await
        .problem(404);
    app.get(&format!("/appointments/{}", ann_ids[4]), &dr.token)
        .await
        .expect(200);
    app.get("/appointments/00000000-0000-0000-0000-000000000000", admin)
        .await
        .problem(404);
}

/// Single-appointment access for every kind of caller, including break-glass.
async fn access_matrix(app: &TestApp) {
    let ann = app.patient("Ann").await;
    let bob = app.patient("Bob").await;
    let dr = app.doctor("Own", "family medicine").await;
    let on_team = app.doctor("Team", "cardiology").await;
    let off_team = app.doctor("Far", "radiology").await;
    let id = book(
        app,
        &ann.token,
        ann.pid(),
        dr.did(),
        &slot(3, 600),
        &slot(3, 630),
    )
    .await
    .expect(201)
    .id();
    // on_team joins ann's care team through an appointment of their own.
    book(
        app,
        &on_team.token,
        ann.pid(),
        on_team.did(),
        &slot(4, 600),
        &slot(4, 630),
    )
    .await
    .expect(201);
    let path = format!("/appointments/{id}");
    app.get(&path, &ann.token).await.expect(200);
    app.get(&path, &dr.token).await.expect(200);
    app.get(&path, &on_team.token).await.expect(200);
    app.get(&path, &app.admin_token).await.expect(200);
    app.get(&path, &bob.token).await.problem(404);
    app.get(&path, &off_team.token).await.problem(404);
    // A doctor outside the appointment, even on the care team, may not run its state machine
    // (only its doctor, the admin and — for cancelling — its patient may).
    app.patch(&path, &off_team.token, json!({"status": "checked_in"}))
        .await
        .problem(404);
    app.patch(&path, &on_team.token, json!({"status": "checked_in"}))
        .await
        .problem(403);
    // Nor book it in someone else's name.
    book(
        app,
        &off_team.token,
        ann.pid(),
        dr.did(),
        &slot(5, 600),
        &slot(5, 630),
    )
    .await
    .problem(403);
    // After break-glass the off-team doctor reaches it.
    break_glass(app, &off_team.token, ann.pid()).await;
    app.get(&path, &off_team.token).await.expect(200);
    let listed = ids(&app
        .all_pages(
            &format!("/appointments?patient_id={}", ann.pid()),
            &off_team.token,
            50,
        )
        .await);
    assert_eq!(listed.len(), 2);
    for role in ["billing", "pharmacist", "lab_technician", "auditor"] {
        let s = app.staff(role).await;
        app.get(&path, &s.token).await.problem(403);
        // Reading a care team takes `patients:read`, which these roles do not hold — but
        // lab technicians and billing staff, who read patients' demographics; the care team
        // is clinical data, out of their reach.
        let want = if ["lab_technician", "billing"].contains(&role) {
            404
        } else {
            403
        };
        app.get(&format!("/patients/{}/care-team", ann.pid()), &s.token)
            .await
            .problem(want);
    }
    // Appointments are never deleted: cancelled instead.
    let r = app.delete(&path, &app.admin_token).await;
    assert_eq!(r.status.as_u16(), 405, "{}", r.text);
    app.get(&path, &ann.token).await.expect(200);
}

/// Booking links the doctor into the care team (source `appointment`) in the same transaction.
async fn care_team_linking(app: &TestApp) {
    let ann = app.patient("Ann").await;
    let bob = app.patient("Bob").await;
    let dr = app.doctor("Link", "internal medicine").await;
    let d2 = new_doctor(app, "Other").await;
    let team_path = format!("/patients/{}/care-team", ann.pid());
    let r = app.get(&team_path, &ann.token).await.expect(200);
    assert_eq!(r.body, json!([]), "nobody on the team yet");
    // Before any link the doctor cannot see the team (clinical data).
    app.get(&team_path, &dr.token).await.problem(404);

    book(
        app,
        &ann.token,
        ann.pid(),
        dr.did(),
        &slot(3, 600),
        &slot(3, 630),
    )
    .await
    .expect(201);
    let r = app.get(&team_path, &ann.token).await.expect(200);
    let team = r.body.as_array().unwrap();
    assert_eq!(team.len(), 1, "{}", r.text);
    assert_eq!(team[0]["doctor_id"], dr.did());
    assert_eq!(team[0]["source"], "appointment");
    ts(&team[0]["since"]);
    app.get(&team_path, &dr.token).await.expect(200);
    // A second appointment with the same doctor does not duplicate the link.
    book(
        app,
        &ann.token,
        ann.pid(),
        dr.did(),
        &slot(4, 600),
        &slot(4, 630),
    )
    .await
    .expect(201);
    assert_eq!(
        care_team(app, ann.pid()).await,
        vec![(dr.did().to_string(), "appointment".to_string())]
    );
    // A refused booking (clash) links nobody: the link is in the booking's transaction.
    book(
        app,
        &app.admin_token,
        ann.pid(),
        &d2,
        &slot(3, 600),
        &slot(3, 630),
    )
    .await
    .problem(409);
    assert_eq!(care_team(app, ann.pid()).await.len(), 1);
    // Other patients' teams are theirs; another patient cannot read this one.
    assert!(care_team(app, bob.pid()).await.is_empty());
    app.get(&team_path, &bob.token).await.problem(404);
    // A cancelled appointment keeps the doctor on the team (the link records history).
    let team_after = care_team(app, ann.pid()).await;
    assert!(team_after.contains(&(dr.did().to_string(), "appointment".to_string())));
}

/// Every booking, read, change and refusal is in the audit trail with the patient id.
async fn audited(app: &TestApp) {
    let ann = app.patient("Ann").await;
    let bob = app.patient("Bob").await;
    let dr = app.doctor("Audit", "surgery").await;
    let id = book(
        app,
        &ann.token,
        ann.pid(),
        dr.did(),
        &slot(3, 600),
        &slot(3, 630),
    )
    .await
    .expect(201)
    .id();
    let path = format!("/appointments/{id}");
    app.get(&path, &dr.token).await.expect(200);
    app.patch(
        &path,
        &ann.token,
        json!({"start_time": slot(3, 700), "end_time": slot(3, 730)}),
    )
    .await
    .expect(200);
    app.patch(&path, &dr.token, json!({"status": "checked_in"}))
        .await
        .expect(200);
    app.get(
        &format!("/appointments?patient_id={}", ann.pid()),
        &dr.token,
    )
    .await
    .expect(200);
    app.get(&path, &bob.token).await.problem(404);
    let pid = ann.pid().to_string();
    let items = audit_until(
        app,
        &format!("patient_id={pid}&resource_type=appointment"),
        |items| {
            has_entry(items, "create", "appointment", Some(&id), "success")
                && has_entry(items, "read", "appointment", Some(&id), "success")
                && has_entry(items, "update", "appointment", Some(&id), "success")
                && has_entry(items, "state_change", "appointment", Some(&id), "success")
                && has_entry(items, "search", "appointment", None, "success")
        },
    )
    .await;
    assert!(items.iter().all(|e| e["patient_id"] == pid.as_str()));
    let create = items.iter().find(|e| e["action"] == "create").unwrap();
    assert_eq!(create["user_id"], ann.user_id.as_str());
    assert_eq!(create["role"], "patient");
    let change = items
        .iter()
        .find(|e| e["action"] == "state_change")
        .unwrap();
    assert_eq!(change["user_id"], dr.user_id.as_str());
    assert_eq!(change["role"], "doctor");
    // The refused read by another patient is there as denied.
    audit_until(
        app,
        &format!("user_id={}&outcome=denied", bob.user_id),
        |items| has_entry(items, "read", "appointment", Some(&id), "denied"),
    )
    .await;
    // Lists without a patient filter still name every patient they showed: the patient's own
    // list, and the doctor's list across patients, are both in the patient's access log.
    let other = new_patient(app, "Zed").await;
    book(
        app,
        &dr.token,
        &other,
        dr.did(),
        &slot(5, 600),
        &slot(5, 630),
    )
    .await
    .expect(201);
    app.get("/appointments", &ann.token).await.expect(200);
    app.get("/appointments", &dr.token).await.expect(200);
    let searched_by = |items: &[Value], user: &str| {
        items
            .iter()
            .any(|e| e["action"] == "search" && e["user_id"] == user)
    };
    audit_until(
        app,
        &format!("patient_id={pid}&resource_type=appointment&action=search"),
        |items| searched_by(items, &ann.user_id) && searched_by(items, &dr.user_id),
    )
    .await;
    audit_until(
        app,
        &format!("patient_id={other}&resource_type=appointment&action=search"),
        |items| searched_by(items, &dr.user_id) && !searched_by(items, &ann.user_id),
    )
    .await;
    let log = app
        .all_pages(&format!("/patients/{pid}/access-log"), &ann.token, 100)
        .await;
    assert!(log
        .iter()
        .any(|e| e["action"] == "search" && e["user_id"] == dr.user_id.as_str()));
}

both_backends!(
    booking_rules_and_who_may_book,
    booking_validation,
    booking_clashes,
    concurrent_bookings,
    concurrent_status_changes,
    reschedule,
    status_state_machine,
    patient_may_only_cancel_own,
    notifications_on_booking_and_cancelling,
    list_filters_pagination_and_compartment,
    access_matrix,
    care_team_linking,
    audited,
);
