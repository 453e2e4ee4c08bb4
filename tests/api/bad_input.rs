//! The HTTP surface as a whole: malformed requests of every kind get the right status and a
//! problem+json body; the operations endpoints; request ids. On both backends.

use crate::common::*;
use reqwest::Method;
use serde_json::{json, Value};

/// Every error is RFC 9457 problem+json with type, title, status and detail, carries a request
/// id, and leaks no internals.
#[track_caller]
fn assert_problem(r: Resp, status: u16) -> Resp {
    let r = r.problem(status);
    assert!(
        r.body["detail"].as_str().is_some_and(|d| !d.is_empty()),
        "problem has a detail: {}",
        r.text
    );
    assert!(r.body["type"].as_str().unwrap().starts_with("http"));
    assert!(r.header("x-request-id").is_some_and(|v| !v.is_empty()));
    let lower = r.text.to_lowercase();
    for leak in [
        "select ", "insert ", "src/", "panicked", "diesel", "sqlite", "postgres",
    ] {
        assert!(!lower.contains(leak), "problem leaks {leak:?}: {}", r.text);
    }
    r
}

fn register_body() -> Value {
    json!({
        "email": format!("raw-{}@example.test", unique()), "password": PASSWORD,
        "given_name": "Raw", "family_name": "Body", "birth_date": "1970-01-01", "sex": "other"
    })
}

async fn raw(
    app: &TestApp,
    method: Method,
    path: &str,
    token: Option<&str>,
    content_type: Option<&str>,
    body: Vec<u8>,
) -> Resp {
    let mut req = app.client.request(method, app.url(path)).body(body);
    if let Some(t) = token {
        req = req.bearer_auth(t);
    }
    if let Some(ct) = content_type {
        req = req.header("content-type", ct);
    }
    let resp = req.send().await.expect("request sent");
    let status = resp.status();
    let headers = resp.headers().clone();
    let text = resp.text().await.unwrap_or_default();
    let body = serde_json::from_str(&text).unwrap_or(Value::Null);
    Resp {
        status,
        headers,
        body,
        text,
    }
}

/// POSTs `body` as JSON over a plain TCP connection, ignoring failures to write it, and returns
/// the answer's status and its whole text (head and body).
async fn post_over_socket(
    app: &TestApp,
    path: &str,
    token: Option<&str>,
    body: &[u8],
) -> (u16, String) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let addr = app.base.trim_start_matches("http://").to_string();
    let mut stream = tokio::net::TcpStream::connect(&addr).await.unwrap();
    let auth = token.map_or(String::new(), |t| format!("authorization: Bearer {t}\r\n"));
    let head = format!(
        "POST {path} HTTP/1.1\r\nhost: {addr}\r\n{auth}content-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n",
        body.len()
    );
    let (mut reader, mut writer) = stream.split();
    let write = async {
        let send = async {
            writer.write_all(head.as_bytes()).await?;
            writer.write_all(body).await
        };
        let _ = tokio::time::timeout(std::time::Duration::from_secs(10), send).await;
    };
    let mut answer = Vec::new();
    let read = async {
        let _ = tokio::time::timeout(
            std::time::Duration::from_secs(10),
            reader.read_to_end(&mut answer),
        )
        .await;
    };
    tokio::join!(write, read);
    let text = String::from_utf8_lossy(&answer).to_string();
    let status = text
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    (status, text)
}

async fn malformed_json_is_400(app: &TestApp) {
    for bad in [
        &b"{\"email\": "[..],
        b"{email: 'x'}",
        b"not json at all",
        b"",
        b"{\"email\":\"a@b.c\",\"password\":\"x\"} trailing",
    ] {
        let r = raw(
            app,
            Method::POST,
            "/auth/login",
            None,
            Some("application/json"),
            bad.to_vec(),
        )
        .await;
        assert_problem(r, 400);
    }
    // Authenticated routes too.
    let r = app
        .post_raw(
            "/users",
            &app.admin_token,
            "application/json",
            b"{\"roles\": [".to_vec(),
        )
        .await;
    assert_problem(r, 400);
    let r = app
        .post_raw(
            "/roles",
            &app.admin_token,
            "application/json",
            b"[1,2".to_vec(),
        )
        .await;
    assert_problem(r, 400);
    // A charset parameter is still JSON.
    let r = app
        .post_raw(
            "/auth/register",
            "",
            "application/json; charset=utf-8",
            serde_json::to_vec(&register_body()).unwrap(),
        )
        .await;
    r.expect(201);
}

async fn wrong_content_type_is_415(app: &TestApp) {
    let body =
        serde_json::to_vec(&json!({"email": ADMIN_EMAIL, "password": ADMIN_PASSWORD})).unwrap();
    for ct in [
        Some("text/plain"),
        Some("application/x-www-form-urlencoded"),
        Some("application/xml"),
        None,
    ] {
        let r = raw(app, Method::POST, "/auth/login", None, ct, body.clone()).await;
        assert_problem(r, 415);
    }
    let r = app
        .post_raw(
            "/auth/register",
            "",
            "text/plain",
            serde_json::to_vec(&register_body()).unwrap(),
        )
        .await;
    assert_problem(r, 415);
    let r = app
        .post_raw(
            "/roles",
            &app.admin_token,
            "text/plain",
            b"{\"name\":\"x_y\",\"description\":\"\",\"permissions\":[]}".to_vec(),
        )
        .await;
    assert_problem(r, 415);
    let r = raw(
        app,
        Method::PATCH,
        "/users/0190aaaa-0000-7000-8000-000000000000",
        Some(&app.admin_token),
        Some("text/plain"),
        b"{\"display_name\":\"x\"}".to_vec(),
    )
    .await;
    assert_problem(r, 415);
}

async fn oversized_body_is_413(app: &TestApp) {
    // A syntactically valid JSON body just over 1 MiB.
    let filler = "a".repeat(1024 * 1024 + 16);
    let big = serde_json::to_vec(&json!({"email": ADMIN_EMAIL, "password": filler})).unwrap();
    assert!(big.len() > 1024 * 1024);
    // The server answers 413 as soon as it sees the declared length and closes the connection;
    // an HTTP client still writing the body may see the reset before the answer, so these go
    // over a plain socket that reads the answer whatever became of the writing.
    let mut reg = register_body();
    reg["given_name"] = json!("b".repeat(1024 * 1024 + 16));
    for (path, token, body) in [
        ("/api/v1/auth/login", None, big.clone()),
        ("/api/v1/users", Some(app.admin_token.as_str()), big.clone()),
        (
            "/api/v1/auth/register",
            None,
            serde_json::to_vec(&reg).unwrap(),
        ),
    ] {
        let (status, text) = post_over_socket(app, path, token, &body).await;
        assert_eq!(status, 413, "{path}: {text}");
        assert!(text.contains("application/problem+json"), "{path}: {text}");
    }
    // Just under the limit is read (and then refused on its merits, not its size).
    let under =
        serde_json::to_vec(&json!({"email": ADMIN_EMAIL, "password": "c".repeat(1000 * 1000)}))
            .unwrap();
    assert!(under.len() < 1024 * 1024);
    let r = raw(
        app,
        Method::POST,
        "/auth/login",
        None,
        Some("application/json"),
        under,
    )
    .await;
    assert_problem(r, 401);
}

async fn unknown_route_and_method(app: &TestApp) {
    for path in [
        "/api/v1/nope",
        "/nope",
        "/api/v2/users",
        "/api/v1/users/x/y/z",
    ] {
        let r = app.get(path, &app.admin_token).await;
        assert_problem(r, 404);
    }
    // Anonymous requests to unknown routes: 404 too (not 401).
    let r = app
        .call(Method::GET, "/api/v1/definitely-not-here", None, None, &[])
        .await;
    assert_problem(r, 404);

    for (method, path, allowed) in [
        (Method::DELETE, "/api/v1/auth/me", "GET"),
        (Method::PUT, "/api/v1/auth/login", "POST"),
        (Method::GET, "/api/v1/auth/logout", "POST"),
        (Method::DELETE, "/api/v1/users", "GET"),
        (Method::PUT, "/api/v1/roles", "POST"),
    ] {
        let r = app
            .call(method.clone(), path, Some(&app.admin_token), None, &[])
            .await;
        let r = assert_problem(r, 405);
        let allow = r.header("allow").unwrap_or_default().to_uppercase();
        assert!(
            allow.contains(allowed),
            "{method} {path}: Allow {allow:?} names {allowed}"
        );
    }
    // DELETE of a user does not exist (accounts are deactivated).
    let me = app.get("/auth/me", &app.admin_token).await.expect(200);
    let r = app
        .delete(
            &format!("/users/{}", me.body["id"].as_str().unwrap()),
            &app.admin_token,
        )
        .await;
    assert_problem(r, 405);
}

async fn missing_or_bad_credentials_are_401(app: &TestApp) {
    for (path, method) in [
        ("/auth/me", Method::GET),
        ("/users", Method::GET),
        ("/roles", Method::GET),
        ("/permissions", Method::GET),
        ("/audit-logs", Method::GET),
        ("/auth/logout", Method::POST),
    ] {
        let r = app.call(method.clone(), path, None, None, &[]).await;
        assert_problem(r, 401);
        let r = app
            .call(method.clone(), path, Some("not-a-real-token"), None, &[])
            .await;
        assert_problem(r, 401);
    }
    // 401 comes before body parsing: a bad body without a token is still 401.
    let r = raw(
        app,
        Method::POST,
        "/users",
        None,
        Some("text/plain"),
        b"{".to_vec(),
    )
    .await;
    assert_problem(r, 401);
    // The public routes need none.
    app.call(Method::GET, "/healthz", None, None, &[])
        .await
        .expect(200);
    app.call(Method::GET, "/openapi.json", None, None, &[])
        .await
        .expect(200);
}

async fn validation_errors_are_422_problems(app: &TestApp) {
    // Every kind of wrong shape names its field.
    let cases: Vec<(&str, Value, &str)> = vec![
        ("/auth/login", json!({"email": ADMIN_EMAIL}), "password"),
        (
            "/auth/login",
            json!({"email": ADMIN_EMAIL, "password": ADMIN_PASSWORD, "admin": true}),
            "admin",
        ),
        (
            "/auth/login",
            json!({"email": ["x"], "password": ADMIN_PASSWORD}),
            "email",
        ),
        // An object's fields in order, as an array: serde reads that as the object unless
        // told not to (this one would sign in).
        ("/auth/login", json!([ADMIN_EMAIL, ADMIN_PASSWORD]), ""),
    ];
    for (path, body, field) in cases {
        let r = app.call(Method::POST, path, None, Some(body), &[]).await;
        let r = assert_problem(r, 422);
        let errors = r.body["errors"].as_array().expect("errors");
        assert!(errors.iter().any(|e| e["field"] == field), "{}", r.text);
        assert!(errors.iter().all(|e| e["message"].is_string()));
    }
}

async fn ops_endpoints(app: &TestApp) {
    let h = app
        .call(Method::GET, "/healthz", None, None, &[])
        .await
        .expect(200);
    assert_eq!(h.body["status"], "ok");
    let r = app
        .call(Method::GET, "/readyz", None, None, &[])
        .await
        .expect(200);
    assert_eq!(r.body["status"], "ready");

    // Some traffic, then metrics.
    let me = app.get("/auth/me", &app.admin_token).await.expect(200);
    let uid = me.body["id"].as_str().unwrap().to_string();
    app.get(&format!("/users/{uid}"), &app.admin_token)
        .await
        .expect(200);
    app.get("/api/v1/nope", &app.admin_token).await.expect(404);
    // Metrics need a token with metrics:read (admin, auditor); a patient's is refused.
    app.call(Method::GET, "/metrics", None, None, &[])
        .await
        .problem(401);
    let patient = app.patient("Metric").await;
    app.get("/metrics", &patient.token).await.problem(403);
    let auditor = app.staff("auditor").await;
    app.get("/metrics", &auditor.token).await.expect(200);
    let m = app.get("/metrics", &app.admin_token).await.expect(200);
    assert!(m
        .header("content-type")
        .is_some_and(|c| c.starts_with("text/plain")));
    assert!(m.text.contains("healthapi_http_requests_total"));
    // The audit trail's back-pressure: nothing waited at this load.
    assert!(m.text.contains("\nhealthapi_audit_admit_waits_total 0\n"));
    assert!(m.text.contains("\nhealthapi_audit_admit_refused_total 0\n"));
    assert!(m
        .text
        .lines()
        .any(|l| l.starts_with("healthapi_audit_index_lag_entries ")));
    assert!(m
        .text
        .lines()
        .any(|l| l.starts_with("healthapi_http_request_duration_seconds_bucket{")));
    assert!(m.text.contains("route=\"/api/v1/users/{id}\""));
    assert!(
        !m.text.contains(&uid),
        "metrics name route templates, never raw paths"
    );
    let line = m
        .text
        .lines()
        .find(|l| {
            l.starts_with("healthapi_http_requests_total{")
                && l.contains("route=\"/api/v1/auth/me\"")
                && l.contains("status=\"200\"")
        })
        .expect("a counter for GET /auth/me");
    let count: u64 = line.rsplit(' ').next().unwrap().parse().unwrap();
    assert!(count >= 1);

    // The OpenAPI document.
    let o = app
        .call(Method::GET, "/openapi.json", None, None, &[])
        .await
        .expect(200);
    assert!(o.body["openapi"].as_str().unwrap().starts_with("3.1"));
    let paths = o.body["paths"].as_object().expect("paths");
    for p in [
        "/api/v1/auth/login",
        "/api/v1/auth/register",
        "/api/v1/users/{id}",
        "/api/v1/roles/{id}",
        "/api/v1/patients/{id}",
        "/api/v1/notifications/stream",
        "/api/v1/audit-logs",
        "/healthz",
    ] {
        assert!(paths.contains_key(p), "OpenAPI names {p}");
    }
    assert!(paths["/api/v1/users"].get("post").is_some());
    assert!(paths["/api/v1/users"].get("get").is_some());
    assert!(o.text.contains("bearer"));
    assert!(!o.text.contains("password_hash"));
    // Enums are listed by their wire names (once they were the Rust variants', `CheckedIn`).
    let schemas = o.body["components"]["schemas"]
        .as_object()
        .expect("schemas");
    assert_eq!(
        schemas["AppointmentStatus"]["enum"],
        serde_json::json!(["booked", "checked_in", "completed", "cancelled", "no_show"])
    );
    let enums: Vec<&Value> = schemas
        .values()
        .filter_map(|s| s.get("enum"))
        .flat_map(|e| e.as_array().unwrap())
        .collect();
    assert!(enums.len() > 50, "{} enum values", enums.len());
    for v in enums {
        let v = v.as_str().unwrap();
        // A Rust variant's name is CamelCase; wire names are snake_case or codes (`CT`).
        let camel = v.starts_with(|c: char| c.is_ascii_uppercase())
            && v.chars().any(|c| c.is_ascii_lowercase());
        assert!(!camel, "enum value {v}");
    }

    // Swagger UI: /docs (redirected) and /docs/ serve HTML.
    for path in ["/docs", "/docs/"] {
        let resp = app
            .client
            .get(app.url(path))
            .send()
            .await
            .expect("docs reachable");
        assert_eq!(resp.status().as_u16(), 200, "{path}");
        let ct = resp
            .headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_string();
        assert!(ct.starts_with("text/html"), "{path}: {ct}");
        let html = resp.text().await.unwrap();
        assert!(html.to_lowercase().contains("swagger"));
    }
}

async fn every_response_has_a_request_id(app: &TestApp) {
    let mut seen = std::collections::HashSet::new();
    let responses = vec![
        app.call(Method::GET, "/healthz", None, None, &[]).await,
        app.call(Method::GET, "/readyz", None, None, &[]).await,
        app.call(Method::GET, "/openapi.json", None, None, &[])
            .await,
        app.get("/metrics", &app.admin_token).await,
        app.get("/auth/me", &app.admin_token).await,
        app.call(Method::GET, "/auth/me", None, None, &[]).await,
        app.call(
            Method::DELETE,
            "/auth/me",
            Some(&app.admin_token),
            None,
            &[],
        )
        .await,
        app.get("/api/v1/nope", &app.admin_token).await,
        app.post_raw("/auth/login", "", "text/plain", b"x".to_vec())
            .await,
        app.post_raw("/auth/login", "", "application/json", b"{".to_vec())
            .await,
        app.call(
            Method::POST,
            "/auth/login",
            None,
            Some(json!({"email": "who@example.test", "password": "nope-nope-nope"})),
            &[],
        )
        .await,
    ];
    for r in responses {
        // The security headers are on every response too, errors of lower layers included.
        assert_eq!(r.header("x-content-type-options"), Some("nosniff"));
        assert_eq!(r.header("cache-control"), Some("no-store"));
        let id = r
            .header("x-request-id")
            .unwrap_or_else(|| panic!("no x-request-id on a {} response", r.status))
            .to_string();
        assert!(!id.is_empty());
        assert!(seen.insert(id), "request ids are unique");
    }
    // A caller's own request id is echoed back.
    let r = app
        .call(
            Method::GET,
            "/auth/me",
            Some(&app.admin_token),
            None,
            &[("x-request-id", "trace-abc-123")],
        )
        .await
        .expect(200);
    assert_eq!(r.header("x-request-id"), Some("trace-abc-123"));
    // An unfit one (too long, odd characters) is replaced by a fresh id.
    for bad in [
        "x".repeat(200),
        "a b\tc".to_string(),
        "<script>".to_string(),
    ] {
        let r = app
            .call(
                Method::GET,
                "/auth/me",
                Some(&app.admin_token),
                None,
                &[("x-request-id", &bad)],
            )
            .await
            .expect(200);
        let id = r.header("x-request-id").expect("a request id");
        assert_ne!(id, bad);
        assert!(!id.is_empty() && id.len() <= 128);
    }
    // ... and recorded in the audit trail of what it did.
    let failed = app
        .call(
            Method::POST,
            "/auth/login",
            None,
            Some(json!({"email": ADMIN_EMAIL, "password": "wrong-password-x"})),
            &[("x-request-id", "trace-login-456")],
        )
        .await;
    assert_problem(failed, 401);
    let logs = app
        .get("/audit-logs?action=login_failed", &app.admin_token)
        .await
        .expect(200)
        .items();
    assert!(
        logs.iter().any(|e| e["request_id"] == "trace-login-456"),
        "{logs:?}"
    );
}

/// A request target or header section past the server's bounds is refused before routing with
/// a 414 or 431 problem, audited nowhere and answered with a request id like any error; within
/// the bounds the same request is served. (A single 100 KB header was served.)
async fn oversized_uri_and_headers_are_problems(app: &TestApp) {
    let get = |path: String, headers: Vec<(String, String)>| async move {
        let mut req = app.client.get(app.url(&path)).bearer_auth(&app.admin_token);
        for (name, value) in headers {
            req = req.header(name, value);
        }
        let resp = req.send().await.expect("request sent");
        let status = resp.status();
        let headers = resp.headers().clone();
        let text = resp.text().await.unwrap_or_default();
        let body = serde_json::from_str(&text).unwrap_or(Value::Null);
        Resp {
            status,
            headers,
            body,
            text,
        }
    };
    // One header of 100 KB; many headers of 1 KB that add up past the bound.
    let big = vec![("x-big".to_string(), "a".repeat(100_000))];
    let r = assert_problem(get("/auth/me".into(), big).await, 431);
    assert!(r.body["type"]
        .as_str()
        .unwrap()
        .ends_with("/headers-too-large"));
    let many = (0..20)
        .map(|i| (format!("x-part-{i}"), "b".repeat(1_000)))
        .collect();
    assert_problem(get("/auth/me".into(), many).await, 431);
    let fits = (0..8)
        .map(|i| (format!("x-part-{i}"), "b".repeat(1_000)))
        .collect();
    get("/auth/me".into(), fits).await.expect(200);
    // A query that makes the target 10 KB; the same list with a short one is served.
    let long = format!("/audit-logs?request_id={}", "c".repeat(10_000));
    let r = assert_problem(get(long, vec![]).await, 414);
    assert!(r.body["type"].as_str().unwrap().ends_with("/uri-too-long"));
    let short = format!("/audit-logs?request_id={}", "c".repeat(100));
    get(short, vec![]).await.expect(200);
    // Unauthenticated and unknown routes get the same answer: the bound comes first.
    let r = app
        .client
        .get(app.url(&format!("/nope/{}", "d".repeat(9_000))))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 414);
}

/// An id is a UUID: a query filter or a body field with anything else is 422 naming it (a
/// filter `patient_id=abc` answered an empty page), a path segment with anything else is 404 like
/// a UUID that names nothing, and a UUID in capitals names the same object.
async fn ids_are_uuids(app: &TestApp) {
    let ann = app.patient("Uuid").await;
    for path in [
        "/claims?patient_id=abc",
        "/appointments?doctor_id=01900000-0000-7000-8000",
        "/pharmacy-orders?prescription_id=__main__",
    ] {
        let r = assert_problem(app.get(path, &app.admin_token).await, 422);
        let field = path.split(['?', '=']).nth(1).unwrap();
        assert_eq!(r.body["errors"][0]["field"], field, "{path}: {}", r.text);
    }
    let r = app
        .post(
            "/lab-orders",
            &app.admin_token,
            json!({"patient_id": "abc", "test_code": "2345-7", "test_name": "Glucose"}),
        )
        .await;
    let r = assert_problem(r, 422);
    assert!(
        r.body["errors"]
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["field"] == "patient_id" && e["message"] == "must be a UUID"),
        "{}",
        r.text
    );
    for path in [
        "/appointments/0",
        "/patients/abc",
        "/patients/abc/care-team",
    ] {
        assert_problem(app.get(path, &app.admin_token).await, 404);
    }
    let upper = ann.pid().to_uppercase();
    let r = app
        .get(&format!("/patients/{upper}"), &app.admin_token)
        .await
        .expect(200);
    assert_eq!(r.body["id"], ann.pid());
}

/// What hyper answers by itself, before any of the server's code runs: a request that is not
/// HTTP gets a bare 400 and the connection is closed (docs/DECISIONS.md, "HTTP and logs"). The
/// backend plays no part: SQLite only.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_http_is_answered_by_hyper() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let app = TestApp::spawn(Backend::Sqlite).await.unwrap();
    let addr = app.base.trim_start_matches("http://").to_string();
    let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    stream
        .write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\nbad header line\r\n\r\n")
        .await
        .unwrap();
    let mut answer = Vec::new();
    stream.read_to_end(&mut answer).await.unwrap();
    let answer = String::from_utf8_lossy(&answer);
    assert!(answer.starts_with("HTTP/1.1 400 "), "{answer}");
    app.stop().await;
}

both_backends!(
    oversized_uri_and_headers_are_problems,
    ids_are_uuids,
    malformed_json_is_400,
    wrong_content_type_is_415,
    oversized_body_is_413,
    unknown_route_and_method,
    missing_or_bad_credentials_are_401,
    validation_errors_are_422_problems,
    ops_endpoints,
    every_response_has_a_request_id,
);

/// CORS headers only for configured origins; without any configured, none at all.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cors_only_for_configured_origins() {
    const APP: &str = "https://app.example.test";
    /// The `access-control-allow-origin` answered to a preflight and to a GET from `origin`.
    async fn allowed(app: &TestApp, origin: &str) -> (Option<String>, Option<String>) {
        let preflight = app
            .client
            .request(Method::OPTIONS, app.url("/auth/me"))
            .header("origin", origin)
            .header("access-control-request-method", "GET")
            .header("access-control-request-headers", "authorization")
            .send()
            .await
            .expect("preflight sent");
        let get = app
            .call(
                Method::GET,
                "/auth/me",
                Some(&app.admin_token),
                None,
                &[("origin", origin)],
            )
            .await
            .expect(200);
        let allow = |h: &reqwest::header::HeaderMap| {
            h.get("access-control-allow-origin")
                .and_then(|v| v.to_str().ok())
                .map(str::to_string)
        };
        (allow(preflight.headers()), allow(&get.headers))
    }

    let app = TestApp::spawn_with(Backend::Sqlite, |c| c.cors_origins = APP.into())
        .await
        .expect("SQLite always runs");
    assert_eq!(
        allowed(&app, APP).await,
        (Some(APP.to_string()), Some(APP.to_string()))
    );
    assert_eq!(
        allowed(&app, "https://evil.example.test").await,
        (None, None)
    );
    app.stop().await;

    let app = TestApp::spawn(Backend::Sqlite)
        .await
        .expect("SQLite always runs");
    assert_eq!(
        allowed(&app, APP).await,
        (None, None),
        "no origins configured"
    );
    app.stop().await;
}

/// A request that outlives the configured timeout gets a 408 problem+json from the timeout
/// layer (below the edge middleware), with a request id and the security headers. The client
/// announces a body and never sends it, so the handler waits for it until the timeout.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_request_past_the_timeout_is_a_408_problem() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let app = TestApp::spawn_with(Backend::Sqlite, |c| c.request_timeout_seconds = 1)
        .await
        .expect("SQLite always runs");
    let host = app.base.trim_start_matches("http://").to_string();
    let mut stream = tokio::net::TcpStream::connect(&host).await.unwrap();
    stream
        .write_all(
            format!(
                "POST /api/v1/auth/login HTTP/1.1\r\nHost: {host}\r\n\
                 Content-Type: application/json\r\nContent-Length: 100\r\n\r\n{{"
            )
            .as_bytes(),
        )
        .await
        .unwrap();
    let mut answer = Vec::new();
    let mut buf = [0u8; 4096];
    let read = tokio::time::timeout(std::time::Duration::from_secs(10), async {
        loop {
            let n = stream.read(&mut buf).await.unwrap();
            answer.extend_from_slice(&buf[..n]);
            let text = String::from_utf8_lossy(&answer);
            if n == 0 || text.contains("\r\n\r\n") && text.contains('}') {
                break;
            }
        }
    })
    .await;
    assert!(read.is_ok(), "no answer within 10 s");
    let text = String::from_utf8_lossy(&answer).to_lowercase();
    assert!(text.starts_with("http/1.1 408"), "{text}");
    assert!(
        text.contains("content-type: application/problem+json"),
        "{text}"
    );
    assert!(text.contains("\"status\":408"), "{text}");
    assert!(text.contains("x-request-id: "), "{text}");
    assert!(text.contains("x-content-type-options: nosniff"), "{text}");
    app.stop().await;
}
