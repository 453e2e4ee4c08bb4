-- Patient portal, feedback: a rating and a comment by any user.
CREATE TABLE feedback (
    id TEXT PRIMARY KEY NOT NULL,
    user_id TEXT NOT NULL REFERENCES users(id),
    rating INTEGER NOT NULL,
    category TEXT NOT NULL,
    comment TEXT,
    appointment_id TEXT REFERENCES appointments(id),
    created_at TIMESTAMP NOT NULL
);
CREATE INDEX feedback_user ON feedback(user_id, id);
CREATE INDEX feedback_category ON feedback(category, created_at);
