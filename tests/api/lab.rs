//! Lab: orders and the work list, results (derived interpretation, critical alerts, corrections
//! with history), diagnostic images in the blob store, and who reaches each.

use std::time::Duration;

use reqwest::Method;
use serde_json::{json, Value};

use crate::clinical::*;
use crate::common::*;
use crate::notifications::Sse;

/// A patient, a doctor on their care team (through an appointment) and a lab technician.
struct Lab {
    patient: Actor,
    doctor: Actor,
    tech: Actor,
}

async fn lab(app: &TestApp, name: &str) -> Lab {
    let patient = app.patient(name).await;
    let doctor = app.doctor(&format!("{name}Doc"), "internal medicine").await;
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
    Lab {
        patient,
        doctor,
        tech: app.staff("lab_technician").await,
    }
}

async fn order(app: &TestApp, token: &str, patient: &str, code: &str, priority: &str) -> Resp {
    app.post(
        "/lab-orders",
        token,
        json!({"patient_id": patient, "test_code": code, "test_name": "Basic metabolic panel",
               "priority": priority}),
    )
    .await
}

async fn result(app: &TestApp, token: &str, order: &str, body: Value) -> Resp {
    app.post(&format!("/lab-orders/{order}/results"), token, body)
        .await
}

async fn orders_and_the_work_list(app: &TestApp) {
    let l = lab(app, "Olga").await;
    // LOINC-shaped codes only.
    for bad in ["abc", "12345678-9", "2345-77", "2345"] {
        let r = order(app, &l.doctor.token, l.patient.pid(), bad, "routine")
            .await
            .problem(422);
        assert!(r.text.contains("test_code"), "{r:?}");
    }
    // A doctor not on the care team (and without an appointment) does not reach the patient.
    let stranger = app.doctor("Stranger", "surgery").await;
    order(app, &stranger.token, l.patient.pid(), "2345-7", "routine")
        .await
        .problem(404);
    // Lab technicians and patients do not order.
    order(app, &l.tech.token, l.patient.pid(), "2345-7", "routine")
        .await
        .problem(403);
    order(app, &l.patient.token, l.patient.pid(), "2345-7", "routine")
        .await
        .problem(403);
    let routine = order(app, &l.doctor.token, l.patient.pid(), "2345-7", "routine")
        .await
        .expect(201);
    assert_eq!(routine.body["status"], "ordered");
    assert_eq!(routine.body["doctor_id"], l.doctor.did());
    let routine = routine.id();
    let stat = order(app, &l.doctor.token, l.patient.pid(), "718-7", "stat")
        .await
        .expect(201)
        .id();
    let urgent = order(app, &l.doctor.token, l.patient.pid(), "4548-4", "urgent")
        .await
        .expect(201)
        .id();
    // An admin names the doctor.
    app.post(
        "/lab-orders",
        &app.admin_token,
        json!({"patient_id": l.patient.pid(), "test_code": "2093-3", "test_name": "Cholesterol"}),
    )
    .await
    .problem(422);
    app.post(
        "/lab-orders",
        &app.admin_token,
        json!({"patient_id": l.patient.pid(), "doctor_id": l.doctor.did(),
               "test_code": "2093-3", "test_name": "Cholesterol"}),
    )
    .await
    .expect(201);
    assert!(care_team(app, l.patient.pid())
        .await
        .contains(&(l.doctor.did().to_string(), "lab_order".to_string())));
    // The work list: every order, stat first.
    let list = app
        .get(
            &format!("/lab-orders?status=ordered&patient_id={}", l.patient.pid()),
            &l.tech.token,
        )
        .await
        .expect(200)
        .items();
    let ids: Vec<&str> = list.iter().map(|o| o["id"].as_str().unwrap()).collect();
    assert_eq!(
        &ids[..3],
        &[stat.as_str(), urgent.as_str(), routine.as_str()]
    );
    let stats = app
        .get("/lab-orders?status=ordered&priority=stat", &l.tech.token)
        .await
        .expect(200)
        .items();
    assert!(stats.iter().all(|o| o["priority"] == "stat"));
    assert!(stats.iter().any(|o| o["id"] == stat.as_str()));
    // Paging keeps the order.
    let paged = app
        .all_pages(
            &format!("/lab-orders?patient_id={}", l.patient.pid()),
            &l.tech.token,
            1,
        )
        .await;
    assert_eq!(paged.len(), 4);
    assert_eq!(paged[0]["id"], stat.as_str());
    // Collect: the lab only.
    app.post(
        &format!("/lab-orders/{stat}/collect"),
        &l.doctor.token,
        json!({}),
    )
    .await
    .problem(403);
    let c = app
        .post(
            &format!("/lab-orders/{stat}/collect"),
            &l.tech.token,
            json!({}),
        )
        .await
        .expect(200);
    assert_eq!(c.body["status"], "collected");
    assert!(!c.body["collected_at"].is_null());
    app.post(
        &format!("/lab-orders/{stat}/collect"),
        &l.tech.token,
        json!({}),
    )
    .await
    .problem(409);
    // Cancel: the ordering doctor, with a reason.
    let path = format!("/lab-orders/{routine}/cancel");
    app.post(&path, &l.doctor.token, json!({"reason": " "}))
        .await
        .problem(422);
    app.post(&path, &l.tech.token, json!({"reason": "no sample"}))
        .await
        .problem(403);
    let cancelled = app
        .post(&path, &l.doctor.token, json!({"reason": "ordered twice"}))
        .await
        .expect(200);
    assert_eq!(cancelled.body["status"], "cancelled");
    assert_eq!(cancelled.body["cancel_reason"], "ordered twice");
    let r = app
        .post(&path, &l.doctor.token, json!({"reason": "again"}))
        .await
        .problem(409);
    assert!(r.text.contains("cancelled"));
    // No hard deletes.
    assert_eq!(
        app.delete(&format!("/lab-orders/{stat}"), &app.admin_token)
            .await
            .status,
        405
    );
}

async fn results_alerts_and_corrections(app: &TestApp) {
    let l = lab(app, "Rosa").await;
    let id = order(app, &l.doctor.token, l.patient.pid(), "24323-8", "urgent")
        .await
        .expect(201)
        .id();
    // Not collected yet.
    result(app, &l.tech.token, &id, json!({"value": "140"}))
        .await
        .problem(409);
    app.post(
        &format!("/lab-orders/{id}/collect"),
        &l.tech.token,
        json!({}),
    )
    .await
    .expect(200);
    // Doctors do not record results.
    result(app, &l.doctor.token, &id, json!({"value": "140"}))
        .await
        .problem(403);
    result(app, &l.tech.token, &id, json!({"value": " "}))
        .await
        .problem(422);
    result(
        app,
        &l.tech.token,
        &id,
        json!({"value": "1", "reference_low": 5.0, "reference_high": 2.0}),
    )
    .await
    .problem(422);
    let sodium = result(
        app,
        &l.tech.token,
        &id,
        json!({"test_code": "2951-2", "value": "140", "unit": "mmol/L",
               "reference_low": 136, "reference_high": 145}),
    )
    .await
    .expect(201);
    assert_eq!(sodium.body["interpretation"], "normal");
    assert_eq!(sodium.body["value_numeric"], 140.0);
    assert_eq!(sodium.body["status"], "final");
    assert_eq!(sodium.body["resulted_by"], l.tech.user_id.as_str());
    let potassium = result(
        app,
        &l.tech.token,
        &id,
        json!({"test_code": "2823-3", "value": "5.4", "unit": "mmol/L",
               "reference_low": 3.5, "reference_high": 5.1}),
    )
    .await
    .expect(201);
    assert_eq!(potassium.body["interpretation"], "abnormal");
    let text = result(
        app,
        &l.tech.token,
        &id,
        json!({"test_code": "5778-6", "value": "yellow"}),
    )
    .await
    .expect(201);
    assert_eq!(text.body["interpretation"], "normal");
    assert!(text.body["value_numeric"].is_null());
    // The first result moved the order.
    let o = app
        .get(&format!("/lab-orders/{id}"), &l.patient.token)
        .await
        .expect(200);
    assert_eq!(o.body["status"], "resulted");
    assert!(!o.body["resulted_at"].is_null());
    // The doctor and the patient are told, once while unread.
    let unread = |n: &[Value], kind: &str| {
        n.iter()
            .filter(|n| n["kind"] == kind && n["read_at"].is_null())
            .count()
    };
    assert_eq!(
        unread(&notifications(app, &l.doctor.token).await, "lab_result"),
        1
    );
    assert_eq!(
        unread(&notifications(app, &l.patient.token).await, "lab_result"),
        1
    );
    // A critical value reaches the doctor's live stream at once.
    let mut sse = Sse::open(app, &l.doctor.token, None).await;
    let critical = result(
        app,
        &l.tech.token,
        &id,
        json!({"test_code": "2345-7", "value": "28", "unit": "mg/dL",
               "reference_low": 70, "reference_high": 99, "interpretation": "critical"}),
    )
    .await
    .expect(201);
    assert_eq!(critical.body["interpretation"], "critical");
    let (_, n) = sse.expect().await;
    assert_eq!(n["kind"], "lab_result_critical", "{n}");
    assert_eq!(n["resource_id"], critical.id().as_str());
    // Correction: If-Match honoured, every earlier value kept, the doctor told again.
    let rid = potassium.id();
    let path = format!("/lab-results/{rid}");
    let stale = app
        .call(
            Method::PATCH,
            &path,
            Some(&l.tech.token),
            Some(json!({"value": "4.6"})),
            &[("if-match", "\"9\"")],
        )
        .await;
    assert_eq!(stale.status, 412);
    app.patch(&path, &l.doctor.token, json!({"value": "4.6"}))
        .await
        .problem(403);
    let fixed = app
        .call(
            Method::PATCH,
            &path,
            Some(&l.tech.token),
            Some(json!({"value": "4.6", "note": "haemolysed sample re-run"})),
            &[("if-match", "\"1\"")],
        )
        .await
        .expect(200);
    assert_eq!(fixed.body["status"], "corrected");
    assert_eq!(fixed.body["version"], 2);
    assert_eq!(fixed.body["value_numeric"], 4.6);
    assert_eq!(fixed.body["interpretation"], "normal", "derived again");
    assert_eq!(fixed.header("etag"), Some("\"2\""));
    let history = app
        .get(&format!("{path}/history"), &l.patient.token)
        .await
        .expect(200);
    let h = history.body.as_array().unwrap();
    assert_eq!(h.len(), 2);
    assert_eq!(h[0]["value"], "5.4");
    assert_eq!(h[0]["status"], "final");
    assert_eq!(h[1]["value"], "4.6");
    assert_eq!(h[1]["status"], "corrected");
    let (_, n) = sse.expect().await;
    assert_eq!(n["kind"], "lab_result", "{n}");
    assert!(n["title"].as_str().unwrap().contains("corrected"));
    // Lists.
    let all = app
        .get(&format!("/lab-results?lab_order_id={id}"), &l.doctor.token)
        .await
        .expect(200)
        .items();
    assert_eq!(all.len(), 4);
    let mine = app
        .get(
            &format!("/lab-results?patient_id={}", l.patient.pid()),
            &l.patient.token,
        )
        .await
        .expect(200)
        .items();
    assert_eq!(mine.len(), 4);
    // A cancelled order takes no result.
    let other = order(app, &l.doctor.token, l.patient.pid(), "2093-3", "routine")
        .await
        .expect(201)
        .id();
    app.post(
        &format!("/lab-orders/{other}/cancel"),
        &l.doctor.token,
        json!({"reason": "not needed"}),
    )
    .await
    .expect(200);
    result(app, &l.tech.token, &other, json!({"value": "180"}))
        .await
        .problem(409);
    let items = audit_until(app, &format!("patient_id={}", l.patient.pid()), |items| {
        has_entry(items, "create", "lab_result", Some(&rid), "success")
            && has_entry(items, "update", "lab_result", Some(&rid), "success")
            && has_entry(items, "state_change", "lab_order", Some(&id), "success")
            && has_entry(items, "read", "lab_result", Some(&rid), "success")
    })
    .await;
    assert!(!items.is_empty());
}

async fn who_reaches_lab_data(app: &TestApp) {
    let l = lab(app, "Lena").await;
    let id = order(app, &l.doctor.token, l.patient.pid(), "4548-4", "routine")
        .await
        .expect(201)
        .id();
    app.post(
        &format!("/lab-orders/{id}/collect"),
        &l.tech.token,
        json!({}),
    )
    .await
    .expect(200);
    let rid = result(
        app,
        &l.tech.token,
        &id,
        json!({"value": "6.1", "unit": "%"}),
    )
    .await
    .expect(201)
    .id();
    let image = app
        .post(
            "/diagnostic-images",
            &l.doctor.token,
            json!({"patient_id": l.patient.pid(), "modality": "CR", "body_site": "chest"}),
        )
        .await
        .expect(201)
        .id();
    let reads = [
        format!("/lab-orders/{id}"),
        format!("/lab-results/{rid}"),
        format!("/lab-results/{rid}/history"),
        format!("/diagnostic-images/{image}"),
    ];
    let lists = [
        ("/lab-orders", id.as_str()),
        ("/lab-results", rid.as_str()),
        ("/diagnostic-images", image.as_str()),
    ];
    // The patient, the care team's doctor, the lab, admins.
    for token in [
        &l.patient.token,
        &l.doctor.token,
        &l.tech.token,
        &app.admin_token,
    ] {
        for path in &reads {
            app.get(path, token).await.expect(200);
        }
        for (path, want) in lists {
            let items = app.get(path, token).await.expect(200).items();
            assert!(items.iter().any(|x| x["id"] == want), "{path}");
        }
    }
    // Another patient and a doctor off the care team: 404 and absent.
    let other_patient = app.patient("Other").await;
    let other_doctor = app.doctor("Elsewhere", "dermatology").await;
    for who in [&other_patient, &other_doctor] {
        for path in &reads {
            app.get(path, &who.token).await.problem(404);
        }
        for (path, want) in lists {
            let items = app.get(path, &who.token).await.expect(200).items();
            assert!(!items.iter().any(|x| x["id"] == want), "{path}");
        }
        let filtered = app
            .get(
                &format!("/lab-results?patient_id={}", l.patient.pid()),
                &who.token,
            )
            .await
            .expect(200)
            .items();
        assert!(filtered.is_empty());
    }
    // Lab technicians: the patient's demographics, and no other clinical data.
    app.get(&format!("/patients/{}", l.patient.pid()), &l.tech.token)
        .await
        .expect(200);
    app.get("/medical-records", &l.tech.token)
        .await
        .problem(403);
    app.get("/appointments", &l.tech.token).await.problem(403);
    app.get("/virtual-visits", &l.tech.token).await.problem(403);
    // Roles without lab permissions.
    for role in ["pharmacist", "billing", "auditor"] {
        let staff = app.staff(role).await;
        for path in &reads {
            app.get(path, &staff.token).await.problem(403);
        }
        app.get("/lab-orders", &staff.token).await.problem(403);
    }
    let items = audit_until(app, "resource_type=lab_order&outcome=denied", |items| {
        items
            .iter()
            .any(|e| e["user_id"] == other_doctor.user_id.as_str())
    })
    .await;
    assert!(!items.is_empty());
}

/// A minimal PNG (signature, then filler), `n` bytes long.
fn png(n: usize) -> Vec<u8> {
    let mut b = b"\x89PNG\r\n\x1a\n".to_vec();
    b.extend((0..n.saturating_sub(8)).map(|i| (i % 251) as u8));
    b
}

fn dicom(n: usize) -> Vec<u8> {
    let mut b = vec![0u8; 128];
    b.extend_from_slice(b"DICM");
    b.extend((0..n.saturating_sub(132)).map(|i| (i % 13) as u8));
    b
}

async fn put(app: &TestApp, token: &str, image: &str, content_type: &str, body: Vec<u8>) -> Resp {
    let resp = app
        .client
        .put(app.url(&format!("/diagnostic-images/{image}/content")))
        .bearer_auth(token)
        .header("content-type", content_type)
        .body(body)
        .send()
        .await
        .expect("request sent");
    let status = resp.status();
    let headers = resp.headers().clone();
    let text = resp.text().await.unwrap_or_default();
    Resp {
        status,
        headers,
        body: serde_json::from_str(&text).unwrap_or(Value::Null),
        text,
    }
}

/// The files in the blob folder (what uploads left behind).
fn blob_files(app: &TestApp) -> Vec<std::path::PathBuf> {
    fn walk(dir: &std::path::Path, out: &mut Vec<std::path::PathBuf>) {
        let Ok(entries) = std::fs::read_dir(dir) else {
            return;
        };
        for e in entries.flatten() {
            let p = e.path();
            if p.is_dir() {
                walk(&p, out);
            } else {
                out.push(p);
            }
        }
    }
    let mut out = Vec::new();
    walk(&app.data_dir.join("blobs"), &mut out);
    out
}

async fn images_in_the_blob_store(app: &TestApp) {
    let l = lab(app, "Ines").await;
    let new = |body: Value| async { app.post("/diagnostic-images", &l.tech.token, body).await };
    new(json!({"patient_id": l.patient.pid(), "modality": "XX"}))
        .await
        .problem(422);
    let image = new(
        json!({"patient_id": l.patient.pid(), "doctor_id": l.doctor.did(),
                           "modality": "DX", "body_site": "left wrist"}),
    )
    .await
    .expect(201);
    assert_eq!(image.body["status"], "pending_upload");
    assert!(image.body["sha256"].is_null());
    let id = image.id();
    // Wrong type, a lying signature, too large: each refused, nothing stored.
    let r = put(app, &l.tech.token, &id, "text/plain", png(1000))
        .await
        .problem(415);
    assert!(problem_ok(&r));
    put(app, &l.tech.token, &id, "image/jpeg", png(1000))
        .await
        .problem(415);
    put(app, &l.tech.token, &id, "application/dicom", png(1000))
        .await
        .problem(415);
    put(app, &l.tech.token, &id, "image/png", dicom(1000))
        .await
        .problem(415);
    put(app, &l.tech.token, &id, "image/png", b"\x89PN".to_vec())
        .await
        .problem(415);
    put(app, &l.tech.token, &id, "image/png", png(70_000))
        .await
        .problem(413);
    // An upload that breaks off midway.
    let chunks: Vec<Result<Vec<u8>, std::io::Error>> = vec![
        Ok(png(20_000)),
        Err(std::io::Error::other("connection reset")),
    ];
    let broken = app
        .client
        .put(app.url(&format!("/diagnostic-images/{id}/content")))
        .bearer_auth(&l.tech.token)
        .header("content-type", "image/png")
        .body(reqwest::Body::wrap_stream(futures::stream::iter(chunks)))
        .send()
        .await;
    if let Ok(r) = broken {
        assert!(r.status().as_u16() >= 400, "{r:?}");
    }
    tokio::time::sleep(Duration::from_millis(200)).await;
    let still = app
        .get(&format!("/diagnostic-images/{id}"), &l.doctor.token)
        .await
        .expect(200);
    assert_eq!(still.body["status"], "pending_upload");
    assert!(blob_files(app).is_empty(), "{:?}", blob_files(app));
    // The content is not there yet.
    app.get(&format!("/diagnostic-images/{id}/content"), &l.doctor.token)
        .await
        .problem(409);
    // A real upload.
    let bytes = png(40_000);
    let sha = {
        use sha2::Digest;
        hex::encode(sha2::Sha256::digest(&bytes))
    };
    let up = put(app, &l.tech.token, &id, "image/png", bytes.clone())
        .await
        .expect(200);
    assert_eq!(up.body["status"], "available");
    assert_eq!(up.body["size_bytes"], 40_000);
    assert_eq!(up.body["sha256"], sha.as_str());
    assert_eq!(up.body["content_type"], "image/png");
    assert_eq!(blob_files(app).len(), 1);
    // Immutable.
    put(app, &l.tech.token, &id, "image/png", png(100))
        .await
        .problem(409);
    assert_eq!(blob_files(app).len(), 1);
    // Download: whole, ranges, conditional.
    let url = app.url(&format!("/diagnostic-images/{id}/content"));
    let get = |range: Option<&'static str>, inm: Option<String>| {
        let mut req = app.client.get(&url).bearer_auth(&l.patient.token);
        if let Some(r) = range {
            req = req.header("range", r);
        }
        if let Some(t) = inm {
            req = req.header("if-none-match", t);
        }
        req.send()
    };
    let whole = get(None, None).await.unwrap();
    assert_eq!(whole.status(), 200);
    assert_eq!(whole.headers()["content-type"], "image/png");
    assert_eq!(whole.headers()["etag"], format!("\"{sha}\"").as_str());
    assert_eq!(whole.bytes().await.unwrap().to_vec(), bytes);
    let part = get(Some("bytes=10-19"), None).await.unwrap();
    assert_eq!(part.status(), 206);
    assert_eq!(part.headers()["content-range"], "bytes 10-19/40000");
    assert_eq!(part.bytes().await.unwrap().to_vec(), bytes[10..20].to_vec());
    let tail = get(Some("bytes=-5"), None).await.unwrap();
    assert_eq!(tail.status(), 206);
    assert_eq!(
        tail.bytes().await.unwrap().to_vec(),
        bytes[39_995..].to_vec()
    );
    let open = get(Some("bytes=39990-"), None).await.unwrap();
    assert_eq!(open.bytes().await.unwrap().len(), 10);
    assert_eq!(get(Some("bytes=50000-"), None).await.unwrap().status(), 416);
    assert_eq!(
        get(None, Some(format!("\"{sha}\"")))
            .await
            .unwrap()
            .status(),
        304
    );
    // DICOM is recognised by `DICM` after its preamble; a doctor on the care team uploads.
    let scan = app
        .post(
            "/diagnostic-images",
            &l.doctor.token,
            json!({"patient_id": l.patient.pid(), "modality": "CT", "description": "head"}),
        )
        .await
        .expect(201)
        .id();
    put(
        app,
        &l.doctor.token,
        &scan,
        "application/dicom",
        dicom(5000),
    )
    .await
    .expect(200);
    // Patients read, never upload; outsiders do not reach.
    let pending = new(json!({"patient_id": l.patient.pid(), "modality": "US"}))
        .await
        .expect(201)
        .id();
    put(app, &l.patient.token, &pending, "image/png", png(100))
        .await
        .problem(403);
    let outsider = app.doctor("Outside", "radiology").await;
    put(app, &outsider.token, &pending, "image/png", png(100))
        .await
        .problem(404);
    assert_eq!(
        app.client
            .get(&url)
            .bearer_auth(&outsider.token)
            .send()
            .await
            .unwrap()
            .status(),
        404
    );
    let items = audit_until(app, &format!("patient_id={}", l.patient.pid()), |items| {
        has_entry(items, "update", "diagnostic_image", Some(&id), "success")
            && has_entry(items, "read", "diagnostic_image", Some(&id), "success")
    })
    .await;
    assert!(!items.is_empty());
}

/// The OpenAPI document gives image content as binary strings, in and out.
async fn openapi_lists_binary_bodies(app: &TestApp) {
    let doc = app
        .call(Method::GET, "/openapi.json", None, None, &[])
        .await
        .expect(200)
        .body;
    let op = &doc["paths"]["/api/v1/diagnostic-images/{id}/content"];
    for body in [&op["put"]["requestBody"], &op["get"]["responses"]["200"]] {
        for ct in ["image/png", "image/jpeg", "application/dicom"] {
            let schema = &body["content"][ct]["schema"];
            let name = schema["$ref"].as_str().unwrap_or_default();
            let resolved = match name.strip_prefix("#/components/schemas/") {
                Some(n) => &doc["components"]["schemas"][n],
                None => schema,
            };
            assert_eq!(resolved["type"], "string", "{ct}: {body}");
            assert_eq!(resolved["format"], "binary", "{ct}: {body}");
        }
    }
}

fn problem_ok(r: &Resp) -> bool {
    r.body["type"].as_str().is_some_and(|t| !t.is_empty()) && r.body["detail"].is_string()
}

/// The store for the image tests: a small size limit, so that 413 needs no large body.
async fn with_small_images(backend: Backend) -> Option<TestApp> {
    TestApp::spawn_with(backend, |c| c.max_image_bytes = 64 * 1024).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn images_sqlite() {
    let app = with_small_images(Backend::Sqlite).await.unwrap();
    images_in_the_blob_store(&app).await;
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn images_postgres() {
    let Some(app) = with_small_images(Backend::Postgres).await else {
        eprintln!("HEALTHAPI_TEST_POSTGRES_URL unset: PostgreSQL run skipped");
        return;
    };
    images_in_the_blob_store(&app).await;
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn openapi_binary_bodies() {
    let app = TestApp::spawn(Backend::Sqlite).await.unwrap();
    openapi_lists_binary_bodies(&app).await;
    app.stop().await;
}

both_backends!(
    orders_and_the_work_list,
    results_alerts_and_corrections,
    who_reaches_lab_data,
);
