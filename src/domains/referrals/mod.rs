//! Referrals: a doctor on the patient's care team refers the patient to a specialist, who
//! joins the care team at once to judge the case; the referral moves along a status graph that
//! is data (`referral_statuses` and their arrows, seeded by the migrations and served by
//! `GET /referral-statuses`), and the specialist writes notes.
//!
//! The graph is the only place the rule lives: a transition loads it and asks the kit's
//! `Machine` built from it; no handler names a status.

mod routes;
mod store;

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::auth::care_team::{self, Source};
use crate::db::DbConn;
use crate::domains::appointments::{self, AppointmentId};
use crate::domains::{notifications, patients};
use crate::http::{ListResponse, Page};
use crate::kit::{
    Action, Actor, Arrow, Audited, DoctorId, Error, Level, Machine, PatientId, Resource, Result,
    Scope, Timestamp, Tx, UserId, Validator,
};
use crate::wire_enum;

pub use routes::router;

/// What the audit trail calls a referral.
pub const REFERRAL: Resource = Resource::named("referral_request");
/// What the audit trail calls a specialist's note.
pub const NOTE: Resource = Resource::named("specialist_note");
/// What links the specialist into the patient's care team.
pub const CARE_TEAM: Source = Source::named("referral");

crate::id_type!(
    /// A referral request.
    ReferralId
);
crate::id_type!(
    /// A specialist's note.
    NoteId
);

wire_enum!(
    /// The status codes of the graph (what the arrows connect; the arrows are data).
    ReferralCode of "referral" {
        Pending = "pending",
        Accepted = "accepted",
        Scheduled = "scheduled",
        Completed = "completed",
        Rejected = "rejected",
        Cancelled = "cancelled",
    }
);

impl ReferralCode {
    /// The statuses in which the specialist writes notes.
    pub const NOTES_OPEN: &'static [ReferralCode] = &[
        ReferralCode::Accepted,
        ReferralCode::Scheduled,
        ReferralCode::Completed,
    ];
    /// The statuses that end the specialist's place on the care team.
    pub const ENDS_LINK: &'static [ReferralCode] =
        &[ReferralCode::Rejected, ReferralCode::Cancelled];
}

wire_enum!(
    /// Who may take an arrow of the graph (as the seeded data names them).
    Party of "party" {
        Specialist = "specialist",
        ReferringDoctor = "referring_doctor",
        Admin = "admin",
    }
);

wire_enum!(
    /// How soon.
    ReferralPriority of "priority" {
        Routine = "routine",
        Urgent = "urgent",
    }
);

/// One arrow out of a status, as `GET /referral-statuses` shows it.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct StatusArrow {
    pub to: ReferralCode,
    pub by: Vec<Party>,
}

/// A status of the graph.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct ReferralStatus {
    pub id: String,
    pub code: ReferralCode,
    pub display: String,
    pub is_final: bool,
    /// The codes this status may move to.
    pub next: Vec<ReferralCode>,
    /// The same, with who may take each arrow.
    pub arrows: Vec<StatusArrow>,
}

/// The graph as loaded: every status with its arrows.
pub struct Graph {
    pub statuses: Vec<ReferralStatus>,
}

impl Graph {
    pub fn load(conn: &mut DbConn) -> Result<Graph> {
        Ok(Graph {
            statuses: store::statuses(conn)?,
        })
    }

    pub fn status(&self, code: ReferralCode) -> Result<&ReferralStatus> {
        self.statuses
            .iter()
            .find(|s| s.code == code)
            .ok_or_else(|| Error::internal(format!("the referral graph has no {code}")))
    }

    /// Checks the arrow `from` → `to` for `parties` against the data (403 audited, 409 naming
    /// the current status), through the kit's one machine.
    #[allow(clippy::too_many_arguments)]
    fn take(
        &self,
        tx: &Tx,
        from: ReferralCode,
        to: ReferralCode,
        parties: &[Party],
        id: &ReferralId,
        patient: &PatientId,
    ) -> Result<()> {
        let arrows: Vec<Arrow<ReferralCode, Party>> = self
            .statuses
            .iter()
            .flat_map(|s| {
                s.arrows.iter().map(move |a| Arrow {
                    from: s.code,
                    to: a.to,
                    by: a.by.as_slice(),
                })
            })
            .collect();
        let machine = Machine { arrows: &arrows };
        machine.take(
            tx,
            from,
            to,
            parties,
            REFERRAL,
            id.as_str(),
            Some(patient.as_str()),
        )
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct ReferralRequest {
    pub id: ReferralId,
    pub patient_id: PatientId,
    pub referring_doctor_id: DoctorId,
    pub specialist_id: DoctorId,
    pub status_id: String,
    /// The status's code.
    pub status: ReferralCode,
    pub reason: String,
    pub priority: ReferralPriority,
    pub specialty: Option<String>,
    /// The specialist's appointment with the patient, once scheduled.
    pub appointment_id: Option<AppointmentId>,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
    pub version: i32,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewReferral {
    pub patient_id: PatientId,
    /// Admins name the referring doctor; a doctor refers as themself.
    pub referring_doctor_id: Option<DoctorId>,
    pub specialist_id: DoctorId,
    pub reason: String,
    /// Default `routine`.
    pub priority: Option<ReferralPriority>,
    #[schema(max_length = 200)]
    pub specialty: Option<String>,
    /// An appointment with the patient, for a referring doctor not (yet) on the care team.
    pub appointment_id: Option<AppointmentId>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Transition {
    pub to: ReferralCode,
    /// Required to reject or cancel.
    #[schema(max_length = 2000)]
    pub reason: Option<String>,
    /// With `scheduled`: the specialist's appointment with the patient.
    pub appointment_id: Option<AppointmentId>,
}

/// One step of a referral's history.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct HistoryEntry {
    /// Null for the referral's creation.
    pub from: Option<ReferralCode>,
    pub to: ReferralCode,
    pub by: Option<UserId>,
    pub at: Timestamp,
    pub reason: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct SpecialistNote {
    pub id: NoteId,
    pub referral_request_id: ReferralId,
    pub specialist_id: DoctorId,
    pub note: String,
    pub created_at: Timestamp,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewNote {
    /// 1–10,000 characters.
    pub note: String,
}

/// The filters of `GET /referrals`.
#[derive(Debug, Clone, Default, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ReferralFilter {
    pub patient_id: Option<PatientId>,
    pub specialist_id: Option<DoctorId>,
    pub referring_doctor_id: Option<DoctorId>,
    pub status: Option<ReferralCode>,
    /// Referrals made at or after (RFC 3339).
    #[param(value_type = Option<String>, format = DateTime)]
    pub from: Option<Timestamp>,
    /// Referrals made before (RFC 3339).
    #[param(value_type = Option<String>, format = DateTime)]
    pub to: Option<Timestamp>,
}

/// The whole graph.
pub fn statuses(conn: &mut DbConn) -> Result<Vec<ReferralStatus>> {
    Ok(Graph::load(conn)?.statuses)
}

/// Does the caller reach the referral: the patient compartment, or one of its two doctors.
fn reaches(conn: &mut DbConn, scope: &Scope, r: &ReferralRequest) -> Result<bool> {
    let own = scope.is_doctor(&r.referring_doctor_id) || scope.is_doctor(&r.specialist_id);
    Ok(scope.reaches_object(conn, &r.patient_id, Level::Clinical, own)?)
}

fn parties_of(scope: &Scope, r: &ReferralRequest) -> Vec<Party> {
    let mut parties = Vec::new();
    if scope.is_admin() {
        parties.push(Party::Admin);
    }
    if scope.is_doctor(&r.specialist_id) {
        parties.push(Party::Specialist);
    }
    if scope.is_doctor(&r.referring_doctor_id) {
        parties.push(Party::ReferringDoctor);
    }
    parties
}

/// Refers a patient: a doctor on the care team (or with an appointment with the patient) to
/// another doctor, or an admin naming both. The specialist joins the care team at once.
pub fn refer(tx: &mut Tx, new: NewReferral) -> Result<ReferralRequest> {
    let referring = appointments::writing_doctor(
        tx,
        REFERRAL,
        &new.patient_id,
        new.referring_doctor_id.as_ref(),
    )?;
    let mut v = Validator::new();
    v.text("reason", new.reason.trim(), 1, 2000);
    v.opt_text("specialty", new.specialty.as_deref(), 200);
    if new.specialist_id == referring {
        v.error(
            "specialist_id",
            "must be another doctor than the referring one",
        );
    }
    v.finish()?;
    let patient = new.patient_id.clone();
    appointments::check_treats(
        tx,
        REFERRAL,
        &patient,
        &referring,
        new.appointment_id.as_ref(),
    )?;
    if !patients::doctor_exists(tx.conn(), &new.specialist_id)? {
        return Err(Error::conflict(
            "specialist_id does not name an existing doctor",
        ));
    }
    patients::lock_parties(tx.conn(), &patient, &new.specialist_id)?;
    let graph = Graph::load(tx.conn())?;
    let pending = graph.status(ReferralCode::Pending)?;
    let id = ReferralId::generate();
    let by = tx.actor().user_id().map(str::to_string);
    store::insert(tx.conn(), &id, &new, &referring, pending, by.as_deref())?;
    store::record_transition(
        tx.conn(),
        &id,
        None,
        ReferralCode::Pending,
        by.as_deref(),
        None,
    )?;
    patients::join_care_team(tx, &patient, &new.specialist_id, CARE_TEAM)?;
    tx.record(
        Action::Create,
        REFERRAL,
        Some(id.as_str()),
        Some(patient.as_str()),
    )?;
    let r = store::load(tx.conn(), &id)?.ok_or(Error::NotFound)?;
    tell(
        tx,
        &r,
        "New referral",
        format!("A referral was made: {}", r.reason.trim()),
    )?;
    Ok(r)
}

/// Notifies the patient and whichever of the two doctors did not act (`referral_status`).
fn tell(tx: &mut Tx, r: &ReferralRequest, title: &str, body: String) -> Result<()> {
    let scope = tx.scope().clone();
    let about = (REFERRAL, r.id.as_str());
    for doctor in [&r.referring_doctor_id, &r.specialist_id] {
        if !scope.is_doctor(doctor) {
            notifications::notify_doctor(
                tx,
                doctor,
                "referral_status",
                title.into(),
                body.clone(),
                about,
            )?;
        }
    }
    if !scope.is_patient(&r.patient_id) {
        notifications::notify_patient(
            tx,
            &r.patient_id,
            "referral_status",
            title.into(),
            body,
            about,
        )?;
    }
    Ok(())
}

/// The referral, locked, if the caller reaches it (404, audited as a refused `action` on
/// `resource`, otherwise).
fn lock_reachable(
    tx: &mut Tx,
    id: &ReferralId,
    action: Action,
    resource: Resource,
) -> Result<ReferralRequest> {
    store::lock(tx.conn(), id)?;
    let scope = tx.scope().clone();
    match store::load(tx.conn(), id)? {
        Some(r) if reaches(tx.conn(), &scope, &r)? => Ok(r),
        _ => Err(tx.deny(Error::NotFound, action, resource, Some(id.as_str()), None)),
    }
}

/// Takes an arrow of the graph: who may take it is the graph's (403), an arrow it lacks is 409.
/// Rejecting and cancelling end the specialist's place on the care team
/// (unless another live referral of theirs keeps it); `scheduled` may name the specialist's
/// appointment with the patient.
pub fn transition(tx: &mut Tx, id: &ReferralId, t: Transition) -> Result<ReferralRequest> {
    let mut v = Validator::new();
    v.opt_text("reason", t.reason.as_deref(), 2000);
    let reason = t
        .reason
        .as_deref()
        .map(str::trim)
        .filter(|r| !r.is_empty())
        .map(str::to_string);
    if t.appointment_id.is_some() && t.to != ReferralCode::Scheduled {
        v.error("appointment_id", "is only for `scheduled`");
    }
    v.finish()?;
    let current = lock_reachable(tx, id, Action::StateChange, REFERRAL)?;
    // The pair's lock: whether another live referral keeps the specialist's link is decided
    // one writer at a time (a concurrent refer or cancel of the same pair waits).
    patients::lock_parties(tx.conn(), &current.patient_id, &current.specialist_id)?;
    let graph = Graph::load(tx.conn())?;
    let parties = parties_of(tx.scope(), &current);
    graph.take(tx, current.status, t.to, &parties, id, &current.patient_id)?;
    if let Some(a) = &t.appointment_id {
        match appointments::parties(tx.conn(), a)? {
            Some((p, d)) if p == current.patient_id && d == current.specialist_id => {}
            _ => {
                return Err(Error::conflict(
                    "appointment_id does not name the specialist's appointment with the patient",
                ))
            }
        }
    }
    let to = graph.status(t.to)?;
    let appointment = t.appointment_id.clone().or(current.appointment_id.clone());
    if !store::move_to(tx.conn(), &current, to, appointment.as_ref())? {
        return Err(Error::Stale);
    }
    let by = tx.actor().user_id().map(str::to_string);
    store::record_transition(
        tx.conn(),
        id,
        Some(current.status),
        t.to,
        by.as_deref(),
        reason.as_deref(),
    )?;
    if ReferralCode::ENDS_LINK.contains(&t.to)
        && !store::another_live_referral(tx.conn(), &current)?
    {
        care_team::unlink(
            tx.conn(),
            &current.patient_id,
            &current.specialist_id,
            CARE_TEAM,
        )?;
    }
    tx.record(
        Action::StateChange,
        REFERRAL,
        Some(id.as_str()),
        Some(current.patient_id.as_str()),
    )?;
    let r = store::load(tx.conn(), id)?.ok_or(Error::NotFound)?;
    let why = reason.map(|r| format!(": {r}")).unwrap_or_default();
    tell(
        tx,
        &r,
        &format!("Referral {}", to.display.to_lowercase()),
        format!("The referral is now {}{why}.", to.display.to_lowercase()),
    )?;
    Ok(r)
}

/// One referral.
pub fn get(conn: &mut DbConn, actor: &Actor, id: &ReferralId) -> Result<Audited<ReferralRequest>> {
    let r = reachable(conn, actor, id, REFERRAL)?;
    let pid = r.patient_id.clone();
    Ok(Audited::read(r, REFERRAL, id.as_str(), Some(pid.as_str())))
}

fn reachable(
    conn: &mut DbConn,
    actor: &Actor,
    id: &ReferralId,
    resource: Resource,
) -> Result<ReferralRequest> {
    match store::load(conn, id)? {
        Some(r) if reaches(conn, actor.scope(), &r)? => Ok(r),
        _ => Err(actor.deny(
            Error::NotFound,
            Action::Read,
            resource,
            Some(id.as_str()),
            None,
        )),
    }
}

/// Every status the referral took, oldest first.
pub fn history(
    conn: &mut DbConn,
    actor: &Actor,
    id: &ReferralId,
) -> Result<Audited<Vec<HistoryEntry>>> {
    let r = reachable(conn, actor, id, REFERRAL)?;
    let h = store::history(conn, id)?;
    Ok(Audited::read(
        h,
        REFERRAL,
        id.as_str(),
        Some(r.patient_id.as_str()),
    ))
}

/// The referrals in reach matching `f`, by id.
pub fn list(
    conn: &mut DbConn,
    actor: &Actor,
    f: ReferralFilter,
    page: &Page,
) -> Result<Audited<ListResponse<ReferralRequest>>> {
    let filter_patient = f.patient_id.clone();
    let rows = store::list(
        conn,
        actor.scope(),
        &f,
        page.after.as_deref(),
        page.limit + 1,
    )?;
    Ok(Audited::page(
        rows,
        page.limit,
        |r| r.id.to_string(),
        REFERRAL,
        filter_patient.as_ref(),
        |r| &r.patient_id,
    ))
}

/// How many referrals the caller reaches match `f` (a FHIR search's total).
pub fn count(conn: &mut DbConn, actor: &Actor, f: &ReferralFilter) -> Result<i64> {
    store::count(conn, actor.scope(), f)
}

/// Notes are the patient's, the two doctors' and admins' (not the rest of the care team).
fn reads_notes(scope: &Scope, r: &ReferralRequest) -> bool {
    scope.is_admin()
        || scope.is_patient(&r.patient_id)
        || scope.is_doctor(&r.specialist_id)
        || scope.is_doctor(&r.referring_doctor_id)
}

/// The referral's specialist writes a note while the referral is accepted, scheduled or
/// completed; the referring doctor is told (`specialist_note`).
pub fn add_note(tx: &mut Tx, id: &ReferralId, n: NewNote) -> Result<SpecialistNote> {
    let mut v = Validator::new();
    v.text("note", n.note.trim(), 1, 10_000);
    v.finish()?;
    let r = lock_reachable(tx, id, Action::Create, NOTE)?;
    if !tx.scope().is_doctor(&r.specialist_id) {
        return Err(tx.deny(
            Error::forbidden("only the referral's specialist writes its notes"),
            Action::Create,
            NOTE,
            Some(id.as_str()),
            Some(r.patient_id.as_str()),
        ));
    }
    if !ReferralCode::NOTES_OPEN.contains(&r.status) {
        return Err(Error::conflict_of(
            "illegal-transition",
            format!(
                "the referral is {}: notes are written once it is accepted",
                r.status
            ),
        ));
    }
    let note = SpecialistNote {
        id: NoteId::generate(),
        referral_request_id: id.clone(),
        specialist_id: r.specialist_id.clone(),
        note: n.note.trim().to_string(),
        created_at: Timestamp::now(),
    };
    let by = tx.actor().user_id().map(str::to_string);
    store::insert_note(tx.conn(), &note, by.as_deref())?;
    tx.record(
        Action::Create,
        NOTE,
        Some(note.id.as_str()),
        Some(r.patient_id.as_str()),
    )?;
    notifications::notify_doctor(
        tx,
        &r.referring_doctor_id,
        "specialist_note",
        "New specialist note".into(),
        "The specialist wrote a note on your referral.".into(),
        (REFERRAL, id.as_str()),
    )?;
    Ok(note)
}

/// The referral's notes, oldest first, a page of them: for the patient, both doctors and
/// admins.
pub fn notes(
    conn: &mut DbConn,
    actor: &Actor,
    id: &ReferralId,
    page: &Page,
) -> Result<Audited<ListResponse<SpecialistNote>>> {
    let r = match store::load(conn, id)? {
        Some(r) if reads_notes(actor.scope(), &r) => r,
        _ => return Err(actor.deny(Error::NotFound, Action::Read, NOTE, Some(id.as_str()), None)),
    };
    let rows = store::notes(conn, id, page.after.as_deref(), page.limit + 1)?;
    let list = ListResponse::from_rows(rows, page.limit, |n| n.id.to_string());
    let pid = r.patient_id.as_str();
    Ok(Audited::search(list, NOTE, Some(pid), [pid]))
}
