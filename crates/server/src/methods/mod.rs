//! REST methods, one module per family. Each module's `register` adds its methods to the table.

pub mod app;
pub mod common;
pub mod contact;
pub mod event;
pub mod field_type;
pub mod offline;
pub mod userfield;

use crate::rest::Registry;
use crate::rest::registry::{AuthRule, MethodSpec};

/// The full method table of the portal.
pub fn registry() -> Registry {
    let mut registry = Registry::default();
    registry.add(MethodSpec {
        name: "batch",
        scope: "basic",
        auth: AuthRule::Any,
        batchable: false,
        handler: |ctx, params| Box::pin(crate::rest::batch::run(ctx, params)),
    });
    common::register(&mut registry);
    app::register(&mut registry);
    event::register(&mut registry);
    offline::register(&mut registry);
    userfield::register(&mut registry);
    field_type::register(&mut registry);
    contact::register(&mut registry);
    registry
}
