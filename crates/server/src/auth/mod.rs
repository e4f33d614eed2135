//! Authentication and authorisation for every route.
//!
//! * **Who**: a console session (cookie `zhiying_session`, server-side row in the operational
//!   store, HttpOnly, SameSite=Lax, Secure behind TLS) or an API token
//!   (`Authorization: Bearer zy_…`, stored as SHA-256, scoped, expiring, revocable).
//! * **What**: every route is registered through [`Routes`] with the [`Access`] it needs,
//!   usually one [`Permission`]. One middleware ([`enforce`]) looks the matched route up in
//!   that registry: a route missing from it is refused (fail closed), anonymous callers get
//!   401 (API) or a redirect to the login page (console), callers without the permission 403.
//! * **CSRF**: state-changing requests on a session must echo the session's synchroniser
//!   token (header `x-csrf-token` or form field `csrf`) and, when the browser sends
//!   `Origin`, come from this host. Bearer-token calls carry no ambient credentials and are
//!   exempt.
//!
//! Adding a route in a capability module:
//!
//! ```ignore
//! pub fn routes() -> Routes {
//!     Routes::new()
//!         .get("/v1/tags", Permission::TagRead, list_tags)
//!         .post("/v1/tags", Permission::TagWrite, create_tag)
//! }
//! // lib.rs: `.merge(tags::routes())` in `all_routes()`
//! ```
//! Handlers that need the caller take a [`Principal`] argument.

mod limiter;
pub mod login;
pub mod password;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::{FromRequestParts, MatchedPath, Request, State};
use axum::handler::Handler;
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{MethodFilter, on};
use zhiying_core::access::{Permission, permissions_of};
use zhiying_core::domain::Role;
use zhiying_store::{AnchorKeyring, OperationalStore, hash_token};

use crate::AppState;
use crate::error::ApiError;

pub use limiter::LoginLimiter;

pub const SESSION_COOKIE: &str = "zhiying_session";
pub const CSRF_HEADER: &str = "x-csrf-token";
pub const CSRF_FIELD: &str = "csrf";
/// A token scope that grants everything the token's user may do.
pub const ALL_SCOPES: &str = "*";

/// Session and login settings.
#[derive(Debug, Clone)]
pub struct AuthConfig {
    /// A session ends this long after login, however active.
    pub session_ttl: Duration,
    /// A session ends after this long without a request.
    pub idle_timeout: Duration,
    /// Always mark cookies `Secure` (also done per request when `X-Forwarded-Proto: https`).
    pub secure_cookies: bool,
    /// Failed logins allowed per username (and per client address) within `failure_window`.
    pub max_failures: u32,
    pub failure_window: Duration,
    /// How often the server signs the audit chain head (when it moved).
    pub anchor_interval: Duration,
}

impl Default for AuthConfig {
    fn default() -> Self {
        AuthConfig {
            session_ttl: Duration::from_secs(8 * 3600),
            idle_timeout: Duration::from_secs(30 * 60),
            secure_cookies: false,
            max_failures: 5,
            failure_window: Duration::from_secs(15 * 60),
            anchor_interval: Duration::from_secs(10 * 60),
        }
    }
}

/// Auth state shared by the handlers.
pub struct AuthState {
    pub config: AuthConfig,
    pub limiter: LoginLimiter,
    /// Keys for signing audit anchors; `None` disables periodic anchoring.
    pub anchor_keys: Option<AnchorKeyring>,
}

impl AuthState {
    pub fn new(config: AuthConfig, anchor_keys: Option<AnchorKeyring>) -> Self {
        AuthState {
            limiter: LoginLimiter::new(config.max_failures, config.failure_window),
            config,
            anchor_keys,
        }
    }
}

/// How the caller proved who they are.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Via {
    Session { id_hash: String, csrf_token: String },
    Token { token_hash: String },
}

/// The authenticated caller of a request.
#[derive(Debug, Clone)]
pub struct Principal {
    pub username: String,
    pub display_name: String,
    pub roles: Vec<Role>,
    /// What this request may do: the roles' permissions, narrowed by a token's scopes.
    pub permissions: Vec<Permission>,
    pub via: Via,
}

impl Principal {
    pub fn can(&self, p: Permission) -> bool {
        self.permissions.binary_search(&p).is_ok()
    }
    /// The session's CSRF token, for forms; `None` for token callers.
    pub fn csrf_token(&self) -> Option<&str> {
        match &self.via {
            Via::Session { csrf_token, .. } => Some(csrf_token),
            Via::Token { .. } => None,
        }
    }
}

impl<S: Send + Sync> FromRequestParts<S> for Principal {
    type Rejection = ApiError;
    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        parts
            .extensions
            .get::<Principal>()
            .cloned()
            .ok_or_else(unauthenticated)
    }
}

/// The caller if there is one: for pages that also render for anonymous visitors.
#[derive(Debug, Clone, Default)]
pub struct MaybePrincipal(pub Option<Principal>);

impl<S: Send + Sync> FromRequestParts<S> for MaybePrincipal {
    type Rejection = std::convert::Infallible;
    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        Ok(MaybePrincipal(parts.extensions.get::<Principal>().cloned()))
    }
}

/// What a route requires.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// Anyone: only the health check, the login page and static assets.
    Public,
    /// Any signed-in caller (logout, `/v1/me`).
    Authenticated,
    /// Callers holding this permission.
    Perm(Permission),
}

impl From<Permission> for Access {
    fn from(p: Permission) -> Access {
        Access::Perm(p)
    }
}

/// One registered route.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RouteSpec {
    pub method: Method,
    pub path: &'static str,
    pub access: Access,
}

/// A router whose every route carries its [`Access`]. Build one per module and
/// [`merge`](Routes::merge) them; [`crate::router`] turns the result into an axum router
/// guarded by [`enforce`].
#[derive(Default)]
pub struct Routes {
    router: Router<AppState>,
    specs: Vec<RouteSpec>,
}

macro_rules! method_fns {
    ($($name:ident => $method:ident),*) => {$(
        #[doc = concat!("Adds a `", stringify!($method), "` route that requires `access`.")]
        pub fn $name<H, T>(self, path: &'static str, access: impl Into<Access>, handler: H) -> Self
        where
            H: Handler<T, AppState>,
            T: 'static,
        {
            self.add(Method::$method, MethodFilter::$method, path, access.into(), handler)
        }
    )*};
}

impl Routes {
    pub fn new() -> Self {
        Routes::default()
    }

    method_fns!(get => GET, post => POST, put => PUT, patch => PATCH, delete => DELETE);

    fn add<H, T>(
        mut self,
        method: Method,
        filter: MethodFilter,
        path: &'static str,
        access: Access,
        handler: H,
    ) -> Self
    where
        H: Handler<T, AppState>,
        T: 'static,
    {
        assert!(
            !self
                .specs
                .iter()
                .any(|s| s.method == method && s.path == path),
            "route {method} {path} registered twice"
        );
        self.specs.push(RouteSpec {
            method,
            path,
            access,
        });
        self.router = self.router.route(path, on(filter, handler));
        self
    }

    pub fn merge(mut self, other: Routes) -> Self {
        for s in &other.specs {
            assert!(
                !self
                    .specs
                    .iter()
                    .any(|x| x.method == s.method && x.path == s.path),
                "route {} {} registered twice",
                s.method,
                s.path
            );
        }
        self.specs.extend(other.specs);
        self.router = self.router.merge(other.router);
        self
    }

    pub fn specs(&self) -> &[RouteSpec] {
        &self.specs
    }

    pub(crate) fn into_parts(self) -> (Router<AppState>, Registry) {
        let mut map = HashMap::new();
        for s in &self.specs {
            map.insert((s.method.clone(), s.path.to_string()), s.access);
        }
        (
            self.router,
            Registry {
                map: Arc::new(map),
                specs: Arc::new(self.specs),
            },
        )
    }
}

/// Route → access, looked up by the enforcing middleware.
#[derive(Clone)]
pub struct Registry {
    map: Arc<HashMap<(Method, String), Access>>,
    pub specs: Arc<Vec<RouteSpec>>,
}

impl Registry {
    fn has_path(&self, path: &str) -> bool {
        self.specs.iter().any(|s| s.path == path)
    }

    fn access(&self, method: &Method, path: &str) -> Option<Access> {
        let m = if method == Method::HEAD {
            &Method::GET
        } else {
            method
        };
        self.map.get(&(m.clone(), path.to_string())).copied()
    }
}

/// Where the enforcing middleware's state lives.
#[derive(Clone)]
pub(crate) struct Guard {
    pub state: AppState,
    pub registry: Registry,
}

pub fn unauthenticated() -> ApiError {
    ApiError::new(
        StatusCode::UNAUTHORIZED,
        "unauthenticated",
        "this endpoint needs a signed-in user or an API token",
        "Send `Authorization: Bearer <token>` (create one with `zhiying token create`), or sign in at /console/login.",
    )
}

pub fn forbidden(p: Permission) -> ApiError {
    ApiError::new(
        StatusCode::FORBIDDEN,
        "forbidden",
        format!(
            "this needs the permission '{p}', which your roles (or your token's scopes) do not grant"
        ),
        "Ask an administrator for a role that grants it; docs/security.md lists which roles do.",
    )
}

fn csrf_failed() -> ApiError {
    ApiError::new(
        StatusCode::FORBIDDEN,
        "csrf_failed",
        "the request did not carry this session's CSRF token, or came from another site",
        "Reload the page and submit the form again. Scripts send the token in the x-csrf-token header.",
    )
}

fn is_console(path: &str) -> bool {
    path == "/" || path == "/console" || path.starts_with("/console/")
}

fn is_safe(method: &Method) -> bool {
    matches!(*method, Method::GET | Method::HEAD | Method::OPTIONS)
}

pub fn now_micros() -> i64 {
    chrono::Utc::now().timestamp_micros()
}

/// Reads one cookie from the request headers.
pub fn cookie<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|kv| kv.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v)
}

/// Whether cookies set on this response must be `Secure`.
pub fn secure_request(config: &AuthConfig, headers: &HeaderMap) -> bool {
    config.secure_cookies
        || headers
            .get("x-forwarded-proto")
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.eq_ignore_ascii_case("https"))
}

/// `name=value; Path=/; HttpOnly; SameSite=Lax[; Secure][; Max-Age=n]`.
pub fn cookie_header(
    name: &str,
    value: &str,
    path: &str,
    max_age: Option<i64>,
    secure: bool,
) -> Option<HeaderValue> {
    let mut c = format!("{name}={value}; Path={path}; HttpOnly; SameSite=Lax");
    if secure {
        c.push_str("; Secure");
    }
    if let Some(age) = max_age {
        c.push_str(&format!("; Max-Age={age}"));
    }
    HeaderValue::from_str(&c).ok()
}

/// Resolves the caller from a bearer token or the session cookie.
/// `Err` is a definite refusal (a bad token); `Ok(None)` is anonymous.
pub async fn authenticate(
    state: &AppState,
    headers: &HeaderMap,
) -> Result<Option<Principal>, ApiError> {
    let store = state.store.as_ref();
    let now = now_micros();
    if let Some(auth) = headers.get(header::AUTHORIZATION) {
        let raw = auth.to_str().unwrap_or("");
        let Some(token) = raw.strip_prefix("Bearer ").map(str::trim) else {
            return Err(ApiError::new(
                StatusCode::UNAUTHORIZED,
                "invalid_authorization",
                "the Authorization header must be `Bearer <token>`",
                "Create a token with `zhiying token create --user NAME --scope …` and send it as a bearer token.",
            ));
        };
        let bad_token = || {
            ApiError::new(
                StatusCode::UNAUTHORIZED,
                "invalid_token",
                "the API token is unknown, expired or revoked",
                "Create a new token with `zhiying token create`; `zhiying token list` shows expiry and revocation.",
            )
        };
        let t = store
            .token_by_hash(&hash_token(token))
            .await
            .map_err(|e| ApiError::internal("looking up the API token", e))?
            .filter(|t| t.is_active_at(now))
            .ok_or_else(bad_token)?;
        let user = store
            .user(&t.username)
            .await
            .map_err(|e| ApiError::internal("looking up the token's user", e))?
            .filter(|u| !u.disabled)
            .ok_or_else(bad_token)?;
        let mut permissions = permissions_of(&user.roles);
        if !t.scopes.iter().any(|s| s == ALL_SCOPES) {
            permissions.retain(|p| t.scopes.iter().any(|s| s == p.as_str()));
        }
        return Ok(Some(Principal {
            username: user.username,
            display_name: user.display_name,
            roles: user.roles,
            permissions,
            via: Via::Token {
                token_hash: t.token_hash,
            },
        }));
    }
    let Some(sid) = cookie(headers, SESSION_COOKIE) else {
        return Ok(None);
    };
    let id_hash = hash_token(sid);
    let Some(session) = store
        .session(&id_hash)
        .await
        .map_err(|e| ApiError::internal("looking up the session", e))?
    else {
        return Ok(None);
    };
    let idle = i64::try_from(state.auth.config.idle_timeout.as_micros()).unwrap_or(i64::MAX);
    if now >= session.expires_at || now.saturating_sub(session.last_seen_at) >= idle {
        let _ = store.delete_session(&id_hash).await;
        return Ok(None);
    }
    let Some(user) = store
        .user(&session.username)
        .await
        .map_err(|e| ApiError::internal("looking up the session's user", e))?
        .filter(|u| !u.disabled)
    else {
        let _ = store.delete_session(&id_hash).await;
        return Ok(None);
    };
    // Record activity at most once a minute: idle expiry needs no finer grain.
    if now - session.last_seen_at > 60_000_000
        && let Err(e) = store.touch_session(&id_hash, now).await
    {
        tracing::warn!("recording session activity failed: {e}");
    }
    Ok(Some(Principal {
        username: user.username,
        display_name: user.display_name,
        permissions: permissions_of(&user.roles),
        roles: user.roles,
        via: Via::Session {
            id_hash,
            csrf_token: session.csrf_token,
        },
    }))
}

/// The one gate every routed request passes (see the module docs).
pub(crate) async fn enforce(State(guard): State<Guard>, req: Request, next: Next) -> Response {
    let path = req
        .extensions()
        .get::<MatchedPath>()
        .map(|m| m.as_str().to_string())
        .unwrap_or_default();
    let Some(access) = guard.registry.access(req.method(), &path) else {
        let method = req.method().clone();
        // A registered path called with another method: let the router answer 405, and
        // nothing else (a handler added for that method outside the registry stays shut).
        if guard.registry.has_path(&path) {
            let res = next.run(req).await;
            if res.status() == StatusCode::METHOD_NOT_ALLOWED {
                return res;
            }
        }
        tracing::error!("route {method} {path} is not in the permission registry: refused");
        return ApiError::new(
            StatusCode::FORBIDDEN,
            "route_without_permission",
            format!("{method} {path} declares no permission, so nobody may call it"),
            "Register the route with auth::Routes and the permission it needs.",
        )
        .into_response();
    };
    if access == Access::Public {
        return next.run(req).await;
    }
    let console = is_console(req.uri().path());
    let principal = match authenticate(&guard.state, req.headers()).await {
        Ok(p) => p,
        Err(e) => return e.into_response(),
    };
    let Some(principal) = principal else {
        if console && is_safe(req.method()) {
            let next_url = req
                .uri()
                .path_and_query()
                .map(|p| p.as_str())
                .unwrap_or("/console");
            return Redirect::to(&format!(
                "/console/login?next={}",
                crate::console::encode_segment(next_url)
            ))
            .into_response();
        }
        let mut res = unauthenticated().into_response();
        res.headers_mut().insert(
            header::WWW_AUTHENTICATE,
            HeaderValue::from_static("Bearer realm=\"zhiying\""),
        );
        return res;
    };
    let mut req = req;
    if let Via::Session { csrf_token, .. } = &principal.via
        && !is_safe(req.method())
    {
        let (ok, rebuilt) = check_csrf(req, csrf_token).await;
        req = rebuilt;
        if !ok {
            return deny(&guard.state, console, &req, csrf_failed(), &principal);
        }
    }
    if let Access::Perm(p) = access
        && !principal.can(p)
    {
        return deny(&guard.state, console, &req, forbidden(p), &principal);
    }
    req.extensions_mut().insert(principal);
    next.run(req).await
}

/// A refusal: the console's HTML error page for browsers in the console, JSON otherwise.
fn deny(
    state: &AppState,
    console: bool,
    req: &Request,
    err: ApiError,
    who: &Principal,
) -> Response {
    tracing::info!(user = %who.username, route = %req.uri().path(), code = err.code, "access denied");
    let wants_html = req
        .headers()
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|a| a.contains("text/html"));
    if console && wants_html {
        let locale = crate::i18n::Locale::from_headers(req.uri(), req.headers());
        return crate::console::error_page(state, &locale, &err, Some(who));
    }
    err.into_response()
}

/// Largest form body read for a CSRF field.
const MAX_FORM_BYTES: usize = 64 * 1024;

/// Checks the CSRF token (header, else urlencoded form field) and the Origin header.
/// Returns the request, rebuilt if its body had to be read.
async fn check_csrf(req: Request, expected: &str) -> (bool, Request) {
    let headers = req.headers();
    let host = headers
        .get(header::HOST)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let cross_site = headers
        .get(header::ORIGIN)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|origin| {
            let origin_host = origin.split_once("://").map(|(_, h)| h).unwrap_or(origin);
            origin == "null" || (!host.is_empty() && origin_host != host)
        });
    if cross_site {
        return (false, req);
    }
    let from_header = headers
        .get(CSRF_HEADER)
        .and_then(|v| v.to_str().ok())
        .map(|h| password::constant_time_eq(h, expected));
    if let Some(ok) = from_header {
        return (ok, req);
    }
    let is_form = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|c| c.starts_with("application/x-www-form-urlencoded"));
    if !is_form {
        return (false, req);
    }
    let (parts, body) = req.into_parts();
    let bytes = match axum::body::to_bytes(body, MAX_FORM_BYTES).await {
        Ok(b) => b,
        Err(_) => return (false, Request::from_parts(parts, axum::body::Body::empty())),
    };
    let ok = serde_urlencoded::from_bytes::<Vec<(String, String)>>(&bytes)
        .ok()
        .and_then(|fields| {
            fields
                .into_iter()
                .find(|(k, _)| k == CSRF_FIELD)
                .map(|(_, v)| v)
        })
        .is_some_and(|v| password::constant_time_eq(&v, expected));
    (
        ok,
        Request::from_parts(parts, axum::body::Body::from(bytes)),
    )
}

/// Writes an audit entry; a failure is logged, not returned, for events where the action
/// itself already happened (a failed login). Use the store directly where the audit write
/// must succeed before the action (unmasking).
pub async fn audit_best_effort(
    store: &dyn OperationalStore,
    actor: &str,
    action: &str,
    target: &str,
    detail: serde_json::Value,
) {
    if let Err(e) = store.append_audit(actor, action, target, &detail).await {
        tracing::error!("audit log write failed for {action} {target}: {e}");
    }
}

/// Background upkeep: signs the audit head and purges expired sessions every
/// `anchor_interval`. Runs until the server stops.
pub async fn upkeep(state: AppState) {
    let mut tick = tokio::time::interval(state.auth.config.anchor_interval);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        if let Some(keys) = &state.auth.anchor_keys {
            match zhiying_store::anchor_head(state.store.as_ref(), keys).await {
                Ok(Some(a)) => {
                    tracing::info!("audit anchor {} signed head seq {}", a.id, a.head_seq)
                }
                Ok(None) => {}
                Err(e) => tracing::error!("signing the audit head failed: {e}"),
            }
        }
        if let Err(e) = state.store.purge_sessions(now_micros()).await {
            tracing::warn!("purging expired sessions failed: {e}");
        }
    }
}
