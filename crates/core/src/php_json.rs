//! JSON written the way Bitrix24's PHP encoder writes it (reference-behavior fact 7).
//!
//! `/` is escaped as `\/`; `<`, `>`, `&`, `'` and `"` inside strings as `\u003C`, `\u003E`,
//! `\u0026`, `\u0027`, `\u0022`; other non-ASCII stays raw UTF-8; a float with no fractional
//! part prints as an integer (`150`, not `150.0`). Any JSON parser reads the same values; byte
//! comparisons against captures of a real portal match too.
//!
//! [`to_php_json`] writes a whole value; [`Rendered`] keeps a value together with its encoding,
//! so an answer served many times is encoded once and spliced into each envelope as raw JSON.

use std::io;

use serde::Serialize;
use serde_json::Value;
use serde_json::ser::{CharEscape, Formatter, Serializer};
use serde_json::value::RawValue;

struct PhpFormatter;

impl Formatter for PhpFormatter {
    fn write_string_fragment<W: ?Sized + io::Write>(
        &mut self,
        writer: &mut W,
        fragment: &str,
    ) -> io::Result<()> {
        let mut start = 0;
        for (index, byte) in fragment.bytes().enumerate() {
            let escaped: &[u8] = match byte {
                b'/' => b"\\/",
                b'<' => b"\\u003C",
                b'>' => b"\\u003E",
                b'&' => b"\\u0026",
                b'\'' => b"\\u0027",
                _ => continue,
            };
            writer.write_all(&fragment.as_bytes()[start..index])?;
            writer.write_all(escaped)?;
            start = index + 1;
        }
        writer.write_all(&fragment.as_bytes()[start..])
    }

    fn write_char_escape<W: ?Sized + io::Write>(
        &mut self,
        writer: &mut W,
        escape: CharEscape,
    ) -> io::Result<()> {
        match escape {
            CharEscape::Quote => writer.write_all(b"\\u0022"),
            CharEscape::ReverseSolidus => writer.write_all(b"\\\\"),
            CharEscape::Solidus => writer.write_all(b"\\/"),
            CharEscape::Backspace => writer.write_all(b"\\b"),
            CharEscape::FormFeed => writer.write_all(b"\\f"),
            CharEscape::LineFeed => writer.write_all(b"\\n"),
            CharEscape::CarriageReturn => writer.write_all(b"\\r"),
            CharEscape::Tab => writer.write_all(b"\\t"),
            CharEscape::AsciiControl(byte) => write!(writer, "\\u{byte:04x}"),
        }
    }

    fn write_f64<W: ?Sized + io::Write>(&mut self, writer: &mut W, value: f64) -> io::Result<()> {
        if value.fract() == 0.0 && value.abs() < 1e15 {
            write!(writer, "{}", value as i64)
        } else {
            // serde_json's own shortest round-trip form; NaN and infinities have none.
            let text =
                serde_json::Number::from_f64(value).map_or_else(|| "0".into(), |n| n.to_string());
            writer.write_all(text.as_bytes())
        }
    }
}

/// Serialises a value as PHP's encoder would.
pub fn to_php_json<T: Serialize + ?Sized>(value: &T) -> Vec<u8> {
    let mut out = Vec::with_capacity(256);
    let mut serializer = Serializer::with_formatter(&mut out, PhpFormatter);
    // Serialising into a Vec fails only for a map with non-string keys, which no value of ours
    // has (`Value` and the envelope key their maps by strings).
    let _ = value.serialize(&mut serializer);
    out
}

/// A value and its PHP-style encoding, made once.
#[derive(Debug)]
pub struct Rendered {
    tree: Value,
    json: Box<RawValue>,
}

impl Rendered {
    pub fn new(tree: Value) -> Rendered {
        let text = String::from_utf8(to_php_json(&tree))
            .expect("serde_json writes UTF-8 and the PHP escapes are ASCII");
        let json = RawValue::from_string(text).expect("serde_json writes valid JSON");
        Rendered { tree, json }
    }

    pub fn tree(&self) -> &Value {
        &self.tree
    }

    /// The encoding, to be written as it is (serde_json hands raw values to the formatter
    /// unchanged).
    pub fn json(&self) -> &RawValue {
        &self.json
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn php(value: Value) -> String {
        String::from_utf8(to_php_json(&value)).unwrap()
    }

    #[test]
    fn escapes_like_php() {
        assert_eq!(
            php(json!({"url": "https://x/y", "t": "<a href='x'>\"q\" & Я</a>"})),
            r#"{"url":"https:\/\/x\/y","t":"\u003Ca href=\u0027x\u0027\u003E\u0022q\u0022 \u0026 Я\u003C\/a\u003E"}"#
        );
    }

    #[test]
    fn whole_floats_print_as_integers() {
        assert_eq!(
            php(json!([150.0, 0.0, 1.5, 1778747192.910734])),
            "[150,0,1.5,1778747192.910734]"
        );
    }

    #[test]
    fn rendered_keeps_the_tree_and_its_encoding() {
        let rendered = Rendered::new(json!({"url": "a/b", "n": 2.0}));
        assert_eq!(rendered.json().get(), r#"{"url":"a\/b","n":2}"#);
        assert_eq!(rendered.tree()["n"], 2.0);
    }

    #[test]
    fn parses_back_to_the_same_value() {
        let value = json!({"a": ["/", "<>&'\"\\\n\u{1}"], "b": null, "c": true});
        assert_eq!(
            serde_json::from_slice::<Value>(&to_php_json(&value)).unwrap(),
            value
        );
    }
}
