//! `batch`: up to 50 sub-calls run in order with the caller's credentials (`rest-protocol.md` §8,
//! decision 7).
//!
//! Each command is `method?query`, the query decoded with the same PHP rules as a request.
//! `$result[key][path]...` in a decoded parameter value is replaced by the scalar at that path of
//! an earlier result; an unresolved reference (unknown or failed command, missing path, array
//! value) is left as written, so the sub-call sees the literal text (`halt` guards against that).
//! The answer is always HTTP 200; failures go to `result_error` only (like Bitrix24's all-fail
//! example, a failed command has no `result_time` entry). Maps are rendered the PHP way: empty as
//! `[]`, dense `0..n` keys as JSON arrays.
//!
//! Each sub-call is checked against and counted in its own method's operating time (§10.3); the
//! outer `batch` is not counted, and counts once for the request-rate limit.

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
            if halt {
                break;
            }
            continue;
        }
        let started = ctx.state.clock.now_f64();
        let outcome = run_command(&ctx, &command, &results).await;
        match outcome {
            Ok(output) => {
                let timing = Timing {
                    start: started,
                    finish: ctx.state.clock.now_f64(),
                    operating: None,
                };
                let time = time_block(&timing, ctx.state.config.utc_offset);
                results.time.push((key.clone(), time.to_value()));
                if let Some(total) = output.total {
                    results.total.push((key.clone(), json!(total)));
                }
                if let Some(next) = output.next {
                    results.next.push((key.clone(), json!(next)));
                }
                results.result.push((key, output.result.into_tree()));
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
    let (method, query) = text.split_once('?').unwrap_or((&text, ""));
    let method = method.trim().trim_matches('/');
    let method = strip_format_suffix(method);
    let spec = ctx
        .state
        .registry
        .get(method)
        .ok_or_else(RestError::method_not_found)?;
    if !spec.batchable {
        return Err(RestError::batch_method_not_allowed());
    }
    let mut params =
        parse_form(query.as_bytes()).map_err(|e| RestError::invalid_request(e.to_string()))?;
    // Sub-calls always run with the outer call's credentials and connector.
    params.shift_remove("auth");
    params.shift_remove("auth_connector");
    params
        .values_mut()
        .for_each(|value| substitute_in_value(value, done));
    let sub = ctx.for_batch_item();
    let key = ctx.caller.limit_key();
    let limits = &ctx.state.limits;
    let started = ctx.state.clock.now_f64();
    limits.check_operating(&key, spec.name, started).await?;
    let outcome = ctx.state.registry.call(sub, spec.name, params).await;
    let finish = ctx.state.clock.now_f64();
    limits
        .record_operating(&key, spec.name, started, finish - started)
        .await;
    outcome
}

/// `method.json` and `method` name the same method inside `batch` too.
fn strip_format_suffix(method: &str) -> &str {
    let cut = method.len().saturating_sub(".json".len());
    match method.get(cut..) {
        Some(suffix) if suffix.eq_ignore_ascii_case(".json") => &method[..cut],
        _ => method,
    }
}

/// Resolves references in every string of a decoded parameter tree. Substituting after decoding
/// lets clients percent-encode `$result[...]` (as `http_build_query` does) and keeps a resolved
/// value containing `&` or `=` in one piece.
fn substitute_in_value(value: &mut Value, done: &Results) {
    match value {
        Value::String(text) if text.contains("$result[") => {
            *text = substitute_references(text, done);
        }
        Value::Array(items) => items.iter_mut().for_each(|v| substitute_in_value(v, done)),
        Value::Object(map) => map.values_mut().for_each(|v| substitute_in_value(v, done)),
        _ => {}
    }
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
