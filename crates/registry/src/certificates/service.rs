//! The device certificate operations: CreateKeysAndCertificate, DescribeCertificate,
//! ListCertificates, UpdateCertificate and DeleteCertificate. (Registering certificates and CA
//! certificates: `registration.rs`.)

use crate::certificates::state::{Certificate, CERTIFICATE_STATUSES};
use crate::paging::marker_page;
use crate::{Registry, RegistryError};
use iotemu_core::Scope;

pub(crate) const CERTIFICATE: &str = "certificate";

/// What CreateKeysAndCertificate returns: the certificate and its keys.
pub struct NewCertificate {
    pub certificate: Certificate,
    pub public_key_pem: String,
    pub private_key_pem: String,
}

impl Registry {
    /// CreateKeysAndCertificate: a key pair and a certificate signed by the emulator's CA (the
    /// same code as `iotemu certs create-device`), ACTIVE when `set_as_active`, else INACTIVE.
    pub fn create_keys_and_certificate(
        &self,
        scope: &Scope,
        set_as_active: bool,
    ) -> Result<NewCertificate, RegistryError> {
        self.create_keys_and_certificate_with_status(scope, if set_as_active { "ACTIVE" } else { "INACTIVE" })
    }

    /// CreateKeysAndCertificate with the certificate in `status` (fleet provisioning's MQTT
    /// CreateKeysAndCertificate makes it PENDING_ACTIVATION).
    pub fn create_keys_and_certificate_with_status(
        &self,
        scope: &Scope,
        status: &str,
    ) -> Result<NewCertificate, RegistryError> {
        let issued = self
            .ca
            .issue_client("AWS IoT Certificate")
            .map_err(|e| RegistryError::Internal(e.to_string()))?;
        let now = self.now_secs();
        let certificate = Certificate {
            arn: format!("arn:aws:iot:{}:{}:cert/{}", scope.region, scope.account, issued.certificate_id),
            id: issued.certificate_id,
            pem: issued.cert_pem,
            status: status.to_string(),
            ca_certificate_id: None,
            owned_by: scope.account.clone(),
            created: now,
            last_modified: now,
            not_before: issued.not_before,
            not_after: issued.not_after,
            generation_id: uuid::Uuid::new_v4().to_string(),
            certificate_mode: "DEFAULT".into(),
        };
        self.put(CERTIFICATE, scope, &certificate.id, &certificate)?;
        self.certificates.write().insert((scope.clone(), certificate.id.clone()), certificate.clone());
        Ok(NewCertificate {
            certificate,
            public_key_pem: issued.public_key_pem,
            private_key_pem: issued.key_pem,
        })
    }

    /// DescribeCertificate.
    pub fn describe_certificate(&self, scope: &Scope, id: &str) -> Result<Certificate, RegistryError> {
        self.certificates
            .read()
            .get(&(scope.clone(), id.to_string()))
            .cloned()
            .ok_or_else(|| cert_not_found(id))
    }

    /// ListCertificates, by creation time (ascending unless `descending`), one page of `size`.
    pub fn list_certificates(
        &self,
        scope: &Scope,
        size: usize,
        marker: Option<&str>,
        ascending: bool,
    ) -> Result<(Vec<Certificate>, Option<String>), RegistryError> {
        let mut all: Vec<Certificate> = self
            .certificates
            .read()
            .iter()
            .filter(|((s, _), _)| s == scope)
            .map(|(_, c)| c.clone())
            .collect();
        all.sort_by(|a, b| (a.created, &a.id).cmp(&(b.created, &b.id)));
        if !ascending {
            all.reverse();
        }
        marker_page(all, |c| c.id.as_str(), marker, Some(size))
    }

    /// UpdateCertificate: a REVOKED certificate stays REVOKED (CertificateStateException).
    pub fn update_certificate(&self, scope: &Scope, id: &str, status: &str) -> Result<(), RegistryError> {
        if !CERTIFICATE_STATUSES.contains(&status) {
            return Err(RegistryError::InvalidRequest(format!("invalid newStatus {status:?}")));
        }
        let mut certificates = self.certificates.write();
        let certificate =
            certificates.get_mut(&(scope.clone(), id.to_string())).ok_or_else(|| cert_not_found(id))?;
        if certificate.status == "REVOKED" && status != "REVOKED" {
            return Err(RegistryError::CertificateState(format!(
                "Certificate {id} is revoked and cannot be changed"
            )));
        }
        let mut next = certificate.clone();
        next.status = status.to_string();
        next.last_modified = self.now_secs();
        self.put(CERTIFICATE, scope, id, &next)?;
        *certificate = next;
        drop(certificates);
        if status != "ACTIVE" {
            let reason = if status == "REVOKED" {
                "DEVICE_CERTIFICATE_REVOKED"
            } else {
                "DEVICE_CERTIFICATE_INACTIVE"
            };
            if let Some(f) = self.on_deactivate.get() {
                f(id, reason);
            }
        }
        Ok(())
    }

    /// DeleteCertificate: only when not ACTIVE and attached to no thing.
    pub fn delete_certificate(&self, scope: &Scope, id: &str) -> Result<(), RegistryError> {
        self.delete_certificate_forced(scope, id, false)
    }

    /// DeleteCertificate with `forceDelete`: an INACTIVE certificate goes even with policies
    /// attached (they are detached), never one attached to a thing (botocore `iot` DeleteCertificate).
    pub fn delete_certificate_forced(
        &self,
        scope: &Scope,
        id: &str,
        force: bool,
    ) -> Result<(), RegistryError> {
        // Lock order (see `Registry`): things before certificates.
        let things = self.things.read();
        let mut certificates = self.certificates.write();
        let key = (scope.clone(), id.to_string());
        let certificate = certificates.get(&key).ok_or_else(|| cert_not_found(id))?;
        if certificate.status == "ACTIVE" {
            return Err(RegistryError::CertificateState(
                "Certificate must be deactivated before deletion.".to_string(),
            ));
        }
        let attached = things.iter().any(|((s, _), t)| s == scope && t.principals.contains(&certificate.arn));
        if attached {
            return Err(RegistryError::DeleteConflict(
                "Things must be detached before deletion.".to_string(),
            ));
        }
        let policies = self.policies_of(scope, &certificate.arn);
        if !policies.is_empty() && !force {
            return Err(RegistryError::DeleteConflict(
                "Certificate policies must be detached before deletion.".to_string(),
            ));
        }
        let arn = certificate.arn.clone();
        self.store.delete(CERTIFICATE, scope, id)?;
        certificates.remove(&key);
        drop((certificates, things));
        for policy in policies {
            self.detach_policy(scope, &policy, &arn)?;
        }
        Ok(())
    }
}

pub(crate) fn cert_not_found(id: &str) -> RegistryError {
    RegistryError::NotFound(format!("The certificate {id} cannot be found."))
}
