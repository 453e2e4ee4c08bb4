DROP TABLE remote_monitoring_logs;
DROP TABLE monitoring_rules;
DROP TABLE device_data;
DROP TABLE wearable_devices;
