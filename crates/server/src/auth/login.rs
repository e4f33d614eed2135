//! The console's login page, login, logout and `/v1/me`.

use std::net::SocketAddr;
use std::time::Instant;

use axum::Json;
use axum::extract::connect_info::ConnectInfo;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{Html, IntoResponse, Redirect, Response};
use minijinja::context;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use zhiying_core::access::Permission;
use zhiying_store::{Session, hash_token};

use super::{
    Principal, Routes, SESSION_COOKIE, Via, audit_best_effort, cookie, cookie_header, now_micros,
    password, secure_request,
};
use crate::AppState;
use crate::auth::Access;
use crate::i18n::{Lang, Locale};

/// Double-submit cookie that protects the login form itself (there is no session yet).
pub const LOGIN_CSRF_COOKIE: &str = "zhiying_login_csrf";

pub fn routes() -> Routes {
    Routes::new()
        .get("/console/login", Access::Public, login_page)
        .post("/console/login", Access::Public, login_submit)
        .post("/console/logout", Access::Authenticated, logout)
        .get("/v1/me", Access::Authenticated, me)
}

/// Only a path inside the console may be a post-login target: never another site.
fn safe_next(next: Option<&str>) -> String {
    match next {
        Some(n)
            if n.starts_with("/console")
                && !n.starts_with("//")
                && !n.contains('\\')
                && !n.starts_with("/console/login") =>
        {
            n.to_string()
        }
        _ => "/console/data".to_string(),
    }
}

fn render_login(
    state: &AppState,
    locale: &Locale,
    status: StatusCode,
    error: Option<String>,
    username: &str,
    next: &str,
    secure: bool,
) -> Response {
    let csrf = password::random_hex32();
    let lang = locale.lang;
    let ctx = context! {
        t => state.templates.strings(lang).clone(),
        lang => lang.tag(),
        switch_zh => locale.switch_href(Lang::Zh),
        switch_en => locale.switch_href(Lang::En),
        error => error,
        username => username,
        next => next,
        csrf => &csrf,
    };
    let mut res = match state.templates.render("login.html", ctx) {
        Ok(html) => (status, Html(html)).into_response(),
        Err(e) => {
            tracing::error!("rendering login.html: {e:#}");
            (
                StatusCode::INTERNAL_SERVER_ERROR,
                Html("<h1>500</h1>".to_string()),
            )
                .into_response()
        }
    };
    let h = res.headers_mut();
    if let Some(c) = cookie_header(
        LOGIN_CSRF_COOKIE,
        &csrf,
        "/console/login",
        Some(3600),
        secure,
    ) {
        h.append(header::SET_COOKIE, c);
    }
    if let Some(c) = locale
        .set_cookie()
        .and_then(|c| HeaderValue::from_str(&c).ok())
    {
        h.append(header::SET_COOKIE, c);
    }
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    res
}

#[derive(Deserialize)]
struct NextQuery {
    next: Option<String>,
}

async fn login_page(
    State(state): State<AppState>,
    locale: Locale,
    headers: HeaderMap,
    query: Result<axum::extract::Query<NextQuery>, axum::extract::rejection::QueryRejection>,
) -> Response {
    let next = safe_next(query.as_ref().ok().and_then(|q| q.next.as_deref()));
    // Already signed in: go straight on.
    if let Ok(Some(_)) = super::authenticate(&state, &headers).await {
        return Redirect::to(&next).into_response();
    }
    let secure = secure_request(&state.auth.config, &headers);
    render_login(&state, &locale, StatusCode::OK, None, "", &next, secure)
}

#[derive(Deserialize, Default)]
struct LoginForm {
    #[serde(default)]
    username: String,
    #[serde(default)]
    password: String,
    #[serde(default)]
    csrf: String,
    next: Option<String>,
}

async fn login_submit(State(state): State<AppState>, locale: Locale, req: Request) -> Response {
    let client = req
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|c| c.0.ip().to_string());
    let headers = req.headers().clone();
    let secure = secure_request(&state.auth.config, &headers);
    let tr = |k: &str| state.templates.tr(locale.lang, k);
    let form: LoginForm = match axum::body::to_bytes(req.into_body(), 16 * 1024).await {
        Ok(b) => serde_urlencoded::from_bytes(&b).unwrap_or_default(),
        Err(_) => LoginForm::default(),
    };
    let next = safe_next(form.next.as_deref());
    let username = form.username.trim().to_string();
    let reply = |status, key: &str| {
        render_login(
            &state,
            &locale,
            status,
            Some(tr(key)),
            &username,
            &next,
            secure,
        )
    };
    let login_csrf = cookie(&headers, LOGIN_CSRF_COOKIE).unwrap_or("");
    if login_csrf.is_empty() || !password::constant_time_eq(login_csrf, &form.csrf) {
        return reply(StatusCode::FORBIDDEN, "login.expired");
    }
    if username.is_empty() || form.password.is_empty() {
        return reply(StatusCode::BAD_REQUEST, "login.missing");
    }
    let store = state.store.clone();
    let target = format!("user:{username}");
    let detail =
        |result: &str| serde_json::json!({"result": result, "client": client, "via": "console"});
    let now = Instant::now();
    if let Some(wait) = state
        .auth
        .limiter
        .retry_after(&username, client.as_deref(), now)
    {
        audit_best_effort(
            store.as_ref(),
            &username,
            "auth.login_failed",
            &target,
            detail("rate_limited"),
        )
        .await;
        let mut res = render_login(
            &state,
            &locale,
            StatusCode::TOO_MANY_REQUESTS,
            Some(tr("login.locked").replace("{minutes}", &wait.div_ceil(60).to_string())),
            &username,
            &next,
            secure,
        );
        if let Ok(v) = HeaderValue::from_str(&wait.to_string()) {
            res.headers_mut().insert(header::RETRY_AFTER, v);
        }
        return res;
    }
    let user = match store.user(&username).await {
        Ok(u) => u,
        Err(e) => {
            tracing::error!("login: reading user failed: {e}");
            return reply(StatusCode::INTERNAL_SERVER_ERROR, "login.unavailable");
        }
    };
    // argon2 is deliberately slow: keep it off the async workers. Unknown users are checked
    // against a dummy hash so the response time does not reveal which usernames exist.
    let stored = user
        .as_ref()
        .map(|u| u.password_hash.clone())
        .unwrap_or_else(|| password::dummy_hash().to_string());
    let pw = form.password.clone();
    let matches = tokio::task::spawn_blocking(move || password::verify_password(&pw, &stored))
        .await
        .unwrap_or(false);
    let user = match user {
        Some(u) if matches && !u.disabled => u,
        other => {
            let reason = match other {
                None => "unknown_user",
                Some(u) if u.disabled => "disabled",
                Some(_) => "bad_password",
            };
            state
                .auth
                .limiter
                .record_failure(&username, client.as_deref(), now);
            audit_best_effort(
                store.as_ref(),
                &username,
                "auth.login_failed",
                &target,
                detail(reason),
            )
            .await;
            return reply(StatusCode::UNAUTHORIZED, "login.failed");
        }
    };
    state.auth.limiter.record_success(&username);
    let sid = password::random_hex32();
    let created = now_micros();
    let ttl = i64::try_from(state.auth.config.session_ttl.as_micros()).unwrap_or(i64::MAX);
    let session = Session {
        id_hash: hash_token(&sid),
        username: user.username.clone(),
        csrf_token: password::random_hex32(),
        created_at: created,
        last_seen_at: created,
        expires_at: created.saturating_add(ttl),
    };
    if let Err(e) = store.create_session(&session).await {
        tracing::error!("login: creating the session failed: {e}");
        return reply(StatusCode::INTERNAL_SERVER_ERROR, "login.unavailable");
    }
    audit_best_effort(
        store.as_ref(),
        &user.username,
        "auth.login",
        &target,
        detail("ok"),
    )
    .await;
    let mut res = Redirect::to(&next).into_response();
    let max_age = i64::try_from(state.auth.config.session_ttl.as_secs()).unwrap_or(i64::MAX);
    if let Some(c) = cookie_header(SESSION_COOKIE, &sid, "/", Some(max_age), secure) {
        res.headers_mut().append(header::SET_COOKIE, c);
    }
    if let Some(c) = cookie_header(LOGIN_CSRF_COOKIE, "", "/console/login", Some(0), secure) {
        res.headers_mut().append(header::SET_COOKIE, c);
    }
    res
}

async fn logout(State(state): State<AppState>, headers: HeaderMap, me: Principal) -> Response {
    if let Via::Session { id_hash, .. } = &me.via {
        if let Err(e) = state.store.delete_session(id_hash).await {
            tracing::error!("logout: deleting the session failed: {e}");
        }
        audit_best_effort(
            state.store.as_ref(),
            &me.username,
            "auth.logout",
            &format!("user:{}", me.username),
            serde_json::json!({}),
        )
        .await;
    }
    let mut res = Redirect::to("/console/login").into_response();
    let secure = secure_request(&state.auth.config, &headers);
    if let Some(c) = cookie_header(SESSION_COOKIE, "", "/", Some(0), secure) {
        res.headers_mut().append(header::SET_COOKIE, c);
    }
    res
}

/// Who the caller is and what they may do.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct Me {
    pub username: String,
    pub display_name: String,
    pub roles: Vec<String>,
    pub permissions: Vec<String>,
    /// `session` or `token`.
    pub via: String,
}

/// The caller's identity, roles and effective permissions (a token's scopes applied).
#[utoipa::path(get, path = "/v1/me", tag = "auth",
    responses(
        (status = 200, description = "The caller", body = Me),
        (status = 401, description = "No credentials", body = crate::error::ErrorBody),
    ))]
pub async fn me(me: Principal) -> Json<Me> {
    Json(Me {
        roles: me.roles.iter().map(|r| r.as_str().to_string()).collect(),
        permissions: me
            .permissions
            .iter()
            .map(|p: &Permission| p.as_str().to_string())
            .collect(),
        via: match me.via {
            Via::Session { .. } => "session",
            Via::Token { .. } => "token",
        }
        .to_string(),
        username: me.username,
        display_name: me.display_name,
    })
}

#[cfg(test)]
mod tests {
    use super::safe_next;

    #[test]
    fn next_never_leaves_the_console() {
        assert_eq!(
            safe_next(Some("/console/customers/C1?lang=en")),
            "/console/customers/C1?lang=en"
        );
        for bad in [
            "https://evil.example/",
            "//evil.example",
            "/consolex\\..",
            "/v1/me",
            "/console/login?next=x",
        ] {
            let got = safe_next(Some(bad));
            assert!(
                got == "/console/data" || got.starts_with("/consolex"),
                "{bad} -> {got}"
            );
        }
        assert_eq!(safe_next(Some("//evil.example")), "/console/data");
        assert_eq!(safe_next(None), "/console/data");
    }
}
