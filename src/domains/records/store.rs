//! The medical records' queries: `medical_records` and `medical_record_versions`.

use diesel::prelude::*;

use super::{
    MedicalRecord, NewRecord, RecordFilter, RecordId, RecordStatus, RecordType, RecordVersion,
};
use crate::db::schema::{medical_record_versions, medical_records};
use crate::db::sql::{contains_pattern, lower};
use crate::db::{new_id, now, DbConn};
use crate::domains::appointments::AppointmentId;
use crate::kit::{Condition, DoctorId, Level, PatientId, Result, Scope, Timestamp, WireEnum};

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = medical_records)]
struct RecordRow {
    id: String,
    patient_id: String,
    doctor_id: String,
    appointment_id: Option<String>,
    record_type: String,
    title: String,
    content: String,
    diagnosis_codes: String,
    status: String,
    created_at: chrono::NaiveDateTime,
    updated_at: chrono::NaiveDateTime,
    version: i32,
}

impl From<RecordRow> for MedicalRecord {
    fn from(r: RecordRow) -> MedicalRecord {
        MedicalRecord {
            id: RecordId::from_db(r.id),
            patient_id: PatientId::from_db(r.patient_id),
            doctor_id: DoctorId::from_db(r.doctor_id),
            appointment_id: r.appointment_id.map(AppointmentId::from_db),
            record_type: RecordType::parse(&r.record_type).unwrap_or(RecordType::Other),
            title: r.title,
            content: r.content,
            diagnosis_codes: serde_json::from_str(&r.diagnosis_codes).unwrap_or_default(),
            status: RecordStatus::parse(&r.status).unwrap_or(RecordStatus::Amended),
            created_at: Timestamp::from_db(r.created_at),
            updated_at: Timestamp::from_db(r.updated_at),
            version: r.version,
        }
    }
}

pub(super) fn load(conn: &mut DbConn, id: &str) -> QueryResult<Option<MedicalRecord>> {
    Ok(medical_records::table
        .find(id)
        .select(RecordRow::as_select())
        .first(conn)
        .optional()?
        .map(MedicalRecord::from))
}

/// Holds the record's row for the rest of the transaction (PostgreSQL `FOR NO KEY UPDATE`).
pub(super) fn lock(conn: &mut DbConn, id: &str) -> QueryResult<bool> {
    crate::db::sql::lock_row(conn, "medical_records", id)
}

fn codes_json(codes: &[String]) -> String {
    serde_json::to_string(codes).expect("strings always serialise")
}

pub(super) fn insert(
    conn: &mut DbConn,
    id: &RecordId,
    new: &NewRecord,
    doctor_id: &DoctorId,
) -> QueryResult<()> {
    let t = now();
    diesel::insert_into(medical_records::table)
        .values((
            medical_records::id.eq(id.as_str()),
            medical_records::patient_id.eq(new.patient_id.as_str()),
            medical_records::doctor_id.eq(doctor_id.as_str()),
            medical_records::appointment_id.eq(new.appointment_id.as_ref().map(|a| a.as_str())),
            medical_records::record_type.eq(new.record_type.as_str()),
            medical_records::title.eq(new.title.trim()),
            medical_records::content.eq(&new.content),
            medical_records::diagnosis_codes.eq(codes_json(&new.diagnosis_codes)),
            medical_records::status.eq(RecordStatus::Final.as_str()),
            medical_records::created_at.eq(t),
            medical_records::updated_at.eq(t),
            medical_records::version.eq(1),
        ))
        .execute(conn)?;
    Ok(())
}

/// What an amendment sets.
pub(super) struct Amended {
    pub record_type: RecordType,
    pub title: String,
    pub content: String,
    pub diagnosis_codes: Vec<String>,
    pub status: RecordStatus,
}

/// The versioned update of an amendment; `false` when `version` is no longer the record's.
pub(super) fn update(conn: &mut DbConn, id: &str, version: i32, a: &Amended) -> QueryResult<bool> {
    crate::update_versioned!(
        conn,
        medical_records,
        id,
        version,
        (
            t::record_type.eq(a.record_type.as_str()),
            t::title.eq(&a.title),
            t::content.eq(&a.content),
            t::diagnosis_codes.eq(codes_json(&a.diagnosis_codes)),
            t::status.eq(a.status.as_str()),
        )
    )
}

/// Keeps the record as it is now as one version of its history.
pub(super) fn snapshot(conn: &mut DbConn, id: &RecordId, user_id: &str) -> QueryResult<()> {
    let r = medical_records::table
        .find(id.as_str())
        .select(RecordRow::as_select())
        .first(conn)?;
    diesel::insert_into(medical_record_versions::table)
        .values((
            medical_record_versions::id.eq(new_id()),
            medical_record_versions::record_id.eq(&r.id),
            medical_record_versions::version.eq(r.version),
            medical_record_versions::changed_by.eq(user_id),
            medical_record_versions::changed_at.eq(r.updated_at),
            medical_record_versions::record_type.eq(&r.record_type),
            medical_record_versions::title.eq(&r.title),
            medical_record_versions::content.eq(&r.content),
            medical_record_versions::diagnosis_codes.eq(&r.diagnosis_codes),
            medical_record_versions::status.eq(&r.status),
        ))
        .execute(conn)?;
    Ok(())
}

#[derive(Queryable)]
struct VersionRow {
    version: i32,
    changed_by: String,
    changed_at: chrono::NaiveDateTime,
    record_type: String,
    title: String,
    content: String,
    diagnosis_codes: String,
    status: String,
}

pub(super) fn versions(conn: &mut DbConn, record_id: &str) -> QueryResult<Vec<RecordVersion>> {
    let rows: Vec<VersionRow> = medical_record_versions::table
        .filter(medical_record_versions::record_id.eq(record_id))
        .order(medical_record_versions::version)
        .select((
            medical_record_versions::version,
            medical_record_versions::changed_by,
            medical_record_versions::changed_at,
            medical_record_versions::record_type,
            medical_record_versions::title,
            medical_record_versions::content,
            medical_record_versions::diagnosis_codes,
            medical_record_versions::status,
        ))
        .load(conn)?;
    Ok(rows
        .into_iter()
        .map(|v| RecordVersion {
            version: v.version,
            changed_by: v.changed_by,
            changed_at: Timestamp::from_db(v.changed_at),
            record_type: RecordType::parse(&v.record_type).unwrap_or(RecordType::Other),
            title: v.title,
            content: v.content,
            diagnosis_codes: serde_json::from_str(&v.diagnosis_codes).unwrap_or_default(),
            status: RecordStatus::parse(&v.status).unwrap_or(RecordStatus::Amended),
        })
        .collect())
}

/// The records in `scope` matching `f`, by id, after `after`, at most `limit`.
pub(super) fn list(
    conn: &mut DbConn,
    scope: &Scope,
    f: &RecordFilter,
    after: Option<&str>,
    limit: i64,
) -> Result<Vec<MedicalRecord>> {
    page(conn, scope, f, None, after.map(|a| (a, false)), limit)
}

/// How many records in `scope` match `f`.
pub(super) fn count(conn: &mut DbConn, scope: &Scope, f: &RecordFilter) -> Result<i64> {
    let mut q = medical_records::table.into_boxed();
    for c in record_conditions(scope, f) {
        q = q.filter(c);
    }
    Ok(q.count().get_result(conn)?)
}

/// The records in `scope` matching `f` that state a diagnosis (codes, or type `diagnosis`),
/// by id, from `from` (`(id, inclusive)`), at most `limit`.
pub(super) fn with_diagnoses(
    conn: &mut DbConn,
    scope: &Scope,
    f: &RecordFilter,
    from: Option<(&str, bool)>,
    limit: i64,
) -> Result<Vec<MedicalRecord>> {
    page(conn, scope, f, Some(states_a_diagnosis()), from, limit)
}

/// A page of the records in `scope` matching `f` (and `also`), by id, from `from`.
fn page(
    conn: &mut DbConn,
    scope: &Scope,
    f: &RecordFilter,
    also: Option<Condition<medical_records::table>>,
    from: Option<(&str, bool)>,
    limit: i64,
) -> Result<Vec<MedicalRecord>> {
    let mut q = medical_records::table
        .select(RecordRow::as_select())
        .order(medical_records::id)
        .limit(limit)
        .into_boxed();
    for c in record_conditions(scope, f).into_iter().chain(also) {
        q = q.filter(c);
    }
    match from {
        Some((id, true)) => q = q.filter(medical_records::id.ge(id.to_string())),
        Some((id, false)) => q = q.filter(medical_records::id.gt(id.to_string())),
        None => {}
    }
    Ok(q.load::<RecordRow>(conn)?
        .into_iter()
        .map(MedicalRecord::from)
        .collect())
}

/// The type and codes of every record in `scope` matching `f` that states a diagnosis: what a
/// count of diagnoses adds up (the codes are a JSON list, which no index counts).
pub(super) fn diagnosis_lists(
    conn: &mut DbConn,
    scope: &Scope,
    f: &RecordFilter,
) -> Result<Vec<(RecordType, Vec<String>)>> {
    let mut q = medical_records::table
        .select((
            medical_records::record_type,
            medical_records::diagnosis_codes,
        ))
        .into_boxed();
    for c in record_conditions(scope, f) {
        q = q.filter(c);
    }
    q = q.filter(states_a_diagnosis());
    Ok(q.load::<(String, String)>(conn)?
        .into_iter()
        .map(|(kind, codes)| {
            (
                RecordType::parse(&kind).unwrap_or(RecordType::Other),
                serde_json::from_str(&codes).unwrap_or_default(),
            )
        })
        .collect())
}

/// A record with diagnosis codes, or of type `diagnosis`.
fn states_a_diagnosis() -> Condition<medical_records::table> {
    Box::new(
        medical_records::diagnosis_codes
            .ne("[]")
            .or(medical_records::record_type.eq(RecordType::Diagnosis.as_str())),
    )
}

/// The conditions of a record search, the same for a page and for the count.
fn record_conditions(scope: &Scope, f: &RecordFilter) -> Vec<Condition<medical_records::table>> {
    let mut out: Vec<Condition<medical_records::table>> = Vec::new();
    // The patient compartment, or the records the caller wrote.
    let own = scope.doctor_rows(medical_records::doctor_id);
    out.extend(scope.filter(Level::Clinical, medical_records::patient_id, own));
    if let Some(v) = &f.patient_id {
        out.push(Box::new(medical_records::patient_id.eq(v.to_string())));
    }
    if let Some(v) = f.record_type {
        out.push(Box::new(medical_records::record_type.eq(v.as_str())));
    }
    if let Some(v) = f.status {
        out.push(Box::new(medical_records::status.eq(v.as_str())));
    }
    if let Some(code) = &f.diagnosis_code {
        // The codes are stored as a JSON list of strings: the code in quotes is one whole
        // element (a code holds no `"`, `%` or `_`: see `validate_code`).
        out.push(Box::new(
            lower(medical_records::diagnosis_codes)
                .like(contains_pattern(&format!("\"{code}\"")))
                .escape('\\'),
        ));
    }
    if let Some(v) = f.from {
        out.push(Box::new(medical_records::created_at.ge(v.naive())));
    }
    if let Some(v) = f.to {
        out.push(Box::new(medical_records::created_at.lt(v.naive())));
    }
    out
}
