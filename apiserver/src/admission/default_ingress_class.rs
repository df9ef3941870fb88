//! DefaultIngressClass: a new Ingress that names no class (neither `ingressClassName` nor the
//! old `kubernetes.io/ingress.class` annotation) gets the default IngressClass, the one
//! annotated `ingressclass.kubernetes.io/is-default-class: "true"` (the newest when several).

use super::default_storage_class::newest_default;
use super::{Attributes, Mutator, Operation, Source};
use crate::errors::Result;
use async_trait::async_trait;
use serde_json::{Value, json};

const DEFAULT_ANNOTATION: &str = "ingressclass.kubernetes.io/is-default-class";
const CLASS_ANNOTATION: &str = "kubernetes.io/ingress.class";

pub struct DefaultIngressClass {
    classes: Source,
}

impl DefaultIngressClass {
    pub fn new(classes: Source) -> Self {
        Self { classes }
    }
}

/// Whether the ingress already says which class it wants.
fn names_class(ingress: &Value) -> bool {
    ingress
        .pointer("/spec/ingressClassName")
        .is_some_and(|c| !c.is_null())
        || ingress
            .pointer("/metadata/annotations")
            .and_then(|a| a.get(CLASS_ANNOTATION))
            .is_some()
}

#[async_trait]
impl Mutator for DefaultIngressClass {
    async fn admit(&self, attrs: &Attributes<'_>, ingress: &mut Value) -> Result<()> {
        let applies = attrs.info.group == "networking.k8s.io"
            && attrs.info.resource == "ingresses"
            && attrs.subresource.is_none()
            && attrs.operation == Operation::Create;
        if !applies || names_class(ingress) {
            return Ok(());
        }
        let classes = self.classes.list_all().await?;
        if let Some(class) = newest_default(&classes, &[DEFAULT_ANNOTATION]) {
            apimachinery::meta::nested_mut(ingress, &["spec"])["ingressClassName"] =
                json!(apimachinery::meta::name(class));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_class_named_either_way_is_kept() {
        assert!(names_class(&json!({"spec": {"ingressClassName": "x"}})));
        assert!(names_class(
            &json!({"metadata": {"annotations": {CLASS_ANNOTATION: "nginx"}}})
        ));
        assert!(!names_class(&json!({"spec": {}})));
    }
}
