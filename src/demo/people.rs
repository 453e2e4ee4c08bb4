//! The clinic's people: its doctors (one specialty each, from the roster) and its patients,
//! self-registered as the API does it, of every age (a fifth of them children, a quarter over
//! 65), with given names that match their sex, each with a primary-care doctor who fits their
//! age and a few specialists who fit their age and sex, and the condition each one sees them for.

use chrono::{Duration, NaiveDate};
use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use rand::Rng;

use super::clinic::{self, Specialty, Who};
use super::{Cast, Ctx, DemoReport, DemoSize, Doctor, Patient, DEMO_DOMAIN};
use crate::db::DbConn;
use crate::domains::accounts;
use crate::domains::patients::{self, NewDoctor, NewPatient, Sex};
use crate::kit::backdate;
use crate::kit::{Date, Tx};

const FEMALE: &[&str] = &[
    "Olivia", "Emma", "Ava", "Sophia", "Isabella", "Mia", "Amelia", "Harper", "Evelyn", "Abigail",
    "Emily", "Sofia", "Aisha", "Priya", "Fatima", "Chloe", "Grace", "Nora", "Layla", "Zoe",
    "Hannah", "Maria", "Mei", "Yuki", "Amara", "Leila", "Ingrid", "Rosa", "Margaret", "Dorothy",
    "Helen", "Ruth", "Carmen", "Ananya", "Chiara", "Elena", "Lucy", "Naomi", "Sara", "Wanjiru",
];
const MALE: &[&str] = &[
    "Liam",
    "Noah",
    "Oliver",
    "Elijah",
    "James",
    "William",
    "Benjamin",
    "Lucas",
    "Henry",
    "Alexander",
    "Mateo",
    "Daniel",
    "Wei",
    "Kenji",
    "Diego",
    "Samuel",
    "Omar",
    "Ethan",
    "Jacob",
    "Arjun",
    "David",
    "Joseph",
    "Hiroshi",
    "Kwame",
    "Ahmed",
    "Lars",
    "Pedro",
    "Robert",
    "George",
    "Walter",
    "Frank",
    "Raj",
    "Luca",
    "Ivan",
    "Thomas",
    "Michael",
    "Jamal",
    "Tomasz",
    "Chen",
    "Emeka",
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

/// How far the demo's visits reach: six months back and two ahead (see appointments.rs). A
/// patient's doctors fit them over the whole of it: no pediatrician for a 17-year-old who turns
/// 18 next month.
pub(super) const PAST_DAYS: i64 = 180;
pub(super) const FUTURE_DAYS: i64 = 60;

/// Loads the doctors and the patients.
pub(super) fn load(
    conn: &mut DbConn,
    ctx: &Ctx,
    size: DemoSize,
    report: &mut DemoReport,
) -> anyhow::Result<Cast> {
    let mut rng = ctx.rng("people");
    let doctors = load_doctors(conn, ctx, size.doctors, &mut rng)?;
    report.doctors = doctors.len();
    let patients = load_patients(conn, ctx, size.patients, &doctors, &mut rng)?;
    report.patients = patients.len();
    Ok(Cast { doctors, patients })
}

fn load_doctors(
    conn: &mut DbConn,
    ctx: &Ctx,
    n: usize,
    rng: &mut StdRng,
) -> anyhow::Result<Vec<Doctor>> {
    let mut doctors = Vec::new();
    ctx.run(conn, |tx| {
        for i in 0..n {
            let given = if i % 2 == 0 {
                FEMALE[(i * 7 + 3) % FEMALE.len()]
            } else {
                MALE[(i * 7 + 3) % MALE.len()]
            };
            let family = FAMILY[(i * 11 + 5) % FAMILY.len()];
            let specialty = clinic::specialty(clinic::ROSTER[i % clinic::ROSTER.len()]);
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
                    specialty: specialty.name.into(),
                    license_number: format!("MD-{:06}", 100_000 + i * 37),
                    email: email.clone(),
                    phone: Some(format!("+1-555-{:04}", 1000 + i)),
                    user_id: None,
                    password: None,
                },
                Some(ctx.hash.clone()),
            )?;
            let user_id = d.user_id.expect("a doctor with a login").into_string();
            // On staff for two to ten years.
            let since = ctx.clock
                - Duration::days(rng.gen_range(730..3650))
                - Duration::minutes(rng.gen_range(0..600));
            backdate::row(tx, "users", &user_id, since, since)?;
            backdate::row(tx, "doctors", d.id.as_str(), since, since)?;
            doctors.push(Doctor {
                user_id,
                id: d.id.into_string(),
                email,
                specialty,
            });
        }
        Ok(())
    })?;
    Ok(doctors)
}

/// Whether `who` fits the patient on every day the demo may book them.
pub(super) fn fits(ctx: &Ctx, who: &Who, sex: Sex, birth: NaiveDate) -> bool {
    let first = clinic::age_on(birth, ctx.today() - Duration::days(PAST_DAYS));
    let last = clinic::age_on(birth, ctx.today() + Duration::days(FUTURE_DAYS));
    who.fits(first, sex) && who.fits(last, sex)
}

fn load_patients(
    conn: &mut DbConn,
    ctx: &Ctx,
    n: usize,
    doctors: &[Doctor],
    rng: &mut StdRng,
) -> anyhow::Result<Vec<Patient>> {
    let mut patients: Vec<Patient> = Vec::new();
    for chunk_start in (0..n).step_by(200) {
        let end = (chunk_start + 200).min(n);
        let mut rows = Vec::new();
        for i in chunk_start..end {
            let sex = if rng.gen_bool(0.51) {
                Sex::Female
            } else {
                Sex::Male
            };
            let names = if sex == Sex::Female { FEMALE } else { MALE };
            let given = *names.choose(rng).expect("non-empty");
            let family = *FAMILY.choose(rng).expect("non-empty");
            // A fifth children (eight months and up: every visit of the last six months came
            // after their birth), a quarter 18–39, three tenths 40–64, a quarter 65–94.
            let days = match rng.gen_range(0..100) {
                0..=19 => rng.gen_range(240..18 * 365),
                20..=44 => rng.gen_range(18 * 365 + 5..40 * 365),
                45..=74 => rng.gen_range(40 * 365..65 * 365),
                _ => rng.gen_range(65 * 365 + 5..95 * 365),
            };
            let birth = ctx.today() - Duration::days(days);
            // Registered before any visit of the demo (which reach back 180 days, booked up to
            // six weeks ahead), after birth.
            let registered = (ctx.clock - Duration::days(rng.gen_range(230..2500)))
                .max(birth.and_hms_opt(0, 0, 0).expect("midnight") + Duration::days(14))
                .date()
                .and_hms_opt(rng.gen_range(8..20), rng.gen_range(0..60), 0)
                .expect("a time of day");
            let panel = panel(ctx, doctors, sex, birth, rng);
            let email = format!(
                "{}.{}{}@{DEMO_DOMAIN}",
                given.to_lowercase(),
                family.to_lowercase(),
                i + 1
            );
            let address = format!(
                "{} {}, {}",
                rng.gen_range(1..999),
                STREETS.choose(rng).expect("non-empty"),
                CITIES.choose(rng).expect("non-empty")
            );
            let phone = format!(
                "+1-555-{:03}-{:04}",
                rng.gen_range(200..999),
                rng.gen_range(0..9999)
            );
            let register = accounts::Register {
                email,
                password: super::DEMO_PASSWORD.to_string(),
                given_name: given.to_string(),
                family_name: family.to_string(),
                birth_date: Date::from_db(birth),
                sex,
                phone: Some(phone),
            };
            rows.push((register, address, registered, panel));
        }
        let mut made = Vec::new();
        ctx.run(conn, |tx: &mut Tx| {
            for (r, address, registered, panel) in rows {
                let email = r.email.clone();
                let (sex, birth) = (r.sex, r.birth_date.naive());
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
                let out = accounts::register(tx, r, patient, ctx.hash.clone())?;
                let (user_id, id) = (out.user.id.into_string(), out.patient.id.into_string());
                backdate::row(tx, "users", &user_id, registered, registered)?;
                backdate::row(tx, "patients", &id, registered, registered)?;
                made.push(Patient {
                    user_id,
                    id,
                    email,
                    sex,
                    birth,
                    registered,
                    panel,
                });
            }
            Ok(())
        })?;
        patients.extend(made);
    }
    Ok(patients)
}

/// A patient's doctors: their own (pediatrics for most children, geriatrics or internal
/// medicine for many older people, family medicine for anyone) and zero to three specialists
/// (more with age), each with the condition they mostly see them for.
fn panel(
    ctx: &Ctx,
    doctors: &[Doctor],
    sex: Sex,
    birth: NaiveDate,
    rng: &mut StdRng,
) -> Vec<(usize, usize)> {
    let age = clinic::age_on(birth, ctx.today());
    let of = |name: &str| -> Vec<usize> {
        (0..doctors.len())
            .filter(|&d| doctors[d].specialty.name == name)
            .collect()
    };
    let fitting = |s: &Specialty| fits(ctx, &s.who, sex, birth);
    let wanted = match age {
        0..=17 if rng.gen_bool(0.7) => "Pediatrics",
        65.. => ["Geriatrics", "Internal Medicine", "Family Medicine"][rng.gen_range(0..3)],
        18..=64 if rng.gen_bool(0.45) => "Internal Medicine",
        _ => "Family Medicine",
    };
    let mut primary = of(wanted);
    if primary.is_empty() || !fitting(doctors[primary[0]].specialty) {
        primary = (0..doctors.len())
            .filter(|&d| doctors[d].specialty.primary && fitting(doctors[d].specialty))
            .collect();
    }
    if primary.is_empty() {
        primary = (0..doctors.len())
            .filter(|&d| !doctors[d].specialty.urgent && fitting(doctors[d].specialty))
            .collect();
    }
    let mut panel = Vec::new();
    let add = |d: usize, rng: &mut StdRng, panel: &mut Vec<(usize, usize)>| {
        let conditions: Vec<usize> = (0..doctors[d].specialty.conditions.len())
            .filter(|&c| fits(ctx, &doctors[d].specialty.conditions[c].who, sex, birth))
            .collect();
        if let Some(&c) = conditions.choose(rng) {
            panel.push((d, c));
        }
    };
    if let Some(&d) = primary.choose(rng) {
        add(d, rng, &mut panel);
    }
    let specialists = match age {
        0..=17 => usize::from(rng.gen_bool(0.3)),
        18..=64 => rng.gen_range(0..=2),
        _ => rng.gen_range(1..=3),
    };
    for _ in 0..specialists {
        let choices: Vec<(usize, f64)> = (0..doctors.len())
            .filter(|&d| {
                let s = doctors[d].specialty;
                !s.primary
                    && !s.urgent
                    && fitting(s)
                    && !panel
                        .iter()
                        .any(|&(p, _)| doctors[p].specialty.name == s.name)
            })
            .map(|d| (d, demand(doctors[d].specialty, age, sex)))
            .collect();
        if let Ok(&(d, _)) = choices.choose_weighted(rng, |(_, w)| *w) {
            add(d, rng, &mut panel);
        }
    }
    panel
}

/// How likely a patient of this age and sex is to see the specialty.
fn demand(s: &Specialty, age: u32, sex: Sex) -> f64 {
    let base = match (s.name, age) {
        ("Cardiology", 50..) => 4.0,
        ("Cardiology", 35..) => 1.5,
        ("Cardiology", _) => 0.4,
        ("Dermatology", _) => 2.0,
        ("Endocrinology", 40..) => 1.8,
        ("Psychiatry", 16..=64) => 2.0,
        ("Orthopedics", 45..) => 2.5,
        ("Orthopedics", _) => 1.5,
        ("Obstetrics and Gynecology", _) => 3.0,
        ("Pulmonology", 50..) => 1.5,
        ("Gastroenterology", 45..) => 1.8,
        ("Urology", 50..) => 2.0,
        _ => 0.8,
    };
    // A specialty that sees mostly one sex: its share, against an even one.
    let share = s
        .men
        .map(|m| if sex == Sex::Male { m } else { 1.0 - m } * 2.0)
        .unwrap_or(1.0);
    base * share
}
