//! Portal threads between patients and their doctors, and feedback.

use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use rand::Rng;

use super::{actor, principal, run, DemoReport, Person};
use crate::audit::Audit;
use crate::auth::permissions::{DOCTOR, PATIENT};
use crate::db::{Db, DbConn};
use crate::domains::portal;
use crate::kit::{Actor, Tx};

/// Portal threads: a patient asks a doctor they have seen, the doctor answers, and sometimes
/// the patient thanks them.
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
