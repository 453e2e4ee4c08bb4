//! ServiceRequest (our lab orders, and our referrals to a specialist) and DiagnosticReport (the
//! report of a lab order that has results: its results as Observations).
//!
//! A lab order keeps its id; a referral's is `referral-<id>` (the two tables' ids could
//! otherwise not be told apart without reading both). Lab orders need `lab:read`, referrals
//! `referrals:read`: a role with one finds those only.

use axum::extract::RawQuery;
use serde_json::{json, Value};
use utoipa_axum::{router::OpenApiRouter, routes};

use super::capability::TypeDef;
use super::search::{Param, Search};
use super::{meta, reference, search_by_id, search_page, without_nulls, Base, Fhir, Source, LOINC};
use crate::domains::lab::{
    self, DiagnosticImage, ImageFilter, ImageId, ImageStatus, LabOrder, LabOrderId, OrderFilter,
    OrderStatus, ORDER,
};
use crate::domains::referrals::{
    self, ReferralCode, ReferralFilter, ReferralId, ReferralRequest, REFERRAL,
};
use crate::http::ApiError;
use crate::kit::{route, Access, AppState, Ctx, Error, PatientId, Perm, WireEnum};

const COMMON_PARAMS: [Param; 4] = [
    Param {
        name: "_id",
        kind: "token",
        doc: "The order's id (alone: a read)",
    },
    Param {
        name: "patient",
        kind: "reference",
        doc: "The patient (Patient/<id> or <id>)",
    },
    Param {
        name: "code",
        kind: "token",
        doc: "The test's LOINC code (http://loinc.org|<code> or <code>)",
    },
    Param {
        name: "date",
        kind: "date",
        doc: "When the order was placed, with prefixes eq, lt, le, gt, ge, sa, eb",
    },
];

pub const SERVICE_REQUEST_TYPE: TypeDef = TypeDef {
    kind: "ServiceRequest",
    doc: "A lab order (/api/v1/lab-orders): the test in LOINC, its priority (routine, urgent, stat), the ordering doctor; status active (ordered, collected), completed (resulted), revoked (cancelled). Or a referral (/api/v1/referrals, id referral-<id>): the specialty and reason, the referring doctor as requester and the specialist as performer; status active (pending, accepted, scheduled), completed, revoked (rejected, cancelled). code searches lab orders only.",
    params: &[
        COMMON_PARAMS[0],
        COMMON_PARAMS[1],
        COMMON_PARAMS[2],
        COMMON_PARAMS[3],
        Param {
            name: "status",
            kind: "token",
            doc: "active, completed or revoked",
        },
    ],
    operations: &[],
};

pub const DIAGNOSTIC_REPORT_TYPE: TypeDef = TypeDef {
    kind: "DiagnosticReport",
    doc: "The report of a lab order with results (status resulted): category LAB, the test in LOINC, when it was collected and resulted, and its results as Observations; its id is the order's. Or a diagnostic image (/api/v1/diagnostic-images, id image-<id>): category RAD, its DICOM modality as the code, the image as the presented form once uploaded. code searches lab reports only.",
    params: &[
        COMMON_PARAMS[0],
        COMMON_PARAMS[1],
        COMMON_PARAMS[2],
        COMMON_PARAMS[3],
    ],
    operations: &[],
};

pub fn router() -> OpenApiRouter<AppState> {
    let read = Access::Perm(Perm::LabRead);
    // Lab orders or referrals: the handlers read what the role holds.
    OpenApiRouter::new()
        .routes(route(
            Access::SignedIn,
            ORDER,
            routes!(read_service_request),
        ))
        .routes(route(
            Access::SignedIn,
            ORDER,
            routes!(search_service_requests),
        ))
        .routes(route(read, ORDER, routes!(read_diagnostic_report)))
        .routes(route(read, ORDER, routes!(search_diagnostic_reports)))
}

const REFERRAL_PREFIX: &str = "referral-";

const REFERRAL_STATUS: &[(ReferralCode, &str)] = &[
    (ReferralCode::Pending, "active"),
    (ReferralCode::Accepted, "active"),
    (ReferralCode::Scheduled, "active"),
    (ReferralCode::Completed, "completed"),
    (ReferralCode::Rejected, "revoked"),
    (ReferralCode::Cancelled, "revoked"),
];

const STATUS: &[(OrderStatus, &str)] = &[
    (OrderStatus::Ordered, "active"),
    (OrderStatus::Collected, "active"),
    (OrderStatus::Resulted, "completed"),
    (OrderStatus::Cancelled, "revoked"),
];

fn test_code(o: &LabOrder) -> Value {
    super::concept(LOINC, &o.test_code, &o.test_name)
}

pub fn service_request(o: &LabOrder) -> Value {
    let status = STATUS
        .iter()
        .find(|(ours, _)| *ours == o.status)
        .map_or("unknown", |(_, code)| code);
    without_nulls(json!({
        "resourceType": "ServiceRequest",
        "id": o.id,
        "meta": meta(o.version, o.updated_at),
        "status": status,
        "intent": "order",
        "category": [super::concept("http://snomed.info/sct", "108252007", "Laboratory procedure")],
        // Our priorities are FHIR's codes: routine, urgent, stat.
        "priority": o.priority.as_str(),
        "code": test_code(o),
        "subject": reference("Patient", o.patient_id.as_str()),
        "authoredOn": o.created_at,
        "requester": reference("Practitioner", o.doctor_id.as_str()),
        "note": o.notes.as_ref().map(|n| json!([{ "text": n }])),
    }))
}

/// A referral as FHIR ServiceRequest.
pub fn referral_request(r: &ReferralRequest) -> Value {
    let status = REFERRAL_STATUS
        .iter()
        .find(|(ours, _)| *ours == r.status)
        .map_or("unknown", |(_, code)| code);
    let what = match &r.specialty {
        Some(s) => format!("Referral to {s}"),
        None => "Referral to a specialist".to_string(),
    };
    without_nulls(json!({
        "resourceType": "ServiceRequest",
        "id": format!("{REFERRAL_PREFIX}{}", r.id),
        "meta": meta(r.version, r.updated_at),
        "status": status,
        "intent": "order",
        "category": [super::concept("http://snomed.info/sct", "3457005", "Patient referral")],
        // Our priorities are FHIR's codes: routine, urgent.
        "priority": r.priority.as_str(),
        "code": super::text_concept(&what),
        "subject": reference("Patient", r.patient_id.as_str()),
        "authoredOn": r.created_at,
        "requester": reference("Practitioner", r.referring_doctor_id.as_str()),
        "performer": [reference("Practitioner", r.specialist_id.as_str())],
        "reasonCode": [super::text_concept(&r.reason)],
    }))
}

const IMAGE_PREFIX: &str = "image-";
const DICOM: &str = "http://dicom.nema.org/resources/ontology/DCM";

/// A diagnostic image as FHIR DiagnosticReport: final once its bytes are in.
pub fn image_report(i: &DiagnosticImage) -> Value {
    let available = i.status == ImageStatus::Available;
    let modality = i.modality.as_str();
    let text = i
        .description
        .clone()
        .or_else(|| i.body_site.clone())
        .unwrap_or_else(|| modality.to_string());
    let form = available.then(|| {
        json!([without_nulls(json!({
            "contentType": i.content_type,
            "url": format!("/api/v1/diagnostic-images/{}/content", i.id),
            "size": i.size_bytes,
            "title": text,
        }))])
    });
    without_nulls(json!({
        "resourceType": "DiagnosticReport",
        "id": format!("{IMAGE_PREFIX}{}", i.id),
        "meta": meta(i.version, i.updated_at),
        "status": if available { "final" } else { "registered" },
        "category": [super::concept("http://terminology.hl7.org/CodeSystem/v2-0074", "RAD", "Radiology")],
        "code": { "coding": [{ "system": DICOM, "code": modality }], "text": text },
        "subject": reference("Patient", i.patient_id.as_str()),
        "basedOn": i.lab_order_id.as_ref().map(|o| json!([reference("ServiceRequest", o.as_str())])),
        "effectiveDateTime": i.taken_at,
        "issued": available.then_some(i.updated_at),
        "performer": i.doctor_id.as_ref().map(|d| json!([reference("Practitioner", d.as_str())])),
        "presentedForm": form,
    }))
}

/// What a ServiceRequest id names.
enum RequestId {
    Lab(LabOrderId),
    Referral(ReferralId),
}

fn request_id(id: &str) -> Option<RequestId> {
    match id.strip_prefix(REFERRAL_PREFIX) {
        Some(r) => {
            crate::kit::ids::canonical_uuid(r).map(|r| RequestId::Referral(ReferralId::from_db(r)))
        }
        None => crate::kit::ids::canonical_uuid(id).map(|o| RequestId::Lab(LabOrderId::from_db(o))),
    }
}

/// The report of a resulted order, with its results.
fn report(o: &LabOrder, results: &[lab::LabResultId]) -> Value {
    let results: Vec<Value> = results
        .iter()
        .map(|r| reference("Observation", r.as_str()))
        .collect();
    without_nulls(json!({
        "resourceType": "DiagnosticReport",
        "id": o.id,
        "meta": meta(o.version, o.updated_at),
        "status": "final",
        "category": [super::concept("http://terminology.hl7.org/CodeSystem/v2-0074", "LAB", "Laboratory")],
        "code": test_code(o),
        "subject": reference("Patient", o.patient_id.as_str()),
        "basedOn": [reference("ServiceRequest", o.id.as_str())],
        "effectiveDateTime": o.collected_at,
        "issued": o.resulted_at,
        "result": (!results.is_empty()).then_some(results),
    }))
}

/// The reports of `orders` (the resulted ones), with their results read alongside.
pub fn reports(
    conn: &mut crate::db::DbConn,
    orders: &[LabOrder],
) -> crate::kit::Result<Vec<Value>> {
    let ids: Vec<LabOrderId> = orders.iter().map(|o| o.id.clone()).collect();
    let results = lab::result_ids(conn, &ids)?;
    Ok(orders
        .iter()
        .map(|o| report(o, results.get(&o.id).map_or(&[][..], Vec::as_slice)))
        .collect())
}

fn filter(search: &Search) -> Result<OrderFilter, ApiError> {
    let dates = search.dates("date")?;
    Ok(OrderFilter {
        patient_id: search
            .reference("patient", "Patient")?
            .map(PatientId::from_db),
        test_code: search.token("code", Some(LOINC))?,
        from: dates.from,
        to: dates.to,
        ..Default::default()
    })
}

/// Read a ServiceRequest
#[utoipa::path(get, path = "/ServiceRequest/{id}", tag = "fhir", params(("id" = String, Path)),
    responses((status = 200, description = "A ServiceRequest", content_type = "application/fhir+json")))]
async fn read_service_request(
    ctx: Ctx,
    axum::extract::Path(id): axum::extract::Path<String>,
) -> Result<Fhir, ApiError> {
    match request_id(&id) {
        None => Err(Error::NotFound.into()),
        Some(RequestId::Lab(id)) => {
            super::require(&ctx, Perm::LabRead, ORDER)?;
            let found = ctx
                .read(move |conn, actor| lab::get(conn, actor, &id))
                .await?;
            Ok(Fhir::resource(service_request(&ctx.reveal(found).await?)))
        }
        Some(RequestId::Referral(id)) => {
            super::require(&ctx, Perm::ReferralsRead, REFERRAL)?;
            let found = ctx
                .read(move |conn, actor| referrals::get(conn, actor, &id))
                .await?;
            Ok(Fhir::resource(referral_request(&ctx.reveal(found).await?)))
        }
    }
}

/// Search ServiceRequests
#[utoipa::path(get, path = "/ServiceRequest", tag = "fhir",
    responses((status = 200, description = "A searchset Bundle of ServiceRequests", content_type = "application/fhir+json")))]
async fn search_service_requests(
    ctx: Ctx,
    base: Base,
    RawQuery(query): RawQuery,
) -> Result<Fhir, ApiError> {
    let search = Search::parse(query.as_deref(), SERVICE_REQUEST_TYPE.params)?;
    let (labs, refs) = (
        ctx.actor().holds(Perm::LabRead),
        ctx.actor().holds(Perm::ReferralsRead),
    );
    if !labs && !refs {
        super::require(&ctx, Perm::LabRead, ORDER)?;
    }
    if let Some(id) = search.raw_id()? {
        match request_id(id) {
            Some(RequestId::Lab(id)) if labs => {
                return search_by_id(
                    &ctx,
                    &base,
                    "ServiceRequest",
                    &search,
                    move |conn, actor| lab::get(conn, actor, &id),
                    service_request,
                )
                .await
            }
            Some(RequestId::Referral(id)) if refs => {
                return search_by_id(
                    &ctx,
                    &base,
                    "ServiceRequest",
                    &search,
                    move |conn, actor| referrals::get(conn, actor, &id),
                    referral_request,
                )
                .await
            }
            _ => {
                return Ok(Fhir::ok(super::Bundle::searchset(
                    &base,
                    "ServiceRequest",
                    &search,
                    0,
                    Vec::new(),
                    None,
                )))
            }
        }
    }
    // Each of our statuses a FHIR status stands for is a source of its own (`active` is
    // ordered and collected, or pending, accepted and scheduled).
    let status = search.token("status", None)?;
    if let Some(code) = &status {
        if !["active", "completed", "revoked"].contains(&code.as_str()) {
            return Err(ApiError::field(
                "status",
                format!("`{code}` is not one of active, completed, revoked"),
            ));
        }
    }
    let wanted = |c: &str| status.as_deref().is_none_or(|s| s == c);
    let orders = filter(&search)?;
    let mut sources = Vec::new();
    if labs {
        let statuses: Vec<Option<OrderStatus>> = match &status {
            None => vec![None],
            Some(_) => STATUS
                .iter()
                .filter(|(_, c)| wanted(c))
                .map(|(s, _)| Some(*s))
                .collect(),
        };
        for s in statuses {
            let f = OrderFilter {
                status: s,
                ..orders.clone()
            };
            sources.push(Source::of(f, lab::count, lab::list, service_request));
        }
    }
    // Referrals have no LOINC code: a search by code finds lab orders only.
    if refs && orders.test_code.is_none() {
        let statuses: Vec<Option<ReferralCode>> = match &status {
            None => vec![None],
            Some(_) => REFERRAL_STATUS
                .iter()
                .filter(|(_, c)| wanted(c))
                .map(|(s, _)| Some(*s))
                .collect(),
        };
        for s in statuses {
            let f = ReferralFilter {
                patient_id: orders.patient_id.clone(),
                status: s,
                from: orders.from,
                to: orders.to,
                ..Default::default()
            };
            sources.push(Source::of(
                f,
                referrals::count,
                referrals::list,
                referral_request,
            ));
        }
    }
    search_page(&ctx, &base, "ServiceRequest", &search, sources).await
}

/// The report of order `id` with its results; 404 while the order has none.
fn report_of(
    conn: &mut crate::db::DbConn,
    actor: &crate::kit::Actor,
    id: &LabOrderId,
) -> crate::kit::Result<crate::kit::Audited<Value>> {
    let found = lab::get(conn, actor, id)?;
    let results = lab::result_ids(conn, std::slice::from_ref(id))?;
    let mut resulted = false;
    let found = found.map(|o| {
        resulted = o.status == OrderStatus::Resulted;
        report(&o, results.get(&o.id).map_or(&[][..], Vec::as_slice))
    });
    if resulted {
        Ok(found)
    } else {
        Err(Error::NotFound)
    }
}

/// Read a DiagnosticReport
#[utoipa::path(get, path = "/DiagnosticReport/{id}", tag = "fhir", params(("id" = String, Path)),
    responses((status = 200, description = "A DiagnosticReport", content_type = "application/fhir+json")))]
async fn read_diagnostic_report(
    ctx: Ctx,
    axum::extract::Path(id): axum::extract::Path<String>,
) -> Result<Fhir, ApiError> {
    match id.strip_prefix(IMAGE_PREFIX) {
        Some(image) => {
            let image = crate::kit::ids::canonical_uuid(image).ok_or(Error::NotFound)?;
            let image = ImageId::from_db(image);
            let found = ctx
                .read(move |conn, actor| lab::get_image(conn, actor, &image))
                .await?;
            Ok(Fhir::resource(image_report(&ctx.reveal(found).await?)))
        }
        None => {
            let order = crate::kit::ids::canonical_uuid(&id).ok_or(Error::NotFound)?;
            let order = LabOrderId::from_db(order);
            let found = ctx
                .read(move |conn, actor| report_of(conn, actor, &order))
                .await?;
            Ok(Fhir::resource(ctx.reveal(found).await?))
        }
    }
}

/// Search DiagnosticReports
#[utoipa::path(get, path = "/DiagnosticReport", tag = "fhir",
    responses((status = 200, description = "A searchset Bundle of DiagnosticReports", content_type = "application/fhir+json")))]
async fn search_diagnostic_reports(
    ctx: Ctx,
    base: Base,
    RawQuery(query): RawQuery,
) -> Result<Fhir, ApiError> {
    let search = Search::parse(query.as_deref(), DIAGNOSTIC_REPORT_TYPE.params)?;
    if let Some(v) = search.raw_id()? {
        if let Some(image) = v
            .strip_prefix(IMAGE_PREFIX)
            .and_then(crate::kit::ids::canonical_uuid)
        {
            let image = ImageId::from_db(image);
            return search_by_id(
                &ctx,
                &base,
                "DiagnosticReport",
                &search,
                move |conn, actor| lab::get_image(conn, actor, &image),
                image_report,
            )
            .await;
        }
        let order = LabOrderId::from_db(search.id()?.unwrap_or_default());
        return search_by_id(
            &ctx,
            &base,
            "DiagnosticReport",
            &search,
            move |conn, actor| report_of(conn, actor, &order),
            Value::clone,
        )
        .await;
    }
    let orders = OrderFilter {
        status: Some(OrderStatus::Resulted),
        ..filter(&search)?
    };
    let mut sources = Vec::new();
    // Images have no LOINC code: a search by code finds lab reports only.
    let images = orders.test_code.is_none().then(|| ImageFilter {
        patient_id: orders.patient_id.clone(),
        from: orders.from,
        to: orders.to,
        ..Default::default()
    });
    let counted = orders.clone();
    sources.push(Source::joined(
        move |conn, actor| lab::count(conn, actor, &counted),
        move |conn, actor, page| lab::list(conn, actor, orders, page),
        reports,
    ));
    if let Some(f) = images {
        sources.push(Source::of(
            f,
            lab::count_images,
            lab::list_images,
            image_report,
        ));
    }
    search_page(&ctx, &base, "DiagnosticReport", &search, sources).await
}
