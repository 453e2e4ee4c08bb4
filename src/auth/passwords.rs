//! Argon2id at OWASP's parameters (m = 19 MiB, t = 2, p = 1). Callers run these in
//! `db::spawn_lowered`: a hash takes tens of milliseconds on purpose.

use argon2::password_hash::{
    rand_core::OsRng, PasswordHash, PasswordHasher, PasswordVerifier, SaltString,
};
use argon2::{Algorithm, Argon2, Params, Version};

fn hasher() -> Argon2<'static> {
    let params = Params::new(19_456, 2, 1, None).expect("static argon2 params are valid");
    Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
}

pub fn hash(password: &str) -> String {
    let salt = SaltString::generate(&mut OsRng);
    hasher()
        .hash_password(password.as_bytes(), &salt)
        .expect("hashing with a fresh salt cannot fail")
        .to_string()
}

pub fn verify(password: &str, stored: &str) -> bool {
    match PasswordHash::new(stored) {
        Ok(parsed) => hasher()
            .verify_password(password.as_bytes(), &parsed)
            .is_ok(),
        Err(_) => false,
    }
}

/// A hash of a random password, verified against when the email is unknown so that an unknown
/// account costs the same time as a wrong password.
pub fn dummy_hash() -> &'static str {
    static DUMMY: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    DUMMY.get_or_init(|| hash(&crate::auth::tokens::random_token()))
}

pub fn validate_new(v: &mut crate::http::Validator, field: &str, password: &str) {
    let n = password.chars().count();
    if n < 10 {
        v.error(field, "must be at least 10 characters");
    } else if n > 128 {
        v.error(field, "must be at most 128 characters");
    }
}
