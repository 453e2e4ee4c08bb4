//! Condition: the diagnoses our medical records state, one per ICD-10 code of a record (and a
//! record of type `diagnosis` without codes, by its title). Its id is `<record id>-<code>`
//! (stable when the record's other codes change), or the record's id for a record without codes.

use axum::extract::RawQuery;
use serde_json::{json, Value};
use utoipa_axum::{router::OpenApiRouter, routes};

use super::capability::TypeDef;
use super::search::{Param, Search};
use super::{meta, reference, search_by_id, search_page, without_nulls, Base, Fhir, Source};
use crate::domains::records::{self, Diagnosis, RecordFilter, RecordId, RecordStatus, RECORD};
use crate::http::ApiError;
use crate::kit::{route, Access, AppState, Ctx, Error, PatientId, Perm};

/// The system of our diagnosis codes: ICD-10-CM (`J45.909`, the clinical modification our
/// records and the demo use).
pub const ICD10: &str = "http://hl7.org/fhir/sid/icd-10-cm";

pub const CONDITION_TYPE: TypeDef = TypeDef {
    kind: "Condition",
    doc: "A diagnosis a medical record (/api/v1/medical-records) states: one per ICD-10-CM code in its diagnosis_codes, or a record of type diagnosis without codes (its title as the code's text). The id is <record id>-<code>, or the record's id for a diagnosis record without codes. Recorded when the record was written, by its doctor; the record's content is the note. Verification status: confirmed, or entered-in-error with the record. Clinical status is not held (absent).",
    params: &[
        Param {
            name: "_id",
            kind: "token",
            doc: "The condition's id, <record id>-<code> or <record id> (alone: a read)",
        },
        Param {
            name: "patient",
            kind: "reference",
            doc: "The patient (Patient/<id> or <id>)",
        },
        Param {
            name: "code",
            kind: "token",
            doc: "The ICD-10-CM code (http://hl7.org/fhir/sid/icd-10-cm|<code> or <code>), in any case",
        },
        Param {
            name: "recorded-date",
            kind: "date",
            doc: "When the record was written, with prefixes eq, lt, le, gt, ge, sa, eb",
        },
    ],
    operations: &[],
};

pub fn router() -> OpenApiRouter<AppState> {
    let read = Access::Perm(Perm::RecordsRead);
    OpenApiRouter::new()
        .routes(route(read, RECORD, routes!(read_condition)))
        .routes(route(read, RECORD, routes!(search_conditions)))
}

/// `<record id>-<code>` (or the record id alone) as the record and the code.
fn condition_id(id: &str) -> Option<(RecordId, Option<String>)> {
    const UUID_LEN: usize = 36;
    let record = crate::kit::ids::canonical_uuid(id.get(..UUID_LEN)?)?;
    let code = match id.get(UUID_LEN..)? {
        "" => None,
        rest => {
            let code = rest.strip_prefix('-')?;
            let ok = !code.is_empty()
                && code.len() <= 20
                && code
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '.' || c == '-');
            if !ok {
                return None;
            }
            Some(code.to_string())
        }
    };
    Some((RecordId::from_db(record), code))
}

pub fn condition(d: &Diagnosis) -> Value {
    let r = &d.record;
    let code = match &d.code {
        // The record's title names the condition when it states only this one (as text: it is
        // the doctor's words, not the code system's display).
        Some(c) => json!({
            "coding": [{ "system": ICD10, "code": c }],
            "text": if r.diagnosis_codes.len() == 1 { r.title.as_str() } else { c.as_str() },
        }),
        None => super::text_concept(&r.title),
    };
    let id = match &d.code {
        Some(c) => format!("{}-{c}", r.id),
        None => r.id.to_string(),
    };
    let in_error = r.status == RecordStatus::EnteredInError;
    let verification = if in_error {
        "entered-in-error"
    } else {
        "confirmed"
    };
    // Made at a visit (the record names its appointment): an encounter diagnosis.
    let category = r.appointment_id.as_ref().map(|_| {
        json!([super::concept(
            "http://terminology.hl7.org/CodeSystem/condition-category",
            "encounter-diagnosis",
            "Encounter Diagnosis",
        )])
    });
    without_nulls(json!({
        "resourceType": "Condition",
        "id": id,
        "meta": meta(r.version, r.updated_at),
        "verificationStatus": super::concept(
            "http://terminology.hl7.org/CodeSystem/condition-ver-status",
            verification,
            "",
        ),
        "category": category,
        "code": code,
        "subject": reference("Patient", r.patient_id.as_str()),
        "recordedDate": r.created_at,
        "recorder": reference("Practitioner", r.doctor_id.as_str()),
        "note": [{ "text": r.content }],
    }))
}

/// Read a Condition
#[utoipa::path(get, path = "/Condition/{id}", tag = "fhir", params(("id" = String, Path)),
    responses((status = 200, description = "A Condition", content_type = "application/fhir+json")))]
async fn read_condition(
    ctx: Ctx,
    axum::extract::Path(id): axum::extract::Path<String>,
) -> Result<Fhir, ApiError> {
    let (record, code) = condition_id(&id).ok_or(Error::NotFound)?;
    let found = ctx
        .read(move |conn, actor| records::get_diagnosis(conn, actor, &record, code.as_deref()))
        .await?;
    Ok(Fhir::resource(condition(&ctx.reveal(found).await?)))
}

/// Search Conditions
#[utoipa::path(get, path = "/Condition", tag = "fhir",
    responses((status = 200, description = "A searchset Bundle of Conditions", content_type = "application/fhir+json")))]
async fn search_conditions(
    ctx: Ctx,
    base: Base,
    RawQuery(query): RawQuery,
) -> Result<Fhir, ApiError> {
    let search = Search::parse(query.as_deref(), CONDITION_TYPE.params)?;
    if let Some(id) = search.raw_id()? {
        let Some((record, code)) = condition_id(id) else {
            return Ok(Fhir::ok(super::Bundle::searchset(
                &base,
                "Condition",
                &search,
                0,
                Vec::new(),
                None,
            )));
        };
        return search_by_id(
            &ctx,
            &base,
            "Condition",
            &search,
            move |conn, actor| records::get_diagnosis(conn, actor, &record, code.as_deref()),
            condition,
        )
        .await;
    }
    let dates = search.dates("recorded-date")?;
    let filter = RecordFilter {
        patient_id: search
            .reference("patient", "Patient")?
            .map(PatientId::from_db),
        diagnosis_code: search.token("code", Some(ICD10))?,
        from: dates.from,
        to: dates.to,
        ..Default::default()
    };
    search_page(
        &ctx,
        &base,
        "Condition",
        &search,
        vec![Source::of(
            filter,
            records::count_diagnoses,
            records::list_diagnoses,
            condition,
        )],
    )
    .await
}
