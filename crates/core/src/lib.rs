//! iotemu's shared vocabulary: who made a request ([`RequestContext`]), trace ids, the typed
//! `$aws/...` reserved topics ([`ReservedTopic`]), the [`Clock`], and the traits through which the
//! broker and the services meet without importing each other ([`ReservedTopicHandler`]).
//!
//! No internal dependencies. See `../shared/DESIGN.md`, "Crates".

mod clock;
mod context;
mod error;
mod reserved;

pub use clock::{Clock, SystemClock};
pub use context::{ClientInfo, Protocol, RequestContext, TraceId};
pub use error::ServiceError;
pub use reserved::{Disposition, PassThrough, ReservedTopic, ReservedTopicHandler};
