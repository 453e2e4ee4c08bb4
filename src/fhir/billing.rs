//! Claim: our insurance claims, their lines coded in CPT.

use axum::extract::RawQuery;
use serde_json::{json, Value};
use utoipa_axum::{router::OpenApiRouter, routes};

use super::capability::TypeDef;
use super::search::{Param, Search};
use super::{meta, reference, search_by_id, search_page, without_nulls, Base, Fhir, Source};
use crate::domains::billing::{self, Claim, ClaimFilter, ClaimId, CLAIM};
use crate::http::{ApiError, Path};
use crate::kit::{route, Access, AppState, Ctx, Money, PatientId, Perm, WireEnum};

pub const CPT: &str = "http://www.ama-assn.org/go/cpt";

pub const CLAIM_TYPE: TypeDef = TypeDef {
    kind: "Claim",
    doc: "An insurance claim (/api/v1/claims): professional, its lines coded in CPT with their amounts, the plan and member id as the coverage, the service date as the billable period. FHIR's Claim.status is the claim resource's own (active); where the claim is in our review (submitted, in_review, approved, denied, paid) is the extension https://healthapi.dev/fhir/StructureDefinition/claim-review-status.",
    params: &[
        Param {
            name: "_id",
            kind: "token",
            doc: "The claim's id (alone: a read)",
        },
        Param {
            name: "patient",
            kind: "reference",
            doc: "The patient (Patient/<id> or <id>)",
        },
        Param {
            name: "created",
            kind: "date",
            doc: "When the claim was filed, with prefixes eq, lt, le, gt, ge, sa, eb",
        },
    ],
    operations: &[],
};

pub fn router() -> OpenApiRouter<AppState> {
    let read = Access::Perm(Perm::BillingRead);
    OpenApiRouter::new()
        .routes(route(read, CLAIM, routes!(read_claim)))
        .routes(route(read, CLAIM, routes!(search_claims)))
}

/// ISO 4217 currencies without minor units; every other is taken as hundredths.
const WHOLE_UNIT_CURRENCIES: &[&str] = &[
    "BIF", "CLP", "DJF", "GNF", "ISK", "JPY", "KMF", "KRW", "PYG", "RWF", "UGX", "VND", "VUV",
    "XAF", "XOF", "XPF",
];

/// Our money (minor units) as FHIR Money (a decimal value).
pub fn money(m: &Money) -> Value {
    let value = if WHOLE_UNIT_CURRENCIES.contains(&m.currency.as_str()) {
        json!(m.amount_minor)
    } else {
        json!(m.amount_minor as f64 / 100.0)
    };
    json!({ "value": value, "currency": m.currency })
}

pub fn claim(c: &Claim) -> Value {
    let items: Vec<Value> = c
        .lines
        .iter()
        .enumerate()
        .map(|(i, l)| {
            json!({
                "sequence": i + 1,
                "productOrService": super::concept(CPT, &l.code, &l.description),
                "servicedDate": c.service_date,
                "net": money(&l.amount),
            })
        })
        .collect();
    let plan = format!("insurance plan {}", c.plan_id);
    without_nulls(json!({
        "resourceType": "Claim",
        "id": c.id,
        "meta": meta(c.version, c.updated_at),
        "extension": [{
            "url": "https://healthapi.dev/fhir/StructureDefinition/claim-review-status",
            "valueCode": c.status.as_str(),
        }],
        "status": "active",
        "type": super::concept("http://terminology.hl7.org/CodeSystem/claim-type", "professional", "Professional"),
        "use": "claim",
        "patient": reference("Patient", c.patient_id.as_str()),
        "billablePeriod": { "start": c.service_date, "end": c.service_date },
        "created": c.created_at,
        "insurer": { "display": plan },
        "provider": { "display": "healthapi clinic" },
        "priority": super::concept("http://terminology.hl7.org/CodeSystem/processpriority", "normal", "Normal"),
        "insurance": [{
            "sequence": 1,
            "focal": true,
            "identifier": { "value": c.member_id },
            "coverage": { "display": format!("{plan}, member {}", c.member_id) },
        }],
        "item": (!items.is_empty()).then_some(items),
        "total": money(&c.total),
    }))
}

/// Read a Claim
#[utoipa::path(get, path = "/Claim/{id}", tag = "fhir", params(("id" = String, Path)),
    responses((status = 200, description = "A Claim", content_type = "application/fhir+json")))]
async fn read_claim(ctx: Ctx, Path(id): Path<ClaimId>) -> Result<Fhir, ApiError> {
    let found = ctx
        .read(move |conn, actor| billing::get_claim(conn, actor, &id))
        .await?;
    Ok(Fhir::resource(claim(&ctx.reveal(found).await?)))
}

/// Search Claims
#[utoipa::path(get, path = "/Claim", tag = "fhir",
    responses((status = 200, description = "A searchset Bundle of Claims", content_type = "application/fhir+json")))]
async fn search_claims(ctx: Ctx, base: Base, RawQuery(query): RawQuery) -> Result<Fhir, ApiError> {
    let search = Search::parse(query.as_deref(), CLAIM_TYPE.params)?;
    if let Some(id) = search.id()? {
        let id = ClaimId::from_db(id);
        return search_by_id(
            &ctx,
            &base,
            "Claim",
            &search,
            move |conn, actor| billing::get_claim(conn, actor, &id),
            claim,
        )
        .await;
    }
    let dates = search.dates("created")?;
    let filter = ClaimFilter {
        patient_id: search
            .reference("patient", "Patient")?
            .map(PatientId::from_db),
        from: dates.from,
        to: dates.to,
        ..Default::default()
    };
    let source = Source::of(filter, billing::count_claims, billing::list_claims, claim);
    search_page(&ctx, &base, "Claim", &search, vec![source]).await
}
