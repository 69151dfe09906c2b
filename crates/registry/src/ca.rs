//! The emulator's certificate authority: created on first start in the data directory, then
//! reused; it signs the MQTTS server certificate and device certificates (`iotemu certs
//! create-device`, with EC keys; CreateKeysAndCertificate and CreateCertificateFromCsr, with RSA or
//! the CSR's keys). Its own private key stays in the data directory.
//!
//! Creation is safe against a second process doing the same: files are written into a private
//! temporary directory which is then renamed into place; whoever loses the race loads the
//! winner's files.

use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    KeyUsagePurpose, SanType,
};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use std::fs;
use std::path::{Path, PathBuf};

/// A CA failure: files that cannot be read or written, or a certificate rcgen refuses.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct CaError(String);

type Result<T> = std::result::Result<T, CaError>;

impl From<rcgen::Error> for CaError {
    fn from(e: rcgen::Error) -> Self {
        CaError(e.to_string())
    }
}

impl From<std::io::Error> for CaError {
    fn from(e: std::io::Error) -> Self {
        CaError(e.to_string())
    }
}

/// The subject and public key of a CSR (whatever hash signed it).
fn csr_subject_and_key(csr_pem: &str) -> Result<(rcgen::DistinguishedName, rcgen::SubjectPublicKeyInfo)> {
    use x509_parser::prelude::FromDer;
    let block = pem::parse(csr_pem).map_err(|e| CaError(e.to_string()))?;
    let (_, csr) = x509_parser::certification_request::X509CertificationRequest::from_der(block.contents())
        .map_err(|e| CaError(e.to_string()))?;
    let info = &csr.certification_request_info;
    let mut subject = rcgen::DistinguishedName::new();
    for attribute in info.subject.iter_attributes() {
        let oid: Vec<u64> = attribute.attr_type().iter().map(|i| i.collect()).unwrap_or_default();
        let value = attribute.as_str().map_err(|e| CaError(format!("the CSR's subject: {e}")))?;
        subject.push(DnType::from_oid(&oid), value);
    }
    let spki = rcgen::SubjectPublicKeyInfo::from_der(info.subject_pki.raw)?;
    Ok((subject, spki))
}

/// Adds what was being done to an error.
trait Context<T> {
    fn context(self, what: impl std::fmt::Display) -> Result<T>;
    fn with_context<D: std::fmt::Display>(self, what: impl FnOnce() -> D) -> Result<T>;
}

impl<T, E: std::fmt::Display> Context<T> for std::result::Result<T, E> {
    fn context(self, what: impl std::fmt::Display) -> Result<T> {
        self.map_err(|e| CaError(format!("{what}: {e}")))
    }
    fn with_context<D: std::fmt::Display>(self, what: impl FnOnce() -> D) -> Result<T> {
        self.map_err(|e| CaError(format!("{}: {e}", what())))
    }
}

/// The CA's certificate and key, loaded from (or created in) `<data_dir>/ca/`.
pub struct CertAuthority {
    pub dir: PathBuf,
    pub cert_pem: String,
    key_pem: String,
}

/// A certificate and its private key, in PEM.
pub struct IssuedCert {
    pub cert_pem: String,
    pub key_pem: String,
    pub public_key_pem: String,
    /// Validity, in epoch seconds.
    pub not_before: i64,
    pub not_after: i64,
    /// Lower-case hex SHA-256 of the certificate DER (AWS's certificateId).
    pub certificate_id: String,
}

/// A certificate signed for a key the caller holds (CreateCertificateFromCsr).
pub struct SignedCert {
    pub cert_pem: String,
    pub certificate_id: String,
    /// Validity, in epoch seconds.
    pub not_before: i64,
    pub not_after: i64,
}

const CA_CERT: &str = "ca.pem";
const CA_KEY: &str = "ca.key";

impl CertAuthority {
    /// Loads the CA in `data_dir`, creating it first if there is none.
    pub fn load_or_create(data_dir: &Path) -> Result<Self> {
        let dir = data_dir.join("ca");
        if !dir.join(CA_CERT).exists() {
            create_dir_atomically(data_dir, &dir, |tmp| {
                let key = KeyPair::generate()?;
                let mut params = CertificateParams::new(Vec::<String>::new())?;
                params.distinguished_name.push(DnType::CommonName, "iotemu local CA");
                params.distinguished_name.push(DnType::OrganizationName, "iotemu");
                params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
                params.key_usages = vec![
                    KeyUsagePurpose::KeyCertSign,
                    KeyUsagePurpose::CrlSign,
                    KeyUsagePurpose::DigitalSignature,
                ];
                let cert = params.self_signed(&key)?;
                fs::write(tmp.join(CA_CERT), cert.pem())?;
                write_private(&tmp.join(CA_KEY), &key.serialize_pem())?;
                Ok(())
            })?;
        }
        let cert_pem = fs::read_to_string(dir.join(CA_CERT))
            .with_context(|| format!("reading {}", dir.join(CA_CERT).display()))?;
        let key_pem = fs::read_to_string(dir.join(CA_KEY))
            .with_context(|| format!("reading {}", dir.join(CA_KEY).display()))?;
        Ok(CertAuthority { dir, cert_pem, key_pem })
    }

    /// Path of the CA certificate (what clients pass as `--cafile`).
    pub fn cert_path(&self) -> PathBuf {
        self.dir.join(CA_CERT)
    }

    /// The CA certificate as DER.
    pub fn cert_der(&self) -> Result<CertificateDer<'static>> {
        CertificateDer::from_pem_slice(self.cert_pem.as_bytes()).context("parsing the CA certificate")
    }

    /// Valid from a day ago to the end of 2049 (as AWS IoT's own device certificates are).
    fn set_validity(params: &mut CertificateParams) {
        params.not_before = rcgen::date_time_ymd(1970, 1, 1)
            + std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap_or_default()
                .saturating_sub(std::time::Duration::from_secs(86_400));
        params.not_after = rcgen::date_time_ymd(2049, 12, 31);
    }

    fn issuer(&self) -> Result<Issuer<'static, KeyPair>> {
        let ca_key = KeyPair::from_pem(&self.key_pem)?;
        Ok(Issuer::from_ca_cert_pem(&self.cert_pem, ca_key)?)
    }

    /// Signs `params` with a new key.
    fn issue(&self, mut params: CertificateParams) -> Result<IssuedCert> {
        Self::set_validity(&mut params);
        let issuer = self.issuer()?;
        let key = KeyPair::generate()?;
        let cert = params.signed_by(&key, &issuer)?;
        Ok(IssuedCert {
            certificate_id: iotemu_core::certificate_id(cert.der()),
            cert_pem: cert.pem(),
            key_pem: key.serialize_pem(),
            public_key_pem: key.public_key_pem(),
            not_before: params.not_before.unix_timestamp(),
            not_after: params.not_after.unix_timestamp(),
        })
    }

    /// The parameters of a client certificate with subject CN `common_name`.
    fn client_params(common_name: &str) -> Result<CertificateParams> {
        let mut params = CertificateParams::new(Vec::<String>::new())?;
        params.distinguished_name.push(DnType::CommonName, common_name);
        params.distinguished_name.push(DnType::OrganizationName, "iotemu device");
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
        params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        Ok(params)
    }

    /// A device certificate for `thing` (client authentication) with a new ECDSA P-256 key
    /// (`iotemu certs create-device`: quick to make, and every TLS stack takes it).
    pub fn issue_device(&self, thing: &str) -> Result<IssuedCert> {
        self.issue(Self::client_params(thing)?)
    }

    /// A client certificate with subject CN `common_name` for a new RSA 2048 key pair, as
    /// CreateKeysAndCertificate returns it (HTTP and MQTT): the private key in PKCS#1 PEM
    /// (`-----BEGIN RSA PRIVATE KEY-----`, botocore's documentation and the AWS CLI example), the
    /// public key in SubjectPublicKeyInfo PEM, the certificate signed by the CA with SHA-256.
    /// CreateKeysAndCertificate uses AWS's subject "AWS IoT Certificate".
    pub fn issue_client(&self, common_name: &str) -> Result<IssuedCert> {
        use rsa::pkcs1::{EncodeRsaPrivateKey, LineEnding};
        use rsa::pkcs8::EncodePublicKey;
        let mut params = Self::client_params(common_name)?;
        Self::set_validity(&mut params);
        let key = rsa::RsaPrivateKey::new(&mut rand_core::OsRng, 2048).context("generating an RSA key")?;
        let public_der = key.to_public_key().to_public_key_der().context("encoding the public key")?;
        let public = rcgen::SubjectPublicKeyInfo::from_der(public_der.as_bytes())?;
        let cert = params.signed_by(&public, &self.issuer()?)?;
        let key_pem = key.to_pkcs1_pem(LineEnding::LF).context("encoding the private key")?;
        let public_key_pem =
            key.to_public_key().to_public_key_pem(LineEnding::LF).context("encoding the public key")?;
        Ok(IssuedCert {
            certificate_id: iotemu_core::certificate_id(cert.der()),
            cert_pem: cert.pem(),
            key_pem: key_pem.to_string(),
            public_key_pem,
            not_before: params.not_before.unix_timestamp(),
            not_after: params.not_after.unix_timestamp(),
        })
    }

    /// Signs the public key of a CSR (CreateCertificateFromCsr) as a client certificate with the
    /// CSR's subject and the validity of the other device certificates. The CSR's requested
    /// extensions are not copied (AWS decides the extensions of the certificates it signs);
    /// callers check the CSR first (`x509::check_csr`).
    pub fn sign_csr(&self, csr_pem: &str) -> Result<SignedCert> {
        let mut params = CertificateParams::new(Vec::<String>::new())?;
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
        params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        Self::set_validity(&mut params);
        let (not_before, not_after) = (params.not_before.unix_timestamp(), params.not_after.unix_timestamp());
        let cert = match rcgen::CertificateSigningRequestParams::from_pem(csr_pem) {
            Ok(mut csr) => {
                params.distinguished_name = csr.params.distinguished_name.clone();
                csr.params = params;
                csr.signed_by(&self.issuer()?)?
            }
            // rcgen verifies only the signature algorithms it signs with; AWS checks the key,
            // not the CSR's hash (a SHA-1 signed CSR is accepted). The caller has verified the
            // signature (x509-parser knows SHA-1), so the key and subject are taken from it.
            Err(rcgen::Error::UnsupportedSignatureAlgorithm) => {
                let (subject, spki) = csr_subject_and_key(csr_pem)?;
                params.distinguished_name = subject;
                params.signed_by(&spki, &self.issuer()?)?
            }
            Err(e) => return Err(e.into()),
        };
        Ok(SignedCert {
            certificate_id: iotemu_core::certificate_id(cert.der()),
            cert_pem: cert.pem(),
            not_before,
            not_after,
        })
    }

    /// The MQTTS server certificate in `<data_dir>/server/` for `names` (DNS names or IP
    /// addresses, its SANs; the first is also its CN), created on first use and issued again
    /// when the existing one holds other names (the AWS IoT Device SDK checks that the host it
    /// connects to is one of them).
    pub fn server_identity(
        &self,
        data_dir: &Path,
        names: &[String],
    ) -> Result<(Vec<CertificateDer<'static>>, PrivateKeyDer<'static>, PathBuf)> {
        let dir = data_dir.join("server");
        let wanted = canonical_names(names.iter().map(String::as_str));
        let fill = |tmp: &Path| -> Result<()> {
            let mut params = CertificateParams::new(Vec::<String>::new())?;
            for name in names {
                params.subject_alt_names.push(match name.parse::<std::net::IpAddr>() {
                    Ok(ip) => SanType::IpAddress(ip),
                    Err(_) => SanType::DnsName(name.as_str().try_into()?),
                });
            }
            params.distinguished_name.push(DnType::CommonName, names.first().map_or("localhost", |n| n));
            params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
            let issued = self.issue(params)?;
            fs::write(tmp.join("server.pem"), format!("{}{}", issued.cert_pem, self.cert_pem))?;
            write_private(&tmp.join("server.key"), &issued.key_pem)?;
            Ok(())
        };
        if !dir.join("server.pem").exists() {
            create_dir_atomically(data_dir, &dir, fill)?;
        }
        let mut chain = read_chain(&dir)?;
        let held = chain.first().map(|leaf| canonical_names(san_names(leaf).iter().map(String::as_str)));
        if held.as_ref() != Some(&wanted) {
            replace_dir(data_dir, &dir, fill)?;
            chain = read_chain(&dir)?;
        }
        let key = PrivateKeyDer::from_pem_file(dir.join("server.key")).context("reading the server key")?;
        Ok((chain, key, dir))
    }
}

fn read_chain(dir: &Path) -> Result<Vec<CertificateDer<'static>>> {
    CertificateDer::pem_file_iter(dir.join("server.pem"))
        .context("reading the server certificate")?
        .collect::<std::result::Result<Vec<_>, _>>()
        .context("parsing the server certificate")
}

/// The DNS names and IP addresses of a certificate's subjectAltName.
fn san_names(der: &CertificateDer<'_>) -> Vec<String> {
    use x509_parser::extensions::GeneralName;
    let Ok((_, cert)) = x509_parser::parse_x509_certificate(der.as_ref()) else { return Vec::new() };
    let Ok(Some(san)) = cert.subject_alternative_name() else { return Vec::new() };
    san.value
        .general_names
        .iter()
        .filter_map(|name| match name {
            GeneralName::DNSName(dns) => Some(dns.to_string()),
            GeneralName::IPAddress(bytes) => match bytes.len() {
                4 => Some(std::net::IpAddr::from(<[u8; 4]>::try_from(*bytes).ok()?).to_string()),
                16 => Some(std::net::IpAddr::from(<[u8; 16]>::try_from(*bytes).ok()?).to_string()),
                _ => None,
            },
            _ => None,
        })
        .collect()
}

/// Names compared without regard to case, order or the spelling of an IP address.
fn canonical_names<'a>(names: impl Iterator<Item = &'a str>) -> std::collections::BTreeSet<String> {
    names
        .map(|n| {
            n.parse::<std::net::IpAddr>().map(|ip| ip.to_string()).unwrap_or_else(|_| n.to_ascii_lowercase())
        })
        .collect()
}

/// Fills a fresh temporary directory with `fill`, then puts it in the place of `target`.
fn replace_dir(data_dir: &Path, target: &Path, fill: impl FnOnce(&Path) -> Result<()>) -> Result<()> {
    let tmp = tempfile::Builder::new().prefix(".tmp-").tempdir_in(data_dir)?;
    fill(tmp.path())?;
    let old = tempfile::Builder::new().prefix(".old-").tempdir_in(data_dir)?;
    let old_target = old.path().join("dir");
    fs::rename(target, &old_target).with_context(|| format!("moving {} aside", target.display()))?;
    let tmp = tmp.keep();
    fs::rename(&tmp, target).with_context(|| format!("replacing {}", target.display()))?;
    Ok(())
}

/// Fills a fresh temporary directory with `fill`, then renames it to `target`. If another
/// process created `target` first, its files win and ours are discarded.
fn create_dir_atomically(
    data_dir: &Path,
    target: &Path,
    fill: impl FnOnce(&Path) -> Result<()>,
) -> Result<()> {
    fs::create_dir_all(data_dir).with_context(|| format!("creating {}", data_dir.display()))?;
    let tmp = tempfile::Builder::new().prefix(".tmp-").tempdir_in(data_dir)?;
    fill(tmp.path())?;
    let tmp = tmp.keep();
    if fs::rename(&tmp, target).is_err() {
        let _ = fs::remove_dir_all(&tmp);
        if !target.exists() {
            return Err(CaError(format!("could not create {}", target.display())));
        }
    }
    Ok(())
}

/// Writes a private key readable by its owner only.
pub fn write_private(path: &Path, pem: &str) -> Result<()> {
    use std::io::Write;
    let mut options = fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut file = options.open(path).with_context(|| format!("writing {}", path.display()))?;
    file.write_all(pem.as_bytes())?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_ca_is_created_once_and_signs_devices() {
        let dir = tempfile::tempdir().unwrap();
        let ca = CertAuthority::load_or_create(dir.path()).unwrap();
        let again = CertAuthority::load_or_create(dir.path()).unwrap();
        assert_eq!(ca.cert_pem, again.cert_pem);
        let device = ca.issue_device("thing-1").unwrap();
        assert_eq!(device.certificate_id.len(), 64);
        assert!(device.certificate_id.bytes().all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase()));
        let (chain, _key, _) = ca.server_identity(dir.path(), &["localhost".into()]).unwrap();
        assert_eq!(chain.len(), 2);
    }

    #[test]
    fn the_server_certificate_holds_the_names_and_is_issued_again_for_others() {
        let dir = tempfile::tempdir().unwrap();
        let ca = CertAuthority::load_or_create(dir.path()).unwrap();
        let names: Vec<String> = ["localhost", "127.0.0.1", "::1", "iotemu"].map(String::from).into();
        let (chain, ..) = ca.server_identity(dir.path(), &names).unwrap();
        let mut held = san_names(&chain[0]);
        held.sort();
        assert_eq!(held, ["127.0.0.1", "::1", "iotemu", "localhost"]);
        // The same names (in another order and spelling): the same certificate.
        let same: Vec<String> =
            ["IOTEMU", "0:0:0:0:0:0:0:1", "127.0.0.1", "localhost"].map(String::from).into();
        assert_eq!(ca.server_identity(dir.path(), &same).unwrap().0[0], chain[0]);
        // Another name: a new certificate, which holds it.
        let other: Vec<String> = ["localhost", "emu.test"].map(String::from).into();
        let (again, ..) = ca.server_identity(dir.path(), &other).unwrap();
        assert_ne!(again[0], chain[0]);
        assert_eq!(san_names(&again[0]), ["localhost", "emu.test"]);
    }

    #[test]
    fn create_keys_and_certificate_keys_are_rsa_2048_in_pkcs1() {
        use rsa::pkcs1::DecodeRsaPrivateKey;
        use rsa::traits::PublicKeyParts;
        let dir = tempfile::tempdir().unwrap();
        let ca = CertAuthority::load_or_create(dir.path()).unwrap();
        let issued = ca.issue_client("AWS IoT Certificate").unwrap();
        assert!(issued.key_pem.starts_with("-----BEGIN RSA PRIVATE KEY-----"), "{}", issued.key_pem);
        assert!(issued.public_key_pem.starts_with("-----BEGIN PUBLIC KEY-----"));
        let key = rsa::RsaPrivateKey::from_pkcs1_pem(&issued.key_pem).unwrap();
        assert_eq!(key.size() * 8, 2048);
        let cert = crate::x509::parse_certificate(&issued.cert_pem).unwrap();
        assert_eq!(cert.id, issued.certificate_id);
        assert!(crate::x509::issued_by(&cert.der, ca.cert_der().unwrap().as_ref()));
        let (_, parsed) = x509_parser::parse_x509_certificate(&cert.der).unwrap();
        // ecdsa-with-SHA256 (the CA's key is P-256).
        assert_eq!(parsed.signature_algorithm.algorithm.to_id_string(), "1.2.840.10045.4.3.2");
        match parsed.public_key().parsed().unwrap() {
            x509_parser::public_key::PublicKey::RSA(rsa) => assert_eq!(rsa.key_size(), 2048),
            other => panic!("not an RSA key: {other:?}"),
        }
        // The device's TLS stack can use the pair: rustls reads the PKCS#1 key.
        use rustls::pki_types::pem::PemObject;
        assert!(PrivateKeyDer::from_pem_slice(issued.key_pem.as_bytes()).is_ok());
        // `certs create-device` keeps its quick EC keys.
        assert!(ca.issue_device("t").unwrap().key_pem.starts_with("-----BEGIN PRIVATE KEY-----"));
    }

    #[test]
    fn a_csr_is_signed_for_its_own_key() {
        let dir = tempfile::tempdir().unwrap();
        let ca = CertAuthority::load_or_create(dir.path()).unwrap();
        let key = KeyPair::generate().unwrap();
        let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
        params.distinguished_name.push(DnType::CommonName, "from a csr");
        let csr = params.serialize_request(&key).unwrap().pem().unwrap();
        let signed = ca.sign_csr(&csr).unwrap();
        let cert = crate::x509::parse_certificate(&signed.cert_pem).unwrap();
        assert_eq!(cert.id, signed.certificate_id);
        assert_eq!(cert.common_name.as_deref(), Some("from a csr"));
        assert!(crate::x509::issued_by(&cert.der, ca.cert_der().unwrap().as_ref()));
        let (_, parsed) = x509_parser::parse_x509_certificate(&cert.der).unwrap();
        assert_eq!(parsed.public_key().subject_public_key.data.as_ref(), key.public_key_raw());
        assert!(ca.sign_csr("not a csr").is_err());
    }
}
