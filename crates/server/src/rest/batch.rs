//! `batch`: up to 50 sub-calls run in order with the caller's credentials (`rest-protocol.md` §8,
//! decision 7).
//!
//! Each command is `method?query`, the query decoded with the same PHP rules as a request.
//! `$result[key][path]...` in a later command is replaced by the value at that path of an earlier
//! result; an unresolved reference is left as written (the sub-call then sees the literal text).
//! The answer is always HTTP 200; failures go to `result_error`. Maps are rendered the PHP way:
//! empty as `[]`, dense `0..n` keys as JSON arrays.

use b24lite_core::params::{as_php_string, is_truthy, lookup, parse_form, php_array_entries};
use b24lite_core::{Params, RestError};
use serde_json::{Map, Value, json};

use crate::rest::envelope::{Timing, time_block};
use crate::rest::{CallContext, MethodOutput, MethodResult};

/// Commands past this many fail with `ERROR_BATCH_LENGTH_EXCEEDED` inside the 200 answer.
pub const MAX_COMMANDS: usize = 50;

#[derive(Default)]
struct Results {
    result: Vec<(String, Value)>,
    error: Vec<(String, Value)>,
    total: Vec<(String, Value)>,
    next: Vec<(String, Value)>,
    time: Vec<(String, Value)>,
}

pub async fn run(ctx: CallContext, params: Params) -> MethodResult {
    let halt = lookup(&params, "halt").is_some_and(is_truthy);
    let commands: Vec<(String, Value)> = lookup(&params, "cmd")
        .map(|cmd| {
            php_array_entries(cmd)
                .into_iter()
                .map(|(k, v)| (k, v.clone()))
                .collect()
        })
        .unwrap_or_default();

    let mut results = Results::default();
    for (index, (key, command)) in commands.into_iter().enumerate() {
        if index >= MAX_COMMANDS {
            results
                .error
                .push((key, RestError::batch_length_exceeded().to_json()));
            continue;
        }
        let started = ctx.state.clock.now_f64();
        let outcome = run_command(&ctx, &command, &results).await;
        let timing = Timing {
            start: started,
            finish: ctx.state.clock.now_f64(),
            operating: None,
        };
        results.time.push((
            key.clone(),
            time_block(&timing, ctx.state.config.utc_offset),
        ));
        match outcome {
            Ok(output) => {
                if let Some(total) = output.total {
                    results.total.push((key.clone(), json!(total)));
                }
                if let Some(next) = output.next {
                    results.next.push((key.clone(), json!(next)));
                }
                results.result.push((key, output.result));
            }
            Err(error) => {
                results.error.push((key, error.to_json()));
                if halt {
                    break;
                }
            }
        }
    }
    Ok(MethodOutput::new(json!({
        "result": php_map(results.result),
        "result_error": php_map(results.error),
        "result_total": php_map(results.total),
        "result_next": php_map(results.next),
        "result_time": php_map(results.time),
    })))
}

async fn run_command(ctx: &CallContext, command: &Value, done: &Results) -> MethodResult {
    let text = as_php_string(command).unwrap_or_default();
    let text = substitute_references(&text, done);
    let (method, query) = text.split_once('?').unwrap_or((&text, ""));
    let method = method.trim().trim_end_matches('/');
    let method = method.strip_suffix(".json").unwrap_or(method);
    if method.eq_ignore_ascii_case("batch") {
        return Err(RestError::batch_method_not_allowed());
    }
    let params =
        parse_form(query.as_bytes()).map_err(|e| RestError::invalid_request(e.to_string()))?;
    let spec = ctx
        .state
        .registry
        .get(method)
        .ok_or_else(RestError::method_not_found)?;
    if !spec.batchable {
        return Err(RestError::batch_method_not_allowed());
    }
    ctx.state
        .registry
        .call(ctx.for_batch_item(), method, params)
        .await
}

/// Replaces each `$result[key][a][b]` whose path resolves to a scalar in an earlier result.
fn substitute_references(text: &str, done: &Results) -> String {
    const MARKER: &str = "$result[";
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(at) = rest.find(MARKER) {
        out.push_str(&rest[..at]);
        let candidate = &rest[at + 1..];
        match resolve(candidate, done) {
            Some((value, consumed)) => {
                out.push_str(&value);
                rest = &candidate[consumed..];
            }
            None => {
                out.push_str(MARKER);
                rest = &rest[at + MARKER.len()..];
            }
        }
    }
    out.push_str(rest);
    out
}

/// Resolves `result[key][a]...` at the start of `text`: the value as a string and the number of
/// bytes of `text` the reference used.
fn resolve(text: &str, done: &Results) -> Option<(String, usize)> {
    let mut segments = Vec::new();
    let mut consumed = "result".len();
    let mut rest = &text[consumed..];
    while let Some(inner) = rest.strip_prefix('[') {
        let close = inner.find(']')?;
        segments.push(&inner[..close]);
        consumed += close + 2;
        rest = &inner[close + 1..];
    }
    let (first, path) = segments.split_first()?;
    let mut value = &done.result.iter().find(|(k, _)| k == first)?.1;
    for segment in path {
        value = match value {
            Value::Array(items) => items.get(segment.parse::<usize>().ok()?)?,
            Value::Object(map) => map.get(*segment)?,
            _ => return None,
        };
    }
    Some((as_php_string(value)?, consumed))
}

/// A PHP array as `json_encode` prints it: `[]` when empty, a list when keys are `0..n`.
fn php_map(entries: Vec<(String, Value)>) -> Value {
    let dense = entries
        .iter()
        .enumerate()
        .all(|(i, (k, _))| *k == i.to_string());
    if dense {
        Value::Array(entries.into_iter().map(|(_, v)| v).collect())
    } else {
        Value::Object(entries.into_iter().collect::<Map<String, Value>>())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn done() -> Results {
        Results {
            result: vec![
                ("user".into(), json!({"ID": "7", "DEPT": [3, 4]})),
                ("n".into(), json!(42)),
            ],
            ..Results::default()
        }
    }

    #[test]
    fn references_resolve_to_scalars() {
        let text = "x.get?id=$result[user][ID]&d=$result[user][DEPT][1]&n=$result[n]";
        assert_eq!(substitute_references(text, &done()), "x.get?id=7&d=4&n=42");
    }

    #[test]
    fn unresolved_references_stay_literal() {
        let text = "x?a=$result[missing][ID]&b=$result[user][DEPT]&c=$result[";
        assert_eq!(substitute_references(text, &done()), text);
    }

    #[test]
    fn php_maps() {
        assert_eq!(php_map(vec![]), json!([]));
        assert_eq!(
            php_map(vec![("0".into(), json!(1)), ("1".into(), json!(2))]),
            json!([1, 2])
        );
        assert_eq!(php_map(vec![("a".into(), json!(1))]), json!({"a": 1}));
    }
}
