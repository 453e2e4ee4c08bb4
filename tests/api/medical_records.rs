//! Medical records: who may write, versions and history, `entered_in_error`, lists and the
//! compartment, access for every role, audit.

use crate::clinical::*;
use crate::common::*;
use reqwest::Method;
use serde_json::{json, Value};

fn ids(items: &[Value]) -> Vec<String> {
    let mut v: Vec<String> = items
        .iter()
        .map(|i| i["id"].as_str().expect("an id").to_string())
        .collect();
    v.sort();
    v
}

fn sorted(mut v: Vec<String>) -> Vec<String> {
    v.sort();
    v
}

async fn who_may_write(app: &TestApp) {
    let ann = app.patient("Ann").await;
    let dr = app.doctor("Writer", "family medicine").await;
    let stranger = app.doctor("Stranger", "urology").await;

    // No link at all: the patient is outside the doctor's reach -> 404, nothing written.
    write_record(app, &dr.token, ann.pid(), "visit_note")
        .await
        .problem(404);
    // With an appointment with the patient (naming it).
    let appt = book(
        app,
        &ann.token,
        ann.pid(),
        dr.did(),
        &slot(2, 600),
        &slot(2, 630),
    )
    .await
    .expect(201)
    .id();
    let r = app
        .post(
            "/medical-records",
            &dr.token,
            json!({"patient_id": ann.pid(), "appointment_id": appt, "record_type": "diagnosis",
                   "title": "  Asthma  ", "content": "Wheeze on exertion.",
                   "diagnosis_codes": ["J45.909", "R06.2"]}),
        )
        .await
        .expect(201);
    let id = r.id();
    assert_eq!(
        r.header("location"),
        Some(format!("/api/v1/medical-records/{id}").as_str())
    );
    assert_eq!(r.header("etag"), Some("\"1\""));
    assert_eq!(r.body["version"], 1);
    assert_eq!(r.body["status"], "final");
    assert_eq!(r.body["patient_id"], ann.pid());
    assert_eq!(r.body["doctor_id"], dr.did());
    assert_eq!(r.body["appointment_id"], appt.as_str());
    assert_eq!(r.body["record_type"], "diagnosis");
    assert_eq!(r.body["title"], "Asthma");
    assert_eq!(r.body["content"], "Wheeze on exertion.");
    assert_eq!(r.body["diagnosis_codes"], json!(["J45.909", "R06.2"]));
    ts(&r.body["created_at"]);
    let got = app
        .get(&format!("/medical-records/{id}"), &ann.token)
        .await
        .expect(200);
    assert_eq!(
        got.body, r.body,
        "read back equals what the create returned"
    );
    assert_eq!(got.header("etag"), Some("\"1\""));
    // On the care team (through the appointment) without naming an appointment.
    let r = write_record(app, &dr.token, ann.pid(), "allergy")
        .await
        .expect(201);
    assert!(r.body["appointment_id"].is_null());
    assert_eq!(r.body["diagnosis_codes"], json!(["J45.909"]));
    // Another doctor may not claim someone else's appointment as their link.
    app.post(
        "/medical-records",
        &stranger.token,
        json!({"patient_id": ann.pid(), "appointment_id": appt, "record_type": "other",
               "title": "t", "content": "c"}),
    )
    .await
    .problem(404);
    // Nor write in another doctor's name.
    app.post(
        "/medical-records",
        &stranger.token,
        json!({"patient_id": ann.pid(), "doctor_id": dr.did(), "record_type": "other",
               "title": "t", "content": "c"}),
    )
    .await
    .problem(403);
    // Roles without the right to write records.
    write_record(app, &ann.token, ann.pid(), "other")
        .await
        .problem(403);
    for role in ["billing", "pharmacist", "lab_technician", "auditor"] {
        let s = app.staff(role).await;
        write_record(app, &s.token, ann.pid(), "other")
            .await
            .problem(403);
    }
    // Dangling references.
    let nobody = "00000000-0000-0000-0000-000000000000";
    write_record(app, &dr.token, nobody, "other")
        .await
        .problem(409);
    let missing = app
        .post(
            "/medical-records",
            &dr.token,
            json!({"patient_id": ann.pid(), "appointment_id": nobody, "record_type": "other",
                   "title": "t", "content": "c"}),
        )
        .await
        .problem(409);
    // Another patient's appointment looks exactly like a missing one.
    let bob = app.patient("Bobby").await;
    let bobs = app
        .post(
            "/appointments",
            &dr.token,
            json!({"patient_id": bob.pid(), "doctor_id": dr.did(),
                   "start_time": (chrono::Utc::now() + chrono::Duration::days(40)).to_rfc3339(),
                   "end_time": (chrono::Utc::now() + chrono::Duration::days(40) + chrono::Duration::minutes(30)).to_rfc3339()}),
        )
        .await
        .expect(201)
        .id();
    let other = app
        .post(
            "/medical-records",
            &dr.token,
            json!({"patient_id": ann.pid(), "appointment_id": bobs, "record_type": "other",
                   "title": "t", "content": "c"}),
        )
        .await
        .problem(409);
    assert_eq!(other.body, missing.body);
    // Bad input: one per kind.
    let base =
        json!({"patient_id": ann.pid(), "record_type": "other", "title": "t", "content": "c"});
    let with = |k: &str, v: Value| {
        let mut b = base.clone();
        b[k] = v;
        b
    };
    let without = |k: &str| {
        let mut b = base.clone();
        b.as_object_mut().unwrap().remove(k);
        b
    };
    for (body, field) in [
        (with("record_type", json!("gossip")), "record_type"),
        (with("title", json!("")), "title"),
        (with("title", json!("x".repeat(201))), "title"),
        (
            with("diagnosis_codes", json!(["not a code!"])),
            "diagnosis_codes",
        ),
        (with("diagnosis_codes", json!("J45")), "diagnosis_codes"),
        (with("status", json!("amended")), "status"),
        (with("version", json!(7)), "version"),
        (without("content"), "content"),
        (without("record_type"), "record_type"),
    ] {
        let r = app
            .post("/medical-records", &dr.token, body.clone())
            .await
            .problem(422);
        assert!(
            r.body["errors"]
                .as_array()
                .unwrap()
                .iter()
                .any(|e| e["field"] == field),
            "{body}: {}",
            r.text
        );
    }
    app.post_raw(
        "/medical-records",
        &dr.token,
        "application/json",
        b"{not json".to_vec(),
    )
    .await
    .problem(400);
    app.post_raw(
        "/medical-records",
        &dr.token,
        "text/plain",
        base.to_string().into_bytes(),
    )
    .await
    .problem(415);
    let all = app
        .all_pages("/medical-records", &app.admin_token, 50)
        .await;
    assert_eq!(all.len(), 2, "only the two good records exist");
}

/// Writing a record links its doctor into the care team (source `medical_record`).
async fn record_links_care_team(app: &TestApp) {
    let pid = new_patient(app, "Lena").await;
    let dr = app.doctor("Glass", "emergency").await;
    write_record(app, &dr.token, &pid, "visit_note")
        .await
        .problem(404);
    assert!(care_team(app, &pid).await.is_empty());
    break_glass(app, &dr.token, &pid).await;
    write_record(app, &dr.token, &pid, "visit_note")
        .await
        .expect(201);
    let mut team = care_team(app, &pid).await;
    team.sort();
    assert_eq!(
        team,
        vec![
            (dr.did().to_string(), "break_glass".to_string()),
            (dr.did().to_string(), "medical_record".to_string()),
        ]
    );
    let r = app
        .get(&format!("/patients/{pid}/care-team"), &app.admin_token)
        .await
        .expect(200);
    let rec = r
        .body
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["source"] == "medical_record")
        .unwrap()
        .clone();
    assert!(rec["expires_at"].is_null(), "a record link does not expire");
    ts(&rec["since"]);
    // A second record does not duplicate the link.
    write_record(app, &dr.token, &pid, "allergy")
        .await
        .expect(201);
    assert_eq!(care_team(app, &pid).await.len(), 2);
}

async fn amend_history_and_entered_in_error(app: &TestApp) {
    let ann = app.patient("Ann").await;
    let dr = app.doctor("Amend", "pediatrics").await;
    let colleague = app.doctor("Colleague", "pediatrics").await;
    book(
        app,
        &ann.token,
        ann.pid(),
        dr.did(),
        &slot(2, 600),
        &slot(2, 630),
    )
    .await
    .expect(201);
    book(
        app,
        &ann.token,
        ann.pid(),
        colleague.did(),
        &slot(3, 600),
        &slot(3, 630),
    )
    .await
    .expect(201);
    let created = write_record(app, &dr.token, ann.pid(), "diagnosis")
        .await
        .expect(201);
    let id = created.id();
    let path = format!("/medical-records/{id}");

    // Amend with the current ETag: version 2, status amended.
    let r = app
        .call(
            Method::PATCH,
            &path,
            Some(&dr.token),
            Some(json!({"content": "Patient seen; improving.", "diagnosis_codes": ["J45.20"]})),
            &[("if-match", "\"1\"")],
        )
        .await
        .expect(200);
    assert_eq!(r.body["version"], 2);
    assert_eq!(r.header("etag"), Some("\"2\""));
    assert_eq!(r.body["status"], "amended");
    assert_eq!(r.body["content"], "Patient seen; improving.");
    assert_eq!(r.body["title"], "Initial note", "unchanged fields stay");
    assert_eq!(r.body["diagnosis_codes"], json!(["J45.20"]));
    assert_eq!(r.body["created_at"], created.body["created_at"]);
    // A stale If-Match: 412, nothing changes.
    app.call(
        Method::PATCH,
        &path,
        Some(&dr.token),
        Some(json!({"title": "Lost update"})),
        &[("if-match", "\"1\"")],
    )
    .await
    .problem(412);
    app.call(
        Method::PATCH,
        &path,
        Some(&dr.token),
        Some(json!({"title": "Lost update"})),
        &[("if-match", "garbage")],
    )
    .await
    .problem(412);
    // Bad patches.
    app.patch(&path, &dr.token, json!({"record_type": "gossip"}))
        .await
        .problem(422);
    app.patch(&path, &dr.token, json!({"status": "final"}))
        .await
        .problem(422);
    app.patch(&path, &dr.token, json!({"patient_id": "someone"}))
        .await
        .problem(422);
    app.patch(&path, &dr.token, json!({"title": ""}))
        .await
        .problem(422);
    // The patient reads but cannot amend; other roles cannot either.
    app.patch(&path, &ann.token, json!({"title": "Mine"}))
        .await
        .problem(403);
    // A colleague on the care team amends: version 3, by them.
    let r = app
        .patch(
            &path,
            &colleague.token,
            json!({"title": "Asthma, moderate"}),
        )
        .await
        .expect(200);
    assert_eq!(r.body["version"], 3);
    assert_eq!(r.body["status"], "amended");
    assert_eq!(
        r.body["doctor_id"],
        dr.did(),
        "the author stays; the history says who changed it"
    );
    // Marked entered in error: version 4, and then frozen.
    let r = app
        .call(
            Method::PATCH,
            &path,
            Some(&dr.token),
            Some(json!({"status": "entered_in_error"})),
            &[("if-match", "\"3\"")],
        )
        .await
        .expect(200);
    assert_eq!(r.body["version"], 4);
    assert_eq!(r.body["status"], "entered_in_error");
    for body in [
        json!({"title": "Again"}),
        json!({"status": "entered_in_error"}),
        json!({"status": "amended"}),
    ] {
        let r = app.patch(&path, &dr.token, body).await.problem(409);
        assert!(
            r.body["type"]
                .as_str()
                .unwrap()
                .ends_with("/illegal-transition"),
            "{}",
            r.text
        );
    }
    let cur = app.get(&path, &ann.token).await.expect(200);
    assert_eq!(cur.body["version"], 4);
    assert_eq!(cur.header("etag"), Some("\"4\""));

    // History: every version, oldest first, with who changed it.
    let h = app
        .get(&format!("{path}/history"), &ann.token)
        .await
        .expect(200);
    let h = h.body.as_array().expect("an array").clone();
    assert_eq!(h.len(), 4, "{h:?}");
    let versions: Vec<i64> = h.iter().map(|v| v["version"].as_i64().unwrap()).collect();
    assert_eq!(versions, vec![1, 2, 3, 4]);
    let statuses: Vec<&str> = h.iter().map(|v| v["status"].as_str().unwrap()).collect();
    assert_eq!(
        statuses,
        vec!["final", "amended", "amended", "entered_in_error"]
    );
    let by: Vec<&str> = h
        .iter()
        .map(|v| v["changed_by"].as_str().unwrap())
        .collect();
    assert_eq!(
        by,
        vec![
            dr.user_id.as_str(),
            dr.user_id.as_str(),
            colleague.user_id.as_str(),
            dr.user_id.as_str()
        ]
    );
    assert_eq!(h[0]["title"], "Initial note");
    assert_eq!(h[0]["content"], "Patient seen; stable.");
    assert_eq!(h[0]["diagnosis_codes"], json!(["J45.909"]));
    assert_eq!(h[1]["content"], "Patient seen; improving.");
    assert_eq!(h[1]["diagnosis_codes"], json!(["J45.20"]));
    assert_eq!(h[2]["title"], "Asthma, moderate");
    assert_eq!(h[3]["title"], "Asthma, moderate");
    let times: Vec<_> = h.iter().map(|v| ts(&v["changed_at"])).collect();
    assert!(times.windows(2).all(|w| w[0] <= w[1]), "{times:?}");
    assert_eq!(times[0], ts(&created.body["created_at"]));

    // No DELETE, ever.
    let r = app.delete(&path, &app.admin_token).await;
    assert_eq!(r.status.as_u16(), 405, "{}", r.text);
    let r = app.delete(&path, &dr.token).await;
    assert_eq!(r.status.as_u16(), 405, "{}", r.text);
    app.get(&path, &dr.token).await.expect(200);
}

/// Eight amendments racing with the same If-Match: one wins, seven are stale, and the history
/// has no duplicate or lost version.
async fn concurrent_amendments(app: &TestApp) {
    let pid = new_patient(app, "Rae").await;
    let dr = app.doctor("Racer", "family medicine").await;
    book(app, &dr.token, &pid, dr.did(), &slot(2, 600), &slot(2, 630))
        .await
        .expect(201);
    let id = write_record(app, &dr.token, &pid, "visit_note")
        .await
        .expect(201)
        .id();
    let path = format!("/medical-records/{id}");
    let results = futures::future::join_all((0..8).map(|i| {
        let path = path.clone();
        let token = dr.token.clone();
        async move {
            app.call(
                Method::PATCH,
                &path,
                Some(&token),
                Some(json!({"content": format!("amendment {i}")})),
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
    let winner = results.iter().find(|r| r.status.as_u16() == 200).unwrap();
    let cur = app.get(&path, &dr.token).await.expect(200);
    assert_eq!(cur.body["version"], 2);
    assert_eq!(cur.body["content"], winner.body["content"]);
    // Without If-Match all eight apply, one after the other: versions 3..=10, none lost.
    let results = futures::future::join_all((0..8).map(|i| {
        let path = path.clone();
        let token = dr.token.clone();
        async move {
            app.patch(&path, &token, json!({"title": format!("title {i}")}))
                .await
        }
    }))
    .await;
    assert!(
        results.iter().all(|r| r.status.as_u16() == 200),
        "{results:?}"
    );
    let h = app
        .get(&format!("{path}/history"), &dr.token)
        .await
        .expect(200);
    let versions: Vec<i64> = h
        .body
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v["version"].as_i64().unwrap())
        .collect();
    assert_eq!(versions, (1..=10).collect::<Vec<i64>>());

    // Several records written at once for the same patient all succeed, and link the doctor
    // once (the care-team link is written by each, in its own transaction).
    let results = futures::future::join_all((0..8).map(|_| {
        let token = dr.token.clone();
        let pid = pid.clone();
        async move { write_record(app, &token, &pid, "diagnosis").await }
    }))
    .await;
    assert!(
        results.iter().all(|r| r.status.as_u16() == 201),
        "{results:?}"
    );
    for round in 0..3 {
        let fresh = new_patient(app, &format!("Fresh{round}")).await;
        break_glass(app, &dr.token, &fresh).await;
        let results = futures::future::join_all((0..8).map(|_| {
            let token = dr.token.clone();
            let fresh = fresh.clone();
            async move { write_record(app, &token, &fresh, "diagnosis").await }
        }))
        .await;
        assert!(
            results.iter().all(|r| r.status.as_u16() == 201),
            "{:?}",
            results.iter().map(|r| &r.text).collect::<Vec<_>>()
        );
        let mut team = care_team(app, &fresh).await;
        team.sort();
        assert_eq!(
            team,
            vec![
                (dr.did().to_string(), "break_glass".to_string()),
                (dr.did().to_string(), "medical_record".to_string()),
            ]
        );
    }
}

async fn list_filters_and_compartment(app: &TestApp) {
    let ann = app.patient("Ann").await;
    let bob = app.patient("Bob").await;
    let dr = app.doctor("Ann's", "family medicine").await;
    let dr_b = app.doctor("Bob's", "family medicine").await;
    let cy = new_patient(app, "Cy").await;
    book(
        app,
        &ann.token,
        ann.pid(),
        dr.did(),
        &slot(2, 600),
        &slot(2, 630),
    )
    .await
    .expect(201);
    book(
        app,
        &bob.token,
        bob.pid(),
        dr_b.did(),
        &slot(2, 600),
        &slot(2, 630),
    )
    .await
    .expect(201);
    book(
        app,
        &app.admin_token,
        &cy,
        dr_b.did(),
        &slot(3, 600),
        &slot(3, 630),
    )
    .await
    .expect(201);
    let mut ann_recs = Vec::new();
    for t in [
        "visit_note",
        "diagnosis",
        "diagnosis",
        "allergy",
        "immunization",
    ] {
        ann_recs.push(
            write_record(app, &dr.token, ann.pid(), t)
                .await
                .expect(201)
                .id(),
        );
    }
    let mut bob_recs = Vec::new();
    for t in ["diagnosis", "procedure"] {
        bob_recs.push(
            write_record(app, &dr_b.token, bob.pid(), t)
                .await
                .expect(201)
                .id(),
        );
    }
    let cy_rec = write_record(app, &dr_b.token, &cy, "diagnosis")
        .await
        .expect(201)
        .id();
    app.patch(
        &format!("/medical-records/{}", ann_recs[1]),
        &dr.token,
        json!({"status": "entered_in_error"}),
    )
    .await
    .expect(200);
    app.patch(
        &format!("/medical-records/{}", ann_recs[2]),
        &dr.token,
        json!({"content": "Revised."}),
    )
    .await
    .expect(200);

    // Admin: all 8, paginated without repeats.
    let all = app.all_pages("/medical-records", &app.admin_token, 3).await;
    assert_eq!(all.len(), 8);
    assert_eq!(ids(&all).len(), 8);
    let mut every = ann_recs.clone();
    every.extend(bob_recs.clone());
    every.push(cy_rec.clone());
    assert_eq!(ids(&all), sorted(every));
    // Filters.
    let q = |query: String| async move {
        ids(&app
            .all_pages(&format!("/medical-records?{query}"), &app.admin_token, 2)
            .await)
    };
    assert_eq!(
        q(format!("patient_id={}", ann.pid())).await,
        sorted(ann_recs.clone())
    );
    assert_eq!(q("record_type=diagnosis".into()).await.len(), 4);
    assert_eq!(
        q(format!("record_type=diagnosis&patient_id={}", ann.pid()))
            .await
            .len(),
        2
    );
    assert_eq!(
        q("status=entered_in_error".into()).await,
        vec![ann_recs[1].clone()]
    );
    assert_eq!(q("status=amended".into()).await, vec![ann_recs[2].clone()]);
    assert_eq!(q("status=final".into()).await.len(), 6);
    // Filter values that cannot match are a mistake, not an empty list.
    for bad in [
        "status=deleted",
        "record_type=gossip",
        "limit=0",
        "cursor=%%%",
    ] {
        app.get(&format!("/medical-records?{bad}"), &app.admin_token)
            .await
            .problem(422);
    }

    // The patient sees only their own records, whatever they ask for.
    assert_eq!(
        ids(&app.all_pages("/medical-records", &ann.token, 2).await),
        sorted(ann_recs.clone())
    );
    assert!(app
        .all_pages(
            &format!("/medical-records?patient_id={}", bob.pid()),
            &ann.token,
            50
        )
        .await
        .is_empty());
    app.get(&format!("/medical-records/{}", bob_recs[0]), &ann.token)
        .await
        .problem(404);
    app.get(
        &format!("/medical-records/{}/history", bob_recs[0]),
        &ann.token,
    )
    .await
    .problem(404);
    // A doctor sees only their care-team patients' records.
    assert_eq!(
        ids(&app.all_pages("/medical-records", &dr.token, 50).await),
        sorted(ann_recs.clone())
    );
    let mut b_team = bob_recs.clone();
    b_team.push(cy_rec.clone());
    assert_eq!(
        ids(&app.all_pages("/medical-records", &dr_b.token, 50).await),
        sorted(b_team)
    );
    assert!(app
        .all_pages(&format!("/medical-records?patient_id={cy}"), &dr.token, 50)
        .await
        .is_empty());
    // Roles without clinical reach: 403.
    for role in ["lab_technician", "billing", "pharmacist", "auditor"] {
        let s = app.staff(role).await;
        app.get("/medical-records", &s.token).await.problem(403);
    }
}

/// One record against every kind of caller: read, history, amend.
async fn access_matrix(app: &TestApp) {
    let ann = app.patient("Ann").await;
    let bob = app.patient("Bob").await;
    let dr = app.doctor("Author", "family medicine").await;
    let off = app.doctor("Off", "radiology").await;
    book(
        app,
        &ann.token,
        ann.pid(),
        dr.did(),
        &slot(2, 600),
        &slot(2, 630),
    )
    .await
    .expect(201);
    let id = write_record(app, &dr.token, ann.pid(), "visit_note")
        .await
        .expect(201)
        .id();
    let path = format!("/medical-records/{id}");
    let hist = format!("{path}/history");
    for (who, token) in [
        ("patient", &ann.token),
        ("author", &dr.token),
        ("admin", &app.admin_token),
    ] {
        let r = app.get(&path, token).await;
        assert_eq!(r.status.as_u16(), 200, "{who}: {}", r.text);
        let r = app.get(&hist, token).await;
        assert_eq!(r.status.as_u16(), 200, "{who}: {}", r.text);
    }
    for (who, token) in [
        ("other patient", &bob.token),
        ("off-team doctor", &off.token),
    ] {
        let r = app.get(&path, token).await.problem(404);
        assert!(!r.text.contains(ann.pid()), "{who} learns nothing");
        app.get(&hist, token).await.problem(404);
        let r = app.patch(&path, token, json!({"title": "x"})).await;
        let want = if who == "other patient" { 403 } else { 404 };
        assert_eq!(r.status.as_u16(), want, "{who}: {}", r.text);
        assert!(!ids(&app.all_pages("/medical-records", token, 50).await).contains(&id));
    }
    for role in ["billing", "pharmacist", "lab_technician", "auditor"] {
        let s = app.staff(role).await;
        app.get(&path, &s.token).await.problem(403);
        app.get(&hist, &s.token).await.problem(403);
        app.patch(&path, &s.token, json!({"title": "x"}))
            .await
            .problem(403);
    }
    // Break-glass: the off-team doctor reaches the record, its history, and may amend it.
    break_glass(app, &off.token, ann.pid()).await;
    app.get(&path, &off.token).await.expect(200);
    app.get(&hist, &off.token).await.expect(200);
    assert!(ids(&app.all_pages("/medical-records", &off.token, 50).await).contains(&id));
    let r = app
        .patch(&path, &off.token, json!({"content": "Emergency addendum."}))
        .await
        .expect(200);
    assert_eq!(r.body["version"], 2);
    // Admin may amend too.
    app.patch(&path, &app.admin_token, json!({"title": "Reviewed"}))
        .await
        .expect(200);
    // Unknown id: 404 for everybody.
    app.get(
        "/medical-records/00000000-0000-0000-0000-000000000000",
        &app.admin_token,
    )
    .await
    .problem(404);
}

async fn audited(app: &TestApp) {
    let ann = app.patient("Ann").await;
    let dr = app.doctor("Audit", "family medicine").await;
    let off = app.doctor("Nosy", "radiology").await;
    book(
        app,
        &ann.token,
        ann.pid(),
        dr.did(),
        &slot(2, 600),
        &slot(2, 630),
    )
    .await
    .expect(201);
    let id = write_record(app, &dr.token, ann.pid(), "visit_note")
        .await
        .expect(201)
        .id();
    let path = format!("/medical-records/{id}");
    app.get(&path, &ann.token).await.expect(200);
    app.patch(&path, &dr.token, json!({"title": "Amended"}))
        .await
        .expect(200);
    app.get(&format!("{path}/history"), &dr.token)
        .await
        .expect(200);
    app.get(
        &format!("/medical-records?patient_id={}", ann.pid()),
        &dr.token,
    )
    .await
    .expect(200);
    app.get(&path, &off.token).await.problem(404);
    let pid = ann.pid().to_string();
    let items = audit_until(app, &format!("patient_id={pid}"), |items| {
        has_entry(items, "create", "medical_record", Some(&id), "success")
            && has_entry(items, "read", "medical_record", Some(&id), "success")
            && has_entry(items, "update", "medical_record", Some(&id), "success")
            && has_entry(
                items,
                "read",
                "medical_record_history",
                Some(&id),
                "success",
            )
            && has_entry(items, "search", "medical_record", None, "success")
    })
    .await;
    let create = items
        .iter()
        .find(|e| e["action"] == "create" && e["resource_type"] == "medical_record")
        .unwrap();
    assert_eq!(create["user_id"], dr.user_id.as_str());
    assert_eq!(create["role"], "doctor");
    let read = items
        .iter()
        .find(|e| e["action"] == "read" && e["resource_type"] == "medical_record")
        .unwrap();
    assert_eq!(read["user_id"], ann.user_id.as_str());
    // The refused read is there as denied.
    audit_until(
        app,
        &format!("user_id={}&outcome=denied", off.user_id),
        |items| has_entry(items, "read", "medical_record", Some(&id), "denied"),
    )
    .await;
    // The patient sees who read their record, also through a list without a patient filter.
    let other = app.doctor("Browser", "family medicine").await;
    break_glass(app, &other.token, &pid).await;
    let listed = app.all_pages("/medical-records", &other.token, 50).await;
    assert_eq!(listed.len(), 1);
    let mut log = Vec::new();
    for _ in 0..50 {
        log = app
            .all_pages(&format!("/patients/{pid}/access-log"), &ann.token, 100)
            .await;
        if log.iter().any(|e| {
            e["user_id"] == other.user_id.as_str()
                && e["action"] == "search"
                && e["resource_type"] == "medical_record"
        }) {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert!(
        log.iter()
            .any(|e| e["user_id"] == other.user_id.as_str() && e["action"] == "search"),
        "{log:?}"
    );
    assert!(log
        .iter()
        .any(|e| e["user_id"] == dr.user_id.as_str() && e["resource_type"] == "medical_record"));
}

both_backends!(
    who_may_write,
    record_links_care_team,
    amend_history_and_entered_in_error,
    concurrent_amendments,
    list_filters_and_compartment,
    access_matrix,
    audited,
);
