//! The two migration trees are the one place the backends differ: they must have the same
//! migrations and produce the same tables, columns and nullability.

use std::collections::BTreeSet;

use diesel::connection::SimpleConnection;
use diesel::prelude::*;
use diesel::sql_types::{Integer, Text};

fn migration_names(backend: &str) -> BTreeSet<String> {
    std::fs::read_dir(format!(
        "{}/migrations/{backend}",
        env!("CARGO_MANIFEST_DIR")
    ))
    .expect("migrations folder")
    .map(|e| e.unwrap().file_name().to_string_lossy().to_string())
    .collect()
}

#[test]
fn both_trees_have_the_same_migrations() {
    let sqlite = migration_names("sqlite");
    assert!(!sqlite.is_empty());
    assert_eq!(sqlite, migration_names("postgres"));
}

/// The numbering scheme (docs/ADDING_A_DOMAIN.md): after the five first migrations
/// (`00000000000001`..`5`), each is named `<UTC time written, YYYYMMDDHHMMSS>_<domain>_<what>`,
/// so that domains written side by side do not pick the same number. Diesel runs them in the
/// order of that number and identifies each by it: numbers are unique, and new ones sort after
/// the old.
#[test]
fn migration_names_follow_the_numbering_scheme() {
    let legacy = [
        "00000000000001_platform",
        "00000000000002_clinical",
        "00000000000003_audit_rowid",
        "00000000000004_audit_patient_index",
        "00000000000005_audit_index_buckets",
    ];
    let names = migration_names("sqlite");
    let mut versions = BTreeSet::new();
    for name in &names {
        let (version, rest) = name.split_once('_').expect("<version>_<name>");
        assert!(
            versions.insert(version.to_string()),
            "{name}: number used twice"
        );
        if legacy.contains(&name.as_str()) {
            continue;
        }
        assert!(
            version.len() == 14 && version.bytes().all(|b| b.is_ascii_digit()),
            "{name}: the number is the UTC time it was written, YYYYMMDDHHMMSS"
        );
        let time = chrono::NaiveDateTime::parse_from_str(version, "%Y%m%d%H%M%S");
        assert!(
            time.is_ok_and(|t| t.date() >= chrono::NaiveDate::from_ymd_opt(2026, 11, 28).unwrap()),
            "{name}: not a time (or older than the scheme)"
        );
        let (domain, what) = rest.split_once('_').unwrap_or((rest, ""));
        assert!(
            !what.is_empty()
                && rest
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_'),
            "{name}: <domain>_<what>, in snake_case"
        );
        assert!(
            std::path::Path::new(&format!(
                "{}/src/domains/{domain}",
                env!("CARGO_MANIFEST_DIR")
            ))
            .is_dir()
                || ["platform", "audit"].contains(&domain),
            "{name}: `{domain}` is no domain folder (nor platform, audit)"
        );
        for backend in ["sqlite", "postgres"] {
            for file in ["up.sql", "down.sql"] {
                let path = format!(
                    "{}/migrations/{backend}/{name}/{file}",
                    env!("CARGO_MANIFEST_DIR")
                );
                assert!(std::path::Path::new(&path).is_file(), "{path} is missing");
            }
        }
    }
    let newest_legacy = versions
        .iter()
        .filter(|v| v.starts_with("0000"))
        .max()
        .cloned()
        .unwrap();
    assert!(
        versions
            .iter()
            .all(|v| v.starts_with("0000") || *v > newest_legacy),
        "new migrations run after the first five"
    );
}

/// Today's sealer also reads the outbox chain's columns (migration 20261128145208): what an
/// older schema is lent for a seal, and how it is taken back.
const LEND_OUTBOX_CHAIN: &str = "
    ALTER TABLE audit_head ADD COLUMN outbox_seq BIGINT NOT NULL DEFAULT 0;
    ALTER TABLE audit_head ADD COLUMN outbox_hash TEXT NOT NULL DEFAULT '';
    ALTER TABLE audit_head ADD COLUMN outbox_legacy_id BIGINT NOT NULL DEFAULT 0;
    ALTER TABLE audit_outbox ADD COLUMN seq BIGINT NOT NULL DEFAULT 0;
    ALTER TABLE audit_outbox ADD COLUMN mac TEXT NOT NULL DEFAULT '';
    CREATE TABLE audit_outbox_head (id INTEGER PRIMARY KEY NOT NULL, seq BIGINT NOT NULL,
                                    hash TEXT NOT NULL, tag TEXT NOT NULL);
    INSERT INTO audit_outbox_head (id, seq, hash, tag) VALUES (1, 0, '', '');";
const RETURN_OUTBOX_CHAIN: &str = "
    ALTER TABLE audit_head DROP COLUMN outbox_seq;
    ALTER TABLE audit_head DROP COLUMN outbox_hash;
    ALTER TABLE audit_head DROP COLUMN outbox_legacy_id;
    ALTER TABLE audit_outbox DROP COLUMN seq;
    ALTER TABLE audit_outbox DROP COLUMN mac;
    DROP TABLE audit_outbox_head;";

/// (table, column, type class, not null)
type Column = (String, String, &'static str, bool);

fn type_class(sql_type: &str) -> &'static str {
    let t = sql_type.to_ascii_lowercase();
    if t.contains("int") || t.contains("serial") {
        "integer"
    } else if t.contains("bool") {
        "boolean"
    } else if t.contains("timestamp") {
        "timestamp"
    } else if t == "date" {
        "date"
    } else if t.contains("text") || t.contains("char") {
        "text"
    } else {
        "other"
    }
}

#[derive(QueryableByName)]
struct SqliteColumn {
    #[diesel(sql_type = Text)]
    tbl: String,
    #[diesel(sql_type = Text)]
    name: String,
    #[diesel(sql_type = Text)]
    col_type: String,
    #[diesel(sql_type = Integer)]
    notnull: i32,
    #[diesel(sql_type = Integer)]
    pk: i32,
}

/// The tables' columns; full-text indexes are the backends' own (an FTS5 table and its shadow
/// tables on SQLite, a GIN index on PostgreSQL) and left out.
fn sqlite_columns() -> BTreeSet<Column> {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("m.db").display());
    let pool = healthapi::db::connect(&url, 1).expect("migrate sqlite");
    let mut conn = pool.get().unwrap();
    let rows: Vec<SqliteColumn> = diesel::sql_query(
        "SELECT m.name AS tbl, p.name AS name, p.type AS col_type, p.\"notnull\" AS \"notnull\", p.pk AS pk
         FROM sqlite_master m JOIN pragma_table_info(m.name) p
         WHERE m.type = 'table' AND m.name NOT LIKE 'sqlite_%' AND m.name NOT LIKE '__diesel%'
           AND m.name NOT GLOB '*_fts' AND m.name NOT GLOB '*_fts_*'",
    )
    .load(&mut conn)
    .unwrap();
    rows.into_iter()
        .map(|r| {
            // SQLite reports a PRIMARY KEY column as nullable unless declared NOT NULL;
            // PostgreSQL always makes it NOT NULL.
            let not_null = r.notnull == 1 || r.pk > 0;
            (r.tbl, r.name, type_class(&r.col_type), not_null)
        })
        .collect()
}

#[derive(QueryableByName)]
struct PgColumn {
    #[diesel(sql_type = Text)]
    table_name: String,
    #[diesel(sql_type = Text)]
    column_name: String,
    #[diesel(sql_type = Text)]
    data_type: String,
    #[diesel(sql_type = Text)]
    is_nullable: String,
}

#[test]
fn both_trees_produce_the_same_tables_and_columns() {
    let sqlite = sqlite_columns();
    let tables: BTreeSet<&str> = sqlite.iter().map(|c| c.0.as_str()).collect();
    for expected in [
        "users",
        "patients",
        "doctors",
        "audit_logs",
        "appointments",
        "consent_forms",
    ] {
        assert!(tables.contains(expected), "sqlite lacks {expected}");
    }
    let Some(admin) = crate::common::postgres_admin_url() else {
        eprintln!("HEALTHAPI_TEST_POSTGRES_URL unset: PostgreSQL comparison skipped");
        return;
    };
    let (url, name) = crate::common::empty_postgres_database(&admin);
    let pool = healthapi::db::connect(&url, 1).expect("migrate postgres");
    let mut conn = pool.get().unwrap();
    let rows: Vec<PgColumn> = diesel::sql_query(
        "SELECT table_name::text AS table_name, column_name::text AS column_name,
                data_type::text AS data_type, is_nullable::text AS is_nullable
         FROM information_schema.columns
         WHERE table_schema = 'public' AND table_name NOT LIKE '__diesel%'",
    )
    .load(&mut conn)
    .unwrap();
    drop(conn);
    drop(pool);
    crate::common::drop_postgres_database(&admin, &name);
    let postgres: BTreeSet<Column> = rows
        .into_iter()
        .map(|r| {
            (
                r.table_name,
                r.column_name,
                type_class(&r.data_type),
                r.is_nullable == "NO",
            )
        })
        .collect();
    let only_sqlite: Vec<_> = sqlite.difference(&postgres).collect();
    let only_postgres: Vec<_> = postgres.difference(&sqlite).collect();
    assert!(
        only_sqlite.is_empty() && only_postgres.is_empty(),
        "migration trees differ:\n only in sqlite: {only_sqlite:?}\n only in postgres: {only_postgres:?}"
    );
}

/// Migration 3 rebuilds `audit_logs` on SQLite (seq becomes the rowid). A database sealed
/// before it must keep every entry and a chain that still verifies, and go on sealing after.
#[test]
fn the_audit_rowid_migration_keeps_an_existing_chain() {
    use diesel_migrations::MigrationHarness;
    use healthapi::audit::verify::{verify, Verdict};
    use healthapi::db::DbConn;

    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("upgrade.db");
    let key = b"upgrade-test-key".to_vec();
    let entry = |i: usize| healthapi::audit::NewEntry {
        occurred_at: healthapi::db::now(),
        user_id: Some(format!("user-{i}")),
        role: Some("doctor".into()),
        action: "read".into(),
        resource_type: "patient".into(),
        resource_id: Some(format!("patient-{i}")),
        patient_id: (!i.is_multiple_of(3)).then(|| format!("patient-{i}")),
        outcome: "success".into(),
        request_id: None,
        client_addr: None,
    };
    let entries: Vec<_> = (0..1200).map(entry).collect();
    {
        let mut conn = DbConn::Sqlite(
            diesel::SqliteConnection::establish(path.to_str().unwrap()).expect("open"),
        );
        let DbConn::Sqlite(c) = &mut conn else {
            unreachable!()
        };
        c.run_next_migration(healthapi::db::SQLITE_MIGRATIONS)
            .unwrap();
        c.run_next_migration(healthapi::db::SQLITE_MIGRATIONS)
            .unwrap();
        // Today's sealer also reads audit_head's index marks (migrations 4, 5): lend it the columns
        // for this seal, then drop them, leaving the tables as migration 2 made them.
        conn.batch_execute(
            "ALTER TABLE audit_head ADD COLUMN indexed_seq BIGINT NOT NULL DEFAULT 0;
             ALTER TABLE audit_head ADD COLUMN indexed_hash TEXT NOT NULL DEFAULT '';
             ALTER TABLE audit_head ADD COLUMN rebuild_seq BIGINT NOT NULL DEFAULT 0;",
        )
        .unwrap();
        conn.batch_execute(LEND_OUTBOX_CHAIN).unwrap();
        let sealed = healthapi::audit::seal(&mut conn, &key, &entries).unwrap();
        assert_eq!(sealed.sealed, 1200);
        conn.batch_execute(RETURN_OUTBOX_CHAIN).unwrap();
        conn.batch_execute(
            "ALTER TABLE audit_head DROP COLUMN indexed_seq;
             ALTER TABLE audit_head DROP COLUMN indexed_hash;
             ALTER TABLE audit_head DROP COLUMN rebuild_seq;",
        )
        .unwrap();
    }
    let pool = healthapi::db::connect(&format!("sqlite://{}", path.display()), 1).unwrap();
    let mut conn = pool.get().unwrap();
    let declared: String = diesel::sql_query(
        "SELECT type AS name FROM pragma_table_info('audit_logs') WHERE name = 'seq'",
    )
    .get_result::<Named>(&mut conn)
    .unwrap()
    .name;
    assert_eq!(declared, "INTEGER", "seq is the rowid after the migration");
    // Migration 5 leaves the trail's index to be rebuilt from the chain, by rounds up to here.
    let marks: Marks = diesel::sql_query("SELECT indexed_seq, rebuild_seq FROM audit_head")
        .get_result(&mut conn)
        .unwrap();
    assert_eq!((marks.indexed_seq, marks.rebuild_seq), (0, 1200));
    match verify(&mut conn, &key, None).unwrap() {
        Verdict::Intact { count, .. } => assert_eq!(count, 1200),
        other => panic!("chain broken by the migration: {other:?}"),
    }
    healthapi::audit::seal(&mut conn, &key, &entries[..10]).unwrap();
    match verify(&mut conn, &key, None).unwrap() {
        Verdict::Intact { count, .. } => assert_eq!(count, 1210),
        other => panic!("chain broken after sealing on: {other:?}"),
    }
}

#[derive(QueryableByName)]
struct Named {
    #[diesel(sql_type = Text)]
    name: String,
}

/// On PostgreSQL migration 5 fills the trail's index itself: the rows must be the ones the
/// server's indexer writes (the same keys), and the marks must say nothing is left to index.
#[test]
fn the_postgres_index_migration_writes_the_indexers_rows() {
    use diesel_migrations::MigrationHarness;
    use healthapi::db::DbConn;

    let Some(admin) = crate::common::postgres_admin_url() else {
        eprintln!("skipped: HEALTHAPI_TEST_POSTGRES_URL is not set");
        return;
    };
    let (url, name) = crate::common::empty_postgres_database(&admin);
    let entries: Vec<_> = (0..700)
        .map(|i: usize| healthapi::audit::NewEntry {
            occurred_at: healthapi::db::now(),
            user_id: (!i.is_multiple_of(5)).then(|| format!("user-{}", i % 7)),
            role: Some("doctor".into()),
            action: "read".into(),
            resource_type: "patient".into(),
            resource_id: None,
            patient_id: (!i.is_multiple_of(3)).then(|| format!("patient-é-{}", i % 11)),
            outcome: "success".into(),
            request_id: None,
            client_addr: None,
        })
        .collect();
    {
        let mut c = PgConnection::establish(&url).expect("connect");
        for _ in 0..4 {
            c.run_next_migration(healthapi::db::POSTGRES_MIGRATIONS)
                .unwrap();
        }
        // Today's sealer reads migration 5's column too: lend it for this seal.
        let mut conn = DbConn::Postgres(c);
        conn.batch_execute(
            "ALTER TABLE audit_head ADD COLUMN rebuild_seq BIGINT NOT NULL DEFAULT 0",
        )
        .unwrap();
        conn.batch_execute(LEND_OUTBOX_CHAIN).unwrap();
        healthapi::audit::seal(&mut conn, b"k", &entries).unwrap();
        conn.batch_execute(RETURN_OUTBOX_CHAIN).unwrap();
        conn.batch_execute("ALTER TABLE audit_head DROP COLUMN rebuild_seq")
            .unwrap();
    }
    let pool = healthapi::db::connect(&url, 1).unwrap();
    let mut conn = pool.get().unwrap();
    let rows = |conn: &mut DbConn| -> Vec<(i64, i64, i64, i64)> {
        diesel::sql_query(
            "SELECT bucket, kind, lookup_key, seq FROM audit_index \
             ORDER BY bucket, kind, lookup_key, seq",
        )
        .load::<IndexRow>(conn)
        .unwrap()
        .into_iter()
        .map(|r| (r.bucket, r.kind, r.lookup_key, r.seq))
        .collect()
    };
    let migrated = rows(&mut conn);
    // 466 entries with a patient (i not a multiple of 3), 560 with a user (not of 5).
    assert_eq!(migrated.len(), 466 + 560);
    assert!(migrated.iter().any(|r| r.2 < 0) && migrated.iter().any(|r| r.2 > 0));
    let marks: Marks = diesel::sql_query("SELECT indexed_seq, rebuild_seq FROM audit_head")
        .get_result(&mut conn)
        .unwrap();
    assert_eq!((marks.indexed_seq, marks.rebuild_seq), (700, 0));
    // What the server's indexer writes from scratch.
    conn.batch_execute(
        "DELETE FROM audit_index; UPDATE audit_head SET indexed_seq = 0, indexed_hash = ''",
    )
    .unwrap();
    assert_eq!(healthapi::audit::index_all_entries(&mut conn).unwrap(), 700);
    assert_eq!(rows(&mut conn), migrated);
    drop(conn);
    drop(pool);
    crate::common::drop_postgres_database(&admin, &name);
}

#[derive(QueryableByName)]
struct IndexRow {
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    bucket: i64,
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    kind: i64,
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    lookup_key: i64,
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    seq: i64,
}

#[derive(QueryableByName)]
struct Marks {
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    indexed_seq: i64,
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    rebuild_seq: i64,
}

/// Reading consents takes `consent:read` since it was checked at all: the migration gives it to
/// the custom roles that give consent, and to no other role.
fn custom_roles_gain_consent_read(url: &str, first_five: impl FnOnce(&str)) {
    first_five(url);
    // The server's start runs the rest.
    let pool = healthapi::db::connect(url, 1).unwrap();
    let mut conn = pool.get().unwrap();
    #[derive(QueryableByName)]
    struct Perms {
        #[diesel(sql_type = Text)]
        name: String,
        #[diesel(sql_type = Text)]
        permissions: String,
    }
    let roles: Vec<Perms> = diesel::sql_query(
        "SELECT name, permissions FROM roles WHERE name LIKE 'legacy_%' ORDER BY name",
    )
    .load(&mut conn)
    .unwrap();
    let perms = |name: &str| -> Vec<String> {
        let r = roles.iter().find(|r| r.name == name).expect(name);
        let mut p: Vec<String> = serde_json::from_str(&r.permissions).unwrap();
        p.sort();
        p
    };
    assert_eq!(perms("legacy_giver"), ["consent:read", "consent:write"]);
    assert_eq!(perms("legacy_reader"), ["consent:read", "consent:write"]);
    assert_eq!(perms("legacy_other"), ["audit:read"]);
}

/// The first five migrations, then three custom roles as an older server kept them.
fn legacy_roles(conn: &mut healthapi::db::DbConn) {
    use diesel_migrations::MigrationHarness;
    for _ in 0..5 {
        let result = match conn {
            healthapi::db::DbConn::Sqlite(c) => c
                .run_next_migration(healthapi::db::SQLITE_MIGRATIONS)
                .map(|_| ()),
            healthapi::db::DbConn::Postgres(c) => c
                .run_next_migration(healthapi::db::POSTGRES_MIGRATIONS)
                .map(|_| ()),
        };
        result.unwrap();
    }
    conn.batch_execute(
        "INSERT INTO roles (id, name, description, permissions, built_in, created_at, updated_at, version) VALUES
         ('r1', 'legacy_giver', '', '[\"consent:write\"]', FALSE, '2026-01-01 00:00:00', '2026-01-01 00:00:00', 1),
         ('r2', 'legacy_reader', '', '[\"consent:read\",\"consent:write\"]', FALSE, '2026-01-01 00:00:00', '2026-01-01 00:00:00', 1),
         ('r3', 'legacy_other', '', '[\"audit:read\"]', FALSE, '2026-01-01 00:00:00', '2026-01-01 00:00:00', 1);",
    )
    .unwrap();
}

#[test]
fn custom_roles_that_give_consent_gain_consent_read_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("roles.db").display());
    custom_roles_gain_consent_read(&url, |url| {
        let path = healthapi::db::sqlite_path(url);
        let mut conn =
            healthapi::db::DbConn::Sqlite(diesel::SqliteConnection::establish(path).unwrap());
        legacy_roles(&mut conn);
    });
}

#[test]
fn custom_roles_that_give_consent_gain_consent_read_postgres() {
    let Some(admin) = crate::common::postgres_admin_url() else {
        eprintln!("skipped: HEALTHAPI_TEST_POSTGRES_URL is not set");
        return;
    };
    let (url, name) = crate::common::empty_postgres_database(&admin);
    custom_roles_gain_consent_read(&url, |url| {
        let mut conn =
            healthapi::db::DbConn::Postgres(diesel::PgConnection::establish(url).unwrap());
        legacy_roles(&mut conn);
    });
    crate::common::drop_postgres_database(&admin, &name);
}
