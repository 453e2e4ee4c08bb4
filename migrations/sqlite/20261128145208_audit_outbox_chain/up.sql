-- The outbox becomes a chain of its own, so that an entry is protected from the moment it is
-- written, not only once sealed: each row carries its place (`seq`) and its chain hash (`mac`,
-- HMAC under the audit key over the previous row's and this entry), and the head row records
-- where the chain ends with a tag only the key can make. The sealer checks every row against it.
ALTER TABLE audit_outbox ADD COLUMN seq BIGINT NOT NULL DEFAULT 0;
ALTER TABLE audit_outbox ADD COLUMN mac TEXT NOT NULL DEFAULT '';
CREATE INDEX audit_outbox_seq ON audit_outbox(seq, id);
CREATE TABLE audit_outbox_head (
    id INTEGER PRIMARY KEY NOT NULL,
    seq BIGINT NOT NULL,
    hash TEXT NOT NULL,
    tag TEXT NOT NULL
);
INSERT INTO audit_outbox_head (id, seq, hash, tag) VALUES (1, 0, '', '');
-- Where the sealer stopped in the outbox chain; rows written before this migration (seq 0, up
-- to `outbox_legacy_id`) are sealed as they are.
ALTER TABLE audit_head ADD COLUMN outbox_seq BIGINT NOT NULL DEFAULT 0;
ALTER TABLE audit_head ADD COLUMN outbox_hash TEXT NOT NULL DEFAULT '';
ALTER TABLE audit_head ADD COLUMN outbox_legacy_id BIGINT NOT NULL DEFAULT 0;
UPDATE audit_head SET outbox_legacy_id = (SELECT COALESCE(MAX(id), 0) FROM audit_outbox);
