//! Bitrix24 semantics that need no IO.
//!
//! - [`params`]: request parameters as PHP builds them (`fields[LIST][0][VALUE]=x`), and the
//!   helpers methods use to read them the way the Bitrix24 server code does.
//! - [`wire`]: the reverse direction, PHP `http_build_query` encoding for event deliveries.
//! - [`php_json`]: JSON as PHP's encoder writes it, and answers kept with their encoding.
//! - [`scopes`]: the scopes a Bitrix24 portal knows.
//! - [`events`]: the catalogue of events b24lite fires, with their scopes.
//! - [`error`]: the `{"error", "error_description"}` envelope with Bitrix24's codes and statuses.
//!
//! Invariant: this crate does no IO and knows nothing of tokio, HTTP servers or SQL.

pub mod error;
pub mod events;
pub mod params;
pub mod php_json;
pub mod scopes;
pub mod wire;

pub use error::RestError;
pub use params::Params;
