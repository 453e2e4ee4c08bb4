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

/// Book: a patient for themself, a doctor as the appointment's doctor, or an admin.
/// Overlaps for the doctor or the patient are 409, even under concurrent bookings.
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

/// Appointments the caller may see, by start time.
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

/// Reschedule (while `booked`) or change status. The patient may only cancel (or reschedule)
/// their own; the appointment's doctor and admins may do every legal transition.
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
