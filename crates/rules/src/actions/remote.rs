//! The actions that wait on the network, `http` and `lambda`: their templates are rendered on
//! the dispatcher ([`prepare_http`], [`prepare_lambda`]), the POST is made off it
//! ([`run_remote`]): up to three tries for `http`, retrying only on 429 and 5xx
//! (`https-rule-action.md`); one for `lambda`, with `X-Amz-Invocation-Type: Event`: POSTed to
//! the URL mapped in `[rules.lambda_endpoints]`, else Lambda's Invoke API (`Event`) at the
//! `[aws_services]` endpoint. The actions of other AWS services: [`super::aws`].

use super::run::{Outcome, Remote, Started};
use crate::actions::Http;
use crate::engine::Inner;
use crate::sql::{Environment, Message};
use bytes::Bytes;

/// The http action with its URL and header templates rendered.
pub(crate) fn prepare_http(
    Http { url, headers }: &Http,
    sql: &Message,
    env: &dyn Environment,
    body: &Bytes,
) -> Started {
    let rendered = url.render(sql, env).and_then(|url| {
        let headers = headers
            .iter()
            .map(|(k, v)| v.render(sql, env).map(|v| (k.clone(), v)))
            .collect::<Result<Vec<_>, _>>()?;
        Ok((url, headers))
    });
    match rendered {
        Ok((url, headers)) => Started::Remote(Remote::Http { url, headers, body: body.clone() }),
        Err(e) => Started::Done(Outcome::template_failed("HttpAction", "http", e)),
    }
}

/// The lambda action with the URL configured for its function: the exact ARN, then the ARN
/// without its version or alias, then `*`.
pub(crate) fn prepare_lambda(inner: &Inner, function_arn: &str, body: &Bytes) -> Remote {
    let endpoints = &inner.config.lambda_endpoints;
    let unqualified = function_arn.split(':').take(7).collect::<Vec<_>>().join(":");
    let url =
        endpoints.get(function_arn).or_else(|| endpoints.get(&unqualified)).or_else(|| endpoints.get("*"));
    Remote::Lambda { arn: function_arn.to_string(), url: url.cloned(), body: body.clone() }
}

pub(crate) async fn run_remote(inner: &Inner, prepared: Remote, json_body: bool) -> Outcome {
    match prepared {
        Remote::Http { url, headers, body } => {
            let resources = vec![("Url", url.clone())];
            let has_content_type = headers.iter().any(|(k, _)| k.eq_ignore_ascii_case("content-type"));
            let content_type = if json_body { "application/json" } else { "application/octet-stream" };
            let error =
                post(inner, &url, &headers, (!has_content_type).then_some(content_type), body, 3).await.err();
            Outcome { rule_action: "HttpAction", resources, error: error.map(|e| ("HttpRequestFailed", e)) }
        }
        Remote::Lambda { arn, url, body } => {
            let resources = vec![("FunctionArn", arn.clone())];
            let client = iotemu_awsclient::AwsClient::new(&inner.http, &inner.config.aws);
            let error = match url {
                None if client.is_configured(iotemu_awsclient::Service::Lambda) => {
                    return invoke(&client, &arn, body).await;
                }
                None => Some((
                    "LambdaNotConfigured",
                    format!(
                        "iotemu has no endpoint for Lambda function {arn}; map it to a URL in [rules.lambda_endpoints], or set endpoint_url (or lambda) in [aws_services] of the config file"
                    ),
                )),
                Some(url) => {
                    let headers = vec![("X-Amz-Invocation-Type".to_string(), "Event".to_string())];
                    post(inner, &url, &headers, Some("application/json"), body, 1)
                        .await
                        .err()
                        .map(|e| ("LambdaInvocationFailed", format!("Invoking {arn} at {url} failed: {e}")))
                }
            };
            Outcome { rule_action: "LambdaAction", resources, error }
        }
        Remote::Aws(call) => super::aws::run_aws(inner, call).await,
    }
}

/// Lambda's Invoke (`POST /2015-03-31/functions/{FunctionName}/invocations`) with
/// `X-Amz-Invocation-Type: Event`, as AWS IoT invokes rule functions (`lambda-rule-action.md`).
async fn invoke(client: &iotemu_awsclient::AwsClient<'_>, arn: &str, body: Bytes) -> Outcome {
    let resources = vec![("FunctionArn", arn.to_string())];
    let result = match client.endpoint(iotemu_awsclient::Service::Lambda) {
        Ok(endpoint) => {
            let url =
                format!("{endpoint}/2015-03-31/functions/{}/invocations", iotemu_awsclient::encode(arn));
            let headers = [
                ("x-amz-invocation-type", "Event".to_string()),
                ("content-type", "application/json".to_string()),
            ];
            client.send(iotemu_awsclient::Service::Lambda, "POST", &url, &headers, body).await.map(drop)
        }
        Err(e) => Err(e),
    };
    super::aws::outcome("LambdaAction", resources, result, "Failed to invoke Lambda function", "AWSLambda")
}

/// POSTs `body`, retrying on 429 and 5xx up to `tries` times in all.
async fn post(
    inner: &Inner,
    url: &str,
    headers: &[(String, String)],
    content_type: Option<&str>,
    body: Bytes,
    tries: u32,
) -> Result<(), String> {
    let mut last = String::new();
    for _ in 0..tries.max(1) {
        let mut request = inner.http.post(url).body(body.clone());
        if let Some(ct) = content_type {
            request = request.header("content-type", ct);
        }
        for (k, v) in headers {
            request = request.header(k.as_str(), v.as_str());
        }
        match request.send().await {
            Ok(response) if response.status().is_success() => return Ok(()),
            Ok(response) => {
                let status = response.status();
                last = format!("The endpoint {url} answered HTTP {}", status.as_u16());
                if !(status.as_u16() == 429 || status.is_server_error()) {
                    break;
                }
            }
            Err(e) => {
                last = format!("The request to {url} failed: {e}");
                break;
            }
        }
    }
    Err(last)
}
