//! Payments: append-only, against exactly one approved claim or issued invoice, never beyond
//! what is approved or owed — the target's row is locked and its paid amount checked in the
//! same transaction, so concurrent payments queue and the one that would overdraw is refused.
//! `Idempotency-Key` is required, so a retried request never pays twice.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::claims::{self, ClaimId, ClaimStatus};
use super::invoices::{self, InvoiceId, InvoiceStatus};
use super::{is_billing, reaches, require_billing, store};
use crate::db::DbConn;
use crate::domains::notifications;
use crate::http::{ListResponse, Page};
use crate::kit::{
    Action, Actor, Audited, Error, Keyed, Money, PatientId, Resource, Result, Timestamp, Tx,
    UserId, Validator,
};
use crate::wire_enum;

/// What the audit trail calls a payment.
pub const PAYMENT: Resource = Resource::named("payment");

crate::id_type!(
    /// A payment.
    PaymentId
);

wire_enum!(
    /// How it was paid.
    PaymentMethod of "payment method" {
        Insurer = "insurer",
        Card = "card",
        Cash = "cash",
        BankTransfer = "bank_transfer",
    }
);

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct Payment {
    pub id: PaymentId,
    pub claim_id: Option<ClaimId>,
    pub invoice_id: Option<InvoiceId>,
    pub patient_id: PatientId,
    pub amount: Money,
    pub method: PaymentMethod,
    pub reference: Option<String>,
    pub paid_at: Timestamp,
    pub recorded_by: Option<UserId>,
}

impl Keyed for Payment {
    fn keyed_id(&self) -> &str {
        self.id.as_str()
    }
    fn keyed_patient(&self) -> Option<&str> {
        Some(self.patient_id.as_str())
    }
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewPayment {
    /// Exactly one of `claim_id` and `invoice_id`.
    pub claim_id: Option<ClaimId>,
    pub invoice_id: Option<InvoiceId>,
    /// At least 1 minor unit, in the claim's or invoice's currency.
    pub amount: Money,
    pub method: PaymentMethod,
    #[schema(max_length = 200)]
    pub reference: Option<String>,
}

#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct PaymentFilter {
    pub claim_id: Option<ClaimId>,
    pub invoice_id: Option<InvoiceId>,
    pub patient_id: Option<PatientId>,
}

/// 409 unless `paid + amount` stays within `limit`; the new paid amount.
fn within(paid: &Money, amount: &Money, limit: &Money) -> Result<Money> {
    limit.same_currency(amount, "amount")?;
    let after = paid.plus(amount, "amount")?;
    if after.amount_minor > limit.amount_minor {
        return Err(Error::conflict(format!(
            "the payment would bring the paid amount to {} of {} minor units: more than is owed",
            after.amount_minor, limit.amount_minor
        )));
    }
    Ok(after)
}

/// Records a payment (billing staff, admins) against an approved claim or an issued invoice;
/// covered in full, the claim or invoice becomes `paid`; the patient is told.
pub fn pay(tx: &mut Tx, new: NewPayment) -> Result<Payment> {
    require_billing(tx, Action::Create, PAYMENT, None, None)?;
    let mut v = Validator::new();
    if new.claim_id.is_some() == new.invoice_id.is_some() {
        v.error("claim_id", "name exactly one of claim_id and invoice_id");
    }
    v.opt_text("reference", new.reference.as_deref(), 200);
    v.finish()?;
    new.amount.check("amount", 1)?;
    let at = Timestamp::now();
    let patient = if let Some(id) = &new.claim_id {
        if store::load_claim(tx.conn(), id)?.is_none() {
            return Err(Error::conflict("claim_id does not name an existing claim"));
        }
        let c = claims::lock_reachable(tx, id, Action::Create)?;
        if c.status != ClaimStatus::Approved {
            return Err(Error::conflict_of(
                "illegal-transition",
                format!("the claim is {}: only an approved claim is paid", c.status),
            ));
        }
        let limit = c
            .approved_amount
            .clone()
            .ok_or_else(|| Error::internal("approved without an amount"))?;
        let after = within(&c.paid_amount, &new.amount, &limit)?;
        let status = if after == limit {
            let pid = Some(c.patient_id.as_str());
            claims::STATUS.take(
                tx,
                c.status,
                ClaimStatus::Paid,
                &[claims::Party::Payment],
                claims::CLAIM,
                id.as_str(),
                pid,
            )?;
            ClaimStatus::Paid
        } else {
            c.status
        };
        if !store::move_claim(tx.conn(), &c, status, None, None, Some(&after))? {
            return Err(Error::Stale);
        }
        if status != c.status {
            let pid = Some(c.patient_id.as_str());
            tx.record(Action::StateChange, claims::CLAIM, Some(id.as_str()), pid)?;
            let claim = store::load_claim(tx.conn(), id)?.ok_or(Error::NotFound)?;
            claims::tell(tx, &claim)?;
        }
        c.patient_id
    } else {
        let id = new.invoice_id.as_ref().expect("checked: one of the two");
        if store::load_invoice(tx.conn(), id)?.is_none() {
            return Err(Error::conflict(
                "invoice_id does not name an existing invoice",
            ));
        }
        let inv = invoices::lock_reachable(tx, id, Action::Create)?;
        if inv.status != InvoiceStatus::Issued {
            return Err(Error::conflict_of(
                "illegal-transition",
                format!(
                    "the invoice is {}: only an issued invoice is paid",
                    inv.status
                ),
            ));
        }
        let after = within(&inv.paid_amount, &new.amount, &inv.total)?;
        let status = if after == inv.total {
            let pid = Some(inv.patient_id.as_str());
            invoices::STATUS.take(
                tx,
                inv.status,
                InvoiceStatus::Paid,
                &[invoices::Party::Payment],
                invoices::INVOICE,
                id.as_str(),
                pid,
            )?;
            Some(InvoiceStatus::Paid)
        } else {
            None
        };
        if !store::pay_invoice(tx.conn(), &inv, &after, status)? {
            return Err(Error::Stale);
        }
        if status.is_some() {
            let pid = Some(inv.patient_id.as_str());
            tx.record(
                Action::StateChange,
                invoices::INVOICE,
                Some(id.as_str()),
                pid,
            )?;
        }
        inv.patient_id
    };
    let payment = Payment {
        id: PaymentId::generate(),
        claim_id: new.claim_id.clone(),
        invoice_id: new.invoice_id.clone(),
        patient_id: patient.clone(),
        amount: new.amount.clone(),
        method: new.method,
        reference: new.reference.clone(),
        paid_at: at,
        recorded_by: tx.actor().user_id().map(|u| UserId::from_db(u.to_string())),
    };
    store::insert_payment(tx.conn(), &payment)?;
    tx.record(
        Action::Create,
        PAYMENT,
        Some(payment.id.as_str()),
        Some(patient.as_str()),
    )?;
    notifications::notify_patient(
        tx,
        &patient,
        "payment_received",
        "Payment received".into(),
        format!(
            "A payment of {} minor units of {} was recorded.",
            payment.amount.amount_minor, payment.amount.currency
        ),
        (PAYMENT, payment.id.as_str()),
    )?;
    Ok(payment)
}

pub fn get(conn: &mut DbConn, actor: &Actor, id: &PaymentId) -> Result<Audited<Payment>> {
    match store::load_payment(conn, id)? {
        Some(p) if reaches(actor.scope(), &p.patient_id) => {
            let pid = p.patient_id.clone();
            Ok(Audited::read(p, PAYMENT, id.as_str(), Some(pid.as_str())))
        }
        _ => Err(actor.deny(
            Error::NotFound,
            Action::Read,
            PAYMENT,
            Some(id.as_str()),
            None,
        )),
    }
}

pub fn list(
    conn: &mut DbConn,
    actor: &Actor,
    f: PaymentFilter,
    page: &Page,
) -> Result<Audited<ListResponse<Payment>>> {
    let filter_patient = f.patient_id.clone();
    let all = is_billing(actor.scope());
    let rows = store::list_payments(
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
        |p| p.id.to_string(),
        PAYMENT,
        filter_patient.as_ref(),
        |p| &p.patient_id,
    ))
}
