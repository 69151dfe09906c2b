//! The certificate routes (botocore `iot`): CreateKeysAndCertificate, Describe/List/Update/
//! DeleteCertificate, certificate registration (CreateCertificateFromCsr, RegisterCertificate,
//! RegisterCertificateWithoutCA, Get/DeleteRegistrationCode) and CA certificates
//! (RegisterCACertificate, Describe/List/Update/DeleteCACertificate, ListCertificatesByCA):
//! parse, call the operation, render.

use crate::http::{query, with_marker, AwsQuery};
use crate::{CaCertificate, Certificate, RegisterCa, RegistrationConfig, Registry, UpdateCa};
use axum::extract::{Path, State};
use axum::routing::{get, post};
use axum::{Json, Router};
use iotemu_api::{ApiContext, ApiError, AwsJson};
use serde::Deserialize;
use serde_json::{json, Value};
use std::sync::Arc;

/// The routes of the certificate operations.
pub(crate) fn routes(registry: Arc<Registry>) -> Router {
    Router::new()
        .route("/keys-and-certificate", post(create_keys_and_certificate))
        .route("/certificates", get(list_certificates).post(create_certificate_from_csr))
        .route(
            "/certificates/{certificate_id}",
            get(describe_certificate).put(update_certificate).delete(delete_certificate),
        )
        .route("/certificate/register", post(register_certificate))
        .route("/certificate/register-no-ca", post(register_certificate_without_ca))
        .route("/registrationcode", get(get_registration_code).delete(delete_registration_code))
        .route("/cacertificate", post(register_ca_certificate))
        .route("/cacertificates", get(list_ca_certificates))
        .route(
            "/cacertificate/{ca_certificate_id}",
            get(describe_ca_certificate).put(update_ca_certificate).delete(delete_ca_certificate),
        )
        .route("/certificates-by-ca/{ca_certificate_id}", get(list_certificates_by_ca))
        .with_state(registry)
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct SetAsActive {
    #[serde(default)]
    set_as_active: bool,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct CreateFromCsrRequest {
    certificate_signing_request: String,
}

async fn create_certificate_from_csr(
    State(registry): State<Arc<Registry>>,
    ctx: ApiContext,
    q: AwsQuery<SetAsActive>,
    AwsJson(req): AwsJson<CreateFromCsrRequest>,
) -> Result<Json<Value>, ApiError> {
    let set_as_active = query(q)?.set_as_active;
    let c = registry.create_certificate_from_csr(
        &ctx.scope(),
        &req.certificate_signing_request,
        set_as_active,
    )?;
    Ok(Json(json!({ "certificateArn": c.arn, "certificateId": c.id, "certificatePem": c.pem })))
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RegisterRequest {
    certificate_pem: String,
    ca_certificate_pem: Option<String>,
    status: Option<String>,
}

fn registered(c: &Certificate) -> Json<Value> {
    Json(json!({ "certificateArn": c.arn, "certificateId": c.id }))
}

async fn register_certificate(
    State(registry): State<Arc<Registry>>,
    ctx: ApiContext,
    q: AwsQuery<SetAsActive>,
    AwsJson(req): AwsJson<RegisterRequest>,
) -> Result<Json<Value>, ApiError> {
    let set_as_active = query(q)?.set_as_active;
    let c = registry.register_certificate(
        &ctx.scope(),
        &req.certificate_pem,
        req.ca_certificate_pem.as_deref(),
        req.status.as_deref(),
        set_as_active,
    )?;
    Ok(registered(&c))
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RegisterWithoutCaRequest {
    certificate_pem: String,
    status: Option<String>,
}

async fn register_certificate_without_ca(
    State(registry): State<Arc<Registry>>,
    ctx: ApiContext,
    AwsJson(req): AwsJson<RegisterWithoutCaRequest>,
) -> Result<Json<Value>, ApiError> {
    let c = registry.register_certificate_without_ca(
        &ctx.scope(),
        &req.certificate_pem,
        req.status.as_deref(),
    )?;
    Ok(registered(&c))
}

async fn get_registration_code(
    State(registry): State<Arc<Registry>>,
    ctx: ApiContext,
) -> Result<Json<Value>, ApiError> {
    Ok(Json(json!({ "registrationCode": registry.get_registration_code(&ctx.scope())? })))
}

async fn delete_registration_code(
    State(registry): State<Arc<Registry>>,
    ctx: ApiContext,
) -> Result<Json<Value>, ApiError> {
    registry.delete_registration_code(&ctx.scope())?;
    Ok(Json(json!({})))
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RegisterCaQuery {
    #[serde(default)]
    set_as_active: bool,
    #[serde(default)]
    allow_auto_registration: bool,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RegisterCaRequest {
    ca_certificate: String,
    verification_certificate: Option<String>,
    registration_config: Option<RegistrationConfig>,
    certificate_mode: Option<String>,
    #[serde(default)]
    tags: Vec<iotemu_api::tags::Tag>,
}

async fn register_ca_certificate(
    State(registry): State<Arc<Registry>>,
    ctx: ApiContext,
    q: AwsQuery<RegisterCaQuery>,
    AwsJson(req): AwsJson<RegisterCaRequest>,
) -> Result<Json<Value>, ApiError> {
    let q = query(q)?;
    let tags = iotemu_api::tags::check_tags(&req.tags)?;
    let register = RegisterCa {
        ca_pem: req.ca_certificate,
        verification_pem: req.verification_certificate,
        set_as_active: q.set_as_active,
        allow_auto_registration: q.allow_auto_registration,
        registration_config: req.registration_config,
        certificate_mode: req.certificate_mode,
    };
    let ca = registry.register_ca_certificate(&ctx.scope(), register)?;
    registry.keep_created_tags(&ctx.scope(), &ca.arn, &tags)?;
    Ok(Json(json!({ "certificateArn": ca.arn, "certificateId": ca.id })))
}

async fn describe_ca_certificate(
    State(registry): State<Arc<Registry>>,
    ctx: ApiContext,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let ca = registry.describe_ca_certificate(&ctx.scope(), &id)?;
    let description = json!({
        "certificateArn": ca.arn,
        "certificateId": ca.id,
        "status": ca.status,
        "certificatePem": ca.pem,
        "ownedBy": ca.owned_by,
        "creationDate": ca.created,
        "autoRegistrationStatus": ca.auto_registration_status,
        "lastModifiedDate": ca.last_modified,
        "customerVersion": ca.customer_version,
        "generationId": ca.generation_id,
        "validity": { "notBefore": ca.not_before, "notAfter": ca.not_after },
        "certificateMode": ca.certificate_mode,
    });
    let mut body = json!({ "certificateDescription": description });
    if let Some(config) = ca.registration_config {
        body["registrationConfig"] = json!(config);
    }
    Ok(Json(body))
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ListQuery {
    page_size: Option<usize>,
    marker: Option<String>,
    is_ascending_order: Option<bool>,
    template_name: Option<String>,
}

fn listed_ca(ca: &CaCertificate) -> Value {
    json!({
        "certificateArn": ca.arn,
        "certificateId": ca.id,
        "status": ca.status,
        "creationDate": ca.created,
    })
}

async fn list_ca_certificates(
    State(registry): State<Arc<Registry>>,
    ctx: ApiContext,
    q: AwsQuery<ListQuery>,
) -> Result<Json<Value>, ApiError> {
    let q = query(q)?;
    let (page, next) = registry.list_ca_certificates(
        &ctx.scope(),
        q.page_size.unwrap_or(25),
        q.marker.as_deref(),
        q.is_ascending_order.unwrap_or(true),
        q.template_name.as_deref(),
    )?;
    let certificates: Vec<Value> = page.iter().map(listed_ca).collect();
    Ok(with_marker(json!({ "certificates": certificates }), next))
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct UpdateCaQuery {
    new_status: Option<String>,
    new_auto_registration_status: Option<String>,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
struct UpdateCaRequest {
    registration_config: Option<RegistrationConfig>,
    #[serde(default)]
    remove_auto_registration: bool,
}

async fn update_ca_certificate(
    State(registry): State<Arc<Registry>>,
    ctx: ApiContext,
    Path(id): Path<String>,
    q: AwsQuery<UpdateCaQuery>,
    AwsJson(req): AwsJson<UpdateCaRequest>,
) -> Result<Json<Value>, ApiError> {
    let q = query(q)?;
    let update = UpdateCa {
        new_status: q.new_status,
        new_auto_registration_status: q.new_auto_registration_status,
        registration_config: req.registration_config,
        remove_auto_registration: req.remove_auto_registration,
    };
    registry.update_ca_certificate(&ctx.scope(), &id, update)?;
    Ok(Json(json!({})))
}

async fn delete_ca_certificate(
    State(registry): State<Arc<Registry>>,
    ctx: ApiContext,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    registry.delete_ca_certificate(&ctx.scope(), &id)?;
    Ok(Json(json!({})))
}

async fn list_certificates_by_ca(
    State(registry): State<Arc<Registry>>,
    ctx: ApiContext,
    Path(ca_id): Path<String>,
    q: AwsQuery<ListQuery>,
) -> Result<Json<Value>, ApiError> {
    let q = query(q)?;
    let (page, next) = registry.list_certificates_by_ca(
        &ctx.scope(),
        &ca_id,
        q.page_size.unwrap_or(25),
        q.marker.as_deref(),
        q.is_ascending_order.unwrap_or(true),
    )?;
    let certificates: Vec<Value> = page.iter().map(certificate_summary).collect();
    Ok(with_marker(json!({ "certificates": certificates }), next))
}

/// botocore `Certificate`: a certificate as ListCertificates and ListCertificatesByCA list it.
fn certificate_summary(c: &Certificate) -> Value {
    json!({
        "certificateArn": c.arn,
        "certificateId": c.id,
        "status": c.status,
        "certificateMode": c.certificate_mode,
        "creationDate": c.created,
    })
}

async fn create_keys_and_certificate(
    State(registry): State<Arc<Registry>>,
    ctx: ApiContext,
    q: AwsQuery<SetAsActive>,
) -> Result<Json<Value>, ApiError> {
    let created = registry.create_keys_and_certificate(&ctx.scope(), query(q)?.set_as_active)?;
    Ok(Json(json!({
        "certificateArn": created.certificate.arn,
        "certificateId": created.certificate.id,
        "certificatePem": created.certificate.pem,
        "keyPair": { "PublicKey": created.public_key_pem, "PrivateKey": created.private_key_pem },
    })))
}

async fn describe_certificate(
    State(registry): State<Arc<Registry>>,
    ctx: ApiContext,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let c = registry.describe_certificate(&ctx.scope(), &id)?;
    let mut description = json!({
        "certificateArn": c.arn,
        "certificateId": c.id,
        "status": c.status,
        "certificatePem": c.pem,
        "ownedBy": c.owned_by,
        "creationDate": c.created,
        "lastModifiedDate": c.last_modified,
        "customerVersion": 1,
        "generationId": c.generation_id,
        "validity": { "notBefore": c.not_before, "notAfter": c.not_after },
        "certificateMode": c.certificate_mode,
    });
    if let Some(ca) = c.ca_certificate_id {
        description["caCertificateId"] = json!(ca);
    }
    Ok(Json(json!({ "certificateDescription": description })))
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ListCertificatesQuery {
    page_size: Option<usize>,
    marker: Option<String>,
    is_ascending_order: Option<bool>,
}

async fn list_certificates(
    State(registry): State<Arc<Registry>>,
    ctx: ApiContext,
    q: AwsQuery<ListCertificatesQuery>,
) -> Result<Json<Value>, ApiError> {
    let q = query(q)?;
    let size = q.page_size.unwrap_or(25);
    let ascending = q.is_ascending_order.unwrap_or(true);
    let (page, next) = registry.list_certificates(&ctx.scope(), size, q.marker.as_deref(), ascending)?;
    let certificates: Vec<Value> = page.iter().map(certificate_summary).collect();
    Ok(with_marker(json!({ "certificates": certificates }), next))
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct NewStatus {
    new_status: String,
}

async fn update_certificate(
    State(registry): State<Arc<Registry>>,
    ctx: ApiContext,
    Path(id): Path<String>,
    q: AwsQuery<NewStatus>,
) -> Result<Json<Value>, ApiError> {
    registry.update_certificate(&ctx.scope(), &id, &query(q)?.new_status)?;
    Ok(Json(json!({})))
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
struct DeleteCertificateQuery {
    #[serde(default)]
    force_delete: bool,
}

async fn delete_certificate(
    State(registry): State<Arc<Registry>>,
    ctx: ApiContext,
    Path(id): Path<String>,
    q: AwsQuery<DeleteCertificateQuery>,
) -> Result<Json<Value>, ApiError> {
    registry.delete_certificate_forced(&ctx.scope(), &id, query(q)?.force_delete)?;
    Ok(Json(json!({})))
}
