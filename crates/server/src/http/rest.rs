//! `/rest/...`: turns an HTTP request into a call of the REST protocol and the answer back.
//!
//! URL forms (`rest-protocol.md` §3): `/rest/{method}` (OAuth, token in `auth` or a Bearer
//! header) and `/rest/{user_id}/{token}/{method}` (incoming webhook); the method may end in
//! `.json` or `.xml` (any case; `.xml` answers in XML, see [`crate::http::xml`]), and a trailing
//! slash is accepted. Parameters come from the query string and from the body (form, multipart
//! or JSON), the body winning on a clash (decision 4).
//!
//! Order of checks, as Bitrix24 runs them: HTTP method (only GET, POST and HEAD; others get 405
//! `INVALID_REQUEST`, a choice of ours: Bitrix24 documents none), HTTPS when required, method
//! exists (404), body decoding (400, or 413 over `--body-limit`), credentials (401), request
//! rate (503), operating time (429), scope (403), then the method.
//!
//! FIXME(#2): a request line holding a raw `<`, `>` or `"` in its query (`filter[>ID]=5` sent
//! unencoded) never gets here: hyper's URI parser answers it with an empty 400, where a portal
//! behind nginx would take it.
//!
//! Logging: one span per request carrying the method name (only when it names a registered
//! method, so a token pasted into the wrong place never reaches the log), the user, the status
//! and the latency. Paths, parameters and bodies are never logged.

use std::sync::Arc;

use axum::body::{Body, to_bytes};
use axum::extract::{Request, State};
use axum::http::{HeaderMap, Method, StatusCode, header};
use axum::response::Response;
use b24lite_core::RestError;
use b24lite_core::params::{self, Params, as_php_string};
use serde_json::Value;
use tracing::Instrument;

use crate::http::json::{respond, respond_bytes};
use crate::http::xml;
use crate::rest::auth::{self, Route};
use crate::rest::context::RequestInfo;
use crate::rest::envelope::{Envelope, Timing, time_block};
use crate::rest::{CallContext, MethodOutput};
use crate::state::AppState;

/// The parsed target of a REST URL.
#[derive(Debug, PartialEq, Eq)]
struct Target {
    route: Route,
    method: String,
    format: Format,
}

pub async fn handle(State(state): State<AppState>, request: Request) -> Response {
    let started = state.clock.now_f64();
    let target = parse_path(request.uri().path());
    let format = target.as_ref().map_or(Format::Json, |t| t.format);
    // Only a registered method name is logged: anything else in that place of the URL could be
    // a secret pasted in the wrong spot.
    let logged_method = target
        .as_ref()
        .and_then(|t| state.registry.get(&t.method))
        .map_or("-", |spec| spec.name);
    let span = tracing::info_span!("rest", method = logged_method, user = tracing::field::Empty);
    async move {
        let outcome = match target {
            Some(target) => call(&state, target, request, started).await,
            None => Err(RestError::method_not_found()),
        };
        let response = match (outcome, format) {
            (Ok(envelope), Format::Json) => respond_bytes(StatusCode::OK, envelope.to_php_json()),
            (Ok(envelope), Format::Xml) => xml::respond(StatusCode::OK, &envelope.into_tree()),
            (Err(error), format) => render_error(format, &error),
        };
        let response = with_allow_on_405(response);
        let latency_ms = (state.clock.now_f64() - started) * 1000.0;
        tracing::info!(status = response.status().as_u16(), latency_ms, "rest call");
        response
    }
    .instrument(span)
    .await
}

/// The HTTP methods `/rest/...` serves.
const ALLOWED_METHODS: &str = "GET, POST, HEAD";

/// A 405 names the methods that would have been served, as HTTP requires of it (RFC 9110
/// §15.5.6); at the top level only a refused HTTP method answers 405.
fn with_allow_on_405(mut response: Response) -> Response {
    if response.status() == StatusCode::METHOD_NOT_ALLOWED {
        response.headers_mut().insert(
            header::ALLOW,
            axum::http::HeaderValue::from_static(ALLOWED_METHODS),
        );
    }
    response
}

/// `/rest` and `/rest/` name no method.
pub async fn no_method() -> Response {
    error_response(&RestError::method_not_found())
}

pub fn error_response(error: &RestError) -> Response {
    render_error(Format::Json, error)
}

fn render_error(format: Format, error: &RestError) -> Response {
    let status = StatusCode::from_u16(error.status).unwrap_or(StatusCode::BAD_REQUEST);
    let body = error.to_json();
    match format {
        Format::Json => respond(status, &body),
        Format::Xml => xml::respond(status, &body),
    }
}

/// Splits `/rest/{method}` or `/rest/{user_id}/{token}/{method}` (percent-decoded), dropping a
/// trailing slash and a `.json` / `.xml` suffix (any letter case).
fn parse_path(path: &str) -> Option<Target> {
    let path = path.strip_prefix("/rest/")?;
    let segments: Vec<String> = path
        .trim_end_matches('/')
        .split('/')
        .map(params::decode_path_segment)
        .collect::<Option<_>>()?;
    let (route, method) = match segments.as_slice() {
        [method] => (Route::OAuth, method),
        [user_id, token, method] => (
            Route::Webhook {
                user_id: user_id.clone(),
                token: token.clone(),
            },
            method,
        ),
        _ => return None,
    };
    let (method, format) = split_format(method);
    if method.is_empty() {
        return None;
    }
    Some(Target {
        route,
        method: method.to_string(),
        format,
    })
}

/// The response format a method-name suffix asks for (`rest-protocol.md` §3.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Json,
    Xml,
}

fn split_format(method: &str) -> (&str, Format) {
    for (suffix, format) in [(".json", Format::Json), (".xml", Format::Xml)] {
        let cut = method.len().saturating_sub(suffix.len());
        if method
            .get(cut..)
            .is_some_and(|end| end.eq_ignore_ascii_case(suffix))
        {
            return (&method[..cut], format);
        }
    }
    (method, Format::Json)
}

async fn call(
    state: &AppState,
    target: Target,
    request: Request,
    started: f64,
) -> Result<Envelope, RestError> {
    preflight(state, &target, &request)?;
    let (query, body) = read_params(state, request).await?;
    let (mut params, access_token) = merge_params(query, body);
    let caller = auth::authenticate(state, &target.route, access_token.as_deref()).await?;
    tracing::Span::current().record("user", caller.user.id);
    let limit_key = caller.limit_key();
    state.limits.admit(&limit_key, started).await?;
    state
        .limits
        .check_operating(&limit_key, &target.method, started)
        .await?;

    let ctx = call_context(state, caller, &mut params);
    let output: MethodOutput = state.registry.call(ctx, &target.method, params).await?;

    let finish = state.clock.now_f64();
    // The outer `batch` is not counted in operating time; its sub-calls are (§10.3).
    let operating = if target.method.eq_ignore_ascii_case("batch") {
        None
    } else {
        let limits = &state.limits;
        limits
            .record_operating(&limit_key, &target.method, started, finish - started)
            .await;
        Some(limits.operating(&limit_key, &target.method, finish).await)
    };
    let timing = Timing {
        start: started,
        finish,
        operating,
    };
    Ok(Envelope::new(
        output,
        time_block(&timing, state.config.utc_offset),
    ))
}

/// Checks that need neither the body nor credentials: the HTTP method, HTTPS, and (as Bitrix24
/// does) whether the method exists at all.
fn preflight(state: &AppState, target: &Target, request: &Request) -> Result<(), RestError> {
    if !matches!(*request.method(), Method::GET | Method::POST | Method::HEAD) {
        return Err(RestError::new(
            405,
            "INVALID_REQUEST",
            format!(
                "HTTP method {} is not supported; use GET or POST",
                request.method()
            ),
        ));
    }
    if state.config.require_https && !is_https(state, request.headers()) {
        return Err(RestError::https_required());
    }
    if state.registry.get(&target.method).is_none() {
        return Err(RestError::method_not_found());
    }
    Ok(())
}

/// The method's parameters (body over query, `auth` removed) and the OAuth token: `auth` in the
/// query, else in the body, else a Bearer header (decision 3).
fn merge_params(query: Params, body: BodyParams) -> (Params, Option<String>) {
    // An empty `auth` carries no token, so it does not hide one from a later source (decision
    // 3); PHP's merged request would have used the body's in that case too.
    let access_token = [query.get("auth"), body.params.get("auth")]
        .into_iter()
        .flatten()
        .filter_map(as_php_string)
        .chain(body.bearer)
        .find(|token| !token.is_empty());
    let mut params = query;
    params::merge_over(&mut params, body.params);
    // Removed in place: the other parameters keep their order, as PHP's unset leaves it (the
    // order `event.test` echoes them in).
    params.shift_remove("auth");
    (params, access_token)
}

/// The context of a call. Like `auth`, `auth_connector` belongs to the request, not to the
/// method (the server code clears both), so it moves from the parameters into the context.
fn call_context(state: &AppState, caller: crate::rest::Caller, params: &mut Params) -> CallContext {
    let auth_connector = params
        .shift_remove("auth_connector")
        .as_ref()
        .and_then(as_php_string)
        .filter(|c| !c.is_empty());
    CallContext {
        state: state.clone(),
        caller: Arc::new(caller),
        request: Arc::new(RequestInfo {
            request_id: b24lite_store::random::hex(16),
            auth_connector,
            in_batch: false,
        }),
    }
}

fn is_https(state: &AppState, headers: &HeaderMap) -> bool {
    state.config.tls
        || headers
            .get("x-forwarded-proto")
            .and_then(|v| v.to_str().ok())
            .is_some_and(|proto| proto.eq_ignore_ascii_case("https"))
}

struct BodyParams {
    params: Params,
    bearer: Option<String>,
}

/// Decodes the query string and the body. Errors are Bitrix24-style: 413 for an oversized body,
/// 400 `INVALID_REQUEST` for one that cannot be decoded.
async fn read_params(
    state: &AppState,
    request: Request,
) -> Result<(Params, BodyParams), RestError> {
    let malformed =
        |e: params::ParamsError| RestError::invalid_request(format!("Malformed request: {e}"));
    let query =
        params::parse_form(request.uri().query().unwrap_or("").as_bytes()).map_err(malformed)?;
    let headers = request.headers();
    let bearer = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        // The scheme name is case-insensitive (RFC 9110 §11.1): `BEARER x` is a Bearer token too.
        .and_then(|v| {
            let (scheme, token) = v.trim_start().split_once(' ')?;
            scheme.eq_ignore_ascii_case("bearer").then_some(token)
        })
        .map(|token| token.trim().to_string());
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_ascii_lowercase();

    // A declared length over the limit is refused before any of the body is read, so a client
    // that waits on `Expect: 100-continue` (curl does for large bodies) never sends it and
    // always reads the 413.
    let limit = state.config.body_limit;
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok());
    if declared.is_some_and(|length| length > limit as u64) {
        return Err(too_large(limit));
    }
    let params = if content_type.starts_with("multipart/form-data") {
        read_multipart(request, limit).await?
    } else {
        let bytes = read_body(request.into_body(), limit).await?;
        if bytes.iter().all(u8::is_ascii_whitespace) {
            Params::new()
        } else if content_type.contains("json") {
            parse_json_body(&bytes)?
        } else {
            params::parse_form(&bytes).map_err(malformed)?
        }
    };
    Ok((query, BodyParams { params, bearer }))
}

async fn read_body(body: Body, limit: usize) -> Result<axum::body::Bytes, RestError> {
    to_bytes(body, limit)
        .await
        .map_err(|error| body_failure(&error, limit))
}

/// Why a body could not be read: it stalled past `--request-timeout` (408), the connection broke
/// (400), or it is larger than the limit (413).
fn body_failure(error: &(dyn std::error::Error + 'static), limit: usize) -> RestError {
    let mut cause = Some(error);
    while let Some(current) = cause {
        if current.is::<tower_http::timeout::TimeoutError>() {
            return RestError::new(
                408,
                "INVALID_REQUEST",
                "The request body stopped arriving before it was complete",
            );
        }
        if current.is::<http_body_util::LengthLimitError>() {
            return too_large(limit);
        }
        cause = current.source();
    }
    RestError::invalid_request(format!(
        "Malformed request: the body could not be read ({error})"
    ))
}

fn too_large(limit: usize) -> RestError {
    RestError::new(
        413,
        "INVALID_REQUEST",
        format!("Request body is larger than {limit} bytes"),
    )
}

fn parse_json_body(bytes: &[u8]) -> Result<Params, RestError> {
    match serde_json::from_slice::<Value>(bytes) {
        Ok(Value::Object(map))
            if map
                .values()
                .any(|v| params::nested_deeper_than(v, params::MAX_NESTING)) =>
        {
            Err(RestError::invalid_request(format!(
                "Malformed request: parameters are nested deeper than {} levels",
                params::MAX_NESTING
            )))
        }
        Ok(Value::Object(map)) => Ok(map),
        Ok(Value::Array(items)) if items.is_empty() => Ok(Params::new()),
        Ok(_) => Err(RestError::invalid_request(
            "Malformed request: the JSON body must be an object",
        )),
        Err(error) => Err(RestError::invalid_request(format!(
            "Malformed request: invalid JSON ({error})"
        ))),
    }
}

/// `multipart/form-data`: every text part is a form pair with a PHP-style name.
async fn read_multipart(request: Request, limit: usize) -> Result<Params, RestError> {
    use axum::extract::FromRequest;
    let bad =
        |e: &dyn std::fmt::Display| RestError::invalid_request(format!("Malformed request: {e}"));
    let failed = |e: axum::extract::multipart::MultipartError| {
        if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
            too_large(limit)
        } else {
            body_failure(&e, limit)
        }
    };
    let request = request.map(|body| Body::new(http_body_util::Limited::new(body, limit)));
    let mut multipart = axum::extract::Multipart::from_request(request, &())
        .await
        .map_err(|e| bad(&e))?;
    let mut pairs = Vec::new();
    while let Some(field) = multipart.next_field().await.map_err(failed)? {
        let name = field.name().unwrap_or_default().to_string();
        let value = field.text().await.map_err(failed)?;
        pairs.push((name, value));
    }
    let encoded = form_urlencoded::Serializer::new(String::new())
        .extend_pairs(pairs)
        .finish();
    params::parse_form(encoded.as_bytes()).map_err(|e| bad(&e))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn url_forms() {
        let oauth = parse_path("/rest/user.current.json").unwrap();
        assert_eq!(
            oauth,
            Target {
                route: Route::OAuth,
                method: "user.current".into(),
                format: Format::Json,
            }
        );
        let hook = parse_path("/rest/1/abc/crm.contact.userfield.list/").unwrap();
        assert_eq!(
            hook.route,
            Route::Webhook {
                user_id: "1".into(),
                token: "abc".into()
            }
        );
        assert_eq!(hook.method, "crm.contact.userfield.list");
        let xml = parse_path("/rest/1/abc/Batch.XML").unwrap();
        assert_eq!((xml.method.as_str(), xml.format), ("Batch", Format::Xml));
        assert_eq!(parse_path("/rest/pro%66ile").unwrap().method, "profile");
        assert_eq!(parse_path("/rest/1/abc/"), None);
        assert_eq!(parse_path("/rest/1/abc/.json"), None);
        assert_eq!(parse_path("/rest/a/b/c/d"), None);
        assert_eq!(parse_path("/rest/"), None);
        assert_eq!(parse_path("/rest/pro%FFfile"), None);
    }
}
