//! The AWS IoT registry (`iot` API, botocore `iot/2015-05-28/service-2.json`).
//!
//! - `state.rs`: the [`Thing`] document and pure checks.
//! - `service.rs`: [`Registry`], the operations, cached in memory and written through to the
//!   store before they return.
//! - `thing_groups.rs`: static thing groups ([`ThingGroup`]), their hierarchy and memberships.
//! - `policies.rs`: IoT policies ([`Policy`]), versions, attachments, and their evaluation for
//!   the broker ([`RegistryAuthorizer`]); `policy_document.rs`: the policy language itself.
//! - `paging.rs`: AWS's two pagination styles.
//! - `error.rs`: [`RegistryError`], AWS's exception names and statuses.
//! - `http/`: the REST routes (wire only), one file per area.
//!
//! Limitations: things, thing types, static thing groups, certificates (issued by the emulator),
//! thing principals and policies so far. No dynamic thing groups, billing groups or tags (CreateThingGroup
//! accepts `tags` and drops them); thing groups have no depth or child-count limits, and the
//! guide's "one group per hierarchy" rule for things is not enforced (see `thing_groups.rs`).

pub mod ca;
mod error;
mod http;
mod paging;
mod policies;
pub mod policy_document;
mod service;
mod state;
mod thing_groups;

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
