//! Pharmacy orders: a prescription sent to a pharmacy, worked through by that pharmacy's
//! pharmacists. One open order per prescription; filling uses one of its fills.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::prescriptions::{self, Prescription, PrescriptionId, PrescriptionStatus};
use super::{is_pharmacist, store, PharmacyId};
use crate::db::DbConn;
use crate::domains::notifications;
use crate::http::{ListResponse, Page};
use crate::kit::{
    Action, Actor, Arrow, Audited, Error, Keyed, Level, Machine, PatientId, Resource, Result,
    Scope, Timestamp, Tx, UserId, Validator,
};
use crate::wire_enum;

/// What the audit trail calls a pharmacy order.
pub const ORDER: Resource = Resource::named("pharmacy_order");

crate::id_type!(
    /// A pharmacy order.
    OrderId
);

wire_enum!(
    /// Where a pharmacy order is.
    OrderStatus as PharmacyOrderStatus of "pharmacy order" {
        Sent = "sent",
        Received = "received",
        Filled = "filled",
        PickedUp = "picked_up",
        Cancelled = "cancelled",
    }
);

impl OrderStatus {
    /// An order in one of these holds its prescription: no second order meanwhile.
    pub const OPEN: &'static [OrderStatus] = &[
        OrderStatus::Sent,
        OrderStatus::Received,
        OrderStatus::Filled,
    ];
}

/// Who moves an order.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Party {
    /// A pharmacist of the order's pharmacy.
    Pharmacist,
    Prescriber,
    Patient,
    Admin,
}

const PHARMACY_STAFF: &[Party] = &[Party::Pharmacist];
const ANY_SIDE: &[Party] = &[
    Party::Pharmacist,
    Party::Prescriber,
    Party::Patient,
    Party::Admin,
];

/// sent → received → filled → picked_up (the pharmacy's pharmacists); sent | received →
/// cancelled (the pharmacist, the prescriber, the patient, an admin).
pub const STATUS: Machine<'static, OrderStatus, Party> = Machine {
    arrows: &[
        Arrow {
            from: OrderStatus::Sent,
            to: OrderStatus::Received,
            by: PHARMACY_STAFF,
        },
        Arrow {
            from: OrderStatus::Received,
            to: OrderStatus::Filled,
            by: PHARMACY_STAFF,
        },
        Arrow {
            from: OrderStatus::Filled,
            to: OrderStatus::PickedUp,
            by: PHARMACY_STAFF,
        },
        Arrow {
            from: OrderStatus::Sent,
            to: OrderStatus::Cancelled,
            by: ANY_SIDE,
        },
        Arrow {
            from: OrderStatus::Received,
            to: OrderStatus::Cancelled,
            by: ANY_SIDE,
        },
    ],
};

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct PharmacyOrder {
    pub id: OrderId,
    pub prescription_id: PrescriptionId,
    pub pharmacy_id: PharmacyId,
    pub patient_id: PatientId,
    pub status: OrderStatus,
    pub cancel_reason: Option<String>,
    pub received_at: Option<Timestamp>,
    pub filled_at: Option<Timestamp>,
    pub picked_up_at: Option<Timestamp>,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
    pub version: i32,
}

impl Keyed for PharmacyOrder {
    fn keyed_id(&self) -> &str {
        self.id.as_str()
    }
    fn keyed_patient(&self) -> Option<&str> {
        Some(self.patient_id.as_str())
    }
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = NewPharmacyOrder)]
pub struct NewOrder {
    pub prescription_id: PrescriptionId,
    pub pharmacy_id: PharmacyId,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct OrderTransition {
    pub to: OrderStatus,
    pub reason: Option<String>,
}

#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct OrderFilter {
    pub pharmacy_id: Option<PharmacyId>,
    pub prescription_id: Option<PrescriptionId>,
    pub patient_id: Option<PatientId>,
    pub status: Option<OrderStatus>,
}

/// Does the caller reach the order: a pharmacist of its pharmacy, or the compartment of its
/// patient, or its prescriber.
fn reaches(conn: &mut DbConn, scope: &Scope, o: &PharmacyOrder, p: &Prescription) -> Result<bool> {
    if staffs(conn, scope, &o.pharmacy_id)? {
        return Ok(true);
    }
    let own = scope.is_doctor(&p.doctor_id);
    Ok(scope.reaches_object(conn, &o.patient_id, Level::Clinical, own)?)
}

/// Is the caller a pharmacist on the pharmacy's staff?
fn staffs(conn: &mut DbConn, scope: &Scope, pharmacy: &PharmacyId) -> Result<bool> {
    Ok(is_pharmacist(scope)
        && match scope.user_id() {
            Some(u) => {
                store::staff_member(conn, pharmacy, &UserId::from_db(u.to_string()))?.is_some()
            }
            None => false,
        })
}

/// Sends a prescription to a pharmacy: the prescriber or the patient (or an admin). The
/// prescription must be active with a fill left and no open order (409); the pharmacy active.
pub fn place(tx: &mut Tx, new: NewOrder) -> Result<PharmacyOrder> {
    if store::load_prescription(tx.conn(), &new.prescription_id)?.is_none() {
        return Err(Error::conflict(
            "prescription_id does not name an existing prescription",
        ));
    }
    let p = prescriptions::lock_reachable(tx, &new.prescription_id, Action::Create, ORDER)?;
    let scope = tx.scope().clone();
    if !(scope.is_admin() || scope.is_doctor(&p.doctor_id) || scope.is_patient(&p.patient_id)) {
        return Err(tx.deny(
            Error::forbidden("the prescriber or the patient sends a prescription to a pharmacy"),
            Action::Create,
            ORDER,
            None,
            Some(p.patient_id.as_str()),
        ));
    }
    match store::load_pharmacy(tx.conn(), &new.pharmacy_id)? {
        Some(ph) if ph.active => {}
        Some(_) => return Err(Error::conflict("the pharmacy is not active")),
        None => {
            return Err(Error::conflict(
                "pharmacy_id does not name an existing pharmacy",
            ))
        }
    }
    if p.status != PrescriptionStatus::Active || !p.has_fill_left() || p.expired() {
        return Err(Error::conflict(format!(
            "the prescription is {} with no fill left",
            p.status
        )));
    }
    if store::open_order_of(tx.conn(), &p.id)?.is_some() {
        return Err(Error::conflict(
            "the prescription has an open pharmacy order already",
        ));
    }
    let id = OrderId::generate();
    let by = tx.actor().user_id().map(str::to_string);
    store::insert_order(tx.conn(), &id, &new, &p.patient_id, by.as_deref())?;
    tx.record(
        Action::Create,
        ORDER,
        Some(id.as_str()),
        Some(p.patient_id.as_str()),
    )?;
    for pharmacist in store::staff(tx.conn(), &new.pharmacy_id)? {
        notifications::notify(
            tx,
            &pharmacist.user_id,
            "pharmacy_order_received",
            "New prescription order".into(),
            "A prescription was sent to your pharmacy.".into(),
            Some((ORDER, id.as_str())),
        )?;
    }
    store::load_order(tx.conn(), &id)?.ok_or(Error::NotFound)
}

/// Takes an arrow of the order's machine. Filling uses one of the prescription's fills (its
/// last completes it) and tells the patient; cancelling tells the prescriber and the patient.
pub fn transition(
    tx: &mut Tx,
    id: &OrderId,
    t: OrderTransition,
    at: Timestamp,
) -> Result<PharmacyOrder> {
    let mut v = Validator::new();
    v.opt_text("reason", t.reason.as_deref(), 1000);
    v.finish()?;
    let refused = |tx: &Tx| {
        tx.deny(
            Error::NotFound,
            Action::StateChange,
            ORDER,
            Some(id.as_str()),
            None,
        )
    };
    let Some(o) = store::load_order(tx.conn(), id)? else {
        return Err(refused(tx));
    };
    // The prescription first, then the order: one order of locks for every writer.
    store::lock_prescription(tx.conn(), &o.prescription_id)?;
    store::lock_order(tx.conn(), id)?;
    let o = store::load_order(tx.conn(), id)?.ok_or_else(|| refused(tx))?;
    let p = store::load_prescription(tx.conn(), &o.prescription_id)?.ok_or(Error::NotFound)?;
    let scope = tx.scope().clone();
    if !reaches(tx.conn(), &scope, &o, &p)? {
        return Err(refused(tx));
    }
    let mut parties = Vec::new();
    if staffs(tx.conn(), &scope, &o.pharmacy_id)? {
        parties.push(Party::Pharmacist);
    }
    if scope.is_doctor(&p.doctor_id) {
        parties.push(Party::Prescriber);
    }
    if scope.is_patient(&o.patient_id) {
        parties.push(Party::Patient);
    }
    if scope.is_admin() {
        parties.push(Party::Admin);
    }
    let pid = Some(o.patient_id.as_str());
    STATUS.take(tx, o.status, t.to, &parties, ORDER, id.as_str(), pid)?;
    if t.to == OrderStatus::Filled {
        prescriptions::use_fill(tx, &p)?;
    }
    let reason = t
        .reason
        .as_deref()
        .map(str::trim)
        .filter(|r| !r.is_empty())
        .map(str::to_string);
    if !store::move_order(tx.conn(), &o, t.to, reason.as_deref(), at)? {
        return Err(Error::Stale);
    }
    tx.record(Action::StateChange, ORDER, Some(id.as_str()), pid)?;
    let about = (ORDER, id.as_str());
    match t.to {
        OrderStatus::Filled => notifications::notify_patient(
            tx,
            &o.patient_id,
            "prescription_filled",
            "Prescription ready".into(),
            "Your prescription was filled and is ready for pick-up.".into(),
            about,
        )?,
        OrderStatus::Cancelled => {
            let why = reason.map(|r| format!(": {r}")).unwrap_or_default();
            // Both are told, whoever cancelled.
            let (title, body) = (
                "Pharmacy order cancelled",
                format!("A pharmacy order of a prescription was cancelled{why}."),
            );
            let kind = "pharmacy_order_cancelled";
            notifications::notify_patient(
                tx,
                &o.patient_id,
                kind,
                title.into(),
                body.clone(),
                about,
            )?;
            notifications::notify_doctor(tx, &p.doctor_id, kind, title.into(), body, about)?;
        }
        _ => {}
    }
    store::load_order(tx.conn(), id)?.ok_or(Error::NotFound)
}

pub fn get(conn: &mut DbConn, actor: &Actor, id: &OrderId) -> Result<Audited<PharmacyOrder>> {
    let refused = || {
        actor.deny(
            Error::NotFound,
            Action::Read,
            ORDER,
            Some(id.as_str()),
            None,
        )
    };
    let o = store::load_order(conn, id)?.ok_or_else(refused)?;
    let p = store::load_prescription(conn, &o.prescription_id)?.ok_or_else(refused)?;
    if !reaches(conn, actor.scope(), &o, &p)? {
        return Err(refused());
    }
    let pid = o.patient_id.clone();
    Ok(Audited::read(o, ORDER, id.as_str(), Some(pid.as_str())))
}

pub fn list(
    conn: &mut DbConn,
    actor: &Actor,
    f: OrderFilter,
    page: &Page,
) -> Result<Audited<ListResponse<PharmacyOrder>>> {
    let filter_patient = f.patient_id.clone();
    let rows = store::list_orders(
        conn,
        actor.scope(),
        f,
        page.after.as_deref(),
        page.limit + 1,
    )?;
    Ok(Audited::page(
        rows,
        page.limit,
        |o| o.id.to_string(),
        ORDER,
        filter_patient.as_ref(),
        |o| &o.patient_id,
    ))
}
