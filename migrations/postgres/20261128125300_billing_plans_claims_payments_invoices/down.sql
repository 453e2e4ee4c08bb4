DELETE FROM counters WHERE name = 'invoice';
DROP TABLE payments;
DROP TABLE invoice_lines;
DROP TABLE invoices;
DROP TABLE claim_lines;
DROP TABLE claims;
DROP TABLE insurance_plans;
