//! CustomResourceDefinitions: what upstream's apiextensions-apiserver does inside
//! kube-apiserver. [`schema`] holds the schema logic applied to custom objects (validation,
//! pruning, defaulting, CEL rules) and to the CRDs themselves (structural checks).

pub mod controller;
pub mod conversion_webhook;
pub mod custom_resource;
pub mod jsonpath;
pub mod openapi;
pub mod schema;
pub mod schema_ops;
pub mod served;
