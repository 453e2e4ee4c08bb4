//! The bare baseline server (bench-only): the same axum, r2d2 pool, Diesel driver, pragmas and
//! blocking threads as healthapi (`sys::spawn_lowered`: `spawn_blocking` on threads 5 nice steps
//! below the runtime, in SCHED_BATCH), serving the same SELECT of one patient (`patients::load`) as
//! JSON — with no auth, no access check, no audit, no middleware. It is this machine's ceiling
//! for "one row over HTTP". It runs with the server's allocator (mimalloc, and glibc's settings
//! for SQLite) and runtime settings (blocking threads capped at the pool size + 8), so the ratio
//! compares only the work.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::get;
use axum::{Json, Router};
use clap::Parser;
use healthapi::db::DbPool;
use healthapi::domains::patients::{self, Patient};

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// The server's mimalloc options, set as the server sets them (see src/main.rs).
#[used]
#[unsafe(link_section = ".init_array.00101")]
static TUNE_MIMALLOC: extern "C" fn() = healthapi::cli::tune_mimalloc;

#[derive(Parser)]
struct Args {
    #[arg(long)]
    database_url: String,
    #[arg(long, default_value = "127.0.0.1:0")]
    bind: String,
    /// The same default as the server's HEALTHAPI_POOL_SIZE.
    #[arg(long, default_value_t = 16)]
    pool_size: u32,
}

async fn patient(
    State(pool): State<DbPool>,
    Path(id): Path<healthapi::kit::PatientId>,
) -> Result<Json<Patient>, StatusCode> {
    let found = healthapi::sys::spawn_lowered(move || {
        let mut conn = pool.get().map_err(|_| StatusCode::SERVICE_UNAVAILABLE)?;
        patients::load(&mut conn, &id)
            .map(Some)
            .or_else(|e| match e {
                healthapi::kit::Error::NotFound => Ok(None),
                _ => Err(StatusCode::INTERNAL_SERVER_ERROR),
            })
    })
    .await
    .map_err(|_| StatusCode::INTERNAL_SERVER_ERROR)??;
    found.map(Json).ok_or(StatusCode::NOT_FOUND)
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    healthapi::cli::tune_malloc();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .max_blocking_threads(args.pool_size as usize + 8)
        .build()?;
    rt.block_on(async move {
        let url = args.database_url.clone();
        let pool =
            tokio::task::spawn_blocking(move || healthapi::db::connect(&url, args.pool_size))
                .await??;
        let app = Router::new()
            .route("/patients/{id}", get(patient))
            .route("/healthz", get(|| async { "ok" }))
            .with_state(pool);
        let listener = tokio::net::TcpListener::bind(&args.bind).await?;
        println!("bare listening on {}", listener.local_addr()?);
        axum::serve(listener, app).await?;
        Ok(())
    })
}
