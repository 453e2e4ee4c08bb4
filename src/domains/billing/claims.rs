//! Insurance claims: lines with amounts and their exact total, the review state machine, an
//! approved amount never above the total; paid only through payments.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::{is_billing, reaches, require_billing, store, PlanId};
use crate::db::DbConn;
use crate::domains::appointments::AppointmentId;
use crate::domains::{appointments, notifications, patients};
use crate::http::{ListResponse, Page};
use crate::kit::{
    Action, Actor, Arrow, Audited, Date, Error, Machine, Money, PatientId, Resource, Result,
    Timestamp, Tx, Validator, WireEnum,
};
use crate::wire_enum;

/// What the audit trail calls a claim.
pub const CLAIM: Resource = Resource::named("insurance_claim");
/// The most lines a claim has.
pub const MAX_LINES: usize = 100;

crate::id_type!(
    /// An insurance claim.
    ClaimId
);

wire_enum!(
    /// Where a claim is.
    ClaimStatus of "claim" {
        Submitted = "submitted",
        InReview = "in_review",
        Approved = "approved",
        Denied = "denied",
        Paid = "paid",
    }
);

/// Who moves a claim: billing staff (and admins), or the payment that covers it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Party {
    Billing,
    Payment,
}

/// submitted → in_review → approved | denied (billing); approved → paid (a payment only).
pub const STATUS: Machine<'static, ClaimStatus, Party> = Machine {
    arrows: &[
        Arrow {
            from: ClaimStatus::Submitted,
            to: ClaimStatus::InReview,
            by: &[Party::Billing],
        },
        Arrow {
            from: ClaimStatus::InReview,
            to: ClaimStatus::Approved,
            by: &[Party::Billing],
        },
        Arrow {
            from: ClaimStatus::InReview,
            to: ClaimStatus::Denied,
            by: &[Party::Billing],
        },
        Arrow {
            from: ClaimStatus::Approved,
            to: ClaimStatus::Paid,
            by: &[Party::Payment],
        },
    ],
};

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct ClaimLine {
    /// A procedure code (CPT, e.g. `99213`).
    pub code: String,
    pub description: String,
    pub amount: Money,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[schema(examples(crate::http::examples::claim))]
pub struct Claim {
    pub id: ClaimId,
    pub patient_id: PatientId,
    pub plan_id: PlanId,
    pub member_id: String,
    pub service_date: Date,
    pub appointment_id: Option<AppointmentId>,
    pub lines: Vec<ClaimLine>,
    /// The sum of the lines.
    pub total: Money,
    pub status: ClaimStatus,
    pub approved_amount: Option<Money>,
    pub paid_amount: Money,
    pub denial_reason: Option<String>,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
    pub version: i32,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewClaimLine {
    #[schema(pattern = "^[A-Za-z0-9]{1,10}$")]
    pub code: String,
    pub description: String,
    pub amount: Money,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(examples(crate::http::examples::new_claim))]
pub struct NewClaim {
    pub patient_id: PatientId,
    pub plan_id: PlanId,
    pub member_id: String,
    pub service_date: Date,
    pub appointment_id: Option<AppointmentId>,
    /// 1–100 lines, all in one currency.
    #[schema(min_items = 1, max_items = 100)]
    pub lines: Vec<NewClaimLine>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ClaimTransition {
    pub to: ClaimStatus,
    /// With `approved`: at least 1 minor unit, at most the total, in its currency.
    pub approved_amount: Option<Money>,
    /// With `denied`.
    pub denial_reason: Option<String>,
}

#[derive(Debug, Clone, Default, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ClaimFilter {
    pub patient_id: Option<PatientId>,
    pub plan_id: Option<PlanId>,
    pub status: Option<ClaimStatus>,
    /// Claims filed at or after (RFC 3339).
    #[param(value_type = Option<String>, format = DateTime)]
    pub from: Option<Timestamp>,
    /// Claims filed before (RFC 3339).
    #[param(value_type = Option<String>, format = DateTime)]
    pub to: Option<Timestamp>,
}

/// Checks lines (codes, descriptions, amounts, one currency) and returns their total.
fn check_lines(lines: &[NewClaimLine]) -> Result<Money> {
    let mut v = Validator::new();
    if lines.is_empty() || lines.len() > MAX_LINES {
        v.error("lines", "a claim has 1 to 100 lines");
    }
    for (i, l) in lines.iter().enumerate() {
        let ok = !l.code.is_empty()
            && l.code.len() <= 10
            && l.code.bytes().all(|b| b.is_ascii_alphanumeric());
        v.check(
            ok,
            &format!("lines[{i}].code"),
            "must be a procedure code, e.g. CPT 99213",
        );
        v.text(
            &format!("lines[{i}].description"),
            l.description.trim(),
            1,
            500,
        );
    }
    v.finish()?;
    let currency = lines[0].amount.currency.clone();
    for (i, l) in lines.iter().enumerate() {
        l.amount.check(&format!("lines[{i}].amount"), 0)?;
    }
    Money::sum(&currency, lines.iter().map(|l| &l.amount), "lines")
}

/// Files a claim (billing staff, admins): the plan must be active (409); the patient is told.
pub fn file(tx: &mut Tx, new: NewClaim) -> Result<Claim> {
    require_billing(
        tx,
        Action::Create,
        CLAIM,
        None,
        Some(new.patient_id.as_str()),
    )?;
    let mut v = Validator::new();
    v.text("member_id", new.member_id.trim(), 1, 100);
    v.finish()?;
    let total = check_lines(&new.lines)?;
    if !patients::exists(tx.conn(), &new.patient_id)? {
        return Err(Error::conflict(
            "patient_id does not name an existing patient",
        ));
    }
    match store::load_plan(tx.conn(), &new.plan_id)? {
        Some(p) if p.active => {}
        Some(_) => return Err(Error::conflict("the insurance plan is not active")),
        None => {
            return Err(Error::conflict(
                "plan_id does not name an existing insurance plan",
            ))
        }
    }
    if let Some(a) = &new.appointment_id {
        match appointments::parties(tx.conn(), a)? {
            Some((p, _)) if p == new.patient_id => {}
            _ => {
                return Err(Error::conflict(
                    "appointment_id does not name an appointment of this patient",
                ))
            }
        }
    }
    let id = ClaimId::generate();
    let by = tx.actor().user_id().map(str::to_string);
    store::insert_claim(tx.conn(), &id, &new, &total, by.as_deref())?;
    let pid = Some(new.patient_id.as_str());
    tx.record(Action::Create, CLAIM, Some(id.as_str()), pid)?;
    let claim = store::load_claim(tx.conn(), &id)?.ok_or(Error::NotFound)?;
    tell(tx, &claim)?;
    Ok(claim)
}

/// `claim_status` to the patient.
pub(super) fn tell(tx: &mut Tx, c: &Claim) -> Result<()> {
    notifications::notify_patient(
        tx,
        &c.patient_id,
        "claim_status",
        format!("Insurance claim {}", c.status.as_str().replace('_', " ")),
        format!(
            "Your insurance claim for the service of {} is now {}.",
            c.service_date.naive(),
            c.status.as_str().replace('_', " ")
        ),
        (CLAIM, c.id.as_str()),
    )
}

/// The claim, locked, if the caller reaches it (404, audited, otherwise).
pub(super) fn lock_reachable(tx: &mut Tx, id: &ClaimId, action: Action) -> Result<Claim> {
    store::lock_claim(tx.conn(), id)?;
    match store::load_claim(tx.conn(), id)? {
        Some(c) if reaches(tx.scope(), &c.patient_id) => Ok(c),
        _ => Err(tx.deny(Error::NotFound, action, CLAIM, Some(id.as_str()), None)),
    }
}

/// Takes an arrow of the review (billing staff, admins): approving names the approved amount
/// (≤ total), denying a reason; `paid` is a payment's, never a caller's.
pub fn transition(tx: &mut Tx, id: &ClaimId, t: ClaimTransition) -> Result<Claim> {
    let c = lock_reachable(tx, id, Action::StateChange)?;
    let pid = Some(c.patient_id.as_str());
    require_billing(tx, Action::StateChange, CLAIM, Some(id.as_str()), pid)?;
    STATUS.take(
        tx,
        c.status,
        t.to,
        &[Party::Billing],
        CLAIM,
        id.as_str(),
        pid,
    )?;
    let mut approved = None;
    let mut denial = None;
    match t.to {
        ClaimStatus::Approved => {
            let a = t
                .approved_amount
                .ok_or_else(|| Error::field("approved_amount", "is required to approve"))?;
            a.check("approved_amount", 1)?;
            c.total.same_currency(&a, "approved_amount")?;
            if a.amount_minor > c.total.amount_minor {
                return Err(Error::field(
                    "approved_amount",
                    "must not be above the claim's total",
                ));
            }
            approved = Some(a);
        }
        ClaimStatus::Denied => {
            let reason = t
                .denial_reason
                .as_deref()
                .map(str::trim)
                .filter(|r| !r.is_empty())
                .ok_or_else(|| Error::field("denial_reason", "is required to deny"))?;
            denial = Some(reason.to_string());
        }
        _ => {}
    }
    if !store::move_claim(
        tx.conn(),
        &c,
        t.to,
        approved.as_ref(),
        denial.as_deref(),
        None,
    )? {
        return Err(Error::Stale);
    }
    tx.record(Action::StateChange, CLAIM, Some(id.as_str()), pid)?;
    let claim = store::load_claim(tx.conn(), id)?.ok_or(Error::NotFound)?;
    tell(tx, &claim)?;
    Ok(claim)
}

pub fn get(conn: &mut DbConn, actor: &Actor, id: &ClaimId) -> Result<Audited<Claim>> {
    match store::load_claim(conn, id)? {
        Some(c) if reaches(actor.scope(), &c.patient_id) => {
            let pid = c.patient_id.clone();
            Ok(Audited::read(c, CLAIM, id.as_str(), Some(pid.as_str())))
        }
        _ => Err(actor.deny(
            Error::NotFound,
            Action::Read,
            CLAIM,
            Some(id.as_str()),
            None,
        )),
    }
}

pub fn list(
    conn: &mut DbConn,
    actor: &Actor,
    f: ClaimFilter,
    page: &Page,
) -> Result<Audited<ListResponse<Claim>>> {
    let filter_patient = f.patient_id.clone();
    let all = is_billing(actor.scope());
    let rows = store::list_claims(
        conn,
        actor.scope(),
        all,
        &f,
        page.after.as_deref(),
        page.limit + 1,
    )?;
    Ok(Audited::page(
        rows,
        page.limit,
        |c| c.id.to_string(),
        CLAIM,
        filter_patient.as_ref(),
        |c| &c.patient_id,
    ))
}

/// How many claims the caller reaches match `f` (a FHIR search's total).
pub fn count(conn: &mut DbConn, actor: &Actor, f: &ClaimFilter) -> Result<i64> {
    store::count_claims(conn, actor.scope(), is_billing(actor.scope()), f)
}
