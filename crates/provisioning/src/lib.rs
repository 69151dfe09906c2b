//! AWS IoT fleet provisioning: provisioning templates (`iot` CreateProvisioningTemplate and the
//! rest, versions, pre-provisioning hooks, FLEET_PROVISIONING and JITP types), the device MQTT
//! API (`$aws/certificates/create/...`, `$aws/certificates/create-from-csr/...`,
//! `$aws/provisioning-templates/<name>/provision/...`, JSON or CBOR), RegisterThing over HTTP,
//! just-in-time provisioning and registration on a device's first connection, and the
//! GetDeviceCredentials and ProvisionDevice entries.
//!
//! - `state.rs`: templates, versions and ownership tokens, their limits and checks (pure).
//! - [`template`]: the template engine (pure): parameters, mappings, intrinsic functions,
//!   resources and override settings into a [`template::Plan`].
//! - `register.rs`: applying a plan to the registry, with rollback.
//! - `service.rs`: [`Provisioning`], the control plane, persistence, token expiry.
//! - `device.rs`: the device operations and their entries.
//! - [`hook`]: pre-provisioning hooks, POSTed to `[provisioning] hook_endpoints`.
//! - [`jit`]: JITP and JITR, in front of the registry's authenticator.
//! - [`mqtt`], [`http`]: the wire.
//!
//! AWS pages followed: provision-wo-cert.md, fleet-provision-api.md, provision-template.md,
//! pre-provisioning-hook.md, jit-provisioning.md, auto-register-device-cert.md,
//! single-thing-provisioning.md, and botocore's `iot` model.
//!
//! Which request writes which entry (AWS leaves it open): the MQTT CreateKeysAndCertificate and
//! CreateCertificateFromCsr write GetDeviceCredentials; the MQTT RegisterThing and JITP write
//! ProvisionDevice; the HTTP API (CreateKeysAndCertificate, RegisterThing) writes none. A Success
//! is INFO with `details` saying what was made; a Failure is ERROR with `reason` the rejection's
//! `errorCode` and `details` its `errorMessage`; `deviceCertificateId` is empty when no
//! certificate is known (an unreadable request, an invalid token).
//!
//! Limitations: CreateProvisioningClaim (provisioning by trusted user), bulk registration
//! (StartThingRegistrationTask) is not implemented; a template's
//! `provisioningRoleArn` is kept but no IAM role is checked.

mod device;
mod error;
pub mod hook;
pub mod http;
pub mod jit;
pub mod mqtt;
mod register;
mod service;
pub mod state;
pub mod template;

pub use device::{DeviceCall, CERTIFICATE_ID};
pub use error::{ProvisioningError, Rejection};
pub use register::Provisioned;
pub use service::{CreateTemplate, Provisioning, Settings, UpdateTemplate};

#[cfg(test)]
mod tests;
