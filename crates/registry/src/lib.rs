//! The AWS IoT registry (`iot` API, botocore `iot/2015-05-28/service-2.json`).
//!
//! - `state.rs`: the [`Thing`] and [`Certificate`] documents and pure checks.
//! - `service.rs`: [`Registry`], the operations, cached in memory and written through to the
//!   store before they return; [`RegistryAuthenticator`], what the broker asks about devices.
//! - `thing_groups.rs`: static thing groups ([`ThingGroup`]), their hierarchy and memberships.
//! - `certificates.rs`: certificate registration (from a CSR, under a CA, without a CA) and CA
//!   certificates, with the CAs and certificates the MQTTS listener trusts because of them.
//! - `x509.rs`: parsing certificates, checking signatures and CSRs (x509-parser, `verify`).
//! - `ca.rs`: the emulator's own CA.
//! - `policies.rs`: IoT policies ([`Policy`]), versions, attachments, and their evaluation for
//!   the broker ([`RegistryAuthorizer`]); `policy_document.rs`: the policy language itself.
//! - `paging.rs`: AWS's two pagination styles.
//! - `error.rs`: [`RegistryError`], AWS's exception names and statuses.
//! - `http/`: the REST routes (wire only), one file per area.
//!
//! AWS pages followed: register-CA-cert.md, register-device-cert.md, manual-cert-registration.md,
//! deactivate-ca-cert.md, thing-groups.md, iot-policies.md and the policy-variable pages of the
//! developer guide.
//!
//! Limitations: no dynamic thing groups, billing groups or tags (CreateThingGroup accepts `tags`
//! and drops them); thing groups have no depth or child-count limits, and the guide's "one group
//! per hierarchy" rule for things is not enforced (see `thing_groups.rs`); certificate-mode
//! SNI_ONLY is recorded but SNI is not checked; auto-registration (JITR/JITP) is run by the
//! provisioning crate in front of [`RegistryAuthenticator`]; without it an unknown certificate of
//! the emulator's CA or of an ACTIVE registered CA is registered ACTIVE on first connection; certificate transfer and tags of CA certificates are
//! not kept.

pub mod ca;
mod certificates;
mod error;
mod http;
mod paging;
mod policies;
pub mod policy_document;
mod service;
mod state;
mod thing_groups;
mod x509;

pub use certificates::{CaCertificate, RegisterCa, RegistrationConfig, UpdateCa};
pub use error::RegistryError;
pub use http::routes;
pub use paging::Page;
pub use policies::{mark_without_policy, Policy, PolicyVersion, RegistryAuthorizer, ALLOW_ALL_POLICY};
pub use service::{ListThings, NewCertificate, Registry, RegistryAuthenticator, UpdateThing};
pub use state::{Certificate, Thing};
pub use thing_groups::{
    GroupNameAndArn, ListThingGroups, NameOrArn, ThingGroup, ThingGroupDescription, ThingGroupProperties,
    MAX_GROUPS_PER_THING,
};
