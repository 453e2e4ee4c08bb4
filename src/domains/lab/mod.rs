//! Lab: orders a doctor places for a patient, the lab technician's work list, results (several
//! analytes per order, corrections with every earlier value kept), and diagnostic images whose
//! bytes live in the blob store.
//!
//! Who reaches lab data: the patient compartment (the patient, doctors on the care team now,
//! admins) and the ordering doctor, and lab technicians, who reach every lab order, result and
//! image — and no other clinical data of the patient (`reaches`).

mod images;
mod results;
mod routes;
mod store;

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::auth::care_team::Source;
use crate::auth::permissions::LAB_TECHNICIAN;
use crate::db::DbConn;
use crate::domains::appointments::{self, AppointmentId};
use crate::domains::patients;
use crate::http::{ListResponse, Page};
use crate::kit::{
    Action, Actor, Arrow, Audited, DoctorId, Error, Level, Machine, PatientId, Resource, Result,
    Scope, Timestamp, Tx, Validator,
};
use crate::wire_enum;

pub use images::{
    complete_upload, count as count_images, create as create_image, get as get_image,
    list as list_images, DiagnosticImage, ImageFilter, ImageId, ImageStatus, Modality, NewImage,
    IMAGE,
};
pub use results::{
    count as count_results, get as get_result, list as list_results, record as record_result,
    Interpretation, LabResult, LabResultId, NewResult, ResultFilter, ResultStatus, RESULT,
};
pub use routes::router;

/// What the audit trail calls a lab order.
pub const ORDER: Resource = Resource::named("lab_order");
/// What links an ordering doctor into the patient's care team.
pub const CARE_TEAM: Source = Source::named("lab_order");

crate::id_type!(
    /// A lab order.
    LabOrderId
);

wire_enum!(
    /// How soon: `stat` first on the work list, then `urgent`, then `routine`.
    Priority of "priority" {
        Routine = "routine",
        Urgent = "urgent",
        Stat = "stat",
    }
);

impl Priority {
    /// The work list's order: stat 0, urgent 1, routine 2.
    pub fn rank(self) -> i32 {
        match self {
            Priority::Stat => 0,
            Priority::Urgent => 1,
            Priority::Routine => 2,
        }
    }
}

wire_enum!(
    /// Where a lab order is.
    OrderStatus of "lab order" {
        Ordered = "ordered",
        Collected = "collected",
        Resulted = "resulted",
        Cancelled = "cancelled",
    }
);

/// Who moves an order: its ordering doctor, a lab technician, an admin.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Party {
    Doctor,
    LabTechnician,
    Admin,
}

const LAB: &[Party] = &[Party::LabTechnician, Party::Admin];
const ORDERING: &[Party] = &[Party::Doctor, Party::Admin];

/// ordered → collected (the lab) → resulted (its first result); ordered | collected →
/// cancelled (the ordering doctor, with a reason).
pub const STATUS: Machine<'static, OrderStatus, Party> = Machine {
    arrows: &[
        Arrow {
            from: OrderStatus::Ordered,
            to: OrderStatus::Collected,
            by: LAB,
        },
        Arrow {
            from: OrderStatus::Collected,
            to: OrderStatus::Resulted,
            by: LAB,
        },
        Arrow {
            from: OrderStatus::Ordered,
            to: OrderStatus::Cancelled,
            by: ORDERING,
        },
        Arrow {
            from: OrderStatus::Collected,
            to: OrderStatus::Cancelled,
            by: ORDERING,
        },
    ],
};

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[schema(examples(crate::http::examples::lab_order))]
pub struct LabOrder {
    pub id: LabOrderId,
    pub patient_id: PatientId,
    /// The ordering doctor.
    pub doctor_id: DoctorId,
    pub appointment_id: Option<AppointmentId>,
    /// A LOINC code, e.g. `2345-7` (glucose).
    pub test_code: String,
    pub test_name: String,
    pub priority: Priority,
    pub status: OrderStatus,
    pub notes: Option<String>,
    pub cancel_reason: Option<String>,
    pub collected_at: Option<Timestamp>,
    pub resulted_at: Option<Timestamp>,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
    pub version: i32,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(examples(crate::http::examples::new_lab_order))]
pub struct NewOrder {
    pub patient_id: PatientId,
    /// Admins must name the ordering doctor; a doctor orders as themself.
    pub doctor_id: Option<DoctorId>,
    /// An appointment with the patient, for a doctor not (yet) on the care team.
    pub appointment_id: Option<AppointmentId>,
    #[schema(pattern = "^[0-9]{1,7}-[0-9]$")]
    pub test_code: String,
    #[schema(min_length = 1, max_length = 200)]
    pub test_name: String,
    /// Default `routine`.
    pub priority: Option<Priority>,
    #[schema(max_length = 2000)]
    pub notes: Option<String>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Cancel {
    pub reason: String,
}

/// The filters of `GET /lab-orders`.
#[derive(Debug, Clone, Default, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct OrderFilter {
    pub patient_id: Option<PatientId>,
    pub doctor_id: Option<DoctorId>,
    pub status: Option<OrderStatus>,
    pub priority: Option<Priority>,
    pub test_code: Option<String>,
    /// Orders placed at or after (RFC 3339).
    #[param(value_type = Option<String>, format = DateTime)]
    pub from: Option<Timestamp>,
    /// Orders placed before (RFC 3339).
    #[param(value_type = Option<String>, format = DateTime)]
    pub to: Option<Timestamp>,
}

/// Is `code` shaped like a LOINC code: 1–7 digits, a hyphen, one check digit (the contract's
/// `^[0-9]{1,7}-[0-9]$`)? The check digit's arithmetic is not held against it: codes from
/// other systems' test data keep working, and a wrong code finds no result anyway.
pub fn is_loinc(code: &str) -> bool {
    let Some((number, check)) = code.split_once('-') else {
        return false;
    };
    (1..=7).contains(&number.len())
        && check.len() == 1
        && number
            .bytes()
            .chain(check.bytes())
            .all(|b| b.is_ascii_digit())
}

/// Is the caller a lab technician (who reaches every lab object)?
pub(crate) fn is_lab(scope: &Scope) -> bool {
    scope.has_role(LAB_TECHNICIAN)
}

/// Does the caller reach a lab object of `patient` ordered by `doctor`: a lab technician, the
/// patient compartment, or the ordering doctor.
pub(crate) fn reaches(
    conn: &mut DbConn,
    scope: &Scope,
    patient: &PatientId,
    doctor: Option<&DoctorId>,
) -> Result<bool> {
    if is_lab(scope) {
        return Ok(true);
    }
    let own = doctor.is_some_and(|d| scope.is_doctor(d));
    Ok(scope.reaches_object(conn, patient, Level::Clinical, own)?)
}

/// The caller's parties in an order.
fn parties_of(scope: &Scope, o: &LabOrder) -> Vec<Party> {
    let mut parties = Vec::new();
    if scope.is_admin() {
        parties.push(Party::Admin);
    }
    if scope.is_doctor(&o.doctor_id) {
        parties.push(Party::Doctor);
    }
    if is_lab(scope) {
        parties.push(Party::LabTechnician);
    }
    parties
}

/// Places an order: a doctor on the patient's care team (or with an appointment with them) as
/// themself, or an admin naming the doctor. Links the doctor into the care team.
pub fn order(tx: &mut Tx, new: NewOrder) -> Result<LabOrder> {
    let doctor = appointments::writing_doctor(tx, ORDER, &new.patient_id, new.doctor_id.as_ref())?;
    let mut v = Validator::new();
    if !is_loinc(&new.test_code) {
        v.error(
            "test_code",
            "must be a LOINC code (1-7 digits, a hyphen, a check digit), e.g. 2345-7",
        );
    }
    v.text("test_name", &new.test_name, 1, 200);
    v.opt_text("notes", new.notes.as_deref(), 2000);
    v.finish()?;
    let patient = new.patient_id.clone();
    appointments::check_treats(tx, ORDER, &patient, &doctor, new.appointment_id.as_ref())?;
    let id = LabOrderId::generate();
    let by = tx.actor().user_id().map(str::to_string);
    store::insert_order(tx.conn(), &id, &new, &doctor, by.as_deref())?;
    patients::join_care_team(tx, &patient, &doctor, CARE_TEAM)?;
    tx.record(
        Action::Create,
        ORDER,
        Some(id.as_str()),
        Some(patient.as_str()),
    )?;
    store::load_order(tx.conn(), &id)?.ok_or(Error::NotFound)
}

/// The order, locked for the rest of the transaction, if the caller reaches it (404, audited
/// as a refused `action` on `resource`, otherwise).
pub(crate) fn lock_reachable(
    tx: &mut Tx,
    id: &LabOrderId,
    action: Action,
    resource: Resource,
) -> Result<LabOrder> {
    store::lock_order(tx.conn(), id)?;
    let scope = tx.scope().clone();
    match store::load_order(tx.conn(), id)? {
        Some(o) if reaches(tx.conn(), &scope, &o.patient_id, Some(&o.doctor_id))? => Ok(o),
        _ => Err(tx.deny(Error::NotFound, action, resource, Some(id.as_str()), None)),
    }
}

/// Moves an order to `to` (collect, cancel, resulted) along the machine, as the caller.
fn move_order(
    tx: &mut Tx,
    o: &LabOrder,
    to: OrderStatus,
    cancel_reason: Option<String>,
    at: Timestamp,
) -> Result<()> {
    let parties = parties_of(tx.scope(), o);
    let pid = Some(o.patient_id.as_str());
    STATUS.take(tx, o.status, to, &parties, ORDER, o.id.as_str(), pid)?;
    let by = tx.actor().user_id().map(str::to_string);
    let changed = store::OrderChange {
        status: to,
        cancel_reason,
        collected: (to == OrderStatus::Collected).then(|| (at, by.clone())),
        resulted_at: (to == OrderStatus::Resulted).then_some(at),
    };
    if !store::update_order(tx.conn(), o, &changed)? {
        return Err(Error::Stale);
    }
    tx.record(Action::StateChange, ORDER, Some(o.id.as_str()), pid)
}

/// The lab collected the sample: ordered → collected.
pub fn collect(tx: &mut Tx, id: &LabOrderId, at: Timestamp) -> Result<LabOrder> {
    let o = lock_reachable(tx, id, Action::StateChange, ORDER)?;
    move_order(tx, &o, OrderStatus::Collected, None, at)?;
    store::load_order(tx.conn(), id)?.ok_or(Error::NotFound)
}

/// The ordering doctor (or an admin) cancels, with a reason: ordered | collected → cancelled.
pub fn cancel(tx: &mut Tx, id: &LabOrderId, c: Cancel) -> Result<LabOrder> {
    let mut v = Validator::new();
    v.text("reason", c.reason.trim(), 1, 1000);
    v.finish()?;
    let o = lock_reachable(tx, id, Action::StateChange, ORDER)?;
    let reason = Some(c.reason.trim().to_string());
    move_order(tx, &o, OrderStatus::Cancelled, reason, Timestamp::now())?;
    store::load_order(tx.conn(), id)?.ok_or(Error::NotFound)
}

/// One order, if the caller reaches it.
pub fn get(conn: &mut DbConn, actor: &Actor, id: &LabOrderId) -> Result<Audited<LabOrder>> {
    match store::load_order(conn, id)? {
        Some(o) if reaches(conn, actor.scope(), &o.patient_id, Some(&o.doctor_id))? => {
            let (oid, pid) = (o.id.clone(), o.patient_id.clone());
            Ok(Audited::read(o, ORDER, oid.as_str(), Some(pid.as_str())))
        }
        _ => Err(actor.deny(
            Error::NotFound,
            Action::Read,
            ORDER,
            Some(id.as_str()),
            None,
        )),
    }
}

/// The orders the caller reaches that match `f`: for the lab's work list, stat first, then
/// urgent, then routine, oldest first within each. The cursor is `<rank>|<created_at>|<id>`.
pub fn list(
    conn: &mut DbConn,
    actor: &Actor,
    f: OrderFilter,
    page: &Page,
) -> Result<Audited<ListResponse<LabOrder>>> {
    let after = match page.after.as_deref() {
        Some(c) => {
            let (rank, rest) = c
                .split_once('|')
                .ok_or_else(|| Error::field("cursor", "is not a cursor this server issued"))?;
            let rank: i32 = rank
                .parse()
                .map_err(|_| Error::field("cursor", "is not a cursor this server issued"))?;
            Some((rank, Timestamp::parse_cursor(rest)?))
        }
        None => None,
    };
    let filter_patient = f.patient_id.clone();
    let rows = store::list_orders(conn, actor.scope(), &f, after, page.limit + 1)?;
    Ok(Audited::page(
        rows,
        page.limit,
        |o| {
            format!(
                "{}|{}",
                o.priority.rank(),
                Timestamp::cursor(o.created_at, o.id.as_str())
            )
        },
        ORDER,
        filter_patient.as_ref(),
        |o| &o.patient_id,
    ))
}

/// How many orders the caller reaches match `f` (a FHIR search's total).
pub fn count(conn: &mut DbConn, actor: &Actor, f: &OrderFilter) -> Result<i64> {
    store::count_orders(conn, actor.scope(), f)
}

/// The results of each order, by order id (oldest first): what a report of the orders lists,
/// read with them (the orders' read is the audited one).
pub fn result_ids(
    conn: &mut DbConn,
    orders: &[LabOrderId],
) -> Result<std::collections::HashMap<LabOrderId, Vec<LabResultId>>> {
    let ids: Vec<String> = orders.iter().map(|o| o.to_string()).collect();
    let mut out: std::collections::HashMap<LabOrderId, Vec<LabResultId>> = Default::default();
    for (order, result) in store::result_ids_of(conn, &ids)? {
        out.entry(LabOrderId::from_db(order))
            .or_default()
            .push(LabResultId::from_db(result));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::is_loinc;

    #[test]
    fn loinc_codes_are_digits_a_hyphen_and_a_digit() {
        for good in ["2345-7", "718-7", "4548-4", "1234567-8"] {
            assert!(is_loinc(good), "{good}");
        }
        for bad in [
            "2345",
            "12345678-9",
            "ab-1",
            "-7",
            "2345-77",
            "2345-x",
            " 2345-7",
        ] {
            assert!(!is_loinc(bad), "{bad}");
        }
    }
}
