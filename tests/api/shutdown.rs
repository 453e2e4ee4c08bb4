//! The real binary: SIGTERM stops it gracefully and the audit entries of reads that were still
//! buffered in memory are sealed before it exits.

use std::process::Command;

use serde_json::{json, Value};

async fn sigterm_flushes_buffered_audit_entries(
    database_url: String,
    data_dir: std::path::PathBuf,
) {
    let (mut child, base) = crate::durability::start(&database_url, &data_dir, false).await;
    let client = reqwest::Client::new();
    let login: Value = client
        .post(format!("{base}/api/v1/auth/login"))
        .json(&json!({"email": crate::common::ADMIN_EMAIL, "password": crate::common::ADMIN_PASSWORD}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let token = login["access_token"].as_str().unwrap().to_string();
    // Reads are audited through the in-memory buffer: fire several, then stop at once.
    let reads = 5;
    for _ in 0..reads {
        let r = client
            .get(format!("{base}/api/v1/users"))
            .bearer_auth(&token)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
    }
    let status = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let exit = tokio::task::spawn_blocking(move || child.wait())
        .await
        .unwrap()
        .unwrap();
    assert!(exit.success(), "graceful exit, got {exit:?}");

    // Every read is in the sealed chain, and the chain verifies.
    let pool = healthapi::db::connect(&database_url, 1).unwrap();
    let mut conn = pool.get().unwrap();
    use diesel::prelude::*;
    use healthapi::db::schema::{audit_logs, audit_outbox};
    let searches: i64 = audit_logs::table
        .filter(audit_logs::action.eq("search"))
        .filter(audit_logs::resource_type.eq("user"))
        .count()
        .get_result(&mut conn)
        .unwrap();
    assert_eq!(searches, reads);
    let pending: i64 = audit_outbox::table.count().get_result(&mut conn).unwrap();
    assert_eq!(pending, 0, "nothing left unsealed");
    let verdict =
        healthapi::audit::verify::verify(&mut conn, crate::common::AUDIT_KEY.as_bytes(), None)
            .unwrap();
    assert!(
        matches!(verdict, healthapi::audit::verify::Verdict::Intact { .. }),
        "{verdict:?}"
    );
}

#[tokio::test]
async fn sqlite_sigterm_flushes_audit() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("s.db").display());
    sigterm_flushes_buffered_audit_entries(url, dir.path().join("data")).await;
}

#[tokio::test]
async fn postgres_sigterm_flushes_audit() {
    let Some(admin) = crate::common::postgres_admin_url() else {
        eprintln!("HEALTHAPI_TEST_POSTGRES_URL unset: PostgreSQL run skipped");
        return;
    };
    let (url, name) = crate::common::empty_postgres_database(&admin);
    let dir = tempfile::tempdir().unwrap();
    sigterm_flushes_buffered_audit_entries(url, dir.path().join("data")).await;
    crate::common::drop_postgres_database(&admin, &name);
}
