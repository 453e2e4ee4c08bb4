-- The index by patient, keyed (bucket, patient_key, seq). Same as the SQLite tree (see there
-- and BENCHMARKS.md, fix 24): the indexer rebuilds it from the chain.
DROP TABLE audit_patient_index;
CREATE TABLE audit_patient_index (
    bucket BIGINT NOT NULL,
    patient_key BIGINT NOT NULL,
    seq BIGINT NOT NULL,
    PRIMARY KEY (bucket, patient_key, seq)
);
UPDATE audit_head SET indexed_seq = 0, indexed_hash = '';
