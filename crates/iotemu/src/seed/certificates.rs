//! The seed's `[[certificates]]`, iotemu's own shape (AWS has no "create this certificate"
//! request, since it makes the keys):
//!
//! ```toml
//! [[certificates]]
//! name = "sensor-1"       # the files' names, and the entry's in errors
//! out = "certs"           # made and written here as sensor-1.cert.pem, sensor-1.private.key,
//!                         # sensor-1.public.key and ca.pem; if the files are there from an
//!                         # earlier run, they are used (registered if unknown)
//! keyAlgorithm = "EC"     # EC P-256 keys and CreateCertificateFromCsr (CN = name): made in
//!                         # milliseconds; "RSA": CreateKeysAndCertificate, RSA 2048 as AWS
//!                         # makes them (about half a second each)
//! # certificatePem = "-----BEGIN CERTIFICATE-----..." or certificatePemFile = "device.pem":
//! #                       # RegisterCertificateWithoutCA, for a certificate whose key you hold
//! status = "ACTIVE"       # or INACTIVE
//! policies = ["sensor"]   # AttachPolicy
//! things = ["sensor-1"]   # AttachThingPrincipal
//! ```
//!
//! Relative paths start from the seed file's folder.

use super::api::{encode, failure, Api, Call};
use super::{names, Entry, SeedError};
use axum::http::Method;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::CertificateDer;
use serde_json::{json, Value};
use std::path::{Path, PathBuf};

const KEYS: [&str; 8] =
    ["name", "out", "keyAlgorithm", "certificatePem", "certificatePemFile", "status", "policies", "things"];

/// One `[[certificates]]` entry.
pub(super) struct CertificateEntry {
    name: String,
    source: Source,
    /// CreateKeysAndCertificate (RSA) instead of an EC key and CreateCertificateFromCsr.
    rsa: bool,
    status: String,
    policies: Vec<String>,
    things: Vec<String>,
}

/// A certificate made now, with its keys.
struct Made {
    arn: String,
    certificate_pem: String,
    private_key: String,
    public_key: String,
}

enum Source {
    /// Made by the emulator's CA and written, with its keys, into this folder.
    Folder(PathBuf),
    /// Given in PEM, registered without a CA.
    Pem(String),
}

impl CertificateEntry {
    /// Checks the entry; reads `certificatePemFile`.
    pub(super) fn parse(entry: &Entry<'_>, base: &Path) -> Result<CertificateEntry, SeedError> {
        let fail = |message: String| SeedError(format!("seed {}: {message}", entry.label));
        let fields = entry.fields;
        if let Some(key) = fields.keys().find(|k| !KEYS.contains(&k.as_str())) {
            return Err(fail(format!("unknown key {key:?} (a certificate takes {})", KEYS.join(", "))));
        }
        let text = |key: &str| match fields.get(key) {
            None => Ok(None),
            Some(Value::String(s)) if !s.is_empty() => Ok(Some(s.clone())),
            Some(_) => Err(fail(format!("{key} must be a non-empty string"))),
        };
        let name = text("name")?.ok_or_else(|| fail("name is required".into()))?;
        if name.contains(['/', '\\']) || name == "." || name == ".." {
            return Err(fail(format!("name {name:?} must be usable as a file name")));
        }
        let status = text("status")?.unwrap_or_else(|| "ACTIVE".into());
        if status != "ACTIVE" && status != "INACTIVE" {
            return Err(fail(format!("status {status:?} must be ACTIVE or INACTIVE")));
        }
        let rsa = match text("keyAlgorithm")?.as_deref() {
            None | Some("EC") => false,
            Some("RSA") => true,
            Some(other) => return Err(fail(format!("keyAlgorithm {other:?} must be EC or RSA"))),
        };
        let source = match (text("out")?, text("certificatePem")?, text("certificatePemFile")?) {
            (Some(out), None, None) => Source::Folder(base.join(out)),
            (None, Some(pem), None) => Source::Pem(pem),
            (None, None, Some(file)) => {
                let path = base.join(file);
                let pem = std::fs::read_to_string(&path)
                    .map_err(|e| fail(format!("cannot read {}: {e}", path.display())))?;
                Source::Pem(pem)
            }
            _ => return Err(fail("give one of out, certificatePem or certificatePemFile".into())),
        };
        if let Source::Pem(pem) = &source {
            certificate_id(pem).map_err(fail)?;
        }
        if rsa && !matches!(source, Source::Folder(_)) {
            return Err(fail("keyAlgorithm goes with out (a registered certificate brings its key)".into()));
        }
        Ok(CertificateEntry {
            name,
            source,
            rsa,
            status,
            policies: names(entry, "policies")?,
            things: names(entry, "things")?,
        })
    }

    /// Creates or registers the certificate unless it is known: its ARN, and whether it was
    /// created now.
    pub(super) async fn create(&self, api: &Api<'_>, label: &str) -> Result<(String, bool), SeedError> {
        let fail = |message: String| SeedError(format!("seed {label}: {message}"));
        let dir = match &self.source {
            Source::Pem(pem) => return self.register(api, pem, label).await,
            Source::Folder(dir) => dir,
        };
        let cert_path = dir.join(format!("{}.cert.pem", self.name));
        let key_path = dir.join(format!("{}.private.key", self.name));
        let ca_pem =
            api.text("/_iotemu/ca.pem").await.map_err(|f| failure(label, "GET /_iotemu/ca.pem", f))?;
        std::fs::create_dir_all(dir).map_err(|e| fail(format!("creating {}: {e}", dir.display())))?;
        write(&dir.join("ca.pem"), &ca_pem, false).map_err(fail)?;
        if cert_path.exists() {
            if !key_path.exists() {
                return Err(fail(format!(
                    "{} is there but not its key {}",
                    cert_path.display(),
                    key_path.display()
                )));
            }
            let pem = std::fs::read_to_string(&cert_path)
                .map_err(|e| fail(format!("cannot read {}: {e}", cert_path.display())))?;
            return self.register(api, &pem, label).await;
        }
        let made =
            if self.rsa { self.create_rsa(api, label).await? } else { self.create_ec(api, label).await? };
        // The key first: a certificate file means the entry is complete.
        write(&key_path, &made.private_key, true).map_err(fail)?;
        write(&dir.join(format!("{}.public.key", self.name)), &made.public_key, false).map_err(fail)?;
        write(&cert_path, &made.certificate_pem, false).map_err(fail)?;
        Ok((made.arn, true))
    }

    /// CreateKeysAndCertificate: RSA 2048 keys made by the emulator, as AWS makes them.
    async fn create_rsa(&self, api: &Api<'_>, label: &str) -> Result<Made, SeedError> {
        let active = self.status == "ACTIVE";
        let call = Call::new(Method::POST, &format!("/keys-and-certificate?setAsActive={active}"));
        let (answer, _) = api.apply(call, "CreateKeysAndCertificate", label).await?;
        let field = |path: &str| answer.pointer(path).and_then(Value::as_str).unwrap_or_default().to_string();
        Ok(Made {
            arn: field("/certificateArn"),
            certificate_pem: field("/certificatePem"),
            private_key: field("/keyPair/PrivateKey"),
            public_key: field("/keyPair/PublicKey"),
        })
    }

    /// An EC P-256 key made here and CreateCertificateFromCsr (subject CN = the entry's name).
    async fn create_ec(&self, api: &Api<'_>, label: &str) -> Result<Made, SeedError> {
        let fail = |e: rcgen::Error| SeedError(format!("seed {label}: making a key and CSR: {e}"));
        let key = rcgen::KeyPair::generate().map_err(fail)?;
        let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).map_err(fail)?;
        params.distinguished_name.push(rcgen::DnType::CommonName, self.name.as_str());
        let csr = params.serialize_request(&key).and_then(|csr| csr.pem()).map_err(fail)?;
        let active = self.status == "ACTIVE";
        let call = Call::new(Method::POST, &format!("/certificates?setAsActive={active}"))
            .body(json!({ "certificateSigningRequest": csr }));
        let (answer, _) = api.apply(call, "CreateCertificateFromCsr", label).await?;
        let field = |key: &str| answer[key].as_str().unwrap_or_default().to_string();
        Ok(Made {
            arn: field("certificateArn"),
            certificate_pem: field("certificatePem"),
            private_key: key.serialize_pem(),
            public_key: key.public_key_pem(),
        })
    }

    /// RegisterCertificateWithoutCA, or the ARN of the certificate already registered.
    async fn register(&self, api: &Api<'_>, pem: &str, label: &str) -> Result<(String, bool), SeedError> {
        let id = certificate_id(pem).map_err(|m| SeedError(format!("seed {label}: {m}")))?;
        if let Ok(described) = api.call(Call::new(Method::GET, &format!("/certificates/{id}"))).await {
            let arn = described.pointer("/certificateDescription/certificateArn").and_then(Value::as_str);
            return Ok((arn.unwrap_or_default().to_string(), false));
        }
        let call = Call::new(Method::POST, "/certificate/register-no-ca")
            .body(json!({ "certificatePem": pem, "status": self.status }));
        let (answer, created) = api.apply(call, "RegisterCertificateWithoutCA", label).await?;
        let arn = answer["certificateArn"]
            .as_str()
            .map(str::to_string)
            .unwrap_or_else(|| api.arn(&format!("cert/{id}")));
        Ok((arn, created))
    }

    pub(super) fn name(&self) -> &str {
        &self.name
    }

    /// The certificate as `POST /_iotemu/seed` reports it: ARN and id, and the PEM files of one
    /// written to a folder (a job in another container than the emulator's cannot read them).
    pub(super) fn describe(&self, arn: &str) -> Value {
        let mut description = json!({
            "certificateArn": arn,
            "certificateId": arn.rsplit('/').next().unwrap_or_default(),
        });
        if let Source::Folder(dir) = &self.source {
            let read = |file: String| std::fs::read_to_string(dir.join(file)).unwrap_or_default();
            description["certificatePem"] = json!(read(format!("{}.cert.pem", self.name)));
            description["privateKey"] = json!(read(format!("{}.private.key", self.name)));
        }
        description
    }

    /// AttachPolicy and AttachThingPrincipal: one result per link.
    pub(super) async fn link(&self, api: &Api<'_>, arn: &str, label: &str) -> Result<Vec<bool>, SeedError> {
        let mut done = Vec::new();
        for (i, policy) in self.policies.iter().enumerate() {
            let label = format!("{label} policies[{i}] ({policy})");
            done.push(super::attach_policy(api, policy, arn, &label).await?);
        }
        for (i, thing) in self.things.iter().enumerate() {
            let label = format!("{label} things[{i}] ({thing})");
            let call = Call::new(Method::PUT, &format!("/things/{}/principals", encode(thing)))
                .header("x-amzn-principal", arn);
            done.push(api.apply(call, "AttachThingPrincipal", &label).await?.1);
        }
        Ok(done)
    }
}

/// AWS's certificateId: the SHA-256 of the certificate's DER, in lower-case hex.
fn certificate_id(pem: &str) -> Result<String, String> {
    let der = CertificateDer::from_pem_slice(pem.as_bytes())
        .map_err(|e| format!("certificatePem is not a PEM certificate: {e}"))?;
    Ok(iotemu_core::certificate_id(der.as_ref()))
}

/// Writes a file (a private key readable by its owner only).
fn write(path: &Path, text: &str, private: bool) -> Result<(), String> {
    if private {
        // Its error names the path.
        return iotemu_registry::ca::write_private(path, text).map_err(|e| e.to_string());
    }
    std::fs::write(path, text).map_err(|e| format!("writing {}: {e}", path.display()))
}
