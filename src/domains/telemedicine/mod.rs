//! Telemedicine: virtual visits between a patient and a doctor, the video sessions of a visit
//! (rooms of an outside video service), and the visit's chat over REST and a WebSocket.
//!
//! Only a visit's own patient and doctor (and admins) reach it, its sessions and its chat:
//! the visit is a conversation between two people, so the rest of the care team does not
//! (`Scope::is_party`). Scheduling and every video session need the patient's given
//! telemedicine consent, checked through `consent::require_consent` on every request.

mod chat;
mod routes;
mod socket;
mod store;
mod video;

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::auth::care_team::Source;
use crate::db::DbConn;
use crate::domains::appointments::{self, AppointmentId};
use crate::domains::consent::{self, ConsentKind};
use crate::domains::{notifications, patients};
use crate::http::{ListResponse, Page};
use crate::kit::time::check_window;
use crate::kit::{
    Action, Actor, Arrow, Audited, DoctorId, Error, IfMatch, Machine, PatientId, Resource, Result,
    Timestamp, Tx, Validator,
};
use crate::wire_enum;

pub use chat::{
    ChatMessage, ChatSearch, ChatTicket, MessageId as ChatMessageId, NewChatMessage, CHAT,
    CHAT_TOPIC,
};
pub use routes::router;
pub use video::VideoSession;
pub use {chat::count as count_chat, chat::get as get_chat_message, chat::search as search_chat};
/// The rules of video sessions and chat, for the demo loader.
pub use {chat::post as post_message, video::end as end_session, video::start as start_session};

/// What the audit trail calls a virtual visit.
pub const VISIT: Resource = Resource::named("virtual_visit");
/// What links a visit's doctor into the patient's care team.
pub const CARE_TEAM: Source = Source::named("virtual_visit");

crate::id_type!(
    /// A virtual visit.
    VisitId
);

wire_enum!(
    /// Where a virtual visit is.
    VisitStatus of "virtual visit" {
        Scheduled = "scheduled",
        InProgress = "in_progress",
        Completed = "completed",
        Cancelled = "cancelled",
    }
);

impl VisitStatus {
    /// The statuses that hold the doctor's time (what a clash is checked against), and in
    /// which the visit's chat and video are open.
    pub const OPEN: &'static [VisitStatus] = &[VisitStatus::Scheduled, VisitStatus::InProgress];
}

/// Who moves a visit: its patient, its doctor, an admin, or the visit's first video session.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Party {
    Patient,
    Doctor,
    Admin,
    /// The first video session starting (never a PATCH).
    VideoStart,
}

const EITHER: &[Party] = &[Party::Patient, Party::Doctor, Party::Admin];

/// scheduled → in_progress (the first video session starts) → completed (the doctor);
/// scheduled | in_progress → cancelled (either party, with a reason).
pub const STATUS: Machine<'static, VisitStatus, Party> = Machine {
    arrows: &[
        Arrow {
            from: VisitStatus::Scheduled,
            to: VisitStatus::InProgress,
            by: &[Party::VideoStart],
        },
        Arrow {
            from: VisitStatus::InProgress,
            to: VisitStatus::Completed,
            by: &[Party::Doctor, Party::Admin],
        },
        Arrow {
            from: VisitStatus::Scheduled,
            to: VisitStatus::Cancelled,
            by: EITHER,
        },
        Arrow {
            from: VisitStatus::InProgress,
            to: VisitStatus::Cancelled,
            by: EITHER,
        },
    ],
};

/// No visit is longer than this.
pub const MAX_LENGTH_HOURS: i64 = 12;

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct VirtualVisit {
    pub id: VisitId,
    pub patient_id: PatientId,
    pub doctor_id: DoctorId,
    /// The appointment this visit holds, if it came from one.
    pub appointment_id: Option<AppointmentId>,
    pub scheduled_start: Timestamp,
    pub scheduled_end: Timestamp,
    pub reason: Option<String>,
    pub status: VisitStatus,
    pub cancel_reason: Option<String>,
    /// When the first video session started.
    pub started_at: Option<Timestamp>,
    /// When the visit was completed or cancelled.
    pub ended_at: Option<Timestamp>,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
    pub version: i32,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewVisit {
    pub patient_id: PatientId,
    pub doctor_id: DoctorId,
    /// An appointment of the same patient and doctor.
    pub appointment_id: Option<AppointmentId>,
    pub scheduled_start: Timestamp,
    pub scheduled_end: Timestamp,
    pub reason: Option<String>,
}

/// What a PATCH may change.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct VisitChange {
    pub scheduled_start: Option<Timestamp>,
    pub scheduled_end: Option<Timestamp>,
    pub reason: Option<String>,
    /// `cancelled` (either party) or `completed` (the doctor).
    pub status: Option<VisitStatus>,
    /// Required when cancelling.
    pub cancel_reason: Option<String>,
}

/// The filters of `GET /virtual-visits`.
#[derive(Debug, Clone, Default, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct VisitFilter {
    pub patient_id: Option<PatientId>,
    pub doctor_id: Option<DoctorId>,
    pub status: Option<VisitStatus>,
    /// Visits starting at or after (RFC 3339).
    #[param(value_type = Option<String>, format = DateTime)]
    pub from: Option<Timestamp>,
    /// Visits starting before (RFC 3339).
    #[param(value_type = Option<String>, format = DateTime)]
    pub to: Option<Timestamp>,
}

/// The caller's parties in a visit.
fn parties_of(tx: &Tx, v: &VirtualVisit) -> Vec<Party> {
    let scope = tx.scope();
    let mut parties = Vec::new();
    if scope.is_admin() {
        parties.push(Party::Admin);
    }
    if scope.is_doctor(&v.doctor_id) {
        parties.push(Party::Doctor);
    }
    if scope.is_patient(&v.patient_id) {
        parties.push(Party::Patient);
    }
    parties
}

/// 409 `booking-clash` if the doctor has another scheduled or in-progress visit overlapping
/// [start, end). The caller holds the doctor's lock.
fn check_clash(
    conn: &mut DbConn,
    doctor_id: &DoctorId,
    start: Timestamp,
    end: Timestamp,
    except: Option<&VisitId>,
) -> Result<()> {
    if store::clash(conn, doctor_id, start, end, except)? {
        return Err(Error::conflict_of(
            "booking-clash",
            "the doctor already has a virtual visit in this time",
        ));
    }
    Ok(())
}

/// Schedules a visit: the patient for themself, a doctor as the visit's doctor, or an admin
/// (`check_times`: whether to hold the times to "not in the past"; the demo loader schedules
/// in the past on purpose). Needs the patient's telemedicine consent. Clash check, insert,
/// care-team link, notification of the other party, audit entry — in the caller's transaction.
pub fn schedule(tx: &mut Tx, new: NewVisit, check_times: bool) -> Result<VirtualVisit> {
    let scope = tx.scope().clone();
    let (patient, doctor) = (new.patient_id.clone(), new.doctor_id.clone());
    let (patient, doctor) = (&patient, &doctor);
    if !scope.is_party(patient, doctor) {
        return Err(tx.deny(
            Error::forbidden("patients schedule for themselves, doctors as the visit's doctor"),
            Action::Create,
            VISIT,
            None,
            Some(patient.as_str()),
        ));
    }
    if scope.is_patient(patient) && scope.is_doctor(doctor) {
        return Err(Error::conflict(
            "a doctor does not see themselves as their own patient",
        ));
    }
    let mut v = Validator::new();
    let now = check_times.then(Timestamp::now);
    check_window(
        &mut v,
        "a virtual visit",
        ("scheduled_start", new.scheduled_start),
        ("scheduled_end", new.scheduled_end),
        MAX_LENGTH_HOURS,
        now,
    );
    v.opt_text("reason", new.reason.as_deref(), 1000);
    v.finish()?;
    patients::lock_parties(tx.conn(), patient, doctor)?;
    if let Some(appointment) = &new.appointment_id {
        match appointments::parties(tx.conn(), appointment)? {
            Some((p, d)) if &p == patient && &d == doctor => {}
            Some(_) => {
                return Err(Error::conflict(
                    "appointment_id names an appointment of another patient or doctor",
                ))
            }
            None => {
                return Err(Error::conflict(
                    "appointment_id does not name an existing appointment",
                ))
            }
        }
    }
    consent::require_consent(tx.conn(), patient, ConsentKind::Telemedicine)?;
    check_clash(
        tx.conn(),
        doctor,
        new.scheduled_start,
        new.scheduled_end,
        None,
    )?;
    let id = VisitId::generate();
    let by = tx.actor().user_id().map(str::to_string);
    store::insert(tx.conn(), &id, &new, by.as_deref())?;
    patients::join_care_team(tx, patient, doctor, CARE_TEAM)?;
    tx.record(
        Action::Create,
        VISIT,
        Some(id.as_str()),
        Some(patient.as_str()),
    )?;
    let when = new.scheduled_start.naive().format("%Y-%m-%d %H:%M UTC");
    notifications::notify_other_parties(
        tx,
        patient,
        doctor,
        "virtual_visit_scheduled",
        "Virtual visit scheduled",
        format!("A virtual visit was scheduled for {when}."),
        (VISIT, id.as_str()),
    )?;
    store::load(tx.conn(), &id)?.ok_or(Error::NotFound)
}

/// The visit, locked for the rest of the transaction, if the caller reaches it; otherwise
/// 404, audited as a refused `action` on `resource` (the visit, its sessions, its chat).
fn lock_reachable(
    tx: &mut Tx,
    id: &VisitId,
    action: Action,
    resource: Resource,
) -> Result<VirtualVisit> {
    // Concurrent changes of one visit (a PATCH, a session starting, a chat message) queue
    // here on PostgreSQL, so each sees the state the previous one left.
    store::lock(tx.conn(), id)?;
    match store::load(tx.conn(), id)? {
        Some(v) if tx.scope().is_party(&v.patient_id, &v.doctor_id) => Ok(v),
        _ => Err(tx.deny(Error::NotFound, action, resource, Some(id.as_str()), None)),
    }
}

/// The visit, if the caller reaches it (a read); otherwise 404, audited.
fn reachable(
    conn: &mut DbConn,
    actor: &Actor,
    id: &VisitId,
    resource: Resource,
) -> Result<VirtualVisit> {
    match store::load(conn, id)? {
        Some(v) if actor.scope().is_party(&v.patient_id, &v.doctor_id) => Ok(v),
        _ => Err(actor.deny(
            Error::NotFound,
            Action::Read,
            resource,
            Some(id.as_str()),
            None,
        )),
    }
}

/// 403, audited, unless the caller is the visit's patient or doctor (admins reach a visit but
/// do not take part in it).
fn require_participant(tx: &Tx, v: &VirtualVisit, resource: Resource, what: &str) -> Result<()> {
    let scope = tx.scope();
    if scope.is_patient(&v.patient_id) || scope.is_doctor(&v.doctor_id) {
        return Ok(());
    }
    Err(tx.deny(
        Error::forbidden(format!("only the visit's patient or doctor may {what}")),
        Action::Create,
        resource,
        Some(v.id.as_str()),
        Some(v.patient_id.as_str()),
    ))
}

/// 409 unless the visit is scheduled or in progress (chat and video are open only then).
fn require_open(v: &VirtualVisit, what: &str) -> Result<()> {
    if VisitStatus::OPEN.contains(&v.status) {
        return Ok(());
    }
    Err(Error::conflict_of(
        "illegal-transition",
        format!("the virtual visit is {}: {what}", v.status),
    ))
}

/// Reschedules (only while scheduled) and/or moves the status: cancel (either party, with a
/// reason) or complete (the doctor). Completing or cancelling ends a live video session. `at`
/// is now (the demo loader writes the past).
pub fn change(
    tx: &mut Tx,
    id: &VisitId,
    c: VisitChange,
    if_match: IfMatch,
    at: Timestamp,
) -> Result<VirtualVisit> {
    let mut v = Validator::new();
    v.opt_text("reason", c.reason.as_deref(), 1000);
    v.opt_text("cancel_reason", c.cancel_reason.as_deref(), 1000);
    v.finish()?;
    let current = lock_reachable(tx, id, Action::Update, VISIT)?;
    let (patient, doctor) = (current.patient_id.clone(), current.doctor_id.clone());
    let parties = parties_of(tx, &current);
    if let Some(to) = c.status {
        if STATUS.never_sets(to, &parties) {
            return Err(tx.deny(
                Error::forbidden(format!("you may not set a virtual visit to {to}")),
                Action::StateChange,
                VISIT,
                Some(id.as_str()),
                Some(patient.as_str()),
            ));
        }
    }
    if_match.check(current.version)?;
    if STATUS.is_final(current.status) {
        return Err(Error::conflict_of(
            "illegal-transition",
            format!("the virtual visit is {}, which is final", current.status),
        ));
    }
    let reschedule = c.scheduled_start.is_some() || c.scheduled_end.is_some();
    let (mut start, mut end) = (current.scheduled_start, current.scheduled_end);
    if reschedule {
        if current.status != VisitStatus::Scheduled {
            return Err(Error::conflict_of(
                "illegal-transition",
                format!(
                    "the virtual visit is {}: only a scheduled visit can be rescheduled",
                    current.status
                ),
            ));
        }
        start = c.scheduled_start.unwrap_or(start);
        end = c.scheduled_end.unwrap_or(end);
        let mut v = Validator::new();
        check_window(
            &mut v,
            "a virtual visit",
            ("scheduled_start", start),
            ("scheduled_end", end),
            MAX_LENGTH_HOURS,
            Some(Timestamp::now()),
        );
        v.finish()?;
        patients::lock_parties(tx.conn(), &patient, &doctor)?;
        check_clash(tx.conn(), &doctor, start, end, Some(id))?;
    }
    let mut changed = store::Changed {
        start,
        end,
        status: current.status,
        reason: c.reason.clone().or(current.reason.clone()),
        cancel_reason: current.cancel_reason.clone(),
        started_at: current.started_at,
        ended_at: current.ended_at,
    };
    if let Some(to) = c.status {
        let pid = Some(patient.as_str());
        STATUS.take(tx, current.status, to, &parties, VISIT, id.as_str(), pid)?;
        if to == VisitStatus::Cancelled {
            let reason = c
                .cancel_reason
                .as_deref()
                .map(str::trim)
                .filter(|r| !r.is_empty())
                .ok_or_else(|| Error::field("cancel_reason", "is required when cancelling"))?;
            changed.cancel_reason = Some(reason.to_string());
        }
        changed.status = to;
        changed.ended_at = Some(at);
        video::end_live(tx, &current, at)?;
    }
    if !store::update(tx.conn(), id, current.version, &changed)? {
        return Err(Error::Stale);
    }
    let action = if changed.status != current.status {
        Action::StateChange
    } else {
        Action::Update
    };
    tx.record(action, VISIT, Some(id.as_str()), Some(patient.as_str()))?;
    let when = start.naive().format("%Y-%m-%d %H:%M UTC");
    if changed.status == VisitStatus::Cancelled {
        let why = changed.cancel_reason.as_deref().unwrap_or_default();
        notifications::notify_other_parties(
            tx,
            &patient,
            &doctor,
            "virtual_visit_cancelled",
            "Virtual visit cancelled",
            format!("The virtual visit on {when} was cancelled: {why}"),
            (VISIT, id.as_str()),
        )?;
    } else if reschedule {
        notifications::notify_other_parties(
            tx,
            &patient,
            &doctor,
            "virtual_visit_rescheduled",
            "Virtual visit rescheduled",
            format!("The virtual visit now starts {when}."),
            (VISIT, id.as_str()),
        )?;
    }
    store::load(tx.conn(), id)?.ok_or(Error::NotFound)
}

/// One visit, if the caller reaches it.
pub fn get(conn: &mut DbConn, actor: &Actor, id: &VisitId) -> Result<Audited<VirtualVisit>> {
    let v = reachable(conn, actor, id, VISIT)?;
    let (vid, pid) = (v.id.clone(), v.patient_id.clone());
    Ok(Audited::read(v, VISIT, vid.as_str(), Some(pid.as_str())))
}

/// The visits the caller reaches that match `f`, by start time, a page of them. The page's
/// cursor is `<scheduled_start>|<id>` of its last item.
pub fn list(
    conn: &mut DbConn,
    actor: &Actor,
    f: VisitFilter,
    page: &Page,
) -> Result<Audited<ListResponse<VirtualVisit>>> {
    let after = page
        .after
        .as_deref()
        .map(Timestamp::parse_cursor)
        .transpose()?;
    let filter_patient = f.patient_id.clone();
    let rows = store::list(conn, actor.scope(), &f, after, page.limit + 1)?;
    Ok(Audited::page(
        rows,
        page.limit,
        |v| Timestamp::cursor(v.scheduled_start, v.id.as_str()),
        VISIT,
        filter_patient.as_ref(),
        |v| &v.patient_id,
    ))
}

/// How many visits the caller reaches match `f` (a FHIR search's total).
pub fn count(conn: &mut DbConn, actor: &Actor, f: &VisitFilter) -> Result<i64> {
    store::count(conn, actor.scope(), f)
}
