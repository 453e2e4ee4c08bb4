use axum::extract::{Path, State};
use axum::http::HeaderMap;
use diesel::prelude::*;
use serde::Deserialize;
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::{router::OpenApiRouter, routes};

use super::{
    book, change, list_visible, load_row, validate_times, Appointment, AppointmentChange,
    AppointmentRow, ListFilter, NewAppointment, STATUSES,
};
use crate::app::AppState;
use crate::auth::access::{audit_search, on_care_team};
use crate::auth::permissions::Perm;
use crate::auth::Ctx;
use crate::auth::Principal;
use crate::db::{lock_row, now, DbConn};
use crate::http::{
    check_version, if_match, parse_time, ApiError, AppJson, AppQuery, Created, ListResponse,
    PageParams, Tagged, Validator,
};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(create_appointment, list_appointments))
        .routes(routes!(get_appointment, patch_appointment))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateAppointment {
    pub patient_id: String,
    pub doctor_id: String,
    pub start_time: chrono::DateTime<chrono::Utc>,
    pub end_time: chrono::DateTime<chrono::Utc>,
    pub reason: Option<String>,
}

/// Book: a patient for themself, a doctor as the appointment's doctor, or an admin.
/// Overlaps for the doctor or the patient are 409, even under concurrent bookings.
#[utoipa::path(post, path = "/appointments", tag = "appointments", request_body = CreateAppointment,
    responses((status = 201, body = Appointment), (status = 403, body = crate::http::Problem),
        (status = 409, body = crate::http::Problem), (status = 422, body = crate::http::Problem)))]
async fn create_appointment(
    State(state): State<AppState>,
    ctx: Ctx,
    AppJson(body): AppJson<CreateAppointment>,
) -> Result<Created<Appointment>, ApiError> {
    ctx.require(Perm::AppointmentsWrite, "create", "appointment")?;
    let p = &ctx.principal;
    let allowed = p.is_admin
        || p.patient_id.as_deref() == Some(body.patient_id.as_str())
        || p.doctor_id.as_deref() == Some(body.doctor_id.as_str());
    if !allowed {
        return Err(ctx.denied(
            crate::http::ApiError::new(
                axum::http::StatusCode::FORBIDDEN,
                "forbidden",
                "patients book for themselves, doctors as the appointment's doctor",
            ),
            "create",
            "appointment",
            None,
            Some(&body.patient_id),
        ));
    }
    let start = body.start_time.naive_utc();
    let end = body.end_time.naive_utc();
    let mut v = Validator::new();
    validate_times(&mut v, start, end, now());
    v.opt_text("reason", body.reason.as_deref(), 1000);
    v.finish()?;
    let new = NewAppointment {
        patient_id: body.patient_id,
        doctor_id: body.doctor_id,
        start_time: start,
        end_time: end,
        reason: body.reason,
    };
    let actor = ctx.clone();
    let appt = state.db.write(move |tx| book(tx, &actor, &new)).await?;
    Ok(Created {
        location: format!("/api/v1/appointments/{}", appt.id),
        version: Some(appt.version),
        body: appt,
    })
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct AppointmentFilter {
    pub patient_id: Option<String>,
    pub doctor_id: Option<String>,
    pub status: Option<String>,
    /// RFC 3339: appointments starting at or after.
    pub from: Option<String>,
    /// RFC 3339: appointments starting before.
    pub to: Option<String>,
}

/// May this caller see this appointment? Admin; its patient; its doctor; a doctor on the
/// patient's care team.
fn can_see(conn: &mut DbConn, p: &Principal, a: &AppointmentRow) -> QueryResult<bool> {
    if p.is_admin || p.patient_id.as_deref() == Some(a.patient_id.as_str()) {
        return Ok(true);
    }
    match &p.doctor_id {
        Some(d) if *d == a.doctor_id => Ok(true),
        Some(d) => on_care_team(conn, d, &a.patient_id),
        None => Ok(false),
    }
}

/// Appointments the caller may see, by start time.
#[utoipa::path(get, path = "/appointments", tag = "appointments", params(AppointmentFilter, PageParams),
    responses((status = 200, body = ListResponse<Appointment>), (status = 403, body = crate::http::Problem),
        (status = 422, body = crate::http::Problem)))]
async fn list_appointments(
    State(state): State<AppState>,
    ctx: Ctx,
    AppQuery(f): AppQuery<AppointmentFilter>,
    AppQuery(page): AppQuery<PageParams>,
) -> Result<ListResponse<Appointment>, ApiError> {
    ctx.require(Perm::AppointmentsRead, "search", "appointment")?;
    let page = page.page()?;
    let from = f
        .from
        .as_deref()
        .map(|v| parse_time("from", v))
        .transpose()?;
    let to = f.to.as_deref().map(|v| parse_time("to", v)).transpose()?;
    if let Some(s) = &f.status {
        let mut v = Validator::new();
        v.one_of("status", s, STATUSES);
        v.finish()?;
    }
    // The cursor is "<start_time>|<id>" of the last item.
    let after = match &page.after {
        Some(c) => {
            let (t, id) = c
                .split_once('|')
                .ok_or_else(|| ApiError::field("cursor", "is not a cursor this server issued"))?;
            let t = chrono::NaiveDateTime::parse_from_str(t, "%Y-%m-%dT%H:%M:%S%.f")
                .map_err(|_| ApiError::field("cursor", "is not a cursor this server issued"))?;
            Some((t, id.to_string()))
        }
        None => None,
    };
    let p = ctx.principal.clone();
    let patient_filter = f.patient_id.clone();
    let filter = ListFilter {
        patient_id: f.patient_id,
        doctor_id: f.doctor_id,
        status: f.status,
        from,
        to,
        after,
    };
    let rows = state
        .db
        .read(move |conn| Ok(list_visible(conn, &p, filter, page.limit + 1)?))
        .await?;
    let items: Vec<Appointment> = rows.into_iter().map(Appointment::from).collect();
    let shown = items.len().min(page.limit as usize);
    audit_search(
        &ctx,
        "appointment",
        patient_filter.as_deref(),
        items[..shown].iter().map(|a| a.patient_id.as_str()),
    );
    Ok(ListResponse::from_rows(items, page.limit, |a| {
        format!(
            "{}|{}",
            a.start_time.naive_utc().format("%Y-%m-%dT%H:%M:%S%.f"),
            a.id
        )
    }))
}

#[utoipa::path(get, path = "/appointments/{id}", tag = "appointments", params(("id" = String, Path)),
    responses((status = 200, body = Appointment), (status = 404, body = crate::http::Problem)))]
async fn get_appointment(
    State(state): State<AppState>,
    ctx: Ctx,
    Path(id): Path<String>,
) -> Result<Tagged<Appointment>, ApiError> {
    ctx.require(Perm::AppointmentsRead, "read", "appointment")?;
    let p = ctx.principal.clone();
    let aid = id.clone();
    let row = state
        .db
        .read(move |conn| {
            let row = load_row(conn, &aid)?;
            Ok(match row {
                Some(r) if can_see(conn, &p, &r)? => Some(r),
                _ => None,
            })
        })
        .await?;
    let Some(row) = row else {
        return Err(ctx.not_found("read", "appointment", &id, None));
    };
    ctx.audit_read("appointment", Some(&id), Some(&row.patient_id));
    let a = Appointment::from(row);
    Ok(Tagged(a.version, a))
}

/// Reschedule (while `booked`) or change status. The patient may only cancel (or reschedule)
/// their own; the appointment's doctor and admins may do every legal transition.
#[utoipa::path(patch, path = "/appointments/{id}", tag = "appointments", params(("id" = String, Path)),
    request_body = AppointmentChange,
    responses((status = 200, body = Appointment), (status = 403, body = crate::http::Problem),
        (status = 404, body = crate::http::Problem), (status = 409, body = crate::http::Problem),
        (status = 412, body = crate::http::Problem), (status = 422, body = crate::http::Problem)))]
async fn patch_appointment(
    State(state): State<AppState>,
    ctx: Ctx,
    Path(id): Path<String>,
    headers: HeaderMap,
    AppJson(body): AppJson<AppointmentChange>,
) -> Result<Tagged<Appointment>, ApiError> {
    ctx.require(Perm::AppointmentsWrite, "update", "appointment")?;
    let mut v = Validator::new();
    if let Some(s) = &body.status {
        v.one_of("status", s, STATUSES);
    }
    v.opt_text("reason", body.reason.as_deref(), 1000);
    v.opt_text("cancel_reason", body.cancel_reason.as_deref(), 1000);
    v.finish()?;
    let expected = if_match(&headers)?;
    let actor = ctx.clone();
    let appt = state
        .db
        .write(move |tx| {
            let p = actor.principal.clone();
            // Lock the row first (PostgreSQL): concurrent changes of one appointment queue
            // here, so each sees the state and version the previous one left.
            lock_row(tx.conn, "appointments", &id)?;
            let current = match load_row(tx.conn, &id)? {
                Some(r) if can_see(tx.conn, &p, &r)? => r,
                _ => return Err(actor.not_found("update", "appointment", &id, None)),
            };
            let is_patient = p.patient_id.as_deref() == Some(current.patient_id.as_str());
            let is_doctor = p.doctor_id.as_deref() == Some(current.doctor_id.as_str());
            let patient_ok =
                is_patient && body.status.as_deref().is_none_or(|s| s == super::CANCELLED);
            if !(p.is_admin || is_doctor || patient_ok) {
                return Err(actor.denied(
                    ApiError::forbidden(),
                    "update",
                    "appointment",
                    Some(&id),
                    Some(&current.patient_id),
                ));
            }
            check_version(expected, current.version)?;
            change(tx, &actor, &current, &body)
        })
        .await?;
    Ok(Tagged(appt.version, appt))
}
