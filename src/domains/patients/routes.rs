//! `/patients`, `/doctors`, `/patients/{id}/care-team`, `/patients/{id}/break-glass`.

use crate::http::Path;
use utoipa_axum::{router::OpenApiRouter, routes};

use super::{
    BreakGlassGrant, BreakGlassRequest, CareTeamMember, Doctor, DoctorChange, DoctorFilter,
    NewDoctor, NewPatient, Patient, PatientChange, PatientFilter, CARE_TEAM, DOCTOR_RECORD,
    PATIENT_RECORD,
};
use crate::http::{
    ApiError, AppJson, AppQuery, Created, ListResponse, PageParams, Problem, Tagged,
};
use crate::kit::AppState;
use crate::kit::{
    route, route_as, route_unaudited, Access, Action, Ctx, DoctorId, IfMatch, PatientId, Perm,
    Validator,
};

pub fn router() -> OpenApiRouter<AppState> {
    let read = Access::Perm(Perm::PatientsRead);
    let write = Access::Perm(Perm::PatientsWrite);
    OpenApiRouter::new()
        .routes(route(write, PATIENT_RECORD, routes!(create_patient)))
        .routes(route(read, PATIENT_RECORD, routes!(list_patients)))
        .routes(route(read, PATIENT_RECORD, routes!(get_patient)))
        .routes(route(write, PATIENT_RECORD, routes!(patch_patient)))
        .routes(route(read, CARE_TEAM, routes!(get_care_team)))
        .routes(route_as(
            Access::Perm(Perm::BreakGlass),
            PATIENT_RECORD,
            Action::BreakGlass,
            routes!(break_glass),
        ))
        .routes(route(
            Access::Perm(Perm::DoctorsWrite),
            DOCTOR_RECORD,
            routes!(create_doctor),
        ))
        .routes(route_unaudited(
            Access::SignedIn,
            DOCTOR_RECORD,
            "the doctor directory",
            routes!(list_doctors),
        ))
        .routes(route_unaudited(
            Access::SignedIn,
            DOCTOR_RECORD,
            "the doctor directory",
            routes!(get_doctor),
        ))
        // The doctor themself, or a role with `doctors:write`: decided by the rule.
        .routes(route(
            Access::SignedIn,
            DOCTOR_RECORD,
            routes!(patch_doctor),
        ))
}

/// Register a patient (admin, doctor). A doctor who registers a patient joins their care team.
/// Only an admin links the record to an account (one with the `patient` role and no record).
#[utoipa::path(post, path = "/patients", tag = "patients", request_body = NewPatient,
    responses((status = 201, body = Patient), (status = 403, body = Problem),
        (status = 409, body = Problem), (status = 422, body = Problem)))]
async fn create_patient(
    ctx: Ctx,
    AppJson(body): AppJson<NewPatient>,
) -> Result<Created<Patient>, ApiError> {
    let patient = ctx.write(move |tx| super::create_patient(tx, body)).await?;
    if let Some(uid) = &patient.user_id {
        // The account's cached principal has no patient record yet.
        ctx.state().sessions.forget_user(uid.as_str());
    }
    Ok(Created {
        location: format!("/api/v1/patients/{}", patient.id),
        version: Some(patient.version),
        body: patient,
    })
}

/// Search patients: admin and doctors see all demographics, a patient only themself.
#[utoipa::path(get, path = "/patients", tag = "patients", params(PatientFilter, PageParams),
    responses((status = 200, body = ListResponse<Patient>), (status = 403, body = Problem)))]
async fn list_patients(
    ctx: Ctx,
    AppQuery(f): AppQuery<PatientFilter>,
    AppQuery(page): AppQuery<PageParams>,
) -> Result<ListResponse<Patient>, ApiError> {
    let page = page.page()?;
    let found = ctx
        .read(move |conn, actor| super::list_patients(conn, actor, f, &page))
        .await?;
    Ok(ctx.reveal(found).await?)
}

/// Read one patient's demographics (audited).
#[utoipa::path(get, path = "/patients/{id}", tag = "patients", params(("id" = String, Path)),
    responses((status = 200, body = Patient), (status = 403, body = Problem),
        (status = 404, body = Problem)))]
async fn get_patient(ctx: Ctx, Path(id): Path<PatientId>) -> Result<Tagged<Patient>, ApiError> {
    let found = ctx
        .read(move |conn, actor| super::get_patient(conn, actor, &id))
        .await?;
    let patient = ctx.reveal(found).await?;
    Ok(Tagged(patient.version, patient))
}

/// Change a patient: admin or a doctor on the care team; the patient only contact fields.
#[utoipa::path(patch, path = "/patients/{id}", tag = "patients", params(("id" = String, Path)),
    request_body = PatientChange,
    responses((status = 200, body = Patient), (status = 403, body = Problem),
        (status = 404, body = Problem), (status = 412, body = Problem),
        (status = 422, body = Problem)))]
async fn patch_patient(
    ctx: Ctx,
    Path(id): Path<PatientId>,
    if_match: IfMatch,
    AppJson(body): AppJson<PatientChange>,
) -> Result<Tagged<Patient>, ApiError> {
    let patient = ctx
        .write(move |tx| super::change_patient(tx, &id, body, if_match))
        .await?;
    Ok(Tagged(patient.version, patient))
}

/// The doctors currently linked to a patient (the patient, admin, doctors on the team).
#[utoipa::path(get, path = "/patients/{id}/care-team", tag = "patients",
    params(("id" = String, Path)),
    responses((status = 200, body = Vec<CareTeamMember>), (status = 403, body = Problem),
        (status = 404, body = Problem)))]
async fn get_care_team(
    ctx: Ctx,
    Path(id): Path<PatientId>,
) -> Result<axum::Json<Vec<CareTeamMember>>, ApiError> {
    let found = ctx
        .read(move |conn, actor| super::care_team_of(conn, actor, &id))
        .await?;
    Ok(axum::Json(ctx.reveal(found).await?))
}

/// Emergency access: a doctor states a reason and reaches one patient's clinical data for a
/// limited time. Flagged in the audit trail; the patient is notified.
#[utoipa::path(post, path = "/patients/{id}/break-glass", tag = "patients",
    params(("id" = String, Path)), request_body = BreakGlassRequest,
    responses((status = 201, body = BreakGlassGrant), (status = 403, body = Problem),
        (status = 404, body = Problem), (status = 422, body = Problem)))]
async fn break_glass(
    ctx: Ctx,
    Path(id): Path<PatientId>,
    AppJson(body): AppJson<BreakGlassRequest>,
) -> Result<Created<BreakGlassGrant>, ApiError> {
    let seconds = ctx.state().config.break_glass_seconds;
    let grant = ctx
        .write(move |tx| super::break_glass(tx, &id, body, seconds))
        .await?;
    Ok(Created {
        location: format!("/api/v1/patients/{}/care-team", grant.patient_id),
        version: None,
        body: grant,
    })
}

/// Add a doctor (admin), optionally with a login.
#[utoipa::path(post, path = "/doctors", tag = "doctors", request_body = NewDoctor,
    responses((status = 201, body = Doctor), (status = 403, body = Problem),
        (status = 409, body = Problem), (status = 422, body = Problem)))]
async fn create_doctor(
    ctx: Ctx,
    AppJson(body): AppJson<NewDoctor>,
) -> Result<Created<Doctor>, ApiError> {
    let mut v = Validator::new();
    super::validate_doctor(&mut v, &body);
    v.finish()?;
    let cost = ctx.state().config.password_hash_cost;
    let hash = match body.password.clone() {
        Some(p) => Some(crate::auth::passwords::hash_off_runtime(p, cost).await?),
        None => None,
    };
    let doctor = ctx
        .write(move |tx| super::create_doctor(tx, body, hash))
        .await?;
    if let Some(uid) = &doctor.user_id {
        // The account's cached principal has no doctor record (nor role) yet.
        ctx.state().sessions.forget_user(uid.as_str());
    }
    Ok(Created {
        location: format!("/api/v1/doctors/{}", doctor.id),
        version: Some(doctor.version),
        body: doctor,
    })
}

/// The doctor directory (everyone signed in).
#[utoipa::path(get, path = "/doctors", tag = "doctors", params(DoctorFilter, PageParams),
    responses((status = 200, body = ListResponse<Doctor>)))]
async fn list_doctors(
    ctx: Ctx,
    AppQuery(f): AppQuery<DoctorFilter>,
    AppQuery(page): AppQuery<PageParams>,
) -> Result<ListResponse<Doctor>, ApiError> {
    let page = page.page()?;
    Ok(ctx
        .read(move |conn, _| super::list_doctors(conn, f, &page))
        .await?)
}

#[utoipa::path(get, path = "/doctors/{id}", tag = "doctors", params(("id" = String, Path)),
    responses((status = 200, body = Doctor), (status = 404, body = Problem)))]
async fn get_doctor(ctx: Ctx, Path(id): Path<DoctorId>) -> Result<Tagged<Doctor>, ApiError> {
    let d = ctx
        .read(move |conn, _| super::get_doctor(conn, &id))
        .await?;
    Ok(Tagged(d.version, d))
}

/// Change a doctor: admin, or the doctor themself (not the license number).
#[utoipa::path(patch, path = "/doctors/{id}", tag = "doctors", params(("id" = String, Path)),
    request_body = DoctorChange,
    responses((status = 200, body = Doctor), (status = 403, body = Problem),
        (status = 404, body = Problem), (status = 409, body = Problem),
        (status = 412, body = Problem), (status = 422, body = Problem)))]
async fn patch_doctor(
    ctx: Ctx,
    Path(id): Path<DoctorId>,
    if_match: IfMatch,
    AppJson(body): AppJson<DoctorChange>,
) -> Result<Tagged<Doctor>, ApiError> {
    let doctor = ctx
        .write(move |tx| super::change_doctor(tx, &id, body, if_match))
        .await?;
    Ok(Tagged(doctor.version, doctor))
}
