//! The device tables' queries. Readings are written with multi-row inserts and read by their
//! key (device, metric, time in epoch milliseconds); buckets are computed in SQL.

use diesel::prelude::*;
use diesel::sql_types::{BigInt, Double, Text};

use super::ingest::{Bucket, Row};
use super::monitoring::{LogFilter, LogId, MonitoringLog, MonitoringRule};
use super::{DeviceFilter, DeviceId, DeviceKind, DeviceStatus, NewDevice, WearableDevice};
use crate::db::schema::{device_data, monitoring_rules, remote_monitoring_logs, wearable_devices};
use crate::db::{now, DbConn};
use crate::kit::{Condition, Level, PatientId, Result, Scope, Timestamp, UserId, WireEnum};

/// Readings per INSERT statement: 4 parameters each stays under SQLite's and PostgreSQL's
/// limits, and a 5,000-reading batch takes five statements.
const ROWS_PER_INSERT: usize = 1000;

pub(super) fn timestamp_of_ms(ms: i64) -> Timestamp {
    Timestamp::from_db(
        chrono::DateTime::from_timestamp_millis(ms)
            .unwrap_or_default()
            .naive_utc(),
    )
}

// --- devices ---

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = wearable_devices)]
struct DeviceRow {
    id: String,
    user_id: String,
    patient_id: String,
    kind: String,
    manufacturer: String,
    model: Option<String>,
    serial_number: String,
    status: String,
    last_seen_at: Option<chrono::NaiveDateTime>,
    created_at: chrono::NaiveDateTime,
    updated_at: chrono::NaiveDateTime,
    version: i32,
}

impl From<DeviceRow> for WearableDevice {
    fn from(r: DeviceRow) -> WearableDevice {
        WearableDevice {
            id: DeviceId::from_db(r.id),
            user_id: UserId::from_db(r.user_id),
            patient_id: PatientId::from_db(r.patient_id),
            kind: DeviceKind::parse(&r.kind).unwrap_or(DeviceKind::Other),
            manufacturer: r.manufacturer,
            model: r.model,
            serial_number: r.serial_number,
            status: DeviceStatus::parse(&r.status).unwrap_or(DeviceStatus::Revoked),
            last_seen_at: r.last_seen_at.map(Timestamp::from_db),
            created_at: Timestamp::from_db(r.created_at),
            updated_at: Timestamp::from_db(r.updated_at),
            version: r.version,
        }
    }
}

pub(super) fn load_device(conn: &mut DbConn, id: &DeviceId) -> QueryResult<Option<WearableDevice>> {
    Ok(wearable_devices::table
        .find(id.as_str())
        .select(DeviceRow::as_select())
        .first(conn)
        .optional()?
        .map(WearableDevice::from))
}

pub(super) fn device_by_token(
    conn: &mut DbConn,
    hash: &str,
) -> QueryResult<Option<WearableDevice>> {
    Ok(wearable_devices::table
        .filter(wearable_devices::token_hash.eq(hash))
        .select(DeviceRow::as_select())
        .first(conn)
        .optional()?
        .map(WearableDevice::from))
}

pub(super) fn lock_device(conn: &mut DbConn, id: &DeviceId) -> QueryResult<bool> {
    crate::db::sql::lock_row(conn, "wearable_devices", id.as_str())
}

pub(super) fn insert_device(
    conn: &mut DbConn,
    id: &DeviceId,
    d: &NewDevice,
    patient: &PatientId,
    owner: &UserId,
    token_hash: &str,
    created_by: Option<&str>,
) -> crate::kit::Result<()> {
    let t = now();
    diesel::insert_into(wearable_devices::table)
        .values((
            wearable_devices::id.eq(id.as_str()),
            wearable_devices::user_id.eq(owner.as_str()),
            wearable_devices::patient_id.eq(patient.as_str()),
            wearable_devices::kind.eq(d.kind.as_str()),
            wearable_devices::manufacturer.eq(d.manufacturer.trim()),
            wearable_devices::model.eq(&d.model),
            wearable_devices::serial_number.eq(d.serial_number.trim()),
            wearable_devices::status.eq(DeviceStatus::Active.as_str()),
            wearable_devices::token_hash.eq(token_hash),
            wearable_devices::created_by.eq(created_by),
            wearable_devices::created_at.eq(t),
            wearable_devices::updated_at.eq(t),
            wearable_devices::version.eq(1),
        ))
        .execute(conn)
        .map_err(|e| match e {
            diesel::result::Error::DatabaseError(
                diesel::result::DatabaseErrorKind::UniqueViolation,
                _,
            ) => crate::kit::Error::conflict(
                "an active device with this manufacturer and serial number exists",
            ),
            other => other.into(),
        })?;
    Ok(())
}

pub(super) fn set_token(conn: &mut DbConn, d: &WearableDevice, hash: &str) -> QueryResult<bool> {
    crate::update_versioned!(
        conn,
        wearable_devices,
        d.id.as_str(),
        d.version,
        (t::token_hash.eq(hash),)
    )
}

pub(super) fn set_status(
    conn: &mut DbConn,
    d: &WearableDevice,
    status: DeviceStatus,
) -> QueryResult<bool> {
    crate::update_versioned!(
        conn,
        wearable_devices,
        d.id.as_str(),
        d.version,
        (t::status.eq(status.as_str()),)
    )
}

/// Marks the device as seen now (not a change of the device: no new version).
pub(super) fn touch_device(conn: &mut DbConn, id: &DeviceId, at: Timestamp) -> QueryResult<()> {
    diesel::update(wearable_devices::table.find(id.as_str()))
        .set(wearable_devices::last_seen_at.eq(at.naive()))
        .execute(conn)?;
    Ok(())
}

pub(super) fn list_devices(
    conn: &mut DbConn,
    scope: &Scope,
    f: DeviceFilter,
    after: Option<&str>,
    limit: i64,
) -> Result<Vec<WearableDevice>> {
    let mut q = wearable_devices::table
        .select(DeviceRow::as_select())
        .order(wearable_devices::id)
        .limit(limit)
        .into_boxed();
    if let Some(reach) = scope.filter(Level::Clinical, wearable_devices::patient_id, None) {
        q = q.filter(reach);
    }
    if let Some(a) = after {
        q = q.filter(wearable_devices::id.gt(a.to_string()));
    }
    if let Some(v) = f.patient_id {
        q = q.filter(wearable_devices::patient_id.eq(v.into_string()));
    }
    if let Some(v) = f.status {
        q = q.filter(wearable_devices::status.eq(v.as_str()));
    }
    Ok(q.load::<DeviceRow>(conn)?
        .into_iter()
        .map(WearableDevice::from)
        .collect())
}

// --- readings ---

/// Inserts the readings, multi-row, skipping those already stored; how many were stored.
/// Typed batch inserts on the backend's own connection: through `DbConn` a multi-row
/// statement of 4,000 binds is assembled and bound dynamically, about ten times slower
/// (docs/perf/history.md, "Device ingest").
pub(super) fn insert_readings(
    conn: &mut DbConn,
    device: &DeviceId,
    rows: &[Row],
) -> QueryResult<usize> {
    let mut stored = 0;
    for chunk in rows.chunks(ROWS_PER_INSERT) {
        let values: Vec<_> = chunk
            .iter()
            .map(|(metric, ms, value)| {
                (
                    device_data::device_id.eq(device.as_str()),
                    device_data::metric.eq(metric.as_str()),
                    device_data::recorded_ms.eq(*ms),
                    device_data::value.eq(*value),
                )
            })
            .collect();
        stored += crate::on_backend!(conn, |c| diesel::insert_into(device_data::table)
            .values(&values)
            .on_conflict_do_nothing()
            .execute(c))?;
    }
    Ok(stored)
}

#[derive(QueryableByName)]
struct ReadingRow {
    #[diesel(sql_type = BigInt)]
    recorded_ms: i64,
    #[diesel(sql_type = Double)]
    value: f64,
}

/// Readings of a metric in [from, to), oldest first, at most `limit`.
pub(super) fn readings(
    conn: &mut DbConn,
    device: &DeviceId,
    metric: &str,
    from: i64,
    to: i64,
    limit: i64,
) -> QueryResult<Vec<(i64, f64)>> {
    let rows: Vec<ReadingRow> = diesel::sql_query(
        "SELECT recorded_ms, value FROM device_data \
         WHERE device_id = $1 AND metric = $2 AND recorded_ms >= $3 AND recorded_ms < $4 \
         ORDER BY recorded_ms LIMIT $5",
    )
    .bind::<Text, _>(device.as_str())
    .bind::<Text, _>(metric)
    .bind::<BigInt, _>(from)
    .bind::<BigInt, _>(to)
    .bind::<BigInt, _>(limit)
    .load(conn)?;
    Ok(rows.into_iter().map(|r| (r.recorded_ms, r.value)).collect())
}

#[derive(QueryableByName)]
struct BucketRow {
    #[diesel(sql_type = BigInt)]
    start_ms: i64,
    #[diesel(sql_type = BigInt)]
    n: i64,
    #[diesel(sql_type = Double)]
    lo: f64,
    #[diesel(sql_type = Double)]
    hi: f64,
    #[diesel(sql_type = Double)]
    mean: f64,
}

/// One row per `bucket_ms` window with readings in [from, to): count, min, max, avg — in SQL,
/// over the key's range.
pub(super) fn buckets(
    conn: &mut DbConn,
    device: &DeviceId,
    metric: &str,
    from: i64,
    to: i64,
    bucket_ms: i64,
) -> QueryResult<Vec<Bucket>> {
    let rows: Vec<BucketRow> = diesel::sql_query(
        // Parameters first appear in their numeric order: SQLite numbers `$n` by first use.
        "SELECT (recorded_ms / $1) * $1 AS start_ms, COUNT(*) AS n, MIN(value) AS lo, \
                MAX(value) AS hi, AVG(value) AS mean \
         FROM device_data \
         WHERE device_id = $2 AND metric = $3 AND recorded_ms >= $4 AND recorded_ms < $5 \
         GROUP BY (recorded_ms / $1) ORDER BY 1",
    )
    .bind::<BigInt, _>(bucket_ms)
    .bind::<Text, _>(device.as_str())
    .bind::<Text, _>(metric)
    .bind::<BigInt, _>(from)
    .bind::<BigInt, _>(to)
    .load(conn)?;
    Ok(rows
        .into_iter()
        .map(|r| Bucket {
            start: timestamp_of_ms(r.start_ms),
            count: r.n,
            min: r.lo,
            max: r.hi,
            avg: r.mean,
        })
        .collect())
}

// --- rules ---

pub(super) fn rules(conn: &mut DbConn, patient: &PatientId) -> QueryResult<Vec<MonitoringRule>> {
    type RuleRow = (String, Option<f64>, Option<f64>, Option<f64>, Option<f64>);
    let rows: Vec<RuleRow> = monitoring_rules::table
        .filter(monitoring_rules::patient_id.eq(patient.as_str()))
        .select((
            monitoring_rules::metric,
            monitoring_rules::warning_low,
            monitoring_rules::warning_high,
            monitoring_rules::critical_low,
            monitoring_rules::critical_high,
        ))
        .load(conn)?;
    Ok(rows
        .into_iter()
        .map(|(metric, wl, wh, cl, ch)| MonitoringRule {
            metric,
            warning_low: wl,
            warning_high: wh,
            critical_low: cl,
            critical_high: ch,
        })
        .collect())
}

/// Replaces the patient's rule for the metric.
pub(super) fn put_rule(
    conn: &mut DbConn,
    patient: &PatientId,
    r: &MonitoringRule,
    by: Option<&str>,
) -> QueryResult<()> {
    diesel::delete(
        monitoring_rules::table
            .filter(monitoring_rules::patient_id.eq(patient.as_str()))
            .filter(monitoring_rules::metric.eq(&r.metric)),
    )
    .execute(conn)?;
    diesel::insert_into(monitoring_rules::table)
        .values((
            monitoring_rules::patient_id.eq(patient.as_str()),
            monitoring_rules::metric.eq(&r.metric),
            monitoring_rules::warning_low.eq(r.warning_low),
            monitoring_rules::warning_high.eq(r.warning_high),
            monitoring_rules::critical_low.eq(r.critical_low),
            monitoring_rules::critical_high.eq(r.critical_high),
            monitoring_rules::set_by.eq(by),
            monitoring_rules::updated_at.eq(now()),
        ))
        .execute(conn)?;
    Ok(())
}

// --- the log ---

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = remote_monitoring_logs)]
struct LogRow {
    id: String,
    device_id: String,
    patient_id: String,
    event_type: String,
    severity: String,
    metric: Option<String>,
    value: Option<f64>,
    rule: Option<String>,
    message: String,
    occurrences: i32,
    occurred_at: chrono::NaiveDateTime,
    last_occurred_at: chrono::NaiveDateTime,
    acknowledged_by: Option<String>,
    acknowledged_at: Option<chrono::NaiveDateTime>,
}

impl From<LogRow> for MonitoringLog {
    fn from(r: LogRow) -> MonitoringLog {
        MonitoringLog {
            id: LogId::from_db(r.id),
            device_id: DeviceId::from_db(r.device_id),
            patient_id: PatientId::from_db(r.patient_id),
            event_type: r.event_type,
            severity: r.severity,
            metric: r.metric,
            value: r.value,
            rule: r.rule,
            message: r.message,
            occurrences: r.occurrences,
            occurred_at: Timestamp::from_db(r.occurred_at),
            last_occurred_at: Timestamp::from_db(r.last_occurred_at),
            acknowledged_by: r.acknowledged_by.map(UserId::from_db),
            acknowledged_at: r.acknowledged_at.map(Timestamp::from_db),
        }
    }
}

pub(super) fn load_log(conn: &mut DbConn, id: &LogId) -> QueryResult<Option<MonitoringLog>> {
    Ok(remote_monitoring_logs::table
        .find(id.as_str())
        .select(LogRow::as_select())
        .first(conn)
        .optional()?
        .map(MonitoringLog::from))
}

/// The unacknowledged threshold entry of the device for the metric and severity, if any.
pub(super) fn open_log(
    conn: &mut DbConn,
    device: &DeviceId,
    metric: &str,
    severity: &str,
) -> QueryResult<Option<String>> {
    remote_monitoring_logs::table
        .filter(remote_monitoring_logs::device_id.eq(device.as_str()))
        .filter(remote_monitoring_logs::metric.eq(metric))
        .filter(remote_monitoring_logs::severity.eq(severity))
        .filter(remote_monitoring_logs::event_type.eq("threshold"))
        .filter(remote_monitoring_logs::acknowledged_at.is_null())
        .select(remote_monitoring_logs::id)
        .first(conn)
        .optional()
}

pub(super) fn add_occurrences(
    conn: &mut DbConn,
    id: &str,
    n: i32,
    value: f64,
    rule: &str,
    at: Timestamp,
) -> QueryResult<()> {
    diesel::update(remote_monitoring_logs::table.find(id))
        .set((
            remote_monitoring_logs::occurrences.eq(remote_monitoring_logs::occurrences + n),
            remote_monitoring_logs::value.eq(value),
            remote_monitoring_logs::rule.eq(rule),
            remote_monitoring_logs::last_occurred_at.eq(at.naive()),
        ))
        .execute(conn)?;
    Ok(())
}

#[allow(clippy::too_many_arguments)]
pub(super) fn insert_log(
    conn: &mut DbConn,
    id: &LogId,
    device: &DeviceId,
    patient: &PatientId,
    (event_type, severity): (&str, &str),
    (metric, value, rule): (Option<&str>, Option<f64>, Option<&str>),
    message: &str,
    occurrences: i32,
    at: Timestamp,
) -> QueryResult<()> {
    diesel::insert_into(remote_monitoring_logs::table)
        .values((
            remote_monitoring_logs::id.eq(id.as_str()),
            remote_monitoring_logs::device_id.eq(device.as_str()),
            remote_monitoring_logs::patient_id.eq(patient.as_str()),
            remote_monitoring_logs::event_type.eq(event_type),
            remote_monitoring_logs::severity.eq(severity),
            remote_monitoring_logs::metric.eq(metric),
            remote_monitoring_logs::value.eq(value),
            remote_monitoring_logs::rule.eq(rule),
            remote_monitoring_logs::message.eq(message),
            remote_monitoring_logs::occurrences.eq(occurrences),
            remote_monitoring_logs::occurred_at.eq(at.naive()),
            remote_monitoring_logs::last_occurred_at.eq(at.naive()),
        ))
        .execute(conn)?;
    Ok(())
}

/// Acknowledges an unacknowledged entry; `false` if it was acknowledged already.
pub(super) fn acknowledge(conn: &mut DbConn, id: &LogId, by: &str) -> QueryResult<bool> {
    let n = diesel::update(
        remote_monitoring_logs::table
            .find(id.as_str())
            .filter(remote_monitoring_logs::acknowledged_at.is_null()),
    )
    .set((
        remote_monitoring_logs::acknowledged_by.eq(by),
        remote_monitoring_logs::acknowledged_at.eq(now()),
    ))
    .execute(conn)?;
    Ok(n == 1)
}

pub(super) fn list_logs(
    conn: &mut DbConn,
    scope: &Scope,
    f: LogFilter,
    after: Option<&str>,
    limit: i64,
) -> Result<Vec<MonitoringLog>> {
    let mut q = remote_monitoring_logs::table
        .select(LogRow::as_select())
        .order(remote_monitoring_logs::id)
        .limit(limit)
        .into_boxed();
    if let Some(reach) = scope.filter(Level::Clinical, remote_monitoring_logs::patient_id, None) {
        q = q.filter(reach);
    }
    if let Some(a) = after {
        q = q.filter(remote_monitoring_logs::id.gt(a.to_string()));
    }
    if let Some(v) = f.patient_id {
        q = q.filter(remote_monitoring_logs::patient_id.eq(v.into_string()));
    }
    if let Some(v) = f.device_id {
        q = q.filter(remote_monitoring_logs::device_id.eq(v.into_string()));
    }
    if let Some(v) = f.severity {
        q = q.filter(remote_monitoring_logs::severity.eq(v));
    }
    match f.acknowledged {
        Some(true) => q = q.filter(remote_monitoring_logs::acknowledged_at.is_not_null()),
        Some(false) => q = q.filter(remote_monitoring_logs::acknowledged_at.is_null()),
        None => {}
    }
    Ok(q.load::<LogRow>(conn)?
        .into_iter()
        .map(MonitoringLog::from)
        .collect())
}

pub(super) fn count_threshold_alerts(conn: &mut DbConn) -> QueryResult<i64> {
    remote_monitoring_logs::table
        .filter(remote_monitoring_logs::event_type.eq("threshold"))
        .count()
        .get_result(conn)
}

// --- readings across devices ---

/// The devices whose readings a search may return: each with its patient, and whether the
/// search must be limited to them (it need not when the caller reaches every device).
pub(super) struct DeviceReach {
    pub restrict: bool,
    pub patients: std::collections::HashMap<String, String>,
}

/// The devices in `scope` (clinical reach of their patient), of `patient` if given; `None`
/// when there are none.
pub(super) fn devices_in_reach(
    conn: &mut DbConn,
    scope: &Scope,
    patient: Option<&PatientId>,
) -> Result<Option<DeviceReach>> {
    let mut q = wearable_devices::table
        .select((wearable_devices::id, wearable_devices::patient_id))
        .into_boxed();
    let mut restrict = false;
    if let Some(reach) = scope.filter(Level::Clinical, wearable_devices::patient_id, None) {
        q = q.filter(reach);
        restrict = true;
    }
    if let Some(p) = patient {
        q = q.filter(wearable_devices::patient_id.eq(p.to_string()));
        restrict = true;
    }
    let patients: std::collections::HashMap<String, String> =
        q.load::<(String, String)>(conn)?.into_iter().collect();
    Ok((!(restrict && patients.is_empty())).then_some(DeviceReach { restrict, patients }))
}

fn reading_conditions(
    devices: &DeviceReach,
    f: &super::ReadingFilter,
) -> Vec<Condition<device_data::table>> {
    let mut out: Vec<Condition<device_data::table>> = Vec::new();
    if devices.restrict {
        let ids: Vec<String> = devices.patients.keys().cloned().collect();
        out.push(Box::new(device_data::device_id.eq_any(ids)));
    }
    if let Some(m) = &f.metrics {
        out.push(Box::new(device_data::metric.eq_any(m.clone())));
    }
    if let Some(t) = f.from {
        out.push(Box::new(
            device_data::recorded_ms.ge(t.utc().timestamp_millis()),
        ));
    }
    if let Some(t) = f.to {
        out.push(Box::new(
            device_data::recorded_ms.lt(t.utc().timestamp_millis()),
        ));
    }
    out
}

pub(super) fn count_readings(
    conn: &mut DbConn,
    devices: &DeviceReach,
    f: &super::ReadingFilter,
) -> Result<i64> {
    let mut q = device_data::table.into_boxed();
    for c in reading_conditions(devices, f) {
        q = q.filter(c);
    }
    Ok(q.count().get_result(conn)?)
}

/// A reading with its patient: (device, patient, metric, epoch ms, value).
pub(super) type ReadingOf = (String, String, String, i64, f64);

/// Readings, by the key (device, metric, time), after `after`.
pub(super) fn list_readings(
    conn: &mut DbConn,
    devices: &DeviceReach,
    f: &super::ReadingFilter,
    after: Option<(String, String, i64)>,
    limit: i64,
) -> Result<Vec<ReadingOf>> {
    let mut q = device_data::table
        .select((
            device_data::device_id,
            device_data::metric,
            device_data::recorded_ms,
            device_data::value,
        ))
        .order((
            device_data::device_id,
            device_data::metric,
            device_data::recorded_ms,
        ))
        .limit(limit)
        .into_boxed();
    for c in reading_conditions(devices, f) {
        q = q.filter(c);
    }
    if let Some((d, m, ms)) = after {
        q = q.filter(
            device_data::device_id
                .gt(d.clone())
                .or(device_data::device_id
                    .eq(d.clone())
                    .and(device_data::metric.gt(m.clone())))
                .or(device_data::device_id
                    .eq(d)
                    .and(device_data::metric.eq(m))
                    .and(device_data::recorded_ms.gt(ms))),
        );
    }
    let rows = q.load::<(String, String, i64, f64)>(conn)?;
    Ok(rows
        .into_iter()
        .map(|(device, metric, ms, value)| {
            let patient = devices.patients.get(&device).cloned().unwrap_or_default();
            (device, patient, metric, ms, value)
        })
        .collect())
}
