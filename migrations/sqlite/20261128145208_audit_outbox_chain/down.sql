ALTER TABLE audit_head DROP COLUMN outbox_legacy_id;
ALTER TABLE audit_head DROP COLUMN outbox_hash;
ALTER TABLE audit_head DROP COLUMN outbox_seq;
DROP TABLE audit_outbox_head;
DROP INDEX audit_outbox_seq;
ALTER TABLE audit_outbox DROP COLUMN mac;
ALTER TABLE audit_outbox DROP COLUMN seq;
