//! Values of `file` fields: `{"fileData": ["name.ext", "<base64>"]}` uploads are stored (in the
//! database, so every instance sees them) and replaced by the new file's id; `{"id": n}` or a
//! bare id keeps an existing file. Reads show `{"id", "showUrl", "downloadUrl"}` with
//! Bitrix24's relative contact file URLs, which `http/files.rs` serves. Each URL also carries a
//! signature (`&token=`) made with the portal's file secret, so ids cannot be walked to fetch
//! other files.
//!
//! Values are read in full before anything is stored ([`parse`]): an upload without a name or
//! with malformed base64, or an id that is not a positive integer, refuses the whole call.

use b24lite_core::RestError;
use b24lite_core::params::{as_php_string, php_array_values};
use b24lite_store::Tx;
use b24lite_store::contacts;
use b24lite_store::userfields::FieldDef;
use serde_json::{Value, json};

use super::values::Invalid;
use crate::rest::auth::internal;

/// One value of a `file` field, read but not yet stored.
#[derive(Debug, Clone, PartialEq)]
pub enum FileValue {
    Existing(i64),
    Upload { name: String, content: Vec<u8> },
}

/// The files a value sent for a `file` field stands for (empty entries dropped; a single
/// field keeps the first).
pub fn parse(field: &FieldDef, value: &Value) -> Result<Vec<FileValue>, Invalid> {
    let entries: Vec<&Value> = match value {
        Value::Object(map) if map.contains_key("fileData") || map.contains_key("id") => {
            vec![value]
        }
        Value::Array(_) | Value::Object(_) => php_array_values(value),
        other => vec![other],
    };
    let mut files = Vec::new();
    for entry in entries {
        files.extend(file_value(entry)?);
    }
    if !field.multiple {
        files.truncate(1);
    }
    Ok(files)
}

/// What one entry stands for: an upload, `{"id": n}`, a bare id, or nothing (empty).
fn file_value(entry: &Value) -> Result<Option<FileValue>, Invalid> {
    if let Some(data) = entry.get("fileData") {
        let parts = php_array_values(data);
        let text = |i: usize| {
            parts
                .get(i)
                .and_then(|v| as_php_string(v))
                .unwrap_or_default()
        };
        let name = text(0).trim().to_string();
        let content = decode_base64(&text(1)).ok_or(Invalid::NotFile)?;
        if name.is_empty() {
            return Err(Invalid::NotFile);
        }
        return Ok(Some(FileValue::Upload { name, content }));
    }
    let id = entry.get("id").unwrap_or(entry);
    let text = as_php_string(id).ok_or(Invalid::NotFile)?;
    let text = text.trim();
    if text.is_empty() {
        return Ok(None);
    }
    match text.parse::<i64>() {
        Ok(id) if id > 0 => Ok(Some(FileValue::Existing(id))),
        _ => Err(Invalid::NotFile),
    }
}

/// Stores the uploads among `files`; returns the stored texts (file ids) in order.
pub async fn store(tx: &mut Tx, files: &[FileValue], now: i64) -> Result<Vec<String>, RestError> {
    let mut ids = Vec::new();
    for file in files {
        let id = match file {
            FileValue::Existing(id) => *id,
            FileValue::Upload { name, content } => contacts::insert_file(tx, name, content, now)
                .await
                .map_err(internal)?,
        };
        ids.push(id.to_string());
    }
    Ok(ids)
}

/// The read form of a stored file id, its URLs signed with the portal's file secret.
pub fn file_json(secret: &str, contact_id: i64, field_name: &str, file_id: i64) -> Value {
    let show = crate::http::files::show_url(secret, contact_id, field_name, file_id);
    json!({"id": file_id, "showUrl": show, "downloadUrl": format!("{show}&download=y")})
}

/// Standard base64 (padding optional, whitespace ignored); `None` when malformed.
fn decode_base64(text: &str) -> Option<Vec<u8>> {
    use base64::Engine;
    use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};
    const LENIENT: GeneralPurpose = GeneralPurpose::new(
        &base64::alphabet::STANDARD,
        GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent),
    );
    let compact: String = text.chars().filter(|c| !c.is_ascii_whitespace()).collect();
    LENIENT.decode(compact).ok()
}

#[cfg(test)]
mod tests {
    #[test]
    fn base64() {
        assert_eq!(super::decode_base64("aGVsbG8=").unwrap(), b"hello");
        assert_eq!(super::decode_base64("aGk").unwrap(), b"hi");
        assert!(super::decode_base64("a*b").is_none());
    }
}
