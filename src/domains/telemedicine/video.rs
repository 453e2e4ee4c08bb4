//! Video sessions: rooms of an outside, room-based video service (Jitsi, LiveKit, ...). We make
//! the room's unguessable name and its join address from `HEALTHAPI_VIDEO_URL_TEMPLATE`; the
//! media never passes through this server.

use rand::RngCore;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::{
    lock_reachable, require_open, require_participant, store, Party, VirtualVisit, VisitId,
    VisitStatus, STATUS, VISIT,
};
use crate::db::DbConn;
use crate::domains::consent::{self, ConsentKind};
use crate::domains::notifications;
use crate::http::{ListResponse, Page};
use crate::kit::{Action, Actor, Audited, Error, Resource, Result, Timestamp, Tx, UserId};

/// What the audit trail calls a video session.
pub const SESSION: Resource = Resource::named("video_session");

crate::id_type!(
    /// A video session.
    SessionId
);

/// Random bytes in a room name: 160 bits, beyond guessing.
const ROOM_BYTES: usize = 20;

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct VideoSession {
    pub id: SessionId,
    pub virtual_visit_id: VisitId,
    /// The room's unguessable name at the video service.
    pub room: String,
    /// `HEALTHAPI_VIDEO_URL_TEMPLATE` with `{room}` filled in; null when no template is set.
    pub join_url: Option<String>,
    /// The user who started it.
    pub started_by: UserId,
    pub started_at: Timestamp,
    pub ended_at: Option<Timestamp>,
    /// Whole seconds from start to end, once ended.
    pub duration_seconds: Option<i64>,
    pub version: i32,
}

/// A new room name: `hv-` and 40 hex digits from the operating system's random source.
fn new_room() -> String {
    let mut bytes = [0u8; ROOM_BYTES];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    format!("hv-{}", hex::encode(bytes))
}

/// Starts a video session of the visit (its patient or doctor): the patient's telemedicine
/// consent is checked again, the visit must be scheduled or in progress and have no live
/// session; the first session moves the visit to `in_progress`. `url_template` is the
/// operator's `HEALTHAPI_VIDEO_URL_TEMPLATE`; `at` is now (the demo loader writes the past).
pub fn start(
    tx: &mut Tx,
    visit_id: &VisitId,
    url_template: Option<&str>,
    at: Timestamp,
) -> Result<VideoSession> {
    let visit = lock_reachable(tx, visit_id, Action::Create, SESSION)?;
    require_participant(tx, &visit, SESSION, "start its video session")?;
    require_open(&visit, "no video session can start")?;
    consent::require_consent(tx.conn(), &visit.patient_id, ConsentKind::Telemedicine)?;
    if store::live_session(tx.conn(), visit_id)?.is_some() {
        return Err(Error::conflict_of(
            "session-live",
            "the virtual visit already has a live video session; end it first",
        ));
    }
    let room = new_room();
    let user = tx
        .actor()
        .user_id()
        .map(|u| UserId::from_db(u.to_string()))
        .ok_or_else(|| Error::internal("a video session is started by a user"))?;
    let session = VideoSession {
        id: SessionId::generate(),
        virtual_visit_id: visit_id.clone(),
        join_url: url_template.map(|t| t.replace("{room}", &room)),
        room,
        started_by: user,
        started_at: at,
        ended_at: None,
        duration_seconds: None,
        version: 1,
    };
    store::insert_session(tx.conn(), &session)?;
    let pid = Some(visit.patient_id.as_str());
    tx.record(Action::Create, SESSION, Some(session.id.as_str()), pid)?;
    if visit.status == VisitStatus::Scheduled {
        let (from, to) = (VisitStatus::Scheduled, VisitStatus::InProgress);
        STATUS.take(
            tx,
            from,
            to,
            &[Party::VideoStart],
            VISIT,
            visit_id.as_str(),
            pid,
        )?;
        let changed = store::Changed {
            start: visit.scheduled_start,
            end: visit.scheduled_end,
            status: to,
            reason: visit.reason.clone(),
            cancel_reason: None,
            started_at: Some(session.started_at),
            ended_at: None,
        };
        if !store::update(tx.conn(), visit_id, visit.version, &changed)? {
            return Err(Error::Stale);
        }
        tx.record(Action::StateChange, VISIT, Some(visit_id.as_str()), pid)?;
    }
    notifications::notify_other_parties(
        tx,
        &visit.patient_id,
        &visit.doctor_id,
        "video_session_started",
        "Your virtual visit has started",
        "The video session of your virtual visit has started; join it now.".into(),
        (VISIT, visit_id.as_str()),
    )?;
    Ok(session)
}

/// Ends a live session (the visit's patient, doctor, or an admin clearing a stuck one): sets
/// `ended_at` and `duration_seconds`. A second end is 409.
pub fn end(tx: &mut Tx, id: &SessionId, at: Timestamp) -> Result<VideoSession> {
    let refused = |tx: &Tx| {
        tx.deny(
            Error::NotFound,
            Action::Update,
            SESSION,
            Some(id.as_str()),
            None,
        )
    };
    let Some(session) = store::load_session(tx.conn(), id)? else {
        return Err(refused(tx));
    };
    let visit = lock_reachable(tx, &session.virtual_visit_id, Action::Update, SESSION)?;
    // Read again under the visit's lock: another end may have committed meanwhile.
    let session = store::load_session(tx.conn(), id)?.ok_or_else(|| refused(tx))?;
    if session.ended_at.is_some() {
        return Err(Error::conflict_of(
            "illegal-transition",
            "the video session has already ended",
        ));
    }
    close(tx, &visit, &session, at)?;
    store::load_session(tx.conn(), id)?.ok_or(Error::NotFound)
}

/// Ends the session at `at`, with its duration, and records it.
fn close(tx: &mut Tx, visit: &VirtualVisit, session: &VideoSession, at: Timestamp) -> Result<()> {
    let duration = (at - session.started_at).num_seconds().max(0);
    let by = tx.actor().user_id().map(str::to_string);
    if !store::end_session(tx.conn(), session, by.as_deref(), at, duration)? {
        return Err(Error::conflict_of(
            "illegal-transition",
            "the video session has already ended",
        ));
    }
    let pid = Some(visit.patient_id.as_str());
    tx.record(Action::Update, SESSION, Some(session.id.as_str()), pid)
}

/// Ends the visit's live session, if any (the visit is being completed or cancelled; the
/// caller holds its lock).
pub(super) fn end_live(tx: &mut Tx, visit: &VirtualVisit, at: Timestamp) -> Result<()> {
    match store::live_session(tx.conn(), &visit.id)? {
        Some(live) => close(tx, visit, &live, at),
        None => Ok(()),
    }
}

/// One session, if the caller reaches its visit.
pub fn get(conn: &mut DbConn, actor: &Actor, id: &SessionId) -> Result<Audited<VideoSession>> {
    let refused = || {
        actor.deny(
            Error::NotFound,
            Action::Read,
            SESSION,
            Some(id.as_str()),
            None,
        )
    };
    let session = store::load_session(conn, id)?.ok_or_else(refused)?;
    let visit = match super::reachable(conn, actor, &session.virtual_visit_id, SESSION) {
        Ok(v) => v,
        Err(_) => return Err(Error::NotFound),
    };
    let pid = visit.patient_id.clone();
    Ok(Audited::read(
        session,
        SESSION,
        id.as_str(),
        Some(pid.as_str()),
    ))
}

/// The visit's sessions, oldest first, a page of them.
pub fn list(
    conn: &mut DbConn,
    actor: &Actor,
    visit_id: &VisitId,
    page: &Page,
) -> Result<Audited<ListResponse<VideoSession>>> {
    let visit = super::reachable(conn, actor, visit_id, SESSION)?;
    let rows = store::sessions_of(conn, visit_id, page.after.as_deref(), page.limit + 1)?;
    let list = ListResponse::from_rows(rows, page.limit, |s| s.id.to_string());
    let pid = visit.patient_id.as_str();
    Ok(Audited::search(list, SESSION, Some(pid), [pid]))
}
