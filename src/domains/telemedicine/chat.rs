//! A visit's chat: append-only messages, written by the visit's patient and doctor while the
//! visit is scheduled or in progress, the same rule over REST and the WebSocket. A message is
//! stored, then published to live sockets on every node once its transaction commits.

use rand::RngCore;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use utoipa::ToSchema;

use super::{lock_reachable, require_open, require_participant, store, VisitId};
use crate::auth::Principal;
use crate::db::DbConn;
use crate::domains::{notifications, patients};
use crate::http::{ListResponse, Page};
use crate::kit::{
    Action, Actor, Audited, DoctorId, Error, PatientId, Resource, Result, Timestamp, Tx, UserId,
    Validator,
};
use crate::realtime::Event;

/// What the audit trail calls a chat message (a read of the chat names the visit).
pub const CHAT: Resource = Resource::named("chat_message");
/// What the audit trail calls a ticket that opens a chat socket.
pub const TICKET: Resource = Resource::named("chat_ticket");
/// The topic of chat messages on the live hub; the event's key is the visit id.
pub const CHAT_TOPIC: &str = "chat";
/// The longest message, in characters.
pub const MAX_BODY_CHARS: usize = 4000;
/// How long a ticket opens a socket.
pub const TICKET_SECONDS: i64 = 60;

crate::id_type!(
    /// A chat message.
    MessageId as ChatMessageId
);

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct ChatMessage {
    pub id: MessageId,
    pub virtual_visit_id: VisitId,
    pub patient_id: PatientId,
    pub doctor_id: DoctorId,
    pub sender_user_id: UserId,
    pub body: String,
    pub sent_at: Timestamp,
}

/// A message, over REST or as a socket frame.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewChatMessage {
    /// 1–4,000 characters.
    #[schema(min_length = 1, max_length = 4000)]
    pub body: String,
}

/// `?after=`: only what came after this message.
#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ChatFilter {
    /// A message id: the messages after it.
    pub after: Option<MessageId>,
}

/// What opens a chat socket from a browser: single use, for 60 seconds.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct ChatTicket {
    pub ticket: String,
    pub expires_in: i64,
}

/// Posts a message to the visit's chat (its patient or doctor, while the visit is open), and
/// notifies the other party unless they have an unread chat notification of this visit. `at`
/// is now (the demo loader writes the past).
pub fn post(
    tx: &mut Tx,
    visit_id: &VisitId,
    m: NewChatMessage,
    at: Timestamp,
) -> Result<ChatMessage> {
    let mut v = Validator::new();
    if m.body.trim().is_empty() {
        v.error("body", "must not be blank");
    } else if m.body.chars().count() > MAX_BODY_CHARS {
        v.error("body", "is at most 4000 characters");
    }
    v.finish()?;
    let visit = lock_reachable(tx, visit_id, Action::Create, CHAT)?;
    require_participant(tx, &visit, CHAT, "write in its chat")?;
    require_open(&visit, "its chat is closed")?;
    let sender = tx
        .actor()
        .user_id()
        .map(|u| UserId::from_db(u.to_string()))
        .ok_or_else(|| Error::internal("a chat message is sent by a user"))?;
    // The id is taken under the visit's lock: a visit's ids sort in the order of commit,
    // which is what `after` replays by.
    let message = ChatMessage {
        id: MessageId::generate(),
        virtual_visit_id: visit_id.clone(),
        patient_id: visit.patient_id.clone(),
        doctor_id: visit.doctor_id.clone(),
        sender_user_id: sender,
        body: m.body,
        sent_at: at,
    };
    store::insert_message(tx.conn(), &message)?;
    let pid = Some(visit.patient_id.as_str());
    tx.record(Action::Create, CHAT, Some(message.id.as_str()), pid)?;
    tx.publish(Event {
        topic: CHAT_TOPIC.to_string(),
        key: visit_id.to_string(),
        id: message.id.to_string(),
        data: Some(serde_json::to_string(&message).map_err(Error::internal)?),
    })?;
    let other = if tx.scope().is_patient(&visit.patient_id) {
        patients::account_of_doctor(tx.conn(), &visit.doctor_id)?
    } else {
        patients::account_of_patient(tx.conn(), &visit.patient_id)?
    };
    if let Some(user) = other {
        notifications::notify_unless_unread(
            tx,
            &user,
            "chat_message",
            "New chat message".into(),
            "You have a new message in your virtual visit's chat.".into(),
            (super::VISIT, visit_id.as_str()),
        )?;
    }
    Ok(message)
}

/// The visit's chat, oldest first, after `after` (a message id), a page of them.
pub fn history(
    conn: &mut DbConn,
    actor: &Actor,
    visit_id: &VisitId,
    after: Option<MessageId>,
    page: &Page,
) -> Result<Audited<ListResponse<ChatMessage>>> {
    let visit = super::reachable(conn, actor, visit_id, CHAT)?;
    // The page cursor, when given, goes on from where the previous page ended.
    let after = page.after.clone().or(after.map(MessageId::into_string));
    let rows = store::messages(conn, visit_id, after.as_deref(), page.limit + 1)?;
    let list = ListResponse::from_rows(rows, page.limit, |m| m.id.to_string());
    let pid = visit.patient_id.as_str();
    Ok(Audited::search(list, CHAT, Some(pid), [pid]))
}

/// A search over every chat the caller takes part in (an admin: every chat).
#[derive(Debug, Clone, Default)]
pub struct ChatSearch {
    pub patient_id: Option<PatientId>,
    pub visit_id: Option<VisitId>,
    /// Sent at or after.
    pub from: Option<Timestamp>,
    /// Sent before.
    pub to: Option<Timestamp>,
}

/// A page of the messages of the chats the caller takes part in that match `f`, oldest first:
/// audited as a search of each patient on the page.
pub fn search(
    conn: &mut DbConn,
    actor: &Actor,
    f: ChatSearch,
    page: &Page,
) -> Result<Audited<ListResponse<ChatMessage>>> {
    let rows = store::search_messages(
        conn,
        actor.scope(),
        &f,
        page.after.as_deref(),
        page.limit + 1,
    )?;
    Ok(Audited::page(
        rows,
        page.limit,
        |m| m.id.to_string(),
        CHAT,
        f.patient_id.as_ref(),
        |m| &m.patient_id,
    ))
}

/// How many messages of the chats the caller takes part in match `f`.
pub fn count(conn: &mut DbConn, actor: &Actor, f: &ChatSearch) -> Result<i64> {
    store::count_messages(conn, actor.scope(), f)
}

/// One message, if the caller takes part in its visit (else 404, audited): a read of it.
pub fn get(conn: &mut DbConn, actor: &Actor, id: &MessageId) -> Result<Audited<ChatMessage>> {
    match store::load_message(conn, id.as_str())? {
        Some(m) if actor.scope().is_party(&m.patient_id, &m.doctor_id) => {
            let pid = m.patient_id.clone();
            Ok(Audited::read(m, CHAT, id.as_str(), Some(pid.as_str())))
        }
        _ => Err(actor.deny(Error::NotFound, Action::Read, CHAT, Some(id.as_str()), None)),
    }
}

/// What a socket opening replays: the messages after `after`, up to 1,000, and the id the
/// live stream goes on from (the newest message's when nothing is replayed). The caller has
/// reached the visit already.
pub fn replay(
    conn: &mut DbConn,
    visit_id: &VisitId,
    after: Option<&MessageId>,
) -> Result<(Vec<ChatMessage>, Option<String>)> {
    match after {
        Some(a) => {
            let missed = store::messages(conn, visit_id, Some(a.as_str()), 1000)?;
            let newest = missed
                .last()
                .map(|m| m.id.to_string())
                .or(Some(a.to_string()));
            Ok((missed, newest))
        }
        None => Ok((Vec::new(), store::newest_message(conn, visit_id)?)),
    }
}

/// What a socket catches up with after it fell behind: the messages after `last`.
pub fn missed_since(
    conn: &mut DbConn,
    visit_id: &VisitId,
    last: Option<&str>,
) -> Result<Vec<ChatMessage>> {
    Ok(store::messages(conn, visit_id, last, 1000)?)
}

/// The message a live event names, loaded when it travelled without its data.
pub fn load(conn: &mut DbConn, id: &str) -> Result<Option<ChatMessage>> {
    Ok(store::load_message(conn, id)?)
}

/// The visit a socket opens on, if the caller reaches it (404, audited, otherwise); its
/// opening is a read of the chat.
pub fn open(
    conn: &mut DbConn,
    actor: &Actor,
    visit_id: &VisitId,
) -> Result<Audited<super::VirtualVisit>> {
    let visit = super::reachable(conn, actor, visit_id, CHAT)?;
    let pid = visit.patient_id.clone();
    Ok(Audited::read(
        visit,
        CHAT,
        visit_id.as_str(),
        Some(pid.as_str()),
    ))
}

fn ticket_hash(ticket: &str) -> String {
    hex::encode(Sha256::digest(ticket.as_bytes()))
}

/// Issues a single-use ticket that opens the visit's chat socket for 60 seconds as the
/// caller's current session (`token_hash`): browsers cannot set headers on a WebSocket, and a
/// session token never goes into a URL. Only its hash is stored.
pub fn issue_ticket(tx: &mut Tx, visit_id: &VisitId, token_hash: &str) -> Result<ChatTicket> {
    let visit = lock_reachable(tx, visit_id, Action::Create, TICKET)?;
    let mut bytes = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    let ticket = hex::encode(bytes);
    let expires = Timestamp::now() + chrono::Duration::seconds(TICKET_SECONDS);
    store::insert_ticket(
        tx.conn(),
        &ticket_hash(&ticket),
        visit_id,
        token_hash,
        expires,
    )?;
    let pid = Some(visit.patient_id.as_str());
    tx.record(Action::Create, TICKET, Some(visit_id.as_str()), pid)?;
    Ok(ChatTicket {
        ticket,
        expires_in: TICKET_SECONDS,
    })
}

/// Redeems a ticket for the visit: the session it was issued under, once, if that session is
/// still live. An unknown, used, expired or other visit's ticket is 401, audited. Its use is
/// recorded as the ticket's user.
pub fn redeem_ticket(tx: &mut Tx, visit_id: &VisitId, ticket: &str) -> Result<Principal> {
    let refused = |tx: &Tx| {
        tx.deny(
            Error::Unauthorized,
            Action::Read,
            TICKET,
            Some(visit_id.as_str()),
            None,
        )
    };
    let Some(token_hash) = store::take_ticket(tx.conn(), &ticket_hash(ticket), visit_id)? else {
        return Err(refused(tx));
    };
    let Some(principal) = crate::auth::lookup_session(tx.conn(), &token_hash)? else {
        return Err(refused(tx));
    };
    let user = tx
        .actor()
        .clone()
        .as_user(&principal.user_id, Some(&principal.role));
    tx.record_as(&user, Action::Update, TICKET, Some(visit_id.as_str()), None)?;
    Ok(principal)
}
