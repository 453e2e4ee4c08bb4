DROP TABLE education_recommendations;
DROP TABLE educational_resource_tags;
DROP TABLE educational_resources;
DROP FUNCTION educational_resource_document(TEXT, TEXT, TEXT);
