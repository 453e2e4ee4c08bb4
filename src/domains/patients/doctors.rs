//! Doctors: created by admins (optionally with a login), readable by everyone signed in.

use axum::extract::{Path, State};
use axum::http::HeaderMap;
use diesel::prelude::*;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::{router::OpenApiRouter, routes};

use crate::app::AppState;
use crate::auth::permissions::{Perm, DOCTOR};
use crate::auth::Ctx;
use crate::db::schema::{doctors, roles, user_roles, users};
use crate::db::{contains_pattern, lower, new_id, now, DbConn, Tx};
use crate::domains::accounts::{create_user, NewUser};
use crate::http::{
    check_version, if_match, utc, ApiError, AppJson, AppQuery, Created, ListResponse, PageParams,
    Tagged, Validator,
};

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct Doctor {
    pub id: String,
    pub user_id: Option<String>,
    pub given_name: String,
    pub family_name: String,
    pub specialty: String,
    pub license_number: String,
    pub email: String,
    pub phone: Option<String>,
    pub created_at: chrono::DateTime<chrono::Utc>,
    pub updated_at: chrono::DateTime<chrono::Utc>,
    pub version: i32,
}

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = doctors)]
struct DoctorRow {
    id: String,
    user_id: Option<String>,
    given_name: String,
    family_name: String,
    specialty: String,
    license_number: String,
    email: String,
    phone: Option<String>,
    created_at: chrono::NaiveDateTime,
    updated_at: chrono::NaiveDateTime,
    version: i32,
}

impl From<DoctorRow> for Doctor {
    fn from(r: DoctorRow) -> Doctor {
        Doctor {
            id: r.id,
            user_id: r.user_id,
            given_name: r.given_name,
            family_name: r.family_name,
            specialty: r.specialty,
            license_number: r.license_number,
            email: r.email,
            phone: r.phone,
            created_at: utc(r.created_at),
            updated_at: utc(r.updated_at),
            version: r.version,
        }
    }
}

pub fn load_doctor(conn: &mut DbConn, id: &str) -> QueryResult<Option<Doctor>> {
    Ok(doctors::table
        .find(id)
        .select(DoctorRow::as_select())
        .first(conn)
        .optional()?
        .map(Doctor::from))
}

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(create_doctor_route, list_doctors))
        .routes(routes!(get_doctor, patch_doctor))
}

pub struct NewDoctor {
    pub given_name: String,
    pub family_name: String,
    pub specialty: String,
    pub license_number: String,
    pub email: String,
    pub phone: Option<String>,
}

/// Creates a doctor in the caller's transaction, linked to `user_id` when given (the account
/// gains the `doctor` role). A taken license number is 409.
pub fn create_doctor(
    tx: &mut Tx,
    d: &NewDoctor,
    user_id: Option<&str>,
) -> Result<Doctor, ApiError> {
    let taken: i64 = doctors::table
        .filter(doctors::license_number.eq(d.license_number.trim()))
        .count()
        .get_result(tx.conn)?;
    if taken > 0 {
        return Err(ApiError::conflict(
            "a doctor with this license number exists",
        ));
    }
    if let Some(uid) = user_id {
        let exists: i64 = users::table.find(uid).count().get_result(tx.conn)?;
        if exists == 0 {
            return Err(ApiError::conflict("user_id does not name an existing user"));
        }
        let linked: i64 = doctors::table
            .filter(doctors::user_id.eq(uid))
            .count()
            .get_result(tx.conn)?;
        if linked > 0 {
            return Err(ApiError::conflict("this user already has a doctor record"));
        }
        let role_id: String = roles::table
            .filter(roles::name.eq(DOCTOR))
            .select(roles::id)
            .first(tx.conn)?;
        let has: i64 = user_roles::table
            .filter(user_roles::user_id.eq(uid))
            .filter(user_roles::role_id.eq(&role_id))
            .count()
            .get_result(tx.conn)?;
        if has == 0 {
            diesel::insert_into(user_roles::table)
                .values((
                    user_roles::user_id.eq(uid),
                    user_roles::role_id.eq(&role_id),
                ))
                .execute(tx.conn)?;
        }
    }
    let id = new_id();
    let t = now();
    diesel::insert_into(doctors::table)
        .values((
            doctors::id.eq(&id),
            doctors::user_id.eq(user_id),
            doctors::given_name.eq(d.given_name.trim()),
            doctors::family_name.eq(d.family_name.trim()),
            doctors::specialty.eq(d.specialty.trim()),
            doctors::license_number.eq(d.license_number.trim()),
            doctors::email.eq(d.email.trim()),
            doctors::phone.eq(&d.phone),
            doctors::created_at.eq(t),
            doctors::updated_at.eq(t),
            doctors::version.eq(1),
        ))
        .execute(tx.conn)?;
    load_doctor(tx.conn, &id)?.ok_or_else(|| ApiError::internal("doctor vanished after insert"))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateDoctor {
    pub given_name: String,
    pub family_name: String,
    pub specialty: String,
    pub license_number: String,
    pub email: String,
    pub phone: Option<String>,
    /// Link an existing account (it gains the `doctor` role).
    pub user_id: Option<String>,
    /// Or create a login for the doctor with this password (email as login).
    pub password: Option<String>,
}

fn validate_doctor(v: &mut Validator, d: &NewDoctor) {
    v.text("given_name", &d.given_name, 1, 100);
    v.text("family_name", &d.family_name, 1, 100);
    v.text("specialty", &d.specialty, 1, 100);
    v.text("license_number", &d.license_number, 3, 50);
    v.email("email", &d.email);
    v.opt_text("phone", d.phone.as_deref(), 40);
}

/// Add a doctor (admin), optionally with a login.
#[utoipa::path(post, path = "/doctors", tag = "doctors", request_body = CreateDoctor,
    responses((status = 201, body = Doctor), (status = 403, body = crate::http::Problem),
        (status = 409, body = crate::http::Problem), (status = 422, body = crate::http::Problem)))]
async fn create_doctor_route(
    State(state): State<AppState>,
    ctx: Ctx,
    AppJson(body): AppJson<CreateDoctor>,
) -> Result<Created<Doctor>, ApiError> {
    ctx.require(Perm::DoctorsWrite, "create", "doctor")?;
    let new = NewDoctor {
        given_name: body.given_name,
        family_name: body.family_name,
        specialty: body.specialty,
        license_number: body.license_number,
        email: body.email,
        phone: body.phone,
    };
    let mut v = Validator::new();
    validate_doctor(&mut v, &new);
    if let Some(p) = &body.password {
        crate::auth::passwords::validate_new(&mut v, "password", p);
        v.check(
            body.user_id.is_none(),
            "password",
            "give either user_id or password, not both",
        );
    }
    v.finish()?;
    let cost = state.config.password_hash_cost;
    let hash = match body.password {
        Some(p) => Some(
            crate::db::spawn_lowered(move || crate::auth::passwords::hash(&p, cost))
                .await
                .map_err(ApiError::internal)?,
        ),
        None => None,
    };
    let user_id = body.user_id;
    let actor = ctx.clone();
    let doctor = state
        .db
        .write(move |tx| {
            let login = match hash {
                Some(password_hash) => Some(
                    create_user(
                        tx,
                        &NewUser {
                            email: new.email.clone(),
                            password_hash,
                            display_name: format!(
                                "Dr. {} {}",
                                new.given_name.trim(),
                                new.family_name.trim()
                            ),
                            roles: vec![DOCTOR.to_string()],
                        },
                    )?
                    .id,
                ),
                None => user_id,
            };
            let doctor = create_doctor(tx, &new, login.as_deref())?;
            crate::audit::record(
                tx.conn,
                &actor.entry("create", "doctor", Some(&doctor.id), None),
            )?;
            Ok(doctor)
        })
        .await?;
    if let Some(uid) = &doctor.user_id {
        state.sessions.forget_user(uid);
    }
    Ok(Created {
        location: format!("/api/v1/doctors/{}", doctor.id),
        version: Some(doctor.version),
        body: doctor,
    })
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct DoctorFilter {
    pub specialty: Option<String>,
    /// Matches given or family name.
    pub q: Option<String>,
}

/// The doctor directory (everyone signed in).
#[utoipa::path(get, path = "/doctors", tag = "doctors", params(DoctorFilter, PageParams),
    responses((status = 200, body = ListResponse<Doctor>)))]
async fn list_doctors(
    State(state): State<AppState>,
    _ctx: Ctx,
    AppQuery(f): AppQuery<DoctorFilter>,
    AppQuery(page): AppQuery<PageParams>,
) -> Result<ListResponse<Doctor>, ApiError> {
    let page = page.page()?;
    let rows = state
        .db
        .read(move |conn| {
            let mut q = doctors::table
                .select(DoctorRow::as_select())
                .order(doctors::id)
                .limit(page.limit + 1)
                .into_boxed();
            if let Some(after) = page.after {
                q = q.filter(doctors::id.gt(after));
            }
            if let Some(s) = f.specialty {
                q = q.filter(lower(doctors::specialty).eq(s.to_lowercase()));
            }
            if let Some(text) = f.q {
                for word in text.split_whitespace() {
                    let pattern = contains_pattern(word);
                    q = q.filter(
                        lower(doctors::given_name)
                            .like(pattern.clone())
                            .escape('\\')
                            .or(lower(doctors::family_name).like(pattern).escape('\\')),
                    );
                }
            }
            Ok(q.load(conn)?)
        })
        .await?;
    let items: Vec<Doctor> = rows.into_iter().map(Doctor::from).collect();
    Ok(ListResponse::from_rows(items, page.limit, |d| d.id.clone()))
}

#[utoipa::path(get, path = "/doctors/{id}", tag = "doctors", params(("id" = String, Path)),
    responses((status = 200, body = Doctor), (status = 404, body = crate::http::Problem)))]
async fn get_doctor(
    State(state): State<AppState>,
    _ctx: Ctx,
    Path(id): Path<String>,
) -> Result<Tagged<Doctor>, ApiError> {
    let d = state
        .db
        .read(move |conn| Ok(load_doctor(conn, &id)?))
        .await?
        .ok_or_else(ApiError::not_found)?;
    Ok(Tagged(d.version, d))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PatchDoctor {
    pub given_name: Option<String>,
    pub family_name: Option<String>,
    pub specialty: Option<String>,
    /// Admin only.
    pub license_number: Option<String>,
    pub email: Option<String>,
    pub phone: Option<String>,
}

/// Change a doctor: admin, or the doctor themself (not the license number).
#[utoipa::path(patch, path = "/doctors/{id}", tag = "doctors", params(("id" = String, Path)),
    request_body = PatchDoctor,
    responses((status = 200, body = Doctor), (status = 403, body = crate::http::Problem),
        (status = 404, body = crate::http::Problem), (status = 409, body = crate::http::Problem),
        (status = 412, body = crate::http::Problem), (status = 422, body = crate::http::Problem)))]
async fn patch_doctor(
    State(state): State<AppState>,
    ctx: Ctx,
    Path(id): Path<String>,
    headers: HeaderMap,
    AppJson(body): AppJson<PatchDoctor>,
) -> Result<Tagged<Doctor>, ApiError> {
    let is_self = ctx.principal.doctor_id.as_deref() == Some(id.as_str());
    let is_admin = ctx.principal.perms.has(Perm::DoctorsWrite);
    if !is_self && !is_admin {
        return Err(ctx.denied(ApiError::forbidden(), "update", "doctor", Some(&id), None));
    }
    if body.license_number.is_some() && !is_admin {
        return Err(ctx.denied(ApiError::forbidden(), "update", "doctor", Some(&id), None));
    }
    let mut v = Validator::new();
    for (field, value, min) in [
        ("given_name", &body.given_name, 1),
        ("family_name", &body.family_name, 1),
        ("specialty", &body.specialty, 1),
        ("license_number", &body.license_number, 3),
    ] {
        if let Some(x) = value {
            v.text(field, x, min, 100);
        }
    }
    if let Some(e) = &body.email {
        v.email("email", e);
    }
    v.opt_text("phone", body.phone.as_deref(), 40);
    v.finish()?;
    let expected = if_match(&headers)?;
    let doctor = state
        .db
        .write(move |tx| {
            let current = load_doctor(tx.conn, &id)?.ok_or_else(ApiError::not_found)?;
            check_version(expected, current.version)?;
            if let Some(l) = &body.license_number {
                let taken: i64 = doctors::table
                    .filter(doctors::license_number.eq(l.trim()))
                    .filter(doctors::id.ne(&id))
                    .count()
                    .get_result(tx.conn)?;
                if taken > 0 {
                    return Err(ApiError::conflict(
                        "a doctor with this license number exists",
                    ));
                }
            }
            let pick = |new: &Option<String>, old: &String| {
                new.as_deref().map(str::trim).unwrap_or(old).to_string()
            };
            diesel::update(doctors::table.find(&id))
                .set((
                    doctors::given_name.eq(pick(&body.given_name, &current.given_name)),
                    doctors::family_name.eq(pick(&body.family_name, &current.family_name)),
                    doctors::specialty.eq(pick(&body.specialty, &current.specialty)),
                    doctors::license_number.eq(pick(&body.license_number, &current.license_number)),
                    doctors::email.eq(pick(&body.email, &current.email)),
                    doctors::phone.eq(body.phone.as_ref().or(current.phone.as_ref())),
                    doctors::updated_at.eq(now()),
                    doctors::version.eq(current.version + 1),
                ))
                .execute(tx.conn)?;
            crate::audit::record(tx.conn, &ctx.entry("update", "doctor", Some(&id), None))?;
            load_doctor(tx.conn, &id)?.ok_or_else(ApiError::not_found)
        })
        .await?;
    Ok(Tagged(doctor.version, doctor))
}

/// Does this doctor exist? For flows that must answer 409 on a dangling reference.
pub fn doctor_exists(conn: &mut DbConn, id: &str) -> QueryResult<bool> {
    diesel::select(diesel::dsl::exists(doctors::table.find(id))).get_result(conn)
}
