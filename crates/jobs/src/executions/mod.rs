//! Job executions: one per thing and job, their state machine ([`state`]) and the `iot`
//! operations on them ([`service`], [`http`]).

pub mod http;
pub mod service;
pub mod state;
