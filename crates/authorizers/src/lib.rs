//! Custom authorizers through the `iot` API (botocore `iot/2015-05-28`, `config-custom-auth.md`):
//! CreateAuthorizer, DescribeAuthorizer, ListAuthorizers, UpdateAuthorizer, DeleteAuthorizer,
//! SetDefaultAuthorizer, DescribeDefaultAuthorizer and TestInvokeAuthorizer, kept per account and region in the SQLite
//! store.
//!
//! - `state.rs`: [`Authorizer`] and the rules of its fields (pure).
//! - `service.rs`: [`Authorizers`], the operations.
//! - `error.rs`: [`AuthorizerError`], AWS's exception names and statuses.
//! - `invoke.rs`: TestInvokeAuthorizer's signature check, event and function call.
//! - `connect.rs`: devices connecting through an authorizer ([`DeviceCustomAuth`], the broker's
//!   custom authenticator), with the same event and call.
//! - `http.rs`: the routes ([`routes`]), wire only.
//!
//! Choices where AWS is not documented (`docs/aws-behaviour.md` §20): an ACTIVE authorizer cannot
//! be deleted (DeleteConflictException, set it INACTIVE first); SetDefaultAuthorizer replaces
//! the default; an INACTIVE authorizer refuses connections (CUSTOM_AUTHORIZER_NOT_FOUND).

mod connect;
mod error;
mod http;
pub mod invoke;
mod service;
mod state;

pub use connect::DeviceCustomAuth;
pub use error::AuthorizerError;
pub use http::routes;
pub use service::Authorizers;
pub use state::{Authorizer, AuthorizerInput};
