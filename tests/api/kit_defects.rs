//! Defects of the rules that every domain shares (issue 14), each seen from outside: one
//! compartment rule for single objects and lists, `If-Match` under concurrency, every route's
//! permission checked, who may link a patient record to an account, and one time type.

use crate::clinical::*;
use crate::common::*;
use reqwest::Method;
use serde_json::{json, Value};

/// A registered patient who is also a doctor (an admin linked a doctor record to their account).
async fn doctor_who_is_a_patient(app: &TestApp) -> Actor {
    let mut a = app.patient("Dual").await;
    let r = app
        .post(
            "/doctors",
            &app.admin_token,
            json!({
                "given_name": "Dual", "family_name": "Role", "specialty": "family medicine",
                "license_number": format!("DUAL-{}", unique()),
                "email": a.email, "user_id": a.user_id
            }),
        )
        .await
        .expect(201);
    a.doctor_id = Some(r.id());
    // The account's roles changed: a fresh token carries both links.
    a.token = app.login(&a.email, PASSWORD).await;
    let me = app.get("/auth/me", &a.token).await.expect(200);
    assert_eq!(me.body["patient_id"], a.pid());
    assert_eq!(me.body["doctor_id"], a.did());
    a
}

/// One rule, admin → self ∪ care team ∪ the role's own objects, for single objects and lists
/// alike: a doctor who is also a patient sees their own appointments and records as a patient
/// and their care team's as a doctor, the same way in `GET /x/{id}` and in `GET /x`.
async fn a_doctor_who_is_a_patient_reaches_both_compartments(app: &TestApp) {
    let dual = doctor_who_is_a_patient(app).await;
    let their_doctor = app.doctor("Own", "internal medicine").await;
    let their_patient = new_patient(app, "Cared").await;
    // As a patient: booked with another doctor, who writes a record about them.
    let as_patient = book(
        app,
        &their_doctor.token,
        dual.pid(),
        their_doctor.did(),
        &slot(3, 60),
        &slot(3, 90),
    )
    .await
    .expect(201)
    .id();
    let own_record = write_record(app, &their_doctor.token, dual.pid(), "visit_note")
        .await
        .expect(201)
        .id();
    // As a doctor: their own patient, booked and written about.
    let as_doctor = book(
        app,
        &dual.token,
        &their_patient,
        dual.did(),
        &slot(4, 60),
        &slot(4, 90),
    )
    .await
    .expect(201)
    .id();
    let patients_record = write_record(app, &dual.token, &their_patient, "diagnosis")
        .await
        .expect(201)
        .id();

    for id in [&as_patient, &as_doctor] {
        app.get(&format!("/appointments/{id}"), &dual.token)
            .await
            .expect(200);
    }
    let listed: Vec<Value> = app.all_pages("/appointments", &dual.token, 50).await;
    let ids: Vec<&str> = listed.iter().map(|a| a["id"].as_str().unwrap()).collect();
    assert!(
        ids.contains(&as_patient.as_str()),
        "own appointment listed: {ids:?}"
    );
    assert!(
        ids.contains(&as_doctor.as_str()),
        "their patient's appointment listed: {ids:?}"
    );

    for id in [&own_record, &patients_record] {
        app.get(&format!("/medical-records/{id}"), &dual.token)
            .await
            .expect(200);
    }
    let listed = app.all_pages("/medical-records", &dual.token, 50).await;
    let ids: Vec<&str> = listed.iter().map(|r| r["id"].as_str().unwrap()).collect();
    assert!(
        ids.contains(&own_record.as_str()),
        "own record listed: {ids:?}"
    );
    assert!(
        ids.contains(&patients_record.as_str()),
        "their patient's record listed: {ids:?}"
    );
    // Their own care team, as the patient they are.
    app.get(&format!("/patients/{}/care-team", dual.pid()), &dual.token)
        .await
        .expect(200);
    // And nobody else's: a stranger patient stays out of reach either way.
    let stranger = new_patient(app, "Stranger").await;
    app.get(&format!("/patients/{stranger}/care-team"), &dual.token)
        .await
        .problem(404);
    // Reaching their own records as a patient does not make them their own doctor: they read
    // them and change none, and they do not book themselves as their own patient.
    app.patch(
        &format!("/medical-records/{own_record}"),
        &dual.token,
        json!({"status": "entered_in_error"}),
    )
    .await
    .problem(403);
    app.patch(
        &format!("/medical-records/{patients_record}"),
        &dual.token,
        json!({"content": "Amended by their doctor."}),
    )
    .await
    .expect(200);
    book(
        app,
        &dual.token,
        dual.pid(),
        dual.did(),
        &slot(5, 60),
        &slot(5, 90),
    )
    .await
    .problem(409);
}

/// A status the caller's party never sets is 403 — and, like every refusal, audited.
async fn refused_transitions_are_audited(app: &TestApp) {
    let patient = app.patient("Moved").await;
    let dr = app.doctor("Mover", "family medicine").await;
    let id = book(
        app,
        &patient.token,
        patient.pid(),
        dr.did(),
        &slot(3, 60),
        &slot(3, 90),
    )
    .await
    .expect(201)
    .id();
    let rid = format!("refused-{}", unique());
    let r = app
        .call(
            Method::PATCH,
            &format!("/appointments/{id}"),
            Some(&patient.token),
            Some(json!({"status": "checked_in"})),
            &[("x-request-id", rid.as_str())],
        )
        .await
        .problem(403);
    assert!(r.body["detail"].as_str().is_some());
    let entries = app
        .get(&format!("/audit-logs?request_id={rid}"), &app.admin_token)
        .await
        .expect(200)
        .items();
    assert_eq!(entries.len(), 1, "{entries:?}");
    assert_eq!(entries[0]["outcome"], "denied");
    assert_eq!(entries[0]["resource_id"], id.as_str());
    assert_eq!(entries[0]["patient_id"], patient.pid());
}

/// Eight PATCHes with the same `If-Match`: exactly one wins, the others get 412, and the
/// version moves by one — for patients and doctors as for records.
async fn concurrent_patches_of_patients_and_doctors(app: &TestApp) {
    let pid = new_patient(app, "Racy").await;
    let did = new_doctor(app, "Racy").await;
    for (path, field) in [
        (format!("/patients/{pid}"), "phone"),
        (format!("/doctors/{did}"), "phone"),
    ] {
        let results = futures::future::join_all((0..8).map(|i| {
            let path = path.clone();
            async move {
                app.call(
                    Method::PATCH,
                    &path,
                    Some(&app.admin_token),
                    Some(json!({ field: format!("+1 555 010{i}") })),
                    &[("if-match", "\"1\"")],
                )
                .await
            }
        }))
        .await;
        let mut codes: Vec<u16> = results.iter().map(|r| r.status.as_u16()).collect();
        codes.sort();
        assert_eq!(codes, [200, 412, 412, 412, 412, 412, 412, 412], "{path}");
        let winner = results.iter().find(|r| r.status.as_u16() == 200).unwrap();
        let now = app.get(&path, &app.admin_token).await.expect(200);
        assert_eq!(now.body["version"], 2, "{path}");
        assert_eq!(now.body[field], winner.body[field], "{path}");
    }
}

/// `consent:read` is what reading consents takes, and the care team is read with
/// `patients:read`: a role without them gets 403, not an answer (nor a 404 that hides the rule).
async fn consent_and_care_team_reads_state_their_permission(app: &TestApp) {
    app.post(
        "/roles",
        &app.admin_token,
        json!({"name": "consent_giver", "description": "gives consent only",
               "permissions": ["consent:write"]}),
    )
    .await
    .expect(201);
    let giver = app.staff("consent_giver").await;
    let patient = app.patient("Perm").await;
    app.get("/consents", &giver.token).await.problem(403);
    app.get(
        &format!("/users/{}/consent-status", giver.user_id),
        &giver.token,
    )
    .await
    .problem(403);
    app.get(
        &format!("/patients/{}/care-team", patient.pid()),
        &giver.token,
    )
    .await
    .problem(403);
    // The built-in roles that give consent read their own history.
    for role in ["pharmacist", "lab_technician", "billing", "auditor"] {
        let staff = app.staff(role).await;
        app.get("/consents", &staff.token).await.expect(200);
    }
}

/// Only an admin links a new patient record to an account, and only to one that holds the
/// `patient` role and has no patient record yet.
async fn only_admin_links_a_patient_record_to_an_account(app: &TestApp) {
    let dr = app.doctor("Linker", "family medicine").await;
    let pharmacist = app.staff("pharmacist").await;
    let admin_id = app.get("/auth/me", &app.admin_token).await.expect(200).body["id"]
        .as_str()
        .unwrap()
        .to_string();
    let body = |user_id: &str| {
        json!({"given_name": "Linked", "family_name": "Record", "birth_date": "1980-01-01",
               "sex": "other", "user_id": user_id})
    };
    for target in [&admin_id, &pharmacist.user_id] {
        app.post("/patients", &dr.token, body(target))
            .await
            .problem(403);
    }
    // Nothing was linked.
    let me = app.get("/auth/me", &app.admin_token).await.expect(200);
    assert_eq!(me.body["patient_id"], Value::Null);
    // An admin cannot either, to an account without the patient role.
    app.post("/patients", &app.admin_token, body(&pharmacist.user_id))
        .await
        .problem(409);
    // A patient account that has no record yet: the admin may.
    let account = app
        .post(
            "/users",
            &app.admin_token,
            json!({"email": format!("norecord-{}@example.test", unique()), "password": PASSWORD,
                   "display_name": "No Record", "roles": ["patient"]}),
        )
        .await
        .expect(201)
        .id();
    let linked = app
        .post("/patients", &app.admin_token, body(&account))
        .await
        .expect(201);
    assert_eq!(linked.body["user_id"], account.as_str());
    // A second record for the same account is refused.
    app.post("/patients", &app.admin_token, body(&account))
        .await
        .problem(409);
}

/// Timestamps are parsed into one time type at the edge: RFC 3339 with a four-digit year in a
/// sane range, normalised to UTC microseconds; the rest is a 422 naming the field. Dates are
/// strictly `YYYY-MM-DD`.
async fn timestamps_and_dates_are_parsed_strictly(app: &TestApp) {
    let pid = new_patient(app, "Tempo").await;
    let dr = app.doctor("Tempo", "family medicine").await;
    let end = "2030-07-01T00:30:00Z";
    for start in [
        "+10000-01-01T00:00:00Z",
        "2030-06-30T23:59:60Z",
        "2030-06-30 10:00:00Z",
        "2030-06-30T10:00:00",
    ] {
        let r = book(app, &dr.token, &pid, dr.did(), start, end)
            .await
            .problem(422);
        assert_eq!(
            r.body["errors"][0]["field"], "start_time",
            "{start}: {}",
            r.text
        );
    }
    // Nine fractional digits and an offset: stored and returned as UTC microseconds.
    let r = book(
        app,
        &dr.token,
        &pid,
        dr.did(),
        "2031-03-04T12:00:00.123456789+02:00",
        "2031-03-04T12:30:00Z",
    )
    .await
    .expect(201);
    assert_eq!(r.body["start_time"], "2031-03-04T10:00:00.123456Z");
    let id = r.id();
    let again = app
        .get(&format!("/appointments/{id}"), &dr.token)
        .await
        .expect(200);
    assert_eq!(again.body["start_time"], "2031-03-04T10:00:00.123456Z");
    // Range filters take the same type, and compare as times.
    let q = format!(
        "/appointments?patient_id={pid}&to={}",
        enc("2031-03-04T10:00:00.123457Z")
    );
    assert_eq!(app.get(&q, &dr.token).await.expect(200).items().len(), 1);
    let q = format!(
        "/appointments?patient_id={pid}&to={}",
        enc("2031-03-04T10:00:00.123456Z")
    );
    assert_eq!(app.get(&q, &dr.token).await.expect(200).items().len(), 0);
    for bad in ["+10000-01-01T00:00:00Z", "2031-03-04", "yesterday"] {
        let r = app
            .get(&format!("/appointments?from={}", enc(bad)), &dr.token)
            .await
            .problem(422);
        assert_eq!(r.body["errors"][0]["field"], "from", "{bad}");
    }
    // Dates: exactly YYYY-MM-DD.
    for bad in [
        "1990-1-2",
        "+1990-01-02",
        "1990-01-02T00:00:00Z",
        "19900102",
    ] {
        let r = app
            .post(
                "/patients",
                &app.admin_token,
                json!({"given_name": "Dated", "family_name": "Badly", "birth_date": bad, "sex": "other"}),
            )
            .await
            .problem(422);
        assert_eq!(
            r.body["errors"][0]["field"], "birth_date",
            "{bad}: {}",
            r.text
        );
    }
}

both_backends!(
    a_doctor_who_is_a_patient_reaches_both_compartments,
    refused_transitions_are_audited,
    concurrent_patches_of_patients_and_doctors,
    consent_and_care_team_reads_state_their_permission,
    only_admin_links_a_patient_record_to_an_account,
    timestamps_and_dates_are_parsed_strictly,
);
