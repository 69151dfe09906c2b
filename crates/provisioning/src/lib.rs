//! AWS IoT fleet provisioning (work in progress).

pub mod template;
