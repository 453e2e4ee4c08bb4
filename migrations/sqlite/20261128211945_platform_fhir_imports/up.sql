-- FHIR import: which source resource became which of our rows, so that importing the same
-- bundles again loads nothing twice (`healthapi import fhir`).
CREATE TABLE fhir_imports (
    -- `<resourceType>/<id>` of the source resource.
    source TEXT PRIMARY KEY NOT NULL,
    -- What it became (`patient`, `doctor`, `appointment`, ...) and its id.
    kind TEXT NOT NULL,
    target_id TEXT NOT NULL,
    imported_at TIMESTAMP NOT NULL
);
