//! The fleet-indexing routes (`iot`, botocore shapes): indexing configuration, indexes,
//! SearchIndex and the aggregations, and the dynamic thing group operations. Wire only.

use crate::aggregate::DEFAULT_PERCENTS;
use crate::service::{Index, NewDynamicGroup};
use crate::state::{IndexingConfig, QUERY_VERSION};
use axum::extract::{Path, State};
use axum::routing::{get, post};
use axum::{Json, Router};
use iotemu_api::paging::with_next_token;
use iotemu_api::{query, ApiContext, ApiError, AwsJson, AwsQuery};
use iotemu_registry::ThingGroupPropertiesRequest as PropertiesRequest;
use serde::Deserialize;
use serde_json::{json, Value};
use std::sync::Arc;

pub fn routes(index: Arc<Index>) -> Router {
    Router::new()
        .route("/indexing/config", get(get_indexing_configuration).post(update_indexing_configuration))
        .route("/indices", get(list_indices))
        .route("/indices/{index_name}", get(describe_index))
        .route("/indices/search", post(search_index))
        .route("/indices/statistics", post(get_statistics))
        .route("/indices/cardinality", post(get_cardinality))
        .route("/indices/percentiles", post(get_percentiles))
        .route("/indices/buckets", post(get_buckets_aggregation))
        .route(
            "/dynamic-thing-groups/{thing_group_name}",
            post(create_dynamic_thing_group)
                .patch(update_dynamic_thing_group)
                .delete(delete_dynamic_thing_group),
        )
        .with_state(index)
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
struct ThingIndexingConfiguration {
    thing_indexing_mode: Option<String>,
    thing_connectivity_indexing_mode: Option<String>,
    named_shadow_indexing_mode: Option<String>,
    filter: Option<Filter>,
    custom_fields: Option<Vec<Value>>,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
struct Filter {
    named_shadow_names: Option<Vec<String>>,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
struct ThingGroupIndexingConfiguration {
    thing_group_indexing_mode: Option<String>,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
struct UpdateIndexingConfigurationRequest {
    thing_indexing_configuration: Option<ThingIndexingConfiguration>,
    thing_group_indexing_configuration: Option<ThingGroupIndexingConfiguration>,
}

fn one_of(value: Option<String>, allowed: &[&str], member: &str, current: &str) -> Result<String, ApiError> {
    match value {
        None => Ok(current.to_string()),
        Some(v) if allowed.contains(&v.as_str()) => Ok(v),
        Some(v) => {
            Err(ApiError::invalid_request(format!("{member} {v} is not one of {}", allowed.join(", "))))
        }
    }
}

async fn update_indexing_configuration(
    State(index): State<Arc<Index>>,
    ctx: ApiContext,
    AwsJson(req): AwsJson<UpdateIndexingConfigurationRequest>,
) -> Result<Json<Value>, ApiError> {
    let scope = ctx.scope();
    let mut config = index.get_indexing_configuration(&scope);
    if let Some(t) = req.thing_indexing_configuration {
        let mode = ApiError::required(t.thing_indexing_mode, "thingIndexingConfiguration.thingIndexingMode")?;
        config.thing_indexing_mode =
            one_of(Some(mode), &["OFF", "REGISTRY", "REGISTRY_AND_SHADOW"], "thingIndexingMode", "")?;
        config.thing_connectivity_indexing_mode = one_of(
            t.thing_connectivity_indexing_mode,
            &["OFF", "STATUS"],
            "thingConnectivityIndexingMode",
            "OFF",
        )?;
        config.named_shadow_indexing_mode =
            one_of(t.named_shadow_indexing_mode, &["OFF", "ON"], "namedShadowIndexingMode", "OFF")?;
        config.named_shadow_names = t.filter.and_then(|f| f.named_shadow_names).unwrap_or_default();
        config.custom_fields = t.custom_fields.unwrap_or_default();
    }
    if let Some(g) = req.thing_group_indexing_configuration {
        let mode = ApiError::required(
            g.thing_group_indexing_mode,
            "thingGroupIndexingConfiguration.thingGroupIndexingMode",
        )?;
        config.thing_group_indexing_mode = one_of(Some(mode), &["OFF", "ON"], "thingGroupIndexingMode", "")?;
    }
    let index2 = index.clone();
    tokio::task::spawn_blocking(move || index2.update_indexing_configuration(&scope, config))
        .await
        .map_err(|e| ApiError::new(500, "InternalFailureException", e.to_string()))??;
    Ok(Json(json!({})))
}

fn config_json(c: &IndexingConfig) -> Value {
    let mut thing = json!({
        "thingIndexingMode": c.thing_indexing_mode,
        "thingConnectivityIndexingMode": c.thing_connectivity_indexing_mode,
        "namedShadowIndexingMode": c.named_shadow_indexing_mode,
    });
    if !c.named_shadow_names.is_empty() {
        thing["filter"] = json!({ "namedShadowNames": c.named_shadow_names });
    }
    if !c.custom_fields.is_empty() {
        thing["customFields"] = json!(c.custom_fields);
    }
    json!({
        "thingIndexingConfiguration": thing,
        "thingGroupIndexingConfiguration": { "thingGroupIndexingMode": c.thing_group_indexing_mode },
    })
}

async fn get_indexing_configuration(State(index): State<Arc<Index>>, ctx: ApiContext) -> Json<Value> {
    Json(config_json(&index.get_indexing_configuration(&ctx.scope())))
}

async fn list_indices(State(index): State<Arc<Index>>, ctx: ApiContext) -> Json<Value> {
    Json(json!({ "indexNames": index.list_indices(&ctx.scope()) }))
}

async fn describe_index(
    State(index): State<Arc<Index>>,
    ctx: ApiContext,
    Path(name): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let (status, schema) = index.describe_index(&ctx.scope(), &name)?;
    Ok(Json(json!({ "indexName": name, "indexStatus": status, "schema": schema })))
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct SearchIndexRequest {
    index_name: Option<String>,
    query_string: Option<String>,
    next_token: Option<String>,
    max_results: Option<usize>,
    #[allow(dead_code)]
    query_version: Option<String>,
}

async fn search_index(
    State(index): State<Arc<Index>>,
    ctx: ApiContext,
    AwsJson(req): AwsJson<SearchIndexRequest>,
) -> Result<Json<Value>, ApiError> {
    let q = ApiError::required(req.query_string, "queryString")?;
    let (things, next) = index.search_index(
        &ctx.scope(),
        req.index_name.as_deref(),
        &q,
        req.max_results,
        req.next_token.as_deref(),
    )?;
    Ok(Json(with_next_token(json!({ "things": things, "thingGroups": [] }), next)))
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct AggregationRequest {
    index_name: Option<String>,
    query_string: Option<String>,
    aggregation_field: Option<String>,
    #[allow(dead_code)]
    query_version: Option<String>,
    percents: Option<Vec<f64>>,
    buckets_aggregation_type: Option<Value>,
}

async fn get_statistics(
    State(index): State<Arc<Index>>,
    ctx: ApiContext,
    AwsJson(req): AwsJson<AggregationRequest>,
) -> Result<Json<Value>, ApiError> {
    let q = ApiError::required(req.query_string, "queryString")?;
    let stats = index.get_statistics(
        &ctx.scope(),
        req.index_name.as_deref(),
        &q,
        req.aggregation_field.as_deref(),
    )?;
    Ok(Json(json!({ "statistics": stats })))
}

async fn get_cardinality(
    State(index): State<Arc<Index>>,
    ctx: ApiContext,
    AwsJson(req): AwsJson<AggregationRequest>,
) -> Result<Json<Value>, ApiError> {
    let q = ApiError::required(req.query_string, "queryString")?;
    let field = req.aggregation_field.unwrap_or_else(|| "thingName".into());
    let n = index.get_cardinality(&ctx.scope(), req.index_name.as_deref(), &q, &field)?;
    Ok(Json(json!({ "cardinality": n })))
}

async fn get_percentiles(
    State(index): State<Arc<Index>>,
    ctx: ApiContext,
    AwsJson(req): AwsJson<AggregationRequest>,
) -> Result<Json<Value>, ApiError> {
    let q = ApiError::required(req.query_string, "queryString")?;
    let field = ApiError::required(req.aggregation_field, "aggregationField")?;
    let percents = req.percents.unwrap_or_else(|| DEFAULT_PERCENTS.to_vec());
    let out = index.get_percentiles(&ctx.scope(), req.index_name.as_deref(), &q, &field, &percents)?;
    Ok(Json(json!({ "percentiles": out })))
}

async fn get_buckets_aggregation(
    State(index): State<Arc<Index>>,
    ctx: ApiContext,
    AwsJson(req): AwsJson<AggregationRequest>,
) -> Result<Json<Value>, ApiError> {
    let q = ApiError::required(req.query_string, "queryString")?;
    let field = ApiError::required(req.aggregation_field, "aggregationField")?;
    let kind = ApiError::required(req.buckets_aggregation_type, "bucketsAggregationType")?;
    let max = kind["termsAggregation"]["maxBuckets"].as_u64().unwrap_or(10) as usize;
    let (total, buckets) =
        index.get_buckets_aggregation(&ctx.scope(), req.index_name.as_deref(), &q, &field, max)?;
    Ok(Json(json!({ "totalCount": total, "buckets": buckets })))
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct CreateDynamicThingGroupRequest {
    thing_group_properties: Option<PropertiesRequest>,
    index_name: Option<String>,
    query_string: Option<String>,
    query_version: Option<String>,
    #[serde(default)]
    tags: Vec<iotemu_api::tags::Tag>,
}

async fn create_dynamic_thing_group(
    State(index): State<Arc<Index>>,
    ctx: ApiContext,
    Path(name): Path<String>,
    AwsJson(req): AwsJson<CreateDynamicThingGroupRequest>,
) -> Result<Json<Value>, ApiError> {
    let scope = ctx.scope();
    let query_string = ApiError::required(req.query_string, "queryString")?;
    let tags = iotemu_api::tags::check_tags(&req.tags)?;
    let new = NewDynamicGroup {
        name: name.clone(),
        properties: req.thing_group_properties.unwrap_or_default().into(),
        query_string,
        index_name: req.index_name,
        query_version: req.query_version,
    };
    let g = index.create_dynamic_thing_group(&scope, new)?;
    index.registry().keep_created_tags(&scope, &g.arn, &tags)?;
    let d = g.dynamic.clone().unwrap_or_else(|| iotemu_registry::DynamicQuery {
        query_string: String::new(),
        index_name: crate::state::THING_INDEX.into(),
        query_version: QUERY_VERSION.into(),
        status: "BUILDING".into(),
    });
    tokio::task::spawn_blocking(move || index.backfill(&scope, &name));
    Ok(Json(json!({
        "thingGroupName": g.name,
        "thingGroupArn": g.arn,
        "thingGroupId": g.id,
        "indexName": d.index_name,
        "queryString": d.query_string,
        "queryVersion": d.query_version,
    })))
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct UpdateDynamicThingGroupRequest {
    thing_group_properties: Option<PropertiesRequest>,
    expected_version: Option<i64>,
    #[allow(dead_code)]
    index_name: Option<String>,
    query_string: Option<String>,
    query_version: Option<String>,
}

async fn update_dynamic_thing_group(
    State(index): State<Arc<Index>>,
    ctx: ApiContext,
    Path(name): Path<String>,
    AwsJson(req): AwsJson<UpdateDynamicThingGroupRequest>,
) -> Result<Json<Value>, ApiError> {
    let scope = ctx.scope();
    let properties = req.thing_group_properties.unwrap_or_default().into();
    let new_query = req.query_string.map(|q| (q, req.query_version));
    let refill = new_query.is_some();
    let version =
        index.update_dynamic_thing_group(&scope, &name, properties, req.expected_version, new_query)?;
    if refill {
        tokio::task::spawn_blocking(move || index.backfill(&scope, &name));
    }
    Ok(Json(json!({ "version": version })))
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct DeleteQuery {
    expected_version: Option<i64>,
}

async fn delete_dynamic_thing_group(
    State(index): State<Arc<Index>>,
    ctx: ApiContext,
    Path(name): Path<String>,
    q: AwsQuery<DeleteQuery>,
) -> Result<Json<Value>, ApiError> {
    index.delete_dynamic_thing_group(&ctx.scope(), &name, query(q)?.expected_version)?;
    Ok(Json(json!({})))
}
