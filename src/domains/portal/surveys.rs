//! Surveys: questions an admin (a holder of `portal:write`) asks an audience — everyone,
//! patients, or staff (every role but `patient`) — and the answers, one response per user and
//! survey. The answers are stored a row each, so the results (counts per option, the mean of a
//! scale, the text answers without who gave them) are grouped in SQL.

use std::collections::{BTreeMap, HashSet};

use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::ToSchema;

use super::survey_store as store;
use crate::auth::permissions::PATIENT;
use crate::db::sql::UniqueKey;
use crate::db::DbConn;
use crate::http::{ListResponse, Page};
use crate::kit::{
    Action, Actor, Error, IfMatch, Perm, Resource, Result, Timestamp, Tx, UniqueExt, UserId,
    Validator,
};
use crate::wire_enum;

/// What the audit trail calls a survey.
pub const SURVEY: Resource = Resource::named("survey");
/// What the audit trail calls one user's answers to a survey.
pub const SURVEY_RESPONSE: Resource = Resource::named("survey_response");

/// One response per user and survey: the database's constraint, not a count before the insert.
const ONE_RESPONSE: UniqueKey = UniqueKey {
    table: "survey_responses",
    columns: &["survey_id", "user_id"],
};

/// At most this many questions in a survey, and options in a choice question.
pub const MAX_QUESTIONS: usize = 50;
pub const MAX_OPTIONS: usize = 20;
/// The longest text answer.
pub const MAX_TEXT_ANSWER: usize = 5000;

crate::id_type!(
    /// A survey.
    SurveyId
);
crate::id_type!(
    /// One user's response to a survey.
    SurveyResponseId
);

wire_enum!(
    /// Who a survey is for: `staff` is every role but `patient`.
    Audience of "audience" {
        All = "all",
        Patients = "patients",
        Staff = "staff",
    }
);

wire_enum!(
    /// What a question asks for.
    QuestionKind of "question kind" {
        SingleChoice = "single_choice",
        MultipleChoice = "multiple_choice",
        Scale = "scale",
        Text = "text",
    }
);

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Question {
    /// Unique within the survey: `[a-z0-9_-]{1,40}`, given by the admin or generated (`q1`,
    /// `q2`, ... by position).
    pub id: String,
    pub text: String,
    pub kind: QuestionKind,
    /// The choices of a choice question (2–20, distinct); empty otherwise.
    pub options: Vec<String>,
    /// The lowest and highest value of a scale; null otherwise.
    pub min: Option<i32>,
    pub max: Option<i32>,
    pub required: bool,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct Survey {
    pub id: SurveyId,
    pub title: String,
    pub description: Option<String>,
    pub audience: Audience,
    pub questions: Vec<Question>,
    /// Only active surveys are listed to, and answered by, their audience.
    pub active: bool,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
    pub version: i32,
}

#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewQuestion {
    /// `[a-z0-9_-]{1,40}`, unique within the survey; generated when absent.
    pub id: Option<String>,
    /// 1–500 characters.
    pub text: String,
    pub kind: QuestionKind,
    /// Choice questions: 2–20 distinct options of 1–200 characters. None for the others.
    pub options: Option<Vec<String>>,
    /// Scale questions only: integers, `min < max`; default 1 and 5.
    pub min: Option<i32>,
    pub max: Option<i32>,
    /// Default false.
    pub required: Option<bool>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewSurvey {
    /// 1–200 characters.
    pub title: String,
    /// At most 2,000 characters.
    pub description: Option<String>,
    pub audience: Audience,
    /// 1–50 questions.
    pub questions: Vec<NewQuestion>,
    /// Default true.
    pub active: Option<bool>,
}

/// A change of a survey; absent fields stay. The questions are replaced whole, and only while
/// the survey has no response (409 after).
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SurveyChange {
    pub title: Option<String>,
    /// An empty description removes it.
    pub description: Option<String>,
    pub audience: Option<Audience>,
    pub questions: Option<Vec<NewQuestion>>,
    pub active: Option<bool>,
}

#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct SurveyFilter {
    /// Admins see inactive surveys too; everyone else only active ones.
    pub active: Option<bool>,
    pub audience: Option<Audience>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewResponse {
    /// By question id: a single choice is one of its options (a string); a multiple choice an
    /// array of distinct options; a scale an integer from `min` to `max`; a text 1–5,000
    /// characters. Null or absent: not answered (422 for a required question).
    #[schema(value_type = Object)]
    pub answers: BTreeMap<String, Value>,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct SurveyResponse {
    pub id: SurveyResponseId,
    pub survey_id: SurveyId,
    pub user_id: UserId,
    /// The answers as stored (texts trimmed; unanswered questions left out).
    #[schema(value_type = Object)]
    pub answers: BTreeMap<String, Value>,
    pub submitted_at: Timestamp,
}

/// How often an option was chosen.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct OptionCount {
    pub option: String,
    pub count: i64,
}

/// The results of one question.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct QuestionResults {
    pub id: String,
    pub text: String,
    pub kind: QuestionKind,
    /// How many responses answered it.
    pub count: i64,
    /// Choice questions: every option, in the survey's order, with how many chose it (a
    /// multiple-choice response counts once for each option it chose). Empty otherwise.
    pub options: Vec<OptionCount>,
    /// Scale questions: the mean of the answers (null without any). Null otherwise.
    pub mean: Option<f64>,
    /// Text questions: the answers, sorted, without who gave them. Empty otherwise.
    pub text_answers: Vec<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct SurveyResults {
    pub survey_id: SurveyId,
    pub title: String,
    /// How many users responded.
    pub responses: i64,
    pub questions: Vec<QuestionResults>,
}

/// One stored answer row: a chosen option, a scale value or a text.
#[derive(Debug, Clone, PartialEq)]
pub(super) enum AnswerValue {
    Option(String),
    Number(i32),
    Text(String),
}

/// One row of `survey_answers`.
#[derive(Debug, Clone)]
pub(super) struct AnswerRow {
    pub question_id: String,
    pub position: i32,
    pub value: AnswerValue,
}

/// Does the caller manage surveys (`portal:write`, which admins hold)? Managers create and
/// change surveys, read results, and see every survey.
fn manages(actor: &Actor) -> bool {
    actor.holds(Perm::PortalWrite)
}

/// The audiences a caller belongs to: everyone `all`; a patient `patients`; anyone with a role
/// other than `patient` (admins included) `staff`.
pub fn audiences_of(actor: &Actor) -> Vec<Audience> {
    let mut of = vec![Audience::All];
    if let Some(p) = actor.principal() {
        if p.has_role(PATIENT) {
            of.push(Audience::Patients);
        }
        if p.roles.iter().any(|r| r != PATIENT) {
            of.push(Audience::Staff);
        }
    }
    of
}

/// Is the survey open to this caller's answers (and listed to them): active, and for one of
/// their audiences?
fn open_to(actor: &Actor, s: &Survey) -> bool {
    s.active && audiences_of(actor).contains(&s.audience)
}

fn require_manager(tx: &Tx, action: Action, id: Option<&str>) -> Result<()> {
    if manages(tx.actor()) {
        return Ok(());
    }
    Err(tx.deny(
        Error::forbidden("surveys are managed by admins"),
        action,
        SURVEY,
        id,
        None,
    ))
}

fn is_slug(id: &str) -> bool {
    (1..=40).contains(&id.len())
        && id
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b'-')
}

fn check_head(v: &mut Validator, title: Option<&str>, description: Option<&str>) {
    if let Some(t) = title {
        v.text("title", t, 1, 200);
    }
    v.opt_text("description", description.map(str::trim), 2000);
}

/// Checks a survey's questions and gives them their final form: trimmed, ids generated where
/// absent (`q<position>`, or the next free `q<n>` when an admin's id took it), defaults filled
/// in. Every fault is reported, by field (`questions[2].options`).
fn build_questions(v: &mut Validator, input: Vec<NewQuestion>) -> Vec<Question> {
    if input.is_empty() || input.len() > MAX_QUESTIONS {
        v.error(
            "questions",
            format!("must hold 1 to {MAX_QUESTIONS} questions"),
        );
    }
    let given: HashSet<String> = input.iter().filter_map(|q| q.id.clone()).collect();
    let mut used = HashSet::new();
    let mut next = 1;
    let mut out = Vec::with_capacity(input.len());
    for (i, q) in input.into_iter().enumerate() {
        let at = |f: &str| format!("questions[{i}].{f}");
        let id = match q.id {
            Some(id) => {
                if !is_slug(&id) {
                    v.error(&at("id"), "must be 1 to 40 of a-z, 0-9, _ and -");
                } else if !used.insert(id.clone()) {
                    v.error(&at("id"), "is the id of another question");
                }
                id
            }
            None => {
                next = next.max(i + 1);
                while given.contains(&format!("q{next}")) || used.contains(&format!("q{next}")) {
                    next += 1;
                }
                let id = format!("q{next}");
                used.insert(id.clone());
                id
            }
        };
        v.text(&at("text"), &q.text, 1, 500);
        let options: Vec<String> = q
            .options
            .unwrap_or_default()
            .iter()
            .map(|o| o.trim().to_string())
            .collect();
        let (mut min, mut max) = (q.min, q.max);
        match q.kind {
            QuestionKind::SingleChoice | QuestionKind::MultipleChoice => {
                if !(2..=MAX_OPTIONS).contains(&options.len()) {
                    v.error(
                        &at("options"),
                        format!("a choice question needs 2 to {MAX_OPTIONS} options"),
                    );
                } else if options
                    .iter()
                    .any(|o| o.is_empty() || o.chars().count() > 200)
                {
                    v.error(&at("options"), "each option must be 1 to 200 characters");
                } else {
                    let distinct: HashSet<String> =
                        options.iter().map(|o| o.to_lowercase()).collect();
                    if distinct.len() != options.len() {
                        v.error(&at("options"), "options must be distinct");
                    }
                }
                if min.is_some() || max.is_some() {
                    v.error(&at("min"), "only a scale question has min and max");
                }
            }
            QuestionKind::Scale => {
                if !options.is_empty() {
                    v.error(&at("options"), "a scale question has no options");
                }
                let (lo, hi) = (min.unwrap_or(1), max.unwrap_or(5));
                if lo >= hi {
                    v.error(&at("max"), "must be greater than min");
                }
                (min, max) = (Some(lo), Some(hi));
            }
            QuestionKind::Text => {
                if !options.is_empty() {
                    v.error(&at("options"), "a text question has no options");
                }
                if min.is_some() || max.is_some() {
                    v.error(&at("min"), "only a scale question has min and max");
                }
            }
        }
        out.push(Question {
            id,
            text: q.text.trim().to_string(),
            kind: q.kind,
            options,
            min,
            max,
            required: q.required.unwrap_or(false),
        });
    }
    out
}

/// Creates a survey (managers; 403 otherwise).
pub fn create(tx: &mut Tx, new: NewSurvey) -> Result<Survey> {
    require_manager(tx, Action::Create, None)?;
    let mut v = Validator::new();
    check_head(&mut v, Some(&new.title), new.description.as_deref());
    let questions = build_questions(&mut v, new.questions);
    v.finish()?;
    let now = Timestamp::now();
    let survey = Survey {
        id: SurveyId::generate(),
        title: new.title.trim().to_string(),
        description: new
            .description
            .map(|d| d.trim().to_string())
            .filter(|d| !d.is_empty()),
        audience: new.audience,
        questions,
        active: new.active.unwrap_or(true),
        created_at: now,
        updated_at: now,
        version: 1,
    };
    store::insert(tx.conn(), &survey)?;
    tx.record(Action::Create, SURVEY, Some(survey.id.as_str()), None)?;
    Ok(survey)
}

/// Changes a survey (managers; `If-Match` honoured). The questions stay as they are once a
/// response exists (409); sending them unchanged is no change.
pub fn change(tx: &mut Tx, id: &SurveyId, c: SurveyChange, if_match: IfMatch) -> Result<Survey> {
    require_manager(tx, Action::Update, Some(id.as_str()))?;
    let mut v = Validator::new();
    check_head(&mut v, c.title.as_deref(), c.description.as_deref());
    let questions = c.questions.map(|q| build_questions(&mut v, q));
    v.finish()?;
    if !store::lock(tx.conn(), id)? {
        return Err(Error::NotFound);
    }
    let current = store::load(tx.conn(), id)?.ok_or(Error::NotFound)?;
    if_match.check(current.version)?;
    if let Some(q) = &questions {
        if *q != current.questions && store::has_responses(tx.conn(), id)? {
            return Err(Error::conflict(
                "the questions cannot change once the survey has responses",
            ));
        }
    }
    let next = Survey {
        title: c
            .title
            .map(|t| t.trim().to_string())
            .unwrap_or(current.title.clone()),
        description: match c.description {
            Some(d) => Some(d.trim().to_string()).filter(|d| !d.is_empty()),
            None => current.description.clone(),
        },
        audience: c.audience.unwrap_or(current.audience),
        questions: questions.unwrap_or(current.questions.clone()),
        active: c.active.unwrap_or(current.active),
        ..current
    };
    if !store::update(tx.conn(), &next)? {
        return Err(Error::Stale);
    }
    tx.record(Action::Update, SURVEY, Some(id.as_str()), None)?;
    store::load(tx.conn(), id)?.ok_or(Error::NotFound)
}

/// One survey: managers any; everyone else an active one for their audience (404 otherwise).
pub fn get(conn: &mut DbConn, actor: &Actor, id: &SurveyId) -> Result<Survey> {
    match store::load(conn, id)? {
        Some(s) if manages(actor) || open_to(actor, &s) => Ok(s),
        _ => Err(actor.deny(
            Error::NotFound,
            Action::Read,
            SURVEY,
            Some(id.as_str()),
            None,
        )),
    }
}

/// Surveys, newest first: managers every one; everyone else the active ones for their
/// audience.
pub fn list(
    conn: &mut DbConn,
    actor: &Actor,
    f: SurveyFilter,
    page: &Page,
) -> Result<ListResponse<Survey>> {
    let only = (!manages(actor)).then(|| audiences_of(actor));
    let rows = store::list(
        conn,
        only.as_deref(),
        &f,
        page.after.as_deref(),
        page.limit + 1,
    )?;
    Ok(ListResponse::from_rows(rows, page.limit, |s| {
        s.id.to_string()
    }))
}

/// Checks each answer against its question and turns the answers into rows; every fault is
/// reported by its field (`answers.<question id>`).
fn check_answers(
    questions: &[Question],
    answers: &BTreeMap<String, Value>,
) -> Result<(Vec<AnswerRow>, BTreeMap<String, Value>)> {
    let mut faults: Vec<(String, String)> = Vec::new();
    for id in answers.keys() {
        if !questions.iter().any(|q| &q.id == id) {
            faults.push((
                format!("answers.{id}"),
                "is not a question of this survey".into(),
            ));
        }
    }
    let mut rows = Vec::new();
    let mut kept = BTreeMap::new();
    for q in questions {
        let field = format!("answers.{}", q.id);
        let mut fault = |message: String| faults.push((field.clone(), message));
        let answer = match answers.get(&q.id) {
            None | Some(Value::Null) => None,
            Some(Value::Array(a)) if a.is_empty() && q.kind == QuestionKind::MultipleChoice => None,
            Some(a) => Some(a),
        };
        let Some(answer) = answer else {
            if q.required {
                fault("is required".into());
            }
            continue;
        };
        let row = |position: i32, value: AnswerValue| AnswerRow {
            question_id: q.id.clone(),
            position,
            value,
        };
        match q.kind {
            QuestionKind::SingleChoice => match answer.as_str() {
                Some(s) if q.options.iter().any(|o| o == s) => {
                    rows.push(row(0, AnswerValue::Option(s.to_string())));
                    kept.insert(q.id.clone(), answer.clone());
                }
                _ => fault("must be one of the question's options".into()),
            },
            QuestionKind::MultipleChoice => {
                let chosen: Option<Vec<&str>> = answer
                    .as_array()
                    .and_then(|a| a.iter().map(Value::as_str).collect());
                match chosen {
                    Some(c) if c.iter().all(|s| q.options.iter().any(|o| o == s)) => {
                        let distinct: HashSet<&&str> = c.iter().collect();
                        if distinct.len() != c.len() {
                            fault("must not name an option twice".into());
                            continue;
                        }
                        for (i, s) in c.iter().enumerate() {
                            rows.push(row(i as i32, AnswerValue::Option(s.to_string())));
                        }
                        kept.insert(q.id.clone(), answer.clone());
                    }
                    _ => fault("must be an array of the question's options".into()),
                }
            }
            QuestionKind::Scale => {
                let (lo, hi) = (q.min.unwrap_or(1), q.max.unwrap_or(5));
                match answer.as_i64() {
                    Some(n) if (i64::from(lo)..=i64::from(hi)).contains(&n) => {
                        rows.push(row(0, AnswerValue::Number(n as i32)));
                        kept.insert(q.id.clone(), answer.clone());
                    }
                    _ => fault(format!("must be an integer from {lo} to {hi}")),
                }
            }
            QuestionKind::Text => match answer.as_str().map(str::trim) {
                Some(t) if !t.is_empty() && t.chars().count() <= MAX_TEXT_ANSWER => {
                    rows.push(row(0, AnswerValue::Text(t.to_string())));
                    kept.insert(q.id.clone(), Value::String(t.to_string()));
                }
                _ => fault(format!(
                    "must be a text of 1 to {MAX_TEXT_ANSWER} characters"
                )),
            },
        }
    }
    if faults.is_empty() && rows.is_empty() {
        faults.push(("answers".into(), "must answer at least one question".into()));
    }
    let mut v = Validator::new();
    for (field, message) in faults {
        v.error(&field, message);
    }
    v.finish()?;
    Ok((rows, kept))
}

/// Answers a survey: an active one for the caller's audience (404 otherwise), each answer
/// checked against its question (422), once per user (409, by the unique constraint).
pub fn respond(tx: &mut Tx, id: &SurveyId, r: NewResponse) -> Result<SurveyResponse> {
    let refused = |tx: &Tx| {
        tx.deny(
            Error::NotFound,
            Action::Create,
            SURVEY_RESPONSE,
            Some(id.as_str()),
            None,
        )
    };
    // Shared: responses go on side by side, while a change of the survey waits for them (and
    // they for it), so no answer is checked against questions that are being replaced.
    if !store::lock_shared(tx.conn(), id)? {
        return Err(refused(tx));
    }
    let survey = match store::load(tx.conn(), id)? {
        Some(s) if open_to(tx.actor(), &s) => s,
        _ => return Err(refused(tx)),
    };
    let (rows, answers) = check_answers(&survey.questions, &r.answers)?;
    let user = tx
        .actor()
        .user_id()
        .map(|u| UserId::from_db(u.to_string()))
        .ok_or_else(|| Error::internal("a survey is answered by a user"))?;
    let response = SurveyResponse {
        id: SurveyResponseId::generate(),
        survey_id: id.clone(),
        user_id: user,
        answers,
        submitted_at: Timestamp::now(),
    };
    store::insert_response(tx.conn(), &response)
        .unique(ONE_RESPONSE, "you have already responded to this survey")?;
    store::insert_answers(tx.conn(), &response, &rows)?;
    tx.record(
        Action::Create,
        SURVEY_RESPONSE,
        Some(response.id.as_str()),
        None,
    )?;
    Ok(response)
}

/// The results (managers; 403 otherwise), grouped in SQL: counts per option, the mean of each
/// scale, the text answers without who gave them.
pub fn results(conn: &mut DbConn, actor: &Actor, id: &SurveyId) -> Result<SurveyResults> {
    if !manages(actor) {
        return Err(actor.deny(
            Error::forbidden("survey results are for admins"),
            Action::Read,
            SURVEY,
            Some(id.as_str()),
            None,
        ));
    }
    let survey = store::load(conn, id)?.ok_or(Error::NotFound)?;
    let responses = store::response_count(conn, id)?;
    let per_question = store::question_counts(conn, id)?;
    let per_option = store::option_counts(conn, id)?;
    let mut texts = store::text_answers(conn, id)?;
    let questions = survey
        .questions
        .into_iter()
        .map(|q| {
            let (count, mean) = per_question.get(&q.id).copied().unwrap_or((0, None));
            let options = q
                .options
                .iter()
                .map(|o| OptionCount {
                    option: o.clone(),
                    count: per_option
                        .get(&(q.id.clone(), o.clone()))
                        .copied()
                        .unwrap_or(0),
                })
                .collect();
            let mut text_answers = texts.remove(&q.id).unwrap_or_default();
            text_answers.sort();
            QuestionResults {
                count,
                options,
                mean: (q.kind == QuestionKind::Scale).then_some(mean).flatten(),
                text_answers,
                id: q.id,
                text: q.text,
                kind: q.kind,
            }
        })
        .collect();
    Ok(SurveyResults {
        survey_id: survey.id,
        title: survey.title,
        responses,
        questions,
    })
}
