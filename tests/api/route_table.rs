//! The route table, walked from the OpenAPI document: every operation states who may call it
//! (`x-access`, mirrored in its `security`) and the resource its denials are audited as; a
//! caller without the stated permission gets 403 and an audited denial; and every operation
//! that is not declared unaudited (`x-not-audited`, reads only) writes an audit entry when it
//! succeeds. A route added without a statement, or without a request here, fails this test.
//! The access matrix (`access_matrix`) crosses every operation with every built-in role, and
//! for a patient their own object and another patient's, against what the statement and the
//! patient compartment say each should get.

use std::collections::{BTreeMap, HashMap};

use reqwest::Method;
use serde_json::{json, Value};

use crate::clinical::*;
use crate::common::*;

/// One operation of the document.
struct Op {
    method: Method,
    path: String,
    access: String,
    audited: bool,
    security: Value,
}

async fn operations(app: &TestApp) -> Vec<Op> {
    let doc = app
        .call(Method::GET, "/openapi.json", None, None, &[])
        .await
        .expect(200)
        .body;
    let mut ops = Vec::new();
    for (path, item) in doc["paths"].as_object().expect("paths") {
        for (method, op) in item.as_object().expect("a path item") {
            let Ok(method) = method.to_uppercase().parse::<Method>() else {
                continue;
            };
            if !["GET", "POST", "PUT", "PATCH", "DELETE"].contains(&method.as_str()) {
                continue;
            }
            let access = op["x-access"].as_str().unwrap_or_default().to_string();
            assert!(
                !access.is_empty(),
                "{method} {path} states no access rule (kit::route)"
            );
            assert!(
                op["x-audit-resource"]
                    .as_str()
                    .is_some_and(|r| !r.is_empty()),
                "{method} {path} names no audit resource"
            );
            let audited = op.get("x-not-audited").is_none();
            assert!(
                audited || method == Method::GET,
                "{method} {path}: only reads may go unaudited"
            );
            ops.push(Op {
                method,
                path: path.clone(),
                access,
                audited,
                security: op["security"].clone(),
            });
        }
    }
    assert!(
        ops.len() > 40,
        "the document lists the routes: {}",
        ops.len()
    );
    ops
}

/// The statement and the document's `security` say the same.
fn security_matches(op: &Op) {
    let want = match op.access.as_str() {
        "public" => json!([]),
        "signed_in" => json!([{"bearer": []}]),
        perm => json!([{"bearer": [perm]}]),
    };
    assert_eq!(op.security, want, "{} {}", op.method, op.path);
}

/// The objects the requests below act on.
struct World {
    doctor: Actor,
    patient: Actor,
    appointment: String,
    record: String,
    visit: crate::telemedicine::Visit,
    /// A live video session of `visit`.
    session: String,
    fresh_visit: crate::telemedicine::Visit,
    lab: LabWorld,
    /// Referrals of the walk's patient to `fresh_visit`'s doctor: pending, one to move, one
    /// accepted.
    referrals: [String; 3],
    rx: RxWorld,
    bill: BillWorld,
    dev: DevWorld,
    /// A message from the walk's patient to its doctor.
    message: String,
    /// A published educational resource.
    resource: String,
    /// An active survey for everyone, with one scale question `q1`.
    survey: String,
    notification: String,
    role_to_patch: String,
    role_to_delete: String,
    spare: Actor,
    leaving: Actor,
}

async fn world(app: &TestApp) -> World {
    let doctor = app.doctor("Walker", "family medicine").await;
    let patient = app.patient("Walked").await;
    let appointment = book(
        app,
        &doctor.token,
        patient.pid(),
        doctor.did(),
        &slot(2, 60),
        &slot(2, 90),
    )
    .await
    .expect(201)
    .id();
    let record = write_record(app, &doctor.token, patient.pid(), "visit_note")
        .await
        .expect(201)
        .id();
    let notification = app
        .post(
            "/notifications",
            &app.admin_token,
            json!({"user_id": patient.user_id, "title": "hello", "body": "walk"}),
        )
        .await
        .expect(201)
        .id();
    let mut roles = Vec::new();
    for name in ["walk_patched", "walk_deleted"] {
        roles.push(
            app.post(
                "/roles",
                &app.admin_token,
                json!({"name": name, "description": "walk", "permissions": ["consent:write"]}),
            )
            .await
            .expect(201)
            .id(),
        );
    }
    let visit = crate::telemedicine::visit(app, "Walkvisit").await;
    let session = app
        .post(
            &format!("/virtual-visits/{}/video-sessions", visit.id),
            &visit.doctor.token,
            json!({}),
        )
        .await
        .expect(201)
        .id();
    let lab = lab_world(app, &doctor, &patient).await;
    let rx = rx_world(app).await;
    let bill = bill_world(app).await;
    let dev = dev_world(app).await;
    let message = app
        .post(
            "/messages",
            &patient.token,
            json!({"receiver_id": doctor.user_id, "subject": "Walk", "body": "Walking"}),
        )
        .await
        .expect(201)
        .id();
    let resource = app
        .post(
            "/educational-resources",
            &app.admin_token,
            json!({"title": "Walking", "summary": "Walk daily.", "body": "Walk.",
                   "category": "exercise", "published": true}),
        )
        .await
        .expect(201)
        .id();
    let survey = app
        .post(
            "/surveys",
            &app.admin_token,
            json!({"title": "Walk", "audience": "all",
                   "questions": [{"text": "How was the walk?", "kind": "scale"}]}),
        )
        .await
        .expect(201)
        .id();
    let fresh_visit = crate::telemedicine::visit(app, "Walkfresh").await;
    let specialist = &fresh_visit.doctor;
    let mut referrals = Vec::new();
    for _ in 0..3 {
        referrals.push(
            crate::referrals::refer(app, &doctor.token, patient.pid(), specialist.did())
                .await
                .expect(201)
                .id(),
        );
    }
    app.post(
        &format!("/referrals/{}/transition", referrals[2]),
        &specialist.token,
        json!({"to": "accepted"}),
    )
    .await
    .expect(200);
    World {
        message,
        resource,
        survey,
        dev,
        bill,
        rx,
        referrals: referrals.try_into().unwrap(),
        lab,
        visit,
        session,
        fresh_visit,
        spare: app.patient("Spare").await,
        leaving: app.patient("Leaving").await,
        doctor,
        patient,
        appointment,
        record,
        notification,
        role_to_delete: roles.pop().unwrap(),
        role_to_patch: roles.pop().unwrap(),
    }
}

/// The device objects of the walk.
struct DevWorld {
    w: crate::devices::Wearer,
    to_revoke: String,
    alert: String,
}

async fn dev_world(app: &TestApp) -> DevWorld {
    let w = crate::devices::wearer(app, "Walkdev").await;
    let to_revoke = app
        .post(
            "/devices",
            &w.patient.token,
            json!({"kind": "scale", "manufacturer": "Walk", "serial_number": format!("W-{}", unique())}),
        )
        .await
        .expect(201)
        .id();
    crate::devices::send(
        app,
        &w.device,
        &w.token,
        vec![crate::devices::hr(&slot(0, 1), 170.0)],
    )
    .await
    .expect(200);
    let alert = app
        .get(
            &format!(
                "/remote-monitoring-logs?device_id={}&severity=critical",
                w.device
            ),
            &w.doctor.token,
        )
        .await
        .expect(200)
        .items()[0]["id"]
        .as_str()
        .unwrap()
        .to_string();
    DevWorld {
        w,
        to_revoke,
        alert,
    }
}

/// The billing objects of the walk.
struct BillWorld {
    d: crate::billing::Desk,
    claim: String,
    approved: String,
    payment: String,
    invoice: String,
    to_issue: String,
    to_void: String,
}

async fn bill_world(app: &TestApp) -> BillWorld {
    use crate::billing::*;
    let d = desk(app, "Walkbill").await;
    let claim_id = claim(app, &d, &[5000]).await.expect(201).id();
    let approved = approved_claim(app, &d, 5000, 4000).await;
    let payment = pay(
        app,
        &d.clerk.token,
        json!({"claim_id": approved, "amount": usd(100), "method": "insurer"}),
        Some("walk-pay"),
    )
    .await
    .expect(201)
    .id();
    let invoice = || async {
        app.post(
            "/invoices",
            &d.clerk.token,
            json!({"patient_id": d.patient.pid(), "currency": "USD",
                   "lines": [{"description": "Visit", "quantity": 1, "unit_amount": usd(2500)}]}),
        )
        .await
        .expect(201)
        .id()
    };
    let (invoice_id, to_issue, to_void) = (invoice().await, invoice().await, invoice().await);
    BillWorld {
        d,
        claim: claim_id,
        approved,
        payment,
        invoice: invoice_id,
        to_issue,
        to_void,
    }
}

/// The pharmacy objects of the walk.
struct RxWorld {
    s: crate::pharmacy::Setup,
    /// Pharmacists: one to add to the staff, one to take off it.
    joining: Actor,
    leaving: Actor,
    /// A prescription with an open order, one to order, one to cancel.
    ordered: String,
    to_order: String,
    to_cancel: String,
    order: String,
}

async fn rx_world(app: &TestApp) -> RxWorld {
    let s = crate::pharmacy::setup(app, "Walkrx").await;
    let joining = app.staff("pharmacist").await;
    let leaving = app.staff("pharmacist").await;
    app.post(
        &format!("/pharmacies/{}/staff", s.pharmacy),
        &app.admin_token,
        json!({"user_id": leaving.user_id}),
    )
    .await
    .expect(201);
    let rx = || async {
        crate::pharmacy::prescribe(app, &s, 2)
            .await
            .expect(201)
            .id()
    };
    let (ordered, to_order, to_cancel) = (rx().await, rx().await, rx().await);
    let order = app
        .post(
            "/pharmacy-orders",
            &s.patient.token,
            json!({"prescription_id": ordered, "pharmacy_id": s.pharmacy}),
        )
        .await
        .expect(201)
        .id();
    RxWorld {
        s,
        joining,
        leaving,
        ordered,
        to_order,
        to_cancel,
        order,
    }
}

/// The lab objects of the walk.
struct LabWorld {
    tech: Actor,
    ordered: String,
    to_collect: String,
    to_cancel: String,
    collected: String,
    result: String,
    pending_image: String,
    image: String,
}

/// A PNG signature and some bytes: what an image upload of the walk sends.
fn png() -> Vec<u8> {
    let mut b = b"\x89PNG\r\n\x1a\n".to_vec();
    b.extend(std::iter::repeat_n(7u8, 500));
    b
}

async fn lab_world(app: &TestApp, doctor: &Actor, patient: &Actor) -> LabWorld {
    let tech = app.staff("lab_technician").await;
    let order = || async {
        app.post(
            "/lab-orders",
            &doctor.token,
            json!({"patient_id": patient.pid(), "test_code": "2345-7", "test_name": "Glucose"}),
        )
        .await
        .expect(201)
        .id()
    };
    let (ordered, to_collect, to_cancel, collected) =
        (order().await, order().await, order().await, order().await);
    app.post(
        &format!("/lab-orders/{collected}/collect"),
        &tech.token,
        json!({}),
    )
    .await
    .expect(200);
    let result = app
        .post(
            &format!("/lab-orders/{collected}/results"),
            &tech.token,
            json!({"value": "92", "unit": "mg/dL", "reference_low": 70, "reference_high": 99}),
        )
        .await
        .expect(201)
        .id();
    let image = || async {
        app.post(
            "/diagnostic-images",
            &tech.token,
            json!({"patient_id": patient.pid(), "modality": "OT"}),
        )
        .await
        .expect(201)
        .id()
    };
    let (pending_image, image) = (image().await, image().await);
    let up = app
        .client
        .put(app.url(&format!("/diagnostic-images/{image}/content")))
        .bearer_auth(&tech.token)
        .header("content-type", "image/png")
        .body(png())
        .send()
        .await
        .unwrap();
    assert_eq!(up.status().as_u16(), 200);
    LabWorld {
        tech,
        ordered,
        to_collect,
        to_cancel,
        collected,
        result,
        pending_image,
        image,
    }
}

/// A request that succeeds: (path, token, body).
fn request(
    app: &TestApp,
    w: &World,
    method: &Method,
    template: &str,
) -> Option<(String, Option<String>, Option<Value>)> {
    let admin = Some(app.admin_token.clone());
    let doctor = Some(w.doctor.token.clone());
    let patient = Some(w.patient.token.clone());
    let pid = w.patient.pid();
    let uid = &w.patient.user_id;
    let telemedicine = "01900000-0000-7000-8000-000000000001";
    let fresh = unique();
    let path = |p: &str| p.to_string();
    Some(match (method.as_str(), template) {
        ("POST", "/api/v1/auth/register") => (
            path(template),
            None,
            Some(
                json!({"email": format!("walk-{fresh}@example.test"), "password": PASSWORD,
                        "given_name": "Walk", "family_name": "Er", "birth_date": "1990-01-01",
                        "sex": "other"}),
            ),
        ),
        ("POST", "/api/v1/auth/login") => (
            path(template),
            None,
            Some(json!({"email": w.spare.email, "password": PASSWORD})),
        ),
        ("POST", "/api/v1/auth/logout") => (path(template), Some(w.leaving.token.clone()), None),
        ("POST", "/api/v1/auth/password") => (
            path(template),
            Some(w.spare.token.clone()),
            Some(json!({"current_password": PASSWORD, "new_password": PASSWORD})),
        ),
        ("POST", "/api/v1/users") => (
            path(template),
            admin,
            Some(
                json!({"email": format!("walk-user-{fresh}@example.test"), "password": PASSWORD,
                        "display_name": "Walk", "roles": ["auditor"]}),
            ),
        ),
        ("GET", "/api/v1/users") => (path(template), admin, None),
        ("GET", "/api/v1/users/{id}") => (format!("/api/v1/users/{uid}"), admin, None),
        ("DELETE", "/api/v1/users/{id}/login-throttle") => {
            (format!("/api/v1/users/{uid}/login-throttle"), admin, None)
        }
        ("PATCH", "/api/v1/users/{id}") => (
            format!("/api/v1/users/{uid}"),
            admin,
            Some(json!({"display_name": "Walked Again"})),
        ),
        ("POST", "/api/v1/roles") => (
            path(template),
            admin,
            Some(
                json!({"name": format!("walk_{fresh}"), "description": "walk", "permissions": []}),
            ),
        ),
        ("PATCH", "/api/v1/roles/{id}") => (
            format!("/api/v1/roles/{}", w.role_to_patch),
            admin,
            Some(json!({"description": "walked"})),
        ),
        ("DELETE", "/api/v1/roles/{id}") => {
            (format!("/api/v1/roles/{}", w.role_to_delete), admin, None)
        }
        ("GET", "/api/v1/audit-logs") => (path(template), admin, None),
        ("GET", "/api/v1/patients/{id}/access-log") => {
            (format!("/api/v1/patients/{pid}/access-log"), patient, None)
        }
        ("POST", "/api/v1/patients") => (
            path(template),
            admin,
            Some(
                json!({"given_name": "Walk", "family_name": "In", "birth_date": "1980-02-03",
                        "sex": "female"}),
            ),
        ),
        ("GET", "/api/v1/patients") => (path(template), doctor, None),
        ("GET", "/api/v1/patients/{id}") => (format!("/api/v1/patients/{pid}"), doctor, None),
        ("PATCH", "/api/v1/patients/{id}") => (
            format!("/api/v1/patients/{pid}"),
            patient,
            Some(json!({"phone": "+1 555 0100"})),
        ),
        ("GET", "/api/v1/patients/{id}/care-team") => {
            (format!("/api/v1/patients/{pid}/care-team"), patient, None)
        }
        ("POST", "/api/v1/patients/{id}/break-glass") => (
            format!("/api/v1/patients/{pid}/break-glass"),
            doctor,
            Some(json!({"reason": "walking every route of the table"})),
        ),
        ("POST", "/api/v1/doctors") => (
            path(template),
            admin,
            Some(
                json!({"given_name": "Walk", "family_name": "Doc", "specialty": "any",
                        "license_number": format!("WALK-{fresh}"),
                        "email": format!("walk-doc-{fresh}@example.test")}),
            ),
        ),
        ("PATCH", "/api/v1/doctors/{id}") => (
            format!("/api/v1/doctors/{}", w.doctor.did()),
            doctor,
            Some(json!({"phone": "+1 555 0101"})),
        ),
        ("GET", "/api/v1/notifications") => (path(template), patient, None),
        ("POST", "/api/v1/notifications") => (
            path(template),
            admin,
            Some(json!({"user_id": uid, "title": "walk", "body": "again"})),
        ),
        ("POST", "/api/v1/notifications/{id}/read") => (
            format!("/api/v1/notifications/{}/read", w.notification),
            patient,
            None,
        ),
        ("POST", "/api/v1/notifications/read-all") => (path(template), patient, None),
        ("GET", "/api/v1/notifications/stream") => (path(template), patient, None),
        ("POST", "/api/v1/appointments") => (
            path(template),
            doctor,
            Some(json!({"patient_id": pid, "doctor_id": w.doctor.did(),
                        "start_time": slot(5, 60), "end_time": slot(5, 90)})),
        ),
        ("GET", "/api/v1/appointments") => (path(template), patient, None),
        ("GET", "/api/v1/appointments/{id}") => (
            format!("/api/v1/appointments/{}", w.appointment),
            patient,
            None,
        ),
        ("PATCH", "/api/v1/appointments/{id}") => (
            format!("/api/v1/appointments/{}", w.appointment),
            doctor,
            Some(json!({"reason": "walked"})),
        ),
        ("POST", "/api/v1/medical-records") => (
            path(template),
            doctor,
            Some(
                json!({"patient_id": pid, "record_type": "allergy", "title": "Walk",
                        "content": "None known."}),
            ),
        ),
        ("GET", "/api/v1/medical-records") => (path(template), patient, None),
        ("GET", "/api/v1/medical-records/{id}") => (
            format!("/api/v1/medical-records/{}", w.record),
            patient,
            None,
        ),
        ("PATCH", "/api/v1/medical-records/{id}") => (
            format!("/api/v1/medical-records/{}", w.record),
            doctor,
            Some(json!({"content": "Amended on the walk."})),
        ),
        ("GET", "/api/v1/medical-records/{id}/history") => (
            format!("/api/v1/medical-records/{}/history", w.record),
            patient,
            None,
        ),
        ("POST", "/api/v1/consent-forms") => (
            path(template),
            admin,
            Some(json!({"kind": "research", "title": "Walk", "body": "Walk consent"})),
        ),
        ("PATCH", "/api/v1/consent-forms/{id}") => (
            format!("/api/v1/consent-forms/{telemedicine}"),
            admin,
            Some(json!({"active": true})),
        ),
        ("POST", "/api/v1/consents") => (
            path(template),
            patient,
            Some(json!({"consent_form_id": telemedicine, "action": "given"})),
        ),
        ("GET", "/api/v1/consents") => (path(template), patient, None),
        ("GET", "/api/v1/users/{id}/consent-status") => {
            (format!("/api/v1/users/{uid}/consent-status"), patient, None)
        }
        ("GET", "/api/v1/patients/{id}/consent-check/{kind}") => (
            format!("/api/v1/patients/{pid}/consent-check/telemedicine"),
            patient,
            None,
        ),
        ("POST", "/api/v1/virtual-visits") => {
            let v = &w.visit;
            (
                path(template),
                Some(v.patient.token.clone()),
                Some(
                    json!({"patient_id": v.patient.pid(), "doctor_id": v.doctor.did(),
                            "scheduled_start": slot(8, 60), "scheduled_end": slot(8, 90)}),
                ),
            )
        }
        ("GET", "/api/v1/virtual-visits") => {
            (path(template), Some(w.visit.patient.token.clone()), None)
        }
        ("GET", "/api/v1/virtual-visits/{id}") => (
            format!("/api/v1/virtual-visits/{}", w.visit.id),
            Some(w.visit.doctor.token.clone()),
            None,
        ),
        ("PATCH", "/api/v1/virtual-visits/{id}") => (
            format!("/api/v1/virtual-visits/{}", w.visit.id),
            Some(w.visit.doctor.token.clone()),
            Some(json!({"reason": "walked"})),
        ),
        // A visit of its own: the walk's visit has a live session already.
        ("POST", "/api/v1/virtual-visits/{id}/video-sessions") => (
            format!("/api/v1/virtual-visits/{}/video-sessions", w.fresh_visit.id),
            Some(w.fresh_visit.doctor.token.clone()),
            None,
        ),
        ("GET", "/api/v1/virtual-visits/{id}/video-sessions") => (
            format!("/api/v1/virtual-visits/{}/video-sessions", w.visit.id),
            Some(w.visit.patient.token.clone()),
            None,
        ),
        ("GET", "/api/v1/video-sessions/{id}") => (
            format!("/api/v1/video-sessions/{}", w.session),
            Some(w.visit.doctor.token.clone()),
            None,
        ),
        ("POST", "/api/v1/video-sessions/{id}/end") => (
            format!("/api/v1/video-sessions/{}/end", w.session),
            Some(w.visit.patient.token.clone()),
            None,
        ),
        ("POST", "/api/v1/virtual-visits/{id}/chat") => (
            format!("/api/v1/virtual-visits/{}/chat", w.visit.id),
            Some(w.visit.patient.token.clone()),
            Some(json!({"body": "walking"})),
        ),
        ("GET", "/api/v1/virtual-visits/{id}/chat") => (
            format!("/api/v1/virtual-visits/{}/chat", w.visit.id),
            Some(w.visit.doctor.token.clone()),
            None,
        ),
        ("POST", "/api/v1/virtual-visits/{id}/chat/ticket") => (
            format!("/api/v1/virtual-visits/{}/chat/ticket", w.visit.id),
            Some(w.visit.patient.token.clone()),
            None,
        ),
        ("GET", "/api/v1/virtual-visits/{id}/chat/ws") => (
            format!("/api/v1/virtual-visits/{}/chat/ws", w.visit.id),
            Some(w.visit.patient.token.clone()),
            None,
        ),
        ("POST", "/api/v1/lab-orders") => (
            path(template),
            doctor,
            Some(json!({"patient_id": pid, "test_code": "718-7", "test_name": "Hemoglobin"})),
        ),
        ("GET", "/api/v1/lab-orders") => (path(template), Some(w.lab.tech.token.clone()), None),
        ("GET", "/api/v1/lab-orders/{id}") => (
            format!("/api/v1/lab-orders/{}", w.lab.ordered),
            patient,
            None,
        ),
        ("POST", "/api/v1/lab-orders/{id}/collect") => (
            format!("/api/v1/lab-orders/{}/collect", w.lab.to_collect),
            Some(w.lab.tech.token.clone()),
            None,
        ),
        ("POST", "/api/v1/lab-orders/{id}/cancel") => (
            format!("/api/v1/lab-orders/{}/cancel", w.lab.to_cancel),
            doctor,
            Some(json!({"reason": "walked past"})),
        ),
        ("POST", "/api/v1/lab-orders/{id}/results") => (
            format!("/api/v1/lab-orders/{}/results", w.lab.collected),
            Some(w.lab.tech.token.clone()),
            Some(json!({"test_code": "2951-2", "value": "140"})),
        ),
        ("GET", "/api/v1/lab-results") => (path(template), patient, None),
        ("GET", "/api/v1/lab-results/{id}") => (
            format!("/api/v1/lab-results/{}", w.lab.result),
            doctor,
            None,
        ),
        ("PATCH", "/api/v1/lab-results/{id}") => (
            format!("/api/v1/lab-results/{}", w.lab.result),
            Some(w.lab.tech.token.clone()),
            Some(json!({"note": "walked"})),
        ),
        ("GET", "/api/v1/lab-results/{id}/history") => (
            format!("/api/v1/lab-results/{}/history", w.lab.result),
            patient,
            None,
        ),
        ("POST", "/api/v1/diagnostic-images") => (
            path(template),
            Some(w.lab.tech.token.clone()),
            Some(json!({"patient_id": pid, "modality": "US"})),
        ),
        ("GET", "/api/v1/diagnostic-images") => (path(template), doctor, None),
        ("GET", "/api/v1/diagnostic-images/{id}") => (
            format!("/api/v1/diagnostic-images/{}", w.lab.image),
            patient,
            None,
        ),
        // The body is the image's bytes (`send` sends them for this path).
        ("PUT", "/api/v1/diagnostic-images/{id}/content") => (
            format!("/api/v1/diagnostic-images/{}/content", w.lab.pending_image),
            Some(w.lab.tech.token.clone()),
            None,
        ),
        ("GET", "/api/v1/diagnostic-images/{id}/content") => (
            format!("/api/v1/diagnostic-images/{}/content", w.lab.image),
            patient,
            None,
        ),
        ("POST", "/api/v1/referrals") => (
            path(template),
            doctor,
            Some(
                json!({"patient_id": pid, "specialist_id": w.fresh_visit.doctor.did(),
                        "reason": "walking"}),
            ),
        ),
        ("GET", "/api/v1/referrals") => (path(template), patient, None),
        ("GET", "/api/v1/referrals/{id}") => (
            format!("/api/v1/referrals/{}", w.referrals[0]),
            doctor,
            None,
        ),
        ("POST", "/api/v1/referrals/{id}/transition") => (
            format!("/api/v1/referrals/{}/transition", w.referrals[1]),
            Some(w.fresh_visit.doctor.token.clone()),
            Some(json!({"to": "accepted"})),
        ),
        ("GET", "/api/v1/referrals/{id}/history") => (
            format!("/api/v1/referrals/{}/history", w.referrals[0]),
            patient,
            None,
        ),
        ("POST", "/api/v1/referrals/{id}/notes") => (
            format!("/api/v1/referrals/{}/notes", w.referrals[2]),
            Some(w.fresh_visit.doctor.token.clone()),
            Some(json!({"note": "walked by"})),
        ),
        ("GET", "/api/v1/referrals/{id}/notes") => (
            format!("/api/v1/referrals/{}/notes", w.referrals[2]),
            patient,
            None,
        ),
        ("POST", "/api/v1/medications") => (
            path(template),
            admin,
            Some(json!({"name": "Walkamine", "code": "424242"})),
        ),
        ("PATCH", "/api/v1/medications/{id}") => (
            format!("/api/v1/medications/{}", w.rx.s.medication),
            admin,
            Some(json!({"strength": "10 mg"})),
        ),
        ("POST", "/api/v1/pharmacies") => (
            path(template),
            admin,
            Some(json!({"name": "Walk-in Pharmacy"})),
        ),
        ("PATCH", "/api/v1/pharmacies/{id}") => (
            format!("/api/v1/pharmacies/{}", w.rx.s.pharmacy),
            admin,
            Some(json!({"phone": "+1 555 0123"})),
        ),
        ("POST", "/api/v1/pharmacies/{id}/staff") => (
            format!("/api/v1/pharmacies/{}/staff", w.rx.s.pharmacy),
            admin,
            Some(json!({"user_id": w.rx.joining.user_id})),
        ),
        ("DELETE", "/api/v1/pharmacies/{id}/staff/{user_id}") => (
            format!(
                "/api/v1/pharmacies/{}/staff/{}",
                w.rx.s.pharmacy, w.rx.leaving.user_id
            ),
            admin,
            None,
        ),
        ("POST", "/api/v1/prescriptions") => (
            path(template),
            Some(w.rx.s.doctor.token.clone()),
            Some(
                json!({"patient_id": w.rx.s.patient.pid(), "medication_id": w.rx.s.medication,
                        "dosage": "1 tablet", "frequency": "daily", "quantity": 10}),
            ),
        ),
        ("GET", "/api/v1/prescriptions") => {
            (path(template), Some(w.rx.s.patient.token.clone()), None)
        }
        ("GET", "/api/v1/prescriptions/{id}") => (
            format!("/api/v1/prescriptions/{}", w.rx.ordered),
            Some(w.rx.s.pharmacist.token.clone()),
            None,
        ),
        ("POST", "/api/v1/prescriptions/{id}/cancel") => (
            format!("/api/v1/prescriptions/{}/cancel", w.rx.to_cancel),
            Some(w.rx.s.doctor.token.clone()),
            Some(json!({"reason": "walked off"})),
        ),
        ("POST", "/api/v1/pharmacy-orders") => (
            path(template),
            Some(w.rx.s.patient.token.clone()),
            Some(json!({"prescription_id": w.rx.to_order, "pharmacy_id": w.rx.s.pharmacy})),
        ),
        ("GET", "/api/v1/pharmacy-orders") => {
            (path(template), Some(w.rx.s.pharmacist.token.clone()), None)
        }
        ("GET", "/api/v1/pharmacy-orders/{id}") => (
            format!("/api/v1/pharmacy-orders/{}", w.rx.order),
            Some(w.rx.s.patient.token.clone()),
            None,
        ),
        ("POST", "/api/v1/pharmacy-orders/{id}/transition") => (
            format!("/api/v1/pharmacy-orders/{}/transition", w.rx.order),
            Some(w.rx.s.pharmacist.token.clone()),
            Some(json!({"to": "received"})),
        ),
        ("POST", "/api/v1/insurance-plans") => (
            path(template),
            admin,
            Some(
                json!({"name": "Walk Plan", "payer": "Walkers", "plan_code": format!("WALK-{fresh}")}),
            ),
        ),
        ("PATCH", "/api/v1/insurance-plans/{id}") => (
            format!("/api/v1/insurance-plans/{}", w.bill.d.plan),
            admin,
            Some(json!({"name": "Walked Plan"})),
        ),
        ("POST", "/api/v1/claims") => (
            path(template),
            Some(w.bill.d.clerk.token.clone()),
            Some(
                json!({"patient_id": w.bill.d.patient.pid(), "plan_id": w.bill.d.plan,
                        "member_id": "W-1", "service_date": "2026-10-01",
                        "lines": [{"code": "99213", "description": "Visit",
                                   "amount": crate::billing::usd(100)}]}),
            ),
        ),
        ("GET", "/api/v1/claims") => (path(template), Some(w.bill.d.patient.token.clone()), None),
        ("GET", "/api/v1/claims/{id}") => (
            format!("/api/v1/claims/{}", w.bill.claim),
            Some(w.bill.d.clerk.token.clone()),
            None,
        ),
        ("POST", "/api/v1/claims/{id}/transition") => (
            format!("/api/v1/claims/{}/transition", w.bill.claim),
            Some(w.bill.d.clerk.token.clone()),
            Some(json!({"to": "in_review"})),
        ),
        // `send` adds an Idempotency-Key to this one.
        ("POST", "/api/v1/payments") => (
            path(template),
            Some(w.bill.d.clerk.token.clone()),
            Some(
                json!({"claim_id": w.bill.approved, "amount": crate::billing::usd(100),
                        "method": "card"}),
            ),
        ),
        ("GET", "/api/v1/payments") => (path(template), Some(w.bill.d.patient.token.clone()), None),
        ("GET", "/api/v1/payments/{id}") => (
            format!("/api/v1/payments/{}", w.bill.payment),
            Some(w.bill.d.patient.token.clone()),
            None,
        ),
        ("POST", "/api/v1/invoices") => (
            path(template),
            Some(w.bill.d.clerk.token.clone()),
            Some(json!({"patient_id": w.bill.d.patient.pid(), "currency": "USD"})),
        ),
        ("GET", "/api/v1/invoices") => (path(template), Some(w.bill.d.clerk.token.clone()), None),
        ("GET", "/api/v1/invoices/{id}") => (
            format!("/api/v1/invoices/{}", w.bill.invoice),
            Some(w.bill.d.patient.token.clone()),
            None,
        ),
        ("PATCH", "/api/v1/invoices/{id}") => (
            format!("/api/v1/invoices/{}", w.bill.invoice),
            Some(w.bill.d.clerk.token.clone()),
            Some(json!({"due_date": "2027-06-30"})),
        ),
        ("POST", "/api/v1/invoices/{id}/issue") => (
            format!("/api/v1/invoices/{}/issue", w.bill.to_issue),
            Some(w.bill.d.clerk.token.clone()),
            None,
        ),
        ("POST", "/api/v1/invoices/{id}/void") => (
            format!("/api/v1/invoices/{}/void", w.bill.to_void),
            Some(w.bill.d.clerk.token.clone()),
            None,
        ),
        ("POST", "/api/v1/devices") => (
            path(template),
            Some(w.dev.w.patient.token.clone()),
            Some(
                json!({"kind": "thermometer", "manufacturer": "Walk", "serial_number": format!("T-{fresh}")}),
            ),
        ),
        ("GET", "/api/v1/devices") => (path(template), Some(w.dev.w.doctor.token.clone()), None),
        ("GET", "/api/v1/devices/{id}") => (
            format!("/api/v1/devices/{}", w.dev.w.device),
            Some(w.dev.w.patient.token.clone()),
            None,
        ),
        ("POST", "/api/v1/devices/{id}/rotate-token") => (
            format!("/api/v1/devices/{}/rotate-token", w.dev.w.device),
            Some(w.dev.w.patient.token.clone()),
            None,
        ),
        ("POST", "/api/v1/devices/{id}/revoke") => (
            format!("/api/v1/devices/{}/revoke", w.dev.to_revoke),
            Some(w.dev.w.patient.token.clone()),
            None,
        ),
        ("POST", "/api/v1/devices/{id}/data") => (
            format!("/api/v1/devices/{}/data", w.dev.w.device),
            Some(w.dev.w.patient.token.clone()),
            Some(json!({"readings": [crate::devices::hr(&slot(0, 2), 72.0)]})),
        ),
        ("GET", "/api/v1/devices/{id}/data") => (
            format!("/api/v1/devices/{}/data?metric=heart_rate", w.dev.w.device),
            Some(w.dev.w.doctor.token.clone()),
            None,
        ),
        ("GET", "/api/v1/patients/{id}/monitoring-rules") => (
            format!(
                "/api/v1/patients/{}/monitoring-rules",
                w.dev.w.patient.pid()
            ),
            Some(w.dev.w.patient.token.clone()),
            None,
        ),
        ("PUT", "/api/v1/patients/{id}/monitoring-rules") => (
            format!(
                "/api/v1/patients/{}/monitoring-rules",
                w.dev.w.patient.pid()
            ),
            Some(w.dev.w.doctor.token.clone()),
            Some(json!([{"metric": "spo2", "warning_low": 93, "critical_low": 89}])),
        ),
        ("GET", "/api/v1/remote-monitoring-logs") => {
            (path(template), Some(w.dev.w.doctor.token.clone()), None)
        }
        ("POST", "/api/v1/remote-monitoring-logs/{id}/acknowledge") => (
            format!("/api/v1/remote-monitoring-logs/{}/acknowledge", w.dev.alert),
            Some(w.dev.w.doctor.token.clone()),
            None,
        ),
        ("POST", "/api/v1/messages") => (
            path(template),
            doctor,
            Some(
                json!({"receiver_id": uid, "subject": "Walk", "body": "Walked", "reply_to": w.message}),
            ),
        ),
        ("GET", "/api/v1/messages") => (path(template), doctor, None),
        ("GET", "/api/v1/messages/{id}") => {
            (format!("/api/v1/messages/{}", w.message), patient, None)
        }
        ("POST", "/api/v1/messages/{id}/read") => {
            (format!("/api/v1/messages/{}/read", w.message), doctor, None)
        }
        ("GET", "/api/v1/messages/threads/{thread_id}") => (
            format!("/api/v1/messages/threads/{}", w.message),
            patient,
            None,
        ),
        ("POST", "/api/v1/educational-resources") => (
            path(template),
            admin,
            Some(json!({"title": "Walk", "summary": "Walk.", "body": "Walk.", "category": "walk"})),
        ),
        ("PATCH", "/api/v1/educational-resources/{id}") => (
            format!("/api/v1/educational-resources/{}", w.resource),
            admin,
            Some(json!({"tags": ["walk"]})),
        ),
        ("POST", "/api/v1/patients/{id}/educational-resources") => (
            format!("/api/v1/patients/{pid}/educational-resources"),
            doctor,
            Some(json!({"resource_id": w.resource, "note": "Walk on"})),
        ),
        ("GET", "/api/v1/patients/{id}/educational-resources") => (
            format!("/api/v1/patients/{pid}/educational-resources"),
            patient,
            None,
        ),
        ("POST", "/api/v1/feedback") => (
            path(template),
            patient,
            Some(json!({"rating": 4, "category": "app", "comment": "Walks well"})),
        ),
        ("POST", "/api/v1/surveys") => (
            path(template),
            admin,
            Some(json!({"title": "Walked", "audience": "staff",
                        "questions": [{"text": "Fine?", "kind": "text"}]})),
        ),
        ("PATCH", "/api/v1/surveys/{id}") => (
            format!("/api/v1/surveys/{}", w.survey),
            admin,
            Some(json!({"title": "Walked again"})),
        ),
        ("POST", "/api/v1/surveys/{id}/responses") => (
            format!("/api/v1/surveys/{}/responses", w.survey),
            patient,
            Some(json!({"answers": {"q1": 4}})),
        ),
        _ => return None,
    })
}

/// Audit entries written under one request id.
async fn entries_of(app: &TestApp, request_id: &str) -> Vec<Value> {
    app.get(
        &format!("/audit-logs?request_id={request_id}"),
        &app.admin_token,
    )
    .await
    .expect(200)
    .items()
}

/// Sends one request with a chosen request id; a stream is dropped once its headers arrive.
async fn send(
    app: &TestApp,
    method: Method,
    path: &str,
    token: Option<&str>,
    body: Option<Value>,
    request_id: &str,
) -> u16 {
    let mut req = app
        .client
        .request(method.clone(), app.url(path))
        .header("x-request-id", request_id);
    if let Some(t) = token {
        req = req.bearer_auth(t);
    }
    if let Some(b) = body {
        req = req.json(&b);
    }
    if method == Method::POST && path == "/api/v1/payments" {
        req = req.header("idempotency-key", format!("walk-{request_id}"));
    }
    if method == Method::PUT && path.ends_with("/content") {
        req = req.header("content-type", "image/png").body(png());
    }
    if path.ends_with("/ws") {
        // The chat socket answers a WebSocket handshake (101), nothing else.
        req = req
            .header("connection", "upgrade")
            .header("upgrade", "websocket")
            .header("sec-websocket-version", "13")
            .header("sec-websocket-key", "dGhlIHNhbXBsZSBub25jZQ==");
    }
    req.send().await.expect("request sent").status().as_u16()
}

/// Every audited operation, called the way it succeeds, writes at least one entry under its
/// request id; every operation states its access, as its `security` shows.
async fn every_route_writes_its_audit_entry(app: &TestApp) {
    let ops = operations(app).await;
    let w = world(app).await;
    let mut missing = Vec::new();
    let mut unaudited = Vec::new();
    for (n, op) in ops.iter().enumerate() {
        security_matches(op);
        if !op.audited {
            continue;
        }
        let Some((path, token, body)) = request(app, &w, &op.method, &op.path) else {
            missing.push(format!("{} {}", op.method, op.path));
            continue;
        };
        let rid = format!("walk-{}-{n}", unique());
        if op.method == Method::GET && !op.path.ends_with("/stream") && !op.path.ends_with("/ws") {
            // A HEAD is the GET it stands for, under the same rule.
            let head = send(app, Method::HEAD, &path, token.as_deref(), None, "head").await;
            assert!(head < 300, "HEAD {path}: {head}");
        }
        let status = send(app, op.method.clone(), &path, token.as_deref(), body, &rid).await;
        assert!(status < 300, "{} {path}: {status}", op.method);
        if entries_of(app, &rid).await.is_empty() {
            unaudited.push(format!("{} {}", op.method, op.path));
        }
    }
    assert!(
        missing.is_empty(),
        "no request in the walk for: {missing:#?}"
    );
    assert!(unaudited.is_empty(), "wrote no audit entry: {unaudited:#?}");
}

/// A caller whose roles hold every permission but the one a route states gets 403, audited as
/// a denial, before anything else happens; without a token every non-public route is 401.
async fn every_route_enforces_its_stated_permission(app: &TestApp) {
    let ops = operations(app).await;
    let all: Vec<String> = app
        .get("/permissions", &app.admin_token)
        .await
        .expect(200)
        .items()
        .iter()
        .map(|p| p["name"].as_str().unwrap().to_string())
        .collect();
    let mut without: HashMap<String, Actor> = HashMap::new();
    let mut refused = BTreeMap::new();
    for (n, op) in ops.iter().enumerate() {
        let path = op
            .path
            .split('/')
            .map(|seg| match seg {
                "{kind}" => "telemedicine".to_string(),
                s if s.starts_with('{') => uuid::Uuid::now_v7().to_string(),
                s => s.to_string(),
            })
            .collect::<Vec<_>>()
            .join("/");
        match op.access.as_str() {
            "public" => continue,
            "signed_in" => {
                let status = send(app, op.method.clone(), &path, None, None, "anon").await;
                assert_eq!(status, 401, "{} {}", op.method, op.path);
            }
            perm => {
                if !without.contains_key(perm) {
                    let name = format!("all_but_{}", perm.replace([':', '.'], "_"));
                    let perms: Vec<&String> = all.iter().filter(|p| *p != perm).collect();
                    app.post(
                        "/roles",
                        &app.admin_token,
                        json!({"name": name, "description": "all but one", "permissions": perms}),
                    )
                    .await
                    .expect(201);
                    without.insert(perm.to_string(), app.staff(&name).await);
                }
                let caller = &without[perm];
                let rid = format!("deny-{}-{n}", unique());
                let status = send(
                    app,
                    op.method.clone(),
                    &path,
                    Some(&caller.token),
                    Some(json!({})),
                    &rid,
                )
                .await;
                assert_eq!(status, 403, "{} {} without {perm}", op.method, op.path);
                let entries = entries_of(app, &rid).await;
                assert!(
                    entries.iter().any(
                        |e| e["outcome"] == "denied" && e["user_id"] == caller.user_id.as_str()
                    ),
                    "{} {}: the refusal was not audited: {entries:?}",
                    op.method,
                    op.path
                );
                refused.insert(format!("{} {}", op.method, op.path), perm.to_string());
            }
        }
    }
    assert!(
        refused.len() > 25,
        "most routes state a permission: {refused:#?}"
    );
}

/// What the route table answers a caller whose roles lack the stated permission.
const ROUTE_REFUSAL: &str = "your role may not perform this action";

/// Objects of no patient (catalogues, directories, staff objects, surveys): who reaches them is
/// their rule's, not the patient compartment's. Every other object a path names is some
/// patient's (or some user's), and a patient reaches only their own.
const SHARED_RESOURCES: &[&str] = &[
    "consent_form",
    "doctor",
    "educational_resource",
    "insurance_plan",
    "medication",
    "pharmacy",
    "role",
    "survey",
    "survey_response",
];

/// Objects that only their parties reach, admins included (portal messages: DECISIONS,
/// "Patient portal").
const PARTIES_ONLY: &[&str] = &["message"];

/// Operations whose rule refuses the patient role although it holds the route's permission:
/// a patient gets 403 on their own object and on anyone else's alike (DECISIONS, "403 vs
/// 404": the role may not do this at all).
const PATIENT_MAY_NOT: &[(&str, &str)] = &[("POST", "/api/v1/patients/{id}/educational-resources")];

/// A cell of the matrix: what a caller should get.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Expect {
    /// 403 from the route table, audited as a denial: the role lacks the permission.
    Refused,
    /// 404: another patient's object, outside a patient's compartment (or a private message,
    /// outside an admin's).
    NotFound,
    /// 403 from the operation's rule (`PATIENT_MAY_NOT`).
    RuleRefused,
    /// A 2xx: a patient reading their own object, an admin reading anyone's.
    Success,
    /// Past the route table: whatever the rule answers, but not 401 and not its refusal.
    Passes,
}

/// Sends one request; answers the status and the problem's detail, if any.
async fn answer(
    app: &TestApp,
    method: Method,
    path: &str,
    token: &str,
    body: Option<Value>,
    request_id: &str,
) -> (u16, String) {
    let mut req = app
        .client
        .request(method.clone(), app.url(path))
        .bearer_auth(token)
        .header("x-request-id", request_id);
    if let Some(b) = body {
        req = req.json(&b);
    }
    if method == Method::POST && path == "/api/v1/payments" {
        req = req.header("idempotency-key", format!("matrix-{request_id}"));
    }
    if method == Method::PUT && path.ends_with("/content") {
        req = req.header("content-type", "image/png").body(png());
    }
    if path.ends_with("/ws") {
        req = req
            .header("connection", "upgrade")
            .header("upgrade", "websocket")
            .header("sec-websocket-version", "13")
            .header("sec-websocket-key", "dGhlIHNhbXBsZSBub25jZQ==");
    }
    let resp = req.send().await.expect("request sent");
    let status = resp.status().as_u16();
    let text = resp.text().await.unwrap_or_default();
    let detail = serde_json::from_str::<Value>(&text)
        .ok()
        .and_then(|v| v["detail"].as_str().map(str::to_string))
        .unwrap_or_default();
    (status, detail)
}

/// The access matrix, generated from the route table: every operation × every built-in role,
/// and for a patient their own object and another patient's. What each cell should get follows
/// from the operation's stated access (`x-access`), the role's permissions (`GET /roles`) and
/// the patient compartment: a role without the permission gets the route table's 403, audited;
/// a patient holding it gets 404 on another patient's object and, reading their own, a 2xx;
/// any other caller holding it gets past the route table. A route added without its rule, or
/// whose object escapes the compartment, fails here.
async fn access_matrix(app: &TestApp) {
    let ops = operations(app).await;
    let w = world(app).await;
    let roles = app.get("/roles", &app.admin_token).await.expect(200).body;
    let roles = roles.get("items").unwrap_or(&roles).clone();
    let perms_of = |role: &str| -> Vec<String> {
        roles
            .as_array()
            .expect("roles")
            .iter()
            .find(|r| r["name"] == role)
            .unwrap_or_else(|| panic!("built-in role {role}"))["permissions"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| p.as_str().unwrap().to_string())
            .collect()
    };
    // One caller per built-in role; the patient column is an outsider to every object of the
    // world (the world's own patients are the "own" column).
    let outsider = app.patient("Outsider").await;
    let mut callers: Vec<(&str, String, String)> = vec![
        ("admin", app.admin_token.clone(), String::new()),
        ("doctor", w.doctor.token.clone(), w.doctor.user_id.clone()),
        ("patient", outsider.token.clone(), outsider.user_id.clone()),
    ];
    for role in ["pharmacist", "lab_technician", "billing", "auditor"] {
        let a = app.staff(role).await;
        callers.push((role, a.token, a.user_id));
    }
    let patients: Vec<&Actor> = vec![
        &w.patient,
        &w.visit.patient,
        &w.fresh_visit.patient,
        &w.rx.s.patient,
        &w.bill.d.patient,
        &w.dev.w.patient,
        &w.spare,
    ];
    let mut wrong = Vec::new();
    let mut cells = 0;
    let mut shape: BTreeMap<String, usize> = BTreeMap::new();
    // Two passes: first the cells that change nothing when the server is right (refusals,
    // other patients' objects) and a patient's own requests; then the callers that get past
    // the route table, whose writes send a body the operation refuses (422) or, for an
    // operation without a body, act.
    for pass in [1, 2] {
        for (n, op) in ops.iter().enumerate() {
            if op.access == "public" || op.path.ends_with("/auth/logout") {
                continue;
            }
            let key = (op.method.as_str(), op.path.as_str());
            let designated = request(app, &w, &op.method, &op.path);
            let (path, body) = match &designated {
                Some((p, _, b)) => (p.clone(), b.clone()),
                None => (
                    op.path
                        .split('/')
                        .map(|seg| match seg {
                            "{kind}" => "telemedicine".to_string(),
                            s if s.starts_with('{') => uuid::Uuid::now_v7().to_string(),
                            s => s.to_string(),
                        })
                        .collect::<Vec<_>>()
                        .join("/"),
                    None,
                ),
            };
            let resource = op_resource(app, op).await;
            let patient_object =
                op.path.contains('{') && !SHARED_RESOURCES.contains(&resource.as_str());
            let stream = op.path.ends_with("/stream") || op.path.ends_with("/ws");
            // The patient's own object: where the operation's own request is a patient's.
            let own = designated
                .as_ref()
                .and_then(|(_, t, _)| t.as_ref())
                .and_then(|t| patients.iter().find(|p| &p.token == t));
            if pass == 1 && !stream {
                if let Some(p) = own.filter(|_| op.access != "signed_in" || patient_object) {
                    let holds =
                        op.access == "signed_in" || perms_of("patient").contains(&op.access);
                    let want = if !holds {
                        Expect::Refused
                    } else if PATIENT_MAY_NOT.contains(&key) {
                        Expect::RuleRefused
                    } else {
                        Expect::Success
                    };
                    let rid = format!("matrix-{}-{n}-own", unique());
                    let got =
                        answer(app, op.method.clone(), &path, &p.token, body.clone(), &rid).await;
                    cells += 1;
                    *shape.entry(format!("own {want:?}")).or_insert(0) += 1;
                    if let Some(e) = judge(app, want, got, &rid, &p.user_id).await {
                        wrong.push(format!("{} {} own patient: {e}", op.method, op.path));
                    }
                }
            }
            for (role, token, user_id) in &callers {
                let holds = op.access == "signed_in" || perms_of(role).contains(&op.access);
                let want = if !holds {
                    Expect::Refused
                } else if *role == "patient" && patient_object && PATIENT_MAY_NOT.contains(&key) {
                    Expect::RuleRefused
                } else if patient_object
                    && (*role == "patient"
                        || (*role == "admin" && PARTIES_ONLY.contains(&resource.as_str())))
                {
                    Expect::NotFound
                } else if *role == "admin"
                    && patient_object
                    && op.method == Method::GET
                    && designated.is_some()
                    && !stream
                {
                    // An admin reaches every patient: every read of the world's objects.
                    Expect::Success
                } else {
                    Expect::Passes
                };
                let first_pass = matches!(
                    want,
                    Expect::Refused | Expect::NotFound | Expect::RuleRefused | Expect::Success
                );
                if first_pass != (pass == 1) || (stream && want == Expect::Passes) {
                    continue;
                }
                // Past the route table a write gets a body it refuses, so that the matrix
                // changes nothing the next cells need.
                let body = match (want, op.method.as_str()) {
                    (Expect::Passes, "POST" | "PUT" | "PATCH") if body.is_some() => {
                        Some(json!({"matrix_probe": true}))
                    }
                    (Expect::Passes, _) => None,
                    _ => body.clone(),
                };
                let rid = format!("matrix-{}-{n}-{role}", unique());
                let got = answer(app, op.method.clone(), &path, token, body, &rid).await;
                cells += 1;
                *shape.entry(format!("{want:?}")).or_insert(0) += 1;
                if let Some(e) = judge(app, want, got, &rid, user_id).await {
                    wrong.push(format!("{} {} as {role}: {e}", op.method, op.path));
                }
            }
        }
    }
    eprintln!("access matrix: {cells} cells: {shape:?}");
    assert!(
        wrong.is_empty(),
        "{} of {cells} cells wrong: {wrong:#?}",
        wrong.len()
    );
    assert!(cells > 1000, "the matrix has {cells} cells");
}

/// The audit resource an operation states.
async fn op_resource(app: &TestApp, op: &Op) -> String {
    static DOC: tokio::sync::OnceCell<Value> = tokio::sync::OnceCell::const_new();
    let doc = DOC
        .get_or_init(|| async {
            app.call(Method::GET, "/openapi.json", None, None, &[])
                .await
                .expect(200)
                .body
        })
        .await;
    doc["paths"][&op.path][op.method.as_str().to_lowercase()]["x-audit-resource"]
        .as_str()
        .unwrap_or_default()
        .to_string()
}

/// Why a cell's answer is wrong, if it is.
async fn judge(
    app: &TestApp,
    want: Expect,
    (status, detail): (u16, String),
    request_id: &str,
    user_id: &str,
) -> Option<String> {
    let refused = status == 403 && detail == ROUTE_REFUSAL;
    let ok = match want {
        Expect::Refused => refused,
        Expect::NotFound => status == 404,
        Expect::RuleRefused => status == 403 && !refused,
        Expect::Success => (200..300).contains(&status),
        Expect::Passes => status != 401 && !refused && status < 500,
    };
    if !ok {
        return Some(format!("want {want:?}, got {status} {detail}"));
    }
    if want == Expect::Refused && !user_id.is_empty() {
        let entries = entries_of(app, request_id).await;
        let audited = entries
            .iter()
            .any(|e| e["outcome"] == "denied" && e["user_id"] == user_id);
        if !audited {
            return Some(format!("the refusal was not audited: {entries:?}"));
        }
    }
    None
}

both_backends!(
    every_route_writes_its_audit_entry,
    every_route_enforces_its_stated_permission,
    access_matrix,
);
