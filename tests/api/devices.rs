//! Devices and remote monitoring: registration with consent, ingest tokens, atomic batch
//! ingest, downsampled queries, threshold alerts, and who reaches them.

use reqwest::Method;
use serde_json::{json, Value};

use crate::clinical::*;
use crate::common::*;

pub const REMOTE_MONITORING_FORM: &str = "01900000-0000-7000-8000-000000000002";

/// A consenting patient, their doctor (care team through an appointment), a heart-rate device.
pub struct Wearer {
    pub patient: Actor,
    pub doctor: Actor,
    pub device: String,
    pub token: String,
}

pub async fn consent(app: &TestApp, patient: &Actor, action: &str) {
    app.post(
        "/consents",
        &patient.token,
        json!({"consent_form_id": REMOTE_MONITORING_FORM, "action": action}),
    )
    .await
    .expect(201);
}

pub async fn wearer(app: &TestApp, name: &str) -> Wearer {
    let patient = app.patient(name).await;
    let doctor = app.doctor(&format!("{name}Doc"), "cardiology").await;
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
    consent(app, &patient, "given").await;
    let d = app
        .post(
            "/devices",
            &patient.token,
            json!({"kind": "heart_rate_monitor", "manufacturer": "Pulse Co",
                   "model": "HR-1", "serial_number": format!("SN-{}", unique())}),
        )
        .await
        .expect(201);
    Wearer {
        device: d.id(),
        token: d.body["ingest_token"].as_str().unwrap().to_string(),
        patient,
        doctor,
    }
}

pub fn hr(at: &str, value: f64) -> Value {
    json!({"metric": "heart_rate", "value": value, "unit": "bpm", "recorded_at": at})
}

pub async fn send(app: &TestApp, device: &str, token: &str, readings: Vec<Value>) -> Resp {
    app.call(
        Method::POST,
        &format!("/devices/{device}/data"),
        None,
        Some(json!({"readings": readings})),
        &[("authorization", &format!("Device {token}"))],
    )
    .await
}

async fn registration_and_tokens(app: &TestApp) {
    let patient = app.patient("Nora").await;
    let new = json!({"kind": "pulse_oximeter", "manufacturer": "Oxi", "serial_number": "OX-1"});
    let r = app
        .post("/devices", &patient.token, new.clone())
        .await
        .problem(409);
    assert!(r.body["type"]
        .as_str()
        .unwrap()
        .ends_with("/consent-required"));
    consent(app, &patient, "given").await;
    let d = app
        .post("/devices", &patient.token, new.clone())
        .await
        .expect(201);
    assert_eq!(d.body["status"], "active");
    assert_eq!(d.body["patient_id"], patient.pid());
    let token = d.body["ingest_token"].as_str().unwrap().to_string();
    let id = d.id();
    // The token is shown once.
    let got = app
        .get(&format!("/devices/{id}"), &patient.token)
        .await
        .expect(200);
    assert!(got.body.get("ingest_token").is_none());
    // One active device per manufacturer and serial.
    app.post("/devices", &patient.token, new.clone())
        .await
        .problem(409);
    // A doctor off the care team does not reach the patient.
    let stranger = app.doctor("Off", "any").await;
    app.post(
        "/devices",
        &stranger.token,
        json!({"patient_id": patient.pid(), "kind": "scale", "manufacturer": "Scl", "serial_number": "S-1"}),
    )
    .await
    .problem(404);
    // The token sends readings; a rotated one does not.
    let now = slot(0, 0);
    send(
        app,
        &id,
        &token,
        vec![json!({"metric": "spo2", "value": 97, "unit": "%", "recorded_at": now})],
    )
    .await
    .expect(200);
    let rotated = app
        .post(
            &format!("/devices/{id}/rotate-token"),
            &patient.token,
            json!({}),
        )
        .await
        .expect(200);
    let fresh = rotated.body["ingest_token"].as_str().unwrap().to_string();
    assert_ne!(fresh, token);
    send(
        app,
        &id,
        &token,
        vec![json!({"metric": "spo2", "value": 97, "unit": "%", "recorded_at": now})],
    )
    .await
    .problem(401);
    // A device's token reaches only its own ingest route.
    let other = wearer(app, "Otto").await;
    send(app, &other.device, &fresh, vec![hr(&now, 70.0)])
        .await
        .problem(404);
    let r = app
        .call(
            Method::GET,
            "/devices",
            None,
            None,
            &[("authorization", &format!("Device {fresh}"))],
        )
        .await;
    assert_eq!(r.status, 401);
    // Revoked: nothing more; the same serial may be registered again.
    app.post(&format!("/devices/{id}/revoke"), &patient.token, json!({}))
        .await
        .expect(200);
    send(
        app,
        &id,
        &fresh,
        vec![json!({"metric": "spo2", "value": 97, "unit": "%", "recorded_at": slot(0, 1)})],
    )
    .await
    .problem(409);
    app.post("/devices", &patient.token, new).await.expect(201);
    let logs = app
        .get(
            &format!("/remote-monitoring-logs?device_id={id}"),
            &patient.token,
        )
        .await
        .expect(200)
        .items();
    let events: Vec<&str> = logs
        .iter()
        .map(|l| l["event_type"].as_str().unwrap())
        .collect();
    assert_eq!(
        events,
        ["device_registered", "token_rotated", "device_revoked"]
    );
}

/// `n` heart-rate readings a second apart from midnight today (UTC).
fn day_of(n: usize, value: impl Fn(usize) -> f64) -> Vec<Value> {
    let midnight = chrono::Utc::now()
        .date_naive()
        .and_hms_opt(0, 0, 0)
        .unwrap()
        .and_utc();
    (0..n)
        .map(|i| {
            let at = midnight + chrono::Duration::seconds(i as i64);
            hr(
                &at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
                value(i),
            )
        })
        .collect()
}

async fn ingest_and_queries(app: &TestApp) {
    let w = wearer(app, "Ines").await;
    let batch = day_of(600, |i| 60.0 + (i % 10) as f64);
    let r = send(app, &w.device, &w.token, batch.clone())
        .await
        .expect(200);
    assert_eq!(r.body, json!({"accepted": 600, "duplicates": 0}));
    let r = send(app, &w.device, &w.token, batch[..100].to_vec())
        .await
        .expect(200);
    assert_eq!(r.body, json!({"accepted": 0, "duplicates": 100}));
    // The owner may send too.
    let owner = app
        .post(
            &format!("/devices/{}/data", w.device),
            &w.patient.token,
            json!({"readings": day_of(601, |_| 65.0)[600..].to_vec()}),
        )
        .await
        .expect(200);
    assert_eq!(owner.body["accepted"], 1);
    // With an Idempotency-Key a retry gets the first answer back (not "duplicates"); the same
    // key with other readings is 422. A device sends as its owner: their keys are one.
    let keyed = |token: String, readings: Vec<Value>| {
        let device = w.device.clone();
        async move {
            app.call(
                Method::POST,
                &format!("/devices/{device}/data"),
                None,
                Some(json!({"readings": readings})),
                &[("authorization", &token), ("idempotency-key", "upload-42")],
            )
            .await
        }
    };
    let device_token = format!("Device {}", w.token);
    let owner_token = format!("Bearer {}", w.patient.token);
    // Yesterday's readings: outside the day the queries below look at.
    let yesterday = |i: i64| {
        let at = chrono::Utc::now()
            .date_naive()
            .and_hms_opt(0, 0, 0)
            .unwrap()
            .and_utc()
            - chrono::Duration::days(1)
            + chrono::Duration::seconds(i);
        hr(&at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true), 62.0)
    };
    let retried: Vec<Value> = (0..10).map(yesterday).collect();
    let first = keyed(device_token.clone(), retried.clone())
        .await
        .expect(200);
    assert_eq!(first.body, json!({"accepted": 10, "duplicates": 0}));
    let again = keyed(device_token.clone(), retried.clone())
        .await
        .expect(200);
    assert_eq!(again.body, first.body, "the first answer, replayed");
    keyed(device_token.clone(), (10..20).map(yesterday).collect())
        .await
        .problem(422);
    let owners = keyed(owner_token, retried).await.expect(200);
    assert_eq!(owners.body, first.body);
    // A key lives a day: past it, the same key is a new request.
    app.sql("UPDATE idempotency_keys SET created_at = '2000-01-01 00:00:00' WHERE idem_key LIKE '%/upload-42'");
    let renewed = keyed(device_token.clone(), (10..20).map(yesterday).collect())
        .await
        .expect(200);
    assert_eq!(renewed.body, json!({"accepted": 10, "duplicates": 0}));
    let unkeyed = send(app, &w.device, &w.token, (0..10).map(yesterday).collect())
        .await
        .expect(200);
    assert_eq!(
        unkeyed.body,
        json!({"accepted": 0, "duplicates": 10}),
        "stored once"
    );
    // Atomic: one bad reading names its index; nothing of the batch is stored.
    let mut bad = day_of(700, |_| 70.0)[650..].to_vec();
    bad[3] =
        json!({"metric": "heart_rate", "value": 70, "unit": "mmHg", "recorded_at": slot(0, 20)});
    bad[7] =
        json!({"metric": "heart_rate", "value": 900, "unit": "bpm", "recorded_at": slot(0, 21)});
    let r = send(app, &w.device, &w.token, bad).await.problem(422);
    let fields: Vec<&str> = r.body["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["field"].as_str().unwrap())
        .collect();
    assert_eq!(fields, ["readings[3].unit", "readings[7].value"]);
    send(
        app,
        &w.device,
        &w.token,
        vec![json!({"metric": "mood", "value": 1, "unit": "x", "recorded_at": slot(0, 1)})],
    )
    .await
    .problem(422);
    send(app, &w.device, &w.token, vec![hr(&slot(1, 0), 70.0)])
        .await
        .problem(422);
    send(app, &w.device, &w.token, vec![]).await.problem(422);
    send(app, &w.device, &w.token, day_of(10_001, |_| 70.0))
        .await
        .problem(422);
    // Buckets, computed in SQL.
    let to = slot(1, 0);
    let q = |bucket: &str| {
        format!(
            "/devices/{}/data?metric=heart_rate&from={}&to={}&bucket={bucket}",
            w.device,
            enc(&slot(0, 0)),
            enc(&to)
        )
    };
    let five = app.get(&q("5m"), &w.doctor.token).await.expect(200).body;
    let buckets = five["buckets"].as_array().unwrap();
    assert_eq!(buckets.len(), 3, "{five}");
    assert_eq!(buckets[0]["count"], 300);
    assert_eq!(buckets[0]["min"], 60.0);
    assert_eq!(buckets[0]["max"], 69.0);
    assert_eq!(buckets[0]["avg"], 64.5);
    assert_eq!(buckets[2]["count"], 1);
    assert_eq!(five["unit"], "bpm");
    let raw = app.get(&q("none"), &w.patient.token).await.expect(200).body;
    assert_eq!(raw["items"].as_array().unwrap().len(), 50);
    assert!(raw["next_cursor"].is_string());
    app.get(&format!("/devices/{}/data", w.device), &w.patient.token)
        .await
        .problem(422);
    app.get(&q("7m"), &w.patient.token).await.problem(422);
    // A revoked consent stores nothing.
    consent(app, &w.patient, "revoked").await;
    let r = send(app, &w.device, &w.token, vec![hr(&slot(0, 30), 70.0)])
        .await
        .problem(409);
    assert!(r.body["type"]
        .as_str()
        .unwrap()
        .ends_with("/consent-required"));
    let total: i64 = app.get(&q("1d"), &w.patient.token).await.expect(200).body["buckets"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| b["count"].as_i64().unwrap())
        .sum();
    assert_eq!(total, 601);
    // One audit entry per ingest request.
    let items = audit_until(
        app,
        &format!("resource_type=device_data&patient_id={}", w.patient.pid()),
        |items| items.iter().filter(|e| e["action"] == "create").count() >= 3,
    )
    .await;
    assert!(items.iter().filter(|e| e["action"] == "create").count() < 10);
}

async fn thresholds_raise_alerts(app: &TestApp) {
    let w = wearer(app, "Tara").await;
    // A second link to the same doctor (a record besides the booking): still one alert each.
    write_record(app, &w.doctor.token, w.patient.pid(), "visit_note")
        .await
        .expect(201);
    let doctor_token = w.doctor.token.clone();
    let logs = |q: String| {
        let token = doctor_token.clone();
        async move {
            app.get(&format!("/remote-monitoring-logs?{q}"), &token)
                .await
                .expect(200)
                .items()
        }
    };
    // Past the default critical limit (150): one entry for the lot.
    send(
        app,
        &w.device,
        &w.token,
        vec![hr(&slot(0, 1), 160.0), hr(&slot(0, 2), 175.0)],
    )
    .await
    .expect(200);
    let open = logs(format!("device_id={}&severity=critical", w.device)).await;
    assert_eq!(open.len(), 1, "{open:?}");
    assert_eq!(open[0]["occurrences"], 2);
    assert_eq!(open[0]["value"], 175.0);
    assert_eq!(open[0]["rule"], "heart_rate > 150");
    let alerts = |n: &[Value]| n.iter().filter(|n| n["kind"] == "monitoring_alert").count();
    assert_eq!(alerts(&notifications(app, &w.doctor.token).await), 1);
    // More of the same: no new alert, the count grows.
    send(app, &w.device, &w.token, vec![hr(&slot(0, 3), 180.0)])
        .await
        .expect(200);
    let open = logs(format!("device_id={}&severity=critical", w.device)).await;
    assert_eq!(open.len(), 1);
    assert_eq!(open[0]["occurrences"], 3);
    assert_eq!(alerts(&notifications(app, &w.doctor.token).await), 1);
    // Acknowledged (by the care-team doctor, not the patient): the next one opens a new entry.
    let id = open[0]["id"].as_str().unwrap().to_string();
    app.post(
        &format!("/remote-monitoring-logs/{id}/acknowledge"),
        &w.patient.token,
        json!({}),
    )
    .await
    .problem(403);
    let acked = app
        .post(
            &format!("/remote-monitoring-logs/{id}/acknowledge"),
            &w.doctor.token,
            json!({}),
        )
        .await
        .expect(200);
    assert_eq!(acked.body["acknowledged_by"], w.doctor.user_id.as_str());
    app.post(
        &format!("/remote-monitoring-logs/{id}/acknowledge"),
        &w.doctor.token,
        json!({}),
    )
    .await
    .problem(409);
    send(app, &w.device, &w.token, vec![hr(&slot(0, 4), 190.0)])
        .await
        .expect(200);
    assert_eq!(
        logs(format!(
            "device_id={}&severity=critical&acknowledged=false",
            w.device
        ))
        .await
        .len(),
        1
    );
    assert_eq!(alerts(&notifications(app, &w.doctor.token).await), 2);
    // The doctor overrides the patient's rules; the patient may not.
    let rules = format!("/patients/{}/monitoring-rules", w.patient.pid());
    let before = app.get(&rules, &w.patient.token).await.expect(200).body;
    let hr_rule = before
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["metric"] == "heart_rate")
        .unwrap()
        .clone();
    assert_eq!(hr_rule["critical_high"], 150.0);
    let mine = json!([{"metric": "heart_rate", "warning_low": 45, "warning_high": 100,
                       "critical_low": 35, "critical_high": 160}]);
    app.call(
        Method::PUT,
        &rules,
        Some(&w.patient.token),
        Some(mine.clone()),
        &[],
    )
    .await
    .problem(403);
    app.call(
        Method::PUT,
        &rules,
        Some(&w.doctor.token),
        Some(json!([{"metric": "heart_rate", "warning_low": 50, "warning_high": 40}])),
        &[],
    )
    .await
    .problem(422);
    app.call(Method::PUT, &rules, Some(&w.doctor.token), Some(mine), &[])
        .await
        .expect(200);
    send(app, &w.device, &w.token, vec![hr(&slot(0, 5), 110.0)])
        .await
        .expect(200);
    let warnings = logs(format!("device_id={}&severity=warning", w.device)).await;
    assert_eq!(warnings.len(), 1);
    assert_eq!(warnings[0]["rule"], "heart_rate > 100");
}

async fn who_reaches_devices(app: &TestApp) {
    let w = wearer(app, "Vera").await;
    send(app, &w.device, &w.token, vec![hr(&slot(0, 1), 170.0)])
        .await
        .expect(200);
    let reads = [
        format!("/devices/{}", w.device),
        format!("/devices/{}/data?metric=heart_rate&bucket=1h", w.device),
        format!("/patients/{}/monitoring-rules", w.patient.pid()),
    ];
    for token in [&w.patient.token, &w.doctor.token, &app.admin_token] {
        for path in &reads {
            app.get(path, token).await.expect(200);
        }
        let devices = app.get("/devices", token).await.expect(200).items();
        assert!(devices.iter().any(|d| d["id"] == w.device.as_str()));
        let logs = app
            .get("/remote-monitoring-logs", token)
            .await
            .expect(200)
            .items();
        assert!(logs.iter().any(|l| l["device_id"] == w.device.as_str()));
    }
    let other = app.patient("Outsider").await;
    let stranger = app.doctor("Stranger", "any").await;
    for who in [&other, &stranger] {
        for path in &reads {
            app.get(path, &who.token).await.problem(404);
        }
        assert!(app
            .get(
                &format!("/devices?patient_id={}", w.patient.pid()),
                &who.token
            )
            .await
            .expect(200)
            .items()
            .is_empty());
        app.post(
            &format!("/devices/{}/revoke", w.device),
            &who.token,
            json!({}),
        )
        .await
        .problem(404);
        app.post(
            &format!("/devices/{}/data", w.device),
            &who.token,
            json!({"readings": [hr(&slot(0, 2), 70.0)]}),
        )
        .await
        .problem(404);
    }
    for role in ["pharmacist", "lab_technician", "billing", "auditor"] {
        let staff = app.staff(role).await;
        app.get("/devices", &staff.token).await.problem(403);
        app.get(&reads[0], &staff.token).await.problem(403);
        app.get("/remote-monitoring-logs", &staff.token)
            .await
            .problem(403);
    }
    // The care team reads the readings; only the device and its owner send them.
    app.post(
        &format!("/devices/{}/data", w.device),
        &w.doctor.token,
        json!({"readings": [hr(&slot(0, 3), 70.0)]}),
    )
    .await
    .problem(403);
    let metrics = app
        .get("/device-metrics", &other.token)
        .await
        .expect(200)
        .body;
    assert!(metrics
        .as_array()
        .unwrap()
        .iter()
        .any(|m| m["metric"] == "glucose" && m["unit"] == "mg/dL"));
    assert_eq!(app.delete(&reads[0], &app.admin_token).await.status, 405);
}

both_backends!(
    registration_and_tokens,
    ingest_and_queries,
    thresholds_raise_alerts,
    who_reaches_devices,
);
