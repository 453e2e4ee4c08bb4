//! Users: the account model, its queries, and the admin routes.

use std::collections::HashMap;

use axum::extract::{Path, State};
use axum::http::HeaderMap;
use diesel::prelude::*;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::{router::OpenApiRouter, routes};

use crate::app::AppState;
use crate::auth::permissions::{Perm, PermSet, ADMIN};
use crate::auth::{Ctx, Principal};
use crate::db::schema::{doctors, patients, roles, sessions, user_roles, users};
use crate::db::{contains_pattern, new_id, now, DbConn, Tx};
use crate::http::{
    check_version, if_match, utc, ApiError, AppJson, AppQuery, Created, ListResponse, PageParams,
    Tagged, Validator,
};

/// An account as the API shows it. Never a password or its hash.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct User {
    pub id: String,
    pub email: String,
    pub display_name: String,
    pub roles: Vec<String>,
    pub is_active: bool,
    pub patient_id: Option<String>,
    pub doctor_id: Option<String>,
    pub created_at: chrono::DateTime<chrono::Utc>,
    pub updated_at: chrono::DateTime<chrono::Utc>,
    pub version: i32,
}

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = users)]
struct UserRow {
    id: String,
    email: String,
    display_name: String,
    is_active: bool,
    created_at: chrono::NaiveDateTime,
    updated_at: chrono::NaiveDateTime,
    version: i32,
}

/// Turns rows into Users with their roles and patient/doctor links, in three queries per page.
fn hydrate(conn: &mut DbConn, rows: Vec<UserRow>) -> QueryResult<Vec<User>> {
    let ids: Vec<&String> = rows.iter().map(|r| &r.id).collect();
    let mut role_map: HashMap<String, Vec<String>> = HashMap::new();
    for (uid, name) in user_roles::table
        .inner_join(roles::table)
        .filter(user_roles::user_id.eq_any(&ids))
        .select((user_roles::user_id, roles::name))
        .order(roles::name)
        .load::<(String, String)>(conn)?
    {
        role_map.entry(uid).or_default().push(name);
    }
    let patient_map: HashMap<String, String> = patients::table
        .filter(patients::user_id.eq_any(&ids))
        .select((patients::user_id.assume_not_null(), patients::id))
        .load::<(String, String)>(conn)?
        .into_iter()
        .collect();
    let doctor_map: HashMap<String, String> = doctors::table
        .filter(doctors::user_id.eq_any(&ids))
        .select((doctors::user_id.assume_not_null(), doctors::id))
        .load::<(String, String)>(conn)?
        .into_iter()
        .collect();
    Ok(rows
        .into_iter()
        .map(|r| User {
            roles: role_map.remove(&r.id).unwrap_or_default(),
            patient_id: patient_map.get(&r.id).cloned(),
            doctor_id: doctor_map.get(&r.id).cloned(),
            id: r.id,
            email: r.email,
            display_name: r.display_name,
            is_active: r.is_active,
            created_at: utc(r.created_at),
            updated_at: utc(r.updated_at),
            version: r.version,
        })
        .collect())
}

pub fn load_user(conn: &mut DbConn, id: &str) -> QueryResult<Option<User>> {
    let row = users::table
        .find(id)
        .select(UserRow::as_select())
        .first(conn)
        .optional()?;
    Ok(match row {
        Some(r) => hydrate(conn, vec![r])?.pop(),
        None => None,
    })
}

pub struct NewUser {
    pub email: String,
    pub password_hash: String,
    pub display_name: String,
    pub roles: Vec<String>,
}

/// Resolves role names to ids; unknown names are a 422 on `roles`.
fn role_ids(conn: &mut DbConn, names: &[String]) -> Result<Vec<String>, ApiError> {
    let found: Vec<(String, String)> = roles::table
        .filter(roles::name.eq_any(names))
        .select((roles::name, roles::id))
        .load(conn)?;
    let unknown: Vec<&str> = names
        .iter()
        .filter(|n| !found.iter().any(|(f, _)| f == *n))
        .map(String::as_str)
        .collect();
    if !unknown.is_empty() {
        return Err(ApiError::field(
            "roles",
            format!("unknown role(s): {}", unknown.join(", ")),
        ));
    }
    Ok(found.into_iter().map(|(_, id)| id).collect())
}

/// Only an admin hands out roles freely; anyone else holding `users:write` may grant only roles
/// whose permissions they hold themself, so that nobody can raise their own privileges (e.g. by
/// granting themself `admin`). Unknown names are left to `role_ids` (422).
fn check_grantable(
    conn: &mut DbConn,
    caller: &Principal,
    names: &[String],
) -> Result<(), ApiError> {
    if caller.is_admin {
        return Ok(());
    }
    let found: Vec<String> = roles::table
        .filter(roles::name.eq_any(names))
        .select(roles::permissions)
        .load(conn)?;
    for perm_json in found {
        let list: Vec<String> = serde_json::from_str(&perm_json).unwrap_or_default();
        let granted = PermSet::from_names(&list).unwrap_or_else(|_| PermSet::all());
        if granted.union(caller.perms) != caller.perms {
            return Err(ApiError::new(
                axum::http::StatusCode::FORBIDDEN,
                "forbidden",
                "you may only grant roles whose permissions you hold",
            ));
        }
    }
    Ok(())
}

/// Creates a user in the caller's transaction. Email is unique case-insensitively (409).
pub fn create_user(tx: &mut Tx, new: &NewUser) -> Result<User, ApiError> {
    let email_lower = new.email.trim().to_lowercase();
    let taken: i64 = users::table
        .filter(users::email_lower.eq(&email_lower))
        .count()
        .get_result(tx.conn)?;
    if taken > 0 {
        return Err(ApiError::conflict(
            "an account with this email already exists",
        ));
    }
    let ids = role_ids(tx.conn, &new.roles)?;
    let id = new_id();
    let t = now();
    diesel::insert_into(users::table)
        .values((
            users::id.eq(&id),
            users::email.eq(new.email.trim()),
            users::email_lower.eq(&email_lower),
            users::password_hash.eq(&new.password_hash),
            users::display_name.eq(new.display_name.trim()),
            users::is_active.eq(true),
            users::created_at.eq(t),
            users::updated_at.eq(t),
            users::version.eq(1),
        ))
        .execute(tx.conn)?;
    for role_id in ids {
        diesel::insert_into(user_roles::table)
            .values((user_roles::user_id.eq(&id), user_roles::role_id.eq(role_id)))
            .execute(tx.conn)?;
    }
    load_user(tx.conn, &id)?.ok_or_else(|| ApiError::internal("user vanished after insert"))
}

/// Revokes every live token of a user (deactivation, password change).
pub fn revoke_all_tokens(
    conn: &mut DbConn,
    user_id: &str,
    except_hash: Option<&str>,
) -> QueryResult<usize> {
    let q = sessions::table
        .filter(sessions::user_id.eq(user_id))
        .filter(sessions::revoked_at.is_null())
        .filter(sessions::token_hash.ne(except_hash.unwrap_or("")));
    diesel::update(q)
        .set(sessions::revoked_at.eq(now()))
        .execute(conn)
}

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(create_user_route, list_users))
        .routes(routes!(get_user, patch_user))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateUser {
    pub email: String,
    pub password: String,
    pub display_name: String,
    pub roles: Vec<String>,
}

/// Create an account with the given roles (admin).
#[utoipa::path(post, path = "/users", tag = "accounts", request_body = CreateUser,
    responses((status = 201, body = User), (status = 403, body = crate::http::Problem),
        (status = 409, body = crate::http::Problem), (status = 422, body = crate::http::Problem)))]
async fn create_user_route(
    State(state): State<AppState>,
    ctx: Ctx,
    AppJson(body): AppJson<CreateUser>,
) -> Result<Created<User>, ApiError> {
    ctx.require(Perm::UsersWrite, "create", "user")?;
    let mut v = Validator::new();
    v.email("email", &body.email);
    crate::auth::passwords::validate_new(&mut v, "password", &body.password);
    v.text("display_name", &body.display_name, 1, 200);
    v.check(
        !body.roles.is_empty(),
        "roles",
        "must name at least one role",
    );
    v.finish()?;
    let password = body.password.clone();
    let cost = state.config.password_hash_cost;
    let hash = crate::db::spawn_lowered(move || crate::auth::passwords::hash(&password, cost))
        .await
        .map_err(ApiError::internal)?;
    let new = NewUser {
        email: body.email,
        password_hash: hash,
        display_name: body.display_name,
        roles: body.roles,
    };
    let user = state
        .db
        .write(move |tx| {
            check_grantable(tx.conn, &ctx.principal, &new.roles)
                .map_err(|e| ctx.denied(e, "create", "user", None, None))?;
            let user = create_user(tx, &new)?;
            crate::audit::record(tx.conn, &ctx.entry("create", "user", Some(&user.id), None))?;
            Ok(user)
        })
        .await?;
    Ok(Created {
        location: format!("/api/v1/users/{}", user.id),
        version: Some(user.version),
        body: user,
    })
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct UserFilter {
    /// Part of the email or display name.
    pub q: Option<String>,
    /// Holds this role.
    pub role: Option<String>,
    pub is_active: Option<bool>,
}

/// List accounts (admin, auditor).
#[utoipa::path(get, path = "/users", tag = "accounts", params(UserFilter, PageParams),
    responses((status = 200, body = ListResponse<User>), (status = 403, body = crate::http::Problem)))]
async fn list_users(
    State(state): State<AppState>,
    ctx: Ctx,
    AppQuery(f): AppQuery<UserFilter>,
    AppQuery(page): AppQuery<PageParams>,
) -> Result<ListResponse<User>, ApiError> {
    ctx.require(Perm::UsersRead, "search", "user")?;
    let page = page.page()?;
    let users = state
        .db
        .read(move |conn| {
            let mut q = users::table
                .select(UserRow::as_select())
                .order(users::id)
                .limit(page.limit + 1)
                .into_boxed();
            if let Some(after) = page.after {
                q = q.filter(users::id.gt(after));
            }
            if let Some(text) = f.q.filter(|s| !s.is_empty()) {
                let pattern = contains_pattern(&text);
                q = q.filter(
                    users::email_lower
                        .like(pattern.clone())
                        .escape('\\')
                        .or(crate::db::lower(users::display_name)
                            .like(pattern)
                            .escape('\\')),
                );
            }
            if let Some(active) = f.is_active {
                q = q.filter(users::is_active.eq(active));
            }
            if let Some(role) = f.role {
                q = q.filter(
                    users::id.eq_any(
                        user_roles::table
                            .inner_join(roles::table)
                            .filter(roles::name.eq(role))
                            .select(user_roles::user_id),
                    ),
                );
            }
            let rows = q.load(conn)?;
            Ok(hydrate(conn, rows)?)
        })
        .await?;
    ctx.audit
        .record_async(ctx.entry("search", "user", None, None));
    Ok(ListResponse::from_rows(users, page.limit, |u| u.id.clone()))
}

/// Read an account: admin and auditor any, everyone else themself.
#[utoipa::path(get, path = "/users/{id}", tag = "accounts", params(("id" = String, Path)),
    responses((status = 200, body = User), (status = 404, body = crate::http::Problem)))]
async fn get_user(
    State(state): State<AppState>,
    ctx: Ctx,
    Path(id): Path<String>,
) -> Result<Tagged<User>, ApiError> {
    if id != ctx.user_id() && !ctx.principal.perms.has(Perm::UsersRead) {
        return Err(ctx.not_found("read", "user", &id, None));
    }
    let uid = id.clone();
    let user = state
        .db
        .read(move |conn| Ok(load_user(conn, &uid)?))
        .await?
        .ok_or_else(ApiError::not_found)?;
    ctx.audit
        .record_async(ctx.entry("read", "user", Some(&id), None));
    Ok(Tagged(user.version, user))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PatchUser {
    pub display_name: Option<String>,
    /// Admin only.
    pub roles: Option<Vec<String>>,
    /// Admin only; deactivating revokes the user's tokens.
    pub is_active: Option<bool>,
}

/// Change an account: `display_name` (self or admin); `roles`, `is_active` (admin).
#[utoipa::path(patch, path = "/users/{id}", tag = "accounts", params(("id" = String, Path)),
    request_body = PatchUser,
    responses((status = 200, body = User), (status = 403, body = crate::http::Problem),
        (status = 404, body = crate::http::Problem), (status = 409, body = crate::http::Problem),
        (status = 412, body = crate::http::Problem), (status = 422, body = crate::http::Problem)))]
async fn patch_user(
    State(state): State<AppState>,
    ctx: Ctx,
    Path(id): Path<String>,
    headers: HeaderMap,
    AppJson(body): AppJson<PatchUser>,
) -> Result<Tagged<User>, ApiError> {
    let is_self = id == ctx.user_id();
    let can_admin = ctx.principal.perms.has(Perm::UsersWrite);
    if !is_self && !can_admin {
        // Who may read accounts (auditor) learns nothing from a 403; everyone else gets 404.
        if ctx.principal.perms.has(Perm::UsersRead) {
            return Err(ctx.denied(ApiError::forbidden(), "update", "user", Some(&id), None));
        }
        return Err(ctx.not_found("update", "user", &id, None));
    }
    if (body.roles.is_some() || body.is_active.is_some()) && !can_admin {
        return Err(ctx.denied(ApiError::forbidden(), "update", "user", Some(&id), None));
    }
    let mut v = Validator::new();
    if let Some(d) = &body.display_name {
        v.text("display_name", d, 1, 200);
    }
    if let Some(r) = &body.roles {
        v.check(!r.is_empty(), "roles", "must name at least one role");
    }
    v.finish()?;
    if is_self {
        // An admin must not lock themself out.
        if body.is_active == Some(false) {
            return Err(ApiError::conflict("you cannot deactivate your own account"));
        }
        if body
            .roles
            .as_ref()
            .is_some_and(|r| !r.iter().any(|n| n == ADMIN))
            && ctx.principal.is_admin
        {
            return Err(ApiError::conflict("you cannot remove your own admin role"));
        }
    }
    let expected = if_match(&headers)?;
    let uid = id.clone();
    let actor = ctx.clone();
    let deactivated = body.is_active == Some(false);
    let roles_changed = body.roles.is_some();
    let user = state
        .db
        .write(move |tx| {
            // Held to commit, so concurrent PATCHes cannot both pass the version check.
            if !crate::db::lock_row(tx.conn, "users", &uid)? {
                return Err(ApiError::not_found());
            }
            let current: i32 = users::table
                .find(&uid)
                .select(users::version)
                .first(tx.conn)
                .optional()?
                .ok_or_else(ApiError::not_found)?;
            check_version(expected, current)?;
            if let Some(names) = &body.roles {
                check_grantable(tx.conn, &actor.principal, names)
                    .map_err(|e| actor.denied(e, "update", "user", Some(&uid), None))?;
                let ids = role_ids(tx.conn, names)?;
                diesel::delete(user_roles::table.filter(user_roles::user_id.eq(&uid)))
                    .execute(tx.conn)?;
                for role_id in ids {
                    diesel::insert_into(user_roles::table)
                        .values((
                            user_roles::user_id.eq(&uid),
                            user_roles::role_id.eq(role_id),
                        ))
                        .execute(tx.conn)?;
                }
            }
            if let Some(d) = &body.display_name {
                diesel::update(users::table.find(&uid))
                    .set(users::display_name.eq(d.trim()))
                    .execute(tx.conn)?;
            }
            if let Some(active) = body.is_active {
                diesel::update(users::table.find(&uid))
                    .set(users::is_active.eq(active))
                    .execute(tx.conn)?;
                if !active {
                    revoke_all_tokens(tx.conn, &uid, None)?;
                }
            }
            diesel::update(users::table.find(&uid))
                .set((users::updated_at.eq(now()), users::version.eq(current + 1)))
                .execute(tx.conn)?;
            crate::audit::record(tx.conn, &actor.entry("update", "user", Some(&uid), None))?;
            load_user(tx.conn, &uid)?.ok_or_else(ApiError::not_found)
        })
        .await?;
    if deactivated || roles_changed {
        state.sessions.forget_user(&id);
    }
    Ok(Tagged(user.version, user))
}
