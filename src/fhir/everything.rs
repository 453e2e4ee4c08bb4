//! `Patient/{id}/$everything`: the patient and every resource of their compartment the caller
//! may read, paged like a search (the sources one after the other).

use axum::extract::RawQuery;
use utoipa_axum::{router::OpenApiRouter, routes};

use super::search::{Param, Search};
use super::{search_page, Base, Fhir, Source};
use crate::domains::{
    appointments, billing, devices, lab, patients, pharmacy, records, referrals, telemedicine,
};
use crate::http::{ApiError, ListResponse, Path};
use crate::kit::{route, Access, AppState, Ctx, Error, PatientId, Perm};

/// `$everything` takes only the common parameters (`_count`, `_cursor`, `_format`).
const PARAMS: &[Param] = &[];

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(route(
        Access::Perm(Perm::PatientsRead),
        patients::PATIENT_RECORD,
        routes!(everything),
    ))
}

/// The patient's record as a source of one row (or none, out of reach: then nothing else is
/// read either).
fn the_patient(id: PatientId) -> Source {
    let counted = id.clone();
    Source::new(
        move |conn, actor| match patients::get_patient(conn, actor, &counted) {
            Ok(_) => Ok(1),
            Err(Error::NotFound) => Ok(0),
            Err(e) => Err(e),
        },
        move |conn, actor, _| {
            Ok(
                patients::get_patient(conn, actor, &id)?.map(|p| ListResponse {
                    items: vec![p],
                    next_cursor: None,
                }),
            )
        },
        super::patient::patient,
    )
}

/// Everything about a patient
#[utoipa::path(get, path = "/Patient/{id}/$everything", tag = "fhir", params(("id" = String, Path)),
    responses((status = 200, description = "A searchset Bundle of the patient and their compartment", content_type = "application/fhir+json")))]
async fn everything(
    ctx: Ctx,
    base: Base,
    Path(id): Path<PatientId>,
    RawQuery(query): RawQuery,
) -> Result<Fhir, ApiError> {
    let search = Search::parse(query.as_deref(), PARAMS)?;
    // Out of reach: 404 (audited) before anything else is read.
    let check = id.clone();
    ctx.read(move |conn, actor| patients::get_patient(conn, actor, &check).map(|_| ()))
        .await?;
    let holds = |p: Perm| ctx.actor().holds(p);
    let pid = || Some(id.clone());
    let mut sources = vec![the_patient(id.clone())];
    if holds(Perm::AppointmentsRead) {
        let f = appointments::AppointmentFilter {
            patient_id: pid(),
            ..Default::default()
        };
        sources.push(Source::of(
            f,
            appointments::count,
            appointments::list,
            super::scheduling::appointment,
        ));
    }
    if holds(Perm::TelemedicineRead) {
        let f = telemedicine::VisitFilter {
            patient_id: pid(),
            ..Default::default()
        };
        sources.push(Source::of(
            f,
            telemedicine::count,
            telemedicine::list,
            super::scheduling::encounter,
        ));
        let chat = telemedicine::ChatSearch {
            patient_id: pid(),
            ..Default::default()
        };
        let counted = chat.clone();
        sources.push(Source::joined(
            move |conn, actor| telemedicine::count_chat(conn, actor, &counted),
            move |conn, actor, page| telemedicine::search_chat(conn, actor, chat, page),
            super::communication::chat_communications,
        ));
    }
    if holds(Perm::RecordsRead) {
        let f = records::RecordFilter {
            patient_id: pid(),
            ..Default::default()
        };
        sources.push(Source::of(
            f,
            records::count_diagnoses,
            records::list_diagnoses,
            super::condition::condition,
        ));
    }
    if holds(Perm::LabRead) {
        let f = lab::OrderFilter {
            patient_id: pid(),
            ..Default::default()
        };
        sources.push(Source::of(
            f,
            lab::count,
            lab::list,
            super::diagnostics::service_request,
        ));
        let f = lab::OrderFilter {
            patient_id: pid(),
            status: Some(lab::OrderStatus::Resulted),
            ..Default::default()
        };
        let counted = f.clone();
        sources.push(Source::joined(
            move |conn, actor| lab::count(conn, actor, &counted),
            move |conn, actor, page| lab::list(conn, actor, f, page),
            super::diagnostics::reports,
        ));
        let f = lab::ResultFilter {
            patient_id: pid(),
            ..Default::default()
        };
        sources.push(Source::of(
            f,
            lab::count_results,
            lab::list_results,
            super::observation::lab_observation,
        ));
        let f = lab::ImageFilter {
            patient_id: pid(),
            ..Default::default()
        };
        sources.push(Source::of(
            f,
            lab::count_images,
            lab::list_images,
            super::diagnostics::image_report,
        ));
    }
    if holds(Perm::ReferralsRead) {
        let f = referrals::ReferralFilter {
            patient_id: pid(),
            ..Default::default()
        };
        sources.push(Source::of(
            f,
            referrals::count,
            referrals::list,
            super::diagnostics::referral_request,
        ));
    }
    if holds(Perm::DevicesRead) {
        let f = devices::ReadingFilter {
            patient_id: pid(),
            ..Default::default()
        };
        sources.push(Source::of(
            f,
            devices::count_readings,
            devices::list_readings,
            super::observation::reading_observation,
        ));
    }
    if holds(Perm::PharmacyRead) {
        let f = pharmacy::PrescriptionFilter {
            patient_id: pid(),
            ..Default::default()
        };
        let counted = f.clone();
        sources.push(Source::joined(
            move |conn, actor| pharmacy::count_prescriptions(conn, actor, &counted),
            move |conn, actor, page| pharmacy::list_prescriptions(conn, actor, f, page),
            super::medication::with_medications,
        ));
    }
    if holds(Perm::BillingRead) {
        let f = billing::ClaimFilter {
            patient_id: pid(),
            ..Default::default()
        };
        sources.push(Source::of(
            f,
            billing::count_claims,
            billing::list_claims,
            super::billing::claim,
        ));
    }
    search_page(
        &ctx,
        &base,
        &format!("Patient/{id}/$everything"),
        &search,
        sources,
    )
    .await
}
