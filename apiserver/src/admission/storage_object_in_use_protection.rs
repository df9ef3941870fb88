//! StorageObjectInUseProtection: new PersistentVolumeClaims and PersistentVolumes get the
//! `kubernetes.io/pvc-protection` and `kubernetes.io/pv-protection` finalizers, so neither is
//! removed while a pod uses the claim or a claim is bound to the volume (the protection
//! controllers lift the finalizers when that is no longer so).

use super::{Attributes, Mutator, Operation};
use crate::errors::Result;
use async_trait::async_trait;
use serde_json::{Value, json};

pub struct StorageObjectInUseProtection;

fn finalizer_for(attrs: &Attributes<'_>) -> Option<&'static str> {
    if !attrs.info.group.is_empty()
        || attrs.subresource.is_some()
        || attrs.operation != Operation::Create
    {
        return None;
    }
    match attrs.info.resource {
        "persistentvolumeclaims" => Some("kubernetes.io/pvc-protection"),
        "persistentvolumes" => Some("kubernetes.io/pv-protection"),
        _ => None,
    }
}

fn add_finalizer(obj: &mut Value, finalizer: &str) {
    let finalizers = &mut apimachinery::meta::nested_mut(obj, &["metadata"])["finalizers"];
    if !finalizers.is_array() {
        *finalizers = json!([]);
    }
    if let Some(list) = finalizers.as_array_mut()
        && !list.iter().any(|f| f.as_str() == Some(finalizer))
    {
        list.push(json!(finalizer));
    }
}

#[async_trait]
impl Mutator for StorageObjectInUseProtection {
    async fn admit(&self, attrs: &Attributes<'_>, obj: &mut Value) -> Result<()> {
        if let Some(finalizer) = finalizer_for(attrs) {
            add_finalizer(obj, finalizer);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_finalizer_is_added_once_beside_others() {
        let mut claim = json!({"metadata": {"name": "c", "finalizers": ["example.com/mine"]}});
        add_finalizer(&mut claim, "kubernetes.io/pvc-protection");
        add_finalizer(&mut claim, "kubernetes.io/pvc-protection");
        assert_eq!(
            claim["metadata"]["finalizers"],
            json!(["example.com/mine", "kubernetes.io/pvc-protection"])
        );
        let mut volume = json!({"metadata": {"name": "v"}});
        add_finalizer(&mut volume, "kubernetes.io/pv-protection");
        assert_eq!(
            volume["metadata"]["finalizers"],
            json!(["kubernetes.io/pv-protection"])
        );
    }
}
