//! `ingest`: device readings, measured. Prints three things:
//!
//! 1. the raw baseline: batches of 5,000 readings inserted in-process into a fresh SQLite
//!    database, with the server's own statements (typed batch `INSERT … ON CONFLICT DO
//!    NOTHING`, 1,000 rows at a time, one transaction per batch);
//! 2. the same batches sent over HTTP to the release server (`POST /devices/{id}/data` with the
//!    device's token) from `--clients` connections at once, as readings per second;
//! 3. a range query over one day of 1-second heart-rate data (86,400 readings) bucketed by 5
//!    minutes (`GET /devices/{id}/data?bucket=5m`), its latency over 20 runs.
//!
//! ```sh
//! cargo build --release -p healthapi -p healthapi-bench --bins
//! target/release/ingest              # 60 batches; `target/release/ingest 120 4` for 120 batches on 4 clients
//! ```

use std::io::{Read, Write};
use std::net::TcpStream;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use diesel::connection::SimpleConnection;
use diesel::prelude::*;
use healthapi_bench::client;

const ADMIN_PASSWORD: &str = "ingest-admin-password-1";
const BATCH: usize = 5_000;

fn main() -> anyhow::Result<()> {
    let mut args = std::env::args().skip(1);
    let batches: usize = args.next().map(|a| a.parse()).transpose()?.unwrap_or(60);
    let clients: usize = args.next().map(|a| a.parse()).transpose()?.unwrap_or(2);
    let dir = std::env::temp_dir().join(format!("healthapi-ingest-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    let raw = raw_baseline(&dir, batches)?;
    println!(
        "raw: {batches} batches of {BATCH} readings in-process: {:.0} readings/s",
        raw
    );
    let result = over_http(&dir, batches, clients);
    let _ = std::fs::remove_dir_all(&dir);
    let (http, query) = result?;
    println!(
        "http: {batches} batches of {BATCH} readings on {clients} connections: {:.0} readings/s ({:.2} × raw)",
        http,
        http / raw
    );
    println!(
        "query: one day of 1 s heart rate (86,400 readings) by 5 min buckets: p50 {:.1} ms, max {:.1} ms (20 runs)",
        query.0, query.1
    );
    Ok(())
}

/// The batches: heart rate, one reading a second from a fixed start, `batches × 5,000` in all.
fn readings(batches: usize) -> Vec<Vec<(i64, f64)>> {
    let start: i64 = 1_767_225_600_000; // 2026-01-01T00:00:00Z
    (0..batches)
        .map(|b| {
            (0..BATCH)
                .map(|i| {
                    let n = (b * BATCH + i) as i64;
                    (start + n * 1000, 60.0 + (n % 30) as f64)
                })
                .collect()
        })
        .collect()
}

fn raw_baseline(dir: &std::path::Path, batches: usize) -> anyhow::Result<f64> {
    let url = format!("sqlite://{}", dir.join("raw.db").display());
    let pool = healthapi::db::connect(&url, 1)?;
    let mut conn = pool.get()?;
    let all = readings(batches);
    let started = Instant::now();
    use healthapi::db::schema::device_data;
    for batch in &all {
        conn.batch_execute("BEGIN IMMEDIATE")?;
        for chunk in batch.chunks(1000) {
            let values: Vec<_> = chunk
                .iter()
                .map(|(ms, value)| {
                    (
                        device_data::device_id.eq("raw-device"),
                        device_data::metric.eq("heart_rate"),
                        device_data::recorded_ms.eq(*ms),
                        device_data::value.eq(*value),
                    )
                })
                .collect();
            healthapi::on_backend!(&mut *conn, |c| diesel::insert_into(device_data::table)
                .values(&values)
                .on_conflict_do_nothing()
                .execute(c))?;
        }
        conn.batch_execute("COMMIT")?;
    }
    Ok((batches * BATCH) as f64 / started.elapsed().as_secs_f64())
}

fn json(body: &str) -> anyhow::Result<serde_json::Value> {
    Ok(serde_json::from_str(body)?)
}

/// A request with a body and its own headers, on a new connection; (status, body).
fn send(
    addr: &str,
    method: &str,
    path: &str,
    auth: &str,
    body: &str,
) -> anyhow::Result<(u16, String)> {
    let mut s = TcpStream::connect(addr)?;
    s.set_read_timeout(Some(Duration::from_secs(120)))?;
    let head = format!(
        "{method} {path} HTTP/1.1\r\nhost: {addr}\r\nconnection: close\r\nauthorization: {auth}\r\n\
         content-type: application/json\r\ncontent-length: {}\r\n\r\n",
        body.len()
    );
    s.write_all(head.as_bytes())?;
    s.write_all(body.as_bytes())?;
    let mut answer = String::new();
    s.read_to_string(&mut answer)?;
    let status = answer
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    let body = answer
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_string())
        .unwrap_or_default();
    Ok((status, body))
}

fn batch_body(batch: &[(i64, f64)]) -> String {
    let mut out = String::with_capacity(batch.len() * 90);
    out.push_str("{\"readings\":[");
    for (i, (ms, value)) in batch.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        let at = chrono::DateTime::from_timestamp_millis(*ms)
            .unwrap_or_default()
            .to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
        out.push_str(&format!(
            "{{\"metric\":\"heart_rate\",\"value\":{value},\"unit\":\"bpm\",\"recorded_at\":\"{at}\"}}"
        ));
    }
    out.push_str("]}");
    out
}

fn over_http(
    dir: &std::path::Path,
    batches: usize,
    clients: usize,
) -> anyhow::Result<(f64, (f64, f64))> {
    let bin = std::env::current_exe()?
        .parent()
        .expect("the binary is in a folder")
        .join("healthapi");
    let addr = {
        let l = std::net::TcpListener::bind("127.0.0.1:0")?;
        l.local_addr()?.to_string()
    };
    let mut child = Command::new(&bin)
        .arg("serve")
        .env(
            "DATABASE_URL",
            format!("sqlite://{}", dir.join("http.db").display()),
        )
        .env("HEALTHAPI_DATA_DIR", dir.join("data"))
        .env("HEALTHAPI_BIND", &addr)
        .env("HEALTHAPI_ADMIN_PASSWORD", ADMIN_PASSWORD)
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()?;
    let result = (|| -> anyhow::Result<(f64, (f64, f64))> {
        let start = Instant::now();
        while !matches!(
            client::call(&addr, "GET", "/readyz", None, None),
            Ok((200, _))
        ) {
            anyhow::ensure!(
                start.elapsed() < Duration::from_secs(60),
                "server not ready"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        // A patient who consents, and two heart-rate devices: one for the load, one for the
        // day the query reads.
        let email = format!("ingest-{}@example.test", std::process::id());
        let register = format!(
            r#"{{"email":"{email}","password":"{ADMIN_PASSWORD}","given_name":"In","family_name":"Gest","birth_date":"1980-01-01","sex":"other"}}"#
        );
        client::call(
            &addr,
            "POST",
            "/api/v1/auth/register",
            None,
            Some(&register),
        )?;
        let login = format!(r#"{{"email":"{email}","password":"{ADMIN_PASSWORD}"}}"#);
        let (_, body) = client::call(&addr, "POST", "/api/v1/auth/login", None, Some(&login))?;
        let token = json(&body)?["access_token"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        let consent =
            r#"{"consent_form_id":"01900000-0000-7000-8000-000000000002","action":"given"}"#;
        client::call(
            &addr,
            "POST",
            "/api/v1/consents",
            Some(&token),
            Some(consent),
        )?;
        let mut devices = Vec::new();
        for serial in ["LOAD-1", "DAY-1"] {
            let d = format!(
                r#"{{"kind":"heart_rate_monitor","manufacturer":"Bench","serial_number":"{serial}"}}"#
            );
            let (status, body) =
                client::call(&addr, "POST", "/api/v1/devices", Some(&token), Some(&d))?;
            anyhow::ensure!(status == 201, "device: {status} {body}");
            let v = json(&body)?;
            devices.push((
                v["id"].as_str().unwrap_or_default().to_string(),
                v["ingest_token"].as_str().unwrap_or_default().to_string(),
            ));
        }
        // The load: every batch once, spread over the clients; bodies built before the clock.
        let bodies: Vec<String> = readings(batches).iter().map(|b| batch_body(b)).collect();
        let (load_id, load_token) = devices[0].clone();
        let path = format!("/api/v1/devices/{load_id}/data");
        let auth = format!("Device {load_token}");
        let started = Instant::now();
        std::thread::scope(|s| -> anyhow::Result<()> {
            let handles: Vec<_> = (0..clients)
                .map(|c| {
                    let (bodies, addr, path, auth) = (&bodies, &addr, &path, &auth);
                    s.spawn(move || -> anyhow::Result<()> {
                        for body in bodies.iter().skip(c).step_by(clients) {
                            let (status, answer) = send(addr, "POST", path, auth, body)?;
                            anyhow::ensure!(status == 200, "ingest: {status} {answer}");
                        }
                        Ok(())
                    })
                })
                .collect();
            for h in handles {
                h.join().expect("client thread")?;
            }
            Ok(())
        })?;
        let http = (batches * BATCH) as f64 / started.elapsed().as_secs_f64();
        // The day: 86,400 readings, then the bucketed query.
        let (day_id, day_token) = devices[1].clone();
        let day_auth = format!("Device {day_token}");
        for batch in readings(18)
            .iter()
            .flatten()
            .take(86_400)
            .collect::<Vec<_>>()
            .chunks(BATCH)
        {
            let owned: Vec<(i64, f64)> = batch.iter().map(|x| **x).collect();
            let (status, answer) = send(
                &addr,
                "POST",
                &format!("/api/v1/devices/{day_id}/data"),
                &day_auth,
                &batch_body(&owned),
            )?;
            anyhow::ensure!(status == 200, "day: {status} {answer}");
        }
        let q = format!(
            "/api/v1/devices/{day_id}/data?metric=heart_rate&bucket=5m&from=2026-01-01T00:00:00Z&to=2026-01-02T00:00:00Z"
        );
        let mut times = Vec::new();
        for _ in 0..21 {
            let t = Instant::now();
            let (status, body) = client::call(&addr, "GET", &q, Some(&token), None)?;
            let ms = t.elapsed().as_secs_f64() * 1000.0;
            anyhow::ensure!(status == 200, "query: {status} {body}");
            let buckets = json(&body)?["buckets"]
                .as_array()
                .map(Vec::len)
                .unwrap_or(0);
            anyhow::ensure!(buckets == 288, "{buckets} buckets");
            times.push(ms);
        }
        times.remove(0); // the first run warms the caches
        times.sort_by(|a, b| a.total_cmp(b));
        Ok((http, (times[times.len() / 2], times[times.len() - 1])))
    })();
    let _ = child.kill();
    let _ = child.wait();
    result
}
