//! The survey tables' queries. A survey's questions are one JSON text (read and written whole);
//! the answers are rows, so that the results are counted and averaged in SQL.

use std::collections::HashMap;

use diesel::prelude::*;
use diesel::sql_types::{BigInt, Double, Nullable, Text};

use super::surveys::{
    AnswerRow, AnswerValue, Audience, Question, Survey, SurveyFilter, SurveyId, SurveyResponse,
};
use crate::db::schema::{survey_answers, survey_responses, surveys};
use crate::db::DbConn;
use crate::kit::{Timestamp, WireEnum};

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = surveys)]
struct SurveyRow {
    id: String,
    title: String,
    description: Option<String>,
    audience: String,
    questions: String,
    active: bool,
    created_at: chrono::NaiveDateTime,
    updated_at: chrono::NaiveDateTime,
    version: i32,
}

fn corrupt(what: String) -> diesel::result::Error {
    diesel::result::Error::DeserializationError(what.into())
}

impl TryFrom<SurveyRow> for Survey {
    type Error = diesel::result::Error;

    fn try_from(r: SurveyRow) -> QueryResult<Survey> {
        let questions: Vec<Question> = serde_json::from_str(&r.questions)
            .map_err(|e| corrupt(format!("survey {}: questions: {e}", r.id)))?;
        let audience = Audience::parse(&r.audience)
            .ok_or_else(|| corrupt(format!("survey {}: audience {}", r.id, r.audience)))?;
        Ok(Survey {
            id: SurveyId::from_db(r.id),
            title: r.title,
            description: r.description,
            audience,
            questions,
            active: r.active,
            created_at: Timestamp::from_db(r.created_at),
            updated_at: Timestamp::from_db(r.updated_at),
            version: r.version,
        })
    }
}

fn questions_json(s: &Survey) -> QueryResult<String> {
    serde_json::to_string(&s.questions)
        .map_err(|e| diesel::result::Error::SerializationError(e.into()))
}

pub(super) fn load(conn: &mut DbConn, id: &SurveyId) -> QueryResult<Option<Survey>> {
    surveys::table
        .find(id.as_str())
        .select(SurveyRow::as_select())
        .first(conn)
        .optional()?
        .map(Survey::try_from)
        .transpose()
}

/// Locks the survey for a change (PostgreSQL `FOR NO KEY UPDATE`); whether it exists.
pub(super) fn lock(conn: &mut DbConn, id: &SurveyId) -> QueryResult<bool> {
    crate::db::sql::lock_row(conn, "surveys", id.as_str())
}

/// Locks the survey against changes while a response is stored (PostgreSQL `FOR SHARE`:
/// responses do not wait for each other, a change waits for them and they for it; SQLite's
/// write lock already serialises both); whether it exists.
pub(super) fn lock_shared(conn: &mut DbConn, id: &SurveyId) -> QueryResult<bool> {
    #[derive(QueryableByName)]
    struct Found {
        #[diesel(sql_type = Text)]
        #[allow(dead_code)]
        id: String,
    }
    let for_share = match conn {
        DbConn::Postgres(_) => " FOR SHARE",
        DbConn::Sqlite(_) => "",
    };
    let rows: Vec<Found> =
        diesel::sql_query(format!("SELECT id FROM surveys WHERE id = $1{for_share}"))
            .bind::<Text, _>(id.as_str())
            .load(conn)?;
    Ok(!rows.is_empty())
}

pub(super) fn insert(conn: &mut DbConn, s: &Survey) -> QueryResult<()> {
    diesel::insert_into(surveys::table)
        .values((
            surveys::id.eq(s.id.as_str()),
            surveys::title.eq(&s.title),
            surveys::description.eq(&s.description),
            surveys::audience.eq(s.audience.as_str()),
            surveys::questions.eq(questions_json(s)?),
            surveys::active.eq(s.active),
            surveys::created_at.eq(s.created_at.naive()),
            surveys::updated_at.eq(s.updated_at.naive()),
            surveys::version.eq(s.version),
        ))
        .execute(conn)?;
    Ok(())
}

/// The versioned update of a PATCH: `false` when another change moved the version first.
pub(super) fn update(conn: &mut DbConn, s: &Survey) -> QueryResult<bool> {
    let questions = questions_json(s)?;
    crate::update_versioned!(
        conn,
        surveys,
        s.id.as_str(),
        s.version,
        (
            t::title.eq(&s.title),
            t::description.eq(&s.description),
            t::audience.eq(s.audience.as_str()),
            t::questions.eq(&questions),
            t::active.eq(s.active),
        )
    )
}

/// Surveys, newest first, before the id `after`: every one, or (`only`) the active ones for
/// these audiences.
pub(super) fn list(
    conn: &mut DbConn,
    only: Option<&[Audience]>,
    f: &SurveyFilter,
    after: Option<&str>,
    limit: i64,
) -> QueryResult<Vec<Survey>> {
    let mut q = surveys::table
        .select(SurveyRow::as_select())
        .order(surveys::id.desc())
        .limit(limit)
        .into_boxed();
    if let Some(audiences) = only {
        let names: Vec<&str> = audiences.iter().map(|a| a.as_str()).collect();
        q = q
            .filter(surveys::active.eq(true))
            .filter(surveys::audience.eq_any(names));
    }
    if let Some(active) = f.active {
        q = q.filter(surveys::active.eq(active));
    }
    if let Some(a) = f.audience {
        q = q.filter(surveys::audience.eq(a.as_str()));
    }
    if let Some(a) = after {
        q = q.filter(surveys::id.lt(a.to_string()));
    }
    q.load::<SurveyRow>(conn)?
        .into_iter()
        .map(Survey::try_from)
        .collect()
}

pub(super) fn has_responses(conn: &mut DbConn, id: &SurveyId) -> QueryResult<bool> {
    diesel::select(diesel::dsl::exists(
        survey_responses::table.filter(survey_responses::survey_id.eq(id.as_str())),
    ))
    .get_result(conn)
}

/// The response's row; a second one of the same user and survey violates
/// `UNIQUE (survey_id, user_id)`.
pub(super) fn insert_response(conn: &mut DbConn, r: &SurveyResponse) -> QueryResult<()> {
    diesel::insert_into(survey_responses::table)
        .values((
            survey_responses::id.eq(r.id.as_str()),
            survey_responses::survey_id.eq(r.survey_id.as_str()),
            survey_responses::user_id.eq(r.user_id.as_str()),
            survey_responses::submitted_at.eq(r.submitted_at.naive()),
        ))
        .execute(conn)?;
    Ok(())
}

/// The answers of a response, a row each, in one statement (at most 50 questions × 20
/// options; typed on the backend's own connection, as the device readings are).
pub(super) fn insert_answers(
    conn: &mut DbConn,
    r: &SurveyResponse,
    rows: &[AnswerRow],
) -> QueryResult<()> {
    let values: Vec<_> = rows
        .iter()
        .map(|a| {
            let (option, number, text) = match &a.value {
                AnswerValue::Option(o) => (Some(o.as_str()), None, None),
                AnswerValue::Number(n) => (None, Some(*n), None),
                AnswerValue::Text(t) => (None, None, Some(t.as_str())),
            };
            (
                survey_answers::response_id.eq(r.id.as_str()),
                survey_answers::question_id.eq(a.question_id.as_str()),
                survey_answers::position.eq(a.position),
                survey_answers::survey_id.eq(r.survey_id.as_str()),
                survey_answers::option_value.eq(option),
                survey_answers::number_value.eq(number),
                survey_answers::text_value.eq(text),
            )
        })
        .collect();
    crate::on_backend!(conn, |c| diesel::insert_into(survey_answers::table)
        .values(&values)
        .execute(c))?;
    Ok(())
}

pub(super) fn response_count(conn: &mut DbConn, id: &SurveyId) -> QueryResult<i64> {
    survey_responses::table
        .filter(survey_responses::survey_id.eq(id.as_str()))
        .count()
        .get_result(conn)
}

#[derive(QueryableByName)]
struct QuestionRow {
    #[diesel(sql_type = Text)]
    question_id: String,
    #[diesel(sql_type = BigInt)]
    n: i64,
    #[diesel(sql_type = Nullable<Double>)]
    mean: Option<f64>,
}

/// Per question: how many responses answered it, and the mean of its numbers (a scale's),
/// grouped in SQL.
pub(super) fn question_counts(
    conn: &mut DbConn,
    id: &SurveyId,
) -> QueryResult<HashMap<String, (i64, Option<f64>)>> {
    let rows: Vec<QuestionRow> = diesel::sql_query(
        "SELECT question_id, COUNT(DISTINCT response_id) AS n, \
         AVG(CAST(number_value AS DOUBLE PRECISION)) AS mean \
         FROM survey_answers WHERE survey_id = $1 GROUP BY question_id",
    )
    .bind::<Text, _>(id.as_str())
    .load(conn)?;
    Ok(rows
        .into_iter()
        .map(|r| (r.question_id, (r.n, r.mean)))
        .collect())
}

#[derive(QueryableByName)]
struct OptionRow {
    #[diesel(sql_type = Text)]
    question_id: String,
    #[diesel(sql_type = Text)]
    option_value: String,
    #[diesel(sql_type = BigInt)]
    n: i64,
}

/// Per (question, option): how often it was chosen, grouped in SQL.
pub(super) fn option_counts(
    conn: &mut DbConn,
    id: &SurveyId,
) -> QueryResult<HashMap<(String, String), i64>> {
    let rows: Vec<OptionRow> = diesel::sql_query(
        "SELECT question_id, option_value, COUNT(*) AS n FROM survey_answers \
         WHERE survey_id = $1 AND option_value IS NOT NULL \
         GROUP BY question_id, option_value",
    )
    .bind::<Text, _>(id.as_str())
    .load(conn)?;
    Ok(rows
        .into_iter()
        .map(|r| ((r.question_id, r.option_value), r.n))
        .collect())
}

/// The text answers by question; no response id or user goes with them.
pub(super) fn text_answers(
    conn: &mut DbConn,
    id: &SurveyId,
) -> QueryResult<HashMap<String, Vec<String>>> {
    let rows: Vec<(String, Option<String>)> = survey_answers::table
        .filter(survey_answers::survey_id.eq(id.as_str()))
        .filter(survey_answers::text_value.is_not_null())
        .select((survey_answers::question_id, survey_answers::text_value))
        .load(conn)?;
    let mut by_question: HashMap<String, Vec<String>> = HashMap::new();
    for (q, t) in rows {
        if let Some(t) = t {
            by_question.entry(q).or_default().push(t);
        }
    }
    Ok(by_question)
}
