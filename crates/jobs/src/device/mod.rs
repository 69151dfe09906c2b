//! The device plane of Jobs (GetPendingJobExecutions, StartNextPendingJobExecution,
//! DescribeJobExecution, UpdateJobExecution): the operations and their entries ([`service`]),
//! whichever way a request came: the reserved MQTT topics ([`mqtt`]) or `iot-jobs-data`.

pub mod http;
pub mod mqtt;
pub mod service;
