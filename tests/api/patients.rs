//! Patients, doctors, the care team and break-glass, on both backends.

use std::collections::HashSet;

use crate::common::*;
use reqwest::Method;
use serde_json::{json, Value};

fn new_patient(given: &str, family: &str, birth_date: &str) -> Value {
    json!({
        "given_name": given, "family_name": family, "birth_date": birth_date, "sex": "male",
        "phone": "+1 555 0100", "email": format!("{}@example.test", given.to_lowercase()),
        "address": "1 Main St"
    })
}

fn ids(items: &[Value]) -> Vec<String> {
    items
        .iter()
        .map(|i| i["id"].as_str().expect("an id").to_string())
        .collect()
}

async fn create_patient_roles(app: &TestApp) {
    let dr = app.doctor("Greg", "cardiology").await;
    let r = app
        .post(
            "/patients",
            &app.admin_token,
            new_patient("Alma", "Quist", "1970-01-02"),
        )
        .await
        .expect(201);
    let id = r.id();
    assert_eq!(
        r.header("location"),
        Some(format!("/api/v1/patients/{id}").as_str())
    );
    assert_eq!(r.header("etag"), Some("\"1\""));
    assert_eq!(r.body["version"], 1);
    assert_eq!(r.body["given_name"], "Alma");
    assert_eq!(r.body["family_name"], "Quist");
    assert_eq!(r.body["birth_date"], "1970-01-02");
    assert_eq!(r.body["sex"], "male");
    assert_eq!(r.body["phone"], "+1 555 0100");
    assert_eq!(r.body["address"], "1 Main St");
    assert!(r.body["user_id"].is_null());
    let mut mrns = HashSet::new();
    let mrn = r.body["mrn"].as_str().expect("an mrn").to_string();
    assert!(!mrn.is_empty());
    mrns.insert(mrn);

    let r = app
        .post(
            "/patients",
            &dr.token,
            new_patient("Bert", "Quist", "1971-03-04"),
        )
        .await
        .expect(201);
    assert_eq!(r.header("etag"), Some("\"1\""));
    assert!(r
        .header("location")
        .is_some_and(|l| l.ends_with(&format!("/patients/{}", r.id()))));
    assert!(
        mrns.insert(r.body["mrn"].as_str().unwrap().to_string()),
        "mrn is unique"
    );
    for i in 0..3 {
        let r = app
            .post(
                "/patients",
                &app.admin_token,
                new_patient(&format!("Extra{i}"), "Quist", "1980-01-01"),
            )
            .await
            .expect(201);
        assert!(
            mrns.insert(r.body["mrn"].as_str().unwrap().to_string()),
            "mrn is unique"
        );
    }
    // A self-registered patient gets an MRN too, from the same sequence.
    let p = app.patient("Cleo").await;
    let me = app
        .get(&format!("/patients/{}", p.pid()), &p.token)
        .await
        .expect(200);
    assert!(
        mrns.insert(me.body["mrn"].as_str().unwrap().to_string()),
        "mrn is unique"
    );

    for role in ["pharmacist", "lab_technician", "billing", "auditor"] {
        let s = app.staff(role).await;
        app.post(
            "/patients",
            &s.token,
            new_patient("Nope", "Nope", "1990-01-01"),
        )
        .await
        .problem(403);
    }
    app.post(
        "/patients",
        &p.token,
        new_patient("Nope", "Nope", "1990-01-01"),
    )
    .await
    .problem(403);
    // Nothing was created by the refused calls.
    let all = app
        .get("/patients?q=nope", &app.admin_token)
        .await
        .expect(200);
    assert_eq!(all.items().len(), 0);
    // Bad input.
    let mut bad = new_patient("Dora", "Quist", "1990-01-01");
    bad["sex"] = json!("robot");
    app.post("/patients", &app.admin_token, bad)
        .await
        .problem(422);
    let mut bad = new_patient("Dora", "Quist", "1990-01-01");
    bad["mrn"] = json!("MRN-CHOSEN");
    app.post("/patients", &app.admin_token, bad)
        .await
        .problem(422);
    app.post(
        "/patients",
        &app.admin_token,
        new_patient("Dora", "Quist", "2999-01-01"),
    )
    .await
    .problem(422);
}

async fn search_patients(app: &TestApp) {
    let dr = app.doctor("Hana", "oncology").await;
    let a = app
        .post(
            "/patients",
            &app.admin_token,
            new_patient("Zebulon", "Marsh", "1961-06-15"),
        )
        .await
        .expect(201);
    let b = app
        .post(
            "/patients",
            &app.admin_token,
            new_patient("Ines", "Zebrowski", "1962-07-16"),
        )
        .await
        .expect(201);
    let c = app
        .post(
            "/patients",
            &app.admin_token,
            new_patient("Olaf", "Marsh", "1961-06-15"),
        )
        .await
        .expect(201);
    let p = app.patient("Petra").await;

    let set = |r: &Resp| ids(&r.items()).into_iter().collect::<HashSet<_>>();
    // Partial, case-insensitive, given or family name.
    let r = app
        .get("/patients?q=ZEB", &app.admin_token)
        .await
        .expect(200);
    assert_eq!(set(&r), HashSet::from([a.id(), b.id()]));
    let r = app.get("/patients?q=bulo", &dr.token).await.expect(200);
    assert_eq!(set(&r), HashSet::from([a.id()]));
    let r = app.get("/patients?q=marsh", &dr.token).await.expect(200);
    assert_eq!(set(&r), HashSet::from([a.id(), c.id()]));
    let r = app
        .get("/patients?q=olaf%20MAR", &dr.token)
        .await
        .expect(200);
    assert_eq!(set(&r), HashSet::from([c.id()]));
    // LIKE wildcards in the search text match themselves only.
    for wild in ["%25", "_", "Zeb%25", "Z_b"] {
        let r = app
            .get(&format!("/patients?q={wild}"), &app.admin_token)
            .await
            .expect(200);
        assert!(r.items().is_empty(), "q={wild}: {}", r.text);
    }
    let r = app.get("/patients?q=nobody", &dr.token).await.expect(200);
    assert!(r.items().is_empty());
    assert!(r.body["next_cursor"].is_null());
    // Exact MRN.
    let mrn = b.body["mrn"].as_str().unwrap();
    let r = app
        .get(&format!("/patients?mrn={}", enc(mrn)), &dr.token)
        .await
        .expect(200);
    assert_eq!(set(&r), HashSet::from([b.id()]));
    assert_eq!(r.items()[0]["mrn"], mrn);
    // Birth date.
    let r = app
        .get("/patients?birth_date=1961-06-15", &app.admin_token)
        .await
        .expect(200);
    assert_eq!(set(&r), HashSet::from([a.id(), c.id()]));
    let r = app
        .get("/patients?birth_date=1961-06-15&q=zeb", &app.admin_token)
        .await
        .expect(200);
    assert_eq!(set(&r), HashSet::from([a.id()]));
    app.get("/patients?birth_date=yesterday", &app.admin_token)
        .await
        .problem(422);

    // Admin and doctors see everyone; a patient only themself.
    let everyone = HashSet::from([a.id(), b.id(), c.id(), p.pid().to_string()]);
    assert_eq!(
        set(&app.get("/patients", &app.admin_token).await.expect(200)),
        everyone
    );
    assert_eq!(
        set(&app.get("/patients", &dr.token).await.expect(200)),
        everyone
    );
    let mine = app.get("/patients", &p.token).await.expect(200);
    assert_eq!(ids(&mine.items()), vec![p.pid().to_string()]);
    // Filtering never reveals others to a patient.
    let r = app.get("/patients?q=marsh", &p.token).await.expect(200);
    assert!(r.items().is_empty());
    let r = app
        .get(&format!("/patients?mrn={}", enc(mrn)), &p.token)
        .await
        .expect(200);
    assert!(r.items().is_empty());
    // Roles without patient access.
    let ph = app.staff("pharmacist").await;
    app.get("/patients", &ph.token).await.problem(403);
    app.call(Method::GET, "/patients", None, None, &[])
        .await
        .problem(401);
}

async fn paginate_patients(app: &TestApp) {
    let mut created = HashSet::new();
    for i in 0..7 {
        let r = app
            .post(
                "/patients",
                &app.admin_token,
                new_patient(&format!("Page{i}"), "Walker", "1990-05-05"),
            )
            .await
            .expect(201);
        created.insert(r.id());
    }
    let walked = app.all_pages("/patients", &app.admin_token, 2).await;
    let walked_ids = ids(&walked);
    let unique: HashSet<String> = walked_ids.iter().cloned().collect();
    assert_eq!(unique.len(), walked_ids.len(), "no duplicates across pages");
    assert_eq!(unique, created, "every patient exactly once");
    // The first page is full and points on.
    let first = app
        .get("/patients?limit=2", &app.admin_token)
        .await
        .expect(200);
    assert_eq!(first.items().len(), 2);
    assert!(first.body["next_cursor"].is_string());
    // Filters hold across pages.
    let filtered = app
        .all_pages(
            "/patients?q=walker&birth_date=1990-05-05",
            &app.admin_token,
            3,
        )
        .await;
    assert_eq!(ids(&filtered).into_iter().collect::<HashSet<_>>(), created);
    // Above 500 is clamped, not refused.
    let big = app
        .get("/patients?limit=1000", &app.admin_token)
        .await
        .expect(200);
    assert_eq!(big.items().len(), 7);
    assert!(big.body["next_cursor"].is_null());
    let r = app
        .get("/patients?limit=0", &app.admin_token)
        .await
        .problem(422);
    assert!(r.text.contains("limit"), "names the field: {}", r.text);
    app.get("/patients?limit=-3", &app.admin_token)
        .await
        .problem(422);
    app.get("/patients?limit=many", &app.admin_token)
        .await
        .problem(422);
    app.get("/patients?cursor=%21%21not-a-cursor", &app.admin_token)
        .await
        .problem(422);
}

async fn read_one_patient(app: &TestApp) {
    let a = app.patient("Anna").await;
    let b = app.patient("Bela").await;
    let dr = app.doctor("Ivo", "neurology").await;
    let ph = app.staff("pharmacist").await;
    let path_b = format!("/patients/{}", b.pid());
    let r = app.get(&path_b, &b.token).await.expect(200);
    assert_eq!(r.body["id"], b.pid());
    assert_eq!(r.body["user_id"], b.user_id.as_str());
    assert_eq!(r.header("etag"), Some("\"1\""));
    app.get(&path_b, &a.token).await.problem(404);
    let r = app.get(&path_b, &dr.token).await.expect(200);
    assert_eq!(r.body["given_name"], "Bela");
    assert_eq!(r.header("etag"), Some("\"1\""));
    app.get(&path_b, &ph.token).await.problem(403);
    app.get(&path_b, &app.admin_token).await.expect(200);
    app.get(
        "/patients/00000000-0000-0000-0000-000000000000",
        &app.admin_token,
    )
    .await
    .problem(404);
    // A patient reading someone absent gets the same answer as someone else's.
    app.get("/patients/00000000-0000-0000-0000-000000000000", &a.token)
        .await
        .problem(404);
}

async fn patch_patient_rules(app: &TestApp) {
    let p = app.patient("Pia").await;
    let other = app.patient("Quin").await;
    let creator = app.doctor("Rex", "family medicine").await;
    let outsider = app.doctor("Sol", "dermatology").await;
    let path = format!("/patients/{}", p.pid());

    // The patient: contact fields only.
    let r = app
        .patch(
            &path,
            &p.token,
            json!({"phone": "+44 20 7946 0000", "email": "pia.new@example.test", "address": "2 High St"}),
        )
        .await
        .expect(200);
    assert_eq!(r.body["phone"], "+44 20 7946 0000");
    assert_eq!(r.body["email"], "pia.new@example.test");
    assert_eq!(r.body["address"], "2 High St");
    assert_eq!(r.body["given_name"], "Pia");
    assert_eq!(r.body["version"], 2);
    assert_eq!(r.header("etag"), Some("\"2\""));
    app.patch(&path, &p.token, json!({"given_name": "Pippa"}))
        .await
        .problem(403);
    app.patch(&path, &p.token, json!({"birth_date": "1990-01-01"}))
        .await
        .problem(403);
    app.patch(&path, &p.token, json!({"phone": "1", "family_name": "X"}))
        .await
        .problem(403);
    // Someone else's record is out of reach.
    app.patch(&path, &other.token, json!({"phone": "+1"}))
        .await
        .problem(404);
    let now = app.get(&path, &p.token).await.expect(200);
    assert_eq!(
        now.body["given_name"], "Pia",
        "refused changes left no trace"
    );
    assert_eq!(now.body["version"], 2);
    // Unknown fields are refused (no mass assignment).
    app.patch(&path, &app.admin_token, json!({"mrn": "MRN99999999"}))
        .await
        .problem(422);
    app.patch(&path, &app.admin_token, json!({"sex": "robot"}))
        .await
        .problem(422);

    // A doctor not on the care team may not change the patient.
    app.patch(&path, &outsider.token, json!({"address": "elsewhere"}))
        .await
        .problem(403);

    // A doctor who registers a patient joins the care team.
    let created = app
        .post(
            "/patients",
            &creator.token,
            new_patient("Tomas", "Ucker", "1955-02-03"),
        )
        .await
        .expect(201);
    let cpath = format!("/patients/{}", created.id());
    let team = app
        .get(&format!("{cpath}/care-team"), &app.admin_token)
        .await
        .expect(200);
    let team = team.body.as_array().expect("care team is an array").clone();
    assert_eq!(team.len(), 1);
    assert_eq!(team[0]["doctor_id"], creator.did());
    assert_eq!(team[0]["source"], "registration");
    assert!(team[0]["since"].as_str().is_some_and(|s| s.ends_with('Z')));
    let r = app
        .patch(&cpath, &creator.token, json!({"given_name": "Tomasz"}))
        .await
        .expect(200);
    assert_eq!(r.body["given_name"], "Tomasz");
    assert_eq!(r.body["version"], 2);
    app.patch(&cpath, &outsider.token, json!({"given_name": "X"}))
        .await
        .problem(403);

    // If-Match: stale 412, current 200 with version + 1.
    let r = app
        .call(
            Method::PATCH,
            &cpath,
            Some(&app.admin_token),
            Some(json!({"address": "stale"})),
            &[("if-match", "\"1\"")],
        )
        .await
        .problem(412);
    assert_eq!(r.body["status"], 412);
    let r = app
        .call(
            Method::PATCH,
            &cpath,
            Some(&creator.token),
            Some(json!({"address": "fresh"})),
            &[("if-match", "\"2\"")],
        )
        .await
        .expect(200);
    assert_eq!(r.body["version"], 3);
    assert_eq!(r.body["address"], "fresh");
    assert_eq!(r.header("etag"), Some("\"3\""));
    let r = app.get(&cpath, &app.admin_token).await.expect(200);
    assert_eq!(r.body["address"], "fresh");
    assert_eq!(r.header("etag"), Some("\"3\""));
    // Admin may change anything.
    let r = app
        .patch(
            &cpath,
            &app.admin_token,
            json!({"sex": "other", "birth_date": "1956-02-03"}),
        )
        .await
        .expect(200);
    assert_eq!(r.body["sex"], "other");
    assert_eq!(r.body["birth_date"], "1956-02-03");
    assert_eq!(r.body["version"], 4);
    // Roles without patient write.
    let ph = app.staff("pharmacist").await;
    app.patch(&cpath, &ph.token, json!({"address": "x"}))
        .await
        .problem(403);
    app.patch(
        "/patients/00000000-0000-0000-0000-000000000000",
        &app.admin_token,
        json!({"address": "x"}),
    )
    .await
    .problem(404);
}

async fn doctors_directory(app: &TestApp) {
    let license = format!("LIC-X-{}", unique());
    let r = app
        .post(
            "/doctors",
            &app.admin_token,
            json!({"given_name": "Vera", "family_name": "Walsh", "specialty": "Cardiology",
                   "license_number": license, "email": format!("vera-{}@example.test", unique())}),
        )
        .await
        .expect(201);
    let vera = r.id();
    assert_eq!(
        r.header("location"),
        Some(format!("/api/v1/doctors/{vera}").as_str())
    );
    assert_eq!(r.header("etag"), Some("\"1\""));
    assert_eq!(r.body["license_number"], license.as_str());
    assert!(r.body["user_id"].is_null());
    // Duplicate license number.
    app.post(
        "/doctors",
        &app.admin_token,
        json!({"given_name": "Walt", "family_name": "Xu", "specialty": "cardiology",
               "license_number": license, "email": format!("walt-{}@example.test", unique())}),
    )
    .await
    .problem(409);

    let d1 = app.doctor("Yara", "cardiology").await;
    let d2 = app.doctor("Zeno", "pediatrics").await;
    let p = app.patient("Abe").await;
    let ph = app.staff("pharmacist").await;
    // Only admins add doctors.
    for token in [&d1.token, &p.token, &ph.token] {
        app.post(
            "/doctors",
            token,
            json!({"given_name": "No", "family_name": "Body", "specialty": "x",
                   "license_number": format!("LIC-N-{}", unique()), "email": "no@example.test"}),
        )
        .await
        .problem(403);
    }
    // Everyone signed in reads the directory.
    for token in [&app.admin_token, &d1.token, &p.token, &ph.token] {
        let all = app.get("/doctors", token).await.expect(200);
        assert_eq!(all.items().len(), 3);
        let cardio = app
            .get("/doctors?specialty=cardiology", token)
            .await
            .expect(200);
        let got: HashSet<String> = ids(&cardio.items()).into_iter().collect();
        assert_eq!(got, HashSet::from([vera.clone(), d1.did().to_string()]));
        let q = app.get("/doctors?q=zen", token).await.expect(200);
        assert_eq!(ids(&q.items()), vec![d2.did().to_string()]);
        let q = app.get("/doctors?q=%25", token).await.expect(200);
        assert!(q.items().is_empty(), "a wildcard matches itself only");
        let q = app.get("/doctors?q=WALSH", token).await.expect(200);
        assert_eq!(ids(&q.items()), vec![vera.clone()]);
        let one = app
            .get(&format!("/doctors/{vera}"), token)
            .await
            .expect(200);
        assert_eq!(one.body["given_name"], "Vera");
        assert_eq!(one.header("etag"), Some("\"1\""));
    }
    app.call(Method::GET, "/doctors", None, None, &[])
        .await
        .problem(401);
    let paged = app.all_pages("/doctors", &p.token, 2).await;
    assert_eq!(paged.len(), 3);

    // The doctor themself may change their entry; another doctor may not.
    let path = format!("/doctors/{}", d1.did());
    let r = app
        .patch(
            &path,
            &d1.token,
            json!({"phone": "+1 555 0199", "specialty": "cardiac surgery"}),
        )
        .await
        .expect(200);
    assert_eq!(r.body["phone"], "+1 555 0199");
    assert_eq!(r.body["specialty"], "cardiac surgery");
    assert_eq!(r.body["version"], 2);
    assert_eq!(r.header("etag"), Some("\"2\""));
    app.patch(&path, &d2.token, json!({"phone": "+1"}))
        .await
        .problem(403);
    app.patch(&path, &p.token, json!({"phone": "+1"}))
        .await
        .problem(403);
    let r = app
        .call(
            Method::PATCH,
            &path,
            Some(&app.admin_token),
            Some(json!({"phone": "+2"})),
            &[("if-match", "\"1\"")],
        )
        .await;
    r.problem(412);
    let r = app
        .patch(&path, &app.admin_token, json!({"given_name": "Yasmin"}))
        .await
        .expect(200);
    assert_eq!(r.body["given_name"], "Yasmin");
    assert_eq!(r.body["version"], 3);
    // A license number taken by someone else.
    app.patch(&path, &app.admin_token, json!({"license_number": license}))
        .await
        .problem(409);
    app.get("/doctors/00000000-0000-0000-0000-000000000000", &p.token)
        .await
        .problem(404);
}

async fn care_team_and_break_glass(app: &TestApp) {
    let p = app.patient("Gina").await;
    let other = app.patient("Hugo").await;
    let team_dr = app.doctor("Ada", "emergency").await;
    let dr = app.doctor("Bo", "emergency").await;
    let ph = app.staff("pharmacist").await;
    let pid = p.pid();
    let path = format!("/patients/{pid}");
    let team_path = format!("{path}/care-team");
    let bg_path = format!("{path}/break-glass");

    // Nobody on the team yet.
    let team = app.get(&team_path, &p.token).await.expect(200);
    assert_eq!(team.body, json!([]));
    app.get(&team_path, &other.token).await.problem(404);
    app.get(&team_path, &dr.token).await.problem(404);
    app.patch(&path, &dr.token, json!({"address": "ER"}))
        .await
        .problem(403);

    // Reason rules.
    app.post(&bg_path, &dr.token, json!({"reason": "too short"}))
        .await
        .problem(422);
    app.post(&bg_path, &dr.token, json!({})).await.problem(422);
    app.post(&bg_path, &dr.token, json!({"reason": "          x"}))
        .await
        .problem(422);
    // Only doctors.
    for token in [&p.token, &ph.token, &app.admin_token] {
        app.post(
            &bg_path,
            token,
            json!({"reason": "unconscious patient in the ER"}),
        )
        .await
        .problem(403);
    }
    app.post(
        "/patients/00000000-0000-0000-0000-000000000000/break-glass",
        &dr.token,
        json!({"reason": "unconscious patient in the ER"}),
    )
    .await
    .problem(404);
    // Still no access after the refused attempts.
    app.patch(&path, &dr.token, json!({"address": "ER"}))
        .await
        .problem(403);

    let before = chrono::Utc::now();
    let r = app
        .post(
            &bg_path,
            &dr.token,
            json!({"reason": "unconscious patient in the ER"}),
        )
        .await
        .expect(201);
    assert!(r.header("location").is_some());
    assert_eq!(r.body["patient_id"], pid);
    assert_eq!(r.body["doctor_id"], dr.did());
    assert_eq!(r.body["reason"], "unconscious patient in the ER");
    let expires: chrono::DateTime<chrono::Utc> = r.body["expires_at"]
        .as_str()
        .expect("expires_at")
        .parse()
        .expect("RFC 3339");
    let lasts = expires - before;
    assert!(
        lasts > chrono::Duration::minutes(59) && lasts <= chrono::Duration::minutes(61),
        "a grant lasts an hour by default, got {lasts}"
    );

    // The doctor is now on the care team via break_glass and may change the patient.
    let team = app.get(&team_path, &p.token).await.expect(200);
    let team = team.body.as_array().unwrap().clone();
    assert_eq!(team.len(), 1);
    assert_eq!(team[0]["doctor_id"], dr.did());
    assert_eq!(team[0]["source"], "break_glass");
    assert!(team[0]["since"].is_string());
    app.get(&team_path, &dr.token).await.expect(200);
    let r = app
        .patch(&path, &dr.token, json!({"address": "Emergency ward"}))
        .await
        .expect(200);
    assert_eq!(r.body["address"], "Emergency ward");
    // ... but only this doctor, only this patient.
    app.patch(&path, &team_dr.token, json!({"address": "x"}))
        .await
        .problem(403);
    app.patch(
        &format!("/patients/{}", other.pid()),
        &dr.token,
        json!({"address": "x"}),
    )
    .await
    .problem(403);

    // The patient was told.
    let n = app.get("/notifications", &p.token).await.expect(200);
    let bg: Vec<Value> = n
        .items()
        .into_iter()
        .filter(|i| i["kind"] == "break_glass")
        .collect();
    assert_eq!(bg.len(), 1, "one break-glass notification: {}", n.text);
    assert_eq!(bg[0]["user_id"], p.user_id.as_str());
    assert!(bg[0]["read_at"].is_null());
    // The other patient was not.
    let n = app.get("/notifications", &other.token).await.expect(200);
    assert!(n.items().iter().all(|i| i["kind"] != "break_glass"));

    // And it is in the audit trail, flagged.
    let log = app
        .get(
            &format!("/audit-logs?action=break_glass&patient_id={pid}&outcome=success"),
            &app.admin_token,
        )
        .await
        .expect(200);
    let items = log.items();
    assert_eq!(items.len(), 1, "{}", log.text);
    assert_eq!(items[0]["user_id"], dr.user_id.as_str());
    assert_eq!(items[0]["role"], "doctor");
    assert_eq!(items[0]["outcome"], "success");
    assert_eq!(items[0]["resource_type"], "patient");
    assert_eq!(items[0]["resource_id"], pid);
    // The refused attempt by the admin is there too, as denied.
    let denied = app
        .get(
            "/audit-logs?action=break_glass&outcome=denied",
            &app.admin_token,
        )
        .await
        .expect(200);
    let denied = denied.items();
    assert_eq!(
        denied.len(),
        3,
        "patient, pharmacist and admin were refused"
    );
    assert!(denied.iter().any(|e| e["role"] == "admin"));
    assert!(denied.iter().all(|e| e["user_id"] != dr.user_id.as_str()));
}

async fn break_glass_expires(backend: Backend) {
    let Some(app) = TestApp::spawn_with(backend, |c| c.break_glass_seconds = 2).await else {
        eprintln!("HEALTHAPI_TEST_POSTGRES_URL unset: PostgreSQL run skipped");
        return;
    };
    let p = app.patient("Ivy").await;
    let dr = app.doctor("Jon", "emergency").await;
    let path = format!("/patients/{}", p.pid());
    let r = app
        .post(
            &format!("{path}/break-glass"),
            &dr.token,
            json!({"reason": "collapsed in the waiting room"}),
        )
        .await
        .expect(201);
    let expires: chrono::DateTime<chrono::Utc> =
        r.body["expires_at"].as_str().unwrap().parse().unwrap();
    app.patch(&path, &dr.token, json!({"address": "ward 1"}))
        .await
        .expect(200);
    let team = app
        .get(&format!("{path}/care-team"), &app.admin_token)
        .await
        .expect(200);
    assert_eq!(team.body.as_array().unwrap().len(), 1);
    // Wait until the grant has lapsed.
    let wait = (expires - chrono::Utc::now()).to_std().unwrap_or_default()
        + std::time::Duration::from_millis(300);
    tokio::time::sleep(wait).await;
    app.patch(&path, &dr.token, json!({"address": "ward 2"}))
        .await
        .problem(403);
    app.get(&format!("{path}/care-team"), &dr.token)
        .await
        .problem(404);
    let team = app
        .get(&format!("{path}/care-team"), &app.admin_token)
        .await
        .expect(200);
    assert_eq!(
        team.body,
        json!([]),
        "an expired grant leaves the care team"
    );
    let now = app.get(&path, &app.admin_token).await.expect(200);
    assert_eq!(now.body["address"], "ward 1");
    // A new break-glass grants access again.
    app.post(
        &format!("{path}/break-glass"),
        &dr.token,
        json!({"reason": "collapsed again, needs history"}),
    )
    .await
    .expect(201);
    app.patch(&path, &dr.token, json!({"address": "ward 3"}))
        .await
        .expect(200);
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn break_glass_expires_sqlite() {
    break_glass_expires(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn break_glass_expires_postgres() {
    break_glass_expires(Backend::Postgres).await;
}

both_backends!(
    create_patient_roles,
    search_patients,
    paginate_patients,
    read_one_patient,
    patch_patient_rules,
    doctors_directory,
    care_team_and_break_glass,
);
