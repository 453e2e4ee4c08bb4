//! Black-box test harness: starts the real server on port 0 against a fresh database (a temp
//! SQLite file, or a fresh PostgreSQL database when `HEALTHAPI_TEST_POSTGRES_URL` is set) and
//! talks to it over HTTP.
#![allow(dead_code)]

use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};

use diesel::{Connection, PgConnection, RunQueryDsl};
use reqwest::header::HeaderMap;
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

pub const ADMIN_EMAIL: &str = "admin@healthapi.local";
pub const ADMIN_PASSWORD: &str = "admin-password-1";
pub const PASSWORD: &str = "correct-horse-9";
pub const AUDIT_KEY: &str = "test-audit-key";

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// Runs each named `async fn(&TestApp)` once on SQLite and once on PostgreSQL (skipped, with a
/// message, when `HEALTHAPI_TEST_POSTGRES_URL` is unset; CI always sets it).
#[macro_export]
macro_rules! both_backends {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    let app = $crate::common::TestApp::spawn($crate::common::Backend::Sqlite)
                        .await
                        .expect("sqlite is always available");
                    super::$name(&app).await;
                    app.stop().await;
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    let Some(app) =
                        $crate::common::TestApp::spawn($crate::common::Backend::Postgres).await
                    else {
                        eprintln!("HEALTHAPI_TEST_POSTGRES_URL unset: PostgreSQL run skipped");
                        return;
                    };
                    super::$name(&app).await;
                    app.stop().await;
                }
            )*
        }
    };
}

/// Runs each named `async fn(&TestApp)` on PostgreSQL only: for what SQLite does not have
/// (LISTEN/NOTIFY, several nodes on one database). Skipped, with a message, when
/// `HEALTHAPI_TEST_POSTGRES_URL` is unset (and failed when it is required; `postgres_admin_url`).
#[macro_export]
macro_rules! postgres_only {
    ($($name:ident),* $(,)?) => {
        mod postgres_only {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    let Some(app) =
                        $crate::common::TestApp::spawn($crate::common::Backend::Postgres).await
                    else {
                        eprintln!("HEALTHAPI_TEST_POSTGRES_URL unset: PostgreSQL run skipped");
                        return;
                    };
                    super::$name(&app).await;
                    app.stop().await;
                }
            )*
        }
    };
}

/// A response, read whole.
#[derive(Debug)]
pub struct Resp {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Value,
    pub text: String,
}

impl Resp {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }
    /// Asserts the status, showing the body when it differs.
    #[track_caller]
    pub fn expect(self, status: u16) -> Resp {
        assert_eq!(
            self.status.as_u16(),
            status,
            "unexpected status; body: {}",
            self.text
        );
        self
    }
    #[track_caller]
    pub fn problem(self, status: u16) -> Resp {
        let r = self.expect(status);
        assert_eq!(
            r.header("content-type"),
            Some("application/problem+json"),
            "errors are problem+json"
        );
        assert_eq!(r.body["status"], status, "problem status field");
        assert!(r.body["type"].is_string() && r.body["title"].is_string());
        r
    }
    pub fn id(&self) -> String {
        self.body["id"]
            .as_str()
            .expect("body has an id")
            .to_string()
    }
    pub fn items(&self) -> Vec<Value> {
        self.body["items"].as_array().expect("a list").clone()
    }
}

static COUNTER: AtomicU64 = AtomicU64::new(0);

/// A unique suffix for emails, license numbers and database names.
pub fn unique() -> String {
    format!(
        "{}{}",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed)
    )
}

pub struct TestApp {
    pub backend: Backend,
    pub base: String,
    pub client: reqwest::Client,
    pub database_url: String,
    pub data_dir: PathBuf,
    pub admin_token: String,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
    server: Option<tokio::task::JoinHandle<()>>,
    pg_admin_url: Option<(String, String)>,
    _tmp: tempfile::TempDir,
}

/// The PostgreSQL server the tests use, from `HEALTHAPI_TEST_POSTGRES_URL`. Unset, PostgreSQL
/// runs are skipped with a message — unless `HEALTHAPI_TEST_REQUIRE_POSTGRES` is set (CI sets
/// it), when a skipped PostgreSQL run fails the test instead of passing silently.
pub fn postgres_admin_url() -> Option<String> {
    let url = std::env::var("HEALTHAPI_TEST_POSTGRES_URL")
        .ok()
        .filter(|s| !s.is_empty());
    let required =
        std::env::var("HEALTHAPI_TEST_REQUIRE_POSTGRES").is_ok_and(|v| !v.is_empty() && v != "0");
    assert!(
        url.is_some() || !required,
        "HEALTHAPI_TEST_REQUIRE_POSTGRES is set but HEALTHAPI_TEST_POSTGRES_URL is not: \
         the PostgreSQL half of the suite would not run"
    );
    url
}

/// `postgres://host/db` with another database name.
fn with_database(admin_url: &str, name: &str) -> String {
    let base = match admin_url.rfind('/') {
        Some(i) if admin_url[..i].contains("://") && i > admin_url.find("://").unwrap() + 2 => {
            &admin_url[..i]
        }
        _ => admin_url,
    };
    format!("{base}/{name}")
}

/// Creates a fresh, empty (unmigrated) PostgreSQL database; returns its URL and name. For
/// tests of the migrations themselves; servers start on a clone of the template instead.
pub fn empty_postgres_database(admin_url: &str) -> (String, String) {
    let name = format!("healthapi_test_{}", uuid::Uuid::now_v7().simple());
    let mut conn = PgConnection::establish(admin_url).expect("connect to test PostgreSQL");
    diesel::sql_query(format!("CREATE DATABASE {name}"))
        .execute(&mut conn)
        .expect("create test database");
    (with_database(admin_url, &name), name)
}

/// A fresh database already migrated: a clone of the template (`CREATE DATABASE … TEMPLATE`),
/// which copies files instead of running every migration again for each test.
pub fn fresh_postgres_database(admin_url: &str) -> (String, String) {
    let template = postgres_template(admin_url);
    let name = format!("healthapi_test_{}", uuid::Uuid::now_v7().simple());
    let mut conn = PgConnection::establish(admin_url).expect("connect to test PostgreSQL");
    diesel::sql_query(format!("CREATE DATABASE {name} TEMPLATE {template}"))
        .execute(&mut conn)
        .expect("clone the template database");
    (with_database(admin_url, &name), name)
}

/// The migrated template database, named after a hash of the PostgreSQL migrations (a changed
/// migration makes a new one, and the stale ones are dropped). Made once, under an advisory
/// lock so that concurrent test processes do not build it twice.
fn postgres_template(admin_url: &str) -> &'static str {
    static TEMPLATE: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    TEMPLATE.get_or_init(|| {
        use sha2::Digest;
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("migrations/postgres");
        let mut dirs: Vec<_> = std::fs::read_dir(&root)
            .expect("migrations folder")
            .map(|e| e.unwrap().path())
            .collect();
        dirs.sort();
        let mut digest = sha2::Sha256::new();
        for dir in dirs {
            digest.update(dir.file_name().unwrap().as_encoded_bytes());
            digest.update(std::fs::read(dir.join("up.sql")).unwrap_or_default());
        }
        let hash = hex::encode(&digest.finalize()[..8]);
        let name = format!("healthapi_tpl_{hash}");
        let mut conn = PgConnection::establish(admin_url).expect("connect to test PostgreSQL");
        diesel::sql_query("SELECT pg_advisory_lock(7718)")
            .execute(&mut conn)
            .expect("template lock");
        #[derive(diesel::QueryableByName)]
        struct Name {
            #[diesel(sql_type = diesel::sql_types::Text)]
            datname: String,
        }
        let existing: Vec<Name> = diesel::sql_query(
            "SELECT datname::text AS datname FROM pg_database WHERE datname LIKE 'healthapi_tpl_%'",
        )
        .load(&mut conn)
        .expect("list templates");
        for old in existing.iter().filter(|n| n.datname != name) {
            // Another process may still clone it: leave it then.
            let _ = diesel::sql_query(format!("DROP DATABASE IF EXISTS {}", old.datname))
                .execute(&mut conn);
        }
        if !existing.iter().any(|n| n.datname == name) {
            let building = format!("{name}_building");
            diesel::sql_query(format!("DROP DATABASE IF EXISTS {building}"))
                .execute(&mut conn)
                .expect("drop a half-built template");
            diesel::sql_query(format!("CREATE DATABASE {building}"))
                .execute(&mut conn)
                .expect("create the template");
            {
                let url = with_database(admin_url, &building);
                let mut migrate = healthapi::db::DbConn::Postgres(
                    PgConnection::establish(&url).expect("connect to the template"),
                );
                healthapi::db::run_migrations(&mut migrate).expect("migrate the template");
            }
            diesel::sql_query(format!("ALTER DATABASE {building} RENAME TO {name}"))
                .execute(&mut conn)
                .expect("publish the template");
        }
        diesel::sql_query("SELECT pg_advisory_unlock(7718)")
            .execute(&mut conn)
            .expect("template unlock");
        name
    })
}

pub fn drop_postgres_database(admin_url: &str, name: &str) {
    if let Ok(mut conn) = PgConnection::establish(admin_url) {
        let _ = diesel::sql_query(format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
            .execute(&mut conn);
    }
}

impl TestApp {
    pub async fn spawn(backend: Backend) -> Option<TestApp> {
        Self::spawn_with(backend, |_| {}).await
    }

    /// Like `spawn`, with a chance to change the configuration first (e.g. a short
    /// break-glass duration). `None` when the backend is PostgreSQL and no URL is set.
    pub async fn spawn_with(
        backend: Backend,
        change: impl FnOnce(&mut healthapi::config::Config),
    ) -> Option<TestApp> {
        let tmp = tempfile::tempdir().expect("temp dir");
        let (database_url, pg_admin_url) = match backend {
            Backend::Sqlite => (
                format!("sqlite://{}", tmp.path().join("test.db").display()),
                None,
            ),
            Backend::Postgres => {
                let admin = postgres_admin_url()?;
                let a = admin.clone();
                let (url, name) = tokio::task::spawn_blocking(move || fresh_postgres_database(&a))
                    .await
                    .unwrap();
                (url, Some((admin, name)))
            }
        };
        Some(Self::start(backend, database_url, tmp, pg_admin_url, change).await)
    }

    /// Starts a server on an existing database (e.g. a second node on the same PostgreSQL).
    pub async fn spawn_on(
        backend: Backend,
        database_url: String,
        tmp: tempfile::TempDir,
        pg_admin_url: Option<(String, String)>,
    ) -> TestApp {
        Self::start(backend, database_url, tmp, pg_admin_url, |_| {}).await
    }

    async fn start(
        backend: Backend,
        database_url: String,
        tmp: tempfile::TempDir,
        pg_admin_url: Option<(String, String)>,
        change: impl FnOnce(&mut healthapi::config::Config),
    ) -> TestApp {
        let mut config =
            healthapi::config::Config::for_database(&database_url, tmp.path().join("data"));
        config.admin_email = ADMIN_EMAIL.to_string();
        config.admin_password = Some(ADMIN_PASSWORD.to_string());
        config.audit_key = Some(AUDIT_KEY.to_string());
        config.pool_size = 4;
        config.bind = "127.0.0.1:0".to_string();
        // Hashing at OWASP's cost was most of the suite's time; `auth::production_hashing`
        // keeps one server at the real parameters.
        config.password_hash_cost = healthapi::auth::passwords::HashCost::Minimal;
        change(&mut config);
        let data_dir = config.data_dir.clone();
        let app = healthapi::app::build(config).await.expect("app builds");
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let server = tokio::spawn(async move {
            healthapi::app::serve(app, listener, async {
                let _ = rx.await;
            })
            .await
            .expect("server runs");
        });
        let client = reqwest::Client::builder()
            .timeout(std::time::Duration::from_secs(30))
            .build()
            .unwrap();
        let mut app = TestApp {
            backend,
            base: format!("http://{addr}"),
            client,
            database_url,
            data_dir,
            admin_token: String::new(),
            shutdown: Some(tx),
            server: Some(server),
            pg_admin_url,
            _tmp: tmp,
        };
        app.admin_token = app.login(ADMIN_EMAIL, ADMIN_PASSWORD).await;
        app
    }

    /// Stops the server (which seals pending audit entries) and drops a PostgreSQL database.
    pub async fn stop(mut self) {
        self.stop_server().await;
        if let Some((admin, name)) = self.pg_admin_url.take() {
            tokio::task::spawn_blocking(move || drop_postgres_database(&admin, &name))
                .await
                .unwrap();
        }
    }

    pub async fn stop_server(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(s) = self.server.take() {
            let _ = s.await;
        }
    }

    pub fn url(&self, path: &str) -> String {
        if path.starts_with("/api/")
            || !path.starts_with('/')
            || path.starts_with("/healthz")
            || path.starts_with("/readyz")
            || path.starts_with("/metrics")
            || path.starts_with("/openapi")
            || path.starts_with("/docs")
            || path.starts_with("/fhir/")
        {
            format!("{}{}", self.base, path)
        } else {
            format!("{}/api/v1{}", self.base, path)
        }
    }

    /// Sends a request. `path` is relative to `/api/v1` unless it is an ops path.
    pub async fn call(
        &self,
        method: Method,
        path: &str,
        token: Option<&str>,
        body: Option<Value>,
        headers: &[(&str, &str)],
    ) -> Resp {
        let mut req = self.client.request(method, self.url(path));
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        if let Some(b) = body {
            req = req.json(&b);
        }
        for (k, v) in headers {
            req = req.header(*k, *v);
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

    pub async fn get(&self, path: &str, token: &str) -> Resp {
        self.call(Method::GET, path, Some(token), None, &[]).await
    }
    pub async fn post(&self, path: &str, token: &str, body: Value) -> Resp {
        self.call(Method::POST, path, Some(token), Some(body), &[])
            .await
    }
    pub async fn patch(&self, path: &str, token: &str, body: Value) -> Resp {
        self.call(Method::PATCH, path, Some(token), Some(body), &[])
            .await
    }
    pub async fn delete(&self, path: &str, token: &str) -> Resp {
        self.call(Method::DELETE, path, Some(token), None, &[])
            .await
    }
    /// A raw body with a chosen content type.
    pub async fn post_raw(
        &self,
        path: &str,
        token: &str,
        content_type: &str,
        body: Vec<u8>,
    ) -> Resp {
        let resp = self
            .client
            .post(self.url(path))
            .bearer_auth(token)
            .header("content-type", content_type)
            .body(body)
            .send()
            .await
            .expect("request sent");
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

    pub async fn login(&self, email: &str, password: &str) -> String {
        let r = self
            .call(
                Method::POST,
                "/auth/login",
                None,
                Some(json!({"email": email, "password": password})),
                &[],
            )
            .await
            .expect(200);
        r.body["access_token"].as_str().unwrap().to_string()
    }

    /// Self-registers a patient; returns (token, patient id, user id).
    pub async fn patient(&self, given: &str) -> Actor {
        let email = format!("{}-{}@example.test", given.to_lowercase(), unique());
        let r = self
            .call(
                Method::POST,
                "/auth/register",
                None,
                Some(json!({
                    "email": email, "password": PASSWORD, "given_name": given,
                    "family_name": "Tester", "birth_date": "1985-04-12", "sex": "female"
                })),
                &[],
            )
            .await
            .expect(201);
        let token = self.login(&email, PASSWORD).await;
        Actor {
            token,
            email,
            user_id: r.body["user"]["id"].as_str().unwrap().to_string(),
            patient_id: r.body["patient"]["id"].as_str().map(str::to_string),
            doctor_id: None,
        }
    }

    /// An admin-created doctor with a login.
    pub async fn doctor(&self, given: &str, specialty: &str) -> Actor {
        let email = format!("dr-{}-{}@example.test", given.to_lowercase(), unique());
        let r = self
            .post(
                "/doctors",
                &self.admin_token,
                json!({
                    "given_name": given, "family_name": "Medic", "specialty": specialty,
                    "license_number": format!("LIC-{}", unique()), "email": email,
                    "password": PASSWORD
                }),
            )
            .await
            .expect(201);
        let token = self.login(&email, PASSWORD).await;
        Actor {
            token,
            email,
            user_id: r.body["user_id"].as_str().unwrap().to_string(),
            patient_id: None,
            doctor_id: Some(r.id()),
        }
    }

    /// An admin-created account holding one role.
    pub async fn staff(&self, role: &str) -> Actor {
        let email = format!("{role}-{}@example.test", unique());
        let r = self
            .post(
                "/users",
                &self.admin_token,
                json!({"email": email, "password": PASSWORD, "display_name": role, "roles": [role]}),
            )
            .await
            .expect(201);
        let token = self.login(&email, PASSWORD).await;
        Actor {
            token,
            email,
            user_id: r.id(),
            patient_id: None,
            doctor_id: None,
        }
    }

    /// Runs the `healthapi` binary against this app's database.
    pub fn cli(&self, args: &[&str]) -> std::process::Output {
        std::process::Command::new(env!("CARGO_BIN_EXE_healthapi"))
            .args(args)
            .env("DATABASE_URL", &self.database_url)
            .env("HEALTHAPI_DATA_DIR", &self.data_dir)
            .env("HEALTHAPI_AUDIT_KEY", AUDIT_KEY)
            .env("RUST_LOG", "warn")
            .output()
            .expect("run the healthapi binary")
    }

    /// Runs SQL directly on the app's database (to simulate tampering from outside the API).
    pub fn sql(&self, statement: &str) {
        let mut conn = healthapi::db::connect(&self.database_url, 1)
            .expect("connect")
            .get()
            .expect("conn");
        use diesel::connection::SimpleConnection;
        conn.batch_execute(statement).expect("sql runs");
    }
}

#[derive(Debug, Clone)]
pub struct Actor {
    pub token: String,
    pub email: String,
    pub user_id: String,
    pub patient_id: Option<String>,
    pub doctor_id: Option<String>,
}

impl Actor {
    pub fn pid(&self) -> &str {
        self.patient_id.as_deref().expect("a patient")
    }
    pub fn did(&self) -> &str {
        self.doctor_id.as_deref().expect("a doctor")
    }
}

impl TestApp {
    /// Every item of a list, following `next_cursor` with the given page size. Panics on a
    /// repeated cursor (a pagination loop).
    pub async fn all_pages(&self, path: &str, token: &str, limit: u32) -> Vec<Value> {
        let sep = if path.contains('?') { '&' } else { '?' };
        let mut items = Vec::new();
        let mut cursor: Option<String> = None;
        let mut seen = std::collections::HashSet::new();
        loop {
            let url = match &cursor {
                None => format!("{path}{sep}limit={limit}"),
                Some(c) => format!("{path}{sep}limit={limit}&cursor={c}"),
            };
            let r = self.get(&url, token).await.expect(200);
            let page = r.items();
            assert!(page.len() <= limit as usize, "a page holds at most `limit`");
            items.extend(page);
            match r.body["next_cursor"].as_str() {
                Some(c) => {
                    assert!(seen.insert(c.to_string()), "cursor repeated: {c}");
                    cursor = Some(c.to_string());
                }
                None => return items,
            }
        }
    }
}

/// Percent-encodes a query value.
pub fn enc(v: &str) -> String {
    form_urlencoded::byte_serialize(v.as_bytes()).collect()
}
