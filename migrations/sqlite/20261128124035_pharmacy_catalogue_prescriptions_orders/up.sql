-- Pharmacy: the medication catalogue, pharmacies and their pharmacists, prescriptions and
-- pharmacy orders; and the API's idempotency keys (the first response of a POST, replayed).
CREATE TABLE medications (
    id TEXT PRIMARY KEY NOT NULL,
    name TEXT NOT NULL,
    code TEXT NOT NULL UNIQUE,
    form TEXT,
    strength TEXT,
    active BOOLEAN NOT NULL,
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL,
    version INTEGER NOT NULL
);
CREATE INDEX medications_name ON medications(name);

CREATE TABLE pharmacies (
    id TEXT PRIMARY KEY NOT NULL,
    name TEXT NOT NULL,
    address TEXT,
    phone TEXT,
    email TEXT,
    active BOOLEAN NOT NULL,
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL,
    version INTEGER NOT NULL
);

CREATE TABLE pharmacy_staff (
    pharmacy_id TEXT NOT NULL REFERENCES pharmacies(id),
    user_id TEXT NOT NULL REFERENCES users(id),
    since TIMESTAMP NOT NULL,
    PRIMARY KEY (pharmacy_id, user_id)
);
CREATE INDEX pharmacy_staff_user ON pharmacy_staff(user_id, pharmacy_id);

CREATE TABLE prescriptions (
    id TEXT PRIMARY KEY NOT NULL,
    patient_id TEXT NOT NULL REFERENCES patients(id),
    doctor_id TEXT NOT NULL REFERENCES doctors(id),
    medication_id TEXT NOT NULL REFERENCES medications(id),
    dosage TEXT NOT NULL,
    frequency TEXT NOT NULL,
    quantity INTEGER NOT NULL,
    refills INTEGER NOT NULL,
    refills_remaining INTEGER NOT NULL,
    fills_used INTEGER NOT NULL,
    instructions TEXT,
    valid_until DATE,
    status TEXT NOT NULL,
    cancel_reason TEXT,
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL,
    version INTEGER NOT NULL
);
CREATE INDEX prescriptions_patient ON prescriptions(patient_id, id);
CREATE INDEX prescriptions_doctor ON prescriptions(doctor_id, id);

CREATE TABLE pharmacy_orders (
    id TEXT PRIMARY KEY NOT NULL,
    prescription_id TEXT NOT NULL REFERENCES prescriptions(id),
    pharmacy_id TEXT NOT NULL REFERENCES pharmacies(id),
    patient_id TEXT NOT NULL REFERENCES patients(id),
    status TEXT NOT NULL,
    cancel_reason TEXT,
    received_at TIMESTAMP,
    filled_at TIMESTAMP,
    picked_up_at TIMESTAMP,
    created_by TEXT REFERENCES users(id),
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL,
    version INTEGER NOT NULL
);
CREATE INDEX pharmacy_orders_pharmacy ON pharmacy_orders(pharmacy_id, id);
CREATE INDEX pharmacy_orders_patient ON pharmacy_orders(patient_id, id);
CREATE INDEX pharmacy_orders_prescription ON pharmacy_orders(prescription_id);
-- One open order per prescription, whatever the requests race.
CREATE UNIQUE INDEX pharmacy_orders_open ON pharmacy_orders(prescription_id)
    WHERE status IN ('sent', 'received', 'filled');

-- A POST's first response under an `Idempotency-Key`, per caller: replayed for a repeat with
-- the same body, 422 for another body.
CREATE TABLE idempotency_keys (
    user_id TEXT NOT NULL,
    idem_key TEXT NOT NULL,
    fingerprint TEXT NOT NULL,
    response TEXT,
    resource_id TEXT,
    patient_id TEXT,
    created_at TIMESTAMP NOT NULL,
    PRIMARY KEY (user_id, idem_key)
);
