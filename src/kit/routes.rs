//! Every route states who may call it, once, where the domain registers it:
//!
//! ```ignore
//! .routes(route(Access::Perm(Perm::RecordsRead), RECORD, routes!(get_record)))
//! ```
//!
//! The statement goes into the OpenAPI document (the operation's `security`, with the
//! permission as its role, and `x-access` / `x-audit-resource`), and from there into the
//! `RouteTable` that `Ctx` consults before the handler runs: a caller without the permission
//! gets 403 and an audited denial; a route that states nothing answers 500 (it fails closed,
//! and the route-table test names it). Rules that depend on the object (the caller's own
//! account, a care-team link) are the handler's, after this check.

use std::collections::HashMap;

use axum::http::Method;
use utoipa::openapi::path::{Operation, PathItem};
use utoipa::openapi::security::SecurityRequirement;
use utoipa::openapi::OpenApi;
use utoipa_axum::router::UtoipaMethodRouter;

use crate::audit::{Action, Resource};
use crate::auth::permissions::Perm;

/// What a route requires of its caller.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Access {
    /// No token at all (sign-up, sign-in, health, docs).
    Public,
    /// Any signed-in user; the handler decides by the object (e.g. one's own account).
    SignedIn,
    /// A role that holds this permission.
    Perm(Perm),
}

/// The operation extension naming the access rule (`public`, `signed_in` or a permission).
pub const ACCESS_EXTENSION: &str = "x-access";
/// The operation extension naming the resource a denial of the route is audited as.
pub const RESOURCE_EXTENSION: &str = "x-audit-resource";
/// The operation extension of a read that writes no audit entry, saying why
/// (`route_unaudited`).
pub const UNAUDITED_EXTENSION: &str = "x-not-audited";
/// The operation extension naming the action a denial is audited as, when its method does not
/// say it (`route_as`).
pub const ACTION_EXTENSION: &str = "x-audit-action";

impl Access {
    pub fn wire(self) -> &'static str {
        match self {
            Access::Public => "public",
            Access::SignedIn => "signed_in",
            Access::Perm(p) => p.name(),
        }
    }

    pub fn parse(s: &str) -> Option<Access> {
        match s {
            "public" => Some(Access::Public),
            "signed_in" => Some(Access::SignedIn),
            other => Perm::from_name(other).map(Access::Perm),
        }
    }
}

/// States who may call the route(s) of `r` (what `routes!` gives) and which resource a denial
/// is audited as. The one statement of a route's permission.
pub fn route<S>(
    access: Access,
    resource: Resource,
    (schemas, mut paths, router): UtoipaMethodRouter<S>,
) -> UtoipaMethodRouter<S> {
    for item in paths.paths.values_mut() {
        for (_, op) in operations_mut(item) {
            op.security = Some(match access {
                Access::Public => Vec::new(),
                Access::SignedIn => vec![SecurityRequirement::new("bearer", Vec::<String>::new())],
                Access::Perm(p) => vec![SecurityRequirement::new("bearer", [p.name()])],
            });
            let ext = op.extensions.get_or_insert_with(Default::default);
            ext.insert(ACCESS_EXTENSION.into(), access.wire().into());
            ext.insert(RESOURCE_EXTENSION.into(), resource.as_str().into());
        }
    }
    (schemas, paths, router)
}

/// `route` for an act whose refusal is audited as `action`, not as what its method suggests
/// (a `POST` that breaks the glass is `break_glass`, not `create`).
pub fn route_as<S>(
    access: Access,
    resource: Resource,
    action: Action,
    r: UtoipaMethodRouter<S>,
) -> UtoipaMethodRouter<S> {
    let (schemas, mut paths, router) = route(access, resource, r);
    for item in paths.paths.values_mut() {
        for (_, op) in operations_mut(item) {
            op.extensions
                .get_or_insert_with(Default::default)
                .insert(ACTION_EXTENSION.into(), action.as_str().into());
        }
    }
    (schemas, paths, router)
}

/// `route` for a read that reveals no one's data (a catalogue, a directory, one's own unread
/// count) and so writes no audit entry; `why` says so in the OpenAPI document. Only reads may
/// be stated so: a route of another method panics when the router is built.
pub fn route_unaudited<S>(
    access: Access,
    resource: Resource,
    why: &'static str,
    r: UtoipaMethodRouter<S>,
) -> UtoipaMethodRouter<S> {
    let (schemas, mut paths, router) = route(access, resource, r);
    for (path, item) in paths.paths.iter_mut() {
        for (method, op) in operations_mut(item) {
            assert!(
                method == Method::GET,
                "{method} {path}: only reads may go unaudited"
            );
            op.extensions
                .get_or_insert_with(Default::default)
                .insert(UNAUDITED_EXTENSION.into(), why.into());
        }
    }
    (schemas, paths, router)
}

fn operations_mut(item: &mut PathItem) -> impl Iterator<Item = (Method, &mut Operation)> {
    [
        (Method::GET, item.get.as_mut()),
        (Method::POST, item.post.as_mut()),
        (Method::PUT, item.put.as_mut()),
        (Method::PATCH, item.patch.as_mut()),
        (Method::DELETE, item.delete.as_mut()),
    ]
    .into_iter()
    .filter_map(|(m, op)| op.map(|op| (m, op)))
}

/// The rule of one route.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Rule {
    pub access: Access,
    pub resource: Resource,
    /// What a refusal is audited as, when not what the method says.
    pub action: Option<Action>,
}

/// Every route's rule, by path template (as axum's `MatchedPath` has it) and method, read from
/// the OpenAPI document that the route statements wrote.
#[derive(Debug, Default)]
pub struct RouteTable {
    routes: HashMap<String, Vec<(Method, Rule)>>,
}

impl RouteTable {
    pub fn from_openapi(api: &OpenApi) -> RouteTable {
        let mut routes: HashMap<String, Vec<(Method, Rule)>> = HashMap::new();
        for (path, item) in &api.paths.paths {
            let mut item = item.clone();
            for (method, op) in operations_mut(&mut item) {
                let ext = op.extensions.as_ref();
                let access = ext
                    .and_then(|e| e.get(ACCESS_EXTENSION))
                    .and_then(|v| v.as_str())
                    .and_then(Access::parse);
                let resource = ext
                    .and_then(|e| e.get(RESOURCE_EXTENSION))
                    .and_then(|v| v.as_str())
                    .map(|name| Resource::named(intern(name)));
                let action = ext
                    .and_then(|e| e.get(ACTION_EXTENSION))
                    .and_then(|v| v.as_str())
                    .and_then(|a| Action::ALL.iter().copied().find(|x| x.as_str() == a));
                if let (Some(access), Some(resource)) = (access, resource) {
                    routes.entry(path.clone()).or_default().push((
                        method,
                        Rule {
                            access,
                            resource,
                            action,
                        },
                    ));
                }
            }
        }
        RouteTable { routes }
    }

    /// Adds the rules of another document's routes.
    pub fn extend(&mut self, other: RouteTable) {
        for (path, rules) in other.routes {
            self.routes.entry(path).or_default().extend(rules);
        }
    }

    /// The rule of the route `path` (a template, `/api/v1/patients/{id}`) for `method`. A
    /// `HEAD` is the `GET` it stands for (axum answers it with the GET handler).
    pub fn rule(&self, method: &Method, path: &str) -> Option<Rule> {
        let method = if method == Method::HEAD {
            &Method::GET
        } else {
            method
        };
        self.routes
            .get(path)?
            .iter()
            .find(|(m, _)| m == method)
            .map(|(_, r)| *r)
    }
}

/// A resource name read back from the document, as the `&'static str` a `Resource` holds: each
/// distinct name is leaked once per process (there are a few dozen).
fn intern(name: &str) -> &'static str {
    static NAMES: std::sync::OnceLock<parking_lot::Mutex<std::collections::HashSet<&'static str>>> =
        std::sync::OnceLock::new();
    let mut names = NAMES.get_or_init(Default::default).lock();
    if let Some(n) = names.get(name) {
        return n;
    }
    let leaked: &'static str = Box::leak(name.to_string().into_boxed_str());
    names.insert(leaked);
    leaked
}
