//! The core group (`/api/v1`): one strategy file per kind, plus the helpers they share
//! (quantities, common validators, printer column descriptions).

pub mod bindings;
pub mod common;
pub mod componentstatuses;
pub mod configmaps;
pub mod docs;
pub mod endpoints;
pub mod events;
pub mod limitranges;
pub mod namespaces;
pub mod nodes;
pub mod persistentvolumeclaims;
pub mod persistentvolumes;
pub mod pods;
pub mod podtemplates;
pub mod quantity;
pub mod replicationcontrollers;
pub mod resourcequotas;
pub mod secrets;
pub mod serviceaccounts;
pub mod services;

use crate::registry::Resource;

pub fn resources() -> Vec<Resource> {
    // Discovery lists them in this order, as upstream's legacy group does.
    vec![
        bindings::resource(),
        componentstatuses::resource(),
        configmaps::resource(),
        endpoints::resource(),
        events::resource(),
        limitranges::resource(),
        namespaces::resource(),
        nodes::resource(),
        persistentvolumeclaims::resource(),
        persistentvolumes::resource(),
        pods::resource(),
        podtemplates::resource(),
        replicationcontrollers::resource(),
        resourcequotas::resource(),
        secrets::resource(),
        serviceaccounts::resource(),
        services::resource(),
    ]
}
