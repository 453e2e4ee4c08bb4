//! Observation: our lab results (category `laboratory`) and our devices' readings (vital signs,
//! activity, glucose), coded in LOINC.
//!
//! A lab result keeps its id; a reading, which has no id of its own, is named by its key:
//! `reading-<device id>-<metric number>-<epoch ms>` (within FHIR's 64 characters).

use axum::extract::RawQuery;
use serde_json::{json, Value};
use utoipa_axum::{router::OpenApiRouter, routes};

use super::capability::TypeDef;
use super::search::{Param, Search};
use super::{meta, reference, search_by_id, search_page, without_nulls, Base, Fhir, Source, LOINC};
use crate::domains::devices::{self, DeviceId, PatientReading, ReadingFilter, READINGS};
use crate::domains::lab::{self, Interpretation, LabResult, LabResultId, ResultFilter, RESULT};
use crate::http::ApiError;
use crate::kit::{route, Access, AppState, Ctx, Error, PatientId, Perm, WireEnum};

pub const OBSERVATION_TYPE: TypeDef = TypeDef {
    kind: "Observation",
    doc: "A lab result (/api/v1/lab-results), category laboratory, coded in LOINC, with its value, unit (UCUM), reference range and interpretation (N, A, AA); or a device reading (/api/v1/devices/{id}/data), category vital-signs, activity (steps) or laboratory (glucose), coded in LOINC. Lab results need lab:read, readings devices:read.",
    params: &[
        Param {
            name: "_id",
            kind: "token",
            doc: "The result's id (alone: a read)",
        },
        Param {
            name: "patient",
            kind: "reference",
            doc: "The patient (Patient/<id> or <id>)",
        },
        Param {
            name: "code",
            kind: "token",
            doc: "The LOINC code (http://loinc.org|<code> or <code>)",
        },
        Param {
            name: "category",
            kind: "token",
            doc: "laboratory, vital-signs or activity",
        },
        Param {
            name: "date",
            kind: "date",
            doc: "When the result or reading was recorded, with prefixes eq, lt, le, gt, ge, sa, eb",
        },
    ],
    operations: &[],
};

/// Lab results need `lab:read`, readings `devices:read`: the route admits either, and each
/// request reads only the sources its role holds.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(route(Access::SignedIn, RESULT, routes!(read_observation)))
        .routes(route(
            Access::SignedIn,
            RESULT,
            routes!(search_observations),
        ))
}

/// Each metric of the device catalogue: its LOINC code and name, its UCUM unit, its category.
const METRICS: &[(&str, &str, &str, &str, &str)] = &[
    ("heart_rate", "8867-4", "Heart rate", "/min", "vital-signs"),
    (
        "spo2",
        "59408-5",
        "Oxygen saturation in Arterial blood by Pulse oximetry",
        "%",
        "vital-signs",
    ),
    (
        "glucose",
        "2339-0",
        "Glucose [Mass/volume] in Blood",
        "mg/dL",
        "laboratory",
    ),
    (
        "systolic_bp",
        "8480-6",
        "Systolic blood pressure",
        "mm[Hg]",
        "vital-signs",
    ),
    (
        "diastolic_bp",
        "8462-4",
        "Diastolic blood pressure",
        "mm[Hg]",
        "vital-signs",
    ),
    ("weight", "29463-7", "Body weight", "kg", "vital-signs"),
    (
        "body_temperature",
        "8310-5",
        "Body temperature",
        "Cel",
        "vital-signs",
    ),
    (
        "steps",
        "55423-8",
        "Number of steps in unspecified time Pedometer",
        "{steps}",
        "activity",
    ),
    (
        "respiratory_rate",
        "9279-1",
        "Respiratory rate",
        "/min",
        "vital-signs",
    ),
];

const CATEGORIES: &[(&str, &str)] = &[
    ("laboratory", "Laboratory"),
    ("vital-signs", "Vital Signs"),
    ("activity", "Activity"),
];

const CATEGORY_SYSTEM: &str = "http://terminology.hl7.org/CodeSystem/observation-category";
const INTERPRETATION_SYSTEM: &str =
    "http://terminology.hl7.org/CodeSystem/v3-ObservationInterpretation";
const UCUM: &str = "http://unitsofmeasure.org";

fn quantity(value: f64, unit: Option<&str>) -> Value {
    without_nulls(json!({
        "value": value,
        "unit": unit,
        "system": unit.map(|_| UCUM),
        "code": unit,
    }))
}

pub fn lab_observation(r: &LabResult) -> Value {
    let (code, display) = match r.interpretation {
        Interpretation::Normal => ("N", "Normal"),
        Interpretation::Abnormal => ("A", "Abnormal"),
        Interpretation::Critical => ("AA", "Critical abnormal"),
    };
    let range = match (r.reference_low, r.reference_high) {
        (None, None) => None,
        (low, high) => Some(json!([without_nulls(json!({
            "low": low.map(|v| quantity(v, r.unit.as_deref())),
            "high": high.map(|v| quantity(v, r.unit.as_deref())),
        }))])),
    };
    let mut obs = without_nulls(json!({
        "resourceType": "Observation",
        "id": r.id,
        "meta": meta(r.version, r.updated_at),
        // Our statuses are FHIR's codes: final, corrected.
        "status": r.status.as_str(),
        "category": [super::concept(CATEGORY_SYSTEM, "laboratory", "Laboratory")],
        "code": super::concept(LOINC, &r.test_code, ""),
        "subject": reference("Patient", r.patient_id.as_str()),
        "basedOn": [reference("ServiceRequest", r.lab_order_id.as_str())],
        "effectiveDateTime": r.resulted_at,
        "issued": r.resulted_at,
        "interpretation": [super::concept(INTERPRETATION_SYSTEM, code, display)],
        "referenceRange": range,
        "note": r.note.as_ref().map(|n| json!([{ "text": n }])),
    }));
    match r.value_numeric {
        Some(v) => obs["valueQuantity"] = quantity(v, r.unit.as_deref()),
        None => obs["valueString"] = r.value.clone().into(),
    }
    obs
}

/// A device reading as FHIR Observation.
pub fn reading_observation(r: &PatientReading) -> Value {
    let (n, (_, code, display, ucum, category)) = METRICS
        .iter()
        .enumerate()
        .find(|(_, m)| m.0 == r.metric)
        .map(|(n, m)| (n, *m))
        .unwrap_or((usize::MAX, ("", "", "", "", "vital-signs")));
    let category_display = CATEGORIES
        .iter()
        .find(|c| c.0 == category)
        .map_or("", |c| c.1);
    json!({
        "resourceType": "Observation",
        "id": format!("reading-{}-{n}-{}", r.device_id, r.recorded_at.utc().timestamp_millis()),
        "status": "final",
        "category": [super::concept(CATEGORY_SYSTEM, category, category_display)],
        "code": super::concept(LOINC, code, display),
        "subject": reference("Patient", r.patient_id.as_str()),
        "device": { "reference": format!("Device/{}", r.device_id), "display": "wearable device" },
        "effectiveDateTime": r.recorded_at,
        "valueQuantity": { "value": r.value, "unit": r.unit, "system": UCUM, "code": ucum },
    })
}

/// What an Observation id names.
enum ObservationId {
    Lab(LabResultId),
    Reading(DeviceId, &'static str, i64),
}

fn parse_id(id: &str) -> Option<ObservationId> {
    match id.strip_prefix("reading-") {
        None => crate::kit::ids::canonical_uuid(id)
            .map(|id| ObservationId::Lab(LabResultId::from_db(id))),
        Some(rest) => {
            let device = crate::kit::ids::canonical_uuid(rest.get(..36)?)?;
            let (n, ms) = rest.get(37..)?.split_once('-')?;
            let metric = METRICS.get(n.parse::<usize>().ok()?)?.0;
            Some(ObservationId::Reading(
                DeviceId::from_db(device),
                metric,
                ms.parse().ok()?,
            ))
        }
    }
}

/// Read an Observation
#[utoipa::path(get, path = "/Observation/{id}", tag = "fhir", params(("id" = String, Path)),
    responses((status = 200, description = "An Observation", content_type = "application/fhir+json")))]
async fn read_observation(
    ctx: Ctx,
    axum::extract::Path(id): axum::extract::Path<String>,
) -> Result<Fhir, ApiError> {
    match parse_id(&id) {
        None => Err(Error::NotFound.into()),
        Some(ObservationId::Lab(id)) => {
            super::require(&ctx, Perm::LabRead, RESULT)?;
            let found = ctx
                .read(move |conn, actor| lab::get_result(conn, actor, &id))
                .await?;
            Ok(Fhir::resource(lab_observation(&ctx.reveal(found).await?)))
        }
        Some(ObservationId::Reading(device, metric, ms)) => {
            super::require(&ctx, Perm::DevicesRead, READINGS)?;
            let found = ctx
                .read(move |conn, actor| devices::get_reading(conn, actor, &device, metric, ms))
                .await?;
            Ok(Fhir::ok(reading_observation(&ctx.reveal(found).await?)))
        }
    }
}

/// Search Observations
#[utoipa::path(get, path = "/Observation", tag = "fhir",
    responses((status = 200, description = "A searchset Bundle of Observations", content_type = "application/fhir+json")))]
async fn search_observations(
    ctx: Ctx,
    base: Base,
    RawQuery(query): RawQuery,
) -> Result<Fhir, ApiError> {
    let search = Search::parse(query.as_deref(), OBSERVATION_TYPE.params)?;
    let (labs, readings) = (
        ctx.actor().holds(Perm::LabRead),
        ctx.actor().holds(Perm::DevicesRead),
    );
    if !labs && !readings {
        super::require(&ctx, Perm::LabRead, RESULT)?;
    }
    if let Some(id) = search.raw_id()? {
        let entries = match parse_id(id) {
            Some(ObservationId::Lab(id)) if labs => {
                return search_by_id(
                    &ctx,
                    &base,
                    "Observation",
                    &search,
                    move |conn, actor| lab::get_result(conn, actor, &id),
                    lab_observation,
                )
                .await
            }
            Some(ObservationId::Reading(device, metric, ms)) if readings => {
                return search_by_id(
                    &ctx,
                    &base,
                    "Observation",
                    &search,
                    move |conn, actor| devices::get_reading(conn, actor, &device, metric, ms),
                    reading_observation,
                )
                .await
            }
            _ => Vec::new(),
        };
        return Ok(Fhir::ok(super::Bundle::searchset(
            &base,
            "Observation",
            &search,
            0,
            entries,
            None,
        )));
    }
    let category = search.token("category", Some(CATEGORY_SYSTEM))?;
    if let Some(c) = &category {
        if !CATEGORIES.iter().any(|(code, _)| code == c) {
            return Err(ApiError::field(
                "category",
                format!("`{c}`: the categories served are laboratory, vital-signs and activity"),
            ));
        }
    }
    let code = search.token("code", Some(LOINC))?;
    let dates = search.dates("date")?;
    let patient_id = search
        .reference("patient", "Patient")?
        .map(PatientId::from_db);
    let mut sources = Vec::new();
    if labs && category.as_deref().is_none_or(|c| c == "laboratory") {
        let filter = ResultFilter {
            patient_id: patient_id.clone(),
            test_code: code.clone(),
            from: dates.from,
            to: dates.to,
            ..Default::default()
        };
        sources.push(Source::of(
            filter,
            lab::count_results,
            lab::list_results,
            lab_observation,
        ));
    }
    let metrics: Vec<String> = METRICS
        .iter()
        .filter(|m| category.as_deref().is_none_or(|c| c == m.4))
        .filter(|m| code.as_deref().is_none_or(|c| c == m.1))
        .map(|m| m.0.to_string())
        .collect();
    if readings && !metrics.is_empty() {
        let filter = ReadingFilter {
            patient_id,
            metrics: Some(metrics),
            from: dates.from,
            to: dates.to,
        };
        sources.push(Source::of(
            filter,
            devices::count_readings,
            devices::list_readings,
            reading_observation,
        ));
    }
    search_page(&ctx, &base, "Observation", &search, sources).await
}
