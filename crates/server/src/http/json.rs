//! JSON responses with Bitrix24's content type, written by [`b24lite_core::php_json`].

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use b24lite_core::php_json::to_php_json;
use serde_json::Value;

/// A JSON response of a value.
pub fn respond(status: StatusCode, value: &Value) -> Response {
    respond_bytes(status, to_php_json(value))
}

/// A JSON response of bytes already encoded the PHP way.
pub fn respond_bytes(status: StatusCode, body: Vec<u8>) -> Response {
    let mut response = (status, body).into_response();
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json; charset=utf-8"),
    );
    response
}
