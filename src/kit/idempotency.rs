//! `Idempotency-Key`, once for the whole API: a POST that creates (an order, a payment, device
//! data) and carries the header runs at most once per caller and key. The first response is
//! stored in the same transaction as what it created; a repeat with the same body gets it back,
//! a repeat with another body is 422. Two requests racing with one key: the second waits on the
//! first's row (PostgreSQL) or its turn to write (SQLite), then replays it. A key is kept for
//! `KEY_LIFETIME_HOURS`; after that the same key runs as a new request.

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use diesel::prelude::*;
use serde::de::DeserializeOwned;
use serde::Serialize;
use sha2::{Digest, Sha256};

use super::{Action, Actor, Ctx, Error, Resource, Result, Tx};
use crate::db::now;
use crate::db::schema::idempotency_keys;
use crate::db::Db;
use crate::http::ApiError;

/// The longest key accepted.
pub const MAX_KEY_LEN: usize = 255;
/// How long a key is kept: a retry comes within seconds or hours, not days (Stripe keeps its
/// keys as long). A caller's older keys are dropped at their next keyed write.
pub const KEY_LIFETIME_HOURS: i64 = 24;

/// The request's `Idempotency-Key`, if it has one (1–255 visible ASCII characters, else 422).
#[derive(Clone, Debug, Default)]
pub struct IdempotencyKey(pub Option<String>);

impl<S: Send + Sync> FromRequestParts<S> for IdempotencyKey {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, ApiError> {
        let Some(v) = parts.headers.get("idempotency-key") else {
            return Ok(IdempotencyKey(None));
        };
        let bad = || {
            ApiError::from(Error::field(
                "Idempotency-Key",
                "must be 1 to 255 visible ASCII characters",
            ))
        };
        let key = v.to_str().map_err(|_| bad())?.trim();
        if key.is_empty() || key.len() > MAX_KEY_LEN || !key.bytes().all(|b| b.is_ascii_graphic()) {
            return Err(bad());
        }
        Ok(IdempotencyKey(Some(key.to_string())))
    }
}

/// What a created object tells the key's row: its id and its patient, for the audit entry of a
/// replay.
pub trait Keyed {
    fn keyed_id(&self) -> &str;
    fn keyed_patient(&self) -> Option<&str>;
}

/// The row of the key was taken by a request still running (or just committed): try again.
struct InFlight;

impl Ctx {
    /// Runs the write `f` once per caller and `key` (when there is one): the first time it runs
    /// and its result is stored; a repeat whose `request` (the parsed body, with the route) is
    /// the same gets the stored result, recorded as a `read` of `resource`; another request
    /// under the same key is 422.
    pub async fn write_once<T, B, F>(
        &self,
        key: IdempotencyKey,
        route: &'static str,
        request: &B,
        resource: Resource,
        f: F,
    ) -> Result<T>
    where
        T: Serialize + DeserializeOwned + Keyed + Send + 'static,
        B: Serialize,
        F: FnOnce(&mut Tx) -> Result<T> + Send + 'static,
    {
        let written = self
            .actor()
            .write_once(&self.state().db, key, route, request, resource, f)
            .await;
        self.failed(written)
    }
}

impl Actor {
    /// `Ctx::write_once` for a caller that is not a signed-in user's request (a device sending
    /// its readings with its own token): the key is kept per the actor's user.
    pub async fn write_once<T, B, F>(
        &self,
        db: &Db,
        key: IdempotencyKey,
        route: &'static str,
        request: &B,
        resource: Resource,
        f: F,
    ) -> Result<T>
    where
        T: Serialize + DeserializeOwned + Keyed + Send + 'static,
        B: Serialize,
        F: FnOnce(&mut Tx) -> Result<T> + Send + 'static,
    {
        let Some(key) = key.0 else {
            return self.write(db, f).await;
        };
        let body = serde_json::to_string(request).map_err(Error::internal)?;
        let fingerprint = hex::encode(Sha256::digest(format!("{route}\n{body}").as_bytes()));
        let user = self
            .user_id()
            .ok_or_else(|| Error::internal("an idempotent write needs a user"))?
            .to_string();
        let mut f = Some(f);
        // Twice at most: a first attempt that met a running request's key, then its replay.
        for _ in 0..2 {
            let (k, fp, u) = (key.clone(), fingerprint.clone(), user.clone());
            let run = f.take();
            let outcome = self
                .write(db, move |tx| once(tx, &u, &k, &fp, resource, run))
                .await?;
            match outcome {
                Ok(value) => return Ok(value),
                Err((InFlight, back)) => f = back,
            }
        }
        Err(Error::conflict_of(
            "idempotency-in-flight",
            "a request with this Idempotency-Key is still running; retry",
        ))
    }
}

type Attempt<T, F> = std::result::Result<T, (InFlight, Option<F>)>;

/// One attempt in one transaction: replay, refuse, or run `f` and store its result.
fn once<T, F>(
    tx: &mut Tx,
    user: &str,
    key: &str,
    fingerprint: &str,
    resource: Resource,
    f: Option<F>,
) -> Result<Attempt<T, F>>
where
    T: Serialize + DeserializeOwned + Keyed,
    F: FnOnce(&mut Tx) -> Result<T>,
{
    // The caller's expired keys go first (their own rows: the key's primary key leads with
    // the user), so that a key past its lifetime runs as new.
    let expired = now() - chrono::Duration::hours(KEY_LIFETIME_HOURS);
    diesel::delete(
        idempotency_keys::table
            .filter(idempotency_keys::user_id.eq(user))
            .filter(idempotency_keys::created_at.lt(expired)),
    )
    .execute(tx.conn())?;
    let found: Option<(String, Option<String>)> = idempotency_keys::table
        .find((user, key))
        .select((idempotency_keys::fingerprint, idempotency_keys::response))
        .first(tx.conn())
        .optional()?;
    if let Some((stored_fp, response)) = found {
        if stored_fp != fingerprint {
            return Err(Error::field(
                "Idempotency-Key",
                "was used with another request; use a new key for a new request",
            ));
        }
        let response =
            response.ok_or_else(|| Error::internal("a committed key has no response"))?;
        let value: T = serde_json::from_str(&response).map_err(Error::internal)?;
        let (id, patient) = (
            value.keyed_id().to_string(),
            value.keyed_patient().map(str::to_string),
        );
        tx.record(Action::Read, resource, Some(&id), patient.as_deref())?;
        return Ok(Ok(value));
    }
    // Claim the key first: a concurrent request with it waits here until this one ends.
    use diesel::sql_types::{Text, Timestamp};
    let claimed = diesel::sql_query(
        "INSERT INTO idempotency_keys (user_id, idem_key, fingerprint, created_at) \
         VALUES ($1, $2, $3, $4) ON CONFLICT (user_id, idem_key) DO NOTHING",
    )
    .bind::<Text, _>(user)
    .bind::<Text, _>(key)
    .bind::<Text, _>(fingerprint)
    .bind::<Timestamp, _>(now())
    .execute(tx.conn())?;
    if claimed == 0 {
        // The key was claimed meanwhile. Nothing is written; this transaction records a read
        // only so that it may end (the retry records what it finds).
        tx.record(Action::Read, resource, None, None)?;
        return Ok(Err((InFlight, f)));
    }
    let run = f.ok_or_else(|| Error::internal("the write ran already"))?;
    let value = run(tx)?;
    let response = serde_json::to_string(&value).map_err(Error::internal)?;
    diesel::update(idempotency_keys::table.find((user, key)))
        .set((
            idempotency_keys::response.eq(response),
            idempotency_keys::resource_id.eq(value.keyed_id()),
            idempotency_keys::patient_id.eq(value.keyed_patient()),
        ))
        .execute(tx.conn())?;
    Ok(Ok(value))
}
