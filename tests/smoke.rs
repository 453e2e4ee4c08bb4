mod common;
use common::*;
use serde_json::json;

async fn register_login_me(app: &TestApp) {
    let p = app.patient("Ann").await;
    let me = app.get("/auth/me", &p.token).await.expect(200);
    assert_eq!(me.body["email"], p.email);
    assert_eq!(me.body["roles"], json!(["patient"]));
    assert_eq!(me.body["patient_id"], p.pid());
}

both_backends!(register_login_me);
