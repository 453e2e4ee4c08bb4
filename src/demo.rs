//! `healthapi demo`: a realistic data set loaded through the same domain functions the API uses,
//! so every care-team link, notification and audit entry is the real thing.
//!
//! This file is the orchestrator; each file of `demo/` tells one domain's story (people,
//! consent, appointments and their records, virtual visits, lab, referrals, pharmacy, billing,
//! portal, devices, education, surveys), drawing on `clinic.rs`, the clinic's specialties and
//! what each one sees and writes. The rules that make it read like a clinic (who sees whom,
//! clinic hours, rates, times) are in docs/DECISIONS.md, "Demo".
//!
//! Repeatable: each story draws from its own random stream derived from `--seed` and the
//! story's name, and all times hang on one clock read at the start (the hour the load began),
//! so the same seed loads the same data within the same hour, and changing one story leaves the
//! others as they were.
//!
//! All demo accounts share one password; its Argon2id hash is computed once and reused, which
//! is what keeps 1,000+ accounts under a minute (a per-account hash would take ~1 min alone).

mod appointments;
mod billing;
mod clinic;
mod consent;
mod devices;
mod education;
mod lab;
mod people;
mod pharmacy;
mod portal;
mod records;
mod referrals;
mod surveys;
mod telemedicine;

use std::sync::Arc;

use chrono::{NaiveDate, NaiveDateTime, Timelike};
use diesel::prelude::*;
use rand::rngs::StdRng;
use rand::SeedableRng;

use crate::audit::Audit;
use crate::auth::permissions::{DOCTOR, PATIENT};
use crate::auth::Principal;
use crate::config::Config;
use crate::db::schema::users;
use crate::db::{now, Backend, Db, DbConn};
use crate::domains::patients::Sex;
use crate::kit::{Actor, DoctorId, PatientId, Tx};

pub const DEMO_PASSWORD: &str = "demo-password-2026";
pub const DEMO_DOMAIN: &str = "demo.healthapi.local";

/// How much to load.
#[derive(Debug, Clone, Copy)]
pub struct DemoSize {
    pub doctors: usize,
    pub patients: usize,
    pub appointments: usize,
    pub records: usize,
    /// Virtual visits, among the patients who consented to telemedicine.
    pub visits: usize,
}

impl Default for DemoSize {
    fn default() -> Self {
        DemoSize {
            doctors: 24,
            patients: 1000,
            appointments: 5000,
            records: 3000,
            visits: 1000,
        }
    }
}

fn principal(
    user_id: &str,
    role: &str,
    patient_id: Option<&str>,
    doctor_id: Option<&str>,
) -> Principal {
    Principal::acting(
        user_id,
        role,
        patient_id.map(|p| PatientId::from_db(p.to_string())),
        doctor_id.map(|d| DoctorId::from_db(d.to_string())),
    )
}

/// A demo person acting in the loader's transactions, as the API would see them.
fn actor(audit: &Audit, p: Principal) -> Actor {
    Actor::user(
        Arc::new(p),
        "demo".to_string(),
        "127.0.0.1".to_string(),
        audit.clone(),
    )
}

/// A demo doctor: their login, and their specialty.
struct Doctor {
    user_id: String,
    id: String,
    email: String,
    specialty: &'static clinic::Specialty,
}

impl Doctor {
    fn actor(&self, audit: &Audit) -> Actor {
        actor(
            audit,
            principal(&self.user_id, DOCTOR, None, Some(&self.id)),
        )
    }

    fn doctor_id(&self) -> DoctorId {
        DoctorId::from_db(self.id.clone())
    }
}

/// A demo patient: their login, who they are, and their doctors.
struct Patient {
    user_id: String,
    id: String,
    email: String,
    sex: Sex,
    birth: NaiveDate,
    /// When they registered with the clinic (before any of their visits).
    registered: NaiveDateTime,
    /// Their doctors: the first their own (primary care), then specialists, each with the
    /// condition (index in the specialty's table) they mostly see them for.
    panel: Vec<(usize, usize)>,
}

impl Patient {
    fn actor(&self, audit: &Audit) -> Actor {
        actor(
            audit,
            principal(&self.user_id, PATIENT, Some(&self.id), None),
        )
    }

    fn patient_id(&self) -> PatientId {
        PatientId::from_db(self.id.clone())
    }

    /// Age in whole years on `day`.
    fn age_on(&self, day: NaiveDate) -> u32 {
        clinic::age_on(self.birth, day)
    }
}

/// Everyone the demo loaded.
struct Cast {
    doctors: Vec<Doctor>,
    patients: Vec<Patient>,
}

/// What every story needs: the database, the actors' audit, the shared password hash, the seed,
/// and the clock.
struct Ctx<'a> {
    db: &'a Db,
    config: &'a Config,
    audit: &'a Audit,
    system: Actor,
    hash: String,
    seed: u64,
    /// The demo's "now": the start of the hour the load began in. What is before it happened
    /// (visits done, results in), what is after it is booked; nothing is dated after it.
    clock: NaiveDateTime,
}

impl Ctx<'_> {
    /// The random stream of one story: from the seed and the story's name (FNV-1a), so that
    /// stories do not shift each other.
    fn rng(&self, story: &str) -> StdRng {
        let mut h: u64 = 0xcbf2_9ce4_8422_2325;
        for b in story.bytes() {
            h = (h ^ b as u64).wrapping_mul(0x0100_0000_01b3);
        }
        StdRng::seed_from_u64(self.seed ^ h)
    }

    fn today(&self) -> NaiveDate {
        self.clock.date()
    }

    fn run<F>(&self, conn: &mut DbConn, f: F) -> anyhow::Result<()>
    where
        F: FnOnce(&mut Tx) -> crate::kit::Result<()>,
    {
        self.system
            .write_blocking(conn, &self.db.hub, f)
            .map_err(|e| anyhow::anyhow!("demo load failed: {e}"))
    }
}

/// What was loaded, for the summary.
#[derive(Debug, Default)]
pub struct DemoReport {
    pub doctors: usize,
    pub patients: usize,
    pub appointments: usize,
    pub records: usize,
    pub visits: usize,
    pub chat_messages: usize,
    pub lab_orders: usize,
    pub lab_results: usize,
    pub images: usize,
    pub lab_login: String,
    pub referrals: usize,
    pub specialist_notes: usize,
    pub medications: usize,
    pub prescriptions: usize,
    pub pharmacy_orders: usize,
    pub pharmacist_login: String,
    pub claims: usize,
    pub invoices: usize,
    pub payments: usize,
    pub billing_login: String,
    pub devices: usize,
    pub readings: usize,
    pub monitoring_alerts: usize,
    pub messages: usize,
    pub educational_resources: usize,
    pub recommendations: usize,
    pub survey_responses: usize,
    pub consent_events: usize,
    pub doctor_login: String,
    pub patient_login: String,
}

/// Loads the demo data into the configured database (migrated and bootstrapped first).
pub fn load(config: &Config, size: DemoSize, seed: u64) -> anyhow::Result<DemoReport> {
    let pool = crate::db::connect(&config.database_url, 2)?;
    let db = Db::new(
        pool.clone(),
        Backend::of_url(&config.database_url),
        Default::default(),
    );
    let key = crate::audit::load_key(config.audit_key.as_deref(), &config.data_dir)?;
    crate::audit::claim_key(&mut *pool.get()?, &key)?;
    let audit = Audit::new(pool.clone(), key.clone());
    crate::domains::accounts::bootstrap(&db, &audit, config)?;
    let mut conn = pool.get()?;
    let already: i64 = users::table
        .filter(users::email_lower.like(format!("%@{DEMO_DOMAIN}")))
        .count()
        .get_result(&mut conn)?;
    if already > 0 {
        anyhow::bail!("demo data is already loaded in this database ({already} demo accounts)");
    }
    let start = now();
    let ctx = Ctx {
        db: &db,
        config,
        audit: &audit,
        system: Actor::system(audit.clone()),
        hash: crate::auth::passwords::hash(DEMO_PASSWORD, config.password_hash_cost),
        seed,
        clock: start
            .with_minute(0)
            .and_then(|t| t.with_second(0))
            .and_then(|t| t.with_nanosecond(0))
            .expect("the start of the hour"),
    };
    let mut report = DemoReport::default();
    let conn = &mut *conn;

    let cast = people::load(conn, &ctx, size, &mut report)?;
    let consented = consent::load(conn, &ctx, &cast, &mut report)?;
    let schedule = appointments::load(conn, &ctx, &cast, size, &mut report)?;
    telemedicine::load(
        conn,
        &ctx,
        &cast,
        &consented.telemedicine,
        size.visits,
        &mut report,
    )?;
    lab::load(conn, &ctx, &cast, &schedule, &mut report)?;
    referrals::load(conn, &ctx, &cast, &schedule, &mut report)?;
    pharmacy::load(conn, &ctx, &cast, &schedule, &mut report)?;
    billing::load(conn, &ctx, &cast, &schedule, &mut report)?;
    portal::load(conn, &ctx, &cast, &schedule, &mut report)?;
    devices::load(conn, &ctx, &cast, &consented.remote_monitoring, &mut report)?;
    education::load(conn, &ctx, &cast, &schedule, &mut report)?;
    report.survey_responses = surveys::load(conn, &ctx, &cast)?;

    // Seal everything the load wrote into the audit chain, and index it (a server started on a
    // chain far ahead of its index holds requests back until its indexer catches up).
    while crate::audit::seal(conn, &key, &[])?.more {}
    crate::audit::index_all_entries(conn)?;
    report.doctor_login = cast
        .doctors
        .first()
        .map(|p| p.email.clone())
        .unwrap_or_default();
    report.patient_login = cast
        .patients
        .first()
        .map(|p| p.email.clone())
        .unwrap_or_default();
    Ok(report)
}
