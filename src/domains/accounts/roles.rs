//! Roles and the permission catalogue. Built-in roles are fixed; admins add custom ones.

use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use diesel::prelude::*;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::{router::OpenApiRouter, routes};

use crate::app::AppState;
use crate::auth::permissions::{Perm, PermSet, CATALOGUE};
use crate::auth::Ctx;
use crate::db::schema::{roles, user_roles};
use crate::db::{new_id, now, DbConn};
use crate::http::{check_version, if_match, ApiError, AppJson, Created, Tagged, Validator};

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct Role {
    pub id: String,
    pub name: String,
    pub description: String,
    pub permissions: Vec<String>,
    pub built_in: bool,
    pub version: i32,
}

#[derive(Queryable, Selectable)]
#[diesel(table_name = roles)]
struct RoleRow {
    id: String,
    name: String,
    description: String,
    permissions: String,
    built_in: bool,
    version: i32,
}

impl From<RoleRow> for Role {
    fn from(r: RoleRow) -> Role {
        Role {
            id: r.id,
            name: r.name,
            description: r.description,
            permissions: serde_json::from_str(&r.permissions).unwrap_or_default(),
            built_in: r.built_in,
            version: r.version,
        }
    }
}

fn load_role(conn: &mut DbConn, id: &str) -> QueryResult<Option<Role>> {
    Ok(roles::table
        .find(id)
        .select(RoleRow::as_select())
        .first(conn)
        .optional()?
        .map(Role::from))
}

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_roles, create_role))
        .routes(routes!(patch_role, delete_role))
        .routes(routes!(list_permissions))
}

#[derive(Debug, Serialize, ToSchema)]
pub struct RoleList {
    pub items: Vec<Role>,
    pub next_cursor: Option<String>,
}

/// Every role (everyone signed in).
#[utoipa::path(get, path = "/roles", tag = "accounts",
    responses((status = 200, body = RoleList)))]
async fn list_roles(
    State(state): State<AppState>,
    _ctx: Ctx,
) -> Result<axum::Json<RoleList>, ApiError> {
    let items = state
        .db
        .read(|conn| {
            Ok(roles::table
                .select(RoleRow::as_select())
                .order(roles::name)
                .load(conn)?
                .into_iter()
                .map(Role::from)
                .collect())
        })
        .await?;
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

/// The permission catalogue (everyone signed in).
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

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateRole {
    /// Lower-case letters, digits and `_`, starting with a letter.
    pub name: String,
    pub description: String,
    pub permissions: Vec<String>,
}

/// Only an admin defines roles freely; anyone else holding `roles:write` may put into a role
/// only permissions they hold themself, so nobody can raise their own privileges.
fn check_within_own(ctx: &Ctx, perms: PermSet, action: &str) -> Result<(), ApiError> {
    if ctx.principal.is_admin || perms.union(ctx.principal.perms) == ctx.principal.perms {
        return Ok(());
    }
    Err(ctx.denied(
        ApiError::new(
            StatusCode::FORBIDDEN,
            "forbidden",
            "you may only grant permissions you hold",
        ),
        action,
        "role",
        None,
        None,
    ))
}

fn validate_permissions(v: &mut Validator, perms: &[String]) -> PermSet {
    match PermSet::from_names(perms) {
        Ok(set) => set,
        Err(unknown) => {
            v.error(
                "permissions",
                format!("unknown permission(s): {}", unknown.join(", ")),
            );
            PermSet::default()
        }
    }
}

/// Create a custom role (admin).
#[utoipa::path(post, path = "/roles", tag = "accounts", request_body = CreateRole,
    responses((status = 201, body = Role), (status = 403, body = crate::http::Problem),
        (status = 409, body = crate::http::Problem), (status = 422, body = crate::http::Problem)))]
async fn create_role(
    State(state): State<AppState>,
    ctx: Ctx,
    AppJson(body): AppJson<CreateRole>,
) -> Result<Created<Role>, ApiError> {
    ctx.require(Perm::RolesWrite, "create", "role")?;
    let mut v = Validator::new();
    let name_ok = body.name.len() >= 2
        && body.name.len() <= 50
        && body.name.starts_with(|c: char| c.is_ascii_lowercase())
        && body
            .name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
    v.check(
        name_ok,
        "name",
        "must be 2–50 lower-case letters, digits or _, starting with a letter",
    );
    v.text("description", &body.description, 0, 500);
    let perms = validate_permissions(&mut v, &body.permissions);
    v.finish()?;
    check_within_own(&ctx, perms, "create")?;
    let perm_json = serde_json::to_string(&perms.names()).map_err(ApiError::internal)?;
    let role = state
        .db
        .write(move |tx| {
            let id = new_id();
            let t = now();
            diesel::insert_into(roles::table)
                .values((
                    roles::id.eq(&id),
                    roles::name.eq(&body.name),
                    roles::description.eq(&body.description),
                    roles::permissions.eq(&perm_json),
                    roles::built_in.eq(false),
                    roles::created_at.eq(t),
                    roles::updated_at.eq(t),
                    roles::version.eq(1),
                ))
                .execute(tx.conn)
                .map_err(|e| match ApiError::from(e) {
                    err if err.status == StatusCode::CONFLICT => {
                        ApiError::conflict("a role with this name already exists")
                    }
                    err => err,
                })?;
            crate::audit::record(tx.conn, &ctx.entry("create", "role", Some(&id), None))?;
            load_role(tx.conn, &id)?.ok_or_else(ApiError::not_found)
        })
        .await?;
    Ok(Created {
        location: format!("/api/v1/roles/{}", role.id),
        version: Some(role.version),
        body: role,
    })
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PatchRole {
    pub description: Option<String>,
    pub permissions: Option<Vec<String>>,
}

/// Change a custom role (admin). Built-in roles cannot be changed (409).
#[utoipa::path(patch, path = "/roles/{id}", tag = "accounts", params(("id" = String, Path)),
    request_body = PatchRole,
    responses((status = 200, body = Role), (status = 403, body = crate::http::Problem),
        (status = 404, body = crate::http::Problem), (status = 409, body = crate::http::Problem),
        (status = 412, body = crate::http::Problem), (status = 422, body = crate::http::Problem)))]
async fn patch_role(
    State(state): State<AppState>,
    ctx: Ctx,
    Path(id): Path<String>,
    headers: HeaderMap,
    AppJson(body): AppJson<PatchRole>,
) -> Result<Tagged<Role>, ApiError> {
    ctx.require(Perm::RolesWrite, "update", "role")?;
    let mut v = Validator::new();
    if let Some(d) = &body.description {
        v.text("description", d, 0, 500);
    }
    let perms = body
        .permissions
        .as_ref()
        .map(|p| validate_permissions(&mut v, p));
    v.finish()?;
    if let Some(p) = perms {
        check_within_own(&ctx, p, "update")?;
    }
    let expected = if_match(&headers)?;
    let role = state
        .db
        .write(move |tx| {
            // Held to commit, so concurrent PATCHes cannot both pass the version check.
            if !crate::db::lock_row(tx.conn, "roles", &id)? {
                return Err(ApiError::not_found());
            }
            let current = load_role(tx.conn, &id)?.ok_or_else(ApiError::not_found)?;
            if current.built_in {
                return Err(ApiError::conflict("built-in roles cannot be changed"));
            }
            check_version(expected, current.version)?;
            if let Some(d) = &body.description {
                diesel::update(roles::table.find(&id))
                    .set(roles::description.eq(d))
                    .execute(tx.conn)?;
            }
            if let Some(p) = perms {
                let json = serde_json::to_string(&p.names()).map_err(ApiError::internal)?;
                diesel::update(roles::table.find(&id))
                    .set(roles::permissions.eq(json))
                    .execute(tx.conn)?;
            }
            diesel::update(roles::table.find(&id))
                .set((
                    roles::updated_at.eq(now()),
                    roles::version.eq(current.version + 1),
                ))
                .execute(tx.conn)?;
            crate::audit::record(tx.conn, &ctx.entry("update", "role", Some(&id), None))?;
            load_role(tx.conn, &id)?.ok_or_else(ApiError::not_found)
        })
        .await?;
    // Cached sessions hold permissions computed from the old role.
    state.sessions.clear();
    Ok(Tagged(role.version, role))
}

/// Delete a custom role (admin). Built-in roles and roles held by a user cannot (409).
#[utoipa::path(delete, path = "/roles/{id}", tag = "accounts", params(("id" = String, Path)),
    responses((status = 204), (status = 403, body = crate::http::Problem),
        (status = 404, body = crate::http::Problem), (status = 409, body = crate::http::Problem)))]
async fn delete_role(
    State(state): State<AppState>,
    ctx: Ctx,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    ctx.require(Perm::RolesWrite, "delete", "role")?;
    state
        .db
        .write(move |tx| {
            let current = load_role(tx.conn, &id)?.ok_or_else(ApiError::not_found)?;
            if current.built_in {
                return Err(ApiError::conflict("built-in roles cannot be deleted"));
            }
            let holders: i64 = user_roles::table
                .filter(user_roles::role_id.eq(&id))
                .count()
                .get_result(tx.conn)?;
            if holders > 0 {
                return Err(ApiError::conflict(format!(
                    "the role is held by {holders} user(s)"
                )));
            }
            diesel::delete(roles::table.find(&id)).execute(tx.conn)?;
            crate::audit::record(tx.conn, &ctx.entry("delete", "role", Some(&id), None))?;
            Ok(())
        })
        .await?;
    Ok(StatusCode::NO_CONTENT)
}
