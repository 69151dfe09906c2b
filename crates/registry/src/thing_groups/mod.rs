//! Static thing groups: the documents, request shapes and hierarchy (`state.rs`), the operations
//! and memberships (`service.rs`), the routes (`http.rs`, wire only).

pub(crate) mod dynamic;
pub(crate) mod http;
mod service;
pub(crate) mod state;

pub use dynamic::DynamicGroupsFailed;
pub(crate) use service::load;
pub(crate) use state::{ancestors, Groups, Memberships};
pub use state::{
    DynamicQuery, GroupNameAndArn, ListThingGroups, NameOrArn, ThingGroup, ThingGroupDescription,
    ThingGroupProperties, MAX_GROUPS_PER_THING,
};
