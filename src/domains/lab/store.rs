//! The lab tables' queries: orders, results and their versions, images.

use diesel::prelude::*;

use super::images::{
    Content, DiagnosticImage, ImageFilter, ImageId, ImageStatus, Modality, NewImage,
};
use super::results::{
    Interpretation, LabResult, LabResultId, ResultFilter, ResultStatus, ResultVersion, Values,
};
use super::{is_lab, LabOrder, LabOrderId, NewOrder, OrderFilter, OrderStatus, Priority};
use crate::blob::Stored;
use crate::db::schema::{diagnostic_images, lab_orders, lab_result_versions, lab_results};
use crate::db::{new_id, now, DbConn};
use crate::domains::appointments::AppointmentId;
use crate::kit::{
    Condition, DoctorId, Level, PatientId, Result, Scope, Timestamp, UserId, WireEnum,
};

// --- orders ---

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = lab_orders)]
struct OrderRow {
    id: String,
    patient_id: String,
    doctor_id: String,
    appointment_id: Option<String>,
    test_code: String,
    test_name: String,
    priority: String,
    status: String,
    notes: Option<String>,
    cancel_reason: Option<String>,
    collected_at: Option<chrono::NaiveDateTime>,
    resulted_at: Option<chrono::NaiveDateTime>,
    created_at: chrono::NaiveDateTime,
    updated_at: chrono::NaiveDateTime,
    version: i32,
}

impl From<OrderRow> for LabOrder {
    fn from(r: OrderRow) -> LabOrder {
        LabOrder {
            id: LabOrderId::from_db(r.id),
            patient_id: PatientId::from_db(r.patient_id),
            doctor_id: DoctorId::from_db(r.doctor_id),
            appointment_id: r.appointment_id.map(AppointmentId::from_db),
            test_code: r.test_code,
            test_name: r.test_name,
            priority: Priority::parse(&r.priority).unwrap_or(Priority::Routine),
            status: OrderStatus::parse(&r.status).unwrap_or(OrderStatus::Cancelled),
            notes: r.notes,
            cancel_reason: r.cancel_reason,
            collected_at: r.collected_at.map(Timestamp::from_db),
            resulted_at: r.resulted_at.map(Timestamp::from_db),
            created_at: Timestamp::from_db(r.created_at),
            updated_at: Timestamp::from_db(r.updated_at),
            version: r.version,
        }
    }
}

pub(super) fn load_order(conn: &mut DbConn, id: &LabOrderId) -> QueryResult<Option<LabOrder>> {
    Ok(lab_orders::table
        .find(id.as_str())
        .select(OrderRow::as_select())
        .first(conn)
        .optional()?
        .map(LabOrder::from))
}

/// Holds the order's row for the rest of the transaction (PostgreSQL `FOR NO KEY UPDATE`).
pub(super) fn lock_order(conn: &mut DbConn, id: &LabOrderId) -> QueryResult<bool> {
    crate::db::sql::lock_row(conn, "lab_orders", id.as_str())
}

pub(super) fn insert_order(
    conn: &mut DbConn,
    id: &LabOrderId,
    new: &NewOrder,
    doctor: &DoctorId,
    created_by: Option<&str>,
) -> QueryResult<()> {
    let t = now();
    let priority = new.priority.unwrap_or(Priority::Routine);
    diesel::insert_into(lab_orders::table)
        .values((
            lab_orders::id.eq(id.as_str()),
            lab_orders::patient_id.eq(new.patient_id.as_str()),
            lab_orders::doctor_id.eq(doctor.as_str()),
            lab_orders::appointment_id.eq(new.appointment_id.as_ref().map(|a| a.as_str())),
            lab_orders::test_code.eq(&new.test_code),
            lab_orders::test_name.eq(new.test_name.trim()),
            lab_orders::priority.eq(priority.as_str()),
            lab_orders::priority_rank.eq(priority.rank()),
            lab_orders::status.eq(OrderStatus::Ordered.as_str()),
            lab_orders::notes.eq(&new.notes),
            lab_orders::created_by.eq(created_by),
            lab_orders::created_at.eq(t),
            lab_orders::updated_at.eq(t),
            lab_orders::version.eq(1),
        ))
        .execute(conn)?;
    Ok(())
}

/// What a move of an order sets.
pub(super) struct OrderChange {
    pub status: OrderStatus,
    pub cancel_reason: Option<String>,
    /// When and by whom the sample was collected.
    pub collected: Option<(Timestamp, Option<String>)>,
    pub resulted_at: Option<Timestamp>,
}

/// The versioned update of a move; `false` when the order moved meanwhile.
pub(super) fn update_order(conn: &mut DbConn, o: &LabOrder, c: &OrderChange) -> QueryResult<bool> {
    let (collected_at, collected_by) = match &c.collected {
        Some((at, by)) => (Some(at.naive()), by.clone()),
        None => (o.collected_at.map(Timestamp::naive), None),
    };
    let keep_collector = c.collected.is_none();
    let updated = crate::update_versioned!(
        conn,
        lab_orders,
        o.id.as_str(),
        o.version,
        (
            t::status.eq(c.status.as_str()),
            t::cancel_reason.eq(c.cancel_reason.clone().or(o.cancel_reason.clone())),
            t::collected_at.eq(collected_at),
            t::resulted_at.eq(c
                .resulted_at
                .map(Timestamp::naive)
                .or(o.resulted_at.map(Timestamp::naive))),
        )
    )?;
    if updated && !keep_collector {
        diesel::update(lab_orders::table.find(o.id.as_str()))
            .set(lab_orders::collected_by.eq(collected_by))
            .execute(conn)?;
    }
    Ok(updated)
}

/// The orders in reach matching `f`, by (priority rank, created_at, id), after `after`.
pub(super) fn list_orders(
    conn: &mut DbConn,
    scope: &Scope,
    f: &OrderFilter,
    after: Option<(i32, (Timestamp, String))>,
    limit: i64,
) -> Result<Vec<LabOrder>> {
    let mut q = lab_orders::table
        .select(OrderRow::as_select())
        .order((
            lab_orders::priority_rank,
            lab_orders::created_at,
            lab_orders::id,
        ))
        .limit(limit)
        .into_boxed();
    for c in order_conditions(scope, f) {
        q = q.filter(c);
    }
    if let Some((rank, (t, id))) = after {
        q = q.filter(
            lab_orders::priority_rank
                .gt(rank)
                .or(lab_orders::priority_rank.eq(rank).and(
                    lab_orders::created_at
                        .gt(t.naive())
                        .or(lab_orders::created_at
                            .eq(t.naive())
                            .and(lab_orders::id.gt(id))),
                )),
        );
    }
    Ok(q.load::<OrderRow>(conn)?
        .into_iter()
        .map(LabOrder::from)
        .collect())
}

/// How many orders in `scope` match `f`.
pub(super) fn count_orders(conn: &mut DbConn, scope: &Scope, f: &OrderFilter) -> Result<i64> {
    let mut q = lab_orders::table.into_boxed();
    for c in order_conditions(scope, f) {
        q = q.filter(c);
    }
    Ok(q.count().get_result(conn)?)
}

/// The conditions of an order search, the same for a page and for the count.
fn order_conditions(scope: &Scope, f: &OrderFilter) -> Vec<Condition<lab_orders::table>> {
    let mut out: Vec<Condition<lab_orders::table>> = Vec::new();
    // Lab technicians' work list is every order; everyone else the compartment and the orders
    // they placed.
    if !is_lab(scope) {
        let own = scope.doctor_rows(lab_orders::doctor_id);
        out.extend(scope.filter(Level::Clinical, lab_orders::patient_id, own));
    }
    if let Some(v) = &f.patient_id {
        out.push(Box::new(lab_orders::patient_id.eq(v.to_string())));
    }
    if let Some(v) = &f.doctor_id {
        out.push(Box::new(lab_orders::doctor_id.eq(v.to_string())));
    }
    if let Some(v) = f.status {
        out.push(Box::new(lab_orders::status.eq(v.as_str())));
    }
    if let Some(v) = f.priority {
        out.push(Box::new(lab_orders::priority.eq(v.as_str())));
    }
    if let Some(v) = &f.test_code {
        out.push(Box::new(lab_orders::test_code.eq(v.clone())));
    }
    if let Some(v) = f.from {
        out.push(Box::new(lab_orders::created_at.ge(v.naive())));
    }
    if let Some(v) = f.to {
        out.push(Box::new(lab_orders::created_at.lt(v.naive())));
    }
    out
}

/// The ids of the results of each of `orders`, oldest first.
pub(super) fn result_ids_of(conn: &mut DbConn, orders: &[String]) -> Result<Vec<(String, String)>> {
    Ok(lab_results::table
        .filter(lab_results::lab_order_id.eq_any(orders))
        .select((lab_results::lab_order_id, lab_results::id))
        .order(lab_results::id)
        .load(conn)?)
}

// --- results ---

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = lab_results)]
struct ResultRow {
    id: String,
    lab_order_id: String,
    patient_id: String,
    test_code: String,
    value: String,
    value_numeric: Option<f64>,
    unit: Option<String>,
    reference_low: Option<f64>,
    reference_high: Option<f64>,
    interpretation: String,
    status: String,
    note: Option<String>,
    resulted_by: String,
    resulted_at: chrono::NaiveDateTime,
    created_at: chrono::NaiveDateTime,
    updated_at: chrono::NaiveDateTime,
    version: i32,
}

impl From<ResultRow> for LabResult {
    fn from(r: ResultRow) -> LabResult {
        LabResult {
            id: LabResultId::from_db(r.id),
            lab_order_id: LabOrderId::from_db(r.lab_order_id),
            patient_id: PatientId::from_db(r.patient_id),
            test_code: r.test_code,
            value: r.value,
            value_numeric: r.value_numeric,
            unit: r.unit,
            reference_low: r.reference_low,
            reference_high: r.reference_high,
            interpretation: Interpretation::parse(&r.interpretation)
                .unwrap_or(Interpretation::Normal),
            status: ResultStatus::parse(&r.status).unwrap_or(ResultStatus::Final),
            note: r.note,
            resulted_by: UserId::from_db(r.resulted_by),
            resulted_at: Timestamp::from_db(r.resulted_at),
            created_at: Timestamp::from_db(r.created_at),
            updated_at: Timestamp::from_db(r.updated_at),
            version: r.version,
        }
    }
}

pub(super) fn load_result(conn: &mut DbConn, id: &LabResultId) -> QueryResult<Option<LabResult>> {
    Ok(lab_results::table
        .find(id.as_str())
        .select(ResultRow::as_select())
        .first(conn)
        .optional()?
        .map(LabResult::from))
}

pub(super) fn lock_result(conn: &mut DbConn, id: &LabResultId) -> QueryResult<bool> {
    crate::db::sql::lock_row(conn, "lab_results", id.as_str())
}

pub(super) fn insert_result(
    conn: &mut DbConn,
    id: &LabResultId,
    order: &LabOrder,
    test_code: &str,
    v: &Values,
    by: &UserId,
    at: Timestamp,
) -> QueryResult<()> {
    let t = now();
    diesel::insert_into(lab_results::table)
        .values((
            lab_results::id.eq(id.as_str()),
            lab_results::lab_order_id.eq(order.id.as_str()),
            lab_results::patient_id.eq(order.patient_id.as_str()),
            lab_results::test_code.eq(test_code),
            lab_results::value.eq(&v.value),
            lab_results::value_numeric.eq(v.value_numeric),
            lab_results::unit.eq(&v.unit),
            lab_results::reference_low.eq(v.reference_low),
            lab_results::reference_high.eq(v.reference_high),
            lab_results::interpretation.eq(v.interpretation.as_str()),
            lab_results::status.eq(ResultStatus::Final.as_str()),
            lab_results::note.eq(&v.note),
            lab_results::resulted_by.eq(by.as_str()),
            lab_results::resulted_at.eq(at.naive()),
            lab_results::created_at.eq(t),
            lab_results::updated_at.eq(t),
            lab_results::version.eq(1),
        ))
        .execute(conn)?;
    Ok(())
}

/// The versioned update of a correction; `false` when another changed it first.
pub(super) fn update_result(
    conn: &mut DbConn,
    id: &LabResultId,
    version: i32,
    v: &Values,
) -> QueryResult<bool> {
    crate::update_versioned!(
        conn,
        lab_results,
        id.as_str(),
        version,
        (
            t::value.eq(&v.value),
            t::value_numeric.eq(v.value_numeric),
            t::unit.eq(&v.unit),
            t::reference_low.eq(v.reference_low),
            t::reference_high.eq(v.reference_high),
            t::interpretation.eq(v.interpretation.as_str()),
            t::status.eq(ResultStatus::Corrected.as_str()),
            t::note.eq(&v.note),
        )
    )
}

/// Copies the result as it is now into its history.
pub(super) fn snapshot_result(
    conn: &mut DbConn,
    id: &LabResultId,
    changed_by: &str,
    at: Timestamp,
) -> QueryResult<()> {
    let r = lab_results::table
        .find(id.as_str())
        .select(ResultRow::as_select())
        .first(conn)?;
    diesel::insert_into(lab_result_versions::table)
        .values((
            lab_result_versions::id.eq(new_id()),
            lab_result_versions::lab_result_id.eq(&r.id),
            lab_result_versions::version.eq(r.version),
            lab_result_versions::value.eq(&r.value),
            lab_result_versions::value_numeric.eq(r.value_numeric),
            lab_result_versions::unit.eq(&r.unit),
            lab_result_versions::reference_low.eq(r.reference_low),
            lab_result_versions::reference_high.eq(r.reference_high),
            lab_result_versions::interpretation.eq(&r.interpretation),
            lab_result_versions::status.eq(&r.status),
            lab_result_versions::note.eq(&r.note),
            lab_result_versions::changed_by.eq(changed_by),
            lab_result_versions::changed_at.eq(at.naive()),
        ))
        .execute(conn)?;
    Ok(())
}

#[derive(Queryable)]
struct VersionRow {
    version: i32,
    value: String,
    value_numeric: Option<f64>,
    unit: Option<String>,
    reference_low: Option<f64>,
    reference_high: Option<f64>,
    interpretation: String,
    status: String,
    note: Option<String>,
    changed_by: String,
    changed_at: chrono::NaiveDateTime,
}

pub(super) fn result_versions(
    conn: &mut DbConn,
    id: &LabResultId,
) -> QueryResult<Vec<ResultVersion>> {
    let rows: Vec<VersionRow> = lab_result_versions::table
        .filter(lab_result_versions::lab_result_id.eq(id.as_str()))
        .order(lab_result_versions::version)
        .select((
            lab_result_versions::version,
            lab_result_versions::value,
            lab_result_versions::value_numeric,
            lab_result_versions::unit,
            lab_result_versions::reference_low,
            lab_result_versions::reference_high,
            lab_result_versions::interpretation,
            lab_result_versions::status,
            lab_result_versions::note,
            lab_result_versions::changed_by,
            lab_result_versions::changed_at,
        ))
        .load(conn)?;
    Ok(rows
        .into_iter()
        .map(|r| ResultVersion {
            version: r.version,
            value: r.value,
            value_numeric: r.value_numeric,
            unit: r.unit,
            reference_low: r.reference_low,
            reference_high: r.reference_high,
            interpretation: Interpretation::parse(&r.interpretation)
                .unwrap_or(Interpretation::Normal),
            status: ResultStatus::parse(&r.status).unwrap_or(ResultStatus::Final),
            note: r.note,
            changed_by: UserId::from_db(r.changed_by),
            changed_at: Timestamp::from_db(r.changed_at),
        })
        .collect())
}

/// The results in reach matching `f`, by id, after the id `after`.
pub(super) fn list_results(
    conn: &mut DbConn,
    scope: &Scope,
    level: Level,
    f: &ResultFilter,
    after: Option<&str>,
    limit: i64,
) -> Result<Vec<LabResult>> {
    let mut q = lab_results::table
        .select(ResultRow::as_select())
        .order(lab_results::id)
        .limit(limit)
        .into_boxed();
    for c in result_conditions(scope, level, f) {
        q = q.filter(c);
    }
    if let Some(a) = after {
        q = q.filter(lab_results::id.gt(a.to_string()));
    }
    Ok(q.load::<ResultRow>(conn)?
        .into_iter()
        .map(LabResult::from)
        .collect())
}

/// How many results in `scope` match `f`.
pub(super) fn count_results(
    conn: &mut DbConn,
    scope: &Scope,
    level: Level,
    f: &ResultFilter,
) -> Result<i64> {
    let mut q = lab_results::table.into_boxed();
    for c in result_conditions(scope, level, f) {
        q = q.filter(c);
    }
    Ok(q.count().get_result(conn)?)
}

/// The conditions of a result search, the same for a page and for the count.
fn result_conditions(
    scope: &Scope,
    level: Level,
    f: &ResultFilter,
) -> Vec<Condition<lab_results::table>> {
    let mut out: Vec<Condition<lab_results::table>> = Vec::new();
    if !is_lab(scope) {
        // The ordering doctor is on the care team from the order on: the compartment covers it.
        out.extend(scope.filter(level, lab_results::patient_id, None));
    }
    if let Some(v) = &f.patient_id {
        out.push(Box::new(lab_results::patient_id.eq(v.to_string())));
    }
    if let Some(v) = &f.lab_order_id {
        out.push(Box::new(lab_results::lab_order_id.eq(v.to_string())));
    }
    if let Some(v) = f.interpretation {
        out.push(Box::new(lab_results::interpretation.eq(v.as_str())));
    }
    if let Some(v) = &f.test_code {
        out.push(Box::new(lab_results::test_code.eq(v.clone())));
    }
    if let Some(v) = f.from {
        out.push(Box::new(lab_results::resulted_at.ge(v.naive())));
    }
    if let Some(v) = f.to {
        out.push(Box::new(lab_results::resulted_at.lt(v.naive())));
    }
    out
}

// --- images ---

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = diagnostic_images)]
struct ImageRow {
    id: String,
    patient_id: String,
    doctor_id: Option<String>,
    lab_order_id: Option<String>,
    modality: String,
    body_site: Option<String>,
    description: Option<String>,
    taken_at: Option<chrono::NaiveDateTime>,
    status: String,
    content_type: Option<String>,
    size_bytes: Option<i64>,
    sha256: Option<String>,
    created_at: chrono::NaiveDateTime,
    updated_at: chrono::NaiveDateTime,
    version: i32,
}

impl From<ImageRow> for DiagnosticImage {
    fn from(r: ImageRow) -> DiagnosticImage {
        DiagnosticImage {
            id: ImageId::from_db(r.id),
            patient_id: PatientId::from_db(r.patient_id),
            doctor_id: r.doctor_id.map(DoctorId::from_db),
            lab_order_id: r.lab_order_id.map(LabOrderId::from_db),
            modality: Modality::parse(&r.modality).unwrap_or(Modality::Ot),
            body_site: r.body_site,
            description: r.description,
            taken_at: r.taken_at.map(Timestamp::from_db),
            status: ImageStatus::parse(&r.status).unwrap_or(ImageStatus::PendingUpload),
            content_type: r.content_type,
            size_bytes: r.size_bytes,
            sha256: r.sha256,
            created_at: Timestamp::from_db(r.created_at),
            updated_at: Timestamp::from_db(r.updated_at),
            version: r.version,
        }
    }
}

pub(super) fn load_image(conn: &mut DbConn, id: &ImageId) -> QueryResult<Option<DiagnosticImage>> {
    Ok(diagnostic_images::table
        .find(id.as_str())
        .select(ImageRow::as_select())
        .first(conn)
        .optional()?
        .map(DiagnosticImage::from))
}

pub(super) fn lock_image(conn: &mut DbConn, id: &ImageId) -> QueryResult<bool> {
    crate::db::sql::lock_row(conn, "diagnostic_images", id.as_str())
}

pub(super) fn insert_image(
    conn: &mut DbConn,
    id: &ImageId,
    new: &NewImage,
    doctor: Option<&DoctorId>,
    created_by: Option<&str>,
) -> QueryResult<()> {
    let t = now();
    diesel::insert_into(diagnostic_images::table)
        .values((
            diagnostic_images::id.eq(id.as_str()),
            diagnostic_images::patient_id.eq(new.patient_id.as_str()),
            diagnostic_images::doctor_id.eq(doctor.map(DoctorId::as_str)),
            diagnostic_images::lab_order_id.eq(new.lab_order_id.as_ref().map(|o| o.as_str())),
            diagnostic_images::modality.eq(new.modality.as_str()),
            diagnostic_images::body_site.eq(&new.body_site),
            diagnostic_images::description.eq(&new.description),
            diagnostic_images::taken_at.eq(new.taken_at.map(Timestamp::naive)),
            diagnostic_images::status.eq(ImageStatus::PendingUpload.as_str()),
            diagnostic_images::created_by.eq(created_by),
            diagnostic_images::created_at.eq(t),
            diagnostic_images::updated_at.eq(t),
            diagnostic_images::version.eq(1),
        ))
        .execute(conn)?;
    Ok(())
}

/// Makes a pending image available with its content; `false` if it changed meanwhile.
pub(super) fn set_content(
    conn: &mut DbConn,
    image: &DiagnosticImage,
    blob_key: &str,
    content_type: &str,
    stored: &Stored,
) -> QueryResult<bool> {
    crate::update_versioned!(
        conn,
        diagnostic_images,
        image.id.as_str(),
        image.version,
        (
            t::status.eq(ImageStatus::Available.as_str()),
            t::content_type.eq(content_type),
            t::size_bytes.eq(stored.size as i64),
            t::sha256.eq(&stored.sha256),
            t::blob_key.eq(blob_key),
        )
    )
}

#[derive(Queryable)]
struct ContentRow {
    blob_key: Option<String>,
    content_type: Option<String>,
    size_bytes: Option<i64>,
    sha256: Option<String>,
}

/// Where an available image's bytes are, and what they are.
pub(super) fn content_of(conn: &mut DbConn, id: &ImageId) -> QueryResult<Option<Content>> {
    let row: Option<ContentRow> = diagnostic_images::table
        .find(id.as_str())
        .filter(diagnostic_images::status.eq(ImageStatus::Available.as_str()))
        .select((
            diagnostic_images::blob_key,
            diagnostic_images::content_type,
            diagnostic_images::size_bytes,
            diagnostic_images::sha256,
        ))
        .first(conn)
        .optional()?;
    Ok(match row {
        Some(ContentRow {
            blob_key: Some(blob_key),
            content_type: Some(content_type),
            size_bytes: Some(size),
            sha256: Some(sha256),
        }) => Some(Content {
            blob_key,
            content_type,
            size: size as u64,
            sha256,
        }),
        _ => None,
    })
}

/// The images in reach matching `f`, by id, after the id `after`.
pub(super) fn list_images(
    conn: &mut DbConn,
    scope: &Scope,
    level: Level,
    f: &ImageFilter,
    after: Option<&str>,
    limit: i64,
) -> Result<Vec<DiagnosticImage>> {
    let mut q = diagnostic_images::table
        .select(ImageRow::as_select())
        .order(diagnostic_images::id)
        .limit(limit)
        .into_boxed();
    for c in image_conditions(scope, level, f) {
        q = q.filter(c);
    }
    if let Some(a) = after {
        q = q.filter(diagnostic_images::id.gt(a.to_string()));
    }
    Ok(q.load::<ImageRow>(conn)?
        .into_iter()
        .map(DiagnosticImage::from)
        .collect())
}

/// How many image records in `scope` match `f`.
pub(super) fn count_images(
    conn: &mut DbConn,
    scope: &Scope,
    level: Level,
    f: &ImageFilter,
) -> Result<i64> {
    let mut q = diagnostic_images::table.into_boxed();
    for c in image_conditions(scope, level, f) {
        q = q.filter(c);
    }
    Ok(q.count().get_result(conn)?)
}

/// The conditions of an image search, the same for a page and for the count.
fn image_conditions(
    scope: &Scope,
    level: Level,
    f: &ImageFilter,
) -> Vec<Condition<diagnostic_images::table>> {
    let mut out: Vec<Condition<diagnostic_images::table>> = Vec::new();
    if !is_lab(scope) {
        let own = scope.doctor_rows(diagnostic_images::doctor_id.assume_not_null());
        out.extend(scope.filter(level, diagnostic_images::patient_id, own));
    }
    if let Some(v) = &f.patient_id {
        out.push(Box::new(diagnostic_images::patient_id.eq(v.to_string())));
    }
    if let Some(v) = &f.lab_order_id {
        out.push(Box::new(
            diagnostic_images::lab_order_id
                .assume_not_null()
                .eq(v.to_string()),
        ));
    }
    if let Some(v) = f.modality {
        out.push(Box::new(diagnostic_images::modality.eq(v.as_str())));
    }
    if let Some(v) = f.status {
        out.push(Box::new(diagnostic_images::status.eq(v.as_str())));
    }
    if let Some(v) = f.from {
        out.push(Box::new(diagnostic_images::created_at.ge(v.naive())));
    }
    if let Some(v) = f.to {
        out.push(Box::new(diagnostic_images::created_at.lt(v.naive())));
    }
    out
}
