//! Consent: forms, the append-only history, status per kind, who may see it, the enforcement
//! check (revocation effective on the next request), audit.

use crate::clinical::*;
use crate::common::*;
use reqwest::Method;
use serde_json::{json, Value};

/// The active seeded form of a kind.
async fn form_of(app: &TestApp, token: &str, kind: &str) -> String {
    let forms = app
        .all_pages(
            &format!("/consent-forms?kind={kind}&active=true"),
            token,
            50,
        )
        .await;
    assert!(!forms.is_empty(), "an active {kind} form is seeded");
    forms[0]["id"].as_str().unwrap().to_string()
}

async fn give(app: &TestApp, who: &Actor, form: &str, action: &str) -> Resp {
    app.post(
        "/consents",
        &who.token,
        json!({"consent_form_id": form, "action": action}),
    )
    .await
}

fn status_of<'a>(statuses: &'a Value, kind: &str) -> &'a Value {
    statuses
        .as_array()
        .expect("consent status is an array")
        .iter()
        .find(|s| s["kind"] == kind)
        .unwrap_or_else(|| panic!("a status for {kind}: {statuses}"))
}

async fn seeded_forms_and_form_admin(app: &TestApp) {
    let ann = app.patient("Ann").await;
    let dr = app.doctor("Form", "general").await;
    let forms = app.all_pages("/consent-forms", &ann.token, 50).await;
    for kind in ["telemedicine", "remote_monitoring"] {
        let f = forms
            .iter()
            .find(|f| f["kind"] == kind && f["active"] == true)
            .unwrap_or_else(|| panic!("seeded {kind} form: {forms:?}"));
        assert!(!f["title"].as_str().unwrap().is_empty());
        assert!(!f["body"].as_str().unwrap().is_empty());
        assert!(f["version"].as_i64().unwrap() >= 1);
        ts(&f["created_at"]);
        let id = f["id"].as_str().unwrap();
        let one = app
            .get(&format!("/consent-forms/{id}"), &dr.token)
            .await
            .expect(200);
        assert_eq!(&one.body, f);
    }
    app.get(
        "/consent-forms/00000000-0000-0000-0000-000000000000",
        &ann.token,
    )
    .await
    .problem(404);
    app.call(Method::GET, "/consent-forms", None, None, &[])
        .await
        .problem(401);

    // Publishing: admin only.
    let body = json!({"kind": "research", "title": "Research use", "body": "You agree that..."});
    app.post("/consent-forms", &ann.token, body.clone())
        .await
        .problem(403);
    app.post("/consent-forms", &dr.token, body.clone())
        .await
        .problem(403);
    let r = app
        .post("/consent-forms", &app.admin_token, body.clone())
        .await
        .expect(201);
    let research = r.id();
    assert_eq!(
        r.header("location"),
        Some(format!("/api/v1/consent-forms/{research}").as_str())
    );
    assert_eq!(r.body["kind"], "research");
    assert_eq!(r.body["active"], true);
    assert_eq!(r.body["version"], 1);
    // A second form of the same kind is its next version.
    let r2 = app
        .post(
            "/consent-forms",
            &app.admin_token,
            json!({"kind": "research", "title": "Research use v2", "body": "Updated text"}),
        )
        .await
        .expect(201);
    assert_eq!(r2.body["version"], 2);
    // Bad input.
    for bad in [
        json!({"kind": "gossip", "title": "t", "body": "b"}),
        json!({"kind": "research", "title": "", "body": "b"}),
        json!({"kind": "research", "title": "t"}),
        json!({"kind": "research", "title": "t", "body": "b", "id": "x"}),
    ] {
        app.post("/consent-forms", &app.admin_token, bad)
            .await
            .problem(422);
    }
    // Retire: admin only, If-Match honoured.
    let path = format!("/consent-forms/{research}");
    app.patch(&path, &dr.token, json!({"active": false}))
        .await
        .problem(403);
    app.patch(&path, &ann.token, json!({"active": false}))
        .await
        .problem(403);
    app.call(
        Method::PATCH,
        &path,
        Some(&app.admin_token),
        Some(json!({"active": false})),
        &[("if-match", "\"9\"")],
    )
    .await
    .problem(412);
    let r = app
        .patch(&path, &app.admin_token, json!({"active": false}))
        .await
        .expect(200);
    assert_eq!(r.body["active"], false);
    app.patch(&path, &app.admin_token, json!({"title": "changed"}))
        .await
        .problem(422);
    app.patch(
        "/consent-forms/00000000-0000-0000-0000-000000000000",
        &app.admin_token,
        json!({"active": false}),
    )
    .await
    .problem(404);
    let active = app
        .all_pages("/consent-forms?kind=research&active=true", &ann.token, 50)
        .await;
    assert_eq!(active.len(), 1);
    assert_eq!(active[0]["id"], r2.id().as_str());
    // Consent cannot be given on a retired form.
    give(app, &ann, &research, "given").await.problem(409);
    give(app, &ann, &r2.id(), "given").await.expect(201);
}

async fn give_revoke_history_and_status(app: &TestApp) {
    let ann = app.patient("Ann").await;
    let tele = form_of(app, &ann.token, "telemedicine").await;
    let remote = form_of(app, &ann.token, "remote_monitoring").await;

    // Before anything: every kind `none`, telemedicine pointing at the active form.
    let st = app
        .get(
            &format!("/users/{}/consent-status", ann.user_id),
            &ann.token,
        )
        .await
        .expect(200);
    let kinds: Vec<&str> = st
        .body
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["kind"].as_str().unwrap())
        .collect();
    for k in [
        "treatment",
        "telemedicine",
        "remote_monitoring",
        "data_sharing",
        "research",
    ] {
        assert!(kinds.contains(&k), "{k} in {kinds:?}");
    }
    for s in st.body.as_array().unwrap() {
        assert_eq!(s["status"], "none", "{s}");
        assert!(s["since"].is_null());
    }
    assert_eq!(
        status_of(&st.body, "telemedicine")["consent_form_id"],
        tele.as_str()
    );

    // Give telemedicine.
    let r = give(app, &ann, &tele, "given").await.expect(201);
    assert!(r.header("location").is_some());
    assert_eq!(r.body["consent_form_id"], tele.as_str());
    assert_eq!(r.body["user_id"], ann.user_id.as_str());
    assert_eq!(r.body["action"], "given");
    let given_at = ts(&r.body["recorded_at"]);
    assert!(r.body["client_addr"].is_string());
    let st = app
        .get(
            &format!("/users/{}/consent-status", ann.user_id),
            &ann.token,
        )
        .await
        .expect(200);
    let t = status_of(&st.body, "telemedicine");
    assert_eq!(t["status"], "given");
    assert_eq!(t["consent_form_id"], tele.as_str());
    assert_eq!(ts(&t["since"]), given_at);
    assert_eq!(status_of(&st.body, "remote_monitoring")["status"], "none");

    // Revoke it; give remote monitoring.
    give(app, &ann, &tele, "revoked").await.expect(201);
    give(app, &ann, &remote, "given").await.expect(201);
    let st = app
        .get(
            &format!("/users/{}/consent-status", ann.user_id),
            &ann.token,
        )
        .await
        .expect(200);
    assert_eq!(status_of(&st.body, "telemedicine")["status"], "revoked");
    assert!(ts(&status_of(&st.body, "telemedicine")["since"]) >= given_at);
    assert_eq!(status_of(&st.body, "remote_monitoring")["status"], "given");

    // The history keeps every event, oldest first.
    let h = app
        .all_pages(&format!("/consents?user_id={}", ann.user_id), &ann.token, 2)
        .await;
    let actions: Vec<(&str, &str)> = h
        .iter()
        .map(|e| {
            (
                e["consent_form_id"].as_str().unwrap(),
                e["action"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        actions,
        vec![
            (tele.as_str(), "given"),
            (tele.as_str(), "revoked"),
            (remote.as_str(), "given")
        ]
    );
    // Without user_id: the caller's own.
    assert_eq!(app.all_pages("/consents", &ann.token, 50).await.len(), 3);

    // Append-only: no PATCH, no DELETE.
    let ev = h[0]["id"].as_str().unwrap();
    for (m, p) in [
        (Method::PATCH, "/consents".to_string()),
        (Method::DELETE, "/consents".to_string()),
        (Method::PUT, "/consents".to_string()),
    ] {
        let r = app
            .call(
                m.clone(),
                &p,
                Some(&app.admin_token),
                Some(json!({"action": "given"})),
                &[],
            )
            .await;
        assert_eq!(r.status.as_u16(), 405, "{m} {p}: {}", r.text);
    }
    for m in [Method::PATCH, Method::DELETE] {
        let r = app
            .call(
                m.clone(),
                &format!("/consents/{ev}"),
                Some(&app.admin_token),
                Some(json!({"action": "revoked"})),
                &[],
            )
            .await;
        assert!(
            [404, 405].contains(&r.status.as_u16()),
            "{m} /consents/{{id}}: {}",
            r.text
        );
    }
    assert_eq!(app.all_pages("/consents", &ann.token, 50).await.len(), 3);

    // Bad input.
    give(app, &ann, &tele, "maybe").await.problem(422);
    give(app, &ann, "00000000-0000-0000-0000-000000000000", "given")
        .await
        .problem(409);
    app.post("/consents", &ann.token, json!({"consent_form_id": tele}))
        .await
        .problem(422);
    app.post(
        "/consents",
        &ann.token,
        json!({"consent_form_id": tele, "action": "given", "user_id": "someone-else"}),
    )
    .await
    .problem(422);
    assert_eq!(app.all_pages("/consents", &ann.token, 50).await.len(), 3);
}

/// Who may read a user's consents: self, admin, a doctor with the patient on their care team.
async fn who_may_see_consents(app: &TestApp) {
    let ann = app.patient("Ann").await;
    let bob = app.patient("Bob").await;
    let dr = app.doctor("Team", "general").await;
    let off = app.doctor("Off", "general").await;
    let tele = form_of(app, &ann.token, "telemedicine").await;
    give(app, &ann, &tele, "given").await.expect(201);
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
    let list = format!("/consents?user_id={}", ann.user_id);
    let status = format!("/users/{}/consent-status", ann.user_id);
    for token in [&ann.token, &app.admin_token, &dr.token] {
        assert_eq!(app.all_pages(&list, token, 50).await.len(), 1);
        let s = app.get(&status, token).await.expect(200);
        assert_eq!(status_of(&s.body, "telemedicine")["status"], "given");
    }
    for token in [&bob.token, &off.token] {
        app.get(&list, token).await.problem(404);
        app.get(&status, token).await.problem(404);
    }
    for role in ["billing", "pharmacist", "lab_technician", "auditor"] {
        let s = app.staff(role).await;
        app.get(&list, &s.token).await.problem(404);
        app.get(&status, &s.token).await.problem(404);
        // Staff may keep their own consents.
        app.get("/consents", &s.token).await.expect(200);
        give(app, &s, &tele, "given").await.expect(201);
    }
    // Break-glass opens the patient's consents to the doctor.
    break_glass(app, &off.token, ann.pid()).await;
    app.get(&list, &off.token).await.expect(200);
    app.get(&status, &off.token).await.expect(200);
    // A user id that does not exist is 404 (for anyone but the admin).
    app.get(
        "/consents?user_id=00000000-0000-0000-0000-000000000000",
        &bob.token,
    )
    .await
    .problem(404);
}

/// The enforcement point: 204 with a given consent, 409 consent-required otherwise, and a
/// revocation counts from the very next request.
async fn consent_check_enforcement(app: &TestApp) {
    let ann = app.patient("Ann").await;
    let bob = app.patient("Bob").await;
    let dr = app.doctor("Check", "telehealth").await;
    let off = app.doctor("Off", "telehealth").await;
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
    let tele = form_of(app, &ann.token, "telemedicine").await;
    let remote = form_of(app, &ann.token, "remote_monitoring").await;
    let check = |kind: &str| format!("/patients/{}/consent-check/{kind}", ann.pid());
    let required = |r: Resp| {
        let r = r.problem(409);
        assert!(
            r.body["type"]
                .as_str()
                .unwrap()
                .ends_with("/consent-required"),
            "{}",
            r.text
        );
    };
    // None yet.
    required(app.get(&check("telemedicine"), &dr.token).await);
    required(app.get(&check("telemedicine"), &ann.token).await);
    // Given: 204 for everyone who reaches the patient.
    give(app, &ann, &tele, "given").await.expect(201);
    for token in [&ann.token, &dr.token, &app.admin_token] {
        let r = app.get(&check("telemedicine"), token).await.expect(204);
        assert!(r.text.is_empty());
    }
    // Per kind: remote monitoring is still missing.
    required(app.get(&check("remote_monitoring"), &dr.token).await);
    give(app, &ann, &remote, "given").await.expect(201);
    app.get(&check("remote_monitoring"), &dr.token)
        .await
        .expect(204);
    // Revoked: the very next request is refused; given again: allowed again.
    for _ in 0..3 {
        give(app, &ann, &tele, "revoked").await.expect(201);
        required(app.get(&check("telemedicine"), &dr.token).await);
        give(app, &ann, &tele, "given").await.expect(201);
        app.get(&check("telemedicine"), &dr.token).await.expect(204);
    }
    give(app, &ann, &tele, "revoked").await.expect(201);
    required(app.get(&check("telemedicine"), &dr.token).await);
    app.get(&check("remote_monitoring"), &dr.token)
        .await
        .expect(204);
    // Another user's consent does not count for this patient.
    give(app, &bob, &tele, "given").await.expect(201);
    required(app.get(&check("telemedicine"), &ann.token).await);
    // Outside reach: 404; unknown kind: 422; unknown patient: 404.
    app.get(&check("remote_monitoring"), &bob.token)
        .await
        .problem(404);
    app.get(&check("remote_monitoring"), &off.token)
        .await
        .problem(404);
    app.get(&check("telepathy"), &ann.token).await.problem(422);
    app.get(
        "/patients/00000000-0000-0000-0000-000000000000/consent-check/telemedicine",
        &app.admin_token,
    )
    .await
    .problem(404);
    // A patient without an account cannot have consented.
    let plain = new_patient(app, "Plain").await;
    required(
        app.get(
            &format!("/patients/{plain}/consent-check/telemedicine"),
            &app.admin_token,
        )
        .await,
    );
}

async fn audited(app: &TestApp) {
    let ann = app.patient("Ann").await;
    let dr = app.doctor("Audit", "general").await;
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
    let tele = form_of(app, &ann.token, "telemedicine").await;
    let given = give(app, &ann, &tele, "given").await.expect(201).id();
    let revoked = give(app, &ann, &tele, "revoked").await.expect(201).id();
    app.get(&format!("/consents?user_id={}", ann.user_id), &dr.token)
        .await
        .expect(200);
    app.get(&format!("/users/{}/consent-status", ann.user_id), &dr.token)
        .await
        .expect(200);
    app.get(
        &format!("/patients/{}/consent-check/telemedicine", ann.pid()),
        &dr.token,
    )
    .await
    .problem(409);
    let pid = ann.pid().to_string();
    let by_doctor = |e: &Value, action: &str, resource_type: &str| {
        e["action"] == action
            && e["resource_type"] == resource_type
            && e["user_id"] == dr.user_id.as_str()
            && e["outcome"] == "success"
    };
    let items = audit_until(app, &format!("patient_id={pid}"), |items| {
        has_entry(items, "consent_given", "consent", Some(&given), "success")
            && has_entry(
                items,
                "consent_revoked",
                "consent",
                Some(&revoked),
                "success",
            )
            && items.iter().any(|e| by_doctor(e, "search", "consent"))
            && items.iter().any(|e| by_doctor(e, "read", "consent_status"))
            && items.iter().any(|e| by_doctor(e, "read", "consent_check"))
    })
    .await;
    assert!(items.iter().all(|e| e["patient_id"] == pid.as_str()));
    let g = items
        .iter()
        .find(|e| e["action"] == "consent_given")
        .unwrap();
    assert_eq!(g["user_id"], ann.user_id.as_str());
    assert_eq!(g["role"], "patient");
    // Publishing a form is audited too.
    let f = app
        .post(
            "/consent-forms",
            &app.admin_token,
            json!({"kind": "data_sharing", "title": "Share", "body": "Text"}),
        )
        .await
        .expect(201)
        .id();
    audit_until(app, "resource_type=consent_form", |items| {
        has_entry(items, "create", "consent_form", Some(&f), "success")
    })
    .await;
}

/// `/users/{id}/consent-status` of an account that does not exist is 404, like every other
/// `/users/{id}/...` route — for an admin too, who reaches every account that exists; and so
/// is a consent history asked for by such an id.
async fn consent_status_of_an_unknown_user_is_404(app: &TestApp) {
    let ann = app.patient("Known").await;
    let unknown = uuid::Uuid::now_v7().to_string();
    for id in [unknown.as_str(), "not-a-uuid"] {
        app.get(&format!("/users/{id}/consent-status"), &app.admin_token)
            .await
            .problem(404);
        // A filter that is no id at all is bad input (422, like every id in a query).
        let filter = if id == unknown { 404 } else { 422 };
        app.get(&format!("/consents?user_id={id}"), &app.admin_token)
            .await
            .problem(filter);
        app.get(&format!("/users/{id}/consent-status"), &ann.token)
            .await
            .problem(404);
    }
    // An account that exists still answers, with or without a patient record.
    let staff = app.staff("billing").await;
    for user in [&ann.user_id, &staff.user_id] {
        let rows = app
            .get(&format!("/users/{user}/consent-status"), &app.admin_token)
            .await
            .expect(200);
        assert_eq!(rows.body.as_array().map(Vec::len), Some(5), "{}", rows.text);
    }
}

both_backends!(
    consent_status_of_an_unknown_user_is_404,
    seeded_forms_and_form_admin,
    give_revoke_history_and_status,
    who_may_see_consents,
    consent_check_enforcement,
    audited,
);
