DROP TABLE audit_key_check;
