//! `GET /fhir/R4/metadata`: the CapabilityStatement, built from the same table the handlers
//! check their parameters against (`TYPES`), so it lists exactly what is served.

use serde_json::{json, Value};
use utoipa_axum::{router::OpenApiRouter, routes};

use super::search::{Param, COMMON};
use super::Fhir;
use crate::audit::Resource;
use crate::kit::{route_unaudited, Access, AppState};

/// A resource type the facade serves: its name, what it is made from, its search parameters,
/// and its type-level operations (`$everything`).
#[derive(Debug)]
pub struct TypeDef {
    pub kind: &'static str,
    /// What our objects it is made from, for `metadata`'s documentation.
    pub doc: &'static str,
    pub params: &'static [Param],
    pub operations: &'static [&'static str],
}

/// Every type served, in the order `metadata` lists them.
pub const TYPES: &[&TypeDef] = &[
    &super::patient::PATIENT,
    &super::patient::PRACTITIONER,
    &super::scheduling::APPOINTMENT_TYPE,
    &super::scheduling::ENCOUNTER_TYPE,
    &super::observation::OBSERVATION_TYPE,
    &super::condition::CONDITION_TYPE,
    &super::diagnostics::DIAGNOSTIC_REPORT_TYPE,
    &super::diagnostics::SERVICE_REQUEST_TYPE,
    &super::medication::MEDICATION_REQUEST_TYPE,
    &super::billing::CLAIM_TYPE,
    &super::consent::CONSENT_TYPE,
    &super::communication::COMMUNICATION_TYPE,
    &super::audit_event::AUDIT_EVENT_TYPE,
];

const CAPABILITY: Resource = Resource::named("fhir_capability");

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(route_unaudited(
        Access::Public,
        CAPABILITY,
        "the server's description, the same for everyone",
        routes!(metadata),
    ))
}

/// The server's CapabilityStatement
///
/// Public, as FHIR clients read it before they sign in: the resource types served, with their
/// interactions (`read`, `search-type`) and search parameters, and the bearer-token security.
#[utoipa::path(get, path = "/metadata", tag = "fhir",
    responses((status = 200, description = "A CapabilityStatement", content_type = "application/fhir+json")))]
async fn metadata() -> Fhir {
    Fhir::ok(statement())
}

fn statement() -> Value {
    let resources: Vec<Value> = TYPES
        .iter()
        .map(|t| {
            let params: Vec<Value> = t
                .params
                .iter()
                .chain(COMMON)
                .map(|p| json!({ "name": p.name, "type": p.kind, "documentation": p.doc }))
                .collect();
            let mut r = json!({
                "type": t.kind,
                "documentation": t.doc,
                "interaction": [{ "code": "read" }, { "code": "search-type" }],
                "versioning": "versioned",
                "readHistory": false,
                "searchParam": params,
            });
            let ops: Vec<Value> = t
                .operations
                .iter()
                .map(|op| {
                    json!({
                        "name": op,
                        "definition": format!("http://hl7.org/fhir/OperationDefinition/{}-{op}", t.kind),
                    })
                })
                .collect();
            if !ops.is_empty() {
                r["operation"] = ops.into();
            }
            r
        })
        .collect();
    json!({
        "resourceType": "CapabilityStatement",
        "status": "active",
        "date": "2026-11-28",
        "publisher": "healthapi",
        "kind": "instance",
        "software": { "name": "healthapi", "version": env!("CARGO_PKG_VERSION") },
        "implementation": { "description": "healthapi's FHIR R4 facade (read and search)" },
        "fhirVersion": "4.0.1",
        "format": ["json"],
        "rest": [{
            "mode": "server",
            "documentation": "Read and search only. Every request but this one needs a bearer token from POST /api/v1/auth/login; the same roles, patient compartment and consent apply as in the JSON API, and every read is audited.",
            "security": {
                "cors": true,
                "service": [{
                    "coding": [{
                        "system": "http://terminology.hl7.org/CodeSystem/restful-security-service",
                        "code": "OAuth",
                    }],
                    "text": "Bearer token (Authorization: Bearer <token>)",
                }],
            },
            "resource": resources,
        }],
    })
}
