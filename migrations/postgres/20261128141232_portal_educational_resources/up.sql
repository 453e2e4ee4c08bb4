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
-- Full text: the weighted document (title A, summary B, body C; English stemming) is one
-- function, so that the GIN index and the search query use the same expression.
CREATE FUNCTION educational_resource_document(title TEXT, summary TEXT, body TEXT)
RETURNS tsvector LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT setweight(to_tsvector('english'::regconfig, title), 'A')
        || setweight(to_tsvector('english'::regconfig, summary), 'B')
        || setweight(to_tsvector('english'::regconfig, body), 'C')
$$;
CREATE INDEX educational_resources_search ON educational_resources
    USING GIN (educational_resource_document(title, summary, body));
