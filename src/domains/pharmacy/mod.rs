//! Pharmacy: the medication catalogue, pharmacies and their pharmacists, prescriptions doctors
//! write, and pharmacy orders the pharmacists of one pharmacy work through.
//!
//! Who reaches what: the catalogue and the pharmacy directory, everyone signed in; a
//! prescription or an order, the patient compartment (the patient, doctors on the care team,
//! admins), its prescriber, and the pharmacists of a pharmacy that has an order of it — and a
//! pharmacist nothing else of any patient (`reach`, declared here and used in the list SQL).

mod orders;
mod prescriptions;
mod routes;
mod store;

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::db::sql::UniqueKey;
use crate::db::DbConn;
use crate::domains::accounts;
use crate::http::{ListResponse, Page};
use crate::kit::{
    Action, Error, IfMatch, Resource, Result, Scope, Timestamp, Tx, UniqueExt, UserId, Validator,
};

pub use orders::{
    place as place_order, transition as move_order, NewOrder, OrderStatus, OrderTransition,
    PharmacyOrder,
};
pub use prescriptions::{
    cancel as cancel_prescription, count as count_prescriptions, get as get_prescription,
    list as list_prescriptions, prescribe, CancelPrescription, NewPrescription, Prescription,
    PrescriptionFilter, PrescriptionId, PrescriptionStatus, PRESCRIPTION,
};
pub use routes::router;

/// What the audit trail calls a medication of the catalogue.
pub const MEDICATION: Resource = Resource::named("medication");
/// What the audit trail calls a pharmacy (and its staff).
pub const PHARMACY: Resource = Resource::named("pharmacy");

const CODE: UniqueKey = UniqueKey {
    table: "medications",
    columns: &["code"],
};

crate::id_type!(
    /// A medication of the catalogue.
    MedicationId
);
crate::id_type!(
    /// A pharmacy.
    PharmacyId
);

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct Medication {
    pub id: MedicationId,
    pub name: String,
    /// RxNorm code (RXCUI), unique.
    pub code: String,
    pub form: Option<String>,
    pub strength: Option<String>,
    pub active: bool,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
    pub version: i32,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewMedication {
    pub name: String,
    #[schema(pattern = "^[0-9]{1,20}$")]
    pub code: String,
    #[schema(max_length = 100)]
    pub form: Option<String>,
    #[schema(max_length = 100)]
    pub strength: Option<String>,
    /// Default true.
    pub active: Option<bool>,
}

#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MedicationChange {
    pub name: Option<String>,
    #[schema(pattern = "^[0-9]{1,20}$")]
    pub code: Option<String>,
    #[schema(max_length = 100)]
    pub form: Option<String>,
    #[schema(max_length = 100)]
    pub strength: Option<String>,
    pub active: Option<bool>,
}

#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct MedicationFilter {
    /// Words of the name, or the code.
    pub q: Option<String>,
    pub active: Option<bool>,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct Pharmacy {
    pub id: PharmacyId,
    pub name: String,
    pub address: Option<String>,
    pub phone: Option<String>,
    pub email: Option<String>,
    pub active: bool,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
    pub version: i32,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewPharmacy {
    pub name: String,
    #[schema(max_length = 500)]
    pub address: Option<String>,
    #[schema(max_length = 50)]
    pub phone: Option<String>,
    pub email: Option<String>,
    /// Default true.
    pub active: Option<bool>,
}

#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PharmacyChange {
    pub name: Option<String>,
    pub address: Option<String>,
    pub phone: Option<String>,
    pub email: Option<String>,
    pub active: Option<bool>,
}

#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct PharmacyFilter {
    pub q: Option<String>,
    pub active: Option<bool>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewStaff {
    /// A user who holds the `pharmacist` role.
    pub user_id: UserId,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct StaffMember {
    pub pharmacy_id: PharmacyId,
    pub user_id: UserId,
    pub since: Timestamp,
}

/// Is the caller a pharmacist (whose reach is their pharmacies' orders)?
pub(crate) fn is_pharmacist(scope: &Scope) -> bool {
    scope.has_role(crate::auth::permissions::PHARMACIST)
}

fn check_medication(v: &mut Validator, name: Option<&str>, code: Option<&str>) {
    if let Some(n) = name {
        v.text("name", n.trim(), 1, 200);
    }
    if let Some(c) = code {
        v.check(
            !c.is_empty() && c.len() <= 20 && c.bytes().all(|b| b.is_ascii_digit()),
            "code",
            "must be an RxNorm code (RXCUI: digits), e.g. 197361",
        );
    }
}

/// Adds a medication (admin, pharmacist); its code is unique (409).
pub fn create_medication(tx: &mut Tx, m: NewMedication) -> Result<Medication> {
    let mut v = Validator::new();
    check_medication(&mut v, Some(&m.name), Some(&m.code));
    v.opt_text("form", m.form.as_deref(), 100);
    v.opt_text("strength", m.strength.as_deref(), 100);
    v.finish()?;
    let id = MedicationId::generate();
    store::insert_medication(tx.conn(), &id, &m)
        .unique(CODE, "a medication with this code exists")?;
    tx.record(Action::Create, MEDICATION, Some(id.as_str()), None)?;
    store::load_medication(tx.conn(), &id)?.ok_or(Error::NotFound)
}

/// Changes a medication (admin, pharmacist; `If-Match` honoured).
pub fn change_medication(
    tx: &mut Tx,
    id: &MedicationId,
    c: MedicationChange,
    if_match: IfMatch,
) -> Result<Medication> {
    let mut v = Validator::new();
    check_medication(&mut v, c.name.as_deref(), c.code.as_deref());
    v.opt_text("form", c.form.as_deref(), 100);
    v.opt_text("strength", c.strength.as_deref(), 100);
    v.finish()?;
    store::lock_medication(tx.conn(), id)?;
    let current = store::load_medication(tx.conn(), id)?.ok_or(Error::NotFound)?;
    if_match.check(current.version)?;
    let next = Medication {
        name: c
            .name
            .map(|n| n.trim().to_string())
            .unwrap_or(current.name.clone()),
        code: c.code.unwrap_or(current.code.clone()),
        form: c.form.or(current.form.clone()),
        strength: c.strength.or(current.strength.clone()),
        active: c.active.unwrap_or(current.active),
        ..current.clone()
    };
    if !store::update_medication(tx.conn(), &next)
        .unique(CODE, "a medication with this code exists")?
    {
        return Err(Error::Stale);
    }
    tx.record(Action::Update, MEDICATION, Some(id.as_str()), None)?;
    store::load_medication(tx.conn(), id)?.ok_or(Error::NotFound)
}

pub fn get_medication(conn: &mut DbConn, id: &MedicationId) -> Result<Medication> {
    store::load_medication(conn, id)?.ok_or(Error::NotFound)
}

/// The catalogue entries of `ids`, by id.
pub fn medications_of(
    conn: &mut DbConn,
    ids: &[MedicationId],
) -> Result<std::collections::HashMap<MedicationId, Medication>> {
    let ids: Vec<String> = ids.iter().map(|i| i.to_string()).collect();
    Ok(store::medications_of(conn, &ids)?
        .into_iter()
        .map(|m| (m.id.clone(), m))
        .collect())
}

/// The catalogue entry of an RxNorm code, if any.
pub fn medication_by_code(conn: &mut DbConn, code: &str) -> Result<Option<Medication>> {
    Ok(store::medication_by_code(conn, code)?)
}

pub fn list_medications(
    conn: &mut DbConn,
    f: MedicationFilter,
    page: &Page,
) -> Result<ListResponse<Medication>> {
    let rows = store::list_medications(conn, f, page.after.as_deref(), page.limit + 1)?;
    Ok(ListResponse::from_rows(rows, page.limit, |m| {
        format!("{}|{}", m.name, m.id)
    }))
}

fn check_pharmacy(v: &mut Validator, name: Option<&str>, email: Option<&str>) {
    if let Some(n) = name {
        v.text("name", n.trim(), 1, 200);
    }
    if let Some(e) = email {
        v.email("email", e);
    }
}

/// Adds a pharmacy (admin).
pub fn create_pharmacy(tx: &mut Tx, p: NewPharmacy) -> Result<Pharmacy> {
    let mut v = Validator::new();
    check_pharmacy(&mut v, Some(&p.name), p.email.as_deref());
    v.opt_text("address", p.address.as_deref(), 500);
    v.opt_text("phone", p.phone.as_deref(), 50);
    v.finish()?;
    let id = PharmacyId::generate();
    store::insert_pharmacy(tx.conn(), &id, &p)?;
    tx.record(Action::Create, PHARMACY, Some(id.as_str()), None)?;
    store::load_pharmacy(tx.conn(), &id)?.ok_or(Error::NotFound)
}

/// Changes a pharmacy (admin; `If-Match` honoured).
pub fn change_pharmacy(
    tx: &mut Tx,
    id: &PharmacyId,
    c: PharmacyChange,
    if_match: IfMatch,
) -> Result<Pharmacy> {
    let mut v = Validator::new();
    check_pharmacy(&mut v, c.name.as_deref(), c.email.as_deref());
    v.opt_text("address", c.address.as_deref(), 500);
    v.opt_text("phone", c.phone.as_deref(), 50);
    v.finish()?;
    store::lock_pharmacy(tx.conn(), id)?;
    let current = store::load_pharmacy(tx.conn(), id)?.ok_or(Error::NotFound)?;
    if_match.check(current.version)?;
    let next = Pharmacy {
        name: c
            .name
            .map(|n| n.trim().to_string())
            .unwrap_or(current.name.clone()),
        address: c.address.or(current.address.clone()),
        phone: c.phone.or(current.phone.clone()),
        email: c.email.or(current.email.clone()),
        active: c.active.unwrap_or(current.active),
        ..current.clone()
    };
    if !store::update_pharmacy(tx.conn(), &next)? {
        return Err(Error::Stale);
    }
    tx.record(Action::Update, PHARMACY, Some(id.as_str()), None)?;
    store::load_pharmacy(tx.conn(), id)?.ok_or(Error::NotFound)
}

pub fn get_pharmacy(conn: &mut DbConn, id: &PharmacyId) -> Result<Pharmacy> {
    store::load_pharmacy(conn, id)?.ok_or(Error::NotFound)
}

pub fn list_pharmacies(
    conn: &mut DbConn,
    f: PharmacyFilter,
    page: &Page,
) -> Result<ListResponse<Pharmacy>> {
    let rows = store::list_pharmacies(conn, f, page.after.as_deref(), page.limit + 1)?;
    Ok(ListResponse::from_rows(rows, page.limit, |p| {
        p.id.to_string()
    }))
}

/// Adds a pharmacist to a pharmacy's staff (admin): the user must hold `pharmacist` (409).
pub fn add_staff(tx: &mut Tx, id: &PharmacyId, s: NewStaff) -> Result<StaffMember> {
    if store::load_pharmacy(tx.conn(), id)?.is_none() {
        return Err(Error::NotFound);
    }
    if !accounts::has_role(tx.conn(), &s.user_id, crate::auth::permissions::PHARMACIST)? {
        return Err(Error::conflict(
            "user_id does not name a user who holds the pharmacist role",
        ));
    }
    store::add_staff(tx.conn(), id, &s.user_id)?;
    tx.record(Action::Update, PHARMACY, Some(id.as_str()), None)?;
    store::staff_member(tx.conn(), id, &s.user_id)?.ok_or(Error::NotFound)
}

/// Removes a pharmacist from a pharmacy's staff (admin); 404 when they are not on it.
pub fn remove_staff(tx: &mut Tx, id: &PharmacyId, user: &UserId) -> Result<()> {
    if !store::remove_staff(tx.conn(), id, user)? {
        return Err(Error::NotFound);
    }
    tx.record(Action::Update, PHARMACY, Some(id.as_str()), None)
}

/// A pharmacy's staff: for admins and the pharmacy's own pharmacists (404 for others, who do
/// not learn who works where).
pub fn staff(
    conn: &mut DbConn,
    actor: &crate::kit::Actor,
    id: &PharmacyId,
) -> Result<Vec<StaffMember>> {
    if store::load_pharmacy(conn, id)?.is_none() {
        return Err(Error::NotFound);
    }
    let me = actor.user_id().map(|u| UserId::from_db(u.to_string()));
    let mine = match &me {
        Some(u) => store::staff_member(conn, id, u)?.is_some(),
        None => false,
    };
    if !(actor.scope().is_admin() || mine) {
        return Err(actor.deny(
            Error::NotFound,
            Action::Read,
            PHARMACY,
            Some(id.as_str()),
            None,
        ));
    }
    Ok(store::staff(conn, id)?)
}
