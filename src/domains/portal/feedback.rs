//! Feedback: a rating (1–5) in a category with an optional comment, by any user; about an
//! appointment only their own. Users read their own; admins every one, and a summary per
//! category computed in SQL.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::store;
use crate::db::DbConn;
use crate::domains::appointments::{self, AppointmentId};
use crate::http::{ListResponse, Page};
use crate::kit::{Action, Actor, Error, Resource, Result, Timestamp, Tx, UserId, Validator};
use crate::wire_enum;

/// What the audit trail calls feedback.
pub const FEEDBACK: Resource = Resource::named("feedback");

crate::id_type!(
    /// A piece of feedback.
    FeedbackId
);

wire_enum!(
    /// What the feedback is about.
    FeedbackCategory of "feedback category" {
        App = "app",
        Appointment = "appointment",
        Doctor = "doctor",
        Billing = "billing",
        Other = "other",
    }
);

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct Feedback {
    pub id: FeedbackId,
    pub user_id: UserId,
    /// 1–5.
    pub rating: i32,
    pub category: FeedbackCategory,
    pub comment: Option<String>,
    pub appointment_id: Option<AppointmentId>,
    pub created_at: Timestamp,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewFeedback {
    #[schema(minimum = 1, maximum = 5)]
    pub rating: i32,
    pub category: FeedbackCategory,
    /// At most 5,000 characters.
    #[schema(max_length = 5000)]
    pub comment: Option<String>,
    /// One of the caller's own appointments (as its patient or its doctor).
    pub appointment_id: Option<AppointmentId>,
}

#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct FeedbackFilter {
    pub category: Option<FeedbackCategory>,
    pub rating: Option<i32>,
    #[param(value_type = Option<String>, format = DateTime)]
    pub from: Option<Timestamp>,
    #[param(value_type = Option<String>, format = DateTime)]
    pub to: Option<Timestamp>,
}

/// One category of the summary.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct CategorySummary {
    pub category: FeedbackCategory,
    pub count: i64,
    pub mean_rating: f64,
}

/// Records feedback (any signed-in user); an appointment must be one of theirs (409).
pub fn give(tx: &mut Tx, f: NewFeedback) -> Result<Feedback> {
    let mut v = Validator::new();
    v.check((1..=5).contains(&f.rating), "rating", "must be 1 to 5");
    v.opt_text("comment", f.comment.as_deref(), 5000);
    v.finish()?;
    if let Some(a) = &f.appointment_id {
        let scope = tx.scope().clone();
        match appointments::parties(tx.conn(), a)? {
            Some((p, d)) if scope.is_patient(&p) || scope.is_doctor(&d) => {}
            _ => {
                return Err(Error::conflict(
                    "appointment_id does not name an appointment of yours",
                ))
            }
        }
    }
    let user = tx
        .actor()
        .user_id()
        .map(|u| UserId::from_db(u.to_string()))
        .ok_or_else(|| Error::internal("feedback is given by a user"))?;
    let fb = Feedback {
        id: FeedbackId::generate(),
        user_id: user,
        rating: f.rating,
        category: f.category,
        comment: f
            .comment
            .map(|c| c.trim().to_string())
            .filter(|c| !c.is_empty()),
        appointment_id: f.appointment_id,
        created_at: Timestamp::now(),
    };
    store::insert_feedback(tx.conn(), &fb)?;
    tx.record(Action::Create, FEEDBACK, Some(fb.id.as_str()), None)?;
    Ok(fb)
}

/// The caller's own feedback, or every user's for an admin, newest first.
pub fn list(
    conn: &mut DbConn,
    actor: &Actor,
    f: FeedbackFilter,
    page: &Page,
) -> Result<ListResponse<Feedback>> {
    let only = (!actor.scope().is_admin()).then(|| actor.user_id().unwrap_or_default().to_string());
    let rows = store::list_feedback(
        conn,
        only.as_deref(),
        f,
        page.after.as_deref(),
        page.limit + 1,
    )?;
    Ok(ListResponse::from_rows(rows, page.limit, |x| {
        x.id.to_string()
    }))
}

/// Count and mean rating per category, in SQL (admins).
pub fn summary(conn: &mut DbConn, actor: &Actor) -> Result<Vec<CategorySummary>> {
    if !actor.scope().is_admin() {
        return Err(actor.deny(
            Error::forbidden("the feedback summary is for admins"),
            Action::Read,
            FEEDBACK,
            None,
            None,
        ));
    }
    Ok(store::feedback_summary(conn)?)
}
