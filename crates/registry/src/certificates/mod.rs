//! Certificates: device certificates (CreateKeysAndCertificate, Describe/List/Update/
//! DeleteCertificate) in `service.rs`, their registration and CA certificates in
//! `registration.rs` (with what the MQTTS listener trusts because of them), `http.rs` (wire
//! only).

pub(crate) mod http;
mod registration;
pub(crate) mod service;
pub(crate) mod state;

pub use registration::{CaCertificate, RegisterCa, RegistrationConfig, UpdateCa};
pub(crate) use registration::{CA_CERTIFICATE, REGISTRATION_CODE};
pub use service::NewCertificate;
pub use state::Certificate;
