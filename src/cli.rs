//! The command line: serve | migrate | admin create | audit verify | audit checkpoint |
//! audit index | openapi.

use std::process::ExitCode;

use crate::config::{AdminCommand, AuditCommand, Cli, Command, Config, ImportCommand};
use crate::db::{Backend, Db};

/// Logs of the server go to stdout; those of the one-shot commands to stderr, because their
/// stdout is output that scripts read (`audit checkpoint` JSON, `openapi`). Lines are written
/// in batches by a background thread (`log_buffer`); colours only on a terminal. Keep the guard
/// until the process ends: dropping it writes what is still buffered.
pub fn init_logging(config: &Config, to_stderr: bool) -> crate::log_buffer::LogBufferGuard {
    use std::io::IsTerminal;
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| "info,tower_http=warn".into());
    let (ansi, out): (bool, Box<dyn std::io::Write + Send>) = if to_stderr {
        (std::io::stderr().is_terminal(), Box::new(std::io::stderr()))
    } else {
        (std::io::stdout().is_terminal(), Box::new(std::io::stdout()))
    };
    let (writer, guard) = crate::log_buffer::LogBuffer::new(out);
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(ansi)
        .with_writer(writer);
    let _ = if config.log_format == "json" {
        builder.json().try_init()
    } else {
        builder.try_init()
    };
    guard
}

/// glibc malloc settings, for the allocations that do not go to mimalloc (main.rs): SQLite's,
/// and all of them where this library runs under another allocator (tests, the benchmark).
///
/// Argon2id hashing works in one 19 MiB block; glibc, once such a block is freed, raises its
/// mmap threshold above it and from then on keeps it in the arena of whichever blocking thread
/// hashed (50 logins grew the server from 17 MB to 137 MB RSS). A fixed threshold keeps blocks
/// this large in mmap, returned to the system when freed.
///
/// glibc's default of 8 arenas per core, each keeping what it once held, reached 16 arenas of
/// ~8 MB under 64 concurrent reads. With Rust's allocations on mimalloc, 2 arenas for SQLite's
/// page caches and statements cost no measurable throughput. See docs/perf/history.md.
///
/// mimalloc (the server's allocator for Rust's allocations) by default commits each arena it
/// reserves up front and purges freed pages 10 ms later: the server's peak RSS went 115 MB ->
/// 72 MB on the patient-read benchmark and 170 MB -> 105 MB on the list benchmark with commit
/// on demand, and with immediate purging too the whole benchmark peaked at 61-86 MB, with no
/// throughput lost that the run-to-run noise would show (`tune_mimalloc`).
pub fn tune_malloc() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt only sets an allocator parameter; called before any other thread starts.
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, 4 << 20);
        libc::mallopt(libc::M_ARENA_MAX, 2);
    }
}

/// mimalloc options (see `tune_malloc`). They must be set before mimalloc reserves its first
/// arena, which happens in its own load-time constructor, before `main`: the server binary
/// calls this from an earlier constructor (main.rs). Set from `main` they left the peak RSS
/// where it was. An operator's `MIMALLOC_*` variables no longer change these two.
pub extern "C" fn tune_mimalloc() {
    // Indexes into mi_option_e of mimalloc 3's mimalloc.h (the bindings name only some options).
    const MI_OPTION_ARENA_EAGER_COMMIT: libmimalloc_sys::mi_option_t = 4;
    const MI_OPTION_PURGE_DELAY: libmimalloc_sys::mi_option_t = 15;
    // SAFETY: mi_option_set only stores a value in mimalloc's static option table, which it
    // reads when it next needs the option; it is safe before mimalloc initialises.
    unsafe {
        libmimalloc_sys::mi_option_set(MI_OPTION_ARENA_EAGER_COMMIT, 0);
        libmimalloc_sys::mi_option_set(MI_OPTION_PURGE_DELAY, 0);
    }
}

pub fn run(cli: Cli) -> ExitCode {
    tune_malloc();
    let config = match cli.config.resolve() {
        Ok(config) => config,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(2);
        }
    };
    let serving = matches!(cli.command, None | Some(Command::Serve));
    let _log_writer = init_logging(&config, !serving);
    // Every database call runs on a blocking thread holding one pooled connection, so threads
    // past the pool's size would only wait for a connection; tokio's default of 512 let 64
    // concurrent requests start ~90 threads, each with its own stack and malloc arena (peak RSS
    // 160 MB on the patient-read benchmark). The spare 8 serve password hashing and the sealer.
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .max_blocking_threads(config.pool_size as usize + 8)
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let result = runtime.block_on(async move {
        match cli.command.unwrap_or(Command::Serve) {
            Command::Serve => serve(config).await,
            Command::Migrate => {
                let url = config.database_url.clone();
                tokio::task::spawn_blocking(move || crate::db::connect(&url, 1)).await??;
                print_output("migrations applied")?;
                Ok(ExitCode::SUCCESS)
            }
            Command::Openapi => {
                print_output(&crate::app::openapi().to_pretty_json()?)?;
                Ok(ExitCode::SUCCESS)
            }
            Command::Admin {
                command: AdminCommand::Create { email, password },
            } => {
                tokio::task::spawn_blocking(move || admin_create(&config, &email, &password))
                    .await?
            }
            Command::Import {
                command: ImportCommand::Fhir { path },
            } => tokio::task::spawn_blocking(move || import_fhir(&config, &path)).await?,
            Command::Demo { patients, seed } => {
                tokio::task::spawn_blocking(move || demo(&config, patients, seed)).await?
            }
            Command::Audit { command } => {
                tokio::task::spawn_blocking(move || audit(&config, command)).await?
            }
        }
    });
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

/// Prints a command's output (a document or verdict scripts read) and a newline. A reader that stopped
/// early (`healthapi openapi | head`) is not an error: `println!` panicked on the broken pipe.
fn print_output(text: &str) -> std::io::Result<()> {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    match writeln!(out, "{text}").and_then(|()| out.flush()) {
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
        other => other,
    }
}

async fn serve(config: Config) -> anyhow::Result<ExitCode> {
    // The address first: a bad or busy one must not leave a database set up and a first
    // admin's password handed out for a server that never ran.
    let listener = tokio::net::TcpListener::bind(&config.bind)
        .await
        .map_err(|e| anyhow::anyhow!("cannot listen on {}: {e}", config.bind))?;
    let app = crate::app::build(config).await?;
    tracing::info!(address = %listener.local_addr()?, "healthapi listening");
    crate::app::serve(app, listener, crate::app::shutdown_signal()).await?;
    Ok(ExitCode::SUCCESS)
}

fn admin_create(config: &Config, email: &str, password: &str) -> anyhow::Result<ExitCode> {
    let pool = crate::db::connect(&config.database_url, 1)?;
    let db = Db::new(
        pool.clone(),
        Backend::of_url(&config.database_url),
        Default::default(),
    );
    let key = crate::audit::load_key(config.audit_key.as_deref(), &config.data_dir)?;
    crate::audit::claim_key(&mut *pool.get()?, &key)?;
    let audit = crate::audit::Audit::new(pool.clone(), key);
    let mut conn = pool.get()?;
    crate::db::write_transaction(&mut conn, crate::domains::accounts::seed_roles)?;
    let created = crate::domains::accounts::create_admin(
        &db,
        &audit,
        &mut conn,
        email,
        password,
        config.password_hash_cost,
    );
    // The pool holds one connection: sealing takes it next.
    drop(conn);
    match created {
        Ok(user) => {
            seal_now(config, &pool)?;
            println!("created admin {} ({})", user.email, user.id);
            Ok(ExitCode::SUCCESS)
        }
        Err(e) => {
            let p = crate::http::ApiError::from(e).problem();
            let fields: Vec<String> = p
                .errors
                .iter()
                .map(|f| format!("{}: {}", f.field, f.message))
                .collect();
            eprintln!("cannot create admin: {} {}", p.detail, fields.join("; "));
            Ok(ExitCode::FAILURE)
        }
    }
}

fn seal_now(config: &Config, pool: &crate::db::DbPool) -> anyhow::Result<()> {
    let key = crate::audit::load_key(config.audit_key.as_deref(), &config.data_dir)?;
    let mut conn = pool.get()?;
    loop {
        if !crate::audit::seal(&mut conn, &key, &[])?.more {
            return Ok(());
        }
    }
}

fn audit(config: &Config, command: AuditCommand) -> anyhow::Result<ExitCode> {
    // The server's database or none: run where it is not, a check would create an empty
    // database and find it intact.
    if Backend::of_url(&config.database_url) == Backend::Sqlite {
        let path = crate::db::sqlite_path(&config.database_url);
        anyhow::ensure!(
            std::path::Path::new(path).exists(),
            "no SQLite database at {path}; set DATABASE_URL or HEALTHAPI_DATA_DIR as the server has them"
        );
    }
    let pool = crate::db::connect(&config.database_url, 1)?;
    // Read-only: verifying never seals pending entries itself, so a run with a wrong key cannot
    // append links that break the chain. Pending ones are sealed by the next server start.
    let mut conn = pool.get()?;
    let pending = crate::audit::pending(&mut conn)?;
    if pending > 0 {
        eprintln!("{pending} committed audit entries are not sealed yet (a server will seal them)");
    }
    match command {
        AuditCommand::Index => {
            let n = crate::audit::index_all_entries(&mut conn)?;
            println!("indexed {n} audit entries by patient and by user");
            Ok(ExitCode::SUCCESS)
        }
        AuditCommand::Checkpoint => {
            let c = crate::audit::verify::checkpoint(&mut conn)?;
            print_output(&serde_json::to_string(&c)?)?;
            Ok(ExitCode::SUCCESS)
        }
        AuditCommand::Verify { checkpoint } => {
            let key = crate::audit::existing_key(config.audit_key.as_deref(), &config.data_dir)?;
            let cp = match checkpoint {
                Some(path) => Some(serde_json::from_str::<crate::audit::verify::Checkpoint>(
                    &std::fs::read_to_string(path)?,
                )?),
                None => None,
            };
            match crate::audit::verify::verify(&mut conn, &key, cp.as_ref())? {
                crate::audit::verify::Verdict::Intact { count, head } => {
                    print_output(&format!(
                        "audit chain intact: {count} entries, head seq {} hash {}",
                        head.seq, head.hash
                    ))?;
                    Ok(ExitCode::SUCCESS)
                }
                crate::audit::verify::Verdict::Tampered {
                    count,
                    head,
                    findings,
                } => {
                    let mut out = format!(
                        "audit chain intact ({count} entries, head seq {} hash {}), but entries were TAMPERED with before sealing:",
                        head.seq, head.hash
                    );
                    for f in findings {
                        out.push_str("\n  ");
                        out.push_str(&f);
                    }
                    print_output(&out)?;
                    Ok(ExitCode::from(1))
                }
                crate::audit::verify::Verdict::Broken {
                    first_bad_seq,
                    reason,
                } => {
                    print_output(&format!(
                        "audit chain BROKEN at seq {first_bad_seq}: {reason}"
                    ))?;
                    Ok(ExitCode::from(1))
                }
            }
        }
    }
}

/// `import fhir PATH`: loads the bundles and prints what was loaded and what was skipped, and
/// why. Exit 1 when a file did not load (the others did).
fn import_fhir(config: &Config, path: &std::path::Path) -> anyhow::Result<ExitCode> {
    let r = crate::fhir::import::import(config, path)?;
    let loaded = r.loaded_total();
    let mut out = format!(
        "imported {} file(s) in {:.1}s: {} resources read, {loaded} loaded ({:.0} resources/s), {} already imported, {} skipped, {} file(s) failed",
        r.files,
        r.seconds,
        r.resources,
        r.resources as f64 / r.seconds.max(1e-9),
        r.already,
        r.skipped.values().sum::<usize>(),
        r.failed.len()
    );
    for (what, n) in &r.loaded {
        out.push_str(&format!("\n  loaded {n} {what}"));
    }
    for ((kind, why), n) in &r.skipped {
        out.push_str(&format!("\n  skipped {n} {kind}: {why}"));
    }
    for (file, why) in &r.failed {
        out.push_str(&format!("\n  failed {}: {why}", file.display()));
    }
    print_output(&out)?;
    Ok(if r.failed.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

fn demo(config: &Config, patients: usize, seed: u64) -> anyhow::Result<ExitCode> {
    let size = crate::demo::DemoSize {
        patients,
        appointments: patients * 5,
        records: patients * 3,
        visits: patients,
        ..Default::default()
    };
    let started = std::time::Instant::now();
    let r = crate::demo::load(config, size, seed)?;
    println!(
        "demo data loaded in {:.1}s: {} doctors, {} patients, {} appointments, {} medical records, {} virtual visits with {} chat messages, {} lab orders with {} results, {} diagnostic images, {} referrals with {} specialist notes, {} medications, {} prescriptions, {} pharmacy orders, {} claims, {} invoices, {} payments, {} devices with {} readings and {} monitoring alerts, {} portal messages, {} educational resources with {} recommendations, {} survey responses, {} consent events",
        started.elapsed().as_secs_f64(),
        r.doctors,
        r.patients,
        r.appointments,
        r.records,
        r.visits,
        r.chat_messages,
        r.lab_orders,
        r.lab_results,
        r.images,
        r.referrals,
        r.specialist_notes,
        r.medications,
        r.prescriptions,
        r.pharmacy_orders,
        r.claims,
        r.invoices,
        r.payments,
        r.devices,
        r.readings,
        r.monitoring_alerts,
        r.messages,
        r.educational_resources,
        r.recommendations,
        r.survey_responses,
        r.consent_events
    );
    println!(
        "logins (password for all demo accounts: {}):",
        crate::demo::DEMO_PASSWORD
    );
    println!(
        "  admin:   {} (password as configured or printed at first start)",
        config.admin_email
    );
    println!("  doctor:  {}", r.doctor_login);
    println!("  patient: {}", r.patient_login);
    println!("  lab:     {}", r.lab_login);
    println!("  pharmacist: {}", r.pharmacist_login);
    println!("  billing: {}", r.billing_login);
    Ok(ExitCode::SUCCESS)
}
