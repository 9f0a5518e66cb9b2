//! The body of a delivery, exactly as a Bitrix24 handler receives it (`events.md` §6).
//!
//! The tree is built in the wire's key order (`event`, `event_handler_id`, `data`, `ts`, `auth`)
//! and encoded with PHP's `http_build_query` rules (decision 25): brackets percent-encoded,
//! spaces as `+`, every value a string of digits or text. `ts` is the Unix second the request is
//! sent, taken by the caller just before sending. An outgoing webhook's `auth` block holds
//! exactly `domain`, `client_endpoint`, `server_endpoint`, `member_id`, `application_token`, in
//! that order (fact 80); b24lite is its own OAuth server, so `server_endpoint` is its `/rest/`.

use b24lite_core::events::AuthBlock;
use b24lite_core::wire::http_build_query;
use serde_json::{Map, Value, json};

/// The portal half of an `auth` block, the same for every delivery of a server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Portal {
    pub domain: String,
    pub client_endpoint: String,
    pub server_endpoint: String,
    pub member_id: String,
}

/// The tree of one delivery to an outgoing webhook.
pub fn webhook_tree(
    event: &str,
    handler_id: i64,
    data: &Value,
    ts: i64,
    portal: &Portal,
    application_token: &str,
) -> Value {
    let mut tree = Map::new();
    tree.insert("event".into(), json!(event));
    tree.insert("event_handler_id".into(), json!(handler_id.to_string()));
    tree.insert("data".into(), data.clone());
    tree.insert("ts".into(), json!(ts.to_string()));
    tree.insert(
        "auth".into(),
        json!({
            "domain": portal.domain,
            "client_endpoint": portal.client_endpoint,
            "server_endpoint": portal.server_endpoint,
            "member_id": portal.member_id,
            "application_token": application_token,
        }),
    );
    Value::Object(tree)
}

/// Tokens minted for one delivery to an application, for the user behind it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AppTokens {
    pub access_token: String,
    pub expires: i64,
    pub expires_in: i64,
    pub user_id: i64,
    /// Sent only with the events that ask for it ([`AuthBlock::TokensWithRefresh`]).
    pub refresh_token: Option<String>,
}

/// What an application's `auth` block holds besides the portal.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AppAuth<'a> {
    /// The event's kind of block: [`AuthBlock::PortalOnly`] leaves out tokens, scope and status.
    pub shape: AuthBlock,
    /// Absent when no user is behind the change: the block then has no token keys (decision 26).
    pub tokens: Option<AppTokens>,
    pub scope: String,
    pub status: &'a str,
    pub application_token: &'a str,
}

/// The tree of one delivery to an application's handler. The `auth` keys follow a real
/// capture's order (fact 79); `refresh_token`, when the event sends one, goes just before
/// `application_token`, as in the documented examples; the user-field events carry none (fact
/// 81). `ONAPPUNINSTALL` gets the portal keys only, in its documented order (`events.md` §9.3).
pub fn app_tree(
    event: &str,
    handler_id: i64,
    data: &Value,
    ts: i64,
    portal: &Portal,
    auth: &AppAuth,
) -> Value {
    let block = match auth.shape {
        AuthBlock::PortalOnly => json!({
            "domain": portal.domain,
            "server_endpoint": portal.server_endpoint,
            "client_endpoint": portal.client_endpoint,
            "member_id": portal.member_id,
            "application_token": auth.application_token,
        }),
        AuthBlock::Tokens | AuthBlock::TokensWithRefresh => token_block(portal, auth),
    };
    let mut tree = webhook_tree(event, handler_id, data, ts, portal, auth.application_token);
    tree["auth"] = block;
    tree
}

fn token_block(portal: &Portal, auth: &AppAuth) -> Value {
    let mut block = Map::new();
    if let Some(tokens) = &auth.tokens {
        block.insert("access_token".into(), json!(tokens.access_token));
        block.insert("expires".into(), json!(tokens.expires.to_string()));
        block.insert("expires_in".into(), json!(tokens.expires_in.to_string()));
    }
    block.insert("scope".into(), json!(auth.scope));
    block.insert("domain".into(), json!(portal.domain));
    block.insert("server_endpoint".into(), json!(portal.server_endpoint));
    block.insert("status".into(), json!(auth.status));
    block.insert("client_endpoint".into(), json!(portal.client_endpoint));
    block.insert("member_id".into(), json!(portal.member_id));
    if let Some(tokens) = &auth.tokens {
        block.insert("user_id".into(), json!(tokens.user_id.to_string()));
        if let Some(refresh_token) = &tokens.refresh_token {
            block.insert("refresh_token".into(), json!(refresh_token));
        }
    }
    block.insert("application_token".into(), json!(auth.application_token));
    Value::Object(block)
}

/// The form body of one delivery to an outgoing webhook.
pub fn webhook_body(
    event: &str,
    handler_id: i64,
    data: &Value,
    ts: i64,
    portal: &Portal,
    application_token: &str,
) -> String {
    http_build_query(&webhook_tree(
        event,
        handler_id,
        data,
        ts,
        portal,
        application_token,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn portal() -> Portal {
        Portal {
            domain: "some-domain.bitrix24.com".into(),
            client_endpoint: "https://some-domain.bitrix24.com/rest/".into(),
            server_endpoint: "https://oauth.bitrix.info/rest/".into(),
            member_id: "d897063e1ce7c5eb9f04b9751eef5915".into(),
        }
    }

    #[test]
    fn matches_the_documented_webhook_example() {
        let data = json!({"FIELDS": {"ID": 7405}});
        let body = webhook_body(
            "ONCRMDEALADD",
            975,
            &data,
            1766047124,
            &portal(),
            "jvh9y1ulvt2m6k5or90v9mg8nn32ozas",
        );
        assert_eq!(
            body,
            "event=ONCRMDEALADD&event_handler_id=975&data%5BFIELDS%5D%5BID%5D=7405\
             &ts=1766047124&auth%5Bdomain%5D=some-domain.bitrix24.com\
             &auth%5Bclient_endpoint%5D=https%3A%2F%2Fsome-domain.bitrix24.com%2Frest%2F\
             &auth%5Bserver_endpoint%5D=https%3A%2F%2Foauth.bitrix.info%2Frest%2F\
             &auth%5Bmember_id%5D=d897063e1ce7c5eb9f04b9751eef5915\
             &auth%5Bapplication_token%5D=jvh9y1ulvt2m6k5or90v9mg8nn32ozas"
        );

        // Decoded with PHP's rules it is the spec's JSON view: every value a string.
        let view = b24lite_core::params::parse_form(body.as_bytes()).unwrap();
        assert_eq!(
            Value::Object(view),
            json!({
                "event": "ONCRMDEALADD",
                "event_handler_id": "975",
                "data": {"FIELDS": {"ID": "7405"}},
                "ts": "1766047124",
                "auth": {
                    "domain": "some-domain.bitrix24.com",
                    "client_endpoint": "https://some-domain.bitrix24.com/rest/",
                    "server_endpoint": "https://oauth.bitrix.info/rest/",
                    "member_id": "d897063e1ce7c5eb9f04b9751eef5915",
                    "application_token": "jvh9y1ulvt2m6k5or90v9mg8nn32ozas"
                }
            })
        );
    }
}
