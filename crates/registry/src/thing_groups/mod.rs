//! Static thing groups, their hierarchy and memberships (`service.rs`), the routes (`http.rs`,
//! wire only).

pub(crate) mod http;
mod service;

pub(crate) use service::{ancestors, load, Groups, Memberships};
pub use service::{
    GroupNameAndArn, ListThingGroups, NameOrArn, ThingGroup, ThingGroupDescription, ThingGroupProperties,
    MAX_GROUPS_PER_THING,
};
