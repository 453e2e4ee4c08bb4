//! What an audit entry says: as buffered or in the outbox (`NewEntry`), as chained
//! (`ChainedRow`), and as sealed and served (`AuditLog`).

use diesel::prelude::*;
use serde::{Deserialize, Serialize};

use crate::db::schema::{audit_logs, audit_outbox};

/// One entry before it is sealed.
#[derive(Debug, Clone, Insertable, Queryable, Selectable)]
#[diesel(table_name = audit_outbox)]
pub struct NewEntry {
    pub occurred_at: chrono::NaiveDateTime,
    pub user_id: Option<String>,
    pub role: Option<String>,
    pub action: String,
    pub resource_type: String,
    pub resource_id: Option<String>,
    pub patient_id: Option<String>,
    pub outcome: String,
    pub request_id: Option<String>,
    pub client_addr: Option<String>,
}

/// A sealed entry, as stored and as served by `GET /audit-logs`.
#[derive(
    Debug, Clone, Queryable, Selectable, Insertable, Serialize, Deserialize, utoipa::ToSchema,
)]
#[diesel(table_name = audit_logs)]
// None is NULL, never DEFAULT: with possible DEFAULTs Diesel turns a multi-row INSERT on SQLite
// into one INSERT per row inside a savepoint (the sealer spent 2/3 of its time there).
#[diesel(treat_none_as_default_value = false)]
pub struct AuditLog {
    pub seq: i64,
    #[serde(with = "utc")]
    #[schema(value_type = String, format = DateTime)]
    pub occurred_at: chrono::NaiveDateTime,
    pub user_id: Option<String>,
    pub role: Option<String>,
    pub action: String,
    pub resource_type: String,
    pub resource_id: Option<String>,
    pub patient_id: Option<String>,
    pub outcome: String,
    pub request_id: Option<String>,
    pub client_addr: Option<String>,
    pub hash: String,
}

/// A row of `audit_logs` as the sealer writes it and the chain covers it, borrowing its text
/// from the entry (copying a dozen strings per entry showed in the sealer's profile).
#[derive(Insertable)]
#[diesel(table_name = audit_logs)]
#[diesel(treat_none_as_default_value = false)]
pub struct ChainedRow<'a> {
    pub seq: i64,
    pub occurred_at: chrono::NaiveDateTime,
    pub user_id: Option<&'a str>,
    pub role: Option<&'a str>,
    pub action: &'a str,
    pub resource_type: &'a str,
    pub resource_id: Option<&'a str>,
    pub patient_id: Option<&'a str>,
    pub outcome: &'a str,
    pub request_id: Option<&'a str>,
    pub client_addr: Option<&'a str>,
    pub hash: String,
}

impl<'a> ChainedRow<'a> {
    pub(super) fn of_entry(seq: i64, e: &'a NewEntry) -> Self {
        ChainedRow {
            seq,
            occurred_at: e.occurred_at,
            user_id: e.user_id.as_deref(),
            role: e.role.as_deref(),
            action: &e.action,
            resource_type: &e.resource_type,
            resource_id: e.resource_id.as_deref(),
            patient_id: e.patient_id.as_deref(),
            outcome: &e.outcome,
            request_id: e.request_id.as_deref(),
            client_addr: e.client_addr.as_deref(),
            hash: String::new(),
        }
    }
}

impl AuditLog {
    /// The stored entry as the chain covers it.
    pub fn chained(&self) -> ChainedRow<'_> {
        ChainedRow {
            seq: self.seq,
            occurred_at: self.occurred_at,
            user_id: self.user_id.as_deref(),
            role: self.role.as_deref(),
            action: &self.action,
            resource_type: &self.resource_type,
            resource_id: self.resource_id.as_deref(),
            patient_id: self.patient_id.as_deref(),
            outcome: &self.outcome,
            request_id: self.request_id.as_deref(),
            client_addr: self.client_addr.as_deref(),
            hash: String::new(),
        }
    }
}

/// What was done: the trail's closed vocabulary. A domain that needs another verb adds it
/// here (and to docs/DECISIONS.md, "Audit").
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Action {
    Create,
    Update,
    /// A status moved along its state machine.
    StateChange,
    Delete,
    /// One object was read.
    Read,
    /// A list was read.
    Search,
    Login,
    LoginFailed,
    Logout,
    Register,
    PasswordChange,
    BreakGlass,
    /// A doctor joined a patient's care team for the first time, and not by the patient's own
    /// act (a doctor or an admin booked, ordered, referred...): flagged like break-glass.
    CareTeamJoined,
    ConsentGiven,
    ConsentRevoked,
    /// The sealer found outbox entries edited, removed or inserted before sealing.
    TamperDetected,
}

impl Action {
    pub const ALL: &'static [Action] = &[
        Action::Create,
        Action::Update,
        Action::StateChange,
        Action::Delete,
        Action::Read,
        Action::Search,
        Action::Login,
        Action::LoginFailed,
        Action::Logout,
        Action::Register,
        Action::PasswordChange,
        Action::BreakGlass,
        Action::CareTeamJoined,
        Action::ConsentGiven,
        Action::ConsentRevoked,
        Action::TamperDetected,
    ];

    /// The stored name (`action` of an entry).
    pub const fn as_str(self) -> &'static str {
        match self {
            Action::Create => "create",
            Action::Update => "update",
            Action::StateChange => "state_change",
            Action::Delete => "delete",
            Action::Read => "read",
            Action::Search => "search",
            Action::Login => "login",
            Action::LoginFailed => "login_failed",
            Action::Logout => "logout",
            Action::Register => "register",
            Action::PasswordChange => "password_change",
            Action::BreakGlass => "break_glass",
            Action::CareTeamJoined => "care_team_joined",
            Action::ConsentGiven => "consent_given",
            Action::ConsentRevoked => "consent_revoked",
            Action::TamperDetected => "tamper_detected",
        }
    }
}

/// What kind of object an entry is about (`resource_type`). Each domain declares its own as
/// constants beside its model (`pub const RECORD: Resource = Resource::named("medical_record")`),
/// so the trail's names are written once, where the object is, and checked by the compiler
/// wherever they are used.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Resource(&'static str);

impl Resource {
    /// A snake_case name, e.g. `medical_record`.
    pub const fn named(name: &'static str) -> Resource {
        Resource(name)
    }
    pub const fn as_str(self) -> &'static str {
        self.0
    }
}

/// How it ended: `success`, `denied` (a 403, or a 404 for an object that exists but is out
/// of the caller's reach), or `error` (the server failed it: a 500 or 503 of its database work).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    Success,
    Denied,
    Error,
}

impl Outcome {
    pub const fn as_str(self) -> &'static str {
        match self {
            Outcome::Success => "success",
            Outcome::Denied => "denied",
            Outcome::Error => "error",
        }
    }
}

impl NewEntry {
    /// An entry of `action` on `resource` now, successful, by nobody yet (`by`) and outside any
    /// request (`during`).
    pub fn new(
        action: Action,
        resource: Resource,
        resource_id: Option<&str>,
        patient_id: Option<&str>,
    ) -> NewEntry {
        Self::of(
            action,
            resource,
            resource_id.map(str::to_string),
            patient_id.map(str::to_string),
        )
    }

    /// `new`, taking the ids it keeps. Ids come from requests: a NUL in one (which the HTTP
    /// edge refuses; this is the last line) is replaced, since PostgreSQL cannot store it and
    /// one unstorable entry would stop the sealer for every entry behind it.
    pub fn of(
        action: Action,
        resource: Resource,
        resource_id: Option<String>,
        patient_id: Option<String>,
    ) -> NewEntry {
        let storable = |id: Option<String>| match id {
            Some(id) if id.contains('\0') => Some(id.replace('\0', "\u{FFFD}")),
            id => id,
        };
        let (resource_id, patient_id) = (storable(resource_id), storable(patient_id));
        NewEntry {
            occurred_at: crate::db::now(),
            user_id: None,
            role: None,
            action: action.as_str().to_string(),
            resource_type: resource.as_str().to_string(),
            resource_id,
            patient_id,
            outcome: Outcome::Success.as_str().to_string(),
            request_id: None,
            client_addr: None,
        }
    }

    /// Who acted, and in which role.
    pub fn by(mut self, user_id: Option<&str>, role: Option<&str>) -> NewEntry {
        self.user_id = user_id.map(str::to_string);
        self.role = role.map(str::to_string);
        self
    }

    /// The request it happened in (empty values are left out).
    pub fn during(mut self, request_id: &str, client_addr: &str) -> NewEntry {
        self.request_id = Some(request_id.to_string()).filter(|s| !s.is_empty());
        self.client_addr = Some(client_addr.to_string()).filter(|s| !s.is_empty());
        self
    }

    pub fn outcome(mut self, outcome: Outcome) -> NewEntry {
        self.outcome = outcome.as_str().to_string();
        self
    }
}

/// Serde for a stored (naive, UTC) timestamp as RFC 3339 with `Z`.
mod utc {
    use serde::{Deserialize, Deserializer, Serialize, Serializer};
    pub fn serialize<S: Serializer>(t: &chrono::NaiveDateTime, s: S) -> Result<S::Ok, S::Error> {
        t.and_utc().serialize(s)
    }
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<chrono::NaiveDateTime, D::Error> {
        Ok(chrono::DateTime::<chrono::Utc>::deserialize(d)?.naive_utc())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An id from a request that spells NUL is stored with U+FFFD instead: PostgreSQL cannot
    /// store NUL, and one entry it refuses would stop the sealer.
    #[test]
    fn a_nul_in_an_id_is_replaced() {
        let e = NewEntry::new(
            Action::Read,
            Resource::named("user"),
            Some("a\0b"),
            Some("\0"),
        );
        assert_eq!(e.resource_id.as_deref(), Some("a\u{FFFD}b"));
        assert_eq!(e.patient_id.as_deref(), Some("\u{FFFD}"));
        let plain = NewEntry::new(Action::Read, Resource::named("user"), Some("ab"), None);
        assert_eq!(plain.resource_id.as_deref(), Some("ab"));
        assert_eq!(plain.patient_id, None);
    }
}
