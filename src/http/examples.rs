//! The examples of the OpenAPI document: one small cast, so that the examples of different
//! schemas tell one story. Jane Doe registers, books Dr. Chiamaka Okafor (cardiology) for a
//! blood-pressure follow-up, gets a visit note, a glucose test, a prescription of lisinopril
//! and an insurance claim; her heart-rate monitor uploads readings; she writes to her doctor.
//!
//! Each function is named by a schema's `#[schema(examples(...))]`; every id is the example of
//! its id type (`id`), so an appointment's `patient_id` is the patient's `id`. A contract test
//! deserializes each example into its Rust type (and serializes it back, where the type does
//! both), so an example cannot drift from what the server reads and writes.

use serde_json::{json, Value};

/// The example id of an id type (or of an object whose id is a plain UUID): a UUIDv7-shaped
/// value derived from the name, the same wherever the name is used.
pub fn id(name: &str) -> String {
    // FNV-1a: a stable spread of the name over the UUID's random bits.
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in name.bytes() {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    format!(
        "01967f3a-5c{:02x}-7{:03x}-8{:03x}-{:012x}",
        h >> 56,
        (h >> 44) & 0xfff,
        (h >> 32) & 0xfff,
        h & 0xffff_ffff_ffff
    )
}

/// When the objects were created (and the appointment's day).
const CREATED: &str = "2026-04-27T14:02:11Z";
const START: &str = "2026-05-04T09:30:00Z";
const END: &str = "2026-05-04T10:00:00Z";

fn patient_id() -> String {
    id("PatientId")
}
fn doctor_id() -> String {
    id("DoctorId")
}
fn appointment_id() -> String {
    id("AppointmentId")
}

pub fn register() -> Value {
    json!({
        "email": "jane.doe@example.com",
        "password": "correct-horse-battery-staple",
        "given_name": "Jane",
        "family_name": "Doe",
        "birth_date": "1984-07-12",
        "sex": "female",
        "phone": "+1 555 0100"
    })
}

pub fn registered() -> Value {
    json!({"user": user(), "patient": patient()})
}

pub fn login() -> Value {
    json!({"email": "jane.doe@example.com", "password": "correct-horse-battery-staple"})
}

pub fn login_response() -> Value {
    json!({
        "access_token": "q3Vb7m0c2XkT9yLwJ8pR4sNf6hZa1eUd5gWi0oKx3Cs",
        "token_type": "Bearer",
        "expires_in": 3600,
        "user": user()
    })
}

pub fn user() -> Value {
    json!({
        "id": id("UserId"),
        "email": "jane.doe@example.com",
        "display_name": "Jane Doe",
        "roles": ["patient"],
        "is_active": true,
        "patient_id": patient_id(),
        "doctor_id": null,
        "created_at": CREATED,
        "updated_at": CREATED,
        "version": 1
    })
}

pub fn new_patient() -> Value {
    json!({
        "given_name": "Jane",
        "family_name": "Doe",
        "birth_date": "1984-07-12",
        "sex": "female",
        "phone": "+1 555 0100",
        "email": "jane.doe@example.com",
        "address": "12 Harbour Street, Springfield, IL 62701",
        "user_id": null
    })
}

pub fn patient() -> Value {
    json!({
        "id": patient_id(),
        "mrn": "MRN00000123",
        "user_id": id("UserId"),
        "given_name": "Jane",
        "family_name": "Doe",
        "birth_date": "1984-07-12",
        "sex": "female",
        "phone": "+1 555 0100",
        "email": "jane.doe@example.com",
        "address": "12 Harbour Street, Springfield, IL 62701",
        "created_at": CREATED,
        "updated_at": CREATED,
        "version": 1
    })
}

pub fn new_doctor() -> Value {
    json!({
        "given_name": "Chiamaka",
        "family_name": "Okafor",
        "specialty": "Cardiology",
        "license_number": "MD-481516",
        "email": "chiamaka.okafor@clinic.example",
        "phone": "+1 555 0142",
        "password": "stethoscope-and-tea-42"
    })
}

pub fn doctor() -> Value {
    json!({
        "id": doctor_id(),
        "user_id": id("DoctorUser"),
        "given_name": "Chiamaka",
        "family_name": "Okafor",
        "specialty": "Cardiology",
        "license_number": "MD-481516",
        "email": "chiamaka.okafor@clinic.example",
        "phone": "+1 555 0142",
        "created_at": CREATED,
        "updated_at": CREATED,
        "version": 1
    })
}

pub fn new_appointment() -> Value {
    json!({
        "patient_id": patient_id(),
        "doctor_id": doctor_id(),
        "start_time": START,
        "end_time": END,
        "reason": "Follow-up after blood pressure medication change"
    })
}

pub fn appointment_change() -> Value {
    json!({"status": "cancelled", "cancel_reason": "Travelling for work that week"})
}

pub fn appointment() -> Value {
    json!({
        "id": appointment_id(),
        "patient_id": patient_id(),
        "doctor_id": doctor_id(),
        "start_time": START,
        "end_time": END,
        "status": "booked",
        "reason": "Follow-up after blood pressure medication change",
        "cancel_reason": null,
        "created_at": CREATED,
        "updated_at": CREATED,
        "version": 1
    })
}

const NOTE_TITLE: &str = "Hypertension follow-up";
const NOTE: &str = "BP 142/91 seated, 138/88 after 5 minutes. No chest pain or dyspnoea. \
                    Start lisinopril 10 mg once daily; recheck BP and electrolytes in 4 weeks.";

pub fn new_record() -> Value {
    json!({
        "patient_id": patient_id(),
        "appointment_id": appointment_id(),
        "record_type": "visit_note",
        "title": NOTE_TITLE,
        "content": NOTE,
        "diagnosis_codes": ["I10"]
    })
}

pub fn medical_record() -> Value {
    json!({
        "id": id("RecordId"),
        "patient_id": patient_id(),
        "doctor_id": doctor_id(),
        "appointment_id": appointment_id(),
        "record_type": "visit_note",
        "title": NOTE_TITLE,
        "content": NOTE,
        "diagnosis_codes": ["I10"],
        "status": "final",
        "created_at": START,
        "updated_at": START,
        "version": 1
    })
}

const GLUCOSE: &str = "Glucose [Mass/volume] in Serum or Plasma";

pub fn new_lab_order() -> Value {
    json!({
        "patient_id": patient_id(),
        "appointment_id": appointment_id(),
        "test_code": "2345-7",
        "test_name": GLUCOSE,
        "priority": "routine",
        "notes": "Fasting sample, please"
    })
}

pub fn lab_order() -> Value {
    json!({
        "id": id("LabOrderId"),
        "patient_id": patient_id(),
        "doctor_id": doctor_id(),
        "appointment_id": appointment_id(),
        "test_code": "2345-7",
        "test_name": GLUCOSE,
        "priority": "routine",
        "status": "resulted",
        "notes": "Fasting sample, please",
        "cancel_reason": null,
        "collected_at": "2026-05-05T07:40:00Z",
        "resulted_at": "2026-05-05T11:12:30Z",
        "created_at": START,
        "updated_at": "2026-05-05T11:12:30Z",
        "version": 3
    })
}

pub fn new_lab_result() -> Value {
    json!({
        "value": "98",
        "unit": "mg/dL",
        "reference_low": 70.0,
        "reference_high": 99.0,
        "note": "Fasting 10 hours"
    })
}

pub fn lab_result() -> Value {
    json!({
        "id": id("LabResultId"),
        "lab_order_id": id("LabOrderId"),
        "patient_id": patient_id(),
        "test_code": "2345-7",
        "value": "98",
        "value_numeric": 98.0,
        "unit": "mg/dL",
        "reference_low": 70.0,
        "reference_high": 99.0,
        "interpretation": "normal",
        "status": "final",
        "note": "Fasting 10 hours",
        "resulted_by": id("LabTechnicianUser"),
        "resulted_at": "2026-05-05T11:12:30Z",
        "created_at": "2026-05-05T11:12:30Z",
        "updated_at": "2026-05-05T11:12:30Z",
        "version": 1
    })
}

pub fn new_prescription() -> Value {
    json!({
        "patient_id": patient_id(),
        "appointment_id": appointment_id(),
        "medication_id": id("MedicationId"),
        "dosage": "10 mg",
        "frequency": "once daily",
        "quantity": 30,
        "refills": 2,
        "instructions": "Take in the morning. Tell your doctor about a persistent dry cough.",
        "valid_until": "2026-11-04"
    })
}

pub fn prescription() -> Value {
    json!({
        "id": id("PrescriptionId"),
        "patient_id": patient_id(),
        "doctor_id": doctor_id(),
        "medication_id": id("MedicationId"),
        "dosage": "10 mg",
        "frequency": "once daily",
        "quantity": 30,
        "refills": 2,
        "refills_remaining": 2,
        "fills_used": 0,
        "instructions": "Take in the morning. Tell your doctor about a persistent dry cough.",
        "valid_until": "2026-11-04",
        "status": "active",
        "cancel_reason": null,
        "created_at": START,
        "updated_at": START,
        "version": 1
    })
}

pub fn money() -> Value {
    json!({"amount_minor": 12500, "currency": "USD"})
}

fn claim_lines() -> Value {
    json!([
        {
            "code": "99213",
            "description": "Office visit, established patient, 20-29 minutes",
            "amount": {"amount_minor": 12500, "currency": "USD"}
        },
        {
            "code": "93000",
            "description": "Electrocardiogram with interpretation and report",
            "amount": {"amount_minor": 4500, "currency": "USD"}
        }
    ])
}

pub fn new_claim() -> Value {
    json!({
        "patient_id": patient_id(),
        "plan_id": id("PlanId"),
        "member_id": "XJH123456789",
        "service_date": "2026-05-04",
        "appointment_id": appointment_id(),
        "lines": claim_lines()
    })
}

pub fn claim() -> Value {
    json!({
        "id": id("ClaimId"),
        "patient_id": patient_id(),
        "plan_id": id("PlanId"),
        "member_id": "XJH123456789",
        "service_date": "2026-05-04",
        "appointment_id": appointment_id(),
        "lines": claim_lines(),
        "total": {"amount_minor": 17000, "currency": "USD"},
        "status": "approved",
        "approved_amount": {"amount_minor": 15300, "currency": "USD"},
        "paid_amount": {"amount_minor": 0, "currency": "USD"},
        "denial_reason": null,
        "created_at": "2026-05-06T08:00:00Z",
        "updated_at": "2026-05-12T16:45:00Z",
        "version": 3
    })
}

pub fn new_reading() -> Value {
    json!({
        "metric": "heart_rate",
        "value": 72.0,
        "unit": "bpm",
        "recorded_at": "2026-05-04T07:15:00Z"
    })
}

pub fn readings() -> Value {
    json!({
        "readings": [
            new_reading(),
            {
                "metric": "heart_rate",
                "value": 75.0,
                "unit": "bpm",
                "recorded_at": "2026-05-04T07:16:00Z"
            },
            {"metric": "spo2", "value": 97.0, "unit": "%", "recorded_at": "2026-05-04T07:16:00Z"}
        ]
    })
}

pub fn ingest_result() -> Value {
    json!({"accepted": 3, "duplicates": 0})
}

pub fn reading() -> Value {
    json!({
        "device_id": id("DeviceId"),
        "metric": "heart_rate",
        "value": 72.0,
        "unit": "bpm",
        "recorded_at": "2026-05-04T07:15:00Z"
    })
}

const SUBJECT: &str = "Question about my new medication";
const BODY: &str = "Dr. Okafor, since starting lisinopril I have had a dry cough in the \
                    evenings. Should I keep taking it until our next visit?";

pub fn new_message() -> Value {
    json!({"receiver_id": id("DoctorUser"), "subject": SUBJECT, "body": BODY})
}

pub fn message() -> Value {
    json!({
        "id": id("MessageId"),
        "thread_id": id("MessageId"),
        "reply_to": null,
        "sender_id": id("UserId"),
        "receiver_id": id("DoctorUser"),
        "subject": SUBJECT,
        "body": BODY,
        "sent_at": "2026-05-09T19:21:04Z",
        "read_at": null
    })
}

pub fn notification() -> Value {
    json!({
        "id": id("Notification"),
        "user_id": id("DoctorUser"),
        "kind": "appointment_booked",
        "title": "Appointment booked",
        "body": "An appointment was booked for 2026-05-04 09:30 UTC.",
        "resource_type": "appointment",
        "resource_id": appointment_id(),
        "created_at": CREATED,
        "read_at": null
    })
}

pub fn problem() -> Value {
    json!({
        "type": "https://healthapi.dev/problems/validation",
        "title": "Unprocessable Entity",
        "status": 422,
        "detail": "the request body failed validation",
        "errors": [{"field": "end_time", "message": "must be after start_time"}]
    })
}
