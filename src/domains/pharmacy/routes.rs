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

/// Add a medication to the catalogue
///
/// Needs `medications:write` (admin, pharmacist). `code` is an RxNorm code (RXCUI, digits only, 422
/// otherwise) and unique (409); the name is 1–200 characters. Active unless `active` is false.
/// Audited as `create`.
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

/// Search the medication catalogue
///
/// Any signed-in user. Ordered by name; `q` matches words of the name or the code, `active` filters
/// on whether it can be prescribed; paged. Not audited (the catalogue names no patient).
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

/// Read a medication
///
/// Any signed-in user reads any medication of the catalogue. Not audited (it names no patient). The
/// `ETag` is its version, for `If-Match` on `PATCH`.
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

/// Change a medication
///
/// Needs `medications:write` (admin, pharmacist). Changes the fields given; a changed `code` stays
/// unique (409). Setting `active` to false stops new prescriptions of it (existing ones are kept).
/// `If-Match` is honoured (412 when stale). Audited as `update`.
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

/// Add a pharmacy
///
/// Needs `pharmacies:write` (admin). A name (1–200 characters), optional address, phone and email;
/// active unless `active` is false. Put pharmacists on its staff with `POST
/// /pharmacies/{id}/staff`. Audited as `create`.
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

/// List pharmacies
///
/// The pharmacy directory: any signed-in user, so that a patient can choose where to send a
/// prescription. Filters: `q` (part of the name), `active`; paged. Not audited (it names no
/// patient).
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

/// Read a pharmacy
///
/// The pharmacy directory: any signed-in user. Not audited (it names no patient). The `ETag` is its
/// version, for `If-Match` on `PATCH`.
#[utoipa::path(get, path = "/pharmacies/{id}", tag = "pharmacy", params(("id" = String, Path)),
    responses((status = 200, body = Pharmacy), (status = 404, body = Problem)))]
async fn get_pharmacy(ctx: Ctx, Path(id): Path<PharmacyId>) -> Result<Tagged<Pharmacy>, ApiError> {
    let p = ctx
        .read(move |conn, _| super::get_pharmacy(conn, &id))
        .await?;
    Ok(Tagged(p.version, p))
}

/// Change a pharmacy
///
/// Needs `pharmacies:write` (admin). Changes the fields given; an inactive pharmacy takes no new
/// orders. `If-Match` is honoured (412 when stale). Audited as `update`.
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

/// Add a pharmacist to a pharmacy's staff
///
/// Needs `pharmacies:write` (admin). The user must hold the `pharmacist` role (409). Staff see and
/// work the pharmacy's orders and are notified of new ones. Audited as an `update` of the pharmacy.
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

/// List a pharmacy's staff
///
/// Needs `pharmacy:read`; only admins and the pharmacy's own pharmacists (404 for anyone else, who
/// does not learn who works where). Not audited (it names pharmacists, no patient).
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

/// Remove a pharmacist from a pharmacy's staff
///
/// Needs `pharmacies:write` (admin). 404 when the user is not on the staff. The pharmacist no
/// longer reaches the pharmacy's orders. Audited as an `update` of the pharmacy.
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

/// Prescribe a medication
///
/// Needs `pharmacy:write`. A doctor prescribes as themself (an admin names `doctor_id`, 422
/// without) and must be on the patient's care team or be the doctor of the named `appointment_id`
/// (404 otherwise). The medication must exist and be active (409). Quantity 1–10,000, refills 0–11,
/// `valid_until` not in the past (422). The prescription starts `active`, and the doctor joins the
/// care team. Audited as `create`.
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

/// List prescriptions
///
/// Needs `pharmacy:read`. The prescriptions the caller reaches: a patient their own, a doctor those
/// they wrote and those of their care team's patients, a pharmacist those with an order at a
/// pharmacy they staff, an admin all. Filters: `patient_id`, `status`, `medication_id`; paged.
/// Audited as a `search` per patient listed.
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

/// Read a prescription
///
/// Needs `pharmacy:read`: the patient, the prescriber, a doctor on the care team, a pharmacist of a
/// pharmacy with an order of it, or an admin (404 otherwise). Audited as a `read`. The `ETag` is
/// its version.
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

/// Cancel a prescription
///
/// Needs `pharmacy:write`; the prescriber or an admin (403), with a `reason` (1–1000 characters),
/// while it is `active` (409 `illegal-transition` once completed or cancelled). Audited as
/// `state_change`.
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

/// Send a prescription to a pharmacy
///
/// Needs `pharmacy:write`; the prescriber, the patient or an admin (403). The prescription must
/// exist, be active, unexpired, with a fill left and no open order (409); the pharmacy must exist
/// and be active (409). The order starts `sent`, and the pharmacy's pharmacists are notified. With
/// an `Idempotency-Key`, a repeat of the same request returns the first order; another request
/// under the key is 422. Audited as `create`.
#[utoipa::path(post, path = "/pharmacy-orders", operation_id = "create_pharmacy_order", tag = "pharmacy", request_body = NewOrder,
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

/// List pharmacy orders
///
/// Needs `pharmacy:read`. The orders the caller reaches: a pharmacist their pharmacies' orders, a
/// patient their own, a doctor those of prescriptions they wrote and of their care team's patients,
/// an admin all. Filters: `pharmacy_id`, `prescription_id`, `patient_id`, `status`; paged. Audited
/// as a `search` per patient listed.
#[utoipa::path(get, path = "/pharmacy-orders", operation_id = "list_pharmacy_orders", tag = "pharmacy", params(OrderFilter, PageParams),
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

/// Read a pharmacy order
///
/// Needs `pharmacy:read`: a pharmacist of its pharmacy, the patient, the prescriber, a doctor on
/// the care team, or an admin (404 otherwise). Audited as a `read`. The `ETag` is its version.
#[utoipa::path(get, path = "/pharmacy-orders/{id}", operation_id = "get_pharmacy_order", tag = "pharmacy", params(("id" = String, Path)),
    responses((status = 200, body = PharmacyOrder), (status = 404, body = Problem)))]
async fn get_order(ctx: Ctx, Path(id): Path<OrderId>) -> Result<Tagged<PharmacyOrder>, ApiError> {
    let found = ctx
        .read(move |conn, actor| orders::get(conn, actor, &id))
        .await?;
    let o = ctx.reveal(found).await?;
    Ok(Tagged(o.version, o))
}

/// Move a pharmacy order along its statuses
///
/// Needs `pharmacy:write`. sent → received → filled → picked_up, by the pharmacy's pharmacists;
/// sent or received → cancelled, by the pharmacist, the prescriber, the patient or an admin (403
/// for anyone else, 409 `illegal-transition` for an arrow that does not exist). Filling uses one of
/// the prescription's fills (409 when none is left; the last completes it) and notifies the
/// patient; cancelling notifies the patient and the prescriber. Audited as `state_change`.
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
