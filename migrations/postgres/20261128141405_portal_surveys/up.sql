-- Patient portal, surveys: an admin's questions (kept as JSON, they are read whole), and the
-- answers one row each so that the results are grouped in SQL. One response per user and
-- survey, kept by the UNIQUE constraint.
CREATE TABLE surveys (
    id TEXT PRIMARY KEY NOT NULL,
    title TEXT NOT NULL,
    description TEXT,
    audience TEXT NOT NULL,
    questions TEXT NOT NULL,
    active BOOLEAN NOT NULL,
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL,
    version INTEGER NOT NULL
);
CREATE INDEX surveys_audience ON surveys(active, audience, id);

CREATE TABLE survey_responses (
    id TEXT PRIMARY KEY NOT NULL,
    survey_id TEXT NOT NULL REFERENCES surveys(id),
    user_id TEXT NOT NULL REFERENCES users(id),
    submitted_at TIMESTAMP NOT NULL,
    UNIQUE (survey_id, user_id)
);

-- One row per answer; a multiple-choice answer is one row per chosen option (`position`).
-- Exactly one of option_value, number_value, text_value is set.
CREATE TABLE survey_answers (
    response_id TEXT NOT NULL REFERENCES survey_responses(id),
    question_id TEXT NOT NULL,
    position INTEGER NOT NULL,
    survey_id TEXT NOT NULL REFERENCES surveys(id),
    option_value TEXT,
    number_value INTEGER,
    text_value TEXT,
    PRIMARY KEY (response_id, question_id, position)
);
CREATE INDEX survey_answers_question ON survey_answers(survey_id, question_id);
