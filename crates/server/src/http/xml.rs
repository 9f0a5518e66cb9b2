//! The `.xml` response format (`rest-protocol.md` §3.3, §6.4).
//!
//! Bitrix24 documents only the outline: the same tree as the JSON answer under a `<response>`
//! root, each key an element. Where the docs are silent we chose: list items are `<item>`
//! elements; a map key that is not a valid XML name (`0`, `>ID`) becomes `<item key="...">`;
//! `true`/`false` are written `true`/`false`, `null` an empty element; text is escaped with the
//! five XML entities. Errors use the same shape (`<response><error>...`) and the HTTP status of
//! the JSON answer.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::Value;

/// Renders a JSON answer as an XML document.
pub fn to_xml(value: &Value) -> String {
    let mut out = String::from("<?xml version=\"1.0\" encoding=\"utf-8\"?>\n");
    element(&mut out, "response", None, value);
    out
}

fn element(out: &mut String, name: &str, key: Option<&str>, value: &Value) {
    out.push('<');
    out.push_str(name);
    if let Some(key) = key {
        out.push_str(" key=\"");
        escape_into(out, key);
        out.push('"');
    }
    out.push('>');
    match value {
        Value::Null => {}
        Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Value::Number(n) => out.push_str(&n.to_string()),
        Value::String(s) => escape_into(out, s),
        Value::Array(items) => items.iter().for_each(|v| element(out, "item", None, v)),
        Value::Object(map) => {
            for (k, v) in map {
                if is_xml_name(k) {
                    element(out, k, None, v);
                } else {
                    element(out, "item", Some(k), v);
                }
            }
        }
    }
    out.push_str("</");
    out.push_str(name);
    out.push('>');
}

/// A conservative XML name: an ASCII letter or `_`, then letters, digits, `_`, `-`, `.`.
fn is_xml_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'))
        && !name.to_ascii_lowercase().starts_with("xml")
}

fn escape_into(out: &mut String, text: &str) {
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            // Control characters other than tab and newlines are not allowed in XML 1.0.
            c if c.is_control() && !matches!(c, '\t' | '\n' | '\r') => out.push('\u{FFFD}'),
            c => out.push(c),
        }
    }
}

/// An XML response with the given status.
pub fn respond(status: StatusCode, value: &Value) -> Response {
    let mut response = (status, to_xml(value)).into_response();
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/xml; charset=utf-8"),
    );
    response
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn renders_the_tree_under_response() {
        let body = json!({
            "result": {"ID": "1", "list": [1, true, null], "0": "a<b&c", ">ID": "x"},
            "time": {"start": 1.5}
        });
        assert_eq!(
            to_xml(&body),
            "<?xml version=\"1.0\" encoding=\"utf-8\"?>\n<response><result><ID>1</ID>\
             <list><item>1</item><item>true</item><item></item></list>\
             <item key=\"0\">a&lt;b&amp;c</item><item key=\"&gt;ID\">x</item></result>\
             <time><start>1.5</start></time></response>"
        );
    }
}
