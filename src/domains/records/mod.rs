//! Medical records: written by doctors on the patient's care team, never deleted; every change
//! is a new version kept in `medical_record_versions`.

use axum::extract::{Path, State};
use axum::http::HeaderMap;
use diesel::prelude::*;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::{router::OpenApiRouter, routes};

use crate::app::AppState;
use crate::auth::access::{
    audit_search, can_reach_patient, care_team_patients, link_care_team, Reach,
};
use crate::auth::permissions::Perm;
use crate::auth::{Ctx, Principal};
use crate::db::schema::{appointments, medical_record_versions, medical_records};
use crate::db::{lock_row, new_id, now, DbConn, Tx};
use crate::domains::patients::patient_exists;
use crate::http::{
    check_version, if_match, utc, ApiError, AppJson, AppQuery, Created, ListResponse, PageParams,
    Tagged, Validator,
};

pub const RECORD_TYPES: &[&str] = &[
    "visit_note",
    "diagnosis",
    "allergy",
    "immunization",
    "procedure",
    "other",
];
pub const FINAL: &str = "final";
pub const AMENDED: &str = "amended";
pub const ENTERED_IN_ERROR: &str = "entered_in_error";

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(create_record, list_records))
        .routes(routes!(get_record, patch_record))
        .routes(routes!(record_history))
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct MedicalRecord {
    pub id: String,
    pub patient_id: String,
    pub doctor_id: String,
    pub appointment_id: Option<String>,
    pub record_type: String,
    pub title: String,
    pub content: String,
    pub diagnosis_codes: Vec<String>,
    /// `final`, `amended` or `entered_in_error`.
    pub status: String,
    pub created_at: chrono::DateTime<chrono::Utc>,
    pub updated_at: chrono::DateTime<chrono::Utc>,
    pub version: i32,
}

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = medical_records)]
struct RecordRow {
    id: String,
    patient_id: String,
    doctor_id: String,
    appointment_id: Option<String>,
    record_type: String,
    title: String,
    content: String,
    diagnosis_codes: String,
    status: String,
    created_at: chrono::NaiveDateTime,
    updated_at: chrono::NaiveDateTime,
    version: i32,
}

impl From<RecordRow> for MedicalRecord {
    fn from(r: RecordRow) -> MedicalRecord {
        MedicalRecord {
            id: r.id,
            patient_id: r.patient_id,
            doctor_id: r.doctor_id,
            appointment_id: r.appointment_id,
            record_type: r.record_type,
            title: r.title,
            content: r.content,
            diagnosis_codes: serde_json::from_str(&r.diagnosis_codes).unwrap_or_default(),
            status: r.status,
            created_at: utc(r.created_at),
            updated_at: utc(r.updated_at),
            version: r.version,
        }
    }
}

fn load(conn: &mut DbConn, id: &str) -> QueryResult<Option<RecordRow>> {
    medical_records::table
        .find(id)
        .select(RecordRow::as_select())
        .first(conn)
        .optional()
}

/// One entry of a record's history.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct RecordVersion {
    pub version: i32,
    /// The user who wrote this version.
    pub changed_by: String,
    pub changed_at: chrono::DateTime<chrono::Utc>,
    pub record_type: String,
    pub title: String,
    pub content: String,
    pub diagnosis_codes: Vec<String>,
    pub status: String,
}

fn snapshot(conn: &mut DbConn, record_id: &str, user_id: &str) -> QueryResult<()> {
    let r = load(conn, record_id)?.ok_or(diesel::result::Error::NotFound)?;
    diesel::insert_into(medical_record_versions::table)
        .values((
            medical_record_versions::id.eq(new_id()),
            medical_record_versions::record_id.eq(&r.id),
            medical_record_versions::version.eq(r.version),
            medical_record_versions::changed_by.eq(user_id),
            medical_record_versions::changed_at.eq(r.updated_at),
            medical_record_versions::record_type.eq(&r.record_type),
            medical_record_versions::title.eq(&r.title),
            medical_record_versions::content.eq(&r.content),
            medical_record_versions::diagnosis_codes.eq(&r.diagnosis_codes),
            medical_record_versions::status.eq(&r.status),
        ))
        .execute(conn)?;
    Ok(())
}

pub struct NewRecord {
    pub patient_id: String,
    pub doctor_id: String,
    pub appointment_id: Option<String>,
    pub record_type: String,
    pub title: String,
    pub content: String,
    pub diagnosis_codes: Vec<String>,
}

fn validate_codes(v: &mut Validator, codes: &[String]) {
    v.check(codes.len() <= 50, "diagnosis_codes", "at most 50 codes");
    for c in codes {
        let ok = !c.trim().is_empty()
            && c.len() <= 20
            && c.chars()
                .all(|ch| ch.is_ascii_alphanumeric() || ch == '.' || ch == '-');
        if !ok {
            v.error(
                "diagnosis_codes",
                format!("`{c}` is not a code (e.g. ICD-10 `J45.909`)"),
            );
        }
    }
}

/// Writes a record (version 1) in the caller's transaction; links the doctor into the care team.
/// Reach has been checked by the caller.
pub fn create(tx: &mut Tx, ctx: &Ctx, new: &NewRecord) -> Result<MedicalRecord, ApiError> {
    let id = new_id();
    let t = now();
    let codes = serde_json::to_string(&new.diagnosis_codes).map_err(ApiError::internal)?;
    diesel::insert_into(medical_records::table)
        .values((
            medical_records::id.eq(&id),
            medical_records::patient_id.eq(&new.patient_id),
            medical_records::doctor_id.eq(&new.doctor_id),
            medical_records::appointment_id.eq(&new.appointment_id),
            medical_records::record_type.eq(&new.record_type),
            medical_records::title.eq(new.title.trim()),
            medical_records::content.eq(&new.content),
            medical_records::diagnosis_codes.eq(codes),
            medical_records::status.eq(FINAL),
            medical_records::created_at.eq(t),
            medical_records::updated_at.eq(t),
            medical_records::version.eq(1),
        ))
        .execute(tx.conn)?;
    snapshot(tx.conn, &id, ctx.user_id())?;
    link_care_team(
        tx.conn,
        &new.patient_id,
        &new.doctor_id,
        "medical_record",
        None,
    )?;
    crate::audit::record(
        tx.conn,
        &ctx.entry("create", "medical_record", Some(&id), Some(&new.patient_id)),
    )?;
    Ok(load(tx.conn, &id)?.ok_or_else(ApiError::not_found)?.into())
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateRecord {
    pub patient_id: String,
    /// Admins must name the doctor; a doctor writes as themself.
    pub doctor_id: Option<String>,
    pub appointment_id: Option<String>,
    pub record_type: String,
    pub title: String,
    pub content: String,
    #[serde(default)]
    pub diagnosis_codes: Vec<String>,
}

/// Write a record: a doctor on the patient's care team, or with an appointment with the patient.
#[utoipa::path(post, path = "/medical-records", tag = "medical-records", request_body = CreateRecord,
    responses((status = 201, body = MedicalRecord), (status = 403, body = crate::http::Problem),
        (status = 404, body = crate::http::Problem), (status = 409, body = crate::http::Problem),
        (status = 422, body = crate::http::Problem)))]
async fn create_record(
    State(state): State<AppState>,
    ctx: Ctx,
    AppJson(body): AppJson<CreateRecord>,
) -> Result<Created<MedicalRecord>, ApiError> {
    ctx.require(Perm::RecordsWrite, "create", "medical_record")?;
    let p = ctx.principal.clone();
    let doctor_id = match (&p.doctor_id, &body.doctor_id) {
        (Some(own), None) => own.clone(),
        (Some(own), Some(d)) if d == own => own.clone(),
        (Some(_), Some(_)) => {
            return Err(ctx.denied(
                ApiError::forbidden(),
                "create",
                "medical_record",
                None,
                Some(&body.patient_id),
            ))
        }
        (None, Some(d)) if p.is_admin => d.clone(),
        (None, None) if p.is_admin => {
            return Err(ApiError::field(
                "doctor_id",
                "is required when an admin writes a record",
            ))
        }
        (None, _) => {
            return Err(ctx.denied(
                ApiError::forbidden(),
                "create",
                "medical_record",
                None,
                Some(&body.patient_id),
            ))
        }
    };
    let mut v = Validator::new();
    v.one_of("record_type", &body.record_type, RECORD_TYPES);
    v.text("title", &body.title, 1, 200);
    v.text("content", &body.content, 1, 100_000);
    validate_codes(&mut v, &body.diagnosis_codes);
    v.finish()?;
    let new = NewRecord {
        patient_id: body.patient_id,
        doctor_id,
        appointment_id: body.appointment_id,
        record_type: body.record_type,
        title: body.title,
        content: body.content,
        diagnosis_codes: body.diagnosis_codes,
    };
    let actor = ctx.clone();
    let rec = state
        .db
        .write(move |tx| {
            if !patient_exists(tx.conn, &new.patient_id)? {
                return Err(ApiError::conflict(
                    "patient_id does not name an existing patient",
                ));
            }
            if !crate::domains::patients::doctors::doctor_exists(tx.conn, &new.doctor_id)? {
                return Err(ApiError::conflict(
                    "doctor_id does not name an existing doctor",
                ));
            }
            let via_appointment = match &new.appointment_id {
                Some(aid) => {
                    let appt: Option<(String, String)> = appointments::table
                        .find(aid)
                        .select((appointments::patient_id, appointments::doctor_id))
                        .first(tx.conn)
                        .optional()?;
                    // Another patient's appointment answers exactly like a missing one, so
                    // the response never reveals that it exists.
                    match appt {
                        Some((pid, did)) if pid == new.patient_id => did == new.doctor_id,
                        _ => {
                            return Err(ApiError::conflict(
                                "appointment_id does not name an appointment of this patient",
                            ))
                        }
                    }
                }
                None => false,
            };
            let reach = actor.principal.is_admin
                || via_appointment
                || crate::auth::access::on_care_team(tx.conn, &new.doctor_id, &new.patient_id)?;
            if !reach {
                return Err(actor.not_found(
                    "create",
                    "medical_record",
                    &new.patient_id,
                    Some(&new.patient_id),
                ));
            }
            create(tx, &actor, &new)
        })
        .await?;
    Ok(Created {
        location: format!("/api/v1/medical-records/{}", rec.id),
        version: Some(rec.version),
        body: rec,
    })
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct RecordFilter {
    pub patient_id: Option<String>,
    pub record_type: Option<String>,
    pub status: Option<String>,
}

/// Records the caller may reach: the patient's own, a doctor's care-team patients', all for admin.
#[utoipa::path(get, path = "/medical-records", tag = "medical-records", params(RecordFilter, PageParams),
    responses((status = 200, body = ListResponse<MedicalRecord>), (status = 403, body = crate::http::Problem)))]
async fn list_records(
    State(state): State<AppState>,
    ctx: Ctx,
    AppQuery(f): AppQuery<RecordFilter>,
    AppQuery(page): AppQuery<PageParams>,
) -> Result<ListResponse<MedicalRecord>, ApiError> {
    ctx.require(Perm::RecordsRead, "search", "medical_record")?;
    let page = page.page()?;
    let mut v = Validator::new();
    if let Some(t) = &f.record_type {
        v.one_of("record_type", t, RECORD_TYPES);
    }
    if let Some(s) = &f.status {
        v.one_of("status", s, &[FINAL, AMENDED, ENTERED_IN_ERROR]);
    }
    v.finish()?;
    let scope = crate::auth::access::patient_scope(&ctx.principal, Reach::Clinical);
    let patient_filter = f.patient_id.clone();
    let rows = state
        .db
        .read(move |conn| {
            use crate::auth::access::PatientScope;
            let mut q = medical_records::table
                .select(RecordRow::as_select())
                .order(medical_records::id)
                .limit(page.limit + 1)
                .into_boxed();
            q = match scope {
                PatientScope::All => q,
                PatientScope::Only(id) => q.filter(medical_records::patient_id.eq(id)),
                PatientScope::CareTeam(d) => {
                    q.filter(medical_records::patient_id.eq_any(care_team_patients(d, now())))
                }
                PatientScope::Nothing => return Ok(Vec::new()),
            };
            if let Some(a) = page.after {
                q = q.filter(medical_records::id.gt(a));
            }
            if let Some(v) = f.patient_id {
                q = q.filter(medical_records::patient_id.eq(v));
            }
            if let Some(v) = f.record_type {
                q = q.filter(medical_records::record_type.eq(v));
            }
            if let Some(v) = f.status {
                q = q.filter(medical_records::status.eq(v));
            }
            Ok(q.load(conn)?)
        })
        .await?;
    let items: Vec<MedicalRecord> = rows.into_iter().map(MedicalRecord::from).collect();
    let shown = items.len().min(page.limit as usize);
    audit_search(
        &ctx,
        "medical_record",
        patient_filter.as_deref(),
        items[..shown].iter().map(|r| r.patient_id.as_str()),
    );
    Ok(ListResponse::from_rows(items, page.limit, |r| r.id.clone()))
}

fn reachable(conn: &mut DbConn, p: &Principal, id: &str) -> QueryResult<Option<RecordRow>> {
    Ok(match load(conn, id)? {
        Some(r) if can_reach_patient(conn, p, &r.patient_id, Reach::Clinical)? => Some(r),
        _ => None,
    })
}

#[utoipa::path(get, path = "/medical-records/{id}", tag = "medical-records", params(("id" = String, Path)),
    responses((status = 200, body = MedicalRecord), (status = 404, body = crate::http::Problem)))]
async fn get_record(
    State(state): State<AppState>,
    ctx: Ctx,
    Path(id): Path<String>,
) -> Result<Tagged<MedicalRecord>, ApiError> {
    ctx.require(Perm::RecordsRead, "read", "medical_record")?;
    let p = ctx.principal.clone();
    let rid = id.clone();
    let row = state
        .db
        .read(move |conn| Ok(reachable(conn, &p, &rid)?))
        .await?;
    let Some(row) = row else {
        return Err(ctx.not_found("read", "medical_record", &id, None));
    };
    ctx.audit_read("medical_record", Some(&id), Some(&row.patient_id));
    let r = MedicalRecord::from(row);
    Ok(Tagged(r.version, r))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PatchRecord {
    pub record_type: Option<String>,
    pub title: Option<String>,
    pub content: Option<String>,
    pub diagnosis_codes: Option<Vec<String>>,
    /// Only `entered_in_error` may be set; any other change makes the record `amended`.
    pub status: Option<String>,
}

/// Amend a record (a doctor on the care team): a new version; `If-Match` honoured.
#[utoipa::path(patch, path = "/medical-records/{id}", tag = "medical-records", params(("id" = String, Path)),
    request_body = PatchRecord,
    responses((status = 200, body = MedicalRecord), (status = 403, body = crate::http::Problem),
        (status = 404, body = crate::http::Problem), (status = 409, body = crate::http::Problem),
        (status = 412, body = crate::http::Problem), (status = 422, body = crate::http::Problem)))]
async fn patch_record(
    State(state): State<AppState>,
    ctx: Ctx,
    Path(id): Path<String>,
    headers: HeaderMap,
    AppJson(body): AppJson<PatchRecord>,
) -> Result<Tagged<MedicalRecord>, ApiError> {
    ctx.require(Perm::RecordsWrite, "update", "medical_record")?;
    let mut v = Validator::new();
    if let Some(t) = &body.record_type {
        v.one_of("record_type", t, RECORD_TYPES);
    }
    if let Some(t) = &body.title {
        v.text("title", t, 1, 200);
    }
    if let Some(c) = &body.content {
        v.text("content", c, 1, 100_000);
    }
    if let Some(c) = &body.diagnosis_codes {
        validate_codes(&mut v, c);
    }
    if let Some(s) = &body.status {
        v.one_of("status", s, &[ENTERED_IN_ERROR, AMENDED]);
    }
    v.finish()?;
    let expected = if_match(&headers)?;
    let actor = ctx.clone();
    let rec = state
        .db
        .write(move |tx| {
            let p = actor.principal.clone();
            // Lock the row first (PostgreSQL): concurrent amendments queue here, so the
            // If-Match check and the next version number see the previous amendment.
            lock_row(tx.conn, "medical_records", &id)?;
            let Some(cur) = reachable(tx.conn, &p, &id)? else {
                return Err(actor.not_found("update", "medical_record", &id, None));
            };
            if p.doctor_id.is_none() && !p.is_admin {
                return Err(actor.denied(
                    ApiError::forbidden(),
                    "update",
                    "medical_record",
                    Some(&id),
                    Some(&cur.patient_id),
                ));
            }
            check_version(expected, cur.version)?;
            if cur.status == ENTERED_IN_ERROR {
                return Err(ApiError::new(
                    axum::http::StatusCode::CONFLICT,
                    "illegal-transition",
                    "a record entered in error cannot be changed",
                ));
            }
            let status = if body.status.as_deref() == Some(ENTERED_IN_ERROR) {
                ENTERED_IN_ERROR
            } else {
                AMENDED
            };
            let codes = match &body.diagnosis_codes {
                Some(c) => serde_json::to_string(c).map_err(ApiError::internal)?,
                None => cur.diagnosis_codes.clone(),
            };
            diesel::update(medical_records::table.find(&id))
                .set((
                    medical_records::record_type
                        .eq(body.record_type.as_ref().unwrap_or(&cur.record_type)),
                    medical_records::title.eq(body
                        .title
                        .as_deref()
                        .map(str::trim)
                        .unwrap_or(&cur.title)),
                    medical_records::content.eq(body.content.as_ref().unwrap_or(&cur.content)),
                    medical_records::diagnosis_codes.eq(codes),
                    medical_records::status.eq(status),
                    medical_records::updated_at.eq(now()),
                    medical_records::version.eq(cur.version + 1),
                ))
                .execute(tx.conn)?;
            snapshot(tx.conn, &id, actor.user_id())?;
            crate::audit::record(
                tx.conn,
                &actor.entry("update", "medical_record", Some(&id), Some(&cur.patient_id)),
            )?;
            Ok(MedicalRecord::from(
                load(tx.conn, &id)?.ok_or_else(ApiError::not_found)?,
            ))
        })
        .await?;
    Ok(Tagged(rec.version, rec))
}

/// Every version of a record, oldest first.
#[utoipa::path(get, path = "/medical-records/{id}/history", tag = "medical-records", params(("id" = String, Path)),
    responses((status = 200, body = Vec<RecordVersion>), (status = 404, body = crate::http::Problem)))]
async fn record_history(
    State(state): State<AppState>,
    ctx: Ctx,
    Path(id): Path<String>,
) -> Result<axum::Json<Vec<RecordVersion>>, ApiError> {
    ctx.require(Perm::RecordsRead, "read", "medical_record")?;
    let p = ctx.principal.clone();
    let rid = id.clone();
    let found = state
        .db
        .read(move |conn| {
            let Some(r) = reachable(conn, &p, &rid)? else {
                return Ok(None);
            };
            #[allow(clippy::type_complexity)]
            let rows: Vec<(
                i32,
                String,
                chrono::NaiveDateTime,
                String,
                String,
                String,
                String,
                String,
            )> = medical_record_versions::table
                .filter(medical_record_versions::record_id.eq(&rid))
                .order(medical_record_versions::version)
                .select((
                    medical_record_versions::version,
                    medical_record_versions::changed_by,
                    medical_record_versions::changed_at,
                    medical_record_versions::record_type,
                    medical_record_versions::title,
                    medical_record_versions::content,
                    medical_record_versions::diagnosis_codes,
                    medical_record_versions::status,
                ))
                .load(conn)?;
            Ok(Some((r.patient_id, rows)))
        })
        .await?;
    let Some((patient_id, rows)) = found else {
        return Err(ctx.not_found("read", "medical_record", &id, None));
    };
    ctx.audit_read("medical_record_history", Some(&id), Some(&patient_id));
    Ok(axum::Json(
        rows.into_iter()
            .map(
                |(version, changed_by, changed_at, record_type, title, content, codes, status)| {
                    RecordVersion {
                        version,
                        changed_by,
                        changed_at: utc(changed_at),
                        record_type,
                        title,
                        content,
                        diagnosis_codes: serde_json::from_str(&codes).unwrap_or_default(),
                        status,
                    }
                },
            )
            .collect(),
    ))
}
