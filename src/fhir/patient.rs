//! Patient (our patients' demographics) and Practitioner (our doctors).

use axum::extract::RawQuery;
use serde_json::{json, Value};
use utoipa_axum::{router::OpenApiRouter, routes};

use super::capability::TypeDef;
use super::search::{Param, Search};
use super::{
    meta, search_by_id, search_page, without_nulls, Base, Bundle, Fhir, Source, LICENSE_SYSTEM,
    MRN_SYSTEM,
};
use crate::domains::patients::{
    self, Doctor, DoctorFilter, Patient, PatientFilter, DOCTOR_RECORD, PATIENT_RECORD,
};
use crate::http::{ApiError, Path};
use crate::kit::{
    route, route_unaudited, Access, AppState, Ctx, DoctorId, Error, PatientId, Perm, WireEnum,
};

pub const PATIENT: TypeDef = TypeDef {
    kind: "Patient",
    doc: "A patient's demographics (/api/v1/patients); the MRN is the identifier. Who may read whom is the JSON API's rule: a patient reads themself only.",
    params: &[
        Param {
            name: "_id",
            kind: "token",
            doc: "The patient's id",
        },
        Param {
            name: "identifier",
            kind: "token",
            doc: "The medical record number (system https://healthapi.dev/fhir/identifier/mrn)",
        },
        Param {
            name: "name",
            kind: "string",
            doc: "Every word must be part of the given or the family name",
        },
        Param {
            name: "birthdate",
            kind: "date",
            doc: "The birth date, a day (YYYY-MM-DD, prefix eq only)",
        },
    ],
    operations: &["everything"],
};

pub const PRACTITIONER: TypeDef = TypeDef {
    kind: "Practitioner",
    doc: "A doctor of the directory (/api/v1/doctors): name, license, specialty as a qualification. Any signed-in user reads the directory.",
    params: &[
        Param {
            name: "_id",
            kind: "token",
            doc: "The doctor's id",
        },
        Param {
            name: "name",
            kind: "string",
            doc: "Every word must be part of the given or the family name",
        },
    ],
    operations: &[],
};

pub fn router() -> OpenApiRouter<AppState> {
    let read = Access::Perm(Perm::PatientsRead);
    OpenApiRouter::new()
        .routes(route(read, PATIENT_RECORD, routes!(read_patient)))
        .routes(route(read, PATIENT_RECORD, routes!(search_patients)))
        .routes(route_unaudited(
            Access::SignedIn,
            DOCTOR_RECORD,
            "the doctor directory",
            routes!(read_practitioner),
        ))
        .routes(route_unaudited(
            Access::SignedIn,
            DOCTOR_RECORD,
            "the doctor directory",
            routes!(search_practitioners),
        ))
}

/// A patient as FHIR Patient.
pub fn patient(p: &Patient) -> Value {
    let mut telecom = Vec::new();
    if let Some(phone) = &p.phone {
        telecom.push(json!({ "system": "phone", "value": phone }));
    }
    if let Some(email) = &p.email {
        telecom.push(json!({ "system": "email", "value": email }));
    }
    without_nulls(json!({
        "resourceType": "Patient",
        "id": p.id,
        "meta": meta(p.version, p.updated_at),
        "identifier": [{
            "use": "usual",
            "type": super::concept("http://terminology.hl7.org/CodeSystem/v2-0203", "MR", "Medical record number"),
            "system": MRN_SYSTEM,
            "value": p.mrn,
        }],
        "active": true,
        "name": [{ "use": "official", "family": p.family_name, "given": [p.given_name] }],
        "telecom": (!telecom.is_empty()).then_some(telecom),
        "gender": p.sex.as_str(),
        "birthDate": p.birth_date,
        "address": p.address.as_ref().map(|a| json!([{ "text": a }])),
    }))
}

/// A doctor as FHIR Practitioner.
pub fn practitioner(d: &Doctor) -> Value {
    let mut telecom = vec![json!({ "system": "email", "value": d.email })];
    if let Some(phone) = &d.phone {
        telecom.push(json!({ "system": "phone", "value": phone }));
    }
    json!({
        "resourceType": "Practitioner",
        "id": d.id,
        "meta": meta(d.version, d.updated_at),
        "identifier": [{ "system": LICENSE_SYSTEM, "value": d.license_number }],
        "active": true,
        "name": [{ "use": "official", "family": d.family_name, "given": [d.given_name], "prefix": ["Dr."] }],
        "telecom": telecom,
        "qualification": [{ "code": super::text_concept(&d.specialty) }],
    })
}

/// Read a Patient
#[utoipa::path(get, path = "/Patient/{id}", tag = "fhir", params(("id" = String, Path)),
    responses((status = 200, description = "A Patient", content_type = "application/fhir+json")))]
async fn read_patient(ctx: Ctx, Path(id): Path<PatientId>) -> Result<Fhir, ApiError> {
    let found = ctx
        .read(move |conn, actor| patients::get_patient(conn, actor, &id))
        .await?;
    Ok(Fhir::resource(patient(&ctx.reveal(found).await?)))
}

/// Search Patients
#[utoipa::path(get, path = "/Patient", tag = "fhir",
    responses((status = 200, description = "A searchset Bundle of Patients", content_type = "application/fhir+json")))]
async fn search_patients(
    ctx: Ctx,
    base: Base,
    RawQuery(query): RawQuery,
) -> Result<Fhir, ApiError> {
    let search = Search::parse(query.as_deref(), PATIENT.params)?;
    if let Some(id) = search.id()? {
        let id = PatientId::from_db(id);
        return search_by_id(
            &ctx,
            &base,
            "Patient",
            &search,
            move |conn, actor| patients::get_patient(conn, actor, &id),
            patient,
        )
        .await;
    }
    let source = Source::of(
        patient_filter(&search)?,
        patients::count_patients,
        patients::list_patients,
        patient,
    );
    search_page(&ctx, &base, "Patient", &search, vec![source]).await
}

fn patient_filter(search: &Search) -> Result<PatientFilter, ApiError> {
    let birth_date = match search.one("birthdate")? {
        None => None,
        Some(v) => {
            let day = v.strip_prefix("eq").unwrap_or(v);
            Some(crate::kit::Date::parse(day).map_err(|_| {
                ApiError::field("birthdate", "must be a day, YYYY-MM-DD (prefix eq only)")
            })?)
        }
    };
    Ok(PatientFilter {
        q: search.one("name")?.map(str::to_string),
        mrn: search.token("identifier", Some(MRN_SYSTEM))?,
        birth_date,
    })
}

/// Read a Practitioner
#[utoipa::path(get, path = "/Practitioner/{id}", tag = "fhir", params(("id" = String, Path)),
    responses((status = 200, description = "A Practitioner", content_type = "application/fhir+json")))]
async fn read_practitioner(ctx: Ctx, Path(id): Path<DoctorId>) -> Result<Fhir, ApiError> {
    let d = ctx
        .read(move |conn, _| patients::get_doctor(conn, &id))
        .await?;
    Ok(Fhir::resource(practitioner(&d)))
}

/// Search Practitioners
#[utoipa::path(get, path = "/Practitioner", tag = "fhir",
    responses((status = 200, description = "A searchset Bundle of Practitioners", content_type = "application/fhir+json")))]
async fn search_practitioners(
    ctx: Ctx,
    base: Base,
    RawQuery(query): RawQuery,
) -> Result<Fhir, ApiError> {
    let search = Search::parse(query.as_deref(), PRACTITIONER.params)?;
    let q = search.one("name")?.map(str::to_string);
    let (total, found) = if let Some(id) = search.id()? {
        let id = DoctorId::from_db(id);
        let found = ctx
            .read(move |conn, _| match patients::get_doctor(conn, &id) {
                Ok(d) => Ok(vec![d]),
                Err(Error::NotFound) => Ok(Vec::new()),
                Err(e) => Err(e),
            })
            .await?;
        (found.len() as i64, (found, None))
    } else {
        let page = search.page()?;
        let filter = DoctorFilter { specialty: None, q };
        ctx.read(move |conn, _| {
            let total = patients::count_doctors(conn, &filter)?;
            let list = patients::list_doctors(conn, filter, &page)?;
            Ok((total, (list.items, list.next_cursor)))
        })
        .await?
    };
    let entries = found.0.iter().map(practitioner).collect();
    Ok(Fhir::ok(Bundle::searchset(
        &base,
        "Practitioner",
        &search,
        total,
        entries,
        found.1,
    )))
}
