//! Files of contact `file` fields, at the relative URLs `crm.contact.get` shows in `showUrl`
//! and `downloadUrl` (`/bitrix/components/bitrix/crm.contact.show/show_file.php?ownerId=..&
//! fieldName=..&dynamic=Y&fileId=..&token=..[&download=y]`), built by [`show_url`].
//!
//! A real portal serves these only to a logged-in browser session. b24lite has no sessions, so
//! the URL itself is the key: it carries a signature, `token`, the HMAC-SHA256 of
//! `ownerId|fieldName|fileId` under the portal's file secret (stored with the portal, so every
//! instance on one database signs alike), cut to 32 hex digits. Ids cannot be walked: without the
//! secret no other file's link can be made. The file is served only when the token matches and
//! contact `ownerId` holds `fileId` in field `fieldName`; anything else is the same 404, which
//! does not say what was wrong. `download=y` asks the browser to save the file instead of showing
//! it.

use axum::extract::{RawQuery, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use b24lite_core::params::{self, Params, as_php_int, as_php_string};
use b24lite_store::userfields::{self, Bind};
use b24lite_store::{AnyConnection, StoreError, contacts};
use ring::hmac;
use subtle::ConstantTimeEq;

use crate::state::AppState;

pub const SHOW_FILE_PATH: &str = "/bitrix/components/bitrix/crm.contact.show/show_file.php";

/// Bytes of the HMAC a link keeps: 128 bits, 32 hex digits.
const TOKEN_BYTES: usize = 16;

/// The `showUrl` of a stored file (`downloadUrl` adds `&download=y`). The token comes last, so
/// the URL begins as Bitrix24's does.
pub fn show_url(secret: &str, owner_id: i64, field_name: &str, file_id: i64) -> String {
    let token = link_token(secret, owner_id, field_name, file_id);
    format!(
        "{SHOW_FILE_PATH}?ownerId={owner_id}&fieldName={field_name}&dynamic=Y&fileId={file_id}\
         &token={token}"
    )
}

/// The signature of one file link: the HMAC-SHA256 of `ownerId|fieldName|fileId` under the
/// portal's file secret, its first [`TOKEN_BYTES`] in lowercase hex.
fn link_token(secret: &str, owner_id: i64, field_name: &str, file_id: i64) -> String {
    let key = hmac::Key::new(hmac::HMAC_SHA256, secret.as_bytes());
    let tag = hmac::sign(
        &key,
        format!("{owner_id}|{field_name}|{file_id}").as_bytes(),
    );
    hex::encode(&tag.as_ref()[..TOKEN_BYTES])
}

pub async fn show_file(State(state): State<AppState>, RawQuery(query): RawQuery) -> Response {
    let params = params::parse_form(query.unwrap_or_default().as_bytes()).unwrap_or_default();
    let mut conn = match state.store.pool().acquire().await {
        Ok(conn) => conn,
        Err(error) => return failure(error),
    };
    match find(&mut conn, &state.portal.file_secret, &params).await {
        Ok(Some((name, content))) => {
            let download = params
                .get("download")
                .and_then(as_php_string)
                .is_some_and(|d| d == "y");
            file_response(&name, content, download)
        }
        Ok(None) => (StatusCode::NOT_FOUND, "File not found").into_response(),
        Err(error) => failure(error),
    }
}

/// The file's name and bytes when the link's token is right and the contact really holds it in
/// that field.
async fn find(
    conn: &mut AnyConnection,
    secret: &str,
    params: &Params,
) -> Result<Option<(String, Vec<u8>)>, StoreError> {
    let number = |name: &str| params.get(name).map_or(0, as_php_int);
    let (contact_id, file_id) = (number("ownerId"), number("fileId"));
    let field_name = params
        .get("fieldName")
        .and_then(as_php_string)
        .unwrap_or_default();
    let token = params
        .get("token")
        .and_then(as_php_string)
        .unwrap_or_default();
    // Checked before any lookup, in constant time, so neither the answer nor its timing tells
    // how close a guess came.
    let expected = link_token(secret, contact_id, &field_name, file_id);
    if !bool::from(token.as_bytes().ct_eq(expected.as_bytes())) {
        return Ok(None);
    }
    let filter = [("field_name", Bind::Text(field_name))];
    let Some(field) = userfields::list_fields(conn, "CRM_CONTACT", &filter, &[])
        .await?
        .pop()
    else {
        return Ok(None);
    };
    let values = contacts::list_values(conn, &[contact_id]).await?;
    let held = values
        .iter()
        .any(|v| v.field_id == field.id && v.value == file_id.to_string());
    if field.user_type_id != "file" || !held {
        return Ok(None);
    }
    Ok(contacts::get_file(conn, file_id)
        .await?
        .map(|(file, content)| (file.name, content)))
}

fn file_response(name: &str, content: Vec<u8>, download: bool) -> Response {
    let disposition = if download { "attachment" } else { "inline" };
    let quoted: String = name
        .chars()
        .filter(|c| *c != '"' && !c.is_control())
        .collect();
    let mut response = content.into_response();
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/octet-stream"),
    );
    if let Ok(value) = HeaderValue::from_str(&format!("{disposition}; filename=\"{quoted}\"")) {
        headers.insert(header::CONTENT_DISPOSITION, value);
    }
    response
}

fn failure(error: impl std::fmt::Display) -> Response {
    tracing::error!(%error, "storage failure serving a file");
    StatusCode::INTERNAL_SERVER_ERROR.into_response()
}
