//! Ingest: 1–10,000 readings per request, checked against the metric catalogue, stored at once
//! or not at all, de-duplicated on (device, metric, time), one audit entry per request; then the
//! readings are held against the patient's thresholds.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::{metric, monitoring, store, DeviceId, DeviceStatus, Metric, WearableDevice};
use crate::db::DbConn;
use crate::domains::consent::{self, ConsentKind};
use crate::http::FieldError;
use crate::kit::idempotency::Keyed;
use crate::kit::{
    Action, Actor, Audited, Error, Level, PatientId, Resource, Result, Timestamp, Tx,
};

/// What the audit trail calls a batch of readings.
pub const READINGS: Resource = Resource::named("device_data");
/// The most readings in one request.
pub const MAX_READINGS: usize = 10_000;
/// How far in the future a reading may be dated (clock skew).
pub const FUTURE_GRACE_MS: i64 = 5 * 60 * 1000;

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(examples(crate::http::examples::new_reading))]
pub struct NewReading {
    /// A metric of `GET /device-metrics`.
    pub metric: String,
    pub value: f64,
    /// The metric's unit.
    pub unit: String,
    pub recorded_at: Timestamp,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(examples(crate::http::examples::readings))]
pub struct Readings {
    /// 1–10,000.
    #[schema(min_items = 1)]
    pub readings: Vec<NewReading>,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[schema(examples(crate::http::examples::ingest_result))]
pub struct IngestResult {
    /// Readings stored.
    pub accepted: usize,
    /// Readings already stored (same device, metric and time), left as they were.
    pub duplicates: usize,
}

/// A stored reading.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[schema(examples(crate::http::examples::reading))]
pub struct Reading {
    pub device_id: DeviceId,
    pub metric: String,
    pub value: f64,
    pub unit: String,
    pub recorded_at: Timestamp,
}

/// One bucket of a downsampled range.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct Bucket {
    pub start: Timestamp,
    pub count: i64,
    pub min: f64,
    pub max: f64,
    pub avg: f64,
}

/// A reading as stored: (metric, epoch milliseconds, value).
pub(super) type Row = (String, i64, f64);

/// Checks every reading; the 422 names each bad one by its index (at most 20 of them).
fn check(readings: &[NewReading], now: Timestamp) -> Result<Vec<Row>> {
    if readings.is_empty() || readings.len() > MAX_READINGS {
        return Err(Error::field("readings", "send 1 to 10000 readings"));
    }
    let latest = now.utc().timestamp_millis() + FUTURE_GRACE_MS;
    let mut errors = Vec::new();
    let mut rows = Vec::with_capacity(readings.len());
    let mut last: Option<Metric> = None;
    for (i, r) in readings.iter().enumerate() {
        let bad = |field: &str, message: String| FieldError {
            field: format!("readings[{i}].{field}"),
            message,
        };
        // Batches are mostly one metric: look it up again only when it changes.
        if last.as_ref().is_none_or(|m| m.metric != r.metric) {
            last = metric(&r.metric);
        }
        let Some(m) = &last else {
            errors.push(bad(
                "metric",
                "is not a metric of GET /device-metrics".into(),
            ));
            continue;
        };
        if r.unit != m.unit {
            errors.push(bad("unit", format!("must be {} for {}", m.unit, m.metric)));
        } else if !r.value.is_finite() || r.value < m.min || r.value > m.max {
            errors.push(bad(
                "value",
                format!("must be between {} and {} {}", m.min, m.max, m.unit),
            ));
        } else {
            let ms = r.recorded_at.utc().timestamp_millis();
            if ms > latest {
                errors.push(bad(
                    "recorded_at",
                    "must not be more than 5 minutes in the future".into(),
                ));
            } else {
                rows.push((r.metric.clone(), ms, r.value));
            }
        }
        if errors.len() >= 20 {
            break;
        }
    }
    if !errors.is_empty() {
        return Err(Error::Invalid(errors));
    }
    Ok(rows)
}

/// Stores a batch of readings of `device` (its own token, or its owner's bearer token): the
/// device must be active and the patient's remote-monitoring consent given (409, nothing
/// stored); then the readings are held against the thresholds.
pub fn ingest(
    tx: &mut Tx,
    device_id: &DeviceId,
    batch: Readings,
    by_device: bool,
) -> Result<IngestResult> {
    Ok(ingest_kept(tx, device_id, batch, by_device)?.result)
}

/// An ingest's answer as its `Idempotency-Key` keeps it: with the device and its patient, for
/// the audit entry of a replay.
#[derive(Debug, Serialize, Deserialize)]
pub struct Kept {
    device_id: DeviceId,
    patient_id: PatientId,
    pub result: IngestResult,
}

impl Keyed for Kept {
    fn keyed_id(&self) -> &str {
        self.device_id.as_str()
    }
    fn keyed_patient(&self) -> Option<&str> {
        Some(self.patient_id.as_str())
    }
}

/// `ingest`, with what its key keeps.
pub fn ingest_kept(
    tx: &mut Tx,
    device_id: &DeviceId,
    batch: Readings,
    by_device: bool,
) -> Result<Kept> {
    let now = Timestamp::now();
    let rows = check(&batch.readings, now)?;
    // Locked: a revocation committing meanwhile is seen, and two batches of one device meet
    // the open monitoring entries one after the other.
    store::lock_device(tx.conn(), device_id)?;
    let device = match store::load_device(tx.conn(), device_id)? {
        Some(d) if by_device || reaches(tx, &d)? => d,
        _ => {
            return Err(tx.deny(
                Error::NotFound,
                Action::Create,
                READINGS,
                Some(device_id.as_str()),
                None,
            ))
        }
    };
    // Others who reach the device (its care team, admins) read its data; only the device
    // and its owner send it.
    if !by_device && !tx.scope().is_patient(&device.patient_id) {
        return Err(tx.deny(
            Error::forbidden("a device's readings come from the device or its owner"),
            Action::Create,
            READINGS,
            Some(device_id.as_str()),
            Some(device.patient_id.as_str()),
        ));
    }
    if device.status != DeviceStatus::Active {
        // The contract answers a revoked device with the consent problem type.
        return Err(Error::conflict_of(
            "consent-required",
            "the device is revoked: it sends no more readings",
        ));
    }
    consent::require_consent(tx.conn(), &device.patient_id, ConsentKind::RemoteMonitoring)?;
    let accepted = store::insert_readings(tx.conn(), device_id, &rows)?;
    store::touch_device(tx.conn(), device_id, now)?;
    tx.record(
        Action::Create,
        READINGS,
        Some(device_id.as_str()),
        Some(device.patient_id.as_str()),
    )?;
    // A batch that was all duplicates (a retry) raises nothing again.
    if accepted > 0 {
        monitoring::check(tx, &device, &rows)?;
    }
    Ok(Kept {
        device_id: device_id.clone(),
        patient_id: device.patient_id,
        result: IngestResult {
            accepted,
            duplicates: rows.len() - accepted,
        },
    })
}

fn reaches(tx: &mut Tx, d: &WearableDevice) -> Result<bool> {
    let scope = tx.scope().clone();
    Ok(scope.reaches(tx.conn(), &d.patient_id, Level::Clinical)?)
}

/// The query of `GET /devices/{id}/data`.
#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct DataQuery {
    /// Required: which metric (`GET /device-metrics`).
    #[param(required = true, schema_with = metric_names)]
    pub metric: Option<String>,
    #[param(value_type = Option<String>, format = DateTime)]
    pub from: Option<Timestamp>,
    #[param(value_type = Option<String>, format = DateTime)]
    pub to: Option<Timestamp>,
    /// `none` (default: the readings), `1m`, `5m`, `1h`, `1d`.
    #[param(schema_with = bucket_names)]
    pub bucket: Option<String>,
}

/// The metrics of the catalogue, as an OpenAPI enum.
fn metric_names() -> utoipa::openapi::Object {
    utoipa::openapi::ObjectBuilder::new()
        .schema_type(utoipa::openapi::schema::Type::String)
        .enum_values(Some(super::metrics().into_iter().map(|m| m.metric)))
        .build()
}

/// The widths `bucket` takes, as an OpenAPI enum.
fn bucket_names() -> utoipa::openapi::Object {
    utoipa::openapi::ObjectBuilder::new()
        .schema_type(utoipa::openapi::schema::Type::String)
        .enum_values(Some(["none", "1m", "5m", "1h", "1d"]))
        .build()
}

/// What `GET /devices/{id}/data` answers: readings (paged), or buckets.
#[derive(Debug, Serialize, ToSchema)]
pub struct DataPage {
    pub metric: String,
    pub unit: String,
    pub bucket: String,
    /// Without a bucket: the readings, oldest first.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub items: Option<Vec<Reading>>,
    /// With a bucket: one per bucket that has readings, oldest first.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub buckets: Option<Vec<Bucket>>,
    pub next_cursor: Option<String>,
}

/// The most buckets one query may ask for.
pub const MAX_BUCKETS: i64 = 100_000;

/// A device's readings of one metric over a range, raw (a page) or downsampled in SQL.
pub fn data(
    conn: &mut DbConn,
    actor: &Actor,
    id: &DeviceId,
    q: DataQuery,
    page: &crate::http::Page,
) -> Result<Audited<DataPage>> {
    let name = q
        .metric
        .ok_or_else(|| Error::field("metric", "is required"))?;
    let m = metric(&name)
        .ok_or_else(|| Error::field("metric", "is not a metric of GET /device-metrics"))?;
    let bucket_ms = match q.bucket.as_deref().unwrap_or("none") {
        "none" => None,
        "1m" => Some(60_000),
        "5m" => Some(300_000),
        "1h" => Some(3_600_000),
        "1d" => Some(86_400_000),
        _ => return Err(Error::field("bucket", "must be none, 1m, 5m, 1h or 1d")),
    };
    let from = q
        .from
        .map(|t| t.utc().timestamp_millis())
        .unwrap_or(i64::MIN);
    let to = q.to.map(|t| t.utc().timestamp_millis()).unwrap_or(i64::MAX);
    if from >= to {
        return Err(Error::field("to", "must be after from"));
    }
    let device = match store::load_device(conn, id)? {
        Some(d)
            if actor
                .scope()
                .reaches(conn, &d.patient_id, Level::Clinical)? =>
        {
            d
        }
        _ => {
            return Err(actor.deny(
                Error::NotFound,
                Action::Read,
                READINGS,
                Some(id.as_str()),
                None,
            ))
        }
    };
    let mut out = DataPage {
        metric: m.metric.clone(),
        unit: m.unit.clone(),
        bucket: q.bucket.unwrap_or_else(|| "none".into()),
        items: None,
        buckets: None,
        next_cursor: None,
    };
    match bucket_ms {
        Some(b) => {
            if q.from.is_some() && q.to.is_some() && (to - from) / b > MAX_BUCKETS {
                return Err(Error::field("bucket", "asks for more than 100000 buckets"));
            }
            out.buckets = Some(store::buckets(conn, id, &m.metric, from, to, b)?);
        }
        None => {
            let after = match page.after.as_deref() {
                Some(c) => c
                    .parse::<i64>()
                    .map_err(|_| Error::field("cursor", "is not a cursor this server issued"))?,
                None => i64::MIN,
            };
            let rows = store::readings(
                conn,
                id,
                &m.metric,
                from.max(after.saturating_add(1)),
                to,
                page.limit + 1,
            )?;
            let more = rows.len() as i64 > page.limit;
            let rows: Vec<(i64, f64)> = rows.into_iter().take(page.limit as usize).collect();
            if more {
                out.next_cursor = rows
                    .last()
                    .map(|(ms, _)| crate::http::encode_cursor(&ms.to_string()));
            }
            out.items = Some(
                rows.into_iter()
                    .map(|(ms, value)| Reading {
                        device_id: id.clone(),
                        metric: m.metric.clone(),
                        value,
                        unit: m.unit.clone(),
                        recorded_at: store::timestamp_of_ms(ms),
                    })
                    .collect(),
            );
        }
    }
    Ok(Audited::read(
        out,
        READINGS,
        id.as_str(),
        Some(device.patient_id.as_str()),
    ))
}

// --- readings across devices (the FHIR facade's Observations) ---

/// A reading with the patient it is of.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct PatientReading {
    pub device_id: DeviceId,
    pub patient_id: PatientId,
    pub metric: String,
    pub value: f64,
    pub unit: String,
    pub recorded_at: Timestamp,
}

/// Which readings, across every device in reach.
#[derive(Debug, Clone, Default)]
pub struct ReadingFilter {
    pub patient_id: Option<PatientId>,
    /// Of these metrics only (none: every metric).
    pub metrics: Option<Vec<String>>,
    /// Recorded at or after.
    pub from: Option<Timestamp>,
    /// Recorded before.
    pub to: Option<Timestamp>,
}

/// How many readings of the devices the caller reaches match `f`.
pub fn count_readings(conn: &mut DbConn, actor: &Actor, f: &ReadingFilter) -> Result<i64> {
    let Some(devices) = store::devices_in_reach(conn, actor.scope(), f.patient_id.as_ref())? else {
        return Ok(0);
    };
    store::count_readings(conn, &devices, f)
}

/// A page of the readings of the devices the caller reaches that match `f`, by device, metric
/// and time. The cursor is `<device>|<metric>|<epoch ms>` of the last. Audited as a search of
/// readings per patient on the page.
pub fn list_readings(
    conn: &mut DbConn,
    actor: &Actor,
    f: ReadingFilter,
    page: &crate::http::Page,
) -> Result<Audited<crate::http::ListResponse<PatientReading>>> {
    let after = match page.after.as_deref() {
        None => None,
        Some(c) => {
            let bad = || Error::field("cursor", "is not a cursor this server issued");
            let mut parts = c.splitn(3, '|');
            let (device, metric, ms) = (parts.next(), parts.next(), parts.next());
            match (device, metric, ms.and_then(|m| m.parse::<i64>().ok())) {
                (Some(d), Some(m), Some(ms)) => Some((d.to_string(), m.to_string(), ms)),
                _ => return Err(bad()),
            }
        }
    };
    let devices = store::devices_in_reach(conn, actor.scope(), f.patient_id.as_ref())?;
    let rows = match devices {
        None => Vec::new(),
        Some(devices) => store::list_readings(conn, &devices, &f, after, page.limit + 1)?,
    };
    let rows: Vec<PatientReading> = rows
        .into_iter()
        .map(|(device, patient, metric_name, ms, value)| PatientReading {
            unit: metric(&metric_name).map(|m| m.unit).unwrap_or_default(),
            device_id: DeviceId::from_db(device),
            patient_id: PatientId::from_db(patient),
            metric: metric_name,
            value,
            recorded_at: store::timestamp_of_ms(ms),
        })
        .collect();
    Ok(Audited::page(
        rows,
        page.limit,
        |r| {
            format!(
                "{}|{}|{}",
                r.device_id,
                r.metric,
                r.recorded_at.utc().timestamp_millis()
            )
        },
        READINGS,
        f.patient_id.as_ref(),
        |r| &r.patient_id,
    ))
}

/// One reading, by its key, if the caller reaches its device's patient. Audited as a read of
/// the device's readings.
pub fn get_reading(
    conn: &mut DbConn,
    actor: &Actor,
    id: &DeviceId,
    metric_name: &str,
    ms: i64,
) -> Result<Audited<PatientReading>> {
    let refused = || {
        actor.deny(
            Error::NotFound,
            Action::Read,
            READINGS,
            Some(id.as_str()),
            None,
        )
    };
    let device = match store::load_device(conn, id)? {
        Some(d)
            if actor
                .scope()
                .reaches(conn, &d.patient_id, Level::Clinical)? =>
        {
            d
        }
        _ => return Err(refused()),
    };
    let Some((ms, value)) = store::readings(conn, id, metric_name, ms, ms + 1, 1)?
        .into_iter()
        .next()
    else {
        return Err(Error::NotFound);
    };
    let reading = PatientReading {
        device_id: id.clone(),
        patient_id: device.patient_id.clone(),
        metric: metric_name.to_string(),
        value,
        unit: metric(metric_name).map(|m| m.unit).unwrap_or_default(),
        recorded_at: store::timestamp_of_ms(ms),
    };
    Ok(Audited::read(
        reading,
        READINGS,
        id.as_str(),
        Some(device.patient_id.as_str()),
    ))
}
