//! The raw baselines: the same database work as a workload, done in this process through the
//! same driver (Diesel over the same `DbConn` enum, the same pool and pragmas from
//! `healthapi::db::connect`), with no HTTP, no JSON, no auth. Each thread holds one pooled
//! connection for the whole run and loops for a fixed time.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use hdrhistogram::Histogram;
use rand::rngs::StdRng as SmallRng;
use rand::{Rng, SeedableRng};

use healthapi::audit::Audit;
use healthapi::auth::permissions::DOCTOR;
use healthapi::db::{Db, DbPool};
use healthapi::domains::appointments::{self, AppointmentFilter, NewAppointment};
use healthapi::domains::patients;
use healthapi::http::Page;
use healthapi::kit::{DoctorId, PatientId, Timestamp};

use crate::load::{Fixture, Stats, SLOT_SECONDS};
use crate::seed::{actor, principal, time};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RawWork {
    /// `patients::load` (the handler's query) of a random patient.
    Patient,
    /// The handler's appointment list query for a doctor and a window.
    Appointments,
    /// `Db::write_blocking` + `appointments::book`: the whole booking transaction, committed.
    Book,
}

pub struct RawResult {
    pub threads: usize,
    pub ops_per_sec: f64,
    pub stats: Stats,
    pub bookings_used: u64,
}

#[allow(clippy::too_many_arguments)]
pub fn run(
    work: RawWork,
    pool: &DbPool,
    db: &Db,
    audit: &Audit,
    fixture: &Fixture,
    doctor_users: &[String],
    threads: usize,
    warmup: Duration,
    duration: Duration,
    booking_start: u64,
) -> anyhow::Result<RawResult> {
    let counter = Arc::new(AtomicU64::new(0));
    let t0 = Instant::now();
    let measure_from = t0 + warmup;
    let end = measure_from + duration;
    let results: Vec<anyhow::Result<(Histogram<u64>, u64)>> = std::thread::scope(|s| {
        let mut handles = Vec::new();
        for t in 0..threads {
            let counter = counter.clone();
            handles.push(s.spawn(move || -> anyhow::Result<(Histogram<u64>, u64)> {
                let mut conn = pool.get()?;
                let mut rng = SmallRng::seed_from_u64(t as u64 + 17);
                let mut h = Histogram::<u64>::new_with_bounds(1, 60_000_000, 3)?;
                let mut errors = 0;
                let actors: Vec<_> = fixture
                    .doctors
                    .iter()
                    .zip(doctor_users)
                    .map(|((d, _), u)| actor(audit, principal(u, DOCTOR, Some(d))))
                    .collect();
                loop {
                    let started = Instant::now();
                    if started >= end {
                        break;
                    }
                    let ok = match work {
                        RawWork::Patient => {
                            let id =
                                &fixture.patient_ids[rng.gen_range(0..fixture.patient_ids.len())];
                            patients::load(&mut conn, &PatientId::from_db(id.clone())).is_ok()
                        }
                        RawWork::Appointments => {
                            let d = rng.gen_range(0..fixture.doctors.len());
                            let k =
                                rng.gen_range(0..(fixture.seeded_slots_per_doctor - 100).max(1));
                            let from = fixture.seed_base + k * SLOT_SECONDS;
                            // The route's own query, as GET /appointments?doctor_id&from&to runs it.
                            let filter = AppointmentFilter {
                                doctor_id: Some(DoctorId::from_db(fixture.doctors[d].0.clone())),
                                from: Some(Timestamp::from_db(time(from))),
                                to: Some(Timestamp::from_db(time(from + 100 * SLOT_SECONDS))),
                                ..AppointmentFilter::default()
                            };
                            let page = Page {
                                limit: 50,
                                after: None,
                            };
                            matches!(
                                appointments::list(&mut conn, &actors[d], filter, &page),
                                Ok(v) if v.peek().items.len() == 50
                            )
                        }
                        RawWork::Book => {
                            let n = booking_start + counter.fetch_add(1, Ordering::Relaxed);
                            let (d, patient, start) = fixture.booking(n);
                            let new = NewAppointment {
                                patient_id: PatientId::from_db(patient.to_string()),
                                doctor_id: DoctorId::from_db(fixture.doctors[d].0.clone()),
                                start_time: Timestamp::from_db(time(start)),
                                end_time: Timestamp::from_db(time(start + SLOT_SECONDS)),
                                reason: Some("Benchmark visit".into()),
                            };
                            actors[d]
                                .write_blocking(&mut conn, &db.hub, |tx| {
                                    appointments::book(tx, new, true)
                                })
                                .is_ok()
                        }
                    };
                    let done = Instant::now();
                    if started >= measure_from && done <= end {
                        if ok {
                            h.record(done.duration_since(started).as_micros().max(1) as u64)?;
                        } else {
                            errors += 1;
                        }
                    }
                }
                Ok((h, errors))
            }));
        }
        handles
            .into_iter()
            .map(|h| h.join().expect("raw thread panicked"))
            .collect()
    });
    let mut all = Histogram::<u64>::new_with_bounds(1, 60_000_000, 3)?;
    let mut errors = 0;
    for r in results {
        let (h, e) = r?;
        all.add(&h)?;
        errors += e;
    }
    let secs = duration.as_secs_f64();
    Ok(RawResult {
        threads,
        ops_per_sec: all.len() as f64 / secs,
        stats: Stats {
            requests: all.len() + errors,
            errors,
            p50_us: all.value_at_quantile(0.5),
            p99_us: all.value_at_quantile(0.99),
            p999_us: all.value_at_quantile(0.999),
            max_us: all.max(),
        },
        bookings_used: counter.load(Ordering::Relaxed),
    })
}
