//! `/medications`, `/pharmacies`, `/prescriptions`, `/pharmacy-orders`: parse, call the rule,
//! answer.

use crate::http::Path;
use axum::http::StatusCode;
use utoipa_axum::{router::OpenApiRouter, routes};

use super::orders::{self, NewOrder, OrderFilter, OrderId, OrderTransition, PharmacyOrder, ORDER};
use super::prescriptions::{
    self, CancelPrescription, NewPrescription, Prescription, PrescriptionFilter, PrescriptionId,
    PRESCRIPTION,
};
use super::{
    Medication, MedicationChange, MedicationFilter, MedicationId, NewMedication, NewPharmacy,
    NewStaff, Pharmacy, PharmacyChange, PharmacyFilter, PharmacyId, StaffMember, MEDICATION,
    PHARMACY,
};
use crate::http::{
    ApiError, AppJson, AppQuery, Created, ListResponse, PageParams, Problem, Tagged,
};
use crate::kit::{
    route, route_unaudited, Access, AppState, Ctx, IdempotencyKey, IfMatch, Perm, Timestamp, UserId,
};

pub fn router() -> OpenApiRouter<AppState> {
    let read = Access::Perm(Perm::PharmacyRead);
    let write = Access::Perm(Perm::PharmacyWrite);
    let catalogue = Access::Perm(Perm::MedicationsWrite);
    let pharmacies = Access::Perm(Perm::PharmaciesWrite);
    let directory = "the catalogue and the pharmacy directory name no patient";
    OpenApiRouter::new()
        .routes(route(catalogue, MEDICATION, routes!(create_medication)))
        .routes(route_unaudited(
            Access::SignedIn,
            MEDICATION,
            directory,
            routes!(list_medications),
        ))
        .routes(route_unaudited(
            Access::SignedIn,
            MEDICATION,
            directory,
            routes!(get_medication),
        ))
        .routes(route(catalogue, MEDICATION, routes!(patch_medication)))
        .routes(route(pharmacies, PHARMACY, routes!(create_pharmacy)))
        .routes(route_unaudited(
            Access::SignedIn,
            PHARMACY,
            directory,
            routes!(list_pharmacies),
        ))
        .routes(route_unaudited(
            Access::SignedIn,
            PHARMACY,
            directory,
            routes!(get_pharmacy),
        ))
        .routes(route(pharmacies, PHARMACY, routes!(patch_pharmacy)))
        .routes(route(pharmacies, PHARMACY, routes!(add_staff)))
        .routes(route_unaudited(
            read,
            PHARMACY,
            "a staff list names pharmacists, no patient",
            routes!(list_staff),
        ))
        .routes(route(pharmacies, PHARMACY, routes!(remove_staff)))
        .routes(route(write, PRESCRIPTION, routes!(create_prescription)))
        .routes(route(read, PRESCRIPTION, routes!(list_prescriptions)))
        .routes(route(read, PRESCRIPTION, routes!(get_prescription)))
        .routes(route(write, PRESCRIPTION, routes!(cancel_prescription)))
        .routes(route(write, ORDER, routes!(create_order)))
        .routes(route(read, ORDER, routes!(list_orders)))
        .routes(route(read, ORDER, routes!(get_order)))
        .routes(route(write, ORDER, routes!(transition_order)))
}

/// Add a medication to the catalogue (admin, pharmacist); `code` (RxNorm) is unique.
#[utoipa::path(post, path = "/medications", tag = "pharmacy", request_body = NewMedication,
    responses((status = 201, body = Medication), (status = 403, body = Problem),
        (status = 409, body = Problem), (status = 422, body = Problem)))]
async fn create_medication(
    ctx: Ctx,
    AppJson(body): AppJson<NewMedication>,
) -> Result<Created<Medication>, ApiError> {
    let m = ctx
        .write(move |tx| super::create_medication(tx, body))
        .await?;
    Ok(Created {
        location: format!("/api/v1/medications/{}", m.id),
        version: Some(m.version),
        body: m,
    })
}

/// The catalogue, by name: `q` matches words of the name or the code.
#[utoipa::path(get, path = "/medications", tag = "pharmacy", params(MedicationFilter, PageParams),
    responses((status = 200, body = ListResponse<Medication>)))]
async fn list_medications(
    ctx: Ctx,
    AppQuery(f): AppQuery<MedicationFilter>,
    AppQuery(page): AppQuery<PageParams>,
) -> Result<ListResponse<Medication>, ApiError> {
    let page = page.page()?;
    Ok(ctx
        .read(move |conn, _| super::list_medications(conn, f, &page))
        .await?)
}

#[utoipa::path(get, path = "/medications/{id}", tag = "pharmacy", params(("id" = String, Path)),
    responses((status = 200, body = Medication), (status = 404, body = Problem)))]
async fn get_medication(
    ctx: Ctx,
    Path(id): Path<MedicationId>,
) -> Result<Tagged<Medication>, ApiError> {
    let m = ctx
        .read(move |conn, _| super::get_medication(conn, &id))
        .await?;
    Ok(Tagged(m.version, m))
}

#[utoipa::path(patch, path = "/medications/{id}", tag = "pharmacy", params(("id" = String, Path)),
    request_body = MedicationChange,
    responses((status = 200, body = Medication), (status = 404, body = Problem),
        (status = 409, body = Problem), (status = 412, body = Problem),
        (status = 422, body = Problem)))]
async fn patch_medication(
    ctx: Ctx,
    Path(id): Path<MedicationId>,
    if_match: IfMatch,
    AppJson(body): AppJson<MedicationChange>,
) -> Result<Tagged<Medication>, ApiError> {
    let m = ctx
        .write(move |tx| super::change_medication(tx, &id, body, if_match))
        .await?;
    Ok(Tagged(m.version, m))
}

#[utoipa::path(post, path = "/pharmacies", tag = "pharmacy", request_body = NewPharmacy,
    responses((status = 201, body = Pharmacy), (status = 403, body = Problem),
        (status = 422, body = Problem)))]
async fn create_pharmacy(
    ctx: Ctx,
    AppJson(body): AppJson<NewPharmacy>,
) -> Result<Created<Pharmacy>, ApiError> {
    let p = ctx
        .write(move |tx| super::create_pharmacy(tx, body))
        .await?;
    Ok(Created {
        location: format!("/api/v1/pharmacies/{}", p.id),
        version: Some(p.version),
        body: p,
    })
}

#[utoipa::path(get, path = "/pharmacies", tag = "pharmacy", params(PharmacyFilter, PageParams),
    responses((status = 200, body = ListResponse<Pharmacy>)))]
async fn list_pharmacies(
    ctx: Ctx,
    AppQuery(f): AppQuery<PharmacyFilter>,
    AppQuery(page): AppQuery<PageParams>,
) -> Result<ListResponse<Pharmacy>, ApiError> {
    let page = page.page()?;
    Ok(ctx
        .read(move |conn, _| super::list_pharmacies(conn, f, &page))
        .await?)
}

#[utoipa::path(get, path = "/pharmacies/{id}", tag = "pharmacy", params(("id" = String, Path)),
    responses((status = 200, body = Pharmacy), (status = 404, body = Problem)))]
async fn get_pharmacy(ctx: Ctx, Path(id): Path<PharmacyId>) -> Result<Tagged<Pharmacy>, ApiError> {
    let p = ctx
        .read(move |conn, _| super::get_pharmacy(conn, &id))
        .await?;
    Ok(Tagged(p.version, p))
}

#[utoipa::path(patch, path = "/pharmacies/{id}", tag = "pharmacy", params(("id" = String, Path)),
    request_body = PharmacyChange,
    responses((status = 200, body = Pharmacy), (status = 404, body = Problem),
        (status = 412, body = Problem), (status = 422, body = Problem)))]
async fn patch_pharmacy(
    ctx: Ctx,
    Path(id): Path<PharmacyId>,
    if_match: IfMatch,
    AppJson(body): AppJson<PharmacyChange>,
) -> Result<Tagged<Pharmacy>, ApiError> {
    let p = ctx
        .write(move |tx| super::change_pharmacy(tx, &id, body, if_match))
        .await?;
    Ok(Tagged(p.version, p))
}

/// Put a pharmacist on a pharmacy's staff (admin; the user must hold `pharmacist`).
#[utoipa::path(post, path = "/pharmacies/{id}/staff", tag = "pharmacy", params(("id" = String, Path)),
    request_body = NewStaff,
    responses((status = 201, body = StaffMember), (status = 404, body = Problem),
        (status = 409, body = Problem)))]
async fn add_staff(
    ctx: Ctx,
    Path(id): Path<PharmacyId>,
    AppJson(body): AppJson<NewStaff>,
) -> Result<Created<StaffMember>, ApiError> {
    let s = ctx.write(move |tx| super::add_staff(tx, &id, body)).await?;
    Ok(Created {
        location: format!("/api/v1/pharmacies/{}/staff/{}", s.pharmacy_id, s.user_id),
        version: None,
        body: s,
    })
}

/// A pharmacy's staff (admins and the pharmacy's own pharmacists).
#[utoipa::path(get, path = "/pharmacies/{id}/staff", tag = "pharmacy", params(("id" = String, Path)),
    responses((status = 200, body = Vec<StaffMember>), (status = 404, body = Problem)))]
async fn list_staff(
    ctx: Ctx,
    Path(id): Path<PharmacyId>,
) -> Result<axum::Json<Vec<StaffMember>>, ApiError> {
    let s = ctx
        .read(move |conn, actor| super::staff(conn, actor, &id))
        .await?;
    Ok(axum::Json(s))
}

#[utoipa::path(delete, path = "/pharmacies/{id}/staff/{user_id}", tag = "pharmacy",
    params(("id" = String, Path), ("user_id" = String, Path)),
    responses((status = 204), (status = 404, body = Problem)))]
async fn remove_staff(
    ctx: Ctx,
    Path((id, user)): Path<(PharmacyId, UserId)>,
) -> Result<StatusCode, ApiError> {
    ctx.write(move |tx| super::remove_staff(tx, &id, &user))
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Prescribe: a doctor on the care team (or with an appointment with the patient), or an
/// admin naming the doctor; the medication must be active (409).
#[utoipa::path(post, path = "/prescriptions", tag = "pharmacy", request_body = NewPrescription,
    responses((status = 201, body = Prescription), (status = 403, body = Problem),
        (status = 404, body = Problem), (status = 409, body = Problem),
        (status = 422, body = Problem)))]
async fn create_prescription(
    ctx: Ctx,
    AppJson(body): AppJson<NewPrescription>,
) -> Result<Created<Prescription>, ApiError> {
    let p = ctx
        .write(move |tx| prescriptions::prescribe(tx, body))
        .await?;
    Ok(Created {
        location: format!("/api/v1/prescriptions/{}", p.id),
        version: Some(p.version),
        body: p,
    })
}

/// Prescriptions in reach: the compartment's, the prescriber's, and for pharmacists those with
/// an order at a pharmacy they staff.
#[utoipa::path(get, path = "/prescriptions", tag = "pharmacy", params(PrescriptionFilter, PageParams),
    responses((status = 200, body = ListResponse<Prescription>), (status = 403, body = Problem)))]
async fn list_prescriptions(
    ctx: Ctx,
    AppQuery(f): AppQuery<PrescriptionFilter>,
    AppQuery(page): AppQuery<PageParams>,
) -> Result<ListResponse<Prescription>, ApiError> {
    let page = page.page()?;
    let found = ctx
        .read(move |conn, actor| prescriptions::list(conn, actor, f, &page))
        .await?;
    Ok(ctx.reveal(found).await?)
}

#[utoipa::path(get, path = "/prescriptions/{id}", tag = "pharmacy", params(("id" = String, Path)),
    responses((status = 200, body = Prescription), (status = 404, body = Problem)))]
async fn get_prescription(
    ctx: Ctx,
    Path(id): Path<PrescriptionId>,
) -> Result<Tagged<Prescription>, ApiError> {
    let found = ctx
        .read(move |conn, actor| prescriptions::get(conn, actor, &id))
        .await?;
    let p = ctx.reveal(found).await?;
    Ok(Tagged(p.version, p))
}

/// Cancel an active prescription (the prescriber, admin), with a reason.
#[utoipa::path(post, path = "/prescriptions/{id}/cancel", tag = "pharmacy",
    params(("id" = String, Path)), request_body = CancelPrescription,
    responses((status = 200, body = Prescription), (status = 403, body = Problem),
        (status = 404, body = Problem), (status = 409, body = Problem),
        (status = 422, body = Problem)))]
async fn cancel_prescription(
    ctx: Ctx,
    Path(id): Path<PrescriptionId>,
    AppJson(body): AppJson<CancelPrescription>,
) -> Result<Tagged<Prescription>, ApiError> {
    let p = ctx
        .write(move |tx| prescriptions::cancel(tx, &id, body))
        .await?;
    Ok(Tagged(p.version, p))
}

/// Send a prescription to a pharmacy (the prescriber or the patient). With an
/// `Idempotency-Key`, a repeat of the same request returns the first order; another request
/// under the key is 422.
#[utoipa::path(post, path = "/pharmacy-orders", tag = "pharmacy", request_body = NewOrder,
    params(("Idempotency-Key" = Option<String>, Header, description = "Makes a retried POST safe")),
    responses((status = 201, body = PharmacyOrder), (status = 403, body = Problem),
        (status = 404, body = Problem), (status = 409, body = Problem),
        (status = 422, body = Problem)))]
async fn create_order(
    ctx: Ctx,
    key: IdempotencyKey,
    AppJson(body): AppJson<NewOrder>,
) -> Result<Created<PharmacyOrder>, ApiError> {
    let request = serde_json::json!(&body);
    let o = ctx
        .write_once(key, "POST /pharmacy-orders", &request, ORDER, move |tx| {
            orders::place(tx, body)
        })
        .await?;
    Ok(Created {
        location: format!("/api/v1/pharmacy-orders/{}", o.id),
        version: Some(o.version),
        body: o,
    })
}

/// Orders in reach: a pharmacist's pharmacies', the patient's, the prescriber's.
#[utoipa::path(get, path = "/pharmacy-orders", tag = "pharmacy", params(OrderFilter, PageParams),
    responses((status = 200, body = ListResponse<PharmacyOrder>), (status = 403, body = Problem)))]
async fn list_orders(
    ctx: Ctx,
    AppQuery(f): AppQuery<OrderFilter>,
    AppQuery(page): AppQuery<PageParams>,
) -> Result<ListResponse<PharmacyOrder>, ApiError> {
    let page = page.page()?;
    let found = ctx
        .read(move |conn, actor| orders::list(conn, actor, f, &page))
        .await?;
    Ok(ctx.reveal(found).await?)
}

#[utoipa::path(get, path = "/pharmacy-orders/{id}", tag = "pharmacy", params(("id" = String, Path)),
    responses((status = 200, body = PharmacyOrder), (status = 404, body = Problem)))]
async fn get_order(ctx: Ctx, Path(id): Path<OrderId>) -> Result<Tagged<PharmacyOrder>, ApiError> {
    let found = ctx
        .read(move |conn, actor| orders::get(conn, actor, &id))
        .await?;
    let o = ctx.reveal(found).await?;
    Ok(Tagged(o.version, o))
}

/// Move an order: sent → received → filled → picked_up (the pharmacy's pharmacists); sent |
/// received → cancelled (the pharmacist, the prescriber, the patient). A fill uses one of the
/// prescription's fills.
#[utoipa::path(post, path = "/pharmacy-orders/{id}/transition", tag = "pharmacy",
    params(("id" = String, Path)), request_body = OrderTransition,
    responses((status = 200, body = PharmacyOrder), (status = 403, body = Problem),
        (status = 404, body = Problem), (status = 409, body = Problem),
        (status = 422, body = Problem)))]
async fn transition_order(
    ctx: Ctx,
    Path(id): Path<OrderId>,
    AppJson(body): AppJson<OrderTransition>,
) -> Result<Tagged<PharmacyOrder>, ApiError> {
    let o = ctx
        .write(move |tx| orders::transition(tx, &id, body, Timestamp::now()))
        .await?;
    Ok(Tagged(o.version, o))
}
