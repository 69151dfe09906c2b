//! TagResource, UntagResource and ListTagsForResource (tagging-iot.md; botocore `iot` model) for
//! every taggable resource iotemu keeps. The tags live in the store beside the resources
//! (`iotemu_api::tags`), keyed by ARN; a resource exists when its document does, so the services
//! of other crates (rules, jobs, provisioning, authorizers) need no hook here.

use crate::http::{query, AwsQuery};
use crate::Registry;
use axum::extract::State;
use axum::routing::{get, post};
use axum::{Json, Router};
use iotemu_api::paging::with_next_token;
use iotemu_api::tags::{check_count, check_key, check_tags, set_tags, tags_of, Tag, Tags};
use iotemu_api::{ApiContext, ApiError, AwsJson};
use iotemu_core::Scope;
use serde::Deserialize;
use serde_json::{json, Value};
use std::sync::Arc;

/// The ARN resource types that take tags and the store kinds of their documents (keyed by name
/// or id, the ARN's last part).
const TAGGABLE: &[(&str, &str)] = &[
    ("thinggroup", "thing-group"),
    ("thingtype", "thing-type"),
    ("billinggroup", crate::billing_groups::BILLING_GROUP),
    ("policy", "policy"),
    ("rule", "topic-rule"),
    ("job", "job"),
    ("jobtemplate", "job-template"),
    ("cacert", "ca-certificate"),
    ("provisioningtemplate", "provisioning-template"),
    ("authorizer", "authorizer"),
];

/// ListTagsForResource's page size: botocore gives it no maxResults and AWS documents none, so a
/// resource at the 50-tag limit takes two pages (docs/aws-behaviour.md §23).
const PAGE: usize = 25;

pub(crate) fn routes() -> Router<Arc<Registry>> {
    Router::new()
        .route("/tags", get(list_tags_for_resource).post(tag_resource))
        .route("/untag", post(untag_resource))
}

impl Registry {
    /// The resource `arn` names, if it exists in `scope`: ResourceNotFoundException otherwise,
    /// InvalidRequestException when it is no ARN of a taggable AWS IoT resource.
    fn check_taggable(&self, scope: &Scope, arn: &str) -> Result<(), ApiError> {
        let prefix = format!("arn:aws:iot:{}:{}:", scope.region, scope.account);
        let not_found =
            || ApiError::new(404, "ResourceNotFoundException", format!("Resource {arn} not found"));
        let Some(rest) = arn.strip_prefix(&prefix) else {
            if arn.starts_with("arn:aws:iot:") {
                return Err(not_found());
            }
            return Err(ApiError::invalid_request(format!("{arn} is not a valid AWS IoT resource ARN")));
        };
        let (kind, id) = rest
            .split_once('/')
            .and_then(|(t, id)| TAGGABLE.iter().find(|(name, _)| *name == t).map(|(_, kind)| (*kind, id)))
            .ok_or_else(|| {
                ApiError::invalid_request(format!("{arn} is not the ARN of a taggable resource"))
            })?;
        match self.store.get(kind, scope, id) {
            Ok(Some(_)) => Ok(()),
            Ok(None) => Err(not_found()),
            Err(e) => Err(ApiError::new(500, "InternalFailureException", e.to_string())),
        }
    }

    /// Keeps a new resource's `tags` (checked with `iotemu_api::tags::check_tags` before it was
    /// made), replacing any a deleted resource of the same ARN left behind.
    pub fn keep_created_tags(&self, scope: &Scope, arn: &str, tags: &Tags) -> Result<(), ApiError> {
        let _guard = self.tag_lock.lock();
        set_tags(&self.store, scope, arn, tags)
    }

    /// TagResource: adds `tags`, replacing the values of keys it already has.
    pub fn tag_resource(&self, scope: &Scope, arn: &str, tags: &[Tag]) -> Result<(), ApiError> {
        let new = check_tags(tags)?;
        self.check_taggable(scope, arn)?;
        let _guard = self.tag_lock.lock();
        let mut current = tags_of(&self.store, scope, arn)?;
        current.extend(new);
        check_count(current.len())?;
        set_tags(&self.store, scope, arn, &current)
    }

    /// UntagResource: removes `keys` (absent keys are ignored).
    pub fn untag_resource(&self, scope: &Scope, arn: &str, keys: &[String]) -> Result<(), ApiError> {
        for (i, key) in keys.iter().enumerate() {
            check_key(key, &format!("tagKeys.{}.member", i + 1))?;
        }
        self.check_taggable(scope, arn)?;
        let _guard = self.tag_lock.lock();
        let mut current = tags_of(&self.store, scope, arn)?;
        current.retain(|k, _| !keys.contains(k));
        set_tags(&self.store, scope, arn, &current)
    }

    /// ListTagsForResource: the tags by key, [`PAGE`] a page.
    pub fn list_tags_for_resource(
        &self,
        scope: &Scope,
        arn: &str,
        next_token: Option<&str>,
    ) -> Result<(Vec<Tag>, Option<String>), ApiError> {
        self.check_taggable(scope, arn)?;
        let tags: Tags = tags_of(&self.store, scope, arn)?;
        let tags: Vec<Tag> = tags.into_iter().map(|(key, value)| Tag { key, value }).collect();
        Ok(iotemu_api::paging::page(tags, |t| t.key.as_str(), next_token, PAGE))
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct TagResourceRequest {
    resource_arn: String,
    tags: Vec<Tag>,
}

async fn tag_resource(
    State(registry): State<Arc<Registry>>,
    ctx: ApiContext,
    AwsJson(req): AwsJson<TagResourceRequest>,
) -> Result<Json<Value>, ApiError> {
    registry.tag_resource(&ctx.scope(), &req.resource_arn, &req.tags)?;
    Ok(Json(json!({})))
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct UntagResourceRequest {
    resource_arn: String,
    tag_keys: Vec<String>,
}

async fn untag_resource(
    State(registry): State<Arc<Registry>>,
    ctx: ApiContext,
    AwsJson(req): AwsJson<UntagResourceRequest>,
) -> Result<Json<Value>, ApiError> {
    registry.untag_resource(&ctx.scope(), &req.resource_arn, &req.tag_keys)?;
    Ok(Json(json!({})))
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ListTagsQuery {
    resource_arn: Option<String>,
    next_token: Option<String>,
}

async fn list_tags_for_resource(
    State(registry): State<Arc<Registry>>,
    ctx: ApiContext,
    q: AwsQuery<ListTagsQuery>,
) -> Result<Json<Value>, ApiError> {
    let q = query(q)?;
    let arn = ApiError::required(q.resource_arn, "resourceArn")?;
    let (tags, next) = registry.list_tags_for_resource(&ctx.scope(), &arn, q.next_token.as_deref())?;
    Ok(Json(with_next_token(json!({ "tags": tags }), next)))
}
