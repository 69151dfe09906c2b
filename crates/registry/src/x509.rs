//! X.509 checks of the certificate operations (pure functions): parsing a PEM certificate,
//! whether a CA signed a certificate, and whether a CSR is acceptable. x509-parser with its
//! `verify` feature (ring) checks the signatures.

use crate::RegistryError;
use x509_parser::certificate::X509Certificate;
use x509_parser::certification_request::X509CertificationRequest;
use x509_parser::prelude::FromDer;
use x509_parser::public_key::PublicKey;

/// What the registry needs to know of a certificate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CertInfo {
    pub der: Vec<u8>,
    /// Lower-case hex SHA-256 of the DER (AWS's certificateId).
    pub id: String,
    /// Validity, in epoch seconds.
    pub not_before: i64,
    pub not_after: i64,
    pub is_ca: bool,
    /// The subject's first common name.
    pub common_name: Option<String>,
}

fn invalid(what: impl std::fmt::Display) -> RegistryError {
    RegistryError::CertificateValidation(what.to_string())
}

/// The DER of the first CERTIFICATE block of `pem`.
pub fn pem_to_der(pem: &str) -> Result<Vec<u8>, RegistryError> {
    let block = pem::parse(pem).map_err(|e| invalid(format!("the certificate is not valid PEM: {e}")))?;
    if block.tag() != "CERTIFICATE" {
        return Err(invalid(format!("expected a CERTIFICATE, found {}", block.tag())));
    }
    Ok(block.into_contents())
}

/// Parses a certificate (CertificateValidationException when it is not one, or is out of its
/// validity period: AWS refuses expired certificates at registration).
pub fn parse_certificate(pem: &str) -> Result<CertInfo, RegistryError> {
    let der = pem_to_der(pem)?;
    let info = {
        let (_, cert) = X509Certificate::from_der(&der)
            .map_err(|e| invalid(format!("the certificate cannot be parsed: {e}")))?;
        if !cert.validity().is_valid() {
            return Err(invalid("the certificate is expired or not yet valid"));
        }
        CertInfo {
            der: Vec::new(),
            id: iotemu_core::certificate_id(&der),
            not_before: cert.validity().not_before.timestamp(),
            not_after: cert.validity().not_after.timestamp(),
            is_ca: cert.is_ca(),
            common_name: common_name(&cert),
        }
    };
    Ok(CertInfo { der, ..info })
}

fn common_name(cert: &X509Certificate<'_>) -> Option<String> {
    let cn = cert.subject().iter_common_name().next()?;
    cn.as_str().ok().map(str::to_string)
}

/// Whether the CA `ca_der` signed `cert_der`: the issuer names the CA's subject and the CA's key
/// verifies the signature. Unparsable input is simply not signed.
pub fn issued_by(cert_der: &[u8], ca_der: &[u8]) -> bool {
    let (Ok((_, cert)), Ok((_, ca))) =
        (X509Certificate::from_der(cert_der), X509Certificate::from_der(ca_der))
    else {
        return false;
    };
    cert.issuer().as_raw() == ca.subject().as_raw() && cert.verify_signature(Some(ca.public_key())).is_ok()
}

/// The raw subject of a certificate (to count CAs with the same subject).
pub fn subject(der: &[u8]) -> Option<Vec<u8>> {
    X509Certificate::from_der(der).ok().map(|(_, c)| c.subject().as_raw().to_vec())
}

/// Checks a CSR as CreateCertificateFromCsr does: it parses, its signature verifies (the
/// requester holds the key), and its key is RSA of at least 2048 bits or EC of at least 256
/// (botocore: RSA 2048+, NIST P-256, P-384 or P-521; the curve itself is not checked).
pub fn check_csr(pem: &str) -> Result<(), String> {
    let block = pem::parse(pem).map_err(|e| format!("the CSR is not valid PEM: {e}"))?;
    let (_, csr) = X509CertificationRequest::from_der(block.contents())
        .map_err(|e| format!("the CSR cannot be parsed: {e}"))?;
    csr.verify_signature().map_err(|_| "the CSR's signature does not verify".to_string())?;
    let key =
        csr.certification_request_info.subject_pki.parsed().map_err(|e| format!("the CSR's key: {e}"))?;
    match key {
        PublicKey::RSA(rsa) if rsa.key_size() >= 2048 => Ok(()),
        PublicKey::EC(ec) if ec.key_size() >= 256 => Ok(()),
        PublicKey::RSA(_) => Err("an RSA key must have at least 2048 bits".into()),
        _ => Err("the key must be RSA (2048 bits or more) or ECC (NIST P-256, P-384 or P-521)".into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair};

    fn ca(name: &str) -> (String, Issuer<'static, KeyPair>) {
        let key = KeyPair::generate().unwrap();
        let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
        params.distinguished_name.push(DnType::CommonName, name);
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        let cert = params.self_signed(&key).unwrap();
        (cert.pem(), Issuer::new(params, key))
    }

    fn leaf(issuer: &Issuer<'_, KeyPair>, cn: &str) -> String {
        let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
        params.distinguished_name.push(DnType::CommonName, cn);
        params.signed_by(&KeyPair::generate().unwrap(), issuer).unwrap().pem()
    }

    #[test]
    fn a_certificate_is_issued_by_its_ca_only() {
        let (ca_pem, issuer) = ca("test CA");
        let (other_pem, _) = ca("other CA");
        let (same_name_pem, _) = ca("test CA");
        let device = parse_certificate(&leaf(&issuer, "device")).unwrap();
        let ca = parse_certificate(&ca_pem).unwrap();
        assert!(ca.is_ca && !device.is_ca);
        assert_eq!(device.common_name.as_deref(), Some("device"));
        assert_eq!(device.id, iotemu_core::certificate_id(&device.der));
        assert!(issued_by(&device.der, &ca.der));
        assert!(!issued_by(&device.der, &parse_certificate(&other_pem).unwrap().der));
        // Same subject, other key: the name matches but the signature does not.
        let impostor = parse_certificate(&same_name_pem).unwrap();
        assert!(!issued_by(&device.der, &impostor.der));
        assert_eq!(subject(&ca.der), subject(&impostor.der));
    }

    #[test]
    fn garbage_is_a_certificate_validation_error() {
        for bad in ["", "not pem", "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n"] {
            assert!(matches!(parse_certificate(bad), Err(RegistryError::CertificateValidation(_))), "{bad}");
        }
        let key = KeyPair::generate().unwrap();
        assert!(parse_certificate(&key.serialize_pem()).is_err());
    }

    #[test]
    fn csrs_are_checked() {
        let key = KeyPair::generate().unwrap();
        let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
        params.distinguished_name.push(DnType::CommonName, "csr device");
        let csr = params.serialize_request(&key).unwrap().pem().unwrap();
        assert_eq!(check_csr(&csr), Ok(()));
        assert!(check_csr("junk").is_err());
        let ed = KeyPair::generate_for(&rcgen::PKCS_ED25519).unwrap();
        let csr = params.serialize_request(&ed).unwrap().pem().unwrap();
        assert!(check_csr(&csr).unwrap_err().contains("RSA"));
        let tampered = csr.replace("MC", "MD");
        assert!(check_csr(&tampered).is_err());
    }
}
