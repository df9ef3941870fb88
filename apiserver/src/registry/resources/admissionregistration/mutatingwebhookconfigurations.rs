//! MutatingWebhookConfigurations: webhooks that may change objects before they are stored.
//! Changes to the webhooks bump the generation.

use super::{
    CATEGORIES, GROUP, WEBHOOK_COLUMNS, default_webhooks, validate_webhook_configuration,
    webhook_row,
};
use crate::registry::table::Column;
use crate::registry::{
    Resource, ResourceInfo,
    strategy::{Decoded, Strategy},
    typed,
};
use apimachinery::FieldErrors;
use k8s_openapi::api::admissionregistration::v1::MutatingWebhookConfiguration;
use serde_json::Value;

pub fn resource() -> Resource {
    Resource::new(
        ResourceInfo::new(
            GROUP,
            "v1",
            "mutatingwebhookconfigurations",
            "MutatingWebhookConfiguration",
            "mutatingwebhookconfiguration",
            false,
        )
        .categories(CATEGORIES),
        MutatingWebhookConfigurations,
    )
}

pub struct MutatingWebhookConfigurations;

impl Strategy for MutatingWebhookConfigurations {
    fn decode(&self, body: Value) -> Result<Decoded, String> {
        typed::round_trip::<MutatingWebhookConfiguration>(body)
    }

    fn tracks_generation(&self) -> bool {
        true
    }

    fn default(&self, obj: &mut Value) {
        default_webhooks(obj, true);
    }

    fn validate(&self, obj: &Value) -> FieldErrors {
        validate_webhook_configuration(obj, true)
    }

    fn table_columns(&self) -> &'static [Column] {
        WEBHOOK_COLUMNS
    }

    fn table_row(&self, obj: &Value) -> Vec<Value> {
        webhook_row(obj)
    }
}
