//! Sign-in, sign-out, tokens, password change, throttling and deactivation, on both backends.

use crate::common::*;
use reqwest::Method;
use serde_json::{json, Value};

async fn login_raw(app: &TestApp, email: &str, password: &str) -> Resp {
    app.call(
        Method::POST,
        "/auth/login",
        None,
        Some(json!({"email": email, "password": password})),
        &[],
    )
    .await
}

#[track_caller]
fn assert_field_error(r: Resp, field: &str) {
    let r = r.problem(422);
    let errors = r.body["errors"].as_array().expect("422 carries errors");
    assert!(
        errors.iter().any(|e| e["field"] == field),
        "expected an error naming {field:?}: {}",
        r.text
    );
}

#[track_caller]
fn assert_no_secrets(r: &Resp) {
    let t = r.text.to_lowercase();
    assert!(!t.contains("password"), "response mentions a password: {t}");
    assert!(!t.contains("$argon2"), "response carries a hash");
    assert!(!r.text.contains(PASSWORD));
}

/// A 401 problem, and nothing else.
#[track_caller]
fn assert_unauthorized(r: Resp) -> Resp {
    let r = r.problem(401);
    assert!(r.body["detail"].is_string());
    r
}

async fn login_returns_a_bearer_token(app: &TestApp) {
    let p = app.patient("Lola").await;
    let r = login_raw(app, &p.email, PASSWORD).await.expect(200);
    assert_no_secrets(&r);
    let token = r.body["access_token"].as_str().expect("a token");
    assert!(token.len() >= 43, "256 random bits: {token}");
    assert_ne!(token, p.token, "every login gets its own token");
    assert_eq!(r.body["token_type"], "Bearer");
    assert_eq!(r.body["expires_in"], 3600);
    assert_eq!(r.body["user"]["id"], p.user_id.as_str());
    assert_eq!(r.body["user"]["email"], p.email);
    assert_eq!(r.body["user"]["roles"], json!(["patient"]));
    assert_eq!(r.body["user"]["patient_id"], p.pid());
    // The token works; so does the email in another case, with whitespace around it.
    app.get("/auth/me", token).await.expect(200);
    login_raw(app, &format!(" {} ", p.email.to_uppercase()), PASSWORD)
        .await
        .expect(200);
    // The password is case-sensitive.
    assert_unauthorized(login_raw(app, &p.email, &PASSWORD.to_uppercase()).await);

    // The admin's login shows the admin role; staff logins their role.
    let a = login_raw(app, ADMIN_EMAIL, ADMIN_PASSWORD)
        .await
        .expect(200);
    assert_eq!(a.body["user"]["roles"], json!(["admin"]));
    let d = app.doctor("Dora", "pediatrics").await;
    let r = login_raw(app, &d.email, PASSWORD).await.expect(200);
    assert_eq!(r.body["user"]["doctor_id"], d.did());
    assert_eq!(r.body["user"]["roles"], json!(["doctor"]));

    // Login bodies are validated like every other.
    assert_field_error(
        app.call(
            Method::POST,
            "/auth/login",
            None,
            Some(json!({"email": p.email})),
            &[],
        )
        .await,
        "password",
    );
    assert_field_error(
        app.call(
            Method::POST,
            "/auth/login",
            None,
            Some(json!({"email": p.email, "password": PASSWORD, "remember": true})),
            &[],
        )
        .await,
        "remember",
    );
    assert_field_error(
        app.call(
            Method::POST,
            "/auth/login",
            None,
            Some(json!({"email": 5, "password": PASSWORD})),
            &[],
        )
        .await,
        "email",
    );
}

async fn login_failures_look_the_same(app: &TestApp) {
    let p = app.patient("Wanda").await;
    let wrong = assert_unauthorized(login_raw(app, &p.email, "not-the-password").await);
    let unknown = assert_unauthorized(
        login_raw(
            app,
            &format!("nobody-{}@example.test", unique()),
            "not-the-password",
        )
        .await,
    );
    assert_eq!(
        wrong.text, unknown.text,
        "unknown email and wrong password get byte-identical bodies"
    );
    assert_eq!(wrong.header("content-type"), unknown.header("content-type"));
    assert!(!wrong.text.to_lowercase().contains("unknown"));
    assert!(!wrong.text.contains(&p.email));
    // An empty password too.
    let empty = assert_unauthorized(login_raw(app, &p.email, "").await);
    assert_eq!(empty.text, wrong.text);
    // A failed login is audited as denied.
    let logs = app
        .get(
            &format!("/audit-logs?user_id={}&outcome=denied", p.user_id),
            &app.admin_token,
        )
        .await
        .expect(200)
        .items();
    assert!(
        logs.iter().any(|e| e["action"] == "login_failed"),
        "failed login audited: {logs:?}"
    );
}

async fn login_throttled_after_five_failures(app: &TestApp) {
    let p = app.patient("Tess").await;
    let bystander = app.patient("Bert").await;
    for i in 0..5 {
        let r = login_raw(app, &p.email, &format!("wrong-password-{i}")).await;
        assert_unauthorized(r);
    }
    // Now even the right password is refused, with Retry-After.
    for email in [p.email.clone(), p.email.to_uppercase()] {
        let r = login_raw(app, &email, PASSWORD).await.problem(429);
        let wait: u64 = r
            .header("retry-after")
            .expect("Retry-After on 429")
            .parse()
            .expect("Retry-After in seconds");
        assert!(wait > 0 && wait <= 3600, "retry after {wait}s");
        assert!(!r.text.contains("access_token"));
    }
    // The lock is per account: another account still signs in; existing tokens still work.
    login_raw(app, &bystander.email, PASSWORD).await.expect(200);
    app.get("/auth/me", &p.token).await.expect(200);
}

async fn login_throttled_per_address(app: &TestApp) {
    // Many failures from one address across many (unknown) accounts lock that address out.
    let mut throttled = false;
    for i in 0..30 {
        let r = login_raw(
            app,
            &format!("spray-{i}-{}@example.test", unique()),
            "not-the-password",
        )
        .await;
        if r.status.as_u16() == 429 {
            let r = r.problem(429);
            assert!(r.header("retry-after").is_some());
            throttled = true;
            break;
        }
        assert_unauthorized(r);
    }
    assert!(throttled, "password spraying from one address is throttled");
    // Even the admin, from that address, waits.
    login_raw(app, ADMIN_EMAIL, ADMIN_PASSWORD)
        .await
        .problem(429);
    // Existing tokens keep working.
    app.get("/auth/me", &app.admin_token).await.expect(200);
}

async fn deactivated_user_is_locked_out(app: &TestApp) {
    let staff = app.staff("billing").await;
    let second = app.login(&staff.email, PASSWORD).await;
    let path = format!("/users/{}", staff.user_id);
    app.get("/auth/me", &staff.token).await.expect(200);

    let r = app
        .patch(&path, &app.admin_token, json!({"is_active": false}))
        .await
        .expect(200);
    assert_eq!(r.body["is_active"], false);
    // Every existing token is refused at once.
    for token in [&staff.token, &second] {
        assert_unauthorized(app.get("/auth/me", token).await);
        assert_unauthorized(app.get(&path, token).await);
    }
    // And the right password no longer signs in: the same 401 as a wrong password.
    let refused = assert_unauthorized(login_raw(app, &staff.email, PASSWORD).await);
    let wrong = assert_unauthorized(login_raw(app, &staff.email, "bad-password-1").await);
    assert_eq!(refused.text, wrong.text);
    // The list shows the account inactive.
    let inactive = app
        .get("/users?is_active=false", &app.admin_token)
        .await
        .expect(200)
        .items();
    assert!(inactive.iter().any(|u| u["id"] == staff.user_id.as_str()));
    assert!(inactive.iter().all(|u| u["is_active"] == false));

    // Reactivated: signs in again; the old tokens stay revoked.
    app.patch(&path, &app.admin_token, json!({"is_active": true}))
        .await
        .expect(200);
    let fresh = app.login(&staff.email, PASSWORD).await;
    app.get("/auth/me", &fresh).await.expect(200);
    assert_unauthorized(app.get("/auth/me", &staff.token).await);
}

async fn logout_revokes_the_token(app: &TestApp) {
    let p = app.patient("Lou").await;
    let other = app.login(&p.email, PASSWORD).await;
    let out = app
        .call(Method::POST, "/auth/logout", Some(&p.token), None, &[])
        .await
        .expect(204);
    assert!(out.text.is_empty());
    assert_unauthorized(app.get("/auth/me", &p.token).await);
    assert_unauthorized(
        app.call(Method::POST, "/auth/logout", Some(&p.token), None, &[])
            .await,
    );
    assert_unauthorized(app.get(&format!("/patients/{}", p.pid()), &p.token).await);
    // Only that token: the user's other session lives on.
    app.get("/auth/me", &other).await.expect(200);
    // Logging out needs a token.
    assert_unauthorized(
        app.call(Method::POST, "/auth/logout", None, None, &[])
            .await,
    );
}

async fn me_returns_the_caller(app: &TestApp) {
    let p = app.patient("Mae").await;
    let me = app.get("/auth/me", &p.token).await.expect(200);
    assert_no_secrets(&me);
    assert_eq!(me.header("etag"), Some("\"1\""));
    for key in [
        "id",
        "email",
        "display_name",
        "roles",
        "is_active",
        "patient_id",
        "doctor_id",
        "created_at",
        "updated_at",
        "version",
    ] {
        assert!(me.body.get(key).is_some(), "User has {key}");
    }
    assert_eq!(me.body["id"], p.user_id.as_str());
    assert_eq!(me.body["is_active"], true);
    let admin = app.get("/auth/me", &app.admin_token).await.expect(200);
    assert_eq!(admin.body["email"], ADMIN_EMAIL);
    assert_eq!(admin.body["roles"], json!(["admin"]));
    assert_eq!(admin.body["patient_id"], Value::Null);
    assert_unauthorized(app.call(Method::GET, "/auth/me", None, None, &[]).await);
}

async fn password_change(app: &TestApp) {
    let p = app.patient("Paz").await;
    let other = app.login(&p.email, PASSWORD).await;
    let new_password = "brand-new-secret-42";

    // Wrong current password: 422 on current_password, nothing changes.
    assert_field_error(
        app.post(
            "/auth/password",
            &p.token,
            json!({"current_password": "not-my-password", "new_password": new_password}),
        )
        .await,
        "current_password",
    );
    // Too short / too long a new one: 422 on new_password.
    for bad in ["short".to_string(), "z".repeat(129)] {
        assert_field_error(
            app.post(
                "/auth/password",
                &p.token,
                json!({"current_password": PASSWORD, "new_password": bad}),
            )
            .await,
            "new_password",
        );
    }
    assert_field_error(
        app.post(
            "/auth/password",
            &p.token,
            json!({"current_password": PASSWORD}),
        )
        .await,
        "new_password",
    );
    assert_field_error(
        app.post(
            "/auth/password",
            &p.token,
            json!({"current_password": PASSWORD, "new_password": new_password, "user_id": p.user_id}),
        )
        .await,
        "user_id",
    );
    app.get("/auth/me", &other).await.expect(200);
    app.login(&p.email, PASSWORD).await;

    // The change: 204; other tokens die, the current one lives.
    let r = app
        .post(
            "/auth/password",
            &p.token,
            json!({"current_password": PASSWORD, "new_password": new_password}),
        )
        .await
        .expect(204);
    assert!(r.text.is_empty());
    assert_unauthorized(app.get("/auth/me", &other).await);
    app.get("/auth/me", &p.token).await.expect(200);
    // Old password out, new one in.
    assert_unauthorized(login_raw(app, &p.email, PASSWORD).await);
    let fresh = app.login(&p.email, new_password).await;
    app.get("/auth/me", &fresh).await.expect(200);
    // Without a token: 401.
    assert_unauthorized(
        app.call(
            Method::POST,
            "/auth/password",
            None,
            Some(json!({"current_password": new_password, "new_password": PASSWORD})),
            &[],
        )
        .await,
    );
}

async fn bad_tokens_are_401(app: &TestApp) {
    let p = app.patient("Tok").await;
    let garbage = [
        "garbage".to_string(),
        format!("{}x", p.token),
        p.token[..p.token.len() - 1].to_string(),
    ];
    for t in &garbage {
        assert_unauthorized(app.get("/auth/me", t).await);
    }
    for auth in [
        format!("Basic {}", p.token),
        p.token.clone(),
        "Bearer".to_string(),
        "Bearer ".to_string(),
    ] {
        let r = app
            .call(
                Method::GET,
                "/auth/me",
                None,
                None,
                &[("authorization", &auth)],
            )
            .await;
        assert_unauthorized(r);
    }
    // The scheme is case-insensitive (RFC 7235).
    app.call(
        Method::GET,
        "/auth/me",
        None,
        None,
        &[("authorization", &format!("bearer {}", p.token))],
    )
    .await
    .expect(200);
    // Protected routes of every kind refuse the anonymous.
    for path in [
        "/users",
        "/roles",
        "/audit-logs",
        "/patients",
        "/notifications",
    ] {
        assert_unauthorized(app.call(Method::GET, path, None, None, &[]).await);
    }
    assert_unauthorized(
        app.call(
            Method::POST,
            "/users",
            None,
            Some(json!({"email": "x@example.test", "password": PASSWORD, "display_name": "x", "roles": ["admin"]})),
            &[],
        )
        .await,
    );
}

/// Guessing the current password through a stolen token is throttled like login.
async fn password_change_guessing_is_throttled(app: &TestApp) {
    let p = app.patient("Guess").await;
    for i in 0..5 {
        app.post(
            "/auth/password",
            &p.token,
            json!({"current_password": format!("wrong-guess-{i}"), "new_password": "another-pass-1"}),
        )
        .await
        .problem(422);
    }
    // Now even the right current password is refused for a while.
    let r = app
        .post(
            "/auth/password",
            &p.token,
            json!({"current_password": PASSWORD, "new_password": "another-pass-1"}),
        )
        .await
        .problem(429);
    assert!(r.header("retry-after").is_some());
    // The password did not change.
    app.login(&p.email, PASSWORD).await;
}

/// Old expired and revoked sessions are purged; live ones stay.
async fn old_sessions_are_purged(app: &TestApp) {
    let p = app.patient("Purge").await;
    let live = app.login(&p.email, PASSWORD).await;
    app.call(Method::POST, "/auth/logout", Some(&p.token), None, &[])
        .await
        .expect(204);
    let count = |conn: &mut healthapi::db::DbConn| -> i64 {
        use diesel::prelude::*;
        healthapi::db::schema::sessions::table
            .filter(healthapi::db::schema::sessions::user_id.eq(&p.user_id))
            .count()
            .get_result(conn)
            .unwrap()
    };
    let pool = healthapi::db::connect(&app.database_url, 1).unwrap();
    let mut conn = pool.get().unwrap();
    assert_eq!(count(&mut conn), 2);
    // Revoked a minute ago: kept with a cutoff in the past, purged with one after it.
    let hour_ago = healthapi::db::now() - chrono::Duration::hours(1);
    assert_eq!(
        healthapi::auth::purge_sessions(&mut conn, hour_ago).unwrap(),
        0
    );
    let soon = healthapi::db::now() + chrono::Duration::minutes(1);
    assert_eq!(healthapi::auth::purge_sessions(&mut conn, soon).unwrap(), 1);
    assert_eq!(count(&mut conn), 1);
    app.get("/auth/me", &live).await.expect(200);
}

both_backends!(
    old_sessions_are_purged,
    password_change_guessing_is_throttled,
    login_returns_a_bearer_token,
    login_failures_look_the_same,
    login_throttled_after_five_failures,
    login_throttled_per_address,
    deactivated_user_is_locked_out,
    logout_revokes_the_token,
    me_returns_the_caller,
    password_change,
    bad_tokens_are_401,
);

/// Tokens expire after the configured lifetime, even when the session is cached.
async fn token_expires(backend: Backend) {
    let Some(app) = TestApp::spawn_with(backend, |c| c.token_ttl_seconds = 2).await else {
        eprintln!("HEALTHAPI_TEST_POSTGRES_URL unset: PostgreSQL run skipped");
        return;
    };
    let r = login_raw(&app, ADMIN_EMAIL, ADMIN_PASSWORD)
        .await
        .expect(200);
    assert_eq!(r.body["expires_in"], 2);
    let token = r.body["access_token"].as_str().unwrap().to_string();
    app.get("/auth/me", &token).await.expect(200);
    tokio::time::sleep(std::time::Duration::from_millis(3100)).await;
    assert_unauthorized(app.get("/auth/me", &token).await);
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn token_expires_sqlite() {
    token_expires(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn token_expires_postgres() {
    token_expires(Backend::Postgres).await;
}

/// The suite hashes passwords cheaply (`HashCost::Minimal`); this one server runs at the
/// production parameters, so that registration, login and a password change are covered at the
/// cost a real server pays, and the stored hash names OWASP's parameters.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn production_hashing() {
    let app = TestApp::spawn_with(Backend::Sqlite, |c| {
        c.password_hash_cost = healthapi::auth::passwords::HashCost::Owasp
    })
    .await
    .expect("sqlite is always available");
    let p = app.patient("Prod").await;
    app.post(
        "/auth/password",
        &p.token,
        json!({"current_password": PASSWORD, "new_password": "another-horse-10"}),
    )
    .await
    .expect(204);
    app.login(&p.email, "another-horse-10").await;
    login_raw(&app, &p.email, PASSWORD).await.expect(401);
    use diesel::prelude::*;
    let url = app.database_url.trim_start_matches("sqlite://").to_string();
    let mut conn = diesel::SqliteConnection::establish(&url).unwrap();
    let hashes: Vec<String> = diesel::sql_query("SELECT password_hash AS h FROM users")
        .load::<Hash>(&mut conn)
        .unwrap()
        .into_iter()
        .map(|h| h.h)
        .collect();
    assert_eq!(hashes.len(), 2, "the admin and the patient");
    for h in hashes {
        assert!(h.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"), "{h}");
    }
    app.stop().await;
}

#[derive(diesel::QueryableByName)]
struct Hash {
    #[diesel(sql_type = diesel::sql_types::Text)]
    h: String,
}
