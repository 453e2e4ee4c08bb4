DROP TABLE diagnostic_images;
DROP TABLE lab_result_versions;
DROP TABLE lab_results;
DROP TABLE lab_orders;
