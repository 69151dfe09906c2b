//! The AWS IoT registry (`iot` API, botocore `iot/2015-05-28/service-2.json`).
//!
//! - `state.rs`: the [`Thing`] and [`Certificate`] documents and pure checks.
//! - `service.rs`: [`Registry`], the operations, cached in memory and written through to the
//!   store before they return; [`RegistryAuthenticator`], what the broker asks about devices.
//! - `certificates.rs`: certificate registration (from a CSR, under a CA, without a CA) and CA
//!   certificates, with the CAs and certificates the MQTTS listener trusts because of them.
//! - `x509.rs`: parsing certificates, checking signatures and CSRs (x509-parser, `verify`).
//! - `ca.rs`: the emulator's own CA.
//! - `error.rs`: [`RegistryError`], AWS's exception names and statuses.
//! - `http/`: the REST routes (wire only), one file per area.
//!
//! AWS pages followed: register-CA-cert.md, register-device-cert.md, manual-cert-registration.md,
//! deactivate-ca-cert.md of the developer guide.
//!
//! Limitations: thing groups and policies are not here yet; certificate-mode SNI_ONLY is recorded
//! but SNI is not checked; auto-registration (JITR/JITP) is stored, not run: instead an unknown
//! certificate of the emulator's CA or of an ACTIVE registered CA is registered ACTIVE on first
//! connection; certificate transfer and tags of CA certificates are not kept.

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
