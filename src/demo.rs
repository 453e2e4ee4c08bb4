//! `healthapi demo`: a realistic data set loaded through the same domain functions the API uses,
//! so every care-team link, notification and audit entry is the real thing.
//!
//! All demo accounts share one password; its Argon2id hash is computed once and reused, which
//! is what keeps 1,000+ accounts under a minute (a per-account hash would take ~1 min alone).

mod education;

use std::sync::Arc;

use chrono::Duration;
use diesel::prelude::*;
use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};

use crate::audit::Audit;
use crate::auth::permissions::{BILLING, DOCTOR, LAB_TECHNICIAN, PATIENT, PHARMACIST};
use crate::auth::Principal;
use crate::config::Config;
use crate::db::schema::{consent_forms, users};
use crate::db::{now, Backend, Db, DbConn};
use crate::domains::appointments::{self, AppointmentChange, AppointmentStatus, NewAppointment};
use crate::domains::consent::{self, ConsentAction, NewConsent};
use crate::domains::patients::{self, NewDoctor, NewPatient, Sex};
use crate::domains::{
    accounts, billing, devices, lab, pharmacy, portal, records, referrals, telemedicine,
};
use crate::kit::{Actor, Date, DoctorId, Error, IfMatch, Money, PatientId, Timestamp, Tx};

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

    load_lab(
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

    load_referrals(
        conn,
        &db,
        &audit,
        &system,
        &mut rng,
        &seen,
        (&doctor_people, &patient_people),
        &mut report,
    )?;

    load_pharmacy(
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

    load_billing(
        conn,
        &db,
        &audit,
        &system,
        &hash,
        &mut rng,
        &patient_people,
        &mut report,
    )?;
    load_messages(
        conn,
        &db,
        &audit,
        &system,
        &mut rng,
        &seen,
        (&doctor_people, &patient_people),
        &mut report,
    )?;
    load_devices(
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
    report.survey_responses = load_surveys(conn, &db, &audit, &system, &mut rng, &patient_people)?;

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

/// A panel the demo orders: its LOINC code and name, and its analytes as (LOINC code, name,
/// unit, reference low, reference high, decimals, critical below, critical above).
type Analyte = (&'static str, &'static str, f64, f64, usize, f64, f64);
const PANELS: &[(&str, &str, &[Analyte])] = &[
    (
        "51990-0",
        "Basic metabolic panel",
        &[
            ("2951-2", "mmol/L", 136.0, 145.0, 0, 120.0, 160.0),
            ("2823-3", "mmol/L", 3.5, 5.1, 1, 2.8, 6.0),
            ("2075-0", "mmol/L", 98.0, 107.0, 0, 80.0, 120.0),
            ("2028-9", "mmol/L", 22.0, 29.0, 0, 10.0, 40.0),
            ("3094-0", "mg/dL", 7.0, 20.0, 0, 2.0, 100.0),
            ("2160-0", "mg/dL", 0.6, 1.3, 2, 0.2, 10.0),
            ("2345-7", "mg/dL", 70.0, 99.0, 0, 50.0, 400.0),
            ("17861-6", "mg/dL", 8.6, 10.3, 1, 6.5, 13.0),
        ],
    ),
    (
        "58410-2",
        "Complete blood count",
        &[
            ("6690-2", "10*3/uL", 4.5, 11.0, 1, 1.0, 30.0),
            ("789-8", "10*6/uL", 4.2, 5.9, 2, 2.0, 8.0),
            ("718-7", "g/dL", 12.0, 17.5, 1, 7.0, 20.0),
            ("4544-3", "%", 36.0, 50.0, 1, 20.0, 60.0),
            ("777-3", "10*3/uL", 150.0, 400.0, 0, 50.0, 1000.0),
        ],
    ),
    (
        "4548-4",
        "Hemoglobin A1c",
        &[("4548-4", "%", 4.0, 5.6, 1, 3.0, 15.0)],
    ),
    (
        "57698-3",
        "Lipid panel",
        &[
            ("2093-3", "mg/dL", 125.0, 200.0, 0, 50.0, 500.0),
            ("2085-9", "mg/dL", 40.0, 90.0, 0, 10.0, 150.0),
            ("13457-7", "mg/dL", 50.0, 100.0, 0, 10.0, 400.0),
            ("2571-8", "mg/dL", 40.0, 150.0, 0, 10.0, 1000.0),
        ],
    ),
];

/// Lab data: a demo lab technician; orders placed by doctors for patients they have seen, in
/// every state (15% ordered, 10% collected, 65% resulted, 10% cancelled); results of common
/// panels with right units and ranges, some abnormal and a few critical; and small generated
/// images in the blob store, some pending upload.
#[allow(clippy::too_many_arguments)]
fn load_lab(
    conn: &mut DbConn,
    db: &Db,
    config: &Config,
    audit: &Audit,
    system: &Actor,
    hash: &str,
    rng: &mut StdRng,
    seen: &[(usize, usize)],
    (doctor_people, patient_people): (&[Person], &[Person]),
    report: &mut DemoReport,
) -> anyhow::Result<()> {
    if seen.is_empty() {
        return Ok(());
    }
    let email = format!("lab.tech@{DEMO_DOMAIN}");
    let mut tech_id = String::new();
    run(conn, db, system, |tx| {
        let u = accounts::create_account(
            tx,
            accounts::CreateUser {
                email: email.clone(),
                password: DEMO_PASSWORD.to_string(),
                display_name: "Lab Technician".into(),
                roles: vec![LAB_TECHNICIAN.to_string()],
            },
            hash.to_string(),
        )?;
        tech_id = u.id.into_string();
        Ok(())
    })?;
    report.lab_login = email;
    let tech = actor(audit, principal(&tech_id, LAB_TECHNICIAN, None, None));
    let today = now().date().and_hms_opt(7, 0, 0).expect("seven o'clock");
    let orders = (patient_people.len()).max(10);
    for chunk in 0..orders.div_ceil(200) {
        let n = (orders - chunk * 200).min(200);
        let mut plan = Vec::new();
        for _ in 0..n {
            let (di, pi) = *seen.choose(rng).expect("seen");
            let panel = rng.gen_range(0..PANELS.len());
            let fate = rng.gen_range(0..100);
            let priority = *[
                lab::Priority::Routine,
                lab::Priority::Routine,
                lab::Priority::Routine,
                lab::Priority::Urgent,
                lab::Priority::Stat,
            ]
            .choose(rng)
            .expect("non-empty");
            let day = rng.gen_range(-90..0);
            // Per analyte: 0 normal, 1 abnormal, 2 critical.
            let kinds: Vec<(u8, f64)> = (0..PANELS[panel].2.len())
                .map(|_| {
                    let k = match rng.gen_range(0..1000) {
                        0..=14 => 2,
                        15..=119 => 1,
                        _ => 0,
                    };
                    (k, rng.gen_range(0.0..1.0))
                })
                .collect();
            plan.push((di, pi, panel, fate, priority, day, kinds));
        }
        run(conn, db, system, |tx| {
            for (di, pi, panel, fate, priority, day, kinds) in &plan {
                let (d, p) = (&doctor_people[*di], &patient_people[*pi]);
                let (code, name, analytes) = PANELS[*panel];
                let doctor = actor(
                    audit,
                    principal(&d.user_id, DOCTOR, None, d.doctor_id.as_deref()),
                );
                let new = lab::NewOrder {
                    patient_id: PatientId::from_db(p.patient_id.clone().expect("patient")),
                    doctor_id: None,
                    appointment_id: None,
                    test_code: code.into(),
                    test_name: name.into(),
                    priority: Some(*priority),
                    notes: None,
                };
                let o = tx.as_actor(&doctor, |tx| lab::order(tx, new))?;
                report.lab_orders += 1;
                let at = |minutes: i64| {
                    Timestamp::from_db(today + Duration::days(*day) + Duration::minutes(minutes))
                };
                match fate {
                    0..=14 => continue,
                    15..=24 => {
                        let reason = lab::Cancel {
                            reason: "Ordered in error".into(),
                        };
                        tx.as_actor(&doctor, |tx| lab::cancel(tx, &o.id, reason))?;
                        continue;
                    }
                    _ => {}
                }
                tx.as_actor(&tech, |tx| lab::collect(tx, &o.id, at(30)))?;
                if *fate < 35 {
                    continue;
                }
                for ((a_code, unit, low, high, decimals, crit_low, crit_high), (kind, u)) in
                    analytes.iter().zip(kinds)
                {
                    let span = high - low;
                    let (value, interpretation) = match kind {
                        2 if u < &0.5 => (
                            crit_low * (0.8 + u * 0.2),
                            Some(lab::Interpretation::Critical),
                        ),
                        2 => (
                            crit_high * (1.05 + u * 0.1),
                            Some(lab::Interpretation::Critical),
                        ),
                        1 if u < &0.5 => (low - span * (0.05 + u * 0.3), None),
                        1 => (high + span * (0.05 + (u - 0.5) * 0.6), None),
                        _ => (low + span * (0.1 + u * 0.8), None),
                    };
                    let r = lab::NewResult {
                        test_code: Some(a_code.to_string()),
                        value: format!("{:.*}", *decimals, value.max(0.0)),
                        value_numeric: None,
                        unit: Some(unit.to_string()),
                        reference_low: Some(*low),
                        reference_high: Some(*high),
                        interpretation,
                        note: None,
                    };
                    tx.as_actor(&tech, |tx| lab::record_result(tx, &o.id, r, at(240)))?;
                    report.lab_results += 1;
                }
            }
            Ok(())
        })?;
    }

    // Images: a few dozen small radiographs, most uploaded, some still pending.
    let blobs = crate::blob::Blobs::open(config.blob_url.as_deref(), &config.data_dir)?;
    let wanted = (patient_people.len() / 20).clamp(4, 40);
    for i in 0..wanted {
        let (di, pi) = *seen.choose(rng).expect("seen");
        let (d, p) = (&doctor_people[di], &patient_people[pi]);
        let new = lab::NewImage {
            patient_id: PatientId::from_db(p.patient_id.clone().expect("patient")),
            doctor_id: Some(DoctorId::from_db(d.doctor_id.clone().expect("doctor"))),
            lab_order_id: None,
            modality: *[lab::Modality::Dx, lab::Modality::Cr, lab::Modality::Us]
                .choose(rng)
                .expect("non-empty"),
            body_site: Some(
                ["chest", "left wrist", "right knee", "abdomen"]
                    .choose(rng)
                    .expect("non-empty")
                    .to_string(),
            ),
            description: Some("Demo image".into()),
            taken_at: Some(Timestamp::from_db(
                today - Duration::days(rng.gen_range(1..60)),
            )),
        };
        let mut image = None;
        run(conn, db, system, |tx| {
            image = Some(tx.as_actor(&tech, |tx| lab::create_image(tx, new))?);
            Ok(())
        })?;
        let image = image.expect("created");
        report.images += 1;
        if i % 4 == 3 {
            continue; // pending upload
        }
        let bytes = bytes::Bytes::from(demo_png(64, 64, i as u32));
        let key = format!("diagnostic-images/{}/demo", image.id);
        let chunks = futures::stream::once(async move { Ok::<_, std::io::Error>(bytes) });
        let upload = blobs.upload(&key, chunks, u64::MAX);
        let stored = match tokio::runtime::Handle::try_current() {
            Ok(h) => h.block_on(upload),
            Err(_) => tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()?
                .block_on(upload),
        }?;
        run(conn, db, system, |tx| {
            tx.as_actor(&tech, |tx| {
                lab::complete_upload(tx, &image.id, &key, "image/png", &stored)
            })?;
            Ok(())
        })?;
    }
    Ok(())
}

/// Referrals from doctors to colleagues of other specialties, in every status of the graph
/// (pending, accepted, scheduled, completed, rejected, cancelled), with the specialists' notes.
#[allow(clippy::too_many_arguments)]
fn load_referrals(
    conn: &mut DbConn,
    db: &Db,
    audit: &Audit,
    system: &Actor,
    rng: &mut StdRng,
    seen: &[(usize, usize)],
    (doctor_people, patient_people): (&[Person], &[Person]),
    report: &mut DemoReport,
) -> anyhow::Result<()> {
    use referrals::{NewNote, NewReferral, ReferralCode as Code, Transition};
    if seen.is_empty() || doctor_people.len() < 2 {
        return Ok(());
    }
    let wanted = (patient_people.len() / 4).max(12);
    let mut plan = Vec::new();
    for i in 0..wanted {
        let (di, pi) = *seen.choose(rng).expect("seen");
        let si = (di + 1 + rng.gen_range(0..doctor_people.len() - 1)) % doctor_people.len();
        // Every status at least twice, then by weight.
        let fate = if i < 12 { i % 6 } else { rng.gen_range(0..6) };
        let (reason, note) = *REFERRAL_TEXTS.choose(rng).expect("non-empty");
        plan.push((di, pi, si, fate, reason, note, rng.gen_range(1..30)));
    }
    run(conn, db, system, |tx| {
        for (di, pi, si, fate, reason, note, day) in &plan {
            let (d, p, s) = (
                &doctor_people[*di],
                &patient_people[*pi],
                &doctor_people[*si],
            );
            let referring = actor(
                audit,
                principal(&d.user_id, DOCTOR, None, d.doctor_id.as_deref()),
            );
            let specialist = actor(
                audit,
                principal(&s.user_id, DOCTOR, None, s.doctor_id.as_deref()),
            );
            let patient_id = PatientId::from_db(p.patient_id.clone().expect("patient"));
            let specialist_id = DoctorId::from_db(s.doctor_id.clone().expect("doctor"));
            let new = NewReferral {
                patient_id: patient_id.clone(),
                referring_doctor_id: None,
                specialist_id: specialist_id.clone(),
                reason: reason.to_string(),
                priority: Some(if *day < 5 {
                    referrals::ReferralPriority::Urgent
                } else {
                    referrals::ReferralPriority::Routine
                }),
                specialty: None,
                appointment_id: None,
            };
            let r = tx.as_actor(&referring, |tx| referrals::refer(tx, new))?;
            report.referrals += 1;
            let step = |tx: &mut Tx, by: &Actor, to: Code, reason: Option<&str>, appt| {
                let t = Transition {
                    to,
                    reason: reason.map(str::to_string),
                    appointment_id: appt,
                };
                tx.as_actor(by, |tx| referrals::transition(tx, &r.id, t))
            };
            let mut write_note = |tx: &mut Tx| -> crate::kit::Result<()> {
                let n = NewNote {
                    note: note.to_string(),
                };
                tx.as_actor(&specialist, |tx| referrals::add_note(tx, &r.id, n))?;
                report.specialist_notes += 1;
                Ok(())
            };
            match fate {
                0 => {}
                4 => {
                    step(
                        tx,
                        &specialist,
                        Code::Rejected,
                        Some("Better seen by another service"),
                        None,
                    )?;
                }
                5 => {
                    step(
                        tx,
                        &referring,
                        Code::Cancelled,
                        Some("Symptoms resolved"),
                        None,
                    )?;
                }
                _ => {
                    step(tx, &specialist, Code::Accepted, None, None)?;
                    write_note(tx)?;
                    if *fate >= 2 {
                        // The specialist's appointment with the patient, if the slot is free.
                        let start = now().date().and_hms_opt(9, 0, 0).expect("nine")
                            + Duration::days(*day)
                            + Duration::minutes(30 * (*pi as i64 % 16));
                        let booked = tx.as_actor(&specialist, |tx| {
                            appointments::book(
                                tx,
                                NewAppointment {
                                    patient_id: patient_id.clone(),
                                    doctor_id: specialist_id.clone(),
                                    start_time: Timestamp::from_db(start),
                                    end_time: Timestamp::from_db(start + Duration::minutes(30)),
                                    reason: Some("Specialist consultation".into()),
                                },
                                false,
                            )
                        });
                        let appt = match booked {
                            Ok(a) => Some(a.id),
                            Err(Error::Conflict { .. }) => None,
                            Err(e) => return Err(e),
                        };
                        step(tx, &specialist, Code::Scheduled, None, appt)?;
                    }
                    if *fate == 3 {
                        step(tx, &specialist, Code::Completed, None, None)?;
                        write_note(tx)?;
                    }
                }
            }
        }
        Ok(())
    })?;
    Ok(())
}

/// Portal threads: a patient asks a doctor they have seen, the doctor answers, and sometimes
/// the patient thanks them.
#[allow(clippy::too_many_arguments)]
fn load_messages(
    conn: &mut DbConn,
    db: &Db,
    audit: &Audit,
    system: &Actor,
    rng: &mut StdRng,
    seen: &[(usize, usize)],
    (doctor_people, patient_people): (&[Person], &[Person]),
    report: &mut DemoReport,
) -> anyhow::Result<()> {
    const THREADS: &[(&str, &str, &str)] = &[
        (
            "Side effects",
            "Since starting the new tablets I feel dizzy in the mornings. Is that expected?",
            "It can be, for the first two weeks. Stand up slowly; if it lasts longer, book a visit.",
        ),
        (
            "Lab results",
            "I saw my results in the portal. What does the high LDL mean for me?",
            "It raises your heart risk a little. Let's talk about diet and a statin at your next visit.",
        ),
        (
            "Prescription refill",
            "I'm running out of my inhaler. Can you send a refill to my pharmacy?",
            "Done — it's at your usual pharmacy with two refills.",
        ),
    ];
    let mut plan = Vec::new();
    for _ in 0..(patient_people.len() / 10).max(5) {
        let pair = *seen.choose(rng).expect("seen");
        plan.push((pair, rng.gen_range(0..THREADS.len()), rng.gen_bool(0.5)));
    }
    run(conn, db, system, |tx| {
        for ((di, pi), t, thanks) in &plan {
            let (d, p) = (&doctor_people[*di], &patient_people[*pi]);
            let doctor = actor(
                audit,
                principal(&d.user_id, DOCTOR, None, d.doctor_id.as_deref()),
            );
            let patient = actor(
                audit,
                principal(&p.user_id, PATIENT, p.patient_id.as_deref(), None),
            );
            let (subject, question, answer) = THREADS[*t];
            let say = |tx: &mut Tx, by: &Actor, to: &str, body: &str, reply_to| {
                tx.as_actor(by, |tx| {
                    portal::send(
                        tx,
                        portal::NewMessage {
                            receiver_id: crate::kit::UserId::from_db(to.to_string()),
                            subject: subject.into(),
                            body: body.into(),
                            reply_to,
                        },
                    )
                })
            };
            let q = say(tx, &patient, &d.user_id, question, None)?;
            let a = say(tx, &doctor, &p.user_id, answer, Some(q.id))?;
            report.messages += 2;
            if *thanks {
                say(tx, &patient, &d.user_id, "Thank you!", Some(a.id))?;
                report.messages += 1;
            }
        }
        // Feedback on the portal from some of the same patients.
        for (i, ((_, pi), _, _)) in plan.iter().enumerate() {
            let p = &patient_people[*pi];
            let patient = actor(
                audit,
                principal(&p.user_id, PATIENT, p.patient_id.as_deref(), None),
            );
            let (category, rating, comment) = [
                (
                    portal::FeedbackCategory::App,
                    4,
                    "Easy to book and see my results.",
                ),
                (
                    portal::FeedbackCategory::Doctor,
                    5,
                    "My doctor answered quickly.",
                ),
                (
                    portal::FeedbackCategory::Billing,
                    2,
                    "The invoice was hard to understand.",
                ),
            ][i % 3];
            tx.as_actor(&patient, |tx| {
                portal::give_feedback(
                    tx,
                    portal::NewFeedback {
                        rating,
                        category,
                        comment: Some(comment.into()),
                        appointment_id: None,
                    },
                )
            })?;
        }
        Ok(())
    })?;
    Ok(())
}

/// A patient-experience survey (every kind of question), answered through the same rules as
/// the API by a quarter of the patients (at most 250: the load stays quick).
fn load_surveys(
    conn: &mut DbConn,
    db: &Db,
    audit: &Audit,
    system: &Actor,
    rng: &mut StdRng,
    patient_people: &[Person],
) -> anyhow::Result<usize> {
    use portal::surveys::{self, Audience, NewQuestion, NewResponse, NewSurvey, QuestionKind};
    use serde_json::json;
    let question = |id: &str,
                    text: &str,
                    kind: QuestionKind,
                    options: &[&str],
                    range: Option<(i32, i32)>,
                    required: bool| NewQuestion {
        id: Some(id.to_string()),
        text: text.to_string(),
        kind,
        options: (!options.is_empty()).then(|| options.iter().map(|o| o.to_string()).collect()),
        min: range.map(|(lo, _)| lo),
        max: range.map(|(_, hi)| hi),
        required: Some(required),
    };
    const CHANNELS: &[&str] = &["In the clinic", "By video", "By phone"];
    const USES: &[&str] = &[
        "Booking appointments",
        "Messages",
        "Lab results",
        "Prescriptions",
        "Bills",
    ];
    const BETTER: &[&str] = &[
        "Evening appointments, please.",
        "Lab results took a while to show up.",
        "The bills are hard to read.",
        "More video visits.",
        "Nothing, thank you!",
    ];
    let new = NewSurvey {
        title: "Patient experience".into(),
        description: Some("Five short questions about your care and the portal.".into()),
        audience: Audience::Patients,
        questions: vec![
            question(
                "channel",
                "How did you last see your care team?",
                QuestionKind::SingleChoice,
                CHANNELS,
                None,
                true,
            ),
            question(
                "portal_use",
                "What do you use the portal for?",
                QuestionKind::MultipleChoice,
                USES,
                None,
                false,
            ),
            question(
                "ease",
                "How easy is the portal to use?",
                QuestionKind::Scale,
                &[],
                Some((1, 5)),
                true,
            ),
            question(
                "recommend",
                "How likely are you to recommend us to a friend?",
                QuestionKind::Scale,
                &[],
                Some((0, 10)),
                false,
            ),
            question(
                "better",
                "What could we do better?",
                QuestionKind::Text,
                &[],
                None,
                false,
            ),
        ],
        active: Some(true),
    };
    let mut survey = None;
    run(conn, db, system, |tx| {
        survey = Some(surveys::create(tx, new)?.id);
        Ok(())
    })?;
    let survey = survey.expect("the survey was created");
    let respondents: Vec<&Person> = patient_people
        .choose_multiple(rng, (patient_people.len() / 4).clamp(1, 250))
        .collect();
    let plan: Vec<(&Person, NewResponse)> = respondents
        .into_iter()
        .map(|p| {
            let mut answers = std::collections::BTreeMap::new();
            let channel = CHANNELS[[0, 0, 0, 1, 1, 2][rng.gen_range(0..6)]];
            answers.insert("channel".to_string(), json!(channel));
            let n = rng.gen_range(0..=3);
            let uses: Vec<&str> = USES.choose_multiple(rng, n).copied().collect();
            answers.insert("portal_use".to_string(), json!(uses));
            answers.insert("ease".to_string(), json!(rng.gen_range(2..=5)));
            if rng.gen_bool(0.6) {
                answers.insert("recommend".to_string(), json!(rng.gen_range(5..=10)));
            }
            if rng.gen_bool(0.3) {
                let text = BETTER.choose(rng).expect("non-empty");
                answers.insert("better".to_string(), json!(text));
            }
            (p, NewResponse { answers })
        })
        .collect();
    let responses = plan.len();
    run(conn, db, system, |tx| {
        for (p, response) in plan {
            let patient = actor(
                audit,
                principal(&p.user_id, PATIENT, p.patient_id.as_deref(), None),
            );
            tx.as_actor(&patient, |tx| surveys::respond(tx, &survey, response))?;
        }
        Ok(())
    })?;
    Ok(responses)
}

/// Devices for patients who consented to remote monitoring: a heart-rate monitor (a week at
/// one reading every five minutes, circadian: lower at night, higher by day, now and then a
/// run of tachycardia) and for some a glucose meter (every fifteen minutes, rising after
/// meals). Readings go through the ingest rule, so the thresholds raise their alerts.
#[allow(clippy::too_many_arguments)]
fn load_devices(
    conn: &mut DbConn,
    db: &Db,
    audit: &Audit,
    system: &Actor,
    rng: &mut StdRng,
    remote_patients: &[usize],
    patient_people: &[Person],
    report: &mut DemoReport,
) -> anyhow::Result<()> {
    use chrono::Timelike;
    use devices::{DeviceKind, NewDevice, NewReading, Readings};
    let week_start = now() - Duration::days(7);
    let wanted: Vec<usize> = remote_patients.iter().copied().take(30).collect();
    for (n, pi) in wanted.iter().enumerate() {
        let p = &patient_people[*pi];
        let patient = actor(
            audit,
            principal(&p.user_id, PATIENT, p.patient_id.as_deref(), None),
        );
        let with_glucose = n % 3 == 0;
        let tachy_day = rng.gen_range(0..7);
        let noise: Vec<f64> = (0..2016).map(|_| rng.gen_range(-4.0..4.0)).collect();
        run(conn, db, system, |tx| {
            let mut kinds = vec![(DeviceKind::HeartRateMonitor, "Polar", "H10")];
            if with_glucose {
                kinds.push((DeviceKind::GlucoseMeter, "Abbott", "FreeStyle Libre 3"));
            }
            for (kind, manufacturer, model) in kinds {
                let d = tx.as_actor(&patient, |tx| {
                    devices::register(
                        tx,
                        NewDevice {
                            patient_id: None,
                            kind,
                            manufacturer: manufacturer.into(),
                            model: Some(model.into()),
                            serial_number: format!(
                                "{}-{:06}",
                                &manufacturer[..3].to_uppercase(),
                                pi
                            ),
                        },
                    )
                })?;
                report.devices += 1;
                let readings: Vec<NewReading> = if kind == DeviceKind::HeartRateMonitor {
                    (0..2016)
                        .map(|i| {
                            let at = week_start + Duration::minutes(5 * i as i64);
                            let hour = at.hour() as f64 + at.minute() as f64 / 60.0;
                            // Circadian: about 58 at 4 am, about 78 at 4 pm.
                            let base =
                                68.0 - 10.0 * ((hour - 4.0) / 24.0 * std::f64::consts::TAU).cos();
                            let day = i / 288;
                            let run = day == tachy_day && (168..174).contains(&(i % 288));
                            let value = if run {
                                158.0 + (i % 6) as f64
                            } else {
                                base + noise[i]
                            };
                            NewReading {
                                metric: "heart_rate".into(),
                                value: value.round(),
                                unit: "bpm".into(),
                                recorded_at: Timestamp::from_db(at),
                            }
                        })
                        .collect()
                } else {
                    (0..672)
                        .map(|i| {
                            let at = week_start + Duration::minutes(15 * i as i64);
                            let hour = at.hour() as f64 + at.minute() as f64 / 60.0;
                            // Fasting about 95; up to 90 more in the hours after each meal.
                            let meal = [7.5f64, 12.5, 19.0]
                                .iter()
                                .map(|m| {
                                    let t = hour - m;
                                    if (0.0..3.0).contains(&t) {
                                        90.0 * (t * 1.2).min(1.0) * (1.0 - t / 3.0)
                                    } else {
                                        0.0
                                    }
                                })
                                .fold(0.0, f64::max);
                            NewReading {
                                metric: "glucose".into(),
                                value: (95.0 + meal + noise[i] * 2.0).round(),
                                unit: "mg/dL".into(),
                                recorded_at: Timestamp::from_db(at),
                            }
                        })
                        .collect()
                };
                let count = readings.len();
                tx.as_actor(&patient, |tx| {
                    devices::ingest(tx, &d.device.id, Readings { readings }, false)
                })?;
                report.readings += count;
            }
            Ok(())
        })?;
    }
    report.monitoring_alerts = devices::count_threshold_alerts(conn)
        .map_err(|e| anyhow::anyhow!("counting alerts: {e}"))?
        as usize;
    Ok(())
}

/// Billed services: (CPT code, description, price in cents).
const SERVICES: &[(&str, &str, i64)] = &[
    (
        "99213",
        "Office visit, established patient, low complexity",
        13_500,
    ),
    (
        "99214",
        "Office visit, established patient, moderate complexity",
        19_800,
    ),
    ("80048", "Basic metabolic panel", 4_200),
    ("85025", "Complete blood count with differential", 3_100),
    ("83036", "Hemoglobin A1c", 2_900),
    ("80061", "Lipid panel", 3_800),
    ("93000", "Electrocardiogram with interpretation", 6_500),
    ("71046", "Chest X-ray, two views", 9_700),
];

/// Billing: plans from a few payers, a billing clerk, claims in every state of their review
/// (paid ones through payments), and invoices drafted, issued, paid and voided.
#[allow(clippy::too_many_arguments)]
fn load_billing(
    conn: &mut DbConn,
    db: &Db,
    audit: &Audit,
    system: &Actor,
    hash: &str,
    rng: &mut StdRng,
    patient_people: &[Person],
    report: &mut DemoReport,
) -> anyhow::Result<()> {
    use billing::{ClaimStatus as C, ClaimTransition, InvoiceLineInput, NewClaim, NewClaimLine};
    if patient_people.is_empty() {
        return Ok(());
    }
    let mut plans = Vec::new();
    let mut clerk_id = String::new();
    run(conn, db, system, |tx| {
        for (name, payer, code) in [
            ("Acme Gold PPO", "Acme Health", "ACME-GOLD"),
            ("Acme Silver HMO", "Acme Health", "ACME-SILVER"),
            ("BlueRiver Standard", "BlueRiver Insurance", "BR-STD"),
            ("Northwind Senior", "Northwind Mutual", "NW-SENIOR"),
        ] {
            let p = billing::create_plan(
                tx,
                billing::NewPlan {
                    name: name.into(),
                    payer: payer.into(),
                    plan_code: code.into(),
                    active: Some(true),
                },
            )?;
            plans.push(p.id);
        }
        let email = format!("billing@{DEMO_DOMAIN}");
        let u = accounts::create_account(
            tx,
            accounts::CreateUser {
                email: email.clone(),
                password: DEMO_PASSWORD.to_string(),
                display_name: "Billing Clerk".into(),
                roles: vec![BILLING.to_string()],
            },
            hash.to_string(),
        )?;
        clerk_id = u.id.into_string();
        report.billing_login = email;
        Ok(())
    })?;
    let clerk = actor(audit, principal(&clerk_id, BILLING, None, None));
    let wanted = (patient_people.len() / 4).max(12);
    let mut plan = Vec::new();
    for i in 0..wanted {
        let p = rng.gen_range(0..patient_people.len());
        let services: Vec<usize> = (0..rng.gen_range(1..4))
            .map(|_| rng.gen_range(0..SERVICES.len()))
            .collect();
        let fate = if i < 12 { i % 6 } else { rng.gen_range(0..6) };
        // The first invoiced claim's share is paid and the second's is not, so that every
        // invoice state shows.
        let pays = match i {
            5 => true,
            11 => false,
            _ => rng.gen_bool(0.5),
        };
        let (plan_i, days_ago) = (rng.gen_range(0..plans.len()), rng.gen_range(1..60));
        plan.push((p, plan_i, services, fate, days_ago, pays));
    }
    run(conn, db, system, |tx| {
        for (pi, plan_i, services, fate, days_ago, pays) in &plan {
            let patient_id =
                PatientId::from_db(patient_people[*pi].patient_id.clone().expect("patient"));
            let lines: Vec<NewClaimLine> = services
                .iter()
                .map(|s| NewClaimLine {
                    code: SERVICES[*s].0.into(),
                    description: SERVICES[*s].1.into(),
                    amount: Money::new(SERVICES[*s].2, "USD"),
                })
                .collect();
            let new = NewClaim {
                patient_id: patient_id.clone(),
                plan_id: plans[*plan_i].clone(),
                member_id: format!("M{:08}", pi * 7919 % 100_000_000),
                service_date: Date::from_db(now().date() - Duration::days(*days_ago)),
                appointment_id: None,
                lines,
            };
            let c = tx.as_actor(&clerk, |tx| billing::file_claim(tx, new))?;
            report.claims += 1;
            let step = |tx: &mut Tx, to: C, approved: Option<Money>, reason: Option<&str>| {
                let t = ClaimTransition {
                    to,
                    approved_amount: approved,
                    denial_reason: reason.map(str::to_string),
                };
                tx.as_actor(&clerk, |tx| billing::move_claim(tx, &c.id, t))
            };
            // 0 submitted, 1 in review, 2 approved, 3 denied, 4 approved and paid, 5 invoiced.
            if *fate == 0 {
                continue;
            }
            step(tx, C::InReview, None, None)?;
            let approved = Money::new(c.total.amount_minor * 8 / 10, "USD");
            match fate {
                1 => {}
                3 => {
                    step(tx, C::Denied, None, Some("Service not covered by the plan"))?;
                }
                _ => {
                    step(tx, C::Approved, Some(approved.clone()), None)?;
                    if *fate >= 4 {
                        let pay = billing::NewPayment {
                            claim_id: Some(c.id.clone()),
                            invoice_id: None,
                            amount: approved.clone(),
                            method: billing::PaymentMethod::Insurer,
                            reference: Some(format!("EOB-{}", &c.id.as_str()[..8])),
                        };
                        tx.as_actor(&clerk, |tx| billing::pay(tx, pay))?;
                        report.payments += 1;
                    }
                    if *fate == 5 {
                        // The patient's share: an invoice, issued and paid by card.
                        let share = c.total.amount_minor - approved.amount_minor;
                        let inv = tx.as_actor(&clerk, |tx| {
                            billing::draft_invoice(
                                tx,
                                billing::NewInvoice {
                                    patient_id: patient_id.clone(),
                                    claim_id: Some(c.id.clone()),
                                    currency: "USD".into(),
                                    lines: vec![InvoiceLineInput {
                                        description: "Patient share after insurance".into(),
                                        quantity: 1,
                                        unit_amount: Money::new(share, "USD"),
                                    }],
                                    due_date: Some(Date::from_db(
                                        now().date() + Duration::days(30),
                                    )),
                                },
                            )
                        })?;
                        report.invoices += 1;
                        tx.as_actor(&clerk, |tx| billing::issue_invoice(tx, &inv.id))?;
                        if *pays {
                            let pay = billing::NewPayment {
                                claim_id: None,
                                invoice_id: Some(inv.id.clone()),
                                amount: Money::new(share, "USD"),
                                method: billing::PaymentMethod::Card,
                                reference: None,
                            };
                            tx.as_actor(&clerk, |tx| billing::pay(tx, pay))?;
                            report.payments += 1;
                        }
                    }
                }
            }
        }
        // A draft and a voided invoice, so that every state shows.
        for void in [false, true] {
            let patient_id =
                PatientId::from_db(patient_people[0].patient_id.clone().expect("patient"));
            let inv = tx.as_actor(&clerk, |tx| {
                billing::draft_invoice(
                    tx,
                    billing::NewInvoice {
                        patient_id,
                        claim_id: None,
                        currency: "USD".into(),
                        lines: vec![InvoiceLineInput {
                            description: "Copy of medical records".into(),
                            quantity: 1,
                            unit_amount: Money::new(2_500, "USD"),
                        }],
                        due_date: None,
                    },
                )
            })?;
            report.invoices += 1;
            if void {
                tx.as_actor(&clerk, |tx| billing::void_invoice(tx, &inv.id))?;
            }
        }
        Ok(())
    })?;
    Ok(())
}

/// The demo's catalogue: (RxNorm code of the clinical drug, name, form, strength).
const MEDICATIONS: &[(&str, &str, &str, &str)] = &[
    ("197361", "Amlodipine", "oral tablet", "5 mg"),
    ("308135", "Amlodipine", "oral tablet", "10 mg"),
    ("314076", "Lisinopril", "oral tablet", "10 mg"),
    ("314077", "Lisinopril", "oral tablet", "20 mg"),
    ("860975", "Metformin hydrochloride", "oral tablet", "500 mg"),
    (
        "861007",
        "Metformin hydrochloride",
        "oral tablet",
        "1000 mg",
    ),
    ("617311", "Atorvastatin", "oral tablet", "20 mg"),
    ("617312", "Atorvastatin", "oral tablet", "40 mg"),
    ("312961", "Simvastatin", "oral tablet", "20 mg"),
    (
        "198048",
        "Omeprazole",
        "delayed release oral capsule",
        "20 mg",
    ),
    ("310798", "Hydrochlorothiazide", "oral tablet", "25 mg"),
    ("197381", "Atenolol", "oral tablet", "50 mg"),
    (
        "866924",
        "Metoprolol succinate",
        "extended release oral tablet",
        "25 mg",
    ),
    ("310429", "Furosemide", "oral tablet", "20 mg"),
    ("309362", "Clopidogrel", "oral tablet", "75 mg"),
    ("243670", "Aspirin", "oral tablet", "81 mg"),
    ("310965", "Ibuprofen", "oral tablet", "200 mg"),
    ("313782", "Acetaminophen", "oral tablet", "325 mg"),
    ("308191", "Amoxicillin", "oral capsule", "500 mg"),
    ("308182", "Amoxicillin", "oral capsule", "250 mg"),
    ("197517", "Clarithromycin", "oral tablet", "500 mg"),
    ("312615", "Prednisone", "oral tablet", "20 mg"),
    ("310384", "Fluoxetine", "oral capsule", "20 mg"),
    ("312941", "Sertraline", "oral tablet", "50 mg"),
    ("966247", "Levothyroxine sodium", "oral tablet", "50 mcg"),
    (
        "745679",
        "Albuterol",
        "metered dose inhaler",
        "90 mcg/actuation",
    ),
    ("311989", "Nitrofurantoin", "oral capsule", "100 mg"),
    ("197696", "Gabapentin", "oral capsule", "300 mg"),
    ("198211", "Simvastatin", "oral tablet", "40 mg"),
    ("200371", "Montelukast", "oral tablet", "10 mg"),
];

/// The pharmacy side: the catalogue, three pharmacies with their pharmacists, prescriptions
/// by doctors for patients they have seen, and orders in every state of their machine.
#[allow(clippy::too_many_arguments)]
fn load_pharmacy(
    conn: &mut DbConn,
    db: &Db,
    audit: &Audit,
    system: &Actor,
    hash: &str,
    rng: &mut StdRng,
    seen: &[(usize, usize)],
    (doctor_people, patient_people): (&[Person], &[Person]),
    report: &mut DemoReport,
) -> anyhow::Result<()> {
    use pharmacy::{NewOrder, NewPrescription, OrderStatus, OrderTransition};
    let mut medications = Vec::new();
    let mut stores = Vec::new();
    run(conn, db, system, |tx| {
        for (code, name, form, strength) in MEDICATIONS {
            let m = pharmacy::create_medication(
                tx,
                pharmacy::NewMedication {
                    name: name.to_string(),
                    code: code.to_string(),
                    form: Some(form.to_string()),
                    strength: Some(strength.to_string()),
                    active: Some(true),
                },
            )?;
            medications.push((m.id, *strength));
        }
        for (i, (name, street)) in [
            ("Riverside Pharmacy", "12 River Rd"),
            ("Central Apothecary", "200 Main St"),
            ("Hilltop Drugstore", "7 Summit Ave"),
        ]
        .iter()
        .enumerate()
        {
            let p = pharmacy::create_pharmacy(
                tx,
                pharmacy::NewPharmacy {
                    name: name.to_string(),
                    address: Some(street.to_string()),
                    phone: Some(format!("+1-555-02{i:02}")),
                    email: Some(format!("rx{}@{DEMO_DOMAIN}", i + 1)),
                    active: Some(true),
                },
            )?;
            let email = format!("pharmacist{}@{DEMO_DOMAIN}", i + 1);
            let u = accounts::create_account(
                tx,
                accounts::CreateUser {
                    email: email.clone(),
                    password: DEMO_PASSWORD.to_string(),
                    display_name: format!("Pharmacist {}", i + 1),
                    roles: vec![PHARMACIST.to_string()],
                },
                hash.to_string(),
            )?;
            pharmacy::add_staff(
                tx,
                &p.id,
                pharmacy::NewStaff {
                    user_id: u.id.clone(),
                },
            )?;
            if i == 0 {
                report.pharmacist_login = email;
            }
            stores.push((p.id, u.id.into_string()));
        }
        Ok(())
    })?;
    report.medications = medications.len();
    if seen.is_empty() {
        return Ok(());
    }
    let wanted = (patient_people.len() / 2).max(15);
    let mut plan = Vec::new();
    for i in 0..wanted {
        let (di, pi) = *seen.choose(rng).expect("seen");
        let mi = rng.gen_range(0..medications.len());
        let si = rng.gen_range(0..stores.len());
        // Orders: none, then sent, received, filled, picked up, cancelled, a refill.
        let fate = if i < 14 { i % 7 } else { rng.gen_range(0..7) };
        plan.push((di, pi, mi, si, fate, rng.gen_range(0..4)));
    }
    run(conn, db, system, |tx| {
        for (di, pi, mi, si, fate, refills) in &plan {
            let (d, p) = (&doctor_people[*di], &patient_people[*pi]);
            let doctor = actor(
                audit,
                principal(&d.user_id, DOCTOR, None, d.doctor_id.as_deref()),
            );
            let patient = actor(
                audit,
                principal(&p.user_id, PATIENT, p.patient_id.as_deref(), None),
            );
            let (store_id, pharmacist_id) = &stores[*si];
            let pharmacist = actor(audit, principal(pharmacist_id, PHARMACIST, None, None));
            let (medication, strength) = &medications[*mi];
            let rx = tx.as_actor(&doctor, |tx| {
                pharmacy::prescribe(
                    tx,
                    NewPrescription {
                        patient_id: PatientId::from_db(p.patient_id.clone().expect("patient")),
                        doctor_id: None,
                        appointment_id: None,
                        medication_id: medication.clone(),
                        dosage: strength.to_string(),
                        frequency: "once daily".into(),
                        quantity: 30,
                        refills: Some(*refills),
                        instructions: Some("Take with water.".into()),
                        valid_until: None,
                    },
                )
            })?;
            report.prescriptions += 1;
            if *fate == 0 {
                continue;
            }
            let new = NewOrder {
                prescription_id: rx.id.clone(),
                pharmacy_id: store_id.clone(),
            };
            let o = tx.as_actor(&patient, |tx| pharmacy::place_order(tx, new))?;
            report.pharmacy_orders += 1;
            let step = |tx: &mut Tx, by: &Actor, to: OrderStatus, reason: Option<&str>| {
                let t = OrderTransition {
                    to,
                    reason: reason.map(str::to_string),
                };
                tx.as_actor(by, |tx| {
                    pharmacy::move_order(tx, &o.id, t, Timestamp::now())
                })
            };
            match fate {
                1 => {}
                2 => {
                    step(tx, &pharmacist, OrderStatus::Received, None)?;
                }
                5 => {
                    step(
                        tx,
                        &patient,
                        OrderStatus::Cancelled,
                        Some("Bought it elsewhere"),
                    )?;
                }
                _ => {
                    step(tx, &pharmacist, OrderStatus::Received, None)?;
                    step(tx, &pharmacist, OrderStatus::Filled, None)?;
                    if *fate >= 4 {
                        step(tx, &pharmacist, OrderStatus::PickedUp, None)?;
                    }
                }
            }
        }
        Ok(())
    })?;
    Ok(())
}

/// Why doctors refer, and what the specialist writes back.
const REFERRAL_TEXTS: &[(&str, &str)] = &[
    (
        "Chest pain on exertion; please assess for coronary disease",
        "Stress test scheduled; start aspirin 81 mg daily meanwhile.",
    ),
    (
        "Persistent knee pain after a fall, no improvement with physiotherapy",
        "MRI shows a small meniscal tear; conservative care first.",
    ),
    (
        "New-onset headaches with visual aura",
        "Migraine with aura; no red flags. Diary and triptan as needed.",
    ),
    (
        "HbA1c rising despite metformin",
        "Adding a GLP-1 agonist; review in three months with a new HbA1c.",
    ),
    (
        "Suspicious pigmented lesion on the back",
        "Dermoscopy benign-looking; excised for histology to be sure.",
    ),
];

/// A grayscale PNG of `width` × `height`: a soft radial gradient, shifted by `seed`. Written
/// by hand (stored deflate blocks, CRC-32, Adler-32): the demo needs no image crate.
fn demo_png(width: u32, height: u32, seed: u32) -> Vec<u8> {
    fn crc32(bytes: &[u8]) -> u32 {
        let mut crc = !0u32;
        for &b in bytes {
            crc ^= b as u32;
            for _ in 0..8 {
                crc = if crc & 1 == 1 {
                    (crc >> 1) ^ 0xEDB8_8320
                } else {
                    crc >> 1
                };
            }
        }
        !crc
    }
    fn chunk(out: &mut Vec<u8>, kind: &[u8; 4], data: &[u8]) {
        out.extend_from_slice(&(data.len() as u32).to_be_bytes());
        let mut body = kind.to_vec();
        body.extend_from_slice(data);
        out.extend_from_slice(&body);
        out.extend_from_slice(&crc32(&body).to_be_bytes());
    }
    let mut raw = Vec::new();
    let (cx, cy) = (
        (width / 2 + seed % 9) as f64,
        (height / 2 + seed % 7) as f64,
    );
    for y in 0..height {
        raw.push(0); // no filter
        for x in 0..width {
            let d = ((x as f64 - cx).powi(2) + (y as f64 - cy).powi(2)).sqrt();
            raw.push((235.0 - d * 5.0).clamp(20.0, 235.0) as u8);
        }
    }
    // zlib: header, stored blocks of at most 65,535 bytes, Adler-32.
    let mut z = vec![0x78, 0x01];
    let blocks: Vec<&[u8]> = raw.chunks(65_535).collect();
    for (i, block) in blocks.iter().enumerate() {
        z.push(u8::from(i + 1 == blocks.len()));
        let len = block.len() as u16;
        z.extend_from_slice(&len.to_le_bytes());
        z.extend_from_slice(&(!len).to_le_bytes());
        z.extend_from_slice(block);
    }
    let (mut a, mut b) = (1u32, 0u32);
    for &byte in &raw {
        a = (a + byte as u32) % 65_521;
        b = (b + a) % 65_521;
    }
    z.extend_from_slice(&((b << 16) | a).to_be_bytes());
    let mut ihdr = Vec::new();
    ihdr.extend_from_slice(&width.to_be_bytes());
    ihdr.extend_from_slice(&height.to_be_bytes());
    ihdr.extend_from_slice(&[8, 0, 0, 0, 0]);
    let mut png = b"\x89PNG\r\n\x1a\n".to_vec();
    chunk(&mut png, b"IHDR", &ihdr);
    chunk(&mut png, b"IDAT", &z);
    chunk(&mut png, b"IEND", &[]);
    png
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
