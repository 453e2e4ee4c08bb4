-- Patient portal, messages: private to their sender and receiver, threaded.
CREATE TABLE messages (
    id TEXT PRIMARY KEY NOT NULL,
    thread_id TEXT NOT NULL,
    reply_to TEXT REFERENCES messages(id),
    sender_id TEXT NOT NULL REFERENCES users(id),
    receiver_id TEXT NOT NULL REFERENCES users(id),
    subject TEXT NOT NULL,
    body TEXT NOT NULL,
    sent_at TIMESTAMP NOT NULL,
    read_at TIMESTAMP
);
CREATE INDEX messages_receiver ON messages(receiver_id, id);
CREATE INDEX messages_sender ON messages(sender_id, id);
CREATE INDEX messages_thread ON messages(thread_id, id);
