-- Nothing to change on PostgreSQL: its tables have no rowid, and the primary key on seq is the
-- one index it needs. (The SQLite tree makes seq the rowid; the trees keep the same migrations.)
SELECT 1;
