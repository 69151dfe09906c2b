//! Calls from iotemu to the AWS services its rule actions and jobs reach (SQS, SNS, DynamoDB,
//! Kinesis, Firehose, S3, Lambda, Step Functions, CloudWatch), at the endpoints of the config's
//! `[aws_services]` section: one endpoint for all (LocalStack, moto's server), per-service
//! overrides, or real AWS (`use_aws`). Nothing is sent to a service that has no endpoint.
//!
//! Requests are signed with SigV4 by the `aws-sigv4` crate (the AWS SDK for Rust's own signer,
//! without the SDK's per-service clients: `docs/aws-behaviour.md` gives the figures) and sent
//! over the workspace's reqwest client, in the protocol of the service's botocore model: JSON 1.0
//! (SQS, DynamoDB, Step Functions), JSON 1.1 (Kinesis, Firehose), query (SNS, CloudWatch) and
//! REST (S3, Lambda). Errors come back as [`AwsError`] (AWS's code and message); throttling and
//! 5xx answers are retried a bounded number of times with exponential backoff, as the SDKs'
//! "standard" retry mode does (`https://docs.aws.amazon.com/sdkref/latest/guide/feature-retry-behavior.html`).

use aws_credential_types::Credentials;
use aws_sigv4::http_request::{
    sign, PayloadChecksumKind, PercentEncodingMode, SignableBody, SignableRequest, SignatureLocation,
    SigningSettings, UriPathNormalizationMode,
};
use aws_sigv4::sign::v4;
use aws_smithy_runtime_api::client::identity::Identity;
use bytes::Bytes;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::time::{Duration, SystemTime};

/// The config section `[aws_services]`.
#[derive(Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AwsServicesConfig {
    /// One endpoint for every service (LocalStack, moto's server), e.g. `http://127.0.0.1:4566`.
    pub endpoint_url: Option<String>,
    /// Per-service endpoints, over `endpoint_url`.
    pub sqs: Option<String>,
    pub sns: Option<String>,
    pub dynamodb: Option<String>,
    pub kinesis: Option<String>,
    pub firehose: Option<String>,
    pub s3: Option<String>,
    pub lambda: Option<String>,
    pub states: Option<String>,
    pub cloudwatch: Option<String>,
    /// Services without an endpoint go to real AWS (`https://{service}.{region}.amazonaws.com`).
    pub use_aws: bool,
    /// Default: `AWS_REGION`, `AWS_DEFAULT_REGION`, then `us-east-1`.
    pub region: Option<String>,
    /// Static credentials; without them `AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY` and
    /// `AWS_SESSION_TOKEN`, then (only towards a configured endpoint) the dummy pair `test`/`test`.
    pub access_key_id: Option<String>,
    /// Never written out (`iotemu print-config`).
    #[serde(skip_serializing)]
    pub secret_access_key: Option<String>,
    #[serde(skip_serializing)]
    pub session_token: Option<String>,
    /// Each try of a call (default 10000).
    pub timeout_ms: Option<u64>,
    /// Tries of a call that was throttled or got a 5xx (default 3, as the SDKs' standard mode).
    pub max_attempts: Option<u32>,
}

impl std::fmt::Debug for AwsServicesConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AwsServicesConfig")
            .field("endpoint_url", &self.endpoint_url)
            .field("use_aws", &self.use_aws)
            .field("region", &self.region)
            .field("access_key_id", &self.access_key_id)
            .field("secret_access_key", &self.secret_access_key.as_ref().map(|_| "<redacted>"))
            .finish_non_exhaustive()
    }
}

/// The services iotemu calls.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Service {
    Sqs,
    Sns,
    DynamoDb,
    Kinesis,
    Firehose,
    S3,
    Lambda,
    States,
    CloudWatch,
}

impl Service {
    /// The key of its setting in `[aws_services]`.
    pub fn key(self) -> &'static str {
        match self {
            Service::Sqs => "sqs",
            Service::Sns => "sns",
            Service::DynamoDb => "dynamodb",
            Service::Kinesis => "kinesis",
            Service::Firehose => "firehose",
            Service::S3 => "s3",
            Service::Lambda => "lambda",
            Service::States => "states",
            Service::CloudWatch => "cloudwatch",
        }
    }

    /// SigV4 signing name and endpoint prefix (botocore `signingName` / `endpointPrefix`).
    pub fn signing_name(self) -> &'static str {
        match self {
            Service::CloudWatch => "monitoring",
            other => other.key(),
        }
    }
}

/// An error from a service (its code and message) or from reaching it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AwsError {
    /// AWS's error code (`QueueDoesNotExist`, `ResourceNotFoundException`, ...), or
    /// `NotConfigured`, `RequestFailed` (no answer) for iotemu's own.
    pub code: String,
    pub message: String,
    /// The HTTP status (0: no answer).
    pub status: u16,
}

impl std::fmt::Display for AwsError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.status == 0 {
            write!(f, "{}", self.message)
        } else {
            write!(f, "{} (Status Code: {}; Error Code: {})", self.message, self.status, self.code)
        }
    }
}

impl AwsError {
    fn local(code: &str, message: String) -> AwsError {
        AwsError { code: code.into(), message, status: 0 }
    }

    /// Throttling and 5xx: worth another try.
    pub fn retryable(&self) -> bool {
        self.status == 429
            || self.status >= 500
            || matches!(
                self.code.as_str(),
                "Throttling"
                    | "ThrottlingException"
                    | "ThrottledException"
                    | "RequestThrottledException"
                    | "TooManyRequestsException"
                    | "ProvisionedThroughputExceededException"
                    | "TransactionInProgressException"
                    | "RequestLimitExceeded"
                    | "BandwidthLimitExceeded"
                    | "LimitExceededException"
                    | "RequestThrottled"
                    | "SlowDown"
                    | "PriorRequestNotComplete"
                    | "EC2ThrottledException"
            )
    }
}

/// An HTTP answer of a service.
#[derive(Debug)]
pub struct Answer {
    pub status: u16,
    pub headers: reqwest::header::HeaderMap,
    pub body: Bytes,
}

/// A client over a borrowed reqwest client and config; cheap to make for each call.
#[derive(Clone, Copy)]
pub struct AwsClient<'a> {
    http: &'a reqwest::Client,
    config: &'a AwsServicesConfig,
}

impl<'a> AwsClient<'a> {
    pub fn new(http: &'a reqwest::Client, config: &'a AwsServicesConfig) -> AwsClient<'a> {
        AwsClient { http, config }
    }

    pub fn region(&self) -> String {
        self.config
            .region
            .clone()
            .or_else(|| std::env::var("AWS_REGION").ok())
            .or_else(|| std::env::var("AWS_DEFAULT_REGION").ok())
            .filter(|r| !r.is_empty())
            .unwrap_or_else(|| "us-east-1".into())
    }

    fn configured_endpoint(&self, service: Service) -> Option<&'a str> {
        let c = self.config;
        let own = match service {
            Service::Sqs => &c.sqs,
            Service::Sns => &c.sns,
            Service::DynamoDb => &c.dynamodb,
            Service::Kinesis => &c.kinesis,
            Service::Firehose => &c.firehose,
            Service::S3 => &c.s3,
            Service::Lambda => &c.lambda,
            Service::States => &c.states,
            Service::CloudWatch => &c.cloudwatch,
        };
        own.as_deref().or(c.endpoint_url.as_deref()).filter(|e| !e.is_empty())
    }

    /// Whether calls to `service` go anywhere.
    pub fn is_configured(&self, service: Service) -> bool {
        self.configured_endpoint(service).is_some() || self.config.use_aws
    }

    /// The base URL of `service` (no trailing slash), or why there is none.
    pub fn endpoint(&self, service: Service) -> Result<String, AwsError> {
        if let Some(e) = self.configured_endpoint(service) {
            return Ok(e.trim_end_matches('/').to_string());
        }
        if self.config.use_aws {
            return Ok(format!("https://{}.{}.amazonaws.com", service.signing_name(), self.region()));
        }
        Err(AwsError::local(
            "NotConfigured",
            format!(
                "iotemu has no endpoint for {name}; set endpoint_url (or {key}, or use_aws = true) in the [aws_services] section of the config file",
                name = service.signing_name(),
                key = service.key()
            ),
        ))
    }

    fn credentials(&self, service: Service) -> Result<Credentials, AwsError> {
        let c = self.config;
        if let (Some(id), Some(secret)) = (&c.access_key_id, &c.secret_access_key) {
            return Ok(Credentials::new(id, secret, c.session_token.clone(), None, "iotemu-config"));
        }
        if let (Ok(id), Ok(secret)) =
            (std::env::var("AWS_ACCESS_KEY_ID"), std::env::var("AWS_SECRET_ACCESS_KEY"))
        {
            let token = std::env::var("AWS_SESSION_TOKEN").ok().filter(|t| !t.is_empty());
            return Ok(Credentials::new(id, secret, token, None, "environment"));
        }
        if self.configured_endpoint(service).is_some() {
            return Ok(Credentials::new("test", "test", None, None, "iotemu-local-endpoint"));
        }
        Err(AwsError::local(
            "NoCredentials",
            "iotemu has no AWS credentials: set access_key_id and secret_access_key in [aws_services] or AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY".into(),
        ))
    }

    fn settings(service: Service) -> SigningSettings {
        let mut settings = SigningSettings::default();
        if service == Service::S3 {
            // S3 signs the path as sent, once encoded, with the payload hash in a header.
            settings.percent_encoding_mode = PercentEncodingMode::Single;
            settings.uri_path_normalization_mode = UriPathNormalizationMode::Disabled;
            settings.payload_checksum_kind = PayloadChecksumKind::XAmzSha256;
        }
        settings
    }

    /// Signs and sends one request (`url` already percent-encoded), retrying throttling and 5xx.
    pub async fn send(
        &self,
        service: Service,
        method: &str,
        url: &str,
        headers: &[(&str, String)],
        body: Bytes,
    ) -> Result<Answer, AwsError> {
        let identity: Identity = self.credentials(service)?.into();
        let region = self.region();
        let attempts = self.config.max_attempts.unwrap_or(3).max(1);
        let timeout = Duration::from_millis(self.config.timeout_ms.unwrap_or(10_000));
        let method = reqwest::Method::from_bytes(method.as_bytes())
            .map_err(|e| AwsError::local("RequestFailed", e.to_string()))?;
        let mut attempt = 0;
        loop {
            attempt += 1;
            let params = v4::SigningParams::builder()
                .identity(&identity)
                .region(&region)
                .name(service.signing_name())
                .time(SystemTime::now())
                .settings(Self::settings(service))
                .build()
                .map_err(|e| AwsError::local("RequestFailed", e.to_string()))?
                .into();
            let signable = SignableRequest::new(
                method.as_str(),
                url,
                headers.iter().map(|(k, v)| (*k, v.as_str())),
                SignableBody::Bytes(&body),
            )
            .map_err(|e| AwsError::local("RequestFailed", format!("Cannot sign a request to {url}: {e}")))?;
            let (instructions, _) = sign(signable, &params)
                .map_err(|e| {
                    AwsError::local("RequestFailed", format!("Cannot sign a request to {url}: {e}"))
                })?
                .into_parts();
            let mut request = self.http.request(method.clone(), url).timeout(timeout).body(body.clone());
            for (k, v) in headers {
                request = request.header(*k, v.as_str());
            }
            for (k, v) in instructions.headers() {
                request = request.header(k, v);
            }
            let result = match request.send().await {
                Ok(response) => {
                    let status = response.status().as_u16();
                    let headers = response.headers().clone();
                    match response.bytes().await {
                        Ok(body) if status < 300 => return Ok(Answer { status, headers, body }),
                        Ok(body) => Err(parse_error(status, &headers, &body)),
                        Err(e) => Err(AwsError::local(
                            "RequestFailed",
                            format!("Reading the answer of {url} failed: {e}"),
                        )),
                    }
                }
                Err(e) => Err(AwsError::local(
                    "RequestFailed",
                    format!("The request to {url} failed: {}", error_chain(&e)),
                )),
            };
            match result {
                Err(e) if e.retryable() && attempt < attempts => {
                    tokio::time::sleep(Duration::from_millis(50 << attempt.min(6))).await;
                }
                other => return other,
            }
        }
    }

    /// A JSON-protocol call (`awsJson1_0` / `awsJson1_1`): POST / with `X-Amz-Target`.
    pub async fn json(
        &self,
        service: Service,
        target: &str,
        json_version: &str,
        input: &Value,
    ) -> Result<Value, AwsError> {
        let url = format!("{}/", self.endpoint(service)?);
        let headers = [
            ("content-type", format!("application/x-amz-json-{json_version}")),
            ("x-amz-target", target.to_string()),
        ];
        let answer = self.send(service, "POST", &url, &headers, Bytes::from(input.to_string())).await?;
        if answer.body.is_empty() {
            return Ok(Value::Object(Default::default()));
        }
        serde_json::from_slice(&answer.body).map_err(|e| AwsError {
            code: "InvalidResponse".into(),
            message: format!("The answer of {url} is not JSON: {e}"),
            status: answer.status,
        })
    }

    /// A query-protocol call: POST / with the form `Action=...&Version=...&...`; the XML answer.
    pub async fn query(&self, service: Service, params: &[(String, String)]) -> Result<String, AwsError> {
        let url = format!("{}/", self.endpoint(service)?);
        let form = {
            let mut form = form_urlencoded::Serializer::new(String::new());
            for (k, v) in params {
                form.append_pair(k, v);
            }
            form.finish()
        };
        let headers = [("content-type", "application/x-www-form-urlencoded; charset=utf-8".to_string())];
        let answer = self.send(service, "POST", &url, &headers, Bytes::from(form)).await?;
        Ok(String::from_utf8_lossy(&answer.body).into_owned())
    }

    /// The path-style URL of an S3 object: `{endpoint}/{bucket}/{key}`, key encoded per segment.
    pub fn s3_object_url(&self, bucket: &str, key: &str) -> Result<String, AwsError> {
        let key = key.split('/').map(encode).collect::<Vec<_>>().join("/");
        Ok(format!("{}/{}/{}", self.endpoint(Service::S3)?, encode(bucket), key))
    }

    /// GetObject: the object's bytes.
    pub async fn get_s3_object(&self, bucket: &str, key: &str) -> Result<Bytes, AwsError> {
        let url = self.s3_object_url(bucket, key)?;
        Ok(self.send(Service::S3, "GET", &url, &[], Bytes::new()).await?.body)
    }

    /// A GET URL of an S3 object, presigned with SigV4 query parameters for `expires`.
    pub fn presign_s3_get(&self, bucket: &str, key: &str, expires: Duration) -> Result<String, AwsError> {
        let url = self.s3_object_url(bucket, key)?;
        let identity: Identity = self.credentials(Service::S3)?.into();
        let region = self.region();
        let mut settings = Self::settings(Service::S3);
        settings.signature_location = SignatureLocation::QueryParams;
        settings.payload_checksum_kind = PayloadChecksumKind::NoHeader;
        settings.expires_in = Some(expires);
        let params = v4::SigningParams::builder()
            .identity(&identity)
            .region(&region)
            .name("s3")
            .time(SystemTime::now())
            .settings(settings)
            .build()
            .map_err(|e| AwsError::local("RequestFailed", e.to_string()))?
            .into();
        let signable =
            SignableRequest::new("GET", url.as_str(), std::iter::empty(), SignableBody::UnsignedPayload)
                .map_err(|e| AwsError::local("RequestFailed", e.to_string()))?;
        let (instructions, _) = sign(signable, &params)
            .map_err(|e| AwsError::local("RequestFailed", e.to_string()))?
            .into_parts();
        let mut query = form_urlencoded::Serializer::new(String::new());
        for (k, v) in instructions.params() {
            query.append_pair(k, v);
        }
        Ok(format!("{url}?{}", query.finish().replace('+', "%20")))
    }
}

/// The bucket and key of an S3 object URL as AWS IoT jobs take them (`documentSource`,
/// `${aws:iot:s3-presigned-url:...}`): `https://s3.amazonaws.com/bucket/key`, the regional
/// `https://s3.{region}.amazonaws.com/bucket/key` (or `s3-{region}`), and the virtual-hosted
/// `https://bucket.s3[.{region}].amazonaws.com/key`. The key is percent-decoded.
pub fn parse_s3_url(url: &str) -> Option<(String, String)> {
    let rest = url.strip_prefix("https://").or_else(|| url.strip_prefix("http://"))?;
    let (host, path) = rest.split_once('/')?;
    let host = host.to_ascii_lowercase();
    let host = host.strip_suffix(".amazonaws.com")?;
    let is_s3 = |h: &str| h == "s3" || h.starts_with("s3.") || h.starts_with("s3-");
    let (bucket, key) = if is_s3(host) {
        path.split_once('/')?
    } else {
        let (bucket, service) = host.split_once('.')?;
        if !is_s3(service) {
            return None;
        }
        (bucket, path)
    };
    let key = percent_encoding::percent_decode_str(key).decode_utf8().ok()?.into_owned();
    (!bucket.is_empty() && !key.is_empty()).then(|| (bucket.to_string(), key))
}

/// RFC 3986 unreserved characters kept, everything else percent-encoded (SigV4's encoding).
pub fn encode(s: &str) -> String {
    const SET: &percent_encoding::AsciiSet =
        &percent_encoding::NON_ALPHANUMERIC.remove(b'-').remove(b'_').remove(b'.').remove(b'~');
    percent_encoding::utf8_percent_encode(s, SET).to_string()
}

fn error_chain(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        text.push_str(": ");
        text.push_str(&s.to_string());
        source = s.source();
    }
    text
}

/// AWS's error code and message from an error answer, in any of the protocols: JSON (`__type`
/// or `x-amzn-ErrorType`, with SQS's `x-amzn-query-error` code first), or XML (`<Code>`).
pub fn parse_error(status: u16, headers: &reqwest::header::HeaderMap, body: &[u8]) -> AwsError {
    let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok()).map(str::to_owned);
    let mut code = header("x-amzn-query-error").and_then(|q| q.split(';').next().map(str::to_owned));
    let message;
    if let Ok(Value::Object(o)) = serde_json::from_slice::<Value>(body) {
        let text = |k: &str| o.get(k).and_then(Value::as_str).map(str::to_owned);
        code = code.or_else(|| {
            text("__type").or_else(|| text("code")).or_else(|| text("Code")).or_else(|| text("Type"))
        });
        message = text("message").or_else(|| text("Message")).or_else(|| text("errorMessage"));
    } else {
        let text = String::from_utf8_lossy(body);
        code = code.or_else(|| xml_value(&text, "Code"));
        message = xml_value(&text, "Message");
    }
    let code = code
        .or_else(|| header("x-amzn-errortype"))
        .map(|c| {
            // `aws.protocoltests#Name:http://...` and `com.amazonaws.sqs#Name` -> `Name`.
            let c = c.split(':').next().unwrap_or_default();
            c.rsplit('#').next().unwrap_or_default().to_string()
        })
        .filter(|c| !c.is_empty())
        .unwrap_or_else(|| format!("Http{status}"));
    let message = message.unwrap_or_else(|| format!("The service answered HTTP {status}"));
    AwsError { code, message, status }
}

/// The text of the first `<tag>...</tag>` in `xml`, with the five XML entities decoded.
pub fn xml_value(xml: &str, tag: &str) -> Option<String> {
    let open = format!("<{tag}>");
    let start = xml.find(&open)? + open.len();
    let end = start + xml[start..].find(&format!("</{tag}>"))?;
    Some(
        xml[start..end]
            .replace("&lt;", "<")
            .replace("&gt;", ">")
            .replace("&quot;", "\"")
            .replace("&apos;", "'")
            .replace("&amp;", "&"),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_of_every_protocol_give_aws_code_and_message() {
        let mut h = reqwest::header::HeaderMap::new();
        let json = br#"{"__type":"com.amazonaws.dynamodb.v20120810#ResourceNotFoundException","message":"Requested resource not found"}"#;
        let e = parse_error(400, &h, json);
        assert_eq!(
            (e.code.as_str(), e.message.as_str()),
            ("ResourceNotFoundException", "Requested resource not found")
        );
        h.insert("x-amzn-query-error", "AWS.SimpleQueueService.NonExistentQueue;Sender".parse().unwrap());
        let e = parse_error(400, &h, br#"{"__type":"com.amazonaws.sqs#QueueDoesNotExist","message":"gone"}"#);
        assert_eq!(e.code, "AWS.SimpleQueueService.NonExistentQueue");
        let xml = b"<ErrorResponse><Error><Type>Sender</Type><Code>NotFound</Code><Message>Topic does not exist &amp; more</Message></Error></ErrorResponse>";
        let e = parse_error(404, &reqwest::header::HeaderMap::new(), xml);
        assert_eq!((e.code.as_str(), e.message.as_str()), ("NotFound", "Topic does not exist & more"));
        assert!(!e.retryable());
        assert!(parse_error(400, &reqwest::header::HeaderMap::new(), br#"{"__type":"ThrottlingException"}"#)
            .retryable());
        assert!(parse_error(503, &reqwest::header::HeaderMap::new(), b"").retryable());
    }

    #[test]
    fn endpoints_come_from_the_config_and_unconfigured_services_name_the_setting() {
        let http = reqwest::Client::new();
        let config = AwsServicesConfig {
            endpoint_url: Some("http://127.0.0.1:5000/".into()),
            sqs: Some("http://127.0.0.1:9324".into()),
            ..Default::default()
        };
        let c = AwsClient::new(&http, &config);
        assert_eq!(c.endpoint(Service::Sqs).unwrap(), "http://127.0.0.1:9324");
        assert_eq!(c.endpoint(Service::Kinesis).unwrap(), "http://127.0.0.1:5000");
        let none = AwsServicesConfig::default();
        let e = AwsClient::new(&http, &none).endpoint(Service::Sns).unwrap_err();
        assert!(e.message.contains("[aws_services]") && e.message.contains("sns"), "{}", e.message);
        let aws = AwsServicesConfig { use_aws: true, region: Some("eu-west-1".into()), ..Default::default() };
        let c = AwsClient::new(&http, &aws);
        assert_eq!(c.endpoint(Service::CloudWatch).unwrap(), "https://monitoring.eu-west-1.amazonaws.com");
    }

    /// A loopback server answering each connection with the next of `answers` (status, body).
    async fn server(
        answers: Vec<(u16, &'static str)>,
    ) -> (String, std::sync::Arc<std::sync::atomic::AtomicUsize>) {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let count = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let seen = count.clone();
        tokio::spawn(async move {
            for (status, body) in answers {
                let (mut socket, _) = listener.accept().await.unwrap();
                let mut buf = vec![0u8; 65536];
                let _ = socket.read(&mut buf).await;
                seen.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                let reply = format!(
                    "HTTP/1.1 {status} X\r\ncontent-type: application/x-amz-json-1.0\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                    body.len()
                );
                let _ = socket.write_all(reply.as_bytes()).await;
            }
        });
        (url, count)
    }

    #[tokio::test]
    async fn throttling_is_retried_a_bounded_number_of_times_and_other_errors_are_not() {
        let http = reqwest::Client::new();
        let throttled = (400, r#"{"__type":"ThrottlingException","message":"Rate exceeded"}"#);
        let (url, count) = server(vec![throttled, throttled, (200, "{}")]).await;
        let config = AwsServicesConfig { endpoint_url: Some(url), ..Default::default() };
        let c = AwsClient::new(&http, &config);
        assert!(c.json(Service::Kinesis, "Kinesis_20131202.PutRecord", "1.1", &Value::Null).await.is_ok());
        assert_eq!(count.load(std::sync::atomic::Ordering::SeqCst), 3, "two throttled tries, then success");

        let (url, count) = server(vec![throttled, throttled, throttled, throttled]).await;
        let config =
            AwsServicesConfig { endpoint_url: Some(url), max_attempts: Some(3), ..Default::default() };
        let e = AwsClient::new(&http, &config)
            .json(Service::Kinesis, "T", "1.1", &Value::Null)
            .await
            .unwrap_err();
        assert_eq!((e.code.as_str(), e.message.as_str()), ("ThrottlingException", "Rate exceeded"));
        assert_eq!(count.load(std::sync::atomic::Ordering::SeqCst), 3, "max_attempts bounds the tries");

        let missing = (
            400,
            r#"{"__type":"com.amazonaws.dynamodb.v20120810#ResourceNotFoundException","message":"gone"}"#,
        );
        let (url, count) = server(vec![missing, missing]).await;
        let config = AwsServicesConfig { endpoint_url: Some(url), ..Default::default() };
        let e = AwsClient::new(&http, &config)
            .json(Service::DynamoDb, "T", "1.0", &Value::Null)
            .await
            .unwrap_err();
        assert_eq!(e.code, "ResourceNotFoundException");
        assert_eq!(count.load(std::sync::atomic::Ordering::SeqCst), 1, "not retried");
    }

    #[test]
    fn s3_urls_of_every_form_give_bucket_and_key() {
        let both = |b: &str, k: &str| Some((b.to_string(), k.to_string()));
        assert_eq!(
            parse_s3_url("https://s3.amazonaws.com/bucket/dir/key.json"),
            both("bucket", "dir/key.json")
        );
        assert_eq!(parse_s3_url("https://s3.eu-west-1.amazonaws.com/b/k%20x"), both("b", "k x"));
        assert_eq!(parse_s3_url("https://b.s3.us-east-1.amazonaws.com/k"), both("b", "k"));
        assert_eq!(parse_s3_url("https://b.s3.amazonaws.com/k"), both("b", "k"));
        assert_eq!(parse_s3_url("https://example.com/b/k"), None);
        assert_eq!(parse_s3_url("https://s3.amazonaws.com/b"), None);
    }

    #[test]
    fn presigned_s3_urls_carry_the_sigv4_query_parameters() {
        let http = reqwest::Client::new();
        let config = AwsServicesConfig { s3: Some("http://127.0.0.1:5000".into()), ..Default::default() };
        let url = AwsClient::new(&http, &config)
            .presign_s3_get("bucket", "dir/a b.bin", Duration::from_secs(600))
            .unwrap();
        assert!(url.starts_with("http://127.0.0.1:5000/bucket/dir/a%20b.bin?"), "{url}");
        for p in
            ["X-Amz-Algorithm=AWS4-HMAC-SHA256", "X-Amz-Expires=600", "X-Amz-Signature=", "X-Amz-Credential="]
        {
            assert!(url.contains(p), "{url} lacks {p}");
        }
    }
}
