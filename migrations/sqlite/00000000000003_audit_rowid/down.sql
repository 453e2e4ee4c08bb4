-- Back to seq as BIGINT PRIMARY KEY (a separate unique index).
CREATE TABLE audit_logs_rowid (
    seq BIGINT PRIMARY KEY NOT NULL,
    occurred_at TIMESTAMP NOT NULL,
    user_id TEXT,
    role TEXT,
    action TEXT NOT NULL,
    resource_type TEXT NOT NULL,
    resource_id TEXT,
    patient_id TEXT,
    outcome TEXT NOT NULL,
    request_id TEXT,
    client_addr TEXT,
    hash TEXT NOT NULL
);
INSERT INTO audit_logs_rowid (seq, occurred_at, user_id, role, action, resource_type,
    resource_id, patient_id, outcome, request_id, client_addr, hash)
SELECT seq, occurred_at, user_id, role, action, resource_type,
    resource_id, patient_id, outcome, request_id, client_addr, hash
FROM audit_logs;
DROP TABLE audit_logs;
ALTER TABLE audit_logs_rowid RENAME TO audit_logs;
CREATE INDEX audit_logs_patient ON audit_logs(patient_id, seq);
CREATE INDEX audit_logs_user ON audit_logs(user_id, seq);
