-- Referrals: the status graph as data (statuses, and the arrows between them with who may
-- take each), the requests, every transition they took, and the specialists' notes.
CREATE TABLE referral_statuses (
    id TEXT PRIMARY KEY NOT NULL,
    code TEXT NOT NULL UNIQUE,
    display TEXT NOT NULL,
    is_final BOOLEAN NOT NULL,
    position INTEGER NOT NULL
);

-- `parties` is a JSON array of who may take the arrow: `specialist`, `referring_doctor`,
-- `admin`.
CREATE TABLE referral_status_arrows (
    from_status_id TEXT NOT NULL REFERENCES referral_statuses(id),
    to_status_id TEXT NOT NULL REFERENCES referral_statuses(id),
    parties TEXT NOT NULL,
    PRIMARY KEY (from_status_id, to_status_id)
);

INSERT INTO referral_statuses (id, code, display, is_final, position) VALUES
('01900000-0000-7000-8002-000000000001', 'pending', 'Pending', FALSE, 1),
('01900000-0000-7000-8002-000000000002', 'accepted', 'Accepted', FALSE, 2),
('01900000-0000-7000-8002-000000000003', 'scheduled', 'Scheduled', FALSE, 3),
('01900000-0000-7000-8002-000000000004', 'completed', 'Completed', TRUE, 4),
('01900000-0000-7000-8002-000000000005', 'rejected', 'Rejected', TRUE, 5),
('01900000-0000-7000-8002-000000000006', 'cancelled', 'Cancelled', TRUE, 6);

INSERT INTO referral_status_arrows (from_status_id, to_status_id, parties) VALUES
('01900000-0000-7000-8002-000000000001', '01900000-0000-7000-8002-000000000002', '["specialist"]'),
('01900000-0000-7000-8002-000000000001', '01900000-0000-7000-8002-000000000005', '["specialist"]'),
('01900000-0000-7000-8002-000000000001', '01900000-0000-7000-8002-000000000006', '["referring_doctor","admin"]'),
('01900000-0000-7000-8002-000000000002', '01900000-0000-7000-8002-000000000003', '["specialist"]'),
('01900000-0000-7000-8002-000000000002', '01900000-0000-7000-8002-000000000004', '["specialist"]'),
('01900000-0000-7000-8002-000000000002', '01900000-0000-7000-8002-000000000006', '["specialist","referring_doctor","admin"]'),
('01900000-0000-7000-8002-000000000003', '01900000-0000-7000-8002-000000000004', '["specialist"]'),
('01900000-0000-7000-8002-000000000003', '01900000-0000-7000-8002-000000000006', '["specialist","referring_doctor","admin"]');

CREATE TABLE referral_requests (
    id TEXT PRIMARY KEY NOT NULL,
    patient_id TEXT NOT NULL REFERENCES patients(id),
    referring_doctor_id TEXT NOT NULL REFERENCES doctors(id),
    specialist_id TEXT NOT NULL REFERENCES doctors(id),
    status_id TEXT NOT NULL REFERENCES referral_statuses(id),
    status TEXT NOT NULL,
    reason TEXT NOT NULL,
    priority TEXT NOT NULL,
    specialty TEXT,
    appointment_id TEXT REFERENCES appointments(id),
    created_by TEXT REFERENCES users(id),
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL,
    version INTEGER NOT NULL
);
CREATE INDEX referral_requests_patient ON referral_requests(patient_id, id);
CREATE INDEX referral_requests_specialist ON referral_requests(specialist_id, id);
CREATE INDEX referral_requests_referring ON referral_requests(referring_doctor_id, id);

-- Every status a referral took, the first (`from_status` NULL) included.
CREATE TABLE referral_transitions (
    id TEXT PRIMARY KEY NOT NULL,
    referral_request_id TEXT NOT NULL REFERENCES referral_requests(id),
    from_status TEXT,
    to_status TEXT NOT NULL,
    by_user_id TEXT REFERENCES users(id),
    at TIMESTAMP NOT NULL,
    reason TEXT
);
CREATE INDEX referral_transitions_referral ON referral_transitions(referral_request_id, id);

-- Append-only.
CREATE TABLE specialist_notes (
    id TEXT PRIMARY KEY NOT NULL,
    referral_request_id TEXT NOT NULL REFERENCES referral_requests(id),
    specialist_id TEXT NOT NULL REFERENCES doctors(id),
    author_user_id TEXT REFERENCES users(id),
    note TEXT NOT NULL,
    created_at TIMESTAMP NOT NULL
);
CREATE INDEX specialist_notes_referral ON specialist_notes(referral_request_id, id);
