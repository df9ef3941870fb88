//! PersistentVolumeClaimResize: a claim may ask for more storage only once bound, and only
//! when its StorageClass (unchanged by the update) sets `allowVolumeExpansion: true`.

use super::{Attributes, Operation, Source, Validator};
use crate::errors::{ApiError, GroupResource, Result};
use apimachinery::quantity::Quantity;
use async_trait::async_trait;
use serde_json::Value;

const BETA_CLASS_ANNOTATION: &str = "volume.beta.kubernetes.io/storage-class";

pub struct PersistentVolumeClaimResize {
    classes: Source,
}

fn storage_request(claim: &Value) -> Quantity {
    claim
        .pointer("/spec/resources/requests/storage")
        .and_then(|q| Quantity::from_json(q).ok())
        .unwrap_or(Quantity::ZERO)
}

/// The claim's class: the beta annotation, else `spec.storageClassName`.
fn class_of(claim: &Value) -> &str {
    claim
        .pointer("/metadata/annotations")
        .and_then(|a| a.get(BETA_CLASS_ANNOTATION))
        .or_else(|| claim.pointer("/spec/storageClassName"))
        .and_then(Value::as_str)
        .unwrap_or_default()
}

impl PersistentVolumeClaimResize {
    pub fn new(classes: Source) -> Self {
        Self { classes }
    }

    async fn allows_expansion(&self, class: &str) -> Result<bool> {
        let Some(class) = self.classes.value("", class).await? else {
            return Ok(false);
        };
        Ok(class.get("allowVolumeExpansion").and_then(Value::as_bool) == Some(true))
    }
}

#[async_trait]
impl Validator for PersistentVolumeClaimResize {
    async fn validate(&self, attrs: &Attributes<'_>) -> Result<()> {
        let applies = attrs.info.group.is_empty()
            && attrs.info.resource == "persistentvolumeclaims"
            && attrs.subresource.is_none()
            && attrs.operation == Operation::Update;
        let (Some(new), Some(old)) = (attrs.object, attrs.old) else {
            return Ok(());
        };
        if !applies || storage_request(new) <= storage_request(old) {
            return Ok(());
        }
        let forbidden = |why: &str| {
            ApiError::forbidden(
                &GroupResource::new("", "persistentvolumeclaims"),
                attrs.name,
                why,
            )
        };
        if old.pointer("/status/phase").and_then(Value::as_str) != Some("Bound") {
            return Err(forbidden(
                "Only bound persistent volume claims can be expanded",
            ));
        }
        let (class, old_class) = (class_of(new), class_of(old));
        let allowed =
            !class.is_empty() && class == old_class && self.allows_expansion(class).await?;
        if !allowed {
            return Err(forbidden(
                "only dynamically provisioned pvc can be resized and the storageclass that provisions the pvc must support resize",
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn the_class_comes_from_the_beta_annotation_first() {
        let claim = json!({
            "metadata": {"annotations": {BETA_CLASS_ANNOTATION: "beta"}},
            "spec": {"storageClassName": "ga", "resources": {"requests": {"storage": "2Gi"}}}
        });
        assert_eq!(class_of(&claim), "beta");
        assert_eq!(class_of(&json!({"spec": {"storageClassName": "ga"}})), "ga");
        assert!(storage_request(&claim) > storage_request(&json!({})));
    }
}
