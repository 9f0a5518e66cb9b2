//! The Bitrix24 error envelope: `{"error": CODE, "error_description": TEXT}` plus an HTTP status.
//!
//! Codes and texts are part of the wire interface and are spelled exactly as Bitrix24 sends them
//! (`rest-protocol.md` §9, `decisions.md`). Many CRM errors carry an *empty* code with status 400;
//! [`RestError::crm`] builds those.

use serde_json::{Map, Value};

/// A failed REST call, ready to be rendered as the error envelope.
#[derive(Debug, Clone, PartialEq)]
pub struct RestError {
    /// HTTP status of the response.
    pub status: u16,
    /// The `error` key; may be empty.
    pub code: String,
    /// The `error_description` key.
    pub description: String,
    /// Extra top-level keys some exceptions add (for example `argument` on `ERROR_ARGUMENT`).
    /// Boxed: almost every error has none, and results stay small.
    pub extra: Option<Box<Map<String, Value>>>,
}

impl RestError {
    pub fn new(status: u16, code: impl Into<String>, description: impl Into<String>) -> Self {
        RestError {
            status,
            code: code.into(),
            description: description.into(),
            extra: None,
        }
    }

    /// An error the CRM module throws without a code: HTTP 400, `"error": ""`.
    pub fn crm(description: impl Into<String>) -> Self {
        RestError::new(400, "", description)
    }

    /// Adds an extra top-level key to the envelope.
    pub fn with_extra(mut self, key: &str, value: impl Into<Value>) -> Self {
        self.extra
            .get_or_insert_default()
            .insert(key.to_string(), value.into());
        self
    }

    /// The JSON envelope body.
    pub fn to_json(&self) -> Value {
        let mut body = Map::new();
        body.insert("error".into(), Value::String(self.code.clone()));
        body.insert(
            "error_description".into(),
            Value::String(self.description.clone()),
        );
        for (key, value) in self.extra.iter().flat_map(|extra| extra.iter()) {
            body.insert(key.clone(), value.clone());
        }
        Value::Object(body)
    }

    // ---- System errors (rest-protocol.md §9.2, decisions.md 1-10) ----

    pub fn method_not_found() -> Self {
        RestError::new(404, "ERROR_METHOD_NOT_FOUND", "Method not found!")
    }

    pub fn no_auth_found() -> Self {
        RestError::new(401, "NO_AUTH_FOUND", "Wrong authorization data")
    }

    pub fn invalid_credentials() -> Self {
        RestError::new(401, "INVALID_CREDENTIALS", "Invalid request credentials")
    }

    pub fn invalid_token() -> Self {
        RestError::new(
            401,
            "invalid_token",
            "The access token provided is invalid.",
        )
    }

    pub fn expired_token() -> Self {
        RestError::new(
            401,
            "expired_token",
            "The access token provided has expired.",
        )
    }

    pub fn insufficient_scope() -> Self {
        RestError::new(403, "insufficient_scope", "")
    }

    pub fn https_required() -> Self {
        RestError::new(401, "INVALID_REQUEST", "Https required.")
    }

    pub fn invalid_request(description: impl Into<String>) -> Self {
        RestError::new(400, "INVALID_REQUEST", description)
    }

    pub fn query_limit_exceeded() -> Self {
        RestError::new(503, "QUERY_LIMIT_EXCEEDED", "Too many requests")
    }

    pub fn operation_time_limit() -> Self {
        RestError::new(
            429,
            "OPERATION_TIME_LIMIT",
            "Method is blocked due to operation time limit.",
        )
    }

    pub fn internal() -> Self {
        RestError::new(500, "INTERNAL_SERVER_ERROR", "Internal server error")
    }

    pub fn wrong_auth_type() -> Self {
        RestError::new(
            403,
            "WRONG_AUTH_TYPE",
            "Current authorization type is denied for this method",
        )
    }

    pub fn batch_length_exceeded() -> Self {
        RestError::new(
            400,
            "ERROR_BATCH_LENGTH_EXCEEDED",
            "Max batch length exceeded",
        )
    }

    pub fn batch_method_not_allowed() -> Self {
        RestError::new(
            405,
            "ERROR_BATCH_METHOD_NOT_ALLOWED",
            "Method is not allowed for batch usage",
        )
    }

    /// `ERROR_ARGUMENT` as the REST module's argument exceptions render it.
    pub fn argument(argument: &str, description: impl Into<String>) -> Self {
        RestError::new(400, "ERROR_ARGUMENT", description).with_extra("argument", argument)
    }

    /// `Argument 'X' is null or empty` for a missing required argument.
    pub fn argument_null(argument: &str) -> Self {
        RestError::argument(argument, format!("Argument '{argument}' is null or empty"))
    }

    /// Bitrix24's `ACCESS_DENIED` with HTTP 403 (system and `event.*` methods).
    pub fn access_denied(description: impl Into<String>) -> Self {
        RestError::new(403, "ACCESS_DENIED", description)
    }
}

impl std::fmt::Display for RestError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {}: {}", self.status, self.code, self.description)
    }
}

impl std::error::Error for RestError {}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn envelope_keeps_key_order_and_extras() {
        let error = RestError::argument_null("EVENT");
        assert_eq!(error.status, 400);
        assert_eq!(
            serde_json::to_string(&error.to_json()).unwrap(),
            r#"{"error":"ERROR_ARGUMENT","error_description":"Argument 'EVENT' is null or empty","argument":"EVENT"}"#
        );
    }

    #[test]
    fn crm_errors_have_an_empty_code() {
        assert_eq!(
            RestError::crm("Access denied.").to_json(),
            json!({"error": "", "error_description": "Access denied."})
        );
    }
}
