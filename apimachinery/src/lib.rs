//! Shared Kubernetes API machinery used by every ferrokube component: label and field selectors,
//! the name and label validators with upstream's messages, field-error lists, accessors for
//! object metadata held as JSON, resource quantities, what objects use of a ResourceQuota, and
//! the keys and JWTs of service account tokens (the apiserver issues and checks them, the
//! controller manager's token controller signs legacy ones).

pub mod cron;
pub mod field_errors;
pub mod fields;
pub mod jwt;
pub mod keys;
pub mod labels;
pub mod meta;
pub mod quantity;
pub mod quota;
pub mod validation;

pub use field_errors::{FieldError, FieldErrorKind, FieldErrors};
