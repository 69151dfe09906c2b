//! Job executions: one per thing and job, and their state machine.

pub mod state;
