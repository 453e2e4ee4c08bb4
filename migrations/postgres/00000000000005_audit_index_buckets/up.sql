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
-- rebuild_seq: while indexed_seq is below it the index is being rebuilt, and requests do not
-- wait for its lag (src/audit/mod.rs, Audit::index_lag); kept here so that a restarted server,
-- or another node, knows.
ALTER TABLE audit_head ADD COLUMN rebuild_seq BIGINT NOT NULL DEFAULT 0;
UPDATE audit_head SET indexed_seq = 0, indexed_hash = '', rebuild_seq = seq;
