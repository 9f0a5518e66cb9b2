//! A console form body, decoded with PHP's rules (so `item[7][VALUE]` and `events[]` nest as the
//! REST parameters do), and the extractor that hands it to a POST handler.

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use b24lite_core::Params;
use b24lite_core::params::{as_php_string, lookup, parse_form, php_array_entries};
use serde_json::Value;

use super::Failure;

/// The decoded fields of a POST form; [`super::session::gate`] parses it and checks its CSRF
/// token before the handler runs.
#[derive(Debug, Clone)]
pub struct Form(Params);

impl Form {
    pub fn parse(body: &[u8]) -> Result<Form, Failure> {
        parse_form(body)
            .map(Form)
            .map_err(|error| Failure::BadInput(format!("The form cannot be read: {error}.")))
    }

    /// A scalar field as sent, if present.
    pub fn get(&self, name: &str) -> Option<String> {
        lookup(&self.0, name).and_then(as_php_string)
    }

    /// A field every console form of this kind sends; a request without it gets a 400 page.
    pub fn required(&self, name: &str) -> Result<String, Failure> {
        self.get(name)
            .ok_or_else(|| Failure::BadInput(format!("The form has no '{name}' field.")))
    }

    /// A checkbox: present with any value but `N` means ticked.
    pub fn checked(&self, name: &str) -> bool {
        self.get(name).is_some_and(|value| value != "N")
    }

    /// The entries of an array field (`name[key]=...`), in the order sent; empty when absent.
    pub fn entries(&self, name: &str) -> Vec<(String, Value)> {
        lookup(&self.0, name)
            .map(|value| {
                php_array_entries(value)
                    .into_iter()
                    .map(|(key, value)| (key, value.clone()))
                    .collect()
            })
            .unwrap_or_default()
    }
}

impl<S: Send + Sync> FromRequestParts<S> for Form {
    type Rejection = Failure;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Form, Failure> {
        parts
            .extensions
            .get::<Form>()
            .cloned()
            .ok_or_else(|| Failure::BadInput("This address takes a form (POST).".into()))
    }
}

/// The non-empty lines of a text area, trimmed.
pub fn lines(text: &str) -> Vec<String> {
    text.lines()
        .map(str::trim)
        .filter(|line| !line.is_empty())
        .map(String::from)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fields_nest_as_rest_parameters_do() {
        let form = Form::parse(b"csrf=t&item%5B7%5D%5BVALUE%5D=Red&events%5B%5D=A&events%5B%5D=B")
            .unwrap();
        assert_eq!(form.get("csrf").as_deref(), Some("t"));
        let items = form.entries("item");
        assert_eq!(items[0].0, "7");
        assert_eq!(items[0].1["VALUE"], "Red");
        let events: Vec<String> = form
            .entries("events")
            .iter()
            .filter_map(|(_, v)| as_php_string(v))
            .collect();
        assert_eq!(events, ["A", "B"]);
        assert!(form.required("missing").is_err());
        assert!(!form.checked("missing"));
    }

    #[test]
    fn text_area_lines() {
        assert_eq!(lines(" Red \r\n\r\nGreen\n"), ["Red", "Green"]);
    }
}
