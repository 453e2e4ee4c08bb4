//! The patients', doctors' and break-glass grants' queries.

use diesel::prelude::*;

use super::{Doctor, DoctorFilter, NewDoctor, NewPatient, Patient, PatientFilter, Sex};
use crate::db::schema::{break_glass_grants, doctors, patients};
use crate::db::sql::{contains_pattern, lower};
use crate::db::{now, DbConn};
use crate::http::Page;
use crate::kit::{
    Condition, Date, DoctorId, Level, PatientId, Result, Scope, Timestamp, UserId, WireEnum,
};

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = patients)]
struct PatientRow {
    id: String,
    mrn: String,
    user_id: Option<String>,
    given_name: String,
    family_name: String,
    birth_date: chrono::NaiveDate,
    sex: String,
    phone: Option<String>,
    email: Option<String>,
    address: Option<String>,
    created_at: chrono::NaiveDateTime,
    updated_at: chrono::NaiveDateTime,
    version: i32,
}

impl From<PatientRow> for Patient {
    fn from(r: PatientRow) -> Patient {
        Patient {
            id: PatientId::from_db(r.id),
            mrn: r.mrn,
            user_id: r.user_id.map(UserId::from_db),
            given_name: r.given_name,
            family_name: r.family_name,
            birth_date: Date::from_db(r.birth_date),
            sex: Sex::parse(&r.sex).unwrap_or(Sex::Unknown),
            phone: r.phone,
            email: r.email,
            address: r.address,
            created_at: Timestamp::from_db(r.created_at),
            updated_at: Timestamp::from_db(r.updated_at),
            version: r.version,
        }
    }
}

pub(super) fn load_patient(conn: &mut DbConn, id: &str) -> QueryResult<Option<Patient>> {
    // The hottest read (every patient read, and workload 1 of the benchmark): through the
    // backend's own connection, so the statement is found in its cache by type.
    let row = crate::on_backend!(conn, |c| patients::table
        .find(id)
        .select(PatientRow::as_select())
        .first(c)
        .optional())?;
    Ok(row.map(Patient::from))
}

pub(super) fn patient_exists(conn: &mut DbConn, id: &str) -> QueryResult<bool> {
    diesel::select(diesel::dsl::exists(patients::table.find(id))).get_result(conn)
}

pub(super) fn lock_patient(conn: &mut DbConn, id: &str) -> QueryResult<bool> {
    crate::db::sql::lock_row(conn, "patients", id)
}

/// Next MRN, from a counter row updated in the caller's transaction, so a number is never
/// handed out twice (rolled-back numbers are skipped, never reused).
fn next_mrn(conn: &mut DbConn) -> QueryResult<String> {
    let n = crate::db::sql::next_number(conn, "mrn")?;
    Ok(format!("MRN{n:08}"))
}

pub(super) fn insert_patient(
    conn: &mut DbConn,
    id: &PatientId,
    p: &NewPatient,
    user_id: Option<&str>,
) -> QueryResult<()> {
    let mrn = next_mrn(conn)?;
    let t = now();
    diesel::insert_into(patients::table)
        .values((
            patients::id.eq(id.as_str()),
            patients::mrn.eq(&mrn),
            patients::user_id.eq(user_id),
            patients::given_name.eq(p.given_name.trim()),
            patients::family_name.eq(p.family_name.trim()),
            patients::birth_date.eq(p.birth_date.naive()),
            patients::sex.eq(p.sex.as_str()),
            patients::phone.eq(&p.phone),
            patients::email.eq(&p.email),
            patients::address.eq(&p.address),
            patients::created_at.eq(t),
            patients::updated_at.eq(t),
            patients::version.eq(1),
        ))
        .execute(conn)?;
    Ok(())
}

/// A patient's fields as a change leaves them.
pub(super) struct PatientFields {
    pub given_name: String,
    pub family_name: String,
    pub birth_date: Date,
    pub sex: Sex,
    pub phone: Option<String>,
    pub email: Option<String>,
    pub address: Option<String>,
}

/// The versioned update; `false` when `version` is no longer the patient's.
pub(super) fn update_patient(
    conn: &mut DbConn,
    id: &str,
    version: i32,
    p: &PatientFields,
) -> QueryResult<bool> {
    crate::update_versioned!(
        conn,
        patients,
        id,
        version,
        (
            t::given_name.eq(&p.given_name),
            t::family_name.eq(&p.family_name),
            t::birth_date.eq(p.birth_date.naive()),
            t::sex.eq(p.sex.as_str()),
            t::phone.eq(&p.phone),
            t::email.eq(&p.email),
            t::address.eq(&p.address),
        )
    )
}

/// A page of the patients in `scope` (demographics) matching `f`, by id.
pub(super) fn list_patients(
    conn: &mut DbConn,
    scope: &Scope,
    f: &PatientFilter,
    page: &Page,
) -> Result<Vec<Patient>> {
    let mut q = patients::table
        .select(PatientRow::as_select())
        .order(patients::id)
        .limit(page.limit + 1)
        .into_boxed();
    for c in patient_conditions(scope, f) {
        q = q.filter(c);
    }
    if let Some(after) = &page.after {
        q = q.filter(patients::id.gt(after.clone()));
    }
    Ok(q.load::<PatientRow>(conn)?
        .into_iter()
        .map(Patient::from)
        .collect())
}

/// How many patients in `scope` match `f` (the total of a FHIR search).
pub(super) fn count_patients(conn: &mut DbConn, scope: &Scope, f: &PatientFilter) -> Result<i64> {
    let mut q = patients::table.into_boxed();
    for c in patient_conditions(scope, f) {
        q = q.filter(c);
    }
    Ok(q.count().get_result(conn)?)
}

/// The conditions of a patient search: the caller's reach and the filter, the same for a page
/// and for the count.
fn patient_conditions(scope: &Scope, f: &PatientFilter) -> Vec<Condition<patients::table>> {
    let mut out: Vec<Condition<patients::table>> = Vec::new();
    out.extend(scope.filter(Level::Demographics, patients::id, None));
    for word in f.q.iter().flat_map(|t| t.split_whitespace()) {
        let pattern = contains_pattern(word);
        out.push(Box::new(
            lower(patients::given_name)
                .like(pattern.clone())
                .escape('\\')
                .or(lower(patients::family_name).like(pattern).escape('\\')),
        ));
    }
    if let Some(mrn) = &f.mrn {
        out.push(Box::new(patients::mrn.eq(mrn.clone())));
    }
    if let Some(d) = f.birth_date {
        out.push(Box::new(patients::birth_date.eq(d.naive())));
    }
    out
}

pub(super) fn user_of_patient(conn: &mut DbConn, id: &str) -> QueryResult<Option<String>> {
    Ok(patients::table
        .find(id)
        .select(patients::user_id)
        .first::<Option<String>>(conn)
        .optional()?
        .flatten())
}

pub(super) fn patients_of_users(
    conn: &mut DbConn,
    user_ids: &[&str],
) -> QueryResult<std::collections::HashMap<String, String>> {
    Ok(patients::table
        .filter(patients::user_id.eq_any(user_ids))
        .select((patients::user_id.assume_not_null(), patients::id))
        .load::<(String, String)>(conn)?
        .into_iter()
        .collect())
}

pub(super) fn doctors_of_users(
    conn: &mut DbConn,
    user_ids: &[&str],
) -> QueryResult<std::collections::HashMap<String, String>> {
    Ok(doctors::table
        .filter(doctors::user_id.eq_any(user_ids))
        .select((doctors::user_id.assume_not_null(), doctors::id))
        .load::<(String, String)>(conn)?
        .into_iter()
        .collect())
}

pub(super) fn patient_of_user(conn: &mut DbConn, user_id: &str) -> QueryResult<Option<String>> {
    patients::table
        .filter(patients::user_id.eq(user_id))
        .select(patients::id)
        .first(conn)
        .optional()
}

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = doctors)]
struct DoctorRow {
    id: String,
    user_id: Option<String>,
    given_name: String,
    family_name: String,
    specialty: String,
    license_number: String,
    email: String,
    phone: Option<String>,
    created_at: chrono::NaiveDateTime,
    updated_at: chrono::NaiveDateTime,
    version: i32,
}

impl From<DoctorRow> for Doctor {
    fn from(r: DoctorRow) -> Doctor {
        Doctor {
            id: DoctorId::from_db(r.id),
            user_id: r.user_id.map(UserId::from_db),
            given_name: r.given_name,
            family_name: r.family_name,
            specialty: r.specialty,
            license_number: r.license_number,
            email: r.email,
            phone: r.phone,
            created_at: Timestamp::from_db(r.created_at),
            updated_at: Timestamp::from_db(r.updated_at),
            version: r.version,
        }
    }
}

pub(super) fn load_doctor(conn: &mut DbConn, id: &str) -> QueryResult<Option<Doctor>> {
    Ok(doctors::table
        .find(id)
        .select(DoctorRow::as_select())
        .first(conn)
        .optional()?
        .map(Doctor::from))
}

pub(super) fn doctor_exists(conn: &mut DbConn, id: &str) -> QueryResult<bool> {
    diesel::select(diesel::dsl::exists(doctors::table.find(id))).get_result(conn)
}

pub(super) fn lock_doctor(conn: &mut DbConn, id: &str) -> QueryResult<bool> {
    crate::db::sql::lock_row(conn, "doctors", id)
}

pub(super) fn insert_doctor(
    conn: &mut DbConn,
    id: &DoctorId,
    d: &NewDoctor,
    user_id: Option<&str>,
) -> QueryResult<()> {
    let t = now();
    diesel::insert_into(doctors::table)
        .values((
            doctors::id.eq(id.as_str()),
            doctors::user_id.eq(user_id),
            doctors::given_name.eq(d.given_name.trim()),
            doctors::family_name.eq(d.family_name.trim()),
            doctors::specialty.eq(d.specialty.trim()),
            doctors::license_number.eq(d.license_number.trim()),
            doctors::email.eq(d.email.trim()),
            doctors::phone.eq(&d.phone),
            doctors::created_at.eq(t),
            doctors::updated_at.eq(t),
            doctors::version.eq(1),
        ))
        .execute(conn)?;
    Ok(())
}

/// A doctor's fields as a change leaves them.
pub(super) struct DoctorFields {
    pub given_name: String,
    pub family_name: String,
    pub specialty: String,
    pub license_number: String,
    pub email: String,
    pub phone: Option<String>,
}

pub(super) fn update_doctor(
    conn: &mut DbConn,
    id: &str,
    version: i32,
    d: &DoctorFields,
) -> QueryResult<bool> {
    crate::update_versioned!(
        conn,
        doctors,
        id,
        version,
        (
            t::given_name.eq(&d.given_name),
            t::family_name.eq(&d.family_name),
            t::specialty.eq(&d.specialty),
            t::license_number.eq(&d.license_number),
            t::email.eq(&d.email),
            t::phone.eq(&d.phone),
        )
    )
}

pub(super) fn list_doctors(
    conn: &mut DbConn,
    f: &DoctorFilter,
    page: &Page,
) -> QueryResult<Vec<Doctor>> {
    let mut q = doctors::table
        .select(DoctorRow::as_select())
        .order(doctors::id)
        .limit(page.limit + 1)
        .into_boxed();
    for c in doctor_conditions(f) {
        q = q.filter(c);
    }
    if let Some(after) = &page.after {
        q = q.filter(doctors::id.gt(after.clone()));
    }
    Ok(q.load::<DoctorRow>(conn)?
        .into_iter()
        .map(Doctor::from)
        .collect())
}

/// How many doctors match `f`.
pub(super) fn count_doctors(conn: &mut DbConn, f: &DoctorFilter) -> QueryResult<i64> {
    let mut q = doctors::table.into_boxed();
    for c in doctor_conditions(f) {
        q = q.filter(c);
    }
    q.count().get_result(conn)
}

fn doctor_conditions(f: &DoctorFilter) -> Vec<Condition<doctors::table>> {
    let mut out: Vec<Condition<doctors::table>> = Vec::new();
    if let Some(s) = &f.specialty {
        out.push(Box::new(lower(doctors::specialty).eq(s.to_lowercase())));
    }
    for word in f.q.iter().flat_map(|t| t.split_whitespace()) {
        let pattern = contains_pattern(word);
        out.push(Box::new(
            lower(doctors::given_name)
                .like(pattern.clone())
                .escape('\\')
                .or(lower(doctors::family_name).like(pattern).escape('\\')),
        ));
    }
    out
}

pub(super) fn user_of_doctor(conn: &mut DbConn, id: &str) -> QueryResult<Option<String>> {
    Ok(doctors::table
        .find(id)
        .select(doctors::user_id)
        .first::<Option<String>>(conn)
        .optional()?
        .flatten())
}

pub(super) fn insert_grant(
    conn: &mut DbConn,
    id: &str,
    patient_id: &str,
    doctor_id: &str,
    reason: &str,
    expires_at: Timestamp,
) -> QueryResult<()> {
    diesel::insert_into(break_glass_grants::table)
        .values((
            break_glass_grants::id.eq(id),
            break_glass_grants::patient_id.eq(patient_id),
            break_glass_grants::doctor_id.eq(doctor_id),
            break_glass_grants::reason.eq(reason),
            break_glass_grants::created_at.eq(now()),
            break_glass_grants::expires_at.eq(expires_at.naive()),
        ))
        .execute(conn)?;
    Ok(())
}
