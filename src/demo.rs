//! `healthapi demo`: a realistic data set loaded through the same domain functions the API uses,
//! so every care-team link, notification and audit entry is the real thing.
//!
//! All demo accounts share one password; its Argon2id hash is computed once and reused, which
//! is what keeps 1,000+ accounts under a minute (a per-account hash would take ~1 min alone).

mod billing;
mod devices;
mod education;
mod lab;
mod pharmacy;
mod portal;
mod referrals;
mod surveys;

use std::sync::Arc;

use chrono::Duration;
use diesel::prelude::*;
use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};

use crate::audit::Audit;
use crate::auth::permissions::{DOCTOR, PATIENT};
use crate::auth::Principal;
use crate::config::Config;
use crate::db::schema::{consent_forms, users};
use crate::db::{now, Backend, Db, DbConn};
use crate::domains::appointments::{self, AppointmentChange, AppointmentStatus, NewAppointment};
use crate::domains::consent::{self, ConsentAction, NewConsent};
use crate::domains::patients::{self, NewDoctor, NewPatient, Sex};
use crate::domains::{accounts, records, telemedicine};
use crate::kit::{Actor, Date, DoctorId, Error, IfMatch, PatientId, Timestamp, Tx};

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
    let audit = Audit::new(pool.clone(), key.clone());
    accounts::bootstrap(&db, &audit, config)?;
    let mut conn = pool.get()?;
    let already: i64 = users::table
        .filter(users::email_lower.like(format!("%@{DEMO_DOMAIN}")))
        .count()
        .get_result(&mut conn)?;
    if already > 0 {
        anyhow::bail!("demo data is already loaded in this database ({already} demo accounts)");
    }
    let hash = crate::auth::passwords::hash(DEMO_PASSWORD, config.password_hash_cost);
    let mut rng = StdRng::seed_from_u64(seed);
    let mut report = DemoReport::default();
    let conn = &mut *conn;
    let system = Actor::system(audit.clone());

    // Doctors, each with a login.
    let mut doctor_people = Vec::new();
    run(conn, &db, &system, |tx| {
        for i in 0..size.doctors {
            let given = GIVEN[(i * 7 + 3) % GIVEN.len()];
            let family = FAMILY[(i * 11 + 5) % FAMILY.len()];
            let email = format!(
                "dr.{}.{}{}@{DEMO_DOMAIN}",
                given.to_lowercase(),
                family.to_lowercase(),
                i + 1
            );
            let d = patients::create_doctor(
                tx,
                NewDoctor {
                    given_name: given.into(),
                    family_name: family.into(),
                    specialty: SPECIALTIES[i % SPECIALTIES.len()].into(),
                    license_number: format!("MD-{:06}", 100_000 + i * 37),
                    email: email.clone(),
                    phone: Some(format!("+1-555-{:04}", 1000 + i)),
                    user_id: None,
                    password: None,
                },
                Some(hash.clone()),
            )?;
            doctor_people.push(Person {
                user_id: d.user_id.expect("a doctor with a login").into_string(),
                patient_id: None,
                doctor_id: Some(d.id.into_string()),
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
            let sex = if rng.gen_bool(0.5) {
                Sex::Female
            } else {
                Sex::Male
            };
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
            let register = accounts::Register {
                email,
                password: DEMO_PASSWORD.to_string(),
                given_name: given.to_string(),
                family_name: family.to_string(),
                birth_date: Date::from_db(birth),
                sex,
                phone: Some(phone),
            };
            rows.push((register, address));
        }
        run(conn, &db, &system, |tx| {
            for (r, address) in rows {
                let email = r.email.clone();
                let patient = NewPatient {
                    given_name: r.given_name.clone(),
                    family_name: r.family_name.clone(),
                    birth_date: r.birth_date,
                    sex: r.sex,
                    phone: r.phone.clone(),
                    email: Some(email.clone()),
                    address: Some(address),
                    user_id: None,
                };
                let out = accounts::register(tx, r, patient, hash.clone())?;
                made.push(Person {
                    user_id: out.user.id.into_string(),
                    patient_id: Some(out.patient.id.into_string()),
                    doctor_id: None,
                    email,
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
    // The patients whose telemedicine consent stands: the ones virtual visits are for.
    let mut tele_patients = Vec::new();
    // And those who consented to remote monitoring: the ones devices are for.
    let mut remote_patients = Vec::new();
    for (n, chunk) in patient_people.chunks(250).enumerate() {
        let plan: Vec<(bool, bool, bool)> = chunk
            .iter()
            .map(|_| (rng.gen_bool(0.75), rng.gen_bool(0.4), rng.gen_bool(0.08)))
            .collect();
        tele_patients.extend(
            plan.iter()
                .enumerate()
                .filter(|(_, (tele, _, revokes))| *tele && !*revokes)
                .map(|(i, _)| n * 250 + i),
        );
        remote_patients.extend(
            plan.iter()
                .enumerate()
                .filter(|(_, (_, remote, _))| *remote)
                .map(|(i, _)| n * 250 + i),
        );
        run(conn, &db, &system, |tx| {
            for (p, (gives_tele, gives_remote, revokes)) in chunk.iter().zip(&plan) {
                let me = actor(
                    &audit,
                    principal(&p.user_id, PATIENT, p.patient_id.as_deref(), None),
                );
                let mut give = |tx: &mut Tx, form: &str, action: ConsentAction| {
                    tx.as_actor(&me, |tx| {
                        consent::record(
                            tx,
                            NewConsent {
                                consent_form_id: form.to_string(),
                                action,
                            },
                        )
                    })
                    .map(|_| events += 1)
                };
                if let (true, Some(f)) = (gives_tele, &tele) {
                    give(tx, f, ConsentAction::Given)?;
                    if *revokes {
                        give(tx, f, ConsentAction::Revoked)?;
                    }
                }
                if let (true, Some(f)) = (gives_remote, &remote) {
                    give(tx, f, ConsentAction::Given)?;
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
    // Who has seen whom: where the records beyond completed visits come from.
    let mut seen: Vec<(usize, usize)> = Vec::new();
    while done < size.appointments && attempts < size.appointments * 3 {
        let batch = (size.appointments - done).min(250);
        let mut plan = Vec::new();
        for _ in 0..batch {
            let d = rng.gen_range(0..doctor_people.len());
            let p = rng.gen_range(0..patient_people.len());
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
        run(conn, &db, &system, |tx| {
            for (di, pi, start, minutes, fate, reason, record) in &plan {
                let (d, p) = (&doctor_people[*di], &patient_people[*pi]);
                let new = NewAppointment {
                    patient_id: PatientId::from_db(p.patient_id.clone().expect("patient")),
                    doctor_id: DoctorId::from_db(d.doctor_id.clone().expect("doctor")),
                    start_time: Timestamp::from_db(*start),
                    end_time: Timestamp::from_db(*start + Duration::minutes(*minutes)),
                    reason: Some(reason.clone()),
                };
                let patient_id = new.patient_id.clone();
                let booker = actor(
                    &audit,
                    principal(&p.user_id, PATIENT, p.patient_id.as_deref(), None),
                );
                let appt = match tx.as_actor(&booker, |tx| appointments::book(tx, new, false)) {
                    Ok(a) => a,
                    Err(Error::Conflict {
                        kind: "booking-clash",
                        ..
                    }) => continue,
                    Err(e) => return Err(e),
                };
                booked_here += 1;
                seen.push((*di, *pi));
                if *start >= now() {
                    continue;
                }
                let doctor = actor(
                    &audit,
                    principal(&d.user_id, DOCTOR, None, d.doctor_id.as_deref()),
                );
                let to = |s: AppointmentStatus| AppointmentChange {
                    status: Some(s),
                    ..Default::default()
                };
                let change = |tx: &mut Tx, by: &Actor, c: AppointmentChange| {
                    tx.as_actor(by, |tx| {
                        appointments::change(tx, &appt.id, c, IfMatch::default())
                    })
                };
                if *fate < 8 {
                    let cancel = AppointmentChange {
                        status: Some(AppointmentStatus::Cancelled),
                        cancel_reason: Some("Patient asked to cancel".into()),
                        ..Default::default()
                    };
                    change(tx, &booker, cancel)?;
                } else if *fate < 16 {
                    change(tx, &doctor, to(AppointmentStatus::NoShow))?;
                } else {
                    change(tx, &doctor, to(AppointmentStatus::CheckedIn))?;
                    change(tx, &doctor, to(AppointmentStatus::Completed))?;
                    if records_left > records_here {
                        tx.as_actor(&doctor, |tx| {
                            records::create(tx, demo_record(&patient_id, Some(&appt.id), record))
                        })?;
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

    // Virtual visits of consenting patients over the past three months and the next month:
    // past ones had a video session and a chat, and were completed by their doctor.
    let mut visits_done = 0;
    let mut attempts = 0;
    while !tele_patients.is_empty() && visits_done < size.visits && attempts < size.visits * 3 {
        let batch = (size.visits - visits_done).min(250);
        let mut plan = Vec::new();
        for _ in 0..batch {
            let d = rng.gen_range(0..doctor_people.len());
            let p = *tele_patients.choose(&mut rng).expect("non-empty");
            let day = rng.gen_range(-90..30);
            let slot = rng.gen_range(0..20); // 08:00..18:00 in 30-minute slots
            let start = today + Duration::days(day) + Duration::minutes(8 * 60 + 30 * slot);
            let minutes = *[15, 20, 30].choose(&mut rng).expect("non-empty");
            let chat = CHATS.choose(&mut rng).expect("non-empty");
            plan.push((d, p, start, minutes, chat));
        }
        attempts += batch;
        let (mut visits_here, mut chat_here) = (0, 0);
        run(conn, &db, &system, |tx| {
            for (di, pi, start, minutes, chat) in &plan {
                let (d, p) = (&doctor_people[*di], &patient_people[*pi]);
                let new = telemedicine::NewVisit {
                    patient_id: PatientId::from_db(p.patient_id.clone().expect("patient")),
                    doctor_id: DoctorId::from_db(d.doctor_id.clone().expect("doctor")),
                    appointment_id: None,
                    scheduled_start: Timestamp::from_db(*start),
                    scheduled_end: Timestamp::from_db(*start + Duration::minutes(*minutes)),
                    reason: Some(chat[0].to_string()),
                };
                let patient = actor(
                    &audit,
                    principal(&p.user_id, PATIENT, p.patient_id.as_deref(), None),
                );
                let visit = match tx.as_actor(&patient, |tx| telemedicine::schedule(tx, new, false))
                {
                    Ok(v) => v,
                    Err(Error::Conflict {
                        kind: "booking-clash",
                        ..
                    }) => continue,
                    Err(e) => return Err(e),
                };
                visits_here += 1;
                if *start >= now() {
                    continue;
                }
                let doctor = actor(
                    &audit,
                    principal(&d.user_id, DOCTOR, None, d.doctor_id.as_deref()),
                );
                let at = |m: i64| Timestamp::from_db(*start + Duration::minutes(m));
                let session = tx.as_actor(&doctor, |tx| {
                    telemedicine::start_session(tx, &visit.id, None, at(1))
                })?;
                // The patient opens, the doctor answers, and so on.
                for (i, line) in chat.iter().enumerate() {
                    let by = if i % 2 == 0 { &patient } else { &doctor };
                    let body = telemedicine::NewChatMessage {
                        body: line.to_string(),
                    };
                    tx.as_actor(by, |tx| {
                        telemedicine::post_message(tx, &visit.id, body, at(2 + i as i64))
                    })?;
                    chat_here += 1;
                }
                tx.as_actor(&doctor, |tx| {
                    telemedicine::end_session(tx, &session.id, at(*minutes - 1))
                })?;
                let complete = telemedicine::VisitChange {
                    status: Some(telemedicine::VisitStatus::Completed),
                    ..Default::default()
                };
                tx.as_actor(&doctor, |tx| {
                    telemedicine::change(tx, &visit.id, complete, IfMatch::default(), at(*minutes))
                })?;
            }
            Ok(())
        })?;
        visits_done += visits_here;
        report.chat_messages += chat_here;
    }
    report.visits = visits_done;

    // Records beyond those from completed visits: written by doctors the patient has seen.
    while records_left > 0 && !seen.is_empty() {
        let n = records_left.min(250);
        let mut plan = Vec::new();
        for _ in 0..n {
            plan.push((
                *seen.choose(&mut rng).expect("seen"),
                RECORDS.choose(&mut rng).expect("non-empty"),
            ));
        }
        run(conn, &db, &system, |tx| {
            for ((di, pi), record) in &plan {
                let (d, p) = (&doctor_people[*di], &patient_people[*pi]);
                let doctor = actor(
                    &audit,
                    principal(&d.user_id, DOCTOR, None, d.doctor_id.as_deref()),
                );
                let patient_id = PatientId::from_db(p.patient_id.clone().expect("patient"));
                tx.as_actor(&doctor, |tx| {
                    records::create(tx, demo_record(&patient_id, None, record))
                })?;
            }
            Ok(())
        })?;
        records_left -= n;
        report.records += n;
    }

    lab::load(
        conn,
        &db,
        config,
        &audit,
        &system,
        &hash,
        &mut rng,
        &seen,
        (&doctor_people, &patient_people),
        &mut report,
    )?;

    referrals::load(
        conn,
        &db,
        &audit,
        &system,
        &mut rng,
        &seen,
        (&doctor_people, &patient_people),
        &mut report,
    )?;

    pharmacy::load(
        conn,
        &db,
        &audit,
        &system,
        &hash,
        &mut rng,
        &seen,
        (&doctor_people, &patient_people),
        &mut report,
    )?;

    billing::load(
        conn,
        &db,
        &audit,
        &system,
        &hash,
        &mut rng,
        &patient_people,
        &mut report,
    )?;
    portal::load(
        conn,
        &db,
        &audit,
        &system,
        &mut rng,
        &seen,
        (&doctor_people, &patient_people),
        &mut report,
    )?;
    devices::load(
        conn,
        &db,
        &audit,
        &system,
        &mut rng,
        &remote_patients,
        &patient_people,
        &mut report,
    )?;
    education::load(
        conn,
        &db,
        &audit,
        &system,
        &mut rng,
        &seen,
        (&doctor_people, &patient_people),
        &mut report,
    )?;
    report.survey_responses = surveys::load(conn, &db, &audit, &system, &mut rng, &patient_people)?;

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

/// Chats of past virtual visits: the patient's lines and the doctor's, in turn (the first is
/// also the visit's reason).
const CHATS: &[&[&str]] = &[
    &[
        "Follow-up on my blood pressure readings",
        "Thanks for sending them. The morning values look better than last month.",
        "I have been taking the tablet every morning as you said.",
        "Good. Keep the same dose; we will check again in four weeks.",
    ],
    &[
        "Rash on my forearm for three days",
        "Can you hold it up to the camera? Does it itch or burn?",
        "It itches, mostly at night.",
        "It looks like contact dermatitis. I will send a cream to your pharmacy.",
    ],
    &[
        "Question about my lab results",
        "Your cholesterol is slightly high; the rest is normal.",
        "Should I change anything?",
        "More fibre and a walk every day; we will repeat the test in three months.",
    ],
    &[
        "Cough that will not go away",
        "Any fever or shortness of breath?",
        "No fever, just tired.",
        "Likely post-viral. If it lasts two more weeks, come in for an X-ray.",
    ],
];

/// A record of the demo's list, by the acting doctor.
fn demo_record(
    patient_id: &PatientId,
    appointment: Option<&appointments::AppointmentId>,
    (record_type, title, content, codes): &(&str, &str, &str, &[&str]),
) -> records::NewRecord {
    records::NewRecord {
        patient_id: patient_id.clone(),
        doctor_id: None,
        appointment_id: appointment.cloned(),
        record_type: <records::RecordType as crate::kit::WireEnum>::parse(record_type)
            .expect("the demo's record types exist"),
        title: title.to_string(),
        content: content.to_string(),
        diagnosis_codes: codes.iter().map(|c| c.to_string()).collect(),
    }
}

fn run<F>(conn: &mut DbConn, db: &Db, system: &Actor, f: F) -> anyhow::Result<()>
where
    F: FnOnce(&mut Tx) -> crate::kit::Result<()>,
{
    system
        .write_blocking(conn, &db.hub, f)
        .map_err(|e| anyhow::anyhow!("demo load failed: {e}"))
}
