//! The binary as an operator runs it: options where they are typed, the database where the
//! data dir says, failures that name their cause at once, the first admin's password kept out
//! of the logs.

use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use crate::common::{TestApp, AUDIT_KEY};

/// The binary with a clean environment for the settings it reads, run in `cwd`.
fn healthapi(cwd: &Path) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_healthapi"));
    cmd.current_dir(cwd)
        .env_remove("DATABASE_URL")
        .env_remove("HEALTHAPI_DATA_DIR")
        .env_remove("HEALTHAPI_BIND")
        .env_remove("HEALTHAPI_ADMIN_PASSWORD")
        .env_remove("HEALTHAPI_LOG_FORMAT")
        .env("HEALTHAPI_AUDIT_KEY", AUDIT_KEY)
        .env("RUST_LOG", "info");
    cmd
}

fn text(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

async fn admin_create_succeeds_and_says_so(app: &TestApp) {
    let started = Instant::now();
    let out = app.cli(&[
        "admin",
        "create",
        "--email",
        "ops@example.com",
        "--password",
        "ops-password-01",
    ]);
    assert!(out.status.success(), "{}", text(&out));
    assert!(
        started.elapsed() < Duration::from_secs(8),
        "admin create waited for a second connection: {:?}",
        started.elapsed()
    );
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("created admin ops@example.com"),
        "{}",
        text(&out)
    );
    app.login("ops@example.com", "ops-password-01").await;
    let again = app.cli(&[
        "admin",
        "create",
        "--email",
        "ops@example.com",
        "--password",
        "ops-password-01",
    ]);
    assert_eq!(again.status.code(), Some(1), "{}", text(&again));
    assert!(text(&again).contains("already exists"), "{}", text(&again));
}

crate::both_backends!(
    admin_create_succeeds_and_says_so,
    another_audit_key_is_refused
);

#[test]
fn options_work_after_the_subcommand_and_show_in_its_help() {
    let dir = tempfile::tempdir().unwrap();
    let help = healthapi(dir.path())
        .args(["serve", "--help"])
        .output()
        .unwrap();
    assert!(help.status.success(), "{}", text(&help));
    for option in ["--bind", "--database-url", "--data-dir", "--log-format"] {
        assert!(text(&help).contains(option), "serve --help lacks {option}");
    }
    // Before and after the subcommand alike.
    let data = dir.path().join("after");
    let out = healthapi(dir.path())
        .args(["migrate", "--data-dir"])
        .arg(&data)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out));
    assert!(data.join("healthapi.db").exists());
    let data = dir.path().join("before");
    let out = healthapi(dir.path())
        .arg("--data-dir")
        .arg(&data)
        .arg("migrate")
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out));
    assert!(data.join("healthapi.db").exists());
}

#[test]
fn the_default_sqlite_file_lives_in_the_data_dir() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("elsewhere");
    let out = healthapi(dir.path())
        .arg("migrate")
        .env("HEALTHAPI_DATA_DIR", &data)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out));
    assert!(data.join("healthapi.db").exists(), "{}", text(&out));
    assert!(
        !dir.path().join("data").exists(),
        "a ./data folder was created beside the data dir"
    );
}

#[test]
fn database_failures_name_their_cause_at_once() {
    let dir = tempfile::tempdir().unwrap();
    let cases: [(&str, &[&str]); 3] = [
        ("mysql://root@127.0.0.1/test", &["unsupported", "mysql:"]),
        // Port 1: nothing listens there.
        (
            "postgres://postgres:secret-pw@127.0.0.1:1/nowhere",
            &["PostgreSQL", "127.0.0.1:1/nowhere"],
        ),
        ("sqlite:///proc/no-such-dir/x.db", &["/proc/no-such-dir"]),
    ];
    for (url, expected) in cases {
        let started = Instant::now();
        let out = healthapi(dir.path())
            .arg("migrate")
            .env("DATABASE_URL", url)
            .output()
            .unwrap();
        let said = text(&out);
        assert!(!out.status.success(), "{url}: {said}");
        assert!(
            started.elapsed() < Duration::from_secs(5),
            "{url} took {:?}",
            started.elapsed()
        );
        for part in expected {
            assert!(said.contains(part), "{url}: {said}");
        }
        assert!(!said.contains("multiconnection"), "{url}: {said}");
        assert!(
            !said.contains("secret-pw"),
            "the password was printed: {said}"
        );
    }
    assert!(
        !dir.path().join("mysql:").exists(),
        "a SQLite file named after the scheme was created"
    );
}

#[test]
fn a_busy_address_is_refused_before_the_database_is_set_up() {
    let dir = tempfile::tempdir().unwrap();
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let data = dir.path().join("data");
    let out = healthapi(dir.path())
        .arg("serve")
        .env("HEALTHAPI_BIND", taken.local_addr().unwrap().to_string())
        .env("HEALTHAPI_DATA_DIR", &data)
        .output()
        .unwrap();
    let said = text(&out);
    assert!(!out.status.success(), "{said}");
    assert!(said.contains("cannot listen on"), "{said}");
    assert!(!data.join("healthapi.db").exists(), "{said}");
    assert!(!said.contains("password"), "{said}");
}

#[test]
fn an_unknown_log_format_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let out = healthapi(dir.path())
        .arg("migrate")
        .env("HEALTHAPI_LOG_FORMAT", "xml")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(text(&out).contains("xml"), "{}", text(&out));
}

/// Without a terminal the generated password goes into a file only its owner reads, and no
/// log line carries it; JSON log lines are all JSON, their latency a number.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_first_admin_password_never_enters_the_logs() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let base = format!("http://127.0.0.1:{port}");
    let mut child = healthapi(dir.path())
        .arg("serve")
        .env("HEALTHAPI_BIND", format!("127.0.0.1:{port}"))
        .env("HEALTHAPI_DATA_DIR", &data)
        .env("HEALTHAPI_LOG_FORMAT", "json")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let client = reqwest::Client::new();
    let started = Instant::now();
    while client
        .get(format!("{base}/readyz"))
        .send()
        .await
        .map_or(true, |r| r.status() != 200)
    {
        assert!(started.elapsed() < Duration::from_secs(30), "never ready");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let file = data.join("initial-admin-password");
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(&file).unwrap().permissions().mode();
    assert_eq!(mode & 0o777, 0o600, "{mode:o}");
    let password = std::fs::read_to_string(&file).unwrap().trim().to_string();
    assert!(password.len() >= 20, "{password}");
    let login = client
        .post(format!("{base}/api/v1/auth/login"))
        .json(&serde_json::json!({"email": "admin@healthapi.local", "password": password}))
        .send()
        .await
        .unwrap();
    assert_eq!(login.status(), 200);
    let refused = client
        .get(format!("{base}/api/v1/auth/me"))
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), 401);
    assert_eq!(
        refused.headers()["www-authenticate"],
        "Bearer realm=\"healthapi\""
    );

    let _ = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status();
    let _ = child.wait();
    let mut stdout = String::new();
    let mut stderr = String::new();
    use std::io::Read;
    child
        .stdout
        .take()
        .unwrap()
        .read_to_string(&mut stdout)
        .unwrap();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut stderr)
        .unwrap();
    assert!(!stdout.contains(&password) && !stderr.contains(&password));
    let mut latencies = 0;
    for line in stdout.lines() {
        let record: serde_json::Value = serde_json::from_str(line)
            .unwrap_or_else(|e| panic!("a log line that is not JSON ({e}): {line}"));
        if let Some(latency) = record["fields"].get("latency_ms") {
            assert!(latency.is_number(), "{line}");
            latencies += 1;
        }
    }
    assert!(latencies >= 2, "no access log lines: {stdout}");
    assert!(
        stdout.contains("initial-admin-password"),
        "the log does not say where the password is: {stdout}"
    );
}

/// A server or command given another audit key than the one the database's trail is written
/// with refuses to start, and says why, instead of sealing entries that break the chain.
async fn another_audit_key_is_refused(app: &TestApp) {
    let with_key = |key: &str| {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_healthapi"));
        cmd.env("DATABASE_URL", &app.database_url)
            .env("HEALTHAPI_DATA_DIR", &app.data_dir)
            .env("HEALTHAPI_AUDIT_KEY", key)
            .env("HEALTHAPI_BIND", "127.0.0.1:0")
            .env("RUST_LOG", "warn");
        cmd
    };
    let admin_create = |key: &str| {
        with_key(key)
            .args(["admin", "create", "--email", "other@example.com"])
            .args(["--password", "a long enough password 1"])
            .output()
            .unwrap()
    };
    let said = "not the key this database's audit trail is written with";
    let out = admin_create("another key");
    assert!(!out.status.success(), "{}", text(&out));
    assert!(text(&out).contains(said), "{}", text(&out));
    // The server too: it exits before it serves.
    let mut server = with_key("another key")
        .arg("serve")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let started = Instant::now();
    while server.try_wait().unwrap().is_none() {
        if started.elapsed() > Duration::from_secs(30) {
            server.kill().unwrap();
            panic!("a server with another audit key kept running");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let out = server.wait_with_output().unwrap();
    assert!(!out.status.success());
    assert!(text(&out).contains(said), "{}", text(&out));
    // A trail from before claims (no claim yet): only the key that signs its head claims it.
    app.sql("DELETE FROM audit_key_check");
    let out = admin_create("another key");
    assert!(!out.status.success(), "{}", text(&out));
    assert!(
        text(&out).contains("does not sign the trail's head"),
        "{}",
        text(&out)
    );
    let out = admin_create(AUDIT_KEY);
    assert!(out.status.success(), "{}", text(&out));
    // The right key still works, and the chain is whole.
    let out = with_key(AUDIT_KEY)
        .args(["audit", "verify"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out));
}

/// Verifying where the server's database or key is not is an error, not an empty database
/// created on the spot and found intact.
#[test]
fn audit_verify_refuses_a_missing_database_or_key() {
    let dir = tempfile::tempdir().unwrap();
    let out = healthapi(dir.path())
        .args(["audit", "verify"])
        .output()
        .unwrap();
    assert!(!out.status.success(), "{}", text(&out));
    assert!(
        text(&out).contains("no SQLite database at"),
        "{}",
        text(&out)
    );
    assert!(!dir.path().join("data").exists(), "a database was created");
    // A database but no key: refused, and no key is made up.
    let out = healthapi(dir.path()).arg("migrate").output().unwrap();
    assert!(out.status.success(), "{}", text(&out));
    let out = healthapi(dir.path())
        .env_remove("HEALTHAPI_AUDIT_KEY")
        .args(["audit", "verify"])
        .output()
        .unwrap();
    assert!(!out.status.success(), "{}", text(&out));
    assert!(text(&out).contains("no audit key"), "{}", text(&out));
    assert!(!dir.path().join("data/audit.key").exists());
}
