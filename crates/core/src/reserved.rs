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
        assert_eq!(ReservedTopic::parse("devices/1"), None);
    }
}
