//! Resource tags (tagging-iot.md; botocore `iot` shapes `Tag`, `TagKey`, `TagValue`): one store
//! document per tagged resource, kind `tags`, keyed by the resource's ARN, shared by every
//! service whose Create* takes `tags` and by TagResource, UntagResource and ListTagsForResource.
//!
//! Limits: 50 tags per resource, keys 1-128 characters of botocore's `TagKey` pattern (letters,
//! numbers, spaces and `_ . : / = + - @`), values up to 256 characters (botocore's lengths; the
//! guide says 127 and 255), and the `aws:` prefix reserved (docs/aws-behaviour.md §23).

use crate::ApiError;
use iotemu_core::Scope;
use iotemu_store::Store;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// The store kind of the tags documents.
pub const TAGS: &str = "tags";

/// Most tags on one resource (tagging-iot.md).
pub const MAX_TAGS: usize = 50;

/// A resource's tags, by key.
pub type Tags = BTreeMap<String, String>;

/// botocore's `Tag`: `Key` and `Value` (an absent value is the empty string).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Tag {
    #[serde(rename = "Key")]
    pub key: String,
    #[serde(rename = "Value", default)]
    pub value: String,
}

fn validation(value: &str, at: &str, constraint: &str) -> ApiError {
    ApiError::invalid_request(format!(
        "1 validation error detected: Value '{value}' at '{at}' failed to satisfy constraint: {constraint}"
    ))
}

/// Checks one tag key as botocore's `TagKey` and the reserved `aws:` prefix.
pub fn check_key(key: &str, at: &str) -> Result<(), ApiError> {
    let chars = key.chars().count();
    if chars == 0 {
        return Err(validation(key, at, "Member must have length greater than or equal to 1"));
    }
    if chars > 128 {
        return Err(validation(key, at, "Member must have length less than or equal to 128"));
    }
    let allowed = |c: char| c.is_alphanumeric() || c.is_whitespace() || "_.:/=+-@".contains(c);
    if !key.chars().all(allowed) {
        return Err(validation(
            key,
            at,
            r"Member must satisfy regular expression pattern: ^([\p{L}\p{Z}\p{N}_.:/=+\-@]*)$",
        ));
    }
    if key.to_ascii_lowercase().starts_with("aws:") {
        return Err(ApiError::invalid_request(format!(
            "Tag key {key} uses the aws: prefix, which is reserved for AWS use"
        )));
    }
    Ok(())
}

/// Checks a `TagList` of a request and returns it by key (a later duplicate key wins).
pub fn check_tags(tags: &[Tag]) -> Result<Tags, ApiError> {
    let mut out = Tags::new();
    for (i, tag) in tags.iter().enumerate() {
        check_key(&tag.key, &format!("tags.{}.member.key", i + 1))?;
        if tag.value.chars().count() > 256 {
            return Err(validation(
                &tag.value,
                &format!("tags.{}.member.value", i + 1),
                "Member must have length less than or equal to 256",
            ));
        }
        out.insert(tag.key.clone(), tag.value.clone());
    }
    check_count(out.len())?;
    Ok(out)
}

/// LimitExceededException when a resource would have more than [`MAX_TAGS`] tags.
pub fn check_count(count: usize) -> Result<(), ApiError> {
    if count > MAX_TAGS {
        return Err(ApiError::new(
            410,
            "LimitExceededException",
            format!("The number of tags ({count}) exceeds the limit of {MAX_TAGS} tags per resource"),
        ));
    }
    Ok(())
}

/// CreateTopicRule's `x-amz-tagging` header: `key1=value1&key2=value2`, URL-encoded.
pub fn parse_tagging_header(header: &str) -> Result<Vec<Tag>, ApiError> {
    let decode = |s: &str| {
        percent_encoding::percent_decode_str(&s.replace('+', " "))
            .decode_utf8()
            .map(|c| c.into_owned())
            .map_err(|_| ApiError::invalid_request("x-amz-tagging is not valid UTF-8"))
    };
    header
        .split('&')
        .filter(|pair| !pair.is_empty())
        .map(|pair| {
            let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
            Ok(Tag { key: decode(key)?, value: decode(value)? })
        })
        .collect()
}

fn internal(e: impl std::fmt::Display) -> ApiError {
    ApiError::new(500, "InternalFailureException", e.to_string())
}

/// The tags of the resource `arn` (none when it has none).
pub fn tags_of(store: &Store, scope: &Scope, arn: &str) -> Result<Tags, ApiError> {
    match store.get(TAGS, scope, arn).map_err(internal)? {
        Some(v) => serde_json::from_value(v).map_err(internal),
        None => Ok(Tags::new()),
    }
}

/// Replaces the tags of `arn` (no tags removes the document).
pub fn set_tags(store: &Store, scope: &Scope, arn: &str, tags: &Tags) -> Result<(), ApiError> {
    if tags.is_empty() {
        store.delete(TAGS, scope, arn).map_err(internal)?;
    } else {
        let value = serde_json::to_value(tags).map_err(internal)?;
        store.put(TAGS, scope, arn, &value).map_err(internal)?;
    }
    Ok(())
}

/// A Create* operation's `tags`: checked, then kept for the new resource `arn`, replacing any a
/// deleted resource of the same ARN left (tags go with their resource, tagging-iot.md).
pub fn keep_created(store: &Store, scope: &Scope, arn: &str, tags: &[Tag]) -> Result<(), ApiError> {
    let tags = check_tags(tags)?;
    set_tags(store, scope, arn, &tags)
}

/// Forgets the tags of a deleted resource.
pub fn forget(store: &Store, scope: &Scope, arn: &str) -> Result<(), ApiError> {
    set_tags(store, scope, arn, &Tags::new())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_values_and_counts_follow_botocore_and_the_guide() {
        let tag = |k: &str, v: &str| Tag { key: k.into(), value: v.into() };
        assert!(check_tags(&[tag("env", "prod"), tag("a b:c/d=e+f-g@h_i.j", "")]).is_ok());
        assert!(check_tags(&[tag("", "x")]).unwrap_err().message.contains("tags.1.member.key"));
        assert!(check_tags(&[tag(&"k".repeat(129), "x")]).is_err());
        assert!(check_tags(&[tag("ok", &"v".repeat(257))])
            .unwrap_err()
            .message
            .contains("tags.1.member.value"));
        assert!(check_tags(&[tag("aws:owner", "x")]).is_err());
        assert!(check_tags(&[tag("bad#key", "x")]).is_err());
        let many: Vec<_> = (0..51).map(|i| tag(&format!("k{i}"), "v")).collect();
        assert_eq!(check_tags(&many).unwrap_err().error_type, "LimitExceededException");
        assert_eq!(
            parse_tagging_header("env=prod&team=a%20b&empty").unwrap(),
            vec![tag("env", "prod"), tag("team", "a b"), tag("empty", "")]
        );
    }
}
