//! Educational resources: Markdown articles that admins write and publish, found by full-text
//! search (SQLite FTS5, PostgreSQL `tsvector`; ranked, title over summary over body) and by
//! category, tag and language. A doctor of a patient's care team recommends one to the patient,
//! who is told.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::education_store as store;
use crate::auth::care_team;
use crate::db::sql::UniqueKey;
use crate::db::DbConn;
use crate::domains::notifications;
use crate::domains::patients;
use crate::http::{ListResponse, Page};
use crate::kit::{
    Action, Actor, Audited, DoctorId, Error, IfMatch, Level, PatientId, Resource, Result,
    Timestamp, Tx, UniqueExt, UserId, Validator,
};

/// What the audit trail calls an educational resource.
pub const EDUCATION: Resource = Resource::named("educational_resource");
/// ... and a doctor's recommendation of one to a patient.
pub const RECOMMENDATION: Resource = Resource::named("education_recommendation");

const ONCE_PER_PATIENT: UniqueKey = UniqueKey {
    table: "education_recommendations",
    columns: &["patient_id", "resource_id"],
};

crate::id_type!(
    /// An educational resource.
    ResourceId
);
crate::id_type!(
    /// A recommendation of a resource to a patient.
    RecommendationId
);

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct EducationalResource {
    pub id: ResourceId,
    pub title: String,
    pub summary: String,
    /// Markdown.
    pub body: String,
    /// A page elsewhere with more (http or https).
    pub url: Option<String>,
    /// A lowercase slug, e.g. `diabetes`.
    pub category: String,
    /// Lowercase slugs, sorted.
    pub tags: Vec<String>,
    /// A language tag, e.g. `en` or `es-MX`.
    pub language: String,
    /// Only published resources are shown to anyone but admins.
    pub published: bool,
    /// The admin who wrote it; null when the system did (the demo loader).
    pub created_by: Option<UserId>,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
    pub version: i32,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewResource {
    /// 1–200 characters.
    pub title: String,
    /// 1–1,000 characters.
    pub summary: String,
    /// Markdown, 1–100,000 characters.
    pub body: String,
    pub url: Option<String>,
    pub category: String,
    /// Up to 20.
    #[schema(max_items = 20)]
    pub tags: Option<Vec<String>>,
    /// Default `en`.
    pub language: Option<String>,
    /// Default `false`.
    pub published: Option<bool>,
}

/// The fields to change; `url: null` removes the link.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ResourceChange {
    pub title: Option<String>,
    pub summary: Option<String>,
    pub body: Option<String>,
    #[serde(default, deserialize_with = "crate::kit::nullable")]
    #[schema(value_type = Option<String>, nullable)]
    pub url: Option<Option<String>>,
    pub category: Option<String>,
    /// Replaces the tags.
    pub tags: Option<Vec<String>>,
    pub language: Option<String>,
    pub published: Option<bool>,
}

#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ResourceFilter {
    /// Full-text search over title, summary and body, best match first: words (all must
    /// match), `"a phrase"`, `or`, `-word` to exclude. English stemming.
    pub q: Option<String>,
    pub category: Option<String>,
    pub tag: Option<String>,
    pub language: Option<String>,
    /// Admins: only published (`true`) or only drafts (`false`). Others see published ones only.
    pub published: Option<bool>,
}

/// A resource recommended to a patient.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct Recommendation {
    pub id: RecommendationId,
    pub patient_id: PatientId,
    /// The recommending doctor.
    pub doctor_id: DoctorId,
    pub note: Option<String>,
    pub created_at: Timestamp,
    pub resource: ResourceCard,
}

/// A resource without its body, as a recommendation shows it.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct ResourceCard {
    pub id: ResourceId,
    pub title: String,
    pub summary: String,
    pub url: Option<String>,
    pub category: String,
    pub language: String,
    pub published: bool,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewRecommendation {
    /// A published resource.
    pub resource_id: ResourceId,
    /// For the patient, up to 2,000 characters.
    #[schema(max_length = 2000)]
    pub note: Option<String>,
}

/// A lowercase slug: letters, digits and `-`, 1–60 characters.
fn is_slug(s: &str) -> bool {
    (1..=60).contains(&s.len())
        && s.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !s.starts_with('-')
        && !s.ends_with('-')
}

/// A BCP 47 shape: a 2–3 letter language, then subtags of 1–8 letters or digits.
fn is_language(s: &str) -> bool {
    let mut parts = s.split('-');
    let first = parts.next().unwrap_or_default();
    (2..=3).contains(&first.len())
        && first.bytes().all(|b| b.is_ascii_lowercase())
        && parts.all(|p| (1..=8).contains(&p.len()) && p.bytes().all(|b| b.is_ascii_alphanumeric()))
}

/// The fields a create or change gives (a create gives every required one).
struct Fields<'a> {
    title: Option<&'a str>,
    summary: Option<&'a str>,
    body: Option<&'a str>,
    url: Option<&'a str>,
    category: Option<&'a str>,
    tags: Option<&'a [String]>,
    language: Option<&'a str>,
}

/// The fields' rules, for those given.
fn check(v: &mut Validator, f: Fields) {
    let Fields {
        title,
        summary,
        body,
        url,
        category,
        tags,
        language,
    } = f;
    if let Some(t) = title {
        v.text("title", t.trim(), 1, 200);
    }
    if let Some(s) = summary {
        v.text("summary", s.trim(), 1, 1000);
    }
    if let Some(b) = body {
        v.text("body", b.trim(), 1, 100_000);
    }
    if let Some(u) = url {
        let ok = (u.starts_with("https://") || u.starts_with("http://"))
            && u.len() <= 2000
            && url::Url::parse(u).is_ok_and(|p| p.host_str().is_some());
        v.check(ok, "url", "must be an http or https URL");
    }
    if let Some(c) = category {
        v.check(
            is_slug(c),
            "category",
            "must be a lowercase slug (letters, digits, '-'), 1–60 characters",
        );
    }
    if let Some(tags) = tags {
        v.check(tags.len() <= 20, "tags", "at most 20");
        for (i, t) in tags.iter().enumerate() {
            v.check(
                is_slug(t),
                &format!("tags[{i}]"),
                "must be a lowercase slug (letters, digits, '-'), 1–60 characters",
            );
        }
    }
    if let Some(l) = language {
        v.check(
            is_language(l),
            "language",
            "must be a language tag such as en or es-MX",
        );
    }
}

fn tidy_tags(tags: Vec<String>) -> Vec<String> {
    let mut tags: Vec<String> = tags.into_iter().map(|t| t.trim().to_string()).collect();
    tags.sort();
    tags.dedup();
    tags
}

/// Adds a resource (admins: the route asks `portal:write`).
pub fn create(tx: &mut Tx, n: NewResource) -> Result<EducationalResource> {
    let mut v = Validator::new();
    check(
        &mut v,
        Fields {
            title: Some(&n.title),
            summary: Some(&n.summary),
            body: Some(&n.body),
            url: n.url.as_deref(),
            category: Some(&n.category),
            tags: n.tags.as_deref(),
            language: n.language.as_deref(),
        },
    );
    v.finish()?;
    let now = Timestamp::now();
    let author = tx.actor().user_id().map(|u| UserId::from_db(u.to_string()));
    let r = EducationalResource {
        id: ResourceId::generate(),
        title: n.title.trim().to_string(),
        summary: n.summary.trim().to_string(),
        body: n.body.trim().to_string(),
        url: n.url,
        category: n.category,
        tags: tidy_tags(n.tags.unwrap_or_default()),
        language: n.language.unwrap_or_else(|| "en".into()),
        published: n.published.unwrap_or(false),
        created_by: author,
        created_at: now,
        updated_at: now,
        version: 1,
    };
    store::insert(tx.conn(), &r)?;
    tx.record(Action::Create, EDUCATION, Some(r.id.as_str()), None)?;
    Ok(r)
}

/// Changes a resource (admins; `If-Match` honoured). Tags given replace the old ones.
pub fn change(
    tx: &mut Tx,
    id: &ResourceId,
    c: ResourceChange,
    if_match: IfMatch,
) -> Result<EducationalResource> {
    let mut v = Validator::new();
    check(
        &mut v,
        Fields {
            title: c.title.as_deref(),
            summary: c.summary.as_deref(),
            body: c.body.as_deref(),
            url: c.url.as_ref().and_then(|u| u.as_deref()),
            category: c.category.as_deref(),
            tags: c.tags.as_deref(),
            language: c.language.as_deref(),
        },
    );
    v.finish()?;
    if !store::lock(tx.conn(), id)? {
        return Err(Error::NotFound);
    }
    let current = store::load(tx.conn(), id)?.ok_or(Error::NotFound)?;
    if_match.check(current.version)?;
    let trimmed = |s: Option<String>, old: String| s.map(|s| s.trim().to_string()).unwrap_or(old);
    let next = EducationalResource {
        title: trimmed(c.title, current.title.clone()),
        summary: trimmed(c.summary, current.summary.clone()),
        body: trimmed(c.body, current.body.clone()),
        url: c.url.unwrap_or(current.url.clone()),
        category: c.category.unwrap_or(current.category.clone()),
        tags: c.tags.map(tidy_tags).unwrap_or(current.tags.clone()),
        language: c.language.unwrap_or(current.language.clone()),
        published: c.published.unwrap_or(current.published),
        ..current
    };
    if !store::update(tx.conn(), &next)? {
        return Err(Error::Stale);
    }
    tx.record(Action::Update, EDUCATION, Some(id.as_str()), None)?;
    store::load(tx.conn(), id)?.ok_or(Error::NotFound)
}

/// One resource: a draft only for admins (404 for anyone else).
pub fn get(conn: &mut DbConn, actor: &Actor, id: &ResourceId) -> Result<EducationalResource> {
    match store::load(conn, id)? {
        Some(r) if r.published || actor.scope().is_admin() => Ok(r),
        _ => Err(Error::NotFound),
    }
}

/// Resources by filter and full-text query. With `q`: best match first, the cursor an offset;
/// without: oldest first by id. Drafts only for admins.
pub fn list(
    conn: &mut DbConn,
    actor: &Actor,
    mut f: ResourceFilter,
    page: &Page,
) -> Result<ListResponse<EducationalResource>> {
    let mut v = Validator::new();
    if let Some(q) = &f.q {
        v.check(q.chars().count() <= 500, "q", "at most 500 characters");
    }
    v.finish()?;
    if !actor.scope().is_admin() {
        // Drafts are the admins' only: asking for them finds none.
        if f.published == Some(false) {
            return Ok(ListResponse::from_rows(vec![], page.limit, |_| {
                String::new()
            }));
        }
        f.published = Some(true);
    }
    f.q = f.q.map(|q| q.trim().to_string()).filter(|q| !q.is_empty());
    if f.q.is_none() {
        let rows = store::list(conn, &f, page.after.as_deref(), page.limit + 1)?;
        return Ok(ListResponse::from_rows(rows, page.limit, |r| {
            r.id.to_string()
        }));
    }
    let offset: i64 = match &page.after {
        None => 0,
        Some(a) => a
            .parse()
            .ok()
            .filter(|n| *n >= 0)
            .ok_or_else(|| Error::field("cursor", "is not a cursor of this search"))?,
    };
    let rows = store::search(conn, &f, offset, page.limit + 1)?;
    let next = offset + page.limit;
    Ok(ListResponse::from_rows(rows, page.limit, |_| {
        next.to_string()
    }))
}

/// A doctor of the patient's care team recommends a published resource; once per patient
/// and resource (409). The patient is told (`education_recommended`).
pub fn recommend(tx: &mut Tx, patient: &PatientId, n: NewRecommendation) -> Result<Recommendation> {
    let mut v = Validator::new();
    v.opt_text("note", n.note.as_deref(), 2000);
    v.finish()?;
    let scope = tx.scope().clone();
    let p = Some(patient.as_str());
    let Some(doctor) = scope.own_doctor().cloned() else {
        return Err(tx.deny(
            Error::forbidden("a doctor of the patient's care team recommends resources"),
            Action::Create,
            RECOMMENDATION,
            None,
            p,
        ));
    };
    if !patients::exists(tx.conn(), patient)?
        || !care_team::on_care_team(tx.conn(), &doctor, patient)?
    {
        return Err(tx.deny(Error::NotFound, Action::Create, RECOMMENDATION, None, p));
    }
    let resource = match store::load(tx.conn(), &n.resource_id)? {
        Some(r) if r.published => r,
        _ => {
            return Err(Error::conflict(
                "resource_id does not name a published educational resource",
            ))
        }
    };
    let rec = Recommendation {
        id: RecommendationId::generate(),
        patient_id: patient.clone(),
        doctor_id: doctor,
        note: n
            .note
            .map(|s| s.trim().to_string())
            .filter(|s| !s.is_empty()),
        created_at: Timestamp::now(),
        resource: card(&resource),
    };
    store::insert_recommendation(tx.conn(), &rec).unique(
        ONCE_PER_PATIENT,
        "this resource was already recommended to this patient",
    )?;
    tx.record(Action::Create, RECOMMENDATION, Some(rec.id.as_str()), p)?;
    notifications::notify_patient(
        tx,
        patient,
        "education_recommended",
        format!("Recommended reading: {}", resource.title),
        "Your doctor recommended something to read in your portal.".into(),
        (RECOMMENDATION, rec.id.as_str()),
    )?;
    Ok(rec)
}

/// The resources recommended to a patient, newest first (the patient, their care team,
/// admins; 404 for anyone else).
pub fn recommended(
    conn: &mut DbConn,
    actor: &Actor,
    patient: &PatientId,
    page: &Page,
) -> Result<Audited<ListResponse<Recommendation>>> {
    if !actor.scope().reaches(conn, patient, Level::Clinical)? {
        let p = Some(patient.as_str());
        return Err(actor.deny(Error::NotFound, Action::Search, RECOMMENDATION, None, p));
    }
    let rows = store::recommendations(conn, patient, page.after.as_deref(), page.limit + 1)?;
    Ok(Audited::page(
        rows,
        page.limit,
        |r| r.id.to_string(),
        RECOMMENDATION,
        Some(patient),
        |r| &r.patient_id,
    ))
}

pub(super) fn card(r: &EducationalResource) -> ResourceCard {
    ResourceCard {
        id: r.id.clone(),
        title: r.title.clone(),
        summary: r.summary.clone(),
        url: r.url.clone(),
        category: r.category.clone(),
        language: r.language.clone(),
        published: r.published,
    }
}

/// The FTS5 query for a web-search style `q` (what PostgreSQL's `websearch_to_tsquery` reads):
/// words all must match, `"a phrase"`, `or` between alternatives, `-word` excluded. Every term
/// is quoted, so nothing the user types is FTS5 syntax. `None` when nothing is left to search.
pub(super) fn fts5_query(q: &str) -> Option<String> {
    let quote = |s: &str| format!("\"{}\"", s.replace('"', "\"\""));
    let searchable = |s: &str| s.chars().any(char::is_alphanumeric);
    // Split into terms: a quoted phrase is one term; a leading '-' negates.
    let mut groups: Vec<(Vec<String>, Vec<String>)> = vec![(vec![], vec![])];
    let mut chars = q.chars().peekable();
    while let Some(&c) = chars.peek() {
        if c.is_whitespace() {
            chars.next();
            continue;
        }
        let negated = c == '-';
        if negated {
            chars.next();
        }
        let term: String = if chars.peek() == Some(&'"') {
            chars.next();
            let t: String = chars.by_ref().take_while(|c| *c != '"').collect();
            t
        } else {
            let mut t = String::new();
            while let Some(&c) = chars.peek() {
                if c.is_whitespace() {
                    break;
                }
                t.push(c);
                chars.next();
            }
            if !negated && t.eq_ignore_ascii_case("or") {
                groups.push((vec![], vec![]));
                continue;
            }
            t
        };
        if !searchable(&term) {
            continue;
        }
        let group = groups.last_mut().expect("one group at least");
        if negated {
            group.1.push(quote(&term));
        } else {
            group.0.push(quote(&term));
        }
    }
    let parts: Vec<String> = groups
        .into_iter()
        .filter(|(positive, _)| !positive.is_empty())
        .map(|(positive, negative)| {
            let mut s = positive.join(" ");
            for n in negative {
                s.push_str(" NOT ");
                s.push_str(&n);
            }
            format!("({s})")
        })
        .collect();
    (!parts.is_empty()).then(|| parts.join(" OR "))
}

#[cfg(test)]
mod tests {
    use super::fts5_query;

    #[test]
    fn web_search_syntax_becomes_quoted_fts5() {
        assert_eq!(
            fts5_query("heart failure").unwrap(),
            r#"("heart" "failure")"#
        );
        assert_eq!(
            fts5_query(r#""blood pressure" -salt or diet"#).unwrap(),
            r#"("blood pressure" NOT "salt") OR ("diet")"#
        );
        assert_eq!(fts5_query(r#"a"b NEAR( *"#).unwrap(), r#"("a""b" "NEAR(")"#);
        assert_eq!(fts5_query("-only or ---"), None);
        assert_eq!(fts5_query("  "), None);
    }
}
