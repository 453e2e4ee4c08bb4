//! MedicationRequest: our prescriptions, the medication coded in RxNorm.

use std::collections::HashMap;

use axum::extract::RawQuery;
use serde_json::{json, Value};
use utoipa_axum::{router::OpenApiRouter, routes};

use super::capability::TypeDef;
use super::search::{Param, Search};
use super::{meta, reference, search_by_id, search_page, without_nulls, Base, Fhir, Source};
use crate::db::DbConn;
use crate::domains::pharmacy::{
    self, Medication, MedicationId, Prescription, PrescriptionFilter, PrescriptionId,
    PrescriptionStatus, PRESCRIPTION,
};
use crate::http::{ApiError, Path};
use crate::kit::{route, Access, Actor, AppState, Audited, Ctx, PatientId, Perm, WireEnum};

pub const RXNORM: &str = "http://www.nlm.nih.gov/research/umls/rxnorm";

pub const MEDICATION_REQUEST_TYPE: TypeDef = TypeDef {
    kind: "MedicationRequest",
    doc: "A prescription (/api/v1/prescriptions): the medication in RxNorm, the dosage and frequency as text, the quantity and refills as the dispense request, valid until as its validity period. Status: active, completed, cancelled.",
    params: &[
        Param {
            name: "_id",
            kind: "token",
            doc: "The prescription's id (alone: a read)",
        },
        Param {
            name: "patient",
            kind: "reference",
            doc: "The patient (Patient/<id> or <id>)",
        },
        Param {
            name: "status",
            kind: "token",
            doc: "active, completed or cancelled",
        },
        Param {
            name: "code",
            kind: "token",
            doc: "The medication's RxNorm code (http://www.nlm.nih.gov/research/umls/rxnorm|<code> or <code>)",
        },
        Param {
            name: "authoredon",
            kind: "date",
            doc: "When it was prescribed, with prefixes eq, lt, le, gt, ge, sa, eb",
        },
    ],
    operations: &[],
};

pub fn router() -> OpenApiRouter<AppState> {
    let read = Access::Perm(Perm::PharmacyRead);
    OpenApiRouter::new()
        .routes(route(read, PRESCRIPTION, routes!(read_medication_request)))
        .routes(route(
            read,
            PRESCRIPTION,
            routes!(search_medication_requests),
        ))
}

fn medication_request(p: &Prescription, m: Option<&Medication>) -> Value {
    let medication = match m {
        Some(m) => {
            let mut name = m.name.clone();
            if let Some(s) = &m.strength {
                name = format!("{name} {s}");
            }
            super::concept(RXNORM, &m.code, &name)
        }
        None => super::text_concept("unknown medication"),
    };
    let validity = p
        .valid_until
        .map(|d| json!({ "start": p.created_at, "end": format!("{d}T23:59:59Z") }));
    without_nulls(json!({
        "resourceType": "MedicationRequest",
        "id": p.id,
        "meta": meta(p.version, p.updated_at),
        // Our statuses are FHIR's codes: active, completed, cancelled.
        "status": p.status.as_str(),
        "statusReason": p.cancel_reason.as_deref().map(super::text_concept),
        "intent": "order",
        "medicationCodeableConcept": medication,
        "subject": reference("Patient", p.patient_id.as_str()),
        "authoredOn": p.created_at,
        "requester": reference("Practitioner", p.doctor_id.as_str()),
        "dosageInstruction": [without_nulls(json!({
            "text": format!("{}, {}", p.dosage, p.frequency),
            "patientInstruction": p.instructions,
        }))],
        "dispenseRequest": without_nulls(json!({
            "numberOfRepeatsAllowed": p.refills,
            "quantity": { "value": p.quantity },
            "validityPeriod": validity,
        })),
    }))
}

/// The requests of `rows`, with their medications from the catalogue.
pub fn with_medications(
    conn: &mut DbConn,
    rows: &[Prescription],
) -> crate::kit::Result<Vec<Value>> {
    let ids: Vec<MedicationId> = rows.iter().map(|p| p.medication_id.clone()).collect();
    let meds: HashMap<MedicationId, Medication> = pharmacy::medications_of(conn, &ids)?;
    Ok(rows
        .iter()
        .map(|p| medication_request(p, meds.get(&p.medication_id)))
        .collect())
}

/// One prescription as a request, with its medication.
fn one(
    conn: &mut DbConn,
    actor: &Actor,
    id: &PrescriptionId,
) -> crate::kit::Result<Audited<Value>> {
    let found = pharmacy::get_prescription(conn, actor, id)?;
    let mut failed = None;
    let found = found.map(|p| match with_medications(conn, std::slice::from_ref(&p)) {
        Ok(mut v) => v.pop().unwrap_or_default(),
        Err(e) => {
            failed = Some(e);
            Value::Null
        }
    });
    match failed {
        Some(e) => Err(e),
        None => Ok(found),
    }
}

/// Read a MedicationRequest
#[utoipa::path(get, path = "/MedicationRequest/{id}", tag = "fhir", params(("id" = String, Path)),
    responses((status = 200, description = "A MedicationRequest", content_type = "application/fhir+json")))]
async fn read_medication_request(
    ctx: Ctx,
    Path(id): Path<PrescriptionId>,
) -> Result<Fhir, ApiError> {
    let found = ctx.read(move |conn, actor| one(conn, actor, &id)).await?;
    Ok(Fhir::resource(ctx.reveal(found).await?))
}

/// Search MedicationRequests
#[utoipa::path(get, path = "/MedicationRequest", tag = "fhir",
    responses((status = 200, description = "A searchset Bundle of MedicationRequests", content_type = "application/fhir+json")))]
async fn search_medication_requests(
    ctx: Ctx,
    base: Base,
    RawQuery(query): RawQuery,
) -> Result<Fhir, ApiError> {
    let search = Search::parse(query.as_deref(), MEDICATION_REQUEST_TYPE.params)?;
    if let Some(id) = search.id()? {
        let id = PrescriptionId::from_db(id);
        return search_by_id(
            &ctx,
            &base,
            "MedicationRequest",
            &search,
            move |conn, actor| one(conn, actor, &id),
            Value::clone,
        )
        .await;
    }
    let status = match search.token("status", None)? {
        None => None,
        Some(code) => Some(PrescriptionStatus::parse(&code).ok_or_else(|| {
            ApiError::field(
                "status",
                format!("`{code}` is not one of active, completed, cancelled"),
            )
        })?),
    };
    let dates = search.dates("authoredon")?;
    // The code names a catalogue entry (not patient data); one that names none matches nothing.
    let medication_id = match search.token("code", Some(RXNORM))? {
        None => None,
        Some(code) => {
            let found = ctx
                .read(move |conn, _| pharmacy::medication_by_code(conn, &code))
                .await?;
            match found {
                Some(m) => Some(m.id),
                None => {
                    return Ok(Fhir::ok(super::Bundle::searchset(
                        &base,
                        "MedicationRequest",
                        &search,
                        0,
                        Vec::new(),
                        None,
                    )))
                }
            }
        }
    };
    let filter = PrescriptionFilter {
        patient_id: search
            .reference("patient", "Patient")?
            .map(PatientId::from_db),
        status,
        medication_id,
        from: dates.from,
        to: dates.to,
    };
    let counted = filter.clone();
    search_page(
        &ctx,
        &base,
        "MedicationRequest",
        &search,
        vec![Source::joined(
            move |conn, actor| pharmacy::count_prescriptions(conn, actor, &counted),
            move |conn, actor, page| pharmacy::list_prescriptions(conn, actor, filter, page),
            with_medications,
        )],
    )
    .await
}
