//! The AWS IoT registry (`iot` API, botocore `iot/2015-05-28/service-2.json`).
//!
//! - `state.rs`: the [`Thing`] document and pure checks.
//! - `service.rs`: [`Registry`], the operations, cached in memory and written through to the
//!   store before they return.
//! - `error.rs`: [`RegistryError`], AWS's exception names and statuses.
//! - `http.rs`: the REST routes (wire only).
//!
//! Limitations: things, certificates (issued by the emulator) and thing principals so far; a `thingTypeName` is stored but not checked against thing
//! types, which do not exist yet.

pub mod ca;
mod certificates;
mod error;
mod http;
mod service;
mod state;
mod x509;

pub use certificates::{CaCertificate, RegisterCa, RegistrationConfig, UpdateCa};
pub use error::RegistryError;
pub use http::routes;
pub use service::{ListThings, NewCertificate, Registry, RegistryAuthenticator, UpdateThing};
pub use state::{Certificate, Thing};
