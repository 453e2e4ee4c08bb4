//! Sign-up, sign-in, sign-out, and the caller's own account.

use axum::extract::{ConnectInfo, State};
use axum::http::{HeaderMap, StatusCode};
use diesel::prelude::*;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::{router::OpenApiRouter, routes};

use super::users::{create_user, load_user, revoke_all_tokens, NewUser, User};
use crate::app::AppState;
use crate::audit::NewEntry;
use crate::auth::permissions::PATIENT;
use crate::auth::{passwords, tokens, Ctx};
use crate::db::now;
use crate::db::schema::{sessions, users};
use crate::domains::patients::{create_patient, validate_patient, NewPatient, Patient};
use crate::http::{ApiError, AppJson, Created, Tagged, Validator};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(register))
        .routes(routes!(login))
        .routes(routes!(logout))
        .routes(routes!(me))
        .routes(routes!(change_password))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Register {
    pub email: String,
    pub password: String,
    pub given_name: String,
    pub family_name: String,
    /// `YYYY-MM-DD`
    #[schema(value_type = String, format = Date)]
    pub birth_date: chrono::NaiveDate,
    /// `female`, `male`, `other` or `unknown`.
    pub sex: String,
    pub phone: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Registered {
    pub user: User,
    pub patient: Patient,
}

/// Self-registration: a `patient` account and its own Patient record, in one transaction.
#[utoipa::path(post, path = "/auth/register", tag = "auth", security(), request_body = Register,
    responses((status = 201, body = Registered), (status = 409, body = crate::http::Problem),
        (status = 422, body = crate::http::Problem)))]
async fn register(
    State(state): State<AppState>,
    ConnectInfo(addr): ConnectInfo<std::net::SocketAddr>,
    headers: HeaderMap,
    AppJson(body): AppJson<Register>,
) -> Result<Created<Registered>, ApiError> {
    let mut v = Validator::new();
    v.email("email", &body.email);
    passwords::validate_new(&mut v, "password", &body.password);
    let mut patient = NewPatient {
        given_name: body.given_name,
        family_name: body.family_name,
        birth_date: body.birth_date,
        sex: body.sex,
        phone: body.phone,
        // Checked once above, as the account's email; copied in after validation so a bad
        // address is reported once.
        email: None,
        address: None,
    };
    validate_patient(&mut v, &patient);
    v.finish()?;
    patient.email = Some(body.email.trim().to_string());
    let password = body.password;
    let cost = state.config.password_hash_cost;
    let hash = crate::db::spawn_lowered(move || passwords::hash(&password, cost))
        .await
        .map_err(ApiError::internal)?;
    let new_user = NewUser {
        email: body.email,
        password_hash: hash,
        display_name: format!(
            "{} {}",
            patient.given_name.trim(),
            patient.family_name.trim()
        ),
        roles: vec![PATIENT.to_string()],
    };
    let request_id = header_str(&headers, "x-request-id");
    let out = state
        .db
        .write(move |tx| {
            let user = create_user(tx, &new_user)?;
            let patient = create_patient(tx, &patient, Some(&user.id))?;
            let user = load_user(tx.conn, &user.id)?.ok_or_else(ApiError::not_found)?;
            for (rt, rid) in [("user", &user.id), ("patient", &patient.id)] {
                crate::audit::record(
                    tx.conn,
                    &system_entry(
                        Some(&user.id),
                        Some(PATIENT),
                        "register",
                        rt,
                        Some(rid),
                        Some(&patient.id),
                        "success",
                        &request_id,
                        &addr.ip().to_string(),
                    ),
                )?;
            }
            Ok(Registered { user, patient })
        })
        .await?;
    Ok(Created {
        location: format!("/api/v1/users/{}", out.user.id),
        version: Some(out.user.version),
        body: out,
    })
}

fn header_str(headers: &HeaderMap, name: &str) -> String {
    headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_string()
}

/// An audit entry for a request without a signed-in caller (register, login).
#[allow(clippy::too_many_arguments)]
fn system_entry(
    user_id: Option<&str>,
    role: Option<&str>,
    action: &str,
    resource_type: &str,
    resource_id: Option<&str>,
    patient_id: Option<&str>,
    outcome: &str,
    request_id: &str,
    client_addr: &str,
) -> NewEntry {
    NewEntry {
        occurred_at: now(),
        user_id: user_id.map(str::to_string),
        role: role.map(str::to_string),
        action: action.to_string(),
        resource_type: resource_type.to_string(),
        resource_id: resource_id.map(str::to_string),
        patient_id: patient_id.map(str::to_string),
        outcome: outcome.to_string(),
        request_id: Some(request_id.to_string()).filter(|s| !s.is_empty()),
        client_addr: Some(client_addr.to_string()).filter(|s| !s.is_empty()),
    }
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Login {
    pub email: String,
    pub password: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct LoginResponse {
    pub access_token: String,
    pub token_type: &'static str,
    /// Seconds until the token expires.
    pub expires_in: i64,
    pub user: User,
}

/// Exchange email and password for a bearer token. Unknown email and wrong password get the
/// same 401; repeated failures per account or address get 429.
#[utoipa::path(post, path = "/auth/login", tag = "auth", security(), request_body = Login,
    responses((status = 200, body = LoginResponse), (status = 401, body = crate::http::Problem),
        (status = 429, body = crate::http::Problem)))]
async fn login(
    State(state): State<AppState>,
    ConnectInfo(addr): ConnectInfo<std::net::SocketAddr>,
    headers: HeaderMap,
    AppJson(body): AppJson<Login>,
) -> Result<axum::Json<LoginResponse>, ApiError> {
    let email_lower = body.email.trim().to_lowercase();
    let ip = addr.ip().to_string();
    let request_id = header_str(&headers, "x-request-id");
    if let Some(wait) = state.throttle.blocked(&email_lower, &ip) {
        state.audit.record_async(system_entry(
            None,
            None,
            "login",
            "session",
            None,
            None,
            "denied",
            &request_id,
            &ip,
        ));
        return Err(ApiError::too_many(wait));
    }
    let lookup_email = email_lower.clone();
    let found: Option<(String, String, bool)> = state
        .db
        .read(move |conn| {
            Ok(users::table
                .filter(users::email_lower.eq(lookup_email))
                .select((users::id, users::password_hash, users::is_active))
                .first(conn)
                .optional()?)
        })
        .await?;
    let password = body.password;
    let cost = state.config.password_hash_cost;
    let (user_id, ok) = crate::db::spawn_lowered(move || match found {
        Some((id, hash, active)) => {
            let ok = passwords::verify(&password, &hash);
            (Some(id), ok && active)
        }
        None => {
            passwords::verify(&password, passwords::dummy_hash(cost));
            (None, false)
        }
    })
    .await
    .map_err(ApiError::internal)?;
    let user_id = match (user_id, ok) {
        (Some(id), true) => id,
        (id, _) => {
            state.throttle.record_failure(&email_lower, &ip);
            state.audit.record_async(system_entry(
                id.as_deref(),
                None,
                "login_failed",
                "session",
                None,
                None,
                "denied",
                &request_id,
                &ip,
            ));
            return Err(ApiError::new(
                StatusCode::UNAUTHORIZED,
                "invalid-credentials",
                "email or password is incorrect",
            ));
        }
    };
    state.throttle.record_success(&email_lower);
    let token = tokens::random_token();
    let token_hash = tokens::token_hash(&token);
    let ttl = state.config.token_ttl_seconds;
    let user = state
        .db
        .write(move |tx| {
            let t = now();
            diesel::insert_into(sessions::table)
                .values((
                    sessions::token_hash.eq(&token_hash),
                    sessions::user_id.eq(&user_id),
                    sessions::created_at.eq(t),
                    sessions::expires_at.eq(t + chrono::Duration::seconds(ttl)),
                ))
                .execute(tx.conn)?;
            let user = load_user(tx.conn, &user_id)?.ok_or_else(ApiError::not_found)?;
            let role = if user.roles.iter().any(|r| r == "admin") {
                Some("admin")
            } else {
                user.roles.first().map(String::as_str)
            };
            crate::audit::record(
                tx.conn,
                &system_entry(
                    Some(&user.id),
                    role,
                    "login",
                    "session",
                    None,
                    user.patient_id.as_deref(),
                    "success",
                    &request_id,
                    &ip,
                ),
            )?;
            Ok(user)
        })
        .await?;
    Ok(axum::Json(LoginResponse {
        access_token: token,
        token_type: "Bearer",
        expires_in: ttl,
        user,
    }))
}

/// Revoke the caller's token.
#[utoipa::path(post, path = "/auth/logout", tag = "auth",
    responses((status = 204), (status = 401, body = crate::http::Problem)))]
async fn logout(State(state): State<AppState>, ctx: Ctx) -> Result<StatusCode, ApiError> {
    let hash = ctx.principal.token_hash.clone();
    let actor = ctx.clone();
    state
        .db
        .write(move |tx| {
            diesel::update(sessions::table.find(&hash))
                .set(sessions::revoked_at.eq(now()))
                .execute(tx.conn)?;
            crate::audit::record(tx.conn, &actor.entry("logout", "session", None, None))?;
            Ok(())
        })
        .await?;
    state.sessions.forget_token(&ctx.principal.token_hash);
    Ok(StatusCode::NO_CONTENT)
}

/// The caller's own account.
#[utoipa::path(get, path = "/auth/me", tag = "auth",
    responses((status = 200, body = User), (status = 401, body = crate::http::Problem)))]
async fn me(State(state): State<AppState>, ctx: Ctx) -> Result<Tagged<User>, ApiError> {
    let id = ctx.user_id().to_string();
    let user = state
        .db
        .read(move |conn| Ok(load_user(conn, &id)?))
        .await?
        .ok_or_else(ApiError::unauthorized)?;
    Ok(Tagged(user.version, user))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ChangePassword {
    pub current_password: String,
    pub new_password: String,
}

/// Change the caller's password; every other token of theirs is revoked.
#[utoipa::path(post, path = "/auth/password", tag = "auth", request_body = ChangePassword,
    responses((status = 204), (status = 401, body = crate::http::Problem),
        (status = 422, body = crate::http::Problem)))]
async fn change_password(
    State(state): State<AppState>,
    ctx: Ctx,
    AppJson(body): AppJson<ChangePassword>,
) -> Result<StatusCode, ApiError> {
    let mut v = Validator::new();
    passwords::validate_new(&mut v, "new_password", &body.new_password);
    v.finish()?;
    // A stolen token must not become a way to guess the password: the same throttle as login,
    // keyed by the account.
    let throttle_key = format!("user:{}", ctx.user_id());
    if let Some(wait) = state.throttle.blocked(&throttle_key, &ctx.client_addr) {
        return Err(ctx.denied(
            ApiError::too_many(wait),
            "password_change",
            "user",
            Some(ctx.user_id()),
            None,
        ));
    }
    let uid = ctx.user_id().to_string();
    let stored: String = state
        .db
        .read(move |conn| {
            Ok(users::table
                .find(uid)
                .select(users::password_hash)
                .first(conn)?)
        })
        .await?;
    let (current, new) = (body.current_password, body.new_password);
    let cost = state.config.password_hash_cost;
    let new_hash = crate::db::spawn_lowered(move || {
        passwords::verify(&current, &stored).then(|| passwords::hash(&new, cost))
    })
    .await
    .map_err(ApiError::internal)?;
    let Some(new_hash) = new_hash else {
        state
            .throttle
            .record_failure(&throttle_key, &ctx.client_addr);
        return Err(ctx.denied(
            ApiError::field("current_password", "is incorrect"),
            "password_change",
            "user",
            Some(ctx.user_id()),
            None,
        ));
    };
    state.throttle.record_success(&throttle_key);
    let actor = ctx.clone();
    let uid = ctx.user_id().to_string();
    let keep = ctx.principal.token_hash.clone();
    state
        .db
        .write(move |tx| {
            diesel::update(users::table.find(&uid))
                .set((
                    users::password_hash.eq(new_hash),
                    users::updated_at.eq(now()),
                    users::version.eq(users::version + 1),
                ))
                .execute(tx.conn)?;
            revoke_all_tokens(tx.conn, &uid, Some(&keep))?;
            crate::audit::record(
                tx.conn,
                &actor.entry("password_change", "user", Some(&uid), None),
            )?;
            Ok(())
        })
        .await?;
    state.sessions.forget_user(ctx.user_id());
    Ok(StatusCode::NO_CONTENT)
}
