//! Helpers shared by the clinical-core tests (appointments, medical records, consent).
#![allow(dead_code)]

use std::time::Duration as StdDuration;

use chrono::{DateTime, Duration, SecondsFormat, Utc};
use serde_json::{json, Value};

use crate::common::*;

/// Midnight UTC today plus `days` days and `minutes` minutes, RFC 3339. With `days >= 1` it is
/// always in the future, and the same arguments always give the same instant within a test.
pub fn slot(days: i64, minutes: i64) -> String {
    let midnight = Utc::now()
        .date_naive()
        .and_hms_opt(0, 0, 0)
        .expect("midnight")
        .and_utc();
    (midnight + Duration::days(days) + Duration::minutes(minutes))
        .to_rfc3339_opts(SecondsFormat::Secs, true)
}

/// Parses an RFC 3339 timestamp from a JSON value.
#[track_caller]
pub fn ts(v: &Value) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(v.as_str().unwrap_or_else(|| panic!("a timestamp: {v}")))
        .unwrap_or_else(|e| panic!("RFC 3339 timestamp {v}: {e}"))
        .with_timezone(&Utc)
}

/// A patient without a login, created by the admin (no password hashing: fast).
pub async fn new_patient(app: &TestApp, given: &str) -> String {
    app.post(
        "/patients",
        &app.admin_token,
        json!({"given_name": given, "family_name": "Plain", "birth_date": "1990-05-06", "sex": "other"}),
    )
    .await
    .expect(201)
    .id()
}

/// A doctor without a login, created by the admin.
pub async fn new_doctor(app: &TestApp, given: &str) -> String {
    app.post(
        "/doctors",
        &app.admin_token,
        json!({
            "given_name": given, "family_name": "Nolog", "specialty": "general practice",
            "license_number": format!("NL-{}", unique()),
            "email": format!("nolog-{}@example.test", unique())
        }),
    )
    .await
    .expect(201)
    .id()
}

/// POST /appointments.
pub async fn book(
    app: &TestApp,
    token: &str,
    patient_id: &str,
    doctor_id: &str,
    start: &str,
    end: &str,
) -> Resp {
    app.post(
        "/appointments",
        token,
        json!({"patient_id": patient_id, "doctor_id": doctor_id, "start_time": start,
               "end_time": end, "reason": "check-up"}),
    )
    .await
}

/// POST /medical-records by a doctor.
pub async fn write_record(app: &TestApp, token: &str, patient_id: &str, record_type: &str) -> Resp {
    app.post(
        "/medical-records",
        token,
        json!({"patient_id": patient_id, "record_type": record_type, "title": "Initial note",
               "content": "Patient seen; stable.", "diagnosis_codes": ["J45.909"]}),
    )
    .await
}

/// Break-glass access to one patient for a doctor.
pub async fn break_glass(app: &TestApp, token: &str, patient_id: &str) {
    app.post(
        &format!("/patients/{patient_id}/break-glass"),
        token,
        json!({"reason": "unconscious in the emergency room"}),
    )
    .await
    .expect(201);
}

/// The caller's notifications.
pub async fn notifications(app: &TestApp, token: &str) -> Vec<Value> {
    app.all_pages("/notifications", token, 100).await
}

/// The care team of a patient as (doctor_id, source) pairs, read by the admin.
pub async fn care_team(app: &TestApp, patient_id: &str) -> Vec<(String, String)> {
    let r = app
        .get(
            &format!("/patients/{patient_id}/care-team"),
            &app.admin_token,
        )
        .await
        .expect(200);
    r.body
        .as_array()
        .expect("a care team is an array")
        .iter()
        .map(|m| {
            (
                m["doctor_id"].as_str().unwrap().to_string(),
                m["source"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

/// Audit entries matching `query` (admin view), waiting up to 5 s for batched entries to be
/// sealed until `want` holds for the whole list.
pub async fn audit_until(
    app: &TestApp,
    query: &str,
    want: impl Fn(&[Value]) -> bool,
) -> Vec<Value> {
    let mut items = Vec::new();
    for _ in 0..50 {
        items = app
            .all_pages(&format!("/audit-logs?{query}"), &app.admin_token, 500)
            .await;
        if want(&items) {
            return items;
        }
        tokio::time::sleep(StdDuration::from_millis(100)).await;
    }
    panic!(
        "audit entries for `{query}` never matched; last: {}",
        serde_json::to_string_pretty(&items).unwrap()
    );
}

/// Does the audit list hold an entry with this action / resource type / resource id / outcome?
pub fn has_entry(
    items: &[Value],
    action: &str,
    resource_type: &str,
    resource_id: Option<&str>,
    outcome: &str,
) -> bool {
    items.iter().any(|e| {
        e["action"] == action
            && e["resource_type"] == resource_type
            && e["outcome"] == outcome
            && resource_id.is_none_or(|id| e["resource_id"] == id)
    })
}
