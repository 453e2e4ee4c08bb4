//! Application state, start-up (database, bootstrap, background tasks) and the router.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::DefaultBodyLimit;
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::IntoResponse;
use axum::{middleware, Router};
use tower_http::compression::CompressionLayer;
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::timeout::TimeoutLayer;
use utoipa::OpenApi;
use utoipa_axum::router::OpenApiRouter;
use utoipa_swagger_ui::SwaggerUi;

use crate::audit::Audit;
use crate::auth::throttle::LoginThrottle;
use crate::auth::SessionCache;
use crate::config::Config;
use crate::db::{Backend, Db};
use crate::domains;
use crate::http::middleware::{observe, problemize, Metrics};
use crate::realtime::Hub;

#[derive(Clone)]
pub struct AppState {
    pub db: Db,
    pub audit: Audit,
    pub sessions: Arc<SessionCache>,
    pub throttle: Arc<LoginThrottle>,
    pub hub: Arc<Hub>,
    pub metrics: Arc<Metrics>,
    pub config: Arc<Config>,
}

#[derive(OpenApi)]
#[openapi(
    info(title = "healthapi", description = "Health-data API: accounts, patients, doctors, care team, notifications and a tamper-evident audit trail."),
    modifiers(&BearerAuth),
    security(("bearer" = [])),
    components(schemas(crate::http::Problem, crate::http::FieldError)),
)]
struct ApiDoc;

struct BearerAuth;

impl utoipa::Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
        );
    }
}

/// Every `/api/v1` route, with its OpenAPI description.
fn api_routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .merge(domains::accounts::router())
        .merge(domains::patients::router())
        .merge(domains::notifications::routes::router())
        .merge(domains::appointments::routes::router())
        .merge(domains::records::router())
        .merge(domains::consent::router())
}

/// The OpenAPI document, generated from the handlers.
pub fn openapi() -> utoipa::openapi::OpenApi {
    let (_, api) = OpenApiRouter::<AppState>::with_openapi(ApiDoc::openapi())
        .nest("/api/v1", api_routes())
        .routes(utoipa_axum::routes!(crate::ops::healthz))
        .routes(utoipa_axum::routes!(crate::ops::readyz))
        .routes(utoipa_axum::routes!(crate::ops::metrics))
        .split_for_parts();
    api
}

/// A started application: state, background tasks, router.
pub struct App {
    pub state: AppState,
    pub router: Router,
}

/// Connects, migrates, bootstraps roles and the first admin, starts the sealer and listener.
pub async fn build(config: Config) -> anyhow::Result<App> {
    let backend = Backend::of_url(&config.database_url);
    let key = crate::audit::load_key(config.audit_key.as_deref(), &config.data_dir)?;
    let url = config.database_url.clone();
    let pool_size = config.pool_size;
    let pool = tokio::task::spawn_blocking(move || crate::db::connect(&url, pool_size)).await??;
    let hub = Arc::new(Hub::default());
    if backend == Backend::Postgres {
        crate::realtime::spawn_pg_listener(config.database_url.clone(), hub.clone());
    }
    let db = Db::new(pool.clone(), backend, hub.clone());
    let audit = Audit::new(pool, key);
    let boot_config = config.clone();
    let boot_db = db.clone();
    tokio::task::spawn_blocking(move || domains::accounts::bootstrap(&boot_db, &boot_config))
        .await??;
    audit.spawn_sealer(Duration::from_millis(config.audit_seal_interval_ms.max(1)));
    spawn_housekeeping(db.clone());
    let state = AppState {
        db,
        audit,
        sessions: Arc::new(SessionCache::default()),
        throttle: Arc::new(LoginThrottle::default()),
        hub,
        metrics: Arc::new(Metrics::default()),
        config: Arc::new(config),
    };
    let router = router(state.clone());
    Ok(App { state, router })
}

/// Deletes sessions that expired or were revoked more than a day ago, every ten minutes.
/// (The day of grace keeps recent ones for investigation.)
fn spawn_housekeeping(db: Db) {
    tokio::spawn(async move {
        let mut every = tokio::time::interval(Duration::from_secs(600));
        every.tick().await;
        loop {
            every.tick().await;
            let result = db
                .write(|tx| {
                    let cutoff = crate::db::now() - chrono::Duration::days(1);
                    Ok(crate::auth::purge_sessions(tx.conn, cutoff)?)
                })
                .await;
            match result {
                Ok(n) if n > 0 => tracing::info!(deleted = n, "old sessions removed"),
                Ok(_) => {}
                Err(e) => tracing::warn!(error = %e, "session clean-up failed"),
            }
        }
    });
}

pub fn router(state: AppState) -> Router {
    let (api_router, api) = OpenApiRouter::with_openapi(ApiDoc::openapi())
        .nest("/api/v1", api_routes())
        .routes(utoipa_axum::routes!(crate::ops::healthz))
        .routes(utoipa_axum::routes!(crate::ops::readyz))
        .routes(utoipa_axum::routes!(crate::ops::metrics))
        .split_for_parts();
    let body_limit = state.config.body_limit;
    let timeout = Duration::from_secs(state.config.request_timeout_seconds);
    let metrics = state.metrics.clone();
    let cors = cors_layer(&state.config.cors_origins);
    api_router
        .merge(SwaggerUi::new("/docs").url("/openapi.json", api))
        .fallback(not_found)
        .with_state(state)
        .layer(DefaultBodyLimit::max(body_limit))
        .layer(CompressionLayer::new())
        .layer(cors)
        .layer(TimeoutLayer::with_status_code(
            StatusCode::REQUEST_TIMEOUT,
            timeout,
        ))
        .layer(middleware::from_fn_with_state(metrics, observe))
        .layer(middleware::from_fn(problemize))
        .layer(PropagateRequestIdLayer::x_request_id())
        .layer(SetRequestIdLayer::x_request_id(MakeRequestUuid))
        .layer(middleware::from_fn(drop_unfit_request_id))
        .layer(middleware::map_response(security_headers))
}

/// CORS for the configured browser origins only; with none configured, no CORS headers at all.
fn cors_layer(origins: &str) -> tower_http::cors::CorsLayer {
    use tower_http::cors::{AllowOrigin, CorsLayer};
    let list: Vec<HeaderValue> = origins
        .split(',')
        .map(str::trim)
        .filter(|o| !o.is_empty())
        .filter_map(|o| HeaderValue::from_str(o).ok())
        .collect();
    if list.is_empty() {
        return CorsLayer::new();
    }
    CorsLayer::new()
        .allow_origin(AllowOrigin::list(list))
        .allow_methods([
            axum::http::Method::GET,
            axum::http::Method::POST,
            axum::http::Method::PATCH,
            axum::http::Method::PUT,
            axum::http::Method::DELETE,
        ])
        .allow_headers([
            header::AUTHORIZATION,
            header::CONTENT_TYPE,
            header::IF_MATCH,
            header::HeaderName::from_static("idempotency-key"),
            header::HeaderName::from_static("last-event-id"),
        ])
        .expose_headers([
            header::ETAG,
            header::LOCATION,
            header::HeaderName::from_static("x-request-id"),
        ])
}

/// A caller's `x-request-id` is echoed and written into audit entries and logs: only a short
/// id of plain characters is kept; anything else is replaced by a fresh one.
async fn drop_unfit_request_id(
    mut req: axum::extract::Request,
    next: middleware::Next,
) -> axum::response::Response {
    let fit = |v: &HeaderValue| {
        let b = v.as_bytes();
        !b.is_empty()
            && b.len() <= 128
            && b.iter()
                .all(|c| c.is_ascii_alphanumeric() || b"-_.:/+=".contains(c))
    };
    let ids = req.headers().get_all("x-request-id");
    let keep = ids.iter().count() == 1 && ids.iter().all(fit);
    if !keep {
        req.headers_mut().remove("x-request-id");
    }
    next.run(req).await
}

async fn not_found() -> crate::http::ApiError {
    crate::http::ApiError::new(StatusCode::NOT_FOUND, "not-found", "no such route")
}

async fn security_headers(mut resp: axum::response::Response) -> axum::response::Response {
    let h = resp.headers_mut();
    h.insert(
        "x-content-type-options",
        HeaderValue::from_static("nosniff"),
    );
    h.entry(header::CACHE_CONTROL)
        .or_insert(HeaderValue::from_static("no-store"));
    resp
}

/// Serves until `shutdown` resolves; then stops accepting, gives open requests a few seconds,
/// and seals every pending audit entry before returning.
pub async fn serve(
    app: App,
    listener: tokio::net::TcpListener,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    let (stop_tx, mut stop_rx) = tokio::sync::watch::channel(false);
    let server = axum::serve(
        listener,
        app.router
            .into_make_service_with_connect_info::<SocketAddr>(),
    )
    .with_graceful_shutdown(async move {
        shutdown.await;
        let _ = stop_tx.send(true);
    });
    let server = tokio::spawn(async move { server.await });
    let _ = stop_rx.changed().await;
    // Ends open SSE streams (and the PostgreSQL listener) so graceful shutdown can finish; the
    // wait stays bounded in case a request hangs.
    app.state.hub.stop();
    let _ = tokio::time::timeout(Duration::from_secs(5), server).await;
    app.state.audit.stop();
    let sealed = app.state.audit.flush().await?;
    tracing::info!(sealed, "shut down; audit entries flushed");
    Ok(())
}

pub async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        if let Ok(mut s) = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        {
            s.recv().await;
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {},
        _ = terminate => {},
    }
}

/// Not a route: a helper the ops handlers use to answer plain text.
pub fn text(body: String, content_type: &'static str) -> impl IntoResponse {
    ([(header::CONTENT_TYPE, content_type)], body)
}
