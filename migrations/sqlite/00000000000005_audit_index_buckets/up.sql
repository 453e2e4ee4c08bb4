-- The audit trail's lookups by patient and by user, in one table the indexer fills behind the
-- chain, keyed (bucket, kind, lookup_key, seq): bucket = seq >> 18 (262,144 entries), kind 1
-- for the entry's patient and 2 for its user, lookup_key = the first 8 bytes of SHA-256 of
-- that id as a signed integer. A pass of the indexer then writes only into the newest bucket's
-- pages, so how many pages it writes is bounded by a bucket's size, not the trail's (keyed by
-- patient alone, a pass rewrote nearly every page of the index once the trail was large). The
-- index on audit_logs(user_id, seq) goes: the sealer updated it at one page per distinct user
-- in a seal, the cost migration 4 removed for patients. The keys are computed in Rust, so the
-- table starts empty and the indexer rebuilds it from the chain (queries read what it has not
-- reached from the chain's tail). See BENCHMARKS.md, fix 24.
DROP TABLE audit_patient_index;
DROP INDEX audit_logs_user;
CREATE TABLE audit_index (
    bucket BIGINT NOT NULL,
    kind BIGINT NOT NULL,
    lookup_key BIGINT NOT NULL,
    seq BIGINT NOT NULL,
    PRIMARY KEY (bucket, kind, lookup_key, seq)
) WITHOUT ROWID;
-- rebuild_seq: while indexed_seq is below it the index is being rebuilt, and requests do not
-- wait for its lag (src/audit/mod.rs, Audit::index_lag); kept here so that a restarted server,
-- or another node, knows.
ALTER TABLE audit_head ADD COLUMN rebuild_seq BIGINT NOT NULL DEFAULT 0;
-- rebuild_from: where the rebuild's current round began (a round catches up what was sealed
-- during the one before).
ALTER TABLE audit_head ADD COLUMN rebuild_from BIGINT NOT NULL DEFAULT 0;
UPDATE audit_head SET indexed_seq = 0, indexed_hash = '', rebuild_seq = seq;
