//! `/lab-orders`, `/lab-results`, `/diagnostic-images`: parse, call the rule, answer. Image
//! content streams between the client and the blob store, never whole in memory.

use crate::http::Path;
use axum::body::Body;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use bytes::{Bytes, BytesMut};
use futures::StreamExt;
use utoipa_axum::{router::OpenApiRouter, routes};

use super::images::{
    self, DiagnosticImage, ImageFilter, ImageId, NewImage, CONTENT_TYPES, IMAGE, SIGNATURE_BYTES,
};
use super::results::{
    self, LabResult, LabResultId, NewResult, ResultChange, ResultFilter, ResultVersion, RESULT,
};
use super::{Cancel, LabOrder, LabOrderId, NewOrder, OrderFilter, ORDER};
use crate::blob::{DownloadError, UploadError};
use crate::http::{
    ApiError, AppJson, AppQuery, Binary, Created, ListResponse, PageParams, Problem, Tagged,
};
use crate::kit::{route, Access, AppState, Ctx, IfMatch, Perm, Timestamp};

pub fn router() -> OpenApiRouter<AppState> {
    let read = Access::Perm(Perm::LabRead);
    let write = Access::Perm(Perm::LabWrite);
    OpenApiRouter::new()
        .routes(route(write, ORDER, routes!(create_order)))
        .routes(route(read, ORDER, routes!(list_orders)))
        .routes(route(read, ORDER, routes!(get_order)))
        .routes(route(write, ORDER, routes!(collect_order)))
        .routes(route(write, ORDER, routes!(cancel_order)))
        .routes(route(write, RESULT, routes!(create_result)))
        .routes(route(read, RESULT, routes!(list_results)))
        .routes(route(read, RESULT, routes!(get_result)))
        .routes(route(write, RESULT, routes!(patch_result)))
        .routes(route(read, RESULT, routes!(result_history)))
        .routes(route(write, IMAGE, routes!(create_image)))
        .routes(route(read, IMAGE, routes!(list_images)))
        .routes(route(read, IMAGE, routes!(get_image)))
        .routes(route(write, IMAGE, routes!(put_content)))
        .routes(route(read, IMAGE, routes!(get_content)))
}

/// Order a lab test
///
/// Needs `lab:write`. A doctor orders as themself (an admin names `doctor_id`, 422 without) and
/// must be on the patient's care team or be the doctor of the named `appointment_id` (404
/// otherwise); a missing patient, doctor or appointment is 409. `test_code` is a LOINC code
/// (`2345-7`, 422 otherwise); `priority` defaults to `routine`. The order starts `ordered`, and the
/// doctor joins the care team. Audited as `create`.
#[utoipa::path(post, path = "/lab-orders", operation_id = "create_lab_order", tag = "lab", request_body = NewOrder,
    responses((status = 201, body = LabOrder), (status = 403, body = Problem),
        (status = 404, body = Problem), (status = 409, body = Problem),
        (status = 422, body = Problem)))]
async fn create_order(
    ctx: Ctx,
    AppJson(body): AppJson<NewOrder>,
) -> Result<Created<LabOrder>, ApiError> {
    let o = ctx.write(move |tx| super::order(tx, body)).await?;
    Ok(Created {
        location: format!("/api/v1/lab-orders/{}", o.id),
        version: Some(o.version),
        body: o,
    })
}

/// List lab orders
///
/// Needs `lab:read`. The orders the caller reaches: a patient their own, a doctor those they
/// ordered and those of their care team's patients, lab technicians and admins every order. `stat`
/// first, then `urgent`, then `routine`, oldest first within each, so
/// `?status=ordered&priority=stat` is the lab's work list. Filters: `patient_id`, `doctor_id`,
/// `status`, `priority`, `test_code`; paged. Audited as a `search` per patient listed.
#[utoipa::path(get, path = "/lab-orders", operation_id = "list_lab_orders", tag = "lab", params(OrderFilter, PageParams),
    responses((status = 200, body = ListResponse<LabOrder>), (status = 403, body = Problem),
        (status = 422, body = Problem)))]
async fn list_orders(
    ctx: Ctx,
    AppQuery(f): AppQuery<OrderFilter>,
    AppQuery(page): AppQuery<PageParams>,
) -> Result<ListResponse<LabOrder>, ApiError> {
    let page = page.page()?;
    let found = ctx
        .read(move |conn, actor| super::list(conn, actor, f, &page))
        .await?;
    Ok(ctx.reveal(found).await?)
}

/// Read a lab order
///
/// Needs `lab:read`. The patient, the ordering doctor, a doctor on the patient's care team, a lab
/// technician or an admin; anyone else gets 404. Audited as a `read`. The `ETag` is the order's
/// version.
#[utoipa::path(get, path = "/lab-orders/{id}", operation_id = "get_lab_order", tag = "lab", params(("id" = String, Path)),
    responses((status = 200, body = LabOrder), (status = 404, body = Problem)))]
async fn get_order(ctx: Ctx, Path(id): Path<LabOrderId>) -> Result<Tagged<LabOrder>, ApiError> {
    let found = ctx
        .read(move |conn, actor| super::get(conn, actor, &id))
        .await?;
    let o = ctx.reveal(found).await?;
    Ok(Tagged(o.version, o))
}

/// Mark a lab order's sample collected
///
/// Needs `lab:write`; a lab technician or an admin (403 for the ordering doctor). Moves the order
/// `ordered` → `collected` and stamps who collected it and when; from any other status it is 409
/// `illegal-transition`. Audited as `state_change`.
#[utoipa::path(post, path = "/lab-orders/{id}/collect", tag = "lab", params(("id" = String, Path)),
    responses((status = 200, body = LabOrder), (status = 403, body = Problem),
        (status = 404, body = Problem), (status = 409, body = Problem)))]
async fn collect_order(ctx: Ctx, Path(id): Path<LabOrderId>) -> Result<Tagged<LabOrder>, ApiError> {
    let o = ctx
        .write(move |tx| super::collect(tx, &id, Timestamp::now()))
        .await?;
    Ok(Tagged(o.version, o))
}

/// Cancel a lab order
///
/// Needs `lab:write`; the ordering doctor or an admin (403 otherwise), with a `reason` (1–1000
/// characters), while the order is `ordered` or `collected` (409 `illegal-transition` once resulted
/// or cancelled). Audited as `state_change`.
#[utoipa::path(post, path = "/lab-orders/{id}/cancel", tag = "lab", params(("id" = String, Path)),
    request_body = Cancel,
    responses((status = 200, body = LabOrder), (status = 403, body = Problem),
        (status = 404, body = Problem), (status = 409, body = Problem),
        (status = 422, body = Problem)))]
async fn cancel_order(
    ctx: Ctx,
    Path(id): Path<LabOrderId>,
    AppJson(body): AppJson<Cancel>,
) -> Result<Tagged<LabOrder>, ApiError> {
    let o = ctx.write(move |tx| super::cancel(tx, &id, body)).await?;
    Ok(Tagged(o.version, o))
}

/// Record a lab result
///
/// Needs `lab:write`; a lab technician or an admin (403). One result per analyte: `test_code`
/// defaults to the order's, `value_numeric` to `value` read as a number, and `interpretation` to
/// `abnormal` outside the reference range, else `normal`. The order must be `collected` or
/// `resulted` (409); its first result moves it to `resulted`. The ordering doctor and the patient
/// are notified (one unread notice per order); a `critical` value notifies the doctor at once,
/// every time. Audited as `create`.
#[utoipa::path(post, path = "/lab-orders/{id}/results", tag = "lab", params(("id" = String, Path)),
    request_body = NewResult,
    responses((status = 201, body = LabResult), (status = 403, body = Problem),
        (status = 404, body = Problem), (status = 409, body = Problem),
        (status = 422, body = Problem)))]
async fn create_result(
    ctx: Ctx,
    Path(id): Path<LabOrderId>,
    AppJson(body): AppJson<NewResult>,
) -> Result<Created<LabResult>, ApiError> {
    let r = ctx
        .write(move |tx| results::record(tx, &id, body, Timestamp::now()))
        .await?;
    Ok(Created {
        location: format!("/api/v1/lab-results/{}", r.id),
        version: Some(r.version),
        body: r,
    })
}

/// List lab results
///
/// Needs `lab:read`. The results the caller reaches: a patient their own, a doctor those of orders
/// they placed and of their care team's patients, lab technicians and admins all. Filters:
/// `patient_id`, `lab_order_id`, `interpretation`; oldest first, paged. Audited as a `search` per
/// patient listed.
#[utoipa::path(get, path = "/lab-results", tag = "lab", params(ResultFilter, PageParams),
    responses((status = 200, body = ListResponse<LabResult>), (status = 403, body = Problem),
        (status = 422, body = Problem)))]
async fn list_results(
    ctx: Ctx,
    AppQuery(f): AppQuery<ResultFilter>,
    AppQuery(page): AppQuery<PageParams>,
) -> Result<ListResponse<LabResult>, ApiError> {
    let page = page.page()?;
    let found = ctx
        .read(move |conn, actor| results::list(conn, actor, f, &page))
        .await?;
    Ok(ctx.reveal(found).await?)
}

/// Read a lab result
///
/// Needs `lab:read`, and the reach of its order: the patient, the ordering doctor, a doctor on the
/// care team, a lab technician or an admin (404 otherwise). Audited as a `read`. The `ETag` is the
/// result's version, for `If-Match` on `PATCH`.
#[utoipa::path(get, path = "/lab-results/{id}", tag = "lab", params(("id" = String, Path)),
    responses((status = 200, body = LabResult), (status = 404, body = Problem)))]
async fn get_result(ctx: Ctx, Path(id): Path<LabResultId>) -> Result<Tagged<LabResult>, ApiError> {
    let found = ctx
        .read(move |conn, actor| results::get(conn, actor, &id))
        .await?;
    let r = ctx.reveal(found).await?;
    Ok(Tagged(r.version, r))
}

/// Correct a lab result
///
/// Needs `lab:write`; a lab technician or an admin (403). Changes the values given, re-deriving the
/// interpretation when the value or range changes and none is given; the status becomes
/// `corrected`, and every earlier version stays in the history. The ordering doctor is notified
/// again, and at once when the correction makes the value critical. `If-Match` is honoured (412
/// when stale). Audited as `update`.
#[utoipa::path(patch, path = "/lab-results/{id}", tag = "lab", params(("id" = String, Path)),
    request_body = ResultChange,
    responses((status = 200, body = LabResult), (status = 403, body = Problem),
        (status = 404, body = Problem), (status = 412, body = Problem),
        (status = 422, body = Problem)))]
async fn patch_result(
    ctx: Ctx,
    Path(id): Path<LabResultId>,
    if_match: IfMatch,
    AppJson(body): AppJson<ResultChange>,
) -> Result<Tagged<LabResult>, ApiError> {
    let r = ctx
        .write(move |tx| results::correct(tx, &id, body, if_match, Timestamp::now()))
        .await?;
    Ok(Tagged(r.version, r))
}

/// Read a lab result's history
///
/// Needs `lab:read`, and the same reach as reading the result (404 otherwise). Every version,
/// oldest first, with who changed it and when. Audited as a `read`.
#[utoipa::path(get, path = "/lab-results/{id}/history", tag = "lab", params(("id" = String, Path)),
    responses((status = 200, body = Vec<ResultVersion>), (status = 404, body = Problem)))]
async fn result_history(
    ctx: Ctx,
    Path(id): Path<LabResultId>,
) -> Result<axum::Json<Vec<ResultVersion>>, ApiError> {
    let found = ctx
        .read(move |conn, actor| results::history(conn, actor, &id))
        .await?;
    Ok(axum::Json(ctx.reveal(found).await?))
}

/// Create a diagnostic image record
///
/// Needs `lab:write`. A doctor creates it as themself and must be on the patient's care team (404
/// otherwise); a lab technician or an admin may name any doctor, or none. The patient and doctor
/// must exist, and `lab_order_id` must be an order of the same patient (409). The image starts
/// `pending_upload`: send its bytes with `PUT /diagnostic-images/{id}/content`. A named doctor
/// joins the care team. Audited as `create`.
#[utoipa::path(post, path = "/diagnostic-images", tag = "lab", request_body = NewImage,
    responses((status = 201, body = DiagnosticImage), (status = 403, body = Problem),
        (status = 404, body = Problem), (status = 409, body = Problem),
        (status = 422, body = Problem)))]
async fn create_image(
    ctx: Ctx,
    AppJson(body): AppJson<NewImage>,
) -> Result<Created<DiagnosticImage>, ApiError> {
    let i = ctx.write(move |tx| images::create(tx, body)).await?;
    Ok(Created {
        location: format!("/api/v1/diagnostic-images/{}", i.id),
        version: Some(i.version),
        body: i,
    })
}

/// List diagnostic images
///
/// Needs `lab:read`. The images the caller reaches: a patient their own, a doctor those they are
/// named on and those of their care team's patients, lab technicians and admins all. Filters:
/// `patient_id`, `lab_order_id`, `modality`, `status`; paged. Audited as a `search` per patient
/// listed.
#[utoipa::path(get, path = "/diagnostic-images", tag = "lab", params(ImageFilter, PageParams),
    responses((status = 200, body = ListResponse<DiagnosticImage>), (status = 403, body = Problem),
        (status = 422, body = Problem)))]
async fn list_images(
    ctx: Ctx,
    AppQuery(f): AppQuery<ImageFilter>,
    AppQuery(page): AppQuery<PageParams>,
) -> Result<ListResponse<DiagnosticImage>, ApiError> {
    let page = page.page()?;
    let found = ctx
        .read(move |conn, actor| images::list(conn, actor, f, &page))
        .await?;
    Ok(ctx.reveal(found).await?)
}

/// Read a diagnostic image record
///
/// Needs `lab:read`: the patient, the image's doctor, a doctor on the care team, a lab technician
/// or an admin (404 otherwise). The record only: its bytes are at `GET
/// /diagnostic-images/{id}/content`. Audited as a `read`.
#[utoipa::path(get, path = "/diagnostic-images/{id}", tag = "lab", params(("id" = String, Path)),
    responses((status = 200, body = DiagnosticImage), (status = 404, body = Problem)))]
async fn get_image(ctx: Ctx, Path(id): Path<ImageId>) -> Result<Tagged<DiagnosticImage>, ApiError> {
    let found = ctx
        .read(move |conn, actor| images::get(conn, actor, &id))
        .await?;
    let i = ctx.reveal(found).await?;
    Ok(Tagged(i.version, i))
}

/// Upload a diagnostic image's bytes
///
/// Needs `lab:write`, and the reach of reading the image (404). The body is `image/jpeg`,
/// `image/png` or `application/dicom`, checked against the bytes' own signature (415 on a
/// mismatch), streamed to the blob store with their SHA-256; larger than the server's image limit
/// is 413. Once uploaded the content never changes (409). A failed upload leaves the image
/// `pending_upload` and stores nothing. Audited as `update`.
#[utoipa::path(put, path = "/diagnostic-images/{id}/content", tag = "lab", params(("id" = String, Path)),
    request_body(description = "The image's bytes",
        content((Binary = "image/jpeg"), (Binary = "image/png"), (Binary = "application/dicom"))),
    responses((status = 200, body = DiagnosticImage), (status = 404, body = Problem),
        (status = 409, body = Problem), (status = 413, body = Problem),
        (status = 415, body = Problem)))]
async fn put_content(
    ctx: Ctx,
    Path(id): Path<ImageId>,
    headers: HeaderMap,
    body: Body,
) -> Result<Tagged<DiagnosticImage>, ApiError> {
    let max = ctx.state().config.max_image_bytes;
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .map(|v| {
            v.split(';')
                .next()
                .unwrap_or("")
                .trim()
                .to_ascii_lowercase()
        })
        .unwrap_or_default();
    let i = id.clone();
    ctx.read(move |conn, actor| images::begin_upload(conn, actor, &i))
        .await?;
    if !CONTENT_TYPES.contains(&content_type.as_str()) {
        return Err(unsupported(&format!(
            "the content type must be one of {}",
            CONTENT_TYPES.join(", ")
        )));
    }
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > max) {
        return Err(too_large(max));
    }
    // The first bytes decide whether the content is what it says; the rest streams on.
    let mut stream = body.into_data_stream();
    let mut head = BytesMut::new();
    while head.len() < SIGNATURE_BYTES {
        match stream.next().await {
            Some(Ok(chunk)) => head.extend_from_slice(&chunk),
            Some(Err(e)) => {
                return Err(ApiError::bad_request(format!(
                    "the upload was interrupted: {e}"
                )))
            }
            None => break,
        }
    }
    if !images::signature_matches(&content_type, &head) {
        return Err(unsupported(&format!(
            "the bytes are not {content_type}: their signature does not match"
        )));
    }
    let head: Bytes = head.freeze();
    let chunks = futures::stream::once(async move { Ok::<Bytes, axum::Error>(head) }).chain(stream);
    let key = format!("diagnostic-images/{id}/{}", uuid::Uuid::new_v4());
    let blobs = ctx.state().blobs.clone();
    let stored = blobs.upload(&key, chunks, max).await.map_err(|e| match e {
        UploadError::TooLarge(max) => too_large(max),
        UploadError::Interrupted(why) => ApiError::bad_request(why),
        UploadError::Store(why) => ApiError::unavailable(format!("the blob store failed: {why}")),
    })?;
    let (k, ct) = (key.clone(), content_type.clone());
    let saved = ctx
        .write(move |tx| images::complete_upload(tx, &id, &k, &ct, &stored))
        .await;
    match saved {
        Ok(i) => Ok(Tagged(i.version, i)),
        Err(e) => {
            // The row did not take these bytes: they must not stay behind.
            blobs.delete(&key).await;
            Err(e.into())
        }
    }
}

fn unsupported(detail: &str) -> ApiError {
    ApiError::new(
        StatusCode::UNSUPPORTED_MEDIA_TYPE,
        "unsupported-media-type",
        detail,
    )
}

fn too_large(max: u64) -> ApiError {
    ApiError::new(
        StatusCode::PAYLOAD_TOO_LARGE,
        "payload-too-large",
        format!("an image is at most {max} bytes"),
    )
}

/// One `Range: bytes=…` of a `size`-byte content, as a half-open range; `Err(())` when it asks
/// for nothing that exists (416). Several ranges, or a form we do not read, are ignored (the
/// whole content is sent, as RFC 9110 allows).
fn byte_range(headers: &HeaderMap, size: u64) -> Result<Option<std::ops::Range<u64>>, ()> {
    let Some(spec) = headers
        .get(header::RANGE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().strip_prefix("bytes="))
    else {
        return Ok(None);
    };
    if spec.contains(',') {
        return Ok(None);
    }
    let Some((a, b)) = spec.trim().split_once('-') else {
        return Ok(None);
    };
    let (a, b) = (a.trim(), b.trim());
    let range = match (a.parse::<u64>(), b.parse::<u64>()) {
        (Ok(start), Ok(end)) if start <= end => start..end.saturating_add(1).min(size),
        (Ok(start), Err(_)) if b.is_empty() => start..size,
        (Err(_), Ok(suffix)) if a.is_empty() => size.saturating_sub(suffix)..size,
        _ => return Ok(None),
    };
    if range.start >= size || range.is_empty() {
        return Err(());
    }
    Ok(Some(range))
}

/// Download a diagnostic image's bytes
///
/// Needs `lab:read`, and the reach of reading the image (404). The bytes with their content type;
/// the `ETag` is their SHA-256 (`If-None-Match` answers 304), and one `Range` answers 206 (416 when
/// it lies outside). 409 while nothing is uploaded. Audited as a `read`.
#[utoipa::path(get, path = "/diagnostic-images/{id}/content", tag = "lab", params(("id" = String, Path)),
    responses((status = 200, description = "The image's bytes",
            content((Binary = "image/jpeg"), (Binary = "image/png"), (Binary = "application/dicom"))),
        (status = 206, description = "The requested range of the bytes"),
        (status = 304, description = "Not modified (`If-None-Match`)"),
        (status = 404, body = Problem), (status = 409, body = Problem),
        (status = 416, body = Problem)))]
async fn get_content(
    ctx: Ctx,
    Path(id): Path<ImageId>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let found = ctx
        .read(move |conn, actor| images::content(conn, actor, &id))
        .await?;
    let c = ctx.reveal(found).await?;
    let etag = format!("\"{}\"", c.sha256);
    if headers
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.split(',').any(|t| t.trim() == etag || t.trim() == "*"))
    {
        return Ok((StatusCode::NOT_MODIFIED, [(header::ETAG, etag)]).into_response());
    }
    let range = byte_range(&headers, c.size).map_err(|()| {
        ApiError::new(
            StatusCode::RANGE_NOT_SATISFIABLE,
            "range-not-satisfiable",
            format!("the content is {} bytes", c.size),
        )
    })?;
    let stream = ctx
        .state()
        .blobs
        .download(&c.blob_key, range.clone())
        .await
        .map_err(|e| match e {
            DownloadError::Missing => ApiError::internal("an available image has no blob"),
            DownloadError::Store(why) => {
                ApiError::unavailable(format!("the blob store failed: {why}"))
            }
        })?;
    let mut resp = Response::new(Body::from_stream(stream));
    let h = resp.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_str(&c.content_type)
            .unwrap_or(HeaderValue::from_static("application/octet-stream")),
    );
    h.insert(header::ACCEPT_RANGES, HeaderValue::from_static("bytes"));
    if let Ok(v) = HeaderValue::from_str(&etag) {
        h.insert(header::ETAG, v);
    }
    match range {
        Some(r) => {
            *resp.status_mut() = StatusCode::PARTIAL_CONTENT;
            let h = resp.headers_mut();
            h.insert(header::CONTENT_LENGTH, (r.end - r.start).into());
            if let Ok(v) =
                HeaderValue::from_str(&format!("bytes {}-{}/{}", r.start, r.end - 1, c.size))
            {
                h.insert(header::CONTENT_RANGE, v);
            }
        }
        None => {
            resp.headers_mut()
                .insert(header::CONTENT_LENGTH, c.size.into());
        }
    }
    Ok(resp)
}
