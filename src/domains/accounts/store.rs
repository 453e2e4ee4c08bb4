//! The accounts' queries: users, roles, sessions.

use std::collections::HashMap;

use diesel::prelude::*;

use super::{NewUser, Role, User, UserFilter};
use crate::auth::permissions::PermSet;
use crate::db::schema::{roles, sessions, user_roles, users};
use crate::db::sql::{contains_pattern, lower};
use crate::db::{new_id, now, DbConn};
use crate::http::Page;
use crate::kit::{Error, Result, Timestamp, UserId};

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

/// Turns rows into Users with their roles, in one query per page (their patient and doctor
/// records are the patients domain's to fill in).
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
    Ok(rows
        .into_iter()
        .map(|r| User {
            roles: role_map.remove(&r.id).unwrap_or_default(),
            patient_id: None,
            doctor_id: None,
            id: UserId::from_db(r.id),
            email: r.email,
            display_name: r.display_name,
            is_active: r.is_active,
            created_at: Timestamp::from_db(r.created_at),
            updated_at: Timestamp::from_db(r.updated_at),
            version: r.version,
        })
        .collect())
}

pub(super) fn load_user(conn: &mut DbConn, id: &str) -> QueryResult<Option<User>> {
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

pub(super) fn user_exists(conn: &mut DbConn, id: &str) -> QueryResult<bool> {
    diesel::select(diesel::dsl::exists(users::table.find(id))).get_result(conn)
}

pub(super) fn count_users(conn: &mut DbConn) -> QueryResult<i64> {
    users::table.count().get_result(conn)
}

pub(super) fn lock_user(conn: &mut DbConn, id: &str) -> QueryResult<bool> {
    crate::db::sql::lock_row(conn, "users", id)
}

pub(super) fn insert_user(conn: &mut DbConn, id: &UserId, new: &NewUser) -> QueryResult<()> {
    let t = now();
    diesel::insert_into(users::table)
        .values((
            users::id.eq(id.as_str()),
            users::email.eq(new.email.trim()),
            users::email_lower.eq(new.email.trim().to_lowercase()),
            users::password_hash.eq(&new.password_hash),
            users::display_name.eq(new.display_name.trim()),
            users::is_active.eq(true),
            users::created_at.eq(t),
            users::updated_at.eq(t),
            users::version.eq(1),
        ))
        .execute(conn)?;
    Ok(())
}

/// The versioned update of an account's own fields.
pub(super) fn update_user(
    conn: &mut DbConn,
    id: &str,
    version: i32,
    display_name: &str,
    is_active: bool,
) -> QueryResult<bool> {
    crate::update_versioned!(
        conn,
        users,
        id,
        version,
        (t::display_name.eq(display_name), t::is_active.eq(is_active))
    )
}

pub(super) fn list_users(conn: &mut DbConn, f: UserFilter, page: &Page) -> QueryResult<Vec<User>> {
    let mut q = users::table
        .select(UserRow::as_select())
        .order(users::id)
        .limit(page.limit + 1)
        .into_boxed();
    if let Some(after) = &page.after {
        q = q.filter(users::id.gt(after.clone()));
    }
    if let Some(text) = f.q.filter(|s| !s.is_empty()) {
        let pattern = contains_pattern(&text);
        q = q.filter(
            users::email_lower
                .like(pattern.clone())
                .escape('\\')
                .or(lower(users::display_name).like(pattern).escape('\\')),
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
    hydrate(conn, rows)
}

/// The ids of these role names; unknown names are a 422 on `roles`.
pub(super) fn role_ids(conn: &mut DbConn, names: &[String]) -> Result<Vec<String>> {
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
        return Err(Error::field(
            "roles",
            format!("unknown role(s): {}", unknown.join(", ")),
        ));
    }
    Ok(found.into_iter().map(|(_, id)| id).collect())
}

/// The permissions of these roles (unknown permission names grant everything, so that a
/// check against them fails closed).
pub(super) fn role_permissions(conn: &mut DbConn, names: &[String]) -> QueryResult<Vec<PermSet>> {
    let found: Vec<String> = roles::table
        .filter(roles::name.eq_any(names))
        .select(roles::permissions)
        .load(conn)?;
    Ok(found
        .iter()
        .map(|json| {
            let list: Vec<String> = serde_json::from_str(json).unwrap_or_default();
            PermSet::from_names(&list).unwrap_or_else(|_| PermSet::all())
        })
        .collect())
}

pub(super) fn set_roles(conn: &mut DbConn, user_id: &str, role_ids: &[String]) -> QueryResult<()> {
    for role_id in role_ids {
        add_role(conn, user_id, role_id)?;
    }
    Ok(())
}

pub(super) fn replace_roles(
    conn: &mut DbConn,
    user_id: &str,
    role_ids: &[String],
) -> QueryResult<()> {
    diesel::delete(user_roles::table.filter(user_roles::user_id.eq(user_id))).execute(conn)?;
    set_roles(conn, user_id, role_ids)
}

/// Gives a user a role, unless they hold it already.
pub(super) fn add_role(conn: &mut DbConn, user_id: &str, role_id: &str) -> QueryResult<()> {
    crate::on_backend!(conn, |c| diesel::insert_into(user_roles::table)
        .values((
            user_roles::user_id.eq(user_id),
            user_roles::role_id.eq(role_id),
        ))
        .on_conflict_do_nothing()
        .execute(c))?;
    Ok(())
}

pub(super) fn has_role(conn: &mut DbConn, user_id: &str, role: &str) -> QueryResult<bool> {
    diesel::select(diesel::dsl::exists(
        user_roles::table
            .inner_join(roles::table)
            .filter(user_roles::user_id.eq(user_id))
            .filter(roles::name.eq(role)),
    ))
    .get_result(conn)
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

pub(super) fn load_role(conn: &mut DbConn, id: &str) -> QueryResult<Option<Role>> {
    Ok(roles::table
        .find(id)
        .select(RoleRow::as_select())
        .first(conn)
        .optional()?
        .map(Role::from))
}

pub(super) fn lock_role(conn: &mut DbConn, id: &str) -> QueryResult<bool> {
    crate::db::sql::lock_row(conn, "roles", id)
}

pub(super) fn list_roles(conn: &mut DbConn) -> QueryResult<Vec<Role>> {
    Ok(roles::table
        .select(RoleRow::as_select())
        .order(roles::name)
        .load(conn)?
        .into_iter()
        .map(Role::from)
        .collect())
}

fn perm_json(perms: PermSet) -> String {
    serde_json::to_string(&perms.names()).expect("names serialise")
}

pub(super) fn insert_role(
    conn: &mut DbConn,
    id: &str,
    name: &str,
    description: &str,
    perms: PermSet,
) -> QueryResult<()> {
    let t = now();
    diesel::insert_into(roles::table)
        .values((
            roles::id.eq(id),
            roles::name.eq(name),
            roles::description.eq(description),
            roles::permissions.eq(perm_json(perms)),
            roles::built_in.eq(false),
            roles::created_at.eq(t),
            roles::updated_at.eq(t),
            roles::version.eq(1),
        ))
        .execute(conn)?;
    Ok(())
}

pub(super) fn update_role(
    conn: &mut DbConn,
    id: &str,
    version: i32,
    description: &str,
    perms: PermSet,
) -> QueryResult<bool> {
    crate::update_versioned!(
        conn,
        roles,
        id,
        version,
        (
            t::description.eq(description),
            t::permissions.eq(perm_json(perms)),
        )
    )
}

pub(super) fn role_holders(conn: &mut DbConn, id: &str) -> QueryResult<i64> {
    user_roles::table
        .filter(user_roles::role_id.eq(id))
        .count()
        .get_result(conn)
}

pub(super) fn delete_role(conn: &mut DbConn, id: &str) -> QueryResult<()> {
    diesel::delete(roles::table.find(id)).execute(conn)?;
    Ok(())
}

/// Creates a built-in role, or brings its permissions and description up to date.
pub(super) fn upsert_built_in_role(
    conn: &mut DbConn,
    name: &str,
    description: &str,
    perms: PermSet,
) -> QueryResult<()> {
    let existing: Option<String> = roles::table
        .filter(roles::name.eq(name))
        .select(roles::id)
        .first(conn)
        .optional()?;
    match existing {
        Some(id) => {
            diesel::update(roles::table.find(id))
                .set((
                    roles::permissions.eq(perm_json(perms)),
                    roles::description.eq(description),
                    roles::built_in.eq(true),
                ))
                .execute(conn)?;
        }
        None => {
            let t = now();
            diesel::insert_into(roles::table)
                .values((
                    roles::id.eq(new_id()),
                    roles::name.eq(name),
                    roles::description.eq(description),
                    roles::permissions.eq(perm_json(perms)),
                    roles::built_in.eq(true),
                    roles::created_at.eq(t),
                    roles::updated_at.eq(t),
                    roles::version.eq(1),
                ))
                .execute(conn)?;
        }
    }
    Ok(())
}

pub(super) fn credentials(
    conn: &mut DbConn,
    email_lower: &str,
) -> QueryResult<Option<(String, String, bool)>> {
    users::table
        .filter(users::email_lower.eq(email_lower))
        .select((users::id, users::password_hash, users::is_active))
        .first(conn)
        .optional()
}

pub(super) fn password_hash(conn: &mut DbConn, user_id: &str) -> QueryResult<String> {
    users::table
        .find(user_id)
        .select(users::password_hash)
        .first(conn)
}

pub(super) fn set_password(conn: &mut DbConn, user_id: &str, hash: &str) -> QueryResult<()> {
    diesel::update(users::table.find(user_id))
        .set((
            users::password_hash.eq(hash),
            users::updated_at.eq(now()),
            users::version.eq(users::version + 1),
        ))
        .execute(conn)?;
    Ok(())
}

pub(super) fn insert_session(
    conn: &mut DbConn,
    token_hash: &str,
    user_id: &str,
    ttl_seconds: i64,
) -> QueryResult<()> {
    let t = now();
    diesel::insert_into(sessions::table)
        .values((
            sessions::token_hash.eq(token_hash),
            sessions::user_id.eq(user_id),
            sessions::created_at.eq(t),
            sessions::expires_at.eq(t + chrono::Duration::seconds(ttl_seconds)),
        ))
        .execute(conn)?;
    Ok(())
}

pub(super) fn revoke_session(conn: &mut DbConn, token_hash: &str) -> QueryResult<()> {
    diesel::update(sessions::table.find(token_hash))
        .set(sessions::revoked_at.eq(now()))
        .execute(conn)?;
    Ok(())
}

/// Revokes every live token of a user but `except_hash` (deactivation, password change).
pub(super) fn revoke_all_tokens(
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
