//! Portal threads: days after a visit, a patient writes to the doctor they saw, the doctor
//! answers within a day or so, and sometimes the patient thanks them; and feedback on the
//! visit, the portal or the bill.

use chrono::{Duration, NaiveDateTime};
use rand::seq::SliceRandom;
use rand::Rng;

use super::appointments::{Schedule, Visit};
use super::clinic::fill;
use super::{Cast, Ctx, DemoReport};
use crate::db::DbConn;
use crate::domains::portal::{self, FeedbackCategory as F};
use crate::kit::backdate;
use crate::kit::{Actor, Tx};

/// (subject, the patient's question, the doctor's answer)
const THREADS: &[(&str, &str, &str)] = &[
    (
        "Side effects",
        "Since starting the new tablets I feel dizzy in the mornings. Is that expected?",
        "It can be, for the first two weeks. Stand up slowly; if it lasts longer, book a visit.",
    ),
    (
        "Lab results",
        "I saw my results in the portal. What does the flagged value mean for me?",
        "It is slightly outside the range and not worrying on its own. We will repeat it in {months} months.",
    ),
    (
        "Prescription refill",
        "I'm running out of my medicine. Can you send a refill to my pharmacy?",
        "Done — it's at your usual pharmacy with {count} refills.",
    ),
    (
        "Still not better",
        "It's been {days} days and I don't feel any better. Should I come back?",
        "Yes, please book the first slot this week; if you get a fever or feel worse, go to urgent care.",
    ),
    (
        "Work note",
        "Could I have a note for my employer for the days I was off?",
        "I've added a note to your documents in the portal.",
    ),
    (
        "Question about the dose",
        "Should I take the tablet in the morning or at night?",
        "Mornings are best for you, with breakfast. Keep the same time every day.",
    ),
    (
        "Follow-up appointment",
        "Do I need to book the follow-up you mentioned, or will the clinic call me?",
        "Please book it online for about {weeks} weeks from now; the clinic won't call.",
    ),
    (
        "Home readings",
        "My readings at home this week were mostly around {bp}. Is that all right?",
        "That is within target. Keep measuring twice a week and bring the log next time.",
    ),
    (
        "Forms for school",
        "The school needs a health form signed. Can you do it without a visit?",
        "Yes, upload it in the portal and I'll sign it this week.",
    ),
    (
        "Travel",
        "I'm travelling abroad in {weeks} weeks. Do I need anything before I go?",
        "Take enough medicine for the whole trip plus a week, and a copy of your prescription.",
    ),
    (
        "Referral status",
        "Have you heard back from the specialist about my referral?",
        "They accepted it; you should get an appointment invitation within {days} days.",
    ),
    (
        "Rash after the new cream",
        "My skin is red where I put the new cream. Should I stop it?",
        "Yes, stop it and use only the moisturiser; send me a photo if it doesn't settle in {days} days.",
    ),
];
const THANKS: &[&str] = &[
    "Thank you!",
    "Thanks, that helps.",
    "Great, thank you doctor.",
    "Got it, thanks.",
    "Thank you for the quick answer.",
    "Perfect, I'll do that.",
];
/// Feedback: (category, rating, comment)
const FEEDBACK: &[(F, i32, &str)] = &[
    (
        F::Doctor,
        5,
        "My doctor listened and explained everything clearly.",
    ),
    (
        F::Doctor,
        5,
        "Very thorough, and answered my messages quickly.",
    ),
    (F::Doctor, 4, "Good visit, a bit rushed at the end."),
    (F::Doctor, 3, "Fine, but I had to repeat my history twice."),
    (F::Appointment, 4, "Seen on time, easy check-in."),
    (
        F::Appointment,
        2,
        "Waited 40 minutes past my appointment time.",
    ),
    (F::Appointment, 5, "Got a slot the same week."),
    (F::App, 4, "Easy to book and see my results."),
    (
        F::App,
        3,
        "The portal works, but finding old messages is hard.",
    ),
    (F::App, 5, "Love getting results the same day."),
    (F::Billing, 2, "The invoice was hard to understand."),
    (
        F::Billing,
        3,
        "The bill arrived before my insurer had paid.",
    ),
    (F::Other, 4, "Parking is hard, but the staff are kind."),
];

pub(super) fn load(
    conn: &mut DbConn,
    ctx: &Ctx,
    cast: &Cast,
    schedule: &Schedule,
    report: &mut DemoReport,
) -> anyhow::Result<()> {
    let mut rng = ctx.rng("portal");
    let rng = &mut rng;
    if schedule.visits.is_empty() {
        return Ok(());
    }
    let after = |at: NaiveDateTime, lo: i64, hi: i64, rng: &mut rand::rngs::StdRng| {
        (at + Duration::minutes(rng.gen_range(lo..hi))).min(ctx.clock)
    };
    let mut plan = Vec::new();
    for i in 0..(cast.patients.len() / 10).max(5) {
        let v: &Visit = schedule.visits.choose(rng).expect("visits");
        let (subject, question, answer) = *THREADS.choose(rng).expect("non-empty");
        let texts = [
            fill(question, rng),
            fill(answer, rng),
            THANKS.choose(rng).expect("non-empty").to_string(),
        ];
        let asked = after(v.end, 60 * 20, 60 * 24 * 10, rng);
        let answered = after(asked, 30, 60 * 30, rng);
        let thanked = after(answered, 10, 60 * 6, rng);
        // Every category at least once, then as it comes.
        let feedback = if i < 5 {
            FEEDBACK[[0, 4, 7, 10, 12][i]]
        } else {
            *FEEDBACK.choose(rng).expect("non-empty")
        };
        let rated = after(v.end, 60, 60 * 48, rng);
        plan.push((
            v,
            subject,
            texts,
            [asked, answered, thanked],
            rng.gen_bool(0.5),
            feedback,
            rated,
        ));
    }
    ctx.run(conn, |tx| {
        for (v, subject, texts, times, thanks, _, _) in &plan {
            let (d, p) = (&cast.doctors[v.doctor], &cast.patients[v.patient]);
            let (doctor, patient) = (d.actor(ctx.audit), p.actor(ctx.audit));
            let say = |tx: &mut Tx, by: &Actor, to: &str, body: &str, reply_to, at| {
                let m = tx.as_actor(by, |tx| {
                    portal::send(
                        tx,
                        portal::NewMessage {
                            receiver_id: crate::kit::UserId::from_db(to.to_string()),
                            subject: subject.to_string(),
                            body: body.into(),
                            reply_to,
                        },
                    )
                })?;
                backdate::column(tx, "messages", "sent_at", "id", m.id.as_str(), at)?;
                Ok::<_, crate::kit::Error>(m)
            };
            let q = say(tx, &patient, &d.user_id, &texts[0], None, times[0])?;
            let a = say(tx, &doctor, &p.user_id, &texts[1], Some(q.id), times[1])?;
            report.messages += 2;
            if *thanks {
                say(tx, &patient, &d.user_id, &texts[2], Some(a.id), times[2])?;
                report.messages += 1;
            }
        }
        // Feedback from some of the same patients, about the visit they had.
        for (v, _, _, _, _, (category, rating, comment), at) in &plan {
            let patient = cast.patients[v.patient].actor(ctx.audit);
            let about_visit = matches!(category, F::Doctor | F::Appointment);
            let f = tx.as_actor(&patient, |tx| {
                portal::give_feedback(
                    tx,
                    portal::NewFeedback {
                        rating: *rating,
                        category: *category,
                        comment: Some(comment.to_string()),
                        appointment_id: about_visit.then(|| v.appointment.clone()),
                    },
                )
            })?;
            backdate::column(tx, "feedback", "created_at", "id", f.id.as_str(), *at)?;
        }
        Ok(())
    })?;
    Ok(())
}
