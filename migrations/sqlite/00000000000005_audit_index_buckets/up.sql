-- The index by patient, keyed (bucket, patient_key, seq): bucket = seq >> 18 (262,144 entries)
-- and patient_key = the first 8 bytes of SHA-256(patient_id) as a signed integer. A pass of the
-- indexer then writes only into the newest bucket's pages, so how many pages it writes is
-- bounded by a bucket's size, not the trail's (keyed by patient alone, a pass rewrote nearly
-- every page of the index once the trail was large); an integer key is half the row of a
-- 36-character id. The keys are computed in Rust, so the index starts empty and the indexer
-- rebuilds it from the chain (queries read what it has not reached from the chain's tail).
-- See BENCHMARKS.md, fix 24.
DROP TABLE audit_patient_index;
CREATE TABLE audit_patient_index (
    bucket BIGINT NOT NULL,
    patient_key BIGINT NOT NULL,
    seq BIGINT NOT NULL,
    PRIMARY KEY (bucket, patient_key, seq)
) WITHOUT ROWID;
UPDATE audit_head SET indexed_seq = 0, indexed_hash = '';
