//! Logs Insights on the wire (JSON 1.1): StartQuery, GetQueryResults, StopQuery and
//! DescribeQueries, shapes from botocore `logs` 2014-03-28.

use crate::insights::{QueryInfo, StartInput};
use crate::service::group_name;
use crate::{Logs, LogsError};
use iotemu_api::paging::marker_page;
use iotemu_core::Scope;
use serde::Deserialize;
use serde_json::{json, Value};

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct StartQueryRequest {
    log_group_name: Option<String>,
    log_group_names: Option<Vec<String>>,
    log_group_identifiers: Option<Vec<String>>,
    start_time: i64,
    end_time: i64,
    query_string: String,
    limit: Option<usize>,
    query_language: Option<String>,
}

/// StartQuery: exactly one of `logGroupName`, `logGroupNames`, `logGroupIdentifiers`.
pub(crate) fn start_query(logs: &Logs, scope: &Scope, req: StartQueryRequest) -> Result<Value, LogsError> {
    if let Some(language) = req.query_language.as_deref().filter(|l| *l != "CWLI") {
        return Err(LogsError::InvalidParameter(format!(
            "iotemu serves the Logs Insights query language (CWLI) only, not {language}"
        )));
    }
    let groups = match (req.log_group_name, req.log_group_names, req.log_group_identifiers) {
        (Some(name), None, None) => vec![name],
        (None, Some(names), None) => names,
        (None, None, Some(ids)) => {
            ids.into_iter().map(|id| group_name(None, Some(id))).collect::<Result<_, _>>()?
        }
        _ => {
            return Err(LogsError::InvalidParameter(
                "Exactly one of logGroupName, logGroupNames or logGroupIdentifiers must be specified".into(),
            ))
        }
    };
    let input = StartInput {
        groups,
        start_time: req.start_time,
        end_time: req.end_time,
        query_string: req.query_string,
        limit: req.limit,
    };
    let id = logs.queries.start_query(&logs.store, scope, input, logs.now_ms())?;
    Ok(json!({ "queryId": id }))
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct QueryIdRequest {
    query_id: String,
}

/// GetQueryResults: `results` (rows of `{field, value}`), `statistics` and `status`.
pub(crate) fn get_query_results(logs: &Logs, scope: &Scope, req: QueryIdRequest) -> Result<Value, LogsError> {
    let info = logs.queries.get_query_results(scope, &req.query_id)?;
    let results: Vec<Value> = info
        .results
        .iter()
        .map(|row| Value::Array(row.iter().map(|(f, v)| json!({ "field": f, "value": v })).collect()))
        .collect();
    Ok(json!({
        "queryLanguage": "CWLI",
        "results": results,
        "statistics": {
            "recordsMatched": info.statistics.records_matched,
            "recordsScanned": info.statistics.records_scanned,
            "bytesScanned": info.statistics.bytes_scanned,
        },
        "status": info.status.as_str(),
    }))
}

/// StopQuery.
pub(crate) fn stop_query(logs: &Logs, scope: &Scope, req: QueryIdRequest) -> Result<Value, LogsError> {
    Ok(json!({ "success": logs.queries.stop_query(scope, &req.query_id)? }))
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct DescribeQueriesRequest {
    log_group_name: Option<String>,
    status: Option<String>,
    max_results: Option<usize>,
    next_token: Option<String>,
}

/// DescribeQueries, newest first (botocore `QueryInfo`).
pub(crate) fn describe_queries(
    logs: &Logs,
    scope: &Scope,
    req: DescribeQueriesRequest,
) -> Result<Value, LogsError> {
    let max = req.max_results.unwrap_or(1000);
    if !(1..=1000).contains(&max) {
        return Err(LogsError::InvalidParameter(format!(
            "1 validation error detected: Value '{max}' at 'maxResults' failed to satisfy constraint: \
             Member must have value between 1 and 1000"
        )));
    }
    let all = logs.queries.describe_queries(scope, req.log_group_name.as_deref(), req.status.as_deref());
    let (page, next) =
        marker_page(&all, |q: &QueryInfo| &q.id, req.next_token.as_deref(), max).ok_or_else(|| {
            LogsError::InvalidParameter(format!(
                "The specified nextToken is invalid: {}",
                req.next_token.unwrap_or_default()
            ))
        })?;
    let queries: Vec<Value> = page
        .iter()
        .map(|q| {
            json!({
                "queryLanguage": "CWLI",
                "queryId": q.id,
                "queryString": q.query_string,
                "status": q.status.as_str(),
                "createTime": q.create_time,
                "logGroupName": q.log_group,
            })
        })
        .collect();
    Ok(iotemu_api::paging::with_next_token(json!({ "queries": queries }), next))
}
