//! Portal surveys: admins define them (validated, versioned, questions frozen once answered),
//! each audience sees and answers its active ones once, and admins read results grouped in
//! SQL that name no one.

use reqwest::Method;
use serde_json::{json, Value};

use crate::clinical::*;
use crate::common::*;

/// A survey of every kind of question; `visit` and `ease` required.
fn experience(audience: &str) -> Value {
    json!({
        "title": "Patient experience",
        "description": "Tell us how your last visit went.",
        "audience": audience,
        "questions": [
            {"id": "visit", "text": "How did you see us?", "kind": "single_choice",
             "options": ["Clinic", "Video", "Phone"], "required": true},
            {"id": "topics", "text": "What did you use the portal for?",
             "kind": "multiple_choice", "options": ["Booking", "Billing", "Results"]},
            {"id": "ease", "text": "How easy was it?", "kind": "scale", "required": true},
            {"id": "comments", "text": "Anything else?", "kind": "text"},
        ],
    })
}

async fn create(app: &TestApp, body: Value) -> String {
    app.post("/surveys", &app.admin_token, body)
        .await
        .expect(201)
        .id()
}

/// The fields a 422 names.
fn fields(r: &Resp) -> Vec<String> {
    r.body["errors"]
        .as_array()
        .expect("a 422 lists its fields")
        .iter()
        .map(|e| e["field"].as_str().unwrap().to_string())
        .collect()
}

#[track_caller]
fn names(r: Resp, field: &str) {
    let r = r.problem(422);
    assert!(fields(&r).iter().any(|f| f == field), "{field}: {}", r.text);
}

async fn respond(app: &TestApp, token: &str, survey: &str, answers: Value) -> Resp {
    app.post(
        &format!("/surveys/{survey}/responses"),
        token,
        json!({ "answers": answers }),
    )
    .await
}

fn ids(items: &[Value]) -> Vec<String> {
    items
        .iter()
        .map(|s| s["id"].as_str().unwrap().to_string())
        .collect()
}

async fn admins_create_and_change_surveys(app: &TestApp) {
    // Ids given or generated (`q<position>`, skipping one an admin took); defaults filled in.
    let made = app
        .post(
            "/surveys",
            &app.admin_token,
            json!({
                "title": "  Clinic survey ",
                "audience": "all",
                "questions": [
                    {"id": "q2", "text": "First", "kind": "text"},
                    {"text": "Second", "kind": "scale"},
                    {"text": "Third", "kind": "single_choice", "options": [" Yes ", "No"],
                     "required": true},
                ],
            }),
        )
        .await
        .expect(201);
    let id = made.id();
    assert_eq!(made.header("etag"), Some("\"1\""));
    assert_eq!(
        made.header("location"),
        Some(format!("/api/v1/surveys/{id}").as_str())
    );
    let s = &made.body;
    assert_eq!(s["title"], "Clinic survey");
    assert_eq!(s["active"], true);
    assert_eq!(s["version"], 1);
    assert!(s["description"].is_null());
    let q = s["questions"].as_array().unwrap();
    let qids: Vec<&str> = q.iter().map(|x| x["id"].as_str().unwrap()).collect();
    assert_eq!(qids, ["q2", "q3", "q4"]);
    assert_eq!(q[0]["options"], json!([]));
    assert!(q[0]["min"].is_null() && q[0]["max"].is_null());
    assert_eq!(q[0]["required"], false);
    assert_eq!(
        (q[1]["min"].as_i64(), q[1]["max"].as_i64()),
        (Some(1), Some(5))
    );
    assert_eq!(q[2]["options"], json!(["Yes", "No"]));
    assert_eq!(q[2]["required"], true);
    let got = app
        .get(&format!("/surveys/{id}"), &app.admin_token)
        .await
        .expect(200);
    assert_eq!(got.header("etag"), Some("\"1\""));
    assert_eq!(got.body, made.body);

    // Only admins create and change surveys (audited 403s).
    let p = app.patient("Surv").await;
    let d = app.doctor("Survdoc", "family medicine").await;
    let billing = app.staff("billing").await;
    let path = format!("/surveys/{id}");
    for who in [&p, &d, &billing] {
        app.post("/surveys", &who.token, experience("all"))
            .await
            .problem(403);
        app.patch(&path, &who.token, json!({"title": "Mine now"}))
            .await
            .problem(403);
    }
    audit_until(
        app,
        &format!("resource_type=survey&user_id={}", d.user_id),
        |items| {
            has_entry(items, "create", "survey", None, "denied")
                && has_entry(items, "update", "survey", Some(&id), "denied")
        },
    )
    .await;

    // PATCH with If-Match: the current version works, a stale one is 412 and changes nothing,
    // one that names no version of ours is 412; without If-Match the change counts.
    let patch = |if_match: &'static str, body: Value| {
        let path = path.clone();
        async move {
            let headers: Vec<(&str, &str)> = if if_match.is_empty() {
                vec![]
            } else {
                vec![("if-match", if_match)]
            };
            app.call(
                Method::PATCH,
                &path,
                Some(&app.admin_token),
                Some(body),
                &headers,
            )
            .await
        }
    };
    let changed = patch(
        "\"1\"",
        json!({"title": "Clinic survey, 2027", "description": "Two minutes.", "active": false}),
    )
    .await
    .expect(200);
    assert_eq!(changed.header("etag"), Some("\"2\""));
    assert_eq!(changed.body["version"], 2);
    assert_eq!(changed.body["title"], "Clinic survey, 2027");
    assert_eq!(changed.body["description"], "Two minutes.");
    assert_eq!(changed.body["active"], false);
    assert_eq!(changed.body["questions"], made.body["questions"]);
    patch("\"1\"", json!({"title": "Stale"})).await.problem(412);
    patch("W/\"nonsense\"", json!({"title": "Bad tag"}))
        .await
        .problem(412);
    let free = patch("", json!({"description": "", "audience": "staff"}))
        .await
        .expect(200);
    assert_eq!(free.body["version"], 3);
    assert!(free.body["description"].is_null());
    assert_eq!(free.body["audience"], "staff");
    assert_eq!(free.body["title"], "Clinic survey, 2027");
    // Questions are replaced whole while nobody has answered.
    let replaced = patch(
        "\"3\"",
        json!({"questions": [{"text": "Only one", "kind": "scale", "min": 0, "max": 10}]}),
    )
    .await
    .expect(200);
    assert_eq!(replaced.body["questions"][0]["id"], "q1");
    assert_eq!(replaced.body["questions"][0]["max"], 10);
    // Bad changes are 422; an unknown survey 404.
    names(patch("", json!({"title": " "})).await, "title");
    names(patch("", json!({"questions": []})).await, "questions");
    names(patch("", json!({"version": 9})).await, "version");
    app.patch(
        &format!("/surveys/{}", uuid::Uuid::now_v7()),
        &app.admin_token,
        json!({"title": "Nobody"}),
    )
    .await
    .problem(404);

    // One If-Match, several racers: exactly one wins.
    let racers = (0..5).map(|i| patch("\"4\"", json!({"title": format!("Racer {i}")})));
    let statuses: Vec<u16> = futures::future::join_all(racers)
        .await
        .into_iter()
        .map(|r| r.status.as_u16())
        .collect();
    assert_eq!(
        statuses.iter().filter(|s| **s == 200).count(),
        1,
        "{statuses:?}"
    );
    assert_eq!(
        statuses.iter().filter(|s| **s == 412).count(),
        4,
        "{statuses:?}"
    );

    // Every create and change is in the trail.
    let admin_id = app.get("/auth/me", &app.admin_token).await.expect(200).id();
    audit_until(
        app,
        &format!("resource_type=survey&user_id={admin_id}"),
        |items| {
            has_entry(items, "create", "survey", Some(&id), "success")
                && items
                    .iter()
                    .filter(|e| {
                        e["action"] == "update"
                            && e["outcome"] == "success"
                            && e["resource_id"] == id.as_str()
                    })
                    .count()
                    == 4
        },
    )
    .await;
}

async fn survey_definitions_are_validated(app: &TestApp) {
    let post = |body: Value| async move { app.post("/surveys", &app.admin_token, body).await };
    let with = |questions: Value| json!({"title": "T", "audience": "all", "questions": questions});
    let choice =
        |options: Value| json!({"text": "Pick", "kind": "single_choice", "options": options});
    names(post(with(json!([]))).await, "questions");
    let many: Vec<Value> = (0..51)
        .map(|i| json!({"text": format!("Q{i}"), "kind": "text"}))
        .collect();
    names(post(with(json!(many))).await, "questions");
    let fifty: Vec<Value> = (0..50)
        .map(|i| json!({"text": format!("Q{i}"), "kind": "text"}))
        .collect();
    post(with(json!(fifty))).await.expect(201);
    names(
        post(with(json!([choice(json!(["Only"]))]))).await,
        "questions[0].options",
    );
    names(
        post(with(json!([{"text": "Pick", "kind": "multiple_choice"}]))).await,
        "questions[0].options",
    );
    let options: Vec<String> = (0..21).map(|i| format!("O{i}")).collect();
    names(
        post(with(json!([choice(json!(options))]))).await,
        "questions[0].options",
    );
    names(
        post(with(json!([choice(json!(["Yes", "yes"]))]))).await,
        "questions[0].options",
    );
    names(
        post(with(json!([choice(json!(["Yes", " "]))]))).await,
        "questions[0].options",
    );
    names(
        post(with(
            json!([{"text": "Pick", "kind": "single_choice", "options": ["A", "B"], "min": 1}]),
        ))
        .await,
        "questions[0].min",
    );
    names(
        post(with(json!([
            {"text": "Fine", "kind": "text"},
            {"text": "Rate", "kind": "scale", "min": 5, "max": 5},
        ])))
        .await,
        "questions[1].max",
    );
    names(
        post(with(json!([{"text": "Rate", "kind": "scale", "max": 0}]))).await,
        "questions[0].max",
    );
    names(
        post(with(
            json!([{"text": "Rate", "kind": "scale", "options": ["1", "2"]}]),
        ))
        .await,
        "questions[0].options",
    );
    names(
        post(with(
            json!([{"text": "Say", "kind": "text", "options": ["A", "B"]}]),
        ))
        .await,
        "questions[0].options",
    );
    names(
        post(with(json!([{"text": "Say", "kind": "text", "max": 3}]))).await,
        "questions[0].min",
    );
    names(
        post(with(json!([{"text": " ", "kind": "text"}]))).await,
        "questions[0].text",
    );
    for bad in ["Q1", "q 1", "", "é", &"q".repeat(41)] {
        names(
            post(with(json!([{"id": bad, "text": "Say", "kind": "text"}]))).await,
            "questions[0].id",
        );
    }
    names(
        post(with(json!([
            {"id": "same", "text": "One", "kind": "text"},
            {"id": "same", "text": "Two", "kind": "text"},
        ])))
        .await,
        "questions[1].id",
    );
    // Several faults at once, each by its field.
    let r = post(json!({"title": "", "audience": "all", "questions": [
        {"text": "Rate", "kind": "scale", "min": 3, "max": 1},
        {"text": "Pick", "kind": "single_choice", "options": ["A"]},
    ]}))
    .await
    .problem(422);
    let f = fields(&r);
    for want in ["title", "questions[0].max", "questions[1].options"] {
        assert!(f.iter().any(|x| x == want), "{want}: {f:?}");
    }
    // Shape errors: unknown kinds, audiences and fields; missing ones.
    names(
        post(with(json!([{"text": "Say", "kind": "essay"}]))).await,
        "questions[0].kind",
    );
    names(
        post(json!({"title": "T", "audience": "doctors", "questions": [{"text": "S", "kind": "text"}]}))
            .await,
        "audience",
    );
    names(
        post(json!({"title": "T", "questions": [{"text": "S", "kind": "text"}]})).await,
        "audience",
    );
    names(
        post(json!({"title": "T", "audience": "all", "id": "mine",
                    "questions": [{"text": "S", "kind": "text"}]}))
        .await,
        "id",
    );
    names(
        post(with(json!([{"text": "S", "kind": "text", "weight": 2}]))).await,
        "questions[0].weight",
    );
    names(
        post(with(json!([{"text": "Rate", "kind": "scale", "min": 1.5}]))).await,
        "questions[0].min",
    );
}

async fn each_audience_sees_its_active_surveys(app: &TestApp) {
    let everyone = create(app, experience("all")).await;
    let patients = create(app, experience("patients")).await;
    let staff = create(app, experience("staff")).await;
    let mut off = experience("all");
    off["active"] = json!(false);
    let inactive = create(app, off).await;

    let p = app.patient("Aud").await;
    let d = app.doctor("Auddoc", "cardiology").await;
    let billing = app.staff("billing").await;
    let visible = |token: String| async move {
        let mut v = ids(&app.all_pages("/surveys", &token, 2).await);
        v.sort();
        v
    };
    let sorted = |mut v: Vec<&String>| {
        v.sort();
        v.into_iter().cloned().collect::<Vec<String>>()
    };
    assert_eq!(
        visible(p.token.clone()).await,
        sorted(vec![&everyone, &patients])
    );
    for who in [&d, &billing] {
        assert_eq!(
            visible(who.token.clone()).await,
            sorted(vec![&everyone, &staff])
        );
    }
    assert_eq!(
        visible(app.admin_token.clone()).await,
        sorted(vec![&everyone, &patients, &staff, &inactive])
    );
    // Newest first; the filters narrow what the caller sees.
    let all = app
        .get("/surveys", &app.admin_token)
        .await
        .expect(200)
        .items();
    assert_eq!(
        ids(&all),
        [
            inactive.as_str(),
            staff.as_str(),
            patients.as_str(),
            everyone.as_str()
        ]
    );
    assert_eq!(
        ids(&app
            .get("/surveys?active=false", &app.admin_token)
            .await
            .expect(200)
            .items()),
        [inactive.as_str()]
    );
    assert_eq!(
        ids(&app
            .get("/surveys?audience=patients", &app.admin_token)
            .await
            .expect(200)
            .items()),
        [patients.as_str()]
    );
    assert!(app
        .get("/surveys?active=false", &p.token)
        .await
        .expect(200)
        .items()
        .is_empty());
    app.get("/surveys?audience=nobody", &p.token)
        .await
        .problem(422);

    // One survey: the same visibility, 404 otherwise.
    let can = |token: &str, id: &str| {
        let (token, id) = (token.to_string(), id.to_string());
        async move {
            app.get(&format!("/surveys/{id}"), &token)
                .await
                .status
                .as_u16()
        }
    };
    assert_eq!(can(&p.token, &everyone).await, 200);
    assert_eq!(can(&p.token, &patients).await, 200);
    assert_eq!(can(&p.token, &staff).await, 404);
    assert_eq!(can(&p.token, &inactive).await, 404);
    assert_eq!(can(&d.token, &staff).await, 200);
    assert_eq!(can(&d.token, &patients).await, 404);
    assert_eq!(can(&billing.token, &staff).await, 200);
    for s in [&everyone, &patients, &staff, &inactive] {
        assert_eq!(can(&app.admin_token, s).await, 200);
    }
    assert_eq!(
        can(&app.admin_token, &uuid::Uuid::now_v7().to_string()).await,
        404
    );

    // Answering follows the same rule: only active surveys for one's audience (404 otherwise).
    let ok = json!({"visit": "Clinic", "ease": 4});
    for (who, survey) in [
        (&p.token, &staff),
        (&p.token, &inactive),
        (&d.token, &patients),
        (&billing.token, &patients),
        (&app.admin_token, &patients),
        (&app.admin_token, &inactive),
    ] {
        respond(app, who, survey, ok.clone()).await.problem(404);
    }
    respond(app, &p.token, &uuid::Uuid::now_v7().to_string(), ok.clone())
        .await
        .problem(404);
    respond(app, &p.token, &patients, ok.clone())
        .await
        .expect(201);
    respond(app, &d.token, &staff, ok.clone()).await.expect(201);
    respond(app, &billing.token, &everyone, ok.clone())
        .await
        .expect(201);
    // Admins are staff too.
    respond(app, &app.admin_token, &staff, ok.clone())
        .await
        .expect(201);
    // A survey switched off leaves its audience's list and takes no more answers.
    app.patch(
        &format!("/surveys/{everyone}"),
        &app.admin_token,
        json!({"active": false}),
    )
    .await
    .expect(200);
    assert_eq!(visible(p.token.clone()).await, vec![patients.clone()]);
    respond(app, &p.token, &everyone, ok.clone())
        .await
        .problem(404);
    assert_eq!(can(&p.token, &everyone).await, 404);
}

async fn answers_are_checked_against_their_questions(app: &TestApp) {
    let mut body = experience("all");
    body["questions"]
        .as_array_mut()
        .unwrap()
        .push(json!({"id": "nps", "text": "Recommend us?", "kind": "scale", "min": 0, "max": 10}));
    let s = create(app, body).await;
    let p = app.patient("Ans").await;
    let good = json!({"visit": "Video", "ease": 3});
    let with = |field: &str, value: Value| {
        let mut a = good.clone();
        a[field] = value;
        a
    };
    let cases: Vec<(Value, &str)> = vec![
        (json!({"ease": 3}), "answers.visit"),
        (with("visit", Value::Null), "answers.visit"),
        (with("visit", json!("Email")), "answers.visit"),
        (with("visit", json!("video")), "answers.visit"),
        (with("visit", json!(1)), "answers.visit"),
        (with("visit", json!(["Video"])), "answers.visit"),
        (with("topics", json!("Booking")), "answers.topics"),
        (
            with("topics", json!(["Booking", "Booking"])),
            "answers.topics",
        ),
        (with("topics", json!(["Booking", "Nope"])), "answers.topics"),
        (with("topics", json!([1])), "answers.topics"),
        (json!({"visit": "Video"}), "answers.ease"),
        (with("ease", json!(6)), "answers.ease"),
        (with("ease", json!(0)), "answers.ease"),
        (with("ease", json!(3.5)), "answers.ease"),
        (with("ease", json!("3")), "answers.ease"),
        (with("nps", json!(11)), "answers.nps"),
        (with("nps", json!(-1)), "answers.nps"),
        (with("comments", json!("")), "answers.comments"),
        (with("comments", json!("   ")), "answers.comments"),
        (
            with("comments", json!("x".repeat(5001))),
            "answers.comments",
        ),
        (with("comments", json!(42)), "answers.comments"),
        (with("q9", json!("hello")), "answers.q9"),
    ];
    for (answers, field) in cases {
        names(respond(app, &p.token, &s, answers.clone()).await, field);
    }
    // Every fault at once.
    let r = respond(
        app,
        &p.token,
        &s,
        json!({"visit": "Email", "ease": 9, "extra": true}),
    )
    .await
    .problem(422);
    let mut f = fields(&r);
    f.sort();
    assert_eq!(f, ["answers.ease", "answers.extra", "answers.visit"]);
    // The body's shape.
    for bad in [
        json!({}),
        json!({"answers": []}),
        json!({"answers": {}, "user_id": "x"}),
    ] {
        app.post(&format!("/surveys/{s}/responses"), &p.token, bad)
            .await
            .problem(422);
    }
    // Optional questions may be left out or null; a required multiple choice needs an option.
    let r = respond(
        app,
        &p.token,
        &s,
        json!({"visit": "Phone", "ease": 5, "topics": [], "comments": null,
               "nps": 10}),
    )
    .await
    .expect(201);
    assert_eq!(
        r.body["answers"],
        json!({"visit": "Phone", "ease": 5, "nps": 10})
    );
    assert_eq!(r.body["user_id"], p.user_id.as_str());
    assert_eq!(r.body["survey_id"], s.as_str());
    let strict = create(
        app,
        json!({"title": "Strict", "audience": "patients", "questions": [
            {"id": "areas", "text": "Which areas?", "kind": "multiple_choice",
             "options": ["Front desk", "Nursing"], "required": true},
            {"id": "note", "text": "Why?", "kind": "text"},
        ]}),
    )
    .await;
    names(
        respond(app, &p.token, &strict, json!({"areas": []})).await,
        "answers.areas",
    );
    let r = respond(
        app,
        &p.token,
        &strict,
        json!({"areas": ["Nursing", "Front desk"], "note": "  Kind nurses  "}),
    )
    .await
    .expect(201);
    assert_eq!(r.body["answers"]["note"], "Kind nurses");
    // A response that answers nothing at all is no response.
    let optional = create(
        app,
        json!({"title": "Optional", "audience": "all", "questions": [
            {"text": "Say", "kind": "text"}, {"text": "Rate", "kind": "scale"},
        ]}),
    )
    .await;
    names(
        respond(app, &p.token, &optional, json!({})).await,
        "answers",
    );
    names(
        respond(app, &p.token, &optional, json!({"q1": null})).await,
        "answers",
    );
    respond(app, &p.token, &optional, json!({"q2": 1}))
        .await
        .expect(201);
}

async fn one_response_per_user_and_frozen_questions(app: &TestApp) {
    let s = create(app, experience("all")).await;
    let path = format!("/surveys/{s}");
    let p = app.patient("Once").await;
    let answers = json!({"visit": "Clinic", "ease": 5});
    let first = respond(app, &p.token, &s, answers.clone())
        .await
        .expect(201);
    let again = respond(app, &p.token, &s, json!({"visit": "Video", "ease": 1}))
        .await
        .problem(409);
    assert!(again.body["detail"]
        .as_str()
        .unwrap()
        .contains("already responded"));
    // Concurrent submissions of one user: the unique constraint lets exactly one in.
    let q = app.patient("Racing").await;
    let racers = (0..6).map(|_| respond(app, &q.token, &s, answers.clone()));
    let statuses: Vec<u16> = futures::future::join_all(racers)
        .await
        .into_iter()
        .map(|r| r.status.as_u16())
        .collect();
    assert_eq!(
        statuses.iter().filter(|s| **s == 201).count(),
        1,
        "{statuses:?}"
    );
    assert_eq!(
        statuses.iter().filter(|s| **s == 409).count(),
        5,
        "{statuses:?}"
    );
    // The submission is audited as the respondent's, naming no patient.
    let rid = first.id();
    let items = audit_until(
        app,
        &format!("resource_type=survey_response&user_id={}", p.user_id),
        |items| has_entry(items, "create", "survey_response", Some(&rid), "success"),
    )
    .await;
    assert!(items.iter().all(|e| e["patient_id"].is_null()), "{items:?}");

    // With a response, the questions are frozen (409) — unless sent back unchanged — while the
    // rest of the survey still changes.
    let current = app.get(&path, &app.admin_token).await.expect(200).body;
    let mut changed = current["questions"].clone();
    changed[0]["options"] = json!(["Clinic", "Video", "Phone", "Home visit"]);
    let r = app
        .patch(&path, &app.admin_token, json!({"questions": changed}))
        .await
        .problem(409);
    assert!(r.body["detail"].as_str().unwrap().contains("questions"));
    app.patch(
        &path,
        &app.admin_token,
        json!({"questions": [{"text": "Brand new", "kind": "text"}]}),
    )
    .await
    .problem(409);
    let same = app
        .patch(
            &path,
            &app.admin_token,
            json!({"questions": current["questions"], "title": "Renamed"}),
        )
        .await
        .expect(200);
    assert_eq!(same.body["questions"], current["questions"]);
    let off = app
        .patch(
            &path,
            &app.admin_token,
            json!({"title": "Patient experience (closed)", "active": false,
                   "audience": "patients"}),
        )
        .await
        .expect(200);
    assert_eq!(off.body["active"], false);
    assert_eq!(off.body["version"], 3);
    assert_eq!(
        app.get(&path, &app.admin_token).await.expect(200).body["questions"],
        current["questions"]
    );
}

async fn results_are_grouped_and_anonymous(app: &TestApp) {
    let s = create(app, experience("all")).await;
    let people = [
        app.patient("Res").await,
        app.patient("Ult").await,
        app.patient("Ing").await,
    ];
    let d = app.doctor("Resdoc", "dermatology").await;
    let billing = app.staff("billing").await;
    let answers = [
        json!({"visit": "Clinic", "topics": ["Booking", "Results"], "ease": 5,
               "comments": "Great staff"}),
        json!({"visit": "Video", "topics": ["Booking"], "ease": 4}),
        json!({"visit": "Clinic", "topics": ["Billing", "Booking"], "ease": 2,
               "comments": "Parking was hard"}),
    ];
    for (who, a) in people.iter().zip(answers) {
        respond(app, &who.token, &s, a).await.expect(201);
    }
    respond(
        app,
        &d.token,
        &s,
        json!({"visit": "Phone", "ease": 3, "comments": "Again: parking"}),
    )
    .await
    .expect(201);
    // Admins only.
    let path = format!("/surveys/{s}/results");
    for who in [&people[0], &d, &billing] {
        app.get(&path, &who.token).await.problem(403);
    }
    app.get(
        &format!("/surveys/{}/results", uuid::Uuid::now_v7()),
        &app.admin_token,
    )
    .await
    .problem(404);
    let r = app.get(&path, &app.admin_token).await.expect(200);
    let res = &r.body;
    assert_eq!(res["survey_id"], s.as_str());
    assert_eq!(res["title"], "Patient experience");
    assert_eq!(res["responses"], 4);
    let q = |id: &str| {
        res["questions"]
            .as_array()
            .unwrap()
            .iter()
            .find(|q| q["id"] == id)
            .cloned()
            .unwrap()
    };
    let visit = q("visit");
    assert_eq!(visit["kind"], "single_choice");
    assert_eq!(visit["count"], 4);
    assert_eq!(
        visit["options"],
        json!([{"option": "Clinic", "count": 2}, {"option": "Video", "count": 1},
               {"option": "Phone", "count": 1}])
    );
    assert!(visit["mean"].is_null());
    assert_eq!(visit["text_answers"], json!([]));
    let topics = q("topics");
    assert_eq!(topics["count"], 3);
    assert_eq!(
        topics["options"],
        json!([{"option": "Booking", "count": 3}, {"option": "Billing", "count": 1},
               {"option": "Results", "count": 1}])
    );
    let ease = q("ease");
    assert_eq!(ease["count"], 4);
    assert_eq!(ease["mean"], 3.5);
    assert_eq!(ease["options"], json!([]));
    let comments = q("comments");
    assert_eq!(comments["count"], 3);
    assert_eq!(
        comments["text_answers"],
        json!(["Again: parking", "Great staff", "Parking was hard"])
    );
    assert!(comments["mean"].is_null());
    // Nobody is named: no user, patient or response id anywhere in the results.
    for who in people.iter().chain([&d]) {
        assert!(!r.text.contains(&who.user_id), "{}", r.text);
        if let Some(pid) = &who.patient_id {
            assert!(!r.text.contains(pid.as_str()));
        }
    }
    assert!(!r.text.contains("user_id") && !r.text.contains("response_id"));
    // A survey nobody answered has zero counts and no mean.
    let empty = create(app, experience("staff")).await;
    let none = app
        .get(&format!("/surveys/{empty}/results"), &app.admin_token)
        .await
        .expect(200)
        .body;
    assert_eq!(none["responses"], 0);
    assert!(none["questions"]
        .as_array()
        .unwrap()
        .iter()
        .all(|q| q["count"] == 0 && q["mean"].is_null()));
    assert_eq!(none["questions"][0]["options"][0]["count"], 0);
}

both_backends!(
    admins_create_and_change_surveys,
    survey_definitions_are_validated,
    each_audience_sees_its_active_surveys,
    answers_are_checked_against_their_questions,
    one_response_per_user_and_frozen_questions,
    results_are_grouped_and_anonymous,
);
