//! Invoices: sequential numbers never reused, lines with exact amounts, edits only while
//! draft, issue and void.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::claims::ClaimId;
use super::{is_billing, reaches, require_billing, store};
use crate::db::DbConn;
use crate::domains::{notifications, patients};
use crate::http::{ListResponse, Page};
use crate::kit::{
    Action, Actor, Arrow, Audited, Date, Error, IfMatch, Machine, Money, PatientId, Resource,
    Result, Timestamp, Tx, Validator,
};
use crate::wire_enum;

/// What the audit trail calls an invoice.
pub const INVOICE: Resource = Resource::named("invoice");
/// The most lines an invoice has.
pub const MAX_LINES: usize = 200;

crate::id_type!(
    /// An invoice.
    InvoiceId
);

wire_enum!(
    /// Where an invoice is.
    InvoiceStatus of "invoice" {
        Draft = "draft",
        Issued = "issued",
        Paid = "paid",
        Void = "void",
    }
);

/// Who moves an invoice: billing staff (and admins), or the payment that covers it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Party {
    Billing,
    Payment,
}

/// draft → issued | void; issued → void (no payment yet) | paid (a payment only).
pub const STATUS: Machine<'static, InvoiceStatus, Party> = Machine {
    arrows: &[
        Arrow {
            from: InvoiceStatus::Draft,
            to: InvoiceStatus::Issued,
            by: &[Party::Billing],
        },
        Arrow {
            from: InvoiceStatus::Draft,
            to: InvoiceStatus::Void,
            by: &[Party::Billing],
        },
        Arrow {
            from: InvoiceStatus::Issued,
            to: InvoiceStatus::Void,
            by: &[Party::Billing],
        },
        Arrow {
            from: InvoiceStatus::Issued,
            to: InvoiceStatus::Paid,
            by: &[Party::Payment],
        },
    ],
};

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct InvoiceLine {
    pub description: String,
    pub quantity: i64,
    pub unit_amount: Money,
    /// `quantity × unit_amount`.
    pub amount: Money,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct Invoice {
    pub id: InvoiceId,
    /// Sequential, never reused (a voided invoice keeps its number).
    pub number: i64,
    pub patient_id: PatientId,
    pub claim_id: Option<ClaimId>,
    pub currency: String,
    pub lines: Vec<InvoiceLine>,
    pub total: Money,
    pub paid_amount: Money,
    pub status: InvoiceStatus,
    pub issued_at: Option<Timestamp>,
    pub due_date: Option<Date>,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
    pub version: i32,
}

#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewInvoiceLine {
    pub description: String,
    /// 1–10,000.
    #[schema(minimum = 1, maximum = 10000)]
    pub quantity: i64,
    /// In the invoice's currency, at least 0.
    pub unit_amount: Money,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewInvoice {
    pub patient_id: PatientId,
    /// A claim of the same patient.
    pub claim_id: Option<ClaimId>,
    /// ISO 4217.
    #[schema(pattern = "^[A-Z]{3}$")]
    pub currency: String,
    #[serde(default)]
    #[schema(max_items = 200)]
    pub lines: Vec<NewInvoiceLine>,
    pub due_date: Option<Date>,
}

/// What a PATCH (only while draft) may change.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct InvoiceChange {
    /// Replaces every line.
    pub lines: Option<Vec<NewInvoiceLine>>,
    pub due_date: Option<Date>,
}

#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct InvoiceFilter {
    pub patient_id: Option<PatientId>,
    pub status: Option<InvoiceStatus>,
    pub claim_id: Option<ClaimId>,
}

/// Checks lines against the currency and prices them: each line's amount, and the total.
pub(super) fn price(currency: &str, lines: &[NewInvoiceLine]) -> Result<(Vec<InvoiceLine>, Money)> {
    let mut v = Validator::new();
    if !Money::is_currency(currency) {
        v.error("currency", "must be an ISO 4217 code, e.g. USD");
    }
    if lines.len() > MAX_LINES {
        v.error("lines", "an invoice has at most 200 lines");
    }
    for (i, l) in lines.iter().enumerate() {
        v.text(
            &format!("lines[{i}].description"),
            l.description.trim(),
            1,
            500,
        );
        v.check(
            (1..=10_000).contains(&l.quantity),
            &format!("lines[{i}].quantity"),
            "must be 1 to 10000",
        );
    }
    v.finish()?;
    let mut priced = Vec::new();
    for (i, l) in lines.iter().enumerate() {
        let field = format!("lines[{i}].unit_amount");
        l.unit_amount.check(&field, 0)?;
        Money::zero(currency).same_currency(&l.unit_amount, &field)?;
        let amount = l.unit_amount.times(l.quantity, &format!("lines[{i}]"))?;
        priced.push(InvoiceLine {
            description: l.description.trim().to_string(),
            quantity: l.quantity,
            unit_amount: l.unit_amount.clone(),
            amount,
        });
    }
    let total = Money::sum(currency, priced.iter().map(|l| &l.amount), "lines")?;
    Ok((priced, total))
}

/// Drafts an invoice (billing staff, admins) with the next number.
pub fn draft(tx: &mut Tx, new: NewInvoice) -> Result<Invoice> {
    require_billing(
        tx,
        Action::Create,
        INVOICE,
        None,
        Some(new.patient_id.as_str()),
    )?;
    let (lines, total) = price(&new.currency, &new.lines)?;
    if !patients::exists(tx.conn(), &new.patient_id)? {
        return Err(Error::conflict(
            "patient_id does not name an existing patient",
        ));
    }
    if let Some(c) = &new.claim_id {
        match store::load_claim(tx.conn(), c)? {
            Some(claim) if claim.patient_id == new.patient_id => {}
            _ => {
                return Err(Error::conflict(
                    "claim_id does not name a claim of this patient",
                ))
            }
        }
    }
    let id = InvoiceId::generate();
    let number = crate::db::sql::next_number(tx.conn(), "invoice")?;
    let by = tx.actor().user_id().map(str::to_string);
    store::insert_invoice(tx.conn(), &id, number, &new, &total, by.as_deref())?;
    store::replace_invoice_lines(tx.conn(), &id, &lines)?;
    tx.record(
        Action::Create,
        INVOICE,
        Some(id.as_str()),
        Some(new.patient_id.as_str()),
    )?;
    store::load_invoice(tx.conn(), &id)?.ok_or(Error::NotFound)
}

/// The invoice, locked, if the caller reaches it (404, audited, otherwise).
pub(super) fn lock_reachable(tx: &mut Tx, id: &InvoiceId, action: Action) -> Result<Invoice> {
    store::lock_invoice(tx.conn(), id)?;
    match store::load_invoice(tx.conn(), id)? {
        Some(i) if reaches(tx.scope(), &i.patient_id) => Ok(i),
        _ => Err(tx.deny(Error::NotFound, action, INVOICE, Some(id.as_str()), None)),
    }
}

/// Changes a draft's lines or due date (`If-Match` honoured); 409 once issued.
pub fn change(tx: &mut Tx, id: &InvoiceId, c: InvoiceChange, if_match: IfMatch) -> Result<Invoice> {
    let inv = lock_reachable(tx, id, Action::Update)?;
    let pid = Some(inv.patient_id.as_str());
    require_billing(tx, Action::Update, INVOICE, Some(id.as_str()), pid)?;
    if_match.check(inv.version)?;
    if inv.status != InvoiceStatus::Draft {
        return Err(Error::conflict_of(
            "illegal-transition",
            format!("the invoice is {}: only a draft is edited", inv.status),
        ));
    }
    let total = match &c.lines {
        Some(lines) => {
            let (priced, total) = price(&inv.currency, lines)?;
            store::replace_invoice_lines(tx.conn(), id, &priced)?;
            total
        }
        None => inv.total.clone(),
    };
    let due = c.due_date.or(inv.due_date);
    if !store::update_invoice(tx.conn(), &inv, &total, due, None, None)? {
        return Err(Error::Stale);
    }
    tx.record(Action::Update, INVOICE, Some(id.as_str()), pid)?;
    store::load_invoice(tx.conn(), id)?.ok_or(Error::NotFound)
}

/// Issues a draft with at least one line and a total above zero; the patient is told.
pub fn issue(tx: &mut Tx, id: &InvoiceId) -> Result<Invoice> {
    let inv = lock_reachable(tx, id, Action::StateChange)?;
    let pid = Some(inv.patient_id.as_str());
    require_billing(tx, Action::StateChange, INVOICE, Some(id.as_str()), pid)?;
    let to = InvoiceStatus::Issued;
    STATUS.take(
        tx,
        inv.status,
        to,
        &[Party::Billing],
        INVOICE,
        id.as_str(),
        pid,
    )?;
    if inv.lines.is_empty() || inv.total.amount_minor == 0 {
        return Err(Error::conflict(
            "an invoice without lines or with a zero total is not issued",
        ));
    }
    if !store::update_invoice(
        tx.conn(),
        &inv,
        &inv.total,
        inv.due_date,
        Some(to),
        Some(Timestamp::now()),
    )? {
        return Err(Error::Stale);
    }
    tx.record(Action::StateChange, INVOICE, Some(id.as_str()), pid)?;
    notifications::notify_patient(
        tx,
        &inv.patient_id,
        "invoice_issued",
        format!("Invoice {}", inv.number),
        format!(
            "Invoice {} of {} {} was issued to you.",
            inv.number,
            format_amount(&inv.total),
            inv.currency
        ),
        (INVOICE, id.as_str()),
    )?;
    store::load_invoice(tx.conn(), id)?.ok_or(Error::NotFound)
}

/// `1999` minor units as `19.99` (two decimals; enough for a notification's text).
fn format_amount(m: &Money) -> String {
    let sign = if m.amount_minor < 0 { "-" } else { "" };
    let a = m.amount_minor.unsigned_abs();
    format!("{sign}{}.{:02}", a / 100, a % 100)
}

/// Voids a draft, or an issued invoice nobody has paid anything of (409 otherwise).
pub fn void(tx: &mut Tx, id: &InvoiceId) -> Result<Invoice> {
    let inv = lock_reachable(tx, id, Action::StateChange)?;
    let pid = Some(inv.patient_id.as_str());
    require_billing(tx, Action::StateChange, INVOICE, Some(id.as_str()), pid)?;
    let to = InvoiceStatus::Void;
    STATUS.take(
        tx,
        inv.status,
        to,
        &[Party::Billing],
        INVOICE,
        id.as_str(),
        pid,
    )?;
    if inv.paid_amount.amount_minor > 0 {
        return Err(Error::conflict("an invoice with a payment is not voided"));
    }
    if !store::update_invoice(tx.conn(), &inv, &inv.total, inv.due_date, Some(to), None)? {
        return Err(Error::Stale);
    }
    tx.record(Action::StateChange, INVOICE, Some(id.as_str()), pid)?;
    store::load_invoice(tx.conn(), id)?.ok_or(Error::NotFound)
}

pub fn get(conn: &mut DbConn, actor: &Actor, id: &InvoiceId) -> Result<Audited<Invoice>> {
    match store::load_invoice(conn, id)? {
        Some(i) if reaches(actor.scope(), &i.patient_id) => {
            let pid = i.patient_id.clone();
            Ok(Audited::read(i, INVOICE, id.as_str(), Some(pid.as_str())))
        }
        _ => Err(actor.deny(
            Error::NotFound,
            Action::Read,
            INVOICE,
            Some(id.as_str()),
            None,
        )),
    }
}

pub fn list(
    conn: &mut DbConn,
    actor: &Actor,
    f: InvoiceFilter,
    page: &Page,
) -> Result<Audited<ListResponse<Invoice>>> {
    let filter_patient = f.patient_id.clone();
    let all = is_billing(actor.scope());
    let rows = store::list_invoices(
        conn,
        actor.scope(),
        all,
        f,
        page.after.as_deref(),
        page.limit + 1,
    )?;
    Ok(Audited::page(
        rows,
        page.limit,
        |i| i.id.to_string(),
        INVOICE,
        filter_patient.as_ref(),
        |i| &i.patient_id,
    ))
}
