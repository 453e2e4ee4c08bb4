//! Argon2id at OWASP's parameters (m = 19 MiB, t = 2, p = 1). Callers run these in
//! `sys::spawn_lowered` (`hash_off_runtime`): a hash takes tens of milliseconds on purpose.
//!
//! The black-box suite creates hundreds of accounts; at these parameters hashing was about 70%
//! of its time. `HashCost::Minimal` exists for it alone: it is a field of `Config` that no flag
//! or environment variable sets, so a server started from the command line always hashes at
//! OWASP's parameters. Verifying reads the parameters from the stored hash.

use argon2::password_hash::{
    rand_core::OsRng, PasswordHash, PasswordHasher, PasswordVerifier, SaltString,
};
use argon2::{Algorithm, Argon2, Params, Version};

/// How expensive a new password hash is.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum HashCost {
    /// OWASP's Argon2id parameters: the only choice of a server started from the command line.
    #[default]
    Owasp,
    /// Argon2id's smallest parameters (8 KiB, one pass), for test servers only.
    Minimal,
}

impl HashCost {
    fn params(self) -> Params {
        let (m_kib, t) = match self {
            HashCost::Owasp => (19_456, 2),
            HashCost::Minimal => (8, 1),
        };
        Params::new(m_kib, t, 1, None).expect("static argon2 params are valid")
    }
}

fn hasher(cost: HashCost) -> Argon2<'static> {
    Argon2::new(Algorithm::Argon2id, Version::V0x13, cost.params())
}

/// `hash` on a blocking thread (`sys::spawn_lowered`), for request handlers.
pub async fn hash_off_runtime(password: String, cost: HashCost) -> crate::kit::Result<String> {
    crate::sys::spawn_lowered(move || hash(&password, cost))
        .await
        .map_err(crate::kit::Error::internal)
}

pub fn hash(password: &str, cost: HashCost) -> String {
    let salt = SaltString::generate(&mut OsRng);
    hasher(cost)
        .hash_password(password.as_bytes(), &salt)
        .expect("hashing with a fresh salt cannot fail")
        .to_string()
}

/// Checks a password against a stored hash, at the parameters the hash names.
pub fn verify(password: &str, stored: &str) -> bool {
    match PasswordHash::new(stored) {
        Ok(parsed) => hasher(HashCost::Owasp)
            .verify_password(password.as_bytes(), &parsed)
            .is_ok(),
        Err(_) => false,
    }
}

/// A hash of a random password at `cost`, verified against when the email is unknown so that an
/// unknown account costs the same time as a wrong password.
pub fn dummy_hash(cost: HashCost) -> &'static str {
    static OWASP: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    static MINIMAL: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    let cell = match cost {
        HashCost::Owasp => &OWASP,
        HashCost::Minimal => &MINIMAL,
    };
    cell.get_or_init(|| hash(&crate::auth::tokens::random_token(), cost))
}

pub fn validate_new(v: &mut crate::kit::Validator, field: &str, password: &str) {
    let n = password.chars().count();
    if n < 10 {
        v.error(field, "must be at least 10 characters");
    } else if n > 128 {
        v.error(field, "must be at most 128 characters");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The production parameters are the ones a stored hash names, and verifying follows the
    /// stored hash's parameters whatever the default is.
    #[test]
    fn owasp_parameters_are_stored_in_the_hash() {
        let h = hash("correct-horse-9", HashCost::Owasp);
        assert!(h.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"), "{h}");
        assert!(verify("correct-horse-9", &h));
        assert!(!verify("correct-horse-8", &h));
        let cheap = hash("correct-horse-9", HashCost::Minimal);
        assert!(cheap.starts_with("$argon2id$v=19$m=8,t=1,p=1$"), "{cheap}");
        assert!(verify("correct-horse-9", &cheap));
    }

    /// A server started from the command line cannot be told to hash cheaply.
    #[test]
    fn the_command_line_always_hashes_at_owasp_cost() {
        use clap::Parser;
        let cli = crate::config::Cli::parse_from(["healthapi"]);
        assert_eq!(cli.config.password_hash_cost, HashCost::Owasp);
    }
}
