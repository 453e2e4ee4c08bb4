//! Appointments over the past six months and the next two, booked by the patients with their own
//! doctors (a visit to a specialist about the condition they see them for, most of the time),
//! and now and then a walk-in at urgent care; in clinic hours on weekdays (urgent care every
//! day until 20:00), in slots of the specialty's lengths. Past ones move through the state
//! machine: a few cancelled ahead (by the patient, or by the clinic) or missed, the rest checked
//! in and completed, with the visit's record written by the doctor at its end.

use chrono::{Datelike, Duration, NaiveDate, NaiveDateTime, NaiveTime, Weekday};
use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use rand::Rng;

use super::clinic::{Condition, Specialty};
use super::people::{self, FUTURE_DAYS, PAST_DAYS};
use super::records::{self, Note};
use super::{Cast, Ctx, DemoReport, DemoSize};
use crate::db::DbConn;
use crate::domains::appointments::{
    self, AppointmentChange, AppointmentId, AppointmentStatus, NewAppointment,
};
use crate::kit::backdate;
use crate::kit::{Actor, Error, IfMatch, Timestamp, Tx};

/// A completed visit: what the later stories (lab orders, prescriptions, referrals, claims,
/// messages) hang on.
pub(super) struct Visit {
    pub doctor: usize,
    pub patient: usize,
    pub appointment: AppointmentId,
    pub start: NaiveDateTime,
    pub end: NaiveDateTime,
    pub condition: &'static Condition,
}

pub(super) struct Schedule {
    /// The completed visits, in the order they were booked.
    pub visits: Vec<Visit>,
    /// Every (doctor, patient) with an appointment: a care-team link.
    pub seen: Vec<(usize, usize)>,
}

/// Why patients cancel, and why the clinic does.
const PATIENT_CANCELS: &[&str] = &[
    "Feeling better, no longer needed",
    "Work meeting I cannot move",
    "No childcare that day",
    "Car broke down",
    "Out of town that week",
    "Booked the wrong day",
    "Already seen at urgent care",
    "Looking after a sick relative",
    "Waiting for my new insurance card",
    "Bad weather, roads closed",
];
const CLINIC_CANCELS: &[&str] = &[
    "Doctor called away to an emergency",
    "Doctor off sick",
    "Clinic closed for staff training",
    "Equipment maintenance, rebooking",
];

/// Is the specialty's clinic open that day? Weekdays; urgent care every day.
pub(super) fn open_on(s: &Specialty, day: NaiveDate) -> bool {
    s.urgent || !matches!(day.weekday(), Weekday::Sat | Weekday::Sun)
}

/// A day the specialty is open, `from..to` days from the clock's day (the last open day
/// before the range's end if a few draws find none).
pub(super) fn workday(ctx: &Ctx, s: &Specialty, from: i64, to: i64, rng: &mut StdRng) -> NaiveDate {
    for _ in 0..20 {
        let day = ctx.today() + Duration::days(rng.gen_range(from..to));
        if open_on(s, day) {
            return day;
        }
    }
    let mut day = ctx.today() + Duration::days(to - 1);
    while !open_on(s, day) {
        day -= Duration::days(1);
    }
    day
}

/// A slot of the specialty on `day`: its start and length. Clinic hours are 08:00–12:00 and
/// 13:00–17:30 (urgent care 08:00–20:00 without a break), slots on the grid of their length;
/// times are UTC, the one zone the API speaks.
pub(super) fn slot(s: &Specialty, day: NaiveDate, rng: &mut StdRng) -> (NaiveDateTime, i64) {
    let minutes = s.minutes[match rng.gen_range(0..10) {
        0..=5 => 0,
        6..=8 => 1,
        _ => 2,
    }
    .min(s.minutes.len() - 1)];
    let sessions: &[(i64, i64)] = if s.urgent {
        &[(8 * 60, 20 * 60)]
    } else {
        &[(8 * 60, 12 * 60), (13 * 60, 17 * 60 + 30)]
    };
    let starts: Vec<i64> = sessions
        .iter()
        .flat_map(|&(open, close)| (open..=close - minutes).step_by(minutes as usize))
        .collect();
    let start = *starts.choose(rng).expect("a session holds a slot");
    (
        day.and_time(NaiveTime::MIN) + Duration::minutes(start),
        minutes,
    )
}

/// When a visit was booked: urgent care the same day, shortly before; the others one day to six
/// weeks ahead, in office hours. Never after the clock, never before the patient registered.
pub(super) fn booked_at(
    ctx: &Ctx,
    s: &Specialty,
    start: NaiveDateTime,
    registered: NaiveDateTime,
    rng: &mut StdRng,
) -> NaiveDateTime {
    let at = if s.urgent {
        start - Duration::minutes(rng.gen_range(20..180))
    } else {
        let days = if rng.gen_bool(0.6) {
            rng.gen_range(1..14)
        } else {
            rng.gen_range(14..42)
        };
        (start.date() - Duration::days(days))
            .and_hms_opt(rng.gen_range(8..19), rng.gen_range(0..60), 0)
            .expect("a time of day")
    };
    let at = if at >= ctx.clock {
        ctx.clock - Duration::minutes(rng.gen_range(10..4000))
    } else {
        at
    };
    // A patient who registered in the last half hour books now, not after the clock.
    at.max(registered + Duration::minutes(30)).min(ctx.clock)
}

/// Cancellations and no-shows, per thousand past appointments.
fn rates(s: &Specialty) -> (u32, u32) {
    match s.name {
        "Urgent Care" => (10, 20),
        "Psychiatry" => (90, 110),
        "Dermatology" => (90, 70),
        "Pediatrics" => (70, 60),
        _ => (80, 50),
    }
}

struct Plan {
    doctor: usize,
    patient: usize,
    start: NaiveDateTime,
    minutes: i64,
    reason: &'static str,
    booked: NaiveDateTime,
    /// Out of a thousand: below the cancel rate cancelled, then no-show, then completed.
    fate: u32,
    /// Cancelled by the clinic rather than the patient, why, and how far between booking
    /// and the visit.
    by_clinic: bool,
    cancel_reason: &'static str,
    cancel_at: f64,
    note: Note,
}

pub(super) fn load(
    conn: &mut DbConn,
    ctx: &Ctx,
    cast: &Cast,
    size: DemoSize,
    report: &mut DemoReport,
) -> anyhow::Result<Schedule> {
    let mut rng = ctx.rng("appointments");
    let (doctors, patients) = (&cast.doctors, &cast.patients);
    let urgent: Vec<usize> = (0..doctors.len())
        .filter(|&d| doctors[d].specialty.urgent)
        .collect();
    // Older patients come more often.
    let tickets: Vec<usize> = (0..patients.len())
        .filter(|&p| !patients[p].panel.is_empty())
        .flat_map(|p| {
            let n = if patients[p].age_on(ctx.today()) >= 65 {
                3
            } else {
                2
            };
            std::iter::repeat_n(p, n)
        })
        .collect();
    let mut schedule = Schedule {
        visits: Vec::new(),
        seen: Vec::new(),
    };
    let mut records_left = size.records;
    let (mut done, mut attempts) = (0, 0);
    while done < size.appointments && attempts < size.appointments * 3 && !tickets.is_empty() {
        let batch = (size.appointments - done).min(250);
        let mut plan = Vec::new();
        for _ in 0..batch {
            let pi = *tickets.choose(&mut rng).expect("non-empty");
            let p = &patients[pi];
            let walk_in = !urgent.is_empty() && rng.gen_bool(0.06);
            let (di, main) = if walk_in {
                (*urgent.choose(&mut rng).expect("non-empty"), None)
            } else if p.panel.len() == 1 || rng.gen_bool(0.5) {
                (p.panel[0].0, Some(p.panel[0].1))
            } else {
                let (d, c) = p.panel[rng.gen_range(1..p.panel.len())];
                (d, Some(c))
            };
            let s = doctors[di].specialty;
            // Mostly what the patient sees this doctor for; now and then something else.
            let condition = match main {
                Some(c) if rng.gen_bool(0.65) => &s.conditions[c],
                _ => {
                    let fitting: Vec<&'static Condition> = s
                        .conditions
                        .iter()
                        .filter(|c| people::fits(ctx, &c.who, p.sex, p.birth))
                        .collect();
                    *fitting.choose(&mut rng).expect("a condition fits")
                }
            };
            let day = workday(ctx, s, -PAST_DAYS, FUTURE_DAYS, &mut rng);
            let (start, minutes) = slot(s, day, &mut rng);
            let reason = *condition.reasons.choose(&mut rng).expect("non-empty");
            let note = records::compose(condition, reason, p.age_on(day), p.sex, &mut rng);
            let by_clinic = rng.gen_bool(0.2);
            let cancel_reason = *if by_clinic {
                CLINIC_CANCELS
            } else {
                PATIENT_CANCELS
            }
            .choose(&mut rng)
            .expect("non-empty");
            plan.push(Plan {
                doctor: di,
                patient: pi,
                start,
                minutes,
                reason,
                booked: booked_at(ctx, s, start, p.registered, &mut rng),
                fate: rng.gen_range(0..1000),
                by_clinic,
                cancel_reason,
                cancel_at: rng.gen_range(0.3..0.95),
                note,
            });
        }
        attempts += batch;
        let mut booked_here = 0;
        let mut records_here = 0;
        let mut visits = Vec::new();
        let mut seen = Vec::new();
        ctx.run(conn, |tx| {
            for step in &plan {
                let (d, p) = (&doctors[step.doctor], &patients[step.patient]);
                let end = step.start + Duration::minutes(step.minutes);
                let new = NewAppointment {
                    patient_id: p.patient_id(),
                    doctor_id: d.doctor_id(),
                    start_time: Timestamp::from_db(step.start),
                    end_time: Timestamp::from_db(end),
                    reason: Some(step.reason.to_string()),
                };
                let patient = p.actor(ctx.audit);
                let appt = match tx.as_actor(&patient, |tx| appointments::book(tx, new, false)) {
                    Ok(a) => a,
                    Err(Error::Conflict {
                        kind: "booking-clash",
                        ..
                    }) => continue,
                    Err(e) => return Err(e),
                };
                booked_here += 1;
                seen.push((step.doctor, step.patient));
                let id = appt.id.as_str();
                let booked = step.booked;
                if step.start >= ctx.clock {
                    backdate::row(tx, "appointments", id, booked, booked)?;
                    continue;
                }
                let doctor = d.actor(ctx.audit);
                let to = |s: AppointmentStatus| AppointmentChange {
                    status: Some(s),
                    ..Default::default()
                };
                let change = |tx: &mut Tx, by: &Actor, c: AppointmentChange| {
                    tx.as_actor(by, |tx| {
                        appointments::change(tx, &appt.id, c, IfMatch::default())
                    })
                };
                if end > ctx.clock {
                    // Under way as the demo's clock stands.
                    change(tx, &doctor, to(AppointmentStatus::CheckedIn))?;
                    backdate::row(tx, "appointments", id, booked, step.start)?;
                    continue;
                }
                let (cancels, misses) = rates(d.specialty);
                if step.fate < cancels {
                    let cancel = AppointmentChange {
                        status: Some(AppointmentStatus::Cancelled),
                        cancel_reason: Some(step.cancel_reason.into()),
                        ..Default::default()
                    };
                    change(tx, if step.by_clinic { &doctor } else { &patient }, cancel)?;
                    let ahead = (step.start - booked).num_minutes() as f64 * step.cancel_at;
                    let at = booked + Duration::minutes(ahead as i64);
                    backdate::row(tx, "appointments", id, booked, at)?;
                } else if step.fate < cancels + misses {
                    change(tx, &doctor, to(AppointmentStatus::NoShow))?;
                    let at = step.start + Duration::minutes(15);
                    backdate::row(tx, "appointments", id, booked, at)?;
                } else {
                    change(tx, &doctor, to(AppointmentStatus::CheckedIn))?;
                    change(tx, &doctor, to(AppointmentStatus::Completed))?;
                    backdate::row(tx, "appointments", id, booked, end)?;
                    if records_left > records_here {
                        records::write(
                            tx,
                            &doctor,
                            p.patient_id(),
                            &appt.id,
                            &step.note,
                            end,
                            ctx.clock,
                        )?;
                        records_here += 1;
                    }
                    visits.push(Visit {
                        doctor: step.doctor,
                        patient: step.patient,
                        appointment: appt.id.clone(),
                        start: step.start,
                        end,
                        condition: step.note.condition,
                    });
                }
            }
            Ok(())
        })?;
        done += booked_here;
        records_left -= records_here;
        report.records += records_here;
        schedule.visits.extend(visits);
        schedule.seen.extend(seen);
    }
    report.appointments = done;
    second_records(conn, ctx, cast, &schedule, records_left, report)?;
    Ok(schedule)
}

/// Where the demo wants more records than there were visits: a second record at some visits,
/// of another condition of the specialty that fits the patient, by the same doctor.
fn second_records(
    conn: &mut DbConn,
    ctx: &Ctx,
    cast: &Cast,
    schedule: &Schedule,
    mut left: usize,
    report: &mut DemoReport,
) -> anyhow::Result<()> {
    let mut rng = ctx.rng("second records");
    while left > 0 && !schedule.visits.is_empty() {
        let n = left.min(250);
        let mut plan = Vec::new();
        for _ in 0..n {
            let v = schedule.visits.choose(&mut rng).expect("visits");
            let p = &cast.patients[v.patient];
            let s = cast.doctors[v.doctor].specialty;
            let fitting: Vec<&'static Condition> = s
                .conditions
                .iter()
                .filter(|c| people::fits(ctx, &c.who, p.sex, p.birth))
                .collect();
            let c = *fitting.choose(&mut rng).expect("a condition fits");
            let reason = *c.reasons.choose(&mut rng).expect("non-empty");
            let note = records::compose(c, reason, p.age_on(v.start.date()), p.sex, &mut rng);
            plan.push((v, note));
        }
        ctx.run(conn, |tx| {
            for (v, note) in &plan {
                let d = &cast.doctors[v.doctor];
                let p = &cast.patients[v.patient];
                let doctor = d.actor(ctx.audit);
                records::write(
                    tx,
                    &doctor,
                    p.patient_id(),
                    &v.appointment,
                    note,
                    v.end,
                    ctx.clock,
                )?;
            }
            Ok(())
        })?;
        left -= n;
        report.records += n;
    }
    Ok(())
}
