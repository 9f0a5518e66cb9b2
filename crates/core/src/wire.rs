//! PHP `http_build_query` encoding, the body format of every event delivery.
//!
//! Bitrix24's queue posts `application/x-www-form-urlencoded` bodies with bracketed keys
//! (`data%5BFIELDS%5D%5BID%5D=553`). The rules follow PHP's encoder: brackets are
//! percent-encoded, spaces become `+`, `true` is `1`, `false` is `0`, and nulls and empty arrays
//! produce no pair at all. Key order is the tree's order, so callers build the payload in the
//! order Bitrix24 sends it (`event`, `event_handler_id`, `data`, `ts`, `auth`).

use serde_json::Value;

/// Encodes a JSON object as a PHP form body. Non-object input encodes to an empty string.
pub fn http_build_query(tree: &Value) -> String {
    let mut serializer = form_urlencoded::Serializer::new(String::new());
    if let Value::Object(map) = tree {
        for (key, value) in map {
            append(&mut serializer, key, value);
        }
    }
    serializer.finish()
}

fn append(serializer: &mut form_urlencoded::Serializer<'_, String>, key: &str, value: &Value) {
    match value {
        Value::Null => {}
        Value::Bool(b) => {
            serializer.append_pair(key, if *b { "1" } else { "0" });
        }
        Value::Number(n) => {
            serializer.append_pair(key, &n.to_string());
        }
        Value::String(s) => {
            serializer.append_pair(key, s);
        }
        Value::Array(items) => {
            for (index, item) in items.iter().enumerate() {
                append(serializer, &format!("{key}[{index}]"), item);
            }
        }
        Value::Object(map) => {
            for (child, item) in map {
                append(serializer, &format!("{key}[{child}]"), item);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::params::parse_form;
    use serde_json::json;

    #[test]
    fn encodes_like_php() {
        let body = http_build_query(&json!({
            "event": "ONCRMCONTACTUSERFIELDADD",
            "data": {"FIELDS": {"ID": 553, "NAME": "a b&c"}},
            "flags": [true, false],
            "skip": null,
            "empty": [],
            "auth": {"client_endpoint": "https://x.bitrix24.com/rest/"}
        }));
        assert_eq!(
            body,
            "event=ONCRMCONTACTUSERFIELDADD&data%5BFIELDS%5D%5BID%5D=553\
             &data%5BFIELDS%5D%5BNAME%5D=a+b%26c&flags%5B0%5D=1&flags%5B1%5D=0\
             &auth%5Bclient_endpoint%5D=https%3A%2F%2Fx.bitrix24.com%2Frest%2F"
        );
    }

    #[test]
    fn round_trips_through_the_php_decoder() {
        let tree = json!({
            "event": "X",
            "data": {"FIELDS": {"ID": "1", "LIST": ["a", "b"]}},
            "auth": {"domain": "d.example", "member_id": "m"}
        });
        let decoded = parse_form(http_build_query(&tree).as_bytes()).unwrap();
        assert_eq!(Value::Object(decoded), tree);
    }
}
