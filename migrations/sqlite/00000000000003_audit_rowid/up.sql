-- seq becomes the table's rowid. Declared BIGINT PRIMARY KEY, SQLite kept seq in a separate
-- unique index beside the table: every sealed audit entry cost one more B-tree insert (and the
-- pages it dirtied), on the path that seals one entry per read of patient data.
CREATE TABLE audit_logs_rowid (
    seq INTEGER PRIMARY KEY NOT NULL,
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
