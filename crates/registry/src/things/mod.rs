//! Things, thing types and thing principals: `state.rs` (the documents and their checks),
//! `service.rs` (CreateThing, DescribeThing, ..., CreateThingType, ..., AttachThingPrincipal,
//! ...), `http.rs` (wire only).

pub(crate) mod http;
pub(crate) mod service;
pub(crate) mod state;

pub use service::{ListThings, UpdateThing};
pub use state::Thing;
