//! Insurance and billing: plans, claims with their lines, invoices with sequential numbers,
//! and payments that can never be doubled or overdrawn. Money is `kit::Money` throughout:
//! integer minor units and a currency, checked sums.
//!
//! Who reaches billing objects: admins and billing staff, every patient's; a patient, their
//! own; nobody else — doctors none (`reaches`, and `Scope::patient_rows` in the list SQL).

mod claims;
mod invoices;
mod payments;
mod routes;
mod store;

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::auth::permissions::BILLING;
use crate::db::sql::UniqueKey;
use crate::db::DbConn;
use crate::http::{ListResponse, Page};
use crate::kit::{
    Action, Error, IfMatch, PatientId, Resource, Result, Scope, Timestamp, Tx, UniqueExt, Validator,
};

pub use claims::{
    count as count_claims, file as file_claim, get as get_claim, list as list_claims,
    transition as move_claim, Claim, ClaimFilter, ClaimId, ClaimLine, ClaimStatus, ClaimTransition,
    NewClaim, NewClaimLine, CLAIM,
};
pub use invoices::{
    draft as draft_invoice, issue as issue_invoice, void as void_invoice, Invoice, InvoiceLine,
    InvoiceStatus, NewInvoice, NewInvoiceLine as InvoiceLineInput,
};
pub use payments::{pay, NewPayment, Payment, PaymentMethod};
pub use routes::router;

/// What the audit trail calls an insurance plan.
pub const PLAN: Resource = Resource::named("insurance_plan");

const PLAN_CODE: UniqueKey = UniqueKey {
    table: "insurance_plans",
    columns: &["plan_code"],
};

crate::id_type!(
    /// An insurance plan.
    PlanId
);

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct InsurancePlan {
    pub id: PlanId,
    pub name: String,
    pub payer: String,
    /// Unique.
    pub plan_code: String,
    pub active: bool,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
    pub version: i32,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewPlan {
    pub name: String,
    pub payer: String,
    pub plan_code: String,
    /// Default true.
    pub active: Option<bool>,
}

#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PlanChange {
    pub name: Option<String>,
    pub payer: Option<String>,
    pub plan_code: Option<String>,
    pub active: Option<bool>,
}

#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct PlanFilter {
    pub payer: Option<String>,
    pub active: Option<bool>,
}

/// Is the caller billing staff (who reach every patient's billing objects)?
pub(crate) fn is_billing(scope: &Scope) -> bool {
    scope.has_role(BILLING)
}

/// Does the caller reach a billing object of `patient`: an admin, billing staff, the patient.
pub(crate) fn reaches(scope: &Scope, patient: &PatientId) -> bool {
    scope.is_admin() || is_billing(scope) || scope.is_patient(patient)
}

/// 403, audited, unless billing staff or an admin (who write billing objects).
pub(crate) fn require_billing(
    tx: &Tx,
    action: Action,
    resource: Resource,
    id: Option<&str>,
    patient: Option<&str>,
) -> Result<()> {
    if tx.scope().is_admin() || is_billing(tx.scope()) {
        return Ok(());
    }
    Err(tx.deny(
        Error::forbidden("billing staff and admins write billing objects"),
        action,
        resource,
        id,
        patient,
    ))
}

fn check_plan(v: &mut Validator, name: Option<&str>, payer: Option<&str>, code: Option<&str>) {
    if let Some(n) = name {
        v.text("name", n.trim(), 1, 200);
    }
    if let Some(p) = payer {
        v.text("payer", p.trim(), 1, 200);
    }
    if let Some(c) = code {
        v.text("plan_code", c.trim(), 1, 50);
    }
}

/// Adds a plan (admin); `plan_code` unique (409).
pub fn create_plan(tx: &mut Tx, p: NewPlan) -> Result<InsurancePlan> {
    let mut v = Validator::new();
    check_plan(&mut v, Some(&p.name), Some(&p.payer), Some(&p.plan_code));
    v.finish()?;
    let id = PlanId::generate();
    store::insert_plan(tx.conn(), &id, &p).unique(PLAN_CODE, "a plan with this code exists")?;
    tx.record(Action::Create, PLAN, Some(id.as_str()), None)?;
    store::load_plan(tx.conn(), &id)?.ok_or(Error::NotFound)
}

/// Changes a plan (admin; `If-Match` honoured).
pub fn change_plan(
    tx: &mut Tx,
    id: &PlanId,
    c: PlanChange,
    if_match: IfMatch,
) -> Result<InsurancePlan> {
    let mut v = Validator::new();
    check_plan(
        &mut v,
        c.name.as_deref(),
        c.payer.as_deref(),
        c.plan_code.as_deref(),
    );
    v.finish()?;
    store::lock_plan(tx.conn(), id)?;
    let current = store::load_plan(tx.conn(), id)?.ok_or(Error::NotFound)?;
    if_match.check(current.version)?;
    let next = InsurancePlan {
        name: c
            .name
            .map(|s| s.trim().to_string())
            .unwrap_or(current.name.clone()),
        payer: c
            .payer
            .map(|s| s.trim().to_string())
            .unwrap_or(current.payer.clone()),
        plan_code: c
            .plan_code
            .map(|s| s.trim().to_string())
            .unwrap_or(current.plan_code.clone()),
        active: c.active.unwrap_or(current.active),
        ..current
    };
    if !store::update_plan(tx.conn(), &next).unique(PLAN_CODE, "a plan with this code exists")? {
        return Err(Error::Stale);
    }
    tx.record(Action::Update, PLAN, Some(id.as_str()), None)?;
    store::load_plan(tx.conn(), id)?.ok_or(Error::NotFound)
}

pub fn get_plan(conn: &mut DbConn, id: &PlanId) -> Result<InsurancePlan> {
    store::load_plan(conn, id)?.ok_or(Error::NotFound)
}

pub fn list_plans(
    conn: &mut DbConn,
    f: PlanFilter,
    page: &Page,
) -> Result<ListResponse<InsurancePlan>> {
    let rows = store::list_plans(conn, f, page.after.as_deref(), page.limit + 1)?;
    Ok(ListResponse::from_rows(rows, page.limit, |p| {
        p.id.to_string()
    }))
}
