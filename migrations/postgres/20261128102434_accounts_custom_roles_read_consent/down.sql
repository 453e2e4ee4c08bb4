-- The roles that gained `consent:read` keep it: which of them held it before is not recorded,
-- and taking it from all would take it from those that had it.
SELECT 1;
