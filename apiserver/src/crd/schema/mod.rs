//! The structural schema of a custom resource version (`openAPIV3Schema`, as k8s-openapi's
//! `JSONSchemaProps`) applied to objects: [`validation`] (OpenAPI value validation and list
//! types), [`prune`] (dropping unknown fields), [`defaulting`], [`cel`] (`x-kubernetes-validations`),
//! and [`structural`] (whether a CRD's schema itself is acceptable).

pub mod cel;
pub mod defaulting;
pub mod go;
pub mod prune;
pub mod structural;
pub mod validation;
