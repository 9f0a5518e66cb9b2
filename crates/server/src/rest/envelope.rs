//! The success envelope: `result`, `total`, `next`, `time`.
//!
//! A method's result is usually a tree built for the call. An answer served again and again (a
//! cached `crm.contact.userfield.get`) can instead be a shared [`Rendered`] value, whose JSON is
//! spliced into the envelope as it is: encoding a 3 KB answer anew was most of such a call's cost.

use std::sync::Arc;

use b24lite_core::php_json::{Rendered, to_php_json};
use chrono::{DateTime, FixedOffset, SecondsFormat};
use serde::Serialize;
use serde::ser::{SerializeMap, Serializer};
use serde_json::Value;

/// A method's `result`.
#[derive(Debug, Clone)]
pub enum Answer {
    Tree(Value),
    Rendered(Arc<Rendered>),
}

impl Answer {
    /// The result as a tree (for `batch`, which reads earlier results, and for XML).
    pub fn into_tree(self) -> Value {
        match self {
            Answer::Tree(tree) => tree,
            Answer::Rendered(rendered) => rendered.tree().clone(),
        }
    }
}

impl Serialize for Answer {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self {
            Answer::Tree(tree) => tree.serialize(serializer),
            Answer::Rendered(rendered) => rendered.json().serialize(serializer),
        }
    }
}

/// What a method returns before the envelope is put around it.
#[derive(Debug, Clone)]
pub struct MethodOutput {
    pub result: Answer,
    /// Lifted to the top-level `total` (list methods).
    pub total: Option<i64>,
    /// Lifted to the top-level `next`, only when a further page exists.
    pub next: Option<i64>,
}

impl MethodOutput {
    pub fn new(result: impl Into<Value>) -> Self {
        MethodOutput {
            result: Answer::Tree(result.into()),
            total: None,
            next: None,
        }
    }

    /// An answer encoded once and shared between calls.
    pub fn rendered(answer: Arc<Rendered>) -> Self {
        MethodOutput {
            result: Answer::Rendered(answer),
            total: None,
            next: None,
        }
    }

    pub fn list(items: Vec<Value>, total: Option<i64>, next: Option<i64>) -> Self {
        MethodOutput {
            result: Answer::Tree(Value::Array(items)),
            total,
            next,
        }
    }
}

/// Start and finish of a call, in float Unix seconds, and the operating-time figures of the
/// method for this caller.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Timing {
    pub start: f64,
    pub finish: f64,
    /// `(operating, operating_reset_at)`; absent inside `batch` (`result_time` entries).
    pub operating: Option<(f64, i64)>,
}

/// `YYYY-MM-DDThh:mm:ss±hh:mm` in the portal's offset.
pub fn format_date(unix: f64, offset: FixedOffset) -> String {
    let secs = unix.floor() as i64;
    DateTime::from_timestamp(secs, 0)
        .unwrap_or_default()
        .with_timezone(&offset)
        .to_rfc3339_opts(SecondsFormat::Secs, false)
}

/// The `time` object; fields in Bitrix24's key order.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TimeBlock {
    start: f64,
    finish: f64,
    duration: f64,
    processing: f64,
    date_start: String,
    date_finish: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    operating_reset_at: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    operating: Option<f64>,
}

impl TimeBlock {
    pub fn to_value(&self) -> Value {
        serde_json::to_value(self).unwrap_or_default()
    }
}

/// The `time` object of a call.
pub fn time_block(timing: &Timing, offset: FixedOffset) -> TimeBlock {
    let duration = timing.finish - timing.start;
    TimeBlock {
        start: timing.start,
        finish: timing.finish,
        duration,
        processing: duration,
        date_start: format_date(timing.start, offset),
        date_finish: format_date(timing.finish, offset),
        operating_reset_at: timing.operating.map(|(_, reset_at)| reset_at),
        operating: timing.operating.map(|(operating, _)| operating),
    }
}

/// The full success body: the method's output and the `time` block.
#[derive(Debug, Clone)]
pub struct Envelope {
    pub output: MethodOutput,
    pub time: TimeBlock,
}

impl Envelope {
    pub fn new(output: MethodOutput, time: TimeBlock) -> Envelope {
        Envelope { output, time }
    }

    /// The body as PHP's encoder writes it.
    pub fn to_php_json(&self) -> Vec<u8> {
        to_php_json(self)
    }

    /// The body as a tree, keys in envelope order (written by the same [`Serialize`] impl, from
    /// the result's tree rather than its encoding).
    pub fn into_tree(self) -> Value {
        let output = MethodOutput {
            result: Answer::Tree(self.output.result.into_tree()),
            ..self.output
        };
        serde_json::to_value(Envelope { output, ..self }).unwrap_or_default()
    }
}

impl Serialize for Envelope {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let output = &self.output;
        let n_keys = 2 + usize::from(output.total.is_some()) + usize::from(output.next.is_some());
        let mut map = serializer.serialize_map(Some(n_keys))?;
        map.serialize_entry("result", &output.result)?;
        if let Some(total) = output.total {
            map.serialize_entry("total", &total)?;
        }
        if let Some(next) = output.next {
            map.serialize_entry("next", &next)?;
        }
        map.serialize_entry("time", &self.time)?;
        map.end()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn time_block_keys_and_types() {
        let offset = FixedOffset::east_opt(2 * 3600).unwrap();
        let timing = Timing {
            start: 1778747192.5,
            finish: 1778747193.25,
            operating: Some((0.0, 1778747792)),
        };
        let time = time_block(&timing, offset).to_value();
        let keys: Vec<&str> = time
            .as_object()
            .unwrap()
            .keys()
            .map(String::as_str)
            .collect();
        assert_eq!(
            keys,
            [
                "start",
                "finish",
                "duration",
                "processing",
                "date_start",
                "date_finish",
                "operating_reset_at",
                "operating"
            ]
        );
        assert_eq!(time["date_start"], "2026-05-14T10:26:32+02:00");
        assert_eq!(time["duration"], 0.75);
        assert!(time["operating_reset_at"].is_i64());
    }

    fn sample_time() -> TimeBlock {
        let timing = Timing {
            start: 1778747192.5,
            finish: 1778747193.0,
            operating: None,
        };
        time_block(&timing, FixedOffset::east_opt(0).unwrap())
    }

    #[test]
    fn total_and_next_are_lifted() {
        let body = Envelope::new(
            MethodOutput::list(vec![json!(1)], Some(51), Some(50)),
            sample_time(),
        );
        assert_eq!(
            body.clone().into_tree(),
            json!({"result": [1], "total": 51, "next": 50, "time": sample_time().to_value()})
        );
        assert_eq!(
            String::from_utf8(body.to_php_json()).unwrap(),
            concat!(
                r#"{"result":[1],"total":51,"next":50,"time":{"start":1778747192.5,"#,
                r#""finish":1778747193,"duration":0.5,"processing":0.5,"#,
                r#""date_start":"2026-05-14T08:26:32+00:00","#,
                r#""date_finish":"2026-05-14T08:26:33+00:00"}}"#
            )
        );
        let body = Envelope::new(MethodOutput::new(true), sample_time());
        let tree = body.into_tree();
        assert_eq!(tree["result"], true);
        assert!(tree.get("total").is_none() && tree.get("next").is_none());
    }

    #[test]
    fn a_rendered_answer_is_written_as_the_same_tree_would_be() {
        let tree = json!({"ID": "7", "URL": "https://x/<y>", "SORT": 100.0, "LIST": []});
        let rendered = Envelope::new(
            MethodOutput::rendered(Arc::new(Rendered::new(tree.clone()))),
            sample_time(),
        );
        let built = Envelope::new(MethodOutput::new(tree), sample_time());
        assert_eq!(rendered.to_php_json(), built.to_php_json());
        assert_eq!(
            to_php_json(&built.clone().into_tree()),
            built.to_php_json(),
            "the tree and the streamed envelope are written alike"
        );
        assert_eq!(rendered.into_tree(), built.into_tree());
    }
}
