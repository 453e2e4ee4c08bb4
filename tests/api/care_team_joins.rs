//! A doctor who joins a patient's care team by what they create (booking an appointment,
//! ordering, referring...) does not do it silently: a doctor's first link to a patient that
//! the patient did not make is a flagged `care_team_joined` entry in the patient's access log,
//! and the patient is told. On both backends.

use serde_json::Value;

use crate::clinical::*;
use crate::common::*;

/// The patient's own access log, entries of `care_team_joined`.
async fn joins(app: &TestApp, patient: &Actor) -> Vec<Value> {
    app.all_pages(
        &format!("/patients/{}/access-log", patient.pid()),
        &patient.token,
        500,
    )
    .await
    .into_iter()
    .filter(|e| e["action"] == "care_team_joined")
    .collect()
}

/// The patient's `care_team_joined` notifications.
async fn told(app: &TestApp, patient: &Actor) -> Vec<Value> {
    notifications(app, &patient.token)
        .await
        .into_iter()
        .filter(|n| n["kind"] == "care_team_joined")
        .collect()
}

fn join_of<'a>(entries: &'a [Value], doctor: &str) -> Vec<&'a Value> {
    entries
        .iter()
        .filter(|e| e["resource_id"] == doctor)
        .collect()
}

async fn a_doctor_joining_a_care_team_is_flagged_and_told(app: &TestApp) {
    let ann = app.patient("Joined").await;
    let dr = app.doctor("Joiner", "cardiology").await;

    // A doctor books with a patient they never saw: they join the care team, flagged.
    book(
        app,
        &dr.token,
        ann.pid(),
        dr.did(),
        &slot(3, 60),
        &slot(3, 90),
    )
    .await
    .expect(201);
    let entries = joins(app, &ann).await;
    let join = join_of(&entries, dr.did());
    assert_eq!(join.len(), 1, "one flagged join: {entries:?}");
    assert_eq!(join[0]["user_id"], dr.user_id.as_str());
    assert_eq!(join[0]["role"], "doctor");
    assert_eq!(join[0]["resource_type"], "care_team");
    assert_eq!(join[0]["patient_id"], ann.pid());
    assert_eq!(join[0]["outcome"], "success");
    let notes = told(app, &ann).await;
    assert_eq!(notes.len(), 1, "{notes:?}");
    let body = notes[0]["body"].as_str().unwrap();
    assert!(
        body.contains("Joiner") && body.contains("appointment"),
        "the notification says who joined and how: {body}"
    );
    // The admin finds it by its action, too.
    let flagged = app
        .get(
            &format!(
                "/audit-logs?action=care_team_joined&patient_id={}",
                ann.pid()
            ),
            &app.admin_token,
        )
        .await
        .expect(200)
        .items();
    assert_eq!(flagged.len(), 1, "{flagged:?}");

    // Only the first link is flagged: another booking by the same doctor is not.
    book(
        app,
        &dr.token,
        ann.pid(),
        dr.did(),
        &slot(4, 60),
        &slot(4, 90),
    )
    .await
    .expect(201);
    assert_eq!(join_of(&joins(app, &ann).await, dr.did()).len(), 1);
    assert_eq!(told(app, &ann).await.len(), 1);

    // The patient booking a new doctor themself links them unflagged.
    let own_choice = app.doctor("Chosen", "dermatology").await;
    book(
        app,
        &ann.token,
        ann.pid(),
        own_choice.did(),
        &slot(5, 60),
        &slot(5, 90),
    )
    .await
    .expect(201);
    let team = care_team(app, ann.pid()).await;
    assert!(team.iter().any(|(d, _)| d == own_choice.did()), "{team:?}");
    assert!(join_of(&joins(app, &ann).await, own_choice.did()).is_empty());
    assert_eq!(told(app, &ann).await.len(), 1);

    // An admin booking for the patient with a new doctor: flagged, naming the admin.
    let assigned = app.doctor("Assigned", "neurology").await;
    book(
        app,
        &app.admin_token,
        ann.pid(),
        assigned.did(),
        &slot(6, 60),
        &slot(6, 90),
    )
    .await
    .expect(201);
    let entries = joins(app, &ann).await;
    let join = join_of(&entries, assigned.did());
    assert_eq!(join.len(), 1, "{entries:?}");
    assert_eq!(join[0]["role"], "admin");
    assert_eq!(told(app, &ann).await.len(), 2);

    // Every other create that links a doctor goes the same way: a referral links the
    // specialist, by another doctor's act.
    let specialist = app.doctor("Referred", "cardiology").await;
    crate::referrals::refer(app, &dr.token, ann.pid(), specialist.did())
        .await
        .expect(201);
    let entries = joins(app, &ann).await;
    let join = join_of(&entries, specialist.did());
    assert_eq!(join.len(), 1, "{entries:?}");
    assert_eq!(join[0]["user_id"], dr.user_id.as_str());
    let notes = told(app, &ann).await;
    assert_eq!(notes.len(), 3, "{notes:?}");
    assert!(
        notes.iter().any(|n| {
            let body = n["body"].as_str().unwrap_or_default();
            body.contains("Referred") && body.contains("referral")
        }),
        "{notes:?}"
    );
    // A doctor on the care team by break-glass first is not flagged again when they book:
    // break-glass is flagged (and told) on its own.
    let emergency = app.doctor("Emergency", "emergency medicine").await;
    break_glass(app, &emergency.token, ann.pid()).await;
    book(
        app,
        &emergency.token,
        ann.pid(),
        emergency.did(),
        &slot(7, 60),
        &slot(7, 90),
    )
    .await
    .expect(201);
    assert!(join_of(&joins(app, &ann).await, emergency.did()).is_empty());
}

both_backends!(a_doctor_joining_a_care_team_is_flagged_and_told);
