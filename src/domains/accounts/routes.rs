//! `/auth/*`, `/users`, `/roles`, `/permissions`, `/audit-logs`, `/patients/{id}/access-log`.

use axum::extract::State;

use crate::http::Path;
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::{router::OpenApiRouter, routes};

use super::{
    AccessLogFilter, AuditFilter, CreateUser, NewRole, Register, Registered, Role, RoleChange,
    User, UserChange, UserFilter, AUDIT_LOG, LOGIN_THROTTLE, ROLE, SESSION, USER,
};
use crate::audit::{Action, AuditLog};
use crate::auth::permissions::CATALOGUE;
use crate::auth::{passwords, tokens};
use crate::http::{
    ApiError, AppJson, AppQuery, Created, ListResponse, PageParams, Problem, Tagged,
};
use crate::kit::AppState;
use crate::kit::{
    route, route_unaudited, Access, Ctx, Error, IfMatch, PatientId, Perm, UserId, Validator,
    Visitor,
};

pub fn router() -> OpenApiRouter<AppState> {
    let users_read = Access::Perm(Perm::UsersRead);
    let users_write = Access::Perm(Perm::UsersWrite);
    let roles_write = Access::Perm(Perm::RolesWrite);
    OpenApiRouter::new()
        .routes(route(Access::Public, USER, routes!(register)))
        .routes(route(Access::Public, SESSION, routes!(login)))
        .routes(route(Access::SignedIn, SESSION, routes!(logout)))
        .routes(route_unaudited(
            Access::SignedIn,
            USER,
            "the caller's own account",
            routes!(me),
        ))
        .routes(route(Access::SignedIn, USER, routes!(change_password)))
        .routes(route(users_write, USER, routes!(create_user)))
        .routes(route(users_read, USER, routes!(list_users)))
        .routes(route(
            users_write,
            LOGIN_THROTTLE,
            routes!(clear_login_throttle),
        ))
        // One's own account, or any with `users:read`: decided by the rule.
        .routes(route(Access::SignedIn, USER, routes!(get_user)))
        .routes(route(Access::SignedIn, USER, routes!(patch_user)))
        .routes(route_unaudited(
            Access::SignedIn,
            ROLE,
            "the role catalogue",
            routes!(list_roles),
        ))
        .routes(route(roles_write, ROLE, routes!(create_role)))
        .routes(route(roles_write, ROLE, routes!(patch_role)))
        .routes(route(roles_write, ROLE, routes!(delete_role)))
        .routes(route_unaudited(
            Access::SignedIn,
            ROLE,
            "the permission catalogue",
            routes!(list_permissions),
        ))
        .routes(route(
            Access::Perm(Perm::AuditRead),
            AUDIT_LOG,
            routes!(list_audit_logs),
        ))
        // The patient themself, or who reads the trail: decided by the rule.
        .routes(route(
            Access::SignedIn,
            AUDIT_LOG,
            routes!(patient_access_log),
        ))
}

/// Register as a patient
///
/// Public: anyone may sign up, without a token. Creates a `patient` account and its own patient
/// record in one transaction, both audited as `register` by the new account. The email is unique
/// regardless of case (409); the password must be 10–128 characters, and the names, birth date and
/// phone are checked (422). Sign in with `POST /auth/login` afterwards to get a token.
#[utoipa::path(post, path = "/auth/register", tag = "auth", request_body = Register,
    responses((status = 201, body = Registered), (status = 409, body = Problem),
        (status = 422, body = Problem)))]
async fn register(
    State(state): State<AppState>,
    Visitor(visitor): Visitor,
    AppJson(body): AppJson<Register>,
) -> Result<Created<Registered>, ApiError> {
    let mut v = Validator::new();
    let patient = super::validate_registration(&mut v, &body);
    v.finish()?;
    let hash =
        passwords::hash_off_runtime(body.password.clone(), state.config.password_hash_cost).await?;
    let out = visitor
        .write(&state.db, move |tx| {
            super::register(tx, body, patient, hash)
        })
        .await?;
    Ok(Created {
        location: format!("/api/v1/users/{}", out.user.id),
        version: Some(out.user.version),
        body: out,
    })
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(examples(crate::http::examples::login))]
pub struct Login {
    pub email: String,
    pub password: String,
}

#[derive(Debug, Serialize, ToSchema)]
#[schema(examples(crate::http::examples::login_response))]
pub struct LoginResponse {
    pub access_token: String,
    pub token_type: &'static str,
    /// Seconds until the token expires.
    pub expires_in: i64,
    pub user: User,
}

/// Sign in
///
/// Public. Exchanges email and password for a bearer token, valid for `expires_in` seconds, with
/// the account it opens; the sign-in is audited as `login`, a failed one as `login_failed`. An
/// unknown email, a wrong password and a deactivated account get the same 401.
///
/// Repeated failures get 429 with `Retry-After`, for a wait that grows with each further failure: 5
/// of one account from one address hold that address for that account only; 20 from one address
/// hold it for every account; 50 of one account from anywhere hold it for addresses it has not
/// signed in from.
#[utoipa::path(post, path = "/auth/login", tag = "auth", request_body = Login,
    responses((status = 200, body = LoginResponse), (status = 401, body = Problem),
        (status = 429, body = Problem)))]
async fn login(
    State(state): State<AppState>,
    Visitor(visitor): Visitor,
    AppJson(body): AppJson<Login>,
) -> Result<axum::Json<LoginResponse>, ApiError> {
    let email_lower = body.email.trim().to_lowercase();
    let ip = visitor.client_addr().to_string();
    if let Some(wait) = state.throttle.blocked(&email_lower, &ip) {
        return Err(visitor
            .deny(Error::Throttled(wait), Action::Login, SESSION, None, None)
            .into());
    }
    let email = body.email.clone();
    let found = state
        .db
        .read(move |conn| super::credentials(conn, &email))
        .await?;
    let (password, cost) = (body.password, state.config.password_hash_cost);
    let (user_id, ok) = crate::sys::spawn_lowered(move || match found {
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
            let who = match &id {
                Some(id) => visitor.clone().as_user(id, None),
                None => visitor.clone(),
            };
            let _ = who.deny(Error::NotFound, Action::LoginFailed, SESSION, None, None);
            return Err(ApiError::new(
                StatusCode::UNAUTHORIZED,
                "invalid-credentials",
                "email or password is incorrect",
            ));
        }
    };
    state.throttle.record_success(&email_lower, &ip);
    let token = tokens::random_token();
    let token_hash = tokens::token_hash(&token);
    let ttl = state.config.token_ttl_seconds;
    let user = visitor
        .write(&state.db, move |tx| {
            super::open_session(tx, &user_id, &token_hash, ttl)
        })
        .await?;
    Ok(axum::Json(LoginResponse {
        access_token: token,
        token_type: "Bearer",
        expires_in: ttl,
        user,
    }))
}

/// Sign out
///
/// Any signed-in user. Revokes the token the request carries (the caller's other tokens stay
/// valid); every later request with it is 401. Audited as `logout`.
#[utoipa::path(post, path = "/auth/logout", tag = "auth",
    responses((status = 204), (status = 401, body = Problem)))]
async fn logout(ctx: Ctx) -> Result<StatusCode, ApiError> {
    let hash = ctx.principal().token_hash.clone();
    let h = hash.clone();
    ctx.write(move |tx| super::logout(tx, &h)).await?;
    ctx.state().sessions.forget_token(&hash);
    Ok(StatusCode::NO_CONTENT)
}

/// Read the caller's account
///
/// Any signed-in user: the account the token belongs to, with its roles and the ids of its linked
/// patient and doctor records. Not audited (one's own account). The `ETag` is the account's
/// version.
#[utoipa::path(get, path = "/auth/me", tag = "auth",
    responses((status = 200, body = User), (status = 401, body = Problem)))]
async fn me(ctx: Ctx) -> Result<Tagged<User>, ApiError> {
    let id = ctx.user_id().to_string();
    let user = ctx
        .read(move |conn, _| super::me(conn, &id))
        .await
        .map_err(|e| match e {
            Error::NotFound => ApiError::unauthorized(),
            other => other.into(),
        })?;
    Ok(Tagged(user.version, user))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ChangePassword {
    pub current_password: String,
    #[schema(min_length = 10, max_length = 128)]
    pub new_password: String,
}

/// Change the caller's password
///
/// Any signed-in user. `current_password` must be right (422 naming it, audited as a refused
/// `password_change`); repeated failures are throttled like sign-in (429 with `Retry-After`). The
/// new password must be 10–128 characters. Every other token of the caller is revoked; the one in
/// use stays valid. Audited as `password_change`.
#[utoipa::path(post, path = "/auth/password", tag = "auth", request_body = ChangePassword,
    responses((status = 204), (status = 401, body = Problem), (status = 422, body = Problem),
        (status = 429, body = Problem)))]
async fn change_password(
    ctx: Ctx,
    AppJson(body): AppJson<ChangePassword>,
) -> Result<StatusCode, ApiError> {
    let mut v = Validator::new();
    passwords::validate_new(&mut v, "new_password", &body.new_password);
    v.finish()?;
    let state = ctx.state().clone();
    let user_id = ctx.user_id().to_string();
    let addr = ctx.actor().client_addr().to_string();
    // A stolen token must not become a way to guess the password: the same throttle as login,
    // keyed by the account.
    let throttle_key = format!("user:{user_id}");
    if let Some(wait) = state.throttle.blocked(&throttle_key, &addr) {
        return Err(ctx
            .deny(
                Error::Throttled(wait),
                Action::PasswordChange,
                USER,
                Some(&user_id),
                None,
            )
            .into());
    }
    let uid = user_id.clone();
    let stored = ctx
        .read(move |conn, _| super::password_hash(conn, &uid))
        .await?;
    let (current, new, cost) = (
        body.current_password,
        body.new_password,
        state.config.password_hash_cost,
    );
    let new_hash = crate::sys::spawn_lowered(move || {
        passwords::verify(&current, &stored).then(|| passwords::hash(&new, cost))
    })
    .await
    .map_err(ApiError::internal)?;
    let Some(new_hash) = new_hash else {
        state.throttle.record_failure(&throttle_key, &addr);
        return Err(ctx
            .deny(
                Error::field("current_password", "is incorrect"),
                Action::PasswordChange,
                USER,
                Some(&user_id),
                None,
            )
            .into());
    };
    state.throttle.record_success(&throttle_key, &addr);
    let keep = ctx.principal().token_hash.clone();
    let uid = user_id.clone();
    ctx.write(move |tx| super::set_password(tx, &uid, new_hash, &keep))
        .await?;
    state.sessions.forget_user(&user_id);
    Ok(StatusCode::NO_CONTENT)
}

/// Create an account
///
/// Needs `users:write` (admin). Creates a staff or patient account with the given roles (at least
/// one; unknown names are 422); a caller who is not an admin may grant only roles whose permissions
/// they hold (403). The email is unique regardless of case (409). No patient or doctor record is
/// made: link one with `POST /patients` or `POST /doctors`. Audited as `create`.
#[utoipa::path(post, path = "/users", tag = "accounts", request_body = CreateUser,
    responses((status = 201, body = User), (status = 403, body = Problem),
        (status = 409, body = Problem), (status = 422, body = Problem)))]
async fn create_user(
    ctx: Ctx,
    AppJson(body): AppJson<CreateUser>,
) -> Result<Created<User>, ApiError> {
    let mut v = Validator::new();
    super::validate_new_user(&mut v, &body);
    v.finish()?;
    let cost = ctx.state().config.password_hash_cost;
    let hash = passwords::hash_off_runtime(body.password.clone(), cost).await?;
    let user = ctx
        .write(move |tx| super::create_account(tx, body, hash))
        .await?;
    Ok(Created {
        location: format!("/api/v1/users/{}", user.id),
        version: Some(user.version),
        body: user,
    })
}

/// List accounts
///
/// Needs `users:read` (admin, auditor). Filters: `q` (part of the email or display name), `role`
/// and `is_active`; in creation order, paged with `limit` and `cursor`. Audited as a `search`.
#[utoipa::path(get, path = "/users", tag = "accounts", params(UserFilter, PageParams),
    responses((status = 200, body = ListResponse<User>), (status = 403, body = Problem)))]
async fn list_users(
    ctx: Ctx,
    AppQuery(f): AppQuery<UserFilter>,
    AppQuery(page): AppQuery<PageParams>,
) -> Result<ListResponse<User>, ApiError> {
    let page = page.page()?;
    let found = ctx
        .read(move |conn, _| super::list_users(conn, f, &page))
        .await?;
    Ok(ctx.reveal(found).await?)
}

/// Clear an account's login throttle
///
/// Needs `users:write` (admin). Every failed sign-in and password-change attempt counted against
/// the account, from every address, is forgotten, so its owner may sign in again at once. Audited
/// as `delete` of `login_throttle`. Counters are kept per server node: this clears the node that
/// serves the request.
#[utoipa::path(delete, path = "/users/{id}/login-throttle", tag = "accounts",
    params(("id" = String, Path)),
    responses((status = 204), (status = 403, body = Problem), (status = 404, body = Problem)))]
async fn clear_login_throttle(ctx: Ctx, Path(id): Path<UserId>) -> Result<StatusCode, ApiError> {
    let uid = id.clone();
    let email = ctx
        .write(move |tx| super::clear_login_throttle(tx, &uid))
        .await?;
    let password_key = format!("user:{id}");
    ctx.state()
        .throttle
        .clear(&[email.trim().to_lowercase().as_str(), password_key.as_str()]);
    Ok(StatusCode::NO_CONTENT)
}

/// Read an account
///
/// Any signed-in user may read their own account; another account needs `users:read` (admin,
/// auditor), else 404 (audited as a refused read). Audited as a `read`; the `ETag` is the account's
/// version, for `If-Match` on `PATCH /users/{id}`.
#[utoipa::path(get, path = "/users/{id}", tag = "accounts", params(("id" = String, Path)),
    responses((status = 200, body = User), (status = 404, body = Problem)))]
async fn get_user(ctx: Ctx, Path(id): Path<UserId>) -> Result<Tagged<User>, ApiError> {
    let found = ctx
        .read(move |conn, actor| super::get_user(conn, actor, &id))
        .await?;
    let user = ctx.reveal(found).await?;
    Ok(Tagged(user.version, user))
}

/// Change an account
///
/// The account's owner or an admin may change `display_name`; `roles` and `is_active` need
/// `users:write` (admin; a holder who is not an admin may grant only roles within their own
/// permissions, 403). Deactivating revokes every token of the user; new roles apply from their next
/// request. Nobody deactivates themself, nor does an admin drop their own `admin` role (409).
/// `If-Match` is honoured (412 when stale). Audited as `update`.
#[utoipa::path(patch, path = "/users/{id}", tag = "accounts", params(("id" = String, Path)),
    request_body = UserChange,
    responses((status = 200, body = User), (status = 403, body = Problem),
        (status = 404, body = Problem), (status = 409, body = Problem),
        (status = 412, body = Problem), (status = 422, body = Problem)))]
async fn patch_user(
    ctx: Ctx,
    Path(id): Path<UserId>,
    if_match: IfMatch,
    AppJson(body): AppJson<UserChange>,
) -> Result<Tagged<User>, ApiError> {
    let uid = id.clone();
    let changed = ctx
        .write(move |tx| super::change_user(tx, &uid, body, if_match))
        .await?;
    if changed.sessions_stale {
        ctx.state().sessions.forget_user(id.as_str());
    }
    Ok(Tagged(changed.user.version, changed.user))
}

#[derive(Debug, Serialize, ToSchema)]
pub struct RoleList {
    pub items: Vec<Role>,
    pub next_cursor: Option<String>,
}

/// List roles
///
/// Any signed-in user: the seven built-in roles and every custom one, with their permissions, in
/// one page (`next_cursor` is always null). Not audited (a catalogue).
#[utoipa::path(get, path = "/roles", tag = "accounts",
    responses((status = 200, body = RoleList)))]
async fn list_roles(ctx: Ctx) -> Result<axum::Json<RoleList>, ApiError> {
    let items = ctx.read(|conn, _| super::list_roles(conn)).await?;
    Ok(axum::Json(RoleList {
        items,
        next_cursor: None,
    }))
}

#[derive(Debug, Serialize, ToSchema)]
pub struct PermissionInfo {
    pub name: String,
    pub description: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct PermissionList {
    pub items: Vec<PermissionInfo>,
    pub next_cursor: Option<String>,
}

/// List permissions
///
/// Any signed-in user: every permission a role can hold, by wire name (`records:read`), with what
/// it allows, in one page (`next_cursor` is always null). Not audited (a catalogue).
#[utoipa::path(get, path = "/permissions", tag = "accounts",
    responses((status = 200, body = PermissionList)))]
async fn list_permissions(_ctx: Ctx) -> axum::Json<PermissionList> {
    axum::Json(PermissionList {
        items: CATALOGUE
            .iter()
            .map(|(_, name, description)| PermissionInfo {
                name: name.to_string(),
                description: description.to_string(),
            })
            .collect(),
        next_cursor: None,
    })
}

/// Create a custom role
///
/// Needs `roles:write` (admin). `name` is 2–50 lower-case letters, digits or `_`, starting with a
/// letter, and unique (409); `permissions` are names from `GET /permissions` (422 naming unknown
/// ones). A caller who is not an admin may include only permissions they hold (403). Audited as
/// `create`.
#[utoipa::path(post, path = "/roles", tag = "accounts", request_body = NewRole,
    responses((status = 201, body = Role), (status = 403, body = Problem),
        (status = 409, body = Problem), (status = 422, body = Problem)))]
async fn create_role(ctx: Ctx, AppJson(body): AppJson<NewRole>) -> Result<Created<Role>, ApiError> {
    let role = ctx.write(move |tx| super::create_role(tx, body)).await?;
    Ok(Created {
        location: format!("/api/v1/roles/{}", role.id),
        version: Some(role.version),
        body: role,
    })
}

/// Change a custom role
///
/// Needs `roles:write` (admin). Replaces the description and/or the permission set (the same rules
/// as creating one); built-in roles cannot be changed (409). `If-Match` is honoured (412 when
/// stale). Signed-in holders of the role get the new permissions on their next request. Audited as
/// `update`.
#[utoipa::path(patch, path = "/roles/{id}", tag = "accounts", params(("id" = String, Path)),
    request_body = RoleChange,
    responses((status = 200, body = Role), (status = 403, body = Problem),
        (status = 404, body = Problem), (status = 409, body = Problem),
        (status = 412, body = Problem), (status = 422, body = Problem)))]
async fn patch_role(
    ctx: Ctx,
    Path(id): Path<String>,
    if_match: IfMatch,
    AppJson(body): AppJson<RoleChange>,
) -> Result<Tagged<Role>, ApiError> {
    let role = ctx
        .write(move |tx| super::change_role(tx, &id, body, if_match))
        .await?;
    // Cached sessions hold permissions computed from the old role.
    ctx.state().sessions.clear();
    Ok(Tagged(role.version, role))
}

/// Delete a custom role
///
/// Needs `roles:write` (admin). Built-in roles, and roles that any user still holds, cannot be
/// deleted (409). Audited as `delete`.
#[utoipa::path(delete, path = "/roles/{id}", tag = "accounts", params(("id" = String, Path)),
    responses((status = 204), (status = 403, body = Problem),
        (status = 404, body = Problem), (status = 409, body = Problem)))]
async fn delete_role(ctx: Ctx, Path(id): Path<String>) -> Result<StatusCode, ApiError> {
    ctx.write(move |tx| super::delete_role(tx, &id)).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Seals what is pending (so readers see their own request's entries), then pages through
/// the trail newest first.
async fn trail_page(
    ctx: &Ctx,
    f: AuditFilter,
    page: PageParams,
) -> Result<ListResponse<AuditLog>, ApiError> {
    let page = page.page()?;
    ctx.state()
        .audit
        .flush()
        .await
        .map_err(ApiError::internal)?;
    let found = ctx
        .read(move |conn, _| super::audit_page(conn, f, &page))
        .await?;
    Ok(ctx.reveal(found).await?)
}

/// Search the audit trail
///
/// Needs `audit:read` (admin, auditor). Entries newest first, filtered by `user_id`, `patient_id`,
/// `resource_type`, `action`, `outcome`, `request_id` and a `from`/`to` window; paged. Entries
/// still pending are sealed first, so the caller's own earlier requests show. Reading the trail is
/// itself audited as a `search`.
#[utoipa::path(get, path = "/audit-logs", tag = "audit", params(AuditFilter, PageParams),
    responses((status = 200, body = ListResponse<AuditLog>), (status = 403, body = Problem)))]
async fn list_audit_logs(
    ctx: Ctx,
    AppQuery(f): AppQuery<AuditFilter>,
    AppQuery(page): AppQuery<PageParams>,
) -> Result<ListResponse<AuditLog>, ApiError> {
    trail_page(&ctx, f, page).await
}

/// Read a patient's access log
///
/// Who touched this patient's data, newest first, optionally within `from`/`to`; paged. The patient
/// themself, or a holder of `audit:read` (admin, auditor); another patient gets 404, other staff
/// 403 (both audited). Reading it is audited as a `search` of the trail.
#[utoipa::path(get, path = "/patients/{id}/access-log", tag = "audit",
    params(("id" = String, Path), AccessLogFilter, PageParams),
    responses((status = 200, body = ListResponse<AuditLog>), (status = 403, body = Problem),
        (status = 404, body = Problem)))]
async fn patient_access_log(
    ctx: Ctx,
    Path(id): Path<PatientId>,
    AppQuery(f): AppQuery<AccessLogFilter>,
    AppQuery(page): AppQuery<PageParams>,
) -> Result<ListResponse<AuditLog>, ApiError> {
    let pid = id.clone();
    ctx.read(move |conn, actor| super::check_access_log(conn, actor, &pid))
        .await?;
    let filter = AuditFilter {
        patient_id: Some(id.into_string()),
        from: f.from,
        to: f.to,
        ..Default::default()
    };
    trail_page(&ctx, filter, page).await
}
