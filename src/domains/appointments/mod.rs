//! Appointments: booking with clash detection, rescheduling, and the status state machine.
//! A booking links the doctor into the patient's care team and notifies the other party, all in
//! the booking's transaction.

mod routes;
mod store;

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::auth::care_team::{self, Source};
use crate::db::DbConn;
use crate::domains::{notifications, patients};
use crate::http::{ListResponse, Page};
use crate::kit::time::check_window;
use crate::kit::{
    Action, Actor, Arrow, Audited, DoctorId, Error, IfMatch, Level, Machine, PatientId, Resource,
    Result, Scope, Timestamp, Tx, Validator,
};
use crate::wire_enum;

pub use routes::router;

/// What the audit trail calls an appointment.
pub const APPOINTMENT: Resource = Resource::named("appointment");
/// What links a booked doctor into the patient's care team.
pub const CARE_TEAM: Source = Source::named("appointment");

crate::id_type!(
    /// An appointment.
    AppointmentId
);

wire_enum!(
    /// Where an appointment is.
    AppointmentStatus of "appointment" {
        Booked = "booked",
        CheckedIn = "checked_in",
        Completed = "completed",
        Cancelled = "cancelled",
        NoShow = "no_show",
    }
);

impl AppointmentStatus {
    /// The statuses that hold a slot (what a clash is checked against).
    pub const ACTIVE: &'static [AppointmentStatus] =
        &[AppointmentStatus::Booked, AppointmentStatus::CheckedIn];
}

/// Who acts on an appointment: its patient, its doctor, or an admin. (Other doctors of the
/// patient's care team read it, and change nothing.)
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Party {
    Patient,
    Doctor,
    Admin,
}

const STAFF: &[Party] = &[Party::Doctor, Party::Admin];
const ANYONE: &[Party] = &[Party::Patient, Party::Doctor, Party::Admin];

/// booked → checked_in → completed; booked → cancelled | no_show; checked_in → cancelled.
/// The patient may only cancel.
pub const STATUS: Machine<'static, AppointmentStatus, Party> = Machine {
    arrows: &[
        Arrow {
            from: AppointmentStatus::Booked,
            to: AppointmentStatus::CheckedIn,
            by: STAFF,
        },
        Arrow {
            from: AppointmentStatus::Booked,
            to: AppointmentStatus::Cancelled,
            by: ANYONE,
        },
        Arrow {
            from: AppointmentStatus::Booked,
            to: AppointmentStatus::NoShow,
            by: STAFF,
        },
        Arrow {
            from: AppointmentStatus::CheckedIn,
            to: AppointmentStatus::Completed,
            by: STAFF,
        },
        Arrow {
            from: AppointmentStatus::CheckedIn,
            to: AppointmentStatus::Cancelled,
            by: ANYONE,
        },
    ],
};

/// No appointment is longer than this.
pub const MAX_LENGTH_HOURS: i64 = 12;

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[schema(examples(crate::http::examples::appointment))]
pub struct Appointment {
    pub id: AppointmentId,
    pub patient_id: PatientId,
    pub doctor_id: DoctorId,
    pub start_time: Timestamp,
    pub end_time: Timestamp,
    pub status: AppointmentStatus,
    pub reason: Option<String>,
    pub cancel_reason: Option<String>,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
    pub version: i32,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(examples(crate::http::examples::new_appointment))]
pub struct NewAppointment {
    pub patient_id: PatientId,
    pub doctor_id: DoctorId,
    pub start_time: Timestamp,
    pub end_time: Timestamp,
    #[schema(max_length = 1000)]
    pub reason: Option<String>,
}

/// What a PATCH may change.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(examples(crate::http::examples::appointment_change))]
pub struct AppointmentChange {
    pub start_time: Option<Timestamp>,
    pub end_time: Option<Timestamp>,
    #[schema(max_length = 1000)]
    pub reason: Option<String>,
    pub status: Option<AppointmentStatus>,
    /// Required when cancelling.
    #[schema(max_length = 1000)]
    pub cancel_reason: Option<String>,
}

/// The filters of `GET /appointments`.
#[derive(Debug, Clone, Default, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct AppointmentFilter {
    pub patient_id: Option<PatientId>,
    pub doctor_id: Option<DoctorId>,
    pub status: Option<AppointmentStatus>,
    /// Appointments starting at or after (RFC 3339).
    #[param(value_type = Option<String>, format = DateTime)]
    pub from: Option<Timestamp>,
    /// Appointments starting before (RFC 3339).
    #[param(value_type = Option<String>, format = DateTime)]
    pub to: Option<Timestamp>,
}

/// Times: end after start, at most 12 h, not in the past (as of `now`, when given).
fn validate_times(v: &mut Validator, start: Timestamp, end: Timestamp, now: Option<Timestamp>) {
    let (start, end) = (("start_time", start), ("end_time", end));
    check_window(v, "an appointment", start, end, MAX_LENGTH_HOURS, now);
}

/// 409 `booking-clash` if the doctor or the patient already has a booked or checked-in
/// appointment overlapping [start, end). The caller holds the parties' locks.
fn check_clash(
    conn: &mut DbConn,
    patient_id: &PatientId,
    doctor_id: &DoctorId,
    start: Timestamp,
    end: Timestamp,
    except: Option<&str>,
) -> Result<()> {
    match store::clash(
        conn,
        patient_id.as_str(),
        doctor_id.as_str(),
        start,
        end,
        except,
    )? {
        None => Ok(()),
        Some(d) if d == doctor_id.as_str() => Err(Error::conflict_of(
            "booking-clash",
            "the doctor already has an appointment in this time",
        )),
        Some(_) => Err(Error::conflict_of(
            "booking-clash",
            "the patient already has an appointment in this time",
        )),
    }
}

/// Books an appointment: the patient for themself, a doctor as the appointment's doctor, or an
/// admin (`check_times`: whether to hold the times to "not in the past"; the demo loader books
/// in the past on purpose). Clash check, insert, care-team link, notification of the other
/// party, audit entry — in the caller's transaction.
pub fn book(tx: &mut Tx, new: NewAppointment, check_times: bool) -> Result<Appointment> {
    let scope = tx.scope().clone();
    let (patient, doctor) = (new.patient_id.clone(), new.doctor_id.clone());
    let (patient, doctor) = (&patient, &doctor);
    if !(scope.is_admin() || scope.is_patient(patient) || scope.is_doctor(doctor)) {
        return Err(tx.deny(
            Error::forbidden("patients book for themselves, doctors as the appointment's doctor"),
            Action::Create,
            APPOINTMENT,
            None,
            Some(patient.as_str()),
        ));
    }
    if scope.is_patient(patient) && scope.is_doctor(doctor) {
        return Err(Error::conflict(
            "a doctor does not book themselves as their own patient",
        ));
    }
    let mut v = Validator::new();
    if check_times {
        validate_times(&mut v, new.start_time, new.end_time, Some(Timestamp::now()));
    }
    v.opt_text("reason", new.reason.as_deref(), 1000);
    v.finish()?;
    patients::lock_parties(tx.conn(), patient, doctor)?;
    check_clash(
        tx.conn(),
        patient,
        doctor,
        new.start_time,
        new.end_time,
        None,
    )?;
    let id = AppointmentId::generate();
    let by = tx.actor().user_id().map(str::to_string);
    store::insert(tx.conn(), &id, &new, by.as_deref())?;
    patients::join_care_team(tx, patient, doctor, CARE_TEAM)?;
    tx.record(
        Action::Create,
        APPOINTMENT,
        Some(id.as_str()),
        Some(patient.as_str()),
    )?;
    let when = new.start_time.naive().format("%Y-%m-%d %H:%M UTC");
    notifications::notify_other_parties(
        tx,
        patient,
        doctor,
        "appointment_booked",
        "Appointment booked",
        format!("An appointment was booked for {when}."),
        (APPOINTMENT, id.as_str()),
    )?;
    store::load(tx.conn(), id.as_str())?.ok_or(Error::NotFound)
}

/// The doctor who writes clinical data of a patient (a record, a lab order, ...): a doctor
/// writes as themself; an admin names `doctor_id` (422 without it). A doctor naming another is
/// 403, audited as a refused create of `resource`. Then `check_treats`.
pub fn writing_doctor(
    tx: &Tx,
    resource: Resource,
    patient: &PatientId,
    doctor_id: Option<&DoctorId>,
) -> Result<DoctorId> {
    let scope = tx.scope();
    match (scope.own_doctor(), doctor_id) {
        (Some(own), None) => Ok(own.clone()),
        (Some(own), Some(d)) if d == own => Ok(own.clone()),
        (None, Some(d)) if scope.is_admin() => Ok(d.clone()),
        (None, None) if scope.is_admin() => Err(Error::field(
            "doctor_id",
            format!(
                "is required when an admin writes a {}",
                resource.as_str().replace('_', " ")
            ),
        )),
        _ => Err(tx.deny(
            Error::forbidden(format!(
                "doctors write a {} as themselves",
                resource.as_str().replace('_', " ")
            )),
            Action::Create,
            resource,
            None,
            Some(patient.as_str()),
        )),
    }
}

/// May `doctor` write clinical data of `patient`? Both must exist (409), and the doctor must
/// be on the patient's care team or, when `appointment` is named, be its doctor; an admin may
/// always. Out of reach is 404, audited as a refused create of `resource`. Another patient's
/// appointment answers like a missing one (409), so the response never reveals it exists.
pub fn check_treats(
    tx: &mut Tx,
    resource: Resource,
    patient: &PatientId,
    doctor: &DoctorId,
    appointment: Option<&AppointmentId>,
) -> Result<()> {
    if !patients::exists(tx.conn(), patient)? {
        return Err(Error::conflict(
            "patient_id does not name an existing patient",
        ));
    }
    if !patients::doctor_exists(tx.conn(), doctor)? {
        return Err(Error::conflict(
            "doctor_id does not name an existing doctor",
        ));
    }
    let via_appointment = match appointment {
        Some(aid) => match parties(tx.conn(), aid)? {
            Some((p, d)) if &p == patient => &d == doctor,
            _ => {
                return Err(Error::conflict(
                    "appointment_id does not name an appointment of this patient",
                ))
            }
        },
        None => false,
    };
    let reach = tx.scope().is_admin()
        || via_appointment
        || care_team::on_care_team(tx.conn(), doctor, patient)?;
    if !reach {
        let p = Some(patient.as_str());
        return Err(tx.deny(Error::NotFound, Action::Create, resource, p, p));
    }
    Ok(())
}

/// Does the caller reach this appointment? Its patient's compartment, or its own doctor.
fn reaches(conn: &mut DbConn, scope: &Scope, a: &Appointment) -> Result<bool> {
    Ok(scope.reaches_object(
        conn,
        &a.patient_id,
        Level::Clinical,
        scope.is_doctor(&a.doctor_id),
    )?)
}

/// Reschedules (only while booked) and/or moves the status along its machine. Its patient may
/// reschedule and cancel; its doctor and admins may take every arrow.
pub fn change(
    tx: &mut Tx,
    id: &AppointmentId,
    c: AppointmentChange,
    if_match: IfMatch,
) -> Result<Appointment> {
    let mut v = Validator::new();
    v.opt_text("reason", c.reason.as_deref(), 1000);
    v.opt_text("cancel_reason", c.cancel_reason.as_deref(), 1000);
    v.finish()?;
    // Concurrent changes of one appointment queue here (PostgreSQL), so each sees the state
    // and version the previous one left.
    store::lock(tx.conn(), id.as_str())?;
    let scope = tx.scope().clone();
    let current = match store::load(tx.conn(), id.as_str())? {
        Some(a) if reaches(tx.conn(), &scope, &a)? => a,
        _ => {
            return Err(tx.deny(
                Error::NotFound,
                Action::Update,
                APPOINTMENT,
                Some(id.as_str()),
                None,
            ))
        }
    };
    let (patient, doctor) = (&current.patient_id, &current.doctor_id);
    let mut parties = Vec::new();
    if scope.is_admin() {
        parties.push(Party::Admin);
    }
    if scope.is_doctor(doctor) {
        parties.push(Party::Doctor);
    }
    if scope.is_patient(patient) {
        parties.push(Party::Patient);
    }
    let refuse = |tx: &Tx, why: &str| {
        tx.deny(
            Error::forbidden(why),
            Action::Update,
            APPOINTMENT,
            Some(id.as_str()),
            Some(patient.as_str()),
        )
    };
    if parties.is_empty() {
        return Err(refuse(
            tx,
            "only the appointment's patient or doctor may change it",
        ));
    }
    if let Some(to) = c.status {
        if STATUS.never_sets(to, &parties) {
            return Err(refuse(tx, "you may not set this status"));
        }
    }
    if_match.check(current.version)?;
    if STATUS.is_final(current.status) {
        return Err(Error::conflict_of(
            "illegal-transition",
            format!("a {} appointment is final", current.status),
        ));
    }
    let reschedule = c.start_time.is_some() || c.end_time.is_some();
    let (mut start, mut end) = (current.start_time, current.end_time);
    if reschedule {
        if current.status != AppointmentStatus::Booked {
            return Err(Error::conflict_of(
                "illegal-transition",
                "only a booked appointment can be rescheduled",
            ));
        }
        start = c.start_time.unwrap_or(start);
        end = c.end_time.unwrap_or(end);
        let mut v = Validator::new();
        validate_times(&mut v, start, end, Some(Timestamp::now()));
        v.finish()?;
        patients::lock_parties(tx.conn(), patient, doctor)?;
        check_clash(tx.conn(), patient, doctor, start, end, Some(id.as_str()))?;
    }
    let mut status = current.status;
    let mut cancel_reason = current.cancel_reason.clone();
    if let Some(to) = c.status {
        let (aid, pid) = (id.as_str(), Some(patient.as_str()));
        STATUS.take(tx, current.status, to, &parties, APPOINTMENT, aid, pid)?;
        if to == AppointmentStatus::Cancelled {
            let reason = c
                .cancel_reason
                .as_deref()
                .map(str::trim)
                .filter(|r| !r.is_empty())
                .ok_or_else(|| Error::field("cancel_reason", "is required when cancelling"))?;
            cancel_reason = Some(reason.to_string());
        }
        status = to;
    }
    let reason = c.reason.clone().or(current.reason.clone());
    let changed = store::Changed {
        start,
        end,
        status,
        reason,
        cancel_reason: cancel_reason.clone(),
    };
    if !store::update(tx.conn(), id.as_str(), current.version, &changed)? {
        return Err(Error::Stale);
    }
    let action = if status != current.status {
        Action::StateChange
    } else {
        Action::Update
    };
    tx.record(
        action,
        APPOINTMENT,
        Some(id.as_str()),
        Some(patient.as_str()),
    )?;
    if status == AppointmentStatus::Cancelled || reschedule {
        let when = start.naive().format("%Y-%m-%d %H:%M UTC");
        let (kind, title, body) = if status == AppointmentStatus::Cancelled {
            (
                "appointment_cancelled",
                "Appointment cancelled",
                format!(
                    "The appointment on {when} was cancelled: {}",
                    cancel_reason.as_deref().unwrap_or("")
                ),
            )
        } else {
            (
                "appointment_rescheduled",
                "Appointment rescheduled",
                format!("The appointment now starts {when}."),
            )
        };
        let about = (APPOINTMENT, id.as_str());
        notifications::notify_other_parties(tx, patient, doctor, kind, title, body, about)?;
    }
    store::load(tx.conn(), id.as_str())?.ok_or(Error::NotFound)
}

/// One appointment, if the caller reaches it.
pub fn get(conn: &mut DbConn, actor: &Actor, id: &AppointmentId) -> Result<Audited<Appointment>> {
    match store::load(conn, id.as_str())? {
        Some(a) if reaches(conn, actor.scope(), &a)? => {
            let (aid, pid) = (a.id.clone(), a.patient_id.clone());
            Ok(Audited::read(
                a,
                APPOINTMENT,
                aid.as_str(),
                Some(pid.as_str()),
            ))
        }
        _ => Err(actor.deny(
            Error::NotFound,
            Action::Read,
            APPOINTMENT,
            Some(id.as_str()),
            None,
        )),
    }
}

/// The appointments the caller reaches that match `f`, by start time, a page of them. The
/// page's cursor is `<start_time>|<id>` of its last item.
pub fn list(
    conn: &mut DbConn,
    actor: &Actor,
    f: AppointmentFilter,
    page: &Page,
) -> Result<Audited<ListResponse<Appointment>>> {
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
        |a| Timestamp::cursor(a.start_time, a.id.as_str()),
        APPOINTMENT,
        filter_patient.as_ref(),
        |a| &a.patient_id,
    ))
}

/// How many appointments the caller reaches match `f` (a FHIR search's total).
pub fn count(conn: &mut DbConn, actor: &Actor, f: &AppointmentFilter) -> Result<i64> {
    store::count(conn, actor.scope(), f)
}

/// The patient and the doctor of an appointment, if it exists (for other domains' links:
/// a record written "with an appointment with the patient").
pub fn parties(conn: &mut DbConn, id: &AppointmentId) -> Result<Option<(PatientId, DoctorId)>> {
    Ok(store::load(conn, id.as_str())?.map(|a| (a.patient_id, a.doctor_id)))
}
