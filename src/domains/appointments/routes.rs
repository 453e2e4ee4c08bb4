//! `/appointments`: parse, call the rule in `mod.rs`, answer.

use crate::http::Path;
use utoipa_axum::{router::OpenApiRouter, routes};

use super::{
    Appointment, AppointmentChange, AppointmentFilter, AppointmentId, NewAppointment, APPOINTMENT,
};
use crate::http::{
    ApiError, AppJson, AppQuery, Created, ListResponse, PageParams, Problem, Tagged,
};
use crate::kit::AppState;
use crate::kit::{route, Access, Ctx, IfMatch, Perm};

pub fn router() -> OpenApiRouter<AppState> {
    let read = Access::Perm(Perm::AppointmentsRead);
    let write = Access::Perm(Perm::AppointmentsWrite);
    OpenApiRouter::new()
        .routes(route(write, APPOINTMENT, routes!(create_appointment)))
        .routes(route(read, APPOINTMENT, routes!(list_appointments)))
        .routes(route(read, APPOINTMENT, routes!(get_appointment)))
        .routes(route(write, APPOINTMENT, routes!(patch_appointment)))
}

/// Book an appointment
///
/// Needs `appointments:write`. A patient books for themself, a doctor as the appointment's doctor,
/// an admin for anyone (403 otherwise). Times must lie in the future, end after start, at most 12
/// hours apart (422). An overlap with a booked or checked-in appointment of the doctor or the
/// patient is 409 `booking-clash`, even under concurrent bookings. The doctor joins the patient's
/// care team, and the other party (the doctor, or the patient; both when an admin books) is
/// notified. Audited as `create`.
#[utoipa::path(post, path = "/appointments", tag = "appointments", request_body = NewAppointment,
    responses((status = 201, body = Appointment), (status = 403, body = Problem),
        (status = 409, body = Problem), (status = 422, body = Problem)))]
async fn create_appointment(
    ctx: Ctx,
    AppJson(body): AppJson<NewAppointment>,
) -> Result<Created<Appointment>, ApiError> {
    let appt = ctx.write(move |tx| super::book(tx, body, true)).await?;
    Ok(Created {
        location: format!("/api/v1/appointments/{}", appt.id),
        version: Some(appt.version),
        body: appt,
    })
}

/// List appointments
///
/// Needs `appointments:read`. The appointments the caller reaches: a patient their own, a doctor
/// their own and those of their care team's patients, an admin all. Filters: `patient_id`,
/// `doctor_id`, `status`, and a `from`/`to` window on the start time; by start time, paged. Audited
/// as a `search` per patient listed.
#[utoipa::path(get, path = "/appointments", tag = "appointments", params(AppointmentFilter, PageParams),
    responses((status = 200, body = ListResponse<Appointment>), (status = 403, body = Problem),
        (status = 422, body = Problem)))]
async fn list_appointments(
    ctx: Ctx,
    AppQuery(f): AppQuery<AppointmentFilter>,
    AppQuery(page): AppQuery<PageParams>,
) -> Result<ListResponse<Appointment>, ApiError> {
    let page = page.page()?;
    let found = ctx
        .read(move |conn, actor| super::list(conn, actor, f, &page))
        .await?;
    Ok(ctx.reveal(found).await?)
}

/// Read an appointment
///
/// Needs `appointments:read`. Its patient, its doctor, a doctor on the patient's care team, or an
/// admin; anyone else gets 404. Audited as a `read`. The `ETag` is its version, for `If-Match` on
/// `PATCH`.
#[utoipa::path(get, path = "/appointments/{id}", tag = "appointments", params(("id" = String, Path)),
    responses((status = 200, body = Appointment), (status = 404, body = Problem)))]
async fn get_appointment(
    ctx: Ctx,
    Path(id): Path<AppointmentId>,
) -> Result<Tagged<Appointment>, ApiError> {
    let found = ctx
        .read(move |conn, actor| super::get(conn, actor, &id))
        .await?;
    let a = ctx.reveal(found).await?;
    Ok(Tagged(a.version, a))
}

/// Reschedule, cancel or progress an appointment
///
/// Needs `appointments:write`; only the appointment's patient, its doctor or an admin (403). New
/// times are taken only while `booked` (409 otherwise) and are checked for clashes like a booking.
/// Statuses: booked → checked_in → completed; booked → no_show; booked or checked_in → cancelled,
/// with a `cancel_reason` (422 without). The patient may only cancel; a final status is 409
/// `illegal-transition`. A cancellation or a new time notifies the other party. `If-Match` is
/// honoured (412 when stale). Audited as `update`, or `state_change` when the status moves.
#[utoipa::path(patch, path = "/appointments/{id}", tag = "appointments", params(("id" = String, Path)),
    request_body = AppointmentChange,
    responses((status = 200, body = Appointment), (status = 403, body = Problem),
        (status = 404, body = Problem), (status = 409, body = Problem),
        (status = 412, body = Problem), (status = 422, body = Problem)))]
async fn patch_appointment(
    ctx: Ctx,
    Path(id): Path<AppointmentId>,
    if_match: IfMatch,
    AppJson(body): AppJson<AppointmentChange>,
) -> Result<Tagged<Appointment>, ApiError> {
    let appt = ctx
        .write(move |tx| super::change(tx, &id, body, if_match))
        .await?;
    Ok(Tagged(appt.version, appt))
}
