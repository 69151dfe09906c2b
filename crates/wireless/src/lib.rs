//! AWS IoT Core for LoRaWAN (placeholder while the crate is built up).
pub mod crypto;
pub mod frames;
