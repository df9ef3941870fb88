//! DefaultStorageClass: a new PersistentVolumeClaim that names no storage class (no
//! `storageClassName` at all; an empty one means "no class" and is kept) gets the default
//! class: the StorageClass annotated `storageclass.kubernetes.io/is-default-class: "true"`
//! (or the beta annotation), the newest one when there are several, as upstream chooses.

use super::{Attributes, Mutator, Operation, Source};
use crate::errors::Result;
use async_trait::async_trait;
use serde_json::{Value, json};

const DEFAULT_ANNOTATIONS: [&str; 2] = [
    "storageclass.kubernetes.io/is-default-class",
    "storageclass.beta.kubernetes.io/is-default-class",
];

pub struct DefaultStorageClass {
    classes: Source,
}

fn is_default(class: &Value, annotations: &[&str]) -> bool {
    annotations.iter().any(|a| {
        class
            .pointer("/metadata/annotations")
            .and_then(|m| m.get(*a))
            .and_then(Value::as_str)
            == Some("true")
    })
}

/// The default storage class among `classes`.
pub fn default_class(classes: &[Value]) -> Option<&Value> {
    newest_default(classes, &DEFAULT_ANNOTATIONS)
}

/// The newest of the classes one of `annotations` marks `"true"`, ties going to the first
/// name (upstream's choice for storage and ingress classes alike).
pub fn newest_default<'a>(classes: &'a [Value], annotations: &[&str]) -> Option<&'a Value> {
    classes
        .iter()
        .filter(|c| is_default(c, annotations))
        .max_by(|a, b| {
            let created = |c: &Value| {
                c.pointer("/metadata/creationTimestamp")
                    .and_then(Value::as_str)
                    .unwrap_or_default()
                    .to_string()
            };
            created(a)
                .cmp(&created(b))
                .then_with(|| apimachinery::meta::name(b).cmp(apimachinery::meta::name(a)))
        })
}

impl DefaultStorageClass {
    pub fn new(classes: Source) -> Self {
        Self { classes }
    }
}

#[async_trait]
impl Mutator for DefaultStorageClass {
    async fn admit(&self, attrs: &Attributes<'_>, object: &mut Value) -> Result<()> {
        let is_claim_create = attrs.info.group.is_empty()
            && attrs.info.resource == "persistentvolumeclaims"
            && attrs.subresource.is_none()
            && attrs.operation == Operation::Create;
        if !is_claim_create
            || object
                .pointer("/spec/storageClassName")
                .is_some_and(|c| !c.is_null())
        {
            return Ok(());
        }
        let classes = self.classes.list_all().await?;
        if let Some(class) = default_class(&classes) {
            apimachinery::meta::nested_mut(object, &["spec"])["storageClassName"] =
                json!(apimachinery::meta::name(class));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn class(name: &str, created: &str, default: bool) -> Value {
        let mut c = json!({"metadata": {"name": name, "creationTimestamp": created}});
        if default {
            c["metadata"]["annotations"] =
                json!({"storageclass.kubernetes.io/is-default-class": "true"});
        }
        c
    }

    #[test]
    fn the_newest_default_class_wins() {
        let classes = [
            class("old", "2026-01-01T00:00:00Z", true),
            class("new", "2026-06-01T00:00:00Z", true),
            class("plain", "2026-12-01T00:00:00Z", false),
        ];
        assert_eq!(
            apimachinery::meta::name(default_class(&classes).unwrap()),
            "new"
        );
        let tie = [
            class("b", "2026-01-01T00:00:00Z", true),
            class("a", "2026-01-01T00:00:00Z", true),
        ];
        assert_eq!(apimachinery::meta::name(default_class(&tie).unwrap()), "a");
        assert!(default_class(&classes[2..]).is_none());
    }
}
