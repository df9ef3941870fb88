//! `events.k8s.io/v1`: Events, served from the core Events' storage (`events`, stored as core
//! v1) through a [`Conversion`](crate::registry::Conversion).

// The group is named after its only resource; the file layout matches every other group.
#[allow(clippy::module_inception)]
pub mod events;

use crate::registry::Resource;

pub fn resources() -> Vec<Resource> {
    vec![events::resource()]
}
