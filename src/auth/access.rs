//! The patient compartment, written once for every domain.
//!
//! - admin reaches every patient;
//! - a patient user reaches only their own Patient;
//! - a doctor reaches every patient's demographics, and clinical data only of patients whose
//!   care team they are on (linked by an appointment, record, visit, order, prescription,
//!   referral, or an unexpired break-glass grant);
//! - other roles reach no patient through this check; their own domains (billing, pharmacy, lab)
//!   grant reach to their own objects.
//!
//! Single objects outside reach are 404; lists filter inside the SQL via `PatientScope`.

use diesel::dsl::{exists, select};
use diesel::prelude::*;

use super::Principal;
use crate::db::schema::care_team;
use crate::db::{new_id, now, DbConn};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Reach {
    /// Name, birth date, contact data.
    Demographics,
    /// Records, visits, labs, prescriptions, device data, ...
    Clinical,
}

/// Which patients a caller may see in a list, applied as a SQL filter.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PatientScope {
    All,
    Only(String),
    /// The patients on this doctor's care team.
    CareTeam(String),
    Nothing,
}

pub fn patient_scope(p: &Principal, reach: Reach) -> PatientScope {
    if p.is_admin {
        return PatientScope::All;
    }
    if let Some(doctor_id) = &p.doctor_id {
        return match reach {
            Reach::Demographics => PatientScope::All,
            Reach::Clinical => PatientScope::CareTeam(doctor_id.clone()),
        };
    }
    if let Some(patient_id) = &p.patient_id {
        return PatientScope::Only(patient_id.clone());
    }
    PatientScope::Nothing
}

/// Is the doctor on the patient's care team right now (break-glass grants expire)?
pub fn on_care_team(conn: &mut DbConn, doctor_id: &str, patient_id: &str) -> QueryResult<bool> {
    select(exists(
        care_team::table
            .filter(care_team::doctor_id.eq(doctor_id))
            .filter(care_team::patient_id.eq(patient_id))
            .filter(
                care_team::expires_at
                    .is_null()
                    .or(care_team::expires_at.gt(now())),
            ),
    ))
    .get_result(conn)
}

/// May this caller reach this patient at this level?
pub fn can_reach_patient(
    conn: &mut DbConn,
    p: &Principal,
    patient_id: &str,
    reach: Reach,
) -> QueryResult<bool> {
    Ok(match patient_scope(p, reach) {
        PatientScope::All => true,
        PatientScope::Only(id) => id == patient_id,
        PatientScope::CareTeam(doctor_id) => on_care_team(conn, &doctor_id, patient_id)?,
        PatientScope::Nothing => false,
    })
}

/// The ids of the patients on a doctor's care team now, as a subquery for `eq_any`.
#[diesel::dsl::auto_type(no_type_alias)]
pub fn care_team_patients(doctor_id: String, at: chrono::NaiveDateTime) -> _ {
    care_team::table
        .filter(care_team::doctor_id.eq(doctor_id))
        .filter(
            care_team::expires_at
                .is_null()
                .or(care_team::expires_at.gt(at)),
        )
        .select(care_team::patient_id)
}

/// Links a doctor into a patient's care team, in the caller's transaction. A link of the same
/// source that already exists is kept (its `since` stays the first time); `expires_at` is for
/// break-glass grants and replaces an earlier one. One upsert on the
/// `(patient_id, doctor_id, source)` unique key, so concurrent writers linking the same pair
/// never fail on each other (a select-then-insert would: the second insert hits the key).
pub fn link_care_team(
    conn: &mut DbConn,
    patient_id: &str,
    doctor_id: &str,
    source: &str,
    expires_at: Option<chrono::NaiveDateTime>,
) -> QueryResult<()> {
    use diesel::sql_types::{Nullable, Text, Timestamp};
    let on_conflict = if expires_at.is_some() {
        "DO UPDATE SET expires_at = excluded.expires_at, since = excluded.since"
    } else {
        "DO NOTHING"
    };
    diesel::sql_query(format!(
        "INSERT INTO care_team (id, patient_id, doctor_id, source, since, expires_at) \
         VALUES ($1, $2, $3, $4, $5, $6) \
         ON CONFLICT (patient_id, doctor_id, source) {on_conflict}"
    ))
    .bind::<Text, _>(new_id())
    .bind::<Text, _>(patient_id)
    .bind::<Text, _>(doctor_id)
    .bind::<Text, _>(source)
    .bind::<Timestamp, _>(now())
    .bind::<Nullable<Timestamp>, _>(expires_at)
    .execute(conn)?;
    Ok(())
}

/// Audits a list read of patient data: one `search` entry per distinct patient on the page, so
/// every patient's access log shows who listed their data; one entry naming the filtered patient
/// (or none) when the page is empty.
pub fn audit_search<'a>(
    ctx: &super::Ctx,
    resource_type: &str,
    filter_patient: Option<&str>,
    page_patients: impl IntoIterator<Item = &'a str>,
) {
    let mut seen = std::collections::BTreeSet::new();
    for pid in page_patients {
        if seen.insert(pid) {
            ctx.audit_read(resource_type, None, Some(pid));
        }
    }
    if seen.is_empty() {
        ctx.audit_read(resource_type, None, filter_patient);
    }
}
