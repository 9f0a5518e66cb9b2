//! List paging: fixed pages of 50 selected by `start`; `start=-1` skips counting.

use b24lite_core::Params;
use b24lite_core::params::as_php_int;
use serde_json::Value;

use crate::rest::MethodOutput;

/// Bitrix24's fixed page size.
pub const PAGE_SIZE: i64 = 50;

/// The page a list call asked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Page {
    /// Offset of the first row.
    pub offset: i64,
    /// `false` for `start=-1`: no `total` count, no `next` (decision 8).
    pub count_total: bool,
}

impl Page {
    pub fn from_params(params: &Params) -> Page {
        match params.get("start").map(as_php_int) {
            Some(-1) => Page {
                offset: 0,
                count_total: false,
            },
            Some(start) if start > 0 => Page {
                offset: start,
                count_total: true,
            },
            _ => Page {
                offset: 0,
                count_total: true,
            },
        }
    }

    /// Wraps one page of rows. `total` is the count of all matching rows (ignored when counting
    /// is off, where Bitrix24 prints `total: 0`).
    pub fn output(&self, rows: Vec<Value>, total: i64) -> MethodOutput {
        if !self.count_total {
            return MethodOutput::list(rows, Some(0), None);
        }
        let end = self.offset + rows.len() as i64;
        let next = (end < total && !rows.is_empty()).then_some(end);
        MethodOutput::list(rows, Some(total), next)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn page(start: Value) -> Page {
        let mut params = Params::new();
        params.insert("start".into(), start);
        Page::from_params(&params)
    }

    #[test]
    fn start_values() {
        assert_eq!(
            Page::from_params(&Params::new()),
            Page {
                offset: 0,
                count_total: true
            }
        );
        assert_eq!(
            page(json!("50")),
            Page {
                offset: 50,
                count_total: true
            }
        );
        assert_eq!(
            page(json!(-1)),
            Page {
                offset: 0,
                count_total: false
            }
        );
        assert_eq!(
            page(json!("-7")),
            Page {
                offset: 0,
                count_total: true
            }
        );
    }

    #[test]
    fn next_only_when_more_rows_exist() {
        let rows = |n| (0..n).map(|i| json!(i)).collect::<Vec<_>>();
        let out = page(json!(0)).output(rows(50), 120);
        assert_eq!((out.total, out.next), (Some(120), Some(50)));
        let out = page(json!(100)).output(rows(20), 120);
        assert_eq!((out.total, out.next), (Some(120), None));
        let out = page(json!(-1)).output(rows(50), 0);
        assert_eq!((out.total, out.next), (Some(0), None));
    }
}
