//! Certificate registration and CA certificates (botocore `iot`: CreateCertificateFromCsr,
//! RegisterCertificate, RegisterCertificateWithoutCA, GetRegistrationCode,
//! DeleteRegistrationCode, RegisterCACertificate, Describe/List/Update/DeleteCACertificate and
//! ListCertificatesByCA), and what the MQTTS listener trusts because of them.
//!
//! Choices where AWS's behaviour is not documented (or not known to us):
//! - A status given to RegisterCertificate(WithoutCA) wins over `setAsActive`; without either the
//!   certificate is INACTIVE. Only ACTIVE, INACTIVE and REVOKED may be given (botocore's text).
//! - RegisterCertificate under a CA that is INACTIVE: CertificateStateException.
//! - Certificates registered without a CA are in certificate mode SNI_ONLY; those registered
//!   under a CA take the CA's mode. The broker does not check SNI.
//! - DeleteCACertificate refuses, with CertificateStateException (the only conflict error
//!   botocore lists for it), while certificates it signed are still registered.
//! - ListCertificatesByCA of an unknown CA is an empty list (botocore lists no
//!   ResourceNotFoundException for it).
//! - `removeAutoRegistration` of UpdateCACertificate removes the registration config.

use crate::certificates::service::CERTIFICATE;
use crate::certificates::state::Certificate;
use crate::paging::marker_page;
use crate::policies::ISSUED_DEVICE;
use crate::x509::{self, issued_by, parse_certificate, pem_to_der};
use crate::{Registry, RegistryError};
use iotemu_core::Scope;
use iotemu_core::{AuthnFailure, TrustedCas};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::sync::atomic::Ordering;
use std::sync::Arc;

pub(crate) const CA_CERTIFICATE: &str = "ca-certificate";
pub(crate) const REGISTRATION_CODE: &str = "registration-code";
/// The key of an account's registration code (one per account and region).
const CODE_KEY: &str = "code";
/// AWS: "up to 10 CA certificates with the same CA subject field per account".
const SAME_SUBJECT_LIMIT: usize = 10;

/// A CA certificate's registration configuration (botocore `RegistrationConfig`): the template
/// just-in-time provisioning runs (iotemu-provisioning's `jit`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RegistrationConfig {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub template_body: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub role_arn: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub template_name: Option<String>,
}

/// A registered CA certificate (botocore `CACertificateDescription`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CaCertificate {
    pub id: String,
    pub arn: String,
    pub pem: String,
    /// ACTIVE or INACTIVE.
    pub status: String,
    /// ENABLE or DISABLE.
    pub auto_registration_status: String,
    pub owned_by: String,
    /// Epoch seconds.
    pub created: i64,
    pub last_modified: i64,
    pub customer_version: i64,
    pub generation_id: String,
    pub not_before: i64,
    pub not_after: i64,
    /// DEFAULT or SNI_ONLY.
    pub certificate_mode: String,
    pub registration_config: Option<RegistrationConfig>,
}

/// RegisterCACertificate's input.
#[derive(Debug, Default)]
pub struct RegisterCa {
    pub ca_pem: String,
    pub verification_pem: Option<String>,
    pub set_as_active: bool,
    pub allow_auto_registration: bool,
    pub registration_config: Option<RegistrationConfig>,
    pub certificate_mode: Option<String>,
}

/// UpdateCACertificate's input.
#[derive(Debug, Default)]
pub struct UpdateCa {
    pub new_status: Option<String>,
    pub new_auto_registration_status: Option<String>,
    pub registration_config: Option<RegistrationConfig>,
    pub remove_auto_registration: bool,
}

/// One page of a list ordered by creation time, `marker` being the last id of the previous page.
type Page<T> = (Vec<T>, Option<String>);

fn page<T: Clone>(
    mut all: Vec<T>,
    key: impl Fn(&T) -> (i64, String),
    size: usize,
    marker: Option<&str>,
    ascending: bool,
) -> Result<Page<T>, RegistryError> {
    all.sort_by_key(|t| key(t));
    if !ascending {
        all.reverse();
    }
    let ids: Vec<(String, T)> = all.into_iter().map(|t| (key(&t).1, t)).collect();
    let (page, next) = marker_page(ids, |(id, _)| id, marker, Some(size))?;
    Ok((page.into_iter().map(|(_, t)| t).collect(), next))
}

/// The status RegisterCertificate(WithoutCA) gives a certificate.
fn registered_status(status: Option<&str>, set_as_active: bool) -> Result<String, RegistryError> {
    match status {
        Some(s @ ("ACTIVE" | "INACTIVE" | "REVOKED")) => Ok(s.to_string()),
        Some(s) => Err(RegistryError::InvalidRequest(format!(
            "status {s:?} cannot be given at registration: use ACTIVE, INACTIVE or REVOKED"
        ))),
        None if set_as_active => Ok("ACTIVE".into()),
        None => Ok("INACTIVE".into()),
    }
}

/// AWS's answer to registering a certificate it knows (the same for RegisterCertificate and
/// RegisterCertificateWithoutCA, before any CA check).
fn already_registered(known: &Certificate) -> RegistryError {
    RegistryError::AlreadyExistsResource {
        message: "The certificate is already provisioned or registered".into(),
        id: known.id.clone(),
        arn: known.arn.clone(),
    }
}

fn ca_not_found(id: &str) -> RegistryError {
    RegistryError::NotFound(format!("The CA certificate {id} cannot be found."))
}

impl CaCertificate {
    fn der(&self) -> Vec<u8> {
        pem_to_der(&self.pem).unwrap_or_default()
    }
}

impl Registry {
    /// A new certificate document for `cert`, signed by `ca` (or by no registered CA).
    fn certificate_doc(
        &self,
        scope: &Scope,
        cert: &x509::CertInfo,
        pem: &str,
        status: String,
        ca: Option<&CaCertificate>,
        mode: &str,
    ) -> Certificate {
        let now = self.now_secs();
        Certificate {
            arn: format!("arn:aws:iot:{}:{}:cert/{}", scope.region, scope.account, cert.id),
            id: cert.id.clone(),
            pem: pem.to_string(),
            status,
            ca_certificate_id: ca.map(|c| c.id.clone()),
            owned_by: scope.account.clone(),
            created: now,
            last_modified: now,
            not_before: cert.not_before,
            not_after: cert.not_after,
            generation_id: uuid::Uuid::new_v4().to_string(),
            certificate_mode: mode.to_string(),
        }
    }

    /// Stores a new certificate; ResourceAlreadyExistsException if its id is known.
    fn insert_certificate(
        &self,
        scope: &Scope,
        certificate: Certificate,
    ) -> Result<Certificate, RegistryError> {
        let mut certificates = self.certificates.write();
        let key = (scope.clone(), certificate.id.clone());
        if let Some(known) = certificates.get(&key) {
            return Err(already_registered(known));
        }
        self.put(CERTIFICATE, scope, &certificate.id, &certificate)?;
        certificates.insert(key, certificate.clone());
        Ok(certificate)
    }

    /// CreateCertificateFromCsr: the emulator's CA signs the CSR's key (InvalidRequestException
    /// for a CSR that does not parse, verify, or carry an acceptable key). The same CSR twice
    /// gives two certificates, as on AWS.
    pub fn create_certificate_from_csr(
        &self,
        scope: &Scope,
        csr: &str,
        set_as_active: bool,
    ) -> Result<Certificate, RegistryError> {
        self.create_certificate_from_csr_with_status(
            scope,
            csr,
            if set_as_active { "ACTIVE" } else { "INACTIVE" },
        )
    }

    /// CreateCertificateFromCsr with the certificate in `status` (fleet provisioning's MQTT
    /// CreateCertificateFromCsr makes it PENDING_ACTIVATION).
    pub fn create_certificate_from_csr_with_status(
        &self,
        scope: &Scope,
        csr: &str,
        status: &str,
    ) -> Result<Certificate, RegistryError> {
        x509::check_csr(csr).map_err(RegistryError::InvalidRequest)?;
        let signed =
            self.ca.sign_csr(csr).map_err(|e| RegistryError::InvalidRequest(format!("the CSR: {e}")))?;
        let cert = parse_certificate(&signed.cert_pem)?;
        let doc = self.certificate_doc(scope, &cert, &signed.cert_pem, status.to_string(), None, "DEFAULT");
        self.insert_certificate(scope, doc)
    }

    /// RegisterCertificate: the certificate must be signed by a CA registered in this account and
    /// region (the one `ca_pem` names, else any whose key verifies it), which must be ACTIVE.
    pub fn register_certificate(
        &self,
        scope: &Scope,
        pem: &str,
        ca_pem: Option<&str>,
        status: Option<&str>,
        set_as_active: bool,
    ) -> Result<Certificate, RegistryError> {
        let status = registered_status(status, set_as_active)?;
        let cert = parse_certificate(pem)?;
        self.check_not_registered(scope, &cert.id)?;
        let ca =
            {
                let cas = self.ca_certificates.read();
                let candidates: Vec<&CaCertificate> = match ca_pem {
                    Some(ca_pem) => {
                        let ca_id = iotemu_core::certificate_id(&pem_to_der(ca_pem)?);
                        let ca = cas.get(&(scope.clone(), ca_id.clone())).ok_or_else(|| {
                            RegistryError::CertificateValidation(format!(
                                "The CA certificate {ca_id} is not registered in this account and region."
                            ))
                        })?;
                        vec![ca]
                    }
                    None => in_scope(&cas, scope).collect(),
                };
                let signers: Vec<&CaCertificate> =
                    candidates.into_iter().filter(|ca| issued_by(&cert.der, &ca.der())).collect();
                match signers.as_slice() {
                    [] => return Err(RegistryError::CertificateValidation(
                        "The certificate is not signed by a CA certificate registered in this account and \
                         region."
                            .into(),
                    )),
                    [ca] => (*ca).clone(),
                    _ => {
                        return Err(RegistryError::CertificateConflict(
                            "Several registered CA certificates have the signer's subject and key: give \
                         caCertificatePem."
                                .into(),
                        ))
                    }
                }
            };
        if ca.status != "ACTIVE" {
            return Err(RegistryError::CertificateState(format!(
                "The CA certificate {} is not ACTIVE.",
                ca.id
            )));
        }
        let doc = self.certificate_doc(scope, &cert, pem, status, Some(&ca), &ca.certificate_mode);
        self.insert_certificate(scope, doc)
    }

    fn check_not_registered(&self, scope: &Scope, id: &str) -> Result<(), RegistryError> {
        match self.certificates.read().get(&(scope.clone(), id.to_string())) {
            Some(known) => Err(already_registered(known)),
            None => Ok(()),
        }
    }

    /// RegisterCertificateWithoutCA: any certificate, in certificate mode SNI_ONLY.
    pub fn register_certificate_without_ca(
        &self,
        scope: &Scope,
        pem: &str,
        status: Option<&str>,
    ) -> Result<Certificate, RegistryError> {
        let status = registered_status(status, false)?;
        let cert = parse_certificate(pem)?;
        self.check_not_registered(scope, &cert.id)?;
        let doc = self.certificate_doc(scope, &cert, pem, status, None, "SNI_ONLY");
        self.insert_certificate(scope, doc)
    }

    /// GetRegistrationCode: created on first call, then the same until deleted.
    pub fn get_registration_code(&self, scope: &Scope) -> Result<String, RegistryError> {
        let mut codes = self.registration_codes.write();
        let key = (scope.clone(), CODE_KEY.to_string());
        if let Some(code) = codes.get(&key) {
            return Ok(code.clone());
        }
        let code = format!("{}{}", uuid::Uuid::new_v4().simple(), uuid::Uuid::new_v4().simple());
        self.put(REGISTRATION_CODE, scope, CODE_KEY, &code)?;
        codes.insert(key, code.clone());
        Ok(code)
    }

    /// DeleteRegistrationCode: the next GetRegistrationCode makes a new one.
    pub fn delete_registration_code(&self, scope: &Scope) -> Result<(), RegistryError> {
        let mut codes = self.registration_codes.write();
        self.store.delete(REGISTRATION_CODE, scope, CODE_KEY)?;
        codes.remove(&(scope.clone(), CODE_KEY.to_string()));
        Ok(())
    }

    /// RegisterCACertificate. In DEFAULT mode the verification certificate is required, must be
    /// signed by the CA and carry the account's registration code as its common name; in
    /// SNI_ONLY mode it must be absent.
    pub fn register_ca_certificate(
        &self,
        scope: &Scope,
        req: RegisterCa,
    ) -> Result<CaCertificate, RegistryError> {
        let mode = req.certificate_mode.as_deref().unwrap_or("DEFAULT");
        if !matches!(mode, "DEFAULT" | "SNI_ONLY") {
            return Err(RegistryError::InvalidRequest(format!(
                "certificateMode {mode:?} is not DEFAULT or SNI_ONLY"
            )));
        }
        let ca = parse_certificate(&req.ca_pem)?;
        if !ca.is_ca {
            return Err(RegistryError::CertificateValidation(
                "The certificate is not a CA certificate (basicConstraints CA:TRUE).".into(),
            ));
        }
        match (mode, req.verification_pem.as_deref()) {
            ("DEFAULT", None) => {
                return Err(RegistryError::InvalidRequest(
                    "verificationCertificate is required unless certificateMode is SNI_ONLY".into(),
                ))
            }
            ("DEFAULT", Some(verification)) => self.check_verification(scope, &ca, verification)?,
            (_, Some(_)) => {
                return Err(RegistryError::InvalidRequest(
                    "verificationCertificate must be empty when certificateMode is SNI_ONLY".into(),
                ))
            }
            (_, None) => {}
        }
        let now = self.now_secs();
        let doc = CaCertificate {
            arn: format!("arn:aws:iot:{}:{}:cacert/{}", scope.region, scope.account, ca.id),
            id: ca.id.clone(),
            pem: req.ca_pem,
            status: if req.set_as_active { "ACTIVE" } else { "INACTIVE" }.into(),
            auto_registration_status: if req.allow_auto_registration { "ENABLE" } else { "DISABLE" }.into(),
            owned_by: scope.account.clone(),
            created: now,
            last_modified: now,
            customer_version: 1,
            generation_id: uuid::Uuid::new_v4().to_string(),
            not_before: ca.not_before,
            not_after: ca.not_after,
            certificate_mode: mode.to_string(),
            registration_config: req.registration_config,
        };
        let mut cas = self.ca_certificates.write();
        let key = (scope.clone(), ca.id.clone());
        if cas.contains_key(&key) {
            return Err(RegistryError::AlreadyExists(format!(
                "The CA certificate {} is already registered.",
                ca.id
            )));
        }
        let subject = x509::subject(&ca.der);
        let same_subject =
            in_scope(&cas, scope).filter(|other| x509::subject(&other.der()) == subject).count();
        if same_subject >= SAME_SUBJECT_LIMIT {
            return Err(RegistryError::LimitExceeded(format!(
                "At most {SAME_SUBJECT_LIMIT} CA certificates with the same subject may be registered."
            )));
        }
        self.put(CA_CERTIFICATE, scope, &ca.id, &doc)?;
        cas.insert(key, doc.clone());
        self.trust_generation.fetch_add(1, Ordering::SeqCst);
        Ok(doc)
    }

    fn check_verification(
        &self,
        scope: &Scope,
        ca: &x509::CertInfo,
        verification: &str,
    ) -> Result<(), RegistryError> {
        let verification = parse_certificate(verification)?;
        if !issued_by(&verification.der, &ca.der) {
            return Err(RegistryError::CertificateValidation(
                "The verification certificate is not signed by the CA certificate.".into(),
            ));
        }
        let code = self.registration_codes.read().get(&(scope.clone(), CODE_KEY.to_string())).cloned();
        match code {
            None => Err(RegistryError::RegistrationCodeValidation(
                "There is no registration code: call GetRegistrationCode first.".into(),
            )),
            Some(code) if verification.common_name.as_deref() != Some(code.as_str()) => {
                Err(RegistryError::RegistrationCodeValidation(
                    "The verification certificate's common name is not the registration code.".into(),
                ))
            }
            Some(_) => Ok(()),
        }
    }

    /// DescribeCACertificate.
    pub fn describe_ca_certificate(&self, scope: &Scope, id: &str) -> Result<CaCertificate, RegistryError> {
        self.ca_certificates
            .read()
            .get(&(scope.clone(), id.to_string()))
            .cloned()
            .ok_or_else(|| ca_not_found(id))
    }

    /// ListCACertificates, by creation time, optionally those whose registration config names
    /// `template_name`.
    pub fn list_ca_certificates(
        &self,
        scope: &Scope,
        size: usize,
        marker: Option<&str>,
        ascending: bool,
        template_name: Option<&str>,
    ) -> Result<Page<CaCertificate>, RegistryError> {
        let cas = self.ca_certificates.read();
        let all: Vec<CaCertificate> = in_scope(&cas, scope)
            .filter(|ca| {
                template_name.is_none_or(|wanted| {
                    ca.registration_config.as_ref().and_then(|c| c.template_name.as_deref()) == Some(wanted)
                })
            })
            .cloned()
            .collect();
        page(all, |ca| (ca.created, ca.id.clone()), size, marker, ascending)
    }

    /// UpdateCACertificate. Making a CA INACTIVE stops unregistered certificates it signed from
    /// connecting; certificates already registered keep working (AWS: "continue to work until
    /// you explicitly revoke each one of them").
    pub fn update_ca_certificate(
        &self,
        scope: &Scope,
        id: &str,
        update: UpdateCa,
    ) -> Result<(), RegistryError> {
        if let Some(status) = update.new_status.as_deref() {
            if !matches!(status, "ACTIVE" | "INACTIVE") {
                return Err(RegistryError::InvalidRequest(format!(
                    "newStatus {status:?} is not ACTIVE or INACTIVE"
                )));
            }
        }
        if let Some(auto) = update.new_auto_registration_status.as_deref() {
            if !matches!(auto, "ENABLE" | "DISABLE") {
                return Err(RegistryError::InvalidRequest(format!(
                    "newAutoRegistrationStatus {auto:?} is not ENABLE or DISABLE"
                )));
            }
        }
        let mut cas = self.ca_certificates.write();
        let ca = cas.get_mut(&(scope.clone(), id.to_string())).ok_or_else(|| ca_not_found(id))?;
        let mut next = ca.clone();
        if let Some(status) = update.new_status {
            next.status = status;
        }
        if let Some(auto) = update.new_auto_registration_status {
            next.auto_registration_status = auto;
        }
        if update.remove_auto_registration {
            next.registration_config = None;
        } else if update.registration_config.is_some() {
            next.registration_config = update.registration_config;
        }
        next.last_modified = self.now_secs();
        next.customer_version += 1;
        self.put(CA_CERTIFICATE, scope, id, &next)?;
        *ca = next;
        self.trust_generation.fetch_add(1, Ordering::SeqCst);
        Ok(())
    }

    /// DeleteCACertificate: only an INACTIVE CA that no registered certificate names.
    pub fn delete_ca_certificate(&self, scope: &Scope, id: &str) -> Result<(), RegistryError> {
        // Lock order, as in `reset`: certificates before CA certificates.
        let certificates = self.certificates.read();
        let mut cas = self.ca_certificates.write();
        let key = (scope.clone(), id.to_string());
        let ca = cas.get(&key).ok_or_else(|| ca_not_found(id))?;
        if ca.status == "ACTIVE" {
            return Err(RegistryError::CertificateState(
                "The CA certificate must be deactivated before deletion.".into(),
            ));
        }
        let signed = in_scope(&certificates, scope).any(|c| c.ca_certificate_id.as_deref() == Some(id));
        if signed {
            return Err(RegistryError::CertificateState(
                "Certificates signed by this CA certificate are still registered.".into(),
            ));
        }
        self.store.delete(CA_CERTIFICATE, scope, id)?;
        cas.remove(&key);
        self.trust_generation.fetch_add(1, Ordering::SeqCst);
        Ok(())
    }

    /// ListCertificatesByCA: the registered certificates that name the CA, by creation time.
    pub fn list_certificates_by_ca(
        &self,
        scope: &Scope,
        ca_id: &str,
        size: usize,
        marker: Option<&str>,
        ascending: bool,
    ) -> Result<Page<Certificate>, RegistryError> {
        let certificates = self.certificates.read();
        let all: Vec<Certificate> = in_scope(&certificates, scope)
            .filter(|c| c.ca_certificate_id.as_deref() == Some(ca_id))
            .cloned()
            .collect();
        page(all, |c| (c.created, c.id.clone()), size, marker, ascending)
    }

    /// Registers, ACTIVE, a certificate the registry does not know that TLS let in: one that
    /// `iotemu certs create-device` made for this account and region (once: its record is used
    /// up, so a certificate deleted later stays unknown), or one of an ACTIVE registered CA,
    /// whose id it records. This is a convenience of the emulator: AWS refuses an unregistered
    /// certificate, or with auto-registration (JITR) registers it PENDING_ACTIVATION and still
    /// refuses the first connection. Any other certificate of the emulator's CA (one whose
    /// registration was deleted, or that CreateKeysAndCertificate made in another account or
    /// region) is DEVICE_CERTIFICATE_NOT_REGISTERED, as AWS refuses it.
    pub(crate) fn register_on_first_use(
        &self,
        scope: &Scope,
        id: &str,
        der: &[u8],
    ) -> Result<Certificate, AuthnFailure> {
        let not_registered = || AuthnFailure {
            reason: "DEVICE_CERTIFICATE_NOT_REGISTERED",
            details: format!("Certificate {id} is not registered in this account and region"),
        };
        let internal =
            |e: RegistryError| AuthnFailure { reason: "INTERNAL_SERVER_ERROR", details: e.to_string() };
        let of_emulator = issued_by(der, &self.emulator_ca_der);
        let ca = if of_emulator {
            None
        } else {
            let cas = self.ca_certificates.read();
            let signer =
                in_scope(&cas, scope).find(|ca| ca.status == "ACTIVE" && issued_by(der, &ca.der())).cloned();
            Some(signer.ok_or_else(not_registered)?)
        };
        let pem = pem::encode(&pem::Pem::new("CERTIFICATE", der.to_vec()));
        let cert = parse_certificate(&pem).map_err(|_| not_registered())?;
        let mode = ca.as_ref().map_or("DEFAULT", |ca| ca.certificate_mode.as_str());
        let doc = self.certificate_doc(scope, &cert, &pem, "ACTIVE".into(), ca.as_ref(), mode);
        let allow_all = {
            let mut certificates = self.certificates.write();
            let key = (scope.clone(), id.to_string());
            if let Some(existing) = certificates.get(&key) {
                return Ok(existing.clone());
            }
            // Read from the store itself: the CLI writes the record beside a running server.
            let issued = match of_emulator {
                true => Some(self.store.get(ISSUED_DEVICE, scope, id).map_err(|e| internal(e.into()))?),
                false => None,
            };
            let allow_all = match issued {
                Some(None) => return Err(not_registered()),
                Some(Some(record)) => {
                    record.get("allowAll").and_then(serde_json::Value::as_bool) != Some(false)
                }
                None => false,
            };
            self.put(CERTIFICATE, scope, id, &doc).map_err(internal)?;
            certificates.insert(key, doc.clone());
            if of_emulator {
                self.store.delete(ISSUED_DEVICE, scope, id).map_err(|e| internal(e.into()))?;
            }
            allow_all
        };
        if allow_all {
            self.grant_allow_all(scope, &doc.arn).map_err(internal)?;
        }
        Ok(doc)
    }

    /// The CAs whose certificates the MQTTS listener of `scope` lets through TLS: the emulator's
    /// and the ACTIVE registered ones.
    pub fn trusted_cas(&self, scope: &Scope) -> TrustedCas {
        let cas = self.ca_certificates.read();
        // Read under the lock, so that a change after it gets a newer generation.
        let generation = self.trust_generation.load(Ordering::SeqCst);
        let mut ders = vec![self.emulator_ca_der.clone()];
        ders.extend(in_scope(&cas, scope).filter(|ca| ca.status == "ACTIVE").map(CaCertificate::der));
        TrustedCas { generation, cas: Arc::new(ders) }
    }

    /// The ACTIVE CA registered in `scope` that signed the certificate `der`, if any (what
    /// just-in-time registration and provisioning look for).
    pub fn signing_ca_certificate(&self, scope: &Scope, der: &[u8]) -> Option<CaCertificate> {
        let cas = self.ca_certificates.read();
        let found =
            in_scope(&cas, scope).find(|ca| ca.status == "ACTIVE" && issued_by(der, &ca.der())).cloned();
        found
    }

    /// Registers the certificate `der` of `ca` as PENDING_ACTIVATION, as AWS's automatic
    /// registration does (`auto-register-device-cert.md`); ResourceAlreadyExistsException if it is
    /// known.
    pub fn auto_register_certificate(
        &self,
        scope: &Scope,
        der: &[u8],
        ca: &CaCertificate,
    ) -> Result<Certificate, RegistryError> {
        let pem = pem::encode(&pem::Pem::new("CERTIFICATE", der.to_vec()));
        let cert = parse_certificate(&pem)?;
        let doc = self.certificate_doc(
            scope,
            &cert,
            &pem,
            "PENDING_ACTIVATION".into(),
            Some(ca),
            &ca.certificate_mode,
        );
        self.insert_certificate(scope, doc)
    }

    /// Whether the certificate `id` is registered in `scope`, in any status.
    pub fn is_registered(&self, scope: &Scope, id: &str) -> bool {
        self.certificates.read().contains_key(&(scope.clone(), id.to_string()))
    }
}

/// The values of one scope in a `(Scope, String)` map.
fn in_scope<'a, T>(map: &'a BTreeMap<(Scope, String), T>, scope: &Scope) -> impl Iterator<Item = &'a T> + 'a {
    let scope = scope.clone();
    map.range((scope.clone(), String::new())..).take_while(move |((s, _), _)| *s == scope).map(|(_, v)| v)
}
