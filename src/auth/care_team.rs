//! The care team: which doctors may reach a patient's clinical data, and why (`source`). Every
//! domain that links a doctor to a patient (an appointment, a record, a visit, an order, a
//! referral) writes the link here, in its own transaction; break-glass links expire. This is
//! the access layer's own table: domains call these functions, never the table.

use diesel::dsl::{exists, select};
use diesel::prelude::*;

use crate::db::schema::care_team;
use crate::db::{new_id, now, DbConn};
use crate::kit::{DoctorId, PatientId};

/// What linked a doctor to a patient.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Source(&'static str);

impl Source {
    /// A snake_case name declared by the domain that links (`appointment`, `medical_record`).
    pub const fn named(name: &'static str) -> Source {
        Source(name)
    }
    pub const fn as_str(self) -> &'static str {
        self.0
    }
}

/// Doctors who registered the patient (`POST /patients`).
pub const REGISTRATION: Source = Source::named("registration");
/// Emergency access, which expires.
pub const BREAK_GLASS: Source = Source::named("break_glass");

/// Is the doctor on the patient's care team right now (break-glass grants expire)?
pub fn on_care_team(
    conn: &mut DbConn,
    doctor_id: &DoctorId,
    patient_id: &PatientId,
) -> QueryResult<bool> {
    select(exists(
        care_team::table
            .filter(care_team::doctor_id.eq(doctor_id.as_str()))
            .filter(care_team::patient_id.eq(patient_id.as_str()))
            .filter(
                care_team::expires_at
                    .is_null()
                    .or(care_team::expires_at.gt(now())),
            ),
    ))
    .get_result(conn)
}

/// Links a doctor into a patient's care team, in the caller's transaction. A live link of the
/// same source that already exists is kept (its `since` stays the first time), an ended one
/// starts again; `expires_at` is for
/// break-glass grants and replaces an earlier one. One upsert on the
/// `(patient_id, doctor_id, source)` unique key, so concurrent writers linking the same pair
/// never fail on each other (a select-then-insert would: the second insert hits the key).
///
/// Returns whether this is the doctor's first link to the patient ever (no link of any source,
/// live or ended, before). Domains do not call this for what they create: they call
/// `patients::join_care_team`, which flags a first link the patient did not make.
pub fn link(
    conn: &mut DbConn,
    patient_id: &PatientId,
    doctor_id: &DoctorId,
    source: Source,
    expires_at: Option<chrono::NaiveDateTime>,
) -> QueryResult<bool> {
    use diesel::sql_types::{Nullable, Text, Timestamp};
    // Links are never deleted (`unlink` ends them), so any row means an earlier link.
    let linked_before: bool = select(exists(
        care_team::table
            .filter(care_team::patient_id.eq(patient_id.as_str()))
            .filter(care_team::doctor_id.eq(doctor_id.as_str())),
    ))
    .get_result(conn)?;
    let on_conflict = if expires_at.is_some() {
        "DO UPDATE SET expires_at = excluded.expires_at, since = excluded.since"
    } else {
        // A link that `unlink` ended comes back; a live one keeps its first `since`.
        "DO UPDATE SET expires_at = NULL, since = excluded.since \
         WHERE care_team.expires_at IS NOT NULL"
    };
    diesel::sql_query(format!(
        "INSERT INTO care_team (id, patient_id, doctor_id, source, since, expires_at) \
         VALUES ($1, $2, $3, $4, $5, $6) \
         ON CONFLICT (patient_id, doctor_id, source) {on_conflict}"
    ))
    .bind::<Text, _>(new_id())
    .bind::<Text, _>(patient_id.as_str())
    .bind::<Text, _>(doctor_id.as_str())
    .bind::<Text, _>(source.as_str())
    .bind::<Timestamp, _>(now())
    .bind::<Nullable<Timestamp>, _>(expires_at)
    .execute(conn)?;
    Ok(!linked_before)
}

/// Ends the doctor's link of one `source` on the patient's care team now (a rejected referral),
/// leaving every other source's link alone: a doctor kept on the team by an appointment stays.
pub fn unlink(
    conn: &mut DbConn,
    patient_id: &PatientId,
    doctor_id: &DoctorId,
    source: Source,
) -> QueryResult<()> {
    let at = now();
    diesel::update(
        care_team::table
            .filter(care_team::patient_id.eq(patient_id.as_str()))
            .filter(care_team::doctor_id.eq(doctor_id.as_str()))
            .filter(care_team::source.eq(source.as_str()))
            .filter(
                care_team::expires_at
                    .is_null()
                    .or(care_team::expires_at.gt(at)),
            ),
    )
    .set(care_team::expires_at.eq(Some(at)))
    .execute(conn)?;
    Ok(())
}

/// One current link of a patient's care team.
#[derive(Debug, Clone, Queryable)]
pub struct Member {
    pub doctor_id: String,
    pub since: chrono::NaiveDateTime,
    pub source: String,
    pub expires_at: Option<chrono::NaiveDateTime>,
}

/// The patient's current links, oldest first (expired break-glass links left out).
pub fn members(conn: &mut DbConn, patient_id: &PatientId) -> QueryResult<Vec<Member>> {
    care_team::table
        .filter(care_team::patient_id.eq(patient_id.as_str()))
        .filter(
            care_team::expires_at
                .is_null()
                .or(care_team::expires_at.gt(now())),
        )
        .order(care_team::since)
        .select((
            care_team::doctor_id,
            care_team::since,
            care_team::source,
            care_team::expires_at,
        ))
        .load(conn)
}

/// The doctors of the patient's care team now, each once however many links bind them
/// (a doctor who booked, wrote a record and ordered a test is one member, not three).
pub fn doctors(conn: &mut DbConn, patient_id: &PatientId) -> QueryResult<Vec<String>> {
    let mut doctors: Vec<String> = members(conn, patient_id)?
        .into_iter()
        .map(|m| m.doctor_id)
        .collect();
    doctors.sort();
    doctors.dedup();
    Ok(doctors)
}
