-- The audit trail's lookups by patient and by user in one table keyed (bucket, kind,
-- lookup_key, seq). Same table as the SQLite tree (see there and BENCHMARKS.md, fix 24), but
-- PostgreSQL can compute the keys itself (the first 8 bytes of SHA-256 of the id, as a signed
-- integer, as src/audit/mod.rs `index_key` does), so the index is filled here, like migration
-- 4 did, and no rebuild follows.
DROP TABLE audit_patient_index;
DROP INDEX audit_logs_user;
CREATE TABLE audit_index (
    bucket BIGINT NOT NULL,
    kind BIGINT NOT NULL,
    lookup_key BIGINT NOT NULL,
    seq BIGINT NOT NULL,
    PRIMARY KEY (bucket, kind, lookup_key, seq)
);
INSERT INTO audit_index (bucket, kind, lookup_key, seq)
SELECT seq >> 18, 1,
       ('x' || left(encode(sha256(convert_to(patient_id, 'UTF8')), 'hex'), 16))::bit(64)::bigint,
       seq
FROM audit_logs WHERE patient_id IS NOT NULL
UNION ALL
SELECT seq >> 18, 2,
       ('x' || left(encode(sha256(convert_to(user_id, 'UTF8')), 'hex'), 16))::bit(64)::bigint,
       seq
FROM audit_logs WHERE user_id IS NOT NULL;
-- rebuild_seq: while indexed_seq is below it the index is being rebuilt, and requests do not
-- wait for its lag (src/audit/mod.rs, Audit::index_lag). Nothing to rebuild here.
ALTER TABLE audit_head ADD COLUMN rebuild_seq BIGINT NOT NULL DEFAULT 0;
-- rebuild_from: where the rebuild's current round began (a round catches up what was sealed
-- during the one before).
ALTER TABLE audit_head ADD COLUMN rebuild_from BIGINT NOT NULL DEFAULT 0;
UPDATE audit_head SET indexed_seq = seq, indexed_hash = hash, rebuild_seq = 0;
