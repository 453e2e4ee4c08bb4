//! The pharmacy tables' queries: catalogue, pharmacies and staff, prescriptions, orders, and
//! the pharmacist's reach as SQL.

use diesel::prelude::*;

use super::orders::{NewOrder, OrderFilter, OrderId, OrderStatus, PharmacyOrder};
use super::prescriptions::{
    NewPrescription, Prescription, PrescriptionFilter, PrescriptionId, PrescriptionStatus,
};
use super::{
    is_pharmacist, Medication, MedicationFilter, MedicationId, NewMedication, NewPharmacy,
    Pharmacy, PharmacyFilter, PharmacyId, StaffMember,
};
use crate::db::schema::{medications, pharmacies, pharmacy_orders, pharmacy_staff, prescriptions};
use crate::db::sql::{contains_pattern, lower};
use crate::db::{now, DbConn};
use crate::kit::{
    Condition, Date, DoctorId, Level, PatientId, Result, Scope, Timestamp, UserId, WireEnum,
};

// --- medications ---

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = medications)]
struct MedicationRow {
    id: String,
    name: String,
    code: String,
    form: Option<String>,
    strength: Option<String>,
    active: bool,
    created_at: chrono::NaiveDateTime,
    updated_at: chrono::NaiveDateTime,
    version: i32,
}

impl From<MedicationRow> for Medication {
    fn from(r: MedicationRow) -> Medication {
        Medication {
            id: MedicationId::from_db(r.id),
            name: r.name,
            code: r.code,
            form: r.form,
            strength: r.strength,
            active: r.active,
            created_at: Timestamp::from_db(r.created_at),
            updated_at: Timestamp::from_db(r.updated_at),
            version: r.version,
        }
    }
}

pub(super) fn load_medication(
    conn: &mut DbConn,
    id: &MedicationId,
) -> QueryResult<Option<Medication>> {
    Ok(medications::table
        .find(id.as_str())
        .select(MedicationRow::as_select())
        .first(conn)
        .optional()?
        .map(Medication::from))
}

/// The medications of `ids` (the catalogue is not patient data).
pub(super) fn medications_of(conn: &mut DbConn, ids: &[String]) -> QueryResult<Vec<Medication>> {
    Ok(medications::table
        .filter(medications::id.eq_any(ids))
        .select(MedicationRow::as_select())
        .load::<MedicationRow>(conn)?
        .into_iter()
        .map(Medication::from)
        .collect())
}

/// The medication of an RxNorm code.
pub(super) fn medication_by_code(conn: &mut DbConn, code: &str) -> QueryResult<Option<Medication>> {
    Ok(medications::table
        .filter(medications::code.eq(code))
        .select(MedicationRow::as_select())
        .first(conn)
        .optional()?
        .map(Medication::from))
}

pub(super) fn lock_medication(conn: &mut DbConn, id: &MedicationId) -> QueryResult<bool> {
    crate::db::sql::lock_row(conn, "medications", id.as_str())
}

pub(super) fn insert_medication(
    conn: &mut DbConn,
    id: &MedicationId,
    m: &NewMedication,
) -> QueryResult<()> {
    let t = now();
    diesel::insert_into(medications::table)
        .values((
            medications::id.eq(id.as_str()),
            medications::name.eq(m.name.trim()),
            medications::code.eq(&m.code),
            medications::form.eq(&m.form),
            medications::strength.eq(&m.strength),
            medications::active.eq(m.active.unwrap_or(true)),
            medications::created_at.eq(t),
            medications::updated_at.eq(t),
            medications::version.eq(1),
        ))
        .execute(conn)?;
    Ok(())
}

pub(super) fn update_medication(conn: &mut DbConn, m: &Medication) -> QueryResult<bool> {
    crate::update_versioned!(
        conn,
        medications,
        m.id.as_str(),
        m.version,
        (
            t::name.eq(&m.name),
            t::code.eq(&m.code),
            t::form.eq(&m.form),
            t::strength.eq(&m.strength),
            t::active.eq(m.active),
        )
    )
}

/// The catalogue by name (then id), matching every word of `q` in the name or `q` as the code.
pub(super) fn list_medications(
    conn: &mut DbConn,
    f: MedicationFilter,
    after: Option<&str>,
    limit: i64,
) -> crate::kit::Result<Vec<Medication>> {
    let mut q = medications::table
        .select(MedicationRow::as_select())
        .order((medications::name, medications::id))
        .limit(limit)
        .into_boxed();
    if let Some(text) = f.q {
        let code = text.trim().to_string();
        let mut by_name: Box<
            dyn BoxableExpression<
                medications::table,
                crate::db::DbBackend,
                SqlType = diesel::sql_types::Bool,
            >,
        > = Box::new(medications::id.eq(medications::id));
        for word in text.split_whitespace() {
            let pattern = contains_pattern(word);
            by_name = Box::new(by_name.and(lower(medications::name).like(pattern).escape('\\')));
        }
        q = q.filter(by_name.or(medications::code.eq(code)));
    }
    if let Some(a) = f.active {
        q = q.filter(medications::active.eq(a));
    }
    if let Some(c) = after {
        let (name, id) = c.rsplit_once('|').ok_or_else(|| {
            crate::kit::Error::field("cursor", "is not a cursor this server issued")
        })?;
        q = q.filter(
            medications::name.gt(name.to_string()).or(medications::name
                .eq(name.to_string())
                .and(medications::id.gt(id.to_string()))),
        );
    }
    Ok(q.load::<MedicationRow>(conn)?
        .into_iter()
        .map(Medication::from)
        .collect())
}

// --- pharmacies and staff ---

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = pharmacies)]
struct PharmacyRow {
    id: String,
    name: String,
    address: Option<String>,
    phone: Option<String>,
    email: Option<String>,
    active: bool,
    created_at: chrono::NaiveDateTime,
    updated_at: chrono::NaiveDateTime,
    version: i32,
}

impl From<PharmacyRow> for Pharmacy {
    fn from(r: PharmacyRow) -> Pharmacy {
        Pharmacy {
            id: PharmacyId::from_db(r.id),
            name: r.name,
            address: r.address,
            phone: r.phone,
            email: r.email,
            active: r.active,
            created_at: Timestamp::from_db(r.created_at),
            updated_at: Timestamp::from_db(r.updated_at),
            version: r.version,
        }
    }
}

pub(super) fn load_pharmacy(conn: &mut DbConn, id: &PharmacyId) -> QueryResult<Option<Pharmacy>> {
    Ok(pharmacies::table
        .find(id.as_str())
        .select(PharmacyRow::as_select())
        .first(conn)
        .optional()?
        .map(Pharmacy::from))
}

pub(super) fn lock_pharmacy(conn: &mut DbConn, id: &PharmacyId) -> QueryResult<bool> {
    crate::db::sql::lock_row(conn, "pharmacies", id.as_str())
}

pub(super) fn insert_pharmacy(
    conn: &mut DbConn,
    id: &PharmacyId,
    p: &NewPharmacy,
) -> QueryResult<()> {
    let t = now();
    diesel::insert_into(pharmacies::table)
        .values((
            pharmacies::id.eq(id.as_str()),
            pharmacies::name.eq(p.name.trim()),
            pharmacies::address.eq(&p.address),
            pharmacies::phone.eq(&p.phone),
            pharmacies::email.eq(&p.email),
            pharmacies::active.eq(p.active.unwrap_or(true)),
            pharmacies::created_at.eq(t),
            pharmacies::updated_at.eq(t),
            pharmacies::version.eq(1),
        ))
        .execute(conn)?;
    Ok(())
}

pub(super) fn update_pharmacy(conn: &mut DbConn, p: &Pharmacy) -> QueryResult<bool> {
    crate::update_versioned!(
        conn,
        pharmacies,
        p.id.as_str(),
        p.version,
        (
            t::name.eq(&p.name),
            t::address.eq(&p.address),
            t::phone.eq(&p.phone),
            t::email.eq(&p.email),
            t::active.eq(p.active),
        )
    )
}

pub(super) fn list_pharmacies(
    conn: &mut DbConn,
    f: PharmacyFilter,
    after: Option<&str>,
    limit: i64,
) -> QueryResult<Vec<Pharmacy>> {
    let mut q = pharmacies::table
        .select(PharmacyRow::as_select())
        .order(pharmacies::id)
        .limit(limit)
        .into_boxed();
    if let Some(text) = f.q {
        for word in text.split_whitespace() {
            q = q.filter(
                lower(pharmacies::name)
                    .like(contains_pattern(word))
                    .escape('\\'),
            );
        }
    }
    if let Some(a) = f.active {
        q = q.filter(pharmacies::active.eq(a));
    }
    if let Some(a) = after {
        q = q.filter(pharmacies::id.gt(a.to_string()));
    }
    Ok(q.load::<PharmacyRow>(conn)?
        .into_iter()
        .map(Pharmacy::from)
        .collect())
}

/// Adds a staff member; one already on the staff stays as they were.
pub(super) fn add_staff(conn: &mut DbConn, id: &PharmacyId, user: &UserId) -> QueryResult<()> {
    use diesel::sql_types::{Text, Timestamp as SqlTimestamp};
    diesel::sql_query(
        "INSERT INTO pharmacy_staff (pharmacy_id, user_id, since) VALUES ($1, $2, $3) \
         ON CONFLICT (pharmacy_id, user_id) DO NOTHING",
    )
    .bind::<Text, _>(id.as_str())
    .bind::<Text, _>(user.as_str())
    .bind::<SqlTimestamp, _>(now())
    .execute(conn)?;
    Ok(())
}

pub(super) fn remove_staff(conn: &mut DbConn, id: &PharmacyId, user: &UserId) -> QueryResult<bool> {
    let n = diesel::delete(
        pharmacy_staff::table
            .filter(pharmacy_staff::pharmacy_id.eq(id.as_str()))
            .filter(pharmacy_staff::user_id.eq(user.as_str())),
    )
    .execute(conn)?;
    Ok(n == 1)
}

pub(super) fn staff_member(
    conn: &mut DbConn,
    id: &PharmacyId,
    user: &UserId,
) -> QueryResult<Option<StaffMember>> {
    let since: Option<chrono::NaiveDateTime> = pharmacy_staff::table
        .find((id.as_str(), user.as_str()))
        .select(pharmacy_staff::since)
        .first(conn)
        .optional()?;
    Ok(since.map(|s| StaffMember {
        pharmacy_id: id.clone(),
        user_id: user.clone(),
        since: Timestamp::from_db(s),
    }))
}

pub(super) fn staff(conn: &mut DbConn, id: &PharmacyId) -> QueryResult<Vec<StaffMember>> {
    let rows: Vec<(String, chrono::NaiveDateTime)> = pharmacy_staff::table
        .filter(pharmacy_staff::pharmacy_id.eq(id.as_str()))
        .order(pharmacy_staff::since)
        .select((pharmacy_staff::user_id, pharmacy_staff::since))
        .load(conn)?;
    Ok(rows
        .into_iter()
        .map(|(u, s)| StaffMember {
            pharmacy_id: id.clone(),
            user_id: UserId::from_db(u),
            since: Timestamp::from_db(s),
        })
        .collect())
}

/// The pharmacies a user staffs, as a subquery.
#[diesel::dsl::auto_type]
fn pharmacies_of(user: String) -> _ {
    pharmacy_staff::table
        .filter(pharmacy_staff::user_id.eq(user))
        .select(pharmacy_staff::pharmacy_id)
}

// --- prescriptions ---

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = prescriptions)]
struct PrescriptionRow {
    id: String,
    patient_id: String,
    doctor_id: String,
    medication_id: String,
    dosage: String,
    frequency: String,
    quantity: i32,
    refills: i32,
    refills_remaining: i32,
    fills_used: i32,
    instructions: Option<String>,
    valid_until: Option<chrono::NaiveDate>,
    status: String,
    cancel_reason: Option<String>,
    created_at: chrono::NaiveDateTime,
    updated_at: chrono::NaiveDateTime,
    version: i32,
}

impl From<PrescriptionRow> for Prescription {
    fn from(r: PrescriptionRow) -> Prescription {
        Prescription {
            id: PrescriptionId::from_db(r.id),
            patient_id: PatientId::from_db(r.patient_id),
            doctor_id: DoctorId::from_db(r.doctor_id),
            medication_id: MedicationId::from_db(r.medication_id),
            dosage: r.dosage,
            frequency: r.frequency,
            quantity: r.quantity,
            refills: r.refills,
            refills_remaining: r.refills_remaining,
            fills_used: r.fills_used,
            instructions: r.instructions,
            valid_until: r.valid_until.map(Date::from_db),
            status: PrescriptionStatus::parse(&r.status).unwrap_or(PrescriptionStatus::Cancelled),
            cancel_reason: r.cancel_reason,
            created_at: Timestamp::from_db(r.created_at),
            updated_at: Timestamp::from_db(r.updated_at),
            version: r.version,
        }
    }
}

pub(super) fn load_prescription(
    conn: &mut DbConn,
    id: &PrescriptionId,
) -> QueryResult<Option<Prescription>> {
    Ok(prescriptions::table
        .find(id.as_str())
        .select(PrescriptionRow::as_select())
        .first(conn)
        .optional()?
        .map(Prescription::from))
}

pub(super) fn lock_prescription(conn: &mut DbConn, id: &PrescriptionId) -> QueryResult<bool> {
    crate::db::sql::lock_row(conn, "prescriptions", id.as_str())
}

pub(super) fn insert_prescription(
    conn: &mut DbConn,
    id: &PrescriptionId,
    p: &NewPrescription,
    doctor: &DoctorId,
    refills: i32,
) -> QueryResult<()> {
    let t = now();
    diesel::insert_into(prescriptions::table)
        .values((
            prescriptions::id.eq(id.as_str()),
            prescriptions::patient_id.eq(p.patient_id.as_str()),
            prescriptions::doctor_id.eq(doctor.as_str()),
            prescriptions::medication_id.eq(p.medication_id.as_str()),
            prescriptions::dosage.eq(p.dosage.trim()),
            prescriptions::frequency.eq(p.frequency.trim()),
            prescriptions::quantity.eq(p.quantity),
            prescriptions::refills.eq(refills),
            prescriptions::refills_remaining.eq(refills),
            prescriptions::fills_used.eq(0),
            prescriptions::instructions.eq(&p.instructions),
            prescriptions::valid_until.eq(p.valid_until.map(Date::naive)),
            prescriptions::status.eq(PrescriptionStatus::Active.as_str()),
            prescriptions::created_at.eq(t),
            prescriptions::updated_at.eq(t),
            prescriptions::version.eq(1),
        ))
        .execute(conn)?;
    Ok(())
}

pub(super) fn set_prescription_status(
    conn: &mut DbConn,
    p: &Prescription,
    status: PrescriptionStatus,
    cancel_reason: Option<&str>,
) -> QueryResult<bool> {
    crate::update_versioned!(
        conn,
        prescriptions,
        p.id.as_str(),
        p.version,
        (
            t::status.eq(status.as_str()),
            t::cancel_reason.eq(cancel_reason.or(p.cancel_reason.as_deref())),
        )
    )
}

pub(super) fn set_fills(
    conn: &mut DbConn,
    p: &Prescription,
    fills_used: i32,
    refills_remaining: i32,
) -> QueryResult<bool> {
    crate::update_versioned!(
        conn,
        prescriptions,
        p.id.as_str(),
        p.version,
        (
            t::fills_used.eq(fills_used),
            t::refills_remaining.eq(refills_remaining),
        )
    )
}

/// Does a pharmacist of one of `user`'s pharmacies hold an order of this prescription?
pub(super) fn pharmacist_sees_prescription(
    conn: &mut DbConn,
    user: &str,
    id: &PrescriptionId,
) -> QueryResult<bool> {
    let found: Option<String> = pharmacy_orders::table
        .filter(pharmacy_orders::prescription_id.eq(id.as_str()))
        .filter(pharmacy_orders::pharmacy_id.eq_any(pharmacies_of(user.to_string())))
        .select(pharmacy_orders::id)
        .first(conn)
        .optional()?;
    Ok(found.is_some())
}

/// The prescriptions in reach: the compartment and the caller's own as prescriber, and for a
/// pharmacist those with an order at a pharmacy they staff — in the SQL.
pub(super) fn list_prescriptions(
    conn: &mut DbConn,
    scope: &Scope,
    f: &PrescriptionFilter,
    after: Option<&str>,
    limit: i64,
) -> Result<Vec<Prescription>> {
    let mut q = prescriptions::table
        .select(PrescriptionRow::as_select())
        .order(prescriptions::id)
        .limit(limit)
        .into_boxed();
    for c in prescription_conditions(scope, f) {
        q = q.filter(c);
    }
    if let Some(a) = after {
        q = q.filter(prescriptions::id.gt(a.to_string()));
    }
    Ok(q.load::<PrescriptionRow>(conn)?
        .into_iter()
        .map(Prescription::from)
        .collect())
}

/// How many prescriptions in `scope` match `f`.
pub(super) fn count_prescriptions(
    conn: &mut DbConn,
    scope: &Scope,
    f: &PrescriptionFilter,
) -> Result<i64> {
    let mut q = prescriptions::table.into_boxed();
    for c in prescription_conditions(scope, f) {
        q = q.filter(c);
    }
    Ok(q.count().get_result(conn)?)
}

/// The conditions of a prescription search, the same for a page and for the count.
fn prescription_conditions(
    scope: &Scope,
    f: &PrescriptionFilter,
) -> Vec<Condition<prescriptions::table>> {
    let mut out: Vec<Condition<prescriptions::table>> = Vec::new();
    let mut own: Option<Condition<prescriptions::table>> =
        scope.doctor_rows(prescriptions::doctor_id);
    if let (true, Some(user)) = (is_pharmacist(scope), scope.user_id()) {
        let at_my_pharmacies: Condition<prescriptions::table> = Box::new(
            prescriptions::id.eq_any(
                pharmacy_orders::table
                    .filter(pharmacy_orders::pharmacy_id.eq_any(pharmacies_of(user.to_string())))
                    .select(pharmacy_orders::prescription_id),
            ),
        );
        own = Some(match own {
            Some(o) => Box::new(o.or(at_my_pharmacies)),
            None => at_my_pharmacies,
        });
    }
    out.extend(scope.filter(Level::Clinical, prescriptions::patient_id, own));
    if let Some(v) = &f.patient_id {
        out.push(Box::new(prescriptions::patient_id.eq(v.to_string())));
    }
    if let Some(v) = f.status {
        out.push(Box::new(prescriptions::status.eq(v.as_str())));
    }
    if let Some(v) = &f.medication_id {
        out.push(Box::new(prescriptions::medication_id.eq(v.to_string())));
    }
    if let Some(v) = f.from {
        out.push(Box::new(prescriptions::created_at.ge(v.naive())));
    }
    if let Some(v) = f.to {
        out.push(Box::new(prescriptions::created_at.lt(v.naive())));
    }
    out
}

// --- orders ---

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = pharmacy_orders)]
struct OrderRow {
    id: String,
    prescription_id: String,
    pharmacy_id: String,
    patient_id: String,
    status: String,
    cancel_reason: Option<String>,
    received_at: Option<chrono::NaiveDateTime>,
    filled_at: Option<chrono::NaiveDateTime>,
    picked_up_at: Option<chrono::NaiveDateTime>,
    created_at: chrono::NaiveDateTime,
    updated_at: chrono::NaiveDateTime,
    version: i32,
}

impl From<OrderRow> for PharmacyOrder {
    fn from(r: OrderRow) -> PharmacyOrder {
        PharmacyOrder {
            id: OrderId::from_db(r.id),
            prescription_id: PrescriptionId::from_db(r.prescription_id),
            pharmacy_id: PharmacyId::from_db(r.pharmacy_id),
            patient_id: PatientId::from_db(r.patient_id),
            status: OrderStatus::parse(&r.status).unwrap_or(OrderStatus::Cancelled),
            cancel_reason: r.cancel_reason,
            received_at: r.received_at.map(Timestamp::from_db),
            filled_at: r.filled_at.map(Timestamp::from_db),
            picked_up_at: r.picked_up_at.map(Timestamp::from_db),
            created_at: Timestamp::from_db(r.created_at),
            updated_at: Timestamp::from_db(r.updated_at),
            version: r.version,
        }
    }
}

pub(super) fn load_order(conn: &mut DbConn, id: &OrderId) -> QueryResult<Option<PharmacyOrder>> {
    Ok(pharmacy_orders::table
        .find(id.as_str())
        .select(OrderRow::as_select())
        .first(conn)
        .optional()?
        .map(PharmacyOrder::from))
}

pub(super) fn lock_order(conn: &mut DbConn, id: &OrderId) -> QueryResult<bool> {
    crate::db::sql::lock_row(conn, "pharmacy_orders", id.as_str())
}

/// The prescription's open order, if any.
pub(super) fn open_order_of(conn: &mut DbConn, id: &PrescriptionId) -> QueryResult<Option<String>> {
    let open: Vec<&str> = OrderStatus::OPEN.iter().map(|s| s.as_str()).collect();
    pharmacy_orders::table
        .filter(pharmacy_orders::prescription_id.eq(id.as_str()))
        .filter(pharmacy_orders::status.eq_any(open))
        .select(pharmacy_orders::id)
        .first(conn)
        .optional()
}

pub(super) fn insert_order(
    conn: &mut DbConn,
    id: &OrderId,
    new: &NewOrder,
    patient: &PatientId,
    created_by: Option<&str>,
) -> QueryResult<()> {
    let t = now();
    diesel::insert_into(pharmacy_orders::table)
        .values((
            pharmacy_orders::id.eq(id.as_str()),
            pharmacy_orders::prescription_id.eq(new.prescription_id.as_str()),
            pharmacy_orders::pharmacy_id.eq(new.pharmacy_id.as_str()),
            pharmacy_orders::patient_id.eq(patient.as_str()),
            pharmacy_orders::status.eq(OrderStatus::Sent.as_str()),
            pharmacy_orders::created_by.eq(created_by),
            pharmacy_orders::created_at.eq(t),
            pharmacy_orders::updated_at.eq(t),
            pharmacy_orders::version.eq(1),
        ))
        .execute(conn)?;
    Ok(())
}

/// The versioned move of an order, with the time of the step it took.
pub(super) fn move_order(
    conn: &mut DbConn,
    o: &PharmacyOrder,
    to: OrderStatus,
    reason: Option<&str>,
    at: Timestamp,
) -> QueryResult<bool> {
    let stamp = |s: OrderStatus, old: Option<Timestamp>| {
        if to == s {
            Some(at.naive())
        } else {
            old.map(Timestamp::naive)
        }
    };
    crate::update_versioned!(
        conn,
        pharmacy_orders,
        o.id.as_str(),
        o.version,
        (
            t::status.eq(to.as_str()),
            // A reason is kept only as the reason of a cancellation.
            t::cancel_reason.eq(if to == OrderStatus::Cancelled {
                reason.or(o.cancel_reason.as_deref())
            } else {
                o.cancel_reason.as_deref()
            }),
            t::received_at.eq(stamp(OrderStatus::Received, o.received_at)),
            t::filled_at.eq(stamp(OrderStatus::Filled, o.filled_at)),
            t::picked_up_at.eq(stamp(OrderStatus::PickedUp, o.picked_up_at)),
        )
    )
}

/// The orders in reach: a pharmacist's pharmacies', and the compartment's (the patient's, the
/// prescriber's through the care team) — in the SQL.
pub(super) fn list_orders(
    conn: &mut DbConn,
    scope: &Scope,
    f: OrderFilter,
    after: Option<&str>,
    limit: i64,
) -> Result<Vec<PharmacyOrder>> {
    let mut q = pharmacy_orders::table
        .select(OrderRow::as_select())
        .order(pharmacy_orders::id)
        .limit(limit)
        .into_boxed();
    let mut own: Option<Condition<pharmacy_orders::table>> = None;
    if let (true, Some(user)) = (is_pharmacist(scope), scope.user_id()) {
        own = Some(Box::new(
            pharmacy_orders::pharmacy_id.eq_any(pharmacies_of(user.to_string())),
        ));
    }
    if let Some(d) = scope.own_doctor() {
        let mine: Condition<pharmacy_orders::table> = Box::new(
            pharmacy_orders::prescription_id.eq_any(
                prescriptions::table
                    .filter(prescriptions::doctor_id.eq(d.as_str().to_string()))
                    .select(prescriptions::id),
            ),
        );
        own = Some(match own {
            Some(o) => Box::new(o.or(mine)),
            None => mine,
        });
    }
    if let Some(reach) = scope.filter(Level::Clinical, pharmacy_orders::patient_id, own) {
        q = q.filter(reach);
    }
    if let Some(a) = after {
        q = q.filter(pharmacy_orders::id.gt(a.to_string()));
    }
    if let Some(v) = f.pharmacy_id {
        q = q.filter(pharmacy_orders::pharmacy_id.eq(v.into_string()));
    }
    if let Some(v) = f.prescription_id {
        q = q.filter(pharmacy_orders::prescription_id.eq(v.into_string()));
    }
    if let Some(v) = f.patient_id {
        q = q.filter(pharmacy_orders::patient_id.eq(v.into_string()));
    }
    if let Some(v) = f.status {
        q = q.filter(pharmacy_orders::status.eq(v.as_str()));
    }
    Ok(q.load::<OrderRow>(conn)?
        .into_iter()
        .map(PharmacyOrder::from)
        .collect())
}
