//! AWS IoT's reserved topics (`$aws/...`), parsed once into a typed value, and the seam where
//! services attach to the broker.
//!
//! Topic shapes follow the developer guide's "Reserved topics" page (`reserved-topics.md`).

use crate::RequestContext;
use bytes::Bytes;

/// A `$aws/...` topic, classified by the service that owns it. Unknown `$aws/` topics are
/// [`ReservedTopic::Other`]; topics outside `$aws/` do not parse at all.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReservedTopic<'a> {
    /// `$aws/things/{thing}/shadow/...`; `rest` is what follows `shadow/`.
    Shadow { thing: &'a str, rest: &'a str },
    /// `$aws/things/{thing}/jobs/...`; `rest` is what follows `jobs/`.
    Jobs { thing: &'a str, rest: &'a str },
    /// `$aws/rules/{rule}/...` (Basic Ingest); `topic` is what follows the rule name.
    BasicIngest { rule: &'a str, topic: &'a str },
    /// `$aws/events/...` (lifecycle and registry events).
    Events { rest: &'a str },
    /// `$aws/certificates/...` and `$aws/provisioning-templates/...` (fleet provisioning).
    Provisioning { rest: &'a str },
    /// Any other topic under `$aws/`.
    Other,
}

impl<'a> ReservedTopic<'a> {
    /// Parses `topic`; `None` when it is not under `$aws/`.
    pub fn parse(topic: &'a str) -> Option<Self> {
        let rest = topic.strip_prefix("$aws/")?;
        let (head, tail) = rest.split_once('/').unwrap_or((rest, ""));
        Some(match head {
            "things" => {
                let (thing, tail) = tail.split_once('/').unwrap_or((tail, ""));
                if let Some(rest) = tail.strip_prefix("shadow/") {
                    ReservedTopic::Shadow { thing, rest }
                } else if let Some(rest) = tail.strip_prefix("jobs/") {
                    ReservedTopic::Jobs { thing, rest }
                } else {
                    ReservedTopic::Other
                }
            }
            "rules" => {
                let (rule, topic) = tail.split_once('/').unwrap_or((tail, ""));
                ReservedTopic::BasicIngest { rule, topic }
            }
            "events" => ReservedTopic::Events { rest: tail },
            "certificates" | "provisioning-templates" => ReservedTopic::Provisioning { rest },
            _ => ReservedTopic::Other,
        })
    }

    /// The topic name `$aws/rules/{rule}/{topic}` of a Basic Ingest message (the inverse of
    /// [`ReservedTopic::BasicIngest`]).
    pub fn basic_ingest_topic(rule: &str, topic: &str) -> String {
        if topic.is_empty() {
            format!("$aws/rules/{rule}")
        } else {
            format!("$aws/rules/{rule}/{topic}")
        }
    }
}

/// A fleet provisioning topic (`fleet-provision-api.md`), read from the `rest` of
/// [`ReservedTopic::Provisioning`]: `certificates/create/{format}`,
/// `certificates/create-from-csr/{format}` and `provisioning-templates/{name}/provision/{format}`,
/// each a request, or with `/accepted` or `/rejected` the service's answer to it. `format` is
/// `json` or `cbor`; any other topic under those prefixes is `None`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ProvisioningTopic<'a> {
    pub operation: ProvisioningOperation<'a>,
    /// `json` or `cbor`.
    pub format: &'a str,
    /// `None` for the request, `Some(true)` for `/accepted`, `Some(false)` for `/rejected`.
    pub accepted: Option<bool>,
}

/// The operation a [`ProvisioningTopic`] names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProvisioningOperation<'a> {
    CreateKeysAndCertificate,
    CreateCertificateFromCsr,
    RegisterThing { template_name: &'a str },
}

impl<'a> ProvisioningTopic<'a> {
    /// Parses the `rest` of [`ReservedTopic::Provisioning`].
    pub fn parse(rest: &'a str) -> Option<Self> {
        let (operation, tail) = if let Some(tail) = rest.strip_prefix("certificates/create/") {
            (ProvisioningOperation::CreateKeysAndCertificate, tail)
        } else if let Some(tail) = rest.strip_prefix("certificates/create-from-csr/") {
            (ProvisioningOperation::CreateCertificateFromCsr, tail)
        } else {
            let tail = rest.strip_prefix("provisioning-templates/")?;
            let (template_name, tail) = tail.split_once("/provision/")?;
            if template_name.is_empty() || template_name.contains('/') {
                return None;
            }
            (ProvisioningOperation::RegisterThing { template_name }, tail)
        };
        let (format, accepted) = match tail.split_once('/') {
            None => (tail, None),
            Some((format, "accepted")) => (format, Some(true)),
            Some((format, "rejected")) => (format, Some(false)),
            Some(_) => return None,
        };
        matches!(format, "json" | "cbor").then_some(ProvisioningTopic { operation, format, accepted })
    }
}

/// What the broker does with a publish after a service has seen it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Disposition {
    /// Route it to subscribers like any other message.
    Deliver,
    /// The service consumed it (as AWS's Basic Ingest topics are); route it nowhere.
    Consumed,
}

/// The seam through which the broker hands `$aws/...` publishes to the services.
/// The `iotemu` crate implements it (`ReservedTopicRouter`); the broker only knows this trait.
pub trait ReservedTopicHandler: Send + Sync + 'static {
    /// Called for every accepted PUBLISH whose topic is under `$aws/`, after its Publish-In
    /// entry and before it is routed.
    fn on_publish(&self, ctx: &RequestContext, topic: &ReservedTopic<'_>, payload: &Bytes) -> Disposition;
}

/// A handler that lets every reserved topic through as an ordinary topic.
#[derive(Debug, Default, Clone, Copy)]
pub struct PassThrough;

impl ReservedTopicHandler for PassThrough {
    fn on_publish(&self, _: &RequestContext, _: &ReservedTopic<'_>, _: &Bytes) -> Disposition {
        Disposition::Deliver
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_shadow_jobs_and_ingest_topics() {
        assert_eq!(
            ReservedTopic::parse("$aws/things/Jack/shadow/update"),
            Some(ReservedTopic::Shadow { thing: "Jack", rest: "update" })
        );
        assert_eq!(
            ReservedTopic::parse("$aws/things/t1/jobs/start-next"),
            Some(ReservedTopic::Jobs { thing: "t1", rest: "start-next" })
        );
        assert_eq!(
            ReservedTopic::parse("$aws/rules/myRule/a/b"),
            Some(ReservedTopic::BasicIngest { rule: "myRule", topic: "a/b" })
        );
        assert_eq!(ReservedTopic::basic_ingest_topic("myRule", "a/b"), "$aws/rules/myRule/a/b");
        assert_eq!(ReservedTopic::parse("$aws/unknown"), Some(ReservedTopic::Other));
        assert_eq!(
            ReservedTopic::parse("$aws/certificates/create/json"),
            Some(ReservedTopic::Provisioning { rest: "certificates/create/json" })
        );
        assert_eq!(ReservedTopic::parse("devices/1"), None);
    }

    #[test]
    fn parses_fleet_provisioning_topics() {
        let topic = |rest| ProvisioningTopic::parse(rest);
        assert_eq!(
            topic("certificates/create/json"),
            Some(ProvisioningTopic {
                operation: ProvisioningOperation::CreateKeysAndCertificate,
                format: "json",
                accepted: None
            })
        );
        assert_eq!(
            topic("certificates/create-from-csr/cbor/accepted"),
            Some(ProvisioningTopic {
                operation: ProvisioningOperation::CreateCertificateFromCsr,
                format: "cbor",
                accepted: Some(true)
            })
        );
        assert_eq!(
            topic("provisioning-templates/widget/provision/json/rejected"),
            Some(ProvisioningTopic {
                operation: ProvisioningOperation::RegisterThing { template_name: "widget" },
                format: "json",
                accepted: Some(false)
            })
        );
        for other in [
            "certificates/create/xml",
            "certificates/create/json/other",
            "certificates/delete/json",
            "provisioning-templates//provision/json",
            "provisioning-templates/a/b/provision/json",
            "provisioning-templates/widget/json",
        ] {
            assert_eq!(topic(other), None, "{other}");
        }
    }
}
