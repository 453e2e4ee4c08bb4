//! The care team of a patient, and break-glass emergency access.

use axum::extract::{Path, State};
use diesel::prelude::*;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::{router::OpenApiRouter, routes};

use crate::app::AppState;
use crate::auth::access::{can_reach_patient, link_care_team, Reach};
use crate::auth::permissions::Perm;
use crate::auth::Ctx;
use crate::db::schema::{break_glass_grants, care_team};
use crate::db::{new_id, now};
use crate::domains::notifications::notify_patient;
use crate::domains::patients::patient_exists;
use crate::http::{utc, ApiError, AppJson, Created, Validator};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(get_care_team))
        .routes(routes!(break_glass))
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct CareTeamMember {
    pub doctor_id: String,
    pub since: chrono::DateTime<chrono::Utc>,
    /// What linked them: `appointment`, `medical_record`, `referral`, `break_glass`, ...
    pub source: String,
    /// Only break-glass links expire.
    pub expires_at: Option<chrono::DateTime<chrono::Utc>>,
}

/// The doctors currently linked to a patient (the patient, admin, doctors on the team).
#[utoipa::path(get, path = "/patients/{id}/care-team", tag = "patients",
    params(("id" = String, Path)),
    responses((status = 200, body = Vec<CareTeamMember>), (status = 404, body = crate::http::Problem)))]
async fn get_care_team(
    State(state): State<AppState>,
    ctx: Ctx,
    Path(id): Path<String>,
) -> Result<axum::Json<Vec<CareTeamMember>>, ApiError> {
    let principal = ctx.principal.clone();
    let pid = id.clone();
    let members = state
        .db
        .read(move |conn| {
            if !patient_exists(conn, &pid)?
                || !can_reach_patient(conn, &principal, &pid, Reach::Clinical)?
            {
                return Ok(None);
            }
            let rows: Vec<(
                String,
                chrono::NaiveDateTime,
                String,
                Option<chrono::NaiveDateTime>,
            )> = care_team::table
                .filter(care_team::patient_id.eq(&pid))
                .filter(
                    care_team::expires_at
                        .is_null()
                        .or(care_team::expires_at.gt(now())),
                )
                .order(care_team::since)
                .select((
                    care_team::doctor_id,
                    care_team::since,
                    care_team::source,
                    care_team::expires_at,
                ))
                .load(conn)?;
            Ok(Some(rows))
        })
        .await?;
    let Some(rows) = members else {
        return Err(ctx.not_found("read", "care_team", &id, Some(&id)));
    };
    ctx.audit_read("care_team", Some(&id), Some(&id));
    Ok(axum::Json(
        rows.into_iter()
            .map(|(doctor_id, since, source, expires_at)| CareTeamMember {
                doctor_id,
                since: utc(since),
                source,
                expires_at: expires_at.map(utc),
            })
            .collect(),
    ))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct BreakGlassRequest {
    /// Why access is needed now; at least 10 characters.
    pub reason: String,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct BreakGlassGrant {
    pub id: String,
    pub patient_id: String,
    pub doctor_id: String,
    pub reason: String,
    pub expires_at: chrono::DateTime<chrono::Utc>,
}

/// Emergency access: a doctor states a reason and reaches one patient's clinical data for a
/// limited time. Flagged in the audit trail; the patient is notified.
#[utoipa::path(post, path = "/patients/{id}/break-glass", tag = "patients",
    params(("id" = String, Path)), request_body = BreakGlassRequest,
    responses((status = 201, body = BreakGlassGrant), (status = 403, body = crate::http::Problem),
        (status = 404, body = crate::http::Problem), (status = 422, body = crate::http::Problem)))]
async fn break_glass(
    State(state): State<AppState>,
    ctx: Ctx,
    Path(id): Path<String>,
    AppJson(body): AppJson<BreakGlassRequest>,
) -> Result<Created<BreakGlassGrant>, ApiError> {
    crate::domains::patients::require_for(&ctx, Perm::BreakGlass, "break_glass", &id)?;
    let Some(doctor_id) = ctx.principal.doctor_id.clone() else {
        return Err(ctx.denied(
            ApiError::forbidden(),
            "break_glass",
            "patient",
            Some(&id),
            Some(&id),
        ));
    };
    let mut v = Validator::new();
    v.text("reason", &body.reason, 10, 1000);
    v.finish()?;
    let expires_at = now() + chrono::Duration::seconds(state.config.break_glass_seconds);
    let actor = ctx.clone();
    let grant = state
        .db
        .write(move |tx| {
            if !patient_exists(tx.conn, &id)? {
                return Err(ApiError::not_found());
            }
            let grant_id = new_id();
            diesel::insert_into(break_glass_grants::table)
                .values((
                    break_glass_grants::id.eq(&grant_id),
                    break_glass_grants::patient_id.eq(&id),
                    break_glass_grants::doctor_id.eq(&doctor_id),
                    break_glass_grants::reason.eq(body.reason.trim()),
                    break_glass_grants::created_at.eq(now()),
                    break_glass_grants::expires_at.eq(expires_at),
                ))
                .execute(tx.conn)?;
            link_care_team(tx.conn, &id, &doctor_id, "break_glass", Some(expires_at))?;
            crate::audit::record(
                tx.conn,
                &actor.entry("break_glass", "patient", Some(&id), Some(&id)),
            )?;
            notify_patient(
                tx,
                &id,
                "break_glass",
                "Emergency access to your record".to_string(),
                "A doctor used emergency (break-glass) access to your record. The access is logged and expires automatically.".to_string(),
                ("patient", &id),
            )?;
            Ok(BreakGlassGrant {
                id: grant_id,
                patient_id: id,
                doctor_id,
                reason: body.reason.trim().to_string(),
                expires_at: utc(expires_at),
            })
        })
        .await?;
    Ok(Created {
        location: format!("/api/v1/patients/{}/care-team", grant.patient_id),
        version: None,
        body: grant,
    })
}
