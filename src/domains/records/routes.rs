//! `/medical-records`: parse, call the rule in `mod.rs`, answer.

use crate::http::Path;
use utoipa_axum::{router::OpenApiRouter, routes};

use super::{
    MedicalRecord, NewRecord, RecordChange, RecordFilter, RecordId, RecordVersion, HISTORY, RECORD,
};
use crate::http::{
    ApiError, AppJson, AppQuery, Created, ListResponse, PageParams, Problem, Tagged,
};
use crate::kit::AppState;
use crate::kit::{route, Access, Ctx, IfMatch, Perm};

pub fn router() -> OpenApiRouter<AppState> {
    let read = Access::Perm(Perm::RecordsRead);
    let write = Access::Perm(Perm::RecordsWrite);
    OpenApiRouter::new()
        .routes(route(write, RECORD, routes!(create_record)))
        .routes(route(read, RECORD, routes!(list_records)))
        .routes(route(read, RECORD, routes!(get_record)))
        .routes(route(write, RECORD, routes!(patch_record)))
        .routes(route(read, HISTORY, routes!(record_history)))
}

/// Write a medical record
///
/// Needs `records:write`. A doctor writes as themself (naming another doctor is 403); an admin must
/// name `doctor_id` (422 without). The doctor must be on the patient's care team or be the doctor
/// of the named `appointment_id` (404 otherwise); a patient, doctor or appointment that does not
/// exist is 409. Title 1–200 characters, content up to 100,000, at most 50 diagnosis codes (ICD-10
/// style, 422). Version 1 is `final`; the doctor joins the care team. Audited as `create`.
#[utoipa::path(post, path = "/medical-records", tag = "medical-records", request_body = NewRecord,
    responses((status = 201, body = MedicalRecord), (status = 403, body = Problem),
        (status = 404, body = Problem), (status = 409, body = Problem),
        (status = 422, body = Problem)))]
async fn create_record(
    ctx: Ctx,
    AppJson(body): AppJson<NewRecord>,
) -> Result<Created<MedicalRecord>, ApiError> {
    let rec = ctx.write(move |tx| super::create(tx, body)).await?;
    Ok(Created {
        location: format!("/api/v1/medical-records/{}", rec.id),
        version: Some(rec.version),
        body: rec,
    })
}

/// List medical records
///
/// Needs `records:read`. The records the caller reaches: a patient their own, a doctor those they
/// wrote and those of their care team's patients, an admin all. Filters: `patient_id`,
/// `record_type`, `status`, `diagnosis_code` (a whole code, any case; 422 if it is not a code),
/// and `from`/`to` (written in `[from, to)`); in creation order, paged. Audited as a `search`
/// per patient listed.
#[utoipa::path(get, path = "/medical-records", tag = "medical-records", params(RecordFilter, PageParams),
    responses((status = 200, body = ListResponse<MedicalRecord>), (status = 403, body = Problem),
        (status = 422, body = Problem)))]
async fn list_records(
    ctx: Ctx,
    AppQuery(f): AppQuery<RecordFilter>,
    AppQuery(page): AppQuery<PageParams>,
) -> Result<ListResponse<MedicalRecord>, ApiError> {
    let page = page.page()?;
    let found = ctx
        .read(move |conn, actor| super::list(conn, actor, f, &page))
        .await?;
    Ok(ctx.reveal(found).await?)
}

/// Read a medical record
///
/// Needs `records:read`. The patient, the record's author, a doctor on the patient's care team, or
/// an admin; anyone else gets 404 (audited as a refused read). Audited as a `read`. The `ETag` is
/// the record's version, for `If-Match` on `PATCH`.
#[utoipa::path(get, path = "/medical-records/{id}", tag = "medical-records", params(("id" = String, Path)),
    responses((status = 200, body = MedicalRecord), (status = 404, body = Problem)))]
async fn get_record(ctx: Ctx, Path(id): Path<RecordId>) -> Result<Tagged<MedicalRecord>, ApiError> {
    let found = ctx
        .read(move |conn, actor| super::get(conn, actor, &id))
        .await?;
    let r = ctx.reveal(found).await?;
    Ok(Tagged(r.version, r))
}

/// Amend a medical record
///
/// Needs `records:write`: the record's author, a doctor on the patient's care team, or an admin
/// (403; a patient never amends). Every change writes a new version, kept in the history; the
/// status becomes `amended`, or `entered_in_error`, which is final (a later change is 409).
/// `If-Match` is honoured (412 when stale). Audited as `update`.
#[utoipa::path(patch, path = "/medical-records/{id}", tag = "medical-records", params(("id" = String, Path)),
    request_body = RecordChange,
    responses((status = 200, body = MedicalRecord), (status = 403, body = Problem),
        (status = 404, body = Problem), (status = 409, body = Problem),
        (status = 412, body = Problem), (status = 422, body = Problem)))]
async fn patch_record(
    ctx: Ctx,
    Path(id): Path<RecordId>,
    if_match: IfMatch,
    AppJson(body): AppJson<RecordChange>,
) -> Result<Tagged<MedicalRecord>, ApiError> {
    let rec = ctx
        .write(move |tx| super::amend(tx, &id, body, if_match))
        .await?;
    Ok(Tagged(rec.version, rec))
}

/// Read a medical record's history
///
/// Needs `records:read`, and the same reach as reading the record (404 otherwise). Every version,
/// oldest first, with who wrote it and when. Audited as a `read` of the history.
#[utoipa::path(get, path = "/medical-records/{id}/history", tag = "medical-records", params(("id" = String, Path)),
    responses((status = 200, body = Vec<RecordVersion>), (status = 404, body = Problem)))]
async fn record_history(
    ctx: Ctx,
    Path(id): Path<RecordId>,
) -> Result<axum::Json<Vec<RecordVersion>>, ApiError> {
    let found = ctx
        .read(move |conn, actor| super::history(conn, actor, &id))
        .await?;
    Ok(axum::Json(ctx.reveal(found).await?))
}
