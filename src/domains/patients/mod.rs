//! Patients and doctors, and the care team that links them (with break-glass emergency
//! access). The care team itself is the access layer's (`auth::care_team`); this domain serves
//! it and grants break-glass.

mod routes;
mod store;

use std::collections::HashMap;

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::auth::care_team::{self, Source, BREAK_GLASS, REGISTRATION};
use crate::auth::permissions::{DOCTOR, PATIENT};
use crate::db::sql::UniqueKey;
use crate::db::DbConn;
use crate::domains::{accounts, notifications};
use crate::http::{ListResponse, Page};
use crate::kit::{
    Action, Actor, Audited, Date, DoctorId, Error, IfMatch, Level, PatientId, Resource, Result,
    Timestamp, Tx, UniqueExt, UserId, Validator,
};
use crate::wire_enum;

pub use routes::router;

/// What the audit trail calls a patient, a doctor, and a patient's care team.
pub const PATIENT_RECORD: Resource = Resource::named("patient");
pub const DOCTOR_RECORD: Resource = Resource::named("doctor");
pub const CARE_TEAM: Resource = Resource::named("care_team");

const PATIENT_USER: UniqueKey = UniqueKey {
    table: "patients",
    columns: &["user_id"],
};
const DOCTOR_USER: UniqueKey = UniqueKey {
    table: "doctors",
    columns: &["user_id"],
};
const LICENSE: UniqueKey = UniqueKey {
    table: "doctors",
    columns: &["license_number"],
};

wire_enum!(
    /// Administrative sex.
    Sex of "patient" {
        Female = "female",
        Male = "male",
        Other = "other",
        Unknown = "unknown",
    }
);

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[schema(examples(crate::http::examples::patient))]
pub struct Patient {
    pub id: PatientId,
    /// Medical record number: generated, unique, never reused.
    pub mrn: String,
    pub user_id: Option<UserId>,
    pub given_name: String,
    pub family_name: String,
    pub birth_date: Date,
    pub sex: Sex,
    pub phone: Option<String>,
    pub email: Option<String>,
    pub address: Option<String>,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
    pub version: i32,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[schema(examples(crate::http::examples::doctor))]
pub struct Doctor {
    pub id: DoctorId,
    pub user_id: Option<UserId>,
    pub given_name: String,
    pub family_name: String,
    pub specialty: String,
    pub license_number: String,
    pub email: String,
    pub phone: Option<String>,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
    pub version: i32,
}

/// A patient's demographics as created (`POST /patients`, registration, the demo loader).
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(examples(crate::http::examples::new_patient))]
pub struct NewPatient {
    #[schema(min_length = 1, max_length = 100)]
    pub given_name: String,
    #[schema(min_length = 1, max_length = 100)]
    pub family_name: String,
    pub birth_date: Date,
    pub sex: Sex,
    #[schema(max_length = 40)]
    pub phone: Option<String>,
    pub email: Option<String>,
    #[schema(max_length = 500)]
    pub address: Option<String>,
    /// Links an existing account that holds the `patient` role and has no patient record yet
    /// (admin only).
    pub user_id: Option<UserId>,
}

#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PatientChange {
    #[schema(min_length = 1, max_length = 100)]
    pub given_name: Option<String>,
    #[schema(min_length = 1, max_length = 100)]
    pub family_name: Option<String>,
    pub birth_date: Option<Date>,
    pub sex: Option<Sex>,
    #[schema(max_length = 40)]
    pub phone: Option<String>,
    pub email: Option<String>,
    #[schema(max_length = 500)]
    pub address: Option<String>,
}

impl PatientChange {
    /// Does it touch more than contact data (all a patient may change of themself)?
    fn beyond_contact(&self) -> bool {
        self.given_name.is_some()
            || self.family_name.is_some()
            || self.birth_date.is_some()
            || self.sex.is_some()
    }
}

#[derive(Debug, Clone, Default, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct PatientFilter {
    /// Matches given or family name (every word must match one of them).
    pub q: Option<String>,
    pub mrn: Option<String>,
    #[param(value_type = Option<String>, format = Date)]
    pub birth_date: Option<Date>,
}

#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(examples(crate::http::examples::new_doctor))]
pub struct NewDoctor {
    #[schema(min_length = 1, max_length = 100)]
    pub given_name: String,
    #[schema(min_length = 1, max_length = 100)]
    pub family_name: String,
    #[schema(min_length = 1, max_length = 100)]
    pub specialty: String,
    #[schema(min_length = 3, max_length = 50)]
    pub license_number: String,
    pub email: String,
    #[schema(max_length = 40)]
    pub phone: Option<String>,
    /// Link an existing account (it gains the `doctor` role).
    pub user_id: Option<UserId>,
    /// Or create a login for the doctor with this password (email as login).
    #[schema(min_length = 10, max_length = 128)]
    pub password: Option<String>,
}

#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DoctorChange {
    #[schema(min_length = 1, max_length = 100)]
    pub given_name: Option<String>,
    #[schema(min_length = 1, max_length = 100)]
    pub family_name: Option<String>,
    #[schema(min_length = 1, max_length = 100)]
    pub specialty: Option<String>,
    /// Admin only.
    #[schema(min_length = 3, max_length = 50)]
    pub license_number: Option<String>,
    pub email: Option<String>,
    #[schema(max_length = 40)]
    pub phone: Option<String>,
}

#[derive(Debug, Clone, Default, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct DoctorFilter {
    pub specialty: Option<String>,
    /// Matches given or family name.
    pub q: Option<String>,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct CareTeamMember {
    pub doctor_id: DoctorId,
    pub since: Timestamp,
    /// What linked them: `appointment`, `medical_record`, `referral`, `break_glass`, ...
    pub source: String,
    /// Only break-glass links expire.
    pub expires_at: Option<Timestamp>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct BreakGlassRequest {
    /// Why access is needed now; at least 10 characters.
    #[schema(min_length = 10, max_length = 1000)]
    pub reason: String,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct BreakGlassGrant {
    pub id: String,
    pub patient_id: PatientId,
    pub doctor_id: DoctorId,
    pub reason: String,
    pub expires_at: Timestamp,
}

fn validate_names(v: &mut Validator, given: Option<&str>, family: Option<&str>) {
    if let Some(g) = given {
        v.text("given_name", g, 1, 100);
    }
    if let Some(f) = family {
        v.text("family_name", f, 1, 100);
    }
}

fn validate_birth_date(v: &mut Validator, d: Date) {
    v.check(
        d <= Date::today(),
        "birth_date",
        "must not be in the future",
    );
    v.check(
        d.naive() >= chrono::NaiveDate::from_ymd_opt(1880, 1, 1).expect("valid date"),
        "birth_date",
        "is implausibly early",
    );
}

fn validate_contact(
    v: &mut Validator,
    phone: Option<&str>,
    email: Option<&str>,
    address: Option<&str>,
) {
    v.opt_text("phone", phone, 40);
    if let Some(e) = email {
        v.email("email", e);
    }
    v.opt_text("address", address, 500);
}

/// Checks a new patient's demographics (`POST /patients`, registration).
pub fn validate_patient(v: &mut Validator, p: &NewPatient) {
    validate_names(v, Some(&p.given_name), Some(&p.family_name));
    validate_birth_date(v, p.birth_date);
    validate_contact(
        v,
        p.phone.as_deref(),
        p.email.as_deref(),
        p.address.as_deref(),
    );
}

/// Creates a patient in the caller's transaction, linked to `user_id` (the account must exist
/// and have no patient record; the callers check who may link). No audit entry: the caller
/// records the act it is part of.
pub fn insert_patient(tx: &mut Tx, p: &NewPatient, user_id: Option<&str>) -> Result<Patient> {
    let id = PatientId::generate();
    store::insert_patient(tx.conn(), &id, p, user_id)
        .unique(PATIENT_USER, "this user already has a patient record")?;
    store::load_patient(tx.conn(), id.as_str())?.ok_or(Error::NotFound)
}

/// `POST /patients`: an admin or a doctor registers a patient; a doctor joins their care team.
/// Only an admin links the record to an account, which must hold the `patient` role and have
/// no record yet.
pub fn create_patient(tx: &mut Tx, p: NewPatient) -> Result<Patient> {
    let scope = tx.scope().clone();
    if !scope.is_admin() && scope.own_doctor().is_none() {
        return Err(tx.deny(
            Error::forbidden("only admins and doctors register patients"),
            Action::Create,
            PATIENT_RECORD,
            None,
            None,
        ));
    }
    if p.user_id.is_some() && !scope.is_admin() {
        return Err(tx.deny(
            Error::forbidden("only an admin links a patient record to an account"),
            Action::Create,
            PATIENT_RECORD,
            None,
            None,
        ));
    }
    let mut v = Validator::new();
    validate_patient(&mut v, &p);
    v.finish()?;
    if let Some(uid) = &p.user_id {
        if !accounts::user_exists(tx.conn(), uid)? {
            return Err(Error::conflict("user_id does not name an existing user"));
        }
        if !accounts::has_role(tx.conn(), uid, PATIENT)? {
            return Err(Error::conflict(
                "user_id names an account without the patient role",
            ));
        }
    }
    let user = p.user_id.as_ref().map(|u| u.as_str().to_string());
    let patient = insert_patient(tx, &p, user.as_deref())?;
    if let Some(doctor) = scope.own_doctor() {
        care_team::link(tx.conn(), &patient.id, doctor, REGISTRATION, None)?;
    }
    let pid = patient.id.clone();
    tx.record(
        Action::Create,
        PATIENT_RECORD,
        Some(pid.as_str()),
        Some(pid.as_str()),
    )?;
    Ok(patient)
}

/// One patient's demographics, if the caller reaches them.
pub fn get_patient(conn: &mut DbConn, actor: &Actor, id: &PatientId) -> Result<Audited<Patient>> {
    let found = if actor.scope().reaches(conn, id, Level::Demographics)? {
        store::load_patient(conn, id.as_str())?
    } else {
        None
    };
    match found {
        Some(p) => Ok(Audited::read(
            p,
            PATIENT_RECORD,
            id.as_str(),
            Some(id.as_str()),
        )),
        None => Err(actor.deny(
            Error::NotFound,
            Action::Read,
            PATIENT_RECORD,
            Some(id.as_str()),
            Some(id.as_str()),
        )),
    }
}

/// The patients the caller reaches that match `f`: admins and doctors see every patient's
/// demographics, a patient themself.
pub fn list_patients(
    conn: &mut DbConn,
    actor: &Actor,
    f: PatientFilter,
    page: &Page,
) -> Result<Audited<ListResponse<Patient>>> {
    let rows = store::list_patients(conn, actor.scope(), &f, page)?;
    let list = ListResponse::from_rows(rows, page.limit, |p| p.id.to_string());
    let ids: Vec<String> = list.items.iter().map(|p| p.id.to_string()).collect();
    // One entry per patient listed, so each patient's access log shows who found them.
    Ok(Audited::search(
        list,
        PATIENT_RECORD,
        None,
        ids.iter().map(String::as_str),
    ))
}

/// How many patients the caller reaches match `f` (a FHIR search's total; the page itself is
/// read, and audited, by `list_patients`).
pub fn count_patients(conn: &mut DbConn, actor: &Actor, f: &PatientFilter) -> Result<i64> {
    store::count_patients(conn, actor.scope(), f)
}

/// Changes a patient: an admin anything; a doctor on the care team anything; the patient only
/// contact data. A doctor off the care team, who sees the demographics, gets 403.
pub fn change_patient(
    tx: &mut Tx,
    id: &PatientId,
    c: PatientChange,
    if_match: IfMatch,
) -> Result<Patient> {
    let mut v = Validator::new();
    validate_names(&mut v, c.given_name.as_deref(), c.family_name.as_deref());
    if let Some(d) = c.birth_date {
        validate_birth_date(&mut v, d);
    }
    validate_contact(
        &mut v,
        c.phone.as_deref(),
        c.email.as_deref(),
        c.address.as_deref(),
    );
    v.finish()?;
    let pid = id.as_str();
    let scope = tx.scope().clone();
    let refuse = |tx: &Tx, why: &str| {
        tx.deny(
            Error::forbidden(why),
            Action::Update,
            PATIENT_RECORD,
            Some(pid),
            Some(pid),
        )
    };
    // Held to commit: concurrent changes queue here, and each sees the version the last left.
    let exists = store::lock_patient(tx.conn(), pid)?;
    // Everyone with the permission sees the demographics they change, or gets 404; then a
    // patient changes only their contact data, a doctor only their care team's patients.
    let allowed = exists
        && if scope.is_admin() {
            true
        } else if scope.is_patient(id) {
            if c.beyond_contact() {
                return Err(refuse(tx, "patients change only their contact data"));
            }
            true
        } else if scope.own_doctor().is_some() {
            if !scope.reaches(tx.conn(), id, Level::Clinical)? {
                return Err(refuse(
                    tx,
                    "only doctors on the patient's care team change them",
                ));
            }
            true
        } else {
            false
        };
    if !allowed {
        return Err(tx.deny(
            Error::NotFound,
            Action::Update,
            PATIENT_RECORD,
            Some(pid),
            Some(pid),
        ));
    }
    let current = store::load_patient(tx.conn(), pid)?.ok_or(Error::NotFound)?;
    if_match.check(current.version)?;
    let trimmed =
        |new: Option<String>, old: String| new.map(|s| s.trim().to_string()).unwrap_or(old);
    let next = store::PatientFields {
        given_name: trimmed(c.given_name, current.given_name),
        family_name: trimmed(c.family_name, current.family_name),
        birth_date: c.birth_date.unwrap_or(current.birth_date),
        sex: c.sex.unwrap_or(current.sex),
        phone: c.phone.or(current.phone),
        email: c.email.or(current.email),
        address: c.address.or(current.address),
    };
    if !store::update_patient(tx.conn(), pid, current.version, &next)? {
        return Err(Error::Stale);
    }
    tx.record(Action::Update, PATIENT_RECORD, Some(pid), Some(pid))?;
    store::load_patient(tx.conn(), pid)?.ok_or(Error::NotFound)
}

/// Checks a new doctor's fields.
pub fn validate_doctor(v: &mut Validator, d: &NewDoctor) {
    validate_names(v, Some(&d.given_name), Some(&d.family_name));
    v.text("specialty", &d.specialty, 1, 100);
    v.text("license_number", &d.license_number, 3, 50);
    v.email("email", &d.email);
    v.opt_text("phone", d.phone.as_deref(), 40);
    if let Some(p) = &d.password {
        crate::auth::passwords::validate_new(v, "password", p);
        v.check(
            d.user_id.is_none(),
            "password",
            "give either user_id or password, not both",
        );
    }
}

/// Creates a doctor in the caller's transaction: with a new login when `password_hash` is
/// given, else linked to `d.user_id` when given (that account gains the `doctor` role). A taken
/// license number is 409. No audit entry: the caller records the act.
pub fn insert_doctor(tx: &mut Tx, d: &NewDoctor, password_hash: Option<String>) -> Result<Doctor> {
    let login = match password_hash {
        Some(password_hash) => Some(
            accounts::create_user(
                tx,
                &accounts::NewUser {
                    email: d.email.clone(),
                    password_hash,
                    display_name: format!("Dr. {} {}", d.given_name.trim(), d.family_name.trim()),
                    roles: vec![DOCTOR.to_string()],
                },
            )?
            .id
            .into_string(),
        ),
        None => match &d.user_id {
            Some(uid) => {
                if !accounts::user_exists(tx.conn(), uid)? {
                    return Err(Error::conflict("user_id does not name an existing user"));
                }
                accounts::grant_role(tx.conn(), uid, DOCTOR)?;
                Some(uid.as_str().to_string())
            }
            None => None,
        },
    };
    let id = DoctorId::generate();
    store::insert_doctor(tx.conn(), &id, d, login.as_deref()).map_err(|e| {
        if DOCTOR_USER.violated_by(&e) {
            Error::conflict("this user already has a doctor record")
        } else if LICENSE.violated_by(&e) {
            Error::conflict("a doctor with this license number exists")
        } else {
            Error::from(e)
        }
    })?;
    store::load_doctor(tx.conn(), id.as_str())?.ok_or(Error::NotFound)
}

/// `POST /doctors` (admin).
pub fn create_doctor(tx: &mut Tx, d: NewDoctor, password_hash: Option<String>) -> Result<Doctor> {
    let doctor = insert_doctor(tx, &d, password_hash)?;
    tx.record(
        Action::Create,
        DOCTOR_RECORD,
        Some(doctor.id.as_str()),
        None,
    )?;
    Ok(doctor)
}

pub fn get_doctor(conn: &mut DbConn, id: &DoctorId) -> Result<Doctor> {
    store::load_doctor(conn, id.as_str())?.ok_or(Error::NotFound)
}

pub fn list_doctors(
    conn: &mut DbConn,
    f: DoctorFilter,
    page: &Page,
) -> Result<ListResponse<Doctor>> {
    let rows = store::list_doctors(conn, &f, page)?;
    Ok(ListResponse::from_rows(rows, page.limit, |d| {
        d.id.to_string()
    }))
}

/// How many doctors match `f`.
pub fn count_doctors(conn: &mut DbConn, f: &DoctorFilter) -> Result<i64> {
    Ok(store::count_doctors(conn, f)?)
}

/// Changes a doctor: an admin, or the doctor themself (not the license number).
pub fn change_doctor(
    tx: &mut Tx,
    id: &DoctorId,
    c: DoctorChange,
    if_match: IfMatch,
) -> Result<Doctor> {
    let did = id.as_str();
    let scope = tx.scope().clone();
    let may_admin = tx.actor().holds(crate::kit::Perm::DoctorsWrite);
    if !scope.is_doctor(id) && !may_admin {
        return Err(tx.deny(
            Error::forbidden("doctors change only their own record"),
            Action::Update,
            DOCTOR_RECORD,
            Some(did),
            None,
        ));
    }
    if c.license_number.is_some() && !may_admin {
        return Err(tx.deny(
            Error::forbidden("only an admin changes a license number"),
            Action::Update,
            DOCTOR_RECORD,
            Some(did),
            None,
        ));
    }
    let mut v = Validator::new();
    for (field, value, min) in [
        ("given_name", &c.given_name, 1),
        ("family_name", &c.family_name, 1),
        ("specialty", &c.specialty, 1),
        ("license_number", &c.license_number, 3),
    ] {
        if let Some(x) = value {
            v.text(
                field,
                x,
                min,
                if field == "license_number" { 50 } else { 100 },
            );
        }
    }
    if let Some(e) = &c.email {
        v.email("email", e);
    }
    v.opt_text("phone", c.phone.as_deref(), 40);
    v.finish()?;
    if !store::lock_doctor(tx.conn(), did)? {
        return Err(Error::NotFound);
    }
    let current = store::load_doctor(tx.conn(), did)?.ok_or(Error::NotFound)?;
    if_match.check(current.version)?;
    let pick = |new: Option<String>, old: String| new.map(|s| s.trim().to_string()).unwrap_or(old);
    let next = store::DoctorFields {
        given_name: pick(c.given_name, current.given_name),
        family_name: pick(c.family_name, current.family_name),
        specialty: pick(c.specialty, current.specialty),
        license_number: pick(c.license_number, current.license_number),
        email: pick(c.email, current.email),
        phone: c.phone.or(current.phone),
    };
    if !store::update_doctor(tx.conn(), did, current.version, &next)
        .unique(LICENSE, "a doctor with this license number exists")?
    {
        return Err(Error::Stale);
    }
    tx.record(Action::Update, DOCTOR_RECORD, Some(did), None)?;
    store::load_doctor(tx.conn(), did)?.ok_or(Error::NotFound)
}

/// The doctors linked to a patient now, for the patient, admin, and doctors on the team.
pub fn care_team_of(
    conn: &mut DbConn,
    actor: &Actor,
    id: &PatientId,
) -> Result<Audited<Vec<CareTeamMember>>> {
    let pid = id.as_str();
    if !store::patient_exists(conn, pid)? || !actor.scope().reaches(conn, id, Level::Clinical)? {
        return Err(actor.deny(
            Error::NotFound,
            Action::Read,
            CARE_TEAM,
            Some(pid),
            Some(pid),
        ));
    }
    let members = care_team::members(conn, id)?
        .into_iter()
        .map(|m| CareTeamMember {
            doctor_id: DoctorId::from_db(m.doctor_id),
            since: Timestamp::from_db(m.since),
            source: m.source,
            expires_at: m.expires_at.map(Timestamp::from_db),
        })
        .collect();
    Ok(Audited::read(members, CARE_TEAM, pid, Some(pid)))
}

/// Emergency access: a doctor states a reason and reaches one patient's clinical data for
/// `seconds`. Flagged in the audit trail (`break_glass`); the patient is notified.
pub fn break_glass(
    tx: &mut Tx,
    id: &PatientId,
    req: BreakGlassRequest,
    seconds: i64,
) -> Result<BreakGlassGrant> {
    let pid = id.as_str();
    let Some(doctor_id) = tx.scope().own_doctor().cloned() else {
        return Err(tx.deny(
            Error::forbidden("only doctors break the glass"),
            Action::BreakGlass,
            PATIENT_RECORD,
            Some(pid),
            Some(pid),
        ));
    };
    let mut v = Validator::new();
    v.text("reason", &req.reason, 10, 1000);
    v.finish()?;
    if !store::patient_exists(tx.conn(), pid)? {
        return Err(Error::NotFound);
    }
    let expires_at = Timestamp::now() + chrono::Duration::seconds(seconds);
    let grant_id = crate::db::new_id();
    let reason = req.reason.trim().to_string();
    store::insert_grant(
        tx.conn(),
        &grant_id,
        pid,
        doctor_id.as_str(),
        &reason,
        expires_at,
    )?;
    care_team::link(
        tx.conn(),
        id,
        &doctor_id,
        BREAK_GLASS,
        Some(expires_at.naive()),
    )?;
    tx.record(Action::BreakGlass, PATIENT_RECORD, Some(pid), Some(pid))?;
    notifications::notify_patient(
        tx,
        id,
        "break_glass",
        "Emergency access to your record".to_string(),
        "A doctor used emergency (break-glass) access to your record. The access is logged and \
         expires automatically."
            .to_string(),
        (PATIENT_RECORD, pid),
    )?;
    Ok(BreakGlassGrant {
        id: grant_id,
        patient_id: id.clone(),
        doctor_id,
        reason,
        expires_at,
    })
}

/// Links a doctor into a patient's care team for what the caller's transaction creates (an
/// appointment, a record, a visit, an order, a referral, a prescription): the one way domains
/// link. The doctor's first link to the patient ever, when the patient did not make it (the
/// actor is not the patient: the doctor, another doctor or an admin did), is flagged like
/// break-glass: a `care_team_joined` entry in the patient's access log (resource `care_team`,
/// the doctor's id) and a `care_team_joined` notification that says who joined and how.
pub fn join_care_team(
    tx: &mut Tx,
    patient: &PatientId,
    doctor: &DoctorId,
    source: Source,
) -> Result<()> {
    let first = care_team::link(tx.conn(), patient, doctor, source, None)?;
    if !first || tx.scope().is_patient(patient) {
        return Ok(());
    }
    let pid = patient.as_str();
    tx.record(
        Action::CareTeamJoined,
        CARE_TEAM,
        Some(doctor.as_str()),
        Some(pid),
    )?;
    let who = match store::load_doctor(tx.conn(), doctor.as_str())? {
        Some(d) => format!(
            "Dr. {} {} ({})",
            d.given_name.trim(),
            d.family_name.trim(),
            d.specialty.trim()
        ),
        None => "A doctor".to_string(),
    };
    let what = source.as_str().replace('_', " ");
    let a = if what.starts_with(['a', 'e', 'i', 'o', 'u']) {
        "an"
    } else {
        "a"
    };
    let by = if tx.scope().is_doctor(doctor) {
        "that they made".to_string()
    } else if tx.scope().is_admin() {
        "made by an administrator".to_string()
    } else {
        "made by another doctor".to_string()
    };
    notifications::notify_patient(
        tx,
        patient,
        "care_team_joined",
        "A doctor joined your care team".to_string(),
        format!(
            "{who} joined your care team through {a} {what} {by}, and can now see your health \
             records. This is shown in your access log; if you did not expect it, contact us."
        ),
        (CARE_TEAM, pid),
    )
}

/// Does this patient exist? For flows that answer 409 on a dangling reference.
pub fn exists(conn: &mut DbConn, id: &PatientId) -> Result<bool> {
    Ok(store::patient_exists(conn, id.as_str())?)
}

/// Does this doctor exist?
pub fn doctor_exists(conn: &mut DbConn, id: &DoctorId) -> Result<bool> {
    Ok(store::doctor_exists(conn, id.as_str())?)
}

/// Holds a patient's row for the rest of the transaction (PostgreSQL `FOR NO KEY UPDATE`), so that
/// flows about the same patient serialise; whether it exists.
pub fn lock(conn: &mut DbConn, id: &PatientId) -> Result<bool> {
    Ok(store::lock_patient(conn, id.as_str())?)
}

/// The same for a doctor.
/// Locks the doctor and the patient an object names (PostgreSQL), so that two concurrent
/// writes for the same people (bookings that may clash) serialise and the second sees the
/// first; 409 when either does not exist. Doctor first, then patient: one order, no deadlock.
/// On SQLite `BEGIN IMMEDIATE` already serialises writers.
pub fn lock_parties(conn: &mut DbConn, patient_id: &PatientId, doctor_id: &DoctorId) -> Result<()> {
    if !lock_doctor(conn, doctor_id)? {
        return Err(Error::conflict(
            "doctor_id does not name an existing doctor",
        ));
    }
    if !lock(conn, patient_id)? {
        return Err(Error::conflict(
            "patient_id does not name an existing patient",
        ));
    }
    Ok(())
}

pub fn lock_doctor(conn: &mut DbConn, id: &DoctorId) -> Result<bool> {
    Ok(store::lock_doctor(conn, id.as_str())?)
}

/// The user account of a patient, if they have one.
pub fn account_of_patient(conn: &mut DbConn, id: &PatientId) -> Result<Option<UserId>> {
    Ok(store::user_of_patient(conn, id.as_str())?.map(UserId::from_db))
}

/// The user account of a doctor, if they have one.
pub fn account_of_doctor(conn: &mut DbConn, id: &DoctorId) -> Result<Option<UserId>> {
    Ok(store::user_of_doctor(conn, id.as_str())?.map(UserId::from_db))
}

/// The patient and doctor records of these accounts, by account id.
pub fn records_of_accounts(
    conn: &mut DbConn,
    user_ids: &[&str],
) -> Result<(HashMap<String, String>, HashMap<String, String>)> {
    Ok((
        store::patients_of_users(conn, user_ids)?,
        store::doctors_of_users(conn, user_ids)?,
    ))
}

/// The patient record of a user account, if it has one.
pub fn patient_of_account(conn: &mut DbConn, user_id: &UserId) -> Result<Option<PatientId>> {
    Ok(store::patient_of_user(conn, user_id.as_str())?.map(PatientId::from_db))
}

/// One patient's demographics without access checks or audit: only for the benchmark's raw
/// baseline and bare server (the `bench` feature); the API reads through `get_patient`.
#[cfg(feature = "bench")]
pub fn load(conn: &mut DbConn, id: &PatientId) -> Result<Patient> {
    store::load_patient(conn, id.as_str())?.ok_or(Error::NotFound)
}
