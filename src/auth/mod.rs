//! Who is calling and what they may do: tokens, sessions and the principal they load, the
//! permission catalogue, the care team and the patient compartment (`scope`). The request
//! context that applies them to a route is `kit::Ctx`.

pub mod care_team;
pub mod passwords;
pub mod permissions;
pub mod scope;
pub mod throttle;
pub mod tokens;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use diesel::prelude::*;
use parking_lot::RwLock;

use crate::db::schema::{doctors, patients, roles, sessions, user_roles, users};
use crate::db::{now, DbConn};
use crate::kit::{DoctorId, PatientId};
use permissions::PermSet;

/// The signed-in user as the access checks see them.
#[derive(Debug, Clone)]
pub struct Principal {
    pub user_id: String,
    pub roles: Vec<String>,
    /// The role recorded in audit entries: `admin` if held, else the first.
    pub role: String,
    pub perms: PermSet,
    pub is_admin: bool,
    pub patient_id: Option<PatientId>,
    pub doctor_id: Option<DoctorId>,
    pub token_hash: String,
    pub expires_at: chrono::NaiveDateTime,
}

impl Principal {
    pub fn has_role(&self, name: &str) -> bool {
        self.roles.iter().any(|r| r == name)
    }

    /// A principal for in-process work that acts as someone without a session (the demo
    /// loader, the benchmark's seeding): one built-in role and its permissions.
    pub fn acting(
        user_id: &str,
        role: &str,
        patient_id: Option<PatientId>,
        doctor_id: Option<DoctorId>,
    ) -> Principal {
        let perms = permissions::built_in_roles()
            .into_iter()
            .find(|(n, _, _)| *n == role)
            .map(|(_, _, p)| p)
            .unwrap_or_default();
        Principal {
            user_id: user_id.to_string(),
            roles: vec![role.to_string()],
            role: role.to_string(),
            perms,
            is_admin: role == permissions::ADMIN,
            patient_id,
            doctor_id,
            token_hash: String::new(),
            expires_at: now(),
        }
    }
}

/// The role an account's audit entries name: `admin` if it holds it, else its first.
pub fn recorded_role(roles: &[String]) -> Option<&str> {
    if roles.iter().any(|r| r == permissions::ADMIN) {
        Some(permissions::ADMIN)
    } else {
        roles.first().map(String::as_str)
    }
}

/// Loads the roles, permissions and patient/doctor links of a user.
pub fn load_principal(
    conn: &mut DbConn,
    user_id: &str,
    token_hash: String,
    expires_at: chrono::NaiveDateTime,
) -> QueryResult<Principal> {
    let role_rows: Vec<(String, String)> = user_roles::table
        .inner_join(roles::table)
        .filter(user_roles::user_id.eq(user_id))
        .select((roles::name, roles::permissions))
        .order(roles::name)
        .load(conn)?;
    let mut perms = PermSet::default();
    let mut names = Vec::new();
    for (name, perm_json) in role_rows {
        let list: Vec<String> = serde_json::from_str(&perm_json).unwrap_or_default();
        // Unknown names (from a newer version) grant nothing.
        let set = list.iter().fold(PermSet::default(), |acc, n| {
            acc.union(PermSet::from_names(std::slice::from_ref(n)).unwrap_or_default())
        });
        perms = perms.union(set);
        names.push(name);
    }
    let is_admin = names.iter().any(|n| n == permissions::ADMIN);
    let role = recorded_role(&names).unwrap_or_default().to_string();
    let patient_id = patients::table
        .filter(patients::user_id.eq(user_id))
        .select(patients::id)
        .first::<String>(conn)
        .optional()?;
    let doctor_id = doctors::table
        .filter(doctors::user_id.eq(user_id))
        .select(doctors::id)
        .first::<String>(conn)
        .optional()?;
    Ok(Principal {
        user_id: user_id.to_string(),
        roles: names,
        role,
        perms,
        is_admin,
        patient_id: patient_id.map(PatientId::from_db),
        doctor_id: doctor_id.map(DoctorId::from_db),
        token_hash,
        expires_at,
    })
}

/// How long a node trusts a cached session before it looks again. A token revoked on another
/// node is refused here within this time (the contract allows 60 s).
const SESSION_CACHE_TTL: Duration = Duration::from_secs(30);

#[derive(Default)]
pub struct SessionCache {
    entries: RwLock<HashMap<String, (Arc<Principal>, Instant)>>,
}

impl SessionCache {
    pub fn get(&self, token_hash: &str) -> Option<Arc<Principal>> {
        let map = self.entries.read();
        let (p, at) = map.get(token_hash)?;
        (at.elapsed() < SESSION_CACHE_TTL && p.expires_at > now()).then(|| p.clone())
    }
    pub fn put(&self, p: Arc<Principal>) {
        let mut map = self.entries.write();
        if map.len() > 50_000 {
            map.retain(|_, (_, at)| at.elapsed() < SESSION_CACHE_TTL);
        }
        map.insert(p.token_hash.clone(), (p, Instant::now()));
    }
    pub fn forget_token(&self, token_hash: &str) {
        self.entries.write().remove(token_hash);
    }
    pub fn forget_user(&self, user_id: &str) {
        self.entries
            .write()
            .retain(|_, (p, _)| p.user_id != user_id);
    }
    /// After a role's permissions change, nobody's cached permissions can be trusted.
    pub fn clear(&self) {
        self.entries.write().clear();
    }
}

/// Looks a bearer token up: live session, active user.
pub(crate) fn lookup_session(
    conn: &mut DbConn,
    token_hash: &str,
) -> crate::kit::Result<Option<Principal>> {
    let row: Option<(String, chrono::NaiveDateTime)> = sessions::table
        .inner_join(users::table)
        .filter(sessions::token_hash.eq(token_hash))
        .filter(sessions::revoked_at.is_null())
        .filter(sessions::expires_at.gt(now()))
        .filter(users::is_active.eq(true))
        .select((sessions::user_id, sessions::expires_at))
        .first(conn)
        .optional()?;
    match row {
        None => Ok(None),
        Some((user_id, expires_at)) => Ok(Some(load_principal(
            conn,
            &user_id,
            token_hash.to_string(),
            expires_at,
        )?)),
    }
}

/// Deletes sessions that expired or were revoked before `cutoff`.
pub fn purge_sessions(conn: &mut DbConn, cutoff: chrono::NaiveDateTime) -> QueryResult<usize> {
    diesel::delete(
        sessions::table.filter(
            sessions::expires_at
                .lt(cutoff)
                .or(sessions::revoked_at.lt(cutoff)),
        ),
    )
    .execute(conn)
}
