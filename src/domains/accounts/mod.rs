//! Accounts: users and their roles, sign-up and sign-in, and the audit trail's read side.

mod routes;
mod store;

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::audit::query::{Filter, Window};
use crate::audit::AuditLog;
use crate::auth::permissions::{self, built_in_roles, Perm, PermSet, ADMIN, PATIENT};
use crate::auth::Principal;
use crate::config::Config;
use crate::db::sql::UniqueKey;
use crate::db::{Db, DbConn};
use crate::domains::patients::{self, NewPatient, Patient};
use crate::http::{ListResponse, Page};
use crate::kit::{
    Action, Actor, Audited, Error, IfMatch, PatientId, Resource, Result, Timestamp, Tx, UniqueExt,
    UserId, Validator,
};

pub use routes::router;

/// What the audit trail calls an account, a role, a session and the trail itself.
pub const USER: Resource = Resource::named("user");
pub const ROLE: Resource = Resource::named("role");
pub const SESSION: Resource = Resource::named("session");
pub const AUDIT_LOG: Resource = Resource::named("audit_log");
/// An account's failed sign-in counters, which an admin clears.
pub const LOGIN_THROTTLE: Resource = Resource::named("login_throttle");

const EMAIL: UniqueKey = UniqueKey {
    table: "users",
    columns: &["email_lower"],
};
const ROLE_NAME: UniqueKey = UniqueKey {
    table: "roles",
    columns: &["name"],
};

/// An account as the API shows it. Never a password or its hash.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[schema(examples(crate::http::examples::user))]
pub struct User {
    pub id: UserId,
    pub email: String,
    pub display_name: String,
    pub roles: Vec<String>,
    pub is_active: bool,
    pub patient_id: Option<String>,
    pub doctor_id: Option<String>,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
    pub version: i32,
}

/// An account to create, its password already hashed.
pub struct NewUser {
    pub email: String,
    pub password_hash: String,
    pub display_name: String,
    pub roles: Vec<String>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateUser {
    pub email: String,
    #[schema(min_length = 10, max_length = 128)]
    pub password: String,
    #[schema(min_length = 1, max_length = 200)]
    pub display_name: String,
    #[schema(min_items = 1)]
    pub roles: Vec<String>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UserChange {
    #[schema(min_length = 1, max_length = 200)]
    pub display_name: Option<String>,
    /// Admin only.
    #[schema(min_items = 1)]
    pub roles: Option<Vec<String>>,
    /// Admin only; deactivating revokes the user's tokens.
    pub is_active: Option<bool>,
}

#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct UserFilter {
    /// Part of the email or display name.
    pub q: Option<String>,
    /// Holds this role.
    pub role: Option<String>,
    pub is_active: Option<bool>,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct Role {
    pub id: String,
    pub name: String,
    pub description: String,
    pub permissions: Vec<String>,
    pub built_in: bool,
    pub version: i32,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewRole {
    /// Lower-case letters, digits and `_`, starting with a letter.
    #[schema(pattern = "^[a-z][a-z0-9_]{1,49}$")]
    pub name: String,
    #[schema(max_length = 500)]
    pub description: String,
    pub permissions: Vec<String>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RoleChange {
    #[schema(max_length = 500)]
    pub description: Option<String>,
    pub permissions: Option<Vec<String>>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(examples(crate::http::examples::register))]
pub struct Register {
    pub email: String,
    #[schema(min_length = 10, max_length = 128)]
    pub password: String,
    #[schema(min_length = 1, max_length = 100)]
    pub given_name: String,
    #[schema(min_length = 1, max_length = 100)]
    pub family_name: String,
    pub birth_date: crate::kit::Date,
    pub sex: patients::Sex,
    #[schema(max_length = 40)]
    pub phone: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
#[schema(examples(crate::http::examples::registered))]
pub struct Registered {
    pub user: User,
    pub patient: Patient,
}

/// The filters of `GET /audit-logs`.
#[derive(Debug, Clone, Default, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct AuditFilter {
    pub user_id: Option<String>,
    pub patient_id: Option<String>,
    pub resource_type: Option<String>,
    pub action: Option<String>,
    pub outcome: Option<String>,
    /// The request the entries were written in (the `x-request-id` of its response).
    pub request_id: Option<String>,
    /// RFC 3339; entries at or after.
    #[param(value_type = Option<String>, format = DateTime)]
    pub from: Option<Timestamp>,
    /// RFC 3339; entries before.
    #[param(value_type = Option<String>, format = DateTime)]
    pub to: Option<Timestamp>,
}

#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct AccessLogFilter {
    #[param(value_type = Option<String>, format = DateTime)]
    pub from: Option<Timestamp>,
    #[param(value_type = Option<String>, format = DateTime)]
    pub to: Option<Timestamp>,
}

// ---------------------------------------------------------------- accounts for other domains

/// Fills in each account's patient and doctor record (the patients domain's to say).
fn with_links(conn: &mut DbConn, mut users: Vec<User>) -> Result<Vec<User>> {
    let ids: Vec<&str> = users.iter().map(|u| u.id.as_str()).collect();
    let (mut patients, mut doctors) = patients::records_of_accounts(conn, &ids)?;
    for u in &mut users {
        u.patient_id = patients.remove(u.id.as_str());
        u.doctor_id = doctors.remove(u.id.as_str());
    }
    Ok(users)
}

/// One account with its roles and its patient and doctor records.
fn load_user(conn: &mut DbConn, id: &str) -> Result<Option<User>> {
    match store::load_user(conn, id)? {
        Some(u) => Ok(with_links(conn, vec![u])?.pop()),
        None => Ok(None),
    }
}

/// Creates an account in the caller's transaction. The email is unique case-insensitively
/// (409, from the constraint). No audit entry: the caller records the act it is part of.
pub fn create_user(tx: &mut Tx, new: &NewUser) -> Result<User> {
    let role_ids = store::role_ids(tx.conn(), &new.roles)?;
    let id = UserId::generate();
    store::insert_user(tx.conn(), &id, new)
        .unique(EMAIL, "an account with this email already exists")?;
    store::set_roles(tx.conn(), id.as_str(), &role_ids)?;
    load_user(tx.conn(), id.as_str())?.ok_or(Error::NotFound)
}

/// Gives an account a built-in or custom role (kept if it has it already).
pub fn grant_role(conn: &mut DbConn, user_id: &UserId, role: &str) -> Result<()> {
    let ids = store::role_ids(conn, &[role.to_string()])?;
    for id in ids {
        store::add_role(conn, user_id.as_str(), &id)?;
    }
    Ok(())
}

pub fn has_role(conn: &mut DbConn, user_id: &UserId, role: &str) -> Result<bool> {
    Ok(store::has_role(conn, user_id.as_str(), role)?)
}

pub fn user_exists(conn: &mut DbConn, id: &UserId) -> Result<bool> {
    Ok(store::user_exists(conn, id.as_str())?)
}

// ---------------------------------------------------------------------------- users

/// Only an admin hands out roles freely; anyone else holding `users:write` may grant only roles
/// whose permissions they hold themself, so that nobody can raise their own privileges (e.g. by
/// granting themself `admin`). Unknown names are left to `role_ids` (422).
fn check_grantable(conn: &mut DbConn, caller: &Principal, names: &[String]) -> Result<()> {
    if caller.is_admin {
        return Ok(());
    }
    for granted in store::role_permissions(conn, names)? {
        if granted.union(caller.perms) != caller.perms {
            return Err(Error::forbidden(
                "you may only grant roles whose permissions you hold",
            ));
        }
    }
    Ok(())
}

pub fn validate_new_user(v: &mut Validator, u: &CreateUser) {
    v.email("email", &u.email);
    crate::auth::passwords::validate_new(v, "password", &u.password);
    v.text("display_name", &u.display_name, 1, 200);
    v.check(!u.roles.is_empty(), "roles", "must name at least one role");
}

/// `POST /users` (admin): an account with the given roles, its password hashed already.
pub fn create_account(tx: &mut Tx, u: CreateUser, password_hash: String) -> Result<User> {
    let principal = tx.actor().principal().cloned();
    if let Some(p) = &principal {
        check_grantable(tx.conn(), p, &u.roles)
            .map_err(|e| tx.deny(e, Action::Create, USER, None, None))?;
    }
    let user = create_user(
        tx,
        &NewUser {
            email: u.email,
            password_hash,
            display_name: u.display_name,
            roles: u.roles,
        },
    )?;
    tx.record(Action::Create, USER, Some(user.id.as_str()), None)?;
    Ok(user)
}

pub fn list_users(
    conn: &mut DbConn,
    f: UserFilter,
    page: &Page,
) -> Result<Audited<ListResponse<User>>> {
    let users = store::list_users(conn, f, page)?;
    let users = with_links(conn, users)?;
    let list = ListResponse::from_rows(users, page.limit, |u| u.id.to_string());
    Ok(Audited::search(list, USER, None, std::iter::empty()))
}

/// An account: any for those who may read accounts, else only one's own.
pub fn get_user(conn: &mut DbConn, actor: &Actor, id: &UserId) -> Result<Audited<User>> {
    let own = actor.user_id() == Some(id.as_str());
    let may = actor.holds(Perm::UsersRead);
    if !own && !may {
        return Err(actor.deny(Error::NotFound, Action::Read, USER, Some(id.as_str()), None));
    }
    let user = load_user(conn, id.as_str())?.ok_or(Error::NotFound)?;
    Ok(Audited::read(user, USER, id.as_str(), None))
}

/// What changing an account did besides the row: whether its sessions must be forgotten.
pub struct AccountChanged {
    pub user: User,
    pub sessions_stale: bool,
}

/// `PATCH /users/{id}`: `display_name` (self or admin); `roles`, `is_active` (admin). An admin
/// cannot deactivate themself or drop their own admin role (409).
pub fn change_user(
    tx: &mut Tx,
    id: &UserId,
    c: UserChange,
    if_match: IfMatch,
) -> Result<AccountChanged> {
    let uid = id.as_str();
    let principal = tx
        .actor()
        .principal()
        .cloned()
        .ok_or_else(|| Error::internal("changing an account needs a caller"))?;
    let is_self = principal.user_id == uid;
    let can_admin = principal.perms.has(Perm::UsersWrite);
    if !is_self && !can_admin {
        // Who may read accounts (auditor) learns nothing from a 403; everyone else gets 404.
        let err = if principal.perms.has(Perm::UsersRead) {
            Error::forbidden("you may change only your own account")
        } else {
            Error::NotFound
        };
        return Err(tx.deny(err, Action::Update, USER, Some(uid), None));
    }
    if (c.roles.is_some() || c.is_active.is_some()) && !can_admin {
        return Err(tx.deny(
            Error::forbidden("only admins change roles and activation"),
            Action::Update,
            USER,
            Some(uid),
            None,
        ));
    }
    let mut v = Validator::new();
    if let Some(d) = &c.display_name {
        v.text("display_name", d, 1, 200);
    }
    if let Some(r) = &c.roles {
        v.check(!r.is_empty(), "roles", "must name at least one role");
    }
    v.finish()?;
    if is_self {
        if c.is_active == Some(false) {
            return Err(Error::conflict("you cannot deactivate your own account"));
        }
        if principal.is_admin
            && c.roles
                .as_ref()
                .is_some_and(|r| !r.iter().any(|n| n == ADMIN))
        {
            return Err(Error::conflict("you cannot remove your own admin role"));
        }
    }
    // Held to commit, so concurrent changes queue and each sees the last one's version.
    if !store::lock_user(tx.conn(), uid)? {
        return Err(Error::NotFound);
    }
    let current = load_user(tx.conn(), uid)?.ok_or(Error::NotFound)?;
    if_match.check(current.version)?;
    if let Some(names) = &c.roles {
        check_grantable(tx.conn(), &principal, names)
            .map_err(|e| tx.deny(e, Action::Update, USER, Some(uid), None))?;
        let ids = store::role_ids(tx.conn(), names)?;
        store::replace_roles(tx.conn(), uid, &ids)?;
    }
    let display_name = c
        .display_name
        .as_deref()
        .map(str::trim)
        .unwrap_or(&current.display_name)
        .to_string();
    let is_active = c.is_active.unwrap_or(current.is_active);
    if !store::update_user(tx.conn(), uid, current.version, &display_name, is_active)? {
        return Err(Error::Stale);
    }
    if c.is_active == Some(false) {
        store::revoke_all_tokens(tx.conn(), uid, None)?;
    }
    tx.record(Action::Update, USER, Some(uid), None)?;
    Ok(AccountChanged {
        user: load_user(tx.conn(), uid)?.ok_or(Error::NotFound)?,
        sessions_stale: c.is_active == Some(false) || c.roles.is_some(),
    })
}

// ---------------------------------------------------------------------------- roles

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

/// Only an admin defines roles freely; anyone else holding `roles:write` may put into a role
/// only permissions they hold themself, so nobody can raise their own privileges.
fn check_within_own(tx: &Tx, perms: PermSet, action: Action) -> Result<()> {
    let within = tx
        .actor()
        .principal()
        .is_some_and(|p| p.is_admin || perms.union(p.perms) == p.perms);
    if within {
        return Ok(());
    }
    Err(tx.deny(
        Error::forbidden("you may only grant permissions you hold"),
        action,
        ROLE,
        None,
        None,
    ))
}

pub fn list_roles(conn: &mut DbConn) -> Result<Vec<Role>> {
    Ok(store::list_roles(conn)?)
}

/// `POST /roles`: a custom role.
pub fn create_role(tx: &mut Tx, r: NewRole) -> Result<Role> {
    let mut v = Validator::new();
    let name_ok = r.name.len() >= 2
        && r.name.len() <= 50
        && r.name.starts_with(|c: char| c.is_ascii_lowercase())
        && r.name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
    v.check(
        name_ok,
        "name",
        "must be 2–50 lower-case letters, digits or _, starting with a letter",
    );
    v.text("description", &r.description, 0, 500);
    let perms = validate_permissions(&mut v, &r.permissions);
    v.finish()?;
    check_within_own(tx, perms, Action::Create)?;
    let id = crate::db::new_id();
    store::insert_role(tx.conn(), &id, &r.name, &r.description, perms)
        .unique(ROLE_NAME, "a role with this name already exists")?;
    tx.record(Action::Create, ROLE, Some(&id), None)?;
    store::load_role(tx.conn(), &id)?.ok_or(Error::NotFound)
}

/// `PATCH /roles/{id}`: a custom role's description or permissions. Built-in roles never
/// change (409).
pub fn change_role(tx: &mut Tx, id: &str, c: RoleChange, if_match: IfMatch) -> Result<Role> {
    let mut v = Validator::new();
    if let Some(d) = &c.description {
        v.text("description", d, 0, 500);
    }
    let perms = c
        .permissions
        .as_ref()
        .map(|p| validate_permissions(&mut v, p));
    v.finish()?;
    if let Some(p) = perms {
        check_within_own(tx, p, Action::Update)?;
    }
    if !store::lock_role(tx.conn(), id)? {
        return Err(Error::NotFound);
    }
    let current = store::load_role(tx.conn(), id)?.ok_or(Error::NotFound)?;
    if current.built_in {
        return Err(Error::conflict("built-in roles cannot be changed"));
    }
    if_match.check(current.version)?;
    let description = c.description.unwrap_or(current.description);
    let perms = match perms {
        Some(p) => p,
        None => PermSet::from_names(&current.permissions).unwrap_or_default(),
    };
    if !store::update_role(tx.conn(), id, current.version, &description, perms)? {
        return Err(Error::Stale);
    }
    tx.record(Action::Update, ROLE, Some(id), None)?;
    store::load_role(tx.conn(), id)?.ok_or(Error::NotFound)
}

/// `DELETE /roles/{id}`: a custom role nobody holds.
pub fn delete_role(tx: &mut Tx, id: &str) -> Result<()> {
    let current = store::load_role(tx.conn(), id)?.ok_or(Error::NotFound)?;
    if current.built_in {
        return Err(Error::conflict("built-in roles cannot be deleted"));
    }
    let holders = store::role_holders(tx.conn(), id)?;
    if holders > 0 {
        return Err(Error::conflict(format!(
            "the role is held by {holders} user(s)"
        )));
    }
    store::delete_role(tx.conn(), id)?;
    tx.record(Action::Delete, ROLE, Some(id), None)
}

/// Makes sure the built-in roles exist with their current permissions.
pub fn seed_roles(conn: &mut DbConn) -> diesel::QueryResult<()> {
    for (name, description, perms) in built_in_roles() {
        store::upsert_built_in_role(conn, name, description, perms)?;
    }
    Ok(())
}

// ---------------------------------------------------------------------------- sign-up, sign-in

pub fn validate_registration(v: &mut Validator, r: &Register) -> NewPatient {
    v.email("email", &r.email);
    crate::auth::passwords::validate_new(v, "password", &r.password);
    let mut patient = NewPatient {
        given_name: r.given_name.clone(),
        family_name: r.family_name.clone(),
        birth_date: r.birth_date,
        sex: r.sex,
        phone: r.phone.clone(),
        // Checked once above, as the account's email; copied in after validation so a bad
        // address is reported once.
        email: None,
        address: None,
        user_id: None,
    };
    patients::validate_patient(v, &patient);
    patient.email = Some(r.email.trim().to_string());
    patient
}

/// Self-registration: a `patient` account and its own Patient record, in one transaction.
pub fn register(
    tx: &mut Tx,
    r: Register,
    patient: NewPatient,
    password_hash: String,
) -> Result<Registered> {
    let user = create_user(
        tx,
        &NewUser {
            email: r.email,
            password_hash,
            display_name: format!(
                "{} {}",
                patient.given_name.trim(),
                patient.family_name.trim()
            ),
            roles: vec![PATIENT.to_string()],
        },
    )?;
    let patient = patients::insert_patient(tx, &patient, Some(user.id.as_str()))?;
    let user = load_user(tx.conn(), user.id.as_str())?.ok_or(Error::NotFound)?;
    let by = tx.actor().clone().as_user(user.id.as_str(), Some(PATIENT));
    for (resource, id) in [
        (USER, user.id.as_str()),
        (patients::PATIENT_RECORD, patient.id.as_str()),
    ] {
        tx.record_as(
            &by,
            Action::Register,
            resource,
            Some(id),
            Some(patient.id.as_str()),
        )?;
    }
    Ok(Registered { user, patient })
}

/// Opens a session for a user whose password was verified: the token's hash is stored.
pub fn open_session(
    tx: &mut Tx,
    user_id: &str,
    token_hash: &str,
    ttl_seconds: i64,
) -> Result<User> {
    store::insert_session(tx.conn(), token_hash, user_id, ttl_seconds)?;
    let user = load_user(tx.conn(), user_id)?.ok_or(Error::NotFound)?;
    let by = tx
        .actor()
        .clone()
        .as_user(user_id, crate::auth::recorded_role(&user.roles));
    tx.record_as(
        &by,
        Action::Login,
        SESSION,
        None,
        user.patient_id.as_deref(),
    )?;
    Ok(user)
}

/// The account a sign-in names: (id, password hash, active).
pub fn credentials(conn: &mut DbConn, email: &str) -> Result<Option<(String, String, bool)>> {
    Ok(store::credentials(conn, &email.trim().to_lowercase())?)
}

/// `DELETE /users/{id}/login-throttle` (admin): audits the clearing of an account's login
/// throttle and returns the account's email, whose counters the handler clears (they live in
/// the node's memory, not in this transaction). 404 for an account that does not exist.
pub fn clear_login_throttle(tx: &mut Tx, id: &UserId) -> Result<String> {
    let user = load_user(tx.conn(), id.as_str())?.ok_or(Error::NotFound)?;
    tx.record(Action::Delete, LOGIN_THROTTLE, Some(id.as_str()), None)?;
    Ok(user.email)
}

/// Revokes the caller's token.
pub fn logout(tx: &mut Tx, token_hash: &str) -> Result<()> {
    store::revoke_session(tx.conn(), token_hash)?;
    tx.record(Action::Logout, SESSION, None, None)
}

pub fn me(conn: &mut DbConn, user_id: &str) -> Result<User> {
    load_user(conn, user_id)?.ok_or(Error::NotFound)
}

/// The stored password hash of an account.
pub fn password_hash(conn: &mut DbConn, user_id: &str) -> Result<String> {
    Ok(store::password_hash(conn, user_id)?)
}

/// Sets a new password (verified and hashed by the caller) and revokes every other token.
pub fn set_password(tx: &mut Tx, user_id: &str, new_hash: String, keep_token: &str) -> Result<()> {
    store::set_password(tx.conn(), user_id, &new_hash)?;
    store::revoke_all_tokens(tx.conn(), user_id, Some(keep_token))?;
    tx.record(Action::PasswordChange, USER, Some(user_id), None)
}

// ---------------------------------------------------------------------------- audit trail

/// One page of the trail (sealed by the caller first), newest first. Reading the trail is
/// itself audited: one `search` entry, naming the patient the page is filtered by.
pub fn audit_page(
    conn: &mut DbConn,
    f: AuditFilter,
    page: &Page,
) -> Result<Audited<ListResponse<AuditLog>>> {
    let patient = f.patient_id.clone();
    let after: Option<i64> = match &page.after {
        Some(a) => Some(
            a.parse()
                .map_err(|_| Error::field("cursor", "is not a cursor this server issued"))?,
        ),
        None => None,
    };
    let filter = trail_filter(&f);
    let window = Window {
        after,
        limit: page.limit,
        from: f.from.map(Timestamp::naive),
        to: f.to.map(Timestamp::naive),
    };
    let rows = crate::audit::query::load_page(conn, &filter, &window)?;
    let list = ListResponse::from_rows(rows, page.limit, |e| e.seq.to_string());
    Ok(Audited::search(
        list,
        AUDIT_LOG,
        patient.as_deref(),
        std::iter::empty(),
    ))
}

/// How many entries of the trail match `f` (a FHIR search's total).
pub fn count_audit(conn: &mut DbConn, f: &AuditFilter) -> Result<i64> {
    Ok(crate::audit::query::count(
        conn,
        &trail_filter(f),
        f.from.map(Timestamp::naive),
        f.to.map(Timestamp::naive),
    )?)
}

/// One entry of the trail, audited as a read of the trail (naming its patient).
pub fn audit_entry(conn: &mut DbConn, actor: &Actor, seq: i64) -> Result<Audited<AuditLog>> {
    match crate::audit::query::entry(conn, seq)? {
        Some(e) => {
            let patient = e.patient_id.clone();
            Ok(Audited::read(
                e,
                AUDIT_LOG,
                &seq.to_string(),
                patient.as_deref(),
            ))
        }
        None => Err(actor.deny(
            Error::NotFound,
            Action::Read,
            AUDIT_LOG,
            Some(&seq.to_string()),
            None,
        )),
    }
}

fn trail_filter(f: &AuditFilter) -> Filter {
    Filter {
        user_id: f.user_id.clone(),
        patient_id: f.patient_id.clone(),
        resource_type: f.resource_type.clone(),
        action: f.action.clone(),
        outcome: f.outcome.clone(),
        request_id: f.request_id.clone(),
    }
}

/// May the caller read this patient's access log? The patient themself, or who reads the
/// trail. A patient asking about someone else must not learn that they exist (404).
pub fn check_access_log(conn: &mut DbConn, actor: &Actor, id: &PatientId) -> Result<()> {
    let pid = id.as_str();
    let own = actor.scope().is_patient(id);
    let auditor = actor.holds(Perm::AuditRead);
    if !own && !auditor {
        let err = if actor.scope().own_patient().is_some() {
            Error::NotFound
        } else {
            Error::forbidden("only the patient and auditors read an access log")
        };
        return Err(actor.deny(err, Action::Search, AUDIT_LOG, Some(pid), Some(pid)));
    }
    if !patients::exists(conn, id)? {
        return Err(Error::NotFound);
    }
    Ok(())
}

// ---------------------------------------------------------------------------- start-up

/// Start-up: built-in roles, and on an empty database the first admin. Returns the admin's
/// password when it was generated here, for the caller to hand to the operator (never to a
/// log record).
pub fn bootstrap(
    db: &Db,
    audit: &crate::audit::Audit,
    config: &Config,
) -> anyhow::Result<Option<String>> {
    let mut conn = db.pool.get()?;
    crate::db::write_transaction(&mut conn, seed_roles)?;
    if store::count_users(&mut conn)? > 0 {
        return Ok(None);
    }
    let (password, generated) = match &config.admin_password {
        Some(p) if !p.is_empty() => (p.clone(), false),
        _ => (crate::auth::tokens::random_token(), true),
    };
    create_admin(
        db,
        audit,
        &mut conn,
        &config.admin_email,
        &password,
        config.password_hash_cost,
    )
    .map_err(|e| anyhow::anyhow!("creating the first admin failed: {e}"))?;
    tracing::info!(email = %config.admin_email, "created the first admin account");
    Ok(generated.then_some(password))
}

/// Creates an admin account (first start, and `healthapi admin create`), as the system.
pub fn create_admin(
    db: &Db,
    audit: &crate::audit::Audit,
    conn: &mut DbConn,
    email: &str,
    password: &str,
    cost: crate::auth::passwords::HashCost,
) -> Result<User> {
    let mut v = Validator::new();
    v.email("email", email);
    crate::auth::passwords::validate_new(&mut v, "password", password);
    v.finish()?;
    let new = NewUser {
        email: email.to_string(),
        password_hash: crate::auth::passwords::hash(password, cost),
        display_name: "Administrator".to_string(),
        roles: vec![permissions::ADMIN.to_string()],
    };
    Actor::system(audit.clone()).write_blocking(conn, &db.hub, |tx| {
        let user = create_user(tx, &new)?;
        let by = tx.actor().clone().as_user(user.id.as_str(), Some("system"));
        tx.record_as(&by, Action::Create, USER, Some(user.id.as_str()), None)?;
        Ok(user)
    })
}
