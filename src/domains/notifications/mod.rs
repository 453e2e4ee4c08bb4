//! Notifications: created in the same transaction as the event that causes them, listed by
//! their owner, streamed live over SSE with `Last-Event-ID` replay.

mod routes;
mod store;

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::db::DbConn;
use crate::domains::{accounts, patients};
use crate::http::{ListResponse, Page};
use crate::kit::{
    Action, DoctorId, Error, PatientId, Resource, Result, Timestamp, Tx, UserId, Validator,
};
use crate::realtime::Event;

pub use routes::router;

/// What the audit trail calls a notification.
pub const NOTIFICATION: Resource = Resource::named("notification");
/// The topic of notifications on the live hub.
pub const TOPIC: &str = "notification";

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[schema(examples(crate::http::examples::notification))]
pub struct Notification {
    pub id: String,
    pub user_id: UserId,
    pub kind: String,
    pub title: String,
    pub body: String,
    pub resource_type: Option<String>,
    pub resource_id: Option<String>,
    pub created_at: Timestamp,
    pub read_at: Option<Timestamp>,
}

#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct NotificationFilter {
    /// `true`: only unread ones.
    pub unread: Option<bool>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SystemMessage {
    pub user_id: UserId,
    #[schema(min_length = 1, max_length = 200)]
    pub title: String,
    #[schema(min_length = 1, max_length = 2000)]
    pub body: String,
}

/// Creates a notification for `user_id` in the caller's transaction; it reaches the user's
/// live streams once the transaction commits. `about` names the object it concerns.
pub fn notify(
    tx: &mut Tx,
    user_id: &UserId,
    kind: &str,
    title: String,
    body: String,
    about: Option<(Resource, &str)>,
) -> Result<Notification> {
    let n = Notification {
        id: crate::db::new_id(),
        user_id: user_id.clone(),
        kind: kind.to_string(),
        title,
        body,
        resource_type: about.map(|(r, _)| r.as_str().to_string()),
        resource_id: about.map(|(_, id)| id.to_string()),
        created_at: Timestamp::now(),
        read_at: None,
    };
    store::insert(tx.conn(), &n)?;
    tx.publish(Event {
        topic: TOPIC.to_string(),
        key: n.user_id.to_string(),
        id: n.id.clone(),
        data: Some(serde_json::to_string(&n).map_err(Error::internal)?),
    })?;
    Ok(n)
}

/// Notifies the user of a patient record, if the patient has an account.
pub fn notify_patient(
    tx: &mut Tx,
    patient_id: &PatientId,
    kind: &str,
    title: String,
    body: String,
    about: (Resource, &str),
) -> Result<()> {
    if let Some(user) = patients::account_of_patient(tx.conn(), patient_id)? {
        notify(tx, &user, kind, title, body, Some(about))?;
    }
    Ok(())
}

/// Notifies the user of a doctor record, if the doctor has an account.
pub fn notify_doctor(
    tx: &mut Tx,
    doctor_id: &DoctorId,
    kind: &str,
    title: String,
    body: String,
    about: (Resource, &str),
) -> Result<()> {
    if let Some(user) = patients::account_of_doctor(tx.conn(), doctor_id)? {
        notify(tx, &user, kind, title, body, Some(about))?;
    }
    Ok(())
}

/// Notifies an object's patient and doctor except the caller (who knows already): what a
/// booking, a cancellation or a video session starting tells "the other party". An admin
/// acting for both notifies both.
pub fn notify_other_parties(
    tx: &mut Tx,
    patient_id: &PatientId,
    doctor_id: &DoctorId,
    kind: &str,
    title: &str,
    body: String,
    about: (Resource, &str),
) -> Result<()> {
    let scope = tx.scope().clone();
    if !scope.is_doctor(doctor_id) {
        notify_doctor(tx, doctor_id, kind, title.into(), body.clone(), about)?;
    }
    if !scope.is_patient(patient_id) {
        notify_patient(tx, patient_id, kind, title.into(), body, about)?;
    }
    Ok(())
}

/// `notify`, unless the user still has an unread notification of this kind about this object:
/// at most one unread per object (a busy chat does not flood the inbox).
pub fn notify_unless_unread(
    tx: &mut Tx,
    user_id: &UserId,
    kind: &str,
    title: String,
    body: String,
    about: (Resource, &str),
) -> Result<()> {
    if store::has_unread(tx.conn(), user_id.as_str(), kind, about.1)? {
        return Ok(());
    }
    notify(tx, user_id, kind, title, body, Some(about))?;
    Ok(())
}

/// The caller's own notifications, newest first.
pub fn list_own(
    conn: &mut DbConn,
    user_id: &str,
    f: NotificationFilter,
    page: &Page,
) -> Result<ListResponse<Notification>> {
    let rows = store::list(conn, user_id, f.unread == Some(true), page)?;
    Ok(ListResponse::from_rows(rows, page.limit, |n| n.id.clone()))
}

/// How many of the user's notifications are unread.
pub fn unread_count(conn: &mut DbConn, user_id: &str) -> Result<i64> {
    Ok(store::unread_count(conn, user_id)?)
}

/// Up to 1,000 of the user's notifications created after `last` (an id), oldest first: what
/// a stream missed.
pub fn missed_since(conn: &mut DbConn, user_id: &str, last: &str) -> Result<Vec<Notification>> {
    Ok(store::missed_since(conn, user_id, last)?)
}

/// One of the user's notifications (an event that travelled without its data).
pub fn load_own(conn: &mut DbConn, id: &str, user_id: &str) -> Result<Option<Notification>> {
    Ok(store::load_own(conn, id, user_id)?)
}

/// Marks one of the caller's notifications read; someone else's is 404.
pub fn mark_read(tx: &mut Tx, id: &str) -> Result<Notification> {
    let user = tx.actor().user_id().unwrap_or_default().to_string();
    store::mark_read(tx.conn(), id, &user)?;
    let Some(n) = store::load_own(tx.conn(), id, &user)? else {
        return Err(tx.deny(
            Error::NotFound,
            Action::Update,
            NOTIFICATION,
            Some(id),
            None,
        ));
    };
    tx.record(Action::Update, NOTIFICATION, Some(id), None)?;
    Ok(n)
}

/// Marks every unread notification of the caller read; how many.
pub fn mark_all_read(tx: &mut Tx) -> Result<usize> {
    let user = tx.actor().user_id().unwrap_or_default().to_string();
    let n = store::mark_all_read(tx.conn(), &user)?;
    tx.record(Action::Update, NOTIFICATION, None, None)?;
    Ok(n)
}

/// A system message from an admin to one user.
pub fn send(tx: &mut Tx, m: SystemMessage) -> Result<Notification> {
    let mut v = Validator::new();
    v.text("title", &m.title, 1, 200);
    v.text("body", &m.body, 1, 2000);
    v.finish()?;
    if !accounts::user_exists(tx.conn(), &m.user_id)? {
        return Err(Error::conflict("user_id does not name an existing user"));
    }
    let n = notify(tx, &m.user_id, "system", m.title, m.body, None)?;
    tx.record(Action::Create, NOTIFICATION, Some(&n.id), None)?;
    Ok(n)
}
