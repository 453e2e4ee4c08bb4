//! Operations endpoints: liveness, readiness, metrics.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::IntoResponse;
use diesel::prelude::*;
use serde::Serialize;
use utoipa::ToSchema;

use crate::audit::Resource;
use crate::http::ApiError;
use crate::kit::AppState;
use crate::kit::{route_as, route_unaudited, Access, Action, Perm};

/// What a denial of `/metrics` is audited as.
const METRICS: Resource = Resource::named("metrics");
const HEALTH: Resource = Resource::named("health");

pub fn router() -> utoipa_axum::router::OpenApiRouter<AppState> {
    use utoipa_axum::routes;
    utoipa_axum::router::OpenApiRouter::new()
        .routes(route_unaudited(
            Access::Public,
            HEALTH,
            "process liveness",
            routes!(healthz),
        ))
        .routes(route_unaudited(
            Access::Public,
            HEALTH,
            "database readiness",
            routes!(readyz),
        ))
        .routes(route_as(
            Access::Perm(Perm::MetricsRead),
            METRICS,
            Action::Read,
            route_unaudited(
                Access::Perm(Perm::MetricsRead),
                METRICS,
                "counters, no one's data; scraped every few seconds",
                routes!(metrics),
            ),
        ))
}

#[derive(Serialize, ToSchema)]
pub struct Health {
    pub status: &'static str,
}

/// Check that the server is alive
///
/// Public, without a token: answers `{"status": "ok"}` while the process runs, whatever the state
/// of the database. For liveness probes. Not audited.
#[utoipa::path(get, path = "/healthz", tag = "operations",
    responses((status = 200, body = Health)))]
pub async fn healthz() -> axum::Json<Health> {
    axum::Json(Health { status: "ok" })
}

/// Check that the server is ready
///
/// Public, without a token: `{"status": "ready"}` when the database answers a query, else 503. For
/// readiness probes and load balancers. Not audited.
#[utoipa::path(get, path = "/readyz", tag = "operations",
    responses((status = 200, body = Health), (status = 503, body = crate::http::Problem)))]
pub async fn readyz(State(state): State<AppState>) -> Result<axum::Json<Health>, ApiError> {
    state
        .db
        .read(|conn| {
            diesel::sql_query("SELECT 1")
                .execute(conn)
                .map_err(|e| crate::kit::Error::Unavailable(e.to_string()))
        })
        .await?;
    Ok(axum::Json(Health { status: "ready" }))
}

/// Scrape the Prometheus metrics
///
/// Needs `metrics:read` (admin, auditor). Prometheus text format: request counts and latency
/// histograms by route and status, and the audit trail's back-pressure gauges. Answers even while
/// the audit trail holds other requests back, which is when it matters. Not audited (counters, no
/// one's data); a refused scrape is.
#[utoipa::path(get, path = "/metrics", tag = "operations",
    responses((status = 200, description = "Prometheus text format", content_type = "text/plain"),
        (status = 401, body = crate::http::Problem), (status = 403, body = crate::http::Problem)))]
pub async fn metrics(
    State(state): State<AppState>,
    crate::kit::MonitoringCtx(_ctx): crate::kit::MonitoringCtx,
) -> Result<impl IntoResponse, ApiError> {
    Ok((
        StatusCode::OK,
        [(
            axum::http::header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        state.metrics.render() + &state.audit.render_metrics(),
    ))
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    /// A scrape must answer while the audit trail holds requests back: that is when its
    /// counters matter. Other authenticated requests wait meanwhile.
    #[tokio::test]
    async fn metrics_answer_while_the_audit_trail_holds_requests_back() {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}", dir.path().join("ops.db").display());
        let mut config = crate::config::Config::for_database(&url, dir.path().to_path_buf());
        config.admin_password = Some("metrics-admin-password-1".into());
        let app = crate::app::build(config.clone()).await.unwrap();
        let audit = app.state.audit.clone();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let server = tokio::spawn(crate::app::serve(app, listener, async {
            let _ = stopped.await;
        }));
        let client = reqwest::Client::new();
        let login: serde_json::Value = client
            .post(format!("{base}/api/v1/auth/login"))
            .json(&serde_json::json!({
                "email": config.admin_email,
                "password": "metrics-admin-password-1",
            }))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let token = login["access_token"].as_str().unwrap().to_string();

        let held = audit.hold_back_requests().await;
        let me = tokio::spawn({
            let (client, url, token) = (
                client.clone(),
                format!("{base}/api/v1/auth/me"),
                token.clone(),
            );
            async move {
                client
                    .get(url)
                    .bearer_auth(token)
                    .send()
                    .await
                    .unwrap()
                    .status()
            }
        });
        tokio::time::sleep(Duration::from_millis(300)).await;
        assert!(!me.is_finished(), "a request went past a full audit buffer");
        let scrape = tokio::time::timeout(
            Duration::from_secs(2),
            client
                .get(format!("{base}/metrics"))
                .bearer_auth(&token)
                .send(),
        )
        .await
        .expect("the scrape waited for the audit trail")
        .unwrap();
        assert_eq!(scrape.status(), 200);
        let text = scrape.text().await.unwrap();
        assert!(
            text.contains("\nhealthapi_audit_admit_waits_total 1\n"),
            "{text}"
        );

        drop(held);
        assert_eq!(me.await.unwrap(), 200);
        let _ = stop.send(());
        server.await.unwrap().unwrap();
    }
}
