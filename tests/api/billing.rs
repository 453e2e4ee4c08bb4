//! Insurance and billing: exact money, claims and their review, payments that are never doubled
//! or overdrawn (also concurrently), invoices with sequential numbers, and who reaches them.

use std::collections::BTreeSet;

use reqwest::Method;
use serde_json::{json, Value};

use crate::clinical::*;
use crate::common::*;

pub fn usd(minor: i64) -> Value {
    json!({"amount_minor": minor, "currency": "USD"})
}

/// An active plan (admin), a billing clerk, a patient.
pub struct Desk {
    pub plan: String,
    pub clerk: Actor,
    pub patient: Actor,
}

pub async fn desk(app: &TestApp, name: &str) -> Desk {
    let plan = app
        .post(
            "/insurance-plans",
            &app.admin_token,
            json!({"name": format!("{name} Gold"), "payer": "Acme Health",
                   "plan_code": format!("ACME-{}", unique())}),
        )
        .await
        .expect(201)
        .id();
    Desk {
        plan,
        clerk: app.staff("billing").await,
        patient: app.patient(name).await,
    }
}

pub async fn claim(app: &TestApp, d: &Desk, amounts: &[i64]) -> Resp {
    let lines: Vec<Value> = amounts
        .iter()
        .enumerate()
        .map(|(i, a)| json!({"code": format!("9921{i}"), "description": "Office visit", "amount": usd(*a)}))
        .collect();
    app.post(
        "/claims",
        &d.clerk.token,
        json!({"patient_id": d.patient.pid(), "plan_id": d.plan, "member_id": "M-1",
               "service_date": "2026-11-01", "lines": lines}),
    )
    .await
}

async fn go(app: &TestApp, token: &str, claim: &str, body: Value) -> Resp {
    app.post(&format!("/claims/{claim}/transition"), token, body)
        .await
}

/// A claim approved for `approved` minor units.
pub async fn approved_claim(app: &TestApp, d: &Desk, total: i64, approved: i64) -> String {
    let id = claim(app, d, &[total]).await.expect(201).id();
    go(app, &d.clerk.token, &id, json!({"to": "in_review"}))
        .await
        .expect(200);
    go(
        app,
        &d.clerk.token,
        &id,
        json!({"to": "approved", "approved_amount": usd(approved)}),
    )
    .await
    .expect(200);
    id
}

pub async fn pay(app: &TestApp, token: &str, body: Value, key: Option<&str>) -> Resp {
    let mut headers = Vec::new();
    if let Some(k) = key {
        headers.push(("idempotency-key", k));
    }
    app.call(Method::POST, "/payments", Some(token), Some(body), &headers)
        .await
}

async fn money_is_exact(app: &TestApp) {
    let d = desk(app, "Mona").await;
    let c = claim(app, &d, &[1999, 1]).await.expect(201);
    assert_eq!(c.body["total"], usd(2000));
    assert_eq!(c.body["lines"][0]["amount"], usd(1999));
    assert_eq!(c.body["paid_amount"], usd(0));
    // Mixed currencies, fractions, negatives, overflow: 422 (or 400 for a body that is not
    // the type), nothing written.
    let bad = |lines: Value| {
        let body = json!({"patient_id": d.patient.pid(), "plan_id": d.plan, "member_id": "M-1",
                          "service_date": "2026-11-01", "lines": lines});
        let token = d.clerk.token.clone();
        async move { app.post("/claims", &token, body).await }
    };
    let r = bad(
        json!([{"code": "99213", "description": "a", "amount": usd(100)},
                       {"code": "99214", "description": "b",
                        "amount": {"amount_minor": 100, "currency": "EUR"}}]),
    )
    .await
    .problem(422);
    assert!(r.text.contains("currenc"), "{r:?}");
    let r = bad(json!([{"code": "99213", "description": "a",
                        "amount": {"amount_minor": 19.99, "currency": "USD"}}]))
    .await;
    assert!(r.status == 422 || r.status == 400, "{r:?}");
    bad(json!([{"code": "99213", "description": "a", "amount": usd(-5)}]))
        .await
        .problem(422);
    bad(json!([{"code": "99213", "description": "a",
                "amount": {"amount_minor": 100, "currency": "usd"}}]))
    .await
    .problem(422);
    let r = bad(
        json!([{"code": "99213", "description": "a", "amount": usd(i64::MAX)},
                       {"code": "99214", "description": "b", "amount": usd(1)}]),
    )
    .await
    .problem(422);
    assert!(r.text.contains("too large"), "{r:?}");
    bad(json!([])).await.problem(422);
    let claims = app
        .get(
            &format!("/claims?patient_id={}", d.patient.pid()),
            &d.clerk.token,
        )
        .await
        .expect(200)
        .items();
    assert_eq!(claims.len(), 1, "nothing half-written");
    // The OpenAPI document has one money type, reused.
    let doc = app
        .call(Method::GET, "/openapi.json", None, None, &[])
        .await
        .expect(200)
        .body;
    let money = &doc["components"]["schemas"]["Money"];
    assert_eq!(
        money["properties"]["amount_minor"]["type"], "integer",
        "{money}"
    );
    let claim_schema = doc["components"]["schemas"]["Claim"].to_string();
    assert!(
        claim_schema.contains("#/components/schemas/Money"),
        "{claim_schema}"
    );
}

async fn claims_are_reviewed(app: &TestApp) {
    let d = desk(app, "Cleo").await;
    let id = claim(app, &d, &[12000, 3000]).await.expect(201).id();
    assert!(notifications(app, &d.patient.token)
        .await
        .iter()
        .any(|n| n["kind"] == "claim_status" && n["resource_id"] == id.as_str()));
    go(
        app,
        &d.clerk.token,
        &id,
        json!({"to": "approved", "approved_amount": usd(100)}),
    )
    .await
    .problem(409);
    go(app, &d.clerk.token, &id, json!({"to": "in_review"}))
        .await
        .expect(200);
    go(app, &d.clerk.token, &id, json!({"to": "approved"}))
        .await
        .problem(422);
    go(
        app,
        &d.clerk.token,
        &id,
        json!({"to": "approved", "approved_amount": usd(15001)}),
    )
    .await
    .problem(422);
    go(
        app,
        &d.clerk.token,
        &id,
        json!({"to": "approved", "approved_amount": {"amount_minor": 100, "currency": "EUR"}}),
    )
    .await
    .problem(422);
    let ok = go(
        app,
        &d.clerk.token,
        &id,
        json!({"to": "approved", "approved_amount": usd(13500)}),
    )
    .await
    .expect(200);
    assert_eq!(ok.body["approved_amount"], usd(13500));
    // Paid only through payments.
    go(app, &d.clerk.token, &id, json!({"to": "paid"}))
        .await
        .problem(403);
    let n = notifications(app, &d.patient.token).await;
    assert!(
        n.iter().filter(|n| n["kind"] == "claim_status").count() >= 3,
        "{n:?}"
    );
    // Denial needs a reason.
    let other = claim(app, &d, &[5000]).await.expect(201).id();
    go(app, &d.clerk.token, &other, json!({"to": "in_review"}))
        .await
        .expect(200);
    go(app, &d.clerk.token, &other, json!({"to": "denied"}))
        .await
        .problem(422);
    let denied = go(
        app,
        &d.clerk.token,
        &other,
        json!({"to": "denied", "denial_reason": "Not covered by the plan"}),
    )
    .await
    .expect(200);
    assert_eq!(denied.body["denial_reason"], "Not covered by the plan");
    go(app, &d.clerk.token, &other, json!({"to": "in_review"}))
        .await
        .problem(409);
    // An inactive plan takes no claim; plans are an admin's.
    app.patch(
        &format!("/insurance-plans/{}", d.plan),
        &d.clerk.token,
        json!({"active": false}),
    )
    .await
    .problem(403);
    app.patch(
        &format!("/insurance-plans/{}", d.plan),
        &app.admin_token,
        json!({"active": false}),
    )
    .await
    .expect(200);
    claim(app, &d, &[100]).await.problem(409);
    let plans = app
        .get("/insurance-plans", &d.patient.token)
        .await
        .expect(200)
        .items();
    assert!(plans.iter().any(|p| p["id"] == d.plan.as_str()));
}

async fn payments_are_never_doubled_or_overdrawn(app: &TestApp) {
    let d = desk(app, "Paul").await;
    let id = approved_claim(app, &d, 2000, 1500).await;
    let body = |minor: i64| json!({"claim_id": id, "amount": usd(minor), "method": "insurer"});
    pay(app, &d.clerk.token, body(1000), None)
        .await
        .problem(400);
    // A dangling reference is 409.
    pay(
        app,
        &d.clerk.token,
        json!({"claim_id": uuid::Uuid::now_v7().to_string(), "amount": usd(1), "method": "card"}),
        Some("pay-ghost"),
    )
    .await
    .problem(409);
    let first = pay(app, &d.clerk.token, body(1000), Some("pay-1"))
        .await
        .expect(201);
    let again = pay(app, &d.clerk.token, body(1000), Some("pay-1"))
        .await
        .expect(201);
    assert_eq!(
        first.id(),
        again.id(),
        "the same key returns the first payment"
    );
    pay(app, &d.clerk.token, body(900), Some("pay-1"))
        .await
        .problem(422);
    let over = pay(app, &d.clerk.token, body(600), Some("pay-2"))
        .await
        .problem(409);
    assert!(over.text.contains("more than"), "{over:?}");
    pay(
        app,
        &d.clerk.token,
        json!({"claim_id": id, "amount": {"amount_minor": 5, "currency": "EUR"}, "method": "card"}),
        Some("pay-3"),
    )
    .await
    .problem(422);
    pay(
        app,
        &d.clerk.token,
        json!({"claim_id": id, "invoice_id": id, "amount": usd(1), "method": "card"}),
        Some("pay-4"),
    )
    .await
    .problem(422);
    pay(app, &d.clerk.token, body(500), Some("pay-5"))
        .await
        .expect(201);
    let c = app
        .get(&format!("/claims/{id}"), &d.patient.token)
        .await
        .expect(200);
    assert_eq!(c.body["status"], "paid");
    assert_eq!(c.body["paid_amount"], usd(1500));
    let mine = app
        .get(&format!("/payments?claim_id={id}"), &d.patient.token)
        .await
        .expect(200)
        .items();
    assert_eq!(mine.len(), 2, "{mine:?}");
    assert!(notifications(app, &d.patient.token)
        .await
        .iter()
        .any(|n| n["kind"] == "payment_received"));
    pay(app, &d.clerk.token, body(1), Some("pay-6"))
        .await
        .problem(409);
    // Ten payments of 300 at once on 1000 approved: three go through, the rest are refused.
    let id = approved_claim(app, &d, 1000, 1000).await;
    let keys: Vec<String> = (0..10).map(|i| format!("race-{i}")).collect();
    let results = futures::future::join_all(keys.iter().map(|k| {
        pay(
            app,
            &d.clerk.token,
            json!({"claim_id": id, "amount": usd(300), "method": "insurer"}),
            Some(k),
        )
    }))
    .await;
    let ok = results.iter().filter(|r| r.status == 201).count();
    let refused = results.iter().filter(|r| r.status == 409).count();
    assert_eq!((ok, refused), (3, 7), "{results:?}");
    let c = app
        .get(&format!("/claims/{id}"), &d.clerk.token)
        .await
        .expect(200);
    assert_eq!(c.body["paid_amount"], usd(900));
    assert_eq!(c.body["status"], "approved");
    // One key sent ten times at once: one payment.
    let same = futures::future::join_all((0..10).map(|_| {
        pay(
            app,
            &d.clerk.token,
            json!({"claim_id": id, "amount": usd(100), "method": "insurer"}),
            Some("one-key"),
        )
    }))
    .await;
    let ids: BTreeSet<String> = same
        .iter()
        .map(|r| {
            assert_eq!(r.status, 201, "{r:?}");
            r.id()
        })
        .collect();
    assert_eq!(ids.len(), 1);
    let c = app
        .get(&format!("/claims/{id}"), &d.clerk.token)
        .await
        .expect(200);
    assert_eq!(c.body["paid_amount"], usd(1000));
    assert_eq!(c.body["status"], "paid");
}

async fn invoices_are_numbered_and_guarded(app: &TestApp) {
    let d = desk(app, "Ivy").await;
    let new = |lines: Value| {
        let body = json!({"patient_id": d.patient.pid(), "currency": "USD", "lines": lines,
                          "due_date": "2027-01-31"});
        let token = d.clerk.token.clone();
        async move { app.post("/invoices", &token, body).await }
    };
    let a = new(
        json!([{"description": "Consultation", "quantity": 2, "unit_amount": usd(7550)},
                       {"description": "Lab fee", "quantity": 1, "unit_amount": usd(1299)}]),
    )
    .await
    .expect(201);
    assert_eq!(a.body["status"], "draft");
    assert_eq!(a.body["lines"][0]["amount"], usd(15100));
    assert_eq!(a.body["total"], usd(16399));
    new(json!([{"description": "x", "quantity": 1,
                "unit_amount": {"amount_minor": 1, "currency": "EUR"}}]))
    .await
    .problem(422);
    new(json!([{"description": "x", "quantity": 0, "unit_amount": usd(1)}]))
        .await
        .problem(422);
    // Numbers: sequential, also when drafted at once.
    let drafted = futures::future::join_all((0..8).map(|_| new(json!([])))).await;
    let mut numbers: Vec<i64> = drafted
        .iter()
        .map(|r| {
            assert_eq!(r.status, 201, "{r:?}");
            r.body["number"].as_i64().unwrap()
        })
        .collect();
    numbers.push(a.body["number"].as_i64().unwrap());
    numbers.sort();
    let distinct: BTreeSet<i64> = numbers.iter().copied().collect();
    assert_eq!(distinct.len(), numbers.len(), "{numbers:?}");
    assert_eq!(numbers.last().unwrap() - numbers[0], 8, "{numbers:?}");
    // Edits while draft, with If-Match.
    let id = a.id();
    let path = format!("/invoices/{id}");
    let stale = app
        .call(
            Method::PATCH,
            &path,
            Some(&d.clerk.token),
            Some(json!({"due_date": "2027-02-28"})),
            &[("if-match", "\"5\"")],
        )
        .await;
    assert_eq!(stale.status, 412);
    let edited = app
        .call(
            Method::PATCH,
            &path,
            Some(&d.clerk.token),
            Some(json!({"lines": [{"description": "Consultation", "quantity": 1, "unit_amount": usd(7550)}]})),
            &[("if-match", "\"1\"")],
        )
        .await
        .expect(200);
    assert_eq!(edited.body["total"], usd(7550));
    // An empty draft is not issued; this one is, and the patient is told.
    let empty = drafted[0].id();
    app.post(
        &format!("/invoices/{empty}/issue"),
        &d.clerk.token,
        json!({}),
    )
    .await
    .problem(409);
    let issued = app
        .post(&format!("{path}/issue"), &d.clerk.token, json!({}))
        .await
        .expect(200);
    assert_eq!(issued.body["status"], "issued");
    assert!(!issued.body["issued_at"].is_null());
    assert!(notifications(app, &d.patient.token)
        .await
        .iter()
        .any(|n| n["kind"] == "invoice_issued"));
    app.patch(&path, &d.clerk.token, json!({"due_date": "2027-03-01"}))
        .await
        .problem(409);
    // A draft is not paid; an issued one is, and once paid in full it is `paid`.
    pay(
        app,
        &d.clerk.token,
        json!({"invoice_id": empty, "amount": usd(1), "method": "cash"}),
        Some("inv-draft"),
    )
    .await
    .problem(409);
    pay(
        app,
        &d.clerk.token,
        json!({"invoice_id": id, "amount": usd(50), "method": "card"}),
        Some("inv-1"),
    )
    .await
    .expect(201);
    // Paid in part: no void.
    app.post(&format!("{path}/void"), &d.clerk.token, json!({}))
        .await
        .problem(409);
    pay(
        app,
        &d.clerk.token,
        json!({"invoice_id": id, "amount": usd(7500), "method": "card"}),
        Some("inv-2"),
    )
    .await
    .expect(201);
    let paid = app.get(&path, &d.patient.token).await.expect(200);
    assert_eq!(paid.body["status"], "paid");
    assert_eq!(paid.body["paid_amount"], usd(7550));
    // Void: a draft, or issued without payments; its number is never handed out again.
    let voided = app
        .post(
            &format!("/invoices/{empty}/void"),
            &d.clerk.token,
            json!({}),
        )
        .await
        .expect(200);
    assert_eq!(voided.body["status"], "void");
    let next = new(json!([])).await.expect(201);
    assert_eq!(
        next.body["number"].as_i64().unwrap(),
        numbers.last().unwrap() + 1
    );
}

/// Billing staff: every patient's demographics and billing objects, no clinical data. Doctors:
/// no billing objects. Patients: their own.
async fn who_reaches_billing(app: &TestApp) {
    let d = desk(app, "Bea").await;
    let claim_id = claim(app, &d, &[5000]).await.expect(201).id();
    let invoice = app
        .post(
            "/invoices",
            &d.clerk.token,
            json!({"patient_id": d.patient.pid(), "currency": "USD",
                   "lines": [{"description": "Visit", "quantity": 1, "unit_amount": usd(4000)}]}),
        )
        .await
        .expect(201)
        .id();
    let doctor = app.doctor("Billless", "family medicine").await;
    book(
        app,
        &doctor.token,
        d.patient.pid(),
        doctor.did(),
        &slot(1, 60),
        &slot(1, 90),
    )
    .await
    .expect(201);
    // Billing staff.
    app.get(&format!("/patients/{}", d.patient.pid()), &d.clerk.token)
        .await
        .expect(200);
    app.get("/patients", &d.clerk.token).await.expect(200);
    app.get("/medical-records", &d.clerk.token)
        .await
        .problem(403);
    app.get("/appointments", &d.clerk.token).await.problem(403);
    app.get(
        &format!("/patients/{}/care-team", d.patient.pid()),
        &d.clerk.token,
    )
    .await
    .problem(404);
    // Doctors: none, even on the care team.
    for path in ["/claims", "/invoices", "/payments"] {
        app.get(path, &doctor.token).await.problem(403);
    }
    app.get(&format!("/claims/{claim_id}"), &doctor.token)
        .await
        .problem(403);
    // The patient: their own; another patient: nothing.
    app.get(&format!("/claims/{claim_id}"), &d.patient.token)
        .await
        .expect(200);
    app.get(&format!("/invoices/{invoice}"), &d.patient.token)
        .await
        .expect(200);
    let own = app
        .get("/claims", &d.patient.token)
        .await
        .expect(200)
        .items();
    assert_eq!(own.len(), 1);
    let other = app.patient("Nosy").await;
    app.get(&format!("/claims/{claim_id}"), &other.token)
        .await
        .problem(404);
    app.get(&format!("/invoices/{invoice}"), &other.token)
        .await
        .problem(404);
    assert!(app
        .get(
            &format!("/claims?patient_id={}", d.patient.pid()),
            &other.token
        )
        .await
        .expect(200)
        .items()
        .is_empty());
    // Patients read, never write.
    claim_as(app, &d.patient.token, &d).await.problem(403);
    for role in ["pharmacist", "lab_technician", "auditor"] {
        let staff = app.staff(role).await;
        app.get("/claims", &staff.token).await.problem(403);
        app.get("/invoices", &staff.token).await.problem(403);
    }
    // No hard deletes.
    assert_eq!(
        app.delete(&format!("/claims/{claim_id}"), &app.admin_token)
            .await
            .status,
        405
    );
    let items = audit_until(app, &format!("patient_id={}", d.patient.pid()), |items| {
        has_entry(
            items,
            "create",
            "insurance_claim",
            Some(&claim_id),
            "success",
        ) && has_entry(items, "read", "insurance_claim", Some(&claim_id), "success")
            && has_entry(items, "create", "invoice", Some(&invoice), "success")
    })
    .await;
    assert!(!items.is_empty());
}

async fn claim_as(app: &TestApp, token: &str, d: &Desk) -> Resp {
    app.post(
        "/claims",
        token,
        json!({"patient_id": d.patient.pid(), "plan_id": d.plan, "member_id": "M-1",
               "service_date": "2026-11-01",
               "lines": [{"code": "99213", "description": "Visit", "amount": usd(100)}]}),
    )
    .await
}

both_backends!(
    money_is_exact,
    claims_are_reviewed,
    payments_are_never_doubled_or_overdrawn,
    invoices_are_numbered_and_guarded,
    who_reaches_billing,
);
