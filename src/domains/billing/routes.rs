//! `/insurance-plans`, `/claims`, `/payments`, `/invoices`: parse, call the rule, answer.

use crate::http::Path;
use utoipa_axum::{router::OpenApiRouter, routes};

use super::claims::{self, Claim, ClaimFilter, ClaimId, ClaimTransition, NewClaim, CLAIM};
use super::invoices::{
    self, Invoice, InvoiceChange, InvoiceFilter, InvoiceId, NewInvoice, INVOICE,
};
use super::payments::{self, NewPayment, Payment, PaymentFilter, PaymentId, PAYMENT};
use super::{InsurancePlan, NewPlan, PlanChange, PlanFilter, PlanId, PLAN};
use crate::http::{
    ApiError, AppJson, AppQuery, Created, ListResponse, PageParams, Problem, Tagged,
};
use crate::kit::{
    route, route_unaudited, Access, Action, AppState, Ctx, Error, IdempotencyKey, IfMatch, Perm,
};

pub fn router() -> OpenApiRouter<AppState> {
    let read = Access::Perm(Perm::BillingRead);
    let write = Access::Perm(Perm::BillingWrite);
    let directory = "the plan directory names no patient";
    OpenApiRouter::new()
        .routes(route(write, PLAN, routes!(create_plan)))
        .routes(route_unaudited(
            Access::SignedIn,
            PLAN,
            directory,
            routes!(list_plans),
        ))
        .routes(route_unaudited(
            Access::SignedIn,
            PLAN,
            directory,
            routes!(get_plan),
        ))
        .routes(route(write, PLAN, routes!(patch_plan)))
        .routes(route(write, CLAIM, routes!(create_claim)))
        .routes(route(read, CLAIM, routes!(list_claims)))
        .routes(route(read, CLAIM, routes!(get_claim)))
        .routes(route(write, CLAIM, routes!(transition_claim)))
        .routes(route(write, PAYMENT, routes!(create_payment)))
        .routes(route(read, PAYMENT, routes!(list_payments)))
        .routes(route(read, PAYMENT, routes!(get_payment)))
        .routes(route(write, INVOICE, routes!(create_invoice)))
        .routes(route(read, INVOICE, routes!(list_invoices)))
        .routes(route(read, INVOICE, routes!(get_invoice)))
        .routes(route(write, INVOICE, routes!(patch_invoice)))
        .routes(route(write, INVOICE, routes!(issue_invoice)))
        .routes(route(write, INVOICE, routes!(void_invoice)))
}

/// Plans are an admin's: 403, audited, for billing staff.
fn require_admin(tx: &crate::kit::Tx, action: Action, id: Option<&str>) -> Result<(), Error> {
    if tx.scope().is_admin() {
        return Ok(());
    }
    Err(tx.deny(
        Error::forbidden("admins manage insurance plans"),
        action,
        PLAN,
        id,
        None,
    ))
}

/// Add an insurance plan
///
/// Needs `billing:write`, and only an admin (403, audited, for billing staff). Name and payer 1–200
/// characters; `plan_code` 1–50 characters and unique (409). Active unless `active` is false.
/// Audited as `create`.
#[utoipa::path(post, path = "/insurance-plans", tag = "billing", request_body = NewPlan,
    responses((status = 201, body = InsurancePlan), (status = 403, body = Problem),
        (status = 409, body = Problem), (status = 422, body = Problem)))]
async fn create_plan(
    ctx: Ctx,
    AppJson(body): AppJson<NewPlan>,
) -> Result<Created<InsurancePlan>, ApiError> {
    let p = ctx
        .write(move |tx| {
            require_admin(tx, Action::Create, None)?;
            super::create_plan(tx, body)
        })
        .await?;
    Ok(Created {
        location: format!("/api/v1/insurance-plans/{}", p.id),
        version: Some(p.version),
        body: p,
    })
}

/// List insurance plans
///
/// Any signed-in user. Filters: `payer`, `active`; in creation order, paged. Not audited (the plan
/// directory names no patient).
#[utoipa::path(get, path = "/insurance-plans", tag = "billing", params(PlanFilter, PageParams),
    responses((status = 200, body = ListResponse<InsurancePlan>)))]
async fn list_plans(
    ctx: Ctx,
    AppQuery(f): AppQuery<PlanFilter>,
    AppQuery(page): AppQuery<PageParams>,
) -> Result<ListResponse<InsurancePlan>, ApiError> {
    let page = page.page()?;
    Ok(ctx
        .read(move |conn, _| super::list_plans(conn, f, &page))
        .await?)
}

/// Read an insurance plan
///
/// Any signed-in user. Not audited (it names no patient). The `ETag` is its version, for `If-Match`
/// on `PATCH`.
#[utoipa::path(get, path = "/insurance-plans/{id}", tag = "billing", params(("id" = String, Path)),
    responses((status = 200, body = InsurancePlan), (status = 404, body = Problem)))]
async fn get_plan(ctx: Ctx, Path(id): Path<PlanId>) -> Result<Tagged<InsurancePlan>, ApiError> {
    let p = ctx.read(move |conn, _| super::get_plan(conn, &id)).await?;
    Ok(Tagged(p.version, p))
}

/// Change an insurance plan
///
/// Needs `billing:write`, and only an admin (403 for billing staff). Changes the fields given;
/// `plan_code` stays unique (409). An inactive plan takes no new claims. `If-Match` is honoured
/// (412 when stale). Audited as `update`.
#[utoipa::path(patch, path = "/insurance-plans/{id}", tag = "billing", params(("id" = String, Path)),
    request_body = PlanChange,
    responses((status = 200, body = InsurancePlan), (status = 403, body = Problem),
        (status = 404, body = Problem), (status = 409, body = Problem),
        (status = 412, body = Problem), (status = 422, body = Problem)))]
async fn patch_plan(
    ctx: Ctx,
    Path(id): Path<PlanId>,
    if_match: IfMatch,
    AppJson(body): AppJson<PlanChange>,
) -> Result<Tagged<InsurancePlan>, ApiError> {
    let p = ctx
        .write(move |tx| {
            require_admin(tx, Action::Update, Some(id.as_str()))?;
            super::change_plan(tx, &id, body, if_match)
        })
        .await?;
    Ok(Tagged(p.version, p))
}

/// File an insurance claim
///
/// Needs `billing:write`; billing staff or an admin (403). 1–100 lines, each a procedure code (CPT,
/// e.g. `99213`), a description and a non-negative amount, all in one currency (422); `total` is
/// their sum. The patient must exist and the plan be active (409); `appointment_id` must be one of
/// the patient's (409). The claim starts `submitted` and the patient is notified. Audited as
/// `create`.
#[utoipa::path(post, path = "/claims", tag = "billing", request_body = NewClaim,
    responses((status = 201, body = Claim), (status = 403, body = Problem),
        (status = 409, body = Problem), (status = 422, body = Problem)))]
async fn create_claim(
    ctx: Ctx,
    AppJson(body): AppJson<NewClaim>,
) -> Result<Created<Claim>, ApiError> {
    let c = ctx.write(move |tx| claims::file(tx, body)).await?;
    Ok(Created {
        location: format!("/api/v1/claims/{}", c.id),
        version: Some(c.version),
        body: c,
    })
}

/// List insurance claims
///
/// Needs `billing:read`. Billing staff and admins see every claim, a patient their own; doctors
/// none. Filters: `patient_id`, `plan_id`, `status`; in creation order, paged. Audited as a
/// `search` per patient listed.
#[utoipa::path(get, path = "/claims", tag = "billing", params(ClaimFilter, PageParams),
    responses((status = 200, body = ListResponse<Claim>), (status = 403, body = Problem)))]
async fn list_claims(
    ctx: Ctx,
    AppQuery(f): AppQuery<ClaimFilter>,
    AppQuery(page): AppQuery<PageParams>,
) -> Result<ListResponse<Claim>, ApiError> {
    let page = page.page()?;
    let found = ctx
        .read(move |conn, actor| claims::list(conn, actor, f, &page))
        .await?;
    Ok(ctx.reveal(found).await?)
}

/// Read an insurance claim
///
/// Needs `billing:read`: billing staff, admins, or the claim's patient (404 for anyone else).
/// Audited as a `read`. The `ETag` is its version.
#[utoipa::path(get, path = "/claims/{id}", tag = "billing", params(("id" = String, Path)),
    responses((status = 200, body = Claim), (status = 404, body = Problem)))]
async fn get_claim(ctx: Ctx, Path(id): Path<ClaimId>) -> Result<Tagged<Claim>, ApiError> {
    let found = ctx
        .read(move |conn, actor| claims::get(conn, actor, &id))
        .await?;
    let c = ctx.reveal(found).await?;
    Ok(Tagged(c.version, c))
}

/// Review an insurance claim
///
/// Needs `billing:write`; billing staff or an admin (403). submitted → in_review → approved (with
/// an `approved_amount` of at least 1 minor unit and at most the total, in its currency) or denied
/// (with a `denial_reason`); any other arrow is 409 `illegal-transition`, and `paid` comes only
/// from payments. The patient is notified of each step. Audited as `state_change`.
#[utoipa::path(post, path = "/claims/{id}/transition", tag = "billing", params(("id" = String, Path)),
    request_body = ClaimTransition,
    responses((status = 200, body = Claim), (status = 403, body = Problem),
        (status = 404, body = Problem), (status = 409, body = Problem),
        (status = 422, body = Problem)))]
async fn transition_claim(
    ctx: Ctx,
    Path(id): Path<ClaimId>,
    AppJson(body): AppJson<ClaimTransition>,
) -> Result<Tagged<Claim>, ApiError> {
    let c = ctx
        .write(move |tx| claims::transition(tx, &id, body))
        .await?;
    Ok(Tagged(c.version, c))
}

/// Record a payment
///
/// Needs `billing:write`; billing staff or an admin (403). Against exactly one of an approved claim
/// or an issued invoice (422 otherwise, 409 in another status), in its currency, never more than is
/// approved or owed (409); covered in full, the claim or invoice becomes `paid`. The patient is
/// notified. `Idempotency-Key` is required (400 without): a repeat returns the first payment,
/// another body under the key is 422. Audited as `create`.
#[utoipa::path(post, path = "/payments", tag = "billing", request_body = NewPayment,
    params(("Idempotency-Key" = String, Header, description = "Required: makes a retried payment safe")),
    responses((status = 201, body = Payment), (status = 400, body = Problem),
        (status = 403, body = Problem), (status = 404, body = Problem),
        (status = 409, body = Problem), (status = 422, body = Problem)))]
async fn create_payment(
    ctx: Ctx,
    key: IdempotencyKey,
    AppJson(body): AppJson<NewPayment>,
) -> Result<Created<Payment>, ApiError> {
    if key.0.is_none() {
        return Err(ApiError::bad_request(
            "a payment needs an Idempotency-Key header, so that a retry never pays twice",
        ));
    }
    let request = serde_json::json!(&body);
    let p = ctx
        .write_once(key, "POST /payments", &request, PAYMENT, move |tx| {
            payments::pay(tx, body)
        })
        .await?;
    Ok(Created {
        location: format!("/api/v1/payments/{}", p.id),
        version: None,
        body: p,
    })
}

/// List payments
///
/// Needs `billing:read`. Billing staff and admins see every payment, a patient their own. Filters:
/// `claim_id`, `invoice_id`, `patient_id`; in creation order, paged. Audited as a `search` per
/// patient listed.
#[utoipa::path(get, path = "/payments", tag = "billing", params(PaymentFilter, PageParams),
    responses((status = 200, body = ListResponse<Payment>), (status = 403, body = Problem)))]
async fn list_payments(
    ctx: Ctx,
    AppQuery(f): AppQuery<PaymentFilter>,
    AppQuery(page): AppQuery<PageParams>,
) -> Result<ListResponse<Payment>, ApiError> {
    let page = page.page()?;
    let found = ctx
        .read(move |conn, actor| payments::list(conn, actor, f, &page))
        .await?;
    Ok(ctx.reveal(found).await?)
}

/// Read a payment
///
/// Needs `billing:read`: billing staff, admins, or the payment's patient (404 for anyone else).
/// Payments never change. Audited as a `read`.
#[utoipa::path(get, path = "/payments/{id}", tag = "billing", params(("id" = String, Path)),
    responses((status = 200, body = Payment), (status = 404, body = Problem)))]
async fn get_payment(ctx: Ctx, Path(id): Path<PaymentId>) -> Result<axum::Json<Payment>, ApiError> {
    let found = ctx
        .read(move |conn, actor| payments::get(conn, actor, &id))
        .await?;
    Ok(axum::Json(ctx.reveal(found).await?))
}

/// Draft an invoice
///
/// Needs `billing:write`; billing staff or an admin (403). Up to 200 lines, each a description, a
/// quantity of 1–10,000 and a unit amount in the invoice's ISO 4217 `currency` (422). The patient
/// must exist, and `claim_id` be one of the patient's (409). The draft gets the next sequential
/// `number`, never reused. Audited as `create`.
#[utoipa::path(post, path = "/invoices", tag = "billing", request_body = NewInvoice,
    responses((status = 201, body = Invoice), (status = 403, body = Problem),
        (status = 409, body = Problem), (status = 422, body = Problem)))]
async fn create_invoice(
    ctx: Ctx,
    AppJson(body): AppJson<NewInvoice>,
) -> Result<Created<Invoice>, ApiError> {
    let i = ctx.write(move |tx| invoices::draft(tx, body)).await?;
    Ok(Created {
        location: format!("/api/v1/invoices/{}", i.id),
        version: Some(i.version),
        body: i,
    })
}

/// List invoices
///
/// Needs `billing:read`. Billing staff and admins see every invoice, a patient their own. Filters:
/// `patient_id`, `status`, `claim_id`; in creation order, paged. Audited as a `search` per patient
/// listed.
#[utoipa::path(get, path = "/invoices", tag = "billing", params(InvoiceFilter, PageParams),
    responses((status = 200, body = ListResponse<Invoice>), (status = 403, body = Problem)))]
async fn list_invoices(
    ctx: Ctx,
    AppQuery(f): AppQuery<InvoiceFilter>,
    AppQuery(page): AppQuery<PageParams>,
) -> Result<ListResponse<Invoice>, ApiError> {
    let page = page.page()?;
    let found = ctx
        .read(move |conn, actor| invoices::list(conn, actor, f, &page))
        .await?;
    Ok(ctx.reveal(found).await?)
}

/// Read an invoice
///
/// Needs `billing:read`: billing staff, admins, or the invoice's patient (404 for anyone else).
/// Audited as a `read`. The `ETag` is its version, for `If-Match` on `PATCH`.
#[utoipa::path(get, path = "/invoices/{id}", tag = "billing", params(("id" = String, Path)),
    responses((status = 200, body = Invoice), (status = 404, body = Problem)))]
async fn get_invoice(ctx: Ctx, Path(id): Path<InvoiceId>) -> Result<Tagged<Invoice>, ApiError> {
    let found = ctx
        .read(move |conn, actor| invoices::get(conn, actor, &id))
        .await?;
    let i = ctx.reveal(found).await?;
    Ok(Tagged(i.version, i))
}

/// Change a draft invoice
///
/// Needs `billing:write`; billing staff or an admin (403). Replaces the lines whole and/or the due
/// date, and re-prices the total; once issued an invoice no longer changes (409). `If-Match` is
/// honoured (412 when stale). Audited as `update`.
#[utoipa::path(patch, path = "/invoices/{id}", tag = "billing", params(("id" = String, Path)),
    request_body = InvoiceChange,
    responses((status = 200, body = Invoice), (status = 404, body = Problem),
        (status = 409, body = Problem), (status = 412, body = Problem),
        (status = 422, body = Problem)))]
async fn patch_invoice(
    ctx: Ctx,
    Path(id): Path<InvoiceId>,
    if_match: IfMatch,
    AppJson(body): AppJson<InvoiceChange>,
) -> Result<Tagged<Invoice>, ApiError> {
    let i = ctx
        .write(move |tx| invoices::change(tx, &id, body, if_match))
        .await?;
    Ok(Tagged(i.version, i))
}

/// Issue an invoice
///
/// Needs `billing:write`; billing staff or an admin (403). A draft with at least one line and a
/// total above zero becomes `issued` (409 otherwise), and the patient is notified of the amount
/// due. Audited as `state_change`.
#[utoipa::path(post, path = "/invoices/{id}/issue", tag = "billing", params(("id" = String, Path)),
    responses((status = 200, body = Invoice), (status = 404, body = Problem),
        (status = 409, body = Problem)))]
async fn issue_invoice(ctx: Ctx, Path(id): Path<InvoiceId>) -> Result<Tagged<Invoice>, ApiError> {
    let i = ctx.write(move |tx| invoices::issue(tx, &id)).await?;
    Ok(Tagged(i.version, i))
}

/// Void an invoice
///
/// Needs `billing:write`; billing staff or an admin (403). A draft, or an issued invoice with no
/// payment, becomes `void` and keeps its number; a paid or partly paid one is 409. Audited as
/// `state_change`.
#[utoipa::path(post, path = "/invoices/{id}/void", tag = "billing", params(("id" = String, Path)),
    responses((status = 200, body = Invoice), (status = 404, body = Problem),
        (status = 409, body = Problem)))]
async fn void_invoice(ctx: Ctx, Path(id): Path<InvoiceId>) -> Result<Tagged<Invoice>, ApiError> {
    let i = ctx.write(move |tx| invoices::void(tx, &id)).await?;
    Ok(Tagged(i.version, i))
}
