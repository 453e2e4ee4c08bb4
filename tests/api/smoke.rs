use crate::common::*;
use serde_json::json;

async fn register_login_me(app: &TestApp) {
    let p = app.patient("Ann").await;
    let me = app.get("/auth/me", &p.token).await.expect(200);
    assert_eq!(me.body["email"], p.email);
    assert_eq!(me.body["roles"], json!(["patient"]));
    assert_eq!(me.body["patient_id"], p.pid());
}

both_backends!(register_login_me);

/// `healthapi openapi | head`: a reader that stops early is not an error (it was a panic).
#[test]
fn openapi_to_a_reader_that_stops_early_is_not_an_error() {
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_healthapi"))
        .arg("openapi")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // The document (over 100 KB) is larger than a pipe's buffer: writing it meets the closed end.
    drop(child.stdout.take());
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}
