-- Telemedicine: virtual visits, their video sessions and chat, and the single-use tickets that
-- open a chat socket from a browser.
CREATE TABLE virtual_visits (
    id TEXT PRIMARY KEY NOT NULL,
    patient_id TEXT NOT NULL REFERENCES patients(id),
    doctor_id TEXT NOT NULL REFERENCES doctors(id),
    appointment_id TEXT REFERENCES appointments(id),
    scheduled_start TIMESTAMP NOT NULL,
    scheduled_end TIMESTAMP NOT NULL,
    reason TEXT,
    status TEXT NOT NULL,
    cancel_reason TEXT,
    started_at TIMESTAMP,
    ended_at TIMESTAMP,
    created_by TEXT REFERENCES users(id),
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL,
    version INTEGER NOT NULL
);
CREATE INDEX virtual_visits_doctor_time ON virtual_visits(doctor_id, scheduled_start);
CREATE INDEX virtual_visits_patient_time ON virtual_visits(patient_id, scheduled_start);
CREATE INDEX virtual_visits_time ON virtual_visits(scheduled_start, id);

CREATE TABLE video_sessions (
    id TEXT PRIMARY KEY NOT NULL,
    virtual_visit_id TEXT NOT NULL REFERENCES virtual_visits(id),
    room TEXT NOT NULL UNIQUE,
    join_url TEXT,
    started_by TEXT NOT NULL REFERENCES users(id),
    started_at TIMESTAMP NOT NULL,
    ended_by TEXT REFERENCES users(id),
    ended_at TIMESTAMP,
    duration_seconds BIGINT,
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL,
    version INTEGER NOT NULL
);
CREATE INDEX video_sessions_visit ON video_sessions(virtual_visit_id, id);
-- One live session per visit: the database holds the rule, whatever the requests race.
CREATE UNIQUE INDEX video_sessions_live ON video_sessions(virtual_visit_id) WHERE ended_at IS NULL;

-- Append-only: no UPDATE or DELETE is ever issued on it.
CREATE TABLE chat_logs (
    id TEXT PRIMARY KEY NOT NULL,
    virtual_visit_id TEXT NOT NULL REFERENCES virtual_visits(id),
    patient_id TEXT NOT NULL REFERENCES patients(id),
    doctor_id TEXT NOT NULL REFERENCES doctors(id),
    sender_user_id TEXT NOT NULL REFERENCES users(id),
    body TEXT NOT NULL,
    sent_at TIMESTAMP NOT NULL
);
CREATE INDEX chat_logs_visit ON chat_logs(virtual_visit_id, id);

-- A ticket is stored as its SHA-256, never in clear; it names the session it was issued under.
CREATE TABLE chat_tickets (
    ticket_hash TEXT PRIMARY KEY NOT NULL,
    virtual_visit_id TEXT NOT NULL REFERENCES virtual_visits(id),
    token_hash TEXT NOT NULL,
    expires_at TIMESTAMP NOT NULL
);
CREATE INDEX chat_tickets_expiry ON chat_tickets(expires_at);
