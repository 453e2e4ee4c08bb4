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
use crate::kit::idempotency::IdempotencyKey;
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

/// List the device metric catalogue
///
/// Any signed-in user. Every metric a reading may have (`heart_rate`, `spo2`, `glucose`...), with
/// its unit, the plausible range of a value, and the default warning and critical thresholds that a
/// patient's monitoring rules start from. Not audited (it names no patient).
#[utoipa::path(get, path = "/device-metrics", tag = "devices",
    responses((status = 200, body = Vec<Metric>)))]
async fn list_metrics(_ctx: Ctx) -> axum::Json<Vec<Metric>> {
    axum::Json(super::metrics())
}

/// Register a wearable device
///
/// Needs `devices:write`. The patient registers for themself (`patient_id` defaults to their own
/// record); a doctor on the care team or an admin names the patient (404 out of reach). The patient
/// must have given `remote_monitoring` consent and have an account, which owns the device (409
/// `consent-required` otherwise). The answer holds the device's ingest token, this once. Audited as
/// `create`; the device's monitoring log records the registration.
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

/// List wearable devices
///
/// Needs `devices:read`. The devices the caller reaches: a patient their own, a doctor those of
/// their care team's patients, an admin all. Filters: `patient_id`, `status`; paged. Audited as a
/// `search` per patient listed.
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

/// Read a wearable device
///
/// Needs `devices:read`: the patient, a doctor on the care team, or an admin (404 otherwise). Never
/// the ingest token. Audited as a `read`. The `ETag` is its version.
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

/// Rotate a device's ingest token
///
/// Needs `devices:write`: the patient, a doctor on the care team, or an admin (404 otherwise). A
/// new token, shown once in the answer; the old one stops working at once. A revoked device is 409.
/// Audited as `update`; the device's monitoring log records it.
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

/// Revoke a wearable device
///
/// Needs `devices:write`: the patient, a doctor on the care team, or an admin (404 otherwise). The
/// device sends no more readings; revoking twice is 409 `illegal-transition`. Audited as
/// `state_change`; the device's monitoring log records it.
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

/// Upload device readings
///
/// Sent by the device itself (`Authorization: Device <ingest_token>`, which reaches only its own
/// device) or by its owner, the patient (`devices:write`; others who reach the device get 403).
/// 1–10,000 readings, stored atomically: one bad reading (a metric not in the catalogue, the wrong
/// unit, a value outside the plausible range, a time more than 5 minutes ahead) is a 422 naming its
/// index, and nothing is stored; duplicates (same metric and time) are counted, not stored again. A
/// revoked device or withdrawn consent is 409. Readings past the patient's limits open or extend
/// monitoring log entries and notify the care-team doctors. Audited as one `create` per request.
/// With `Idempotency-Key` (kept per device: the device and its owner share them), a repeat of
/// the same readings gets the first answer back (audited as a `read`); other readings under the
/// same key are 422.
#[utoipa::path(post, path = "/devices/{id}/data", tag = "devices", params(("id" = String, Path)),
    request_body = Readings,
    responses((status = 200, body = IngestResult), (status = 401, body = Problem),
        (status = 404, body = Problem), (status = 409, body = Problem),
        (status = 413, body = Problem), (status = 415, body = Problem),
        (status = 422, body = Problem)))]
async fn post_data(
    sender: Sender,
    Path(id): Path<DeviceId>,
    key: IdempotencyKey,
    headers: HeaderMap,
    body: Body,
) -> Result<axum::Json<IngestResult>, ApiError> {
    const ROUTE: &str = "POST /devices/{id}/data";
    // Keys are kept per user, and a device sends as its owner: a key is per device too, so
    // two devices of one patient may number their batches alike.
    let key = IdempotencyKey(key.0.map(|k| format!("{id}/{k}")));
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
    // A key's request is the device and its readings (the same readings for another device
    // are another request); without a key nothing is fingerprinted.
    let request = match &key.0 {
        Some(_) => Some(serde_json::to_value((&id, &readings)).map_err(Error::internal)?),
        None => None,
    };
    let kept = match sender {
        Sender::User(ctx) => {
            ctx.write_once(key, ROUTE, &request, READINGS, move |tx| {
                ingest::ingest_kept(tx, &id, readings, false)
            })
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
                .write_once(&state.db, key, ROUTE, &request, READINGS, move |tx| {
                    ingest::ingest_kept(tx, &id, readings, true)
                })
                .await?
        }
    };
    Ok(axum::Json(kept.result))
}

/// Read a device's readings
///
/// Needs `devices:read`: the patient, a doctor on the care team, or an admin (404 otherwise). One
/// `metric` (required) within `from`/`to`: raw readings oldest first and paged, or with `bucket`
/// (`1m`, `5m`, `1h`, `1d`) count, min, max and mean per bucket, computed in the database (at most
/// 100,000 buckets). Audited as a `read`.
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

/// Read a patient's monitoring rules
///
/// Needs `devices:read`, and clinical reach of the patient (the patient, a doctor on the care team,
/// an admin; 404 otherwise). One rule per metric of the catalogue: its defaults, replaced by the
/// patient's overrides. Audited as a `read`.
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

/// Override a patient's monitoring rules
///
/// Needs `devices:write`; a doctor on the patient's care team or an admin (403; 404 out of reach).
/// The metrics named are replaced, the others keep their rules; each rule keeps warning limits
/// inside critical ones and low below high (422). Audited as `update`.
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

/// List remote monitoring log entries
///
/// Needs `devices:read`. The entries the caller reaches: a patient their own, a doctor those of
/// their care team's patients, an admin all; threshold alerts (warning, critical) and device events
/// (info). Filters: `patient_id`, `device_id`, `severity`, `acknowledged`; paged. Audited as a
/// `search` per patient listed.
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

/// Acknowledge a monitoring alert
///
/// Needs `devices:write`; a doctor on the patient's care team or an admin (403; 404 out of reach).
/// Stamps who acknowledged it and when; an entry acknowledged already is 409. Further readings past
/// the limit open a new entry. Audited as `update`.
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
