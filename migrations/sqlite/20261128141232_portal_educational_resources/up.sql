-- Patient portal, educational resources: admin-authored Markdown, searchable in full text.
CREATE TABLE educational_resources (
    id TEXT PRIMARY KEY NOT NULL,
    title TEXT NOT NULL,
    summary TEXT NOT NULL,
    body TEXT NOT NULL,
    url TEXT,
    category TEXT NOT NULL,
    language TEXT NOT NULL,
    published BOOLEAN NOT NULL,
    created_by TEXT REFERENCES users(id),
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL,
    version INTEGER NOT NULL
);
CREATE INDEX educational_resources_category ON educational_resources(category, id);
CREATE TABLE educational_resource_tags (
    resource_id TEXT NOT NULL REFERENCES educational_resources(id),
    tag TEXT NOT NULL,
    PRIMARY KEY (resource_id, tag)
);
CREATE INDEX educational_resource_tags_tag ON educational_resource_tags(tag, resource_id);
-- A doctor of the patient's care team recommends a resource; once per patient and resource.
CREATE TABLE education_recommendations (
    id TEXT PRIMARY KEY NOT NULL,
    patient_id TEXT NOT NULL REFERENCES patients(id),
    resource_id TEXT NOT NULL REFERENCES educational_resources(id),
    doctor_id TEXT NOT NULL REFERENCES doctors(id),
    note TEXT,
    created_at TIMESTAMP NOT NULL,
    UNIQUE (patient_id, resource_id)
);
-- Full text: an FTS5 index kept by triggers (English stemming, like PostgreSQL's 'english'),
-- title weighted over summary over body at query time (bm25).
CREATE VIRTUAL TABLE educational_resources_fts USING fts5(
    resource_id UNINDEXED, title, summary, body,
    tokenize = 'porter unicode61 remove_diacritics 2'
);
CREATE TRIGGER educational_resources_fts_insert AFTER INSERT ON educational_resources BEGIN
    INSERT INTO educational_resources_fts (resource_id, title, summary, body)
    VALUES (new.id, new.title, new.summary, new.body);
END;
CREATE TRIGGER educational_resources_fts_update AFTER UPDATE OF title, summary, body
ON educational_resources BEGIN
    DELETE FROM educational_resources_fts WHERE resource_id = old.id;
    INSERT INTO educational_resources_fts (resource_id, title, summary, body)
    VALUES (new.id, new.title, new.summary, new.body);
END;
