//! Where a resource lives: an AWS account and region. Every service keys its state by it, the
//! store files documents under it, and the HTTP API derives it from the SigV4 credential scope
//! (`iotemu_api::ApiContext::scope`).

/// An AWS account and region.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Scope {
    /// The 12-digit account id.
    pub account: String,
    pub region: String,
}

impl Scope {
    pub fn new(account: impl Into<String>, region: impl Into<String>) -> Self {
        Scope { account: account.into(), region: region.into() }
    }
}
