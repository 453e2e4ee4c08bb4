//! The request's context and the audited ways a domain touches the database:
//!
//! - `Ctx`: the signed-in caller of a request, checked against the route's stated access
//!   before the handler runs;
//! - `Actor`: who acts in a write and is named in its audit entries (a caller, or the system);
//! - `Tx`: a write transaction that carries its actor; `Tx::record` writes the change's audit
//!   entry into the same transaction, and a write that records none fails (500) instead of
//!   committing unaudited;
//! - `Audited<T>`: patient data a read returns together with its audit entries; it leaves the
//!   server only through `Ctx::reveal`, which records them.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::extract::{ConnectInfo, FromRequestParts, MatchedPath, RawPathParams};
use axum::http::request::Parts;
use axum::http::{header, Method};

use super::routes::Access;
use super::{Error, Result};
use crate::audit::{Action, Audit, NewEntry, Outcome, Resource};
use crate::auth::permissions::Perm;
use crate::auth::scope::Scope;
use crate::auth::{tokens, Principal};
use crate::db::{Db, DbConn};
use crate::http::ApiError;
use crate::kit::state::AppState;
use crate::realtime::{Event, Hub};

/// Who acts: a signed-in user, a visitor without an account yet (sign-up, sign-in), or the
/// system itself (the command line, the demo loader, start-up). Named in every audit entry.
#[derive(Clone)]
pub struct Actor {
    principal: Option<Arc<Principal>>,
    scope: Scope,
    /// Who the entries name when it is not the principal: (user id, role).
    named: Option<(Option<String>, Option<String>)>,
    request_id: String,
    client_addr: String,
    audit: Audit,
}

impl Actor {
    /// The signed-in caller of a request.
    pub fn user(
        principal: Arc<Principal>,
        request_id: String,
        client_addr: String,
        audit: Audit,
    ) -> Actor {
        Actor {
            scope: Scope::of(&principal),
            named: None,
            principal: Some(principal),
            request_id,
            client_addr,
            audit,
        }
    }

    /// A request without a signed-in user (sign-up, sign-in): reaches no patient.
    pub fn visitor(request_id: String, client_addr: String, audit: Audit) -> Actor {
        Actor {
            principal: None,
            scope: Scope::nobody(),
            named: Some((None, None)),
            request_id,
            client_addr,
            audit,
        }
    }

    /// The server itself (command line, start-up, demo loader), recorded with role `system`.
    pub fn system(audit: Audit) -> Actor {
        Actor {
            principal: None,
            scope: Scope::admin(),
            named: Some((None, Some("system".into()))),
            request_id: String::new(),
            client_addr: String::new(),
            audit,
        }
    }

    /// The same request, now on behalf of a known user (a visitor who just signed up or in).
    pub fn as_user(mut self, user_id: &str, role: Option<&str>) -> Actor {
        self.named = Some((Some(user_id.to_string()), role.map(str::to_string)));
        self
    }

    pub fn principal(&self) -> Option<&Principal> {
        self.principal.as_deref()
    }
    /// Do the actor's roles grant `perm`? (What a rule asks beyond its route's permission:
    /// changing a field only admins may.) The system holds every permission.
    pub fn holds(&self, perm: Perm) -> bool {
        match &self.principal {
            Some(p) => p.perms.has(perm),
            None => self.scope.is_admin(),
        }
    }
    pub fn scope(&self) -> &Scope {
        &self.scope
    }
    pub fn user_id(&self) -> Option<&str> {
        match (&self.named, &self.principal) {
            (Some((user, _)), _) => user.as_deref(),
            (None, Some(p)) => Some(&p.user_id),
            (None, None) => None,
        }
    }
    /// The role entries name: the principal's (`admin` if held), or what the actor was named.
    pub fn role(&self) -> Option<&str> {
        match (&self.named, &self.principal) {
            (Some((_, role)), _) => role.as_deref(),
            (None, Some(p)) => Some(&p.role),
            (None, None) => None,
        }
    }
    pub fn request_id(&self) -> &str {
        &self.request_id
    }
    pub fn client_addr(&self) -> &str {
        &self.client_addr
    }
    pub fn audit(&self) -> &Audit {
        &self.audit
    }

    /// An entry by this actor, outcome `success`.
    pub fn entry(
        &self,
        action: Action,
        resource: Resource,
        id: Option<&str>,
        patient: Option<&str>,
    ) -> NewEntry {
        self.entry_of(
            action,
            resource,
            id.map(str::to_string),
            patient.map(str::to_string),
        )
    }

    /// `entry`, taking the ids it keeps.
    fn entry_of(
        &self,
        action: Action,
        resource: Resource,
        id: Option<String>,
        patient: Option<String>,
    ) -> NewEntry {
        NewEntry::of(action, resource, id, patient)
            .by(self.user_id(), self.role())
            .during(&self.request_id, &self.client_addr)
    }

    /// Records a refusal (buffered: the refused write's transaction rolls back) and returns
    /// the error to send.
    pub fn deny(
        &self,
        err: Error,
        action: Action,
        resource: Resource,
        id: Option<&str>,
        patient: Option<&str>,
    ) -> Error {
        self.audit.record_async(
            self.entry(action, resource, id, patient)
                .outcome(Outcome::Denied),
        );
        err
    }

    /// Runs `f` in one write transaction as this actor; see `Tx`.
    pub async fn write<T, F>(&self, db: &Db, f: F) -> Result<T>
    where
        T: Send + 'static,
        F: FnOnce(&mut Tx) -> Result<T> + Send + 'static,
    {
        Arc::new(self.clone()).write_shared(db, f).await
    }

    async fn write_shared<T, F>(self: Arc<Self>, db: &Db, f: F) -> Result<T>
    where
        T: Send + 'static,
        F: FnOnce(&mut Tx) -> Result<T> + Send + 'static,
    {
        db.write(move |dbtx| Tx::run(dbtx, &self, f)).await
    }

    /// `write` on the caller's thread and connection (the command line, the demo loader).
    pub fn write_blocking<T, F>(&self, conn: &mut DbConn, hub: &Hub, f: F) -> Result<T>
    where
        F: FnOnce(&mut Tx) -> Result<T>,
    {
        Db::write_blocking(conn, hub, |dbtx| Tx::run(dbtx, self, f))
    }
}

/// A write transaction with its actor. Every write records at least one audit entry through
/// `record`, in the same transaction as the change; a write that records none fails instead of
/// committing.
pub struct Tx<'t, 'c> {
    db: &'t mut crate::db::Tx<'c>,
    actor: &'t Actor,
    /// The entries `record` took, appended to the outbox at the end of the transaction.
    entries: Vec<NewEntry>,
    /// An entry was recorded (here or by a nested actor's `as_actor`).
    recorded: bool,
}

impl<'t, 'c> Tx<'t, 'c> {
    fn run<T>(
        db: &'t mut crate::db::Tx<'c>,
        actor: &'t Actor,
        f: impl FnOnce(&mut Tx) -> Result<T>,
    ) -> Result<T> {
        let mut tx = Tx {
            db,
            actor,
            entries: Vec::new(),
            recorded: false,
        };
        let value = f(&mut tx)?;
        if !tx.recorded {
            return Err(Error::internal("a write recorded no audit entry"));
        }
        // Last, so that the outbox chain's head is held only from here to the commit.
        tx.actor.audit.append(tx.db.conn, &tx.entries)?;
        Ok(value)
    }

    pub fn conn(&mut self) -> &mut DbConn {
        self.db.conn
    }

    /// Runs `f` in a savepoint of this transaction: when it fails, what it wrote, the audit
    /// entries it recorded and the events it published are undone, and the transaction goes
    /// on (a loader skips one item of a batch and keeps the rest).
    pub fn savepoint<T, E: From<Error>>(
        &mut self,
        f: impl FnOnce(&mut Tx) -> std::result::Result<T, E>,
    ) -> std::result::Result<T, E> {
        use diesel::connection::SimpleConnection;
        let (entries, recorded, events) =
            (self.entries.len(), self.recorded, self.db.pending_events());
        let sql = |tx: &mut Tx, statement: &str| -> Result<()> {
            Ok(tx.db.conn.batch_execute(statement)?)
        };
        sql(self, "SAVEPOINT kit_item")?;
        match f(self) {
            Ok(value) => {
                sql(self, "RELEASE SAVEPOINT kit_item")?;
                Ok(value)
            }
            Err(e) => {
                sql(self, "ROLLBACK TO SAVEPOINT kit_item")?;
                sql(self, "RELEASE SAVEPOINT kit_item")?;
                self.entries.truncate(entries);
                self.recorded = recorded;
                self.db.forget_events_after(events);
                Err(e)
            }
        }
    }

    /// Runs `f` in this transaction as another actor, who must record their own entry (the
    /// demo loader acts as many people in one transaction). Their entries (each naming its
    /// actor) join this transaction's, appended with them at the end: the outbox head is taken
    /// once per transaction, not once per actor (an import of thousands of results took it
    /// thousands of times).
    pub fn as_actor<T>(
        &mut self,
        actor: &Actor,
        f: impl FnOnce(&mut Tx) -> Result<T>,
    ) -> Result<T> {
        let mut inner = Tx {
            db: &mut *self.db,
            actor,
            entries: Vec::new(),
            recorded: false,
        };
        let value = f(&mut inner)?;
        if !inner.recorded {
            return Err(Error::internal("a write recorded no audit entry"));
        }
        let entries = inner.entries;
        self.entries.extend(entries);
        self.recorded = true;
        Ok(value)
    }
    pub fn actor(&self) -> &Actor {
        self.actor
    }
    pub fn scope(&self) -> &Scope {
        &self.actor.scope
    }

    /// The audit entry of this change, written in this transaction.
    pub fn record(
        &mut self,
        action: Action,
        resource: Resource,
        id: Option<&str>,
        patient: Option<&str>,
    ) -> Result<()> {
        let entry = self.actor.entry(action, resource, id, patient);
        self.entries.push(entry);
        self.recorded = true;
        Ok(())
    }

    /// The audit entry of this change by another actor than the transaction's: for flows in
    /// which the actor becomes known inside the transaction (sign-up names the new account;
    /// sign-in the account it opens).
    pub fn record_as(
        &mut self,
        actor: &Actor,
        action: Action,
        resource: Resource,
        id: Option<&str>,
        patient: Option<&str>,
    ) -> Result<()> {
        let entry = actor.entry(action, resource, id, patient);
        self.entries.push(entry);
        self.recorded = true;
        Ok(())
    }

    /// A refusal (audited outside this transaction, which will roll back).
    pub fn deny(
        &self,
        err: Error,
        action: Action,
        resource: Resource,
        id: Option<&str>,
        patient: Option<&str>,
    ) -> Error {
        self.actor.deny(err, action, resource, id, patient)
    }

    /// Publishes `event` to live streams once this transaction commits.
    pub fn publish(&mut self, event: Event) -> Result<()> {
        Ok(self.db.publish(event)?)
    }
}

/// Patient data on its way out, with the audit entries of the read that found it. The only way
/// to the data is `Ctx::reveal`, which records them.
#[must_use = "patient data leaves only through Ctx::reveal, which audits the read"]
pub struct Audited<T> {
    value: T,
    entries: Vec<(Action, Resource, Option<String>, Option<String>)>,
}

impl<T> Audited<T> {
    /// One object read: one `read` entry.
    pub fn read(value: T, resource: Resource, id: &str, patient: Option<&str>) -> Audited<T> {
        Audited {
            value,
            entries: vec![(
                Action::Read,
                resource,
                Some(id.to_string()),
                patient.map(str::to_string),
            )],
        }
    }

    /// A list read: one `search` entry per distinct patient on the page, so every patient's
    /// access log shows who listed their data; one entry naming the filtered patient (or none)
    /// when the page is empty.
    pub fn search<'a>(
        value: T,
        resource: Resource,
        filter_patient: Option<&str>,
        page_patients: impl IntoIterator<Item = &'a str>,
    ) -> Audited<T> {
        let mut seen = std::collections::BTreeSet::new();
        let mut entries = Vec::new();
        for pid in page_patients {
            if seen.insert(pid) {
                entries.push((Action::Search, resource, None, Some(pid.to_string())));
            }
        }
        if entries.is_empty() {
            entries.push((
                Action::Search,
                resource,
                None,
                filter_patient.map(str::to_string),
            ));
        }
        Audited { value, entries }
    }

    /// A look at the data without recording its entries: only for the benchmark's raw baseline
    /// (the `bench` feature), which checks a page's length.
    #[cfg(feature = "bench")]
    pub fn peek(&self) -> &T {
        &self.value
    }

    /// Several reads as one: their values, and all their entries.
    pub fn all(reads: Vec<Audited<T>>) -> Audited<Vec<T>> {
        let mut out = Audited {
            value: Vec::with_capacity(reads.len()),
            entries: Vec::new(),
        };
        for r in reads {
            out.value.push(r.value);
            out.entries.extend(r.entries);
        }
        out
    }

    pub fn map<U>(self, f: impl FnOnce(T) -> U) -> Audited<U> {
        Audited {
            value: f(self.value),
            entries: self.entries,
        }
    }
}

impl<R: utoipa::ToSchema> Audited<crate::http::ListResponse<R>> {
    /// A page of a list (`limit + 1` rows fetched in key order; `key` gives the cursor) read
    /// as a search of `resource`: one entry per patient on the page (`patient` of each row),
    /// or one naming the filtered patient when the page is empty.
    pub fn page(
        rows: Vec<R>,
        limit: i64,
        key: impl Fn(&R) -> String,
        resource: Resource,
        filter_patient: Option<&crate::kit::PatientId>,
        patient: fn(&R) -> &crate::kit::PatientId,
    ) -> Audited<crate::http::ListResponse<R>> {
        let list = crate::http::ListResponse::from_rows(rows, limit, key);
        let patients: Vec<String> = list.items.iter().map(|r| patient(r).to_string()).collect();
        Audited::search(
            list,
            resource,
            filter_patient.map(|p| p.as_str()),
            patients.iter().map(String::as_str),
        )
    }
}

/// The signed-in caller of a request: authenticated from the bearer token (the session cache,
/// else the database), then held to the route's stated access (`kit::routes`), then admitted
/// by the audit trail's back-pressure.
#[derive(Clone)]
pub struct Ctx {
    /// Shared with the closures that run the request's database work (one reference count).
    actor: Arc<Actor>,
    state: AppState,
    /// What the route does, as its audit entry names it: for the `error` entry of a request
    /// whose database work failed (its own entries rolled back with it).
    route: Option<(Action, Resource)>,
}

impl FromRequestParts<AppState> for Ctx {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let mut ctx = Ctx::authenticate(parts, state).await?;
        admit(state).await?;
        ctx.route = Some(ctx.check_route(parts).await?);
        Ok(ctx)
    }
}

/// Every authenticated request may write read-audit entries: hold it back while the sealer is
/// behind, so the buffer (and the server's memory) stays bounded.
async fn admit(state: &AppState) -> Result<(), ApiError> {
    state.audit.admit().await.map_err(|()| {
        tracing::warn!("audit sealer made no progress for 5 s; refusing a request");
        ApiError::new(
            axum::http::StatusCode::SERVICE_UNAVAILABLE,
            "unavailable",
            "the audit trail cannot record requests right now; retry shortly",
        )
    })
}

/// The caller of a monitoring route (`/metrics`): authenticated and checked like `Ctx`, but
/// never held back by the audit trail's back-pressure, which such a route reports — a scrape
/// must answer while requests wait. It writes at most one audit entry (a denial).
pub struct MonitoringCtx(pub Ctx);

impl FromRequestParts<AppState> for MonitoringCtx {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let ctx = Ctx::authenticate(parts, state).await?;
        ctx.check_route(parts).await?;
        Ok(MonitoringCtx(ctx))
    }
}

/// The request id the edge middleware gave the request.
pub fn request_id(parts: &Parts) -> String {
    parts
        .headers
        .get("x-request-id")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_string()
}

pub fn client_addr(parts: &Parts) -> String {
    parts
        .extensions
        .get::<ConnectInfo<SocketAddr>>()
        .map(|c| c.0.ip().to_string())
        .unwrap_or_default()
}

fn bearer(parts: &Parts) -> Option<&str> {
    let v = parts.headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = v.split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then(|| token.trim())
        .filter(|t| !t.is_empty())
}

/// The request of a route without a signed-in caller (`Access::Public`): who it is from, for
/// the audit entries of sign-up and sign-in.
pub struct Visitor(pub Actor);

impl FromRequestParts<AppState> for Visitor {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        // Only a route stated public may serve callers without a token.
        let rule = parts
            .extensions
            .get::<MatchedPath>()
            .and_then(|path| state.routes.rule(&parts.method, path.as_str()));
        if rule.map(|r| r.access) != Some(Access::Public) {
            return Err(Error::internal("a route that is not public takes no visitors").into());
        }
        Ok(Visitor(Actor::visitor(
            request_id(parts),
            client_addr(parts),
            state.audit.clone(),
        )))
    }
}

impl Ctx {
    /// The caller of a session found another way than the bearer header (a chat socket's
    /// single-use ticket names the session it was issued under), then held to the route's
    /// stated access and admitted like every request.
    pub async fn with_principal(
        parts: &mut Parts,
        state: &AppState,
        principal: Arc<crate::auth::Principal>,
    ) -> Result<Ctx, ApiError> {
        let ctx = Ctx::of(principal, parts, state);
        admit(state).await?;
        ctx.check_route(parts).await?;
        Ok(ctx)
    }

    async fn authenticate(parts: &Parts, state: &AppState) -> Result<Ctx, ApiError> {
        let token = bearer(parts).ok_or_else(ApiError::unauthorized)?;
        let hash = tokens::token_hash(token);
        let principal = match state.sessions.get(&hash) {
            Some(p) => p,
            None => {
                let h = hash.clone();
                let p = state
                    .db
                    .read(move |conn| crate::auth::lookup_session(conn, &h))
                    .await?
                    .ok_or_else(ApiError::unauthorized)?;
                let p = Arc::new(p);
                state.sessions.put(p.clone());
                p
            }
        };
        Ok(Ctx::of(principal, parts, state))
    }

    fn of(principal: Arc<crate::auth::Principal>, parts: &Parts, state: &AppState) -> Ctx {
        Ctx {
            actor: Arc::new(Actor::user(
                principal,
                request_id(parts),
                client_addr(parts),
                state.audit.clone(),
            )),
            state: state.clone(),
            route: None,
        }
    }

    /// The route's stated access (`kit::routes`): 403, audited, when the caller's roles lack
    /// its permission; 500 when the route states none. Gives what the route does.
    async fn check_route(&self, parts: &mut Parts) -> Result<(Action, Resource), ApiError> {
        let path = parts
            .extensions
            .get::<MatchedPath>()
            .map(MatchedPath::as_str);
        let rule = path.and_then(|path| self.state.routes.rule(&parts.method, path));
        let Some(rule) = rule else {
            return Err(Error::internal(format!(
                "{} {} states no access rule",
                parts.method,
                path.unwrap_or("(unmatched)")
            ))
            .into());
        };
        let does = || {
            let action = rule
                .action
                .unwrap_or_else(|| action_of(&parts.method, path.unwrap_or_default()));
            (action, rule.resource)
        };
        match rule.access {
            Access::SignedIn => Ok(does()),
            Access::Perm(p) if self.principal().perms.has(p) => Ok(does()),
            Access::Perm(_) | Access::Public => {
                let path = path.unwrap_or_default().to_string();
                // The denial names what was asked for: the first path parameter, and the
                // patient when the path is one of `/patients/{id}/...`.
                let params = RawPathParams::from_request_parts(parts, &self.state)
                    .await
                    .ok();
                let first = params
                    .as_ref()
                    .and_then(|p| p.iter().next().map(|(_, v)| v.to_string()));
                let patient = first
                    .as_deref()
                    .filter(|_| path.starts_with("/api/v1/patients/{"));
                Err(self
                    .deny(
                        Error::forbidden("your role may not perform this action"),
                        rule.action
                            .unwrap_or_else(|| action_of(&parts.method, &path)),
                        rule.resource,
                        first.as_deref(),
                        patient,
                    )
                    .into())
            }
        }
    }

    pub fn principal(&self) -> &Principal {
        self.actor
            .principal()
            .expect("a Ctx is always a signed-in user")
    }
    pub fn user_id(&self) -> &str {
        &self.principal().user_id
    }
    pub fn actor(&self) -> &Actor {
        &self.actor
    }
    pub fn scope(&self) -> &Scope {
        self.actor.scope()
    }
    pub fn state(&self) -> &AppState {
        &self.state
    }

    /// Records a refusal and returns the error to send.
    pub fn deny(
        &self,
        err: Error,
        action: Action,
        resource: Resource,
        id: Option<&str>,
        patient: Option<&str>,
    ) -> Error {
        self.actor.deny(err, action, resource, id, patient)
    }

    /// Runs a read on a pooled connection as this caller (its scope, its audited denials),
    /// off the async runtime.
    pub async fn read<T, F>(&self, f: F) -> Result<T>
    where
        T: Send + 'static,
        F: FnOnce(&mut DbConn, &Actor) -> Result<T> + Send + 'static,
    {
        let actor = Arc::clone(&self.actor);
        let read = self.state.db.read(move |conn| f(conn, &actor)).await;
        self.failed(read)
    }

    /// Records an `error` entry of the route when its database work failed on the server's
    /// side (500, 503): the request's own entries went with its transaction, and the trail
    /// must still say that it was attempted. (Buffered: sealed when the database takes it.)
    pub(crate) fn failed<T>(&self, result: Result<T>) -> Result<T> {
        if let (Err(Error::Internal(_) | Error::Unavailable(_)), Some((action, resource))) =
            (&result, self.route)
        {
            let entry = self.actor.entry(action, resource, None, None);
            self.actor.audit.record_async(entry.outcome(Outcome::Error));
        }
        result
    }

    /// Runs `f` in one write transaction as this caller; see `Tx`.
    pub async fn write<T, F>(&self, f: F) -> Result<T>
    where
        T: Send + 'static,
        F: FnOnce(&mut Tx) -> Result<T> + Send + 'static,
    {
        let written = Arc::clone(&self.actor)
            .write_shared(&self.state.db, f)
            .await;
        self.failed(written)
    }

    /// Records the read's audit entries and hands the data over once they are durable: the one
    /// way patient data leaves the server. No entry sealed in time (the database is down): 503,
    /// and nothing is revealed.
    pub async fn reveal<T>(&self, seen: Audited<T>) -> Result<T> {
        if seen.entries.is_empty() {
            return Ok(seen.value);
        }
        let audit = &self.actor.audit;
        let generation = audit.record_read(seen.entries.into_iter().map(
            |(action, resource, id, patient)| self.actor.entry_of(action, resource, id, patient),
        ));
        audit.durable(generation).await.map_err(|()| {
            Error::Unavailable("a read's audit entries were not sealed within 5 s".into())
        })?;
        Ok(seen.value)
    }
}

/// What a refused request tried, by its method and path: `search` a collection, `read` an
/// object, `create`, `update`, `delete`.
fn action_of(method: &Method, path: &str) -> Action {
    match *method {
        Method::GET if path.contains('{') => Action::Read,
        Method::GET => Action::Search,
        Method::POST => Action::Create,
        Method::DELETE => Action::Delete,
        _ => Action::Update,
    }
}
