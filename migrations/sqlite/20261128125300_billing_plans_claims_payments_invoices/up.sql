-- Insurance and billing. Money is two columns everywhere: an integer amount in minor units
-- (`*_minor`, BIGINT) and an ISO 4217 currency; never a floating-point number.
CREATE TABLE insurance_plans (
    id TEXT PRIMARY KEY NOT NULL,
    name TEXT NOT NULL,
    payer TEXT NOT NULL,
    plan_code TEXT NOT NULL UNIQUE,
    active BOOLEAN NOT NULL,
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL,
    version INTEGER NOT NULL
);

CREATE TABLE claims (
    id TEXT PRIMARY KEY NOT NULL,
    patient_id TEXT NOT NULL REFERENCES patients(id),
    plan_id TEXT NOT NULL REFERENCES insurance_plans(id),
    member_id TEXT NOT NULL,
    service_date DATE NOT NULL,
    appointment_id TEXT REFERENCES appointments(id),
    currency TEXT NOT NULL,
    total_minor BIGINT NOT NULL,
    status TEXT NOT NULL,
    approved_minor BIGINT,
    paid_minor BIGINT NOT NULL,
    denial_reason TEXT,
    created_by TEXT REFERENCES users(id),
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL,
    version INTEGER NOT NULL
);
CREATE INDEX claims_patient ON claims(patient_id, id);

CREATE TABLE claim_lines (
    id TEXT PRIMARY KEY NOT NULL,
    claim_id TEXT NOT NULL REFERENCES claims(id),
    position INTEGER NOT NULL,
    code TEXT NOT NULL,
    description TEXT NOT NULL,
    amount_minor BIGINT NOT NULL,
    UNIQUE (claim_id, position)
);

CREATE TABLE invoices (
    id TEXT PRIMARY KEY NOT NULL,
    number BIGINT NOT NULL UNIQUE,
    patient_id TEXT NOT NULL REFERENCES patients(id),
    claim_id TEXT REFERENCES claims(id),
    currency TEXT NOT NULL,
    total_minor BIGINT NOT NULL,
    paid_minor BIGINT NOT NULL,
    status TEXT NOT NULL,
    issued_at TIMESTAMP,
    due_date DATE,
    created_by TEXT REFERENCES users(id),
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL,
    version INTEGER NOT NULL
);
CREATE INDEX invoices_patient ON invoices(patient_id, id);

CREATE TABLE invoice_lines (
    id TEXT PRIMARY KEY NOT NULL,
    invoice_id TEXT NOT NULL REFERENCES invoices(id),
    position INTEGER NOT NULL,
    description TEXT NOT NULL,
    quantity BIGINT NOT NULL,
    unit_minor BIGINT NOT NULL,
    amount_minor BIGINT NOT NULL,
    UNIQUE (invoice_id, position)
);

-- Append-only; exactly one of claim_id, invoice_id.
CREATE TABLE payments (
    id TEXT PRIMARY KEY NOT NULL,
    claim_id TEXT REFERENCES claims(id),
    invoice_id TEXT REFERENCES invoices(id),
    patient_id TEXT NOT NULL REFERENCES patients(id),
    amount_minor BIGINT NOT NULL,
    currency TEXT NOT NULL,
    method TEXT NOT NULL,
    reference TEXT,
    paid_at TIMESTAMP NOT NULL,
    recorded_by TEXT REFERENCES users(id),
    CHECK ((claim_id IS NULL) <> (invoice_id IS NULL))
);
CREATE INDEX payments_claim ON payments(claim_id);
CREATE INDEX payments_invoice ON payments(invoice_id);
CREATE INDEX payments_patient ON payments(patient_id, id);

-- Invoice numbers: one counter row, incremented in the invoice's own transaction.
INSERT INTO counters (name, value) VALUES ('invoice', 0);
