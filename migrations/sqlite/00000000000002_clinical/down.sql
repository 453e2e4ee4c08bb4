DROP TABLE consent_history;
DROP TABLE consent_forms;
DROP TABLE medical_record_versions;
DROP TABLE medical_records;
DROP TABLE appointments;
