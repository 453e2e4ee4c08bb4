//! Operations endpoints: liveness, readiness, metrics.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::IntoResponse;
use diesel::prelude::*;
use serde::Serialize;
use utoipa::ToSchema;

use crate::app::{text, AppState};
use crate::http::ApiError;

#[derive(Serialize, ToSchema)]
pub struct Health {
    pub status: &'static str,
}

/// The process is up.
#[utoipa::path(get, path = "/healthz", tag = "operations", security(),
    responses((status = 200, body = Health)))]
pub async fn healthz() -> axum::Json<Health> {
    axum::Json(Health { status: "ok" })
}

/// The database answers.
#[utoipa::path(get, path = "/readyz", tag = "operations", security(),
    responses((status = 200, body = Health), (status = 503, body = crate::http::Problem)))]
pub async fn readyz(State(state): State<AppState>) -> Result<axum::Json<Health>, ApiError> {
    state
        .db
        .read(|conn| {
            diesel::sql_query("SELECT 1")
                .execute(conn)
                .map_err(ApiError::unavailable)
        })
        .await?;
    Ok(axum::Json(Health { status: "ready" }))
}

/// Prometheus text: request counts and latency histograms by route and status. Needs a token
/// with `metrics:read` (admin, auditor): API.md exempts only health, readiness and the docs.
#[utoipa::path(get, path = "/metrics", tag = "operations",
    responses((status = 200, description = "Prometheus text format", content_type = "text/plain"),
        (status = 401, body = crate::http::Problem), (status = 403, body = crate::http::Problem)))]
pub async fn metrics(
    State(state): State<AppState>,
    ctx: crate::auth::Ctx,
) -> Result<impl IntoResponse, ApiError> {
    ctx.require(
        crate::auth::permissions::Perm::MetricsRead,
        "read",
        "metrics",
    )?;
    Ok((
        StatusCode::OK,
        text(
            state.metrics.render() + &state.audit.render_metrics(),
            "text/plain; version=0.0.4; charset=utf-8",
        ),
    ))
}
