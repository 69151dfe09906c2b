//! Applying an evaluated template ([`Plan`]) to the registry, as RegisterThing, fleet
//! provisioning and JITP do, with the override settings of existing resources; a resource that
//! fails undoes everything done before it, in reverse order, as AWS rolls a provisioning back.
//!
//! Order (after `jit-provisioning.md`'s list): the certificate is found (or, for the HTTP
//! RegisterThing, created from its CSR or registered from its PEM); the thing is created or
//! updated and joins its groups; each policy is created (from a document) or found (by name) and
//! attached to the certificate; the certificate is attached to the thing; its status is set last,
//! so that a failure never leaves an ACTIVE certificate behind.
//!
//! Choices where AWS is silent: a property without an override setting is left as it is
//! (DO_NOTHING); FAIL fails only when the template's value differs from the existing one; a
//! certificate in PENDING_ACTIVATION (a new one) always takes the template's status; thing groups
//! and an existing `PolicyName` must exist; `BillingGroup` must exist and puts a new thing in it
//! (an existing thing keeps its billing group).

use crate::template::{CertificateSource, Override, Plan, ThingPlan};
use iotemu_core::Scope;
use iotemu_registry::{NameOrArn, Page, Registry, RegistryError, UpdateThing};
use std::collections::{BTreeMap, BTreeSet};

/// Why a plan could not be applied (everything done was undone).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ApplyError {
    /// An override set to FAIL met a different existing value (the guide's
    /// ResourceConflictsException).
    Conflict(String),
    /// A resource could not be provisioned.
    Failure(String),
}

/// What the caller allows the template's certificate to be.
#[derive(Debug, Clone, Copy)]
pub struct Ownership<'a> {
    /// The certificate the requester proved it owns (the ownership token's, or JITP's
    /// connecting one): a `CertificateId` must name it. `None`: any certificate of the account
    /// (the HTTP RegisterThing, called with the account's credentials).
    pub certificate_id: Option<&'a str>,
    /// Whether the template may create a certificate from a CSR or register one from a PEM
    /// (the HTTP RegisterThing only: "Only certificate IDs can be used with a fleet provisioning
    /// template").
    pub allow_new_certificates: bool,
}

/// What was provisioned.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Provisioned {
    pub thing_name: Option<String>,
    pub certificate_id: Option<String>,
    pub certificate_pem: Option<String>,
    pub certificate_status: Option<String>,
    pub policies: Vec<String>,
    /// By logical id (RegisterThing's `resourceArns`).
    pub resource_arns: BTreeMap<String, String>,
}

impl Provisioned {
    /// The `details` of a Success entry.
    pub fn summary(&self) -> String {
        let mut parts = Vec::new();
        if let Some(thing) = &self.thing_name {
            parts.push(format!("thing {thing}"));
        }
        if let (Some(id), Some(status)) = (&self.certificate_id, &self.certificate_status) {
            parts.push(format!("certificate {id} {status}"));
        }
        if !self.policies.is_empty() {
            parts.push(format!("policies {}", self.policies.join(", ")));
        }
        if parts.is_empty() {
            "The template provisioned no resource.".to_string()
        } else {
            format!("Provisioned {}.", parts.join("; "))
        }
    }
}

/// One step to take back.
enum Undo {
    DeleteThing(String),
    RestoreThing { name: String, attributes: BTreeMap<String, String>, type_name: Option<String> },
    LeaveGroup { thing: String, group: String },
    JoinGroup { thing: String, group: String },
    DetachPrincipal { thing: String, principal: String },
    DeletePolicy(String),
    DetachPolicy { policy: String, target: String },
    SetStatus { certificate: String, status: String },
    DeleteCertificate(String),
}

/// Applies `plan` in `scope`; on failure nothing it did remains.
pub fn apply(
    registry: &Registry,
    scope: &Scope,
    plan: &Plan,
    ownership: Ownership<'_>,
) -> Result<Provisioned, ApplyError> {
    let mut undo = Vec::new();
    let result = apply_steps(registry, scope, plan, ownership, &mut undo);
    if result.is_err() {
        roll_back(registry, scope, undo);
    }
    result
}

fn failure(what: impl std::fmt::Display, e: RegistryError) -> ApplyError {
    ApplyError::Failure(format!("{what}: {e}"))
}

fn apply_steps(
    registry: &Registry,
    scope: &Scope,
    plan: &Plan,
    ownership: Ownership<'_>,
    undo: &mut Vec<Undo>,
) -> Result<Provisioned, ApplyError> {
    let mut out = Provisioned::default();
    // The certificate, and whether this request made it (its status is then the template's).
    let mut certificate = None;
    if let Some(cert) = &plan.certificate {
        let (found, new) = match &cert.source {
            CertificateSource::Id(id) => {
                if ownership.certificate_id.is_some_and(|owned| owned != id) {
                    return Err(ApplyError::Failure(format!(
                        "{}: the certificate must be the one being provisioned ({}), not {id}",
                        cert.logical_id,
                        ownership.certificate_id.unwrap_or_default()
                    )));
                }
                let found = registry
                    .describe_certificate(scope, id)
                    .map_err(|e| failure(format!("{} {id}", cert.logical_id), e))?;
                let new = found.status == "PENDING_ACTIVATION";
                (found, new)
            }
            _ if !ownership.allow_new_certificates => {
                return Err(ApplyError::Failure(format!(
                    "{}: a fleet provisioning template names its certificate by CertificateId",
                    cert.logical_id
                )))
            }
            CertificateSource::Csr(csr) => {
                let made = registry
                    .create_certificate_from_csr_with_status(scope, csr, "INACTIVE")
                    .map_err(|e| failure(&cert.logical_id, e))?;
                undo.push(Undo::DeleteCertificate(made.id.clone()));
                (made, true)
            }
            CertificateSource::Pem { pem, ca_pem } => {
                let id = iotemu_core::certificate_id(&pem_der(pem).map_err(ApplyError::Failure)?);
                match registry.describe_certificate(scope, &id) {
                    Ok(existing) => (existing, false),
                    Err(_) => {
                        let made = registry
                            .register_certificate(scope, pem, ca_pem.as_deref(), Some("INACTIVE"), false)
                            .map_err(|e| failure(&cert.logical_id, e))?;
                        undo.push(Undo::DeleteCertificate(made.id.clone()));
                        (made, true)
                    }
                }
            }
        };
        out.resource_arns.insert(cert.logical_id.clone(), found.arn.clone());
        out.certificate_id = Some(found.id.clone());
        out.certificate_pem = Some(found.pem.clone());
        certificate = Some((found, new));
    }
    if let Some(thing) = &plan.thing {
        let arn = apply_thing(registry, scope, thing, undo)?;
        out.resource_arns.insert(thing.logical_id.clone(), arn);
        out.thing_name = Some(thing.name.clone());
    }
    for policy in &plan.policies {
        let existing = registry.get_policy(scope, &policy.name);
        let arn = match (existing, &policy.document) {
            (Ok(found), _) => found.arn,
            (Err(_), Some(document)) => {
                let made = registry
                    .create_policy(scope, &policy.name, document)
                    .map_err(|e| failure(format!("{} {}", policy.logical_id, policy.name), e))?;
                undo.push(Undo::DeletePolicy(made.name.clone()));
                made.arn
            }
            (Err(e), None) => return Err(failure(format!("{} {}", policy.logical_id, policy.name), e)),
        };
        if let Some((cert, _)) = &certificate {
            if !registry.policies_of(scope, &cert.arn).contains(&policy.name) {
                registry
                    .attach_policy(scope, &policy.name, &cert.arn)
                    .map_err(|e| failure(format!("attaching {} to the certificate", policy.name), e))?;
                undo.push(Undo::DetachPolicy { policy: policy.name.clone(), target: cert.arn.clone() });
            }
        }
        out.resource_arns.insert(policy.logical_id.clone(), arn);
        out.policies.push(policy.name.clone());
    }
    if let (Some((cert, new)), Some(plan_cert)) = (&certificate, &plan.certificate) {
        if let Some(thing) = &plan.thing {
            let attached =
                registry.describe_thing(scope, &thing.name).is_ok_and(|t| t.principals.contains(&cert.arn));
            if !attached {
                registry
                    .attach_thing_principal(scope, &thing.name, &cert.arn)
                    .map_err(|e| failure(format!("attaching the certificate to {}", thing.name), e))?;
                undo.push(Undo::DetachPrincipal { thing: thing.name.clone(), principal: cert.arn.clone() });
            }
        }
        let target = &plan_cert.status;
        let change = if *new {
            true
        } else {
            match plan_cert.status_override {
                Override::DoNothing | Override::Merge => false,
                Override::Replace => cert.status != *target,
                Override::Fail if cert.status != *target => {
                    return Err(ApplyError::Conflict(format!(
                    "ResourceConflictsException: certificate {} is {}, the template sets {target} and its \
                         override is FAIL",
                    cert.id, cert.status
                )))
                }
                Override::Fail => false,
            }
        };
        let status = if change { target.clone() } else { cert.status.clone() };
        if change && cert.status != *target {
            registry
                .update_certificate(scope, &cert.id, target)
                .map_err(|e| failure(format!("setting certificate {} {target}", cert.id), e))?;
            undo.push(Undo::SetStatus { certificate: cert.id.clone(), status: cert.status.clone() });
        }
        out.certificate_status = Some(status);
    }
    Ok(out)
}

/// The DER of a PEM certificate.
fn pem_der(pem: &str) -> Result<Vec<u8>, String> {
    use x509_parser::pem::parse_x509_pem;
    parse_x509_pem(pem.as_bytes()).map(|(_, p)| p.contents).map_err(|e| format!("CertificatePem: {e}"))
}

fn conflict(thing: &str, property: &str) -> ApplyError {
    ApplyError::Conflict(format!(
        "ResourceConflictsException: thing {thing} exists with another {property} and its override is FAIL"
    ))
}

/// Creates the thing, or updates an existing one as its override settings say; returns its ARN.
fn apply_thing(
    registry: &Registry,
    scope: &Scope,
    plan: &ThingPlan,
    undo: &mut Vec<Undo>,
) -> Result<String, ApplyError> {
    let name = &plan.name;
    let what = |e| failure(format!("{} {name}", plan.logical_id), e);
    let existing = match registry.describe_thing(scope, name) {
        Ok(thing) => thing,
        Err(_) => {
            let created = registry
                .create_thing(
                    scope,
                    name,
                    plan.type_name.clone(),
                    plan.attributes.clone().unwrap_or_default(),
                )
                .map_err(what)?;
            undo.push(Undo::DeleteThing(name.clone()));
            for group in plan.groups.iter().flatten() {
                join(registry, scope, name, group, undo)?;
            }
            if let Some(group) = &plan.billing_group {
                registry
                    .add_thing_to_billing_group(scope, group, name)
                    .map_err(|e| failure(format!("adding {name} to billing group {group}"), e))?;
            }
            return Ok(created.arn);
        }
    };
    let mut update = UpdateThing::default();
    if let Some(attributes) = &plan.attributes {
        match plan.attributes_override {
            Override::DoNothing => {}
            Override::Fail if existing.attributes != *attributes => {
                return Err(conflict(name, "AttributePayload"))
            }
            Override::Fail => {}
            Override::Replace => update.attributes = Some((attributes.clone(), false)),
            Override::Merge => update.attributes = Some((attributes.clone(), true)),
        }
    }
    if let Some(type_name) = &plan.type_name {
        let differs = existing.type_name.as_ref() != Some(type_name);
        match plan.type_override {
            Override::Fail if differs => return Err(conflict(name, "ThingTypeName")),
            Override::Replace if differs => update.type_name = Some(type_name.clone()),
            _ => {}
        }
    }
    let current: BTreeSet<String> = groups_of(registry, scope, name).map_err(what)?;
    let (mut join_groups, mut leave_groups) = (Vec::new(), Vec::new());
    if let Some(groups) = &plan.groups {
        let wanted: BTreeSet<String> = groups.iter().cloned().collect();
        match plan.groups_override {
            Override::DoNothing => {}
            Override::Fail if wanted != current => return Err(conflict(name, "ThingGroups")),
            Override::Fail => {}
            Override::Merge => join_groups = wanted.difference(&current).cloned().collect(),
            Override::Replace => {
                join_groups = wanted.difference(&current).cloned().collect();
                leave_groups = current.difference(&wanted).cloned().collect();
            }
        }
    }
    if update.attributes.is_some() || update.type_name.is_some() {
        registry.update_thing(scope, name, update).map_err(what)?;
        undo.push(Undo::RestoreThing {
            name: name.clone(),
            attributes: existing.attributes.clone(),
            type_name: existing.type_name.clone(),
        });
    }
    for group in leave_groups {
        registry
            .remove_thing_from_thing_group(
                scope,
                &NameOrArn::Name(group.clone()),
                &NameOrArn::Name(name.clone()),
            )
            .map_err(|e| failure(format!("removing {name} from {group}"), e))?;
        undo.push(Undo::JoinGroup { thing: name.clone(), group });
    }
    for group in join_groups {
        join(registry, scope, name, &group, undo)?;
    }
    Ok(existing.arn)
}

fn join(
    registry: &Registry,
    scope: &Scope,
    thing: &str,
    group: &str,
    undo: &mut Vec<Undo>,
) -> Result<(), ApplyError> {
    registry
        .add_thing_to_thing_group(
            scope,
            &NameOrArn::Name(group.to_string()),
            &NameOrArn::Name(thing.to_string()),
            false,
        )
        .map_err(|e| failure(format!("adding {thing} to thing group {group}"), e))?;
    undo.push(Undo::LeaveGroup { thing: thing.to_string(), group: group.to_string() });
    Ok(())
}

/// The groups `thing` is a direct member of.
fn groups_of(registry: &Registry, scope: &Scope, thing: &str) -> Result<BTreeSet<String>, RegistryError> {
    let page = Page { max_results: Some(250), next_token: None };
    let (groups, _) = registry.list_thing_groups_for_thing(scope, thing, &page)?;
    Ok(groups.into_iter().map(|g| g.name).collect())
}

/// Takes back `undo`, newest first. A step that fails is logged and the others still run.
fn roll_back(registry: &Registry, scope: &Scope, undo: Vec<Undo>) {
    for step in undo.into_iter().rev() {
        let result = match step {
            Undo::DeleteThing(name) => registry.delete_thing(scope, &name, None),
            Undo::RestoreThing { name, attributes, type_name } => {
                let update = UpdateThing {
                    remove_type: type_name.is_none(),
                    type_name,
                    attributes: Some((attributes, false)),
                    expected_version: None,
                };
                registry.update_thing(scope, &name, update)
            }
            Undo::LeaveGroup { thing, group } => registry.remove_thing_from_thing_group(
                scope,
                &NameOrArn::Name(group),
                &NameOrArn::Name(thing),
            ),
            Undo::JoinGroup { thing, group } => registry.add_thing_to_thing_group(
                scope,
                &NameOrArn::Name(group),
                &NameOrArn::Name(thing),
                false,
            ),
            Undo::DetachPrincipal { thing, principal } => {
                registry.detach_thing_principal(scope, &thing, &principal)
            }
            Undo::DeletePolicy(name) => registry.delete_policy(scope, &name),
            Undo::DetachPolicy { policy, target } => registry.detach_policy(scope, &policy, &target),
            Undo::SetStatus { certificate, status } => {
                registry.update_certificate(scope, &certificate, &status)
            }
            Undo::DeleteCertificate(id) => registry.delete_certificate(scope, &id),
        };
        if let Err(e) = result {
            tracing::warn!(error = %e, "rolling back a provisioning: a step could not be undone");
        }
    }
}
