//! `events.k8s.io/v1`: Events, served from the core Events' storage (`events`, stored as core
//! v1) through a [`Conversion`](crate::registry::Conversion).

pub mod events;

use crate::registry::Resource;

pub fn resources() -> Vec<Resource> {
    vec![events::resource()]
}
