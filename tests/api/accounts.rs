//! Accounts: self-registration, the users admin routes, roles and permissions (API.md
//! "Accounts, roles, audit"), on both backends.

use crate::common::*;
use reqwest::Method;
use serde_json::{json, Value};

const BUILT_IN: [&str; 7] = [
    "admin",
    "doctor",
    "patient",
    "pharmacist",
    "lab_technician",
    "billing",
    "auditor",
];

/// `POST /auth/register` without a token.
async fn register(app: &TestApp, body: Value) -> Resp {
    app.call(Method::POST, "/auth/register", None, Some(body), &[])
        .await
}

fn registration(email: &str, given: &str) -> Value {
    json!({
        "email": email, "password": PASSWORD, "given_name": given,
        "family_name": "Registrant", "birth_date": "1990-01-31", "sex": "male",
        "phone": "+1 555 0100"
    })
}

/// A 422 problem whose `errors` name `field`; returns the fields named.
#[track_caller]
fn assert_field_error(r: Resp, field: &str) -> Vec<String> {
    let r = r.problem(422);
    let fields: Vec<String> = r.body["errors"]
        .as_array()
        .unwrap_or_else(|| panic!("422 carries errors: {}", r.text))
        .iter()
        .map(|e| {
            assert!(e["message"].is_string(), "each error has a message");
            e["field"].as_str().expect("field is a string").to_string()
        })
        .collect();
    assert!(
        fields.iter().any(|f| f == field),
        "expected an error naming {field:?}, got {fields:?}"
    );
    fields
}

/// A successful response must never carry a password or its hash.
#[track_caller]
fn assert_no_secrets(r: &Resp) {
    let t = r.text.to_lowercase();
    assert!(!t.contains("password"), "response mentions a password: {t}");
    assert!(!t.contains("$argon2"), "response carries a hash: {t}");
    assert!(!r.text.contains(PASSWORD), "response carries the password");
    assert!(
        !r.text.contains(ADMIN_PASSWORD),
        "response carries a password"
    );
}

/// Users whose email or display name contains `q` (admin view).
async fn users_matching(app: &TestApp, q: &str) -> Vec<Value> {
    app.get(&format!("/users?q={}", enc(q)), &app.admin_token)
        .await
        .expect(200)
        .items()
}

/// Patients whose names contain `q` (admin view).
async fn patients_matching(app: &TestApp, q: &str) -> Vec<Value> {
    app.get(&format!("/patients?q={}", enc(q)), &app.admin_token)
        .await
        .expect(200)
        .items()
}

async fn create_user(app: &TestApp, email: &str, roles: Value) -> Resp {
    app.post(
        "/users",
        &app.admin_token,
        json!({"email": email, "password": PASSWORD, "display_name": "Staff Member", "roles": roles}),
    )
    .await
}

// ---------------------------------------------------------------------------------------------
// Registration

async fn register_creates_patient_account(app: &TestApp) {
    let email = format!("Reg.Ann-{}@Example.test", unique());
    let r = register(app, registration(&email, "Annabel"))
        .await
        .expect(201);
    assert_no_secrets(&r);
    let user = &r.body["user"];
    let patient = &r.body["patient"];
    let uid = user["id"].as_str().expect("user id");
    let pid = patient["id"].as_str().expect("patient id");
    assert_eq!(
        r.header("location"),
        Some(format!("/api/v1/users/{uid}").as_str())
    );
    assert_eq!(user["roles"], json!(["patient"]));
    assert_eq!(user["is_active"], true);
    assert_eq!(user["patient_id"], pid);
    assert_eq!(user["doctor_id"], Value::Null);
    assert_eq!(user["email"], email);
    assert_eq!(user["display_name"], "Annabel Registrant");
    assert_eq!(user["version"], 1);
    assert!(user["created_at"].is_string() && user["updated_at"].is_string());
    assert_eq!(patient["user_id"], uid);
    assert_eq!(patient["given_name"], "Annabel");
    assert_eq!(patient["family_name"], "Registrant");
    assert_eq!(patient["birth_date"], "1990-01-31");
    assert_eq!(patient["sex"], "male");
    assert_eq!(patient["phone"], "+1 555 0100");
    assert_eq!(patient["version"], 1);
    assert!(patient["mrn"].as_str().is_some_and(|m| !m.is_empty()));

    // The new account signs in (email case-insensitively) and sees itself.
    let token = app.login(&email.to_uppercase(), PASSWORD).await;
    let me = app.get("/auth/me", &token).await.expect(200);
    assert_eq!(me.body["id"], uid);
    assert_eq!(me.body["patient_id"], pid);
    assert_no_secrets(&me);
    // ... and its own patient record.
    let p = app
        .get(&format!("/patients/{pid}"), &token)
        .await
        .expect(200);
    assert_eq!(p.body["user_id"], uid);
}

async fn register_duplicate_email_is_409_and_writes_nothing(app: &TestApp) {
    let tag = format!("Dupname{}", unique());
    let email = format!("dup-{}@example.test", unique());
    register(app, registration(&email, &tag)).await.expect(201);

    // The same address in another case, with the same name: a conflict.
    let again = register(app, registration(&email.to_uppercase(), &tag))
        .await
        .problem(409);
    assert!(again.body["detail"].is_string());
    // With surrounding whitespace too.
    register(app, registration(&format!("  {email} "), &tag))
        .await
        .problem(409);

    // Nothing half-written: one patient, one user.
    let found = patients_matching(app, &tag).await;
    assert_eq!(found.len(), 1, "only the first registration made a patient");
    let users = users_matching(app, &email).await;
    assert_eq!(users.len(), 1, "only the first registration made a user");

    // An admin-created account's email is taken for registration too.
    let staff_email = format!("Staff-{}@example.test", unique());
    create_user(app, &staff_email, json!(["billing"]))
        .await
        .expect(201);
    let tag2 = format!("Staffdup{}", unique());
    register(app, registration(&staff_email.to_lowercase(), &tag2))
        .await
        .problem(409);
    assert!(patients_matching(app, &tag2).await.is_empty());
}

/// Writes that arrive together share one transaction on SQLite (group commit, `db::Db::write`),
/// each in its own savepoint. Failing writes among succeeding ones must fail alone: the others
/// committed whole, nothing of their own left behind. (On PostgreSQL the same holds trivially.)
async fn concurrent_registrations_fail_alone(app: &TestApp) {
    let tag = format!("Batch{}", unique());
    let taken = format!("taken-{}@example.test", unique());
    register(app, registration(&taken, &tag)).await.expect(201);
    let bodies: Vec<Value> = (0..16)
        .map(|i| {
            if i % 2 == 0 {
                registration(&format!("batch-{i}-{}@example.test", unique()), &tag)
            } else {
                registration(&taken, &tag)
            }
        })
        .collect();
    let results = futures::future::join_all(bodies.into_iter().map(|b| register(app, b))).await;
    for (i, r) in results.iter().enumerate() {
        let expected = if i % 2 == 0 { 201 } else { 409 };
        assert_eq!(r.status.as_u16(), expected, "registration {i}: {}", r.text);
    }
    assert_eq!(
        patients_matching(app, &tag).await.len(),
        9,
        "the first registration and the eight new ones, no patient of a refused one"
    );
    for i in (0..16).step_by(2) {
        let email = results[i].body["user"]["email"]
            .as_str()
            .map(str::to_string);
        let email = email.unwrap_or_else(|| panic!("registration {i}: {}", results[i].text));
        assert_eq!(users_matching(app, &email).await.len(), 1);
    }
}

async fn register_password_length(app: &TestApp) {
    let tag = format!("Pwlen{}", unique());
    let mut body = registration(&format!("pw-{}@example.test", unique()), &tag);
    for bad in ["short-pw9".to_string(), "x".repeat(129), "é".repeat(9)] {
        body["password"] = json!(bad);
        let fields = assert_field_error(register(app, body.clone()).await, "password");
        assert_eq!(fields, vec!["password"], "only the password is wrong");
    }
    assert!(patients_matching(app, &tag).await.is_empty());
    // The bounds themselves are allowed (counted in characters, not bytes).
    body["password"] = json!("é".repeat(10));
    register(app, body.clone()).await.expect(201);
    body["email"] = json!(format!("pw-{}@example.test", unique()));
    body["password"] = json!("y".repeat(128));
    register(app, body).await.expect(201);
    assert_eq!(patients_matching(app, &tag).await.len(), 2);
}

async fn register_validation_names_the_field(app: &TestApp) {
    let tag = format!("Badinput{}", unique());
    let base = registration(&format!("bad-{}@example.test", unique()), &tag);
    let tomorrow = (chrono::Utc::now().date_naive() + chrono::Duration::days(2)).to_string();
    let cases: Vec<(&str, Value)> = vec![
        ("sex", json!("robot")),
        ("sex", json!("Female")),
        ("email", json!("not-an-email")),
        ("email", json!("a@b")),
        ("email", json!("")),
        ("birth_date", json!(tomorrow)),
        ("birth_date", json!("1985-02-30")),
        ("birth_date", json!("12/04/1985")),
        ("given_name", json!("   ")),
        ("family_name", json!("")),
    ];
    for (field, value) in cases {
        let mut body = base.clone();
        body[field] = value.clone();
        let fields = assert_field_error(register(app, body).await, field);
        assert_eq!(
            fields,
            vec![field.to_string()],
            "{field}={value}: one error, on that field"
        );
    }
    // Missing required fields, one at a time.
    for field in [
        "email",
        "password",
        "given_name",
        "family_name",
        "birth_date",
        "sex",
    ] {
        let mut body = base.clone();
        body.as_object_mut().unwrap().remove(field);
        assert_field_error(register(app, body).await, field);
    }
    // Wrong types.
    for (field, value) in [
        ("birth_date", json!(19850412)),
        ("email", json!(42)),
        ("sex", json!(["female"])),
        ("phone", json!(5550100)),
        ("given_name", Value::Null),
    ] {
        let mut body = base.clone();
        body[field] = value;
        assert_field_error(register(app, body).await, field);
    }
    // Unknown fields: nobody mass-assigns a role, an id or a patient link.
    for (field, value) in [
        ("role", json!("admin")),
        ("roles", json!(["admin"])),
        ("id", json!("0190aaaa-0000-7000-8000-000000000000")),
        ("is_active", json!(true)),
    ] {
        let mut body = base.clone();
        body[field] = value;
        assert_field_error(register(app, body).await, field);
    }
    // None of it wrote anything.
    assert!(patients_matching(app, &tag).await.is_empty());
    assert!(users_matching(app, &tag.to_lowercase()).await.is_empty());
    // The base body itself is fine.
    register(app, base).await.expect(201);
}

// ---------------------------------------------------------------------------------------------
// Users

async fn users_create_by_admin(app: &TestApp) {
    let email = format!("Billing.Clerk-{}@example.test", unique());
    let r = create_user(app, &email, json!(["billing"]))
        .await
        .expect(201);
    assert_no_secrets(&r);
    let id = r.id();
    assert_eq!(
        r.header("location"),
        Some(format!("/api/v1/users/{id}").as_str())
    );
    assert_eq!(r.header("etag"), Some("\"1\""));
    assert_eq!(r.body["email"], email);
    assert_eq!(r.body["display_name"], "Staff Member");
    assert_eq!(r.body["roles"], json!(["billing"]));
    assert_eq!(r.body["is_active"], true);
    assert_eq!(r.body["patient_id"], Value::Null);
    assert_eq!(r.body["version"], 1);
    // Two roles come back sorted and both held.
    let two = create_user(
        app,
        &format!("two-{}@example.test", unique()),
        json!(["lab_technician", "auditor"]),
    )
    .await
    .expect(201);
    assert_eq!(two.body["roles"], json!(["auditor", "lab_technician"]));

    // The Location can be read back, with the same ETag.
    let got = app
        .get(&format!("/users/{id}"), &app.admin_token)
        .await
        .expect(200);
    assert_eq!(got.header("etag"), Some("\"1\""));
    assert_eq!(got.body, r.body);
    assert_no_secrets(&got);
    // The new account signs in.
    let token = app.login(&email, PASSWORD).await;
    let me = app.get("/auth/me", &token).await.expect(200);
    assert_eq!(me.body["roles"], json!(["billing"]));

    // Unknown role, empty roles, bad email, short password: 422 naming the field.
    let fresh = || format!("new-{}@example.test", unique());
    assert_field_error(create_user(app, &fresh(), json!(["wizard"])).await, "roles");
    assert_field_error(
        create_user(app, &fresh(), json!(["doctor", "wizard"])).await,
        "roles",
    );
    assert_field_error(create_user(app, &fresh(), json!([])).await, "roles");
    assert_field_error(
        create_user(app, "no-at-sign", json!(["billing"])).await,
        "email",
    );
    let short = app
        .post(
            "/users",
            &app.admin_token,
            json!({"email": fresh(), "password": "123456789", "display_name": "X", "roles": ["billing"]}),
        )
        .await;
    assert_field_error(short, "password");
    let blank = app
        .post(
            "/users",
            &app.admin_token,
            json!({"email": fresh(), "password": PASSWORD, "display_name": " ", "roles": ["billing"]}),
        )
        .await;
    assert_field_error(blank, "display_name");
    let extra = app
        .post(
            "/users",
            &app.admin_token,
            json!({"email": fresh(), "password": PASSWORD, "display_name": "X", "roles": ["billing"], "is_active": false}),
        )
        .await;
    assert_field_error(extra, "is_active");

    // Duplicate email, any case: 409, and still one account.
    create_user(app, &email.to_uppercase(), json!(["auditor"]))
        .await
        .problem(409);
    assert_eq!(users_matching(app, &email.to_lowercase()).await.len(), 1);
    // The admin's own address too.
    create_user(app, &ADMIN_EMAIL.to_uppercase(), json!(["admin"]))
        .await
        .problem(409);

    // Only an admin creates accounts.
    for role in ["auditor", "billing"] {
        let actor = app.staff(role).await;
        app.post(
            "/users",
            &actor.token,
            json!({"email": fresh(), "password": PASSWORD, "display_name": "X", "roles": ["admin"]}),
        )
        .await
        .problem(403);
    }
    let p = app.patient("Uma").await;
    let attempt = fresh();
    app.post(
        "/users",
        &p.token,
        json!({"email": attempt, "password": PASSWORD, "display_name": "X", "roles": ["admin"]}),
    )
    .await
    .problem(403);
    assert!(users_matching(app, &attempt).await.is_empty());
}

async fn users_list_access(app: &TestApp) {
    // admin and auditor list accounts; every other role is refused.
    let auditor = app.staff("auditor").await;
    for token in [&app.admin_token, &auditor.token] {
        let r = app.get("/users", token).await.expect(200);
        assert_no_secrets(&r);
        let items = r.items();
        assert!(items.iter().any(|u| u["email"] == ADMIN_EMAIL));
        assert!(items.iter().any(|u| u["id"] == auditor.user_id.as_str()));
        assert!(r.body.get("next_cursor").is_some());
        for u in &items {
            assert!(u["id"].is_string() && u["roles"].is_array() && u["version"].is_i64());
        }
    }
    let doctor = app.doctor("Lister", "cardiology").await;
    let patient = app.patient("Lena").await;
    let mut denied = vec![doctor.token.clone(), patient.token.clone()];
    for role in ["pharmacist", "lab_technician", "billing"] {
        denied.push(app.staff(role).await.token);
    }
    for token in &denied {
        let r = app.get("/users", token).await.problem(403);
        assert!(r.body["detail"].is_string());
        app.get(&format!("/users?q={}", enc(ADMIN_EMAIL)), token)
            .await
            .problem(403);
    }

    // Paging visits every account exactly once; filters narrow.
    let all = app.all_pages("/users", &app.admin_token, 2).await;
    let mut ids: Vec<&str> = all.iter().map(|u| u["id"].as_str().unwrap()).collect();
    let n = ids.len();
    assert!(n >= 7, "admin + 6 created accounts, got {n}");
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), n, "no account on two pages");
    let first = app
        .get("/users?limit=1", &app.admin_token)
        .await
        .expect(200);
    assert_eq!(first.items().len(), 1);
    assert!(first.body["next_cursor"].is_string());

    let by_role = app
        .get("/users?role=pharmacist", &app.admin_token)
        .await
        .expect(200)
        .items();
    assert_eq!(by_role.len(), 1);
    assert_eq!(by_role[0]["roles"], json!(["pharmacist"]));
    let by_q = users_matching(app, &patient.email.to_uppercase()).await;
    assert_eq!(by_q.len(), 1);
    assert_eq!(by_q[0]["id"], patient.user_id.as_str());

    // Search text is literal: LIKE wildcards match only themselves.
    for wildcard in ["%", "__", "\\", "%@%", "lab%tech"] {
        assert!(
            users_matching(app, wildcard).await.is_empty(),
            "q={wildcard:?} matches no account"
        );
    }
    assert_eq!(users_matching(app, "lab_tech").await.len(), 1);
    assert_field_error(
        app.get("/users?is_active=maybe", &app.admin_token).await,
        "is_active",
    );

    // Bad paging parameters are 422 naming them; a huge limit is clamped.
    assert_field_error(app.get("/users?limit=0", &app.admin_token).await, "limit");
    assert_field_error(app.get("/users?limit=abc", &app.admin_token).await, "limit");
    assert_field_error(
        app.get("/users?cursor=%25%25%25", &app.admin_token).await,
        "cursor",
    );
    app.get("/users?limit=100000", &app.admin_token)
        .await
        .expect(200);
}

async fn users_read_one(app: &TestApp) {
    let p = app.patient("Selma").await;
    let other = app.patient("Otto").await;
    let auditor = app.staff("auditor").await;
    let doctor = app.doctor("Reed", "neurology").await;

    // Self.
    let me = app
        .get(&format!("/users/{}", p.user_id), &p.token)
        .await
        .expect(200);
    assert_eq!(me.body["email"], p.email);
    assert_eq!(me.header("etag"), Some("\"1\""));
    assert_no_secrets(&me);
    let d = app
        .get(&format!("/users/{}", doctor.user_id), &doctor.token)
        .await
        .expect(200);
    assert_eq!(d.body["doctor_id"], doctor.did());
    assert_eq!(d.body["roles"], json!(["doctor"]));

    // Someone else: 404 for those without users:read, whether or not the id exists.
    for (token, target) in [
        (&p.token, &other.user_id),
        (&p.token, &auditor.user_id),
        (&doctor.token, &p.user_id),
        (&other.token, &p.user_id),
    ] {
        app.get(&format!("/users/{target}"), token)
            .await
            .problem(404);
    }
    let ghost = "0190aaaa-0000-7000-8000-000000000000";
    let absent = app
        .get(&format!("/users/{ghost}"), &p.token)
        .await
        .problem(404);
    let hidden = app
        .get(&format!("/users/{}", other.user_id), &p.token)
        .await
        .problem(404);
    assert_eq!(absent.text, hidden.text, "absent and hidden look the same");

    // Admin and auditor read anyone; an unknown id is 404.
    for token in [&app.admin_token, &auditor.token] {
        let r = app
            .get(&format!("/users/{}", p.user_id), token)
            .await
            .expect(200);
        assert_eq!(r.body["patient_id"], p.pid());
        app.get(&format!("/users/{ghost}"), token)
            .await
            .problem(404);
    }
}

async fn users_patch(app: &TestApp) {
    let p = app.patient("Pia").await;
    let other = app.patient("Olaf").await;
    let path = format!("/users/{}", p.user_id);

    // Self changes the display name: version and ETag move on.
    let r = app
        .patch(&path, &p.token, json!({"display_name": "  Pia P.  "}))
        .await
        .expect(200);
    assert_eq!(r.body["display_name"], "Pia P.");
    assert_eq!(r.body["version"], 2);
    assert_eq!(r.header("etag"), Some("\"2\""));
    assert_no_secrets(&r);
    let updated_at = r.body["updated_at"].as_str().unwrap();
    assert!(updated_at >= r.body["created_at"].as_str().unwrap());

    // A stale If-Match is 412 and changes nothing; the current one works.
    let stale = app
        .call(
            Method::PATCH,
            &path,
            Some(&p.token),
            Some(json!({"display_name": "Stale"})),
            &[("if-match", "\"1\"")],
        )
        .await
        .problem(412);
    assert!(stale.body["detail"].is_string());
    let now = app.get(&path, &p.token).await.expect(200);
    assert_eq!(now.body["display_name"], "Pia P.");
    assert_eq!(now.body["version"], 2);
    let ok = app
        .call(
            Method::PATCH,
            &path,
            Some(&p.token),
            Some(json!({"display_name": "Pia"})),
            &[("if-match", "\"2\"")],
        )
        .await
        .expect(200);
    assert_eq!(ok.body["version"], 3);

    // A non-admin may not touch roles or activation, even their own: 403, nothing changed.
    app.patch(&path, &p.token, json!({"roles": ["admin"]}))
        .await
        .problem(403);
    app.patch(&path, &p.token, json!({"is_active": false}))
        .await
        .problem(403);
    app.patch(
        &path,
        &p.token,
        json!({"display_name": "Sneaky", "roles": ["admin"]}),
    )
    .await
    .problem(403);
    let after = app.get(&path, &p.token).await.expect(200);
    assert_eq!(after.body["roles"], json!(["patient"]));
    assert_eq!(after.body["display_name"], "Pia");
    assert_eq!(after.body["is_active"], true);
    assert_eq!(after.body["version"], 3);
    app.get("/users", &p.token).await.problem(403);

    // Someone else's account: out of reach.
    app.patch(
        &format!("/users/{}", other.user_id),
        &p.token,
        json!({"display_name": "Hacked"}),
    )
    .await
    .problem(404);
    let o = app
        .get(&format!("/users/{}", other.user_id), &app.admin_token)
        .await
        .expect(200);
    assert_ne!(o.body["display_name"], "Hacked");

    // Bad bodies: unknown or immutable fields, empty name, empty roles, unknown role.
    assert_field_error(
        app.patch(&path, &p.token, json!({"email": "x@example.test"}))
            .await,
        "email",
    );
    assert_field_error(
        app.patch(&path, &p.token, json!({"version": 9})).await,
        "version",
    );
    assert_field_error(
        app.patch(&path, &p.token, json!({"display_name": ""}))
            .await,
        "display_name",
    );
    assert_field_error(
        app.patch(&path, &p.token, json!({"display_name": 7})).await,
        "display_name",
    );
    assert_field_error(
        app.patch(&path, &app.admin_token, json!({"roles": []}))
            .await,
        "roles",
    );
    assert_field_error(
        app.patch(
            &path,
            &app.admin_token,
            json!({"roles": ["patient", "wizard"]}),
        )
        .await,
        "roles",
    );
    let unchanged = app.get(&path, &app.admin_token).await.expect(200);
    assert_eq!(unchanged.body["roles"], json!(["patient"]));
    assert_eq!(unchanged.body["version"], 3);

    // The admin grants a role; the user's existing token gains it at once.
    app.get("/audit-logs", &p.token).await.problem(403);
    let granted = app
        .patch(
            &path,
            &app.admin_token,
            json!({"roles": ["patient", "auditor"]}),
        )
        .await
        .expect(200);
    assert_eq!(granted.body["roles"], json!(["auditor", "patient"]));
    assert_eq!(granted.body["patient_id"], p.pid());
    app.get("/audit-logs", &p.token).await.expect(200);
    app.get("/users", &p.token).await.expect(200);
    // ... and taking it away takes effect at once too.
    app.patch(&path, &app.admin_token, json!({"roles": ["patient"]}))
        .await
        .expect(200);
    app.get("/audit-logs", &p.token).await.problem(403);

    // An admin edits another account; unknown ids are 404.
    let named = app
        .patch(&path, &app.admin_token, json!({"display_name": "Renamed"}))
        .await
        .expect(200);
    assert_eq!(named.body["display_name"], "Renamed");
    app.patch(
        "/users/0190aaaa-0000-7000-8000-000000000000",
        &app.admin_token,
        json!({"display_name": "Nobody"}),
    )
    .await
    .problem(404);

    // An admin cannot lock themself out.
    let me = app.get("/auth/me", &app.admin_token).await.expect(200);
    let admin_path = format!("/users/{}", me.body["id"].as_str().unwrap());
    app.patch(&admin_path, &app.admin_token, json!({"is_active": false}))
        .await
        .problem(409);
    app.patch(&admin_path, &app.admin_token, json!({"roles": ["auditor"]}))
        .await
        .problem(409);
    let admin = app.get(&admin_path, &app.admin_token).await.expect(200);
    assert_eq!(admin.body["is_active"], true);
    assert_eq!(admin.body["roles"], json!(["admin"]));
    // ... but may rename themself.
    app.patch(
        &admin_path,
        &app.admin_token,
        json!({"display_name": "Root"}),
    )
    .await
    .expect(200);
}

// ---------------------------------------------------------------------------------------------
// Roles and permissions

async fn find_role(app: &TestApp, token: &str, name: &str) -> Option<Value> {
    app.get("/roles", token)
        .await
        .expect(200)
        .items()
        .into_iter()
        .find(|r| r["name"] == name)
}

async fn roles_and_permissions_lists(app: &TestApp) {
    let patient = app.patient("Rolf").await;
    let perms = app.get("/permissions", &patient.token).await.expect(200);
    let perm_names: Vec<String> = perms
        .items()
        .iter()
        .map(|p| {
            assert!(p["description"].as_str().is_some_and(|d| !d.is_empty()));
            p["name"].as_str().unwrap().to_string()
        })
        .collect();
    for expected in [
        "users:read",
        "users:write",
        "roles:write",
        "audit:read",
        "patients:read",
    ] {
        assert!(perm_names.iter().any(|n| n == expected), "{expected}");
    }

    for token in [&patient.token, &app.admin_token] {
        let roles = app.get("/roles", token).await.expect(200).items();
        let built_in: Vec<&str> = roles
            .iter()
            .filter(|r| r["built_in"] == true)
            .map(|r| r["name"].as_str().unwrap())
            .collect();
        let mut want = BUILT_IN.to_vec();
        want.sort();
        let mut got = built_in.clone();
        got.sort();
        assert_eq!(got, want, "exactly the seven built-in roles");
        for r in &roles {
            assert!(r["id"].is_string() && r["description"].is_string());
            for p in r["permissions"].as_array().unwrap() {
                assert!(
                    perm_names.iter().any(|n| n == p.as_str().unwrap()),
                    "role permissions come from the catalogue"
                );
            }
        }
        let admin = roles.iter().find(|r| r["name"] == "admin").unwrap();
        assert_eq!(
            admin["permissions"].as_array().unwrap().len(),
            perm_names.len(),
            "admin holds every permission"
        );
        let auditor = roles.iter().find(|r| r["name"] == "auditor").unwrap();
        let ap = auditor["permissions"].as_array().unwrap();
        assert!(ap.contains(&json!("audit:read")));
        assert!(
            !ap.contains(&json!("records:read")),
            "auditors see no clinical data"
        );
    }
    // Signed-in only.
    app.call(Method::GET, "/roles", None, None, &[])
        .await
        .problem(401);
    app.call(Method::GET, "/permissions", None, None, &[])
        .await
        .problem(401);
}

async fn roles_custom_lifecycle(app: &TestApp) {
    let name = format!("reviewer_{}", unique());
    let created = app
        .post(
            "/roles",
            &app.admin_token,
            json!({"name": name, "description": "Reads accounts", "permissions": ["users:read"]}),
        )
        .await
        .expect(201);
    let role_id = created.id();
    assert_eq!(
        created.header("location"),
        Some(format!("/api/v1/roles/{role_id}").as_str())
    );
    assert_eq!(created.body["name"], name);
    assert_eq!(created.body["built_in"], false);
    assert_eq!(created.body["permissions"], json!(["users:read"]));
    let listed = find_role(app, &app.admin_token, &name)
        .await
        .expect("listed");
    assert_eq!(listed["id"], role_id.as_str());

    // Bad creates.
    let mk =
        |name: &str, perms: Value| json!({"name": name, "description": "d", "permissions": perms});
    assert_field_error(
        app.post(
            "/roles",
            &app.admin_token,
            mk("fresh_role", json!(["users:read", "fly:high"])),
        )
        .await,
        "permissions",
    );
    assert!(find_role(app, &app.admin_token, "fresh_role")
        .await
        .is_none());
    assert_field_error(
        app.post("/roles", &app.admin_token, mk("Bad Name", json!([])))
            .await,
        "name",
    );
    assert_field_error(
        app.post(
            "/roles",
            &app.admin_token,
            json!({"name": "x_role", "description": "d", "permissions": [], "built_in": true}),
        )
        .await,
        "built_in",
    );
    let dup = app
        .post("/roles", &app.admin_token, mk(&name, json!([])))
        .await
        .problem(409);
    assert!(dup.body["detail"].is_string());
    app.post("/roles", &app.admin_token, mk("admin", json!([])))
        .await
        .problem(409);
    // Only admins manage roles.
    let auditor = app.staff("auditor").await;
    let doctor = app.doctor("Rolemaker", "surgery").await;
    for token in [&auditor.token, &doctor.token] {
        app.post("/roles", token, mk("sneaky_role", json!(["audit:read"])))
            .await
            .problem(403);
        app.patch(
            &format!("/roles/{role_id}"),
            token,
            json!({"permissions": ["users:write"]}),
        )
        .await
        .problem(403);
        app.delete(&format!("/roles/{role_id}"), token)
            .await
            .problem(403);
    }
    assert!(find_role(app, &app.admin_token, "sneaky_role")
        .await
        .is_none());

    // Built-in roles cannot be changed or deleted.
    for builtin in ["admin", "patient", "auditor"] {
        let r = find_role(app, &app.admin_token, builtin).await.unwrap();
        let rid = r["id"].as_str().unwrap();
        app.patch(
            &format!("/roles/{rid}"),
            &app.admin_token,
            json!({"permissions": ["audit:read"]}),
        )
        .await
        .problem(409);
        app.patch(
            &format!("/roles/{rid}"),
            &app.admin_token,
            json!({"description": "changed"}),
        )
        .await
        .problem(409);
        app.delete(&format!("/roles/{rid}"), &app.admin_token)
            .await
            .problem(409);
        let after = find_role(app, &app.admin_token, builtin).await.unwrap();
        assert_eq!(after, r, "built-in role {builtin} unchanged");
    }

    // A user holding the custom role gets exactly its permissions.
    let holder_email = format!("holder-{}@example.test", unique());
    create_user(app, &holder_email, json!([name]))
        .await
        .expect(201);
    let holder = app.login(&holder_email, PASSWORD).await;
    app.get("/users", &holder).await.expect(200);
    app.get("/audit-logs", &holder).await.problem(403);

    // PATCH the custom role: the holder's existing token gains audit:read.
    let patched = app
        .patch(
            &format!("/roles/{role_id}"),
            &app.admin_token,
            json!({"permissions": ["audit:read"], "description": "Reads the trail"}),
        )
        .await
        .expect(200);
    assert_eq!(patched.body["permissions"], json!(["audit:read"]));
    assert_eq!(patched.body["description"], "Reads the trail");
    assert_eq!(patched.body["built_in"], false);
    let logs = app.get("/audit-logs", &holder).await.expect(200);
    assert!(!logs.items().is_empty());
    app.get("/users", &holder).await.problem(403);
    // Unknown permission in a PATCH: 422, nothing changed.
    assert_field_error(
        app.patch(
            &format!("/roles/{role_id}"),
            &app.admin_token,
            json!({"permissions": ["root"]}),
        )
        .await,
        "permissions",
    );
    assert_field_error(
        app.patch(
            &format!("/roles/{role_id}"),
            &app.admin_token,
            json!({"name": "renamed"}),
        )
        .await,
        "name",
    );
    let still = find_role(app, &app.admin_token, &name).await.unwrap();
    assert_eq!(still["permissions"], json!(["audit:read"]));
    // Stale If-Match: 412.
    app.call(
        Method::PATCH,
        &format!("/roles/{role_id}"),
        Some(&app.admin_token),
        Some(json!({"permissions": []})),
        &[("if-match", "\"1\"")],
    )
    .await
    .problem(412);
    app.get("/audit-logs", &holder).await.expect(200);
    // Emptying the role takes the permission away again.
    app.patch(
        &format!("/roles/{role_id}"),
        &app.admin_token,
        json!({"permissions": []}),
    )
    .await
    .expect(200);
    app.get("/audit-logs", &holder).await.problem(403);

    // In use: cannot be deleted.
    app.delete(&format!("/roles/{role_id}"), &app.admin_token)
        .await
        .problem(409);
    assert!(find_role(app, &app.admin_token, &name).await.is_some());

    // An unused role is deleted (204), then gone (404).
    let unused = app
        .post(
            "/roles",
            &app.admin_token,
            mk(&format!("temp_{}", unique()), json!(["billing:read"])),
        )
        .await
        .expect(201);
    let uid = unused.id();
    let del = app
        .delete(&format!("/roles/{uid}"), &app.admin_token)
        .await
        .expect(204);
    assert!(del.text.is_empty());
    assert!(!app
        .get("/roles", &app.admin_token)
        .await
        .expect(200)
        .items()
        .iter()
        .any(|r| r["id"] == uid.as_str()));
    app.delete(&format!("/roles/{uid}"), &app.admin_token)
        .await
        .problem(404);
    app.patch(
        &format!("/roles/{uid}"),
        &app.admin_token,
        json!({"description": "ghost"}),
    )
    .await
    .problem(404);
    // A deleted role cannot be assigned.
    assert_field_error(
        create_user(
            app,
            &format!("late-{}@example.test", unique()),
            json!([unused.body["name"].clone()]),
        )
        .await,
        "roles",
    );
}

async fn delegated_admin_cannot_escalate(app: &TestApp) {
    // A custom role that manages accounts and roles, without being admin.
    let mgr_role = format!("account_manager_{}", unique());
    app.post(
        "/roles",
        &app.admin_token,
        json!({"name": mgr_role, "description": "HR desk",
               "permissions": ["users:read", "users:write", "roles:write"]}),
    )
    .await
    .expect(201);
    let small_role = format!("reader_{}", unique());
    app.post(
        "/roles",
        &app.admin_token,
        json!({"name": small_role, "description": "", "permissions": ["users:read"]}),
    )
    .await
    .expect(201);
    let mgr_email = format!("mgr-{}@example.test", unique());
    let mgr = create_user(app, &mgr_email, json!([mgr_role]))
        .await
        .expect(201);
    let token = app.login(&mgr_email, PASSWORD).await;
    let me = format!("/users/{}", mgr.id());

    // Granting oneself (or anyone) more than one holds: 403, nothing changes.
    app.patch(&me, &token, json!({"roles": ["admin"]}))
        .await
        .problem(403);
    app.patch(&me, &token, json!({"roles": [mgr_role, "auditor"]}))
        .await
        .problem(403);
    let victim = app.patient("Vic").await;
    app.patch(
        &format!("/users/{}", victim.user_id),
        &token,
        json!({"roles": ["patient", "admin"]}),
    )
    .await
    .problem(403);
    let sneaky = format!("sneaky-{}@example.test", unique());
    create_user_as(app, &token, &sneaky, json!(["admin"]))
        .await
        .problem(403);
    create_user_as(app, &token, &sneaky, json!(["billing"]))
        .await
        .problem(403);
    assert!(users_matching(app, &sneaky).await.is_empty());
    let v = app
        .get(&format!("/users/{}", victim.user_id), &app.admin_token)
        .await
        .expect(200);
    assert_eq!(v.body["roles"], json!(["patient"]));
    let m = app.get(&me, &app.admin_token).await.expect(200);
    assert_eq!(m.body["roles"], json!([mgr_role]));
    // Nor by widening a role: a role may only carry permissions the author holds.
    app.post(
        "/roles",
        &token,
        json!({"name": format!("wide_{}", unique()), "description": "", "permissions": ["audit:read"]}),
    )
    .await
    .problem(403);
    let mgr_role_id = find_role(app, &token, &mgr_role).await.unwrap()["id"]
        .as_str()
        .unwrap()
        .to_string();
    app.patch(
        &format!("/roles/{mgr_role_id}"),
        &token,
        json!({"permissions": ["users:read", "users:write", "roles:write", "audit:read"]}),
    )
    .await
    .problem(403);
    app.get("/audit-logs", &token).await.problem(403);

    // Within their own permissions they work normally.
    create_user_as(app, &token, &sneaky, json!([small_role]))
        .await
        .expect(201);
    app.post(
        "/roles",
        &token,
        json!({"name": format!("narrow_{}", unique()), "description": "", "permissions": ["users:read"]}),
    )
    .await
    .expect(201);
    app.patch(
        &format!("/users/{}", victim.user_id),
        &token,
        json!({"is_active": false}),
    )
    .await
    .expect(200);

    // An auditor reads accounts but may not change others': 403 (it already sees them).
    let auditor = app.staff("auditor").await;
    app.patch(
        &format!("/users/{}", victim.user_id),
        &auditor.token,
        json!({"display_name": "Audited"}),
    )
    .await
    .problem(403);
}

async fn create_user_as(app: &TestApp, token: &str, email: &str, roles: Value) -> Resp {
    app.post(
        "/users",
        token,
        json!({"email": email, "password": PASSWORD, "display_name": "Delegated", "roles": roles}),
    )
    .await
}

// ---------------------------------------------------------------------------------------------
// Concurrency

async fn concurrent_writes_do_not_lose_updates(app: &TestApp) {
    // Same email registered at once: exactly one wins, the rest are 409, one patient.
    let tag = format!("Racer{}", unique());
    let email = format!("race-{}@example.test", unique());
    let attempts = (0..4).map(|i| {
        let mut body = registration(&email, &tag);
        if i % 2 == 1 {
            body["email"] = json!(email.to_uppercase());
        }
        register(app, body)
    });
    let statuses: Vec<u16> = futures::future::join_all(attempts)
        .await
        .into_iter()
        .map(|r| r.status.as_u16())
        .collect();
    assert_eq!(
        statuses.iter().filter(|s| **s == 201).count(),
        1,
        "{statuses:?}"
    );
    assert!(
        statuses.iter().all(|s| *s == 201 || *s == 409),
        "{statuses:?}"
    );
    assert_eq!(patients_matching(app, &tag).await.len(), 1);

    // Optimistic locking holds under races: one If-Match "1" wins, the others get 412.
    let staff = app.staff("billing").await;
    let path = format!("/users/{}", staff.user_id);
    let racers = (0..6).map(|i| {
        app.call(
            Method::PATCH,
            &path,
            Some(&app.admin_token),
            Some(json!({"display_name": format!("Racer {i}")})),
            &[("if-match", "\"1\"")],
        )
    });
    let statuses: Vec<u16> = futures::future::join_all(racers)
        .await
        .into_iter()
        .map(|r| r.status.as_u16())
        .collect();
    assert_eq!(
        statuses.iter().filter(|s| **s == 200).count(),
        1,
        "{statuses:?}"
    );
    assert_eq!(
        statuses.iter().filter(|s| **s == 412).count(),
        5,
        "{statuses:?}"
    );
    let now = app.get(&path, &app.admin_token).await.expect(200);
    assert_eq!(now.body["version"], 2);

    // Without If-Match every change counts: the version moves once per change.
    let racers = (0..6).map(|i| {
        app.patch(
            &path,
            &app.admin_token,
            json!({"display_name": format!("Free {i}")}),
        )
    });
    for r in futures::future::join_all(racers).await {
        r.expect(200);
    }
    let now = app.get(&path, &app.admin_token).await.expect(200);
    assert_eq!(now.body["version"], 8, "no version increment lost");
    assert_eq!(now.header("etag"), Some("\"8\""));

    // The same for roles.
    let role = app
        .post(
            "/roles",
            &app.admin_token,
            json!({"name": format!("racy_{}", unique()), "description": "", "permissions": []}),
        )
        .await
        .expect(201);
    let rpath = format!("/roles/{}", role.id());
    let racers = (0..6).map(|i| {
        app.call(
            Method::PATCH,
            &rpath,
            Some(&app.admin_token),
            Some(json!({"description": format!("take {i}")})),
            &[("if-match", "\"1\"")],
        )
    });
    let statuses: Vec<u16> = futures::future::join_all(racers)
        .await
        .into_iter()
        .map(|r| r.status.as_u16())
        .collect();
    assert_eq!(
        statuses.iter().filter(|s| **s == 200).count(),
        1,
        "{statuses:?}"
    );
    let racers = (0..5).map(|i| {
        app.patch(
            &rpath,
            &app.admin_token,
            json!({"description": format!("free {i}")}),
        )
    });
    for r in futures::future::join_all(racers).await {
        r.expect(200);
    }
    let after = find_role(app, &app.admin_token, role.body["name"].as_str().unwrap())
        .await
        .unwrap();
    assert_eq!(after["version"], 7, "no version increment lost");
}

both_backends!(
    register_creates_patient_account,
    register_duplicate_email_is_409_and_writes_nothing,
    register_password_length,
    concurrent_registrations_fail_alone,
    register_validation_names_the_field,
    users_create_by_admin,
    users_list_access,
    users_read_one,
    users_patch,
    roles_and_permissions_lists,
    roles_custom_lifecycle,
    concurrent_writes_do_not_lose_updates,
    delegated_admin_cannot_escalate,
);
