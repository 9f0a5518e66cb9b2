//! The table of REST methods: name (case-insensitive), scope, auth-type rule, handler.

use std::collections::BTreeMap;
use std::future::Future;
use std::pin::Pin;

use b24lite_core::{Params, RestError};

use crate::rest::{CallContext, MethodOutput};

pub type MethodResult = Result<MethodOutput, RestError>;
pub type MethodFuture = Pin<Box<dyn Future<Output = MethodResult> + Send>>;
pub type MethodFn = fn(CallContext, Params) -> MethodFuture;

/// Which credentials may call a method.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuthRule {
    /// Incoming webhooks and applications alike.
    Any,
    /// Applications only (`event.*`, `app.info`): a webhook gets 403 `WRONG_AUTH_TYPE`.
    AppOnly,
}

/// One REST method.
#[derive(Clone)]
pub struct MethodSpec {
    /// The canonical (lower-case) name, as `methods` lists it.
    pub name: &'static str,
    /// The scope a caller needs; `basic` is implied for everyone.
    pub scope: &'static str,
    pub auth: AuthRule,
    /// `false` for methods refused inside `batch` (`batch` itself).
    pub batchable: bool,
    pub handler: MethodFn,
}

/// Builds a [`MethodSpec`] from an `async fn(CallContext, Params) -> MethodResult`.
#[macro_export]
macro_rules! method {
    ($name:literal, $scope:literal, $handler:path) => {
        $crate::rest::registry::MethodSpec {
            name: $name,
            scope: $scope,
            auth: $crate::rest::registry::AuthRule::Any,
            batchable: true,
            handler: |ctx, params| Box::pin($handler(ctx, params)),
        }
    };
}

/// All methods this server answers, keyed by lower-case name.
#[derive(Default, Clone)]
pub struct Registry {
    methods: BTreeMap<String, MethodSpec>,
}

impl Registry {
    pub fn add(&mut self, spec: MethodSpec) {
        debug_assert_eq!(
            spec.name,
            spec.name.to_lowercase(),
            "method names are stored lower-case"
        );
        self.methods.insert(spec.name.to_string(), spec);
    }

    /// Finds a method by name, ignoring case (decision 2).
    pub fn get(&self, name: &str) -> Option<&MethodSpec> {
        self.methods.get(&name.to_lowercase())
    }

    pub fn iter(&self) -> impl Iterator<Item = &MethodSpec> {
        self.methods.values()
    }

    /// Every scope some method needs, sorted, `basic` excluded. `user_brief` and `user_basic`
    /// bring `user` along, the scope that grants them.
    pub fn scopes(&self) -> Vec<&'static str> {
        let mut scopes: Vec<&'static str> = self
            .methods
            .values()
            .flat_map(|m| match m.scope {
                "user_brief" | "user_basic" => vec![m.scope, "user"],
                scope => vec![scope],
            })
            .filter(|s| *s != "basic")
            .collect();
        scopes.sort_unstable();
        scopes.dedup();
        scopes
    }

    /// Runs one call: checks the method exists, the caller's auth type and scope, then runs it.
    pub async fn call(&self, ctx: CallContext, method: &str, params: Params) -> MethodResult {
        let spec = self.get(method).ok_or_else(RestError::method_not_found)?;
        if spec.auth == AuthRule::AppOnly && !ctx.caller.is_app() {
            return Err(RestError::wrong_auth_type());
        }
        if !ctx.caller.has_scope(spec.scope) {
            return Err(RestError::insufficient_scope());
        }
        (spec.handler)(ctx, params).await
    }
}
