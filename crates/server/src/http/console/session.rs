//! Signing in to the console with the admin key, and the gate in front of every other page.
//!
//! A session is a random id kept in this process's memory and sent as an `HttpOnly`,
//! `SameSite=Strict` cookie (`Secure` under `--tls` or behind a proxy sending
//! `X-Forwarded-Proto: https`); it ends on sign-out, after
//! [`LIFETIME`], or when the server stops. Each session has its own CSRF token, which every POST
//! form carries and [`gate`] checks (in constant time, as the admin key) before the handler
//! runs. Sessions are not shared between instances: each one signs in on its own.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use axum::body::Body;
use axum::extract::{FromRequestParts, Request, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Redirect, Response};
use subtle::ConstantTimeEq;

use super::form::Form;
use super::layout::{self, Flash};
use super::{Console, Failure};

/// Name of the session cookie.
pub const COOKIE: &str = "b24lite_console";
/// How long a session lasts after signing in.
pub const LIFETIME: Duration = Duration::from_secs(12 * 3600);
/// Sessions kept at most; signing in past that ends the oldest.
const MAX_SESSIONS: usize = 256;
/// Largest form body the console reads.
const FORM_LIMIT: usize = 1024 * 1024;

/// The signed-in sessions of this process.
#[derive(Debug, Default)]
pub struct Sessions {
    entries: Mutex<HashMap<String, Entry>>,
}

#[derive(Debug)]
struct Entry {
    csrf: String,
    started: Instant,
    /// The message the next page shows once.
    flash: Option<Flash>,
}

/// The session of a request, as handlers see it.
#[derive(Debug, Clone)]
pub struct Session {
    pub id: String,
    /// The token every POST form of this session carries.
    pub csrf: String,
}

impl Sessions {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Entry>> {
        self.entries
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn start(&self) -> Session {
        let session = Session {
            id: b24lite_store::random::token(43),
            csrf: b24lite_store::random::token(43),
        };
        let mut entries = self.lock();
        entries.retain(|_, entry| entry.started.elapsed() < LIFETIME);
        if entries.len() >= MAX_SESSIONS {
            let oldest = entries
                .iter()
                .min_by_key(|(_, entry)| entry.started)
                .map(|(id, _)| id.clone());
            if let Some(id) = oldest {
                entries.remove(&id);
            }
        }
        let entry = Entry {
            csrf: session.csrf.clone(),
            started: Instant::now(),
            flash: None,
        };
        entries.insert(session.id.clone(), entry);
        session
    }

    fn find(&self, id: &str) -> Option<Session> {
        let entries = self.lock();
        let entry = entries
            .get(id)
            .filter(|entry| entry.started.elapsed() < LIFETIME)?;
        Some(Session {
            id: id.to_string(),
            csrf: entry.csrf.clone(),
        })
    }

    fn end(&self, id: &str) {
        self.lock().remove(id);
    }

    pub fn set_flash(&self, session: &Session, flash: Flash) {
        if let Some(entry) = self.lock().get_mut(&session.id) {
            entry.flash = Some(flash);
        }
    }

    pub fn take_flash(&self, session: &Session) -> Option<Flash> {
        self.lock().get_mut(&session.id)?.flash.take()
    }
}

/// The session id the request's cookie names, if any.
fn cookie_value(headers: &HeaderMap) -> Option<&str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(';'))
        .find_map(|pair| pair.trim().strip_prefix(COOKIE)?.strip_prefix('='))
}

fn session_of(console: &Console, headers: &HeaderMap) -> Option<Session> {
    console.sessions.find(cookie_value(headers)?)
}

/// Lets a request through to its page only with a live session, and a POST only with its
/// session's CSRF token; hands the handler the [`Session`] and, for a POST, the parsed [`Form`].
pub async fn gate(State(console): State<Console>, request: Request, next: Next) -> Response {
    let Some(session) = session_of(&console, request.headers()) else {
        return Redirect::to("/console/login").into_response();
    };
    let (mut parts, body) = request.into_parts();
    if parts.method == Method::POST {
        let form = match read_form(body).await {
            Ok(form) => form,
            Err(failure) => return failure.into_response(),
        };
        let given = form.get("csrf").unwrap_or_default();
        if !bool::from(given.as_bytes().ct_eq(session.csrf.as_bytes())) {
            let text = "This form was not sent from your console session (its CSRF token is \
                        missing or stale). Reload the page and try again.";
            let page = layout::message(StatusCode::FORBIDDEN, text);
            return (StatusCode::FORBIDDEN, page).into_response();
        }
        parts.extensions.insert(form);
        parts.extensions.insert(session);
        return next.run(Request::from_parts(parts, Body::empty())).await;
    }
    parts.extensions.insert(session);
    next.run(Request::from_parts(parts, body)).await
}

async fn read_form(body: Body) -> Result<Form, Failure> {
    let bytes = axum::body::to_bytes(body, FORM_LIMIT)
        .await
        .map_err(|_| Failure::BadInput("The form is larger than 1 MiB.".into()))?;
    Form::parse(&bytes)
}

/// The session [`gate`] found; a route outside the gate has none and is sent to sign in.
impl<S: Send + Sync> FromRequestParts<S> for Session {
    type Rejection = Redirect;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Session, Redirect> {
        parts
            .extensions
            .get::<Session>()
            .cloned()
            .ok_or_else(|| Redirect::to("/console/login"))
    }
}

/// `GET /console/login`: the sign-in form (or the overview, when already signed in).
pub async fn login_page(State(console): State<Console>, headers: HeaderMap) -> Response {
    if session_of(&console, &headers).is_some() {
        return Redirect::to("/console").into_response();
    }
    layout::login(None).into_response()
}

/// `POST /console/login` with `key`: starts a session when it is the admin key, else shows the
/// form again with 401.
pub async fn login(State(console): State<Console>, headers: HeaderMap, body: Body) -> Response {
    let form = match read_form(body).await {
        Ok(form) => form,
        Err(failure) => return failure.into_response(),
    };
    let given = form.get("key").unwrap_or_default();
    let admin_key = console.app.admin_key.as_bytes();
    if !bool::from(given.trim().as_bytes().ct_eq(admin_key)) {
        let page = layout::login(Some("That is not the admin key."));
        return (StatusCode::UNAUTHORIZED, page).into_response();
    }
    let session = console.sessions.start();
    let secure = if is_https(&console, &headers) {
        "; Secure"
    } else {
        ""
    };
    let cookie = format!(
        "{COOKIE}={}; Path=/console; HttpOnly; SameSite=Strict; Max-Age={}{secure}",
        session.id,
        LIFETIME.as_secs()
    );
    let mut response = Redirect::to("/console").into_response();
    if let Ok(value) = HeaderValue::from_str(&cookie) {
        response.headers_mut().insert(header::SET_COOKIE, value);
    }
    response
}

/// The browser reached the console over HTTPS: `--tls`, or a TLS proxy saying so.
fn is_https(console: &Console, headers: &HeaderMap) -> bool {
    console.app.config.tls
        || headers
            .get("x-forwarded-proto")
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.eq_ignore_ascii_case("https"))
}

/// `POST /console/logout`: ends the session and clears its cookie.
pub async fn logout(State(console): State<Console>, session: Session) -> Response {
    console.sessions.end(&session.id);
    let cookie = format!("{COOKIE}=; Path=/console; HttpOnly; SameSite=Strict; Max-Age=0");
    let mut response = Redirect::to("/console/login").into_response();
    if let Ok(value) = HeaderValue::from_str(&cookie) {
        response.headers_mut().insert(header::SET_COOKIE, value);
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_cookie_is_found_among_others() {
        let mut headers = HeaderMap::new();
        let cookies = format!("a=1; {COOKIE}=abc; b=2");
        headers.insert(header::COOKIE, HeaderValue::from_str(&cookies).unwrap());
        assert_eq!(cookie_value(&headers), Some("abc"));
        let other = format!("{COOKIE}x=abc");
        headers.insert(header::COOKIE, HeaderValue::from_str(&other).unwrap());
        assert_eq!(cookie_value(&headers), None);
    }

    #[test]
    fn sessions_end_and_carry_one_flash() {
        let sessions = Sessions::default();
        let session = sessions.start();
        assert_eq!(sessions.find(&session.id).unwrap().csrf, session.csrf);
        sessions.set_flash(&session, Flash::ok("done"));
        assert_eq!(sessions.take_flash(&session).unwrap().text, "done");
        assert!(sessions.take_flash(&session).is_none());
        sessions.end(&session.id);
        assert!(sessions.find(&session.id).is_none());
    }

    #[test]
    fn signing_in_past_the_cap_ends_the_oldest_session() {
        let sessions = Sessions::default();
        let first = sessions.start();
        for _ in 1..MAX_SESSIONS {
            sessions.start();
        }
        assert!(sessions.find(&first.id).is_some());
        sessions.start();
        assert!(sessions.find(&first.id).is_none());
        assert_eq!(sessions.lock().len(), MAX_SESSIONS);
    }
}
