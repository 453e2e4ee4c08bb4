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

/// Write a record: a doctor on the patient's care team, or with an appointment with the patient.
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

/// Records the caller may reach: the patient's own, a doctor's care-team patients', all for admin.
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

#[utoipa::path(get, path = "/medical-records/{id}", tag = "medical-records", params(("id" = String, Path)),
    responses((status = 200, body = MedicalRecord), (status = 404, body = Problem)))]
async fn get_record(ctx: Ctx, Path(id): Path<RecordId>) -> Result<Tagged<MedicalRecord>, ApiError> {
    let found = ctx
        .read(move |conn, actor| super::get(conn, actor, &id))
        .await?;
    let r = ctx.reveal(found).await?;
    Ok(Tagged(r.version, r))
}

/// Amend a record (a doctor on the care team): a new version; `If-Match` honoured.
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

/// Every version of a record, oldest first.
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
