//! The educational resources' queries: resources with their tags, the full-text search of
//! each backend, recommendations.

use std::collections::HashMap;

use diesel::prelude::*;
use diesel::sql_types::{BigInt, Bool, Nullable, Text};

use super::education::{
    card, fts5_query, EducationalResource, Recommendation, ResourceFilter, ResourceId,
};
use crate::db::schema::{
    education_recommendations, educational_resource_tags, educational_resources,
};
use crate::db::DbConn;
use crate::kit::{DoctorId, PatientId, Timestamp, UserId};

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = educational_resources)]
struct Row {
    id: String,
    title: String,
    summary: String,
    body: String,
    url: Option<String>,
    category: String,
    language: String,
    published: bool,
    created_by: Option<String>,
    created_at: chrono::NaiveDateTime,
    updated_at: chrono::NaiveDateTime,
    version: i32,
}

impl Row {
    fn with_tags(self, tags: Vec<String>) -> EducationalResource {
        EducationalResource {
            id: ResourceId::from_db(self.id),
            title: self.title,
            summary: self.summary,
            body: self.body,
            url: self.url,
            category: self.category,
            tags,
            language: self.language,
            published: self.published,
            created_by: self.created_by.map(UserId::from_db),
            created_at: Timestamp::from_db(self.created_at),
            updated_at: Timestamp::from_db(self.updated_at),
            version: self.version,
        }
    }
}

/// The rows with their tags (one query for all of them), in the rows' order.
fn with_tags(conn: &mut DbConn, rows: Vec<Row>) -> QueryResult<Vec<EducationalResource>> {
    let ids: Vec<&str> = rows.iter().map(|r| r.id.as_str()).collect();
    let mut tags: HashMap<String, Vec<String>> = HashMap::new();
    for (id, tag) in educational_resource_tags::table
        .filter(educational_resource_tags::resource_id.eq_any(&ids))
        .order((
            educational_resource_tags::resource_id,
            educational_resource_tags::tag,
        ))
        .load::<(String, String)>(conn)?
    {
        tags.entry(id).or_default().push(tag);
    }
    Ok(rows
        .into_iter()
        .map(|r| {
            let t = tags.remove(&r.id).unwrap_or_default();
            r.with_tags(t)
        })
        .collect())
}

pub(super) fn load(conn: &mut DbConn, id: &ResourceId) -> QueryResult<Option<EducationalResource>> {
    let row = educational_resources::table
        .find(id.as_str())
        .select(Row::as_select())
        .first(conn)
        .optional()?;
    Ok(match row {
        Some(r) => with_tags(conn, vec![r])?.pop(),
        None => None,
    })
}

pub(super) fn lock(conn: &mut DbConn, id: &ResourceId) -> QueryResult<bool> {
    crate::db::sql::lock_row(conn, "educational_resources", id.as_str())
}

fn insert_tags(conn: &mut DbConn, id: &ResourceId, tags: &[String]) -> QueryResult<()> {
    if tags.is_empty() {
        return Ok(());
    }
    let rows: Vec<_> = tags
        .iter()
        .map(|t| {
            (
                educational_resource_tags::resource_id.eq(id.as_str()),
                educational_resource_tags::tag.eq(t.as_str()),
            )
        })
        .collect();
    crate::on_backend!(conn, |c| diesel::insert_into(
        educational_resource_tags::table
    )
    .values(&rows)
    .execute(c))?;
    Ok(())
}

pub(super) fn insert(conn: &mut DbConn, r: &EducationalResource) -> QueryResult<()> {
    diesel::insert_into(educational_resources::table)
        .values((
            educational_resources::id.eq(r.id.as_str()),
            educational_resources::title.eq(&r.title),
            educational_resources::summary.eq(&r.summary),
            educational_resources::body.eq(&r.body),
            educational_resources::url.eq(&r.url),
            educational_resources::category.eq(&r.category),
            educational_resources::language.eq(&r.language),
            educational_resources::published.eq(r.published),
            educational_resources::created_by.eq(r.created_by.as_ref().map(|u| u.as_str())),
            educational_resources::created_at.eq(r.created_at.naive()),
            educational_resources::updated_at.eq(r.updated_at.naive()),
            educational_resources::version.eq(r.version),
        ))
        .execute(conn)?;
    insert_tags(conn, &r.id, &r.tags)
}

/// The versioned update; the tags are replaced.
pub(super) fn update(conn: &mut DbConn, r: &EducationalResource) -> QueryResult<bool> {
    let updated = crate::update_versioned!(
        conn,
        educational_resources,
        r.id.as_str(),
        r.version,
        (
            t::title.eq(&r.title),
            t::summary.eq(&r.summary),
            t::body.eq(&r.body),
            t::url.eq(&r.url),
            t::category.eq(&r.category),
            t::language.eq(&r.language),
            t::published.eq(r.published),
        )
    )?;
    if updated {
        diesel::delete(
            educational_resource_tags::table
                .filter(educational_resource_tags::resource_id.eq(r.id.as_str())),
        )
        .execute(conn)?;
        insert_tags(conn, &r.id, &r.tags)?;
    }
    Ok(updated)
}

/// Without a query: by id, after the cursor.
pub(super) fn list(
    conn: &mut DbConn,
    f: &ResourceFilter,
    after: Option<&str>,
    limit: i64,
) -> QueryResult<Vec<EducationalResource>> {
    let mut q = educational_resources::table
        .select(Row::as_select())
        .order(educational_resources::id)
        .limit(limit)
        .into_boxed();
    if let Some(c) = &f.category {
        q = q.filter(educational_resources::category.eq(c.clone()));
    }
    if let Some(l) = &f.language {
        q = q.filter(educational_resources::language.eq(l.clone()));
    }
    if let Some(p) = f.published {
        q = q.filter(educational_resources::published.eq(p));
    }
    if let Some(t) = &f.tag {
        q = q.filter(
            educational_resources::id.eq_any(
                educational_resource_tags::table
                    .filter(educational_resource_tags::tag.eq(t.clone()))
                    .select(educational_resource_tags::resource_id),
            ),
        );
    }
    if let Some(a) = after {
        q = q.filter(educational_resources::id.gt(a.to_string()));
    }
    let rows = q.load::<Row>(conn)?;
    with_tags(conn, rows)
}

#[derive(QueryableByName)]
struct Hit {
    #[diesel(sql_type = Text)]
    id: String,
}

/// The filters every search shares; `r` is the resources table. Parameters `$2`–`$5`.
const FILTERS: &str = "($2 IS NULL OR r.published = $2) \
     AND ($3 IS NULL OR r.category = $3) \
     AND ($4 IS NULL OR r.language = $4) \
     AND ($5 IS NULL OR EXISTS (SELECT 1 FROM educational_resource_tags g \
                                WHERE g.resource_id = r.id AND g.tag = $5))";

/// Full-text search, best match first: FTS5's bm25 on SQLite (title weighted 10, summary 4,
/// body 1), `ts_rank` over the weighted document on PostgreSQL; then by id. `offset` rows
/// skipped.
pub(super) fn search(
    conn: &mut DbConn,
    f: &ResourceFilter,
    offset: i64,
    limit: i64,
) -> QueryResult<Vec<EducationalResource>> {
    let query = f.q.clone().unwrap_or_default();
    let sql = match conn {
        DbConn::Sqlite(_) => format!(
            "SELECT r.id AS id FROM educational_resources_fts \
             JOIN educational_resources r ON r.id = educational_resources_fts.resource_id \
             WHERE educational_resources_fts MATCH $1 AND {FILTERS} \
             ORDER BY bm25(educational_resources_fts, 0.0, 10.0, 4.0, 1.0), r.id \
             LIMIT $6 OFFSET $7"
        ),
        DbConn::Postgres(_) => format!(
            "SELECT r.id AS id FROM educational_resources r, \
                 websearch_to_tsquery('english', $1) query \
             WHERE educational_resource_document(r.title, r.summary, r.body) @@ query \
               AND {FILTERS} \
             ORDER BY ts_rank(educational_resource_document(r.title, r.summary, r.body), query) \
                 DESC, r.id \
             LIMIT $6 OFFSET $7"
        ),
    };
    let matched = match conn {
        DbConn::Sqlite(_) => match fts5_query(&query) {
            Some(q) => q,
            None => return Ok(vec![]),
        },
        DbConn::Postgres(_) => query,
    };
    let hits: Vec<Hit> = diesel::sql_query(sql)
        .bind::<Text, _>(matched)
        .bind::<Nullable<Bool>, _>(f.published)
        .bind::<Nullable<Text>, _>(f.category.as_deref())
        .bind::<Nullable<Text>, _>(f.language.as_deref())
        .bind::<Nullable<Text>, _>(f.tag.as_deref())
        .bind::<BigInt, _>(limit)
        .bind::<BigInt, _>(offset)
        .load(conn)?;
    let ids: Vec<&str> = hits.iter().map(|h| h.id.as_str()).collect();
    let mut rows: HashMap<String, Row> = educational_resources::table
        .filter(educational_resources::id.eq_any(&ids))
        .select(Row::as_select())
        .load::<Row>(conn)?
        .into_iter()
        .map(|r| (r.id.clone(), r))
        .collect();
    let ranked: Vec<Row> = ids.iter().filter_map(|id| rows.remove(*id)).collect();
    with_tags(conn, ranked)
}

pub(super) fn insert_recommendation(conn: &mut DbConn, r: &Recommendation) -> QueryResult<()> {
    diesel::insert_into(education_recommendations::table)
        .values((
            education_recommendations::id.eq(r.id.as_str()),
            education_recommendations::patient_id.eq(r.patient_id.as_str()),
            education_recommendations::resource_id.eq(r.resource.id.as_str()),
            education_recommendations::doctor_id.eq(r.doctor_id.as_str()),
            education_recommendations::note.eq(&r.note),
            education_recommendations::created_at.eq(r.created_at.naive()),
        ))
        .execute(conn)?;
    Ok(())
}

/// A recommendation's own columns: id, doctor, note, when.
type RecommendationRow = (String, String, Option<String>, chrono::NaiveDateTime);

/// A patient's recommendations with their resources, newest first.
pub(super) fn recommendations(
    conn: &mut DbConn,
    patient: &PatientId,
    before: Option<&str>,
    limit: i64,
) -> QueryResult<Vec<Recommendation>> {
    use education_recommendations as er;
    let mut q = er::table
        .inner_join(educational_resources::table.on(educational_resources::id.eq(er::resource_id)))
        .filter(er::patient_id.eq(patient.as_str()))
        .select((
            (er::id, er::doctor_id, er::note, er::created_at),
            Row::as_select(),
        ))
        .order(er::id.desc())
        .limit(limit)
        .into_boxed();
    if let Some(b) = before {
        q = q.filter(er::id.lt(b.to_string()));
    }
    let rows: Vec<(RecommendationRow, Row)> = q.load(conn)?;
    Ok(rows
        .into_iter()
        .map(|((id, doctor, note, at), resource)| Recommendation {
            id: super::education::RecommendationId::from_db(id),
            patient_id: patient.clone(),
            doctor_id: DoctorId::from_db(doctor),
            note,
            created_at: Timestamp::from_db(at),
            resource: card(&resource.with_tags(vec![])),
        })
        .collect())
}
