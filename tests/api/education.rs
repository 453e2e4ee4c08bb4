//! The patient portal's educational resources: admin-written, full-text search ranked on both
//! backends, filters, drafts, and a care-team doctor's recommendation to a patient.

use reqwest::Method;
use serde_json::{json, Value};

use crate::clinical::*;
use crate::common::*;

async fn resource(app: &TestApp, body: Value) -> String {
    app.post("/educational-resources", &app.admin_token, body)
        .await
        .expect(201)
        .id()
}

/// The titles a search returns, in order, read by `token`.
async fn titles(app: &TestApp, token: &str, query: &str) -> Vec<String> {
    app.get(&format!("/educational-resources?{query}"), token)
        .await
        .expect(200)
        .items()
        .iter()
        .map(|r| r["title"].as_str().unwrap().to_string())
        .collect()
}

struct Library {
    diabetes: String,
    heart: String,
    draft: String,
}

async fn library(app: &TestApp) -> Library {
    let diabetes = resource(
        app,
        json!({"title": "Living with type 2 diabetes", "summary": "Glucose checks, diet and exercise.",
               "body": "# Every day\n\nCheck your glucose before breakfast. Exercise for thirty minutes.",
               "category": "diabetes", "tags": ["glucose", "diet"], "published": true,
               "url": "https://example.org/t2d"}),
    )
    .await;
    let heart = resource(
        app,
        json!({"title": "Heart failure basics", "summary": "What a weak heart means.",
               "body": "Weigh yourself daily. People with diabetes are at higher risk.",
               "category": "heart", "tags": ["weight"], "published": true}),
    )
    .await;
    resource(
        app,
        json!({"title": "Managing high blood pressure", "summary": "Numbers to know.",
               "body": "Less salt lowers blood pressure. Walk more.",
               "category": "heart", "tags": ["diet"], "published": true}),
    )
    .await;
    resource(
        app,
        json!({"title": "Diabetes tipo 2", "summary": "Vivir con diabetes.",
               "body": "Controle su glucosa cada día.", "category": "diabetes",
               "language": "es", "published": true}),
    )
    .await;
    let draft = resource(
        app,
        json!({"title": "Diabetes and fasting (draft)", "summary": "Not ready.",
               "body": "To be written.", "category": "diabetes"}),
    )
    .await;
    Library {
        diabetes,
        heart,
        draft,
    }
}

async fn admins_write_resources(app: &TestApp) {
    let p = app.patient("Reader").await;
    let d = app.doctor("Writer", "endocrinology").await;
    let valid = json!({"title": "T", "summary": "S", "body": "B", "category": "general"});
    for token in [&p.token, &d.token] {
        app.post("/educational-resources", token, valid.clone())
            .await
            .problem(403);
    }
    for (field, bad) in [
        ("category", json!({"category": "Not A Slug!"})),
        ("language", json!({"language": "english"})),
        ("url", json!({"url": "ftp://example.org/x"})),
        ("tags[1]", json!({"tags": ["ok", "NOT OK"]})),
        ("title", json!({"title": "  "})),
        ("body", json!({"body": ""})),
    ] {
        let mut body = valid.clone();
        for (k, v) in bad.as_object().unwrap() {
            body[k] = v.clone();
        }
        let r = app
            .post("/educational-resources", &app.admin_token, body)
            .await
            .problem(422);
        assert!(r.text.contains(field), "{field}: {}", r.text);
    }
    let created = app
        .post(
            "/educational-resources",
            &app.admin_token,
            json!({"title": " Sleep hygiene ", "summary": "Rest well.", "body": "Keep a routine.",
                   "category": "sleep", "tags": ["routine", "rest", "routine"]}),
        )
        .await
        .expect(201);
    let id = created.id();
    assert_eq!(created.body["title"], "Sleep hygiene");
    assert_eq!(created.body["tags"], json!(["rest", "routine"]));
    assert_eq!(created.body["language"], "en");
    assert_eq!(created.body["published"], false);
    assert_eq!(created.body["version"], 1);
    assert_eq!(
        created.header("location"),
        Some(format!("/api/v1/educational-resources/{id}").as_str())
    );
    // A draft is the admins' only.
    let path = format!("/educational-resources/{id}");
    app.get(&path, &p.token).await.problem(404);
    let got = app.get(&path, &app.admin_token).await.expect(200);
    assert_eq!(got.header("etag"), Some("\"1\""));
    // PATCH: admins, If-Match, tags replaced, url cleared with null.
    app.patch(&path, &p.token, json!({"published": true}))
        .await
        .problem(403);
    let stale = app
        .call(
            Method::PATCH,
            &path,
            Some(&app.admin_token),
            Some(json!({"published": true})),
            &[("if-match", "\"7\"")],
        )
        .await;
    assert_eq!(stale.status, 412, "{}", stale.text);
    app.patch(
        &path,
        &app.admin_token,
        json!({"url": "https://example.org/sleep"}),
    )
    .await
    .expect(200);
    let patched = app
        .call(
            Method::PATCH,
            &path,
            Some(&app.admin_token),
            Some(json!({"published": true, "tags": ["night"], "url": null})),
            &[("if-match", "\"2\"")],
        )
        .await
        .expect(200);
    assert_eq!(patched.body["version"], 3);
    assert_eq!(patched.body["tags"], json!(["night"]));
    assert_eq!(patched.body["url"], Value::Null);
    app.patch(&path, &app.admin_token, json!({"language": "xx_YY"}))
        .await
        .problem(422);
    app.get(&path, &p.token).await.expect(200);
    let unknown = format!("/educational-resources/{}", uuid::Uuid::now_v7());
    app.patch(&unknown, &app.admin_token, json!({"published": true}))
        .await
        .problem(404);
    let entries = audit_until(app, &format!("resource_id={id}"), |e| {
        has_entry(e, "create", "educational_resource", Some(&id), "success")
            && e.iter()
                .filter(|x| x["action"] == "update" && x["outcome"] == "success")
                .count()
                == 2
    })
    .await;
    assert!(!entries.is_empty());
}

async fn full_text_search(app: &TestApp) {
    let lib = library(app).await;
    let p = app.patient("Searcher").await;
    // Ranked: title and summary matches before a body-only one; the draft only for admins.
    let found = titles(app, &p.token, "q=diabetes").await;
    assert_eq!(found.len(), 3, "{found:?}");
    assert_eq!(found[2], "Heart failure basics", "{found:?}");
    assert!(found.contains(&"Living with type 2 diabetes".to_string()));
    assert!(found.contains(&"Diabetes tipo 2".to_string()));
    assert!(!found.iter().any(|t| t.contains("draft")), "{found:?}");
    let all = titles(app, &app.admin_token, "q=diabetes").await;
    assert!(all.iter().any(|t| t.contains("draft")), "{all:?}");
    // Stemming, phrases, exclusion, alternatives.
    assert_eq!(
        titles(app, &p.token, "q=exercising").await,
        ["Living with type 2 diabetes"]
    );
    assert_eq!(
        titles(app, &p.token, "q=%22blood+pressure%22").await,
        ["Managing high blood pressure"]
    );
    let without_heart = titles(app, &p.token, "q=diabetes+-heart").await;
    assert!(!without_heart.contains(&"Heart failure basics".to_string()));
    assert!(without_heart.contains(&"Living with type 2 diabetes".to_string()));
    let mut either = titles(app, &p.token, "q=salt+or+breakfast").await;
    either.sort();
    assert_eq!(
        either,
        [
            "Living with type 2 diabetes",
            "Managing high blood pressure"
        ]
    );
    assert!(titles(app, &p.token, "q=appendicitis").await.is_empty());
    // Filters, alone and with a query.
    let mut heart = titles(app, &p.token, "category=heart").await;
    heart.sort();
    assert_eq!(
        heart,
        ["Heart failure basics", "Managing high blood pressure"]
    );
    let mut diet = titles(app, &p.token, "tag=diet").await;
    diet.sort();
    assert_eq!(
        diet,
        [
            "Living with type 2 diabetes",
            "Managing high blood pressure"
        ]
    );
    assert_eq!(
        titles(app, &p.token, "q=diabetes&language=es").await,
        ["Diabetes tipo 2"]
    );
    assert_eq!(
        titles(app, &p.token, "q=diabetes&tag=glucose").await,
        ["Living with type 2 diabetes"]
    );
    assert_eq!(
        titles(app, &app.admin_token, "published=false").await,
        ["Diabetes and fasting (draft)"]
    );
    // A patient cannot ask for drafts.
    assert!(titles(app, &p.token, "published=false").await.is_empty());
    // Search syntax is never an error, whatever is typed.
    for q in ["a%22b+NEAR(+*+(", "-", "%22", "OR+AND+NOT", "%E2%9D%A4"] {
        app.get(&format!("/educational-resources?q={q}"), &p.token)
            .await
            .expect(200);
    }
    // Pages of a ranked search hold every match once, in rank order.
    let paged = app
        .all_pages("/educational-resources?q=diabetes", &app.admin_token, 1)
        .await;
    let paged: Vec<String> = paged
        .iter()
        .map(|r| r["title"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(paged, all);
    app.get(
        "/educational-resources?q=diabetes&cursor=bm90LWEtbnVtYmVy",
        &p.token,
    )
    .await
    .problem(422);
    // An edit is searchable at once; the old words are gone.
    app.patch(
        &format!("/educational-resources/{}", lib.heart),
        &app.admin_token,
        json!({"body": "Watch your cholesterol."}),
    )
    .await
    .expect(200);
    assert_eq!(
        titles(app, &p.token, "q=cholesterol").await,
        ["Heart failure basics"]
    );
    assert!(!titles(app, &p.token, "q=weigh")
        .await
        .contains(&"Heart failure basics".to_string()));
    // Publishing a draft makes it findable.
    app.patch(
        &format!("/educational-resources/{}", lib.draft),
        &app.admin_token,
        json!({"published": true}),
    )
    .await
    .expect(200);
    assert!(titles(app, &p.token, "q=fasting")
        .await
        .contains(&"Diabetes and fasting (draft)".to_string()));
}

async fn doctors_recommend_resources(app: &TestApp) {
    let lib = library(app).await;
    let p = app.patient("Rina").await;
    let d = app.doctor("Recdoc", "endocrinology").await;
    book(app, &d.token, p.pid(), d.did(), &slot(2, 60), &slot(2, 90))
        .await
        .expect(201);
    let off = app.doctor("Offdoc", "surgery").await;
    let other = app.patient("Otto").await;
    let billing = app.staff("billing").await;
    let path = format!("/patients/{}/educational-resources", p.pid());
    let body = json!({"resource_id": lib.diabetes, "note": "Read this before our next visit."});
    // Not a doctor: 403; a doctor off the care team: 404.
    for token in [&p.token, &billing.token, &app.admin_token] {
        app.post(&path, token, body.clone()).await.problem(403);
    }
    app.post(&path, &off.token, body.clone()).await.problem(404);
    let unknown = format!("/patients/{}/educational-resources", uuid::Uuid::now_v7());
    app.post(&unknown, &d.token, body.clone())
        .await
        .problem(404);
    // A draft or unknown resource: 409.
    for id in [lib.draft.clone(), uuid::Uuid::now_v7().to_string()] {
        app.post(&path, &d.token, json!({"resource_id": id}))
            .await
            .problem(409);
    }
    app.post(
        &path,
        &d.token,
        json!({"resource_id": lib.heart, "note": "x".repeat(2001)}),
    )
    .await
    .problem(422);
    let rec = app.post(&path, &d.token, body.clone()).await.expect(201);
    assert_eq!(rec.body["doctor_id"], d.did());
    assert_eq!(rec.body["resource"]["title"], "Living with type 2 diabetes");
    // Once per patient and resource.
    app.post(&path, &d.token, body.clone()).await.problem(409);
    app.post(&path, &d.token, json!({"resource_id": lib.heart}))
        .await
        .expect(201);
    // The patient is told.
    let told = notifications(app, &p.token).await;
    assert_eq!(
        told.iter()
            .filter(|n| n["kind"] == "education_recommended")
            .count(),
        2,
        "{told:?}"
    );
    // Read by the patient, the care team and admins; newest first; 404 for anyone else.
    for token in [&p.token, &d.token, &app.admin_token] {
        let items = app.get(&path, token).await.expect(200).items();
        assert_eq!(items.len(), 2);
        assert_eq!(items[0]["resource"]["title"], "Heart failure basics");
        assert_eq!(items[1]["note"], "Read this before our next visit.");
        assert!(items[0]["resource"].get("body").is_none());
    }
    for token in [&off.token, &other.token] {
        app.get(&path, token).await.problem(404);
    }
    let entries = audit_until(app, &format!("patient_id={}", p.pid()), |e| {
        has_entry(e, "create", "education_recommendation", None, "success")
            && e.iter().any(|x| {
                x["action"] == "search"
                    && x["resource_type"] == "education_recommendation"
                    && x["outcome"] == "denied"
            })
    })
    .await;
    assert!(!entries.is_empty());
}

both_backends!(
    admins_write_resources,
    full_text_search,
    doctors_recommend_resources
);
