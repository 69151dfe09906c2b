//! Job templates (`iot` CreateJobTemplate, DescribeJobTemplate, ListJobTemplates,
//! DeleteJobTemplate).

pub mod http;
pub mod service;
pub mod state;
