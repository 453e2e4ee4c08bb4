//! Lab results: one per analyte, several per order, recorded by the lab once the sample is
//! collected. A correction makes a new version and keeps every earlier one.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::{
    is_lab, is_loinc, lock_reachable, move_order, reaches, store, LabOrder, LabOrderId,
    OrderStatus, ORDER,
};
use crate::db::DbConn;
use crate::domains::notifications;
use crate::http::{ListResponse, Page};
use crate::kit::{
    Action, Actor, Audited, Error, IfMatch, Level, PatientId, Resource, Result, Timestamp, Tx,
    UserId, Validator,
};
use crate::wire_enum;

/// What the audit trail calls a lab result.
pub const RESULT: Resource = Resource::named("lab_result");

crate::id_type!(
    /// A lab result.
    LabResultId
);

wire_enum!(
    /// What a value means against its reference range.
    Interpretation of "interpretation" {
        Normal = "normal",
        Abnormal = "abnormal",
        Critical = "critical",
    }
);

wire_enum!(
    /// `final` as recorded; `corrected` once changed.
    ResultStatus of "lab result" {
        Final = "final",
        Corrected = "corrected",
    }
);

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[schema(examples(crate::http::examples::lab_result))]
pub struct LabResult {
    pub id: LabResultId,
    pub lab_order_id: LabOrderId,
    pub patient_id: PatientId,
    /// The analyte's LOINC code.
    pub test_code: String,
    pub value: String,
    pub value_numeric: Option<f64>,
    pub unit: Option<String>,
    pub reference_low: Option<f64>,
    pub reference_high: Option<f64>,
    pub interpretation: Interpretation,
    pub status: ResultStatus,
    pub note: Option<String>,
    pub resulted_by: UserId,
    pub resulted_at: Timestamp,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
    pub version: i32,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(examples(crate::http::examples::new_lab_result))]
pub struct NewResult {
    /// The analyte's LOINC code; default the order's.
    #[schema(pattern = "^[0-9]{1,7}-[0-9]$")]
    pub test_code: Option<String>,
    /// As reported, e.g. `5.4` or `positive`.
    #[schema(min_length = 1)]
    pub value: String,
    /// Default: `value` read as a number, when it is one.
    pub value_numeric: Option<f64>,
    #[schema(max_length = 50)]
    pub unit: Option<String>,
    pub reference_low: Option<f64>,
    pub reference_high: Option<f64>,
    /// Default: `abnormal` when the number is outside the reference range, else `normal`.
    pub interpretation: Option<Interpretation>,
    #[schema(max_length = 2000)]
    pub note: Option<String>,
}

/// What a correction may change.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ResultChange {
    pub value: Option<String>,
    pub value_numeric: Option<f64>,
    #[schema(max_length = 50)]
    pub unit: Option<String>,
    pub reference_low: Option<f64>,
    pub reference_high: Option<f64>,
    pub interpretation: Option<Interpretation>,
    #[schema(max_length = 2000)]
    pub note: Option<String>,
}

/// One version of a result, as `GET /lab-results/{id}/history` lists it.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct ResultVersion {
    pub version: i32,
    pub value: String,
    pub value_numeric: Option<f64>,
    pub unit: Option<String>,
    pub reference_low: Option<f64>,
    pub reference_high: Option<f64>,
    pub interpretation: Interpretation,
    pub status: ResultStatus,
    pub note: Option<String>,
    pub changed_by: UserId,
    pub changed_at: Timestamp,
}

/// The filters of `GET /lab-results`.
#[derive(Debug, Clone, Default, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ResultFilter {
    pub patient_id: Option<PatientId>,
    pub lab_order_id: Option<LabOrderId>,
    pub interpretation: Option<Interpretation>,
    /// The analyte's LOINC code.
    pub test_code: Option<String>,
    /// Results recorded at or after (RFC 3339).
    #[param(value_type = Option<String>, format = DateTime)]
    pub from: Option<Timestamp>,
    /// Results recorded before (RFC 3339).
    #[param(value_type = Option<String>, format = DateTime)]
    pub to: Option<Timestamp>,
}

/// The measured values of a result, checked and completed (number, interpretation).
pub(super) struct Values {
    pub value: String,
    pub value_numeric: Option<f64>,
    pub unit: Option<String>,
    pub reference_low: Option<f64>,
    pub reference_high: Option<f64>,
    pub interpretation: Interpretation,
    pub note: Option<String>,
}

impl Values {
    /// Validates; fills in the number from `value` and the interpretation from the range.
    fn checked(
        v: &mut Validator,
        value: String,
        value_numeric: Option<f64>,
        unit: Option<String>,
        range: (Option<f64>, Option<f64>),
        interpretation: Option<Interpretation>,
        note: Option<String>,
    ) -> Values {
        v.text("value", value.trim(), 1, 200);
        v.opt_text("unit", unit.as_deref(), 50);
        v.opt_text("note", note.as_deref(), 2000);
        let (low, high) = range;
        if let (Some(l), Some(h)) = (low, high) {
            v.check(l <= h, "reference_high", "must not be below reference_low");
        }
        let number =
            value_numeric.or_else(|| value.trim().parse::<f64>().ok().filter(|n| n.is_finite()));
        let interpretation = interpretation.unwrap_or(match number {
            Some(n) if low.is_some_and(|l| n < l) || high.is_some_and(|h| n > h) => {
                Interpretation::Abnormal
            }
            _ => Interpretation::Normal,
        });
        Values {
            value: value.trim().to_string(),
            value_numeric: number,
            unit,
            reference_low: low,
            reference_high: high,
            interpretation,
            note,
        }
    }
}

/// 403, audited, unless the caller is a lab technician or an admin (who record and correct).
fn require_lab(tx: &Tx, id: &str, patient: &PatientId, action: Action) -> Result<()> {
    if is_lab(tx.scope()) || tx.scope().is_admin() {
        return Ok(());
    }
    Err(tx.deny(
        Error::forbidden("lab technicians and admins record results"),
        action,
        RESULT,
        Some(id),
        Some(patient.as_str()),
    ))
}

/// Records a result of a collected (or already resulted) order. The first moves the order to
/// `resulted`; the ordering doctor and the patient are told (one unread `lab_result` per order
/// at a time), and a critical value tells the doctor at once (`lab_result_critical`).
pub fn record(
    tx: &mut Tx,
    order_id: &LabOrderId,
    new: NewResult,
    at: Timestamp,
) -> Result<LabResult> {
    let mut v = Validator::new();
    if let Some(code) = &new.test_code {
        v.check(
            is_loinc(code),
            "test_code",
            "must be a LOINC code (1-7 digits, a hyphen, a check digit), e.g. 2345-7",
        );
    }
    let values = Values::checked(
        &mut v,
        new.value,
        new.value_numeric,
        new.unit,
        (new.reference_low, new.reference_high),
        new.interpretation,
        new.note,
    );
    v.finish()?;
    let order = lock_reachable(tx, order_id, Action::Create, RESULT)?;
    require_lab(tx, order_id.as_str(), &order.patient_id, Action::Create)?;
    if !matches!(order.status, OrderStatus::Collected | OrderStatus::Resulted) {
        return Err(Error::conflict_of(
            "illegal-transition",
            format!(
                "the lab order is {}: results need a collected sample",
                order.status
            ),
        ));
    }
    let by = tx
        .actor()
        .user_id()
        .map(|u| UserId::from_db(u.to_string()))
        .ok_or_else(|| Error::internal("a result is recorded by a user"))?;
    let id = LabResultId::generate();
    let test_code = new.test_code.unwrap_or_else(|| order.test_code.clone());
    store::insert_result(tx.conn(), &id, &order, &test_code, &values, &by, at)?;
    store::snapshot_result(tx.conn(), &id, by.as_str(), at)?;
    let pid = Some(order.patient_id.as_str());
    tx.record(Action::Create, RESULT, Some(id.as_str()), pid)?;
    if order.status == OrderStatus::Collected {
        move_order(tx, &order, OrderStatus::Resulted, None, at)?;
    }
    let critical = values.interpretation == Interpretation::Critical;
    tell(tx, &order, &id, critical, false)?;
    store::load_result(tx.conn(), &id)?.ok_or(Error::NotFound)
}

/// The notifications of a new or corrected result; `critical`: also `lab_result_critical`.
fn tell(
    tx: &mut Tx,
    order: &LabOrder,
    id: &LabResultId,
    critical: bool,
    corrected: bool,
) -> Result<()> {
    let name = &order.test_name;
    if critical {
        // Every critical value, at once: never folded into an unread one.
        if let Some(user) =
            crate::domains::patients::account_of_doctor(tx.conn(), &order.doctor_id)?
        {
            notifications::notify(
                tx,
                &user,
                "lab_result_critical",
                format!("Critical result: {name}"),
                format!("A critical value was reported for {name}; review it now."),
                Some((RESULT, id.as_str())),
            )?;
        }
    }
    let (title, body) = if corrected {
        (
            format!("Lab result corrected: {name}"),
            format!("A result of {name} was corrected."),
        )
    } else {
        (
            format!("Lab result available: {name}"),
            format!("Results of {name} are available."),
        )
    };
    let about = (ORDER, order.id.as_str());
    if let Some(user) = crate::domains::patients::account_of_doctor(tx.conn(), &order.doctor_id)? {
        if corrected {
            notifications::notify(
                tx,
                &user,
                "lab_result",
                title.clone(),
                body.clone(),
                Some(about),
            )?;
        } else {
            notifications::notify_unless_unread(
                tx,
                &user,
                "lab_result",
                title.clone(),
                body.clone(),
                about,
            )?;
        }
    }
    if !corrected {
        if let Some(user) =
            crate::domains::patients::account_of_patient(tx.conn(), &order.patient_id)?
        {
            notifications::notify_unless_unread(tx, &user, "lab_result", title, body, about)?;
        }
    }
    Ok(())
}

/// Corrects a result (lab technician, admin; `If-Match` honoured): a new version, status
/// `corrected`, the earlier values kept; the ordering doctor is told again.
pub fn correct(
    tx: &mut Tx,
    id: &LabResultId,
    c: ResultChange,
    if_match: IfMatch,
    at: Timestamp,
) -> Result<LabResult> {
    store::lock_result(tx.conn(), id)?;
    let refused = |tx: &Tx| {
        tx.deny(
            Error::NotFound,
            Action::Update,
            RESULT,
            Some(id.as_str()),
            None,
        )
    };
    let Some(current) = store::load_result(tx.conn(), id)? else {
        return Err(refused(tx));
    };
    let order = store::load_order(tx.conn(), &current.lab_order_id)?.ok_or(Error::NotFound)?;
    let scope = tx.scope().clone();
    if !reaches(tx.conn(), &scope, &order.patient_id, Some(&order.doctor_id))? {
        return Err(refused(tx));
    }
    require_lab(tx, id.as_str(), &order.patient_id, Action::Update)?;
    if_match.check(current.version)?;
    let mut v = Validator::new();
    let rederive = c.interpretation.is_none()
        && (c.value.is_some()
            || c.value_numeric.is_some()
            || c.reference_low.is_some()
            || c.reference_high.is_some());
    let values = Values::checked(
        &mut v,
        c.value.clone().unwrap_or(current.value.clone()),
        c.value_numeric.or(if c.value.is_some() {
            None
        } else {
            current.value_numeric
        }),
        c.unit.clone().or(current.unit.clone()),
        (
            c.reference_low.or(current.reference_low),
            c.reference_high.or(current.reference_high),
        ),
        c.interpretation
            .or((!rederive).then_some(current.interpretation)),
        c.note.clone().or(current.note.clone()),
    );
    v.finish()?;
    if !store::update_result(tx.conn(), id, current.version, &values)? {
        return Err(Error::Stale);
    }
    let by = tx.actor().user_id().unwrap_or_default().to_string();
    store::snapshot_result(tx.conn(), id, &by, at)?;
    let pid = Some(order.patient_id.as_str());
    tx.record(Action::Update, RESULT, Some(id.as_str()), pid)?;
    // A correction alerts again only when it makes the value critical.
    let critical = values.interpretation == Interpretation::Critical
        && current.interpretation != Interpretation::Critical;
    tell(tx, &order, id, critical, true)?;
    store::load_result(tx.conn(), id)?.ok_or(Error::NotFound)
}

/// The result, if the caller reaches its order (404, audited, otherwise).
fn reachable(conn: &mut DbConn, actor: &Actor, id: &LabResultId) -> Result<LabResult> {
    let refused = || {
        actor.deny(
            Error::NotFound,
            Action::Read,
            RESULT,
            Some(id.as_str()),
            None,
        )
    };
    let r = store::load_result(conn, id)?.ok_or_else(refused)?;
    let order = store::load_order(conn, &r.lab_order_id)?.ok_or_else(refused)?;
    if reaches(
        conn,
        actor.scope(),
        &order.patient_id,
        Some(&order.doctor_id),
    )? {
        Ok(r)
    } else {
        Err(refused())
    }
}

/// One result.
pub fn get(conn: &mut DbConn, actor: &Actor, id: &LabResultId) -> Result<Audited<LabResult>> {
    let r = reachable(conn, actor, id)?;
    let pid = r.patient_id.clone();
    Ok(Audited::read(r, RESULT, id.as_str(), Some(pid.as_str())))
}

/// Every version of a result, oldest first.
pub fn history(
    conn: &mut DbConn,
    actor: &Actor,
    id: &LabResultId,
) -> Result<Audited<Vec<ResultVersion>>> {
    let r = reachable(conn, actor, id)?;
    let versions = store::result_versions(conn, id)?;
    Ok(Audited::read(
        versions,
        RESULT,
        id.as_str(),
        Some(r.patient_id.as_str()),
    ))
}

/// The results the caller reaches that match `f`, oldest first.
pub fn list(
    conn: &mut DbConn,
    actor: &Actor,
    f: ResultFilter,
    page: &Page,
) -> Result<Audited<ListResponse<LabResult>>> {
    let filter_patient = f.patient_id.clone();
    let rows = store::list_results(
        conn,
        actor.scope(),
        Level::Clinical,
        &f,
        page.after.as_deref(),
        page.limit + 1,
    )?;
    Ok(Audited::page(
        rows,
        page.limit,
        |r| r.id.to_string(),
        RESULT,
        filter_patient.as_ref(),
        |r| &r.patient_id,
    ))
}

/// How many results the caller reaches match `f` (a FHIR search's total).
pub fn count(conn: &mut DbConn, actor: &Actor, f: &ResultFilter) -> Result<i64> {
    store::count_results(conn, actor.scope(), Level::Clinical, f)
}
