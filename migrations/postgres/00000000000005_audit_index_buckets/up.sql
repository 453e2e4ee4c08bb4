-- The audit trail's lookups by patient and by user in one table keyed (bucket, kind,
-- lookup_key, seq). Same as the SQLite tree (see there and BENCHMARKS.md, fix 24): the indexer
-- rebuilds it from the chain.
DROP TABLE audit_patient_index;
DROP INDEX audit_logs_user;
CREATE TABLE audit_index (
    bucket BIGINT NOT NULL,
    kind BIGINT NOT NULL,
    lookup_key BIGINT NOT NULL,
    seq BIGINT NOT NULL,
    PRIMARY KEY (bucket, kind, lookup_key, seq)
);
UPDATE audit_head SET indexed_seq = 0, indexed_hash = '';
