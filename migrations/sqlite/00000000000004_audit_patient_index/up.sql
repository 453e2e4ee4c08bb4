-- The audit trail's lookup by patient moves from an index on audit_logs, which every sealed
-- entry updated at a random page (one 4 KiB page written per audited read: most of the
-- patient-read benchmark's audit cost), to a table an indexer thread fills behind the chain
-- in batches sorted by patient. Entries after audit_head.indexed_seq are not in it yet; queries
-- by patient read those from audit_logs' tail (seq is the rowid). See BENCHMARKS.md, fix 22.
CREATE TABLE audit_patient_index (
    patient_id TEXT NOT NULL,
    seq BIGINT NOT NULL,
    PRIMARY KEY (patient_id, seq)
) WITHOUT ROWID;
INSERT INTO audit_patient_index (patient_id, seq)
SELECT patient_id, seq FROM audit_logs WHERE patient_id IS NOT NULL ORDER BY patient_id, seq;
-- indexed_hash is the hash of entry indexed_seq: if the chain under it changed (a cut tail
-- sealed anew), the indexer sees it and rebuilds.
ALTER TABLE audit_head ADD COLUMN indexed_seq BIGINT NOT NULL DEFAULT 0;
ALTER TABLE audit_head ADD COLUMN indexed_hash TEXT NOT NULL DEFAULT '';
UPDATE audit_head SET indexed_seq = seq, indexed_hash = hash;
DROP INDEX audit_logs_patient;
