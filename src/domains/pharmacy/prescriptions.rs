//! Prescriptions: written by a doctor on the patient's care team for an active medication,
//! with a number of refills; each fill of a pharmacy order uses one, and a prescription whose
//! fills are used up is completed.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::{is_pharmacist, store, MedicationId};
use crate::auth::care_team::Source;
use crate::db::DbConn;
use crate::domains::appointments::{self, AppointmentId};
use crate::domains::patients;
use crate::http::{ListResponse, Page};
use crate::kit::{
    Action, Actor, Arrow, Audited, Date, DoctorId, Error, Level, Machine, PatientId, Resource,
    Result, Scope, Timestamp, Tx, Validator,
};
use crate::wire_enum;

/// What the audit trail calls a prescription.
pub const PRESCRIPTION: Resource = Resource::named("prescription");
/// What links the prescriber into the patient's care team.
pub const CARE_TEAM: Source = Source::named("prescription");
/// The most refills a prescription may carry.
pub const MAX_REFILLS: i32 = 11;

crate::id_type!(
    /// A prescription.
    PrescriptionId
);

wire_enum!(
    /// Where a prescription is.
    PrescriptionStatus of "prescription" {
        Active = "active",
        Completed = "completed",
        Cancelled = "cancelled",
    }
);

/// Who moves a prescription: its prescriber, an admin, or its last fill.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Party {
    Prescriber,
    Admin,
    LastFill,
}

/// active → completed (its last fill); active → cancelled (the prescriber, an admin).
pub const STATUS: Machine<'static, PrescriptionStatus, Party> = Machine {
    arrows: &[
        Arrow {
            from: PrescriptionStatus::Active,
            to: PrescriptionStatus::Completed,
            by: &[Party::LastFill],
        },
        Arrow {
            from: PrescriptionStatus::Active,
            to: PrescriptionStatus::Cancelled,
            by: &[Party::Prescriber, Party::Admin],
        },
    ],
};

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[schema(examples(crate::http::examples::prescription))]
pub struct Prescription {
    pub id: PrescriptionId,
    pub patient_id: PatientId,
    pub doctor_id: DoctorId,
    pub medication_id: MedicationId,
    pub dosage: String,
    pub frequency: String,
    pub quantity: i32,
    /// Fills allowed after the first (0–11).
    pub refills: i32,
    /// Refills not used yet.
    pub refills_remaining: i32,
    /// Fills made so far, the first included.
    pub fills_used: i32,
    pub instructions: Option<String>,
    pub valid_until: Option<Date>,
    pub status: PrescriptionStatus,
    pub cancel_reason: Option<String>,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
    pub version: i32,
}

impl Prescription {
    /// Is a fill left: the first, or a refill?
    pub fn has_fill_left(&self) -> bool {
        self.fills_used == 0 || self.refills_remaining > 0
    }

    /// Is it past its `valid_until` (no more orders or fills)?
    pub fn expired(&self) -> bool {
        self.valid_until.is_some_and(|d| d < Date::today())
    }
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(examples(crate::http::examples::new_prescription))]
pub struct NewPrescription {
    pub patient_id: PatientId,
    /// Admins name the prescriber; a doctor prescribes as themself.
    pub doctor_id: Option<DoctorId>,
    /// An appointment with the patient, for a doctor not (yet) on the care team.
    pub appointment_id: Option<AppointmentId>,
    pub medication_id: MedicationId,
    #[schema(min_length = 1)]
    pub dosage: String,
    #[schema(min_length = 1)]
    pub frequency: String,
    #[schema(minimum = 1, maximum = 10000)]
    pub quantity: i32,
    /// 0–11; default 0.
    #[schema(minimum = 0, maximum = 11)]
    pub refills: Option<i32>,
    #[schema(max_length = 2000)]
    pub instructions: Option<String>,
    pub valid_until: Option<Date>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CancelPrescription {
    pub reason: String,
}

#[derive(Debug, Clone, Default, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct PrescriptionFilter {
    pub patient_id: Option<PatientId>,
    pub status: Option<PrescriptionStatus>,
    pub medication_id: Option<MedicationId>,
    /// Prescribed at or after (RFC 3339).
    #[param(value_type = Option<String>, format = DateTime)]
    pub from: Option<Timestamp>,
    /// Prescribed before (RFC 3339).
    #[param(value_type = Option<String>, format = DateTime)]
    pub to: Option<Timestamp>,
}

/// Does the caller reach the prescription: the compartment, its prescriber, or a pharmacist of
/// a pharmacy with an order of it.
pub(super) fn reaches(conn: &mut DbConn, scope: &Scope, p: &Prescription) -> Result<bool> {
    if scope.reaches_object(
        conn,
        &p.patient_id,
        Level::Clinical,
        scope.is_doctor(&p.doctor_id),
    )? {
        return Ok(true);
    }
    Ok(is_pharmacist(scope)
        && match scope.user_id() {
            Some(u) => store::pharmacist_sees_prescription(conn, u, &p.id)?,
            None => false,
        })
}

/// Prescribes: a doctor on the care team (or with an appointment with the patient) as
/// themself, or an admin naming the doctor, for an active medication (409 otherwise).
pub fn prescribe(tx: &mut Tx, new: NewPrescription) -> Result<Prescription> {
    let doctor =
        appointments::writing_doctor(tx, PRESCRIPTION, &new.patient_id, new.doctor_id.as_ref())?;
    let mut v = Validator::new();
    v.text("dosage", new.dosage.trim(), 1, 200);
    v.text("frequency", new.frequency.trim(), 1, 200);
    v.check(
        (1..=10_000).contains(&new.quantity),
        "quantity",
        "must be 1 to 10000",
    );
    let refills = new.refills.unwrap_or(0);
    v.check(
        (0..=MAX_REFILLS).contains(&refills),
        "refills",
        "must be 0 to 11",
    );
    v.opt_text("instructions", new.instructions.as_deref(), 2000);
    if let Some(until) = new.valid_until {
        v.check(
            until >= Date::today(),
            "valid_until",
            "must not be in the past",
        );
    }
    v.finish()?;
    let patient = new.patient_id.clone();
    appointments::check_treats(
        tx,
        PRESCRIPTION,
        &patient,
        &doctor,
        new.appointment_id.as_ref(),
    )?;
    match store::load_medication(tx.conn(), &new.medication_id)? {
        Some(m) if m.active => {}
        Some(_) => {
            return Err(Error::conflict(
                "the medication is not active in the catalogue",
            ))
        }
        None => {
            return Err(Error::conflict(
                "medication_id does not name a medication of the catalogue",
            ))
        }
    }
    let id = PrescriptionId::generate();
    store::insert_prescription(tx.conn(), &id, &new, &doctor, refills)?;
    patients::join_care_team(tx, &patient, &doctor, CARE_TEAM)?;
    tx.record(
        Action::Create,
        PRESCRIPTION,
        Some(id.as_str()),
        Some(patient.as_str()),
    )?;
    store::load_prescription(tx.conn(), &id)?.ok_or(Error::NotFound)
}

/// The prescription, locked, if the caller reaches it (404, audited, otherwise).
pub(super) fn lock_reachable(
    tx: &mut Tx,
    id: &PrescriptionId,
    action: Action,
    resource: Resource,
) -> Result<Prescription> {
    store::lock_prescription(tx.conn(), id)?;
    let scope = tx.scope().clone();
    match store::load_prescription(tx.conn(), id)? {
        Some(p) if reaches(tx.conn(), &scope, &p)? => Ok(p),
        _ => Err(tx.deny(Error::NotFound, action, resource, Some(id.as_str()), None)),
    }
}

/// The prescriber (or an admin) cancels an active prescription, with a reason.
pub fn cancel(tx: &mut Tx, id: &PrescriptionId, c: CancelPrescription) -> Result<Prescription> {
    let mut v = Validator::new();
    v.text("reason", c.reason.trim(), 1, 1000);
    v.finish()?;
    let p = lock_reachable(tx, id, Action::StateChange, PRESCRIPTION)?;
    let mut parties = Vec::new();
    if tx.scope().is_admin() {
        parties.push(Party::Admin);
    }
    if tx.scope().is_doctor(&p.doctor_id) {
        parties.push(Party::Prescriber);
    }
    let to = PrescriptionStatus::Cancelled;
    let pid = Some(p.patient_id.as_str());
    STATUS.take(tx, p.status, to, &parties, PRESCRIPTION, id.as_str(), pid)?;
    let reason = c.reason.trim().to_string();
    if !store::set_prescription_status(tx.conn(), &p, to, Some(&reason))? {
        return Err(Error::Stale);
    }
    tx.record(Action::StateChange, PRESCRIPTION, Some(id.as_str()), pid)?;
    store::load_prescription(tx.conn(), id)?.ok_or(Error::NotFound)
}

/// Uses one fill of the prescription (the caller holds its lock); the last completes it.
pub(super) fn use_fill(tx: &mut Tx, p: &Prescription) -> Result<Prescription> {
    if p.status != PrescriptionStatus::Active || !p.has_fill_left() || p.expired() {
        return Err(Error::conflict_of(
            "illegal-transition",
            format!("the prescription is {} with no fill left", p.status),
        ));
    }
    let (fills, remaining) = if p.fills_used == 0 {
        (1, p.refills_remaining)
    } else {
        (p.fills_used + 1, p.refills_remaining - 1)
    };
    if !store::set_fills(tx.conn(), p, fills, remaining)? {
        return Err(Error::Stale);
    }
    let pid = Some(p.patient_id.as_str());
    tx.record(Action::Update, PRESCRIPTION, Some(p.id.as_str()), pid)?;
    let now = store::load_prescription(tx.conn(), &p.id)?.ok_or(Error::NotFound)?;
    if !now.has_fill_left() {
        let to = PrescriptionStatus::Completed;
        STATUS.take(
            tx,
            now.status,
            to,
            &[Party::LastFill],
            PRESCRIPTION,
            p.id.as_str(),
            pid,
        )?;
        if !store::set_prescription_status(tx.conn(), &now, to, None)? {
            return Err(Error::Stale);
        }
        tx.record(Action::StateChange, PRESCRIPTION, Some(p.id.as_str()), pid)?;
    }
    store::load_prescription(tx.conn(), &p.id)?.ok_or(Error::NotFound)
}

pub fn get(conn: &mut DbConn, actor: &Actor, id: &PrescriptionId) -> Result<Audited<Prescription>> {
    match store::load_prescription(conn, id)? {
        Some(p) if reaches(conn, actor.scope(), &p)? => {
            let pid = p.patient_id.clone();
            Ok(Audited::read(
                p,
                PRESCRIPTION,
                id.as_str(),
                Some(pid.as_str()),
            ))
        }
        _ => Err(actor.deny(
            Error::NotFound,
            Action::Read,
            PRESCRIPTION,
            Some(id.as_str()),
            None,
        )),
    }
}

pub fn list(
    conn: &mut DbConn,
    actor: &Actor,
    f: PrescriptionFilter,
    page: &Page,
) -> Result<Audited<ListResponse<Prescription>>> {
    let filter_patient = f.patient_id.clone();
    let rows = store::list_prescriptions(
        conn,
        actor.scope(),
        &f,
        page.after.as_deref(),
        page.limit + 1,
    )?;
    Ok(Audited::page(
        rows,
        page.limit,
        |p| p.id.to_string(),
        PRESCRIPTION,
        filter_patient.as_ref(),
        |p| &p.patient_id,
    ))
}

/// How many prescriptions the caller reaches match `f` (a FHIR search's total).
pub fn count(conn: &mut DbConn, actor: &Actor, f: &PrescriptionFilter) -> Result<i64> {
    store::count_prescriptions(conn, actor.scope(), f)
}
