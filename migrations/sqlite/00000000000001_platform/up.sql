-- Platform: accounts, roles, sessions, patients, doctors, care team, notifications, audit chain.
-- Kept column-for-column identical to migrations/postgres (checked by tests/migrations.rs).
CREATE TABLE roles (
    id TEXT PRIMARY KEY NOT NULL,
    name TEXT NOT NULL UNIQUE,
    description TEXT NOT NULL,
    permissions TEXT NOT NULL,
    built_in BOOLEAN NOT NULL,
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL,
    version INTEGER NOT NULL
);

CREATE TABLE users (
    id TEXT PRIMARY KEY NOT NULL,
    email TEXT NOT NULL,
    email_lower TEXT NOT NULL UNIQUE,
    password_hash TEXT NOT NULL,
    display_name TEXT NOT NULL,
    is_active BOOLEAN NOT NULL,
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL,
    version INTEGER NOT NULL
);

CREATE TABLE user_roles (
    user_id TEXT NOT NULL REFERENCES users(id),
    role_id TEXT NOT NULL REFERENCES roles(id),
    PRIMARY KEY (user_id, role_id)
);
CREATE INDEX user_roles_role ON user_roles(role_id);

CREATE TABLE sessions (
    token_hash TEXT PRIMARY KEY NOT NULL,
    user_id TEXT NOT NULL REFERENCES users(id),
    created_at TIMESTAMP NOT NULL,
    expires_at TIMESTAMP NOT NULL,
    revoked_at TIMESTAMP
);
CREATE INDEX sessions_user ON sessions(user_id);

CREATE TABLE counters (
    name TEXT PRIMARY KEY NOT NULL,
    value BIGINT NOT NULL
);
INSERT INTO counters (name, value) VALUES ('mrn', 0);

CREATE TABLE patients (
    id TEXT PRIMARY KEY NOT NULL,
    mrn TEXT NOT NULL UNIQUE,
    user_id TEXT UNIQUE REFERENCES users(id),
    given_name TEXT NOT NULL,
    family_name TEXT NOT NULL,
    birth_date DATE NOT NULL,
    sex TEXT NOT NULL,
    phone TEXT,
    email TEXT,
    address TEXT,
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL,
    version INTEGER NOT NULL
);
CREATE INDEX patients_family_name ON patients(family_name);
CREATE INDEX patients_birth_date ON patients(birth_date);

CREATE TABLE doctors (
    id TEXT PRIMARY KEY NOT NULL,
    user_id TEXT UNIQUE REFERENCES users(id),
    given_name TEXT NOT NULL,
    family_name TEXT NOT NULL,
    specialty TEXT NOT NULL,
    license_number TEXT NOT NULL UNIQUE,
    email TEXT NOT NULL,
    phone TEXT,
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL,
    version INTEGER NOT NULL
);
CREATE INDEX doctors_specialty ON doctors(specialty);

CREATE TABLE care_team (
    id TEXT PRIMARY KEY NOT NULL,
    patient_id TEXT NOT NULL REFERENCES patients(id),
    doctor_id TEXT NOT NULL REFERENCES doctors(id),
    source TEXT NOT NULL,
    since TIMESTAMP NOT NULL,
    expires_at TIMESTAMP,
    UNIQUE (patient_id, doctor_id, source)
);
CREATE INDEX care_team_doctor ON care_team(doctor_id, patient_id);

CREATE TABLE break_glass_grants (
    id TEXT PRIMARY KEY NOT NULL,
    patient_id TEXT NOT NULL REFERENCES patients(id),
    doctor_id TEXT NOT NULL REFERENCES doctors(id),
    reason TEXT NOT NULL,
    created_at TIMESTAMP NOT NULL,
    expires_at TIMESTAMP NOT NULL
);
CREATE INDEX break_glass_patient ON break_glass_grants(patient_id);

CREATE TABLE notifications (
    id TEXT PRIMARY KEY NOT NULL,
    user_id TEXT NOT NULL REFERENCES users(id),
    kind TEXT NOT NULL,
    title TEXT NOT NULL,
    body TEXT NOT NULL,
    resource_type TEXT,
    resource_id TEXT,
    created_at TIMESTAMP NOT NULL,
    read_at TIMESTAMP
);
CREATE INDEX notifications_user ON notifications(user_id, id);

CREATE TABLE audit_outbox (
    id INTEGER PRIMARY KEY AUTOINCREMENT NOT NULL,
    occurred_at TIMESTAMP NOT NULL,
    user_id TEXT,
    role TEXT,
    action TEXT NOT NULL,
    resource_type TEXT NOT NULL,
    resource_id TEXT,
    patient_id TEXT,
    outcome TEXT NOT NULL,
    request_id TEXT,
    client_addr TEXT
);

CREATE TABLE audit_logs (
    seq BIGINT PRIMARY KEY NOT NULL,
    occurred_at TIMESTAMP NOT NULL,
    user_id TEXT,
    role TEXT,
    action TEXT NOT NULL,
    resource_type TEXT NOT NULL,
    resource_id TEXT,
    patient_id TEXT,
    outcome TEXT NOT NULL,
    request_id TEXT,
    client_addr TEXT,
    hash TEXT NOT NULL
);
CREATE INDEX audit_logs_patient ON audit_logs(patient_id, seq);
CREATE INDEX audit_logs_user ON audit_logs(user_id, seq);

CREATE TABLE audit_head (
    id INTEGER PRIMARY KEY NOT NULL,
    seq BIGINT NOT NULL,
    hash TEXT NOT NULL
);
INSERT INTO audit_head (id, seq, hash) VALUES (1, 0, '');
