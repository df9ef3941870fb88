//! The structural schema of a custom resource version (`openAPIV3Schema`, as k8s-openapi's
//! `JSONSchemaProps`) applied to objects: [`validation`] (OpenAPI value validation and list
//! types), [`prune`] (dropping unknown fields), [`defaulting`] and [`structural`] (whether a
//! CRD's schema itself is acceptable); its `x-kubernetes-validations` are [`crate::cel`]'s.

pub mod defaulting;
pub mod go;
pub mod prune;
pub mod structural;
pub mod validation;
