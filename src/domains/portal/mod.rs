//! The patient portal: educational resources (`education.rs`), feedback (`feedback.rs`),
//! surveys (`surveys.rs`), and messages between users — private to their sender and receiver
//! (no route shows one to anyone else, admins included; audit entries name a message, never its
//! body), threaded, with inbox and sent boxes and read receipts.

mod education;
mod education_store;
mod feedback;
mod routes;
mod store;
mod survey_routes;
mod survey_store;
pub mod surveys;

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::auth::care_team;
use crate::auth::permissions::{ADMIN, PATIENT};
use crate::db::DbConn;
use crate::domains::notifications;
use crate::http::{ListResponse, Page};
use crate::kit::{
    Action, Actor, Audited, Error, Resource, Result, Timestamp, Tx, UserId, Validator,
};
use crate::wire_enum;

pub use education::{
    create as create_resource, recommend as recommend_resource, EducationalResource,
    NewRecommendation, NewResource, RecommendationId, ResourceId,
};
pub use feedback::{
    give as give_feedback, CategorySummary, Feedback, FeedbackCategory, NewFeedback,
};
pub use routes::router;

/// What the audit trail calls a message.
pub const MESSAGE: Resource = Resource::named("message");

crate::id_type!(
    /// A message.
    MessageId
);

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[schema(examples(crate::http::examples::message))]
pub struct Message {
    pub id: MessageId,
    /// The first message's id; replies share it.
    pub thread_id: String,
    pub reply_to: Option<MessageId>,
    pub sender_id: UserId,
    pub receiver_id: UserId,
    pub subject: String,
    pub body: String,
    pub sent_at: Timestamp,
    pub read_at: Option<Timestamp>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(examples(crate::http::examples::new_message))]
pub struct NewMessage {
    pub receiver_id: UserId,
    #[schema(min_length = 1)]
    pub subject: String,
    /// 1–10,000 characters.
    #[schema(min_length = 1)]
    pub body: String,
    /// A message of the caller's (sent or received): the new one joins its thread.
    pub reply_to: Option<MessageId>,
}

wire_enum!(
    /// Which box.
    MessageBox of "box" {
        Inbox = "inbox",
        Sent = "sent",
    }
);

#[derive(Debug, Clone, Default, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct BoxQuery {
    /// `inbox` (default) or `sent`.
    #[serde(rename = "box")]
    pub which: Option<MessageBox>,
    /// `true`: only unread (inbox).
    pub unread: Option<bool>,
}

/// May `from` write to `to`? A patient to a doctor of their care team or an admin; a doctor to
/// a patient whose care team they are on, or to any staff user; staff (every role but patient)
/// to staff; an admin to anyone.
fn may_write(
    conn: &mut DbConn,
    from: &crate::auth::Principal,
    to: &crate::auth::Principal,
) -> Result<bool> {
    let staff = |p: &crate::auth::Principal| p.roles.iter().any(|r| r != PATIENT);
    if from.is_admin || (staff(from) && staff(to)) {
        return Ok(true);
    }
    if let (Some(patient), Some(doctor)) = (&from.patient_id, &to.doctor_id) {
        if care_team::on_care_team(conn, doctor, patient)? {
            return Ok(true);
        }
    }
    if from.patient_id.is_some() && to.has_role(ADMIN) {
        return Ok(true);
    }
    if let (Some(doctor), Some(patient)) = (&from.doctor_id, &to.patient_id) {
        if care_team::on_care_team(conn, doctor, patient)? {
            return Ok(true);
        }
    }
    Ok(false)
}

/// Sends a message; 404 for a receiver the caller may not write to (or who does not exist or
/// is inactive). The receiver is told (`message`).
pub fn send(tx: &mut Tx, new: NewMessage) -> Result<Message> {
    let mut v = Validator::new();
    v.text("subject", new.subject.trim(), 1, 200);
    v.text("body", new.body.trim(), 1, 10_000);
    v.finish()?;
    let me = tx
        .actor()
        .principal()
        .cloned()
        .ok_or_else(|| Error::internal("a message is sent by a signed-in user"))?;
    let refused = |tx: &Tx| {
        tx.deny(
            Error::NotFound,
            Action::Create,
            MESSAGE,
            Some(new.receiver_id.as_str()),
            None,
        )
    };
    let Some(to) = store::active_principal(tx.conn(), &new.receiver_id)? else {
        return Err(refused(tx));
    };
    if to.user_id == me.user_id || !may_write(tx.conn(), &me, &to)? {
        return Err(refused(tx));
    }
    let thread_id = match &new.reply_to {
        Some(r) => match store::load(tx.conn(), r)? {
            Some(m)
                if m.sender_id.as_str() == me.user_id || m.receiver_id.as_str() == me.user_id =>
            {
                m.thread_id
            }
            _ => return Err(Error::conflict("reply_to does not name a message of yours")),
        },
        None => String::new(),
    };
    let id = MessageId::generate();
    let message = Message {
        thread_id: if thread_id.is_empty() {
            id.to_string()
        } else {
            thread_id
        },
        id,
        reply_to: new.reply_to.clone(),
        sender_id: UserId::from_db(me.user_id.clone()),
        receiver_id: new.receiver_id.clone(),
        subject: new.subject.trim().to_string(),
        body: new.body.trim().to_string(),
        sent_at: Timestamp::now(),
        read_at: None,
    };
    store::insert(tx.conn(), &message)?;
    tx.record(Action::Create, MESSAGE, Some(message.id.as_str()), None)?;
    notifications::notify(
        tx,
        &message.receiver_id,
        "message",
        format!("New message: {}", message.subject),
        "You have a new message in your portal inbox.".into(),
        Some((MESSAGE, message.id.as_str())),
    )?;
    Ok(message)
}

/// The message, if the caller sent or received it (404, audited, otherwise).
fn own(conn: &mut DbConn, actor: &Actor, id: &MessageId, action: Action) -> Result<Message> {
    let me = actor.user_id().unwrap_or_default();
    match store::load(conn, id)? {
        Some(m) if m.sender_id.as_str() == me || m.receiver_id.as_str() == me => Ok(m),
        _ => Err(actor.deny(Error::NotFound, action, MESSAGE, Some(id.as_str()), None)),
    }
}

/// One message of the caller's. Its read is audited by id (the body is never in the trail).
pub fn get(conn: &mut DbConn, actor: &Actor, id: &MessageId) -> Result<Audited<Message>> {
    let m = own(conn, actor, id, Action::Read)?;
    Ok(Audited::read(m, MESSAGE, id.as_str(), None))
}

/// The receiver marks a message read (again: unchanged).
pub fn mark_read(tx: &mut Tx, id: &MessageId) -> Result<Message> {
    let me = tx.actor().user_id().unwrap_or_default().to_string();
    let m = match store::load(tx.conn(), id)? {
        Some(m) if m.receiver_id.as_str() == me => m,
        Some(m) if m.sender_id.as_str() == me => {
            return Err(tx.deny(
                Error::forbidden("only the receiver marks a message read"),
                Action::Update,
                MESSAGE,
                Some(id.as_str()),
                None,
            ))
        }
        _ => {
            return Err(tx.deny(
                Error::NotFound,
                Action::Update,
                MESSAGE,
                Some(id.as_str()),
                None,
            ))
        }
    };
    if m.read_at.is_none() {
        store::mark_read(tx.conn(), id)?;
    }
    tx.record(Action::Update, MESSAGE, Some(id.as_str()), None)?;
    store::load(tx.conn(), id)?.ok_or(Error::NotFound)
}

/// The caller's inbox or sent box, newest first.
pub fn list(
    conn: &mut DbConn,
    actor: &Actor,
    q: BoxQuery,
    page: &Page,
) -> Result<Audited<ListResponse<Message>>> {
    let me = actor.user_id().unwrap_or_default().to_string();
    let which = q.which.unwrap_or(MessageBox::Inbox);
    let unread = q.unread == Some(true);
    let rows = store::boxed(
        conn,
        &me,
        which,
        unread,
        page.after.as_deref(),
        page.limit + 1,
    )?;
    let list = ListResponse::from_rows(rows, page.limit, |m| m.id.to_string());
    Ok(Audited::search(list, MESSAGE, None, []))
}

/// How many messages are in the caller's box (a FHIR search's total).
pub fn count(conn: &mut DbConn, actor: &Actor, q: &BoxQuery) -> Result<i64> {
    let me = actor.user_id().unwrap_or_default().to_string();
    let which = q.which.unwrap_or(MessageBox::Inbox);
    Ok(store::count_boxed(
        conn,
        &me,
        which,
        q.unread == Some(true),
    )?)
}

/// A thread's messages the caller sent or received, oldest first (404 when there are none).
pub fn thread(conn: &mut DbConn, actor: &Actor, thread_id: &str) -> Result<Audited<Vec<Message>>> {
    let me = actor.user_id().unwrap_or_default().to_string();
    let messages = store::thread(conn, thread_id, &me)?;
    if messages.is_empty() {
        return Err(actor.deny(
            Error::NotFound,
            Action::Read,
            MESSAGE,
            Some(thread_id),
            None,
        ));
    }
    Ok(Audited::read(messages, MESSAGE, thread_id, None))
}
