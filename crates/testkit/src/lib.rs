//! Test helpers for iotemu's end-to-end tests: [`Emulator`] starts the real binary on free
//! ports with its own data directory and log file; [`RawClient`] speaks MQTT byte by byte (to
//! know its local port and to send bad input); [`tls`] builds client configurations from
//! certificates made by `iotemu certs create-device`; [`shared_dir`] finds `../shared`.

mod emulator;
mod raw;
pub mod tls;

pub use emulator::{check_log_file, Device, Emulator, Entries};
pub use raw::RawClient;

use std::path::PathBuf;

/// The `shared/` directory beside the repository (override with `IOTEMU_SHARED_DIR`).
pub fn shared_dir() -> PathBuf {
    if let Ok(dir) = std::env::var("IOTEMU_SHARED_DIR") {
        return PathBuf::from(dir);
    }
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared")
}

/// Installs the ring crypto provider as rustls's default (idempotent).
pub fn install_crypto_provider() {
    let _ = rustls::crypto::ring::default_provider().install_default();
}
