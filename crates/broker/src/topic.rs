//! Topic names and topic filters: validation against AWS IoT's rules and limits.
//!
//! AWS (`topics.md`, `mqtt.md` "differences"): `+` and `#` are whole levels, `#` only last;
//! `sensor/#` does not match `sensor`; wildcards never match a topic starting with `$`
//! (MQTT 4.7.2); topic names and filters are at most 256 bytes with at most 7 slashes
//! (AWS IoT quotas). Shared subscriptions are `$share/{group}/{filter}`.

use crate::Limits;
use iotemu_core::ReservedTopic;

/// Why a topic name or filter is refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TopicError {
    Empty,
    NotUtf8,
    TooLong(usize),
    TooManySlashes(usize),
    Wildcard,
    NullCharacter,
    BadWildcard,
    BadSharedSubscription,
    /// A filter on `$aws/rules/...`: Basic Ingest topics cannot be subscribed to.
    BasicIngest,
}

impl std::fmt::Display for TopicError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            TopicError::Empty => f.write_str("the topic is empty"),
            TopicError::NotUtf8 => f.write_str("the topic is not valid UTF-8"),
            TopicError::TooLong(n) => write!(f, "the topic is {n} bytes long"),
            TopicError::TooManySlashes(n) => write!(f, "the topic has {n} forward slashes"),
            TopicError::Wildcard => f.write_str("a topic name may not contain + or #"),
            TopicError::NullCharacter => f.write_str("the topic contains U+0000"),
            TopicError::BadWildcard => {
                f.write_str("+ and # must fill a whole level, and # must be the last level")
            }
            TopicError::BadSharedSubscription => {
                f.write_str("a shared subscription is $share/{group}/{filter}")
            }
            TopicError::BasicIngest => {
                f.write_str("Basic Ingest topics ($aws/rules/...) cannot be subscribed to")
            }
        }
    }
}

fn check_size(topic: &str, limits: &Limits) -> Result<(), TopicError> {
    if topic.is_empty() {
        return Err(TopicError::Empty);
    }
    if topic.len() > limits.topic_bytes {
        return Err(TopicError::TooLong(topic.len()));
    }
    let slashes = topic.bytes().filter(|b| *b == b'/').count();
    if slashes > limits.topic_slashes {
        return Err(TopicError::TooManySlashes(slashes));
    }
    if topic.contains('\0') {
        return Err(TopicError::NullCharacter);
    }
    Ok(())
}

/// Checks the topic name of a PUBLISH.
/// The first three levels of a Basic Ingest topic (`$aws/rules/{rule}/`) do not count toward the
/// size and level limits (`iot-basic-ingest.md`).
pub fn validate_topic_name<'a>(raw: &'a [u8], limits: &Limits) -> Result<&'a str, TopicError> {
    let topic = std::str::from_utf8(raw).map_err(|_| TopicError::NotUtf8)?;
    let counted = match ReservedTopic::parse(topic) {
        Some(ReservedTopic::BasicIngest { topic: rest, .. }) if !rest.is_empty() => rest,
        _ => topic,
    };
    check_size(counted, limits)?;
    if topic.contains('\0') {
        return Err(TopicError::NullCharacter);
    }
    if topic.contains(['+', '#']) {
        return Err(TopicError::Wildcard);
    }
    Ok(topic)
}

/// A checked topic filter: the group of a shared subscription, and the filter proper.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParsedFilter<'a> {
    pub share_group: Option<&'a str>,
    pub filter: &'a str,
}

impl ParsedFilter<'_> {
    /// Whether the filter names exactly one topic (no wildcard, not shared): only such a
    /// subscription receives a stored retained message (`mqtt.md`).
    pub fn is_exact(&self) -> bool {
        self.share_group.is_none() && !self.filter.contains(['+', '#'])
    }
}

/// Checks a SUBSCRIBE or UNSUBSCRIBE topic filter.
pub fn parse_filter<'a>(filter: &'a str, limits: &Limits) -> Result<ParsedFilter<'a>, TopicError> {
    let (share_group, inner) = match filter.strip_prefix("$share/") {
        Some(rest) => {
            let (group, inner) = rest.split_once('/').ok_or(TopicError::BadSharedSubscription)?;
            if group.is_empty() || group.contains(['+', '#']) || inner.is_empty() {
                return Err(TopicError::BadSharedSubscription);
            }
            (Some(group), inner)
        }
        None => (None, filter),
    };
    check_size(inner, limits)?;
    if matches!(ReservedTopic::parse(inner), Some(ReservedTopic::BasicIngest { .. })) {
        return Err(TopicError::BasicIngest);
    }
    let levels: Vec<&str> = inner.split('/').collect();
    for (i, level) in levels.iter().enumerate() {
        let has_wildcard = level.contains(['+', '#']);
        if has_wildcard && level.len() != 1 {
            return Err(TopicError::BadWildcard);
        }
        if *level == "#" && i != levels.len() - 1 {
            return Err(TopicError::BadWildcard);
        }
    }
    Ok(ParsedFilter { share_group, filter: inner })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn topic_names_follow_aws_limits() {
        let limits = Limits::default();
        assert!(validate_topic_name(b"a/b/c", &limits).is_ok());
        assert!(validate_topic_name(b"$aws/things/t/shadow/name/n/update/accepted", &limits).is_ok());
        assert_eq!(validate_topic_name(b"a/+/c", &limits), Err(TopicError::Wildcard));
        assert_eq!(validate_topic_name(b"a/b/c/d/e/f/g/h/i", &limits), Err(TopicError::TooManySlashes(8)));
        assert_eq!(validate_topic_name(&[b'a'; 257], &limits), Err(TopicError::TooLong(257)));
        assert_eq!(validate_topic_name(&[0xff, 0xfe], &limits), Err(TopicError::NotUtf8));
        assert_eq!(validate_topic_name(b"", &limits), Err(TopicError::Empty));
    }

    #[test]
    fn filters_allow_whole_level_wildcards_and_shares() {
        let limits = Limits::default();
        assert!(parse_filter("a/+/c/#", &limits).unwrap().share_group.is_none());
        assert_eq!(parse_filter("a/#/c", &limits), Err(TopicError::BadWildcard));
        assert_eq!(parse_filter("a/b+", &limits), Err(TopicError::BadWildcard));
        let shared = parse_filter("$share/g1/a/+", &limits).unwrap();
        assert_eq!(shared, ParsedFilter { share_group: Some("g1"), filter: "a/+" });
        assert!(!shared.is_exact());
        assert!(parse_filter("a/b", &limits).unwrap().is_exact());
        assert_eq!(parse_filter("$share//a", &limits), Err(TopicError::BadSharedSubscription));
    }

    #[test]
    fn basic_ingest_topics_are_publish_only_and_their_prefix_is_not_counted() {
        let limits = Limits::default();
        assert_eq!(parse_filter("$aws/rules/r/#", &limits), Err(TopicError::BasicIngest));
        assert_eq!(parse_filter("$share/g/$aws/rules/r", &limits), Err(TopicError::BasicIngest));
        assert!(parse_filter("$aws/things/t/shadow/#", &limits).is_ok());
        let seven_slashes = "a/b/c/d/e/f/g/h";
        assert!(validate_topic_name(seven_slashes.as_bytes(), &limits).is_ok());
        let ingest = format!("$aws/rules/rule_1/{seven_slashes}");
        assert!(validate_topic_name(ingest.as_bytes(), &limits).is_ok());
        let too_deep = format!("$aws/things/{seven_slashes}");
        assert!(matches!(
            validate_topic_name(too_deep.as_bytes(), &limits),
            Err(TopicError::TooManySlashes(_))
        ));
    }
}
