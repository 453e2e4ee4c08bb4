//! The billing tables' queries. Money is stored as `*_minor` (BIGINT) and a currency column.

use diesel::prelude::*;

use super::claims::{Claim, ClaimFilter, ClaimId, ClaimLine, ClaimStatus, NewClaim};
use super::invoices::{Invoice, InvoiceFilter, InvoiceId, InvoiceLine, InvoiceStatus, NewInvoice};
use super::payments::{Payment, PaymentFilter, PaymentId, PaymentMethod};
use super::{InsurancePlan, NewPlan, PlanFilter, PlanId};
use crate::db::schema::{claim_lines, claims, insurance_plans, invoice_lines, invoices, payments};
use crate::db::{new_id, now, DbConn};
use crate::domains::appointments::AppointmentId;
use crate::kit::{Condition, Date, Money, PatientId, Result, Scope, Timestamp, UserId, WireEnum};

// --- plans ---

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = insurance_plans)]
struct PlanRow {
    id: String,
    name: String,
    payer: String,
    plan_code: String,
    active: bool,
    created_at: chrono::NaiveDateTime,
    updated_at: chrono::NaiveDateTime,
    version: i32,
}

impl From<PlanRow> for InsurancePlan {
    fn from(r: PlanRow) -> InsurancePlan {
        InsurancePlan {
            id: PlanId::from_db(r.id),
            name: r.name,
            payer: r.payer,
            plan_code: r.plan_code,
            active: r.active,
            created_at: Timestamp::from_db(r.created_at),
            updated_at: Timestamp::from_db(r.updated_at),
            version: r.version,
        }
    }
}

pub(super) fn load_plan(conn: &mut DbConn, id: &PlanId) -> QueryResult<Option<InsurancePlan>> {
    Ok(insurance_plans::table
        .find(id.as_str())
        .select(PlanRow::as_select())
        .first(conn)
        .optional()?
        .map(InsurancePlan::from))
}

pub(super) fn lock_plan(conn: &mut DbConn, id: &PlanId) -> QueryResult<bool> {
    crate::db::sql::lock_row(conn, "insurance_plans", id.as_str())
}

pub(super) fn insert_plan(conn: &mut DbConn, id: &PlanId, p: &NewPlan) -> QueryResult<()> {
    let t = now();
    diesel::insert_into(insurance_plans::table)
        .values((
            insurance_plans::id.eq(id.as_str()),
            insurance_plans::name.eq(p.name.trim()),
            insurance_plans::payer.eq(p.payer.trim()),
            insurance_plans::plan_code.eq(p.plan_code.trim()),
            insurance_plans::active.eq(p.active.unwrap_or(true)),
            insurance_plans::created_at.eq(t),
            insurance_plans::updated_at.eq(t),
            insurance_plans::version.eq(1),
        ))
        .execute(conn)?;
    Ok(())
}

pub(super) fn update_plan(conn: &mut DbConn, p: &InsurancePlan) -> QueryResult<bool> {
    crate::update_versioned!(
        conn,
        insurance_plans,
        p.id.as_str(),
        p.version,
        (
            t::name.eq(&p.name),
            t::payer.eq(&p.payer),
            t::plan_code.eq(&p.plan_code),
            t::active.eq(p.active),
        )
    )
}

pub(super) fn list_plans(
    conn: &mut DbConn,
    f: PlanFilter,
    after: Option<&str>,
    limit: i64,
) -> QueryResult<Vec<InsurancePlan>> {
    let mut q = insurance_plans::table
        .select(PlanRow::as_select())
        .order(insurance_plans::id)
        .limit(limit)
        .into_boxed();
    if let Some(p) = f.payer {
        q = q.filter(insurance_plans::payer.eq(p));
    }
    if let Some(a) = f.active {
        q = q.filter(insurance_plans::active.eq(a));
    }
    if let Some(a) = after {
        q = q.filter(insurance_plans::id.gt(a.to_string()));
    }
    Ok(q.load::<PlanRow>(conn)?
        .into_iter()
        .map(InsurancePlan::from)
        .collect())
}

// --- claims ---

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = claims)]
struct ClaimRow {
    id: String,
    patient_id: String,
    plan_id: String,
    member_id: String,
    service_date: chrono::NaiveDate,
    appointment_id: Option<String>,
    currency: String,
    total_minor: i64,
    status: String,
    approved_minor: Option<i64>,
    paid_minor: i64,
    denial_reason: Option<String>,
    created_at: chrono::NaiveDateTime,
    updated_at: chrono::NaiveDateTime,
    version: i32,
}

fn claim_of(r: ClaimRow, lines: Vec<ClaimLine>) -> Claim {
    let money = |minor: i64| Money::new(minor, &r.currency);
    Claim {
        id: ClaimId::from_db(r.id.clone()),
        patient_id: PatientId::from_db(r.patient_id.clone()),
        plan_id: PlanId::from_db(r.plan_id.clone()),
        member_id: r.member_id.clone(),
        service_date: Date::from_db(r.service_date),
        appointment_id: r.appointment_id.clone().map(AppointmentId::from_db),
        lines,
        total: money(r.total_minor),
        status: ClaimStatus::parse(&r.status).unwrap_or(ClaimStatus::Denied),
        approved_amount: r.approved_minor.map(money),
        paid_amount: money(r.paid_minor),
        denial_reason: r.denial_reason.clone(),
        created_at: Timestamp::from_db(r.created_at),
        updated_at: Timestamp::from_db(r.updated_at),
        version: r.version,
    }
}

fn lines_of_claims(conn: &mut DbConn, rows: Vec<ClaimRow>) -> QueryResult<Vec<Claim>> {
    let ids: Vec<&str> = rows.iter().map(|r| r.id.as_str()).collect();
    let lines: Vec<(String, String, String, i64)> = claim_lines::table
        .filter(claim_lines::claim_id.eq_any(ids))
        .order((claim_lines::claim_id, claim_lines::position))
        .select((
            claim_lines::claim_id,
            claim_lines::code,
            claim_lines::description,
            claim_lines::amount_minor,
        ))
        .load(conn)?;
    Ok(rows
        .into_iter()
        .map(|r| {
            let mine = lines
                .iter()
                .filter(|l| l.0 == r.id)
                .map(|(_, code, description, minor)| ClaimLine {
                    code: code.clone(),
                    description: description.clone(),
                    amount: Money::new(*minor, &r.currency),
                })
                .collect();
            claim_of(r, mine)
        })
        .collect())
}

pub(super) fn load_claim(conn: &mut DbConn, id: &ClaimId) -> QueryResult<Option<Claim>> {
    let row = claims::table
        .find(id.as_str())
        .select(ClaimRow::as_select())
        .first(conn)
        .optional()?;
    match row {
        Some(r) => Ok(lines_of_claims(conn, vec![r])?.pop()),
        None => Ok(None),
    }
}

pub(super) fn lock_claim(conn: &mut DbConn, id: &ClaimId) -> QueryResult<bool> {
    crate::db::sql::lock_row(conn, "claims", id.as_str())
}

pub(super) fn insert_claim(
    conn: &mut DbConn,
    id: &ClaimId,
    c: &NewClaim,
    total: &Money,
    created_by: Option<&str>,
) -> QueryResult<()> {
    let t = now();
    diesel::insert_into(claims::table)
        .values((
            claims::id.eq(id.as_str()),
            claims::patient_id.eq(c.patient_id.as_str()),
            claims::plan_id.eq(c.plan_id.as_str()),
            claims::member_id.eq(c.member_id.trim()),
            claims::service_date.eq(c.service_date.naive()),
            claims::appointment_id.eq(c.appointment_id.as_ref().map(|a| a.as_str())),
            claims::currency.eq(&total.currency),
            claims::total_minor.eq(total.amount_minor),
            claims::status.eq(ClaimStatus::Submitted.as_str()),
            claims::paid_minor.eq(0i64),
            claims::created_by.eq(created_by),
            claims::created_at.eq(t),
            claims::updated_at.eq(t),
            claims::version.eq(1),
        ))
        .execute(conn)?;
    for (i, l) in c.lines.iter().enumerate() {
        diesel::insert_into(claim_lines::table)
            .values((
                claim_lines::id.eq(new_id()),
                claim_lines::claim_id.eq(id.as_str()),
                claim_lines::position.eq(i as i32),
                claim_lines::code.eq(&l.code),
                claim_lines::description.eq(l.description.trim()),
                claim_lines::amount_minor.eq(l.amount.amount_minor),
            ))
            .execute(conn)?;
    }
    Ok(())
}

/// The versioned move of a claim: its status, and what an approval, a denial or a payment
/// sets (`None` keeps the current value).
pub(super) fn move_claim(
    conn: &mut DbConn,
    c: &Claim,
    status: ClaimStatus,
    approved: Option<&Money>,
    denial_reason: Option<&str>,
    paid: Option<&Money>,
) -> QueryResult<bool> {
    crate::update_versioned!(
        conn,
        claims,
        c.id.as_str(),
        c.version,
        (
            t::status.eq(status.as_str()),
            t::approved_minor.eq(approved
                .or(c.approved_amount.as_ref())
                .map(|m| m.amount_minor)),
            t::denial_reason.eq(denial_reason.or(c.denial_reason.as_deref())),
            t::paid_minor.eq(paid.unwrap_or(&c.paid_amount).amount_minor),
        )
    )
}

/// The claims in reach: every claim for admins and billing staff (`all`), else the caller's
/// own as a patient.
pub(super) fn list_claims(
    conn: &mut DbConn,
    scope: &Scope,
    all: bool,
    f: &ClaimFilter,
    after: Option<&str>,
    limit: i64,
) -> Result<Vec<Claim>> {
    let mut q = claims::table
        .select(ClaimRow::as_select())
        .order(claims::id)
        .limit(limit)
        .into_boxed();
    for c in claim_conditions(scope, all, f) {
        q = q.filter(c);
    }
    if let Some(a) = after {
        q = q.filter(claims::id.gt(a.to_string()));
    }
    let rows = q.load::<ClaimRow>(conn)?;
    Ok(lines_of_claims(conn, rows)?)
}

/// How many claims in `scope` (every claim with `all`) match `f`.
pub(super) fn count_claims(
    conn: &mut DbConn,
    scope: &Scope,
    all: bool,
    f: &ClaimFilter,
) -> Result<i64> {
    let mut q = claims::table.into_boxed();
    for c in claim_conditions(scope, all, f) {
        q = q.filter(c);
    }
    Ok(q.count().get_result(conn)?)
}

/// The conditions of a claim search, the same for a page and for the count.
fn claim_conditions(scope: &Scope, all: bool, f: &ClaimFilter) -> Vec<Condition<claims::table>> {
    let mut out: Vec<Condition<claims::table>> = Vec::new();
    if !all {
        out.extend(scope.patient_rows(claims::patient_id));
    }
    if let Some(v) = &f.patient_id {
        out.push(Box::new(claims::patient_id.eq(v.to_string())));
    }
    if let Some(v) = &f.plan_id {
        out.push(Box::new(claims::plan_id.eq(v.to_string())));
    }
    if let Some(v) = f.status {
        out.push(Box::new(claims::status.eq(v.as_str())));
    }
    if let Some(v) = f.from {
        out.push(Box::new(claims::created_at.ge(v.naive())));
    }
    if let Some(v) = f.to {
        out.push(Box::new(claims::created_at.lt(v.naive())));
    }
    out
}

// --- invoices ---

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = invoices)]
struct InvoiceRow {
    id: String,
    number: i64,
    patient_id: String,
    claim_id: Option<String>,
    currency: String,
    total_minor: i64,
    paid_minor: i64,
    status: String,
    issued_at: Option<chrono::NaiveDateTime>,
    due_date: Option<chrono::NaiveDate>,
    created_at: chrono::NaiveDateTime,
    updated_at: chrono::NaiveDateTime,
    version: i32,
}

fn lines_of_invoices(conn: &mut DbConn, rows: Vec<InvoiceRow>) -> QueryResult<Vec<Invoice>> {
    let ids: Vec<&str> = rows.iter().map(|r| r.id.as_str()).collect();
    let lines: Vec<(String, String, i64, i64, i64)> = invoice_lines::table
        .filter(invoice_lines::invoice_id.eq_any(ids))
        .order((invoice_lines::invoice_id, invoice_lines::position))
        .select((
            invoice_lines::invoice_id,
            invoice_lines::description,
            invoice_lines::quantity,
            invoice_lines::unit_minor,
            invoice_lines::amount_minor,
        ))
        .load(conn)?;
    Ok(rows
        .into_iter()
        .map(|r| {
            let money = |minor: i64| Money::new(minor, &r.currency);
            Invoice {
                lines: lines
                    .iter()
                    .filter(|l| l.0 == r.id)
                    .map(|(_, description, quantity, unit, amount)| InvoiceLine {
                        description: description.clone(),
                        quantity: *quantity,
                        unit_amount: money(*unit),
                        amount: money(*amount),
                    })
                    .collect(),
                id: InvoiceId::from_db(r.id.clone()),
                number: r.number,
                patient_id: PatientId::from_db(r.patient_id.clone()),
                claim_id: r.claim_id.clone().map(ClaimId::from_db),
                currency: r.currency.clone(),
                total: money(r.total_minor),
                paid_amount: money(r.paid_minor),
                status: InvoiceStatus::parse(&r.status).unwrap_or(InvoiceStatus::Void),
                issued_at: r.issued_at.map(Timestamp::from_db),
                due_date: r.due_date.map(Date::from_db),
                created_at: Timestamp::from_db(r.created_at),
                updated_at: Timestamp::from_db(r.updated_at),
                version: r.version,
            }
        })
        .collect())
}

pub(super) fn load_invoice(conn: &mut DbConn, id: &InvoiceId) -> QueryResult<Option<Invoice>> {
    let row = invoices::table
        .find(id.as_str())
        .select(InvoiceRow::as_select())
        .first(conn)
        .optional()?;
    match row {
        Some(r) => Ok(lines_of_invoices(conn, vec![r])?.pop()),
        None => Ok(None),
    }
}

pub(super) fn lock_invoice(conn: &mut DbConn, id: &InvoiceId) -> QueryResult<bool> {
    crate::db::sql::lock_row(conn, "invoices", id.as_str())
}

pub(super) fn insert_invoice(
    conn: &mut DbConn,
    id: &InvoiceId,
    number: i64,
    i: &NewInvoice,
    total: &Money,
    created_by: Option<&str>,
) -> QueryResult<()> {
    let t = now();
    diesel::insert_into(invoices::table)
        .values((
            invoices::id.eq(id.as_str()),
            invoices::number.eq(number),
            invoices::patient_id.eq(i.patient_id.as_str()),
            invoices::claim_id.eq(i.claim_id.as_ref().map(|c| c.as_str())),
            invoices::currency.eq(&i.currency),
            invoices::total_minor.eq(total.amount_minor),
            invoices::paid_minor.eq(0i64),
            invoices::status.eq(InvoiceStatus::Draft.as_str()),
            invoices::due_date.eq(i.due_date.map(Date::naive)),
            invoices::created_by.eq(created_by),
            invoices::created_at.eq(t),
            invoices::updated_at.eq(t),
            invoices::version.eq(1),
        ))
        .execute(conn)?;
    Ok(())
}

pub(super) fn replace_invoice_lines(
    conn: &mut DbConn,
    id: &InvoiceId,
    lines: &[InvoiceLine],
) -> QueryResult<()> {
    diesel::delete(invoice_lines::table.filter(invoice_lines::invoice_id.eq(id.as_str())))
        .execute(conn)?;
    for (i, l) in lines.iter().enumerate() {
        diesel::insert_into(invoice_lines::table)
            .values((
                invoice_lines::id.eq(new_id()),
                invoice_lines::invoice_id.eq(id.as_str()),
                invoice_lines::position.eq(i as i32),
                invoice_lines::description.eq(&l.description),
                invoice_lines::quantity.eq(l.quantity),
                invoice_lines::unit_minor.eq(l.unit_amount.amount_minor),
                invoice_lines::amount_minor.eq(l.amount.amount_minor),
            ))
            .execute(conn)?;
    }
    Ok(())
}

/// The versioned update of an invoice: total, due date, and a new status with its time.
pub(super) fn update_invoice(
    conn: &mut DbConn,
    inv: &Invoice,
    total: &Money,
    due: Option<Date>,
    status: Option<InvoiceStatus>,
    issued_at: Option<Timestamp>,
) -> QueryResult<bool> {
    crate::update_versioned!(
        conn,
        invoices,
        inv.id.as_str(),
        inv.version,
        (
            t::total_minor.eq(total.amount_minor),
            t::due_date.eq(due.map(Date::naive)),
            t::status.eq(status.unwrap_or(inv.status).as_str()),
            t::issued_at.eq(issued_at.or(inv.issued_at).map(Timestamp::naive)),
        )
    )
}

/// The versioned update of a payment on an invoice.
pub(super) fn pay_invoice(
    conn: &mut DbConn,
    inv: &Invoice,
    paid: &Money,
    status: Option<InvoiceStatus>,
) -> QueryResult<bool> {
    crate::update_versioned!(
        conn,
        invoices,
        inv.id.as_str(),
        inv.version,
        (
            t::paid_minor.eq(paid.amount_minor),
            t::status.eq(status.unwrap_or(inv.status).as_str()),
        )
    )
}

pub(super) fn list_invoices(
    conn: &mut DbConn,
    scope: &Scope,
    all: bool,
    f: InvoiceFilter,
    after: Option<&str>,
    limit: i64,
) -> Result<Vec<Invoice>> {
    let mut q = invoices::table
        .select(InvoiceRow::as_select())
        .order(invoices::id)
        .limit(limit)
        .into_boxed();
    if !all {
        if let Some(reach) = scope.patient_rows(invoices::patient_id) {
            q = q.filter(reach);
        }
    }
    if let Some(a) = after {
        q = q.filter(invoices::id.gt(a.to_string()));
    }
    if let Some(v) = f.patient_id {
        q = q.filter(invoices::patient_id.eq(v.into_string()));
    }
    if let Some(v) = f.status {
        q = q.filter(invoices::status.eq(v.as_str()));
    }
    if let Some(v) = f.claim_id {
        q = q.filter(invoices::claim_id.eq(v.into_string()));
    }
    let rows = q.load::<InvoiceRow>(conn)?;
    Ok(lines_of_invoices(conn, rows)?)
}

// --- payments ---

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = payments)]
struct PaymentRow {
    id: String,
    claim_id: Option<String>,
    invoice_id: Option<String>,
    patient_id: String,
    amount_minor: i64,
    currency: String,
    method: String,
    reference: Option<String>,
    paid_at: chrono::NaiveDateTime,
    recorded_by: Option<String>,
}

impl From<PaymentRow> for Payment {
    fn from(r: PaymentRow) -> Payment {
        Payment {
            id: PaymentId::from_db(r.id),
            claim_id: r.claim_id.map(ClaimId::from_db),
            invoice_id: r.invoice_id.map(InvoiceId::from_db),
            patient_id: PatientId::from_db(r.patient_id),
            amount: Money::new(r.amount_minor, &r.currency),
            method: PaymentMethod::parse(&r.method).unwrap_or(PaymentMethod::Cash),
            reference: r.reference,
            paid_at: Timestamp::from_db(r.paid_at),
            recorded_by: r.recorded_by.map(UserId::from_db),
        }
    }
}

pub(super) fn insert_payment(conn: &mut DbConn, p: &Payment) -> QueryResult<()> {
    diesel::insert_into(payments::table)
        .values((
            payments::id.eq(p.id.as_str()),
            payments::claim_id.eq(p.claim_id.as_ref().map(|c| c.as_str())),
            payments::invoice_id.eq(p.invoice_id.as_ref().map(|i| i.as_str())),
            payments::patient_id.eq(p.patient_id.as_str()),
            payments::amount_minor.eq(p.amount.amount_minor),
            payments::currency.eq(&p.amount.currency),
            payments::method.eq(p.method.as_str()),
            payments::reference.eq(&p.reference),
            payments::paid_at.eq(p.paid_at.naive()),
            payments::recorded_by.eq(p.recorded_by.as_ref().map(|u| u.as_str())),
        ))
        .execute(conn)?;
    Ok(())
}

pub(super) fn load_payment(conn: &mut DbConn, id: &PaymentId) -> QueryResult<Option<Payment>> {
    Ok(payments::table
        .find(id.as_str())
        .select(PaymentRow::as_select())
        .first(conn)
        .optional()?
        .map(Payment::from))
}

pub(super) fn list_payments(
    conn: &mut DbConn,
    scope: &Scope,
    all: bool,
    f: PaymentFilter,
    after: Option<&str>,
    limit: i64,
) -> Result<Vec<Payment>> {
    let mut q = payments::table
        .select(PaymentRow::as_select())
        .order(payments::id)
        .limit(limit)
        .into_boxed();
    if !all {
        if let Some(reach) = scope.patient_rows(payments::patient_id) {
            q = q.filter(reach);
        }
    }
    if let Some(a) = after {
        q = q.filter(payments::id.gt(a.to_string()));
    }
    if let Some(v) = f.claim_id {
        q = q.filter(payments::claim_id.eq(v.into_string()));
    }
    if let Some(v) = f.invoice_id {
        q = q.filter(payments::invoice_id.eq(v.into_string()));
    }
    if let Some(v) = f.patient_id {
        q = q.filter(payments::patient_id.eq(v.into_string()));
    }
    Ok(q.load::<PaymentRow>(conn)?
        .into_iter()
        .map(Payment::from)
        .collect())
}
