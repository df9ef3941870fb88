//! CustomResourceDefinitions: what upstream's apiextensions-apiserver does inside
//! kube-apiserver. [`schema`] holds the schema logic applied to custom objects (validation,
//! pruning, defaulting, CEL rules) and to the CRDs themselves (structural checks).

pub mod schema;
