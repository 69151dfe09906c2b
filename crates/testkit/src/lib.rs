//! Test helpers for iotemu's end-to-end tests: [`Emulator`] starts the real binary on free
//! ports with its own data directory and log file; [`RawClient`] speaks MQTT byte by byte (to
//! know its local port and to send bad input); [`tls`] builds client configurations from
//! certificates made by `iotemu certs create-device`; [`check_log_file`] checks log entries with
//! `iotemu check-entries`.

mod emulator;
mod raw;
pub mod tls;

pub use emulator::{check_log_file, Device, Emulator, Entries};
pub use raw::RawClient;

/// Installs the ring crypto provider as rustls's default (idempotent).
pub fn install_crypto_provider() {
    let _ = rustls::crypto::ring::default_provider().install_default();
}
