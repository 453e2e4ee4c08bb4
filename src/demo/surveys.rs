//! The patient-experience survey and its responses.

use rand::seq::SliceRandom;
use rand::Rng;

use super::{Cast, Ctx, Patient};
use crate::db::DbConn;
use crate::domains::portal;

/// A patient-experience survey (every kind of question), answered through the same rules as
/// the API by a quarter of the patients (at most 250: the load stays quick).
pub(super) fn load(conn: &mut DbConn, ctx: &Ctx, cast: &Cast) -> anyhow::Result<usize> {
    let mut rng = ctx.rng("surveys");
    let rng = &mut rng;
    let patient_people = &cast.patients;
    use portal::surveys::{self, Audience, NewQuestion, NewResponse, NewSurvey, QuestionKind};
    use serde_json::json;
    let question = |id: &str,
                    text: &str,
                    kind: QuestionKind,
                    options: &[&str],
                    range: Option<(i32, i32)>,
                    required: bool| NewQuestion {
        id: Some(id.to_string()),
        text: text.to_string(),
        kind,
        options: (!options.is_empty()).then(|| options.iter().map(|o| o.to_string()).collect()),
        min: range.map(|(lo, _)| lo),
        max: range.map(|(_, hi)| hi),
        required: Some(required),
    };
    const CHANNELS: &[&str] = &["In the clinic", "By video", "By phone"];
    const USES: &[&str] = &[
        "Booking appointments",
        "Messages",
        "Lab results",
        "Prescriptions",
        "Bills",
    ];
    const BETTER: &[&str] = &[
        "Evening appointments, please.",
        "Lab results took a while to show up.",
        "The bills are hard to read.",
        "More video visits.",
        "Nothing, thank you!",
    ];
    let new = NewSurvey {
        title: "Patient experience".into(),
        description: Some("Five short questions about your care and the portal.".into()),
        audience: Audience::Patients,
        questions: vec![
            question(
                "channel",
                "How did you last see your care team?",
                QuestionKind::SingleChoice,
                CHANNELS,
                None,
                true,
            ),
            question(
                "portal_use",
                "What do you use the portal for?",
                QuestionKind::MultipleChoice,
                USES,
                None,
                false,
            ),
            question(
                "ease",
                "How easy is the portal to use?",
                QuestionKind::Scale,
                &[],
                Some((1, 5)),
                true,
            ),
            question(
                "recommend",
                "How likely are you to recommend us to a friend?",
                QuestionKind::Scale,
                &[],
                Some((0, 10)),
                false,
            ),
            question(
                "better",
                "What could we do better?",
                QuestionKind::Text,
                &[],
                None,
                false,
            ),
        ],
        active: Some(true),
    };
    let mut survey = None;
    ctx.run(conn, |tx| {
        survey = Some(surveys::create(tx, new)?.id);
        Ok(())
    })?;
    let survey = survey.expect("the survey was created");
    let respondents: Vec<&Patient> = patient_people
        .choose_multiple(rng, (patient_people.len() / 4).clamp(1, 250))
        .collect();
    let plan: Vec<(&Patient, NewResponse)> = respondents
        .into_iter()
        .map(|p| {
            let mut answers = std::collections::BTreeMap::new();
            let channel = CHANNELS[[0, 0, 0, 1, 1, 2][rng.gen_range(0..6)]];
            answers.insert("channel".to_string(), json!(channel));
            let n = rng.gen_range(0..=3);
            let uses: Vec<&str> = USES.choose_multiple(rng, n).copied().collect();
            answers.insert("portal_use".to_string(), json!(uses));
            answers.insert("ease".to_string(), json!(rng.gen_range(2..=5)));
            if rng.gen_bool(0.6) {
                answers.insert("recommend".to_string(), json!(rng.gen_range(5..=10)));
            }
            if rng.gen_bool(0.3) {
                let text = BETTER.choose(rng).expect("non-empty");
                answers.insert("better".to_string(), json!(text));
            }
            (p, NewResponse { answers })
        })
        .collect();
    let responses = plan.len();
    ctx.run(conn, |tx| {
        for (p, response) in plan {
            let patient = p.actor(ctx.audit);
            tx.as_actor(&patient, |tx| surveys::respond(tx, &survey, response))?;
        }
        Ok(())
    })?;
    Ok(responses)
}
