//! The AWS IoT registry (`iot` API, botocore `iot/2015-05-28/service-2.json`).
//!
//! One folder per area, each with its `service.rs` (the operations, cached in memory and written
//! through to the store before they return) and `http.rs` (wire only):
//! - `things/`: [`Thing`]s and thing types (`state.rs`: the documents and their checks), and
//!   thing principals.
//! - `certificates/`: device certificates (`state.rs`: [`Certificate`]; `service.rs`:
//!   CreateKeysAndCertificate, Describe/List/Update/DeleteCertificate) and `registration.rs`:
//!   certificate registration (from a CSR, under a CA, without a CA) and CA certificates, with
//!   the CAs and certificates the MQTTS listener trusts because of them.
//! - `policies/`: IoT policies ([`Policy`]), versions, attachments, and their evaluation for the
//!   broker ([`RegistryAuthorizer`]); `policy_document.rs`: the policy language itself.
//! - `thing_groups/`: static thing groups (`state.rs`: [`ThingGroup`] and the hierarchy),
//!   memberships.
//!
//! Beside them: `service.rs`: [`Registry`], loading and reset, and [`RegistryAuthenticator`],
//! what the broker asks about devices; `http.rs`: the router and the wire helpers the areas
//! share; `x509.rs`: parsing certificates, checking signatures and CSRs (x509-parser,
//! `verify`); `ca.rs`: the emulator's own CA; `paging.rs`: the page sizes of AWS's two
//! pagination styles; `error.rs`: [`RegistryError`], AWS's exception names and statuses.
//!
//! AWS pages followed: register-CA-cert.md, register-device-cert.md, manual-cert-registration.md,
//! deactivate-ca-cert.md, thing-groups.md, iot-policies.md and the policy-variable pages of the
//! developer guide.
//!
//! - `thing_groups/dynamic.rs`: dynamic thing groups' documents and the limits and conflict
//!   rules of their memberships, which the fleet index (`iotemu-index`) decides.
//!
//! - `billing_groups/`: billing groups and their things (a thing is in at most one).
//! - `tags.rs`: TagResource, UntagResource and ListTagsForResource for every taggable resource
//!   (the tags are kept in the store by ARN, `iotemu_api::tags`).
//!
//! Limitations: thing groups have no depth or child-count limits, and the guide's "one group
//! per hierarchy" rule for things is not enforced (see `thing_groups/service.rs`); certificate-mode
//! SNI_ONLY is recorded but SNI is not checked; auto-registration (JITR/JITP) is run by the
//! provisioning crate in front of [`RegistryAuthenticator`]; without it an unknown certificate of
//! the emulator's CA or of an ACTIVE registered CA is registered ACTIVE on first connection;
//! certificate transfer is not kept.

mod billing_groups;
pub mod ca;
mod certificates;
mod error;
mod events;
mod http;
mod lazy;
mod paging;
mod policies;
pub mod policy_document;
mod service;
mod tags;
mod thing_groups;
mod things;
mod x509;

pub use billing_groups::BillingGroup;
pub use certificates::{
    CaCertificate, Certificate, NewCertificate, RegisterCa, RegistrationConfig, UpdateCa,
};
pub use error::RegistryError;
pub use http::routes;
pub use paging::Page;
pub use policies::{record_issued_device, Policy, PolicyVersion, RegistryAuthorizer, ALLOW_ALL_POLICY};
pub use service::{Registry, RegistryAuthenticator};
pub use thing_groups::http::PropertiesRequest as ThingGroupPropertiesRequest;
pub use thing_groups::{
    DynamicGroupsFailed, DynamicQuery, GroupNameAndArn, ListThingGroups, NameOrArn, ThingGroup,
    ThingGroupDescription, ThingGroupProperties, MAX_GROUPS_PER_THING,
};
pub use things::{ListThings, Thing, UpdateThing};
