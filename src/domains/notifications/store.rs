//! The notifications' queries.

use diesel::prelude::*;

use super::Notification;
use crate::db::schema::notifications;
use crate::db::{now, DbConn};
use crate::http::Page;
use crate::kit::{Timestamp, UserId};

#[derive(Queryable, Selectable)]
#[diesel(table_name = notifications)]
struct NotificationRow {
    id: String,
    user_id: String,
    kind: String,
    title: String,
    body: String,
    resource_type: Option<String>,
    resource_id: Option<String>,
    created_at: chrono::NaiveDateTime,
    read_at: Option<chrono::NaiveDateTime>,
}

impl From<NotificationRow> for Notification {
    fn from(r: NotificationRow) -> Notification {
        Notification {
            id: r.id,
            user_id: UserId::from_db(r.user_id),
            kind: r.kind,
            title: r.title,
            body: r.body,
            resource_type: r.resource_type,
            resource_id: r.resource_id,
            created_at: Timestamp::from_db(r.created_at),
            read_at: r.read_at.map(Timestamp::from_db),
        }
    }
}

pub(super) fn insert(conn: &mut DbConn, n: &Notification) -> QueryResult<()> {
    diesel::insert_into(notifications::table)
        .values((
            notifications::id.eq(&n.id),
            notifications::user_id.eq(n.user_id.as_str()),
            notifications::kind.eq(&n.kind),
            notifications::title.eq(&n.title),
            notifications::body.eq(&n.body),
            notifications::resource_type.eq(&n.resource_type),
            notifications::resource_id.eq(&n.resource_id),
            notifications::created_at.eq(n.created_at.naive()),
            notifications::read_at.eq(n.read_at.map(Timestamp::naive)),
        ))
        .execute(conn)?;
    Ok(())
}

/// A page of a user's notifications, newest first.
pub(super) fn list(
    conn: &mut DbConn,
    user_id: &str,
    unread_only: bool,
    page: &Page,
) -> QueryResult<Vec<Notification>> {
    let mut q = notifications::table
        .filter(notifications::user_id.eq(user_id.to_string()))
        .select(NotificationRow::as_select())
        .order(notifications::id.desc())
        .limit(page.limit + 1)
        .into_boxed();
    if unread_only {
        q = q.filter(notifications::read_at.is_null());
    }
    if let Some(after) = &page.after {
        q = q.filter(notifications::id.lt(after.clone()));
    }
    Ok(q.load::<NotificationRow>(conn)?
        .into_iter()
        .map(Notification::from)
        .collect())
}

/// Does the user have an unread notification of `kind` about the object `resource_id`?
pub(super) fn has_unread(
    conn: &mut DbConn,
    user_id: &str,
    kind: &str,
    resource_id: &str,
) -> QueryResult<bool> {
    let found: Option<String> = notifications::table
        .filter(notifications::user_id.eq(user_id))
        .filter(notifications::read_at.is_null())
        .filter(notifications::kind.eq(kind))
        .filter(notifications::resource_id.eq(resource_id))
        .select(notifications::id)
        .first(conn)
        .optional()?;
    Ok(found.is_some())
}

pub(super) fn unread_count(conn: &mut DbConn, user_id: &str) -> QueryResult<i64> {
    notifications::table
        .filter(notifications::user_id.eq(user_id))
        .filter(notifications::read_at.is_null())
        .count()
        .get_result(conn)
}

pub(super) fn load_own(
    conn: &mut DbConn,
    id: &str,
    user_id: &str,
) -> QueryResult<Option<Notification>> {
    Ok(notifications::table
        .filter(notifications::id.eq(id))
        .filter(notifications::user_id.eq(user_id))
        .select(NotificationRow::as_select())
        .first(conn)
        .optional()?
        .map(Notification::from))
}

pub(super) fn mark_read(conn: &mut DbConn, id: &str, user_id: &str) -> QueryResult<usize> {
    diesel::update(
        notifications::table
            .filter(notifications::id.eq(id))
            .filter(notifications::user_id.eq(user_id))
            .filter(notifications::read_at.is_null()),
    )
    .set(notifications::read_at.eq(now()))
    .execute(conn)
}

pub(super) fn mark_all_read(conn: &mut DbConn, user_id: &str) -> QueryResult<usize> {
    diesel::update(
        notifications::table
            .filter(notifications::user_id.eq(user_id))
            .filter(notifications::read_at.is_null()),
    )
    .set(notifications::read_at.eq(now()))
    .execute(conn)
}

/// Up to 1,000 of a user's notifications created after `last` (an id), oldest first: what a
/// stream missed.
pub(super) fn missed_since(
    conn: &mut DbConn,
    user_id: &str,
    last: &str,
) -> QueryResult<Vec<Notification>> {
    Ok(notifications::table
        .filter(notifications::user_id.eq(user_id))
        .filter(notifications::id.gt(last))
        .order(notifications::id)
        .limit(1000)
        .select(NotificationRow::as_select())
        .load::<NotificationRow>(conn)?
        .into_iter()
        .map(Notification::from)
        .collect())
}
