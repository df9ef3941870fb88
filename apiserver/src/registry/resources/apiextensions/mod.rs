//! `apiextensions.k8s.io/v1`: CustomResourceDefinitions (stored and validated; serving the
//! custom resources they define is a separate piece).

pub mod customresourcedefinitions;

use crate::registry::Resource;

pub fn resources() -> Vec<Resource> {
    vec![customresourcedefinitions::resource()]
}
