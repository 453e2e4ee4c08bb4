//! Devices of the patients who consented to remote monitoring, with a week of readings.

use chrono::Duration;
use rand::Rng;

use super::{Cast, Ctx, DemoReport};
use crate::db::DbConn;
use crate::domains::devices;
use crate::kit::Timestamp;

/// Devices for patients who consented to remote monitoring: a heart-rate monitor (a week at
/// one reading every five minutes, circadian: lower at night, higher by day, now and then a
/// run of tachycardia) and for some a glucose meter (every fifteen minutes, rising after
/// meals). Readings go through the ingest rule, so the thresholds raise their alerts.
pub(super) fn load(
    conn: &mut DbConn,
    ctx: &Ctx,
    cast: &Cast,
    remote_patients: &[usize],
    report: &mut DemoReport,
) -> anyhow::Result<()> {
    let mut rng = ctx.rng("devices");
    let rng = &mut rng;
    let patient_people = &cast.patients;
    use chrono::Timelike;
    use devices::{DeviceKind, NewDevice, NewReading, Readings};
    // The week up to the demo's clock.
    let week_start = ctx.clock - Duration::days(7);
    let wanted: Vec<usize> = remote_patients.iter().copied().take(30).collect();
    for (n, pi) in wanted.iter().enumerate() {
        let p = &patient_people[*pi];
        let patient = p.actor(ctx.audit);
        let with_glucose = n % 3 == 0;
        let tachy_day = rng.gen_range(0..7);
        let noise: Vec<f64> = (0..2016).map(|_| rng.gen_range(-4.0..4.0)).collect();
        ctx.run(conn, |tx| {
            let mut kinds = vec![(DeviceKind::HeartRateMonitor, "Polar", "H10")];
            if with_glucose {
                kinds.push((DeviceKind::GlucoseMeter, "Abbott", "FreeStyle Libre 3"));
            }
            for (kind, manufacturer, model) in kinds {
                let d = tx.as_actor(&patient, |tx| {
                    devices::register(
                        tx,
                        NewDevice {
                            patient_id: None,
                            kind,
                            manufacturer: manufacturer.into(),
                            model: Some(model.into()),
                            serial_number: format!(
                                "{}-{:06}",
                                &manufacturer[..3].to_uppercase(),
                                pi
                            ),
                        },
                    )
                })?;
                report.devices += 1;
                let readings: Vec<NewReading> = if kind == DeviceKind::HeartRateMonitor {
                    (0..2016)
                        .map(|i| {
                            let at = week_start + Duration::minutes(5 * i as i64);
                            let hour = at.hour() as f64 + at.minute() as f64 / 60.0;
                            // Circadian: about 58 at 4 am, about 78 at 4 pm.
                            let base =
                                68.0 - 10.0 * ((hour - 4.0) / 24.0 * std::f64::consts::TAU).cos();
                            let day = i / 288;
                            let run = day == tachy_day && (168..174).contains(&(i % 288));
                            let value = if run {
                                158.0 + (i % 6) as f64
                            } else {
                                base + noise[i]
                            };
                            NewReading {
                                metric: "heart_rate".into(),
                                value: value.round(),
                                unit: "bpm".into(),
                                recorded_at: Timestamp::from_db(at),
                            }
                        })
                        .collect()
                } else {
                    (0..672)
                        .map(|i| {
                            let at = week_start + Duration::minutes(15 * i as i64);
                            let hour = at.hour() as f64 + at.minute() as f64 / 60.0;
                            // Fasting about 95; up to 90 more in the hours after each meal.
                            let meal = [7.5f64, 12.5, 19.0]
                                .iter()
                                .map(|m| {
                                    let t = hour - m;
                                    if (0.0..3.0).contains(&t) {
                                        90.0 * (t * 1.2).min(1.0) * (1.0 - t / 3.0)
                                    } else {
                                        0.0
                                    }
                                })
                                .fold(0.0, f64::max);
                            NewReading {
                                metric: "glucose".into(),
                                value: (95.0 + meal + noise[i] * 2.0).round(),
                                unit: "mg/dL".into(),
                                recorded_at: Timestamp::from_db(at),
                            }
                        })
                        .collect()
                };
                let count = readings.len();
                tx.as_actor(&patient, |tx| {
                    devices::ingest(tx, &d.device.id, Readings { readings }, false)
                })?;
                report.readings += count;
            }
            Ok(())
        })?;
    }
    report.monitoring_alerts = devices::count_threshold_alerts(conn)
        .map_err(|e| anyhow::anyhow!("counting alerts: {e}"))?
        as usize;
    Ok(())
}
