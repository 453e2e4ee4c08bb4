//! The consent forms' and consent history's queries.

use diesel::prelude::*;

use super::{ConsentAction, ConsentEvent, ConsentForm, ConsentKind, FormFilter, NewForm};
use crate::db::schema::{consent_forms, consent_history};
use crate::db::{new_id, now, DbConn};
use crate::http::Page;
use crate::kit::{Timestamp, UserId, WireEnum};

#[derive(Queryable, Selectable)]
#[diesel(table_name = consent_forms)]
struct FormRow {
    id: String,
    kind: String,
    title: String,
    body: String,
    version: i32,
    active: bool,
    created_at: chrono::NaiveDateTime,
}

impl From<FormRow> for ConsentForm {
    fn from(r: FormRow) -> ConsentForm {
        ConsentForm {
            id: r.id,
            kind: ConsentKind::parse(&r.kind).unwrap_or(ConsentKind::Treatment),
            title: r.title,
            body: r.body,
            version: r.version,
            active: r.active,
            created_at: Timestamp::from_db(r.created_at),
        }
    }
}

pub(super) fn load_form(conn: &mut DbConn, id: &str) -> QueryResult<Option<ConsentForm>> {
    Ok(consent_forms::table
        .find(id)
        .select(FormRow::as_select())
        .first(conn)
        .optional()?
        .map(ConsentForm::from))
}

pub(super) fn lock_form(conn: &mut DbConn, id: &str) -> QueryResult<bool> {
    crate::db::sql::lock_row(conn, "consent_forms", id)
}

/// Inserts a form as the next version of its kind.
pub(super) fn insert_form(conn: &mut DbConn, f: NewForm) -> QueryResult<ConsentForm> {
    let n: i64 = consent_forms::table
        .filter(consent_forms::kind.eq(f.kind.as_str()))
        .count()
        .get_result(conn)?;
    let form = ConsentForm {
        id: new_id(),
        kind: f.kind,
        title: f.title.trim().to_string(),
        body: f.body,
        version: n as i32 + 1,
        active: f.active.unwrap_or(true),
        created_at: Timestamp::from_db(now()),
    };
    diesel::insert_into(consent_forms::table)
        .values((
            consent_forms::id.eq(&form.id),
            consent_forms::kind.eq(form.kind.as_str()),
            consent_forms::title.eq(&form.title),
            consent_forms::body.eq(&form.body),
            consent_forms::version.eq(form.version),
            consent_forms::active.eq(form.active),
            consent_forms::created_at.eq(form.created_at.naive()),
        ))
        .execute(conn)?;
    Ok(form)
}

pub(super) fn set_active(conn: &mut DbConn, id: &str, active: bool) -> QueryResult<()> {
    diesel::update(consent_forms::table.find(id))
        .set(consent_forms::active.eq(active))
        .execute(conn)?;
    Ok(())
}

pub(super) fn list_forms(
    conn: &mut DbConn,
    f: FormFilter,
    page: &Page,
) -> QueryResult<Vec<ConsentForm>> {
    let mut q = consent_forms::table
        .select(FormRow::as_select())
        .order(consent_forms::id)
        .limit(page.limit + 1)
        .into_boxed();
    if let Some(a) = &page.after {
        q = q.filter(consent_forms::id.gt(a.clone()));
    }
    if let Some(k) = f.kind {
        q = q.filter(consent_forms::kind.eq(k.as_str()));
    }
    if let Some(a) = f.active {
        q = q.filter(consent_forms::active.eq(a));
    }
    Ok(q.load::<FormRow>(conn)?
        .into_iter()
        .map(ConsentForm::from)
        .collect())
}

/// The active form of a kind with the highest version.
pub(super) fn active_form(conn: &mut DbConn, kind: ConsentKind) -> QueryResult<Option<String>> {
    consent_forms::table
        .filter(consent_forms::kind.eq(kind.as_str()))
        .filter(consent_forms::active.eq(true))
        .order(consent_forms::version.desc())
        .select(consent_forms::id)
        .first(conn)
        .optional()
}

/// The latest event of `user_id` for any form of `kind`: (form id, action, when).
pub(super) fn current(
    conn: &mut DbConn,
    user_id: &str,
    kind: ConsentKind,
) -> QueryResult<Option<(String, ConsentAction, Timestamp)>> {
    let row: Option<(String, String, chrono::NaiveDateTime)> = consent_history::table
        .inner_join(consent_forms::table)
        .filter(consent_history::user_id.eq(user_id))
        .filter(consent_forms::kind.eq(kind.as_str()))
        .order((
            consent_history::recorded_at.desc(),
            consent_history::id.desc(),
        ))
        .select((
            consent_history::consent_form_id,
            consent_history::action,
            consent_history::recorded_at,
        ))
        .first(conn)
        .optional()?;
    Ok(row.map(|(form, action, at)| {
        (
            form,
            ConsentAction::parse(&action).unwrap_or(ConsentAction::Revoked),
            Timestamp::from_db(at),
        )
    }))
}

pub(super) fn insert_event(conn: &mut DbConn, e: &ConsentEvent) -> QueryResult<()> {
    diesel::insert_into(consent_history::table)
        .values((
            consent_history::id.eq(&e.id),
            consent_history::consent_form_id.eq(&e.consent_form_id),
            consent_history::user_id.eq(e.user_id.as_str()),
            consent_history::action.eq(e.action.as_str()),
            consent_history::recorded_at.eq(e.recorded_at.naive()),
            consent_history::client_addr.eq(&e.client_addr),
        ))
        .execute(conn)?;
    Ok(())
}

#[derive(Queryable, Selectable)]
#[diesel(table_name = consent_history)]
struct EventRow {
    id: String,
    consent_form_id: String,
    user_id: String,
    action: String,
    recorded_at: chrono::NaiveDateTime,
    client_addr: Option<String>,
}

/// A page of one user's consent events, oldest first.
pub(super) fn history(
    conn: &mut DbConn,
    user_id: &str,
    page: &Page,
) -> QueryResult<Vec<ConsentEvent>> {
    let mut q = consent_history::table
        .filter(consent_history::user_id.eq(user_id))
        .select(EventRow::as_select())
        .order(consent_history::id)
        .limit(page.limit + 1)
        .into_boxed();
    if let Some(a) = &page.after {
        q = q.filter(consent_history::id.gt(a.clone()));
    }
    Ok(q.load::<EventRow>(conn)?
        .into_iter()
        .map(|r| ConsentEvent {
            id: r.id,
            consent_form_id: r.consent_form_id,
            user_id: UserId::from_db(r.user_id),
            action: ConsentAction::parse(&r.action).unwrap_or(ConsentAction::Revoked),
            recorded_at: Timestamp::from_db(r.recorded_at),
            client_addr: r.client_addr,
        })
        .collect())
}
