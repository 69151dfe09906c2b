//! Fleet indexing of AWS IoT (developer guide `iot-indexing.md`, `managing-index.md`,
//! `query-syntax.md`, `example-queries.md`, `dynamic-thing-groups.md`; botocore `iot` model):
//! - `query.rs`: the query language, parsed by hand with error positions and limits;
//! - `state.rs`: the indexing configuration, indexed documents and query evaluation (pure);
//! - `service.rs`: [`Index`]: the configuration, the index kept current from a bounded channel of
//!   registry, shadow and connectivity changes, SearchIndex and dynamic thing groups;
//! - `aggregate.rs`: GetStatistics, GetCardinality, GetPercentiles, GetBucketsAggregation;
//! - `http.rs`: the routes; `error.rs`: [`IndexError`].
//!
//! Not emulated: the thing-group index's search (ListIndices and DescribeIndex show it),
//! Device Defender fields, custom fields' types (kept and returned only).

mod aggregate;
mod error;
pub mod http;
pub mod query;
mod service;
pub mod state;

pub use error::IndexError;
pub use service::{compile, Feed, Index, NewDynamicGroup};
