//! `[sig-api-machinery]` cases (upstream `test/e2e/apimachinery/`).

pub mod aggregated_discovery;
pub mod chunking;
pub mod crd_publish_openapi;
pub mod crd_watch;
pub mod custom_resource_definition;
pub mod discovery;
pub mod field_validation;
pub mod flowcontrol;
pub mod garbage_collector;
pub mod namespaces;
pub mod resource_quota;
pub mod resource_quota_usage;
pub mod server_version;
pub mod table_conversion;
pub mod validating_admission_policy;
pub mod watch;

use super::Case;

pub fn cases() -> Vec<Case> {
    let mut out = Vec::new();
    out.extend(aggregated_discovery::cases());
    out.extend(chunking::cases());
    out.extend(crd_publish_openapi::cases());
    out.extend(crd_watch::cases());
    out.extend(custom_resource_definition::cases());
    out.extend(discovery::cases());
    out.extend(field_validation::cases());
    out.extend(garbage_collector::cases());
    out.extend(flowcontrol::cases());
    out.extend(namespaces::cases());
    out.extend(resource_quota::cases());
    out.extend(resource_quota_usage::cases());
    out.extend(server_version::cases());
    out.extend(table_conversion::cases());
    out.extend(validating_admission_policy::cases());
    out.extend(watch::cases());
    out
}
