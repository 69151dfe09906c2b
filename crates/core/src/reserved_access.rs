//! What a client may do on each reserved topic: the "Client operations allowed" column of the
//! developer guide's "Reserved topics" page (`reserved-topics.md`), as a table beside
//! [`ReservedTopic::parse`](crate::ReservedTopic::parse), and the checks the broker (MQTT
//! PUBLISH, SUBSCRIBE and wills) and iot-data Publish make against it.
//!
//! Every topic that begins with `$` is AWS IoT's: "you can't create new topics that begin with a
//! dollar sign", and "unsupported publish or subscribe operations to reserved topics can result in
//! a terminated connection". So a client may publish to a `$` topic only where the table says
//! Publish and iotemu serves the topic (a service answers it), and subscribe only where a
//! topic the filter can match says Subscribe. Answers (`/accepted`, `/rejected`, `/delta`,
//! `jobs/notify`, `$aws/events/...`) are published by the services themselves, which do not go
//! through these checks, so no client can forge them.
//!
//! Choices where the page is silent (`docs/aws-behaviour.md` §18):
//! - Any other topic under a thing's `jobs/` may be published to: the Jobs service answers it
//!   with InvalidTopic ("a topic in the AWS IoT Jobs namespace that does not map to any API",
//!   `jobs-mqtt-api.md`); only the answer topics are Subscribe-only.
//! - A wildcard filter may be subscribed to when some topic it matches allows Subscribe (such as
//!   `$aws/things/+/shadow/#`); the filter `$aws/events/#` covers every event topic.
//! - Topics the page lists with Publish that no iotemu service answers (Device Defender metrics,
//!   MQTT-based file delivery) are refused, so that nothing pretends to be their service; they
//!   may still be subscribed to.

use std::fmt;

/// An operation a client asks for on a topic.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClientOperation {
    Publish,
    Subscribe,
}

/// One row of the table: a topic pattern and what clients may do there. In a pattern, `{name}`
/// is one level, `a|b` one level among alternatives, and a trailing `#` one or more levels.
#[derive(Debug, Clone, Copy)]
pub struct ReservedTopicAccess {
    pub pattern: &'static str,
    pub publish: bool,
    pub subscribe: bool,
    /// Whether an iotemu service answers what clients publish here (false: AWS lists Publish,
    /// but iotemu has no such service yet, so publishing is refused).
    pub served: bool,
}

const fn row(pattern: &'static str, publish: bool, subscribe: bool, served: bool) -> ReservedTopicAccess {
    ReservedTopicAccess { pattern, publish, subscribe, served }
}

/// Subscribe only (AWS IoT publishes there).
const fn answer(pattern: &'static str) -> ReservedTopicAccess {
    row(pattern, false, true, true)
}

/// Publish only, answered by an iotemu service.
const fn request(pattern: &'static str) -> ReservedTopicAccess {
    row(pattern, true, false, true)
}

/// Publish only on AWS, answered by no iotemu service.
const fn unserved(pattern: &'static str) -> ReservedTopicAccess {
    row(pattern, true, false, false)
}

/// The reserved topics and their "Client operations allowed" (`reserved-topics.md`), the first
/// matching row deciding for a topic name.
pub const RESERVED_TOPIC_ACCESS: &[ReservedTopicAccess] = &[
    // Device Shadow, classic and named: requests are Publish/Subscribe, answers Subscribe.
    row("$aws/things/{thing}/shadow/get|update|delete", true, true, true),
    answer("$aws/things/{thing}/shadow/get|update|delete/accepted|rejected"),
    answer("$aws/things/{thing}/shadow/update/delta|documents"),
    row("$aws/things/{thing}/shadow/name/{shadow}/get|update|delete", true, true, true),
    answer("$aws/things/{thing}/shadow/name/{shadow}/get|update|delete/accepted|rejected"),
    answer("$aws/things/{thing}/shadow/name/{shadow}/update/delta|documents"),
    // Jobs: answers and notifications are Subscribe (and Receive); requests Publish.
    answer("$aws/things/{thing}/jobs/notify|notify-next"),
    answer("$aws/things/{thing}/jobs/get|start-next/accepted|rejected"),
    answer("$aws/things/{thing}/jobs/{jobId}/get|update/accepted|rejected"),
    request("$aws/things/{thing}/jobs/#"),
    // Basic Ingest.
    request("$aws/rules/{rule}"),
    request("$aws/rules/{rule}/#"),
    // Lifecycle, registry and jobs events.
    answer("$aws/events/#"),
    // Fleet provisioning.
    request("$aws/certificates/create|create-from-csr/{format}"),
    answer("$aws/certificates/create|create-from-csr/{format}/accepted|rejected"),
    request("$aws/provisioning-templates/{template}/provision/{format}"),
    answer("$aws/provisioning-templates/{template}/provision/{format}/accepted|rejected"),
    // Device Defender.
    unserved("$aws/things/{thing}/defender/metrics/{format}"),
    answer("$aws/things/{thing}/defender/metrics/{format}/accepted|rejected"),
    // Secure tunneling.
    answer("$aws/things/{thing}/tunnels/notify"),
    // MQTT-based file delivery.
    answer("$aws/things/{thing}/streams/{stream}/data|description|rejected/{format}"),
    unserved("$aws/things/{thing}/streams/{stream}/get|describe/{format}"),
    // AWS IoT SiteWise.
    answer("$aws/sitewise/asset-models/{model}/assets/{asset}/properties/{property}"),
];

/// Why a client may not do what it asked on a reserved topic.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReservedTopicRefusal {
    pub topic: String,
    pub operation: ClientOperation,
    why: Why,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Why {
    /// The table allows the other operation only.
    OtherOperationOnly,
    /// AWS allows it; iotemu has no service for it.
    NotServed,
    /// No row matches.
    Unknown,
}

impl ReservedTopicRefusal {
    /// The `reason` of the Failure entry that records the refusal (an iotemu code: AWS documents
    /// none for it).
    pub const REASON: &'static str = "FORBIDDEN_RESERVED_TOPIC";
}

impl fmt::Display for ReservedTopicRefusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let topic = &self.topic;
        match (self.operation, self.why) {
            (ClientOperation::Publish, Why::OtherOperationOnly) => write!(
                f,
                "Clients may not publish to the reserved topic {topic}: AWS IoT publishes there, and \
                 clients may only subscribe to it"
            ),
            (ClientOperation::Subscribe, Why::OtherOperationOnly) => write!(
                f,
                "Clients may not subscribe to the reserved topic filter {topic}: clients may only \
                 publish to the topics it matches"
            ),
            (_, Why::NotServed) => write!(
                f,
                "Clients may publish to the reserved topic {topic} on AWS IoT, but iotemu does not \
                 serve it"
            ),
            (ClientOperation::Publish, Why::Unknown) => write!(
                f,
                "Topics beginning with $ are reserved for AWS IoT, and {topic} is not one that clients \
                 may publish to"
            ),
            (ClientOperation::Subscribe, Why::Unknown) => write!(
                f,
                "Topics beginning with $ are reserved for AWS IoT, and {topic} matches none that \
                 clients may subscribe to"
            ),
        }
    }
}

impl std::error::Error for ReservedTopicRefusal {}

fn refusal(topic: &str, operation: ClientOperation, why: Why) -> ReservedTopicRefusal {
    ReservedTopicRefusal { topic: topic.to_string(), operation, why }
}

/// Whether a client may publish to the topic name `topic`: always when it does not begin with
/// `$`; otherwise as the first matching row of [`RESERVED_TOPIC_ACCESS`] says.
pub fn client_may_publish(topic: &str) -> Result<(), ReservedTopicRefusal> {
    if !topic.starts_with('$') {
        return Ok(());
    }
    let levels: Vec<&str> = topic.split('/').collect();
    let Some(access) = RESERVED_TOPIC_ACCESS.iter().find(|a| matches_levels(&levels, a.pattern)) else {
        return Err(refusal(topic, ClientOperation::Publish, Why::Unknown));
    };
    match (access.publish, access.served) {
        (false, _) => Err(refusal(topic, ClientOperation::Publish, Why::OtherOperationOnly)),
        (true, false) => Err(refusal(topic, ClientOperation::Publish, Why::NotServed)),
        (true, true) => Ok(()),
    }
}

/// Whether a client may subscribe to `filter` (without its `$share/group/` prefix): always when
/// it does not begin with `$`; otherwise when some topic it matches allows Subscribe.
pub fn client_may_subscribe(filter: &str) -> Result<(), ReservedTopicRefusal> {
    if !filter.starts_with('$') {
        return Ok(());
    }
    let levels: Vec<&str> = filter.split('/').collect();
    let mut matching = RESERVED_TOPIC_ACCESS.iter().filter(|a| filter_meets(&levels, a.pattern)).peekable();
    if matching.peek().is_none() {
        return Err(refusal(filter, ClientOperation::Subscribe, Why::Unknown));
    }
    if matching.any(|a| a.subscribe) {
        Ok(())
    } else {
        Err(refusal(filter, ClientOperation::Subscribe, Why::OtherOperationOnly))
    }
}

/// One level of a pattern.
#[derive(Clone, Copy)]
enum Level<'p> {
    /// `{name}`: any one non-empty level.
    Any,
    /// `#` (last): one or more levels.
    Rest,
    /// `a|b|c`: one of these.
    OneOf(&'p str),
}

fn pattern_levels(pattern: &str) -> impl Iterator<Item = Level<'_>> {
    pattern.split('/').map(|level| match level {
        "#" => Level::Rest,
        l if l.starts_with('{') => Level::Any,
        l => Level::OneOf(l),
    })
}

impl Level<'_> {
    fn accepts(self, level: &str) -> bool {
        match self {
            Level::Any => !level.is_empty(),
            Level::Rest => true,
            Level::OneOf(options) => options.split('|').any(|o| o == level),
        }
    }
}

/// Whether the topic name split into `levels` matches `pattern`.
fn matches_levels(levels: &[&str], pattern: &str) -> bool {
    let mut topic = levels.iter();
    for level in pattern_levels(pattern) {
        match (level, topic.next()) {
            (Level::Rest, Some(_)) => return true,
            (_, None) => return false,
            (level, Some(t)) if level.accepts(t) => {}
            _ => return false,
        }
    }
    topic.next().is_none()
}

/// Whether the topic filter split into `levels` matches at least one topic that `pattern` matches.
/// `+` stands for any one level and a final `#` for one or more (AWS: `a/#` does not match `a`).
fn filter_meets(levels: &[&str], pattern: &str) -> bool {
    let mut filter = levels.iter();
    for level in pattern_levels(pattern) {
        match (filter.next(), level) {
            (Some(&"#"), _) | (Some(_), Level::Rest) => return true,
            (None, _) => return false,
            (Some(&"+"), _) => {}
            (Some(f), level) if level.accepts(f) => {}
            _ => return false,
        }
    }
    filter.next().is_none()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn publish(topic: &str) -> Result<(), String> {
        client_may_publish(topic).map_err(|e| e.to_string())
    }

    fn subscribe(filter: &str) -> Result<(), String> {
        client_may_subscribe(filter).map_err(|e| e.to_string())
    }

    #[test]
    fn ordinary_topics_are_not_checked() {
        assert!(publish("topic/x").is_ok());
        assert!(subscribe("#").is_ok());
        assert!(subscribe("a/+/aws").is_ok());
    }

    #[test]
    fn shadow_requests_are_publish_and_subscribe_and_answers_subscribe_only() {
        for topic in ["$aws/things/t/shadow/update", "$aws/things/t/shadow/name/n/get"] {
            assert!(publish(topic).is_ok(), "{topic}");
            assert!(subscribe(topic).is_ok(), "{topic}");
        }
        for topic in [
            "$aws/things/t/shadow/update/delta",
            "$aws/things/t/shadow/update/accepted",
            "$aws/things/t/shadow/get/rejected",
            "$aws/things/t/shadow/update/documents",
            "$aws/things/t/shadow/name/n/update/delta",
        ] {
            let refused = publish(topic).unwrap_err();
            assert!(refused.contains("may only subscribe"), "{refused}");
            assert!(subscribe(topic).is_ok(), "{topic}");
        }
        assert!(publish("$aws/things/t/shadow/update/delta/x").unwrap_err().contains("not one that"));
        assert!(publish("$aws/things//shadow/update").is_err(), "an empty thing name is no thing");
    }

    #[test]
    fn jobs_answers_are_subscribe_only_and_other_jobs_topics_reach_the_service() {
        for topic in [
            "$aws/things/t/jobs/notify",
            "$aws/things/t/jobs/notify-next",
            "$aws/things/t/jobs/get/accepted",
            "$aws/things/t/jobs/start-next/rejected",
            "$aws/things/t/jobs/j1/update/accepted",
            "$aws/things/t/jobs/$next/get/rejected",
        ] {
            assert!(publish(topic).is_err(), "{topic}");
            assert!(subscribe(topic).is_ok(), "{topic}");
        }
        for topic in
            ["$aws/things/t/jobs/get", "$aws/things/t/jobs/j1/update", "$aws/things/t/jobs/j1/delete"]
        {
            assert!(publish(topic).is_ok(), "{topic}");
            assert!(subscribe(topic).unwrap_err().contains("may only publish"), "{topic}");
        }
        assert!(subscribe("$aws/things/t/jobs/#").is_ok());
        assert!(subscribe("$aws/things/+/jobs/+/get/+").is_ok());
    }

    #[test]
    fn events_rules_and_unknown_dollar_topics() {
        assert!(publish("$aws/events/presence/connected/c1").unwrap_err().contains("may only subscribe"));
        assert!(subscribe("$aws/events/presence/connected/+").is_ok());
        assert!(subscribe("$aws/events/#").is_ok());
        assert!(publish("$aws/rules/r").is_ok());
        assert!(publish("$aws/rules/r/a/b").is_ok());
        assert!(subscribe("$aws/rules/r/a").unwrap_err().contains("may only publish"));
        assert!(publish("$SYS/x").unwrap_err().contains("reserved for AWS IoT"));
        assert!(subscribe("$SYS/#").unwrap_err().contains("matches none"));
        assert!(publish("$aws/unknown").is_err());
        assert!(subscribe("$aws/things/t/unknown").is_err());
        assert!(subscribe("$aws/#").is_ok(), "it matches answer topics");
    }

    #[test]
    fn topics_iotemu_does_not_serve_are_refused_to_publishers() {
        for topic in ["$aws/things/t/defender/metrics/json", "$aws/things/t/streams/s/get/cbor"] {
            assert!(publish(topic).unwrap_err().contains("iotemu does not serve"), "{topic}");
        }
        for topic in ["$aws/certificates/create/json", "$aws/provisioning-templates/t/provision/cbor"] {
            assert!(publish(topic).is_ok(), "{topic}: the provisioning service answers it");
            assert!(publish(&format!("{topic}/accepted")).is_err(), "{topic}/accepted");
        }
        assert!(subscribe("$aws/certificates/create/json/accepted").is_ok());
        assert!(subscribe("$aws/things/t/tunnels/notify").is_ok());
        assert!(subscribe("$aws/sitewise/asset-models/m/assets/a/properties/p").is_ok());
    }

    #[test]
    fn every_row_parses_into_levels_and_matches_itself() {
        for access in RESERVED_TOPIC_ACCESS {
            let example: Vec<&str> = pattern_levels(access.pattern)
                .zip(access.pattern.split('/'))
                .map(|(level, text)| match level {
                    Level::Any | Level::Rest => "x",
                    Level::OneOf(_) => text.split('|').next().unwrap(),
                })
                .collect();
            let topic = example.join("/");
            assert_eq!(publish(&topic).is_ok(), access.publish && access.served, "{}", access.pattern);
            assert_eq!(subscribe(&topic).is_ok(), access.subscribe, "{}", access.pattern);
        }
    }
}
