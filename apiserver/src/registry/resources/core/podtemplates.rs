//! PodTemplates: stored pod templates, decoded, defaulted and validated through the same seam
//! as workload templates ([`pod_template`]).

use super::common::{array_at, container_cells, format_labels};
use super::pods::validation;
use crate::registry::resources::apps::pod_template;
use crate::registry::table::{self, Column, NAME};
use crate::registry::{
    Resource, ResourceInfo,
    strategy::{Decoded, Strategy},
    typed,
};
use apimachinery::FieldErrors;
use k8s_openapi::api::core::v1::PodTemplate;
use serde_json::{Value, json};

pub fn resource() -> Resource {
    Resource::new(
        ResourceInfo::new("", "v1", "podtemplates", "PodTemplate", "podtemplate", true),
        PodTemplates,
    )
}

pub struct PodTemplates;

const COLUMNS: &[Column] = &[
    NAME,
    Column::new(
        "Containers",
        "string",
        "Names of each container in the template.",
    ),
    Column::new(
        "Images",
        "string",
        "Images referenced by each container in the template.",
    ),
    Column::new("Pod Labels", "string", "The labels for the pod template."),
];

impl Strategy for PodTemplates {
    fn decode(&self, mut body: Value) -> Result<Decoded, String> {
        pod_template::normalize_quantities(&mut body, "/template")?;
        typed::round_trip::<PodTemplate>(body)
    }

    fn tracks_generation(&self) -> bool {
        true
    }

    fn default(&self, obj: &mut Value) {
        if let Some(m) = obj.as_object_mut() {
            pod_template::default_template(m.entry("template").or_insert_with(|| json!({})));
        }
    }

    fn validate(&self, obj: &Value) -> FieldErrors {
        validation::validate_pod_template_spec(
            obj.get("template").unwrap_or(&Value::Null),
            "template",
        )
    }

    fn table_columns(&self) -> &'static [Column] {
        COLUMNS
    }

    fn table_row(&self, obj: &Value) -> Vec<Value> {
        let (names, images) = container_cells(array_at(obj, "/template/spec/containers"));
        vec![
            table::name(obj),
            json!(names),
            json!(images),
            json!(format_labels(obj.pointer("/template/metadata/labels"))),
        ]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_validation_and_rows() {
        let mut t = json!({"metadata": {"name": "t"}, "template": {"metadata": {"labels": {"a": "b"}},
            "spec": {"containers": [{"name": "c", "image": "nginx"}]}}});
        PodTemplates.default(&mut t);
        assert_eq!(t["template"]["spec"]["dnsPolicy"], "ClusterFirst");
        assert!(PodTemplates.validate(&t).is_empty());
        let row = PodTemplates.table_row(&t);
        assert_eq!(row[1], "c");
        assert_eq!(row[2], "nginx");
        assert_eq!(row[3], "a=b");
        let bad = json!({"template": {"spec": {"containers": []}}});
        assert_eq!(
            PodTemplates.validate(&bad)[0].to_string(),
            "template.spec.containers: Required value"
        );
    }
}
