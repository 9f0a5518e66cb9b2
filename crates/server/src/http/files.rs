//! Files of contact `file` fields, at the relative URLs `crm.contact.get` shows in `showUrl`
//! and `downloadUrl` (`/bitrix/components/bitrix/crm.contact.show/show_file.php?ownerId=..&
//! fieldName=..&fileId=..[&download=y]`).
//!
//! A real portal serves these only to a logged-in browser session. b24lite has no sessions, so
//! the URL itself is the key: the file is served only when contact `ownerId` holds `fileId` in
//! field `fieldName`, so ids cannot be walked to read other files. `download=y` asks the browser
//! to save the file instead of showing it.

use axum::extract::{RawQuery, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use b24lite_core::params::{self, Params, as_php_int, as_php_string};
use b24lite_store::userfields::{self, Bind};
use b24lite_store::{AnyConnection, StoreError, contacts};

use crate::state::AppState;

pub const SHOW_FILE_PATH: &str = "/bitrix/components/bitrix/crm.contact.show/show_file.php";

pub async fn show_file(State(state): State<AppState>, RawQuery(query): RawQuery) -> Response {
    let params = params::parse_form(query.unwrap_or_default().as_bytes()).unwrap_or_default();
    let mut conn = match state.store.pool().acquire().await {
        Ok(conn) => conn,
        Err(error) => return failure(error),
    };
    match find(&mut conn, &params).await {
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

/// The file's name and bytes when the contact really holds it in that field.
async fn find(
    conn: &mut AnyConnection,
    params: &Params,
) -> Result<Option<(String, Vec<u8>)>, StoreError> {
    let number = |name: &str| params.get(name).map_or(0, as_php_int);
    let (contact_id, file_id) = (number("ownerId"), number("fileId"));
    let field_name = params
        .get("fieldName")
        .and_then(as_php_string)
        .unwrap_or_default();
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
