//! `/device-metrics`, `/devices`, `/patients/{id}/monitoring-rules`, `/remote-monitoring-logs`:
//! parse, call the rule, answer. Ingest also takes a device's own token.

use axum::body::Body;
use axum::extract::FromRequestParts;

use crate::http::Path;
use axum::http::request::Parts;
use axum::http::{header, HeaderMap, StatusCode};
use utoipa_axum::{router::OpenApiRouter, routes};

use super::ingest::{self, DataPage, DataQuery, IngestResult, Readings, READINGS};
use super::monitoring::{self, LogFilter, LogId, MonitoringLog, MonitoringRule, LOG, RULES};
use super::{DeviceFilter, DeviceId, DeviceWithToken, Metric, NewDevice, WearableDevice, DEVICE};
use crate::http::{
    parse_json, require_declared_length, require_json, ApiError, AppJson, AppQuery, Created,
    ListResponse, PageParams, Problem, Tagged,
};
use crate::kit::ctx::{client_addr, request_id};
use crate::kit::{route, route_unaudited, Access, Actor, AppState, Ctx, Error, PatientId, Perm};

/// The largest ingest body: 10,000 readings with room to spare.
const MAX_INGEST_BYTES: usize = 8 * 1024 * 1024;

pub fn router() -> OpenApiRouter<AppState> {
    let read = Access::Perm(Perm::DevicesRead);
    let write = Access::Perm(Perm::DevicesWrite);
    OpenApiRouter::new()
        .routes(route_unaudited(
            Access::SignedIn,
            DEVICE,
            "the metric catalogue names no patient",
            routes!(list_metrics),
        ))
        .routes(route(write, DEVICE, routes!(register_device)))
        .routes(route(read, DEVICE, routes!(list_devices)))
        .routes(route(read, DEVICE, routes!(get_device)))
        .routes(route(write, DEVICE, routes!(rotate_token)))
        .routes(route(write, DEVICE, routes!(revoke_device)))
        .routes(route(write, READINGS, routes!(post_data)))
        .routes(route(read, READINGS, routes!(get_data)))
        .routes(route(read, RULES, routes!(get_rules)))
        .routes(route(write, RULES, routes!(put_rules)))
        .routes(route(read, LOG, routes!(list_logs)))
        .routes(route(write, LOG, routes!(acknowledge_log)))
}

/// The metric catalogue: units, plausible ranges, default thresholds.
#[utoipa::path(get, path = "/device-metrics", tag = "devices",
    responses((status = 200, body = Vec<Metric>)))]
async fn list_metrics(_ctx: Ctx) -> axum::Json<Vec<Metric>> {
    axum::Json(super::metrics())
}

/// Register a device (the patient for self; a care-team doctor or admin for a patient), with
/// the patient's remote-monitoring consent. The answer holds the ingest token, this once.
#[utoipa::path(post, path = "/devices", tag = "devices", request_body = NewDevice,
    responses((status = 201, body = DeviceWithToken), (status = 404, body = Problem),
        (status = 409, body = Problem), (status = 422, body = Problem)))]
async fn register_device(
    ctx: Ctx,
    AppJson(body): AppJson<NewDevice>,
) -> Result<Created<DeviceWithToken>, ApiError> {
    let d = ctx.write(move |tx| super::register(tx, body)).await?;
    Ok(Created {
        location: format!("/api/v1/devices/{}", d.device.id),
        version: Some(d.device.version),
        body: d,
    })
}

#[utoipa::path(get, path = "/devices", tag = "devices", params(DeviceFilter, PageParams),
    responses((status = 200, body = ListResponse<WearableDevice>), (status = 403, body = Problem)))]
async fn list_devices(
    ctx: Ctx,
    AppQuery(f): AppQuery<DeviceFilter>,
    AppQuery(page): AppQuery<PageParams>,
) -> Result<ListResponse<WearableDevice>, ApiError> {
    let page = page.page()?;
    let found = ctx
        .read(move |conn, actor| super::list(conn, actor, f, &page))
        .await?;
    Ok(ctx.reveal(found).await?)
}

#[utoipa::path(get, path = "/devices/{id}", tag = "devices", params(("id" = String, Path)),
    responses((status = 200, body = WearableDevice), (status = 404, body = Problem)))]
async fn get_device(
    ctx: Ctx,
    Path(id): Path<DeviceId>,
) -> Result<Tagged<WearableDevice>, ApiError> {
    let found = ctx
        .read(move |conn, actor| super::get(conn, actor, &id))
        .await?;
    let d = ctx.reveal(found).await?;
    Ok(Tagged(d.version, d))
}

/// A new ingest token (shown once); the old one stops working at once.
#[utoipa::path(post, path = "/devices/{id}/rotate-token", tag = "devices",
    params(("id" = String, Path)),
    responses((status = 200, body = DeviceWithToken), (status = 404, body = Problem),
        (status = 409, body = Problem)))]
async fn rotate_token(
    ctx: Ctx,
    Path(id): Path<DeviceId>,
) -> Result<axum::Json<DeviceWithToken>, ApiError> {
    let d = ctx.write(move |tx| super::rotate_token(tx, &id)).await?;
    Ok(axum::Json(d))
}

#[utoipa::path(post, path = "/devices/{id}/revoke", tag = "devices", params(("id" = String, Path)),
    responses((status = 200, body = WearableDevice), (status = 404, body = Problem),
        (status = 409, body = Problem)))]
async fn revoke_device(
    ctx: Ctx,
    Path(id): Path<DeviceId>,
) -> Result<Tagged<WearableDevice>, ApiError> {
    let d = ctx.write(move |tx| super::revoke(tx, &id)).await?;
    Ok(Tagged(d.version, d))
}

/// Who sends readings: the device itself (`Authorization: Device <ingest_token>`), which
/// reaches only its own ingest route, or a signed-in caller who manages the device.
enum Sender {
    Device(Actor, DeviceId, AppState),
    User(Ctx),
}

impl FromRequestParts<AppState> for Sender {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let device_token = parts
            .headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.split_once(' '))
            .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("device"))
            .map(|(_, token)| token.trim().to_string());
        let Some(token) = device_token else {
            return Ok(Sender::User(Ctx::from_request_parts(parts, state).await?));
        };
        let device = state
            .db
            .read(move |conn| super::device_of_token(conn, &token))
            .await?
            .ok_or_else(ApiError::unauthorized)?;
        let actor = Actor::visitor(request_id(parts), client_addr(parts), state.audit.clone())
            .as_user(device.user_id.as_str(), Some("device"));
        Ok(Sender::Device(actor, device.id, state.clone()))
    }
}

/// Ingest 1–10,000 readings, atomically: one bad reading is a 422 naming its index, and
/// nothing is stored; duplicates (same metric and time) are counted, not stored again. A
/// revoked device or consent is 409.
#[utoipa::path(post, path = "/devices/{id}/data", tag = "devices", params(("id" = String, Path)),
    request_body = Readings,
    responses((status = 200, body = IngestResult), (status = 401, body = Problem),
        (status = 404, body = Problem), (status = 409, body = Problem),
        (status = 413, body = Problem), (status = 415, body = Problem),
        (status = 422, body = Problem)))]
async fn post_data(
    sender: Sender,
    Path(id): Path<DeviceId>,
    headers: HeaderMap,
    body: Body,
) -> Result<axum::Json<IngestResult>, ApiError> {
    require_json(&headers)?;
    require_declared_length(&headers, MAX_INGEST_BYTES)?;
    let bytes = axum::body::to_bytes(body, MAX_INGEST_BYTES)
        .await
        .map_err(|_| {
            ApiError::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                "payload-too-large",
                "an ingest body is at most 8 MiB (10,000 readings)",
            )
        })?;
    let readings: Readings = parse_json(&bytes)?;
    let result = match sender {
        Sender::User(ctx) => {
            ctx.write(move |tx| ingest::ingest(tx, &id, readings, false))
                .await?
        }
        Sender::Device(actor, own, state) => {
            if own != id {
                return Err(actor
                    .deny(
                        Error::NotFound,
                        crate::kit::Action::Create,
                        READINGS,
                        Some(id.as_str()),
                        None,
                    )
                    .into());
            }
            actor
                .write(&state.db, move |tx| ingest::ingest(tx, &id, readings, true))
                .await?
        }
    };
    Ok(axum::Json(result))
}

/// A device's readings of one metric: raw (paged), or downsampled per bucket in SQL.
#[utoipa::path(get, path = "/devices/{id}/data", tag = "devices",
    params(("id" = String, Path), DataQuery, PageParams),
    responses((status = 200, body = DataPage), (status = 404, body = Problem),
        (status = 422, body = Problem)))]
async fn get_data(
    ctx: Ctx,
    Path(id): Path<DeviceId>,
    AppQuery(q): AppQuery<DataQuery>,
    AppQuery(page): AppQuery<PageParams>,
) -> Result<axum::Json<DataPage>, ApiError> {
    let page = page.page()?;
    let found = ctx
        .read(move |conn, actor| ingest::data(conn, actor, &id, q, &page))
        .await?;
    Ok(axum::Json(ctx.reveal(found).await?))
}

/// The patient's monitoring rules: the catalogue's defaults with their overrides.
#[utoipa::path(get, path = "/patients/{id}/monitoring-rules", tag = "devices",
    params(("id" = String, Path)),
    responses((status = 200, body = Vec<MonitoringRule>), (status = 404, body = Problem)))]
async fn get_rules(
    ctx: Ctx,
    Path(id): Path<PatientId>,
) -> Result<axum::Json<Vec<MonitoringRule>>, ApiError> {
    let found = ctx
        .read(move |conn, actor| monitoring::get_rules(conn, actor, &id))
        .await?;
    Ok(axum::Json(ctx.reveal(found).await?))
}

/// Override rules (a doctor of the patient's care team): the metrics named are replaced.
#[utoipa::path(put, path = "/patients/{id}/monitoring-rules", tag = "devices",
    params(("id" = String, Path)), request_body = Vec<MonitoringRule>,
    responses((status = 200, body = Vec<MonitoringRule>), (status = 403, body = Problem),
        (status = 404, body = Problem), (status = 422, body = Problem)))]
async fn put_rules(
    ctx: Ctx,
    Path(id): Path<PatientId>,
    AppJson(body): AppJson<Vec<MonitoringRule>>,
) -> Result<axum::Json<Vec<MonitoringRule>>, ApiError> {
    let rules = ctx
        .write(move |tx| monitoring::set_rules(tx, &id, body))
        .await?;
    Ok(axum::Json(rules))
}

#[utoipa::path(get, path = "/remote-monitoring-logs", tag = "devices",
    params(LogFilter, PageParams),
    responses((status = 200, body = ListResponse<MonitoringLog>), (status = 403, body = Problem)))]
async fn list_logs(
    ctx: Ctx,
    AppQuery(f): AppQuery<LogFilter>,
    AppQuery(page): AppQuery<PageParams>,
) -> Result<ListResponse<MonitoringLog>, ApiError> {
    let page = page.page()?;
    let found = ctx
        .read(move |conn, actor| monitoring::list(conn, actor, f, &page))
        .await?;
    Ok(ctx.reveal(found).await?)
}

/// Acknowledge an entry (a doctor of the patient's care team); further readings past the limit
/// open a new one.
#[utoipa::path(post, path = "/remote-monitoring-logs/{id}/acknowledge", tag = "devices",
    params(("id" = String, Path)),
    responses((status = 200, body = MonitoringLog), (status = 403, body = Problem),
        (status = 404, body = Problem), (status = 409, body = Problem)))]
async fn acknowledge_log(
    ctx: Ctx,
    Path(id): Path<LogId>,
) -> Result<axum::Json<MonitoringLog>, ApiError> {
    let l = ctx
        .write(move |tx| monitoring::acknowledge(tx, &id))
        .await?;
    Ok(axum::Json(l))
}
