//! Jobs: what to run on which targets (`iot` CreateJob, DescribeJob, ListJobs, UpdateJob,
//! CancelJob, DeleteJob, GetJobDocument).

pub mod http;
pub mod service;
pub mod state;
