//! Values of `file` fields: `{"fileData": ["name.ext", "<base64>"]}` uploads are stored (in the
//! database, so every instance sees them) and replaced by the new file's id before the value is
//! typed; `{"id": n}` or a bare id keeps an existing file. Reads show
//! `{"id", "showUrl", "downloadUrl"}` with Bitrix24's relative contact file URLs.
//!
//! FIXME(#3): the server does not serve those URLs yet (no download route).

use b24lite_core::RestError;
use b24lite_core::params::{as_php_int, as_php_string, php_array_values};
use b24lite_store::Tx;
use b24lite_store::contacts;
use b24lite_store::userfields::FieldDef;
use serde_json::{Map, Value, json};

use crate::rest::auth::internal;

/// Replaces every upload in the `file` fields of `input` by the id of the stored file.
pub async fn store_uploads(
    tx: &mut Tx,
    fields: &[FieldDef],
    input: &mut Map<String, Value>,
    now: i64,
) -> Result<(), RestError> {
    for field in fields.iter().filter(|f| f.user_type_id == "file") {
        let Some(value) = input.get(&field.field_name) else {
            continue;
        };
        let entries: Vec<Value> = match value {
            Value::Object(map) if map.contains_key("fileData") || map.contains_key("id") => {
                vec![value.clone()]
            }
            Value::Array(_) | Value::Object(_) => {
                php_array_values(value).into_iter().cloned().collect()
            }
            other => vec![other.clone()],
        };
        let mut ids = Vec::new();
        for entry in entries {
            ids.extend(file_id(tx, &entry, now).await?);
        }
        input.insert(field.field_name.clone(), json!(ids));
    }
    Ok(())
}

/// The file id an entry stands for: a stored upload, `{"id": n}`, or a bare id.
async fn file_id(tx: &mut Tx, entry: &Value, now: i64) -> Result<Option<i64>, RestError> {
    if let Some(data) = entry.get("fileData") {
        let parts = php_array_values(data);
        let name = parts
            .first()
            .and_then(|v| as_php_string(v))
            .unwrap_or_default();
        let encoded = parts
            .get(1)
            .and_then(|v| as_php_string(v))
            .unwrap_or_default();
        let (Some(content), false) = (decode_base64(&encoded), name.trim().is_empty()) else {
            return Ok(None);
        };
        let id = contacts::insert_file(tx, name.trim(), &content, now)
            .await
            .map_err(internal)?;
        return Ok(Some(id));
    }
    let id = entry
        .get("id")
        .map_or_else(|| as_php_int(entry), as_php_int);
    Ok((id > 0).then_some(id))
}

/// The read form of a stored file id.
pub fn file_json(contact_id: i64, field_name: &str, file_id: i64) -> Value {
    let show = format!(
        "/bitrix/components/bitrix/crm.contact.show/show_file.php?ownerId={contact_id}\
         &fieldName={field_name}&dynamic=Y&fileId={file_id}"
    );
    json!({"id": file_id, "showUrl": show, "downloadUrl": format!("{show}&download=y")})
}

/// Standard base64 (padding optional, whitespace ignored); `None` when malformed.
fn decode_base64(text: &str) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(text.len() * 3 / 4);
    let (mut buffer, mut bits) = (0u32, 0u32);
    for byte in text
        .bytes()
        .filter(|b| !b.is_ascii_whitespace() && *b != b'=')
    {
        let value = match byte {
            b'A'..=b'Z' => byte - b'A',
            b'a'..=b'z' => byte - b'a' + 26,
            b'0'..=b'9' => byte - b'0' + 52,
            b'+' | b'-' => 62,
            b'/' | b'_' => 63,
            _ => return None,
        };
        buffer = (buffer << 6) | u32::from(value);
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((buffer >> bits) as u8);
        }
    }
    Some(out)
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
