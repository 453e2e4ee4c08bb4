ALTER TABLE audit_head DROP COLUMN rebuild_from;
ALTER TABLE audit_head DROP COLUMN rebuild_seq;
DROP TABLE audit_index;
CREATE INDEX audit_logs_user ON audit_logs(user_id, seq);
CREATE TABLE audit_patient_index (
    patient_id TEXT NOT NULL,
    seq BIGINT NOT NULL,
    PRIMARY KEY (patient_id, seq)
) WITHOUT ROWID;
INSERT INTO audit_patient_index (patient_id, seq)
SELECT patient_id, seq FROM audit_logs WHERE patient_id IS NOT NULL ORDER BY patient_id, seq;
UPDATE audit_head SET indexed_seq = seq, indexed_hash = hash;
