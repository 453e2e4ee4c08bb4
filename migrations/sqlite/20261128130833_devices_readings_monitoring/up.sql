-- Devices and remote monitoring: registered devices (their ingest token kept only as a hash),
-- their readings, per-patient threshold rules, and the monitoring log.
CREATE TABLE wearable_devices (
    id TEXT PRIMARY KEY NOT NULL,
    user_id TEXT NOT NULL REFERENCES users(id),
    patient_id TEXT NOT NULL REFERENCES patients(id),
    kind TEXT NOT NULL,
    manufacturer TEXT NOT NULL,
    model TEXT,
    serial_number TEXT NOT NULL,
    status TEXT NOT NULL,
    token_hash TEXT NOT NULL,
    last_seen_at TIMESTAMP,
    created_by TEXT REFERENCES users(id),
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL,
    version INTEGER NOT NULL
);
CREATE INDEX wearable_devices_patient ON wearable_devices(patient_id, id);
CREATE UNIQUE INDEX wearable_devices_token ON wearable_devices(token_hash);
-- One active device per (manufacturer, serial number).
CREATE UNIQUE INDEX wearable_devices_serial ON wearable_devices(manufacturer, serial_number)
    WHERE status = 'active';

-- The table that grows without bound: keyed for its one query (a device's metric over time),
-- the time in epoch milliseconds, and no rowid (the key is the row).
CREATE TABLE device_data (
    device_id TEXT NOT NULL,
    metric TEXT NOT NULL,
    recorded_ms BIGINT NOT NULL,
    value DOUBLE PRECISION NOT NULL,
    PRIMARY KEY (device_id, metric, recorded_ms)
) WITHOUT ROWID;

CREATE TABLE monitoring_rules (
    patient_id TEXT NOT NULL REFERENCES patients(id),
    metric TEXT NOT NULL,
    warning_low DOUBLE PRECISION,
    warning_high DOUBLE PRECISION,
    critical_low DOUBLE PRECISION,
    critical_high DOUBLE PRECISION,
    set_by TEXT REFERENCES users(id),
    updated_at TIMESTAMP NOT NULL,
    PRIMARY KEY (patient_id, metric)
);

CREATE TABLE remote_monitoring_logs (
    id TEXT PRIMARY KEY NOT NULL,
    device_id TEXT NOT NULL REFERENCES wearable_devices(id),
    patient_id TEXT NOT NULL REFERENCES patients(id),
    event_type TEXT NOT NULL,
    severity TEXT NOT NULL,
    metric TEXT,
    value DOUBLE PRECISION,
    rule TEXT,
    message TEXT NOT NULL,
    occurrences INTEGER NOT NULL,
    occurred_at TIMESTAMP NOT NULL,
    last_occurred_at TIMESTAMP NOT NULL,
    acknowledged_by TEXT REFERENCES users(id),
    acknowledged_at TIMESTAMP
);
CREATE INDEX remote_monitoring_logs_patient ON remote_monitoring_logs(patient_id, id);
CREATE INDEX remote_monitoring_logs_open ON remote_monitoring_logs(device_id, metric, severity)
    WHERE acknowledged_at IS NULL;
