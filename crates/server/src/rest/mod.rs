//! The Bitrix24 call protocol, independent of HTTP.
//!
//! A call flows through: [`auth`] (who is calling, with which scopes) → [`limits`] (request
//! rate, operating time) → [`registry`] (find the method, check scope and auth type) → the
//! method → [`envelope`] (`result`, `total`, `next`, `time`). [`batch`] re-enters the same path
//! for each sub-call with the caller's credentials.

pub mod auth;
pub mod batch;
pub mod context;
pub mod envelope;
pub mod limits;
pub mod paging;
pub mod registry;

pub use context::{CallContext, Caller, Credential};
pub use envelope::MethodOutput;
pub use registry::{MethodResult, Registry};
