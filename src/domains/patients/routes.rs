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

/// Register a patient
///
/// Needs `patients:write`, and the caller must be an admin or a doctor (403 otherwise). A doctor
/// who registers a patient joins their care team. Only an admin links the record to an account with
/// `user_id` (403 for a doctor); the account must exist and hold the `patient` role (409), and have
/// no patient record yet (409). The medical record number (`mrn`) is generated. Audited as
/// `create`.
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

/// Search patients
///
/// Needs `patients:read`. Admins, doctors, lab technicians and billing staff search every patient's
/// demographics; a patient finds only themself. Filters: `q` (every word must match the given or
/// family name), `mrn`, `birth_date`; in creation order, paged. Audited as a `search` entry per
/// patient listed, so each patient's access log shows who found them.
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

/// Read a patient's demographics
///
/// Needs `patients:read`. Admins, doctors, lab technicians and billing staff read any patient; a
/// patient only themself, anyone else gets 404. Audited as a `read` in the patient's access log.
/// The `ETag` is the record's version, for `If-Match` on `PATCH`.
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

/// Change a patient's demographics
///
/// Needs `patients:write`. An admin or a doctor on the patient's care team may change every field
/// (a doctor off the team gets 403); the patient only their contact fields `phone`, `email` and
/// `address` (403 for more). Fields left out keep their value. `If-Match` is honoured (412 when
/// stale). Audited as `update`.
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

/// List a patient's care team
///
/// Needs `patients:read` and clinical reach of the patient: the patient themself, an admin, or a
/// doctor on the team (404 for anyone else). The doctors linked now, each with what linked them (an
/// appointment, a record, a referral, break-glass...) and, for break-glass, when it expires.
/// Audited as a `read`.
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

/// Break the glass for a patient
///
/// Emergency access: needs `break_glass`, and the caller must be a doctor (403). The doctor states
/// a `reason` (10–1000 characters) and joins the patient's care team for a limited time (the
/// server's break-glass period), reaching their clinical data until `expires_at`. Flagged in the
/// audit trail as `break_glass`; the patient is notified.
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

/// Add a doctor
///
/// Needs `doctors:write` (admin). Either links an existing account with `user_id` (it gains the
/// `doctor` role), or creates a login with `password` (the email signs in), or neither; giving both
/// is 422. The license number is unique (409), as is one doctor record per account (409). Audited
/// as `create`.
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

/// List doctors
///
/// The doctor directory: any signed-in user. Filters: `specialty`, `q` (given or family name); in
/// creation order, paged. Not audited (it reveals no patient's data).
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

/// Read a doctor
///
/// The doctor directory: any signed-in user reads any doctor's entry. Not audited (it reveals no
/// patient's data). The `ETag` is the record's version, for `If-Match` on `PATCH`.
#[utoipa::path(get, path = "/doctors/{id}", tag = "doctors", params(("id" = String, Path)),
    responses((status = 200, body = Doctor), (status = 404, body = Problem)))]
async fn get_doctor(ctx: Ctx, Path(id): Path<DoctorId>) -> Result<Tagged<Doctor>, ApiError> {
    let d = ctx
        .read(move |conn, _| super::get_doctor(conn, &id))
        .await?;
    Ok(Tagged(d.version, d))
}

/// Change a doctor
///
/// The doctor themself, or a holder of `doctors:write` (admin); anyone else gets 403. Only an admin
/// changes `license_number` (403), which stays unique (409). `If-Match` is honoured (412 when
/// stale). Audited as `update`.
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
