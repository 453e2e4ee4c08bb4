CREATE INDEX audit_logs_patient ON audit_logs(patient_id, seq);
ALTER TABLE audit_head DROP COLUMN indexed_hash;
ALTER TABLE audit_head DROP COLUMN indexed_seq;
DROP TABLE audit_patient_index;
