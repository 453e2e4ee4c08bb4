//! A fresh database per backend, seeded through the library's own domain functions (the same
//! ones the HTTP handlers call: `create_user`, `create_doctor`, `create_patient`,
//! `appointments::book`), in large transactions, with one shared password hash — the path
//! `healthapi demo` uses. Every booking therefore writes its real clash check, care-team link,
//! notification and audit outbox row; the outbox is sealed into the audit chain (and indexed) at the end.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

use diesel::prelude::*;

use healthapi::audit::Audit;
use healthapi::auth::permissions::DOCTOR;
use healthapi::auth::Principal;
use healthapi::config::Config;
use healthapi::db::{Backend, Db, DbConn};
use healthapi::domains::accounts::{self, Register};
use healthapi::domains::appointments::{self, NewAppointment};
use healthapi::domains::patients::{self, NewDoctor, NewPatient, Sex};
use healthapi::kit::{Actor, Date, DoctorId, PatientId, Timestamp, Tx};

use crate::load::{Fixture, SLOT_SECONDS};

pub const ADMIN_PASSWORD: &str = "bench-admin-password-1";
pub const DOCTOR_PASSWORD: &str = "bench-doctor-password-1";
pub const EMAIL_DOMAIN: &str = "bench.healthapi.local";

#[derive(Debug, Clone, Copy)]
pub struct SeedSize {
    pub doctors: usize,
    pub patients: usize,
    pub appointments: usize,
}

/// A database made for one run, and how to reach it.
pub struct FreshDb {
    pub backend: Backend,
    pub url: String,
    pub data_dir: PathBuf,
    /// PostgreSQL: (server URL to connect for the drop, database name).
    pg_drop: Option<(String, String)>,
    keep: bool,
}

impl FreshDb {
    pub fn config(&self) -> Config {
        let mut c = Config::for_database(&self.url, self.data_dir.clone());
        c.admin_password = Some(ADMIN_PASSWORD.to_string());
        c
    }
}

impl Drop for FreshDb {
    fn drop(&mut self) {
        if self.keep {
            eprintln!("kept: {} ({})", self.url, self.data_dir.display());
            return;
        }
        if let Some((server, name)) = &self.pg_drop {
            match diesel::PgConnection::establish(server) {
                Ok(mut c) => {
                    if let Err(e) =
                        diesel::sql_query(format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
                            .execute(&mut c)
                    {
                        eprintln!("dropping {name} failed: {e}");
                    }
                }
                Err(e) => eprintln!("dropping {name}: cannot connect: {e}"),
            }
        }
        let _ = std::fs::remove_dir_all(&self.data_dir);
    }
}

/// `postgres://u@h:p/db?x` with the database name replaced.
fn with_database(url: &str, name: &str) -> String {
    let (base, query) = match url.split_once('?') {
        Some((b, q)) => (b, Some(q)),
        None => (url, None),
    };
    let scheme_end = base.find("://").map(|i| i + 3).unwrap_or(0);
    let host_part = match base[scheme_end..].find('/') {
        Some(i) => &base[..scheme_end + i],
        None => base,
    };
    match query {
        Some(q) => format!("{host_part}/{name}?{q}"),
        None => format!("{host_part}/{name}"),
    }
}

pub fn fresh(
    backend: Backend,
    pg_url: Option<&str>,
    root: &Path,
    keep: bool,
) -> anyhow::Result<FreshDb> {
    let tag = format!("{}-{}", std::process::id(), chrono::Utc::now().timestamp());
    let name = match backend {
        Backend::Sqlite => "sqlite",
        Backend::Postgres => "postgres",
    };
    let data_dir = root.join(format!("{name}-{tag}"));
    std::fs::create_dir_all(&data_dir)?;
    match backend {
        Backend::Sqlite => Ok(FreshDb {
            backend,
            url: format!("sqlite://{}", data_dir.join("healthapi.db").display()),
            data_dir,
            pg_drop: None,
            keep,
        }),
        Backend::Postgres => {
            let server = pg_url.ok_or_else(|| anyhow::anyhow!("no PostgreSQL URL"))?;
            let db_name = format!("healthapi_bench_{}", tag.replace('-', "_"));
            let mut c = diesel::PgConnection::establish(server)?;
            diesel::sql_query(format!("CREATE DATABASE {db_name}")).execute(&mut c)?;
            Ok(FreshDb {
                backend,
                url: with_database(server, &db_name),
                data_dir,
                pg_drop: Some((server.to_string(), db_name)),
                keep,
            })
        }
    }
}

pub fn principal(user_id: &str, role: &str, doctor_id: Option<&str>) -> Principal {
    Principal::acting(
        user_id,
        role,
        None,
        doctor_id.map(|d| DoctorId::from_db(d.to_string())),
    )
}

pub fn actor(audit: &Audit, p: Principal) -> Actor {
    Actor::user(
        Arc::new(p),
        "bench".to_string(),
        "127.0.0.1".to_string(),
        audit.clone(),
    )
}

/// What the seed made: everything a workload needs except the tokens.
pub struct Seeded {
    pub fixture: Fixture,
    /// (doctor id, user id, email)
    pub doctors: Vec<(String, String, String)>,
    pub secs: f64,
}

fn tx<F>(conn: &mut DbConn, db: &Db, by: &Actor, f: F) -> anyhow::Result<()>
where
    F: FnOnce(&mut Tx) -> healthapi::kit::Result<()>,
{
    by.write_blocking(conn, &db.hub, f)
        .map_err(|e| anyhow::anyhow!("seeding failed: {e}"))
}

pub fn seed(fresh: &FreshDb, size: SeedSize) -> anyhow::Result<Seeded> {
    let started = Instant::now();
    let config = fresh.config();
    let pool = healthapi::db::connect(&fresh.url, 2)?;
    let db = Db::new(pool.clone(), fresh.backend, Default::default());
    let key = healthapi::audit::load_key(None, &fresh.data_dir)?;
    let audit = Audit::new(pool.clone(), key.clone());
    healthapi::domains::accounts::bootstrap(&db, &audit, &config)?;
    let system = Actor::system(audit.clone());
    let hash = healthapi::auth::passwords::hash(DOCTOR_PASSWORD, Default::default());
    let mut conn = pool.get()?;
    let conn = &mut *conn;

    let mut doctors = Vec::new();
    tx(conn, &db, &system, |tx| {
        for i in 0..size.doctors {
            let email = format!("doctor{i}@{EMAIL_DOMAIN}");
            let d = patients::create_doctor(
                tx,
                NewDoctor {
                    given_name: "Bench".into(),
                    family_name: format!("Doctor{i}"),
                    specialty: "Family Medicine".into(),
                    license_number: format!("BENCH-{i:06}"),
                    email: email.clone(),
                    phone: None,
                    user_id: None,
                    password: None,
                },
                Some(hash.clone()),
            )?;
            let user = d.user_id.expect("a doctor with a login").into_string();
            doctors.push((d.id.into_string(), user, email));
        }
        Ok(())
    })?;
    eprintln!(
        "  seeded {} doctors ({:.1}s)",
        doctors.len(),
        started.elapsed().as_secs_f64()
    );

    // Patients, each with an account (so a booking notifies the patient).
    let mut patient_ids = Vec::with_capacity(size.patients);
    for start in (0..size.patients).step_by(2000) {
        let end = (start + 2000).min(size.patients);
        tx(conn, &db, &system, |tx| {
            for i in start..end {
                let email = format!("patient{i}@{EMAIL_DOMAIN}");
                let birth = Date::from_db(
                    chrono::NaiveDate::from_ymd_opt(1950, 1, 1).expect("valid")
                        + chrono::Duration::days((i % 25_000) as i64),
                );
                let sex = if i % 2 == 0 { Sex::Female } else { Sex::Male };
                let phone = Some(format!("+1-555-{:07}", i));
                let patient = NewPatient {
                    given_name: "Bench".into(),
                    family_name: format!("Patient{i}"),
                    birth_date: birth,
                    sex,
                    phone: phone.clone(),
                    email: Some(email.clone()),
                    address: Some(format!("{} Bench Street, Springfield", i + 1)),
                    user_id: None,
                };
                let register = Register {
                    email,
                    password: DOCTOR_PASSWORD.to_string(),
                    given_name: patient.given_name.clone(),
                    family_name: patient.family_name.clone(),
                    birth_date: birth,
                    sex,
                    phone,
                };
                let out = accounts::register(tx, register, patient, hash.clone())?;
                patient_ids.push(out.patient.id.into_string());
            }
            Ok(())
        })?;
    }
    eprintln!(
        "  seeded {} patients ({:.1}s)",
        patient_ids.len(),
        started.elapsed().as_secs_f64()
    );

    // Appointments: doctor d's slot k, back to back in the past (at most 12 h long slots are
    // not needed: 30 minutes each), with a patient that no other doctor has in that slot.
    let now = chrono::Utc::now().timestamp();
    let per_doctor = size.appointments.div_ceil(size.doctors) as i64;
    let seed_base = (now - per_doctor * SLOT_SECONDS - 7 * 86_400) / 3600 * 3600;
    let fixture = Fixture {
        patient_ids,
        doctors: doctors
            .iter()
            .map(|(d, _, _)| (d.clone(), String::new()))
            .collect(),
        seed_base,
        seeded_slots_per_doctor: per_doctor,
        book_base: (now + 86_400) / 3600 * 3600,
    };
    let actors: Vec<Actor> = doctors
        .iter()
        .map(|(d, u, _)| actor(&audit, principal(u, DOCTOR, Some(d))))
        .collect();
    let mut plan = Vec::with_capacity(size.appointments);
    'outer: for k in 0..per_doctor {
        for d in 0..size.doctors {
            if plan.len() == size.appointments {
                break 'outer;
            }
            plan.push((d, k));
        }
    }
    for chunk in plan.chunks(5000) {
        tx(conn, &db, &system, |tx| {
            for &(d, k) in chunk {
                let start = seed_base + k * SLOT_SECONDS;
                let new = NewAppointment {
                    patient_id: PatientId::from_db(
                        fixture.patient_ids[fixture.seeded_patient(d, k)].clone(),
                    ),
                    doctor_id: DoctorId::from_db(fixture.doctors[d].0.clone()),
                    start_time: Timestamp::from_db(time(start)),
                    end_time: Timestamp::from_db(time(start + SLOT_SECONDS)),
                    reason: Some("Seeded visit".into()),
                };
                // Seeded slots are in the past: no "not in the past" check.
                tx.as_actor(&actors[d], |tx| appointments::book(tx, new, false))?;
            }
            Ok(())
        })?;
    }
    eprintln!(
        "  seeded {} appointments ({:.1}s)",
        plan.len(),
        started.elapsed().as_secs_f64()
    );
    let mut sealed = 0;
    loop {
        let r = healthapi::audit::seal(conn, &key, &[])?;
        sealed += r.sealed;
        if !r.more {
            break;
        }
    }
    // And indexed by patient and user, as a server keeps them (`healthapi audit index`): the
    // server would otherwise start with the whole seed as index lag and hold requests back
    // until its indexer caught up.
    healthapi::audit::index_all_entries(conn)?;
    if let DbConn::Sqlite(c) = conn {
        use diesel::connection::SimpleConnection;
        // No ANALYZE: the server never runs one, so the planner sees what a deployment sees.
        c.batch_execute("PRAGMA wal_checkpoint(TRUNCATE);")?;
    }
    if let DbConn::Postgres(c) = conn {
        use diesel::connection::SimpleConnection;
        c.batch_execute("ANALYZE")?;
    }
    eprintln!(
        "  sealed and indexed {sealed} audit entries; seed done in {:.1}s",
        started.elapsed().as_secs_f64()
    );
    Ok(Seeded {
        fixture,
        doctors,
        secs: started.elapsed().as_secs_f64(),
    })
}

pub fn time(t: i64) -> chrono::NaiveDateTime {
    chrono::DateTime::from_timestamp(t, 0)
        .expect("valid time")
        .naive_utc()
}
