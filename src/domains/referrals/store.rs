//! The referral tables' queries: the status graph, requests, transitions, notes.

use diesel::prelude::*;

use super::{
    HistoryEntry, NewReferral, NoteId, Party, ReferralCode, ReferralFilter, ReferralId,
    ReferralPriority, ReferralRequest, ReferralStatus, SpecialistNote, StatusArrow,
};
use crate::db::schema::{
    referral_requests, referral_status_arrows, referral_statuses, referral_transitions,
    specialist_notes,
};
use crate::db::{new_id, now, DbConn};
use crate::domains::appointments::AppointmentId;
use crate::kit::{DoctorId, Level, PatientId, Result, Scope, Timestamp, UserId, WireEnum};

/// Every status with its arrows, in the graph's order.
pub(super) fn statuses(conn: &mut DbConn) -> Result<Vec<ReferralStatus>> {
    let rows: Vec<(String, String, String, bool)> = referral_statuses::table
        .order(referral_statuses::position)
        .select((
            referral_statuses::id,
            referral_statuses::code,
            referral_statuses::display,
            referral_statuses::is_final,
        ))
        .load(conn)?;
    let arrows: Vec<(String, String, String)> = referral_status_arrows::table
        .select((
            referral_status_arrows::from_status_id,
            referral_status_arrows::to_status_id,
            referral_status_arrows::parties,
        ))
        .load(conn)?;
    let code_of = |id: &str| {
        rows.iter()
            .find(|r| r.0 == id)
            .and_then(|r| ReferralCode::parse(&r.1))
    };
    let mut out = Vec::new();
    for (id, code, display, is_final) in &rows {
        let Some(code) = ReferralCode::parse(code) else {
            continue;
        };
        let mut status_arrows: Vec<StatusArrow> = arrows
            .iter()
            .filter(|a| &a.0 == id)
            .filter_map(|(_, to, parties)| {
                let names: Vec<String> = serde_json::from_str(parties).unwrap_or_default();
                Some(StatusArrow {
                    to: code_of(to)?,
                    by: names.iter().filter_map(|n| Party::parse(n)).collect(),
                })
            })
            .collect();
        status_arrows.sort_by_key(|a| ReferralCode::ALL.iter().position(|c| *c == a.to));
        out.push(ReferralStatus {
            id: id.clone(),
            code,
            display: display.clone(),
            is_final: *is_final,
            next: status_arrows.iter().map(|a| a.to).collect(),
            arrows: status_arrows,
        });
    }
    Ok(out)
}

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = referral_requests)]
struct Row {
    id: String,
    patient_id: String,
    referring_doctor_id: String,
    specialist_id: String,
    status_id: String,
    status: String,
    reason: String,
    priority: String,
    specialty: Option<String>,
    appointment_id: Option<String>,
    created_at: chrono::NaiveDateTime,
    updated_at: chrono::NaiveDateTime,
    version: i32,
}

impl From<Row> for ReferralRequest {
    fn from(r: Row) -> ReferralRequest {
        ReferralRequest {
            id: ReferralId::from_db(r.id),
            patient_id: PatientId::from_db(r.patient_id),
            referring_doctor_id: DoctorId::from_db(r.referring_doctor_id),
            specialist_id: DoctorId::from_db(r.specialist_id),
            status_id: r.status_id,
            status: ReferralCode::parse(&r.status).unwrap_or(ReferralCode::Cancelled),
            reason: r.reason,
            priority: ReferralPriority::parse(&r.priority).unwrap_or(ReferralPriority::Routine),
            specialty: r.specialty,
            appointment_id: r.appointment_id.map(AppointmentId::from_db),
            created_at: Timestamp::from_db(r.created_at),
            updated_at: Timestamp::from_db(r.updated_at),
            version: r.version,
        }
    }
}

pub(super) fn load(conn: &mut DbConn, id: &ReferralId) -> QueryResult<Option<ReferralRequest>> {
    Ok(referral_requests::table
        .find(id.as_str())
        .select(Row::as_select())
        .first(conn)
        .optional()?
        .map(ReferralRequest::from))
}

pub(super) fn lock(conn: &mut DbConn, id: &ReferralId) -> QueryResult<bool> {
    crate::db::sql::lock_row(conn, "referral_requests", id.as_str())
}

pub(super) fn insert(
    conn: &mut DbConn,
    id: &ReferralId,
    new: &NewReferral,
    referring: &DoctorId,
    status: &ReferralStatus,
    created_by: Option<&str>,
) -> QueryResult<()> {
    let t = now();
    diesel::insert_into(referral_requests::table)
        .values((
            referral_requests::id.eq(id.as_str()),
            referral_requests::patient_id.eq(new.patient_id.as_str()),
            referral_requests::referring_doctor_id.eq(referring.as_str()),
            referral_requests::specialist_id.eq(new.specialist_id.as_str()),
            referral_requests::status_id.eq(&status.id),
            referral_requests::status.eq(status.code.as_str()),
            referral_requests::reason.eq(new.reason.trim()),
            referral_requests::priority
                .eq(new.priority.unwrap_or(ReferralPriority::Routine).as_str()),
            referral_requests::specialty.eq(&new.specialty),
            referral_requests::appointment_id.eq(new.appointment_id.as_ref().map(|a| a.as_str())),
            referral_requests::created_by.eq(created_by),
            referral_requests::created_at.eq(t),
            referral_requests::updated_at.eq(t),
            referral_requests::version.eq(1),
        ))
        .execute(conn)?;
    Ok(())
}

/// The versioned move to `status`; `false` when the referral moved meanwhile.
pub(super) fn move_to(
    conn: &mut DbConn,
    r: &ReferralRequest,
    status: &ReferralStatus,
    appointment: Option<&AppointmentId>,
) -> QueryResult<bool> {
    crate::update_versioned!(
        conn,
        referral_requests,
        r.id.as_str(),
        r.version,
        (
            t::status_id.eq(&status.id),
            t::status.eq(status.code.as_str()),
            t::appointment_id.eq(appointment.map(|a| a.as_str())),
        )
    )
}

pub(super) fn record_transition(
    conn: &mut DbConn,
    id: &ReferralId,
    from: Option<ReferralCode>,
    to: ReferralCode,
    by: Option<&str>,
    reason: Option<&str>,
) -> QueryResult<()> {
    diesel::insert_into(referral_transitions::table)
        .values((
            referral_transitions::id.eq(new_id()),
            referral_transitions::referral_request_id.eq(id.as_str()),
            referral_transitions::from_status.eq(from.map(|c| c.as_str())),
            referral_transitions::to_status.eq(to.as_str()),
            referral_transitions::by_user_id.eq(by),
            referral_transitions::at.eq(now()),
            referral_transitions::reason.eq(reason),
        ))
        .execute(conn)?;
    Ok(())
}

pub(super) fn history(conn: &mut DbConn, id: &ReferralId) -> QueryResult<Vec<HistoryEntry>> {
    type Step = (
        Option<String>,
        String,
        Option<String>,
        chrono::NaiveDateTime,
        Option<String>,
    );
    let rows: Vec<Step> = referral_transitions::table
        .filter(referral_transitions::referral_request_id.eq(id.as_str()))
        .order(referral_transitions::id)
        .select((
            referral_transitions::from_status,
            referral_transitions::to_status,
            referral_transitions::by_user_id,
            referral_transitions::at,
            referral_transitions::reason,
        ))
        .load(conn)?;
    Ok(rows
        .into_iter()
        .map(|(from, to, by, at, reason)| HistoryEntry {
            from: from.as_deref().and_then(ReferralCode::parse),
            to: ReferralCode::parse(&to).unwrap_or(ReferralCode::Cancelled),
            by: by.map(UserId::from_db),
            at: Timestamp::from_db(at),
            reason,
        })
        .collect())
}

/// Does the patient have another referral to this specialist that still keeps them on the care
/// team (neither rejected nor cancelled)?
pub(super) fn another_live_referral(conn: &mut DbConn, r: &ReferralRequest) -> QueryResult<bool> {
    let ended: Vec<&str> = ReferralCode::ENDS_LINK.iter().map(|c| c.as_str()).collect();
    let found: Option<String> = referral_requests::table
        .filter(referral_requests::patient_id.eq(r.patient_id.as_str()))
        .filter(referral_requests::specialist_id.eq(r.specialist_id.as_str()))
        .filter(referral_requests::id.ne(r.id.as_str()))
        .filter(referral_requests::status.ne_all(ended))
        .select(referral_requests::id)
        .first(conn)
        .optional()?;
    Ok(found.is_some())
}

/// The referrals in reach matching `f`, by id, after the id `after`.
pub(super) fn list(
    conn: &mut DbConn,
    scope: &Scope,
    f: &ReferralFilter,
    after: Option<&str>,
    limit: i64,
) -> Result<Vec<ReferralRequest>> {
    let mut q = referral_requests::table
        .select(Row::as_select())
        .order(referral_requests::id)
        .limit(limit)
        .into_boxed();
    for c in conditions(scope, f) {
        q = q.filter(c);
    }
    if let Some(a) = after {
        q = q.filter(referral_requests::id.gt(a.to_string()));
    }
    Ok(q.load::<Row>(conn)?
        .into_iter()
        .map(ReferralRequest::from)
        .collect())
}

/// How many referrals in `scope` match `f`.
pub(super) fn count(conn: &mut DbConn, scope: &Scope, f: &ReferralFilter) -> Result<i64> {
    let mut q = referral_requests::table.into_boxed();
    for c in conditions(scope, f) {
        q = q.filter(c);
    }
    Ok(q.count().get_result(conn)?)
}

/// The conditions of a search, the same for a page and for the count.
fn conditions(
    scope: &Scope,
    f: &ReferralFilter,
) -> Vec<crate::kit::Condition<referral_requests::table>> {
    let mut out: Vec<crate::kit::Condition<referral_requests::table>> = Vec::new();
    // A doctor's own referrals, made or received, besides the compartment.
    let own = scope.own_doctor().map(|d| {
        let d = d.as_str().to_string();
        Box::new(
            referral_requests::referring_doctor_id
                .eq(d.clone())
                .or(referral_requests::specialist_id.eq(d)),
        ) as crate::kit::Condition<referral_requests::table>
    });
    out.extend(scope.filter(Level::Clinical, referral_requests::patient_id, own));
    if let Some(v) = &f.patient_id {
        out.push(Box::new(referral_requests::patient_id.eq(v.to_string())));
    }
    if let Some(v) = &f.specialist_id {
        out.push(Box::new(referral_requests::specialist_id.eq(v.to_string())));
    }
    if let Some(v) = &f.referring_doctor_id {
        out.push(Box::new(
            referral_requests::referring_doctor_id.eq(v.to_string()),
        ));
    }
    if let Some(v) = f.status {
        out.push(Box::new(referral_requests::status.eq(v.as_str())));
    }
    if let Some(v) = f.from {
        out.push(Box::new(referral_requests::created_at.ge(v.naive())));
    }
    if let Some(v) = f.to {
        out.push(Box::new(referral_requests::created_at.lt(v.naive())));
    }
    out
}

pub(super) fn insert_note(
    conn: &mut DbConn,
    n: &SpecialistNote,
    author: Option<&str>,
) -> QueryResult<()> {
    diesel::insert_into(specialist_notes::table)
        .values((
            specialist_notes::id.eq(n.id.as_str()),
            specialist_notes::referral_request_id.eq(n.referral_request_id.as_str()),
            specialist_notes::specialist_id.eq(n.specialist_id.as_str()),
            specialist_notes::author_user_id.eq(author),
            specialist_notes::note.eq(&n.note),
            specialist_notes::created_at.eq(n.created_at.naive()),
        ))
        .execute(conn)?;
    Ok(())
}

/// A referral's notes after the note id `after`, oldest first, at most `limit`.
pub(super) fn notes(
    conn: &mut DbConn,
    id: &ReferralId,
    after: Option<&str>,
    limit: i64,
) -> QueryResult<Vec<SpecialistNote>> {
    let mut q = specialist_notes::table
        .filter(specialist_notes::referral_request_id.eq(id.as_str()))
        .order(specialist_notes::id)
        .limit(limit)
        .select((
            specialist_notes::id,
            specialist_notes::specialist_id,
            specialist_notes::note,
            specialist_notes::created_at,
        ))
        .into_boxed();
    if let Some(a) = after {
        q = q.filter(specialist_notes::id.gt(a.to_string()));
    }
    let rows: Vec<(String, String, String, chrono::NaiveDateTime)> = q.load(conn)?;
    Ok(rows
        .into_iter()
        .map(|(nid, specialist, note, at)| SpecialistNote {
            id: NoteId::from_db(nid),
            referral_request_id: id.clone(),
            specialist_id: DoctorId::from_db(specialist),
            note,
            created_at: Timestamp::from_db(at),
        })
        .collect())
}
