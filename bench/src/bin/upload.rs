//! `upload`: the server's peak memory while it takes one large diagnostic image (default
//! 50 MiB). Starts the release server on a fresh SQLite database and the local blob store,
//! creates a patient and an image record as the admin, streams a PNG of the given size from
//! this process (generated on the fly, never whole in this process either), then prints the
//! server's peak RSS (VmHWM) before and after, the upload's time, and what the server
//! answered. Build first: `cargo build --release -p healthapi -p healthapi-bench --bins`.
//!
//! ```sh
//! target/release/upload            # 50 MiB
//! target/release/upload 200        # 200 MiB (the server's limit is raised to match)
//! ```

use std::io::{Read, Write};
use std::net::TcpStream;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use healthapi_bench::{client, procfs};

const ADMIN_PASSWORD: &str = "upload-admin-password-1";

fn main() -> anyhow::Result<()> {
    let mib: u64 = std::env::args()
        .nth(1)
        .map(|a| a.parse())
        .transpose()?
        .unwrap_or(50);
    let size = mib * 1024 * 1024;
    let bin = std::env::current_exe()?
        .parent()
        .expect("the binary is in a folder")
        .join("healthapi");
    let dir = std::env::temp_dir().join(format!("healthapi-upload-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    let addr = {
        let l = std::net::TcpListener::bind("127.0.0.1:0")?;
        l.local_addr()?.to_string()
    };
    let mut child = Command::new(&bin)
        .arg("serve")
        .env(
            "DATABASE_URL",
            format!("sqlite://{}", dir.join("db.sqlite").display()),
        )
        .env("HEALTHAPI_DATA_DIR", dir.join("data"))
        .env("HEALTHAPI_BIND", &addr)
        .env("HEALTHAPI_ADMIN_PASSWORD", ADMIN_PASSWORD)
        .env("HEALTHAPI_MAX_IMAGE_BYTES", (size + 1024).to_string())
        .env("HEALTHAPI_REQUEST_TIMEOUT_SECONDS", "600")
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()?;
    let pid = child.id();
    let result = run(&addr, pid, size);
    let _ = child.kill();
    let _ = child.wait();
    let _ = std::fs::remove_dir_all(&dir);
    let r = result?;
    println!("upload of {mib} MiB to the local blob store (SQLite):");
    println!("  server peak RSS before the upload: {:.1} MB", r.before);
    println!("  server peak RSS after the upload:  {:.1} MB", r.after);
    println!(
        "  upload: {:.2} s ({:.0} MB/s); server answered {}",
        r.secs,
        size as f64 / 1e6 / r.secs,
        r.status
    );
    Ok(())
}

struct Measured {
    before: f64,
    after: f64,
    secs: f64,
    status: String,
}

fn run(addr: &str, pid: u32, size: u64) -> anyhow::Result<Measured> {
    let start = Instant::now();
    while !matches!(
        client::call(addr, "GET", "/readyz", None, None),
        Ok((200, _))
    ) {
        anyhow::ensure!(
            start.elapsed() < Duration::from_secs(60),
            "server not ready"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    let login = format!(r#"{{"email":"admin@healthapi.local","password":"{ADMIN_PASSWORD}"}}"#);
    let (_, body) = client::call(addr, "POST", "/api/v1/auth/login", None, Some(&login))?;
    let token = json(&body)?["access_token"]
        .as_str()
        .ok_or_else(|| anyhow::anyhow!("no token: {body}"))?
        .to_string();
    let patient =
        r#"{"given_name":"Upload","family_name":"Test","birth_date":"1980-01-01","sex":"other"}"#;
    let (_, body) = client::call(
        addr,
        "POST",
        "/api/v1/patients",
        Some(&token),
        Some(patient),
    )?;
    let pid_json = json(&body)?;
    let patient_id = pid_json["id"].as_str().unwrap_or_default();
    let image = format!(r#"{{"patient_id":"{patient_id}","modality":"OT"}}"#);
    let (_, body) = client::call(
        addr,
        "POST",
        "/api/v1/diagnostic-images",
        Some(&token),
        Some(&image),
    )?;
    let image_id = json(&body)?["id"].as_str().unwrap_or_default().to_string();
    let before = procfs::peak_rss_mib(pid).unwrap_or(0.0) * 1.048576;

    let t = Instant::now();
    let mut s = TcpStream::connect(addr)?;
    s.set_read_timeout(Some(Duration::from_secs(600)))?;
    let head = format!(
        "PUT /api/v1/diagnostic-images/{image_id}/content HTTP/1.1\r\nhost: {addr}\r\n\
         connection: close\r\nauthorization: Bearer {token}\r\ncontent-type: image/png\r\n\
         content-length: {size}\r\n\r\n"
    );
    s.write_all(head.as_bytes())?;
    let mut chunk = vec![0u8; 64 * 1024];
    let mut sent = 0u64;
    while sent < size {
        let n = chunk.len().min((size - sent) as usize);
        for (i, b) in chunk[..n].iter_mut().enumerate() {
            *b = ((sent as usize + i) % 251) as u8;
        }
        if sent == 0 {
            chunk[..8].copy_from_slice(b"\x89PNG\r\n\x1a\n");
        }
        s.write_all(&chunk[..n])?;
        sent += n as u64;
    }
    let mut answer = String::new();
    s.read_to_string(&mut answer)?;
    let secs = t.elapsed().as_secs_f64();
    let after = procfs::peak_rss_mib(pid).unwrap_or(0.0) * 1.048576;
    let status = answer.lines().next().unwrap_or("").to_string();
    let body = answer.split_once("\r\n\r\n").map(|(_, b)| b).unwrap_or("");
    let stored = json(body)
        .ok()
        .and_then(|v| v["size_bytes"].as_u64())
        .unwrap_or(0);
    anyhow::ensure!(stored == size, "the server stored {stored} bytes: {answer}");
    Ok(Measured {
        before,
        after,
        secs,
        status,
    })
}

fn json(body: &str) -> anyhow::Result<serde_json::Value> {
    Ok(serde_json::from_str(body)?)
}
