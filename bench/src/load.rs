//! The load generator: a separate process (`bench load <spec.json>`) that opens a fixed number of
//! keep-alive HTTP/1.1 connections (hyper's client connection, one task per connection, never
//! re-opened unless the server closes it) and drives one workload for a fixed time.
//!
//! Closed loop (no `rate`): every connection sends its next request as soon as the previous
//! answer is read; this finds the peak. Open loop (`rate` set): every connection has a fixed
//! schedule (rate / connections requests per second, staggered); a request that could not be
//! sent on time because its connection was still busy is timed from when it *should* have been
//! sent (no coordinated omission), like wrk2.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use hdrhistogram::Histogram;
use http_body_util::{BodyExt, Full};
use hyper::client::conn::http1;
use hyper::{Method, Request};
use hyper_util::rt::TokioIo;
use rand::rngs::StdRng as SmallRng;
use rand::{Rng, SeedableRng};
use serde::{Deserialize, Serialize};
use tokio::net::TcpStream;

/// Length of one seeded or booked slot, in seconds.
pub const SLOT_SECONDS: i64 = 30 * 60;

/// The data a workload draws its requests from.
#[derive(Debug, Clone, Serialize, Deserialize, Default)]
pub struct Fixture {
    pub patient_ids: Vec<String>,
    /// (doctor id, bearer token of that doctor's account)
    pub doctors: Vec<(String, String)>,
    /// Seeded appointments: doctor d's slot k starts at `seed_base + k * SLOT_SECONDS`.
    pub seed_base: i64,
    pub seeded_slots_per_doctor: i64,
    /// Free future slots start here (unix seconds).
    pub book_base: i64,
}

impl Fixture {
    /// Booking number `n`: a doctor, a patient and a start time that no other booking number
    /// uses (so every booking is clash-free). The numbers of one time slot use every doctor once
    /// and distinct patients.
    pub fn booking(&self, n: u64) -> (usize, &str, i64) {
        let d = self.doctors.len() as u64;
        let p = self.patient_ids.len() as u64;
        let (g, j) = (n / d, n % d);
        let patient = ((g * d + (j + g) % d) % p) as usize;
        let start = self.book_base + g as i64 * SLOT_SECONDS;
        (j as usize, &self.patient_ids[patient], start)
    }

    /// The patient of seeded slot `k` of doctor `d` (distinct doctors at the same slot get
    /// distinct patients, so the seed is clash-free too).
    pub fn seeded_patient(&self, d: usize, k: i64) -> usize {
        let dn = self.doctors.len() as i64;
        ((k * dn + (d as i64 + k) % dn) % self.patient_ids.len() as i64) as usize
    }
}

pub fn rfc3339(t: i64) -> String {
    chrono::DateTime::from_timestamp(t, 0)
        .expect("valid time")
        .format("%Y-%m-%dT%H:%M:%SZ")
        .to_string()
}

#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum Workload {
    /// GET /api/v1/patients/{id} as a doctor.
    Patient,
    /// GET /api/v1/appointments?doctor_id&from&to&limit=50 as that doctor.
    Appointments,
    /// POST /api/v1/appointments as the appointment's doctor, free slot.
    Book,
    /// GET /healthz
    Healthz,
    /// 50% Patient, 20% Appointments, 30% Book.
    Mixed,
    /// GET /patients/{id} on the bare baseline server (no token).
    Bare,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct LoadSpec {
    pub addr: String,
    pub workload: Workload,
    pub connections: usize,
    pub duration_secs: f64,
    pub warmup_secs: f64,
    /// Open loop at this many requests/s in total; closed loop when `None`.
    pub rate: Option<f64>,
    /// Worker threads of the load process.
    pub threads: usize,
    /// First booking number for `Book`/`Mixed`.
    pub booking_start: u64,
    pub fixture: Fixture,
}

#[derive(Debug, Clone, Serialize, Deserialize, Default)]
pub struct Stats {
    pub requests: u64,
    pub errors: u64,
    pub p50_us: u64,
    pub p99_us: u64,
    pub p999_us: u64,
    pub max_us: u64,
}

#[derive(Debug, Clone, Serialize, Deserialize, Default)]
pub struct LoadResult {
    pub elapsed_secs: f64,
    pub all: Stats,
    /// Only for `Mixed`: "read" and "write".
    pub by_class: BTreeMap<String, Stats>,
    pub statuses: BTreeMap<u16, u64>,
    /// Connections the server closed or that failed (each is re-opened and counted as an error).
    pub connection_errors: u64,
    pub bookings_used: u64,
    /// CPU seconds the load process itself used.
    pub load_cpu_secs: f64,
    pub first_error: Option<String>,
}

impl LoadResult {
    pub fn rps(&self) -> f64 {
        self.all.requests as f64 / self.elapsed_secs.max(1e-9)
    }
}

fn hist() -> Histogram<u64> {
    Histogram::new_with_bounds(1, 60_000_000, 3).expect("valid histogram bounds")
}

fn stats(h: &Histogram<u64>, errors: u64) -> Stats {
    Stats {
        requests: h.len(),
        errors,
        p50_us: h.value_at_quantile(0.50),
        p99_us: h.value_at_quantile(0.99),
        p999_us: h.value_at_quantile(0.999),
        max_us: h.max(),
    }
}

struct ConnOutcome {
    hist: [Histogram<u64>; 2],
    errors: [u64; 2],
    statuses: BTreeMap<u16, u64>,
    connection_errors: u64,
    first_error: Option<String>,
}

/// One request to send: method, path, token, body, and its class (0 read, 1 write).
struct Planned {
    method: Method,
    path: String,
    token: Option<String>,
    body: Option<String>,
    class: usize,
    expect: u16,
}

fn plan(spec: &LoadSpec, rng: &mut SmallRng, counter: &AtomicU64) -> Planned {
    let f = &spec.fixture;
    let kind = match spec.workload {
        Workload::Mixed => {
            let x: u32 = rng.gen_range(0..100);
            if x < 50 {
                Workload::Patient
            } else if x < 70 {
                Workload::Appointments
            } else {
                Workload::Book
            }
        }
        w => w,
    };
    match kind {
        Workload::Patient | Workload::Bare => {
            let id = &f.patient_ids[rng.gen_range(0..f.patient_ids.len())];
            let (path, token) = if kind == Workload::Bare {
                (format!("/patients/{id}"), None)
            } else {
                let d = rng.gen_range(0..f.doctors.len());
                (
                    format!("/api/v1/patients/{id}"),
                    Some(f.doctors[d].1.clone()),
                )
            };
            Planned {
                method: Method::GET,
                path,
                token,
                body: None,
                class: 0,
                expect: 200,
            }
        }
        Workload::Appointments => {
            let d = rng.gen_range(0..f.doctors.len());
            let k = rng.gen_range(0..(f.seeded_slots_per_doctor - 100).max(1));
            let from = f.seed_base + k * SLOT_SECONDS;
            let to = from + 100 * SLOT_SECONDS;
            Planned {
                method: Method::GET,
                path: format!(
                    "/api/v1/appointments?doctor_id={}&from={}&to={}&limit=50",
                    f.doctors[d].0,
                    rfc3339(from),
                    rfc3339(to)
                ),
                token: Some(f.doctors[d].1.clone()),
                body: None,
                class: 0,
                expect: 200,
            }
        }
        Workload::Book => {
            let n = spec.booking_start + counter.fetch_add(1, Ordering::Relaxed);
            let (d, patient, start) = f.booking(n);
            let body = serde_json::json!({
                "patient_id": patient,
                "doctor_id": f.doctors[d].0,
                "start_time": rfc3339(start),
                "end_time": rfc3339(start + SLOT_SECONDS),
                "reason": "Benchmark visit",
            })
            .to_string();
            Planned {
                method: Method::POST,
                path: "/api/v1/appointments".into(),
                token: Some(f.doctors[d].1.clone()),
                body: Some(body),
                class: 1,
                expect: 201,
            }
        }
        Workload::Healthz => Planned {
            method: Method::GET,
            path: "/healthz".into(),
            token: None,
            body: None,
            class: 0,
            expect: 200,
        },
        Workload::Mixed => unreachable!("resolved above"),
    }
}

async fn connect(addr: &str) -> anyhow::Result<http1::SendRequest<Full<Bytes>>> {
    let stream = TcpStream::connect(addr).await?;
    stream.set_nodelay(true)?;
    let (sender, conn) = http1::handshake(TokioIo::new(stream)).await?;
    tokio::spawn(async move {
        let _ = conn.await;
    });
    Ok(sender)
}

async fn send(
    sender: &mut http1::SendRequest<Full<Bytes>>,
    host: &str,
    p: &Planned,
) -> Result<u16, String> {
    let mut b = Request::builder()
        .method(p.method.clone())
        .uri(&p.path)
        .header("host", host);
    if let Some(t) = &p.token {
        b = b.header("authorization", format!("Bearer {t}"));
    }
    let body = match &p.body {
        Some(s) => {
            b = b.header("content-type", "application/json");
            Full::new(Bytes::from(s.clone()))
        }
        None => Full::new(Bytes::new()),
    };
    let req = b.body(body).map_err(|e| e.to_string())?;
    sender.ready().await.map_err(|e| e.to_string())?;
    let resp = sender.send_request(req).await.map_err(|e| e.to_string())?;
    let status = resp.status().as_u16();
    let bytes = resp
        .into_body()
        .collect()
        .await
        .map_err(|e| e.to_string())?
        .to_bytes();
    if status != p.expect && status >= 400 {
        return Err(format!(
            "status {status}: {}",
            String::from_utf8_lossy(&bytes[..bytes.len().min(300)])
        ));
    }
    Ok(status)
}

async fn run_connection(
    spec: Arc<LoadSpec>,
    index: usize,
    counter: Arc<AtomicU64>,
    t0: Instant,
    measure_from: Instant,
    end: Instant,
) -> ConnOutcome {
    let mut out = ConnOutcome {
        hist: [hist(), hist()],
        errors: [0, 0],
        statuses: BTreeMap::new(),
        connection_errors: 0,
        first_error: None,
    };
    let mut rng = SmallRng::seed_from_u64(0x5eed ^ (index as u64).wrapping_mul(0x9e37_79b9));
    let mut sender = None;
    // Open loop: this connection's schedule.
    let interval = spec
        .rate
        .map(|r| Duration::from_secs_f64(spec.connections as f64 / r));
    let mut next_due =
        interval.map(|i| t0 + i.mul_f64(index as f64 / spec.connections.max(1) as f64));
    loop {
        let now = Instant::now();
        if now >= end {
            break;
        }
        let started = match (next_due, interval) {
            (Some(due), Some(i)) => {
                if due >= end {
                    break;
                }
                next_due = Some(due + i);
                if now < due {
                    tokio::time::sleep_until(due.into()).await;
                    // Timer jitter is the generator's, not the server's: time from the real send.
                    Instant::now()
                } else {
                    // Behind schedule because this connection was busy: time from the due moment.
                    due
                }
            }
            _ => now,
        };
        let p = plan(&spec, &mut rng, &counter);
        if sender.is_none() {
            match connect(&spec.addr).await {
                Ok(s) => sender = Some(s),
                Err(e) => {
                    out.connection_errors += 1;
                    out.first_error.get_or_insert_with(|| e.to_string());
                    tokio::time::sleep(Duration::from_millis(10)).await;
                    continue;
                }
            }
        }
        let s = sender.as_mut().expect("connected above");
        let result = send(s, &spec.addr, &p).await;
        let done = Instant::now();
        let measured = started >= measure_from && done <= end;
        match result {
            Ok(status) => {
                if measured {
                    *out.statuses.entry(status).or_default() += 1;
                    let us = done.duration_since(started).as_micros().max(1) as u64;
                    let _ = out.hist[p.class].record(us.min(60_000_000));
                }
            }
            Err(e) => {
                if e.starts_with("status ") {
                    if measured {
                        let code: u16 = e[7..10].parse().unwrap_or(0);
                        *out.statuses.entry(code).or_default() += 1;
                        out.errors[p.class] += 1;
                    }
                } else {
                    out.connection_errors += 1;
                    sender = None;
                    if measured {
                        out.errors[p.class] += 1;
                    }
                }
                out.first_error.get_or_insert(e);
            }
        }
    }
    out
}

/// Runs a spec to completion in this process.
pub fn run(spec: LoadSpec) -> anyhow::Result<LoadResult> {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(spec.threads.max(1))
        .enable_all()
        .build()?;
    let cpu0 = crate::procfs::self_cpu_secs();
    let spec = Arc::new(spec);
    let result = rt.block_on(async {
        let counter = Arc::new(AtomicU64::new(0));
        let t0 = Instant::now();
        let measure_from = t0 + Duration::from_secs_f64(spec.warmup_secs);
        let end = measure_from + Duration::from_secs_f64(spec.duration_secs);
        let mut tasks = Vec::new();
        for i in 0..spec.connections {
            tasks.push(tokio::spawn(run_connection(
                spec.clone(),
                i,
                counter.clone(),
                t0,
                measure_from,
                end,
            )));
        }
        let mut h = [hist(), hist()];
        let mut errors = [0u64, 0];
        let mut result = LoadResult::default();
        for t in tasks {
            let o = t.await?;
            for c in 0..2 {
                h[c].add(&o.hist[c]).expect("same bounds");
                errors[c] += o.errors[c];
            }
            for (k, v) in o.statuses {
                *result.statuses.entry(k).or_default() += v;
            }
            result.connection_errors += o.connection_errors;
            if result.first_error.is_none() {
                result.first_error = o.first_error;
            }
        }
        let mut all = hist();
        all.add(&h[0]).expect("same bounds");
        all.add(&h[1]).expect("same bounds");
        result.elapsed_secs = spec.duration_secs;
        result.all = stats(&all, errors[0] + errors[1]);
        // Errors are requests too: count them in the total.
        result.all.requests += errors[0] + errors[1];
        if spec.workload == Workload::Mixed {
            result
                .by_class
                .insert("read".into(), stats(&h[0], errors[0]));
            result
                .by_class
                .insert("write".into(), stats(&h[1], errors[1]));
        }
        result.bookings_used = counter.load(Ordering::Relaxed);
        Ok::<_, anyhow::Error>(result)
    })?;
    let mut result = result;
    result.load_cpu_secs = crate::procfs::self_cpu_secs() - cpu0;
    Ok(result)
}
