//! Patients and doctors, and the care team that links them.

pub mod care_team;
pub mod doctors;

use axum::extract::{Path, State};
use axum::http::HeaderMap;
use diesel::prelude::*;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::{router::OpenApiRouter, routes};

use crate::app::AppState;
use crate::auth::access::{can_reach_patient, link_care_team, on_care_team, Reach};
use crate::auth::permissions::Perm;
use crate::auth::Ctx;
use crate::db::schema::{counters, patients, users};
use crate::db::{contains_pattern, lower, new_id, now, DbConn, Tx};
use crate::http::{
    check_version, if_match, utc, ApiError, AppJson, AppQuery, Created, ListResponse, PageParams,
    Tagged, Validator,
};

pub use doctors::Doctor;

pub const SEXES: &[&str] = &["female", "male", "other", "unknown"];

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(create_patient_route, list_patients))
        .routes(routes!(get_patient, patch_patient))
        .merge(doctors::router())
        .merge(care_team::router())
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct Patient {
    pub id: String,
    /// Medical record number: generated, unique, never reused.
    pub mrn: String,
    pub user_id: Option<String>,
    pub given_name: String,
    pub family_name: String,
    #[schema(value_type = String, format = Date)]
    pub birth_date: chrono::NaiveDate,
    pub sex: String,
    pub phone: Option<String>,
    pub email: Option<String>,
    pub address: Option<String>,
    pub created_at: chrono::DateTime<chrono::Utc>,
    pub updated_at: chrono::DateTime<chrono::Utc>,
    pub version: i32,
}

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = patients)]
pub struct PatientRow {
    pub id: String,
    pub mrn: String,
    pub user_id: Option<String>,
    pub given_name: String,
    pub family_name: String,
    pub birth_date: chrono::NaiveDate,
    pub sex: String,
    pub phone: Option<String>,
    pub email: Option<String>,
    pub address: Option<String>,
    pub created_at: chrono::NaiveDateTime,
    pub updated_at: chrono::NaiveDateTime,
    pub version: i32,
}

impl From<PatientRow> for Patient {
    fn from(r: PatientRow) -> Patient {
        Patient {
            id: r.id,
            mrn: r.mrn,
            user_id: r.user_id,
            given_name: r.given_name,
            family_name: r.family_name,
            birth_date: r.birth_date,
            sex: r.sex,
            phone: r.phone,
            email: r.email,
            address: r.address,
            created_at: utc(r.created_at),
            updated_at: utc(r.updated_at),
            version: r.version,
        }
    }
}

pub fn load_patient(conn: &mut DbConn, id: &str) -> QueryResult<Option<Patient>> {
    // The hottest read (every patient read, and workload 1 of the benchmark).
    let row = crate::on_backend!(conn, |c| patients::table
        .find(id)
        .select(PatientRow::as_select())
        .first(c)
        .optional())?;
    Ok(row.map(Patient::from))
}

/// Does this patient exist? For flows that must answer 409 on a dangling reference.
pub fn patient_exists(conn: &mut DbConn, id: &str) -> QueryResult<bool> {
    diesel::select(diesel::dsl::exists(patients::table.find(id))).get_result(conn)
}

pub struct NewPatient {
    pub given_name: String,
    pub family_name: String,
    pub birth_date: chrono::NaiveDate,
    pub sex: String,
    pub phone: Option<String>,
    pub email: Option<String>,
    pub address: Option<String>,
}

pub fn validate_patient(v: &mut Validator, p: &NewPatient) {
    v.text("given_name", &p.given_name, 1, 100);
    v.text("family_name", &p.family_name, 1, 100);
    v.one_of("sex", &p.sex, SEXES);
    validate_birth_date(v, p.birth_date);
    v.opt_text("phone", p.phone.as_deref(), 40);
    if let Some(e) = &p.email {
        v.email("email", e);
    }
    v.opt_text("address", p.address.as_deref(), 500);
}

fn validate_birth_date(v: &mut Validator, d: chrono::NaiveDate) {
    let today = chrono::Utc::now().date_naive();
    v.check(d <= today, "birth_date", "must not be in the future");
    v.check(
        d >= chrono::NaiveDate::from_ymd_opt(1880, 1, 1).expect("valid date"),
        "birth_date",
        "is implausibly early",
    );
}

/// Next MRN, from a counter row updated in the caller's transaction, so a number is never
/// handed out twice (rolled-back numbers are skipped, never reused).
fn next_mrn(conn: &mut DbConn) -> QueryResult<String> {
    diesel::update(counters::table.find("mrn"))
        .set(counters::value.eq(counters::value + 1))
        .execute(conn)?;
    let n: i64 = counters::table
        .find("mrn")
        .select(counters::value)
        .first(conn)?;
    Ok(format!("MRN{n:08}"))
}

/// Creates a patient in the caller's transaction.
pub fn create_patient(
    tx: &mut Tx,
    p: &NewPatient,
    user_id: Option<&str>,
) -> Result<Patient, ApiError> {
    let id = new_id();
    let mrn = next_mrn(tx.conn)?;
    let t = now();
    diesel::insert_into(patients::table)
        .values((
            patients::id.eq(&id),
            patients::mrn.eq(&mrn),
            patients::user_id.eq(user_id),
            patients::given_name.eq(p.given_name.trim()),
            patients::family_name.eq(p.family_name.trim()),
            patients::birth_date.eq(p.birth_date),
            patients::sex.eq(&p.sex),
            patients::phone.eq(&p.phone),
            patients::email.eq(&p.email),
            patients::address.eq(&p.address),
            patients::created_at.eq(t),
            patients::updated_at.eq(t),
            patients::version.eq(1),
        ))
        .execute(tx.conn)?;
    load_patient(tx.conn, &id)?.ok_or_else(|| ApiError::internal("patient vanished after insert"))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreatePatient {
    pub given_name: String,
    pub family_name: String,
    #[schema(value_type = String, format = Date)]
    pub birth_date: chrono::NaiveDate,
    pub sex: String,
    pub phone: Option<String>,
    pub email: Option<String>,
    pub address: Option<String>,
    /// Links an existing account that has no patient record yet.
    pub user_id: Option<String>,
}

/// Register a patient (admin, doctor). A doctor who registers a patient joins their care team.
#[utoipa::path(post, path = "/patients", tag = "patients", request_body = CreatePatient,
    responses((status = 201, body = Patient), (status = 403, body = crate::http::Problem),
        (status = 409, body = crate::http::Problem), (status = 422, body = crate::http::Problem)))]
async fn create_patient_route(
    State(state): State<AppState>,
    ctx: Ctx,
    AppJson(body): AppJson<CreatePatient>,
) -> Result<Created<Patient>, ApiError> {
    ctx.require(Perm::PatientsWrite, "create", "patient")?;
    if !ctx.principal.is_admin && ctx.principal.doctor_id.is_none() {
        return Err(ctx.denied(ApiError::forbidden(), "create", "patient", None, None));
    }
    let new = NewPatient {
        given_name: body.given_name,
        family_name: body.family_name,
        birth_date: body.birth_date,
        sex: body.sex,
        phone: body.phone,
        email: body.email,
        address: body.address,
    };
    let mut v = Validator::new();
    validate_patient(&mut v, &new);
    v.finish()?;
    let user_id = body.user_id;
    let actor = ctx.clone();
    let patient = state
        .db
        .write(move |tx| {
            if let Some(uid) = &user_id {
                let exists: i64 = users::table.find(uid).count().get_result(tx.conn)?;
                if exists == 0 {
                    return Err(ApiError::conflict("user_id does not name an existing user"));
                }
                let linked: i64 = patients::table
                    .filter(patients::user_id.eq(uid))
                    .count()
                    .get_result(tx.conn)?;
                if linked > 0 {
                    return Err(ApiError::conflict("this user already has a patient record"));
                }
            }
            let patient = create_patient(tx, &new, user_id.as_deref())?;
            if let Some(doctor_id) = &actor.principal.doctor_id {
                link_care_team(tx.conn, &patient.id, doctor_id, "registration", None)?;
            }
            crate::audit::record(
                tx.conn,
                &actor.entry("create", "patient", Some(&patient.id), Some(&patient.id)),
            )?;
            Ok(patient)
        })
        .await?;
    Ok(Created {
        location: format!("/api/v1/patients/{}", patient.id),
        version: Some(patient.version),
        body: patient,
    })
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct PatientFilter {
    /// Matches given or family name (every word must match one of them).
    pub q: Option<String>,
    pub mrn: Option<String>,
    #[param(value_type = Option<String>, format = Date)]
    pub birth_date: Option<chrono::NaiveDate>,
}

/// Search patients: admin and doctors see all demographics, a patient only themself.
#[utoipa::path(get, path = "/patients", tag = "patients", params(PatientFilter, PageParams),
    responses((status = 200, body = ListResponse<Patient>), (status = 403, body = crate::http::Problem)))]
async fn list_patients(
    State(state): State<AppState>,
    ctx: Ctx,
    AppQuery(f): AppQuery<PatientFilter>,
    AppQuery(page): AppQuery<PageParams>,
) -> Result<ListResponse<Patient>, ApiError> {
    ctx.require(Perm::PatientsRead, "search", "patient")?;
    let page = page.page()?;
    let scope = crate::auth::access::patient_scope(&ctx.principal, Reach::Demographics);
    let rows = state
        .db
        .read(move |conn| {
            let mut q = patients::table
                .select(PatientRow::as_select())
                .order(patients::id)
                .limit(page.limit + 1)
                .into_boxed();
            q = match scope {
                crate::auth::access::PatientScope::All => q,
                crate::auth::access::PatientScope::Only(id) => q.filter(patients::id.eq(id)),
                crate::auth::access::PatientScope::CareTeam(d) => {
                    q.filter(patients::id.eq_any(crate::auth::access::care_team_patients(d, now())))
                }
                crate::auth::access::PatientScope::Nothing => return Ok(Vec::new()),
            };
            if let Some(after) = page.after {
                q = q.filter(patients::id.gt(after));
            }
            if let Some(text) = f.q {
                for word in text.split_whitespace() {
                    let pattern = contains_pattern(word);
                    q = q.filter(
                        lower(patients::given_name)
                            .like(pattern.clone())
                            .escape('\\')
                            .or(lower(patients::family_name).like(pattern).escape('\\')),
                    );
                }
            }
            if let Some(mrn) = f.mrn {
                q = q.filter(patients::mrn.eq(mrn));
            }
            if let Some(d) = f.birth_date {
                q = q.filter(patients::birth_date.eq(d));
            }
            Ok(q.load(conn)?)
        })
        .await?;
    let items: Vec<Patient> = rows.into_iter().map(Patient::from).collect();
    // One entry per patient listed, so each patient's access log shows who found them.
    crate::auth::access::audit_search(
        &ctx,
        "patient",
        None,
        items
            .iter()
            .take(page.limit as usize)
            .map(|p| p.id.as_str()),
    );
    Ok(ListResponse::from_rows(items, page.limit, |p| p.id.clone()))
}

/// 403 unless the caller's roles grant `perm`; the denial is audited against the patient it
/// concerned, so it shows in that patient's access log.
pub(crate) fn require_for(ctx: &Ctx, perm: Perm, action: &str, id: &str) -> Result<(), ApiError> {
    if ctx.principal.perms.has(perm) {
        Ok(())
    } else {
        Err(ctx.denied(ApiError::forbidden(), action, "patient", Some(id), Some(id)))
    }
}

/// Read one patient's demographics (audited).
#[utoipa::path(get, path = "/patients/{id}", tag = "patients", params(("id" = String, Path)),
    responses((status = 200, body = Patient), (status = 403, body = crate::http::Problem),
        (status = 404, body = crate::http::Problem)))]
async fn get_patient(
    State(state): State<AppState>,
    ctx: Ctx,
    Path(id): Path<String>,
) -> Result<Tagged<Patient>, ApiError> {
    require_for(&ctx, Perm::PatientsRead, "read", &id)?;
    let principal = ctx.principal.clone();
    let pid = id.clone();
    let patient = state
        .db
        .read(move |conn| {
            if !can_reach_patient(conn, &principal, &pid, Reach::Demographics)? {
                return Ok(None);
            }
            Ok(load_patient(conn, &pid)?)
        })
        .await?;
    let Some(patient) = patient else {
        return Err(ctx.not_found("read", "patient", &id, Some(&id)));
    };
    ctx.audit_read("patient", Some(&id), Some(&id));
    Ok(Tagged(patient.version, patient))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PatchPatient {
    pub given_name: Option<String>,
    pub family_name: Option<String>,
    #[schema(value_type = Option<String>, format = Date)]
    pub birth_date: Option<chrono::NaiveDate>,
    pub sex: Option<String>,
    pub phone: Option<String>,
    pub email: Option<String>,
    pub address: Option<String>,
}

/// Change a patient: admin or a doctor on the care team; the patient only contact fields.
#[utoipa::path(patch, path = "/patients/{id}", tag = "patients", params(("id" = String, Path)),
    request_body = PatchPatient,
    responses((status = 200, body = Patient), (status = 403, body = crate::http::Problem),
        (status = 404, body = crate::http::Problem), (status = 412, body = crate::http::Problem),
        (status = 422, body = crate::http::Problem)))]
async fn patch_patient(
    State(state): State<AppState>,
    ctx: Ctx,
    Path(id): Path<String>,
    headers: HeaderMap,
    AppJson(body): AppJson<PatchPatient>,
) -> Result<Tagged<Patient>, ApiError> {
    require_for(&ctx, Perm::PatientsWrite, "update", &id)?;
    let mut v = Validator::new();
    if let Some(x) = &body.given_name {
        v.text("given_name", x, 1, 100);
    }
    if let Some(x) = &body.family_name {
        v.text("family_name", x, 1, 100);
    }
    if let Some(x) = &body.sex {
        v.one_of("sex", x, SEXES);
    }
    if let Some(d) = body.birth_date {
        validate_birth_date(&mut v, d);
    }
    v.opt_text("phone", body.phone.as_deref(), 40);
    if let Some(e) = &body.email {
        v.email("email", e);
    }
    v.opt_text("address", body.address.as_deref(), 500);
    v.finish()?;
    let expected = if_match(&headers)?;
    let actor = ctx.clone();
    let pid = id.clone();
    let patient = state
        .db
        .write(move |tx| {
            let p = &actor.principal;
            let current = load_patient(tx.conn, &pid)?;
            let allowed = match (&current, p.is_admin) {
                (None, _) => false,
                (Some(_), true) => true,
                (Some(_), false) => {
                    if p.patient_id.as_deref() == Some(pid.as_str()) {
                        let clinical = body.given_name.is_some()
                            || body.family_name.is_some()
                            || body.birth_date.is_some()
                            || body.sex.is_some();
                        if clinical {
                            return Err(actor.denied(
                                ApiError::forbidden(),
                                "update",
                                "patient",
                                Some(&pid),
                                Some(&pid),
                            ));
                        }
                        true
                    } else if let Some(d) = &p.doctor_id {
                        if !on_care_team(tx.conn, d, &pid)? {
                            return Err(actor.denied(
                                ApiError::forbidden(),
                                "update",
                                "patient",
                                Some(&pid),
                                Some(&pid),
                            ));
                        }
                        true
                    } else {
                        false
                    }
                }
            };
            let Some(current) = current.filter(|_| allowed) else {
                return Err(actor.not_found("update", "patient", &pid, Some(&pid)));
            };
            check_version(expected, current.version)?;
            diesel::update(patients::table.find(&pid))
                .set((
                    patients::given_name.eq(body
                        .given_name
                        .as_deref()
                        .map(str::trim)
                        .unwrap_or(&current.given_name)),
                    patients::family_name.eq(body
                        .family_name
                        .as_deref()
                        .map(str::trim)
                        .unwrap_or(&current.family_name)),
                    patients::birth_date.eq(body.birth_date.unwrap_or(current.birth_date)),
                    patients::sex.eq(body.sex.as_ref().unwrap_or(&current.sex)),
                    patients::phone.eq(body.phone.as_ref().or(current.phone.as_ref())),
                    patients::email.eq(body.email.as_ref().or(current.email.as_ref())),
                    patients::address.eq(body.address.as_ref().or(current.address.as_ref())),
                    patients::updated_at.eq(now()),
                    patients::version.eq(current.version + 1),
                ))
                .execute(tx.conn)?;
            crate::audit::record(
                tx.conn,
                &actor.entry("update", "patient", Some(&pid), Some(&pid)),
            )?;
            load_patient(tx.conn, &pid)?.ok_or_else(ApiError::not_found)
        })
        .await?;
    Ok(Tagged(patient.version, patient))
}
