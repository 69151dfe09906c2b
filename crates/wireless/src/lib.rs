//! AWS IoT Core for LoRaWAN (the `iotwireless` API) in iotemu: enough of the LoRaWAN path for
//! a simulated gateway to connect, devices to join, uplinks to reach their rules or topics,
//! downlinks to reach devices, and the documented `/aws/iotwireless` entries to appear when
//! things go wrong (AWS's "AWS IoT Core for LoRaWAN log entries", as `spec/lorawan.json` holds
//! them).
//!
//! - `state.rs`: the resources in botocore's shapes, sessions, the log-level rules (pure).
//! - `service.rs`: [`Wireless`], the control-plane operations, persisted in the store.
//! - `network.rs`: the network server: join, uplink, downlink, and their entries.
//! - [`crypto`], [`frames`]: LoRaWAN 1.0.x security and PHYPayloads on RustCrypto `aes`/`cmac`.
//! - [`region`]: EU868 and US915 radio parameters and the station's `router_config`.
//! - [`lns`]: the LoRa Basics Station LNS protocol over WebSocket (wire only).
//! - [`http`]: the `iotwireless` REST-JSON routes (wire only).
//! - [`simulate`]: `iotemu lora simulate`, a gateway and a device played against an emulator.
//!
//! Uplinks reach the rules engine and the broker through [`iotemu_core::Publisher`]: a
//! `RuleName` destination publishes to the rule's Basic Ingest topic `$aws/rules/<rule>` (the
//! rule runs whatever its FROM clause, as AWS documents for LoRaWAN rules), an `MqttTopic`
//! destination to its topic. The destination's role is "assumed" when
//! `[wireless] allowed_role_arns` lists it (`*`, the default, allows all); otherwise the
//! uplink is refused with the documented Uplink error.
//!
//! Limitations: LoRaWAN 1.0.x class A only (1.1 devices are stored but their frames are not
//! processed); no MAC commands, ADR, Rejoin, multicast, FUOTA, CUPS, positioning, Sidewalk;
//! a confirmed downlink is sent once (not retried until acknowledged); EU868 and US915
//! (sub-band 2) radio parameters, EU868's for every other region.

pub mod crypto;
mod error;
pub mod frames;
pub mod http;
mod levels;
pub mod lns;
mod network;
pub mod region;
mod service;
pub mod simulate;
pub mod state;

pub use error::WirelessError;

#[cfg(test)]
mod tests;
pub use levels::LogLevelsUpdate;
pub use network::{Downlink, Gateway, Radio, INVALID_MIC};
pub use service::{DeviceFilter, RolePolicy, Wireless};
