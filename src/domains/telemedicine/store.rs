//! The telemedicine tables' queries: visits, video sessions, chat, chat tickets.

use diesel::prelude::*;

use super::chat::{ChatMessage, ChatSearch, MessageId};
use super::video::{SessionId, VideoSession};
use super::{NewVisit, VirtualVisit, VisitFilter, VisitId, VisitStatus, MAX_LENGTH_HOURS};
use crate::db::schema::{chat_logs, chat_tickets, video_sessions, virtual_visits};
use crate::db::{now, DbConn};
use crate::domains::appointments::AppointmentId;
use crate::kit::{Condition, DoctorId, PatientId, Result, Scope, Timestamp, UserId, WireEnum};

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = virtual_visits)]
struct VisitRow {
    id: String,
    patient_id: String,
    doctor_id: String,
    appointment_id: Option<String>,
    scheduled_start: chrono::NaiveDateTime,
    scheduled_end: chrono::NaiveDateTime,
    reason: Option<String>,
    status: String,
    cancel_reason: Option<String>,
    started_at: Option<chrono::NaiveDateTime>,
    ended_at: Option<chrono::NaiveDateTime>,
    created_at: chrono::NaiveDateTime,
    updated_at: chrono::NaiveDateTime,
    version: i32,
}

impl From<VisitRow> for VirtualVisit {
    fn from(r: VisitRow) -> VirtualVisit {
        VirtualVisit {
            id: VisitId::from_db(r.id),
            patient_id: PatientId::from_db(r.patient_id),
            doctor_id: DoctorId::from_db(r.doctor_id),
            appointment_id: r.appointment_id.map(AppointmentId::from_db),
            scheduled_start: Timestamp::from_db(r.scheduled_start),
            scheduled_end: Timestamp::from_db(r.scheduled_end),
            reason: r.reason,
            status: VisitStatus::parse(&r.status).unwrap_or(VisitStatus::Cancelled),
            cancel_reason: r.cancel_reason,
            started_at: r.started_at.map(Timestamp::from_db),
            ended_at: r.ended_at.map(Timestamp::from_db),
            created_at: Timestamp::from_db(r.created_at),
            updated_at: Timestamp::from_db(r.updated_at),
            version: r.version,
        }
    }
}

pub(super) fn load(conn: &mut DbConn, id: &VisitId) -> QueryResult<Option<VirtualVisit>> {
    Ok(virtual_visits::table
        .find(id.as_str())
        .select(VisitRow::as_select())
        .first(conn)
        .optional()?
        .map(VirtualVisit::from))
}

/// Holds the visit's row for the rest of the transaction (PostgreSQL `FOR NO KEY UPDATE`).
pub(super) fn lock(conn: &mut DbConn, id: &VisitId) -> QueryResult<bool> {
    crate::db::sql::lock_row(conn, "virtual_visits", id.as_str())
}

pub(super) fn insert(
    conn: &mut DbConn,
    id: &VisitId,
    new: &NewVisit,
    created_by: Option<&str>,
) -> QueryResult<()> {
    let t = now();
    diesel::insert_into(virtual_visits::table)
        .values((
            virtual_visits::id.eq(id.as_str()),
            virtual_visits::patient_id.eq(new.patient_id.as_str()),
            virtual_visits::doctor_id.eq(new.doctor_id.as_str()),
            virtual_visits::appointment_id.eq(new.appointment_id.as_ref().map(|a| a.as_str())),
            virtual_visits::scheduled_start.eq(new.scheduled_start.naive()),
            virtual_visits::scheduled_end.eq(new.scheduled_end.naive()),
            virtual_visits::reason.eq(&new.reason),
            virtual_visits::status.eq(VisitStatus::Scheduled.as_str()),
            virtual_visits::created_by.eq(created_by),
            virtual_visits::created_at.eq(t),
            virtual_visits::updated_at.eq(t),
            virtual_visits::version.eq(1),
        ))
        .execute(conn)?;
    Ok(())
}

/// What a change of a visit sets.
pub(super) struct Changed {
    pub start: Timestamp,
    pub end: Timestamp,
    pub status: VisitStatus,
    pub reason: Option<String>,
    pub cancel_reason: Option<String>,
    pub started_at: Option<Timestamp>,
    pub ended_at: Option<Timestamp>,
}

/// The versioned update of a change; `false` when `version` is no longer the visit's.
pub(super) fn update(
    conn: &mut DbConn,
    id: &VisitId,
    version: i32,
    c: &Changed,
) -> QueryResult<bool> {
    crate::update_versioned!(
        conn,
        virtual_visits,
        id.as_str(),
        version,
        (
            t::scheduled_start.eq(c.start.naive()),
            t::scheduled_end.eq(c.end.naive()),
            t::status.eq(c.status.as_str()),
            t::reason.eq(&c.reason),
            t::cancel_reason.eq(&c.cancel_reason),
            t::started_at.eq(c.started_at.map(Timestamp::naive)),
            t::ended_at.eq(c.ended_at.map(Timestamp::naive)),
        )
    )
}

/// Does the doctor have a scheduled or in-progress visit, other than `except`, overlapping
/// [start, end)?
pub(super) fn clash(
    conn: &mut DbConn,
    doctor_id: &DoctorId,
    start: Timestamp,
    end: Timestamp,
    except: Option<&VisitId>,
) -> QueryResult<bool> {
    let open: Vec<&str> = VisitStatus::OPEN.iter().map(|s| s.as_str()).collect();
    let found: Option<String> = virtual_visits::table
        .filter(virtual_visits::doctor_id.eq(doctor_id.as_str()))
        .filter(virtual_visits::status.eq_any(open))
        .filter(virtual_visits::scheduled_start.lt(end.naive()))
        // No visit is longer than MAX_LENGTH_HOURS: the lower bound keeps the index read to
        // that window (as appointments' clash does).
        .filter(
            virtual_visits::scheduled_start
                .gt((start - chrono::Duration::hours(MAX_LENGTH_HOURS)).naive()),
        )
        .filter(virtual_visits::scheduled_end.gt(start.naive()))
        .filter(virtual_visits::id.ne(except.map(VisitId::as_str).unwrap_or("")))
        .select(virtual_visits::id)
        .first(conn)
        .optional()?;
    Ok(found.is_some())
}

/// The visits in `scope` (their own patient's or doctor's) matching `f`, past the cursor
/// `after`, by `(scheduled_start, id)`, at most `limit`.
pub(super) fn list(
    conn: &mut DbConn,
    scope: &Scope,
    f: &VisitFilter,
    after: Option<(Timestamp, String)>,
    limit: i64,
) -> Result<Vec<VirtualVisit>> {
    let mut q = virtual_visits::table
        .select(VisitRow::as_select())
        .order((virtual_visits::scheduled_start, virtual_visits::id))
        .limit(limit)
        .into_boxed();
    for c in conditions(scope, f) {
        q = q.filter(c);
    }
    if let Some((t, id)) = after {
        q = q.filter(
            virtual_visits::scheduled_start
                .gt(t.naive())
                .or(virtual_visits::scheduled_start
                    .eq(t.naive())
                    .and(virtual_visits::id.gt(id))),
        );
    }
    Ok(q.load::<VisitRow>(conn)?
        .into_iter()
        .map(VirtualVisit::from)
        .collect())
}

/// How many visits in `scope` match `f`.
pub(super) fn count(conn: &mut DbConn, scope: &Scope, f: &VisitFilter) -> Result<i64> {
    let mut q = virtual_visits::table.into_boxed();
    for c in conditions(scope, f) {
        q = q.filter(c);
    }
    Ok(q.count().get_result(conn)?)
}

/// The conditions of a search, the same for a page and for the count.
fn conditions(scope: &Scope, f: &VisitFilter) -> Vec<Condition<virtual_visits::table>> {
    let mut out: Vec<Condition<virtual_visits::table>> = Vec::new();
    out.extend(scope.party_rows(virtual_visits::patient_id, virtual_visits::doctor_id));
    if let Some(v) = &f.patient_id {
        out.push(Box::new(virtual_visits::patient_id.eq(v.to_string())));
    }
    if let Some(v) = &f.doctor_id {
        out.push(Box::new(virtual_visits::doctor_id.eq(v.to_string())));
    }
    if let Some(v) = f.status {
        out.push(Box::new(virtual_visits::status.eq(v.as_str())));
    }
    if let Some(v) = f.from {
        out.push(Box::new(virtual_visits::scheduled_start.ge(v.naive())));
    }
    if let Some(v) = f.to {
        out.push(Box::new(virtual_visits::scheduled_start.lt(v.naive())));
    }
    out
}

// --- video sessions ---

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = video_sessions)]
struct SessionRow {
    id: String,
    virtual_visit_id: String,
    room: String,
    join_url: Option<String>,
    started_by: String,
    started_at: chrono::NaiveDateTime,
    ended_at: Option<chrono::NaiveDateTime>,
    duration_seconds: Option<i64>,
    version: i32,
}

impl From<SessionRow> for VideoSession {
    fn from(r: SessionRow) -> VideoSession {
        VideoSession {
            id: SessionId::from_db(r.id),
            virtual_visit_id: VisitId::from_db(r.virtual_visit_id),
            room: r.room,
            join_url: r.join_url,
            started_by: UserId::from_db(r.started_by),
            started_at: Timestamp::from_db(r.started_at),
            ended_at: r.ended_at.map(Timestamp::from_db),
            duration_seconds: r.duration_seconds,
            version: r.version,
        }
    }
}

pub(super) fn load_session(conn: &mut DbConn, id: &SessionId) -> QueryResult<Option<VideoSession>> {
    Ok(video_sessions::table
        .find(id.as_str())
        .select(SessionRow::as_select())
        .first(conn)
        .optional()?
        .map(VideoSession::from))
}

/// The visit's session without an end, if any.
pub(super) fn live_session(
    conn: &mut DbConn,
    visit: &VisitId,
) -> QueryResult<Option<VideoSession>> {
    Ok(video_sessions::table
        .filter(video_sessions::virtual_visit_id.eq(visit.as_str()))
        .filter(video_sessions::ended_at.is_null())
        .select(SessionRow::as_select())
        .first(conn)
        .optional()?
        .map(VideoSession::from))
}

pub(super) fn insert_session(conn: &mut DbConn, s: &VideoSession) -> QueryResult<()> {
    let t = now();
    diesel::insert_into(video_sessions::table)
        .values((
            video_sessions::id.eq(s.id.as_str()),
            video_sessions::virtual_visit_id.eq(s.virtual_visit_id.as_str()),
            video_sessions::room.eq(&s.room),
            video_sessions::join_url.eq(&s.join_url),
            video_sessions::started_by.eq(s.started_by.as_str()),
            video_sessions::started_at.eq(s.started_at.naive()),
            video_sessions::created_at.eq(t),
            video_sessions::updated_at.eq(t),
            video_sessions::version.eq(1),
        ))
        .execute(conn)?;
    Ok(())
}

/// Ends a session that has not ended yet; `false` when it already had.
pub(super) fn end_session(
    conn: &mut DbConn,
    s: &VideoSession,
    by: Option<&str>,
    at: Timestamp,
    duration_seconds: i64,
) -> QueryResult<bool> {
    let n = diesel::update(
        video_sessions::table
            .filter(video_sessions::id.eq(s.id.as_str()))
            .filter(video_sessions::ended_at.is_null()),
    )
    .set((
        video_sessions::ended_at.eq(at.naive()),
        video_sessions::ended_by.eq(by),
        video_sessions::duration_seconds.eq(duration_seconds),
        video_sessions::version.eq(video_sessions::version + 1),
        video_sessions::updated_at.eq(now()),
    ))
    .execute(conn)?;
    Ok(n == 1)
}

/// A visit's sessions, oldest first, after the session id `after`, at most `limit`.
pub(super) fn sessions_of(
    conn: &mut DbConn,
    visit: &VisitId,
    after: Option<&str>,
    limit: i64,
) -> QueryResult<Vec<VideoSession>> {
    let mut q = video_sessions::table
        .filter(video_sessions::virtual_visit_id.eq(visit.as_str()))
        .select(SessionRow::as_select())
        .order(video_sessions::id)
        .limit(limit)
        .into_boxed();
    if let Some(a) = after {
        q = q.filter(video_sessions::id.gt(a.to_string()));
    }
    Ok(q.load::<SessionRow>(conn)?
        .into_iter()
        .map(VideoSession::from)
        .collect())
}

// --- chat ---

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = chat_logs)]
struct MessageRow {
    id: String,
    virtual_visit_id: String,
    patient_id: String,
    doctor_id: String,
    sender_user_id: String,
    body: String,
    sent_at: chrono::NaiveDateTime,
}

impl From<MessageRow> for ChatMessage {
    fn from(r: MessageRow) -> ChatMessage {
        ChatMessage {
            id: MessageId::from_db(r.id),
            virtual_visit_id: VisitId::from_db(r.virtual_visit_id),
            patient_id: PatientId::from_db(r.patient_id),
            doctor_id: DoctorId::from_db(r.doctor_id),
            sender_user_id: UserId::from_db(r.sender_user_id),
            body: r.body,
            sent_at: Timestamp::from_db(r.sent_at),
        }
    }
}

pub(super) fn insert_message(conn: &mut DbConn, m: &ChatMessage) -> QueryResult<()> {
    diesel::insert_into(chat_logs::table)
        .values((
            chat_logs::id.eq(m.id.as_str()),
            chat_logs::virtual_visit_id.eq(m.virtual_visit_id.as_str()),
            chat_logs::patient_id.eq(m.patient_id.as_str()),
            chat_logs::doctor_id.eq(m.doctor_id.as_str()),
            chat_logs::sender_user_id.eq(m.sender_user_id.as_str()),
            chat_logs::body.eq(&m.body),
            chat_logs::sent_at.eq(m.sent_at.naive()),
        ))
        .execute(conn)?;
    Ok(())
}

/// A visit's messages after the message id `after` (all without), oldest first, at most
/// `limit`. Ids are taken under the visit's lock, so their order is the order of commit.
pub(super) fn messages(
    conn: &mut DbConn,
    visit: &VisitId,
    after: Option<&str>,
    limit: i64,
) -> QueryResult<Vec<ChatMessage>> {
    let mut q = chat_logs::table
        .filter(chat_logs::virtual_visit_id.eq(visit.as_str()))
        .select(MessageRow::as_select())
        .order(chat_logs::id)
        .limit(limit)
        .into_boxed();
    if let Some(a) = after {
        q = q.filter(chat_logs::id.gt(a.to_string()));
    }
    Ok(q.load::<MessageRow>(conn)?
        .into_iter()
        .map(ChatMessage::from)
        .collect())
}

/// The messages of every chat in `scope` (the caller's own visits; an admin's, all) that match
/// `f`, by id, after `after`, at most `limit`.
pub(super) fn search_messages(
    conn: &mut DbConn,
    scope: &Scope,
    f: &ChatSearch,
    after: Option<&str>,
    limit: i64,
) -> Result<Vec<ChatMessage>> {
    let mut q = chat_logs::table
        .select(MessageRow::as_select())
        .order(chat_logs::id)
        .limit(limit)
        .into_boxed();
    for c in message_conditions(scope, f) {
        q = q.filter(c);
    }
    if let Some(a) = after {
        q = q.filter(chat_logs::id.gt(a.to_string()));
    }
    Ok(q.load::<MessageRow>(conn)?
        .into_iter()
        .map(ChatMessage::from)
        .collect())
}

/// How many messages of the chats in `scope` match `f`.
pub(super) fn count_messages(conn: &mut DbConn, scope: &Scope, f: &ChatSearch) -> Result<i64> {
    let mut q = chat_logs::table.into_boxed();
    for c in message_conditions(scope, f) {
        q = q.filter(c);
    }
    Ok(q.count().get_result(conn)?)
}

/// The conditions of a chat search, the same for a page and for the count: the visit's
/// parties, as for reading one chat.
fn message_conditions(scope: &Scope, f: &ChatSearch) -> Vec<Condition<chat_logs::table>> {
    let mut out: Vec<Condition<chat_logs::table>> = Vec::new();
    out.extend(scope.party_rows(chat_logs::patient_id, chat_logs::doctor_id));
    if let Some(v) = &f.patient_id {
        out.push(Box::new(chat_logs::patient_id.eq(v.to_string())));
    }
    if let Some(v) = &f.visit_id {
        out.push(Box::new(chat_logs::virtual_visit_id.eq(v.to_string())));
    }
    if let Some(v) = f.from {
        out.push(Box::new(chat_logs::sent_at.ge(v.naive())));
    }
    if let Some(v) = f.to {
        out.push(Box::new(chat_logs::sent_at.lt(v.naive())));
    }
    out
}

pub(super) fn load_message(conn: &mut DbConn, id: &str) -> QueryResult<Option<ChatMessage>> {
    Ok(chat_logs::table
        .find(id)
        .select(MessageRow::as_select())
        .first(conn)
        .optional()?
        .map(ChatMessage::from))
}

/// The id of the visit's newest message, if any.
pub(super) fn newest_message(conn: &mut DbConn, visit: &VisitId) -> QueryResult<Option<String>> {
    chat_logs::table
        .filter(chat_logs::virtual_visit_id.eq(visit.as_str()))
        .select(chat_logs::id)
        .order(chat_logs::id.desc())
        .first(conn)
        .optional()
}

// --- chat tickets ---

/// Stores a ticket's hash; drops tickets that expired on the way.
pub(super) fn insert_ticket(
    conn: &mut DbConn,
    ticket_hash: &str,
    visit: &VisitId,
    token_hash: &str,
    expires_at: Timestamp,
) -> QueryResult<()> {
    diesel::delete(chat_tickets::table.filter(chat_tickets::expires_at.lt(now()))).execute(conn)?;
    diesel::insert_into(chat_tickets::table)
        .values((
            chat_tickets::ticket_hash.eq(ticket_hash),
            chat_tickets::virtual_visit_id.eq(visit.as_str()),
            chat_tickets::token_hash.eq(token_hash),
            chat_tickets::expires_at.eq(expires_at.naive()),
        ))
        .execute(conn)?;
    Ok(())
}

/// Takes a ticket for the visit: deletes it and returns the session token hash it was issued
/// under, if it existed, was for this visit and had not expired. A second take finds nothing.
pub(super) fn take_ticket(
    conn: &mut DbConn,
    ticket_hash: &str,
    visit: &VisitId,
) -> QueryResult<Option<String>> {
    let found: Option<(String, chrono::NaiveDateTime)> = chat_tickets::table
        .filter(chat_tickets::ticket_hash.eq(ticket_hash))
        .filter(chat_tickets::virtual_visit_id.eq(visit.as_str()))
        .select((chat_tickets::token_hash, chat_tickets::expires_at))
        .first(conn)
        .optional()?;
    let Some((token_hash, expires_at)) = found else {
        return Ok(None);
    };
    // The delete decides: of two sockets racing with one ticket, one deletes the row.
    let deleted =
        diesel::delete(chat_tickets::table.filter(chat_tickets::ticket_hash.eq(ticket_hash)))
            .execute(conn)?;
    Ok((deleted == 1 && expires_at > now()).then_some(token_hash))
}
