//! VolumeAttachments: a request to attach a volume to a node, written by the attach/detach
//! controller; the CSI attacher reports progress through `status`. The spec never changes.

use crate::registry::resources::shared::{has, s};
use crate::registry::table::{self, AGE, Column, NAME};
use crate::registry::{
    Resource, ResourceInfo, SubresourceInfo,
    strategy::{Decoded, Strategy},
    typed,
};
use apimachinery::validation::{is_dns1123_subdomain, is_qualified_name};
use apimachinery::{FieldError, FieldErrors};
use k8s_openapi::api::storage::v1::VolumeAttachment;
use serde_json::{Value, json};

const SUBRESOURCES: &[SubresourceInfo] = &[SubresourceInfo::status(
    super::GROUP,
    "v1",
    "VolumeAttachment",
)];
const EXACTLY_ONE: &str = "must specify exactly one of inlineVolumeSpec and persistentVolumeName";

pub fn resource() -> Resource {
    Resource::new(
        ResourceInfo::new(
            super::GROUP,
            "v1",
            "volumeattachments",
            "VolumeAttachment",
            "volumeattachment",
            false,
        )
        .subresources(SUBRESOURCES),
        VolumeAttachments,
    )
}

pub struct VolumeAttachments;

const COLUMNS: &[Column] = &[
    NAME,
    Column::new(
        "Attacher",
        "string",
        "attacher indicates the name of the volume driver that MUST handle this request. This is the name returned by GetPluginName().",
    )
    .format("name"),
    Column::new(
        "PV",
        "string",
        "persistentVolumeName represents the name of the persistent volume to attach.",
    ),
    Column::new(
        "Node",
        "string",
        "nodeName represents the node that the volume should be attached to.",
    ),
    Column::new(
        "Attached",
        "boolean",
        "attached indicates the volume is successfully attached. This field must only be set by the entity completing the attach operation, i.e. the external-attacher.",
    ),
    AGE,
];

impl Strategy for VolumeAttachments {
    fn decode(&self, body: Value) -> Result<Decoded, String> {
        typed::round_trip::<VolumeAttachment>(body)
    }

    fn validate(&self, obj: &Value) -> FieldErrors {
        let mut errs = Vec::new();
        let attacher = s(obj, "/spec/attacher");
        if attacher.is_empty() {
            errs.push(FieldError::required("spec.attacher", ""));
        } else {
            for msg in is_qualified_name(&attacher.to_lowercase()) {
                errs.push(FieldError::invalid("spec.attacher", attacher, msg));
            }
        }
        let node = s(obj, "/spec/nodeName");
        if node.is_empty() {
            errs.push(FieldError::required("spec.nodeName", ""));
        } else {
            for msg in is_dns1123_subdomain(node) {
                errs.push(FieldError::invalid("spec.nodeName", node, msg));
            }
        }
        let inline = has(obj, "/spec/source/inlineVolumeSpec");
        let pv = obj
            .pointer("/spec/source/persistentVolumeName")
            .and_then(Value::as_str);
        match (inline, pv) {
            (false, None) => errs.push(FieldError::required("spec.source", EXACTLY_ONE)),
            (true, Some(_)) => errs.push(FieldError::forbidden("spec.source", EXACTLY_ONE)),
            (false, Some("")) => errs.push(FieldError::required(
                "spec.source.persistentVolumeName",
                "must specify non empty persistentVolumeName",
            )),
            _ => {}
        }
        errs
    }

    fn validate_update(&self, new: &Value, old: &Value) -> FieldErrors {
        let mut errs = self.validate(new);
        if new.get("spec") != old.get("spec") {
            errs.push(FieldError::invalid(
                "spec",
                new.get("spec").cloned().unwrap_or(Value::Null),
                "field is immutable",
            ));
        }
        errs
    }

    fn table_columns(&self) -> &'static [Column] {
        COLUMNS
    }

    fn table_row(&self, obj: &Value) -> Vec<Value> {
        vec![
            table::name(obj),
            json!(s(obj, "/spec/attacher")),
            json!(s(obj, "/spec/source/persistentVolumeName")),
            json!(s(obj, "/spec/nodeName")),
            json!(
                obj.pointer("/status/attached")
                    .and_then(Value::as_bool)
                    .unwrap_or(false)
            ),
            table::age(obj),
        ]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn source_needs_exactly_one() {
        let va = json!({"spec": {"attacher": "csi.example.com", "nodeName": "n1", "source": {}}});
        let errs = VolumeAttachments.validate(&va);
        assert_eq!(
            errs[0].to_string(),
            "spec.source: Required value: must specify exactly one of inlineVolumeSpec and persistentVolumeName"
        );
        let ok = json!({"metadata": {"name": "va"}, "spec": {"attacher": "csi.example.com", "nodeName": "n1", "source": {"persistentVolumeName": "pv1"}}, "status": {"attached": true}});
        assert!(VolumeAttachments.validate(&ok).is_empty());
        let row = VolumeAttachments.table_row(&ok);
        assert_eq!(row[2], "pv1");
        assert_eq!(row[4], true);
    }
}
