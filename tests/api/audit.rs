//! The audit trail: what is recorded, who may read it, and the tamper-evident chain.

use crate::common::*;
use reqwest::Method;
use serde_json::{json, Value};

fn seqs(items: &[Value]) -> Vec<i64> {
    items
        .iter()
        .map(|e| e["seq"].as_i64().expect("seq is an integer"))
        .collect()
}

async fn audit_list(app: &TestApp, query: &str) -> Vec<Value> {
    app.all_pages(&format!("/audit-logs?{query}"), &app.admin_token, 500)
        .await
}

fn at(e: &Value) -> chrono::DateTime<chrono::Utc> {
    e["occurred_at"]
        .as_str()
        .expect("occurred_at")
        .parse()
        .expect("RFC 3339")
}

/// The sequence number a `verify` failure names.
fn named_seq(stdout: &str) -> i64 {
    let at = stdout
        .find("seq ")
        .unwrap_or_else(|| panic!("no sequence number in: {stdout}"));
    stdout[at + 4..]
        .chars()
        .take_while(char::is_ascii_digit)
        .collect::<String>()
        .parse()
        .unwrap_or_else(|_| panic!("no sequence number in: {stdout}"))
}

async fn events_are_recorded(app: &TestApp) {
    let p = app.patient("Lena").await;
    let dr = app.doctor("Mona", "internal medicine").await;
    let ph = app.staff("pharmacist").await;
    let pid = p.pid().to_string();

    // A failed login (the right account, a wrong password) and an unknown account.
    app.call(
        Method::POST,
        "/auth/login",
        None,
        Some(json!({"email": p.email, "password": "wrong-password-1"})),
        &[],
    )
    .await
    .problem(401);
    // A second session, ended by logout.
    let second = app.login(&p.email, PASSWORD).await;
    app.call(Method::POST, "/auth/logout", Some(&second), None, &[])
        .await
        .expect(204);
    app.get("/auth/me", &second).await.problem(401);
    // A doctor reads the patient; an admin changes them; a pharmacist is refused.
    app.get(&format!("/patients/{pid}"), &dr.token)
        .await
        .expect(200);
    app.patch(
        &format!("/patients/{pid}"),
        &app.admin_token,
        json!({"address": "3 Low Rd"}),
    )
    .await
    .expect(200);
    app.get(&format!("/patients/{pid}"), &ph.token)
        .await
        .problem(403);

    // Logins.
    let logins = audit_list(app, &format!("user_id={}&action=login", p.user_id)).await;
    assert_eq!(logins.len(), 2, "two successful logins: {logins:?}");
    for e in &logins {
        assert_eq!(e["outcome"], "success");
        assert_eq!(e["resource_type"], "session");
        assert_eq!(e["client_addr"], "127.0.0.1");
        assert!(e["request_id"].as_str().is_some_and(|r| !r.is_empty()));
        assert!(e["hash"].as_str().is_some_and(|h| h.len() == 64));
    }
    // Failed login.
    let failed = audit_list(app, &format!("user_id={}&action=login_failed", p.user_id)).await;
    assert_eq!(failed.len(), 1, "{failed:?}");
    assert_eq!(failed[0]["outcome"], "denied");
    // Logout.
    let out = audit_list(app, &format!("user_id={}&action=logout", p.user_id)).await;
    assert_eq!(out.len(), 1, "{out:?}");
    assert_eq!(out[0]["outcome"], "success");
    assert_eq!(out[0]["role"], "patient");

    // The doctor's read of the patient.
    let reads = audit_list(
        app,
        &format!(
            "user_id={}&action=read&resource_type=patient&patient_id={pid}",
            dr.user_id
        ),
    )
    .await;
    assert_eq!(reads.len(), 1, "{reads:?}");
    let read = &reads[0];
    assert_eq!(read["resource_id"], pid.as_str());
    assert_eq!(read["role"], "doctor");
    assert_eq!(read["outcome"], "success");
    assert!(read["occurred_at"]
        .as_str()
        .is_some_and(|t| t.ends_with('Z')));

    // The write.
    let writes = audit_list(
        app,
        &format!("action=update&resource_type=patient&patient_id={pid}"),
    )
    .await;
    assert_eq!(writes.len(), 1, "{writes:?}");
    assert_eq!(writes[0]["role"], "admin");
    assert_eq!(writes[0]["resource_id"], pid.as_str());

    // The denial names who tried and whose record it was.
    let denied = audit_list(app, &format!("user_id={}&outcome=denied", ph.user_id)).await;
    assert_eq!(denied.len(), 1, "{denied:?}");
    assert_eq!(denied[0]["role"], "pharmacist");
    assert_eq!(denied[0]["resource_type"], "patient");
    assert_eq!(denied[0]["patient_id"], pid.as_str());
    let all_denied = audit_list(app, "outcome=denied").await;
    assert!(all_denied.iter().all(|e| e["outcome"] == "denied"));
    assert!(all_denied.iter().any(|e| e["action"] == "login_failed"));
    assert!(all_denied.len() >= 2);

    // Every filter only returns matching entries.
    for (field, value) in [
        ("user_id", dr.user_id.as_str()),
        ("patient_id", pid.as_str()),
        ("action", "read"),
        ("outcome", "success"),
        ("resource_type", "session"),
    ] {
        let got = audit_list(app, &format!("{field}={}", enc(value))).await;
        assert!(!got.is_empty(), "{field}={value} finds something");
        assert!(
            got.iter().all(|e| e[field] == value),
            "{field}={value} only: {got:?}"
        );
    }

    // Time range around the doctor's read: `from` includes it, `to` excludes it.
    let t = read["occurred_at"].as_str().unwrap();
    let read_seq = read["seq"].as_i64().unwrap();
    let after = audit_list(app, &format!("from={}", enc(t))).await;
    assert!(seqs(&after).contains(&read_seq));
    assert!(after.iter().all(|e| at(e) >= at(read)));
    let before = audit_list(app, &format!("to={}", enc(t))).await;
    assert!(!before.is_empty());
    assert!(!seqs(&before).contains(&read_seq));
    assert!(before.iter().all(|e| at(e) < at(read)));
    let none = audit_list(app, &format!("from={}&to={}", enc(t), enc(t))).await;
    assert!(none.is_empty());
    app.get("/audit-logs?from=last-tuesday", &app.admin_token)
        .await
        .problem(422);

    // Sequence numbers: newest first, strictly decreasing, no gaps, down to 1.
    let all = app.all_pages("/audit-logs", &app.admin_token, 7).await;
    let s = seqs(&all);
    assert!(s.len() > 10);
    assert!(s.windows(2).all(|w| w[0] == w[1] + 1), "contiguous: {s:?}");
    assert_eq!(*s.last().unwrap(), 1);
}

async fn who_reads_the_trail(app: &TestApp) {
    let auditor = app.staff("auditor").await;
    let billing = app.staff("billing").await;
    let dr = app.doctor("Nils", "surgery").await;
    let p = app.patient("Olga").await;
    let r = app.get("/audit-logs", &auditor.token).await.expect(200);
    assert!(!r.items().is_empty());
    app.get("/audit-logs", &app.admin_token).await.expect(200);
    for token in [&dr.token, &p.token, &billing.token] {
        app.get("/audit-logs", token).await.problem(403);
        app.get(&format!("/audit-logs?user_id={}", p.user_id), token)
            .await
            .problem(403);
    }
    app.call(Method::GET, "/audit-logs", None, None, &[])
        .await
        .problem(401);
    // The refusals themselves are recorded.
    let denied = audit_list(
        app,
        &format!(
            "user_id={}&resource_type=audit_log&outcome=denied",
            billing.user_id
        ),
    )
    .await;
    assert_eq!(denied.len(), 2, "{denied:?}");
    // Pagination of the trail.
    app.get("/audit-logs?limit=0", &app.admin_token)
        .await
        .problem(422);
    let r = app
        .get("/audit-logs?limit=1000", &app.admin_token)
        .await
        .expect(200);
    assert!(r.body["next_cursor"].is_null());
    let r = app
        .get("/audit-logs?limit=2", &app.admin_token)
        .await
        .expect(200);
    assert_eq!(r.items().len(), 2);
    assert!(r.body["next_cursor"].is_string());
}

async fn patient_access_log(app: &TestApp) {
    let p = app.patient("Pavla").await;
    let other = app.patient("Radek").await;
    let dr = app.doctor("Sara", "geriatrics").await;
    let auditor = app.staff("auditor").await;
    let ph = app.staff("pharmacist").await;
    let pid = p.pid().to_string();
    app.get(&format!("/patients/{pid}"), &dr.token)
        .await
        .expect(200);
    app.get(&format!("/patients/{}", other.pid()), &dr.token)
        .await
        .expect(200);
    app.get(&format!("/patients/{pid}"), &ph.token)
        .await
        .problem(403);
    // A search that lists the patient counts as access too.
    let searcher = app.doctor("Tina", "radiology").await;
    let found = app
        .get("/patients?q=pavla", &searcher.token)
        .await
        .expect(200);
    assert_eq!(found.items().len(), 1);
    let path = format!("/patients/{pid}/access-log");

    let mine = app.all_pages(&path, &p.token, 500).await;
    assert!(
        mine.iter()
            .any(|e| e["user_id"] == dr.user_id.as_str() && e["action"] == "read"),
        "the patient sees the doctor's read: {mine:?}"
    );
    assert!(
        mine.iter()
            .any(|e| e["user_id"] == ph.user_id.as_str() && e["outcome"] == "denied"),
        "and the refused attempt: {mine:?}"
    );
    assert!(
        mine.iter().all(|e| e["patient_id"] == pid.as_str()),
        "only entries about this patient: {mine:?}"
    );
    assert!(
        mine.iter()
            .any(|e| e["user_id"] == searcher.user_id.as_str()
                && e["action"] == "search"
                && e["resource_type"] == "patient"),
        "the search that listed the patient: {mine:?}"
    );
    let s = seqs(&mine);
    assert!(s.windows(2).all(|w| w[0] > w[1]), "newest first: {s:?}");
    // The other patient was not listed by that search.
    let theirs = app
        .all_pages(
            &format!("/patients/{}/access-log", other.pid()),
            &other.token,
            500,
        )
        .await;
    assert!(theirs
        .iter()
        .all(|e| e["user_id"] != searcher.user_id.as_str()));

    for token in [&app.admin_token, &auditor.token] {
        let r = app.all_pages(&path, token, 500).await;
        assert!(r.iter().any(|e| e["user_id"] == dr.user_id.as_str()));
        assert!(r.iter().all(|e| e["patient_id"] == pid.as_str()));
    }
    app.get(&path, &other.token).await.problem(404);
    app.get(&path, &dr.token).await.problem(403);
    app.get(&path, &ph.token).await.problem(403);
    app.get(
        "/patients/00000000-0000-0000-0000-000000000000/access-log",
        &app.admin_token,
    )
    .await
    .problem(404);
    // A patient probing an id that does not exist learns nothing either.
    app.get(
        "/patients/00000000-0000-0000-0000-000000000000/access-log",
        &other.token,
    )
    .await
    .problem(404);
}

/// Queries by patient or user read older entries through `audit_index` (filled by the indexer
/// every second, or by `audit index`) and newer ones from the chain's tail: across the
/// boundary, page by page, each entry of the patient shows once, newest first. The server's
/// own indexing is held off, so `audit index` draws the boundary.
async fn access_log_across_the_index(app: &TestApp) {
    let p = app.patient("Ilse").await;
    let other = app.patient("Otto").await;
    let dr = app.doctor("Iris", "cardiology").await;
    let pid = p.pid().to_string();
    for _ in 0..3 {
        for id in [p.pid(), other.pid()] {
            app.get(&format!("/patients/{id}"), &dr.token)
                .await
                .expect(200);
        }
    }
    // Seal what is buffered (a query seals first), then index all of it.
    audit_list(app, "action=none").await;
    let out = app.cli(&["audit", "index"]);
    assert!(out.status.success(), "{out:?}");
    let indexed: i64 = String::from_utf8_lossy(&out.stdout)
        .split_whitespace()
        .nth(1)
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("{out:?}"));
    assert!(indexed > 0, "{out:?}");
    for _ in 0..3 {
        for id in [p.pid(), other.pid()] {
            app.get(&format!("/patients/{id}"), &dr.token)
                .await
                .expect(200);
        }
    }
    // The whole trail, filtered here, is what a patient's log must be: every entry of the
    // patient up to the newest on its first page (each query of the log is itself an entry
    // about the patient, sealed before it reads; the next pages' queries come after).
    let truth = |top: i64| {
        let pid = pid.clone();
        async move {
            audit_list(app, "")
                .await
                .into_iter()
                .filter(|e| e["patient_id"] == pid.as_str() && e["seq"].as_i64() <= Some(top))
                .map(|e| e["seq"].as_i64().unwrap())
                .collect::<Vec<i64>>()
        }
    };
    let reads = |entries: &[Value]| {
        entries
            .iter()
            .filter(|e| e["user_id"] == dr.user_id.as_str() && e["action"] == "read")
            .count()
    };
    for (path, token, limit) in [
        (format!("/patients/{pid}/access-log"), &app.admin_token, 2),
        (format!("/audit-logs?patient_id={pid}"), &app.admin_token, 2),
        (format!("/patients/{pid}/access-log"), &p.token, 3),
    ] {
        let paged = app.all_pages(&path, token, limit).await;
        let got = seqs(&paged);
        assert_eq!(got, truth(got[0]).await, "{path}");
        assert_eq!(reads(&paged), 6, "{path}: {paged:?}");
        assert!(paged.iter().all(|e| e["patient_id"] == pid.as_str()));
    }
    // By user the same way: the doctor's twelve reads (and logins), across the boundary.
    let path = format!("/audit-logs?user_id={}", dr.user_id);
    let paged = app.all_pages(&path, &app.admin_token, 2).await;
    let got = seqs(&paged);
    let by_doctor: Vec<i64> = audit_list(app, "")
        .await
        .into_iter()
        .filter(|e| e["user_id"] == dr.user_id.as_str() && e["seq"].as_i64() <= Some(got[0]))
        .map(|e| e["seq"].as_i64().unwrap())
        .collect();
    assert_eq!(got, by_doctor, "{path}");
    assert_eq!(reads(&paged), 12, "{path}: {paged:?}");
}

async fn no_route_changes_the_trail(app: &TestApp) {
    let p = app.patient("Uma").await;
    let before = app.all_pages("/audit-logs", &app.admin_token, 500).await;
    let first = before.last().expect("an entry").clone();
    assert_eq!(first["seq"], 1);
    for (method, path) in [
        (Method::PATCH, "/audit-logs/1"),
        (Method::PUT, "/audit-logs/1"),
        (Method::DELETE, "/audit-logs/1"),
        (Method::DELETE, "/audit-logs"),
        (Method::POST, "/audit-logs"),
        (Method::PATCH, "/audit-logs"),
        (Method::DELETE, &format!("/patients/{}/access-log", p.pid())),
    ] {
        let r = app
            .call(
                method.clone(),
                path,
                Some(&app.admin_token),
                Some(json!({"action": "nothing-happened"})),
                &[],
            )
            .await;
        assert!(
            matches!(r.status.as_u16(), 404 | 405),
            "{method} {path}: {}",
            r.status
        );
    }
    let after = app.all_pages("/audit-logs", &app.admin_token, 500).await;
    let max_before = before[0]["seq"].as_i64().unwrap();
    let kept: Vec<&Value> = after
        .iter()
        .filter(|e| e["seq"].as_i64().unwrap() <= max_before)
        .collect();
    assert_eq!(kept.len(), before.len());
    for (a, b) in kept.iter().zip(before.iter()) {
        assert_eq!(*a, b, "entries are unchanged");
    }
}

/// Some activity, then the server stops (sealing everything); returns the head sequence.
async fn activity_then_stop(app: &mut TestApp) -> i64 {
    let p = app.patient("Vito").await;
    let dr = app.doctor("Wanda", "cardiology").await;
    app.get(&format!("/patients/{}", p.pid()), &dr.token)
        .await
        .expect(200);
    app.patch(
        &format!("/patients/{}", p.pid()),
        &p.token,
        json!({"phone": "+1 555 0123"}),
    )
    .await
    .expect(200);
    app.get("/audit-logs", &dr.token).await.problem(403);
    app.stop_server().await;
    let out = app.cli(&["audit", "checkpoint"]);
    assert!(out.status.success(), "{out:?}");
    let cp: Value = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("checkpoint is JSON ({e}): {out:?}"));
    let head = cp["seq"].as_i64().expect("checkpoint seq");
    assert!(cp["hash"].as_str().is_some_and(|h| h.len() == 64), "{cp}");
    assert!(head >= 10, "enough entries to tamper with: {head}");
    // Intact: exit 0 and the count.
    let out = app.cli(&["audit", "verify"]);
    let stdout = String::from_utf8_lossy(&out.stdout).to_string();
    assert_eq!(out.status.code(), Some(0), "{stdout} {:?}", out.stderr);
    assert!(stdout.contains(&format!("{head} entries")), "{stdout}");
    head
}

fn expect_broken(app: &TestApp, args: &[&str], seq: i64) {
    let out = app.cli(args);
    let stdout = String::from_utf8_lossy(&out.stdout).to_string();
    assert_eq!(
        out.status.code(),
        Some(1),
        "verify must fail: {stdout} {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        named_seq(&stdout),
        seq,
        "names the first bad entry: {stdout}"
    );
}

async fn tamper_edit(mut app: TestApp) {
    let head = activity_then_stop(&mut app).await;
    let k = head / 2;
    app.sql(&format!(
        "UPDATE audit_logs SET action = 'nothing_to_see' WHERE seq = {k}"
    ));
    expect_broken(&app, &["audit", "verify"], k);
    app.stop().await;
}

async fn tamper_delete(mut app: TestApp) {
    let head = activity_then_stop(&mut app).await;
    let k = head / 2;
    app.sql(&format!("DELETE FROM audit_logs WHERE seq = {k}"));
    expect_broken(&app, &["audit", "verify"], k);
    app.stop().await;
}

async fn tamper_reorder(mut app: TestApp) {
    let head = activity_then_stop(&mut app).await;
    let k = head / 2;
    app.sql(&format!(
        "UPDATE audit_logs SET seq = -1 WHERE seq = {k};
         UPDATE audit_logs SET seq = {k} WHERE seq = {};
         UPDATE audit_logs SET seq = {} WHERE seq = -1;",
        k + 1,
        k + 1
    ));
    expect_broken(&app, &["audit", "verify"], k);
    app.stop().await;
}

async fn tamper_truncate(mut app: TestApp) {
    let head = activity_then_stop(&mut app).await;
    let out = app.cli(&["audit", "checkpoint"]);
    assert!(out.status.success());
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("checkpoint.json");
    std::fs::write(&file, &out.stdout).unwrap();
    let file = file.to_str().unwrap().to_string();
    // Still intact against its own checkpoint.
    let ok = app.cli(&["audit", "verify", "--checkpoint", &file]);
    assert_eq!(ok.status.code(), Some(0), "{ok:?}");
    // Cut off the last three entries and make the head match the new tail.
    let keep = head - 3;
    app.sql(&format!(
        "DELETE FROM audit_logs WHERE seq > {keep};
         UPDATE audit_head SET seq = {keep},
             hash = (SELECT hash FROM audit_logs WHERE seq = {keep}) WHERE id = 1;"
    ));
    // Without the checkpoint the shortened chain looks consistent; with it, it is caught.
    let plain = app.cli(&["audit", "verify"]);
    assert_eq!(plain.status.code(), Some(0), "{plain:?}");
    expect_broken(&app, &["audit", "verify", "--checkpoint", &file], keep + 1);
    app.stop().await;
}

async fn tamper_forge(mut app: TestApp) {
    let head = activity_then_stop(&mut app).await;
    let insert = |seq: i64| {
        format!(
            "INSERT INTO audit_logs (seq, occurred_at, user_id, role, action, resource_type,
                 resource_id, patient_id, outcome, request_id, client_addr, hash)
             VALUES ({seq}, '2025-01-01 00:00:00', NULL, 'admin', 'login', 'session',
                 NULL, NULL, 'success', NULL, NULL, '{}')",
            "ab".repeat(32)
        )
    };
    // An entry appended past the head.
    app.sql(&insert(head + 1));
    expect_broken(&app, &["audit", "verify"], head + 1);
    app.sql(&format!("DELETE FROM audit_logs WHERE seq = {}", head + 1));
    let ok = app.cli(&["audit", "verify"]);
    assert_eq!(ok.status.code(), Some(0), "{ok:?}");
    // An entry slipped in before the first.
    app.sql(&insert(0));
    expect_broken(&app, &["audit", "verify"], 0);
    app.stop().await;
}

/// `audit verify` against a live server that keeps sealing new entries reports no tampering.
async fn verify_while_serving(app: &TestApp) {
    let p = app.patient("Yuki").await;
    let dr = app.doctor("Zora", "oncology").await;
    let path = format!("/patients/{}", p.pid());
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let load = {
        let (client, url, token, stop) = (
            app.client.clone(),
            app.url(&path),
            dr.token.clone(),
            stop.clone(),
        );
        tokio::spawn(async move {
            let mut n = 0;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                let r = client.get(&url).bearer_auth(&token).send().await.unwrap();
                assert_eq!(r.status().as_u16(), 200);
                n += 1;
            }
            n
        })
    };
    for _ in 0..8 {
        let (url, dir) = (app.database_url.clone(), app.data_dir.clone());
        let out = tokio::task::spawn_blocking(move || {
            std::process::Command::new(env!("CARGO_BIN_EXE_healthapi"))
                .args(["audit", "verify"])
                .env("DATABASE_URL", url)
                .env("HEALTHAPI_DATA_DIR", dir)
                .env("HEALTHAPI_AUDIT_KEY", AUDIT_KEY)
                .env("RUST_LOG", "warn")
                .output()
                .unwrap()
        })
        .await
        .unwrap();
        assert_eq!(
            out.status.code(),
            Some(0),
            "{}",
            String::from_utf8_lossy(&out.stdout)
        );
    }
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let reads = load.await.unwrap();
    assert!(reads > 0);
}

/// Like `both_backends!`, for tests that own the app (they stop the server themselves).
macro_rules! both_backends_owned {
    ($($name:ident),* $(,)?) => {
        mod owned_sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    let app = $crate::common::TestApp::spawn($crate::common::Backend::Sqlite)
                        .await
                        .expect("sqlite is always available");
                    super::$name(app).await;
                }
            )*
        }
        mod owned_postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    let Some(app) =
                        $crate::common::TestApp::spawn($crate::common::Backend::Postgres).await
                    else {
                        eprintln!("HEALTHAPI_TEST_POSTGRES_URL unset: PostgreSQL run skipped");
                        return;
                    };
                    super::$name(app).await;
                }
            )*
        }
    };
}

/// A request the server fails (its database work errs: 500) is in the trail with outcome
/// `error`, though its own entries rolled back with its transaction.
async fn server_failures_are_audited_as_errors(app: &TestApp) {
    let admin = &app.admin_token;
    // The table pulled from under the server.
    app.sql("ALTER TABLE educational_resources RENAME TO educational_resources_gone");
    let r = app
        .post(
            "/educational-resources",
            admin,
            json!({"title": "Sleep hygiene", "summary": "Rest well.", "body": "Go to bed at one time.",
                   "category": "general", "tags": ["sleep"], "published": true}),
        )
        .await;
    app.sql("ALTER TABLE educational_resources_gone RENAME TO educational_resources");
    let r = r.problem(500);
    let request = r.header("x-request-id").unwrap().to_string();
    let found = crate::clinical::audit_until(
        app,
        &format!("request_id={request}&outcome=error"),
        |items| !items.is_empty(),
    )
    .await;
    assert_eq!(found.len(), 1, "{found:?}");
    assert_eq!(found[0]["action"], "create");
    assert_eq!(found[0]["resource_type"], "educational_resource");
    let me = app.get("/auth/me", admin).await.expect(200);
    assert_eq!(found[0]["user_id"], me.body["id"]);
    // Served again once the table is back.
    app.post(
        "/educational-resources",
        admin,
        json!({"title": "Sleep hygiene", "summary": "Rest well.", "body": "Go to bed at one time.",
               "category": "general", "tags": ["sleep"], "published": true}),
    )
    .await
    .expect(201);
}

both_backends!(
    events_are_recorded,
    who_reads_the_trail,
    patient_access_log,
    no_route_changes_the_trail,
    verify_while_serving,
    server_failures_are_audited_as_errors,
);

both_backends_owned!(
    tamper_edit,
    tamper_delete,
    tamper_reorder,
    tamper_truncate,
    tamper_forge
);

async fn with_indexing_held_off(backend: Backend) {
    let Some(app) = TestApp::spawn_with(backend, |c| c.audit_index_interval_ms = 3_600_000).await
    else {
        eprintln!("HEALTHAPI_TEST_POSTGRES_URL unset: PostgreSQL run skipped");
        return;
    };
    access_log_across_the_index(&app).await;
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn access_log_across_the_index_sqlite() {
    with_indexing_held_off(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn access_log_across_the_index_postgres() {
    with_indexing_held_off(Backend::Postgres).await;
}
