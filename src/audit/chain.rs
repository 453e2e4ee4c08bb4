//! The chain: the canonical bytes of an entry, `h_n = HMAC(key, h_{n-1} || canonical(entry_n))`,
//! and the key, kept outside the database.

use hmac::{Hmac, Mac};
use sha2::Sha256;

use super::entry::ChainedRow;

/// The canonical bytes of an entry that the chain hash covers: a JSON array, so no field can
/// bleed into the next.
pub fn canonical(e: &ChainedRow) -> String {
    // A tuple serializes to the same compact JSON array that `json!([...])` did, byte for byte,
    // without building a `Value` (a dozen allocations per entry on the sealer's hot path).
    serde_json::to_string(&(
        e.seq,
        e.occurred_at
            .and_utc()
            .to_rfc3339_opts(chrono::SecondsFormat::Micros, true),
        e.user_id,
        e.role,
        e.action,
        e.resource_type,
        e.resource_id,
        e.patient_id,
        e.outcome,
        e.request_id,
        e.client_addr,
    ))
    .expect("strings and numbers always serialize")
}

/// `HMAC(key, prev || canonical(e))`, hex. `keyed` is `HMAC` already keyed: keying costs two
/// SHA-256 blocks, so the sealer keys once per seal and clones the state per entry.
pub fn chain_hash(keyed: &Hmac<Sha256>, prev: &str, e: &ChainedRow) -> String {
    let mut mac = keyed.clone();
    mac.update(prev.as_bytes());
    mac.update(canonical(e).as_bytes());
    crate::auth::tokens::sha256_hex(&mac.finalize().into_bytes())
}

/// The HMAC state keyed with the audit key.
pub fn keyed_mac(key: &[u8]) -> Hmac<Sha256> {
    Hmac::<Sha256>::new_from_slice(key).expect("HMAC takes any key length")
}

/// Reads or creates the HMAC key: `HEALTHAPI_AUDIT_KEY` if given, else `<data dir>/audit.key`
/// (generated once, kept outside the database).
/// The key as `load_key` finds it, but never a new one: verifying with a key made up on the
/// spot would only report a broken chain (or, on an empty database, an intact one).
pub fn existing_key(given: Option<&str>, data_dir: &std::path::Path) -> anyhow::Result<Vec<u8>> {
    if let Some(k) = given.filter(|k| !k.is_empty()) {
        return Ok(k.as_bytes().to_vec());
    }
    let path = data_dir.join("audit.key");
    match std::fs::read_to_string(&path) {
        Ok(k) => Ok(k.trim().as_bytes().to_vec()),
        Err(e) => anyhow::bail!(
            "no audit key: {} cannot be read ({e}); set HEALTHAPI_AUDIT_KEY or HEALTHAPI_DATA_DIR as the server has them",
            path.display()
        ),
    }
}

/// Claims this database's trail for `key`, or checks that the key is the one it was claimed
/// for: a node or command given another key (one that generated its own `audit.key`) would
/// seal entries that break the chain, so it refuses to start and says why instead. The tag is
/// `HMAC(key, "healthapi audit key")`: it tells whether two keys are the same, not the key.
pub fn claim_key(conn: &mut crate::db::DbConn, key: &[u8]) -> anyhow::Result<()> {
    use crate::db::schema::audit_key_check;
    use diesel::prelude::*;
    use diesel::sql_types::{Text, Timestamp};
    let mut mac = keyed_mac(key);
    mac.update(b"healthapi audit key");
    let tag = hex::encode(mac.finalize().into_bytes());
    let unclaimed = audit_key_check::table
        .find(1)
        .select(audit_key_check::tag)
        .first::<String>(conn)
        .optional()?
        .is_none();
    // A trail written before claims existed: only the key that wrote it may claim it (its
    // outbox head is tagged under that key), not whichever process starts first.
    if unclaimed && super::outbox::key_signed_head(conn, &keyed_mac(key))? == Some(false) {
        anyhow::bail!(
            "the audit key is not the key this database's audit trail is written with (it does \
             not sign the trail's head): every node and command must be given the same key \
             (HEALTHAPI_AUDIT_KEY, or the same audit.key file)"
        );
    }
    diesel::sql_query(
        "INSERT INTO audit_key_check (id, tag, claimed_at) VALUES (1, $1, $2) \
         ON CONFLICT (id) DO NOTHING",
    )
    .bind::<Text, _>(&tag)
    .bind::<Timestamp, _>(crate::db::now())
    .execute(conn)?;
    let claimed: String = audit_key_check::table
        .find(1)
        .select(audit_key_check::tag)
        .first(conn)?;
    if claimed != tag {
        anyhow::bail!(
            "the audit key is not the key this database's audit trail is written with: every \
             node and command must be given the same key (HEALTHAPI_AUDIT_KEY, or the same \
             audit.key file)"
        );
    }
    Ok(())
}

pub fn load_key(given: Option<&str>, data_dir: &std::path::Path) -> anyhow::Result<Vec<u8>> {
    if let Some(k) = given.filter(|k| !k.is_empty()) {
        return Ok(k.as_bytes().to_vec());
    }
    let path = data_dir.join("audit.key");
    if let Ok(k) = std::fs::read_to_string(&path) {
        return Ok(k.trim().as_bytes().to_vec());
    }
    std::fs::create_dir_all(data_dir)?;
    let k = crate::auth::tokens::random_token();
    std::fs::write(&path, &k)?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let _ = std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600));
    }
    tracing::info!("generated a new audit key file in the data directory");
    Ok(k.into_bytes())
}
