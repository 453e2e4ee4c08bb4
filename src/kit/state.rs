//! What every handler reaches: the database, the audit trail, the session cache, the route
//! table and the configuration. Assembled by `app::build`.

use std::sync::Arc;

use crate::audit::Audit;
use crate::auth::throttle::LoginThrottle;
use crate::auth::SessionCache;
use crate::config::Config;
use crate::db::Db;
use crate::http::middleware::Metrics;
use crate::kit::routes::RouteTable;
use crate::realtime::Hub;

/// What every handler reaches. One `Arc`: axum clones the state for each extractor of each
/// request, and seven reference counts touched twice each per request showed in profiles.
#[derive(Clone)]
pub struct AppState(pub Arc<Shared>);

pub struct Shared {
    pub db: Db,
    pub audit: Audit,
    pub sessions: Arc<SessionCache>,
    pub throttle: Arc<LoginThrottle>,
    pub hub: Arc<Hub>,
    pub metrics: Arc<Metrics>,
    pub config: Arc<Config>,
    /// Diagnostic images' bytes.
    pub blobs: crate::blob::Blobs,
    /// Every route's stated access, which `kit::Ctx` enforces.
    pub routes: Arc<RouteTable>,
}

impl std::ops::Deref for AppState {
    type Target = Shared;
    fn deref(&self) -> &Shared {
        &self.0
    }
}
