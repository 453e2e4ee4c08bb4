//! The lab's demo story: a technician, orders placed at visits in every state, results of
//! common panels at the times the lab would have produced them, and small generated images.

use chrono::Duration;
use rand::seq::SliceRandom;
use rand::Rng;

use super::appointments::{Schedule, Visit};
use super::{actor, principal, Cast, Ctx, DemoReport, DEMO_DOMAIN, DEMO_PASSWORD};
use crate::auth::permissions::LAB_TECHNICIAN;
use crate::db::DbConn;
use crate::domains::{accounts, lab};
use crate::kit::backdate;
use crate::kit::Timestamp;

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

/// Why an order is cancelled.
const CANCELS: &[&str] = &[
    "Ordered in error",
    "Duplicate order",
    "Patient declined the test",
    "Sample hemolyzed; new order placed",
    "No longer needed after review",
    "Not authorized by the insurer",
];

/// Lab data: a demo lab technician; orders placed by doctors at completed visits, of the
/// panels their specialty orders, in every state (about 8% still ordered and 5% collected —
/// from the last days' visits —, 77% resulted, 10% cancelled), collected and resulted when the
/// lab would have; results of common panels with right units and ranges, some abnormal and a
/// few critical; and small generated images of the body part a visit was about, in the blob
/// store, some pending upload.
pub(super) fn load(
    conn: &mut DbConn,
    ctx: &Ctx,
    cast: &Cast,
    schedule: &Schedule,
    report: &mut DemoReport,
) -> anyhow::Result<()> {
    let mut rng = ctx.rng("lab");
    let rng = &mut rng;
    let email = format!("lab.tech@{DEMO_DOMAIN}");
    let mut tech_id = String::new();
    ctx.run(conn, |tx| {
        let u = accounts::create_account(
            tx,
            accounts::CreateUser {
                email: email.clone(),
                password: DEMO_PASSWORD.to_string(),
                display_name: "Lab Technician".into(),
                roles: vec![LAB_TECHNICIAN.to_string()],
            },
            ctx.hash.clone(),
        )?;
        tech_id = u.id.into_string();
        Ok(())
    })?;
    report.lab_login = email;
    let tech = actor(ctx.audit, principal(&tech_id, LAB_TECHNICIAN, None, None));
    let ordering: Vec<&Visit> = schedule
        .visits
        .iter()
        .filter(|v| !cast.doctors[v.doctor].specialty.panels.is_empty())
        .collect();
    if ordering.is_empty() {
        return Ok(());
    }
    // The last days' visits: the ones whose orders may still wait for the lab.
    let mut recent: Vec<&Visit> = ordering
        .iter()
        .copied()
        .filter(|v| v.start >= ctx.clock - Duration::days(10))
        .collect();
    if recent.len() < 3 {
        let mut latest = ordering.clone();
        latest.sort_by_key(|v| std::cmp::Reverse(v.start));
        recent = latest.into_iter().take(3).collect();
    }
    let orders = cast.patients.len().max(10);
    for chunk in 0..orders.div_ceil(200) {
        let n = (orders - chunk * 200).min(200);
        let mut plan = Vec::new();
        for i in 0..n {
            // 0 ordered, 1 collected, 2 resulted, 3 cancelled: each at least once.
            let fate = match (chunk * 200 + i, rng.gen_range(0..100)) {
                (k @ 0..=3, _) => k,
                (_, 0..=7) => 0,
                (_, 8..=12) => 1,
                (_, 13..=22) => 3,
                _ => 2,
            };
            let v = *if fate < 2 { &recent } else { &ordering }
                .choose(rng)
                .expect("non-empty");
            let s = cast.doctors[v.doctor].specialty;
            let code = *s.panels.choose(rng).expect("non-empty");
            let panel = PANELS
                .iter()
                .position(|p| p.0 == code)
                .expect("a panel of the table");
            let priority = match rng.gen_range(0..20) {
                0 => lab::Priority::Stat,
                1..=3 => lab::Priority::Urgent,
                _ => lab::Priority::Routine,
            };
            let ordered = v.end - Duration::minutes(rng.gen_range(1..6));
            let to_lab = match priority {
                lab::Priority::Routine => rng.gen_range(15..240),
                _ => rng.gen_range(5..30),
            };
            let collected = (ordered + Duration::minutes(to_lab)).min(ctx.clock);
            let to_result = match priority {
                lab::Priority::Routine => rng.gen_range(180..1440),
                _ => rng.gen_range(30..120),
            };
            let resulted = (collected + Duration::minutes(to_result)).min(ctx.clock);
            let cancelled = (ordered + Duration::minutes(rng.gen_range(10..2880))).min(ctx.clock);
            let fasting = code != CBC_CODE && rng.gen_bool(0.4);
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
            let why = *CANCELS.choose(rng).expect("non-empty");
            let times = (ordered, collected, resulted, cancelled);
            plan.push((v, panel, fate, priority, fasting, times, kinds, why));
        }
        ctx.run(conn, |tx| {
            for (v, panel, fate, priority, fasting, times, kinds, why) in &plan {
                let (d, p) = (&cast.doctors[v.doctor], &cast.patients[v.patient]);
                let (ordered, collected, resulted, cancelled) = *times;
                let (code, name, analytes) = PANELS[*panel];
                let doctor = d.actor(ctx.audit);
                let new = lab::NewOrder {
                    patient_id: p.patient_id(),
                    doctor_id: None,
                    appointment_id: Some(v.appointment.clone()),
                    test_code: code.into(),
                    test_name: name.into(),
                    priority: Some(*priority),
                    notes: fasting.then(|| "Fasting sample, please".to_string()),
                };
                let o = tx.as_actor(&doctor, |tx| lab::order(tx, new))?;
                report.lab_orders += 1;
                let id = o.id.as_str();
                match fate {
                    0 => {
                        backdate::row(tx, "lab_orders", id, ordered, ordered)?;
                        continue;
                    }
                    3 => {
                        let reason = lab::Cancel {
                            reason: why.to_string(),
                        };
                        tx.as_actor(&doctor, |tx| lab::cancel(tx, &o.id, reason))?;
                        backdate::row(tx, "lab_orders", id, ordered, cancelled)?;
                        continue;
                    }
                    _ => {}
                }
                let at = Timestamp::from_db(collected);
                tx.as_actor(&tech, |tx| lab::collect(tx, &o.id, at))?;
                if *fate == 1 {
                    backdate::row(tx, "lab_orders", id, ordered, collected)?;
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
                    let at = Timestamp::from_db(resulted);
                    tx.as_actor(&tech, |tx| lab::record_result(tx, &o.id, r, at))?;
                    report.lab_results += 1;
                }
                backdate::row(tx, "lab_orders", id, ordered, resulted)?;
                for column in ["created_at", "updated_at"] {
                    backdate::column(tx, "lab_results", column, "lab_order_id", id, resulted)?;
                }
            }
            Ok(())
        })?;
    }

    // Images: a few dozen small radiographs and ultrasounds of what visits were about, most
    // uploaded, some still pending.
    let imaged: Vec<(&Visit, (lab::Modality, &str, &str))> = schedule
        .visits
        .iter()
        .filter_map(|v| image_of(v.condition.code).map(|i| (v, i)))
        .collect();
    if imaged.is_empty() {
        return Ok(());
    }
    let blobs = crate::blob::Blobs::open(ctx.config.blob_url.as_deref(), &ctx.config.data_dir)?;
    let wanted = (cast.patients.len() / 20).clamp(4, 40);
    for i in 0..wanted {
        let (v, (modality, site, description)) = *imaged.choose(rng).expect("non-empty");
        let (d, p) = (&cast.doctors[v.doctor], &cast.patients[v.patient]);
        let taken = v.start
            + Duration::minutes(
                rng.gen_range(5..v.end.signed_duration_since(v.start).num_minutes().max(6)),
            );
        let new = lab::NewImage {
            patient_id: p.patient_id(),
            doctor_id: Some(d.doctor_id()),
            lab_order_id: None,
            modality,
            body_site: Some(site.to_string()),
            description: Some(description.to_string()),
            taken_at: Some(Timestamp::from_db(taken)),
        };
        let mut image = None;
        ctx.run(conn, |tx| {
            let made = tx.as_actor(&tech, |tx| lab::create_image(tx, new))?;
            backdate::row(tx, "diagnostic_images", made.id.as_str(), taken, taken)?;
            image = Some(made);
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
        ctx.run(conn, |tx| {
            tx.as_actor(&tech, |tx| {
                lab::complete_upload(tx, &image.id, &key, "image/png", &stored)
            })?;
            let uploaded = taken + Duration::minutes(20);
            backdate::row(tx, "diagnostic_images", image.id.as_str(), taken, uploaded)?;
            Ok(())
        })?;
    }
    Ok(())
}

const CBC_CODE: &str = "58410-2";

/// The image a visit for this condition would take: modality, body site, description.
fn image_of(code: &str) -> Option<(lab::Modality, &'static str, &'static str)> {
    use lab::Modality::{Cr, Dx, Us};
    Some(match code {
        "M17.9" => (Dx, "knee", "Knee X-ray, weight-bearing, two views"),
        "M25.561" => (Dx, "right knee", "Right knee X-ray, two views"),
        "S93.409A" => (Dx, "ankle", "Ankle X-ray, three views"),
        "M75.40" => (Dx, "shoulder", "Shoulder X-ray, two views"),
        "M54.50" => (Dx, "lumbar spine", "Lumbar spine X-ray, two views"),
        "M72.2" => (Dx, "foot", "Foot X-ray, lateral view"),
        "S61.419A" => (Dx, "hand", "Hand X-ray, three views"),
        "J18.9" | "J44.1" | "R05.9" | "R91.1" | "J44.9" => {
            (Cr, "chest", "Chest X-ray, PA and lateral")
        }
        "N20.0" | "R31.9" => (Us, "kidneys", "Renal ultrasound"),
        "N40.1" => (Us, "bladder", "Bladder ultrasound, post-void residual"),
        "K76.0" => (Us, "abdomen", "Abdominal ultrasound, liver"),
        "N92.0" | "Z34.80" | "Z34.00" => (Us, "pelvis", "Pelvic ultrasound"),
        "E04.1" => (Us, "neck", "Thyroid ultrasound"),
        _ => return None,
    })
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
