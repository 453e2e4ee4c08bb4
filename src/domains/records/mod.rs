//! Medical records: written by a doctor on the patient's care team (or with an appointment
//! with the patient), never deleted; every change is a new version and all are kept.
//!
//! The worked example of docs/ADDING_A_DOMAIN.md: this file is the model and the rules,
//! `store.rs` the queries, `routes.rs` the handlers.

mod routes;
mod store;

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::auth::care_team::{self, Source};
use crate::db::DbConn;
use crate::domains::appointments::{self, AppointmentId};
use crate::domains::patients;
use crate::http::{ListResponse, Page};
use crate::kit::{
    Action, Actor, Arrow, Audited, DoctorId, Error, IfMatch, Level, Machine, PatientId, Resource,
    Result, Timestamp, Tx, Validator,
};
use crate::wire_enum;

pub use routes::router;

/// What the audit trail calls a record, and a read of its history.
pub const RECORD: Resource = Resource::named("medical_record");
pub const HISTORY: Resource = Resource::named("medical_record_history");
/// What links a record's doctor into the patient's care team.
pub const CARE_TEAM: Source = Source::named("medical_record");

crate::id_type!(
    /// A medical record.
    RecordId
);

wire_enum!(
    /// What a record is.
    RecordType of "medical record" {
        VisitNote = "visit_note",
        Diagnosis = "diagnosis",
        Allergy = "allergy",
        Immunization = "immunization",
        Procedure = "procedure",
        Other = "other",
    }
);

wire_enum!(
    /// `final` as written, `amended` once changed, `entered_in_error` for good.
    RecordStatus of "medical record" {
        Final = "final",
        Amended = "amended",
        EnteredInError = "entered_in_error",
    }
);

/// Who may change a record: a doctor on the patient's care team, or an admin.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Party {
    CareTeamDoctor,
    Admin,
}

const EITHER: &[Party] = &[Party::CareTeamDoctor, Party::Admin];

/// Every change amends a record, or marks it entered in error, which is final.
pub const STATUS: Machine<'static, RecordStatus, Party> = Machine {
    arrows: &[
        Arrow {
            from: RecordStatus::Final,
            to: RecordStatus::Amended,
            by: EITHER,
        },
        Arrow {
            from: RecordStatus::Final,
            to: RecordStatus::EnteredInError,
            by: EITHER,
        },
        Arrow {
            from: RecordStatus::Amended,
            to: RecordStatus::Amended,
            by: EITHER,
        },
        Arrow {
            from: RecordStatus::Amended,
            to: RecordStatus::EnteredInError,
            by: EITHER,
        },
    ],
};

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[schema(examples(crate::http::examples::medical_record))]
pub struct MedicalRecord {
    pub id: RecordId,
    pub patient_id: PatientId,
    pub doctor_id: DoctorId,
    pub appointment_id: Option<AppointmentId>,
    pub record_type: RecordType,
    pub title: String,
    pub content: String,
    pub diagnosis_codes: Vec<String>,
    pub status: RecordStatus,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
    pub version: i32,
}

/// One entry of a record's history.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct RecordVersion {
    pub version: i32,
    /// The user who wrote this version.
    pub changed_by: String,
    pub changed_at: Timestamp,
    pub record_type: RecordType,
    pub title: String,
    pub content: String,
    pub diagnosis_codes: Vec<String>,
    pub status: RecordStatus,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(examples(crate::http::examples::new_record))]
pub struct NewRecord {
    pub patient_id: PatientId,
    /// Admins must name the doctor; a doctor writes as themself.
    pub doctor_id: Option<DoctorId>,
    pub appointment_id: Option<AppointmentId>,
    pub record_type: RecordType,
    #[schema(min_length = 1, max_length = 200)]
    pub title: String,
    #[schema(min_length = 1, max_length = 100000)]
    pub content: String,
    #[serde(default)]
    #[schema(max_items = 50)]
    pub diagnosis_codes: Vec<String>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RecordChange {
    pub record_type: Option<RecordType>,
    #[schema(min_length = 1, max_length = 200)]
    pub title: Option<String>,
    #[schema(min_length = 1, max_length = 100000)]
    pub content: Option<String>,
    #[schema(max_items = 50)]
    pub diagnosis_codes: Option<Vec<String>>,
    /// `entered_in_error`, or `amended` (what any other change makes a record anyway).
    pub status: Option<RecordStatus>,
}

/// The filters of `GET /medical-records`.
#[derive(Debug, Clone, Default, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct RecordFilter {
    pub patient_id: Option<PatientId>,
    pub record_type: Option<RecordType>,
    pub status: Option<RecordStatus>,
    /// Records holding this diagnosis code (exactly, in any case: `i10` finds `I10`).
    #[param(pattern = "^[A-Za-z0-9.-]{1,20}$")]
    pub diagnosis_code: Option<String>,
    /// Written at or after (RFC 3339).
    #[param(value_type = Option<String>, format = DateTime)]
    pub from: Option<Timestamp>,
    /// Written before (RFC 3339).
    #[param(value_type = Option<String>, format = DateTime)]
    pub to: Option<Timestamp>,
}

impl RecordFilter {
    fn check(&self) -> Result<()> {
        let mut v = Validator::new();
        if let Some(c) = &self.diagnosis_code {
            validate_code(&mut v, "diagnosis_code", c);
        }
        v.finish()
    }
}

fn validate_codes(v: &mut Validator, codes: &[String]) {
    v.check(codes.len() <= 50, "diagnosis_codes", "at most 50 codes");
    for c in codes {
        validate_code(v, "diagnosis_codes", c);
    }
}

/// A diagnosis code: letters, digits, `.` and `-`, at most 20 (which also keeps it safe inside
/// the `LIKE` pattern of a search by code).
fn validate_code(v: &mut Validator, field: &'static str, c: &str) {
    let ok = !c.trim().is_empty()
        && c.len() <= 20
        && c.chars()
            .all(|ch| ch.is_ascii_alphanumeric() || ch == '.' || ch == '-');
    if !ok {
        v.error(
            field,
            format!("`{c}` is not a code (e.g. ICD-10 `J45.909`)"),
        );
    }
}

/// Writes a record (version 1) by a doctor on the patient's care team or with an appointment
/// with the patient (or an admin naming the doctor), and links the doctor into the care team.
pub fn create(tx: &mut Tx, new: NewRecord) -> Result<MedicalRecord> {
    let doctor_id =
        appointments::writing_doctor(tx, RECORD, &new.patient_id, new.doctor_id.as_ref())?;
    let mut v = Validator::new();
    v.text("title", &new.title, 1, 200);
    v.text("content", &new.content, 1, 100_000);
    validate_codes(&mut v, &new.diagnosis_codes);
    v.finish()?;
    let patient = new.patient_id.as_str();
    appointments::check_treats(
        tx,
        RECORD,
        &new.patient_id,
        &doctor_id,
        new.appointment_id.as_ref(),
    )?;
    let id = RecordId::generate();
    let author = tx.actor().user_id().unwrap_or_default().to_string();
    store::insert(tx.conn(), &id, &new, &doctor_id)?;
    store::snapshot(tx.conn(), &id, &author)?;
    patients::join_care_team(tx, &new.patient_id, &doctor_id, CARE_TEAM)?;
    tx.record(Action::Create, RECORD, Some(id.as_str()), Some(patient))?;
    store::load(tx.conn(), id.as_str())?.ok_or(Error::NotFound)
}

/// Amends a record: a new version, `amended` unless set to `entered_in_error` (final).
pub fn amend(
    tx: &mut Tx,
    id: &RecordId,
    change: RecordChange,
    if_match: IfMatch,
) -> Result<MedicalRecord> {
    let mut v = Validator::new();
    if let Some(t) = &change.title {
        v.text("title", t, 1, 200);
    }
    if let Some(c) = &change.content {
        v.text("content", c, 1, 100_000);
    }
    if let Some(c) = &change.diagnosis_codes {
        validate_codes(&mut v, c);
    }
    if change.status == Some(RecordStatus::Final) {
        v.error("status", "may only be set to amended or entered_in_error");
    }
    v.finish()?;
    // Concurrent amendments queue on the row (PostgreSQL), so each sees the one before.
    store::lock(tx.conn(), id.as_str())?;
    let scope = tx.scope().clone();
    let current = match store::load(tx.conn(), id.as_str())? {
        Some(r) if reaches(tx.conn(), &scope, &r)? => r,
        _ => {
            return Err(tx.deny(
                Error::NotFound,
                Action::Update,
                RECORD,
                Some(id.as_str()),
                None,
            ))
        }
    };
    // Reaching the record is not enough: a patient (even one who is also a doctor) reads their
    // records and changes none. A doctor changes a record they wrote or one of a patient whose
    // care team they are on.
    let doctor_of_patient = match scope.own_doctor() {
        Some(me) => {
            scope.is_doctor(&current.doctor_id)
                || care_team::on_care_team(tx.conn(), me, &current.patient_id)?
        }
        None => false,
    };
    let party = if scope.is_admin() {
        Party::Admin
    } else if doctor_of_patient {
        Party::CareTeamDoctor
    } else {
        return Err(tx.deny(
            Error::forbidden("only the patient's doctors amend a record"),
            Action::Update,
            RECORD,
            Some(id.as_str()),
            Some(current.patient_id.as_str()),
        ));
    };
    if_match.check(current.version)?;
    let to = match change.status {
        Some(RecordStatus::EnteredInError) => RecordStatus::EnteredInError,
        _ => RecordStatus::Amended,
    };
    let (rid, pid) = (id.as_str(), Some(current.patient_id.as_str()));
    STATUS.take(tx, current.status, to, &[party], RECORD, rid, pid)?;
    let updated = store::Amended {
        record_type: change.record_type.unwrap_or(current.record_type),
        title: change
            .title
            .as_deref()
            .map(str::trim)
            .unwrap_or(&current.title)
            .to_string(),
        content: change.content.unwrap_or(current.content),
        diagnosis_codes: change.diagnosis_codes.unwrap_or(current.diagnosis_codes),
        status: to,
    };
    if !store::update(tx.conn(), id.as_str(), current.version, &updated)? {
        return Err(Error::Stale);
    }
    let author = tx.actor().user_id().unwrap_or_default().to_string();
    store::snapshot(tx.conn(), id, &author)?;
    tx.record(
        Action::Update,
        RECORD,
        Some(id.as_str()),
        Some(current.patient_id.as_str()),
    )?;
    store::load(tx.conn(), id.as_str())?.ok_or(Error::NotFound)
}

/// Does the caller reach this record? Its patient's compartment, or the record's own author.
fn reaches(conn: &mut DbConn, scope: &crate::kit::Scope, r: &MedicalRecord) -> Result<bool> {
    Ok(scope.reaches_object(
        conn,
        &r.patient_id,
        Level::Clinical,
        scope.is_doctor(&r.doctor_id),
    )?)
}

/// The record, if the caller reaches it; else 404, audited as a refused read.
fn reachable(conn: &mut DbConn, actor: &Actor, id: &RecordId) -> Result<MedicalRecord> {
    match store::load(conn, id.as_str())? {
        Some(r) if reaches(conn, actor.scope(), &r)? => Ok(r),
        _ => Err(actor.deny(
            Error::NotFound,
            Action::Read,
            RECORD,
            Some(id.as_str()),
            None,
        )),
    }
}

/// One record, if the caller reaches it.
pub fn get(conn: &mut DbConn, actor: &Actor, id: &RecordId) -> Result<Audited<MedicalRecord>> {
    let r = reachable(conn, actor, id)?;
    let pid = r.patient_id.clone();
    Ok(Audited::read(r, RECORD, id.as_str(), Some(pid.as_str())))
}

/// Every version of a record, oldest first, if the caller reaches it.
pub fn history(
    conn: &mut DbConn,
    actor: &Actor,
    id: &RecordId,
) -> Result<Audited<Vec<RecordVersion>>> {
    let r = reachable(conn, actor, id)?;
    let versions = store::versions(conn, id.as_str())?;
    Ok(Audited::read(
        versions,
        HISTORY,
        id.as_str(),
        Some(r.patient_id.as_str()),
    ))
}

/// The records the caller reaches that match `f`, a page of them.
pub fn list(
    conn: &mut DbConn,
    actor: &Actor,
    f: RecordFilter,
    page: &Page,
) -> Result<Audited<ListResponse<MedicalRecord>>> {
    f.check()?;
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
        RECORD,
        f.patient_id.as_ref(),
        |r| &r.patient_id,
    ))
}

/// How many records the caller reaches match `f`.
pub fn count(conn: &mut DbConn, actor: &Actor, f: &RecordFilter) -> Result<i64> {
    f.check()?;
    store::count(conn, actor.scope(), f)
}

/// One diagnosis a record states: one of its codes, or, for a record of type `diagnosis`
/// without codes, the record itself (its title names the condition). A FHIR Condition.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Diagnosis {
    pub record: MedicalRecord,
    /// The code's place in `diagnosis_codes`, from 1 (the order of a page).
    pub number: usize,
    /// The code; `None` for a diagnosis record without codes.
    pub code: Option<String>,
}

impl Diagnosis {
    /// The diagnoses `record` states, those of code `code` only when it is given. A code
    /// stated twice is one diagnosis (the first).
    fn of(record: &MedicalRecord, code: Option<&str>) -> Vec<Diagnosis> {
        let coded = |c: &str| code.is_none_or(|want| c.eq_ignore_ascii_case(want));
        if record.diagnosis_codes.is_empty() {
            if record.record_type == RecordType::Diagnosis && code.is_none() {
                return vec![Diagnosis {
                    record: record.clone(),
                    number: 1,
                    code: None,
                }];
            }
            return Vec::new();
        }
        let codes = &record.diagnosis_codes;
        codes
            .iter()
            .enumerate()
            .filter(|(i, c)| !codes[..*i].iter().any(|o| o.eq_ignore_ascii_case(c)))
            .filter(|(_, c)| coded(c))
            .map(|(i, c)| Diagnosis {
                record: record.clone(),
                number: i + 1,
                code: Some(c.clone()),
            })
            .collect()
    }

    /// `<record id>:<number>`: a page's cursor.
    fn key(&self) -> String {
        format!("{}:{}", self.record.id, self.number)
    }
}

/// The diagnosis of a record by its code (as the record spells it), or, with `None`, the one of
/// a diagnosis record without codes; if the caller reaches the record (audited as its read).
pub fn get_diagnosis(
    conn: &mut DbConn,
    actor: &Actor,
    id: &RecordId,
    code: Option<&str>,
) -> Result<Audited<Diagnosis>> {
    let r = reachable(conn, actor, id)?;
    let found = Diagnosis::of(&r, code)
        .into_iter()
        .find(|d| match (&d.code, code) {
            (None, None) => true,
            (Some(have), Some(want)) => have == want,
            _ => false,
        });
    let Some(d) = found else {
        return Err(Error::NotFound);
    };
    Ok(Audited::read(
        d,
        RECORD,
        id.as_str(),
        Some(r.patient_id.as_str()),
    ))
}

/// A page of the diagnoses of the records the caller reaches that match `f` (those of
/// `f.diagnosis_code` only, when it is given), in record order then their order in the record.
pub fn list_diagnoses(
    conn: &mut DbConn,
    actor: &Actor,
    f: RecordFilter,
    page: &Page,
) -> Result<Audited<ListResponse<Diagnosis>>> {
    f.check()?;
    // The cursor is the last diagnosis shown: the rest of its record, then the records after.
    let bad_cursor = || Error::field("_cursor", "is not a cursor this server issued");
    let after = match page.after.as_deref() {
        None => None,
        Some(c) => {
            let (id, n) = c.rsplit_once(':').ok_or_else(bad_cursor)?;
            Some((
                id.to_string(),
                n.parse::<usize>().map_err(|_| bad_cursor())?,
            ))
        }
    };
    let want = page.limit as usize + 1;
    let mut rows = Vec::new();
    let mut start = after.as_ref().map(|(id, _)| (id.clone(), true));
    // Records without a diagnosis of the code may come in between: read until the page is
    // full or the records run out.
    loop {
        let from = start
            .as_ref()
            .map(|(id, inclusive)| (id.as_str(), *inclusive));
        let batch = store::with_diagnoses(conn, actor.scope(), &f, from, want as i64 + 1)?;
        for r in &batch {
            for d in Diagnosis::of(r, f.diagnosis_code.as_deref()) {
                let shown = after
                    .as_ref()
                    .is_some_and(|(id, n)| id == d.record.id.as_str() && d.number <= *n);
                if !shown && rows.len() < want {
                    rows.push(d);
                }
            }
        }
        if batch.len() <= want || rows.len() >= want {
            break;
        }
        start = batch.last().map(|r| (r.id.to_string(), false));
    }
    Ok(Audited::page(
        rows,
        page.limit,
        Diagnosis::key,
        RECORD,
        f.patient_id.as_ref(),
        |d| &d.record.patient_id,
    ))
}

/// How many diagnoses of the records the caller reaches match `f`.
pub fn count_diagnoses(conn: &mut DbConn, actor: &Actor, f: &RecordFilter) -> Result<i64> {
    f.check()?;
    let stated = store::diagnosis_lists(conn, actor.scope(), f)?;
    let code = f.diagnosis_code.as_deref();
    Ok(stated
        .iter()
        .map(|(kind, codes)| match code {
            Some(want) => codes
                .iter()
                .filter(|c| c.eq_ignore_ascii_case(want))
                .count(),
            None if codes.is_empty() => usize::from(*kind == RecordType::Diagnosis),
            None => codes.len(),
        })
        .sum::<usize>() as i64)
}
