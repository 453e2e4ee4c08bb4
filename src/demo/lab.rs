//! The lab's demo story: a technician, orders in every state, results of common panels,
//! and small generated images in the blob store.

use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use rand::Rng;

use super::{actor, principal, run, DemoReport, Person, DEMO_DOMAIN, DEMO_PASSWORD};
use crate::audit::Audit;
use crate::auth::permissions::{DOCTOR, LAB_TECHNICIAN};
use crate::config::Config;
use crate::db::{now, Db, DbConn};
use crate::domains::{accounts, lab};
use crate::kit::{Actor, DoctorId, PatientId, Timestamp};
use chrono::Duration;

/// A panel the demo orders: its LOINC code and name, and its analytes as (LOINC code, name,
/// unit, reference low, reference high, decimals, critical below, critical above).
type Analyte = (&'static str, &'static str, f64, f64, usize, f64, f64);
const PANELS: &[(&str, &str, &[Analyte])] = &[
    (
        "51990-0",
        "Basic metabolic panel",
        &[
            ("2951-2", "mmol/L", 136.0, 145.0, 0, 120.0, 160.0),
            ("2823-3", "mmol/L", 3.5, 5.1, 1, 2.8, 6.0),
            ("2075-0", "mmol/L", 98.0, 107.0, 0, 80.0, 120.0),
            ("2028-9", "mmol/L", 22.0, 29.0, 0, 10.0, 40.0),
            ("3094-0", "mg/dL", 7.0, 20.0, 0, 2.0, 100.0),
            ("2160-0", "mg/dL", 0.6, 1.3, 2, 0.2, 10.0),
            ("2345-7", "mg/dL", 70.0, 99.0, 0, 50.0, 400.0),
            ("17861-6", "mg/dL", 8.6, 10.3, 1, 6.5, 13.0),
        ],
    ),
    (
        "58410-2",
        "Complete blood count",
        &[
            ("6690-2", "10*3/uL", 4.5, 11.0, 1, 1.0, 30.0),
            ("789-8", "10*6/uL", 4.2, 5.9, 2, 2.0, 8.0),
            ("718-7", "g/dL", 12.0, 17.5, 1, 7.0, 20.0),
            ("4544-3", "%", 36.0, 50.0, 1, 20.0, 60.0),
            ("777-3", "10*3/uL", 150.0, 400.0, 0, 50.0, 1000.0),
        ],
    ),
    (
        "4548-4",
        "Hemoglobin A1c",
        &[("4548-4", "%", 4.0, 5.6, 1, 3.0, 15.0)],
    ),
    (
        "57698-3",
        "Lipid panel",
        &[
            ("2093-3", "mg/dL", 125.0, 200.0, 0, 50.0, 500.0),
            ("2085-9", "mg/dL", 40.0, 90.0, 0, 10.0, 150.0),
            ("13457-7", "mg/dL", 50.0, 100.0, 0, 10.0, 400.0),
            ("2571-8", "mg/dL", 40.0, 150.0, 0, 10.0, 1000.0),
        ],
    ),
];

/// Lab data: a demo lab technician; orders placed by doctors for patients they have seen, in
/// every state (15% ordered, 10% collected, 65% resulted, 10% cancelled); results of common
/// panels with right units and ranges, some abnormal and a few critical; and small generated
/// images in the blob store, some pending upload.
#[allow(clippy::too_many_arguments)]
pub(super) fn load(
    conn: &mut DbConn,
    db: &Db,
    config: &Config,
    audit: &Audit,
    system: &Actor,
    hash: &str,
    rng: &mut StdRng,
    seen: &[(usize, usize)],
    (doctor_people, patient_people): (&[Person], &[Person]),
    report: &mut DemoReport,
) -> anyhow::Result<()> {
    if seen.is_empty() {
        return Ok(());
    }
    let email = format!("lab.tech@{DEMO_DOMAIN}");
    let mut tech_id = String::new();
    run(conn, db, system, |tx| {
        let u = accounts::create_account(
            tx,
            accounts::CreateUser {
                email: email.clone(),
                password: DEMO_PASSWORD.to_string(),
                display_name: "Lab Technician".into(),
                roles: vec![LAB_TECHNICIAN.to_string()],
            },
            hash.to_string(),
        )?;
        tech_id = u.id.into_string();
        Ok(())
    })?;
    report.lab_login = email;
    let tech = actor(audit, principal(&tech_id, LAB_TECHNICIAN, None, None));
    let today = now().date().and_hms_opt(7, 0, 0).expect("seven o'clock");
    let orders = (patient_people.len()).max(10);
    for chunk in 0..orders.div_ceil(200) {
        let n = (orders - chunk * 200).min(200);
        let mut plan = Vec::new();
        for _ in 0..n {
            let (di, pi) = *seen.choose(rng).expect("seen");
            let panel = rng.gen_range(0..PANELS.len());
            let fate = rng.gen_range(0..100);
            let priority = *[
                lab::Priority::Routine,
                lab::Priority::Routine,
                lab::Priority::Routine,
                lab::Priority::Urgent,
                lab::Priority::Stat,
            ]
            .choose(rng)
            .expect("non-empty");
            let day = rng.gen_range(-90..0);
            // Per analyte: 0 normal, 1 abnormal, 2 critical.
            let kinds: Vec<(u8, f64)> = (0..PANELS[panel].2.len())
                .map(|_| {
                    let k = match rng.gen_range(0..1000) {
                        0..=14 => 2,
                        15..=119 => 1,
                        _ => 0,
                    };
                    (k, rng.gen_range(0.0..1.0))
                })
                .collect();
            plan.push((di, pi, panel, fate, priority, day, kinds));
        }
        run(conn, db, system, |tx| {
            for (di, pi, panel, fate, priority, day, kinds) in &plan {
                let (d, p) = (&doctor_people[*di], &patient_people[*pi]);
                let (code, name, analytes) = PANELS[*panel];
                let doctor = actor(
                    audit,
                    principal(&d.user_id, DOCTOR, None, d.doctor_id.as_deref()),
                );
                let new = lab::NewOrder {
                    patient_id: PatientId::from_db(p.patient_id.clone().expect("patient")),
                    doctor_id: None,
                    appointment_id: None,
                    test_code: code.into(),
                    test_name: name.into(),
                    priority: Some(*priority),
                    notes: None,
                };
                let o = tx.as_actor(&doctor, |tx| lab::order(tx, new))?;
                report.lab_orders += 1;
                let at = |minutes: i64| {
                    Timestamp::from_db(today + Duration::days(*day) + Duration::minutes(minutes))
                };
                match fate {
                    0..=14 => continue,
                    15..=24 => {
                        let reason = lab::Cancel {
                            reason: "Ordered in error".into(),
                        };
                        tx.as_actor(&doctor, |tx| lab::cancel(tx, &o.id, reason))?;
                        continue;
                    }
                    _ => {}
                }
                tx.as_actor(&tech, |tx| lab::collect(tx, &o.id, at(30)))?;
                if *fate < 35 {
                    continue;
                }
                for ((a_code, unit, low, high, decimals, crit_low, crit_high), (kind, u)) in
                    analytes.iter().zip(kinds)
                {
                    let span = high - low;
                    let (value, interpretation) = match kind {
                        2 if u < &0.5 => (
                            crit_low * (0.8 + u * 0.2),
                            Some(lab::Interpretation::Critical),
                        ),
                        2 => (
                            crit_high * (1.05 + u * 0.1),
                            Some(lab::Interpretation::Critical),
                        ),
                        1 if u < &0.5 => (low - span * (0.05 + u * 0.3), None),
                        1 => (high + span * (0.05 + (u - 0.5) * 0.6), None),
                        _ => (low + span * (0.1 + u * 0.8), None),
                    };
                    let r = lab::NewResult {
                        test_code: Some(a_code.to_string()),
                        value: format!("{:.*}", *decimals, value.max(0.0)),
                        value_numeric: None,
                        unit: Some(unit.to_string()),
                        reference_low: Some(*low),
                        reference_high: Some(*high),
                        interpretation,
                        note: None,
                    };
                    tx.as_actor(&tech, |tx| lab::record_result(tx, &o.id, r, at(240)))?;
                    report.lab_results += 1;
                }
            }
            Ok(())
        })?;
    }

    // Images: a few dozen small radiographs, most uploaded, some still pending.
    let blobs = crate::blob::Blobs::open(config.blob_url.as_deref(), &config.data_dir)?;
    let wanted = (patient_people.len() / 20).clamp(4, 40);
    for i in 0..wanted {
        let (di, pi) = *seen.choose(rng).expect("seen");
        let (d, p) = (&doctor_people[di], &patient_people[pi]);
        let new = lab::NewImage {
            patient_id: PatientId::from_db(p.patient_id.clone().expect("patient")),
            doctor_id: Some(DoctorId::from_db(d.doctor_id.clone().expect("doctor"))),
            lab_order_id: None,
            modality: *[lab::Modality::Dx, lab::Modality::Cr, lab::Modality::Us]
                .choose(rng)
                .expect("non-empty"),
            body_site: Some(
                ["chest", "left wrist", "right knee", "abdomen"]
                    .choose(rng)
                    .expect("non-empty")
                    .to_string(),
            ),
            description: Some("Demo image".into()),
            taken_at: Some(Timestamp::from_db(
                today - Duration::days(rng.gen_range(1..60)),
            )),
        };
        let mut image = None;
        run(conn, db, system, |tx| {
            image = Some(tx.as_actor(&tech, |tx| lab::create_image(tx, new))?);
            Ok(())
        })?;
        let image = image.expect("created");
        report.images += 1;
        if i % 4 == 3 {
            continue; // pending upload
        }
        let bytes = bytes::Bytes::from(demo_png(64, 64, i as u32));
        let key = format!("diagnostic-images/{}/demo", image.id);
        let chunks = futures::stream::once(async move { Ok::<_, std::io::Error>(bytes) });
        let upload = blobs.upload(&key, chunks, u64::MAX);
        let stored = match tokio::runtime::Handle::try_current() {
            Ok(h) => h.block_on(upload),
            Err(_) => tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()?
                .block_on(upload),
        }?;
        run(conn, db, system, |tx| {
            tx.as_actor(&tech, |tx| {
                lab::complete_upload(tx, &image.id, &key, "image/png", &stored)
            })?;
            Ok(())
        })?;
    }
    Ok(())
}

/// A grayscale PNG of `width` × `height`: a soft radial gradient, shifted by `seed`. Written
/// by hand (stored deflate blocks, CRC-32, Adler-32): the demo needs no image crate.
fn demo_png(width: u32, height: u32, seed: u32) -> Vec<u8> {
    fn crc32(bytes: &[u8]) -> u32 {
        let mut crc = !0u32;
        for &b in bytes {
            crc ^= b as u32;
            for _ in 0..8 {
                crc = if crc & 1 == 1 {
                    (crc >> 1) ^ 0xEDB8_8320
                } else {
                    crc >> 1
                };
            }
        }
        !crc
    }
    fn chunk(out: &mut Vec<u8>, kind: &[u8; 4], data: &[u8]) {
        out.extend_from_slice(&(data.len() as u32).to_be_bytes());
        let mut body = kind.to_vec();
        body.extend_from_slice(data);
        out.extend_from_slice(&body);
        out.extend_from_slice(&crc32(&body).to_be_bytes());
    }
    let mut raw = Vec::new();
    let (cx, cy) = (
        (width / 2 + seed % 9) as f64,
        (height / 2 + seed % 7) as f64,
    );
    for y in 0..height {
        raw.push(0); // no filter
        for x in 0..width {
            let d = ((x as f64 - cx).powi(2) + (y as f64 - cy).powi(2)).sqrt();
            raw.push((235.0 - d * 5.0).clamp(20.0, 235.0) as u8);
        }
    }
    // zlib: header, stored blocks of at most 65,535 bytes, Adler-32.
    let mut z = vec![0x78, 0x01];
    let blocks: Vec<&[u8]> = raw.chunks(65_535).collect();
    for (i, block) in blocks.iter().enumerate() {
        z.push(u8::from(i + 1 == blocks.len()));
        let len = block.len() as u16;
        z.extend_from_slice(&len.to_le_bytes());
        z.extend_from_slice(&(!len).to_le_bytes());
        z.extend_from_slice(block);
    }
    let (mut a, mut b) = (1u32, 0u32);
    for &byte in &raw {
        a = (a + byte as u32) % 65_521;
        b = (b + a) % 65_521;
    }
    z.extend_from_slice(&((b << 16) | a).to_be_bytes());
    let mut ihdr = Vec::new();
    ihdr.extend_from_slice(&width.to_be_bytes());
    ihdr.extend_from_slice(&height.to_be_bytes());
    ihdr.extend_from_slice(&[8, 0, 0, 0, 0]);
    let mut png = b"\x89PNG\r\n\x1a\n".to_vec();
    chunk(&mut png, b"IHDR", &ihdr);
    chunk(&mut png, b"IDAT", &z);
    chunk(&mut png, b"IEND", &[]);
    png
}
