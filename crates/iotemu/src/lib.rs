//! iotemu: a local AWS IoT Core. This crate wires the others together: configuration
//! ([`config`]), the CLI ([`cli`]), the one [`ReservedTopicRouter`] that hands `$aws/...`
//! publishes to services, the seams the rules engine reads other services through
//! ([`rules_services`]), the admin HTTP routes and the API port's router ([`http`],
//! [`live_tail`]), the [`console`] page and its demo device, and [`App::start`], which binds
//! every listener and returns a [`Running`] emulator. [`tail_cmd`] is `iotemu logs tail`, a
//! client of the live-tail routes; [`wait_cmd`] is `iotemu wait`; [`seed`] applies
//! `--seed FILE` through the API's router before the listeners answer. The AWS operations live
//! in the service crates (`docs/coverage.md` says where each one is).
//!
//! See `docs/architecture.md` for the architecture and `README.md` for use.

pub mod app;
pub mod cli;
pub mod config;
pub mod console;
pub mod device;
pub mod events;
pub mod http;
pub mod live_tail;
pub mod lora_cmd;
pub mod reserved;
pub mod rules_services;
pub mod seed;
pub mod tail_cmd;
pub mod wait_cmd;
pub mod websocket;

pub use app::{App, Running};
pub use config::Config;
pub use reserved::ReservedTopicRouter;
