//! Consent: a patient's current consent of each kind (treatment, telemedicine, remote
//! monitoring, data sharing, research), as the consent status of the JSON API has it. Its id is
//! `<patient id>-<kind>`; a kind never given nor revoked has no Consent.

use axum::extract::RawQuery;
use serde_json::{json, Value};
use utoipa_axum::{router::OpenApiRouter, routes};

use super::capability::TypeDef;
use super::search::{Param, Search};
use super::{reference, Base, Bundle, Fhir};
use crate::domains::consent::{self, ConsentKind, ConsentStatus, STATUS};
use crate::domains::patients;
use crate::http::ApiError;
use crate::kit::{route, Access, AppState, Ctx, Error, PatientId, Perm, WireEnum};

pub const CONSENT_TYPE: TypeDef = TypeDef {
    kind: "Consent",
    doc: "A patient's current consent of one kind (/api/v1/consents: treatment, telemedicine, remote-monitoring, data-sharing, research): active when their latest act was to give it, inactive when it was to revoke it; the form they agreed to as the source. Its id is <patient id>-<kind>. Consent is enforced: what a kind guards is refused without it.",
    params: &[
        Param {
            name: "_id",
            kind: "token",
            doc: "<patient id>-<kind> (alone: a read)",
        },
        Param {
            name: "patient",
            kind: "reference",
            doc: "The patient (Patient/<id> or <id>); a patient's own token needs none",
        },
        Param {
            name: "status",
            kind: "token",
            doc: "active or inactive",
        },
    ],
    operations: &[],
};

pub fn router() -> OpenApiRouter<AppState> {
    let read = Access::Perm(Perm::ConsentRead);
    OpenApiRouter::new()
        .routes(route(read, STATUS, routes!(read_consent)))
        .routes(route(read, STATUS, routes!(search_consents)))
}

/// Our kind as FHIR's id part (no underscores in FHIR ids).
fn kind_slug(k: ConsentKind) -> String {
    k.as_str().replace('_', "-")
}

fn consent(patient: &PatientId, s: &ConsentStatus) -> Option<Value> {
    let (status, rule, provision) = match s.status.as_str() {
        "given" => ("active", "OPTIN", "permit"),
        "revoked" => ("inactive", "OPTOUT", "deny"),
        _ => return None,
    };
    let scope = match s.kind {
        ConsentKind::Research => "research",
        ConsentKind::DataSharing => "patient-privacy",
        _ => "treatment",
    };
    let mut c = json!({
        "resourceType": "Consent",
        "id": format!("{patient}-{}", kind_slug(s.kind)),
        "status": status,
        "scope": super::concept("http://terminology.hl7.org/CodeSystem/consentscope", scope, ""),
        "category": [{
            "coding": [{ "system": "http://loinc.org", "code": "59284-0", "display": "Patient Consent" }],
            "text": s.kind.as_str(),
        }],
        "patient": reference("Patient", patient.as_str()),
        "policyRule": super::concept("http://terminology.hl7.org/CodeSystem/v3-ActCode", rule, ""),
        "provision": { "type": provision },
    });
    if let Some(t) = s.since {
        c["dateTime"] = json!(t);
    }
    if let Some(form) = &s.consent_form_id {
        c["sourceReference"] = json!({ "display": format!("consent form {form}") });
    }
    Some(c)
}

/// The patient's current consents, as Consents; 404 (audited) out of reach.
async fn consents_of(ctx: &Ctx, patient: PatientId) -> Result<Vec<Value>, ApiError> {
    let pid = patient.clone();
    let found = ctx
        .read(move |conn, actor| {
            let Some(user) = patients::account_of_patient(conn, &pid)? else {
                // A patient without an account has given no consent through the API; one out
                // of reach is still 404 (audited). Their demographics are not revealed.
                let _reachable = patients::get_patient(conn, actor, &pid)?;
                return Ok(None);
            };
            Ok(Some(consent::status(conn, actor, &user)?))
        })
        .await?;
    let statuses = match found {
        Some(found) => ctx.reveal(found).await?,
        None => Vec::new(),
    };
    Ok(statuses
        .iter()
        .filter_map(|s| consent(&patient, s))
        .collect())
}

/// Read a Consent
#[utoipa::path(get, path = "/Consent/{id}", tag = "fhir", params(("id" = String, Path)),
    responses((status = 200, description = "A Consent", content_type = "application/fhir+json")))]
async fn read_consent(
    ctx: Ctx,
    axum::extract::Path(id): axum::extract::Path<String>,
) -> Result<Fhir, ApiError> {
    let patient = id
        .get(..36)
        .and_then(crate::kit::ids::canonical_uuid)
        .ok_or(Error::NotFound)?;
    let found = consents_of(&ctx, PatientId::from_db(patient)).await?;
    found
        .into_iter()
        .find(|c| c["id"] == id.as_str())
        .map(Fhir::ok)
        .ok_or_else(|| Error::NotFound.into())
}

/// Search Consents
#[utoipa::path(get, path = "/Consent", tag = "fhir",
    responses((status = 200, description = "A searchset Bundle of Consents", content_type = "application/fhir+json")))]
async fn search_consents(
    ctx: Ctx,
    base: Base,
    RawQuery(query): RawQuery,
) -> Result<Fhir, ApiError> {
    let search = Search::parse(query.as_deref(), CONSENT_TYPE.params)?;
    let (patient, only) = match search.one("_id")? {
        Some(id) => (
            id.get(..36).and_then(crate::kit::ids::canonical_uuid),
            Some(id.to_string()),
        ),
        None => (search.reference("patient", "Patient")?, None),
    };
    let patient = match patient.or_else(|| {
        ctx.actor()
            .scope()
            .own_patient()
            .map(|p| p.as_str().to_string())
    }) {
        Some(p) => PatientId::from_db(p),
        None => {
            return Err(ApiError::field(
                "patient",
                "is required: consents are searched one patient at a time",
            ))
        }
    };
    let status = search.token("status", None)?;
    let entries: Vec<Value> = match consents_of(&ctx, patient).await {
        Ok(found) => found,
        // A search finds nothing out of reach (the refusal is audited).
        Err(e) if e.status == axum::http::StatusCode::NOT_FOUND => Vec::new(),
        Err(e) => return Err(e),
    }
    .into_iter()
    .filter(|c| only.as_deref().is_none_or(|id| c["id"] == id))
    .filter(|c| status.as_deref().is_none_or(|s| c["status"] == s))
    .collect();
    // At most one per kind: read whole, then paged here (the cursor is the offset).
    let total = entries.len() as i64;
    let page = search.page()?;
    let offset = match page.after.as_deref() {
        None => 0,
        Some(c) => c
            .parse::<usize>()
            .map_err(|_| ApiError::field("_cursor", "is not a cursor this server issued"))?,
    };
    let end = offset
        .saturating_add(page.limit as usize)
        .min(entries.len());
    let next = (end < entries.len()).then(|| crate::http::encode_cursor(&end.to_string()));
    let shown = entries.into_iter().take(end).skip(offset).collect();
    Ok(Fhir::ok(Bundle::searchset(
        &base, "Consent", &search, total, shown, next,
    )))
}
