//! `healthapi demo` fills a fresh database with data the API serves, and keeps the audit chain
//! intact.

use std::collections::{HashMap, HashSet};

use chrono::NaiveDate;
use serde_json::{json, Value};

use crate::clinical::ts;
use crate::common::*;

/// One load of the demo (each costs seconds) serves every check of what it loaded: the API
/// serves it, it reads like a clinic, its chain verifies, and a second load is refused.
async fn demo_loads(app: &TestApp) {
    let out = app.cli(&["demo", "--patients", "40", "--seed", "7"]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "demo exits 0; stdout: {stdout}\nstderr: {stderr}"
    );
    assert!(stdout.contains("demo data loaded"), "{stdout}");
    coherent(app).await;

    let admin = &app.admin_token;
    let patients = app.all_pages("/patients", admin, 500).await;
    assert!(patients.len() >= 40, "{} patients", patients.len());
    let doctors = app.all_pages("/doctors", admin, 500).await;
    assert!(doctors.len() >= 20, "{} doctors", doctors.len());

    let appts = app.all_pages("/appointments", admin, 500).await;
    let now = chrono::Utc::now();
    let start = |a: &Value| {
        chrono::DateTime::parse_from_rfc3339(a["start_time"].as_str().unwrap())
            .unwrap()
            .with_timezone(&chrono::Utc)
    };
    let past = appts.iter().filter(|a| start(a) < now).count();
    let future = appts.iter().filter(|a| start(a) > now).count();
    assert!(past > 0 && future > 0, "past {past}, future {future}");
    // Past ones moved through the state machine; future ones are booked.
    assert!(appts.iter().any(|a| a["status"] == "completed"));
    assert!(appts
        .iter()
        .filter(|a| start(a) > now)
        .all(|a| a["status"] == "booked"));
    // Consistent with the booking rules: no overlapping active appointments for a doctor.
    let mut active: Vec<&Value> = appts
        .iter()
        .filter(|a| a["status"] == "booked" || a["status"] == "checked_in")
        .collect();
    active.sort_by_key(|a| (a["doctor_id"].as_str().unwrap().to_string(), start(a)));
    for w in active.windows(2) {
        if w[0]["doctor_id"] == w[1]["doctor_id"] {
            let end0 = chrono::DateTime::parse_from_rfc3339(w[0]["end_time"].as_str().unwrap())
                .unwrap()
                .with_timezone(&chrono::Utc);
            assert!(end0 <= start(w[1]), "overlap: {} / {}", w[0], w[1]);
        }
    }

    let records = app.all_pages("/medical-records", admin, 500).await;
    assert!(!records.is_empty(), "medical records");
    // Every record's doctor is on its patient's care team.
    let r = &records[0];
    let team = app
        .get(
            &format!("/patients/{}/care-team", r["patient_id"].as_str().unwrap()),
            admin,
        )
        .await
        .expect(200);
    assert!(team
        .body
        .as_array()
        .unwrap()
        .iter()
        .any(|m| m["doctor_id"] == r["doctor_id"]));

    // Virtual visits: past ones completed, with a session and a chat; future ones scheduled;
    // every one of them for a patient whose telemedicine consent stands.
    let visits = app.all_pages("/virtual-visits", admin, 500).await;
    let done: Vec<&serde_json::Value> = visits
        .iter()
        .filter(|v| v["status"] == "completed")
        .collect();
    assert!(!done.is_empty(), "completed virtual visits");
    assert!(
        visits.iter().any(|v| v["status"] == "scheduled"),
        "scheduled visits"
    );
    let v = done[0];
    let vid = v["id"].as_str().unwrap();
    let sessions = app
        .get(&format!("/virtual-visits/{vid}/video-sessions"), admin)
        .await
        .expect(200)
        .items();
    assert_eq!(sessions.len(), 1);
    assert!(sessions[0]["duration_seconds"].as_i64().unwrap() > 0);
    assert!(ts(&sessions[0]["started_at"]) >= ts(&v["scheduled_start"]));
    let chat = app
        .get(&format!("/virtual-visits/{vid}/chat"), admin)
        .await
        .expect(200)
        .items();
    assert!(chat.len() >= 2, "{chat:?}");
    assert!(ts(&chat[0]["sent_at"]) < ts(&v["scheduled_end"]));
    for v in visits.iter().take(5) {
        let check = app
            .get(
                &format!(
                    "/patients/{}/consent-check/telemedicine",
                    v["patient_id"].as_str().unwrap()
                ),
                admin,
            )
            .await;
        assert_eq!(check.status, 204, "{check:?}");
    }

    // Lab: orders in every state, results with units and ranges, images in the blob store.
    let orders = app.all_pages("/lab-orders", admin, 500).await;
    for status in ["ordered", "collected", "resulted", "cancelled"] {
        assert!(
            orders.iter().any(|o| o["status"] == status),
            "a {status} lab order"
        );
    }
    let results = app.all_pages("/lab-results", admin, 500).await;
    assert!(results.len() >= orders.len(), "{} results", results.len());
    assert!(results
        .iter()
        .all(|r| r["unit"].is_string() && r["reference_low"].is_number()));
    assert!(results.iter().any(|r| r["interpretation"] == "abnormal"));
    let images = app.all_pages("/diagnostic-images", admin, 500).await;
    assert!(images.iter().any(|i| i["status"] == "pending_upload"));
    let shown = images
        .iter()
        .find(|i| i["status"] == "available")
        .expect("an uploaded image");
    let png = app
        .client
        .get(app.url(&format!(
            "/diagnostic-images/{}/content",
            shown["id"].as_str().unwrap()
        )))
        .bearer_auth(admin)
        .send()
        .await
        .unwrap();
    assert_eq!(png.status(), 200);
    let bytes = png.bytes().await.unwrap();
    assert!(bytes.starts_with(b"\x89PNG\r\n\x1a\n"));
    assert!(stdout.contains("lab:"), "{stdout}");

    // Referrals in every status, with the specialists' notes.
    let referrals = app.all_pages("/referrals", admin, 500).await;
    for status in [
        "pending",
        "accepted",
        "scheduled",
        "completed",
        "rejected",
        "cancelled",
    ] {
        assert!(
            referrals.iter().any(|r| r["status"] == status),
            "a {status} referral"
        );
    }
    let done = referrals
        .iter()
        .find(|r| r["status"] == "completed")
        .unwrap();
    let notes = app
        .get(
            &format!("/referrals/{}/notes", done["id"].as_str().unwrap()),
            admin,
        )
        .await
        .expect(200)
        .items();
    assert_eq!(notes.len(), 2, "{notes:?}");

    // Pharmacy: the catalogue, and orders in every state.
    let meds = app.all_pages("/medications", admin, 500).await;
    assert!(meds.len() >= 25, "{} medications", meds.len());
    assert!(meds.iter().any(|m| m["code"] == "197361"));
    let orders = app.all_pages("/pharmacy-orders", admin, 500).await;
    for status in ["sent", "received", "filled", "picked_up", "cancelled"] {
        assert!(
            orders.iter().any(|o| o["status"] == status),
            "a {status} pharmacy order"
        );
    }
    assert!(stdout.contains("pharmacist:"), "{stdout}");

    // Billing: claims in every state, payments, invoices in every state.
    let claims = app.all_pages("/claims", admin, 500).await;
    for status in ["submitted", "in_review", "approved", "denied", "paid"] {
        assert!(
            claims.iter().any(|c| c["status"] == status),
            "a {status} claim"
        );
    }
    assert!(claims
        .iter()
        .all(|c| c["lines"][0]["code"].as_str().unwrap().len() == 5));
    let invoices = app.all_pages("/invoices", admin, 500).await;
    for status in ["draft", "issued", "paid", "void"] {
        assert!(
            invoices.iter().any(|i| i["status"] == status),
            "a {status} invoice"
        );
    }
    assert!(!app.all_pages("/payments", admin, 500).await.is_empty());
    assert!(stdout.contains("billing:"), "{stdout}");

    // Devices: a week of readings, and the alerts they raised.
    let devices = app.all_pages("/devices", admin, 500).await;
    let d = devices
        .iter()
        .find(|d| d["kind"] == "heart_rate_monitor")
        .expect("a heart-rate monitor");
    let days = app
        .get(
            &format!(
                "/devices/{}/data?metric=heart_rate&bucket=1d",
                d["id"].as_str().unwrap()
            ),
            admin,
        )
        .await
        .expect(200)
        .body;
    let total: i64 = days["buckets"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| b["count"].as_i64().unwrap())
        .sum();
    assert_eq!(total, 2016, "{days}");
    let alerts = app
        .all_pages("/remote-monitoring-logs?severity=critical", admin, 500)
        .await;
    assert!(
        !alerts.is_empty(),
        "the tachycardia runs raise critical alerts"
    );

    // Portal threads between patients and their doctors (private: only the count is public).
    let messages: usize = stdout
        .split(" portal messages")
        .next()
        .and_then(|s| s.rsplit(' ').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or(0);
    assert!(messages >= 10, "{stdout}");
    let summary = app.get("/feedback/summary", admin).await.expect(200).body;
    assert!(summary.as_array().unwrap().len() >= 3, "{summary}");
    // A patient-experience survey of every kind of question, answered by a quarter of them.
    let surveys = app
        .get("/surveys?audience=patients", admin)
        .await
        .expect(200)
        .items();
    let survey = surveys
        .iter()
        .find(|s| s["title"] == "Patient experience")
        .expect("the demo survey");
    let results = app
        .get(
            &format!("/surveys/{}/results", survey["id"].as_str().unwrap()),
            admin,
        )
        .await
        .expect(200)
        .body;
    assert_eq!(results["responses"], 10, "{results}");
    let kinds: std::collections::HashSet<&str> = results["questions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|q| q["kind"].as_str().unwrap())
        .collect();
    assert_eq!(kinds.len(), 4, "{results}");
    let ease = results["questions"]
        .as_array()
        .unwrap()
        .iter()
        .find(|q| q["id"] == "ease")
        .unwrap();
    assert_eq!(ease["count"], 10);
    assert!(
        (2.0..=5.0).contains(&ease["mean"].as_f64().unwrap()),
        "{ease}"
    );

    // A library of published articles, searchable; some recommended by a care-team doctor.
    let library = app.all_pages("/educational-resources", admin, 100).await;
    assert!(library.len() >= 30, "{} resources", library.len());
    assert!(library.iter().all(|r| r["published"] == true));
    let found = app
        .get("/educational-resources?q=inhaler", admin)
        .await
        .expect(200)
        .items();
    assert!(
        found.iter().any(|r| r["category"] == "respiratory"),
        "{found:?}"
    );
    let spanish = app
        .get("/educational-resources?language=es", admin)
        .await
        .expect(200)
        .items();
    assert!(spanish.len() >= 3, "{spanish:?}");
    let mut recommended = 0;
    for p in &patients {
        let path = format!(
            "/patients/{}/educational-resources",
            p["id"].as_str().unwrap()
        );
        for rec in app.get(&path, admin).await.expect(200).items() {
            recommended += 1;
            let team = app
                .get(
                    &format!("/patients/{}/care-team", p["id"].as_str().unwrap()),
                    admin,
                )
                .await
                .expect(200)
                .body;
            assert!(
                team.as_array()
                    .unwrap()
                    .iter()
                    .any(|m| m["doctor_id"] == rec["doctor_id"]),
                "{rec} by a doctor off the care team {team}"
            );
        }
    }
    assert!(recommended >= 5, "{recommended} recommendations");

    // Seeded consent shows up.
    let consents = app
        .get("/audit-logs?action=consent_given&limit=1", admin)
        .await
        .expect(200);
    assert_eq!(consents.items().len(), 1);

    // A demo doctor can log in with the printed password.
    let login = stdout
        .lines()
        .find_map(|l| l.trim().strip_prefix("doctor:"))
        .map(|s| s.trim().to_string())
        .expect("the demo prints a doctor login");
    let password = stdout
        .lines()
        .find_map(|l| {
            l.split("password for all demo accounts: ")
                .nth(1)
                .map(|s| s.trim_end_matches("):").trim().to_string())
        })
        .expect("the demo prints the password");
    let token = app.login(&login, &password).await;
    let mine = app.all_pages("/appointments", &token, 500).await;
    assert!(!mine.is_empty(), "the demo doctor has appointments");

    // The chain over everything the demo wrote verifies.
    let v = app.cli(&["audit", "verify"]);
    assert!(
        v.status.success(),
        "audit verify exits 0; stdout: {}\nstderr: {}",
        String::from_utf8_lossy(&v.stdout),
        String::from_utf8_lossy(&v.stderr)
    );
    // Loading twice is refused rather than duplicating the data set.
    let again = app.cli(&["demo", "--patients", "40"]);
    assert!(!again.status.success());
}

/// Runs `demo` with `args` and fails with its output unless it exits 0.
fn run_demo(app: &TestApp, args: &[&str]) {
    let out = app.cli(args);
    assert!(
        out.status.success(),
        "demo exits 0; stdout: {}\nstderr: {}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

fn by_id(items: &[Value]) -> HashMap<String, &Value> {
    items
        .iter()
        .map(|v| (v["id"].as_str().unwrap().to_string(), v))
        .collect()
}

fn birth(p: &Value) -> NaiveDate {
    NaiveDate::parse_from_str(p["birth_date"].as_str().unwrap(), "%Y-%m-%d").unwrap()
}

/// A seed loads the same data again, into another database (a small population: what is
/// compared is the generator, not the volume).
async fn demo_is_repeatable(app: &TestApp) {
    let args = ["demo", "--patients", "6", "--seed", "7"];
    run_demo(app, &args);
    let again = TestApp::spawn(app.backend)
        .await
        .expect("a second database");
    run_demo(&again, &args);
    let (first, second) = (digest(app).await, digest(&again).await);
    again.stop().await;
    assert!(first.len() > 60, "{} lines", first.len());
    let differ: Vec<(&String, &String)> = first
        .iter()
        .zip(&second)
        .filter(|(a, b)| a != b)
        .take(3)
        .collect();
    assert!(
        first.len() == second.len() && differ.is_empty(),
        "the same seed, other data: {} and {} lines; first differences: {differ:?}",
        first.len(),
        second.len()
    );
}

/// Each specialty sees patients of its age and sex, on weekdays in clinic hours (urgent care
/// every day until 20:00), cancellations have their reasons, names match sex, the records say
/// many different things about what the visit was for, and what was written is dated when it
/// happened (never after now, a record at its visit).
async fn coherent(app: &TestApp) {
    let admin = &app.admin_token;
    let now = chrono::Utc::now();
    let patients = app.all_pages("/patients", admin, 500).await;
    let patient = by_id(&patients);
    let doctors = app.all_pages("/doctors", admin, 500).await;
    let specialty: HashMap<String, String> = doctors
        .iter()
        .map(|d| {
            let s = d["specialty"].as_str().unwrap().to_string();
            (d["id"].as_str().unwrap().to_string(), s)
        })
        .collect();

    // Given names match sex: no name is given to both.
    let mut sex_of_name: HashMap<&str, &str> = HashMap::new();
    for p in &patients {
        let (name, sex) = (
            p["given_name"].as_str().unwrap(),
            p["sex"].as_str().unwrap(),
        );
        let first = *sex_of_name.entry(name).or_insert(sex);
        assert_eq!(first, sex, "{name} is given to both sexes");
    }

    // Who sees whom, when.
    let appts = app.all_pages("/appointments", admin, 500).await;
    assert!(appts.len() >= 150, "{} appointments", appts.len());
    let fits = |who: &Value, a: &Value| {
        let p = patient[who["patient_id"].as_str().unwrap()];
        let s = specialty[who["doctor_id"].as_str().unwrap()].as_str();
        let start = ts(&a["start"]);
        let age = start.date_naive().years_since(birth(p)).unwrap_or(0);
        let sex = p["sex"].as_str().unwrap();
        match s {
            "Pediatrics" => assert!(age < 18, "pediatrics for a {age}-year-old: {who}"),
            "Geriatrics" => assert!(age >= 65, "geriatrics for a {age}-year-old: {who}"),
            "Obstetrics and Gynecology" => assert_eq!(sex, "female", "OB/GYN for a man: {who}"),
            _ => {}
        }
        let (start, end) = (ts(&a["start"]), ts(&a["end"]));
        let (open, close) = if s == "Urgent Care" {
            ("08:00", "20:00")
        } else {
            use chrono::Datelike;
            let weekend = matches!(start.weekday(), chrono::Weekday::Sat | chrono::Weekday::Sun);
            assert!(!weekend, "{s} on a {}: {who}", start.weekday());
            ("08:00", "17:30")
        };
        let hm = |t: chrono::DateTime<chrono::Utc>| t.format("%H:%M").to_string();
        assert!(
            hm(start).as_str() >= open && hm(end).as_str() <= close && end > start,
            "{s} outside {open}–{close}: {who}"
        );
    };
    let times = |a: &Value| json!({"start": a["start_time"], "end": a["end_time"]});
    for a in &appts {
        fits(a, &times(a));
        // Booked before it happened.
        assert!(ts(&a["created_at"]) <= ts(&a["start_time"]), "{a}");
        assert!(ts(&a["created_at"]) <= now, "{a}");
    }
    for s in ["Pediatrics", "Obstetrics and Gynecology", "Urgent Care"] {
        assert!(
            appts
                .iter()
                .any(|a| specialty[a["doctor_id"].as_str().unwrap()] == s),
            "no {s} appointment"
        );
    }
    let past: Vec<&Value> = appts.iter().filter(|a| ts(&a["end_time"]) < now).collect();
    let missed = past
        .iter()
        .filter(|a| a["status"] == "cancelled" || a["status"] == "no_show")
        .count();
    assert!(
        missed * 100 <= past.len() * 30,
        "{missed} of {} past appointments cancelled or missed",
        past.len()
    );
    let reasons: HashSet<&str> = appts
        .iter()
        .filter_map(|a| a["cancel_reason"].as_str())
        .collect();
    assert!(reasons.len() >= 3, "cancellation reasons: {reasons:?}");

    // Virtual visits follow the same rules.
    for v in app.all_pages("/virtual-visits", admin, 500).await {
        fits(
            &v,
            &json!({"start": v["scheduled_start"], "end": v["scheduled_end"]}),
        );
    }

    // Records: many different notes, each of a visit, written at its end.
    let appt = by_id(&appts);
    let records = app.all_pages("/medical-records", admin, 500).await;
    assert!(records.len() >= 100, "{} records", records.len());
    let contents: HashSet<&str> = records
        .iter()
        .map(|r| r["content"].as_str().unwrap())
        .collect();
    let titles: HashSet<&str> = records
        .iter()
        .map(|r| r["title"].as_str().unwrap())
        .collect();
    assert!(
        contents.len() * 10 >= records.len() * 9,
        "{} distinct notes of {}",
        contents.len(),
        records.len()
    );
    assert!(titles.len() >= 20, "{} distinct titles", titles.len());
    for r in &records {
        let code = r["diagnosis_codes"][0].as_str().unwrap();
        let b = code.as_bytes();
        assert!(
            b[0].is_ascii_uppercase() && b[1].is_ascii_digit() && (b.len() == 3 || b[3] == b'.'),
            "an ICD-10 code: {r}"
        );
        let a = appt[r["appointment_id"].as_str().expect("a record of a visit")];
        let at = ts(&r["created_at"]);
        assert!(at <= now, "{r}");
        assert!(
            at >= ts(&a["start_time"]) && at <= ts(&a["end_time"]) + chrono::Duration::hours(3),
            "a record dated away from its visit: {r} / {a}"
        );
        assert_eq!(a["status"], "completed", "{a}");
    }

    // Lab orders: ordered, then collected, then resulted, none in the future.
    for o in app.all_pages("/lab-orders", admin, 500).await {
        let ordered = ts(&o["created_at"]);
        assert!(ordered <= now, "{o}");
        if let Some(c) = o["collected_at"].as_str() {
            let collected = ts(&json!(c));
            assert!(ordered <= collected && collected <= now, "{o}");
            if let Some(r) = o["resulted_at"].as_str() {
                assert!(collected <= ts(&json!(r)), "{o}");
            }
        }
    }
}

/// Fields of the demo's data that do not depend on generated ids, one line per row, sorted.
async fn digest(app: &TestApp) -> Vec<String> {
    let admin = &app.admin_token;
    let mut lines = Vec::new();
    let patients = app.all_pages("/patients", admin, 500).await;
    let name = |p: &Value| format!("{} {}", p["given_name"], p["family_name"]);
    let patient: HashMap<String, String> = patients
        .iter()
        .map(|p| (p["id"].as_str().unwrap().to_string(), name(p)))
        .collect();
    for p in &patients {
        lines.push(format!(
            "patient {} {} {} {}",
            name(p),
            p["birth_date"],
            p["sex"],
            p["created_at"]
        ));
    }
    let doctors = app.all_pages("/doctors", admin, 500).await;
    let doctor: HashMap<String, String> = doctors
        .iter()
        .map(|d| {
            (
                d["id"].as_str().unwrap().to_string(),
                format!("{} {}", name(d), d["specialty"]),
            )
        })
        .collect();
    lines.extend(doctor.values().map(|d| format!("doctor {d}")));
    let who = |v: &Value| {
        format!(
            "{} / {}",
            doctor[v["doctor_id"].as_str().unwrap()],
            patient[v["patient_id"].as_str().unwrap()]
        )
    };
    for a in app.all_pages("/appointments", admin, 500).await {
        lines.push(format!(
            "appointment {} {} {} {} {} {} {}",
            who(&a),
            a["start_time"],
            a["end_time"],
            a["reason"],
            a["status"],
            a["cancel_reason"],
            a["created_at"]
        ));
    }
    for r in app.all_pages("/medical-records", admin, 500).await {
        lines.push(format!(
            "record {} {} {} {} {}",
            who(&r),
            r["title"],
            r["content"],
            r["diagnosis_codes"],
            r["created_at"]
        ));
    }
    for o in app.all_pages("/lab-orders", admin, 500).await {
        lines.push(format!(
            "lab {} {} {} {}",
            who(&o),
            o["test_code"],
            o["status"],
            o["created_at"]
        ));
    }
    lines.sort();
    lines
}

both_backends!(demo_loads, demo_is_repeatable);
