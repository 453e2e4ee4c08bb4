//! What a request body must be: declared `application/json` in UTF-8 (nothing else, not even
//! `application/problem+json`), no larger than the limit (refused at once when
//! `Content-Length` says so), and without control characters in its strings (NUL included,
//! which PostgreSQL cannot store); dates exactly `YYYY-MM-DD`. On both backends.

use std::time::Duration;

use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::common::*;

/// Writes `head` (a request's line and headers, no body) on a raw connection and reads the
/// answer's head and body. The client waits 10 s at most: the server's timeout is 30 s, so
/// an answer within that is one the server gave without waiting for the body.
async fn raw_head_only(app: &TestApp, head: String) -> String {
    let host = app.base.trim_start_matches("http://").to_string();
    let mut stream = tokio::net::TcpStream::connect(&host).await.unwrap();
    stream.write_all(head.as_bytes()).await.unwrap();
    let mut answer = Vec::new();
    let mut buf = [0u8; 4096];
    let read = tokio::time::timeout(Duration::from_secs(10), async {
        loop {
            let n = stream.read(&mut buf).await.unwrap_or(0);
            answer.extend_from_slice(&buf[..n]);
            let text = String::from_utf8_lossy(&answer);
            if n == 0 || text.contains("\r\n\r\n") && text.trim_end().ends_with('}') {
                break;
            }
        }
    })
    .await;
    let text = String::from_utf8_lossy(&answer).to_string();
    assert!(
        read.is_ok(),
        "no answer within 10 s (held for the body until the timeout?): {text}"
    );
    text
}

#[track_caller]
fn assert_413(text: &str) {
    let lower = text.to_lowercase();
    assert!(lower.starts_with("http/1.1 413"), "{text}");
    assert!(
        lower.contains("content-type: application/problem+json"),
        "{text}"
    );
    assert!(lower.contains("\"status\":413"), "{text}");
}

/// A body declared larger than the limit is a 413 problem at once, before any of it is sent:
/// sign-in, an authenticated JSON route, and device ingest (its own, larger limit).
async fn a_declared_oversized_body_is_413_at_once(app: &TestApp) {
    let host = app.base.trim_start_matches("http://").to_string();
    let huge = 1u64 << 40;
    let text = raw_head_only(
        app,
        format!(
            "POST /api/v1/auth/login HTTP/1.1\r\nHost: {host}\r\n\
             Content-Type: application/json\r\nContent-Length: {huge}\r\n\r\n"
        ),
    )
    .await;
    assert_413(&text);
    let text = raw_head_only(
        app,
        format!(
            "POST /api/v1/patients HTTP/1.1\r\nHost: {host}\r\n\
             Authorization: Bearer {}\r\n\
             Content-Type: application/json\r\nContent-Length: 1048577\r\n\r\n",
            app.admin_token
        ),
    )
    .await;
    assert_413(&text);
    let text = raw_head_only(
        app,
        format!(
            "POST /api/v1/devices/{}/data HTTP/1.1\r\nHost: {host}\r\n\
             Authorization: Bearer {}\r\n\
             Content-Type: application/json\r\nContent-Length: {huge}\r\n\r\n",
            uuid::Uuid::now_v7(),
            app.admin_token
        ),
    )
    .await;
    assert_413(&text);
    // A body within the limit is still read and served.
    public_post(
        app,
        "/auth/login",
        json!({"email": ADMIN_EMAIL, "password": ADMIN_PASSWORD}),
    )
    .await
    .expect(200);
}

async fn public_post(app: &TestApp, path: &str, body: Value) -> Resp {
    app.call(reqwest::Method::POST, path, None, Some(body), &[])
        .await
}

fn registration(given: &str, email: &str) -> Value {
    json!({"email": email, "password": PASSWORD, "given_name": given, "family_name": "Tester",
           "birth_date": "1990-01-01", "sex": "other"})
}

fn email() -> String {
    format!("ctl-{}@example.test", unique())
}

#[track_caller]
fn assert_field(r: Resp, field: &str) -> Resp {
    let r = r.problem(422);
    let errors = r.body["errors"].as_array().expect("422 lists errors");
    assert!(
        errors.iter().any(|e| e["field"] == field),
        "expected an error naming {field:?}: {}",
        r.text
    );
    r
}

/// NUL in any string of any JSON body is 422 naming the field, on both backends (PostgreSQL
/// cannot store it: it was a 500 there, and stored on SQLite); so is any other control
/// character but tab and line breaks (U+0085 was silently trimmed from names).
async fn control_characters_in_json_strings_are_422(app: &TestApp) {
    let nul_email = format!("ctl-{}\u{0}@example.test", unique());
    let r = assert_field(
        public_post(app, "/auth/register", registration("Nul", &nul_email)).await,
        "email",
    );
    assert!(r.text.contains("U+0000"), "{}", r.text);
    for given in [
        "Nul\u{0}l",
        "Ann\u{85}",
        "\u{85}Ann",
        "Be\u{7}ll",
        "Del\u{7f}",
        "Esc\u{1b}[0m",
    ] {
        assert_field(
            public_post(app, "/auth/register", registration(given, &email())).await,
            "given_name",
        );
    }
    // Sign-in too, before any lookup.
    assert_field(
        public_post(
            app,
            "/auth/login",
            json!({"email": ADMIN_EMAIL, "password": "admin-\u{0}password-1"}),
        )
        .await,
        "password",
    );
    // Nested fields are named by their path.
    let r = assert_field(
        app.post(
            "/surveys",
            &app.admin_token,
            json!({"title": "Controls", "audience": "all",
                   "questions": [{"text": "Fine?", "kind": "text"},
                                 {"text": "Not\u{0} fine?", "kind": "text"}]}),
        )
        .await,
        "questions[1].text",
    );
    assert_eq!(r.body["errors"].as_array().unwrap().len(), 1, "{}", r.text);
    // A change of an existing patient (a 500 on PostgreSQL before).
    let p = app.patient("Changed").await;
    assert_field(
        app.patch(
            &format!("/patients/{}", p.pid()),
            &app.admin_token,
            json!({"family_name": "Tes\u{0}ter", "address": "1 Main St\u{0}"}),
        )
        .await,
        "address",
    );
    let unchanged = app
        .get(&format!("/patients/{}", p.pid()), &app.admin_token)
        .await
        .expect(200);
    assert_eq!(unchanged.body["family_name"], "Tester");

    // Tab and line breaks are text; so is every other character, escaped or not.
    let r = app
        .post_raw(
            "/auth/register",
            "",
            "application/json",
            format!(
                r#"{{"email":"{}","password":"{PASSWORD}","given_name":"Zo\u00eb \u00c5sa","family_name":"Tester","birth_date":"1990-01-01","sex":"other"}}"#,
                email()
            )
            .into_bytes(),
        )
        .await
        .expect(201);
    assert_eq!(r.body["patient"]["given_name"], "Zoë Åsa");
    let changed = app
        .patch(
            &format!("/patients/{}", p.pid()),
            &app.admin_token,
            json!({"address": "1 Main St\r\nFlat 2\tRear"}),
        )
        .await
        .expect(200);
    assert_eq!(changed.body["address"], "1 Main St\r\nFlat 2\tRear");
    let r = app
        .post("/auth/register", "", registration("Ünïcødé ✓", &email()))
        .await
        .expect(201);
    assert_eq!(r.body["patient"]["given_name"], "Ünïcødé ✓");
}

/// Dates are exactly `YYYY-MM-DD` wherever a birth date enters.
async fn birth_dates_are_strict(app: &TestApp) {
    let p = app.patient("Dated").await;
    for bad in [
        "1990-1-1",
        "1990-01-1",
        "90-01-01",
        "1990/01/01",
        "1990-01-01T00:00:00Z",
    ] {
        let mut body = registration("Dated", &email());
        body["birth_date"] = json!(bad);
        assert_field(public_post(app, "/auth/register", body).await, "birth_date");
        assert_field(
            app.patch(
                &format!("/patients/{}", p.pid()),
                &app.admin_token,
                json!({"birth_date": bad}),
            )
            .await,
            "birth_date",
        );
    }
}

/// A body is JSON only when declared `application/json`, without parameters or with
/// `charset=utf-8`: another charset, `application/problem+json` (what the server answers
/// errors with) and other `+json` types are 415 — device ingest included.
async fn only_utf8_application_json_is_json(app: &TestApp) {
    let body = || serde_json::to_vec(&registration("Typed", &email())).unwrap();
    for ct in [
        "application/json; charset=latin1",
        "application/json; charset=iso-8859-1",
        "application/json; charset=utf-16",
        "application/problem+json",
        "application/merge-patch+json",
        "application/vnd.api+json",
        "application/json-patch+json",
        "application/jsonx",
        "text/json",
    ] {
        let r = app.post_raw("/auth/register", "", ct, body()).await;
        let r = r.problem(415);
        assert_eq!(
            r.body["type"]
                .as_str()
                .map(|t| t.ends_with("/unsupported-media-type")),
            Some(true)
        );
    }
    for ct in [
        "application/json",
        "Application/JSON",
        "application/json; charset=utf-8",
        "application/json;charset=UTF-8",
        "application/json; charset=\"utf-8\"",
    ] {
        app.post_raw("/auth/register", "", ct, body())
            .await
            .expect(201);
    }
    // Device ingest reads its body itself: the same rule.
    let w = crate::devices::wearer(app, "Typed").await;
    let readings = serde_json::to_vec(&json!({"readings": [crate::devices::hr(
        &crate::clinical::slot(0, 1),
        72.0
    )]}))
    .unwrap();
    for ct in ["application/problem+json", "text/plain"] {
        let r = app
            .client
            .post(app.url(&format!("/devices/{}/data", w.device)))
            .header("authorization", format!("Device {}", w.token))
            .header("content-type", ct)
            .body(readings.clone())
            .send()
            .await
            .unwrap();
        assert_eq!(r.status().as_u16(), 415, "{ct}");
    }
    crate::devices::send(
        app,
        &w.device,
        &w.token,
        vec![crate::devices::hr(&crate::clinical::slot(0, 2), 73.0)],
    )
    .await
    .expect(200);
}

/// A NUL spelled in a path or a query (`%00`) is a 400 problem. On PostgreSQL it was a 500,
/// and worse: in the id of a refusal's audit entry (a patient asking for `/users/%00`) it
/// stopped the audit sealer, so the trail could not be read and requests piled up behind it.
async fn nul_in_a_path_or_query_is_400_and_the_trail_goes_on(app: &TestApp) {
    let p = app.patient("Nully").await;
    for path in [
        "/users/%00",
        "/users/%00/consent-status",
        "/patients/%00",
        "/patients?q=%00",
        "/patients?q=a%00b",
        "/audit-logs?user_id=%00",
    ] {
        for token in [&p.token, &app.admin_token] {
            let r = app.get(path, token).await.problem(400);
            assert!(r.text.contains("%00"), "{path}: {}", r.text);
        }
    }
    // The trail still seals and answers: the patient's next read is there.
    app.get(&format!("/patients/{}", p.pid()), &p.token)
        .await
        .expect(200);
    crate::clinical::audit_until(app, &format!("user_id={}", p.user_id), |items| {
        crate::clinical::has_entry(items, "read", "patient", Some(p.pid()), "success")
    })
    .await;
    // `%00` is refused, not other escapes.
    app.get("/patients?q=%C3%A9", &app.admin_token)
        .await
        .expect(200);
}

both_backends!(
    nul_in_a_path_or_query_is_400_and_the_trail_goes_on,
    a_declared_oversized_body_is_413_at_once,
    control_characters_in_json_strings_are_422,
    birth_dates_are_strict,
    only_utf8_application_json_is_json,
);
