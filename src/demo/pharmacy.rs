//! The medication catalogue, pharmacies and their pharmacists, prescriptions and orders.

use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use rand::Rng;

use super::{actor, principal, run, DemoReport, Person, DEMO_DOMAIN, DEMO_PASSWORD};
use crate::audit::Audit;
use crate::auth::permissions::{DOCTOR, PATIENT, PHARMACIST};
use crate::db::{Db, DbConn};
use crate::domains::{accounts, pharmacy};
use crate::kit::{Actor, PatientId, Timestamp, Tx};

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
pub(super) fn load(
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
