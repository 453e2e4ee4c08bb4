//! Referrals: a primary-care doctor refers a patient they saw to a specialist who fits the
//! patient (no pediatrician for adults, no gynecologist for men), in every status of the graph
//! (pending, accepted, scheduled, completed, rejected, cancelled), with the specialist's triage
//! note on acceptance and their reply after the consultation, at the times it happened.

use chrono::{Duration, NaiveDateTime};
use rand::seq::SliceRandom;
use rand::Rng;

use super::appointments::{slot, workday, Schedule, Visit};
use super::people::{self, FUTURE_DAYS};
use super::{Cast, Ctx, DemoReport};
use crate::db::DbConn;
use crate::domains::appointments::{self, AppointmentChange, AppointmentStatus, NewAppointment};
use crate::domains::referrals;
use crate::kit::backdate;
use crate::kit::{Actor, Error, IfMatch, Timestamp, Tx, WireEnum};

const TRIAGE: &[&str] = &[
    "Accepted. Please send the most recent labs.",
    "Accepted; first available slot offered.",
    "Accepted as a priority.",
    "Accepted. Patient to bring a list of current medicines.",
    "Accepted; imaging requested before the visit.",
];
const REJECTIONS: &[&str] = &[
    "Better seen by another service",
    "Does not meet the referral criteria; advice sent to the referrer",
    "Already under another specialist for this",
];
const CANCELLATIONS: &[&str] = &[
    "Symptoms resolved",
    "Patient chose another clinic",
    "Patient moved out of the area",
];

pub(super) fn load(
    conn: &mut DbConn,
    ctx: &Ctx,
    cast: &Cast,
    schedule: &Schedule,
    report: &mut DemoReport,
) -> anyhow::Result<()> {
    use referrals::{NewNote, NewReferral, ReferralCode as Code, Transition};
    let mut rng = ctx.rng("referrals");
    let (doctors, patients) = (&cast.doctors, &cast.patients);
    // Visits with a primary-care doctor, oldest first: a referral of the last weeks may still
    // wait; an older one has run its course.
    let mut origins: Vec<&Visit> = schedule
        .visits
        .iter()
        .filter(|v| doctors[v.doctor].specialty.primary)
        .collect();
    origins.sort_by_key(|v| v.start);
    if origins.is_empty() {
        return Ok(());
    }
    let split = origins.len() * 3 / 4;
    let (older, recent) = if split == 0 {
        (&origins[..], &origins[..])
    } else {
        origins.split_at(split)
    };
    let wanted = (patients.len() / 4).max(12);
    let mut plan = Vec::new();
    for i in 0..wanted {
        // Every status at least twice, then by weight.
        let fate = if i < 12 { i % 6 } else { rng.gen_range(0..6) };
        let v = *if fate <= 2 { recent } else { older }
            .choose(&mut rng)
            .expect("non-empty");
        let p = &patients[v.patient];
        let specialists: Vec<usize> = (0..doctors.len())
            .filter(|&d| {
                let s = doctors[d].specialty;
                d != v.doctor
                    && !s.referrals.is_empty()
                    && people::fits(ctx, &s.who, p.sex, p.birth)
            })
            .collect();
        let Some(&si) = specialists.choose(&mut rng) else {
            continue;
        };
        let s = doctors[si].specialty;
        let k = rng.gen_range(0..s.referrals.len());
        let created = (v.end + Duration::minutes(rng.gen_range(10..240))).min(ctx.clock);
        let accepted = (created + Duration::hours(rng.gen_range(20..96))).min(ctx.clock);
        // The consultation: ahead for a scheduled referral; behind for a completed one, after
        // the acceptance (a referral accepted too lately to have been seen is still scheduled).
        let since = (accepted.date() - ctx.today()).num_days() + 1;
        let fate = if fate == 3 && since >= 0 { 2 } else { fate };
        let (from, to) = if fate == 3 {
            (since, 0)
        } else {
            (1, FUTURE_DAYS.min(40))
        };
        let mut day = workday(ctx, s, from, to, &mut rng);
        let fate = if fate == 3 && day < ctx.today() + Duration::days(since) {
            day = workday(ctx, s, 1, FUTURE_DAYS.min(40), &mut rng);
            2
        } else {
            fate
        };
        let (start, minutes) = slot(s, day, &mut rng);
        let closed = (created + Duration::hours(rng.gen_range(4..120))).min(ctx.clock);
        let urgent = rng.gen_bool(0.2);
        let triage = *TRIAGE.choose(&mut rng).expect("non-empty");
        let why = if fate == 4 { REJECTIONS } else { CANCELLATIONS }
            .choose(&mut rng)
            .expect("non-empty");
        plan.push((
            v,
            si,
            fate,
            k,
            urgent,
            triage,
            *why,
            [created, accepted, closed],
            (start, minutes),
        ));
    }
    ctx.run(conn, |tx| {
        for (v, si, fate, k, urgent, triage, why, [created, accepted, closed], (start, minutes)) in
            &plan
        {
            let (d, p, s) = (&doctors[v.doctor], &patients[v.patient], &doctors[*si]);
            let referring = d.actor(ctx.audit);
            let specialist = s.actor(ctx.audit);
            let new = NewReferral {
                patient_id: p.patient_id(),
                referring_doctor_id: None,
                specialist_id: s.doctor_id(),
                reason: s.specialty.referrals[*k].to_string(),
                priority: Some(if *urgent {
                    referrals::ReferralPriority::Urgent
                } else {
                    referrals::ReferralPriority::Routine
                }),
                specialty: Some(s.specialty.name.to_string()),
                appointment_id: Some(v.appointment.clone()),
            };
            let r = tx.as_actor(&referring, |tx| referrals::refer(tx, new))?;
            report.referrals += 1;
            let id = r.id.as_str().to_string();
            backdate::referral_step(tx, &id, "pending", *created)?;
            let step = |tx: &mut Tx, by: &Actor, to: Code, reason: Option<&str>, appt, at| {
                let t = Transition {
                    to,
                    reason: reason.map(str::to_string),
                    appointment_id: appt,
                };
                tx.as_actor(by, |tx| referrals::transition(tx, &r.id, t))?;
                backdate::referral_step(tx, &id, to.as_str(), at)
            };
            let mut note = |tx: &mut Tx, text: &str, at: NaiveDateTime| -> crate::kit::Result<()> {
                let n = NewNote {
                    note: text.to_string(),
                };
                let made = tx.as_actor(&specialist, |tx| referrals::add_note(tx, &r.id, n))?;
                report.specialist_notes += 1;
                backdate::column(
                    tx,
                    "specialist_notes",
                    "created_at",
                    "id",
                    made.id.as_str(),
                    at,
                )
            };
            let end = *start + Duration::minutes(*minutes);
            let last = match fate {
                0 => *created,
                4 => {
                    step(tx, &specialist, Code::Rejected, Some(why), None, *closed)?;
                    *closed
                }
                5 => {
                    step(tx, &referring, Code::Cancelled, Some(why), None, *closed)?;
                    *closed
                }
                _ => {
                    step(tx, &specialist, Code::Accepted, None, None, *accepted)?;
                    note(tx, triage, *accepted)?;
                    if *fate == 1 {
                        *accepted
                    } else {
                        // The specialist's appointment with the patient, if the slot is free.
                        let booked = tx.as_actor(&specialist, |tx| {
                            appointments::book(
                                tx,
                                NewAppointment {
                                    patient_id: p.patient_id(),
                                    doctor_id: s.doctor_id(),
                                    start_time: Timestamp::from_db(*start),
                                    end_time: Timestamp::from_db(end),
                                    reason: Some(s.specialty.referrals[*k].to_string()),
                                },
                                false,
                            )
                        });
                        let appt = match booked {
                            Ok(a) => Some(a.id),
                            Err(Error::Conflict { .. }) => None,
                            Err(e) => return Err(e),
                        };
                        // Half an hour after acceptance, but never after the demo's clock.
                        let scheduled = (*accepted + Duration::minutes(30)).min(ctx.clock);
                        step(
                            tx,
                            &specialist,
                            Code::Scheduled,
                            None,
                            appt.clone(),
                            scheduled,
                        )?;
                        if let Some(a) = &appt {
                            backdate::row(tx, "appointments", a.as_str(), scheduled, scheduled)?;
                        }
                        if *fate == 2 {
                            scheduled
                        } else {
                            // Seen: the appointment completed, the referral closed, the reply.
                            if let Some(a) = &appt {
                                for status in
                                    [AppointmentStatus::CheckedIn, AppointmentStatus::Completed]
                                {
                                    let c = AppointmentChange {
                                        status: Some(status),
                                        ..Default::default()
                                    };
                                    tx.as_actor(&specialist, |tx| {
                                        appointments::change(tx, a, c, IfMatch::default())
                                    })?;
                                }
                                backdate::row(tx, "appointments", a.as_str(), scheduled, end)?;
                            }
                            let done = end.min(ctx.clock);
                            step(tx, &specialist, Code::Completed, None, None, done)?;
                            note(tx, s.specialty.replies[*k], done)?;
                            done
                        }
                    }
                }
            };
            backdate::row(tx, "referral_requests", &id, *created, last)?;
        }
        Ok(())
    })?;
    Ok(())
}
