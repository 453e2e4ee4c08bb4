//! Appointment (our appointments) and Encounter (our virtual visits: the encounters we hold).

use axum::extract::RawQuery;
use serde_json::{json, Value};
use utoipa_axum::{router::OpenApiRouter, routes};

use super::capability::TypeDef;
use super::search::{Bounds, Param, Search};
use super::{meta, reference, search_by_id, search_page, without_nulls, Base, Fhir, Source};
use crate::domains::appointments::{
    self, Appointment, AppointmentFilter, AppointmentId, AppointmentStatus, APPOINTMENT,
};
use crate::domains::telemedicine::{self, VirtualVisit, VisitFilter, VisitId, VisitStatus, VISIT};
use crate::http::{ApiError, Path};
use crate::kit::{route, Access, AppState, Ctx, DoctorId, PatientId, Perm};

const PATIENT_PARAM: Param = Param {
    name: "patient",
    kind: "reference",
    doc: "The patient (Patient/<id> or <id>)",
};
const PRACTITIONER_PARAM: Param = Param {
    name: "practitioner",
    kind: "reference",
    doc: "The doctor (Practitioner/<id> or <id>)",
};
const ID_PARAM: Param = Param {
    name: "_id",
    kind: "token",
    doc: "The resource's id (alone: a read)",
};

pub const APPOINTMENT_TYPE: TypeDef = TypeDef {
    kind: "Appointment",
    doc: "An appointment (/api/v1/appointments) between a patient and a doctor. Status: booked, checked-in (checked_in), fulfilled (completed), cancelled, noshow (no_show).",
    params: &[
        ID_PARAM,
        PATIENT_PARAM,
        PRACTITIONER_PARAM,
        Param {
            name: "status",
            kind: "token",
            doc: "booked, checked-in, fulfilled, cancelled or noshow",
        },
        Param {
            name: "date",
            kind: "date",
            doc: "The start, with prefixes eq, lt, le, gt, ge, sa, eb (repeat to bound both sides)",
        },
    ],
    operations: &[],
};

pub const ENCOUNTER_TYPE: TypeDef = TypeDef {
    kind: "Encounter",
    doc: "A virtual visit (/api/v1/virtual-visits), class VR (virtual). Status: planned (scheduled), in-progress, finished (completed), cancelled.",
    params: &[
        ID_PARAM,
        PATIENT_PARAM,
        PRACTITIONER_PARAM,
        Param {
            name: "status",
            kind: "token",
            doc: "planned, in-progress, finished or cancelled",
        },
        Param {
            name: "date",
            kind: "date",
            doc: "The scheduled start, with prefixes eq, lt, le, gt, ge, sa, eb",
        },
    ],
    operations: &[],
};

pub fn router() -> OpenApiRouter<AppState> {
    let appointments = Access::Perm(Perm::AppointmentsRead);
    let visits = Access::Perm(Perm::TelemedicineRead);
    OpenApiRouter::new()
        .routes(route(appointments, APPOINTMENT, routes!(read_appointment)))
        .routes(route(
            appointments,
            APPOINTMENT,
            routes!(search_appointments),
        ))
        .routes(route(visits, VISIT, routes!(read_encounter)))
        .routes(route(visits, VISIT, routes!(search_encounters)))
}

/// Our appointment statuses and FHIR's, both ways.
const APPOINTMENT_STATUS: &[(AppointmentStatus, &str)] = &[
    (AppointmentStatus::Booked, "booked"),
    (AppointmentStatus::CheckedIn, "checked-in"),
    (AppointmentStatus::Completed, "fulfilled"),
    (AppointmentStatus::Cancelled, "cancelled"),
    (AppointmentStatus::NoShow, "noshow"),
];

const VISIT_STATUS: &[(VisitStatus, &str)] = &[
    (VisitStatus::Scheduled, "planned"),
    (VisitStatus::InProgress, "in-progress"),
    (VisitStatus::Completed, "finished"),
    (VisitStatus::Cancelled, "cancelled"),
];

/// FHIR's code of one of our statuses.
fn fhir_code<S: PartialEq + Copy>(table: &[(S, &'static str)], s: S) -> &'static str {
    table
        .iter()
        .find(|(ours, _)| *ours == s)
        .map(|(_, code)| *code)
        .expect("every status is mapped")
}

/// Our status of the `status` parameter's FHIR code (400 naming the codes otherwise).
fn status_param<S: Copy>(
    search: &Search,
    table: &[(S, &'static str)],
) -> Result<Option<S>, ApiError> {
    let Some(code) = search.token("status", None)? else {
        return Ok(None);
    };
    match table.iter().find(|(_, c)| *c == code) {
        Some((ours, _)) => Ok(Some(*ours)),
        None => Err(ApiError::field(
            "status",
            format!(
                "`{code}` is not one of {}",
                table.iter().map(|(_, c)| *c).collect::<Vec<_>>().join(", ")
            ),
        )),
    }
}

/// What both types are searched by: the patient, the doctor, the status and the start.
type Parties<S> = (Option<PatientId>, Option<DoctorId>, Option<S>, Bounds);

fn parties_status_date<S: Copy>(
    search: &Search,
    table: &[(S, &'static str)],
) -> Result<Parties<S>, ApiError> {
    Ok((
        search
            .reference("patient", "Patient")?
            .map(PatientId::from_db),
        search
            .reference("practitioner", "Practitioner")?
            .map(DoctorId::from_db),
        status_param(search, table)?,
        search.dates("date")?,
    ))
}

pub fn appointment(a: &Appointment) -> Value {
    without_nulls(json!({
        "resourceType": "Appointment",
        "id": a.id,
        "meta": meta(a.version, a.updated_at),
        "status": fhir_code(APPOINTMENT_STATUS, a.status),
        "cancelationReason": a.cancel_reason.as_deref().map(super::text_concept),
        "reasonCode": a.reason.as_deref().map(|r| json!([super::text_concept(r)])),
        "description": a.reason,
        "start": a.start_time,
        "end": a.end_time,
        "created": a.created_at,
        "participant": [
            { "actor": reference("Patient", a.patient_id.as_str()), "required": "required", "status": "accepted" },
            { "actor": reference("Practitioner", a.doctor_id.as_str()), "required": "required", "status": "accepted" },
        ],
    }))
}

pub fn encounter(v: &VirtualVisit) -> Value {
    let period = match (v.started_at, v.ended_at) {
        (Some(start), Some(end)) => json!({ "start": start, "end": end }),
        (Some(start), None) => json!({ "start": start }),
        _ => json!({ "start": v.scheduled_start, "end": v.scheduled_end }),
    };
    without_nulls(json!({
        "resourceType": "Encounter",
        "id": v.id,
        "meta": meta(v.version, v.updated_at),
        "status": fhir_code(VISIT_STATUS, v.status),
        "class": {
            "system": "http://terminology.hl7.org/CodeSystem/v3-ActCode",
            "code": "VR",
            "display": "virtual",
        },
        "subject": reference("Patient", v.patient_id.as_str()),
        "participant": [{ "individual": reference("Practitioner", v.doctor_id.as_str()) }],
        "appointment": v.appointment_id.as_ref().map(|a| json!([reference("Appointment", a.as_str())])),
        "period": period,
        "reasonCode": v.reason.as_deref().map(|r| json!([super::text_concept(r)])),
    }))
}

/// Read an Appointment
#[utoipa::path(get, path = "/Appointment/{id}", tag = "fhir", params(("id" = String, Path)),
    responses((status = 200, description = "An Appointment", content_type = "application/fhir+json")))]
async fn read_appointment(ctx: Ctx, Path(id): Path<AppointmentId>) -> Result<Fhir, ApiError> {
    let found = ctx
        .read(move |conn, actor| appointments::get(conn, actor, &id))
        .await?;
    Ok(Fhir::resource(appointment(&ctx.reveal(found).await?)))
}

/// Search Appointments
#[utoipa::path(get, path = "/Appointment", tag = "fhir",
    responses((status = 200, description = "A searchset Bundle of Appointments", content_type = "application/fhir+json")))]
async fn search_appointments(
    ctx: Ctx,
    base: Base,
    RawQuery(query): RawQuery,
) -> Result<Fhir, ApiError> {
    let search = Search::parse(query.as_deref(), APPOINTMENT_TYPE.params)?;
    if let Some(id) = search.id()? {
        let id = AppointmentId::from_db(id);
        return search_by_id(
            &ctx,
            &base,
            "Appointment",
            &search,
            move |conn, actor| appointments::get(conn, actor, &id),
            appointment,
        )
        .await;
    }
    let (patient_id, doctor_id, status, dates) = parties_status_date(&search, APPOINTMENT_STATUS)?;
    let filter = AppointmentFilter {
        patient_id,
        doctor_id,
        status,
        from: dates.from,
        to: dates.to,
    };
    let source = Source::of(filter, appointments::count, appointments::list, appointment);
    search_page(&ctx, &base, "Appointment", &search, vec![source]).await
}

/// Read an Encounter
#[utoipa::path(get, path = "/Encounter/{id}", tag = "fhir", params(("id" = String, Path)),
    responses((status = 200, description = "An Encounter", content_type = "application/fhir+json")))]
async fn read_encounter(ctx: Ctx, Path(id): Path<VisitId>) -> Result<Fhir, ApiError> {
    let found = ctx
        .read(move |conn, actor| telemedicine::get(conn, actor, &id))
        .await?;
    Ok(Fhir::resource(encounter(&ctx.reveal(found).await?)))
}

/// Search Encounters
#[utoipa::path(get, path = "/Encounter", tag = "fhir",
    responses((status = 200, description = "A searchset Bundle of Encounters", content_type = "application/fhir+json")))]
async fn search_encounters(
    ctx: Ctx,
    base: Base,
    RawQuery(query): RawQuery,
) -> Result<Fhir, ApiError> {
    let search = Search::parse(query.as_deref(), ENCOUNTER_TYPE.params)?;
    if let Some(id) = search.id()? {
        let id = VisitId::from_db(id);
        return search_by_id(
            &ctx,
            &base,
            "Encounter",
            &search,
            move |conn, actor| telemedicine::get(conn, actor, &id),
            encounter,
        )
        .await;
    }
    let (patient_id, doctor_id, status, dates) = parties_status_date(&search, VISIT_STATUS)?;
    let filter = VisitFilter {
        patient_id,
        doctor_id,
        status,
        from: dates.from,
        to: dates.to,
    };
    let source = Source::of(filter, telemedicine::count, telemedicine::list, encounter);
    search_page(&ctx, &base, "Encounter", &search, vec![source]).await
}
