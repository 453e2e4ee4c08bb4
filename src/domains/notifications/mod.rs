//! Notifications: created in the same transaction as the event that causes them, listed by
//! their owner, streamed live over SSE with `Last-Event-ID` replay.

pub mod routes;

use diesel::prelude::*;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::db::schema::notifications;
use crate::db::{new_id, now, Backend, Tx};
use crate::http::ApiError;

#[derive(Debug, Clone, Queryable, Selectable, Insertable, Serialize, Deserialize, ToSchema)]
#[diesel(table_name = notifications)]
pub struct Notification {
    pub id: String,
    pub user_id: String,
    pub kind: String,
    pub title: String,
    pub body: String,
    pub resource_type: Option<String>,
    pub resource_id: Option<String>,
    #[serde(with = "crate::http::utc_naive")]
    #[schema(value_type = String, format = DateTime)]
    pub created_at: chrono::NaiveDateTime,
    #[serde(with = "crate::http::utc_naive_opt")]
    #[schema(value_type = Option<String>, format = DateTime)]
    pub read_at: Option<chrono::NaiveDateTime>,
}

/// What a flow says when it notifies someone.
pub struct NewNotification<'a> {
    pub user_id: &'a str,
    pub kind: &'a str,
    pub title: String,
    pub body: String,
    pub resource_type: Option<&'a str>,
    pub resource_id: Option<&'a str>,
}

/// Creates a notification inside the caller's transaction and arranges its live delivery after
/// commit (PostgreSQL: `pg_notify`, delivered by the server at commit to every node).
pub fn notify(tx: &mut Tx, n: NewNotification) -> Result<Notification, ApiError> {
    let row = Notification {
        id: new_id(),
        user_id: n.user_id.to_string(),
        kind: n.kind.to_string(),
        title: n.title,
        body: n.body,
        resource_type: n.resource_type.map(str::to_string),
        resource_id: n.resource_id.map(str::to_string),
        created_at: now(),
        read_at: None,
    };
    diesel::insert_into(notifications::table)
        .values(&row)
        .execute(tx.conn)?;
    match tx.backend() {
        Backend::Postgres => {
            let mut payload = serde_json::to_string(&row).map_err(ApiError::internal)?;
            // PostgreSQL refuses NOTIFY payloads of 8000 bytes or more: a large notification
            // travels as a reference that the listener loads after commit.
            if payload.len() >= crate::realtime::PG_PAYLOAD_LIMIT {
                payload = serde_json::json!({ "ref": row.id }).to_string();
            }
            diesel::sql_query("SELECT pg_notify($1, $2)")
                .bind::<diesel::sql_types::Text, _>(crate::realtime::PG_CHANNEL)
                .bind::<diesel::sql_types::Text, _>(payload)
                .execute(tx.conn)?;
        }
        Backend::Sqlite => tx.after_commit.push(row.clone()),
    }
    Ok(row)
}

/// Notifies the user linked to a patient, if the patient has an account.
pub fn notify_patient(
    tx: &mut Tx,
    patient_id: &str,
    kind: &str,
    title: String,
    body: String,
    resource: (&str, &str),
) -> Result<(), ApiError> {
    use crate::db::schema::patients;
    let user = patients::table
        .find(patient_id)
        .select(patients::user_id)
        .first(tx.conn)
        .optional()?
        .flatten();
    notify_account(tx, user, kind, title, body, resource)
}

/// Notifies the user linked to a doctor, if the doctor has an account.
pub fn notify_doctor(
    tx: &mut Tx,
    doctor_id: &str,
    kind: &str,
    title: String,
    body: String,
    resource: (&str, &str),
) -> Result<(), ApiError> {
    use crate::db::schema::doctors;
    let user = doctors::table
        .find(doctor_id)
        .select(doctors::user_id)
        .first(tx.conn)
        .optional()?
        .flatten();
    notify_account(tx, user, kind, title, body, resource)
}

fn notify_account(
    tx: &mut Tx,
    user_id: Option<String>,
    kind: &str,
    title: String,
    body: String,
    resource: (&str, &str),
) -> Result<(), ApiError> {
    if let Some(user_id) = user_id {
        notify(
            tx,
            NewNotification {
                user_id: &user_id,
                kind,
                title,
                body,
                resource_type: Some(resource.0),
                resource_id: Some(resource.1),
            },
        )?;
    }
    Ok(())
}
