//! Virtual visits of the patients whose telemedicine consent stands, with their own doctors,
//! over the past three months and the next month, on weekdays in clinic hours: past ones had a
//! video session and a chat about what that specialty sees (the first line is the visit's
//! reason), and were completed by the doctor.

use chrono::Duration;
use rand::seq::SliceRandom;

use super::appointments::{booked_at, slot, workday};
use super::clinic::fill;
use super::{Cast, Ctx, DemoReport};
use crate::db::DbConn;
use crate::domains::telemedicine;
use crate::kit::backdate;
use crate::kit::{Error, IfMatch, Timestamp};

pub(super) fn load(
    conn: &mut DbConn,
    ctx: &Ctx,
    cast: &Cast,
    consenting: &[usize],
    wanted: usize,
    report: &mut DemoReport,
) -> anyhow::Result<()> {
    let mut rng = ctx.rng("telemedicine");
    let (doctors, patients) = (&cast.doctors, &cast.patients);
    // Every (doctor, patient) of a consenting patient's panel whose specialty holds video
    // visits.
    let pairs: Vec<(usize, usize)> = consenting
        .iter()
        .flat_map(|&p| patients[p].panel.iter().map(move |&(d, _)| (d, p)))
        .filter(|&(d, _)| !doctors[d].specialty.chats.is_empty())
        .collect();
    let (mut done, mut attempts) = (0, 0);
    while !pairs.is_empty() && done < wanted && attempts < wanted * 3 {
        let batch = (wanted - done).min(250);
        let mut plan = Vec::new();
        for _ in 0..batch {
            let (d, p) = *pairs.choose(&mut rng).expect("non-empty");
            let s = doctors[d].specialty;
            let day = workday(ctx, s, -90, 30, &mut rng);
            let (start, _) = slot(s, day, &mut rng);
            let minutes = *[15, 20, 30].choose(&mut rng).expect("non-empty");
            let script = s.chats.choose(&mut rng).expect("non-empty");
            let chat: Vec<String> = script.iter().map(|l| fill(l, &mut rng)).collect();
            let booked = booked_at(ctx, s, start, patients[p].registered, &mut rng);
            plan.push((d, p, start, minutes, chat, booked));
        }
        attempts += batch;
        let (mut visits_here, mut chat_here) = (0, 0);
        ctx.run(conn, |tx| {
            for (di, pi, start, minutes, chat, booked) in &plan {
                let (d, p) = (&doctors[*di], &patients[*pi]);
                let end = *start + Duration::minutes(*minutes);
                let new = telemedicine::NewVisit {
                    patient_id: p.patient_id(),
                    doctor_id: d.doctor_id(),
                    appointment_id: None,
                    scheduled_start: Timestamp::from_db(*start),
                    scheduled_end: Timestamp::from_db(end),
                    reason: Some(chat[0].clone()),
                };
                let patient = p.actor(ctx.audit);
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
                let id = visit.id.as_str();
                if end > ctx.clock {
                    backdate::row(tx, "virtual_visits", id, *booked, *booked)?;
                    continue;
                }
                let doctor = d.actor(ctx.audit);
                let at = |m: i64| Timestamp::from_db(*start + Duration::minutes(m));
                let session = tx.as_actor(&doctor, |tx| {
                    telemedicine::start_session(tx, &visit.id, None, at(1))
                })?;
                // The patient opens, the doctor answers, and so on.
                for (i, line) in chat.iter().enumerate() {
                    let by = if i % 2 == 0 { &patient } else { &doctor };
                    let body = telemedicine::NewChatMessage { body: line.clone() };
                    tx.as_actor(by, |tx| {
                        telemedicine::post_message(tx, &visit.id, body, at(2 + 2 * i as i64))
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
                backdate::row(tx, "virtual_visits", id, *booked, end)?;
                let (opened, closed) = (at(1).naive(), at(*minutes - 1).naive());
                backdate::row(tx, "video_sessions", session.id.as_str(), opened, closed)?;
            }
            Ok(())
        })?;
        done += visits_here;
        report.chat_messages += chat_here;
    }
    report.visits = done;
    Ok(())
}
