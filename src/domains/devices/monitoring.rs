//! Threshold rules (the catalogue's defaults, a patient's overrides set by a care-team doctor)
//! and the remote-monitoring log: a reading past a limit opens an entry or adds to the open one
//! of its device, metric and severity, so a stream of bad readings is one alert, not thousands.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::ingest::Row;
use super::{metric, metrics, store, DeviceId, WearableDevice};
use crate::auth::care_team;
use crate::db::DbConn;
use crate::domains::notifications;
use crate::http::{ListResponse, Page};
use crate::kit::{
    Action, Actor, Audited, DoctorId, Error, Level, PatientId, Resource, Result, Timestamp, Tx,
    UserId, Validator,
};

/// What the audit trail calls a monitoring log entry, and a patient's rules.
pub const LOG: Resource = Resource::named("remote_monitoring_log");
pub const RULES: Resource = Resource::named("monitoring_rule");

crate::id_type!(
    /// A remote-monitoring log entry.
    LogId
);

/// A patient's limits for one metric (`None`: no limit on that side).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MonitoringRule {
    pub metric: String,
    pub warning_low: Option<f64>,
    pub warning_high: Option<f64>,
    pub critical_low: Option<f64>,
    pub critical_high: Option<f64>,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct MonitoringLog {
    pub id: LogId,
    pub device_id: DeviceId,
    pub patient_id: PatientId,
    /// `threshold`, `device_registered`, `device_revoked`, `token_rotated`.
    pub event_type: String,
    /// `info`, `warning`, `critical`.
    pub severity: String,
    pub metric: Option<String>,
    /// The latest value that crossed the limit.
    pub value: Option<f64>,
    /// The limit crossed, e.g. `heart_rate > 150`.
    pub rule: Option<String>,
    pub message: String,
    pub occurrences: i32,
    pub occurred_at: Timestamp,
    pub last_occurred_at: Timestamp,
    pub acknowledged_by: Option<UserId>,
    pub acknowledged_at: Option<Timestamp>,
}

#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct LogFilter {
    pub patient_id: Option<PatientId>,
    pub device_id: Option<DeviceId>,
    pub severity: Option<String>,
    pub acknowledged: Option<bool>,
}

/// The patient's rules: every metric of the catalogue, the patient's overrides replacing its
/// defaults.
pub fn rules_of(conn: &mut DbConn, patient: &PatientId) -> Result<Vec<MonitoringRule>> {
    let overrides = store::rules(conn, patient)?;
    Ok(metrics()
        .into_iter()
        .map(|m| {
            overrides
                .iter()
                .find(|r| r.metric == m.metric)
                .cloned()
                .unwrap_or(MonitoringRule {
                    metric: m.metric,
                    warning_low: m.warning_low,
                    warning_high: m.warning_high,
                    critical_low: m.critical_low,
                    critical_high: m.critical_high,
                })
        })
        .collect())
}

/// `GET /patients/{id}/monitoring-rules`: the compartment.
pub fn get_rules(
    conn: &mut DbConn,
    actor: &Actor,
    patient: &PatientId,
) -> Result<Audited<Vec<MonitoringRule>>> {
    if !actor.scope().reaches(conn, patient, Level::Clinical)? {
        let p = Some(patient.as_str());
        return Err(actor.deny(Error::NotFound, Action::Read, RULES, p, p));
    }
    let rules = rules_of(conn, patient)?;
    Ok(Audited::read(
        rules,
        RULES,
        patient.as_str(),
        Some(patient.as_str()),
    ))
}

/// Is the caller a doctor on the patient's care team (or an admin)?
fn care_team_doctor(tx: &mut Tx, patient: &PatientId) -> Result<bool> {
    let scope = tx.scope().clone();
    if scope.is_admin() {
        return Ok(true);
    }
    Ok(match scope.own_doctor() {
        Some(d) => care_team::on_care_team(tx.conn(), d, patient)?,
        None => false,
    })
}

/// Sets a patient's overrides (a care-team doctor, an admin): the metrics named are replaced;
/// a rule must keep warning inside critical and low below high.
pub fn set_rules(
    tx: &mut Tx,
    patient: &PatientId,
    rules: Vec<MonitoringRule>,
) -> Result<Vec<MonitoringRule>> {
    let p = Some(patient.as_str());
    let scope = tx.scope().clone();
    if !scope.reaches(tx.conn(), patient, Level::Clinical)? {
        return Err(tx.deny(Error::NotFound, Action::Update, RULES, p, p));
    }
    if !care_team_doctor(tx, patient)? {
        return Err(tx.deny(
            Error::forbidden("a doctor of the patient's care team sets monitoring rules"),
            Action::Update,
            RULES,
            p,
            p,
        ));
    }
    let mut v = Validator::new();
    for (i, r) in rules.iter().enumerate() {
        let f = |name: &str| format!("[{i}].{name}");
        if metric(&r.metric).is_none() {
            v.error(&f("metric"), "is not a metric of GET /device-metrics");
        }
        let ordered = |a: Option<f64>, b: Option<f64>| match (a, b) {
            (Some(a), Some(b)) => a <= b,
            _ => true,
        };
        v.check(
            ordered(r.warning_low, r.warning_high),
            &f("warning_high"),
            "must not be below warning_low",
        );
        v.check(
            ordered(r.critical_low, r.warning_low),
            &f("critical_low"),
            "must not be above warning_low",
        );
        v.check(
            ordered(r.warning_high, r.critical_high),
            &f("critical_high"),
            "must not be below warning_high",
        );
        v.check(
            ordered(r.critical_low, r.critical_high),
            &f("critical_high"),
            "must not be below critical_low",
        );
        let finite = [
            r.warning_low,
            r.warning_high,
            r.critical_low,
            r.critical_high,
        ]
        .iter()
        .flatten()
        .all(|x| x.is_finite());
        v.check(finite, &f("metric"), "limits are finite numbers");
    }
    v.finish()?;
    let by = tx.actor().user_id().map(str::to_string);
    for r in &rules {
        store::put_rule(tx.conn(), patient, r, by.as_deref())?;
    }
    tx.record(Action::Update, RULES, p, p)?;
    rules_of(tx.conn(), patient)
}

/// The severity of a value under a rule, and the limit it crossed.
fn judge(rule: &MonitoringRule, value: f64) -> Option<(&'static str, String)> {
    let m = &rule.metric;
    if let Some(l) = rule.critical_low.filter(|l| value < *l) {
        return Some(("critical", format!("{m} < {l}")));
    }
    if let Some(h) = rule.critical_high.filter(|h| value > *h) {
        return Some(("critical", format!("{m} > {h}")));
    }
    if let Some(l) = rule.warning_low.filter(|l| value < *l) {
        return Some(("warning", format!("{m} < {l}")));
    }
    if let Some(h) = rule.warning_high.filter(|h| value > *h) {
        return Some(("warning", format!("{m} > {h}")));
    }
    None
}

/// Holds stored readings against the patient's rules: per (metric, severity) with readings
/// past a limit, the open entry of the device gains their count, or a new entry opens and the
/// care-team doctors are told (`monitoring_alert`), in this transaction.
pub(super) fn check(tx: &mut Tx, device: &WearableDevice, rows: &[Row]) -> Result<()> {
    let rules = rules_of(tx.conn(), &device.patient_id)?;
    // (metric, severity) → (count, latest reading's time and value, its rule text)
    type Crossed = ((String, &'static str), (i32, i64, f64, String));
    let mut crossed: Vec<Crossed> = Vec::new();
    for (metric, ms, value) in rows {
        let Some(rule) = rules.iter().find(|r| &r.metric == metric) else {
            continue;
        };
        let Some((severity, text)) = judge(rule, *value) else {
            continue;
        };
        match crossed
            .iter_mut()
            .find(|(k, _)| k.0 == *metric && k.1 == severity)
        {
            Some((_, (n, at, v, t))) => {
                *n += 1;
                if *ms >= *at {
                    (*at, *v, *t) = (*ms, *value, text);
                }
            }
            None => crossed.push(((metric.clone(), severity), (1, *ms, *value, text))),
        }
    }
    for ((metric, severity), (n, ms, value, rule)) in crossed {
        let at = store::timestamp_of_ms(ms);
        if let Some(open) = store::open_log(tx.conn(), &device.id, &metric, severity)? {
            store::add_occurrences(tx.conn(), &open, n, value, &rule, at)?;
            continue;
        }
        let message = format!("{metric} {value} crossed the {severity} limit ({rule})");
        let id = LogId::generate();
        store::insert_log(
            tx.conn(),
            &id,
            &device.id,
            &device.patient_id,
            ("threshold", severity),
            (Some(&metric), Some(value), Some(&rule)),
            &message,
            n,
            at,
        )?;
        tx.record(
            Action::Create,
            LOG,
            Some(id.as_str()),
            Some(device.patient_id.as_str()),
        )?;
        let title = if severity == "critical" {
            "Critical monitoring alert"
        } else {
            "Monitoring alert"
        };
        for doctor in care_team::doctors(tx.conn(), &device.patient_id)? {
            notifications::notify_doctor(
                tx,
                &DoctorId::from_db(doctor),
                "monitoring_alert",
                title.into(),
                message.clone(),
                (LOG, id.as_str()),
            )?;
        }
    }
    Ok(())
}

/// An `info` entry of the device's life (registered, revoked, token rotated).
pub(super) fn log_event(
    tx: &mut Tx,
    device: &DeviceId,
    patient: &PatientId,
    event: &str,
    message: &str,
) -> Result<()> {
    let id = LogId::generate();
    store::insert_log(
        tx.conn(),
        &id,
        device,
        patient,
        (event, "info"),
        (None, None, None),
        message,
        1,
        Timestamp::now(),
    )?;
    Ok(())
}

/// A doctor of the patient's care team (or an admin) acknowledges an entry; 409 if it was.
pub fn acknowledge(tx: &mut Tx, id: &LogId) -> Result<MonitoringLog> {
    let refused = |tx: &Tx| {
        tx.deny(
            Error::NotFound,
            Action::Update,
            LOG,
            Some(id.as_str()),
            None,
        )
    };
    let Some(entry) = store::load_log(tx.conn(), id)? else {
        return Err(refused(tx));
    };
    let scope = tx.scope().clone();
    if !scope.reaches(tx.conn(), &entry.patient_id, Level::Clinical)? {
        return Err(refused(tx));
    }
    let p = Some(entry.patient_id.as_str());
    if !care_team_doctor(tx, &entry.patient_id)? {
        return Err(tx.deny(
            Error::forbidden("a doctor of the patient's care team acknowledges alerts"),
            Action::Update,
            LOG,
            Some(id.as_str()),
            p,
        ));
    }
    let by = tx.actor().user_id().unwrap_or_default().to_string();
    if !store::acknowledge(tx.conn(), id, &by)? {
        return Err(Error::conflict_of(
            "illegal-transition",
            "the entry is acknowledged already",
        ));
    }
    tx.record(Action::Update, LOG, Some(id.as_str()), p)?;
    store::load_log(tx.conn(), id)?.ok_or(Error::NotFound)
}

pub fn list(
    conn: &mut DbConn,
    actor: &Actor,
    f: LogFilter,
    page: &Page,
) -> Result<Audited<ListResponse<MonitoringLog>>> {
    let filter_patient = f.patient_id.clone();
    let rows = store::list_logs(
        conn,
        actor.scope(),
        f,
        page.after.as_deref(),
        page.limit + 1,
    )?;
    Ok(Audited::page(
        rows,
        page.limit,
        |l| l.id.to_string(),
        LOG,
        filter_patient.as_ref(),
        |l| &l.patient_id,
    ))
}
