-- Which audit key this database's trail is written with: a tag under the key of a fixed text,
-- claimed by the first node or command that writes. One with another key refuses to start
-- instead of sealing entries that break the chain (`audit::claim_key`).
CREATE TABLE audit_key_check (
    id INTEGER PRIMARY KEY NOT NULL CHECK (id = 1),
    tag TEXT NOT NULL,
    claimed_at TIMESTAMP NOT NULL
);
