//! Appointments: booking with clash detection, rescheduling, and the status state machine.
//! Booking links the doctor into the patient's care team and notifies the other party, all in
//! the booking's transaction.

pub mod routes;

use chrono::NaiveDateTime;
use diesel::prelude::*;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::auth::access::{care_team_patients, link_care_team};
use crate::auth::{Ctx, Principal};
use crate::db::schema::appointments;
use crate::db::{lock_row, new_id, now, DbConn, Tx};
use crate::domains::notifications::{notify_doctor, notify_patient};
use crate::http::{utc, ApiError, Validator};

pub const BOOKED: &str = "booked";
pub const CHECKED_IN: &str = "checked_in";
pub const COMPLETED: &str = "completed";
pub const CANCELLED: &str = "cancelled";
pub const NO_SHOW: &str = "no_show";
pub const STATUSES: &[&str] = &[BOOKED, CHECKED_IN, COMPLETED, CANCELLED, NO_SHOW];
/// Statuses that hold a slot (used by the clash check).
pub const ACTIVE: &[&str] = &[BOOKED, CHECKED_IN];

/// The appointment state machine: every allowed (from, to). Anything else is 409.
pub const TRANSITIONS: &[(&str, &str)] = &[
    (BOOKED, CHECKED_IN),
    (BOOKED, CANCELLED),
    (BOOKED, NO_SHOW),
    (CHECKED_IN, COMPLETED),
    (CHECKED_IN, CANCELLED),
];

/// Statuses nothing leaves: the appointment can no longer be changed at all.
pub const FINAL: &[&str] = &[COMPLETED, CANCELLED, NO_SHOW];

/// `(from, to)` must be one of `TRANSITIONS`; staying in the same status is no transition.
pub fn check_transition(from: &str, to: &str) -> Result<(), ApiError> {
    if TRANSITIONS.contains(&(from, to)) {
        Ok(())
    } else {
        Err(ApiError::new(
            axum::http::StatusCode::CONFLICT,
            "illegal-transition",
            format!("an appointment cannot go from {from} to {to}"),
        ))
    }
}

pub const MAX_LENGTH_HOURS: i64 = 12;

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct Appointment {
    pub id: String,
    pub patient_id: String,
    pub doctor_id: String,
    pub start_time: chrono::DateTime<chrono::Utc>,
    pub end_time: chrono::DateTime<chrono::Utc>,
    /// `booked`, `checked_in`, `completed`, `cancelled`, `no_show`.
    pub status: String,
    pub reason: Option<String>,
    pub cancel_reason: Option<String>,
    pub created_at: chrono::DateTime<chrono::Utc>,
    pub updated_at: chrono::DateTime<chrono::Utc>,
    pub version: i32,
}

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = appointments)]
pub struct AppointmentRow {
    pub id: String,
    pub patient_id: String,
    pub doctor_id: String,
    pub start_time: NaiveDateTime,
    pub end_time: NaiveDateTime,
    pub status: String,
    pub reason: Option<String>,
    pub cancel_reason: Option<String>,
    pub created_at: NaiveDateTime,
    pub updated_at: NaiveDateTime,
    pub version: i32,
}

impl From<AppointmentRow> for Appointment {
    fn from(r: AppointmentRow) -> Appointment {
        Appointment {
            id: r.id,
            patient_id: r.patient_id,
            doctor_id: r.doctor_id,
            start_time: utc(r.start_time),
            end_time: utc(r.end_time),
            status: r.status,
            reason: r.reason,
            cancel_reason: r.cancel_reason,
            created_at: utc(r.created_at),
            updated_at: utc(r.updated_at),
            version: r.version,
        }
    }
}

pub fn load_row(conn: &mut DbConn, id: &str) -> QueryResult<Option<AppointmentRow>> {
    appointments::table
        .find(id)
        .select(AppointmentRow::as_select())
        .first(conn)
        .optional()
}

/// Times: end after start, at most 12 h, not in the past (as of `now`).
pub fn validate_times(
    v: &mut Validator,
    start: NaiveDateTime,
    end: NaiveDateTime,
    now: NaiveDateTime,
) {
    if end <= start {
        v.error("end_time", "must be after start_time");
    } else if end - start > chrono::Duration::hours(MAX_LENGTH_HOURS) {
        v.error("end_time", "an appointment is at most 12 hours long");
    }
    // One minute of grace for clock skew between client and server.
    if start < now - chrono::Duration::minutes(1) {
        v.error("start_time", "must not be in the past");
    }
}

/// 409 if the doctor or the patient already has a booked/checked-in appointment overlapping
/// [start, end). The caller holds the write lock (SQLite) or the row locks (PostgreSQL).
fn check_clash(
    conn: &mut DbConn,
    patient_id: &str,
    doctor_id: &str,
    start: NaiveDateTime,
    end: NaiveDateTime,
    except_id: Option<&str>,
) -> Result<(), ApiError> {
    let clash: Option<(String, String)> = appointments::table
        .filter(
            appointments::doctor_id
                .eq(doctor_id)
                .or(appointments::patient_id.eq(patient_id)),
        )
        .filter(appointments::status.eq_any(ACTIVE))
        .filter(appointments::start_time.lt(end))
        // No appointment is longer than MAX_LENGTH_HOURS, so one that overlaps [start, end)
        // started after start - MAX_LENGTH_HOURS: the lower bound lets the (doctor_id,
        // start_time) and (patient_id, start_time) indexes read only that window instead of
        // every earlier appointment of the doctor or the patient.
        .filter(appointments::start_time.gt(start - chrono::Duration::hours(MAX_LENGTH_HOURS)))
        .filter(appointments::end_time.gt(start))
        .filter(appointments::id.ne(except_id.unwrap_or("")))
        .select((appointments::doctor_id, appointments::id))
        .first(conn)
        .optional()?;
    match clash {
        None => Ok(()),
        Some((d, _)) if d == doctor_id => Err(ApiError::new(
            axum::http::StatusCode::CONFLICT,
            "booking-clash",
            "the doctor already has an appointment in this time",
        )),
        Some(_) => Err(ApiError::new(
            axum::http::StatusCode::CONFLICT,
            "booking-clash",
            "the patient already has an appointment in this time",
        )),
    }
}

/// Locks the doctor and patient rows (PostgreSQL) so that two concurrent bookings for the same
/// people serialise and the second sees the first. Doctor first, then patient: one order, no
/// deadlock. On SQLite `BEGIN IMMEDIATE` already serialises writers.
fn lock_parties(conn: &mut DbConn, patient_id: &str, doctor_id: &str) -> Result<(), ApiError> {
    if !lock_row(conn, "doctors", doctor_id)? {
        return Err(ApiError::conflict(
            "doctor_id does not name an existing doctor",
        ));
    }
    if !lock_row(conn, "patients", patient_id)? {
        return Err(ApiError::conflict(
            "patient_id does not name an existing patient",
        ));
    }
    Ok(())
}

pub struct NewAppointment {
    pub patient_id: String,
    pub doctor_id: String,
    pub start_time: NaiveDateTime,
    pub end_time: NaiveDateTime,
    pub reason: Option<String>,
}

/// Books an appointment in the caller's transaction: clash check, insert, care-team link,
/// notification of the other party, audit entry. Time validation is the caller's (the demo
/// loader books in the past on purpose).
pub fn book(tx: &mut Tx, ctx: &Ctx, new: &NewAppointment) -> Result<Appointment, ApiError> {
    lock_parties(tx.conn, &new.patient_id, &new.doctor_id)?;
    check_clash(
        tx.conn,
        &new.patient_id,
        &new.doctor_id,
        new.start_time,
        new.end_time,
        None,
    )?;
    let id = new_id();
    let t = now();
    diesel::insert_into(appointments::table)
        .values((
            appointments::id.eq(&id),
            appointments::patient_id.eq(&new.patient_id),
            appointments::doctor_id.eq(&new.doctor_id),
            appointments::start_time.eq(new.start_time),
            appointments::end_time.eq(new.end_time),
            appointments::status.eq(BOOKED),
            appointments::reason.eq(&new.reason),
            appointments::created_by.eq(ctx.user_id()),
            appointments::created_at.eq(t),
            appointments::updated_at.eq(t),
            appointments::version.eq(1),
        ))
        .execute(tx.conn)?;
    link_care_team(
        tx.conn,
        &new.patient_id,
        &new.doctor_id,
        "appointment",
        None,
    )?;
    crate::audit::record(
        tx.conn,
        &ctx.entry("create", "appointment", Some(&id), Some(&new.patient_id)),
    )?;
    let when = new.start_time.format("%Y-%m-%d %H:%M UTC");
    let by_patient = ctx.principal.patient_id.as_deref() == Some(new.patient_id.as_str());
    let by_doctor = ctx.principal.doctor_id.as_deref() == Some(new.doctor_id.as_str());
    if !by_doctor {
        notify_doctor(
            tx,
            &new.doctor_id,
            "appointment_booked",
            "New appointment".into(),
            format!("An appointment was booked with you for {when}."),
            ("appointment", &id),
        )?;
    }
    if !by_patient {
        notify_patient(
            tx,
            &new.patient_id,
            "appointment_booked",
            "Appointment booked".into(),
            format!("An appointment was booked for you on {when}."),
            ("appointment", &id),
        )?;
    }
    let row = load_row(tx.conn, &id)?.ok_or_else(ApiError::not_found)?;
    Ok(row.into())
}

/// What a PATCH may change.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AppointmentChange {
    pub start_time: Option<chrono::DateTime<chrono::Utc>>,
    pub end_time: Option<chrono::DateTime<chrono::Utc>>,
    pub reason: Option<String>,
    pub status: Option<String>,
    /// Required when cancelling.
    pub cancel_reason: Option<String>,
}

/// Applies a reschedule and/or a status change in the caller's transaction. The caller has
/// checked who may do it and the `If-Match` version.
pub fn change(
    tx: &mut Tx,
    ctx: &Ctx,
    current: &AppointmentRow,
    c: &AppointmentChange,
) -> Result<Appointment, ApiError> {
    if FINAL.contains(&current.status.as_str()) {
        return Err(ApiError::new(
            axum::http::StatusCode::CONFLICT,
            "illegal-transition",
            format!("a {} appointment is final", current.status),
        ));
    }
    let reschedule = c.start_time.is_some() || c.end_time.is_some();
    let mut start = current.start_time;
    let mut end = current.end_time;
    if reschedule {
        if current.status != BOOKED {
            return Err(ApiError::new(
                axum::http::StatusCode::CONFLICT,
                "illegal-transition",
                "only a booked appointment can be rescheduled",
            ));
        }
        start = c.start_time.map(|t| t.naive_utc()).unwrap_or(start);
        end = c.end_time.map(|t| t.naive_utc()).unwrap_or(end);
        let mut v = Validator::new();
        validate_times(&mut v, start, end, now());
        v.finish()?;
        lock_parties(tx.conn, &current.patient_id, &current.doctor_id)?;
        check_clash(
            tx.conn,
            &current.patient_id,
            &current.doctor_id,
            start,
            end,
            Some(&current.id),
        )?;
    }
    let mut status = current.status.clone();
    let mut cancel_reason = current.cancel_reason.clone();
    if let Some(to) = &c.status {
        check_transition(&current.status, to)?;
        if to == CANCELLED {
            let reason = c
                .cancel_reason
                .as_deref()
                .map(str::trim)
                .filter(|r| !r.is_empty())
                .ok_or_else(|| ApiError::field("cancel_reason", "is required when cancelling"))?;
            cancel_reason = Some(reason.to_string());
        }
        status = to.clone();
    }
    let reason = c.reason.clone().or(current.reason.clone());
    diesel::update(appointments::table.find(&current.id))
        .set((
            appointments::start_time.eq(start),
            appointments::end_time.eq(end),
            appointments::status.eq(&status),
            appointments::reason.eq(&reason),
            appointments::cancel_reason.eq(&cancel_reason),
            appointments::updated_at.eq(now()),
            appointments::version.eq(current.version + 1),
        ))
        .execute(tx.conn)?;
    let action = if status != current.status {
        "state_change"
    } else {
        "update"
    };
    crate::audit::record(
        tx.conn,
        &ctx.entry(
            action,
            "appointment",
            Some(&current.id),
            Some(&current.patient_id),
        ),
    )?;
    if status == CANCELLED || reschedule {
        let (kind, title, body) = if status == CANCELLED {
            (
                "appointment_cancelled",
                "Appointment cancelled",
                format!(
                    "The appointment on {} was cancelled: {}",
                    start.format("%Y-%m-%d %H:%M UTC"),
                    cancel_reason.as_deref().unwrap_or("")
                ),
            )
        } else {
            (
                "appointment_rescheduled",
                "Appointment rescheduled",
                format!(
                    "The appointment now starts {}.",
                    start.format("%Y-%m-%d %H:%M UTC")
                ),
            )
        };
        let by_patient = ctx.principal.patient_id.as_deref() == Some(current.patient_id.as_str());
        let by_doctor = ctx.principal.doctor_id.as_deref() == Some(current.doctor_id.as_str());
        if !by_doctor {
            notify_doctor(
                tx,
                &current.doctor_id,
                kind,
                title.into(),
                body.clone(),
                ("appointment", &current.id),
            )?;
        }
        if !by_patient {
            notify_patient(
                tx,
                &current.patient_id,
                kind,
                title.into(),
                body,
                ("appointment", &current.id),
            )?;
        }
    }
    let row = load_row(tx.conn, &current.id)?.ok_or_else(ApiError::not_found)?;
    Ok(row.into())
}

/// The filters of an appointment list, parsed and validated by the route.
#[derive(Debug, Default)]
pub struct ListFilter {
    pub patient_id: Option<String>,
    pub doctor_id: Option<String>,
    pub status: Option<String>,
    /// Starting at or after.
    pub from: Option<NaiveDateTime>,
    /// Starting before.
    pub to: Option<NaiveDateTime>,
    /// Past this `(start_time, id)` (the page cursor).
    pub after: Option<(NaiveDateTime, String)>,
}

/// The appointments `p` may see that match `f`, by `(start_time, id)`, at most `limit`. The
/// compartment rule is part of the SQL: admin all; a patient their own; a doctor their own and
/// those of patients on their care team; anyone else nothing.
pub fn list_visible(
    conn: &mut DbConn,
    p: &Principal,
    f: ListFilter,
    limit: i64,
) -> QueryResult<Vec<AppointmentRow>> {
    let mut q = appointments::table
        .select(AppointmentRow::as_select())
        .order((appointments::start_time, appointments::id))
        .limit(limit)
        .into_boxed();
    if !p.is_admin {
        if let Some(pid) = &p.patient_id {
            q = q.filter(appointments::patient_id.eq(pid.clone()));
        } else if let Some(d) = &p.doctor_id {
            q = q.filter(
                appointments::doctor_id
                    .eq(d.clone())
                    .or(appointments::patient_id.eq_any(care_team_patients(d.clone(), now()))),
            );
        } else {
            return Ok(Vec::new());
        }
    }
    if let Some((t, id)) = f.after {
        q = q.filter(
            appointments::start_time
                .gt(t)
                .or(appointments::start_time.eq(t).and(appointments::id.gt(id))),
        );
    }
    if let Some(v) = f.patient_id {
        q = q.filter(appointments::patient_id.eq(v));
    }
    if let Some(v) = f.doctor_id {
        q = q.filter(appointments::doctor_id.eq(v));
    }
    if let Some(v) = f.status {
        q = q.filter(appointments::status.eq(v));
    }
    if let Some(v) = f.from {
        q = q.filter(appointments::start_time.ge(v));
    }
    if let Some(v) = f.to {
        q = q.filter(appointments::start_time.lt(v));
    }
    q.load(conn)
}
