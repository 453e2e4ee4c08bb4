//! Accounts: users, roles, sign-in, and the audit trail's read side.

pub mod audit_logs;
pub mod auth_routes;
pub mod roles;
pub mod users;

use diesel::prelude::*;
use utoipa_axum::router::OpenApiRouter;

use crate::app::AppState;
use crate::auth::permissions::{self, built_in_roles};
use crate::config::Config;
use crate::db::schema::{roles as roles_t, users as users_t};
use crate::db::{new_id, now, Db, DbConn};
use crate::http::ApiError;

pub use users::{create_user, load_user, NewUser, User};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .merge(auth_routes::router())
        .merge(users::router())
        .merge(roles::router())
        .merge(audit_logs::router())
}

/// Makes sure the built-in roles exist with their current permissions.
pub fn seed_roles(conn: &mut DbConn) -> QueryResult<()> {
    for (name, description, perms) in built_in_roles() {
        let perm_json = serde_json::to_string(&perms.names()).expect("names serialise");
        let existing: Option<String> = roles_t::table
            .filter(roles_t::name.eq(name))
            .select(roles_t::id)
            .first(conn)
            .optional()?;
        match existing {
            Some(id) => {
                diesel::update(roles_t::table.find(id))
                    .set((
                        roles_t::permissions.eq(&perm_json),
                        roles_t::description.eq(description),
                        roles_t::built_in.eq(true),
                    ))
                    .execute(conn)?;
            }
            None => {
                let t = now();
                diesel::insert_into(roles_t::table)
                    .values((
                        roles_t::id.eq(new_id()),
                        roles_t::name.eq(name),
                        roles_t::description.eq(description),
                        roles_t::permissions.eq(&perm_json),
                        roles_t::built_in.eq(true),
                        roles_t::created_at.eq(t),
                        roles_t::updated_at.eq(t),
                        roles_t::version.eq(1),
                    ))
                    .execute(conn)?;
            }
        }
    }
    Ok(())
}

/// Start-up: built-in roles, and on an empty database the first admin.
pub fn bootstrap(db: &Db, config: &Config) -> anyhow::Result<()> {
    let mut conn = db.pool.get()?;
    crate::db::write_transaction(&mut conn, seed_roles)?;
    let users: i64 = users_t::table.count().get_result(&mut conn)?;
    if users == 0 {
        let (password, generated) = match &config.admin_password {
            Some(p) if !p.is_empty() => (p.clone(), false),
            _ => (crate::auth::tokens::random_token(), true),
        };
        create_admin(
            db,
            &mut conn,
            &config.admin_email,
            &password,
            config.password_hash_cost,
        )
        .map_err(|e| anyhow::anyhow!("creating the first admin failed: {e}"))?;
        if generated {
            // Printed once, to the console only; it is never logged.
            println!(
                "Created admin account {} with password: {password}\nStore it now; it will not be shown again.",
                config.admin_email
            );
        } else {
            println!("Created admin account {}", config.admin_email);
        }
    }
    Ok(())
}

/// Creates an admin account (first start, and `healthapi admin create`).
pub fn create_admin(
    db: &Db,
    conn: &mut DbConn,
    email: &str,
    password: &str,
    cost: crate::auth::passwords::HashCost,
) -> Result<User, ApiError> {
    let mut v = crate::http::Validator::new();
    v.email("email", email);
    crate::auth::passwords::validate_new(&mut v, "password", password);
    v.finish()?;
    let hash = crate::auth::passwords::hash(password, cost);
    let new = NewUser {
        email: email.to_string(),
        password_hash: hash,
        display_name: "Administrator".to_string(),
        roles: vec![permissions::ADMIN.to_string()],
    };
    Db::write_blocking(conn, &db.hub, |tx| {
        let user = create_user(tx, &new)?;
        let mut entry = crate::audit::NewEntry {
            occurred_at: now(),
            user_id: None,
            role: Some("system".into()),
            action: "create".into(),
            resource_type: "user".into(),
            resource_id: Some(user.id.clone()),
            patient_id: None,
            outcome: "success".into(),
            request_id: None,
            client_addr: None,
        };
        entry.user_id = Some(user.id.clone());
        crate::audit::record(tx.conn, &entry)?;
        Ok(user)
    })
}
