//! Login throttling against strangers: failures count per account *and* client address, so
//! someone guessing from elsewhere cannot lock the owner (or the admin) out; a much higher
//! per-account ceiling holds many addresses at once, but not those the account signs in from;
//! an admin clears an account's counters. On both backends.
//!
//! The suite's server listens on 127.0.0.1; on Linux the whole 127.0.0.0/8 is loopback, so a
//! client bound to 127.0.0.2 (or .3, ...) is another client address.

use std::net::IpAddr;

use reqwest::Method;
use serde_json::{json, Value};

use crate::common::*;

/// A client whose requests come from `ip`.
fn client_from(ip: &str) -> reqwest::Client {
    reqwest::Client::builder()
        .local_address(ip.parse::<IpAddr>().expect("an address"))
        .timeout(std::time::Duration::from_secs(30))
        .build()
        .expect("a client")
}

async fn login_from(app: &TestApp, client: &reqwest::Client, email: &str, password: &str) -> Resp {
    let resp = client
        .post(app.url("/auth/login"))
        .json(&json!({"email": email, "password": password}))
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

async fn login_here(app: &TestApp, email: &str, password: &str) -> Resp {
    app.call(
        Method::POST,
        "/auth/login",
        None,
        Some(json!({"email": email, "password": password})),
        &[],
    )
    .await
}

/// Guesses wrong from `client` until refused; asserts the refusal carries `Retry-After`.
async fn guess_until_refused(app: &TestApp, client: &reqwest::Client, email: &str) {
    for i in 0..10 {
        let r = login_from(app, client, email, &format!("wrong-guess-{i}")).await;
        if r.status.as_u16() == 429 {
            let r = r.problem(429);
            let wait: u64 = r
                .header("retry-after")
                .expect("Retry-After on 429")
                .parse()
                .expect("seconds");
            assert!(wait > 0 && wait <= 15 * 60, "retry after {wait}s");
            assert!(
                i >= 5,
                "five guesses are allowed before a wait: refused after {i}"
            );
            return;
        }
        r.problem(401);
    }
    panic!("ten wrong guesses from one address were never refused");
}

/// A stranger's wrong guesses hold the stranger's address only: the owner signs in from
/// theirs, the admin too; the stranger is refused even with the right password.
async fn a_stranger_cannot_lock_an_account_out(app: &TestApp) {
    let ann = app.patient("Lockable").await;
    let stranger = client_from("127.0.0.2");
    guess_until_refused(app, &stranger, &ann.email).await;
    login_from(app, &stranger, &ann.email, PASSWORD)
        .await
        .problem(429);
    let r = login_here(app, &ann.email, PASSWORD).await.expect(200);
    assert!(r.body["access_token"].is_string());

    guess_until_refused(app, &stranger, ADMIN_EMAIL).await;
    login_here(app, ADMIN_EMAIL, ADMIN_PASSWORD)
        .await
        .expect(200);
    // Another account from the stranger's address is not held by those guesses.
    let bob = app.patient("Bystander").await;
    login_from(app, &stranger, &bob.email, PASSWORD)
        .await
        .expect(200);
}

/// Guesses spread over many addresses, a few from each, reach the account's own ceiling: a new
/// address then waits even with the right password, while the address the owner signs in from
/// does not.
async fn guesses_from_many_addresses_hold_new_addresses_only(app: &TestApp) {
    let ann = app.patient("Stuffed").await;
    // 10 addresses × 5 guesses = 50, the per-account ceiling.
    for n in 10..20 {
        let client = client_from(&format!("127.0.0.{n}"));
        for i in 0..5 {
            login_from(app, &client, &ann.email, &format!("stuffed-{n}-{i}"))
                .await
                .problem(401);
        }
    }
    let r = login_from(app, &client_from("127.0.0.30"), &ann.email, PASSWORD)
        .await
        .problem(429);
    assert!(r.header("retry-after").is_some());
    // `app.patient` signed in from 127.0.0.1: that address is the owner's.
    login_here(app, &ann.email, PASSWORD).await.expect(200);
}

/// An admin clears an account's counters (`DELETE /users/{id}/login-throttle`, `users:write`,
/// audited): the owner, held after mistyping from their own address, signs in at once.
async fn an_admin_clears_a_login_throttle(app: &TestApp) {
    let ann = app.patient("Mistyper").await;
    for i in 0..5 {
        login_here(app, &ann.email, &format!("mistyped-{i}"))
            .await
            .problem(401);
    }
    login_here(app, &ann.email, PASSWORD).await.problem(429);
    // The password-change throttle of the same account is cleared too.
    for i in 0..5 {
        app.post(
            "/auth/password",
            &ann.token,
            json!({"current_password": format!("mistyped-{i}"), "new_password": "another-pass-1"}),
        )
        .await
        .problem(422);
    }

    let path = format!("/users/{}/login-throttle", ann.user_id);
    // Not the patient's own to clear, nor an auditor's.
    app.delete(&path, &ann.token).await.problem(403);
    let auditor = app.staff("auditor").await;
    app.delete(&path, &auditor.token).await.problem(403);
    login_here(app, &ann.email, PASSWORD).await.problem(429);
    // Unknown accounts are 404.
    app.delete(
        &format!("/users/{}/login-throttle", uuid::Uuid::now_v7()),
        &app.admin_token,
    )
    .await
    .problem(404);

    let r = app.delete(&path, &app.admin_token).await.expect(204);
    let rid = r.header("x-request-id").unwrap().to_string();
    login_here(app, &ann.email, PASSWORD).await.expect(200);
    app.post(
        "/auth/password",
        &ann.token,
        json!({"current_password": PASSWORD, "new_password": "another-pass-1"}),
    )
    .await
    .expect(204);
    // Clearing again is no error.
    app.delete(&path, &app.admin_token).await.expect(204);

    let entries = app
        .get(&format!("/audit-logs?request_id={rid}"), &app.admin_token)
        .await
        .expect(200)
        .items();
    assert!(
        entries.iter().any(|e| e["action"] == "delete"
            && e["resource_type"] == "login_throttle"
            && e["resource_id"] == ann.user_id.as_str()
            && e["role"] == "admin"
            && e["outcome"] == "success"),
        "the clearing is audited: {entries:?}"
    );
}

both_backends!(
    a_stranger_cannot_lock_an_account_out,
    guesses_from_many_addresses_hold_new_addresses_only,
    an_admin_clears_a_login_throttle,
);
