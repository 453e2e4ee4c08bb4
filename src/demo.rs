//! `healthapi demo`: a realistic data set loaded through the same domain functions the API uses,
//! so every care-team link, notification and audit entry is the real thing.
//!
//! All demo accounts share one password; its Argon2id hash is computed once and reused, which
//! is what keeps 1,000+ accounts under a minute (a per-account hash would take ~1 min alone).

use std::sync::Arc;

use chrono::Duration;
use diesel::prelude::*;
use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};

use crate::audit::Audit;
use crate::auth::permissions::{built_in_roles, PermSet, ADMIN, DOCTOR, PATIENT};
use crate::auth::{Ctx, Principal};
use crate::config::Config;
use crate::db::schema::{consent_forms, users};
use crate::db::{now, Backend, Db, DbConn};
use crate::domains::accounts::{create_user, NewUser};
use crate::domains::appointments::{self, AppointmentChange, NewAppointment};
use crate::domains::patients::doctors::{create_doctor, NewDoctor};
use crate::domains::patients::{create_patient, NewPatient};
use crate::domains::{consent, records};
use crate::http::ApiError;

pub const DEMO_PASSWORD: &str = "demo-password-2026";
pub const DEMO_DOMAIN: &str = "demo.healthapi.local";

/// How much to load.
#[derive(Debug, Clone, Copy)]
pub struct DemoSize {
    pub doctors: usize,
    pub patients: usize,
    pub appointments: usize,
    pub records: usize,
}

impl Default for DemoSize {
    fn default() -> Self {
        DemoSize {
            doctors: 24,
            patients: 1000,
            appointments: 5000,
            records: 3000,
        }
    }
}

const GIVEN: &[&str] = &[
    "Olivia",
    "Liam",
    "Emma",
    "Noah",
    "Ava",
    "Oliver",
    "Sophia",
    "Elijah",
    "Isabella",
    "James",
    "Mia",
    "William",
    "Amelia",
    "Benjamin",
    "Harper",
    "Lucas",
    "Evelyn",
    "Henry",
    "Abigail",
    "Alexander",
    "Emily",
    "Mateo",
    "Sofia",
    "Daniel",
    "Aisha",
    "Wei",
    "Priya",
    "Kenji",
    "Fatima",
    "Diego",
    "Chloe",
    "Samuel",
    "Grace",
    "Omar",
    "Nora",
    "Ethan",
    "Layla",
    "Jacob",
    "Zoe",
    "Arjun",
];
const FAMILY: &[&str] = &[
    "Smith",
    "Johnson",
    "Williams",
    "Brown",
    "Jones",
    "Garcia",
    "Miller",
    "Davis",
    "Rodriguez",
    "Martinez",
    "Hernandez",
    "Lopez",
    "Gonzalez",
    "Wilson",
    "Anderson",
    "Thomas",
    "Taylor",
    "Moore",
    "Jackson",
    "Martin",
    "Lee",
    "Perez",
    "Thompson",
    "White",
    "Harris",
    "Sanchez",
    "Clark",
    "Ramirez",
    "Lewis",
    "Robinson",
    "Walker",
    "Young",
    "Allen",
    "King",
    "Wright",
    "Nguyen",
    "Patel",
    "Kim",
    "Chen",
    "Okafor",
    "Kowalski",
    "Silva",
    "Haddad",
    "Novak",
];
const SPECIALTIES: &[&str] = &[
    "Family Medicine",
    "Internal Medicine",
    "Cardiology",
    "Dermatology",
    "Endocrinology",
    "Pediatrics",
    "Psychiatry",
    "Neurology",
    "Orthopedics",
    "Obstetrics and Gynecology",
    "Pulmonology",
    "Gastroenterology",
];
const STREETS: &[&str] = &[
    "Maple Ave",
    "Oak St",
    "Pine Rd",
    "Cedar Ln",
    "Elm St",
    "Birch Way",
    "Lakeview Dr",
    "Hillcrest Rd",
    "Park Blvd",
    "River St",
];
const CITIES: &[&str] = &[
    "Springfield, IL 62704",
    "Portland, OR 97205",
    "Austin, TX 78701",
    "Madison, WI 53703",
    "Raleigh, NC 27601",
    "Boulder, CO 80302",
    "Burlington, VT 05401",
];
const REASONS: &[&str] = &[
    "Annual check-up",
    "Follow-up visit",
    "Persistent cough",
    "Blood pressure review",
    "Skin rash",
    "Medication review",
    "Back pain",
    "Headaches",
    "Vaccination",
    "Lab results discussion",
    "Fatigue",
    "Knee pain after running",
];
/// (record type, title, content, ICD-10 codes)
const RECORDS: &[(&str, &str, &str, &[&str])] = &[
    (
        "visit_note",
        "Routine examination",
        "Patient well. Vitals within normal limits. Counselled on diet and exercise.",
        &["Z00.00"],
    ),
    (
        "diagnosis",
        "Essential hypertension",
        "BP 148/94 on two readings. Start lifestyle changes; recheck in 4 weeks.",
        &["I10"],
    ),
    (
        "diagnosis",
        "Type 2 diabetes mellitus",
        "HbA1c 7.4%. Metformin started. Diabetes education referral.",
        &["E11.9"],
    ),
    (
        "diagnosis",
        "Acute bronchitis",
        "Productive cough for 10 days, no fever, clear lungs on exam. Supportive care.",
        &["J20.9"],
    ),
    (
        "allergy",
        "Penicillin allergy",
        "Hives after amoxicillin in childhood. Avoid beta-lactams.",
        &["Z88.0"],
    ),
    (
        "immunization",
        "Influenza vaccine",
        "Seasonal influenza vaccine given, left deltoid. No immediate reaction.",
        &["Z23"],
    ),
    (
        "procedure",
        "Skin lesion excision",
        "Excision of 6 mm lesion, left forearm. Sent to pathology.",
        &["D48.5"],
    ),
    (
        "visit_note",
        "Low back pain",
        "Mechanical low back pain, no red flags. Physiotherapy and NSAIDs.",
        &["M54.50"],
    ),
    (
        "diagnosis",
        "Asthma, mild persistent",
        "Wheeze with exercise. Inhaled corticosteroid prescribed.",
        &["J45.30"],
    ),
    (
        "visit_note",
        "Migraine follow-up",
        "Fewer episodes on prophylaxis. Continue current plan.",
        &["G43.909"],
    ),
];

fn principal(
    user_id: &str,
    role: &str,
    patient_id: Option<&str>,
    doctor_id: Option<&str>,
) -> Principal {
    let perms = built_in_roles()
        .into_iter()
        .find(|(n, _, _)| *n == role)
        .map(|(_, _, p)| p)
        .unwrap_or_else(PermSet::default);
    Principal {
        user_id: user_id.to_string(),
        roles: vec![role.to_string()],
        role: role.to_string(),
        perms,
        is_admin: role == ADMIN,
        patient_id: patient_id.map(str::to_string),
        doctor_id: doctor_id.map(str::to_string),
        token_hash: String::new(),
        expires_at: now(),
    }
}

fn ctx(audit: &Audit, p: Principal) -> Ctx {
    Ctx {
        principal: Arc::new(p),
        request_id: "demo".to_string(),
        client_addr: "127.0.0.1".to_string(),
        audit: audit.clone(),
    }
}

struct Person {
    user_id: String,
    patient_id: Option<String>,
    doctor_id: Option<String>,
    email: String,
}

/// What was loaded, for the summary.
#[derive(Debug, Default)]
pub struct DemoReport {
    pub doctors: usize,
    pub patients: usize,
    pub appointments: usize,
    pub records: usize,
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
    crate::domains::accounts::bootstrap(&db, config)?;
    let key = crate::audit::load_key(config.audit_key.as_deref(), &config.data_dir)?;
    let audit = Audit::new(pool.clone(), key.clone());
    let mut conn = pool.get()?;
    let already: i64 = users::table
        .filter(users::email_lower.like(format!("%@{DEMO_DOMAIN}")))
        .count()
        .get_result(&mut conn)?;
    if already > 0 {
        anyhow::bail!("demo data is already loaded in this database ({already} demo accounts)");
    }
    let admin_id: String = users::table
        .filter(users::email_lower.eq(config.admin_email.to_lowercase()))
        .select(users::id)
        .first(&mut conn)?;
    let admin = ctx(&audit, principal(&admin_id, ADMIN, None, None));
    let hash = crate::auth::passwords::hash(DEMO_PASSWORD, config.password_hash_cost);
    let mut rng = StdRng::seed_from_u64(seed);
    let mut report = DemoReport::default();
    let conn = &mut *conn;

    // Doctors, each with a login.
    let mut doctor_people = Vec::new();
    run(conn, &db, |tx| {
        for i in 0..size.doctors {
            let given = GIVEN[(i * 7 + 3) % GIVEN.len()];
            let family = FAMILY[(i * 11 + 5) % FAMILY.len()];
            let email = format!(
                "dr.{}.{}{}@{DEMO_DOMAIN}",
                given.to_lowercase(),
                family.to_lowercase(),
                i + 1
            );
            let user = create_user(
                tx,
                &NewUser {
                    email: email.clone(),
                    password_hash: hash.clone(),
                    display_name: format!("Dr. {given} {family}"),
                    roles: vec![DOCTOR.to_string()],
                },
            )?;
            let d = create_doctor(
                tx,
                &NewDoctor {
                    given_name: given.into(),
                    family_name: family.into(),
                    specialty: SPECIALTIES[i % SPECIALTIES.len()].into(),
                    license_number: format!("MD-{:06}", 100_000 + i * 37),
                    email: email.clone(),
                    phone: Some(format!("+1-555-{:04}", 1000 + i)),
                },
                Some(&user.id),
            )?;
            crate::audit::record(tx.conn, &admin.entry("create", "doctor", Some(&d.id), None))?;
            doctor_people.push(Person {
                user_id: user.id,
                patient_id: None,
                doctor_id: Some(d.id),
                email,
            });
        }
        Ok(())
    })?;
    report.doctors = doctor_people.len();

    // Patients, self-registered as the API does it: account + patient record.
    let mut patient_people: Vec<Person> = Vec::new();
    for chunk_start in (0..size.patients).step_by(200) {
        let end = (chunk_start + 200).min(size.patients);
        let mut made = Vec::new();
        let mut rows = Vec::new();
        for i in chunk_start..end {
            let given = *GIVEN.choose(&mut rng).expect("non-empty");
            let family = *FAMILY.choose(&mut rng).expect("non-empty");
            let birth = chrono::NaiveDate::from_ymd_opt(1940, 1, 1).expect("valid")
                + Duration::days(rng.gen_range(0..(365 * 80)));
            let sex = if rng.gen_bool(0.5) { "female" } else { "male" };
            let email = format!(
                "{}.{}{}@{DEMO_DOMAIN}",
                given.to_lowercase(),
                family.to_lowercase(),
                i + 1
            );
            let address = format!(
                "{} {}, {}",
                rng.gen_range(1..999),
                STREETS.choose(&mut rng).expect("non-empty"),
                CITIES.choose(&mut rng).expect("non-empty")
            );
            let phone = format!(
                "+1-555-{:03}-{:04}",
                rng.gen_range(200..999),
                rng.gen_range(0..9999)
            );
            rows.push((given, family, birth, sex, email, address, phone));
        }
        run(conn, &db, |tx| {
            for (given, family, birth, sex, email, address, phone) in &rows {
                let user = create_user(
                    tx,
                    &NewUser {
                        email: email.clone(),
                        password_hash: hash.clone(),
                        display_name: format!("{given} {family}"),
                        roles: vec![PATIENT.to_string()],
                    },
                )?;
                let p = create_patient(
                    tx,
                    &NewPatient {
                        given_name: given.to_string(),
                        family_name: family.to_string(),
                        birth_date: *birth,
                        sex: sex.to_string(),
                        phone: Some(phone.clone()),
                        email: Some(email.clone()),
                        address: Some(address.clone()),
                    },
                    Some(&user.id),
                )?;
                let me = ctx(
                    &admin.audit,
                    principal(&user.id, PATIENT, Some(&p.id), None),
                );
                crate::audit::record(
                    tx.conn,
                    &me.entry("register", "patient", Some(&p.id), Some(&p.id)),
                )?;
                made.push(Person {
                    user_id: user.id,
                    patient_id: Some(p.id),
                    doctor_id: None,
                    email: email.clone(),
                });
            }
            Ok(())
        })?;
        patient_people.extend(made);
    }
    report.patients = patient_people.len();

    // Consent: most give telemedicine, many remote monitoring, a few revoke later.
    let forms: Vec<(String, String)> = consent_forms::table
        .filter(consent_forms::active.eq(true))
        .select((consent_forms::kind, consent_forms::id))
        .load(conn)?;
    let form_of = |kind: &str| {
        forms
            .iter()
            .find(|(k, _)| k == kind)
            .map(|(_, id)| id.clone())
    };
    let (tele, remote) = (form_of("telemedicine"), form_of("remote_monitoring"));
    let mut events = 0;
    for chunk in patient_people.chunks(250) {
        let plan: Vec<(bool, bool, bool)> = chunk
            .iter()
            .map(|_| (rng.gen_bool(0.75), rng.gen_bool(0.4), rng.gen_bool(0.08)))
            .collect();
        run(conn, &db, |tx| {
            for (p, (gives_tele, gives_remote, revokes)) in chunk.iter().zip(&plan) {
                let me = ctx(
                    &admin.audit,
                    principal(&p.user_id, PATIENT, p.patient_id.as_deref(), None),
                );
                if let (true, Some(f)) = (gives_tele, &tele) {
                    consent::record(tx, &me, f, consent::GIVEN)?;
                    events += 1;
                    if *revokes {
                        consent::record(tx, &me, f, consent::REVOKED)?;
                        events += 1;
                    }
                }
                if let (true, Some(f)) = (gives_remote, &remote) {
                    consent::record(tx, &me, f, consent::GIVEN)?;
                    events += 1;
                }
            }
            Ok(())
        })?;
    }
    report.consent_events = events;

    // Appointments across the past six months and the next two; past ones move on through the
    // state machine; completed ones get a medical record written by their doctor.
    let today = now().date().and_hms_opt(0, 0, 0).expect("midnight");
    let mut done = 0;
    let mut records_left = size.records;
    let mut attempts = 0;
    while done < size.appointments && attempts < size.appointments * 3 {
        let batch = (size.appointments - done).min(250);
        let mut plan = Vec::new();
        for _ in 0..batch {
            let d = doctor_people.choose(&mut rng).expect("doctors");
            let p = patient_people.choose(&mut rng).expect("patients");
            let day = rng.gen_range(-180..60);
            let slot = rng.gen_range(0..18); // 08:00..17:00 in 30-minute slots
            let start = today + Duration::days(day) + Duration::minutes(8 * 60 + 30 * slot);
            let minutes = *[15, 30, 30, 45, 60].choose(&mut rng).expect("non-empty");
            let fate = rng.gen_range(0..100);
            let reason = REASONS.choose(&mut rng).expect("non-empty").to_string();
            let record = RECORDS.choose(&mut rng).expect("non-empty");
            plan.push((d, p, start, minutes, fate, reason, record));
        }
        attempts += batch;
        let mut booked_here = 0;
        let mut records_here = 0;
        run(conn, &db, |tx| {
            for (d, p, start, minutes, fate, reason, record) in &plan {
                let new = NewAppointment {
                    patient_id: p.patient_id.clone().expect("patient"),
                    doctor_id: d.doctor_id.clone().expect("doctor"),
                    start_time: *start,
                    end_time: *start + Duration::minutes(*minutes),
                    reason: Some(reason.clone()),
                };
                let booker = ctx(
                    &admin.audit,
                    principal(&p.user_id, PATIENT, p.patient_id.as_deref(), None),
                );
                let appt = match appointments::book(tx, &booker, &new) {
                    Ok(a) => a,
                    Err(e) if e.kind == "booking-clash" => continue,
                    Err(e) => return Err(e),
                };
                booked_here += 1;
                if *start >= now() {
                    continue;
                }
                let doctor = ctx(
                    &admin.audit,
                    principal(&d.user_id, DOCTOR, None, d.doctor_id.as_deref()),
                );
                let row = |tx: &mut crate::db::Tx| {
                    appointments::load_row(tx.conn, &appt.id)?.ok_or_else(ApiError::not_found)
                };
                let to = |s: &str| AppointmentChange {
                    status: Some(s.into()),
                    ..Default::default()
                };
                if *fate < 8 {
                    let cancel = AppointmentChange {
                        status: Some(appointments::CANCELLED.into()),
                        cancel_reason: Some("Patient asked to cancel".into()),
                        ..Default::default()
                    };
                    let r = row(tx)?;
                    appointments::change(tx, &booker, &r, &cancel)?;
                } else if *fate < 16 {
                    let r = row(tx)?;
                    appointments::change(tx, &doctor, &r, &to(appointments::NO_SHOW))?;
                } else {
                    let r = row(tx)?;
                    appointments::change(tx, &doctor, &r, &to(appointments::CHECKED_IN))?;
                    let r = row(tx)?;
                    appointments::change(tx, &doctor, &r, &to(appointments::COMPLETED))?;
                    if records_left > records_here {
                        let (record_type, title, content, codes) = record;
                        records::create(
                            tx,
                            &doctor,
                            &records::NewRecord {
                                patient_id: new.patient_id.clone(),
                                doctor_id: new.doctor_id.clone(),
                                appointment_id: Some(appt.id.clone()),
                                record_type: record_type.to_string(),
                                title: title.to_string(),
                                content: content.to_string(),
                                diagnosis_codes: codes.iter().map(|c| c.to_string()).collect(),
                            },
                        )?;
                        records_here += 1;
                    }
                }
            }
            Ok(())
        })?;
        done += booked_here;
        records_left -= records_here;
        report.records += records_here;
    }
    report.appointments = done;

    // Records beyond those from completed visits: history entries by care-team doctors.
    while records_left > 0 {
        let n = records_left.min(250);
        let mut plan = Vec::new();
        for _ in 0..n {
            plan.push((
                doctor_people.choose(&mut rng).expect("doctors"),
                patient_people.choose(&mut rng).expect("patients"),
                RECORDS.choose(&mut rng).expect("non-empty"),
            ));
        }
        run(conn, &db, |tx| {
            for (d, p, (record_type, title, content, codes)) in &plan {
                let doctor = ctx(
                    &admin.audit,
                    principal(&d.user_id, DOCTOR, None, d.doctor_id.as_deref()),
                );
                records::create(
                    tx,
                    &doctor,
                    &records::NewRecord {
                        patient_id: p.patient_id.clone().expect("patient"),
                        doctor_id: d.doctor_id.clone().expect("doctor"),
                        appointment_id: None,
                        record_type: record_type.to_string(),
                        title: title.to_string(),
                        content: content.to_string(),
                        diagnosis_codes: codes.iter().map(|c| c.to_string()).collect(),
                    },
                )?;
            }
            Ok(())
        })?;
        records_left -= n;
        report.records += n;
    }

    // Seal everything the load wrote into the audit chain, and index it (a server started on a
    // chain far ahead of its index holds requests back until its indexer catches up).
    while crate::audit::seal(conn, &key, &[])?.more {}
    crate::audit::index_all_entries(conn)?;
    report.doctor_login = doctor_people
        .first()
        .map(|p| p.email.clone())
        .unwrap_or_default();
    report.patient_login = patient_people
        .first()
        .map(|p| p.email.clone())
        .unwrap_or_default();
    Ok(report)
}

fn run<F>(conn: &mut DbConn, db: &Db, f: F) -> anyhow::Result<()>
where
    F: FnOnce(&mut crate::db::Tx) -> Result<(), ApiError>,
{
    Db::write_blocking(conn, &db.hub, f).map_err(|e| anyhow::anyhow!("demo load failed: {e}"))
}
