//! The OAuth 2.0 server (`rest-protocol.md` §11): b24lite plays both the portal and
//! `oauth.bitrix.info`, so `server_endpoint` in events and tokens points back here.
//!
//! - `GET /oauth/authorize/?client_id=...&state=...` redirects (302) to the application's handler
//!   URL with `code` (valid 30 s), `state`, `domain`, `member_id`, `scope`, `server_domain`.
//!   b24lite has no login page: the code is issued for `user_id` (an extension parameter),
//!   defaulting to the user who installed the application; an unknown or inactive user gets 400
//!   `invalid_request` "User not found" rather than a code whose tokens could never work.
//! - `GET|POST /oauth/token/` with `grant_type=authorization_code` (`code`) or `refresh_token`
//!   (`refresh_token`), plus `client_id` and `client_secret`. Both answers carry `expires` and
//!   `user_id` (the documented refresh answer has them; the code exchange gets them too, which no
//!   client minds). Errors use the OAuth codes with RFC 6749's statuses: 401 `invalid_client`,
//!   400 `invalid_grant` / `invalid_request` / `unsupported_grant_type`; a refresh for an
//!   application removed from the portal gets 402 `PAYMENT_REQUIRED`, as the authorization
//!   server answers it (statuses are undocumented; these are our choice).

use axum::Router;
use axum::body::Bytes;
use axum::extract::{RawQuery, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use b24lite_core::params::{self, Params, as_php_int, as_php_string};
use b24lite_store::apps::{self, App, TokenPair};
use b24lite_store::portal::{self, Portal};
use serde_json::json;

use crate::http::json::respond;
use crate::state::AppState;

/// Lifetime of an authorization code, in seconds.
pub const CODE_TTL: i64 = 30;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/oauth/authorize/", get(authorize))
        .route("/oauth/authorize", get(authorize))
        .route("/oauth/token/", get(token).post(token))
        .route("/oauth/token", get(token).post(token))
}

struct OAuthError {
    status: StatusCode,
    code: &'static str,
    description: &'static str,
}

impl IntoResponse for OAuthError {
    fn into_response(self) -> Response {
        respond(
            self.status,
            &json!({"error": self.code, "error_description": self.description}),
        )
    }
}

fn bad_request(code: &'static str, description: &'static str) -> OAuthError {
    OAuthError {
        status: StatusCode::BAD_REQUEST,
        code,
        description,
    }
}

fn server_error(error: impl std::fmt::Display) -> OAuthError {
    tracing::error!(%error, "storage failure in the OAuth server");
    OAuthError {
        status: StatusCode::INTERNAL_SERVER_ERROR,
        code: "server_error",
        description: "Internal server error",
    }
}

async fn authorize(
    State(state): State<AppState>,
    RawQuery(query): RawQuery,
) -> Result<Response, OAuthError> {
    let params = params::parse_form(query.unwrap_or_default().as_bytes())
        .map_err(|_| bad_request("invalid_request", "Malformed request"))?;
    let client_id = text(&params, "client_id");
    let mut conn = state.store.pool().acquire().await.map_err(server_error)?;
    let app = apps::find_by_client_id(&mut conn, &client_id)
        .await
        .map_err(server_error)?
        // An installation still waiting for `installFinish` counts: its installer page works
        // through REST (event.bind and the like) before it finishes, as on a portal.
        .filter(|app| app.installed)
        .ok_or(OAuthError {
            status: StatusCode::BAD_REQUEST,
            code: "invalid_client",
            description: "Application not installed",
        })?;
    // `user_id` stands for the user who would be logged in to the portal's authorize page.
    let user_id = match params.get("user_id") {
        Some(given) => as_php_int(given),
        None => app.install_user_id.unwrap_or(1),
    };
    let user = portal::get_user(&mut conn, user_id)
        .await
        .map_err(server_error)?;
    if !user.is_some_and(|user| user.active) {
        return Err(bad_request("invalid_request", "User not found"));
    }
    let code = apps::issue_code(&mut conn, app.id, user_id, state.clock.now(), CODE_TTL)
        .await
        .map_err(server_error)?;

    let redirect = form_urlencoded::Serializer::new(String::new())
        .append_pair("code", &code)
        .append_pair("state", &text(&params, "state"))
        .append_pair("domain", &state.portal.domain)
        .append_pair("member_id", &state.portal.member_id)
        .append_pair("scope", &app.scopes.join(","))
        .append_pair("server_domain", &state.portal.domain)
        .finish();
    let separator = if app.handler_url.contains('?') {
        '&'
    } else {
        '?'
    };
    let location = format!("{}{separator}{redirect}", app.handler_url);
    Ok((StatusCode::FOUND, [(header::LOCATION, location)]).into_response())
}

async fn token(
    State(state): State<AppState>,
    RawQuery(query): RawQuery,
    body: Bytes,
) -> Result<Response, OAuthError> {
    let malformed = |_| bad_request("invalid_request", "Malformed request");
    let mut params = params::parse_form(query.unwrap_or_default().as_bytes()).map_err(malformed)?;
    params::merge_over(&mut params, params::parse_form(&body).map_err(malformed)?);

    let mut tx = state.store.begin_write().await.map_err(server_error)?;
    let app = authenticate_client(&mut tx, &params).await?;
    let now = state.clock.now();
    let lifetimes = state.config.token_lifetimes();
    let pair = match text(&params, "grant_type").as_str() {
        "authorization_code" => {
            let user_id = apps::redeem_code(&mut tx, app.id, &text(&params, "code"), now)
                .await
                .map_err(server_error)?
                .ok_or(bad_request("invalid_grant", "Invalid authorization code"))?;
            apps::issue_tokens(&mut tx, app.id, user_id, now, lifetimes)
                .await
                .map_err(server_error)?
        }
        "refresh_token" => apps::refresh(
            &mut tx,
            app.id,
            &text(&params, "refresh_token"),
            now,
            lifetimes,
        )
        .await
        .map_err(server_error)?
        .ok_or(bad_request("invalid_grant", "Invalid refresh token"))?,
        "" => return Err(bad_request("invalid_request", "grant_type is required")),
        _ => {
            return Err(bad_request(
                "unsupported_grant_type",
                "Unsupported grant type",
            ));
        }
    };
    tx.commit().await.map_err(server_error)?;
    let answer = token_answer(&state.portal, &app, &pair, state.config.access_token_ttl);
    Ok(respond(StatusCode::OK, &answer))
}

async fn authenticate_client(
    conn: &mut b24lite_store::AnyConnection,
    params: &Params,
) -> Result<App, OAuthError> {
    let invalid = OAuthError {
        status: StatusCode::UNAUTHORIZED,
        code: "invalid_client",
        description: "Invalid client",
    };
    let app = apps::find_by_client_id(conn, &text(params, "client_id"))
        .await
        .map_err(server_error)?;
    let app = app.ok_or(invalid)?;
    let secret = text(params, "client_secret");
    let matches: bool =
        subtle::ConstantTimeEq::ct_eq(app.client_secret.as_bytes(), secret.as_bytes()).into();
    if !matches {
        return Err(OAuthError {
            status: StatusCode::UNAUTHORIZED,
            code: "invalid_client",
            description: "Invalid client",
        });
    }
    if !app.installed {
        // The authorization server tells a removed application's refresh apart (§11.6); a code
        // exchange for it is just an unknown client.
        return Err(if text(params, "grant_type") == "refresh_token" {
            payment_required()
        } else {
            OAuthError {
                status: StatusCode::UNAUTHORIZED,
                code: "invalid_client",
                description: "Invalid client",
            }
        });
    }
    Ok(app)
}

/// `PAYMENT_REQUIRED`: what a refresh gets once the application is removed from the portal
/// (`rest-protocol.md` §11.6). The status is not documented; 402 is our choice.
fn payment_required() -> OAuthError {
    OAuthError {
        status: StatusCode::PAYMENT_REQUIRED,
        code: "PAYMENT_REQUIRED",
        description: "Payment required",
    }
}

/// The token answer, keys in the order the authorization server sends them (the same as in an
/// event's `auth` block; the documentation's examples list them sorted). b24lite is its own
/// authorization server, so `domain` and both endpoints name the portal.
pub fn token_answer(
    portal: &Portal,
    app: &App,
    pair: &TokenPair,
    expires_in: i64,
) -> serde_json::Value {
    let endpoint = format!("{}/rest/", portal.base_url);
    json!({
        "access_token": pair.access_token,
        "expires": pair.access_expires_at,
        "expires_in": expires_in,
        "scope": app.scopes.join(","),
        "domain": portal.domain,
        "server_endpoint": endpoint,
        "status": app.status,
        "client_endpoint": endpoint,
        "member_id": portal.member_id,
        "user_id": pair.user_id,
        "refresh_token": pair.refresh_token,
    })
}

fn text(params: &Params, name: &str) -> String {
    params.get(name).and_then(as_php_string).unwrap_or_default()
}
