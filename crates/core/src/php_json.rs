//! JSON written the way Bitrix24's PHP encoder writes it (reference-behavior fact 7).
//!
//! `/` is escaped as `\/`; `<`, `>`, `&`, `'` and `"` inside strings as `\u003C`, `\u003E`,
//! `\u0026`, `\u0027`, `\u0022`; the line terminators U+2028 and U+2029 as `\u2028`, `\u2029`;
//! other non-ASCII stays raw UTF-8; a float with no fractional part prints as an integer (`150`,
//! not `150.0`), and one below 1e-4 or of 1e17 and more in PHP's exponent form (`1.0e-5`); an
//! empty map prints as `[]`, since PHP has no empty object, only an empty array (fact 8). Any
//! JSON parser reads the same values; byte comparisons against captures of a real portal match
//! too.
//!
//! [`to_php_json`] writes a whole value; [`Rendered`] keeps a value together with its encoding,
//! so an answer served many times is encoded once and spliced into each envelope as raw JSON.

use std::io;

use serde::Serialize;
use serde_json::Value;
use serde_json::ser::{CharEscape, Formatter, Serializer};
use serde_json::value::RawValue;

/// The formatter, with one flag per open map: whether its `{` is written yet. A map's opening
/// brace waits for its first key, so that an empty map can be written `[]` instead (fact 8).
#[derive(Default)]
struct PhpFormatter {
    open_maps: Vec<bool>,
}

impl Formatter for PhpFormatter {
    fn begin_object<W: ?Sized + io::Write>(&mut self, _writer: &mut W) -> io::Result<()> {
        self.open_maps.push(false);
        Ok(())
    }

    fn begin_object_key<W: ?Sized + io::Write>(
        &mut self,
        writer: &mut W,
        first: bool,
    ) -> io::Result<()> {
        if let Some(opened) = self.open_maps.last_mut().filter(|opened| !**opened) {
            *opened = true;
            writer.write_all(b"{")?;
        }
        if first {
            Ok(())
        } else {
            writer.write_all(b",")
        }
    }

    fn end_object<W: ?Sized + io::Write>(&mut self, writer: &mut W) -> io::Result<()> {
        match self.open_maps.pop() {
            Some(true) => writer.write_all(b"}"),
            _ => writer.write_all(b"[]"),
        }
    }

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
                // U+2028 and U+2029 (E2 80 A8/A9): PHP escapes these line terminators even with
                // UNESCAPED_UNICODE, as UNESCAPED_LINE_TERMINATORS is not among its flags (fact 7).
                0xE2 => match fragment.as_bytes().get(index + 1..index + 3) {
                    Some([0x80, 0xA8]) => b"\\u2028",
                    Some([0x80, 0xA9]) => b"\\u2029",
                    _ => continue,
                },
                _ => continue,
            };
            writer.write_all(&fragment.as_bytes()[start..index])?;
            writer.write_all(escaped)?;
            start = index + if byte == 0xE2 { 3 } else { 1 };
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
        writer.write_all(php_float(value).as_bytes())
    }
}

/// A float as PHP's encoder prints it with `serialize_precision = -1`: the shortest digits that
/// read back as the same value, written plainly (`150`, `0.5`, `0.0001`) unless the decimal
/// exponent is below -4 or above 16, where PHP switches to `1.0e-5` / `3.25e+17` (a lone digit
/// gets `.0`, the exponent a sign). Sub-millisecond `time` durations hit the small case.
/// NaN and infinities, which PHP refuses to encode, print as `0`.
fn php_float(value: f64) -> String {
    if !value.is_finite() {
        return "0".into();
    }
    // Rust's `{:e}` gives the same shortest digits as `{}`, with the exponent apart.
    let scientific = format!("{value:e}");
    let (mantissa, exponent) = scientific
        .split_once('e')
        .expect("`{:e}` always writes an exponent");
    let exponent: i32 = exponent.parse().expect("`{:e}` writes an integer exponent");
    if (-4..=16).contains(&exponent) {
        return format!("{value}");
    }
    let fraction = if mantissa.contains('.') { "" } else { ".0" };
    let sign = if exponent < 0 { '-' } else { '+' };
    format!("{mantissa}{fraction}e{sign}{}", exponent.unsigned_abs())
}

/// Serialises a value as PHP's encoder would.
pub fn to_php_json<T: Serialize + ?Sized>(value: &T) -> Vec<u8> {
    let mut out = Vec::with_capacity(256);
    let mut serializer = Serializer::with_formatter(&mut out, PhpFormatter::default());
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
    fn line_terminators_are_escaped() {
        assert_eq!(
            php(json!("a\u{2028}b\u{2029}c\u{2027}Я€")),
            "\"a\\u2028b\\u2029c\u{2027}Я€\""
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
    fn tiny_and_huge_floats_use_php_exponents() {
        assert_eq!(
            php(json!([
                0.0001,
                0.00003409385681152344,
                0.00001,
                -2.5e-7,
                1e15,
                1e16,
                1e17,
                3.25e20,
                -1.5e300
            ])),
            "[0.0001,3.409385681152344e-5,1.0e-5,-2.5e-7,1000000000000000,\
             10000000000000000,1.0e+17,3.25e+20,-1.5e+300]"
        );
    }

    #[test]
    fn empty_maps_print_as_empty_lists() {
        assert_eq!(
            php(json!({"a": {}, "b": [], "c": {"d": {}, "e": [{}]}, "f": {"g": 1}})),
            r#"{"a":[],"b":[],"c":{"d":[],"e":[[]]},"f":{"g":1}}"#
        );
        assert_eq!(php(json!({})), "[]");
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
