//! The benchmark driver. See BENCHMARKS.md.
//!
//! `cargo run --release -p healthapi-bench -- [--postgres-url URL] [--duration S] ...`
//!
//! For each backend: a fresh database, seeded through the domain functions; the raw in-process
//! baselines; the bare baseline server under load; then the release `healthapi serve` (start to
//! ready measured on the existing database), driven over HTTP by a separate load process
//! (`bench load <spec>`, this same binary) through each workload. Prints one markdown table per
//! backend and the targets.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use clap::Parser;

use healthapi::db::Backend;
use healthapi_bench::load::{self, Fixture, LoadResult, LoadSpec, Stats, Workload};
use healthapi_bench::raw::{self, RawResult, RawWork};
use healthapi_bench::seed::{self, SeedSize};
use healthapi_bench::{client, procfs};

#[derive(Parser, Debug, Clone)]
#[command(
    name = "bench",
    about = "healthapi benchmark harness (see BENCHMARKS.md)"
)]
struct Opts {
    /// Measured seconds per workload.
    #[arg(long, default_value_t = 10.0)]
    duration: f64,
    /// Unmeasured seconds before each workload's measurement.
    #[arg(long, default_value_t = 2.0)]
    warmup: f64,
    /// Concurrent keep-alive connections of the load process.
    #[arg(long, default_value_t = 64)]
    connections: usize,
    /// Also benchmark PostgreSQL: a fresh database is created on this server and dropped after.
    #[arg(long)]
    postgres_url: Option<String>,
    /// Comma-separated: sqlite, postgres. Default: sqlite, plus postgres when a URL is given.
    #[arg(long)]
    backends: Option<String>,
    #[arg(long, default_value_t = 10_000)]
    patients: usize,
    #[arg(long, default_value_t = 50)]
    doctors: usize,
    #[arg(long, default_value_t = 100_000)]
    appointments: usize,
    /// HEALTHAPI_POOL_SIZE for the server (and the bare server, and the raw baselines' pool).
    #[arg(long, default_value_t = 16)]
    pool_size: u32,
    /// Worker threads of the load process.
    #[arg(long, default_value_t = 1)]
    load_threads: usize,
    /// Threads of the raw read baselines (default: the number of CPUs).
    #[arg(long)]
    raw_read_threads: Option<usize>,
    /// Threads of the raw booking baseline (default: 1 on SQLite, which has one writer at a
    /// time; 16 on PostgreSQL).
    #[arg(long)]
    raw_write_threads: Option<usize>,
    /// Requests/s of the mixed open-loop run (default: half the capacity the closed-loop runs
    /// imply for the 50/20/30 mix).
    #[arg(long)]
    mixed_rate: Option<f64>,
    /// How many times the server is started on the seeded database to time start-to-ready.
    #[arg(long, default_value_t = 3)]
    restarts: usize,
    /// Run only these parts (comma-separated): raw, bare, healthz, patient, appointments, book,
    /// p80, mixed. Default: all.
    #[arg(long)]
    only: Option<String>,
    /// Extra environment for the server, KEY=VALUE (repeatable), e.g. RUST_LOG=warn.
    #[arg(long = "server-env")]
    server_env: Vec<String>,
    /// Record a perf profile of the server during each HTTP workload into this folder.
    #[arg(long)]
    perf_dir: Option<PathBuf>,
    /// Keep the databases and data folders.
    #[arg(long)]
    keep: bool,
    /// Do not build the server binaries first.
    #[arg(long)]
    no_build: bool,
}

impl Opts {
    fn wants(&self, part: &str) -> bool {
        match &self.only {
            None => true,
            Some(list) => list.split(',').any(|p| p.trim() == part),
        }
    }
}

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    if args.get(1).map(String::as_str) == Some("load") {
        let path = args
            .get(2)
            .ok_or_else(|| anyhow::anyhow!("usage: bench load <spec.json>"))?;
        let spec: LoadSpec = serde_json::from_str(&std::fs::read_to_string(path)?)?;
        let result = load::run(spec)?;
        println!("{}", serde_json::to_string(&result)?);
        return Ok(());
    }
    let opts = Opts::parse();
    let root = workspace_root();
    let bin_dir = std::env::current_exe()?
        .parent()
        .expect("the binary is in a folder")
        .to_path_buf();
    if !opts.no_build {
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
        eprintln!("building the release server and the bare baseline...");
        let mut build = Command::new(cargo);
        if opts.perf_dir.is_some() {
            // Call graphs need the debug info the release profile leaves out.
            build.env("CARGO_PROFILE_RELEASE_DEBUG", "1");
        }
        let status = build
            .current_dir(&root)
            .args([
                "build",
                "--release",
                "-p",
                "healthapi",
                "-p",
                "healthapi-bench",
                "--bins",
            ])
            .status()?;
        anyhow::ensure!(status.success(), "cargo build failed");
    }
    let server_bin = bin_dir.join("healthapi");
    let bare_bin = bin_dir.join("bare");
    anyhow::ensure!(server_bin.exists(), "{} is missing", server_bin.display());
    let backends: Vec<Backend> = match &opts.backends {
        Some(list) => list
            .split(',')
            .map(|b| match b.trim() {
                "sqlite" => Ok(Backend::Sqlite),
                "postgres" | "postgresql" => Ok(Backend::Postgres),
                other => Err(anyhow::anyhow!("unknown backend {other}")),
            })
            .collect::<Result<_, _>>()?,
        None if opts.postgres_url.is_some() => vec![Backend::Sqlite, Backend::Postgres],
        None => vec![Backend::Sqlite],
    };
    let out_dir = root.join("target").join("bench");
    std::fs::create_dir_all(&out_dir)?;
    let machine = machine();
    let mut report = String::new();
    let _ = writeln!(
        report,
        "# healthapi benchmark, {}\n\n{machine}\n\nCommand: `{}`\n",
        chrono::Utc::now().format("%Y-%m-%d %H:%M UTC"),
        std::env::args().collect::<Vec<_>>().join(" ")
    );
    for backend in backends {
        let r = run_backend(&opts, backend, &root, &server_bin, &bare_bin)?;
        println!("{r}");
        report.push_str(&r);
    }
    let path = out_dir.join("results.md");
    std::fs::write(&path, &report)?;
    eprintln!("written to {}", path.display());
    Ok(())
}

fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("bench/ is inside the workspace")
        .to_path_buf()
}

fn machine() -> String {
    let cpus = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(0);
    let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let model = cpuinfo
        .lines()
        .find(|l| l.starts_with("model name"))
        .and_then(|l| l.split_once(':'))
        .map(|(_, m)| m.trim().to_string())
        .unwrap_or_default();
    let meminfo = std::fs::read_to_string("/proc/meminfo").unwrap_or_default();
    let mem_kb: u64 = meminfo
        .lines()
        .find(|l| l.starts_with("MemTotal:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    let load = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    format!(
        "Machine: {cpus} CPUs ({model}), {:.1} GiB memory; load average at start: {}",
        mem_kb as f64 / 1048576.0,
        load.split_whitespace()
            .take(3)
            .collect::<Vec<_>>()
            .join(" ")
    )
}

fn free_addr() -> anyhow::Result<String> {
    let l = std::net::TcpListener::bind("127.0.0.1:0")?;
    Ok(l.local_addr()?.to_string())
}

/// Polls `path` until it answers 200; returns when it did.
fn wait_ready(addr: &str, path: &str, child: &mut Child, limit: Duration) -> anyhow::Result<()> {
    let start = Instant::now();
    loop {
        if let Ok((200, _)) = client::call(addr, "GET", path, None, None) {
            return Ok(());
        }
        if let Some(status) = child.try_wait()? {
            anyhow::bail!("the server exited before it was ready: {status}");
        }
        anyhow::ensure!(start.elapsed() < limit, "the server was not ready in time");
        std::thread::sleep(Duration::from_millis(1));
    }
}

fn stop(child: &mut Child) -> anyhow::Result<()> {
    // SAFETY: kill(2) on our own child's pid.
    unsafe {
        libc::kill(child.id() as i32, libc::SIGTERM);
    }
    let start = Instant::now();
    while child.try_wait()?.is_none() {
        if start.elapsed() > Duration::from_secs(30) {
            child.kill()?;
            break;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    child.wait()?;
    Ok(())
}

/// Waits (at most 5 minutes) until the server uses under 5% of a CPU over 250 ms; returns the
/// wait and the CPU seconds the server used meanwhile.
fn wait_idle(pid: u32) -> (f64, f64) {
    let start = Instant::now();
    let cpu0 = procfs::cpu_secs(pid).unwrap_or(0.0);
    let mut last = cpu0;
    loop {
        std::thread::sleep(Duration::from_millis(250));
        let now = procfs::cpu_secs(pid).unwrap_or(last);
        if now - last < 0.0125 || start.elapsed() > Duration::from_secs(300) {
            return (start.elapsed().as_secs_f64() - 0.25, now - cpu0);
        }
        last = now;
    }
}

struct Server {
    child: Child,
    addr: String,
}

/// A server left behind by an error must not keep running (and eating CPU) after the driver.
impl Drop for Server {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

fn spawn_server(
    opts: &Opts,
    bin: &Path,
    fresh: &seed::FreshDb,
    log: &Path,
) -> anyhow::Result<(Server, Duration)> {
    let addr = free_addr()?;
    let out = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(log)?;
    let mut cmd = Command::new(bin);
    cmd.arg("serve")
        .env("DATABASE_URL", &fresh.url)
        .env("HEALTHAPI_BIND", &addr)
        .env("HEALTHAPI_DATA_DIR", &fresh.data_dir)
        .env("HEALTHAPI_ADMIN_PASSWORD", seed::ADMIN_PASSWORD)
        .env("HEALTHAPI_POOL_SIZE", opts.pool_size.to_string())
        .stdin(Stdio::null())
        .stdout(out.try_clone()?)
        .stderr(out);
    for kv in &opts.server_env {
        if let Some((k, v)) = kv.split_once('=') {
            cmd.env(k, v);
        }
    }
    let started = Instant::now();
    let mut child = cmd.spawn()?;
    wait_ready(&addr, "/readyz", &mut child, Duration::from_secs(60))?;
    let ready = started.elapsed();
    Ok((Server { child, addr }, ready))
}

/// Runs one load spec in a separate process (this binary, `load` subcommand) and measures the
/// server process meanwhile.
struct Measured {
    load: LoadResult,
    /// Seconds the server stayed busy after the load stopped.
    drain_secs: f64,
    server_cpu_secs: f64,
    /// Bytes the server wrote to storage over the same window (WAL, checkpoints, logs).
    server_written_bytes: f64,
    server_peak_rss_mb: f64,
    /// The server's CPU and context switches over the same window, by thread name.
    by_thread: BTreeMap<String, procfs::ThreadCounters>,
    /// Requests that waited for the audit trail to catch up over the same window (healthapi's
    /// `healthapi_audit_admit_waits_total`).
    admit_waits: Option<u64>,
}

/// Where to read healthapi's own counters: its address and an admin's token (`/metrics`).
struct Trail {
    addr: String,
    token: String,
}

impl Trail {
    /// `healthapi_audit_admit_waits_total` now.
    fn admit_waits(&self) -> Option<u64> {
        let (status, text) =
            client::call(&self.addr, "GET", "/metrics", Some(&self.token), None).ok()?;
        if status != 200 {
            return None;
        }
        text.lines()
            .find_map(|l| l.strip_prefix("healthapi_audit_admit_waits_total "))?
            .trim()
            .parse()
            .ok()
    }
}

fn drive(
    opts: &Opts,
    name: &str,
    spec: LoadSpec,
    server_pid: u32,
    dir: &Path,
    trail: Option<&Trail>,
) -> anyhow::Result<Measured> {
    let spec_path = dir.join(format!("spec-{name}.json"));
    std::fs::write(&spec_path, serde_json::to_string(&spec)?)?;
    let perf = match &opts.perf_dir {
        Some(d) => {
            std::fs::create_dir_all(d)?;
            Some(
                Command::new("perf")
                    .args(["record", "-F", "199", "--call-graph", "dwarf,16384", "-o"])
                    .arg(d.join(format!("{name}.perf.data")))
                    .args(["-p", &server_pid.to_string(), "--", "sleep"])
                    .arg(format!("{}", spec.warmup_secs + spec.duration_secs))
                    .stdout(Stdio::null())
                    .stderr(Stdio::null())
                    .spawn()?,
            )
        }
        None => None,
    };
    let child = Command::new(std::env::current_exe()?)
        .arg("load")
        .arg(&spec_path)
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()?;
    // The server's CPU time over the measured window only (the load process starts measuring
    // after its warm-up; process start-up is a few milliseconds).
    std::thread::sleep(Duration::from_secs_f64(spec.warmup_secs));
    let cpu0 = procfs::cpu_secs(server_pid).unwrap_or(0.0);
    let threads0 = procfs::threads(server_pid);
    let waits0 = trail.and_then(Trail::admit_waits);
    let written0 = procfs::written_bytes(server_pid).unwrap_or(0);
    std::thread::sleep(Duration::from_secs_f64(spec.duration_secs));
    let cpu = procfs::cpu_secs(server_pid).unwrap_or(0.0) - cpu0;
    let output = child.wait_with_output()?;
    anyhow::ensure!(
        output.status.success(),
        "the load process failed: {}",
        output.status
    );
    let load: LoadResult = serde_json::from_slice(&output.stdout)?;
    // Read before the drain too: a blocking thread left idle through a long drain ends, and
    // what it did would be lost with it.
    let threads_loaded = procfs::threads(server_pid);
    if let Some(mut p) = perf {
        let _ = p.wait();
    }
    // Work the requests left behind (the audit sealer's backlog of read entries) is part of
    // their cost, and must not run into the next workload: wait until the server is idle.
    let (drain_secs, drain_cpu) = wait_idle(server_pid);
    let admit_waits = waits0
        .zip(trail.and_then(Trail::admit_waits))
        .map(|(before, after)| after.saturating_sub(before));
    let by_thread =
        procfs::threads_delta(&threads0, &[&threads_loaded, &procfs::threads(server_pid)]);
    // Disk writes over the same window as CPU, drain included (the sealer's WAL frames and the
    // checkpoints that copy them back are part of the requests' cost).
    let written = procfs::written_bytes(server_pid)
        .unwrap_or(written0)
        .saturating_sub(written0);
    let m = Measured {
        server_cpu_secs: cpu + drain_cpu,
        server_written_bytes: written as f64,
        drain_secs,
        server_peak_rss_mb: procfs::peak_rss_mib(server_pid).unwrap_or(0.0) * 1.048576,
        load,
        by_thread,
        admit_waits,
    };
    eprintln!(
        "  {name:<14} {:>9.0} req/s  p50 {:>7.2} ms  p99 {:>7.2} ms  errors {}  (load cpu {:.1}s, server busy {:.1}s after){}",
        m.load.rps(),
        m.load.all.p50_us as f64 / 1000.0,
        m.load.all.p99_us as f64 / 1000.0,
        m.load.all.errors + m.load.connection_errors,
        m.load.load_cpu_secs,
        m.drain_secs,
        m.load
            .first_error
            .as_deref()
            .map(|e| format!("  first error: {e}"))
            .unwrap_or_default()
    );
    let reqs = m.load.all.requests.max(1) as f64;
    eprintln!(
        "  {:<14} {}server µs/req by thread: {}",
        "",
        m.admit_waits
            .map(|w| format!("{w} requests waited for the audit trail; "))
            .unwrap_or_default(),
        m.by_thread
            .iter()
            .filter(|(_, c)| c.cpu_secs > 0.0)
            .map(|(n, c)| format!("{n} {:.1}", c.cpu_secs / reqs * 1e6))
            .collect::<Vec<_>>()
            .join(", ")
    );
    Ok(m)
}

struct Row {
    name: String,
    mode: String,
    rps: f64,
    stats: Stats,
    errors: u64,
    cpu_per_1k: Option<f64>,
    written_kb_per_req: Option<f64>,
    peak_rss_mb: Option<f64>,
    raw: Option<f64>,
    drain: Option<f64>,
    by_thread: BTreeMap<String, procfs::ThreadCounters>,
    admit_waits: Option<u64>,
}

/// The server's CPU by thread kind per request (µs) and its context switches per request, for
/// each workload row: where a request's cost goes, and how it moves between closed loop and a
/// fixed rate (wake-ups show as switches). Threads are grouped by name: "db-blocking" are the
/// blocking threads that ran database work or password hashes (`sys::spawn_lowered`),
/// "tokio-rt-worker" the runtime's workers and any blocking thread that has not yet. The
/// window is the CPU column's (measured window and drain) plus the moment between the two in
/// which the load process exits, so the sum can be slightly above that column. Per-thread
/// times are counted in the kernel's 10 ms ticks.
fn write_cpu_by_thread(out: &mut String, rows: &[Row]) {
    let measured: Vec<&Row> = rows.iter().filter(|r| !r.by_thread.is_empty()).collect();
    if measured.is_empty() {
        return;
    }
    let _ = writeln!(
        out,
        "\nServer CPU by thread, µs per request (context switches per request), and the requests that waited for the audit trail to catch up (`admit`):\n\n| workload | mode | waited | threads |\n|---|---|---:|---|"
    );
    for r in measured {
        let reqs = r.stats.requests.max(1) as f64;
        let mut kinds: Vec<(&String, &procfs::ThreadCounters)> = r.by_thread.iter().collect();
        kinds.sort_by(|a, b| b.1.cpu_secs.total_cmp(&a.1.cpu_secs));
        let cells: Vec<String> = kinds
            .into_iter()
            .filter(|(_, c)| c.cpu_secs > 0.0 || c.switches > 0)
            .map(|(name, c)| {
                format!(
                    "{name} {:.1} ({:.2})",
                    c.cpu_secs / reqs * 1e6,
                    c.switches as f64 / reqs
                )
            })
            .collect();
        let waited = r.admit_waits.map(|w| w.to_string()).unwrap_or_default();
        let _ = writeln!(
            out,
            "| {} | {} | {waited} | {} |",
            r.name,
            r.mode,
            cells.join(", ")
        );
    }
}

fn ms(us: u64) -> String {
    format!("{:.2}", us as f64 / 1000.0)
}

fn row(name: &str, mode: &str, m: &Measured, raw: Option<f64>) -> Row {
    let reqs = m.load.all.requests.max(1) as f64;
    Row {
        name: name.into(),
        mode: mode.into(),
        rps: m.load.rps(),
        stats: m.load.all.clone(),
        errors: m.load.all.errors + m.load.connection_errors,
        cpu_per_1k: Some(m.server_cpu_secs / reqs * 1000.0),
        written_kb_per_req: Some(m.server_written_bytes / reqs / 1024.0),
        peak_rss_mb: Some(m.server_peak_rss_mb),
        raw,
        drain: Some(m.drain_secs),
        by_thread: m.by_thread.clone(),
        admit_waits: m.admit_waits,
    }
}

fn spec(
    opts: &Opts,
    addr: &str,
    workload: Workload,
    rate: Option<f64>,
    booking_start: u64,
    fixture: &Fixture,
) -> LoadSpec {
    LoadSpec {
        addr: addr.to_string(),
        workload,
        connections: opts.connections,
        duration_secs: opts.duration,
        warmup_secs: opts.warmup,
        rate,
        threads: opts.load_threads,
        booking_start,
        fixture: fixture.clone(),
    }
}

const BOOKING_RANGE: u64 = 10_000_000;

fn run_backend(
    opts: &Opts,
    backend: Backend,
    root: &Path,
    server_bin: &Path,
    bare_bin: &Path,
) -> anyhow::Result<String> {
    let name = match backend {
        Backend::Sqlite => "SQLite",
        Backend::Postgres => "PostgreSQL",
    };
    eprintln!("== {name}: fresh database");
    let fresh = seed::fresh(
        backend,
        opts.postgres_url.as_deref(),
        &root.join("target").join("bench"),
        opts.keep,
    )?;
    let seeded = seed::seed(
        &fresh,
        SeedSize {
            doctors: opts.doctors,
            patients: opts.patients,
            appointments: opts.appointments,
        },
    )?;
    let mut fixture = seeded.fixture.clone();
    let doctor_users: Vec<String> = seeded.doctors.iter().map(|(_, u, _)| u.clone()).collect();
    let warmup = Duration::from_secs_f64(opts.warmup);
    let duration = Duration::from_secs_f64(opts.duration);
    let cpus = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(2);
    let read_threads = opts.raw_read_threads.unwrap_or(cpus);
    let write_threads = opts.raw_write_threads.unwrap_or(match backend {
        Backend::Sqlite => 1,
        Backend::Postgres => 16,
    });

    // Raw baselines, in this process, before any server runs.
    let mut raws: [Option<RawResult>; 3] = [None, None, None];
    if opts.wants("raw") {
        eprintln!("== {name}: raw baselines (in-process, same driver)");
        let pool = healthapi::db::connect(&fresh.url, opts.pool_size.max(write_threads as u32))?;
        let db = healthapi::db::Db::new(pool.clone(), backend, Default::default());
        let key = healthapi::audit::load_key(None, &fresh.data_dir)?;
        let audit = healthapi::audit::Audit::new(pool.clone(), key.clone());
        for (i, (work, threads)) in [
            (RawWork::Patient, read_threads),
            (RawWork::Appointments, read_threads),
            (RawWork::Book, write_threads),
        ]
        .into_iter()
        .enumerate()
        {
            let r = raw::run(
                work,
                &pool,
                &db,
                &audit,
                &fixture,
                &doctor_users,
                threads,
                warmup,
                duration,
                0,
            )?;
            eprintln!(
                "  raw {work:?}: {:.0} ops/s on {threads} thread(s), p50 {} ms, p99 {} ms, errors {}",
                r.ops_per_sec,
                ms(r.stats.p50_us),
                ms(r.stats.p99_us),
                r.stats.errors
            );
            raws[i] = Some(r);
        }
        // The raw bookings' audit entries go into the chain like any other.
        let mut conn = pool.get()?;
        while healthapi::audit::seal(&mut conn, &key, &[])?.more {}
    }
    let raw_rate = |i: usize| raws[i].as_ref().map(|r| r.ops_per_sec);

    let mut rows: Vec<Row> = Vec::new();
    let log = fresh.data_dir.join("server.log");

    // The bare baseline server.
    let mut bare_rps = None;
    if opts.wants("bare") && bare_bin.exists() {
        eprintln!("== {name}: bare baseline server");
        let addr = free_addr()?;
        let mut child = Command::new(bare_bin)
            .args(["--database-url", &fresh.url, "--bind", &addr])
            .arg("--pool-size")
            .arg(opts.pool_size.to_string())
            .stdout(Stdio::null())
            .spawn()?;
        wait_ready(&addr, "/healthz", &mut child, Duration::from_secs(60))?;
        let m = drive(
            opts,
            "bare",
            spec(opts, &addr, Workload::Bare, None, 0, &fixture),
            child.id(),
            &fresh.data_dir,
            None,
        )?;
        bare_rps = Some(m.load.rps());
        rows.push(row(
            "bare baseline: GET /patients/{id}, no auth/audit",
            "closed",
            &m,
            raw_rate(0),
        ));
        // The control for the p99 target: the ceiling's own p99 at 80% of its own peak, on the
        // same 2 cores with the same load process.
        if opts.wants("p80") && m.load.rps() > 0.0 {
            let rate = (m.load.rps() * 0.8).round();
            let m = drive(
                opts,
                "bare-p80",
                spec(opts, &addr, Workload::Bare, Some(rate), 0, &fixture),
                child.id(),
                &fresh.data_dir,
                None,
            )?;
            rows.push(row(
                "bare baseline at 80% of its peak",
                &format!("open {rate:.0}/s"),
                &m,
                None,
            ));
        }
        stop(&mut child)?;
    }

    // The server: start to ready on the existing (seeded) database, several times.
    eprintln!("== {name}: healthapi serve");
    let mut readies = Vec::new();
    let mut server = None;
    for i in 0..opts.restarts.max(1) {
        let (mut s, ready) = spawn_server(opts, server_bin, &fresh, &log)?;
        readies.push(ready.as_secs_f64() * 1000.0);
        if i + 1 < opts.restarts.max(1) {
            stop(&mut s.child)?;
        } else {
            server = Some(s);
        }
    }
    let mut server = server.expect("started above");
    eprintln!("  start to ready: {readies:.1?} ms");
    let pid = server.child.id();
    let addr = server.addr.clone();

    let rss_ready = procfs::rss_mib(pid).unwrap_or(0.0) * 1.048576;
    // Log every doctor in over HTTP.
    for (i, (_, _, email)) in seeded.doctors.iter().enumerate() {
        let body =
            serde_json::json!({"email": email, "password": seed::DOCTOR_PASSWORD}).to_string();
        let (status, text) = client::call(&addr, "POST", "/api/v1/auth/login", None, Some(&body))?;
        anyhow::ensure!(status == 200, "login failed: {status} {text}");
        let v: serde_json::Value = serde_json::from_str(&text)?;
        fixture.doctors[i].1 = v["access_token"]
            .as_str()
            .ok_or_else(|| anyhow::anyhow!("no access_token"))?
            .to_string();
    }

    eprintln!(
        "  server RSS: {rss_ready:.1} MB when ready, {:.1} MB after {} logins",
        procfs::rss_mib(pid).unwrap_or(0.0) * 1.048576,
        seeded.doctors.len()
    );
    // The admin the seed bootstrapped reads /metrics. Without it the "waited" column stays
    // empty; the run goes on.
    let body = serde_json::json!({
        "email": fresh.config().admin_email,
        "password": seed::ADMIN_PASSWORD,
    })
    .to_string();
    let admin_token = client::call(&addr, "POST", "/api/v1/auth/login", None, Some(&body))
        .ok()
        .filter(|(status, _)| *status == 200)
        .and_then(|(_, text)| {
            let v: serde_json::Value = serde_json::from_str(&text).ok()?;
            Some(v["access_token"].as_str()?.to_string())
        });
    if admin_token.is_none() {
        eprintln!("  admin login failed: no count of requests that waited for the audit trail");
    }
    let trail = Trail {
        addr: addr.clone(),
        token: admin_token.unwrap_or_default(),
    };
    let mut peak = [None, None, None];
    if opts.wants("healthz") {
        let m = drive(
            opts,
            "healthz",
            spec(opts, &addr, Workload::Healthz, None, 0, &fixture),
            pid,
            &fresh.data_dir,
            Some(&trail),
        )?;
        rows.push(row("4. GET /healthz", "closed", &m, None));
    }
    if opts.wants("patient") {
        let m = drive(
            opts,
            "patient",
            spec(opts, &addr, Workload::Patient, None, 0, &fixture),
            pid,
            &fresh.data_dir,
            Some(&trail),
        )?;
        peak[0] = Some(m.load.rps());
        rows.push(row(
            "1. GET /patients/{id} as a doctor",
            "closed",
            &m,
            raw_rate(0),
        ));
    }
    if opts.wants("appointments") {
        let m = drive(
            opts,
            "appointments",
            spec(opts, &addr, Workload::Appointments, None, 0, &fixture),
            pid,
            &fresh.data_dir,
            Some(&trail),
        )?;
        peak[1] = Some(m.load.rps());
        rows.push(row(
            "2. GET /appointments?doctor_id&from&to (50)",
            "closed",
            &m,
            raw_rate(1),
        ));
    }
    if opts.wants("book") {
        let m = drive(
            opts,
            "book",
            spec(opts, &addr, Workload::Book, None, BOOKING_RANGE, &fixture),
            pid,
            &fresh.data_dir,
            Some(&trail),
        )?;
        peak[2] = Some(m.load.rps());
        rows.push(row("3. POST /appointments", "closed", &m, raw_rate(2)));
    }
    let mut p80 = [None, None];
    if opts.wants("p80") {
        for (i, (w, label)) in [
            (Workload::Patient, "1. GET /patients/{id} at 80% of peak"),
            (
                Workload::Appointments,
                "2. GET /appointments at 80% of peak",
            ),
        ]
        .into_iter()
        .enumerate()
        {
            if let Some(p) = peak[i].filter(|p| *p > 0.0) {
                let rate = (p * 0.8).round();
                let m = drive(
                    opts,
                    &format!("{w:?}-p80").to_lowercase(),
                    spec(opts, &addr, w, Some(rate), 0, &fixture),
                    pid,
                    &fresh.data_dir,
                    Some(&trail),
                )?;
                p80[i] = Some(m.load.all.p99_us);
                rows.push(row(label, &format!("open {rate:.0}/s"), &m, None));
            }
        }
    }
    let mut mixed_rate = None;
    if opts.wants("mixed") {
        let rate = opts.mixed_rate.unwrap_or_else(|| match peak {
            [Some(a), Some(b), Some(c)] if a > 0.0 && b > 0.0 && c > 0.0 => {
                (0.5 / (0.5 / a + 0.2 / b + 0.3 / c)).round()
            }
            _ => 1000.0,
        });
        mixed_rate = Some(rate);
        let m = drive(
            opts,
            "mixed",
            spec(
                opts,
                &addr,
                Workload::Mixed,
                Some(rate),
                2 * BOOKING_RANGE,
                &fixture,
            ),
            pid,
            &fresh.data_dir,
            Some(&trail),
        )?;
        rows.push(row(
            "5. mixed: 50% patient, 20% list, 30% book",
            &format!("open {rate:.0}/s"),
            &m,
            None,
        ));
        for (class, s) in &m.load.by_class {
            rows.push(Row {
                name: format!("   5. mixed, {class}s only"),
                mode: String::new(),
                rps: s.requests as f64 / m.load.elapsed_secs,
                stats: s.clone(),
                errors: s.errors,
                cpu_per_1k: None,
                written_kb_per_req: None,
                peak_rss_mb: None,
                raw: None,
                drain: None,
                by_thread: BTreeMap::new(),
                admit_waits: None,
            });
        }
    }
    let final_peak_rss = procfs::peak_rss_mib(pid).unwrap_or(0.0) * 1.048576;
    stop(&mut server.child)?;

    // The report.
    let mut out = String::new();
    let _ = writeln!(
        out,
        "## {name}\n\nSeed: {} doctors, {} patients, {} appointments through the domain functions in {:.1} s. \
         {} connections, {} s measured after {} s warm-up per workload; load process: {} thread(s). \
         Raw baselines: reads on {read_threads} thread(s), bookings on {write_threads} thread(s).\n",
        opts.doctors, opts.patients, opts.appointments, seeded.secs, opts.connections, opts.duration,
        opts.warmup, opts.load_threads
    );
    let _ = writeln!(
        out,
        "| workload | mode | req/s | p50 ms | p99 ms | p99.9 ms | errors | server CPU-s / 1k req | server disk KB / req | server peak RSS MB | busy after, s | raw ops/s | API ÷ raw |"
    );
    let _ = writeln!(
        out,
        "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
    );
    for r in &rows {
        let _ = writeln!(
            out,
            "| {} | {} | {:.0} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} |",
            r.name,
            r.mode,
            r.rps,
            ms(r.stats.p50_us),
            ms(r.stats.p99_us),
            ms(r.stats.p999_us),
            r.errors,
            r.cpu_per_1k.map(|c| format!("{c:.3}")).unwrap_or_default(),
            r.written_kb_per_req
                .map(|c| format!("{c:.2}"))
                .unwrap_or_default(),
            r.peak_rss_mb.map(|c| format!("{c:.1}")).unwrap_or_default(),
            r.drain.map(|c| format!("{c:.1}")).unwrap_or_default(),
            r.raw.map(|c| format!("{c:.0}")).unwrap_or_default(),
            r.raw
                .map(|c| format!("{:.2}", r.rps / c))
                .unwrap_or_default(),
        );
    }
    write_cpu_by_thread(&mut out, &rows);
    if let Some(r) = &raws[2] {
        let _ = writeln!(
            out,
            "\nRaw booking transaction: p50 {} ms, p99 {} ms.",
            ms(r.stats.p50_us),
            ms(r.stats.p99_us)
        );
    }
    let _ = writeln!(
        out,
        "\nStart to ready on the existing database ({} starts): {} ms. Server peak RSS over the whole run: {final_peak_rss:.1} MB.{}\n",
        readies.len(),
        readies
            .iter()
            .map(|r| format!("{r:.0}"))
            .collect::<Vec<_>>()
            .join(", "),
        mixed_rate
            .map(|r| format!(" Mixed rate: {r:.0} req/s."))
            .unwrap_or_default()
    );
    let _ = writeln!(out, "| target | value | met |\n|---|---|---|");
    let mut target = |what: &str, value: String, met: Option<bool>| {
        let _ = writeln!(
            out,
            "| {what} | {value} | {} |",
            match met {
                Some(true) => "yes",
                Some(false) => "**no**",
                None => "n/a",
            }
        );
    };
    let w1 = peak[0];
    target(
        "1 ≥ 0.6 × bare baseline",
        match (w1, bare_rps) {
            (Some(a), Some(b)) => format!("{:.2} × ({a:.0} / {b:.0})", a / b),
            _ => "-".into(),
        },
        w1.zip(bare_rps).map(|(a, b)| a >= 0.6 * b),
    );
    target(
        "1 ≥ 25,000 req/s",
        w1.map(|a| format!("{a:.0}")).unwrap_or("-".into()),
        w1.map(|a| a >= 25_000.0),
    );
    let raw3 = raw_rate(2);
    target(
        "3 ≥ 0.5 × raw booking",
        match (peak[2], raw3) {
            (Some(a), Some(b)) => format!("{:.2} × ({a:.0} / {b:.0})", a / b),
            _ => "-".into(),
        },
        peak[2].zip(raw3).map(|(a, b)| a >= 0.5 * b),
    );
    for (i, label) in ["1", "2"].iter().enumerate() {
        target(
            &format!("p99 of {label} < 10 ms at 80% of peak"),
            p80[i]
                .map(|p| format!("{} ms", ms(p)))
                .unwrap_or("-".into()),
            p80[i].map(|p| p < 10_000),
        );
    }
    target(
        "server peak RSS < 100 MB",
        format!("{final_peak_rss:.1} MB"),
        Some(final_peak_rss < 100.0),
    );
    let worst = readies.iter().cloned().fold(0.0, f64::max);
    target(
        "start to ready < 200 ms",
        format!("{worst:.0} ms (worst of {})", readies.len()),
        Some(worst < 200.0),
    );
    out.push('\n');
    Ok(out)
}
