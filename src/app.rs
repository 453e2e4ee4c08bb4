//! Application state, start-up (database, bootstrap, background tasks) and the router.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::DefaultBodyLimit;
use axum::http::{header, HeaderValue, StatusCode};
use axum::{middleware, Router};
use tower_http::compression::CompressionLayer;
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
use crate::http::middleware::{edge, Metrics};
use crate::kit::routes::RouteTable;
use crate::realtime::Hub;

pub use crate::kit::state::{AppState, Shared};

#[derive(OpenApi)]
#[openapi(
    info(title = "healthapi", description = "Health-data API: accounts, patients, doctors, care team, notifications and a tamper-evident audit trail."),
    modifiers(&BearerAuth),
    // Schemas that only query parameters name (utoipa registers those of bodies).
    components(schemas(
        crate::http::Problem,
        crate::http::FieldError,
        crate::domains::portal::MessageBox
    )),
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

/// The OpenAPI document, generated from the handlers.
pub fn openapi() -> utoipa::openapi::OpenApi {
    routes().1
}

/// The routes and their OpenAPI document, completed with what every operation can answer
/// (`http::contract`).
fn routes() -> (Router<AppState>, utoipa::openapi::OpenApi) {
    let (router, mut api) = OpenApiRouter::<AppState>::with_openapi(ApiDoc::openapi())
        .nest("/api/v1", domains::router())
        .merge(crate::ops::router())
        .split_for_parts();
    crate::http::contract::complete(&mut api);
    (router, api)
}

/// Every route's rule: the JSON API's and the FHIR facade's (whose statements stay out of the
/// public document: FHIR clients read the facade's CapabilityStatement).
pub fn route_table() -> RouteTable {
    let mut table = RouteTable::from_openapi(&openapi());
    table.extend(RouteTable::from_openapi(&crate::fhir::mounted().1));
    table
}

/// Start-up reports audit entries edited, removed or inserted in the outbox while the server
/// was down (the sealer then records each finding in the chain instead of sealing the row).
async fn report_outbox_tampering(pool: &crate::db::DbPool, key: &[u8]) -> anyhow::Result<()> {
    let (pool, key) = (pool.clone(), key.to_vec());
    let findings = tokio::task::spawn_blocking(move || {
        let mut conn = pool.get()?;
        anyhow::Ok(crate::audit::verify::unsealed_findings(&mut conn, &key)?)
    })
    .await??;
    for finding in &findings {
        tracing::error!(%finding, "audit outbox tampered with while the server was down");
    }
    Ok(())
}

/// A started application: state, background tasks, router.
pub struct App {
    pub state: AppState,
    pub router: Router,
}

/// The generated password of the first admin goes to the operator and never into a log
/// record: onto the terminal when the server has one (stderr; logs go to stdout), else into
/// `<data dir>/initial-admin-password`, readable by its owner only, whose path is logged.
fn hand_over_admin_password(config: &Config, password: &str) -> anyhow::Result<()> {
    use std::io::{IsTerminal, Write};
    let email = &config.admin_email;
    if std::io::stderr().is_terminal() {
        eprintln!(
            "Created admin account {email} with password: {password}\nStore it now; it will not be shown again."
        );
        return Ok(());
    }
    std::fs::create_dir_all(&config.data_dir)?;
    let path = config.data_dir.join("initial-admin-password");
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut file = options
        .open(&path)
        .map_err(|e| anyhow::anyhow!("cannot write {}: {e}", path.display()))?;
    writeln!(file, "{password}")?;
    tracing::warn!(
        %email,
        path = %path.display(),
        "the first admin's generated password is in this file, readable by this user only: sign in, change it, delete the file"
    );
    Ok(())
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
    let (claiming, claimed_key) = (pool.clone(), key.clone());
    tokio::task::spawn_blocking(move || {
        crate::audit::claim_key(&mut *claiming.get()?, &claimed_key)
    })
    .await??;
    report_outbox_tampering(&pool, &key).await?;
    let audit = Audit::new(pool, key);
    let (boot_db, boot_audit, boot_config) = (db.clone(), audit.clone(), config.clone());
    let generated = tokio::task::spawn_blocking(move || {
        domains::accounts::bootstrap(&boot_db, &boot_audit, &boot_config)
    })
    .await??;
    if let Some(password) = generated {
        hand_over_admin_password(&config, &password)?;
    }
    audit.spawn_sealer(
        Duration::from_millis(config.audit_seal_interval_ms.max(1)),
        Duration::from_millis(config.audit_index_interval_ms.max(1)),
    );
    spawn_housekeeping(db.clone());
    let routes = Arc::new(route_table());
    let blobs = crate::blob::Blobs::open(config.blob_url.as_deref(), &config.data_dir)?;
    let state = AppState(Arc::new(Shared {
        blobs,
        routes,
        db,
        audit,
        sessions: Arc::new(SessionCache::default()),
        throttle: Arc::new(LoginThrottle::default()),
        hub,
        metrics: Arc::new(Metrics::default()),
        config: Arc::new(config),
    }));
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
                    crate::auth::purge_sessions(tx.conn, cutoff).map_err(crate::kit::Error::from)
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
    let (api_router, api) = routes();
    let body_limit = state.config.body_limit;
    let timeout = Duration::from_secs(state.config.request_timeout_seconds);
    let metrics = state.metrics.clone();
    let cors = cors_layer(&state.config.cors_origins);
    let router = api_router
        .merge(crate::fhir::mounted().0)
        .merge(SwaggerUi::new("/docs").url("/openapi.json", api))
        .fallback(not_found)
        .with_state(state)
        .layer(DefaultBodyLimit::max(body_limit))
        .layer(CompressionLayer::new());
    // Without configured origins there is no CORS layer at all (it was cloned per request only
    // to add nothing).
    let router = match cors {
        Some(cors) => router.layer(cors),
        None => router,
    };
    router
        .layer(TimeoutLayer::with_status_code(
            StatusCode::REQUEST_TIMEOUT,
            timeout,
        ))
        .layer(middleware::from_fn_with_state(metrics, edge))
}

/// CORS for the configured browser origins only; with none configured, none.
fn cors_layer(origins: &str) -> Option<tower_http::cors::CorsLayer> {
    use tower_http::cors::{AllowOrigin, CorsLayer};
    let list: Vec<HeaderValue> = origins
        .split(',')
        .map(str::trim)
        .filter(|o| !o.is_empty())
        .filter_map(|o| HeaderValue::from_str(o).ok())
        .collect();
    if list.is_empty() {
        return None;
    }
    let cors = CorsLayer::new()
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
        ]);
    Some(cors)
}

async fn not_found() -> crate::http::ApiError {
    crate::http::ApiError::new(StatusCode::NOT_FOUND, "not-found", "no such route")
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
