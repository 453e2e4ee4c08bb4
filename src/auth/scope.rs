//! The patient compartment, written once: who reaches which patient's data, for single objects
//! and inside list SQL alike.
//!
//! The rule: an admin reaches every patient. Anyone else reaches the union of
//! - their own Patient record (a patient user),
//! - as a doctor, every patient's demographics, and clinical data of the patients whose care
//!   team they are on now (`care_team`: appointments, records, visits, orders, referrals, an
//!   unexpired break-glass grant),
//! - the role's own objects, which the domain that owns them declares where it asks (a
//!   doctor's own appointments; a lab technician's work list; a pharmacist's pharmacies'
//!   orders): `reaches_object` and the `own` filter of `filter`.
//!
//! A user who is both a patient and a doctor reaches both. Single objects outside reach are 404;
//! lists filter inside the SQL, never after the fact.

use diesel::dsl::sql;
use diesel::expression::BoxableExpression;
use diesel::prelude::*;
use diesel::sql_types::{Bool, Text, Timestamp};

use super::care_team::on_care_team;
use super::Principal;
use crate::db::{now, DbBackend, DbConn};
use crate::kit::{DoctorId, PatientId};

/// How much of a patient a read reveals.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Level {
    /// Name, birth date, contact data.
    Demographics,
    /// Records, appointments, visits, labs, prescriptions, device data, ...
    Clinical,
}

/// A boolean SQL condition on the rows of a list's table `QS`.
pub type Condition<QS> = Box<dyn BoxableExpression<QS, DbBackend, SqlType = Bool>>;

/// The caller's reach, built once per request from the principal.
#[derive(Clone, Debug)]
pub struct Scope {
    admin: bool,
    patient: Option<PatientId>,
    doctor: Option<DoctorId>,
}

impl Scope {
    pub fn of(p: &Principal) -> Scope {
        Scope {
            admin: p.is_admin,
            patient: p.patient_id.clone().map(PatientId::from_db),
            doctor: p.doctor_id.clone().map(DoctorId::from_db),
        }
    }

    /// Every patient: what the system (command line, demo loader) acts with.
    pub fn admin() -> Scope {
        Scope {
            admin: true,
            patient: None,
            doctor: None,
        }
    }

    /// No reach at all: a request without a signed-in user.
    pub fn nobody() -> Scope {
        Scope {
            admin: false,
            patient: None,
            doctor: None,
        }
    }

    pub fn is_admin(&self) -> bool {
        self.admin
    }
    /// The caller's own Patient record, if they are a patient.
    pub fn own_patient(&self) -> Option<&PatientId> {
        self.patient.as_ref()
    }
    /// The caller's own Doctor record, if they are a doctor.
    pub fn own_doctor(&self) -> Option<&DoctorId> {
        self.doctor.as_ref()
    }
    /// Is this patient the caller themself?
    pub fn is_patient(&self, patient_id: &str) -> bool {
        self.patient
            .as_ref()
            .is_some_and(|p| p.as_str() == patient_id)
    }
    /// Is this doctor the caller themself?
    pub fn is_doctor(&self, doctor_id: &str) -> bool {
        self.doctor
            .as_ref()
            .is_some_and(|d| d.as_str() == doctor_id)
    }

    /// May the caller reach this patient at `level`?
    pub fn reaches(&self, conn: &mut DbConn, patient_id: &str, level: Level) -> QueryResult<bool> {
        if self.admin || self.is_patient(patient_id) {
            return Ok(true);
        }
        match (&self.doctor, level) {
            (Some(_), Level::Demographics) => Ok(true),
            (Some(d), Level::Clinical) => on_care_team(conn, d.as_str(), patient_id),
            (None, _) => Ok(false),
        }
    }

    /// May the caller reach an object of this patient's, at `level`, or is it one of the role's
    /// own objects (`own`, as the domain judges it: e.g. the appointment's own doctor)?
    pub fn reaches_object(
        &self,
        conn: &mut DbConn,
        patient_id: &str,
        level: Level,
        own: bool,
    ) -> QueryResult<bool> {
        Ok(own || self.reaches(conn, patient_id, level)?)
    }

    /// The list filter on table `QS` whose column `patient` names each row's patient: rows of
    /// the patients in reach at `level`, or matching `own` (the role's own objects, as the
    /// domain declares them). `None` when every row is in reach (no filter to add).
    /// `patient` is a column of the list's own table, named without its table: the list is a
    /// query on that one table.
    pub fn filter<QS: 'static, C: Column>(
        &self,
        level: Level,
        _patient: C,
        own: Option<Condition<QS>>,
    ) -> Option<Condition<QS>> {
        if self.admin || (level == Level::Demographics && self.doctor.is_some()) {
            return None;
        }
        let column = C::NAME;
        let mut parts: Vec<Condition<QS>> = Vec::new();
        if let Some(p) = &self.patient {
            parts.push(Box::new(
                sql::<Bool>(&format!("{column} = ")).bind::<Text, _>(p.as_str().to_string()),
            ));
        }
        if let (Some(d), Level::Clinical) = (&self.doctor, level) {
            parts.push(Box::new(
                sql::<Bool>(&format!(
                    "{column} IN (SELECT care_team.patient_id FROM care_team \
                     WHERE care_team.doctor_id = "
                ))
                .bind::<Text, _>(d.as_str().to_string())
                .sql(" AND (care_team.expires_at IS NULL OR care_team.expires_at > ")
                .bind::<Timestamp, _>(now())
                .sql("))"),
            ));
        }
        parts.extend(own);
        let mut parts = parts.into_iter();
        let Some(first) = parts.next() else {
            return Some(Box::new(sql::<Bool>("1 = 0")));
        };
        Some(parts.fold(first, |acc, next| Box::new(acc.or(next))))
    }
}
