-- Lab: orders, their results (with every earlier value of a corrected one), and diagnostic
-- images whose bytes live in the blob store.
CREATE TABLE lab_orders (
    id TEXT PRIMARY KEY NOT NULL,
    patient_id TEXT NOT NULL REFERENCES patients(id),
    doctor_id TEXT NOT NULL REFERENCES doctors(id),
    appointment_id TEXT REFERENCES appointments(id),
    test_code TEXT NOT NULL,
    test_name TEXT NOT NULL,
    priority TEXT NOT NULL,
    -- 0 stat, 1 urgent, 2 routine: the work list's order.
    priority_rank INTEGER NOT NULL,
    status TEXT NOT NULL,
    notes TEXT,
    cancel_reason TEXT,
    collected_at TIMESTAMP,
    collected_by TEXT REFERENCES users(id),
    resulted_at TIMESTAMP,
    created_by TEXT REFERENCES users(id),
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL,
    version INTEGER NOT NULL
);
CREATE INDEX lab_orders_patient ON lab_orders(patient_id, id);
CREATE INDEX lab_orders_work_list ON lab_orders(status, priority_rank, created_at, id);

CREATE TABLE lab_results (
    id TEXT PRIMARY KEY NOT NULL,
    lab_order_id TEXT NOT NULL REFERENCES lab_orders(id),
    patient_id TEXT NOT NULL REFERENCES patients(id),
    test_code TEXT NOT NULL,
    value TEXT NOT NULL,
    value_numeric DOUBLE PRECISION,
    unit TEXT,
    reference_low DOUBLE PRECISION,
    reference_high DOUBLE PRECISION,
    interpretation TEXT NOT NULL,
    status TEXT NOT NULL,
    note TEXT,
    resulted_by TEXT NOT NULL REFERENCES users(id),
    resulted_at TIMESTAMP NOT NULL,
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL,
    version INTEGER NOT NULL
);
CREATE INDEX lab_results_order ON lab_results(lab_order_id, id);
CREATE INDEX lab_results_patient ON lab_results(patient_id, id);

-- Every version of a result, the first included: what GET /lab-results/{id}/history reads.
CREATE TABLE lab_result_versions (
    id TEXT PRIMARY KEY NOT NULL,
    lab_result_id TEXT NOT NULL REFERENCES lab_results(id),
    version INTEGER NOT NULL,
    value TEXT NOT NULL,
    value_numeric DOUBLE PRECISION,
    unit TEXT,
    reference_low DOUBLE PRECISION,
    reference_high DOUBLE PRECISION,
    interpretation TEXT NOT NULL,
    status TEXT NOT NULL,
    note TEXT,
    changed_by TEXT NOT NULL REFERENCES users(id),
    changed_at TIMESTAMP NOT NULL,
    UNIQUE (lab_result_id, version)
);

CREATE TABLE diagnostic_images (
    id TEXT PRIMARY KEY NOT NULL,
    patient_id TEXT NOT NULL REFERENCES patients(id),
    doctor_id TEXT REFERENCES doctors(id),
    lab_order_id TEXT REFERENCES lab_orders(id),
    modality TEXT NOT NULL,
    body_site TEXT,
    description TEXT,
    taken_at TIMESTAMP,
    status TEXT NOT NULL,
    content_type TEXT,
    size_bytes BIGINT,
    sha256 TEXT,
    -- Where the bytes are in the blob store, once uploaded.
    blob_key TEXT,
    created_by TEXT REFERENCES users(id),
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL,
    version INTEGER NOT NULL
);
CREATE INDEX diagnostic_images_patient ON diagnostic_images(patient_id, id);
