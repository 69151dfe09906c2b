//! The reserved topics of the Device Shadow service (`device-shadow-mqtt.md`): which requests a
//! `$aws/things/{thing}/shadow/...` publish makes, and the topics of their answers.

/// A shadow operation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Operation {
    Get,
    Update,
    Delete,
}

impl Operation {
    fn word(self) -> &'static str {
        match self {
            Operation::Get => "get",
            Operation::Update => "update",
            Operation::Delete => "delete",
        }
    }
}

/// A request on a shadow's reserved topic.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ShadowRequest<'a> {
    pub thing: &'a str,
    /// `None`: the classic shadow.
    pub name: Option<&'a str>,
    pub operation: Operation,
}

impl<'a> ShadowRequest<'a> {
    /// The request that `rest` (what follows `$aws/things/{thing}/shadow/`) makes; `None` for
    /// answer topics (`update/accepted`, ...) and anything else, which are ordinary topics.
    pub fn parse(thing: &'a str, rest: &'a str) -> Option<ShadowRequest<'a>> {
        let (name, op) = match rest.strip_prefix("name/") {
            Some(named) => {
                let (name, op) = named.split_once('/')?;
                (Some(name), op)
            }
            None => (None, rest),
        };
        let operation = match op {
            "get" => Operation::Get,
            "update" => Operation::Update,
            "delete" => Operation::Delete,
            _ => return None,
        };
        Some(ShadowRequest { thing, name, operation })
    }

    /// The shadow's topic prefix: `$aws/things/{thing}/shadow` or `.../shadow/name/{name}`.
    pub fn prefix(&self) -> String {
        match self.name {
            Some(name) => format!("$aws/things/{}/shadow/name/{name}", self.thing),
            None => format!("$aws/things/{}/shadow", self.thing),
        }
    }

    /// The request topic (also the `topicName` of the log entry of an HTTP request).
    pub fn topic(&self) -> String {
        format!("{}/{}", self.prefix(), self.operation.word())
    }

    /// An answer topic: `suffix` is `accepted`, `rejected`, `delta` or `documents`.
    pub fn answer_topic(&self, suffix: &str) -> String {
        format!("{}/{}/{suffix}", self.prefix(), self.operation.word())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_and_their_answer_topics() {
        let classic = ShadowRequest::parse("lamp", "update").expect("a request");
        assert_eq!((classic.name, classic.operation), (None, Operation::Update));
        assert_eq!(classic.topic(), "$aws/things/lamp/shadow/update");
        assert_eq!(classic.answer_topic("delta"), "$aws/things/lamp/shadow/update/delta");
        let named = ShadowRequest::parse("lamp", "name/colour/get").expect("a request");
        assert_eq!((named.name, named.operation), (Some("colour"), Operation::Get));
        assert_eq!(named.answer_topic("accepted"), "$aws/things/lamp/shadow/name/colour/get/accepted");
        for answer in
            ["update/accepted", "get/rejected", "update/delta", "name/x/update/documents", "name/x", ""]
        {
            assert_eq!(ShadowRequest::parse("lamp", answer), None, "{answer}");
        }
    }
}
