//! The appointments' queries.

use diesel::prelude::*;

use super::{
    Appointment, AppointmentFilter, AppointmentId, AppointmentStatus, NewAppointment,
    MAX_LENGTH_HOURS,
};
use crate::db::schema::appointments;
use crate::db::{now, DbConn};
use crate::kit::{Condition, DoctorId, Level, PatientId, Result, Scope, Timestamp, WireEnum};

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = appointments)]
struct AppointmentRow {
    id: String,
    patient_id: String,
    doctor_id: String,
    start_time: chrono::NaiveDateTime,
    end_time: chrono::NaiveDateTime,
    status: String,
    reason: Option<String>,
    cancel_reason: Option<String>,
    created_at: chrono::NaiveDateTime,
    updated_at: chrono::NaiveDateTime,
    version: i32,
}

impl From<AppointmentRow> for Appointment {
    fn from(r: AppointmentRow) -> Appointment {
        Appointment {
            id: AppointmentId::from_db(r.id),
            patient_id: PatientId::from_db(r.patient_id),
            doctor_id: DoctorId::from_db(r.doctor_id),
            start_time: Timestamp::from_db(r.start_time),
            end_time: Timestamp::from_db(r.end_time),
            status: AppointmentStatus::parse(&r.status).unwrap_or(AppointmentStatus::Cancelled),
            reason: r.reason,
            cancel_reason: r.cancel_reason,
            created_at: Timestamp::from_db(r.created_at),
            updated_at: Timestamp::from_db(r.updated_at),
            version: r.version,
        }
    }
}

pub(super) fn load(conn: &mut DbConn, id: &str) -> QueryResult<Option<Appointment>> {
    Ok(appointments::table
        .find(id)
        .select(AppointmentRow::as_select())
        .first(conn)
        .optional()?
        .map(Appointment::from))
}

/// Holds the appointment's row for the rest of the transaction (PostgreSQL `FOR NO KEY UPDATE`).
pub(super) fn lock(conn: &mut DbConn, id: &str) -> QueryResult<bool> {
    crate::db::sql::lock_row(conn, "appointments", id)
}

pub(super) fn insert(
    conn: &mut DbConn,
    id: &AppointmentId,
    new: &NewAppointment,
    created_by: Option<&str>,
) -> QueryResult<()> {
    let t = now();
    diesel::insert_into(appointments::table)
        .values((
            appointments::id.eq(id.as_str()),
            appointments::patient_id.eq(new.patient_id.as_str()),
            appointments::doctor_id.eq(new.doctor_id.as_str()),
            appointments::start_time.eq(new.start_time.naive()),
            appointments::end_time.eq(new.end_time.naive()),
            appointments::status.eq(AppointmentStatus::Booked.as_str()),
            appointments::reason.eq(&new.reason),
            appointments::created_by.eq(created_by),
            appointments::created_at.eq(t),
            appointments::updated_at.eq(t),
            appointments::version.eq(1),
        ))
        .execute(conn)?;
    Ok(())
}

/// What a change sets.
pub(super) struct Changed {
    pub start: Timestamp,
    pub end: Timestamp,
    pub status: AppointmentStatus,
    pub reason: Option<String>,
    pub cancel_reason: Option<String>,
}

/// The versioned update of a change; `false` when `version` is no longer the appointment's.
pub(super) fn update(conn: &mut DbConn, id: &str, version: i32, c: &Changed) -> QueryResult<bool> {
    crate::update_versioned!(
        conn,
        appointments,
        id,
        version,
        (
            t::start_time.eq(c.start.naive()),
            t::end_time.eq(c.end.naive()),
            t::status.eq(c.status.as_str()),
            t::reason.eq(&c.reason),
            t::cancel_reason.eq(&c.cancel_reason),
        )
    )
}

/// The doctor id of a booked or checked-in appointment of the doctor or the patient that
/// overlaps [start, end), other than `except`.
pub(super) fn clash(
    conn: &mut DbConn,
    patient_id: &str,
    doctor_id: &str,
    start: Timestamp,
    end: Timestamp,
    except: Option<&str>,
) -> QueryResult<Option<String>> {
    let active: Vec<&str> = AppointmentStatus::ACTIVE
        .iter()
        .map(|s| s.as_str())
        .collect();
    appointments::table
        .filter(
            appointments::doctor_id
                .eq(doctor_id)
                .or(appointments::patient_id.eq(patient_id)),
        )
        .filter(appointments::status.eq_any(active))
        .filter(appointments::start_time.lt(end.naive()))
        // No appointment is longer than MAX_LENGTH_HOURS, so one that overlaps [start, end)
        // started after start - MAX_LENGTH_HOURS: the lower bound lets the (doctor_id,
        // start_time) and (patient_id, start_time) indexes read only that window instead of
        // every earlier appointment of the doctor or the patient.
        .filter(
            appointments::start_time
                .gt((start - chrono::Duration::hours(MAX_LENGTH_HOURS)).naive()),
        )
        .filter(appointments::end_time.gt(start.naive()))
        .filter(appointments::id.ne(except.unwrap_or("")))
        .select(appointments::doctor_id)
        .first(conn)
        .optional()
}

/// The appointments in `scope` matching `f`, past the cursor `after`, by `(start_time, id)`,
/// at most `limit`. The compartment is part of the SQL: the patients in reach, or the caller's
/// own appointments as their doctor.
pub(super) fn list(
    conn: &mut DbConn,
    scope: &Scope,
    f: &AppointmentFilter,
    after: Option<(Timestamp, String)>,
    limit: i64,
) -> Result<Vec<Appointment>> {
    let mut q = appointments::table
        .select(AppointmentRow::as_select())
        .order((appointments::start_time, appointments::id))
        .limit(limit)
        .into_boxed();
    for c in conditions(scope, f) {
        q = q.filter(c);
    }
    if let Some((t, id)) = after {
        q = q.filter(
            appointments::start_time
                .gt(t.naive())
                .or(appointments::start_time
                    .eq(t.naive())
                    .and(appointments::id.gt(id))),
        );
    }
    Ok(q.load::<AppointmentRow>(conn)?
        .into_iter()
        .map(Appointment::from)
        .collect())
}

/// How many appointments in `scope` match `f`.
pub(super) fn count(conn: &mut DbConn, scope: &Scope, f: &AppointmentFilter) -> Result<i64> {
    let mut q = appointments::table.into_boxed();
    for c in conditions(scope, f) {
        q = q.filter(c);
    }
    Ok(q.count().get_result(conn)?)
}

/// The conditions of a search, the same for a page and for the count.
fn conditions(scope: &Scope, f: &AppointmentFilter) -> Vec<Condition<appointments::table>> {
    let mut out: Vec<Condition<appointments::table>> = Vec::new();
    let own = scope.doctor_rows(appointments::doctor_id);
    out.extend(scope.filter(Level::Clinical, appointments::patient_id, own));
    if let Some(v) = &f.patient_id {
        out.push(Box::new(appointments::patient_id.eq(v.to_string())));
    }
    if let Some(v) = &f.doctor_id {
        out.push(Box::new(appointments::doctor_id.eq(v.to_string())));
    }
    if let Some(v) = f.status {
        out.push(Box::new(appointments::status.eq(v.as_str())));
    }
    if let Some(v) = f.from {
        out.push(Box::new(appointments::start_time.ge(v.naive())));
    }
    if let Some(v) = f.to {
        out.push(Box::new(appointments::start_time.lt(v.naive())));
    }
    out
}
