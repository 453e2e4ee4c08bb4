//! The audit trail's promises under attack and crash, with the real binary: a read is served
//! only once its audit entry is durable (kill -9 in the middle of concurrent writes and reads
//! loses no acknowledged write and no served read's entry), and an outbox entry edited,
//! removed or inserted before sealing is reported — by `audit verify`, at start-up, and in the
//! chain — never sealed as genuine.

use std::collections::HashSet;
use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use diesel::prelude::*;
use serde_json::{json, Value};

use crate::common::*;

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// The binary serving `database_url`, once ready; its log (standard output) piped when asked.
pub(crate) async fn start(
    database_url: &str,
    data_dir: &std::path::Path,
    logs: bool,
) -> (Child, String) {
    let port = free_port();
    let base = format!("http://127.0.0.1:{port}");
    let child = Command::new(env!("CARGO_BIN_EXE_healthapi"))
        .arg("serve")
        .env("DATABASE_URL", database_url)
        .env("HEALTHAPI_BIND", format!("127.0.0.1:{port}"))
        .env("HEALTHAPI_DATA_DIR", data_dir)
        .env("HEALTHAPI_AUDIT_KEY", AUDIT_KEY)
        .env("HEALTHAPI_ADMIN_PASSWORD", ADMIN_PASSWORD)
        .env("RUST_LOG", "warn")
        .stdout(if logs { Stdio::piped() } else { Stdio::null() })
        .stderr(Stdio::null())
        .spawn()
        .expect("start the server");
    let client = reqwest::Client::new();
    let started = Instant::now();
    loop {
        if let Ok(r) = client.get(format!("{base}/readyz")).send().await {
            if r.status() == 200 {
                break;
            }
        }
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "server never became ready"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    (child, base)
}

fn signal(child: &Child, sig: &str) {
    let status = Command::new("kill")
        .args([sig, &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
}

async fn login(client: &reqwest::Client, base: &str) -> String {
    let r: Value = client
        .post(format!("{base}/api/v1/auth/login"))
        .json(&json!({"email": ADMIN_EMAIL, "password": ADMIN_PASSWORD}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    r["access_token"].as_str().unwrap().to_string()
}

/// A database for the binary: a SQLite file in `dir`, or a fresh PostgreSQL database.
fn database(backend: Backend, dir: &std::path::Path) -> Option<(String, Option<(String, String)>)> {
    match backend {
        Backend::Sqlite => Some((format!("sqlite://{}", dir.join("crash.db").display()), None)),
        Backend::Postgres => {
            let admin = postgres_admin_url()?;
            let (url, name) = fresh_postgres_database(&admin);
            Some((url, Some((admin, name))))
        }
    }
}

fn verify_cli(database_url: &str, data_dir: &std::path::Path) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_healthapi"))
        .args(["audit", "verify"])
        .env("DATABASE_URL", database_url)
        .env("HEALTHAPI_DATA_DIR", data_dir)
        .env("HEALTHAPI_AUDIT_KEY", AUDIT_KEY)
        .env("RUST_LOG", "warn")
        .output()
        .expect("run audit verify")
}

async fn crash_keeps_acknowledged_writes_and_served_reads(backend: Backend) {
    let dir = tempfile::tempdir().unwrap();
    let Some((url, pg)) = database(backend, dir.path()) else {
        return;
    };
    let data_dir = dir.path().join("data");
    let (child, base) = start(&url, &data_dir, false).await;
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap();
    let token = login(&client, &base).await;
    // A few patients to read.
    let mut patients = Vec::new();
    for i in 0..5 {
        let r: Value = client
            .post(format!("{base}/api/v1/auth/register"))
            .json(
                &json!({"email": format!("crash-{i}-{}@example.test", unique()),
                          "password": PASSWORD, "given_name": "Crash", "family_name": "Test",
                          "birth_date": "1980-02-03", "sex": "female"}),
            )
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        patients.push((
            r["user"]["id"].as_str().unwrap().to_string(),
            r["patient"]["id"].as_str().unwrap().to_string(),
        ));
    }
    assert_eq!(patients.len(), 5);
    // Writers (notifications to the patients' users) and readers (the patients' records), all
    // at once; the server is killed while they run.
    let written = Arc::new(Mutex::new(Vec::<String>::new()));
    let served = Arc::new(Mutex::new(Vec::<String>::new()));
    let mut tasks = Vec::new();
    for w in 0..12 {
        let (client, base, token) = (client.clone(), base.clone(), token.clone());
        let (patients, written, served) = (patients.clone(), written.clone(), served.clone());
        tasks.push(tokio::spawn(async move {
            for n in 0.. {
                let (user, patient) = &patients[(w + n) % patients.len()];
                if w % 2 == 0 {
                    let Ok(r) = client
                        .post(format!("{base}/api/v1/notifications"))
                        .bearer_auth(&token)
                        .json(&json!({"user_id": user, "title": "Crash", "body": "test"}))
                        .send()
                        .await
                    else {
                        break;
                    };
                    if r.status() == 201 {
                        if let Ok(v) = r.json::<Value>().await {
                            written
                                .lock()
                                .unwrap()
                                .push(v["id"].as_str().unwrap().to_string());
                        }
                    }
                } else {
                    let Ok(r) = client
                        .get(format!("{base}/api/v1/patients/{patient}"))
                        .bearer_auth(&token)
                        .header("x-request-id", format!("crash-{w}-{n}"))
                        .send()
                        .await
                    else {
                        break;
                    };
                    // Served: the whole body arrived.
                    if r.status() == 200 && r.json::<Value>().await.is_ok() {
                        served.lock().unwrap().push(format!("crash-{w}-{n}"));
                    }
                }
            }
        }));
    }
    tokio::time::sleep(Duration::from_millis(1500)).await;
    signal(&child, "-KILL");
    for t in tasks {
        let _ = t.await;
    }
    let mut child = child;
    let _ = tokio::task::spawn_blocking(move || child.wait()).await;
    let written = written.lock().unwrap().clone();
    let served = served.lock().unwrap().clone();
    assert!(
        written.len() > 10 && served.len() > 10,
        "load ran: {} writes, {} reads",
        written.len(),
        served.len()
    );

    // Restart (it seals what the outbox holds), stop gracefully, then look.
    let (child, _) = start(&url, &data_dir, false).await;
    signal(&child, "-TERM");
    let mut child = child;
    let exit = tokio::task::spawn_blocking(move || child.wait())
        .await
        .unwrap()
        .unwrap();
    assert!(exit.success(), "{exit:?}");
    let pool = healthapi::db::connect(&url, 1).unwrap();
    let mut conn = pool.get().unwrap();
    use healthapi::db::schema::{audit_logs, notifications};
    let stored: HashSet<String> = notifications::table
        .filter(notifications::id.eq_any(&written))
        .select(notifications::id)
        .load(&mut conn)
        .unwrap()
        .into_iter()
        .collect();
    let lost: Vec<&String> = written.iter().filter(|w| !stored.contains(*w)).collect();
    assert!(lost.is_empty(), "acknowledged writes lost: {lost:?}");
    let audited: HashSet<String> = audit_logs::table
        .filter(audit_logs::request_id.eq_any(&served))
        .filter(audit_logs::action.eq("read"))
        .select(audit_logs::request_id)
        .load::<Option<String>>(&mut conn)
        .unwrap()
        .into_iter()
        .flatten()
        .collect();
    let unaudited: Vec<&String> = served.iter().filter(|r| !audited.contains(*r)).collect();
    assert!(
        unaudited.is_empty(),
        "{} of {} served reads have no audit entry: {unaudited:?}",
        unaudited.len(),
        served.len()
    );
    drop(conn);
    drop(pool);
    let out = verify_cli(&url, &data_dir);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success() && stdout.contains("intact"),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    if let Some((admin, name)) = pg {
        drop_postgres_database(&admin, &name);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_crash_keeps_acknowledged_writes_and_served_reads() {
    crash_keeps_acknowledged_writes_and_served_reads(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_crash_keeps_acknowledged_writes_and_served_reads() {
    crash_keeps_acknowledged_writes_and_served_reads(Backend::Postgres).await;
}

/// The outbox rows in chain order: (seq, resource_id).
fn outbox(url: &str) -> Vec<(i64, Option<String>)> {
    use healthapi::db::schema::audit_outbox;
    let pool = healthapi::db::connect(url, 1).unwrap();
    let mut conn = pool.get().unwrap();
    audit_outbox::table
        .order(audit_outbox::seq)
        .select((audit_outbox::seq, audit_outbox::resource_id))
        .load(&mut conn)
        .unwrap()
}

async fn outbox_tampering_is_reported(app: &TestApp) {
    // The app seals hourly and nothing reads patient data: the writes wait in the outbox.
    let p = app.patient("Tamper").await;
    for title in ["one", "two", "three", "four"] {
        app.post(
            "/notifications",
            &app.admin_token,
            json!({"user_id": p.user_id, "title": title, "body": "x"}),
        )
        .await
        .expect(201);
    }
    let rows = outbox(&app.database_url);
    assert!(rows.len() >= 4, "{rows:?}");
    let clean = verify_cli(&app.database_url, &app.data_dir);
    assert!(clean.status.success(), "{clean:?}");
    // From outside: edit one entry, remove another, insert a third.
    let n = rows.len();
    let (edited, removed) = (rows[n - 1].0, rows[n - 3].0);
    app.sql(&format!(
        "UPDATE audit_outbox SET resource_id = 'forged' WHERE seq = {edited};
         DELETE FROM audit_outbox WHERE seq = {removed};
         INSERT INTO audit_outbox (occurred_at, action, resource_type, resource_id, outcome, seq, mac)
         SELECT occurred_at, 'read', 'patient', 'inserted', 'success', 0, '' FROM audit_outbox
         WHERE seq = {edited};"
    ));
    // `audit verify` names each, before any sealing.
    let out = verify_cli(&app.database_url, &app.data_dir);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{stdout}");
    assert!(stdout.contains("TAMPERED"), "{stdout}");
    assert!(
        stdout.contains(&format!("outbox entry {edited} was edited")),
        "{stdout}"
    );
    assert!(
        stdout.contains(&format!("outbox entry {removed} was removed")),
        "{stdout}"
    );
    assert!(stdout.contains("inserted"), "{stdout}");
    // A server starting on it says so.
    let (mut child, _) = start(&app.database_url, &app.data_dir, true).await;
    let logs = child.stdout.take().unwrap();
    let (said, heard) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let line = BufReader::new(logs)
            .lines()
            .map_while(Result::ok)
            .find(|l| l.contains("audit outbox tampered"));
        let _ = said.send(line);
    });
    let heard = heard.recv_timeout(Duration::from_secs(20));
    if !matches!(heard, Ok(Some(_))) {
        let _ = child.kill();
        panic!("no start-up report of the tampering: {heard:?}");
    }
    signal(&child, "-TERM");
    let _ = tokio::task::spawn_blocking(move || child.wait()).await;
    // Sealed: the findings are entries of the chain; the forged rows are not.
    let found = crate::clinical::audit_until(app, "action=tamper_detected", |e| e.len() >= 3).await;
    let what: Vec<&str> = found
        .iter()
        .map(|e| e["resource_id"].as_str().unwrap())
        .collect();
    assert!(
        what.iter().any(|w| w.contains("edited")) && what.iter().any(|w| w.contains("removed")),
        "{what:?}"
    );
    let trail = app.all_pages("/audit-logs", &app.admin_token, 500).await;
    for forged in ["forged", "inserted"] {
        assert!(
            !trail.iter().any(|e| e["resource_id"] == forged),
            "{forged} was sealed"
        );
    }
    // The row after the removed one is genuine and sealed.
    assert!(
        !what
            .iter()
            .any(|w| w.contains(&format!("entry {} ", removed + 1))),
        "{what:?}"
    );
    // And `audit verify` goes on reporting them once sealed.
    let out = verify_cli(&app.database_url, &app.data_dir);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{stdout}");
    assert!(stdout.contains("sealed as entry"), "{stdout}");
    // Writes go on, and seal cleanly after the findings.
    app.post(
        "/notifications",
        &app.admin_token,
        json!({"user_id": p.user_id, "title": "after", "body": "x"}),
    )
    .await
    .expect(201);
}

async fn tampering_sqlite() {
    let app = TestApp::spawn_with(Backend::Sqlite, |c| {
        c.audit_seal_interval_ms = 3_600_000;
    })
    .await
    .unwrap();
    outbox_tampering_is_reported(&app).await;
    app.stop().await;
}

async fn tampering_postgres() {
    let Some(app) = TestApp::spawn_with(Backend::Postgres, |c| {
        c.audit_seal_interval_ms = 3_600_000;
    })
    .await
    else {
        assert!(
            std::env::var("HEALTHAPI_TEST_REQUIRE_POSTGRES").is_err(),
            "PostgreSQL required"
        );
        return;
    };
    outbox_tampering_is_reported(&app).await;
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_outbox_tampering_is_reported() {
    tampering_sqlite().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_outbox_tampering_is_reported() {
    tampering_postgres().await;
}
