//! Consent: forms, the append-only history of consents given and revoked, the current status
//! per kind, and `require_consent`, the one check every domain that needs consent calls.

mod routes;
mod store;

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::db::DbConn;
use crate::domains::{accounts, patients};
use crate::http::{ListResponse, Page};
use crate::kit::{
    Action, Actor, Audited, Error, IfMatch, Level, PatientId, Resource, Result, Timestamp, Tx,
    UserId, Validator, WireEnum,
};
use crate::wire_enum;

pub use routes::router;

/// What the audit trail calls a form, a consent event, the status and the pre-flight check.
pub const FORM: Resource = Resource::named("consent_form");
pub const CONSENT: Resource = Resource::named("consent");
pub const STATUS: Resource = Resource::named("consent_status");
pub const CHECK: Resource = Resource::named("consent_check");

wire_enum!(
    /// What a consent is for.
    ConsentKind of "consent form" {
        Treatment = "treatment",
        Telemedicine = "telemedicine",
        RemoteMonitoring = "remote_monitoring",
        DataSharing = "data_sharing",
        Research = "research",
    }
);

wire_enum!(
    /// What a consent event did.
    ConsentAction of "consent" {
        Given = "given",
        Revoked = "revoked",
    }
);

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct ConsentForm {
    pub id: String,
    pub kind: ConsentKind,
    pub title: String,
    pub body: String,
    /// The form's version among the forms of its kind (its text never changes: a new text is a
    /// new form, the next version).
    pub version: i32,
    pub active: bool,
    pub created_at: Timestamp,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewForm {
    pub kind: ConsentKind,
    #[schema(min_length = 1, max_length = 200)]
    pub title: String,
    #[schema(min_length = 1, max_length = 20000)]
    pub body: String,
    /// Defaults to true.
    pub active: Option<bool>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct FormChange {
    pub active: bool,
}

#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct FormFilter {
    pub kind: Option<ConsentKind>,
    pub active: Option<bool>,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct ConsentEvent {
    pub id: String,
    pub consent_form_id: String,
    pub user_id: UserId,
    pub action: ConsentAction,
    pub recorded_at: Timestamp,
    pub client_addr: Option<String>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewConsent {
    #[schema(min_length = 1, max_length = 64)]
    pub consent_form_id: String,
    pub action: ConsentAction,
}

#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ConsentFilter {
    /// Whose history; defaults to the caller.
    pub user_id: Option<UserId>,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct ConsentStatus {
    pub kind: ConsentKind,
    /// The form of the latest event, or the active form of this kind when there is none.
    pub consent_form_id: Option<String>,
    /// `given`, `revoked` or `none`.
    pub status: String,
    pub since: Option<Timestamp>,
}

/// 409 `consent-required`: what a flow answers without the patient's consent.
pub fn consent_required(kind: ConsentKind) -> Error {
    Error::conflict_of(
        "consent-required",
        format!("the patient has not given {kind} consent"),
    )
}

/// The enforcement point: `Ok` only if the patient's account has a current `given` consent of
/// this kind. Read on every call (no cache), so a revocation takes effect on the next request.
/// A patient without an account cannot have consented.
pub fn require_consent(conn: &mut DbConn, patient_id: &PatientId, kind: ConsentKind) -> Result<()> {
    let Some(user_id) = patients::account_of_patient(conn, patient_id)? else {
        return Err(consent_required(kind));
    };
    match store::current(conn, user_id.as_str(), kind)? {
        Some((_, ConsentAction::Given, _)) => Ok(()),
        _ => Err(consent_required(kind)),
    }
}

/// Publishes a form (admin). Its `version` counts the forms of its kind.
pub fn create_form(tx: &mut Tx, f: NewForm) -> Result<ConsentForm> {
    let mut v = Validator::new();
    v.text("title", &f.title, 1, 200);
    v.text("body", &f.body, 1, 20_000);
    v.finish()?;
    let form = store::insert_form(tx.conn(), f)?;
    tx.record(Action::Create, FORM, Some(&form.id), None)?;
    Ok(form)
}

/// Retires or re-activates a form (admin); its text never changes.
pub fn change_form(tx: &mut Tx, id: &str, c: FormChange, if_match: IfMatch) -> Result<ConsentForm> {
    if !store::lock_form(tx.conn(), id)? {
        return Err(Error::NotFound);
    }
    let current = store::load_form(tx.conn(), id)?.ok_or(Error::NotFound)?;
    if_match.check(current.version)?;
    store::set_active(tx.conn(), id, c.active)?;
    tx.record(Action::Update, FORM, Some(id), None)?;
    store::load_form(tx.conn(), id)?.ok_or(Error::NotFound)
}

pub fn get_form(conn: &mut DbConn, id: &str) -> Result<ConsentForm> {
    store::load_form(conn, id)?.ok_or(Error::NotFound)
}

pub fn list_forms(
    conn: &mut DbConn,
    f: FormFilter,
    page: &Page,
) -> Result<ListResponse<ConsentForm>> {
    let rows = store::list_forms(conn, f, page)?;
    Ok(ListResponse::from_rows(rows, page.limit, |f| f.id.clone()))
}

/// Appends a consent event for the caller's own account.
pub fn record(tx: &mut Tx, c: NewConsent) -> Result<ConsentEvent> {
    let mut v = Validator::new();
    v.text("consent_form_id", &c.consent_form_id, 1, 64);
    v.finish()?;
    let form = store::load_form(tx.conn(), &c.consent_form_id)?
        .ok_or_else(|| Error::conflict("consent_form_id does not name an existing form"))?;
    if c.action == ConsentAction::Given && !form.active {
        return Err(Error::conflict(
            "this consent form is retired; give consent on its successor",
        ));
    }
    let user = tx
        .actor()
        .user_id()
        .ok_or_else(|| Error::internal("a consent needs a signed-in user"))?
        .to_string();
    let event = ConsentEvent {
        id: crate::db::new_id(),
        consent_form_id: form.id,
        user_id: UserId::from_db(user),
        action: c.action,
        recorded_at: Timestamp::now(),
        client_addr: Some(tx.actor().client_addr().to_string()).filter(|a| !a.is_empty()),
    };
    store::insert_event(tx.conn(), &event)?;
    let action = match c.action {
        ConsentAction::Given => Action::ConsentGiven,
        ConsentAction::Revoked => Action::ConsentRevoked,
    };
    let patient = tx.scope().own_patient().cloned();
    tx.record(
        action,
        CONSENT,
        Some(&event.id),
        patient.as_ref().map(PatientId::as_str),
    )?;
    Ok(event)
}

/// May the caller see this user's consents? Themself; else whoever reaches the user's patient
/// record (admin, a doctor on the care team). `Some(the user's patient, if any)` when they may.
fn may_see(
    conn: &mut DbConn,
    actor: &Actor,
    user_id: &UserId,
) -> Result<Option<Option<PatientId>>> {
    let patient = patients::patient_of_account(conn, user_id)?;
    if actor.user_id() == Some(user_id.as_str()) {
        return Ok(Some(patient));
    }
    if actor.scope().is_admin() {
        // An admin reaches every account, but only accounts that exist: an unknown id (or one
        // that is not an id at all) is 404, as on every other `/users/{id}/...` route.
        if !accounts::user_exists(conn, user_id)? {
            return Err(Error::NotFound);
        }
        return Ok(Some(patient));
    }
    match patient {
        Some(p) if actor.scope().reaches(conn, &p, Level::Clinical)? => Ok(Some(Some(p))),
        _ => Ok(None),
    }
}

/// One user's consent history, oldest first.
pub fn list_consents(
    conn: &mut DbConn,
    actor: &Actor,
    f: ConsentFilter,
    page: &Page,
) -> Result<Audited<ListResponse<ConsentEvent>>> {
    let user = f
        .user_id
        .or_else(|| actor.user_id().map(|u| UserId::from_db(u.to_string())))
        .ok_or_else(|| Error::internal("consents are read by a signed-in user"))?;
    let Some(patient) = may_see(conn, actor, &user)? else {
        let id = Some(user.as_str());
        return Err(actor.deny(Error::NotFound, Action::Search, CONSENT, id, None));
    };
    let rows = store::history(conn, user.as_str(), page)?;
    let list = ListResponse::from_rows(rows, page.limit, |e| e.id.clone());
    Ok(Audited::search(
        list,
        CONSENT,
        patient.as_ref().map(PatientId::as_str),
        std::iter::empty(),
    ))
}

/// The current consent of each kind for a user.
pub fn status(
    conn: &mut DbConn,
    actor: &Actor,
    user_id: &UserId,
) -> Result<Audited<Vec<ConsentStatus>>> {
    let uid = user_id.as_str();
    let Some(patient) = may_see(conn, actor, user_id)? else {
        return Err(actor.deny(Error::NotFound, Action::Read, CONSENT, Some(uid), None));
    };
    let mut out = Vec::new();
    for &kind in ConsentKind::ALL {
        out.push(match store::current(conn, uid, kind)? {
            Some((form, action, at)) => ConsentStatus {
                kind,
                consent_form_id: Some(form),
                status: action.as_str().to_string(),
                since: Some(at),
            },
            None => ConsentStatus {
                kind,
                consent_form_id: store::active_form(conn, kind)?,
                status: "none".to_string(),
                since: None,
            },
        });
    }
    Ok(Audited::read(
        out,
        STATUS,
        uid,
        patient.as_ref().map(PatientId::as_str),
    ))
}

/// The pre-flight of `require_consent` for clients: whether the patient (in the caller's
/// reach) has given consent of this kind. The outcome, consent or not, is a read of it.
pub fn check(
    conn: &mut DbConn,
    actor: &Actor,
    patient_id: &PatientId,
    kind: ConsentKind,
) -> Result<Audited<Result<()>>> {
    let pid = patient_id.as_str();
    if !patients::exists(conn, patient_id)?
        || !actor.scope().reaches(conn, patient_id, Level::Clinical)?
    {
        return Err(actor.deny(Error::NotFound, Action::Read, CONSENT, Some(pid), Some(pid)));
    }
    let outcome = require_consent(conn, patient_id, kind);
    Ok(Audited::read(outcome, CHECK, pid, Some(pid)))
}
