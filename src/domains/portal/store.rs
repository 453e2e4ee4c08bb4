//! The portal tables' queries.

use diesel::prelude::*;

use super::feedback::{CategorySummary, Feedback, FeedbackCategory, FeedbackFilter, FeedbackId};
use super::{Message, MessageBox, MessageId};
use crate::auth::Principal;
use crate::db::schema::{feedback, messages, users};
use crate::db::{now, DbConn};
use crate::domains::appointments::AppointmentId;
use crate::kit::{Timestamp, UserId, WireEnum};

type Row = (
    String,
    String,
    Option<String>,
    String,
    String,
    String,
    String,
    chrono::NaiveDateTime,
    Option<chrono::NaiveDateTime>,
);

const COLUMNS: (
    messages::id,
    messages::thread_id,
    messages::reply_to,
    messages::sender_id,
    messages::receiver_id,
    messages::subject,
    messages::body,
    messages::sent_at,
    messages::read_at,
) = (
    messages::id,
    messages::thread_id,
    messages::reply_to,
    messages::sender_id,
    messages::receiver_id,
    messages::subject,
    messages::body,
    messages::sent_at,
    messages::read_at,
);

fn message_of(r: Row) -> Message {
    Message {
        id: MessageId::from_db(r.0),
        thread_id: r.1,
        reply_to: r.2.map(MessageId::from_db),
        sender_id: UserId::from_db(r.3),
        receiver_id: UserId::from_db(r.4),
        subject: r.5,
        body: r.6,
        sent_at: Timestamp::from_db(r.7),
        read_at: r.8.map(Timestamp::from_db),
    }
}

/// The receiver as the access rules see them, if the account exists and is active.
pub(super) fn active_principal(
    conn: &mut DbConn,
    user: &UserId,
) -> crate::kit::Result<Option<Principal>> {
    let active: Option<bool> = users::table
        .find(user.as_str())
        .select(users::is_active)
        .first(conn)
        .optional()?;
    if active != Some(true) {
        return Ok(None);
    }
    Ok(Some(crate::auth::load_principal(
        conn,
        user.as_str(),
        String::new(),
        now(),
    )?))
}

pub(super) fn load(conn: &mut DbConn, id: &MessageId) -> QueryResult<Option<Message>> {
    Ok(messages::table
        .find(id.as_str())
        .select(COLUMNS)
        .first::<Row>(conn)
        .optional()?
        .map(message_of))
}

pub(super) fn insert(conn: &mut DbConn, m: &Message) -> QueryResult<()> {
    diesel::insert_into(messages::table)
        .values((
            messages::id.eq(m.id.as_str()),
            messages::thread_id.eq(&m.thread_id),
            messages::reply_to.eq(m.reply_to.as_ref().map(|r| r.as_str())),
            messages::sender_id.eq(m.sender_id.as_str()),
            messages::receiver_id.eq(m.receiver_id.as_str()),
            messages::subject.eq(&m.subject),
            messages::body.eq(&m.body),
            messages::sent_at.eq(m.sent_at.naive()),
        ))
        .execute(conn)?;
    Ok(())
}

pub(super) fn mark_read(conn: &mut DbConn, id: &MessageId) -> QueryResult<()> {
    diesel::update(
        messages::table
            .find(id.as_str())
            .filter(messages::read_at.is_null()),
    )
    .set(messages::read_at.eq(now()))
    .execute(conn)?;
    Ok(())
}

/// The user's inbox or sent box, newest first, before the message id `after`.
pub(super) fn boxed(
    conn: &mut DbConn,
    user: &str,
    which: MessageBox,
    unread: bool,
    after: Option<&str>,
    limit: i64,
) -> QueryResult<Vec<Message>> {
    let mut q = messages::table
        .select(COLUMNS)
        .order(messages::id.desc())
        .limit(limit)
        .into_boxed();
    q = match which {
        MessageBox::Inbox => q.filter(messages::receiver_id.eq(user.to_string())),
        MessageBox::Sent => q.filter(messages::sender_id.eq(user.to_string())),
    };
    if unread {
        q = q.filter(messages::read_at.is_null());
    }
    if let Some(a) = after {
        q = q.filter(messages::id.lt(a.to_string()));
    }
    Ok(q.load::<Row>(conn)?.into_iter().map(message_of).collect())
}

/// How many messages are in the user's box (unread ones only with `unread`).
pub(super) fn count_boxed(
    conn: &mut DbConn,
    user: &str,
    which: MessageBox,
    unread: bool,
) -> QueryResult<i64> {
    let mut q = messages::table.into_boxed();
    q = match which {
        MessageBox::Inbox => q.filter(messages::receiver_id.eq(user.to_string())),
        MessageBox::Sent => q.filter(messages::sender_id.eq(user.to_string())),
    };
    if unread {
        q = q.filter(messages::read_at.is_null());
    }
    q.count().get_result(conn)
}

/// A thread's messages the user sent or received, oldest first.
pub(super) fn thread(conn: &mut DbConn, thread_id: &str, user: &str) -> QueryResult<Vec<Message>> {
    Ok(messages::table
        .filter(messages::thread_id.eq(thread_id))
        .filter(
            messages::sender_id
                .eq(user)
                .or(messages::receiver_id.eq(user)),
        )
        .order(messages::id)
        .select(COLUMNS)
        .load::<Row>(conn)?
        .into_iter()
        .map(message_of)
        .collect())
}

// --- feedback ---

type FeedbackRow = (
    String,
    String,
    i32,
    String,
    Option<String>,
    Option<String>,
    chrono::NaiveDateTime,
);

pub(super) fn insert_feedback(conn: &mut DbConn, f: &Feedback) -> QueryResult<()> {
    diesel::insert_into(feedback::table)
        .values((
            feedback::id.eq(f.id.as_str()),
            feedback::user_id.eq(f.user_id.as_str()),
            feedback::rating.eq(f.rating),
            feedback::category.eq(f.category.as_str()),
            feedback::comment.eq(&f.comment),
            feedback::appointment_id.eq(f.appointment_id.as_ref().map(|a| a.as_str())),
            feedback::created_at.eq(f.created_at.naive()),
        ))
        .execute(conn)?;
    Ok(())
}

/// Feedback, newest first, of one user (`only`) or everyone, before the id `after`.
pub(super) fn list_feedback(
    conn: &mut DbConn,
    only: Option<&str>,
    f: FeedbackFilter,
    after: Option<&str>,
    limit: i64,
) -> QueryResult<Vec<Feedback>> {
    let mut q = feedback::table
        .select((
            feedback::id,
            feedback::user_id,
            feedback::rating,
            feedback::category,
            feedback::comment,
            feedback::appointment_id,
            feedback::created_at,
        ))
        .order(feedback::id.desc())
        .limit(limit)
        .into_boxed();
    if let Some(u) = only {
        q = q.filter(feedback::user_id.eq(u.to_string()));
    }
    if let Some(c) = f.category {
        q = q.filter(feedback::category.eq(c.as_str()));
    }
    if let Some(r) = f.rating {
        q = q.filter(feedback::rating.eq(r));
    }
    if let Some(t) = f.from {
        q = q.filter(feedback::created_at.ge(t.naive()));
    }
    if let Some(t) = f.to {
        q = q.filter(feedback::created_at.lt(t.naive()));
    }
    if let Some(a) = after {
        q = q.filter(feedback::id.lt(a.to_string()));
    }
    Ok(q.load::<FeedbackRow>(conn)?
        .into_iter()
        .map(|r| Feedback {
            id: FeedbackId::from_db(r.0),
            user_id: UserId::from_db(r.1),
            rating: r.2,
            category: FeedbackCategory::parse(&r.3).unwrap_or(FeedbackCategory::Other),
            comment: r.4,
            appointment_id: r.5.map(AppointmentId::from_db),
            created_at: Timestamp::from_db(r.6),
        })
        .collect())
}

#[derive(QueryableByName)]
struct SummaryRow {
    #[diesel(sql_type = diesel::sql_types::Text)]
    category: String,
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    n: i64,
    #[diesel(sql_type = diesel::sql_types::Double)]
    mean: f64,
}

/// Count and mean rating per category, grouped in SQL.
pub(super) fn feedback_summary(conn: &mut DbConn) -> QueryResult<Vec<CategorySummary>> {
    let rows: Vec<SummaryRow> = diesel::sql_query(
        "SELECT category, COUNT(*) AS n, AVG(CAST(rating AS DOUBLE PRECISION)) AS mean \
         FROM feedback GROUP BY category ORDER BY category",
    )
    .load(conn)?;
    Ok(rows
        .into_iter()
        .filter_map(|r| {
            Some(CategorySummary {
                category: FeedbackCategory::parse(&r.category)?,
                count: r.n,
                mean_rating: r.mean,
            })
        })
        .collect())
}
