DROP TABLE idempotency_keys;
DROP TABLE pharmacy_orders;
DROP TABLE prescriptions;
DROP TABLE pharmacy_staff;
DROP TABLE pharmacies;
DROP TABLE medications;
