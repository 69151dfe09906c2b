//! iotemu: a local AWS IoT Core. This crate wires the others together: configuration
//! ([`config`]), the one [`ReservedTopicRouter`] that hands
//! `$aws/...` publishes to services, the `iot-data` operations ([`data_plane`]), the admin HTTP routes ([`http`], [`live_tail`]), and
//! [`App::start`], which binds every listener and returns a [`Running`] emulator. [`tail_cmd`] is
//! `iotemu logs tail`, a client of the live-tail routes; [`wait_cmd`] is `iotemu wait`; [`seed`]
//! applies `--seed FILE` through the API's router before the listeners answer.
//!
//! See `../shared/DESIGN.md` for the architecture and `README.md` for use.

pub mod app;
pub mod cli;
pub mod config;
pub mod data_plane;
pub mod http;
pub mod live_tail;
pub mod logging;
pub mod lora_cmd;
pub mod reserved;
pub mod rules_services;
pub mod seed;
pub mod tail_cmd;
pub mod wait_cmd;

pub use app::{App, Running};
pub use config::Config;
pub use reserved::ReservedTopicRouter;
