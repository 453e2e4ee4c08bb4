//! Devices and remote monitoring: wearable devices registered for a patient with their
//! remote-monitoring consent, batch ingest of readings (by the device's own token or the
//! owner), downsampled queries, threshold rules and the monitoring log that alerts the care
//! team.
//!
//! Who reaches devices, readings and the log: the patient compartment (the patient, doctors on
//! the care team, admins). A device's ingest token reaches only that device's ingest route.

mod ingest;
mod monitoring;
mod routes;
mod store;

use rand::RngCore;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use utoipa::ToSchema;

use crate::db::DbConn;
use crate::domains::consent::{self, ConsentKind};
use crate::domains::patients;
use crate::http::{ListResponse, Page};
use crate::kit::{
    Action, Actor, Audited, Error, Level, PatientId, Resource, Result, Scope, Timestamp, Tx,
    UserId, Validator,
};
use crate::wire_enum;

pub use ingest::{
    count_readings, get_reading, ingest, list_readings, IngestResult, NewReading, PatientReading,
    ReadingFilter, Readings, READINGS,
};
pub use monitoring::{MonitoringLog, MonitoringRule};
pub use routes::router;

/// What the audit trail calls a device (and an ingest into it).
pub const DEVICE: Resource = Resource::named("wearable_device");

crate::id_type!(
    /// A wearable device.
    DeviceId
);

wire_enum!(
    /// What a device is.
    DeviceKind of "device kind" {
        HeartRateMonitor = "heart_rate_monitor",
        PulseOximeter = "pulse_oximeter",
        GlucoseMeter = "glucose_meter",
        BloodPressureMonitor = "blood_pressure_monitor",
        Scale = "scale",
        Thermometer = "thermometer",
        ActivityTracker = "activity_tracker",
        Other = "other",
    }
);

wire_enum!(
    /// Whether a device may send readings.
    DeviceStatus of "device" {
        Active = "active",
        Revoked = "revoked",
    }
);

/// One metric of the catalogue: its unit, the plausible range of a reading, and the default
/// thresholds (warning and critical, low and high; `None` where a side has none).
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct Metric {
    pub metric: String,
    pub unit: String,
    pub min: f64,
    pub max: f64,
    pub warning_low: Option<f64>,
    pub warning_high: Option<f64>,
    pub critical_low: Option<f64>,
    pub critical_high: Option<f64>,
}

type MetricRow = (&'static str, &'static str, f64, f64, [Option<f64>; 4]);

/// The metric catalogue: (metric, unit, plausible min, max, [warning low, warning high,
/// critical low, critical high]).
const CATALOGUE: &[MetricRow] = &[
    (
        "heart_rate",
        "bpm",
        20.0,
        300.0,
        [Some(50.0), Some(120.0), Some(40.0), Some(150.0)],
    ),
    (
        "spo2",
        "%",
        50.0,
        100.0,
        [Some(94.0), None, Some(90.0), None],
    ),
    (
        "glucose",
        "mg/dL",
        10.0,
        1000.0,
        [Some(70.0), Some(180.0), Some(54.0), Some(300.0)],
    ),
    (
        "systolic_bp",
        "mmHg",
        50.0,
        300.0,
        [Some(90.0), Some(140.0), Some(80.0), Some(180.0)],
    ),
    (
        "diastolic_bp",
        "mmHg",
        20.0,
        200.0,
        [Some(60.0), Some(90.0), Some(50.0), Some(120.0)],
    ),
    ("weight", "kg", 0.5, 500.0, [None, None, None, None]),
    (
        "body_temperature",
        "Cel",
        25.0,
        45.0,
        [Some(35.0), Some(38.0), Some(34.0), Some(40.0)],
    ),
    ("steps", "count", 0.0, 100_000.0, [None, None, None, None]),
    (
        "respiratory_rate",
        "/min",
        2.0,
        80.0,
        [Some(10.0), Some(24.0), Some(8.0), Some(30.0)],
    ),
];

/// The catalogue, as `GET /device-metrics` serves it.
pub fn metrics() -> Vec<Metric> {
    CATALOGUE.iter().map(metric_of).collect()
}

fn metric_of(r: &MetricRow) -> Metric {
    let (metric, unit, min, max, [wl, wh, cl, ch]) = *r;
    Metric {
        metric: metric.into(),
        unit: unit.into(),
        min,
        max,
        warning_low: wl,
        warning_high: wh,
        critical_low: cl,
        critical_high: ch,
    }
}

/// The catalogue entry of a metric.
pub fn metric(name: &str) -> Option<Metric> {
    CATALOGUE.iter().find(|r| r.0 == name).map(metric_of)
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct WearableDevice {
    pub id: DeviceId,
    /// The patient's account, which owns the device.
    pub user_id: UserId,
    pub patient_id: PatientId,
    pub kind: DeviceKind,
    pub manufacturer: String,
    pub model: Option<String>,
    pub serial_number: String,
    pub status: DeviceStatus,
    pub last_seen_at: Option<Timestamp>,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
    pub version: i32,
}

/// A device with its ingest token: the answer of a registration or rotation, the one time the
/// token is shown.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct DeviceWithToken {
    #[serde(flatten)]
    pub device: WearableDevice,
    /// `Authorization: Device <ingest_token>` on `POST /devices/{id}/data`. Shown once.
    pub ingest_token: String,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewDevice {
    /// Default: the caller's own patient record.
    pub patient_id: Option<PatientId>,
    pub kind: DeviceKind,
    pub manufacturer: String,
    #[schema(max_length = 200)]
    pub model: Option<String>,
    pub serial_number: String,
}

#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct DeviceFilter {
    pub patient_id: Option<PatientId>,
    pub status: Option<DeviceStatus>,
}

/// A new ingest token (32 random bytes, hex) and its hash (what is stored).
fn new_token() -> (String, String) {
    let mut bytes = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    let token = format!("hdev_{}", hex::encode(bytes));
    let hash = token_hash(&token);
    (token, hash)
}

pub(crate) fn token_hash(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

/// May the caller manage devices of this patient: the patient, a doctor on the care team, an
/// admin?
fn manages(conn: &mut DbConn, scope: &Scope, patient: &PatientId) -> Result<bool> {
    Ok(scope.reaches(conn, patient, Level::Clinical)?)
}

/// Registers a device (the patient for self; a care-team doctor or an admin for a patient),
/// with the patient's remote-monitoring consent (409 otherwise). The answer carries its
/// ingest token, once.
pub fn register(tx: &mut Tx, new: NewDevice) -> Result<DeviceWithToken> {
    let scope = tx.scope().clone();
    let patient = match (&new.patient_id, scope.own_patient()) {
        (Some(p), _) => p.clone(),
        (None, Some(own)) => own.clone(),
        (None, None) => return Err(Error::field("patient_id", "is required")),
    };
    let mut v = Validator::new();
    v.text("manufacturer", new.manufacturer.trim(), 1, 200);
    v.text("serial_number", new.serial_number.trim(), 1, 200);
    v.opt_text("model", new.model.as_deref(), 200);
    v.finish()?;
    if !patients::exists(tx.conn(), &patient)? || !manages(tx.conn(), &scope, &patient)? {
        let p = Some(patient.as_str());
        return Err(tx.deny(Error::NotFound, Action::Create, DEVICE, p, p));
    }
    consent::require_consent(tx.conn(), &patient, ConsentKind::RemoteMonitoring)?;
    let owner = patients::account_of_patient(tx.conn(), &patient)?
        .ok_or_else(|| consent::consent_required(ConsentKind::RemoteMonitoring))?;
    let (token, hash) = new_token();
    let id = DeviceId::generate();
    let by = tx.actor().user_id().map(str::to_string);
    store::insert_device(tx.conn(), &id, &new, &patient, &owner, &hash, by.as_deref())?;
    tx.record(
        Action::Create,
        DEVICE,
        Some(id.as_str()),
        Some(patient.as_str()),
    )?;
    monitoring::log_event(tx, &id, &patient, "device_registered", "Device registered")?;
    let device = store::load_device(tx.conn(), &id)?.ok_or(Error::NotFound)?;
    Ok(DeviceWithToken {
        device,
        ingest_token: token,
    })
}

/// The device, locked, if the caller manages it (404, audited, otherwise).
fn lock_managed(tx: &mut Tx, id: &DeviceId, action: Action) -> Result<WearableDevice> {
    store::lock_device(tx.conn(), id)?;
    let scope = tx.scope().clone();
    match store::load_device(tx.conn(), id)? {
        Some(d) if manages(tx.conn(), &scope, &d.patient_id)? => Ok(d),
        _ => Err(tx.deny(Error::NotFound, action, DEVICE, Some(id.as_str()), None)),
    }
}

/// A new ingest token; the old one stops working at once.
pub fn rotate_token(tx: &mut Tx, id: &DeviceId) -> Result<DeviceWithToken> {
    let d = lock_managed(tx, id, Action::Update)?;
    if d.status == DeviceStatus::Revoked {
        return Err(Error::conflict_of(
            "illegal-transition",
            "the device is revoked",
        ));
    }
    let (token, hash) = new_token();
    if !store::set_token(tx.conn(), &d, &hash)? {
        return Err(Error::Stale);
    }
    let pid = Some(d.patient_id.as_str());
    tx.record(Action::Update, DEVICE, Some(id.as_str()), pid)?;
    monitoring::log_event(
        tx,
        id,
        &d.patient_id,
        "token_rotated",
        "Ingest token rotated",
    )?;
    let device = store::load_device(tx.conn(), id)?.ok_or(Error::NotFound)?;
    Ok(DeviceWithToken {
        device,
        ingest_token: token,
    })
}

/// Revokes a device: it sends nothing more.
pub fn revoke(tx: &mut Tx, id: &DeviceId) -> Result<WearableDevice> {
    let d = lock_managed(tx, id, Action::StateChange)?;
    if d.status == DeviceStatus::Revoked {
        return Err(Error::conflict_of(
            "illegal-transition",
            "the device is revoked already",
        ));
    }
    if !store::set_status(tx.conn(), &d, DeviceStatus::Revoked)? {
        return Err(Error::Stale);
    }
    let pid = Some(d.patient_id.as_str());
    tx.record(Action::StateChange, DEVICE, Some(id.as_str()), pid)?;
    monitoring::log_event(tx, id, &d.patient_id, "device_revoked", "Device revoked")?;
    store::load_device(tx.conn(), id)?.ok_or(Error::NotFound)
}

pub fn get(conn: &mut DbConn, actor: &Actor, id: &DeviceId) -> Result<Audited<WearableDevice>> {
    match store::load_device(conn, id)? {
        Some(d) if manages(conn, actor.scope(), &d.patient_id)? => {
            let pid = d.patient_id.clone();
            Ok(Audited::read(d, DEVICE, id.as_str(), Some(pid.as_str())))
        }
        _ => Err(actor.deny(
            Error::NotFound,
            Action::Read,
            DEVICE,
            Some(id.as_str()),
            None,
        )),
    }
}

pub fn list(
    conn: &mut DbConn,
    actor: &Actor,
    f: DeviceFilter,
    page: &Page,
) -> Result<Audited<ListResponse<WearableDevice>>> {
    let filter_patient = f.patient_id.clone();
    let rows = store::list_devices(
        conn,
        actor.scope(),
        f,
        page.after.as_deref(),
        page.limit + 1,
    )?;
    Ok(Audited::page(
        rows,
        page.limit,
        |d| d.id.to_string(),
        DEVICE,
        filter_patient.as_ref(),
        |d| &d.patient_id,
    ))
}

/// The device an ingest token belongs to, if any.
pub fn device_of_token(conn: &mut DbConn, token: &str) -> Result<Option<WearableDevice>> {
    Ok(store::device_by_token(conn, &token_hash(token))?)
}

/// How many threshold alerts the log holds (the demo's summary).
pub fn count_threshold_alerts(conn: &mut DbConn) -> Result<i64> {
    Ok(store::count_threshold_alerts(conn)?)
}
