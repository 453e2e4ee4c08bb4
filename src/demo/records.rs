//! Medical records: the note a doctor writes at a completed visit, about what the visit was for
//! (the condition's ICD-10 code and title, a filled note template), dated at the end of the
//! visit; and, where the demo wants more records than visits, a second record of another
//! condition at one of the visits.

use chrono::{Duration, NaiveDateTime};
use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use rand::Rng;

use super::clinic::{fill, Condition};
use crate::domains::appointments::AppointmentId;
use crate::domains::patients::Sex;
use crate::domains::records::{self, NewRecord, RecordType};
use crate::kit::backdate;
use crate::kit::{Actor, PatientId, Result, Tx, WireEnum};

/// A record as the doctor will write it.
pub(super) struct Note {
    pub condition: &'static Condition,
    pub content: String,
    /// Minutes after the visit's end that the doctor signs it.
    pub after: i64,
}

/// The note of a visit for `condition`: who the patient is, what they said, the condition's
/// note filled in, and what happens next.
pub(super) fn compose(
    condition: &'static Condition,
    reason: &str,
    age: u32,
    sex: Sex,
    rng: &mut StdRng,
) -> Note {
    let who = match (age, sex) {
        (0..=1, Sex::Female) => format!("{}-month-old girl", 8 + rng.gen_range(0..16)),
        (0..=1, _) => format!("{}-month-old boy", 8 + rng.gen_range(0..16)),
        (2..=17, Sex::Female) => format!("{age}-year-old girl"),
        (2..=17, _) => format!("{age}-year-old boy"),
        (_, Sex::Female) => format!("{age}-year-old woman"),
        _ => format!("{age}-year-old man"),
    };
    let mut text = match rng.gen_range(0..4) {
        0 => format!("{who}. Presenting complaint: \"{reason}\". "),
        1 => format!("{who}, here for \"{reason}\". "),
        2 => format!("{}. ", capitalised(&who)),
        _ => String::new(),
    };
    if age < 16 {
        let with = ["mother", "father", "grandmother", "both parents"]
            .choose(rng)
            .expect("non-empty");
        text.push_str(&format!("Accompanied by {with}. "));
    }
    let body = condition.notes.choose(rng).expect("a note template");
    text.push_str(&fill(body, rng));
    const NEXT: &[&str] = &[
        " Follow-up in {weeks} weeks.",
        " Review in {months} months, sooner if worse.",
        " Return if not improving within {days} days.",
        " Plan discussed and agreed.",
        " Questions answered; written information given.",
        " Will message the results through the portal.",
        "",
    ];
    text.push_str(&fill(NEXT.choose(rng).expect("non-empty"), rng));
    Note {
        condition,
        content: text,
        after: rng.gen_range(5..120),
    }
}

fn capitalised(s: &str) -> String {
    let mut c = s.chars();
    c.next()
        .map(|f| f.to_uppercase().chain(c).collect())
        .unwrap_or_default()
}

/// Writes `note` as `doctor` for the visit that ended at `end`, dated when the doctor signed it
/// (never after `clock`).
pub(super) fn write(
    tx: &mut Tx,
    doctor: &Actor,
    patient: PatientId,
    appointment: &AppointmentId,
    note: &Note,
    end: NaiveDateTime,
    clock: NaiveDateTime,
) -> Result<()> {
    let c = note.condition;
    let new = NewRecord {
        patient_id: patient,
        doctor_id: None,
        appointment_id: Some(appointment.clone()),
        record_type: RecordType::parse(c.kind).expect("the demo's record types exist"),
        title: c.title.to_string(),
        content: note.content.clone(),
        diagnosis_codes: vec![c.code.to_string()],
    };
    let r = tx.as_actor(doctor, |tx| records::create(tx, new))?;
    let at = (end + Duration::minutes(note.after)).min(clock);
    backdate::row(tx, "medical_records", r.id.as_str(), at, at)?;
    backdate::column(
        tx,
        "medical_record_versions",
        "changed_at",
        "record_id",
        r.id.as_str(),
        at,
    )
}
