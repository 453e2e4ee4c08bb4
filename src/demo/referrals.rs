//! Referrals between colleagues, in every status, with the specialists' notes.

use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use rand::Rng;

use super::{actor, principal, run, DemoReport, Person};
use crate::audit::Audit;
use crate::auth::permissions::DOCTOR;
use crate::db::{now, Db, DbConn};
use crate::domains::appointments::{self, NewAppointment};
use crate::domains::referrals;
use crate::kit::{Actor, DoctorId, Error, PatientId, Timestamp, Tx};
use chrono::Duration;

/// Referrals from doctors to colleagues of other specialties, in every status of the graph
/// (pending, accepted, scheduled, completed, rejected, cancelled), with the specialists' notes.
#[allow(clippy::too_many_arguments)]
pub(super) fn load(
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
