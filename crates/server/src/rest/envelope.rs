//! The success envelope: `result`, `total`, `next`, `time`.

use chrono::{DateTime, FixedOffset};
use serde_json::{Map, Value, json};

/// What a method returns before the envelope is put around it.
#[derive(Debug, Clone, PartialEq)]
pub struct MethodOutput {
    pub result: Value,
    /// Lifted to the top-level `total` (list methods).
    pub total: Option<i64>,
    /// Lifted to the top-level `next`, only when a further page exists.
    pub next: Option<i64>,
}

impl MethodOutput {
    pub fn new(result: impl Into<Value>) -> Self {
        MethodOutput {
            result: result.into(),
            total: None,
            next: None,
        }
    }

    pub fn list(items: Vec<Value>, total: Option<i64>, next: Option<i64>) -> Self {
        MethodOutput {
            result: Value::Array(items),
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
        .format("%Y-%m-%dT%H:%M:%S%:z")
        .to_string()
}

/// The `time` object, keys in Bitrix24's order.
pub fn time_block(timing: &Timing, offset: FixedOffset) -> Value {
    let duration = timing.finish - timing.start;
    let mut time = json!({
        "start": timing.start,
        "finish": timing.finish,
        "duration": duration,
        "processing": duration,
        "date_start": format_date(timing.start, offset),
        "date_finish": format_date(timing.finish, offset),
    });
    if let (Some((operating, reset_at)), Value::Object(map)) = (timing.operating, &mut time) {
        map.insert("operating_reset_at".into(), json!(reset_at));
        map.insert("operating".into(), json!(operating));
    }
    time
}

/// The full success body.
pub fn success_body(output: MethodOutput, time: Value) -> Value {
    let mut body = Map::new();
    body.insert("result".into(), output.result);
    if let Some(total) = output.total {
        body.insert("total".into(), json!(total));
    }
    if let Some(next) = output.next {
        body.insert("next".into(), json!(next));
    }
    body.insert("time".into(), time);
    Value::Object(body)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn time_block_keys_and_types() {
        let offset = FixedOffset::east_opt(2 * 3600).unwrap();
        let timing = Timing {
            start: 1778747192.5,
            finish: 1778747193.25,
            operating: Some((0.0, 1778747792)),
        };
        let time = time_block(&timing, offset);
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

    #[test]
    fn total_and_next_are_lifted() {
        let body = success_body(
            MethodOutput::list(vec![json!(1)], Some(51), Some(50)),
            json!({}),
        );
        assert_eq!(
            body,
            json!({"result": [1], "total": 51, "next": 50, "time": {}})
        );
        let body = success_body(MethodOutput::new(true), json!({}));
        assert_eq!(body, json!({"result": true, "time": {}}));
    }
}
