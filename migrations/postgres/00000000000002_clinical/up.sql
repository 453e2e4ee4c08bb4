-- Clinical core: appointments, medical records with every version, consent.
CREATE TABLE appointments (
    id TEXT PRIMARY KEY NOT NULL,
    patient_id TEXT NOT NULL REFERENCES patients(id),
    doctor_id TEXT NOT NULL REFERENCES doctors(id),
    start_time TIMESTAMP NOT NULL,
    end_time TIMESTAMP NOT NULL,
    status TEXT NOT NULL,
    reason TEXT,
    cancel_reason TEXT,
    created_by TEXT REFERENCES users(id),
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL,
    version INTEGER NOT NULL
);
CREATE INDEX appointments_doctor_time ON appointments(doctor_id, start_time);
CREATE INDEX appointments_patient_time ON appointments(patient_id, start_time);
CREATE INDEX appointments_time ON appointments(start_time, id);

CREATE TABLE medical_records (
    id TEXT PRIMARY KEY NOT NULL,
    patient_id TEXT NOT NULL REFERENCES patients(id),
    doctor_id TEXT NOT NULL REFERENCES doctors(id),
    appointment_id TEXT REFERENCES appointments(id),
    record_type TEXT NOT NULL,
    title TEXT NOT NULL,
    content TEXT NOT NULL,
    diagnosis_codes TEXT NOT NULL,
    status TEXT NOT NULL,
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL,
    version INTEGER NOT NULL
);
CREATE INDEX medical_records_patient ON medical_records(patient_id, id);

CREATE TABLE medical_record_versions (
    id TEXT PRIMARY KEY NOT NULL,
    record_id TEXT NOT NULL REFERENCES medical_records(id),
    version INTEGER NOT NULL,
    changed_by TEXT NOT NULL REFERENCES users(id),
    changed_at TIMESTAMP NOT NULL,
    record_type TEXT NOT NULL,
    title TEXT NOT NULL,
    content TEXT NOT NULL,
    diagnosis_codes TEXT NOT NULL,
    status TEXT NOT NULL,
    UNIQUE (record_id, version)
);

CREATE TABLE consent_forms (
    id TEXT PRIMARY KEY NOT NULL,
    kind TEXT NOT NULL,
    title TEXT NOT NULL,
    body TEXT NOT NULL,
    version INTEGER NOT NULL,
    active BOOLEAN NOT NULL,
    created_at TIMESTAMP NOT NULL
);
CREATE INDEX consent_forms_kind ON consent_forms(kind);

CREATE TABLE consent_history (
    id TEXT PRIMARY KEY NOT NULL,
    consent_form_id TEXT NOT NULL REFERENCES consent_forms(id),
    user_id TEXT NOT NULL REFERENCES users(id),
    action TEXT NOT NULL,
    recorded_at TIMESTAMP NOT NULL,
    client_addr TEXT
);
CREATE INDEX consent_history_user ON consent_history(user_id, id);

INSERT INTO consent_forms (id, kind, title, body, version, active, created_at) VALUES
('01900000-0000-7000-8000-000000000001', 'telemedicine', 'Consent to telemedicine',
 'I agree to receive care through video, audio and chat. I understand that remote care has limits, that I can ask for an in-person visit at any time, and that my sessions are recorded in my medical record.',
 1, TRUE, '2026-01-01 00:00:00'),
('01900000-0000-7000-8000-000000000002', 'remote_monitoring', 'Consent to remote monitoring',
 'I agree that my registered devices send measurements to my care team, that readings outside set thresholds alert them, and that I can revoke this consent at any time, which stops further uploads.',
 1, TRUE, '2026-01-01 00:00:00');
