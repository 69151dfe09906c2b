//! Device certificates as stored, and the statuses they may have.

use serde::{Deserialize, Serialize};

/// A certificate the registry knows (botocore `CertificateDescription`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Certificate {
    pub id: String,
    pub arn: String,
    pub pem: String,
    /// ACTIVE, INACTIVE, REVOKED, PENDING_TRANSFER, REGISTER_INACTIVE or PENDING_ACTIVATION.
    pub status: String,
    pub ca_certificate_id: Option<String>,
    pub owned_by: String,
    /// Epoch seconds.
    pub created: i64,
    pub last_modified: i64,
    pub not_before: i64,
    pub not_after: i64,
    pub generation_id: String,
    /// DEFAULT, or SNI_ONLY for certificates registered without a CA or under an SNI_ONLY CA.
    #[serde(default = "default_mode")]
    pub certificate_mode: String,
}

fn default_mode() -> String {
    "DEFAULT".to_string()
}

/// The statuses UpdateCertificate accepts (botocore `CertificateStatus`).
pub const CERTIFICATE_STATUSES: [&str; 6] =
    ["ACTIVE", "INACTIVE", "REVOKED", "PENDING_TRANSFER", "REGISTER_INACTIVE", "PENDING_ACTIVATION"];
