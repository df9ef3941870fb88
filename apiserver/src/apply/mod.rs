//! Server-side apply (`application/apply-patch+yaml`): the applied configuration is merged
//! into the live object by the schema, its manager comes to own exactly the fields it applied
//! (one `Apply` entry in `metadata.managedFields`), fields it applied before and no longer does
//! are removed unless another manager owns them, and changing a field another manager owns
//! is a conflict (409) unless `force` takes the field over.

pub mod fieldset;
pub mod typed;

pub use typed::undeclared;

use crate::schema::walk::Node;
use fieldset::{Set, display};
use serde_json::{Map, Value, json};

/// Metadata the system sets; never part of what a manager owns (`generateName` is the
/// client's, as upstream counts it).
pub(crate) const SYSTEM_METADATA: &[&str] = &[
    "name",
    "namespace",
    "uid",
    "resourceVersion",
    "generation",
    "creationTimestamp",
    "deletionTimestamp",
    "deletionGracePeriodSeconds",
    "managedFields",
    "selfLink",
];

/// The annotation kubectl's client-side apply keeps its last configuration in.
const LAST_APPLIED: &str = "kubectl.kubernetes.io/last-applied-configuration";

/// The manager name whose applies upgrade client-side-applied objects.
const KUBECTL: &str = "kubectl";

fn last_applied(live: Option<&Value>) -> Option<Value> {
    let text = live?
        .pointer("/metadata/annotations")?
        .get(LAST_APPLIED)?
        .as_str()?;
    serde_json::from_str(text).ok()
}

/// The fields of the last-applied configuration whose values the live object still has.
fn last_applied_fields(
    live: Option<&Value>,
    status: bool,
    schema: Option<Node<'_>>,
) -> Option<Set> {
    let last = owned_part(&last_applied(live)?, status);
    let diverged = typed::changes(&last, &owned_part(live?, status), schema);
    Some(
        typed::field_set(&last, schema)
            .difference(&diverged.changed)
            .difference(&diverged.removed),
    )
}

/// An apply that would change fields other managers own.
#[derive(Debug)]
pub struct Conflicts {
    pub message: String,
    /// `(field path, "conflict with ...")` per conflicting field.
    pub causes: Vec<(String, String)>,
}

/// One apply request.
pub struct Request<'a> {
    pub manager: &'a str,
    pub api_version: &'a str,
    pub force: bool,
    /// `Some("status")` when applying to the status subresource.
    pub subresource: Option<&'a str>,
    pub now: &'a str,
    pub schema: Option<Node<'a>>,
}

/// The part of an object managers own: no apiVersion/kind, no system metadata, and only the
/// status (for the status subresource) or everything but the status (for the main resource).
pub(crate) fn owned_part(obj: &Value, status: bool) -> Value {
    let Value::Object(m) = obj else {
        return json!({});
    };
    let mut out = Map::new();
    for (k, v) in m {
        match k.as_str() {
            "apiVersion" | "kind" => {}
            "status" if !status => {}
            k if status && k != "status" => {}
            "metadata" => {
                let mut meta = v.as_object().cloned().unwrap_or_default();
                meta.retain(|k, _| !SYSTEM_METADATA.contains(&k.as_str()));
                if !meta.is_empty() {
                    out.insert(k.into(), Value::Object(meta));
                }
            }
            _ => {
                out.insert(k.clone(), v.clone());
            }
        }
    }
    Value::Object(out)
}

fn entries_of(obj: Option<&Value>) -> Vec<Value> {
    obj.and_then(|o| o.pointer("/metadata/managedFields"))
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default()
}

fn field(e: &Value, k: &str) -> Option<String> {
    e.get(k).and_then(Value::as_str).map(str::to_string)
}

/// How upstream names a manager in conflict messages.
fn describe(e: &Value) -> String {
    let mut s = format!("{:?}", field(e, "manager").unwrap_or_default());
    if let Some(sub) = field(e, "subresource") {
        s.push_str(&format!(" with subresource {sub:?}"));
    }
    if field(e, "operation").as_deref() == Some("Update") {
        s.push_str(&format!(
            " using {}",
            field(e, "apiVersion").unwrap_or_default()
        ));
    }
    s
}

/// Applies `config` to `live` (absent when the apply creates the object) and returns the
/// new object with its managedFields.
pub fn apply(live: Option<&Value>, config: &Value, req: &Request<'_>) -> Result<Value, Conflicts> {
    let status = req.subresource == Some("status");
    let mut base = live.cloned().unwrap_or_else(|| json!({}));
    let mut entries = entries_of(live);
    if let Some(meta) = base.get_mut("metadata").and_then(Value::as_object_mut) {
        meta.remove("managedFields");
    }
    let applied_part = owned_part(config, status);
    // The whole configuration merges (its name and namespace too); only the owned part
    // counts for ownership.
    let mut merged = typed::merge(&base, config, req.schema);
    let changes = typed::changes(
        &owned_part(&base, status),
        &owned_part(&merged, status),
        req.schema,
    );

    let is_mine = |e: &Value| {
        field(e, "manager").as_deref() == Some(req.manager)
            && field(e, "operation").as_deref() == Some("Apply")
            && field(e, "subresource").as_deref() == req.subresource
    };
    let set_of = |e: &Value| Set::from_fields_v1(e.get("fieldsV1").unwrap_or(&Value::Null));

    if !req.force {
        // kubectl's first server-side apply of an object it applied client-side may take
        // over the fields its last-applied configuration still describes, as upstream allows.
        let upgradable = if req.manager == KUBECTL {
            last_applied_fields(live, status, req.schema)
        } else {
            None
        };
        let mut causes = Vec::new();
        let mut by_manager: Vec<(String, Vec<String>)> = Vec::new();
        for e in entries.iter().filter(|e| !is_mine(e)) {
            let mut clash = set_of(e).intersection(&changes.changed);
            if let Some(allowed) = &upgradable {
                clash = clash.difference(allowed);
            }
            if clash.is_empty() {
                continue;
            }
            let who = describe(e);
            let fields: Vec<String> = clash.paths().iter().map(|p| display(p)).collect();
            for f in &fields {
                causes.push((f.clone(), format!("conflict with {who}")));
            }
            by_manager.push((who, fields));
        }
        if !causes.is_empty() {
            return Err(Conflicts {
                message: conflict_message(&mut by_manager, causes.len()),
                causes,
            });
        }
    }

    // Whatever this apply changed now belongs to it alone.
    let mut others = Set::default();
    for e in entries.iter_mut().filter(|e| !is_mine(e)) {
        let remaining = set_of(e).difference(&changes.changed);
        others.union(&remaining);
        e["fieldsV1"] = remaining.to_fields_v1();
    }
    let applied = typed::field_set(&applied_part, req.schema);
    let previous = entries
        .iter()
        .find(|e| is_mine(e))
        .map(set_of)
        .unwrap_or_default();
    // Fields this manager applied before, and no longer does, go when nobody else owns them.
    let dropped = previous.difference(&applied).difference(&others);
    typed::remove(&mut merged, &dropped);

    // An apply that changes nothing keeps its entry's time, so the object is left unchanged
    // (no new resourceVersion), as upstream leaves it.
    let previous_entry = entries.iter().find(|e| is_mine(e));
    let time = match previous_entry {
        Some(e) if previous == applied && merged == base && changes.changed.is_empty() => {
            e.get("time").cloned().unwrap_or_else(|| req.now.into())
        }
        _ => req.now.into(),
    };
    let mut entry = json!({
        "manager": req.manager,
        "operation": "Apply",
        "apiVersion": req.api_version,
        "time": time,
        "fieldsType": "FieldsV1",
        "fieldsV1": applied.to_fields_v1(),
    });
    if let Some(s) = req.subresource {
        entry["subresource"] = s.into();
    }
    match entries.iter().position(is_mine) {
        Some(i) => entries[i] = entry,
        None => entries.push(entry),
    }
    entries.retain(|e| {
        e.get("fieldsV1")
            .and_then(Value::as_object)
            .is_some_and(|m| !m.is_empty())
    });
    if req.manager == KUBECTL && last_applied(live).is_some() {
        // Keep the annotation in step, so a later client-side apply still merges correctly.
        let mut applied_config = config.clone();
        if let Some(a) = applied_config
            .pointer_mut("/metadata/annotations")
            .and_then(Value::as_object_mut)
        {
            a.remove(LAST_APPLIED);
        }
        merged["metadata"]["annotations"][LAST_APPLIED] = applied_config.to_string().into();
    }
    if let Some(meta) = merged.get_mut("metadata").and_then(Value::as_object_mut) {
        meta.insert("managedFields".into(), Value::Array(entries));
    } else {
        merged["metadata"] = json!({ "managedFields": entries });
    }
    Ok(merged)
}

/// Upstream's message: one conflict on one line; several listed per manager.
fn conflict_message(by_manager: &mut [(String, Vec<String>)], count: usize) -> String {
    if count == 1
        && let Some((who, fields)) = by_manager.first()
        && let Some(f) = fields.first()
    {
        return format!("Apply failed with 1 conflict: conflict with {who}: {f}");
    }
    by_manager.sort_by(|a, b| a.0.cmp(&b.0));
    let mut lines = Vec::new();
    for (who, fields) in by_manager.iter() {
        lines.push(format!("conflicts with {who}:"));
        lines.extend(fields.iter().map(|f| format!("- {f}")));
    }
    format!("Apply failed with {count} conflicts: {}", lines.join("\n"))
}

#[cfg(test)]
mod tests;
