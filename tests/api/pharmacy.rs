//! Pharmacy: the catalogue, pharmacies and their staff, prescriptions and their fills, orders
//! with `Idempotency-Key`, and the pharmacist's reach.

use reqwest::Method;
use serde_json::{json, Value};

use crate::clinical::*;
use crate::common::*;

/// A patient, their doctor (on the care team through an appointment), a medication, and a
/// pharmacy with one pharmacist.
pub struct Setup {
    pub patient: Actor,
    pub doctor: Actor,
    pub pharmacist: Actor,
    pub pharmacy: String,
    pub medication: String,
}

pub async fn pharmacy_with_pharmacist(app: &TestApp, name: &str) -> (String, Actor) {
    let pharmacy = app
        .post(
            "/pharmacies",
            &app.admin_token,
            json!({"name": format!("{name} Pharmacy"), "address": "1 Main St",
                   "phone": "+1 555 0199", "email": "rx@example.test"}),
        )
        .await
        .expect(201)
        .id();
    let pharmacist = app.staff("pharmacist").await;
    app.post(
        &format!("/pharmacies/{pharmacy}/staff"),
        &app.admin_token,
        json!({"user_id": pharmacist.user_id}),
    )
    .await
    .expect(201);
    (pharmacy, pharmacist)
}

pub async fn setup(app: &TestApp, name: &str) -> Setup {
    let patient = app.patient(name).await;
    let doctor = app.doctor(&format!("{name}Doc"), "family medicine").await;
    book(
        app,
        &doctor.token,
        patient.pid(),
        doctor.did(),
        &slot(1, 60),
        &slot(1, 90),
    )
    .await
    .expect(201);
    let (pharmacy, pharmacist) = pharmacy_with_pharmacist(app, name).await;
    let medication = app
        .post(
            "/medications",
            &app.admin_token,
            json!({"name": format!("Amlodipine {name}"), "code": format!("{}", 100_000 + unique_number()),
                   "form": "tablet", "strength": "5 mg"}),
        )
        .await
        .expect(201)
        .id();
    Setup {
        patient,
        doctor,
        pharmacist,
        pharmacy,
        medication,
    }
}

/// A number unique within the test run (for RxNorm-like codes).
fn unique_number() -> u64 {
    use std::sync::atomic::{AtomicU64, Ordering};
    static N: AtomicU64 = AtomicU64::new(0);
    let base = std::process::id() as u64 * 10_000;
    base + N.fetch_add(1, Ordering::Relaxed)
}

pub async fn prescribe(app: &TestApp, s: &Setup, refills: i64) -> Resp {
    app.post(
        "/prescriptions",
        &s.doctor.token,
        json!({"patient_id": s.patient.pid(), "medication_id": s.medication,
               "dosage": "5 mg", "frequency": "once daily", "quantity": 30,
               "refills": refills, "instructions": "Take in the morning"}),
    )
    .await
}

async fn order(
    app: &TestApp,
    token: &str,
    prescription: &str,
    pharmacy: &str,
    key: Option<&str>,
) -> Resp {
    let mut headers = Vec::new();
    if let Some(k) = key {
        headers.push(("idempotency-key", k));
    }
    app.call(
        Method::POST,
        "/pharmacy-orders",
        Some(token),
        Some(json!({"prescription_id": prescription, "pharmacy_id": pharmacy})),
        &headers,
    )
    .await
}

async fn go(app: &TestApp, token: &str, order: &str, body: Value) -> Resp {
    app.post(&format!("/pharmacy-orders/{order}/transition"), token, body)
        .await
}

async fn the_catalogue_and_pharmacies(app: &TestApp) {
    let code = format!("{}", 200_000 + unique_number());
    let m = app
        .post(
            "/medications",
            &app.admin_token,
            json!({"name": "Metformin", "code": code, "form": "tablet", "strength": "500 mg"}),
        )
        .await
        .expect(201);
    assert_eq!(m.body["active"], true);
    let id = m.id();
    app.post(
        "/medications",
        &app.admin_token,
        json!({"name": "Metformin again", "code": code}),
    )
    .await
    .problem(409);
    app.post(
        "/medications",
        &app.admin_token,
        json!({"name": "Bad", "code": "abc"}),
    )
    .await
    .problem(422);
    let (pharmacy, pharmacist) = pharmacy_with_pharmacist(app, "Cat").await;
    let doctor = app.doctor("Catdoc", "any").await;
    let patient = app.patient("Catpat").await;
    // Pharmacists manage the catalogue; doctors and patients read it.
    app.post(
        "/medications",
        &pharmacist.token,
        json!({"name": "Lisinopril", "code": format!("{}", 300_000 + unique_number()), "strength": "10 mg"}),
    )
    .await
    .expect(201);
    app.post(
        "/medications",
        &doctor.token,
        json!({"name": "Nope", "code": "1"}),
    )
    .await
    .problem(403);
    let found = app
        .get("/medications?q=metfor", &patient.token)
        .await
        .expect(200)
        .items();
    assert!(found.iter().any(|x| x["id"] == id.as_str()));
    let by_code = app
        .get(&format!("/medications?q={code}"), &doctor.token)
        .await
        .expect(200)
        .items();
    assert_eq!(by_code.len(), 1);
    let patched = app
        .call(
            Method::PATCH,
            &format!("/medications/{id}"),
            Some(&pharmacist.token),
            Some(json!({"active": false})),
            &[("if-match", "\"1\"")],
        )
        .await
        .expect(200);
    assert_eq!(patched.body["active"], false);
    assert_eq!(patched.body["version"], 2);
    let inactive = app
        .get("/medications?active=false", &patient.token)
        .await
        .expect(200)
        .items();
    assert!(inactive.iter().any(|x| x["id"] == id.as_str()));
    // Pharmacies: admins manage; everyone reads the directory.
    app.post("/pharmacies", &pharmacist.token, json!({"name": "Mine"}))
        .await
        .problem(403);
    let list = app
        .get("/pharmacies", &patient.token)
        .await
        .expect(200)
        .items();
    assert!(list.iter().any(|p| p["id"] == pharmacy.as_str()));
    app.get(&format!("/pharmacies/{pharmacy}"), &doctor.token)
        .await
        .expect(200);
    // Staff: only pharmacists; read by admins and the pharmacy's own staff.
    app.post(
        &format!("/pharmacies/{pharmacy}/staff"),
        &app.admin_token,
        json!({"user_id": doctor.user_id}),
    )
    .await
    .problem(409);
    let staff = format!("/pharmacies/{pharmacy}/staff");
    let members = app.get(&staff, &pharmacist.token).await.expect(200).body;
    assert_eq!(members[0]["user_id"], pharmacist.user_id.as_str());
    app.get(&staff, &app.admin_token).await.expect(200);
    let (_, other) = pharmacy_with_pharmacist(app, "Other").await;
    app.get(&staff, &other.token).await.problem(404);
    app.get(&staff, &patient.token).await.problem(404);
    let r = app
        .delete(
            &format!("/pharmacies/{pharmacy}/staff/{}", pharmacist.user_id),
            &app.admin_token,
        )
        .await;
    assert_eq!(r.status, 204, "{r:?}");
    let r = app
        .delete(
            &format!("/pharmacies/{pharmacy}/staff/{}", pharmacist.user_id),
            &app.admin_token,
        )
        .await;
    assert_eq!(r.status, 404);
}

async fn prescriptions_orders_and_fills(app: &TestApp) {
    let s = setup(app, "Pia").await;
    // Bad input, reach, roles.
    prescribe(app, &s, 12).await.problem(422);
    let stranger = app.doctor("Farway", "any").await;
    app.post(
        "/prescriptions",
        &stranger.token,
        json!({"patient_id": s.patient.pid(), "medication_id": s.medication,
               "dosage": "5 mg", "frequency": "daily", "quantity": 30}),
    )
    .await
    .problem(404);
    app.post(
        "/prescriptions",
        &s.patient.token,
        json!({"patient_id": s.patient.pid(), "medication_id": s.medication,
               "dosage": "5 mg", "frequency": "daily", "quantity": 30}),
    )
    .await
    .problem(403);
    let rx = prescribe(app, &s, 1).await.expect(201);
    assert_eq!(rx.body["status"], "active");
    assert_eq!(rx.body["refills_remaining"], 1);
    assert_eq!(rx.body["fills_used"], 0);
    let rx = rx.id();
    assert!(care_team(app, s.patient.pid())
        .await
        .contains(&(s.doctor.did().to_string(), "prescription".to_string())));
    // The order, with an idempotency key: a repeat returns the first; another body is 422.
    let first = order(app, &s.patient.token, &rx, &s.pharmacy, Some("order-1"))
        .await
        .expect(201);
    assert_eq!(first.body["status"], "sent");
    let again = order(app, &s.patient.token, &rx, &s.pharmacy, Some("order-1"))
        .await
        .expect(201);
    assert_eq!(again.id(), first.id());
    let (other_pharmacy, other_pharmacist) = pharmacy_with_pharmacist(app, "Elsewhere").await;
    order(app, &s.patient.token, &rx, &other_pharmacy, Some("order-1"))
        .await
        .problem(422);
    // One open order per prescription.
    order(app, &s.doctor.token, &rx, &other_pharmacy, None)
        .await
        .problem(409);
    let o = first.id();
    assert!(notifications(app, &s.pharmacist.token)
        .await
        .iter()
        .any(|n| n["kind"] == "pharmacy_order_received"));
    // Only that pharmacy's pharmacists work the order.
    go(app, &s.doctor.token, &o, json!({"to": "received"}))
        .await
        .problem(403);
    go(app, &other_pharmacist.token, &o, json!({"to": "received"}))
        .await
        .problem(404);
    go(app, &s.pharmacist.token, &o, json!({"to": "filled"}))
        .await
        .problem(409);
    let received = go(app, &s.pharmacist.token, &o, json!({"to": "received"}))
        .await
        .expect(200);
    assert!(!received.body["received_at"].is_null());
    let filled = go(app, &s.pharmacist.token, &o, json!({"to": "filled"}))
        .await
        .expect(200);
    assert!(!filled.body["filled_at"].is_null());
    let p = app
        .get(&format!("/prescriptions/{rx}"), &s.patient.token)
        .await
        .expect(200);
    assert_eq!(p.body["fills_used"], 1);
    assert_eq!(p.body["refills_remaining"], 1);
    assert_eq!(p.body["status"], "active");
    assert!(notifications(app, &s.patient.token)
        .await
        .iter()
        .any(|n| n["kind"] == "prescription_filled"));
    // A filled order is not cancelled; it is picked up.
    go(app, &s.patient.token, &o, json!({"to": "cancelled"}))
        .await
        .problem(409);
    go(app, &s.pharmacist.token, &o, json!({"to": "picked_up"}))
        .await
        .expect(200);
    // The refill: the last fill completes the prescription.
    let o2 = order(app, &s.patient.token, &rx, &s.pharmacy, None)
        .await
        .expect(201)
        .id();
    go(app, &s.pharmacist.token, &o2, json!({"to": "received"}))
        .await
        .expect(200);
    go(app, &s.pharmacist.token, &o2, json!({"to": "filled"}))
        .await
        .expect(200);
    let p = app
        .get(&format!("/prescriptions/{rx}"), &s.doctor.token)
        .await
        .expect(200);
    assert_eq!(p.body["fills_used"], 2);
    assert_eq!(p.body["refills_remaining"], 0);
    assert_eq!(p.body["status"], "completed");
    go(app, &s.pharmacist.token, &o2, json!({"to": "picked_up"}))
        .await
        .expect(200);
    order(app, &s.patient.token, &rx, &s.pharmacy, None)
        .await
        .problem(409);
    // Cancelling an order tells the doctor and the patient; cancelling a prescription is the
    // prescriber's.
    let rx2 = prescribe(app, &s, 0).await.expect(201).id();
    let o3 = order(app, &s.doctor.token, &rx2, &s.pharmacy, None)
        .await
        .expect(201)
        .id();
    let c = go(
        app,
        &s.patient.token,
        &o3,
        json!({"to": "cancelled", "reason": "bought elsewhere"}),
    )
    .await
    .expect(200);
    assert_eq!(c.body["cancel_reason"], "bought elsewhere");
    assert!(notifications(app, &s.doctor.token)
        .await
        .iter()
        .any(|n| n["kind"] == "pharmacy_order_cancelled"));
    // The pharmacist reaches it (an order of it was at their pharmacy), but does not cancel it.
    app.post(
        &format!("/prescriptions/{rx2}/cancel"),
        &s.pharmacist.token,
        json!({"reason": "no"}),
    )
    .await
    .problem(403);
    app.post(
        &format!("/prescriptions/{rx2}/cancel"),
        &s.doctor.token,
        json!({"reason": " "}),
    )
    .await
    .problem(422);
    let cancelled = app
        .post(
            &format!("/prescriptions/{rx2}/cancel"),
            &s.doctor.token,
            json!({"reason": "side effects"}),
        )
        .await
        .expect(200);
    assert_eq!(cancelled.body["status"], "cancelled");
    order(app, &s.patient.token, &rx2, &s.pharmacy, None)
        .await
        .problem(409);
    // An inactive medication is not prescribed.
    app.patch(
        &format!("/medications/{}", s.medication),
        &app.admin_token,
        json!({"active": false}),
    )
    .await
    .expect(200);
    prescribe(app, &s, 0).await.problem(409);
    let items = audit_until(app, &format!("patient_id={}", s.patient.pid()), |items| {
        has_entry(items, "create", "pharmacy_order", Some(&o), "success")
            && has_entry(items, "state_change", "pharmacy_order", Some(&o), "success")
            && has_entry(items, "read", "pharmacy_order", Some(&o), "success")
            && has_entry(items, "state_change", "prescription", Some(&rx), "success")
    })
    .await;
    assert!(!items.is_empty());
}

/// Concurrent requests: one key makes one order; different keys for one prescription make one
/// open order, the others 409.
async fn concurrent_orders(app: &TestApp) {
    let s = setup(app, "Race").await;
    let rx = prescribe(app, &s, 3).await.expect(201).id();
    let same = futures::future::join_all(
        (0..6).map(|_| order(app, &s.patient.token, &rx, &s.pharmacy, Some("same-key"))),
    )
    .await;
    let ids: std::collections::BTreeSet<String> = same
        .iter()
        .map(|r| {
            assert_eq!(r.status, 201, "{r:?}");
            r.id()
        })
        .collect();
    assert_eq!(ids.len(), 1, "one key, one order: {ids:?}");
    let o = ids.into_iter().next().unwrap();
    go(app, &s.patient.token, &o, json!({"to": "cancelled"}))
        .await
        .expect(200);
    let keys: Vec<String> = (0..6).map(|i| format!("key-{i}")).collect();
    let many = futures::future::join_all(
        keys.iter()
            .map(|k| order(app, &s.patient.token, &rx, &s.pharmacy, Some(k))),
    )
    .await;
    let created = many.iter().filter(|r| r.status == 201).count();
    let refused = many.iter().filter(|r| r.status == 409).count();
    assert_eq!((created, refused), (1, 5), "{many:?}");
    let open = app
        .get(
            &format!("/pharmacy-orders?prescription_id={rx}&status=sent"),
            &s.patient.token,
        )
        .await
        .expect(200)
        .items();
    assert_eq!(open.len(), 1);
    // A key that is not one.
    let bad = app
        .call(
            Method::POST,
            "/pharmacy-orders",
            Some(&s.patient.token),
            Some(json!({"prescription_id": rx, "pharmacy_id": s.pharmacy})),
            &[("idempotency-key", "")],
        )
        .await;
    assert_eq!(bad.status, 422, "{bad:?}");
}

/// A pharmacist sees their pharmacies' orders and the prescriptions behind them, and nothing
/// else of any patient.
async fn the_pharmacists_reach(app: &TestApp) {
    let s = setup(app, "Scope").await;
    let ordered = prescribe(app, &s, 0).await.expect(201).id();
    let unordered = prescribe(app, &s, 0).await.expect(201).id();
    let o = order(app, &s.patient.token, &ordered, &s.pharmacy, None)
        .await
        .expect(201)
        .id();
    let (_, stranger) = pharmacy_with_pharmacist(app, "Stranger").await;
    let ph = &s.pharmacist;
    app.get(&format!("/pharmacy-orders/{o}"), &ph.token)
        .await
        .expect(200);
    app.get(&format!("/prescriptions/{ordered}"), &ph.token)
        .await
        .expect(200);
    app.get(&format!("/prescriptions/{unordered}"), &ph.token)
        .await
        .problem(404);
    let rx_list = app
        .get("/prescriptions", &ph.token)
        .await
        .expect(200)
        .items();
    let ids: Vec<&str> = rx_list.iter().map(|p| p["id"].as_str().unwrap()).collect();
    assert!(
        ids.contains(&ordered.as_str()) && !ids.contains(&unordered.as_str()),
        "{ids:?}"
    );
    let orders = app
        .get("/pharmacy-orders", &ph.token)
        .await
        .expect(200)
        .items();
    assert!(orders.iter().any(|x| x["id"] == o.as_str()));
    // The other pharmacy's pharmacist: nothing.
    app.get(&format!("/pharmacy-orders/{o}"), &stranger.token)
        .await
        .problem(404);
    app.get(&format!("/prescriptions/{ordered}"), &stranger.token)
        .await
        .problem(404);
    assert!(app
        .get(
            &format!("/prescriptions?patient_id={}", s.patient.pid()),
            &stranger.token
        )
        .await
        .expect(200)
        .items()
        .is_empty());
    assert!(app
        .get("/pharmacy-orders", &stranger.token)
        .await
        .expect(200)
        .items()
        .iter()
        .all(|x| x["id"] != o.as_str()));
    // Nothing else of the patient.
    app.get(&format!("/patients/{}", s.patient.pid()), &ph.token)
        .await
        .problem(403);
    app.get("/medical-records", &ph.token).await.problem(403);
    app.get("/lab-orders", &ph.token).await.problem(403);
    // The compartment: the patient and the doctor see theirs; another patient nothing.
    for who in [&s.patient, &s.doctor] {
        let list = app
            .get("/prescriptions", &who.token)
            .await
            .expect(200)
            .items();
        assert!(list.iter().any(|p| p["id"] == ordered.as_str()));
        let orders = app
            .get("/pharmacy-orders", &who.token)
            .await
            .expect(200)
            .items();
        assert!(orders.iter().any(|x| x["id"] == o.as_str()));
    }
    let other = app.patient("Nosy").await;
    app.get(&format!("/prescriptions/{ordered}"), &other.token)
        .await
        .problem(404);
    app.get(&format!("/pharmacy-orders/{o}"), &other.token)
        .await
        .problem(404);
    order(app, &other.token, &ordered, &s.pharmacy, None)
        .await
        .problem(404);
    for role in ["lab_technician", "billing", "auditor"] {
        let staff = app.staff(role).await;
        app.get("/prescriptions", &staff.token).await.problem(403);
        app.get("/pharmacy-orders", &staff.token).await.problem(403);
    }
    assert_eq!(
        app.delete(&format!("/prescriptions/{ordered}"), &app.admin_token)
            .await
            .status,
        405
    );
}

both_backends!(
    the_catalogue_and_pharmacies,
    prescriptions_orders_and_fills,
    concurrent_orders,
    the_pharmacists_reach,
);
