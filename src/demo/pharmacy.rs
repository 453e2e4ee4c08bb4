//! The medication catalogue, pharmacies and their pharmacists, prescriptions and orders.

use chrono::Duration;
use rand::seq::SliceRandom;
use rand::Rng;

use super::appointments::{Schedule, Visit};
use super::{actor, principal, Cast, Ctx, DemoReport, DEMO_DOMAIN, DEMO_PASSWORD};
use crate::auth::permissions::PHARMACIST;
use crate::db::DbConn;
use crate::domains::{accounts, pharmacy};
use crate::kit::backdate;
use crate::kit::{Actor, Date, Timestamp, Tx};

/// The demo's catalogue: (RxNorm code of the clinical drug, name, form, strength), and how
/// doctors prescribe it: (frequency, instructions, quantity).
type Medication = (
    &'static str,
    &'static str,
    &'static str,
    &'static str,
    &'static str,
    &'static str,
    i32,
);
pub(super) const MEDICATIONS: &[Medication] = &[
    (
        "197361",
        "Amlodipine",
        "oral tablet",
        "5 mg",
        "once daily",
        "Take in the morning; ankle swelling can occur.",
        90,
    ),
    (
        "308135",
        "Amlodipine",
        "oral tablet",
        "10 mg",
        "once daily",
        "Take in the morning; ankle swelling can occur.",
        90,
    ),
    (
        "314076",
        "Lisinopril",
        "oral tablet",
        "10 mg",
        "once daily",
        "A dry cough can occur; tell your doctor if it does.",
        90,
    ),
    (
        "314077",
        "Lisinopril",
        "oral tablet",
        "20 mg",
        "once daily",
        "A dry cough can occur; tell your doctor if it does.",
        90,
    ),
    (
        "860975",
        "Metformin hydrochloride",
        "oral tablet",
        "500 mg",
        "twice daily with meals",
        "Take with breakfast and dinner to ease stomach upset.",
        180,
    ),
    (
        "861007",
        "Metformin hydrochloride",
        "oral tablet",
        "1000 mg",
        "twice daily with meals",
        "Take with breakfast and dinner to ease stomach upset.",
        180,
    ),
    (
        "617311",
        "Atorvastatin",
        "oral tablet",
        "20 mg",
        "once daily",
        "Take at the same time each day; report unexplained muscle pain.",
        90,
    ),
    (
        "617312",
        "Atorvastatin",
        "oral tablet",
        "40 mg",
        "once daily",
        "Take at the same time each day; report unexplained muscle pain.",
        90,
    ),
    (
        "312961",
        "Simvastatin",
        "oral tablet",
        "20 mg",
        "once daily at bedtime",
        "Avoid grapefruit juice.",
        90,
    ),
    (
        "198048",
        "Omeprazole",
        "delayed release oral capsule",
        "20 mg",
        "once daily before breakfast",
        "Swallow whole 30 minutes before eating.",
        30,
    ),
    (
        "310798",
        "Hydrochlorothiazide",
        "oral tablet",
        "25 mg",
        "once daily in the morning",
        "You may pass more urine; drink to thirst.",
        90,
    ),
    (
        "197381",
        "Atenolol",
        "oral tablet",
        "50 mg",
        "once daily",
        "Do not stop suddenly.",
        90,
    ),
    (
        "866924",
        "Metoprolol succinate",
        "extended release oral tablet",
        "25 mg",
        "once daily",
        "Do not stop suddenly; check your pulse if you feel dizzy.",
        90,
    ),
    (
        "310429",
        "Furosemide",
        "oral tablet",
        "20 mg",
        "once daily in the morning",
        "Weigh yourself daily; report a gain of 2 kg in 3 days.",
        30,
    ),
    (
        "309362",
        "Clopidogrel",
        "oral tablet",
        "75 mg",
        "once daily",
        "Tell your dentist or surgeon before any procedure.",
        90,
    ),
    (
        "243670",
        "Aspirin",
        "oral tablet",
        "81 mg",
        "once daily with food",
        "Take with food.",
        90,
    ),
    (
        "310965",
        "Ibuprofen",
        "oral tablet",
        "200 mg",
        "every 6 hours as needed for pain",
        "Take with food; no more than 6 tablets a day.",
        30,
    ),
    (
        "313782",
        "Acetaminophen",
        "oral tablet",
        "325 mg",
        "two tablets every 6 hours as needed",
        "No more than 3 g a day, from all medicines.",
        40,
    ),
    (
        "308191",
        "Amoxicillin",
        "oral capsule",
        "500 mg",
        "three times daily for 7 days",
        "Finish the course even if you feel better.",
        21,
    ),
    (
        "308182",
        "Amoxicillin",
        "oral capsule",
        "250 mg",
        "three times daily for 10 days",
        "Finish the course even if your child feels better.",
        30,
    ),
    (
        "197517",
        "Clarithromycin",
        "oral tablet",
        "500 mg",
        "twice daily for 7 days",
        "Finish the course; may cause a metallic taste.",
        14,
    ),
    (
        "312615",
        "Prednisone",
        "oral tablet",
        "20 mg",
        "once daily for 5 days",
        "Take in the morning with food.",
        5,
    ),
    (
        "310384",
        "Fluoxetine",
        "oral capsule",
        "20 mg",
        "once daily in the morning",
        "Takes 2 to 4 weeks to help; do not stop suddenly.",
        30,
    ),
    (
        "312941",
        "Sertraline",
        "oral tablet",
        "50 mg",
        "once daily",
        "Takes 2 to 4 weeks to help; do not stop suddenly.",
        30,
    ),
    (
        "966247",
        "Levothyroxine sodium",
        "oral tablet",
        "50 mcg",
        "once daily before breakfast",
        "Take on an empty stomach, 4 hours apart from calcium or iron.",
        90,
    ),
    (
        "745679",
        "Albuterol",
        "metered dose inhaler",
        "90 mcg/actuation",
        "2 puffs every 4 to 6 hours as needed",
        "Shake well; use with a spacer.",
        1,
    ),
    (
        "311989",
        "Nitrofurantoin",
        "oral capsule",
        "100 mg",
        "twice daily for 5 days",
        "Take with food.",
        10,
    ),
    (
        "197696",
        "Gabapentin",
        "oral capsule",
        "300 mg",
        "three times daily",
        "May cause drowsiness; do not drive until you know how it affects you.",
        90,
    ),
    (
        "198211",
        "Simvastatin",
        "oral tablet",
        "40 mg",
        "once daily at bedtime",
        "Avoid grapefruit juice.",
        90,
    ),
    (
        "200371",
        "Montelukast",
        "oral tablet",
        "10 mg",
        "once daily in the evening",
        "Report mood changes or nightmares.",
        30,
    ),
];

/// Why patients cancel a pharmacy order.
const CANCELS: &[&str] = &[
    "Bought it elsewhere",
    "My insurer wants a different pharmacy",
    "No longer needed",
    "Cheaper at another pharmacy",
    "The doctor changed the prescription",
];

/// The pharmacy side: the catalogue, three pharmacies with their pharmacists, prescriptions
/// written at completed visits of what the visit was about (a statin for hyperlipidemia, an
/// antibiotic course for an infection…) with the medicine's usual directions, and orders in
/// every state of their machine, each step when the pharmacy would have taken it.
pub(super) fn load(
    conn: &mut DbConn,
    ctx: &Ctx,
    cast: &Cast,
    schedule: &Schedule,
    report: &mut DemoReport,
) -> anyhow::Result<()> {
    use pharmacy::{NewOrder, NewPrescription, OrderStatus, OrderTransition};
    let mut rng = ctx.rng("pharmacy");
    let rng = &mut rng;
    let mut medications = Vec::new();
    let mut stores = Vec::new();
    ctx.run(conn, |tx| {
        for (code, name, form, strength, ..) in MEDICATIONS {
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
            medications.push(m.id);
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
                ctx.hash.clone(),
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
    let prescribing: Vec<&Visit> = schedule
        .visits
        .iter()
        .filter(|v| !v.condition.meds.is_empty())
        .collect();
    if prescribing.is_empty() {
        return Ok(());
    }
    // The last days' prescriptions: the ones whose orders may still be on their way.
    let mut recent: Vec<&Visit> = prescribing
        .iter()
        .copied()
        .filter(|v| v.start >= ctx.clock - Duration::days(10))
        .collect();
    if recent.len() < 3 {
        let mut latest = prescribing.clone();
        latest.sort_by_key(|v| std::cmp::Reverse(v.start));
        recent = latest.into_iter().take(3).collect();
    }
    let wanted = (cast.patients.len() / 2).max(15);
    let mut plan = Vec::new();
    for i in 0..wanted {
        // Orders: none, then sent, received, filled, picked up, cancelled, picked up.
        let fate = if i < 14 { i % 7 } else { rng.gen_range(0..7) };
        let v = *if (1..=3).contains(&fate) {
            &recent
        } else {
            &prescribing
        }
        .choose(rng)
        .expect("non-empty");
        let code = *v.condition.meds.choose(rng).expect("non-empty");
        let mi = MEDICATIONS
            .iter()
            .position(|m| m.0 == code)
            .expect("a medicine of the catalogue");
        let si = rng.gen_range(0..stores.len());
        let prescribed = v.end - Duration::minutes(rng.gen_range(1..5));
        let mut at = prescribed;
        let mut next = |lo: i64, hi: i64| {
            at = (at + Duration::minutes(rng.gen_range(lo..hi))).min(ctx.clock);
            at
        };
        // Placed, received, filled, picked up.
        let times = [next(20, 480), next(5, 90), next(20, 240), next(60, 2880)];
        let reason = *CANCELS.choose(rng).expect("non-empty");
        let refills = rng.gen_range(0..4);
        plan.push((v, mi, si, fate, refills, prescribed, times, reason));
    }
    ctx.run(conn, |tx| {
        for (v, mi, si, fate, refills, prescribed, times, reason) in &plan {
            let (d, p) = (&cast.doctors[v.doctor], &cast.patients[v.patient]);
            let (doctor, patient) = (d.actor(ctx.audit), p.actor(ctx.audit));
            let (store_id, pharmacist_id) = &stores[*si];
            let pharmacist = actor(ctx.audit, principal(pharmacist_id, PHARMACIST, None, None));
            let (_, _, _, strength, frequency, instructions, quantity) = MEDICATIONS[*mi];
            // A course (an antibiotic, a few days of steroid) is not refilled; a long-term
            // medicine is.
            let course = frequency.contains(" for ");
            let rx = tx.as_actor(&doctor, |tx| {
                pharmacy::prescribe(
                    tx,
                    NewPrescription {
                        patient_id: p.patient_id(),
                        doctor_id: None,
                        appointment_id: Some(v.appointment.clone()),
                        medication_id: medications[*mi].clone(),
                        dosage: strength.to_string(),
                        frequency: frequency.to_string(),
                        quantity,
                        refills: Some(if course { 0 } else { *refills }),
                        instructions: Some(instructions.to_string()),
                        valid_until: Some(Date::from_db(prescribed.date() + Duration::days(365))),
                    },
                )
            })?;
            report.prescriptions += 1;
            let rx_id = rx.id.as_str().to_string();
            backdate::row(tx, "prescriptions", &rx_id, *prescribed, *prescribed)?;
            if *fate == 0 {
                continue;
            }
            let new = NewOrder {
                prescription_id: rx.id.clone(),
                pharmacy_id: store_id.clone(),
            };
            let o = tx.as_actor(&patient, |tx| pharmacy::place_order(tx, new))?;
            report.pharmacy_orders += 1;
            let [placed, received, filled, picked_up] = *times;
            let step = |tx: &mut Tx, by: &Actor, to: OrderStatus, reason: Option<&str>, at| {
                let t = OrderTransition {
                    to,
                    reason: reason.map(str::to_string),
                };
                tx.as_actor(by, |tx| {
                    pharmacy::move_order(tx, &o.id, t, Timestamp::from_db(at))
                })
            };
            let last = match fate {
                1 => placed,
                2 => {
                    step(tx, &pharmacist, OrderStatus::Received, None, received)?;
                    received
                }
                5 => {
                    step(tx, &patient, OrderStatus::Cancelled, Some(reason), received)?;
                    received
                }
                _ => {
                    step(tx, &pharmacist, OrderStatus::Received, None, received)?;
                    step(tx, &pharmacist, OrderStatus::Filled, None, filled)?;
                    backdate::row(tx, "prescriptions", &rx_id, *prescribed, filled)?;
                    if *fate >= 4 {
                        step(tx, &pharmacist, OrderStatus::PickedUp, None, picked_up)?;
                        picked_up
                    } else {
                        filled
                    }
                }
            };
            backdate::row(tx, "pharmacy_orders", o.id.as_str(), placed, last)?;
        }
        Ok(())
    })?;
    Ok(())
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_clinic_prescribes_from_the_catalogue() {
        for s in super::super::clinic::SPECIALTIES {
            for c in s.conditions {
                for code in c.meds {
                    assert!(
                        super::MEDICATIONS.iter().any(|m| m.0 == *code),
                        "{code} of {} is not in the catalogue",
                        c.code
                    );
                }
            }
        }
    }
}
