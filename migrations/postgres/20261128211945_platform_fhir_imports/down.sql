DROP TABLE fhir_imports;
