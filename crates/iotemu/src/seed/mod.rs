//! `--seed FILE` (`IOTEMU_SEED`): fixtures declared in a TOML or JSON file and created at start,
//! before any listener answers, so that tests and CI find the same things, groups, policies,
//! certificates, rules and jobs on every run.
//!
//! Each entry is the request of the AWS operation that creates it, with the members botocore's
//! `iot` model names (`[[things]] thingName = "lamp-1"` plus `attributePayload = {...}` is
//! CreateThing), and it goes through the emulator's own HTTP router in-process, so every
//! operation's validation applies and an error reads as the API's. An entry that already exists
//! (ResourceAlreadyExistsException, or an operation that is idempotent anyway) counts as applied:
//! the seed creates what is missing and never changes or deletes anything, so a restart on the
//! same data directory is a no-op. A few keys that are not AWS members link entries
//! (`thingGroups` of a thing, `policies` of a thing group or certificate, `things` of a
//! certificate); the certificate entries are iotemu's own ([`certificates`]).
//!
//! Order: thingTypes, thingGroups (parents first), billingGroups, things, policies, certificates, then the
//! links, then loggingOptions, logLevels, topicRules, jobTemplates, jobs and
//! provisioningTemplates. The whole file is checked before anything is applied.
//!
//! A running emulator takes a seed too, on `POST /_iotemu/seed` ([`http`]): for CI service
//! containers, which start before the job's checkout, and for test suites that reset and seed
//! again between tests.

mod api;
mod certificates;
pub mod http;

use api::{Api, Call};
use axum::http::Method;
use axum::Router;
use serde_json::{json, Map, Value};
use std::path::{Path, PathBuf};

/// A seed that cannot be read or applied, naming the entry (`seed things[2] (sensor-3): ...`).
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct SeedError(pub String);

/// A seed file, read and checked.
#[derive(Debug)]
pub struct Seed {
    /// Where relative paths start: the file's folder.
    base: PathBuf,
    sections: Map<String, Value>,
}

/// What applying a seed did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Applied {
    /// Requests that succeeded (an idempotent one succeeds again on a restart).
    pub created: usize,
    /// Entries left as they were because they already exist.
    pub existing: usize,
    /// The certificates, by entry name: `certificateArn`, `certificateId`, and the
    /// `certificatePem` and `privateKey` of those written to a folder.
    pub certificates: Map<String, Value>,
}

/// A kind of entry: the operation that creates it and the members it takes.
struct Section {
    key: &'static str,
    operation: &'static str,
    method: &'static str,
    /// The request URI; `{}` is the entry's name, percent-encoded.
    path: &'static str,
    /// The member that names an entry ("" for none).
    name: &'static str,
    /// The other members of the request (botocore's `iot` model).
    members: &'static [&'static str],
    /// Members sent as a JSON string, which the seed may give as a table.
    json_strings: &'static [&'static str],
    /// The member that is the whole body (CreateTopicRule's `topicRulePayload`).
    payload: Option<&'static str>,
    /// iotemu's link keys, applied after every entry is created.
    links: &'static [&'static str],
}

const fn section(
    key: &'static str,
    operation: &'static str,
    method: &'static str,
    path: &'static str,
) -> Section {
    Section {
        key,
        operation,
        method,
        path,
        name: "",
        members: &[],
        json_strings: &[],
        payload: None,
        links: &[],
    }
}

/// The sections created before the links, in order.
static CREATE_FIRST: [Section; 5] = [
    Section {
        name: "thingTypeName",
        members: &["thingTypeProperties", "tags"],
        ..section("thingTypes", "CreateThingType", "POST", "/thing-types/{}")
    },
    Section {
        name: "thingGroupName",
        members: &["parentGroupName", "thingGroupProperties", "tags"],
        links: &["policies"],
        ..section("thingGroups", "CreateThingGroup", "POST", "/thing-groups/{}")
    },
    Section {
        name: "billingGroupName",
        members: &["billingGroupProperties", "tags"],
        ..section("billingGroups", "CreateBillingGroup", "POST", "/billing-groups/{}")
    },
    Section {
        name: "thingName",
        members: &["thingTypeName", "attributePayload", "billingGroupName"],
        links: &["thingGroups"],
        ..section("things", "CreateThing", "POST", "/things/{}")
    },
    Section {
        name: "policyName",
        members: &["policyDocument", "tags"],
        json_strings: &["policyDocument"],
        ..section("policies", "CreatePolicy", "POST", "/policies/{}")
    },
];

/// The sections created after the links (jobs target the groups' members).
static CREATE_AFTER: [Section; 6] = [
    Section {
        members: &["roleArn", "defaultLogLevel", "disableAllLogs", "eventConfigurations"],
        ..section("loggingOptions", "SetV2LoggingOptions", "POST", "/v2LoggingOptions")
    },
    Section {
        members: &["logTarget", "logLevel"],
        ..section("logLevels", "SetV2LoggingLevel", "POST", "/v2LoggingLevel")
    },
    Section {
        name: "ruleName",
        members: &["topicRulePayload"],
        payload: Some("topicRulePayload"),
        ..section("topicRules", "CreateTopicRule", "POST", "/rules/{}")
    },
    Section {
        name: "jobTemplateId",
        members: &[
            "jobArn",
            "documentSource",
            "document",
            "description",
            "presignedUrlConfig",
            "jobExecutionsRolloutConfig",
            "abortConfig",
            "timeoutConfig",
            "tags",
            "jobExecutionsRetryConfig",
            "maintenanceWindows",
            "destinationPackageVersions",
        ],
        json_strings: &["document"],
        ..section("jobTemplates", "CreateJobTemplate", "PUT", "/job-templates/{}")
    },
    Section {
        name: "jobId",
        members: &[
            "targets",
            "documentSource",
            "document",
            "description",
            "presignedUrlConfig",
            "targetSelection",
            "jobExecutionsRolloutConfig",
            "abortConfig",
            "timeoutConfig",
            "tags",
            "namespaceId",
            "jobTemplateArn",
            "jobExecutionsRetryConfig",
            "documentParameters",
            "schedulingConfig",
            "destinationPackageVersions",
        ],
        json_strings: &["document"],
        ..section("jobs", "CreateJob", "PUT", "/jobs/{}")
    },
    Section {
        name: "templateName",
        members: &[
            "description",
            "templateBody",
            "enabled",
            "provisioningRoleArn",
            "preProvisioningHook",
            "tags",
            "type",
        ],
        json_strings: &["templateBody"],
        ..section("provisioningTemplates", "CreateProvisioningTemplate", "POST", "/provisioning-templates")
    },
];

fn sections() -> impl Iterator<Item = &'static Section> {
    CREATE_FIRST.iter().chain(CREATE_AFTER.iter())
}

/// One entry of a section: where it is, for error messages.
struct Entry<'a> {
    label: String,
    fields: &'a Map<String, Value>,
}

impl Seed {
    /// Reads `path` (JSON when it ends in `.json`, else TOML) and checks every entry's shape.
    pub fn load(path: &Path) -> Result<Seed, SeedError> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| SeedError(format!("cannot read seed file {}: {e}", path.display())))?;
        let is_json = path.extension().is_some_and(|e| e.eq_ignore_ascii_case("json"));
        let base = path.parent().unwrap_or(Path::new(".")).to_owned();
        Seed::parse(&text, is_json, &format!("seed file {}", path.display()), base)
    }

    /// A seed from text; `origin` says where it comes from in errors, relative paths start at
    /// `base`.
    pub fn parse(text: &str, is_json: bool, origin: &str, base: PathBuf) -> Result<Seed, SeedError> {
        let value: Value = if is_json {
            serde_json::from_str(text).map_err(|e| e.to_string())
        } else {
            toml::from_str(text).map_err(|e| e.to_string())
        }
        .map_err(|e| SeedError(format!("invalid {origin}: {}", one_line(&e))))?;
        let Value::Object(sections) = value else {
            return Err(SeedError(format!("invalid {origin}: expected a table of sections")));
        };
        let seed = Seed { base, sections };
        seed.check()?;
        Ok(seed)
    }

    /// Checks section names, entry shapes, names and keys, so that nothing is applied from a
    /// file with a mistake in its last entry.
    fn check(&self) -> Result<(), SeedError> {
        let known: Vec<&str> = sections().map(|s| s.key).chain(["certificates"]).collect();
        if let Some(key) = self.sections.keys().find(|k| !known.contains(&k.as_str())) {
            return Err(SeedError(format!(
                "seed: unknown section {key:?} (the sections are {})",
                known.join(", ")
            )));
        }
        for section in sections() {
            for entry in self.entries(section.key)? {
                check_entry(section, &entry)?;
            }
        }
        for entry in self.entries("certificates")? {
            certificates::CertificateEntry::parse(&entry, self.base_dir())?;
        }
        Ok(())
    }

    fn base_dir(&self) -> &Path {
        &self.base
    }

    /// The entries of a section: an array of tables, or one table (`[loggingOptions]`).
    fn entries(&self, key: &str) -> Result<Vec<Entry<'_>>, SeedError> {
        let items: Vec<&Value> = match self.sections.get(key) {
            None => return Ok(Vec::new()),
            Some(Value::Array(items)) => items.iter().collect(),
            Some(table @ Value::Object(_)) => vec![table],
            Some(_) => return Err(SeedError(format!("seed {key}: expected a list of tables"))),
        };
        let single = matches!(self.sections.get(key), Some(Value::Object(_)));
        let name_member = sections().find(|s| s.key == key).map_or("name", |s| s.name);
        items
            .into_iter()
            .enumerate()
            .map(|(i, item)| {
                let at = if single { key.to_string() } else { format!("{key}[{i}]") };
                let Value::Object(fields) = item else {
                    return Err(SeedError(format!("seed {at}: expected a table")));
                };
                let name = match fields.get(name_member) {
                    Some(Value::String(name)) => Some(name.clone()),
                    _ if key == "logLevels" => fields.get("logTarget").map(log_target_label),
                    _ => None,
                };
                let label = match name {
                    Some(name) => format!("{at} ({name})"),
                    None => at,
                };
                Ok(Entry { label, fields })
            })
            .collect()
    }

    /// Creates what the file declares and is not there yet, through `router` (the API port's
    /// router) as the configured account and region.
    pub async fn apply(&self, router: &Router, account: &str, region: &str) -> Result<Applied, SeedError> {
        let api = Api::new(router, account, region);
        let mut applied = Applied::default();
        for section in &CREATE_FIRST {
            for entry in self.entries(section.key)? {
                applied.count(create(&api, section, &entry).await?);
            }
        }
        let mut certificate_arns = Vec::new();
        for entry in self.entries("certificates")? {
            let certificate = certificates::CertificateEntry::parse(&entry, self.base_dir())?;
            let (arn, created) = certificate.create(&api, &entry.label).await?;
            applied.count(created);
            certificate_arns.push((certificate, arn, entry.label));
        }
        self.link(&api, &mut applied).await?;
        for (certificate, arn, label) in &certificate_arns {
            for n in certificate.link(&api, arn, label).await? {
                applied.count(n);
            }
            applied.certificates.insert(certificate.name().to_string(), certificate.describe(arn));
        }
        for section in &CREATE_AFTER {
            for entry in self.entries(section.key)? {
                applied.count(create(&api, section, &entry).await?);
            }
        }
        Ok(applied)
    }

    /// Things into their groups, policies onto their groups.
    async fn link(&self, api: &Api<'_>, applied: &mut Applied) -> Result<(), SeedError> {
        for entry in self.entries("things")? {
            let thing = entry.fields["thingName"].as_str().unwrap_or_default();
            for (i, group) in names(&entry, "thingGroups")?.into_iter().enumerate() {
                let body = json!({ "thingGroupName": group, "thingName": thing });
                let call = Call::new(Method::PUT, "/thing-groups/addThingToThingGroup").body(body);
                let label = format!("{} thingGroups[{i}] ({group})", entry.label);
                applied.count(api.apply(call, "AddThingToThingGroup", &label).await?.1);
            }
        }
        for entry in self.entries("thingGroups")? {
            let group = entry.fields["thingGroupName"].as_str().unwrap_or_default();
            let arn = api.arn(&format!("thinggroup/{group}"));
            for (i, policy) in names(&entry, "policies")?.into_iter().enumerate() {
                let label = format!("{} policies[{i}] ({policy})", entry.label);
                applied.count(attach_policy(api, &policy, &arn, &label).await?);
            }
        }
        Ok(())
    }
}

impl Applied {
    fn count(&mut self, created: bool) {
        if created {
            self.created += 1;
        } else {
            self.existing += 1;
        }
    }
}

/// AttachPolicy (idempotent on AWS too).
async fn attach_policy(api: &Api<'_>, policy: &str, target: &str, label: &str) -> Result<bool, SeedError> {
    let call = Call::new(Method::PUT, &format!("/target-policies/{}", api::encode(policy)))
        .body(json!({ "target": target }));
    Ok(api.apply(call, "AttachPolicy", label).await?.1)
}

fn check_entry(section: &Section, entry: &Entry<'_>) -> Result<(), SeedError> {
    let fail = |message: String| Err(SeedError(format!("seed {}: {message}", entry.label)));
    if !section.name.is_empty()
        && !matches!(entry.fields.get(section.name), Some(Value::String(s)) if !s.is_empty())
    {
        return fail(format!("{} is required ({} needs it)", section.name, section.operation));
    }
    let allowed =
        |key: &str| key == section.name || section.members.contains(&key) || section.links.contains(&key);
    if let Some(key) = entry.fields.keys().find(|k| !allowed(k)) {
        let mut takes = section.members.join(", ");
        if !section.links.is_empty() {
            takes = format!("{takes}; iotemu adds {}", section.links.join(", "));
        }
        return fail(format!("unknown key {key:?} ({} takes {takes})", section.operation));
    }
    for link in section.links {
        names(entry, link)?;
    }
    Ok(())
}

/// A list of names (`thingGroups = ["a", "b"]`).
fn names(entry: &Entry<'_>, key: &str) -> Result<Vec<String>, SeedError> {
    match entry.fields.get(key) {
        None => Ok(Vec::new()),
        Some(Value::Array(items)) if items.iter().all(|i| i.as_str().is_some_and(|s| !s.is_empty())) => {
            Ok(items.iter().filter_map(|i| i.as_str().map(str::to_string)).collect())
        }
        Some(_) => Err(SeedError(format!("seed {}: {key} must be a list of names", entry.label))),
    }
}

/// Sends the operation of one entry: true when it created something.
async fn create(api: &Api<'_>, section: &Section, entry: &Entry<'_>) -> Result<bool, SeedError> {
    let name = entry.fields.get(section.name).and_then(Value::as_str).unwrap_or_default();
    let mut body = Map::new();
    for (key, value) in entry.fields {
        if section.links.contains(&key.as_str()) || (key == section.name && section.path.contains("{}")) {
            continue;
        }
        let value = match value {
            Value::Object(_) | Value::Array(_) if section.json_strings.contains(&key.as_str()) => {
                Value::String(value.to_string())
            }
            other => other.clone(),
        };
        body.insert(key.clone(), value);
    }
    let body = match section.payload {
        Some(member) => body.remove(member).unwrap_or(Value::Null),
        None => Value::Object(body),
    };
    let path = section.path.replace("{}", &api::encode(name));
    let method = Method::from_bytes(section.method.as_bytes()).unwrap_or(Method::POST);
    let call = Call::new(method, &path).body(body);
    Ok(api.apply(call, section.operation, &entry.label).await?.1)
}

/// `THING_GROUP:sensors` for a log level's target.
fn log_target_label(target: &Value) -> String {
    let part = |key| target.get(key).and_then(Value::as_str).unwrap_or("");
    match part("targetName") {
        "" => part("targetType").to_string(),
        name => format!("{}:{name}", part("targetType")),
    }
}

fn one_line(message: &str) -> String {
    message.split_whitespace().collect::<Vec<_>>().join(" ")
}

#[cfg(test)]
mod tests;
