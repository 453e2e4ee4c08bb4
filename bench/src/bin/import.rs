//! `import`: `healthapi import fhir`, measured. Prints two things for a folder of FHIR bundles:
//!
//! 1. the raw baseline: every resource of every bundle stored as it is (id, type, JSON) into a
//!    fresh SQLite database, in batches of 1,000 rows, one transaction per bundle — what a FHIR
//!    document store does at the least;
//! 2. the release `healthapi import fhir` on a fresh database (SQLite, and PostgreSQL with
//!    `--postgres-url`), as resources read per second (every entry of every bundle, the figure
//!    FHIR servers quote) and rows loaded per second (what became our patients, visits,
//!    orders, results, prescriptions: each through the domain functions, with its care-team
//!    links, notifications and audit entries), from the import's own summary.
//!
//! ```sh
//! PY="$(bash .ci/fhir_tools.sh | tail -1)"
//! "$(dirname "$PY")/synthea" -p 50 -s 42 -r 20250101 -o /tmp/pop       # 50 patients
//! cargo build --release -p healthapi -p healthapi-bench --bins
//! target/release/import /tmp/pop/fhir [--postgres-url postgres://postgres@127.0.0.1:5432/postgres]
//! ```

use std::process::Command;
use std::time::Instant;

use diesel::connection::SimpleConnection;
use diesel::prelude::*;

const ADMIN_PASSWORD: &str = "import-admin-password-1";

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let path = args
        .first()
        .ok_or_else(|| anyhow::anyhow!("usage: import FOLDER [--postgres-url URL]"))?;
    let postgres = args
        .iter()
        .position(|a| a == "--postgres-url")
        .and_then(|i| args.get(i + 1));
    let dir = std::env::temp_dir().join(format!("healthapi-import-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    let result = (|| -> anyhow::Result<()> {
        let (resources, raw) = raw_baseline(&dir, path)?;
        println!(
            "raw: {resources} resources stored as JSON rows in-process (SQLite): {raw:.0} resources/s"
        );
        let sqlite = format!("sqlite://{}", dir.join("import.db").display());
        report("sqlite", &import(&dir, &sqlite, path)?, raw);
        if let Some(admin) = postgres {
            let name = format!("healthapi_import_bench_{}", std::process::id());
            let url = fresh_postgres(admin, &name)?;
            let measured = import(&dir, &url, path);
            drop_postgres(admin, &name)?;
            report("postgres", &measured?, raw);
        }
        Ok(())
    })();
    let _ = std::fs::remove_dir_all(&dir);
    result
}

fn report(backend: &str, m: &Measured, raw: f64) {
    println!(
        "import ({backend}): {} resources read, {} loaded in {:.1} s: {:.0} resources/s read ({:.2} × raw), {:.0} rows/s loaded",
        m.read,
        m.loaded,
        m.seconds,
        m.read as f64 / m.seconds,
        m.read as f64 / m.seconds / raw,
        m.loaded as f64 / m.seconds
    );
}

/// The bundles' files, in name order.
fn files(path: &str) -> anyhow::Result<Vec<std::path::PathBuf>> {
    let mut out: Vec<_> = std::fs::read_dir(path)?
        .map(|e| e.map(|e| e.path()))
        .collect::<Result<_, _>>()?;
    out.retain(|p| p.extension().is_some_and(|x| x == "json"));
    out.sort();
    Ok(out)
}

/// Every resource stored as (id, type, JSON), a transaction per bundle, 1,000 rows per INSERT.
fn raw_baseline(dir: &std::path::Path, path: &str) -> anyhow::Result<(usize, f64)> {
    let url = format!("sqlite://{}", dir.join("raw.db").display());
    let pool = healthapi::db::connect(&url, 1)?;
    let mut conn = pool.get()?;
    conn.batch_execute(
        "CREATE TABLE raw_resources (id TEXT PRIMARY KEY NOT NULL, kind TEXT NOT NULL, body TEXT NOT NULL)",
    )?;
    let bundles: Vec<serde_json::Value> = files(path)?
        .iter()
        .map(|f| Ok(serde_json::from_slice(&std::fs::read(f)?)?))
        .collect::<anyhow::Result<_>>()?;
    let started = Instant::now();
    let mut n = 0;
    for b in &bundles {
        let rows: Vec<(String, String, String)> = b["entry"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|e| {
                let r = &e["resource"];
                let kind = r["resourceType"].as_str().unwrap_or_default().to_string();
                let id = format!("{kind}/{}", r["id"].as_str().unwrap_or_default());
                (id, kind, r.to_string())
            })
            .collect();
        conn.batch_execute("BEGIN IMMEDIATE")?;
        for chunk in rows.chunks(1000) {
            // Literal values (quotes doubled): one statement per 1,000 rows.
            let quote = |v: &str| format!("'{}'", v.replace('\'', "''"));
            let values: Vec<String> = chunk
                .iter()
                .map(|(id, kind, body)| {
                    format!("({}, {}, {})", quote(id), quote(kind), quote(body))
                })
                .collect();
            conn.batch_execute(&format!(
                "INSERT INTO raw_resources (id, kind, body) VALUES {} ON CONFLICT (id) DO NOTHING",
                values.join(",")
            ))?;
        }
        conn.batch_execute("COMMIT")?;
        n += rows.len();
    }
    Ok((n, n as f64 / started.elapsed().as_secs_f64()))
}

struct Measured {
    read: usize,
    loaded: usize,
    seconds: f64,
}

/// Runs the release `healthapi import fhir` on the database `url`; its summary's counts and
/// the command's wall time.
fn import(dir: &std::path::Path, url: &str, path: &str) -> anyhow::Result<Measured> {
    let bin = std::env::current_exe()?
        .parent()
        .expect("the binary is in a folder")
        .join("healthapi");
    let data = dir.join(format!("data-{}", url.split(':').next().unwrap_or("db")));
    // Migrations and the first admin before the clock starts.
    let migrate = Command::new(&bin)
        .arg("migrate")
        .env("DATABASE_URL", url)
        .env("HEALTHAPI_DATA_DIR", &data)
        .env("HEALTHAPI_ADMIN_PASSWORD", ADMIN_PASSWORD)
        .env("RUST_LOG", "warn")
        .output()?;
    anyhow::ensure!(migrate.status.success(), "migrate failed");
    let started = Instant::now();
    let out = Command::new(&bin)
        .args(["import", "fhir", path])
        .env("DATABASE_URL", url)
        .env("HEALTHAPI_DATA_DIR", &data)
        .env("HEALTHAPI_ADMIN_PASSWORD", ADMIN_PASSWORD)
        .env("RUST_LOG", "warn")
        .output()?;
    let seconds = started.elapsed().as_secs_f64();
    let stdout = String::from_utf8_lossy(&out.stdout);
    anyhow::ensure!(
        out.status.success(),
        "import failed: {stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // "imported N file(s) in Xs: R resources read, L loaded (...)"
    let number_before = |word: &str| -> Option<usize> {
        let i = stdout.find(word)?;
        stdout[..i].split_whitespace().last()?.parse().ok()
    };
    Ok(Measured {
        read: number_before(" resources read").unwrap_or(0),
        loaded: number_before(" loaded (").unwrap_or(0),
        seconds,
    })
}

fn fresh_postgres(admin: &str, name: &str) -> anyhow::Result<String> {
    let mut c = diesel::PgConnection::establish(admin)?;
    c.batch_execute(&format!("CREATE DATABASE {name}"))?;
    let base = admin.rsplit_once('/').map_or(admin, |(b, _)| b);
    Ok(format!("{base}/{name}"))
}

fn drop_postgres(admin: &str, name: &str) -> anyhow::Result<()> {
    let mut c = diesel::PgConnection::establish(admin)?;
    c.batch_execute(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))?;
    Ok(())
}
