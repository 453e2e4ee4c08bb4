//! ServiceRequest (our lab orders) and DiagnosticReport (the report of a lab order that has
//! results: its results as Observations).

use axum::extract::RawQuery;
use serde_json::{json, Value};
use utoipa_axum::{router::OpenApiRouter, routes};

use super::capability::TypeDef;
use super::search::{Param, Search};
use super::{meta, reference, search_by_id, search_page, without_nulls, Base, Fhir, Source, LOINC};
use crate::domains::lab::{self, LabOrder, LabOrderId, OrderFilter, OrderStatus, ORDER};
use crate::http::{ApiError, Path};
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
    doc: "A lab order (/api/v1/lab-orders): the test in LOINC, its priority (routine, urgent, stat), the ordering doctor. Status: active (ordered, collected), completed (resulted), revoked (cancelled).",
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
    doc: "The report of a lab order with results (status resulted): category LAB, the test in LOINC, when it was collected and resulted, and its results as Observations. Its id is the order's.",
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
    OpenApiRouter::new()
        .routes(route(read, ORDER, routes!(read_service_request)))
        .routes(route(read, ORDER, routes!(search_service_requests)))
        .routes(route(read, ORDER, routes!(read_diagnostic_report)))
        .routes(route(read, ORDER, routes!(search_diagnostic_reports)))
}

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
async fn read_service_request(ctx: Ctx, Path(id): Path<LabOrderId>) -> Result<Fhir, ApiError> {
    let found = ctx
        .read(move |conn, actor| lab::get(conn, actor, &id))
        .await?;
    Ok(Fhir::resource(service_request(&ctx.reveal(found).await?)))
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
    if let Some(id) = search.id()? {
        let id = LabOrderId::from_db(id);
        return search_by_id(
            &ctx,
            &base,
            "ServiceRequest",
            &search,
            move |conn, actor| lab::get(conn, actor, &id),
            service_request,
        )
        .await;
    }
    let mut filters = Vec::new();
    match search.token("status", None)?.as_deref() {
        None => filters.push(filter(&search)?),
        Some(code) => {
            let ours: Vec<OrderStatus> = STATUS
                .iter()
                .filter(|(_, c)| *c == code)
                .map(|(s, _)| *s)
                .collect();
            if ours.is_empty() {
                return Err(ApiError::field(
                    "status",
                    format!("`{code}` is not one of active, completed, revoked"),
                ));
            }
            for s in ours {
                filters.push(OrderFilter {
                    status: Some(s),
                    ..filter(&search)?
                });
            }
        }
    }
    // `active` is two of our statuses: a source for each.
    let sources = filters
        .into_iter()
        .map(|f| Source::of(f, lab::count, lab::list, service_request))
        .collect();
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
async fn read_diagnostic_report(ctx: Ctx, Path(id): Path<LabOrderId>) -> Result<Fhir, ApiError> {
    let found = ctx
        .read(move |conn, actor| report_of(conn, actor, &id))
        .await?;
    Ok(Fhir::resource(ctx.reveal(found).await?))
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
    if let Some(id) = search.id()? {
        let id = LabOrderId::from_db(id);
        return search_by_id(
            &ctx,
            &base,
            "DiagnosticReport",
            &search,
            move |conn, actor| report_of(conn, actor, &id),
            Value::clone,
        )
        .await;
    }
    let f = OrderFilter {
        status: Some(OrderStatus::Resulted),
        ..filter(&search)?
    };
    let counted = f.clone();
    search_page(
        &ctx,
        &base,
        "DiagnosticReport",
        &search,
        vec![Source::joined(
            move |conn, actor| lab::count(conn, actor, &counted),
            move |conn, actor, page| lab::list(conn, actor, f, page),
            reports,
        )],
    )
    .await
}
