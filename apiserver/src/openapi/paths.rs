//! The paths and operations of every served resource, in OpenAPI v2 or v3 form: the verbs
//! each resource supports, their query parameters (kubectl looks for `fieldValidation` on PATCH
//! to learn that the server validates fields itself), request and response schemas, and
//! `x-kubernetes-action` / `x-kubernetes-group-version-kind`.

use crate::registry::{ResourceInfo, SubresourceInfo};
use crate::schema::Schemas;
use serde_json::{Map, Value, json};

/// Which OpenAPI version the operations are written for.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Flavor {
    V2,
    V3,
}

impl Flavor {
    pub fn reference(self, definition: &str) -> Value {
        match self {
            Flavor::V2 => json!({ "$ref": format!("#/definitions/{definition}") }),
            Flavor::V3 => json!({ "$ref": format!("#/components/schemas/{definition}") }),
        }
    }
}

/// Media types every resource answers in.
const PRODUCES: &[&str] = &[
    "application/json",
    "application/yaml",
    "application/vnd.kubernetes.protobuf",
];

/// Media types a PATCH accepts.
const PATCH_TYPES: &[&str] = &[
    "application/apply-patch+yaml",
    "application/json-patch+json",
    "application/merge-patch+json",
    "application/strategic-merge-patch+json",
];

/// Media types a PATCH of a custom resource accepts (no strategic merge patch).
const CUSTOM_PATCH_TYPES: &[&str] = &[
    "application/apply-patch+yaml",
    "application/json-patch+json",
    "application/merge-patch+json",
];

const STATUS: &str = "io.k8s.apimachinery.pkg.apis.meta.v1.Status";
const DELETE_OPTIONS: &str = "io.k8s.apimachinery.pkg.apis.meta.v1.DeleteOptions";
const PATCH: &str = "io.k8s.apimachinery.pkg.apis.meta.v1.Patch";
const WATCH_EVENT: &str = "io.k8s.apimachinery.pkg.apis.meta.v1.WatchEvent";

struct Param {
    name: &'static str,
    kind: &'static str,
    description: &'static str,
}

const fn param(name: &'static str, kind: &'static str, description: &'static str) -> Param {
    Param {
        name,
        kind,
        description,
    }
}

const DRY_RUN: Param = param(
    "dryRun",
    "string",
    "When present, indicates that modifications should not be persisted. Valid values: All.",
);
const FIELD_MANAGER: Param = param(
    "fieldManager",
    "string",
    "A name for the actor making the change, recorded in managedFields.",
);
const FIELD_VALIDATION: Param = param(
    "fieldValidation",
    "string",
    "How the server treats unknown and duplicate fields in the body: Ignore, Warn (the default) or Strict.",
);
const FORCE: Param = param(
    "force",
    "boolean",
    "Force apply requests to take ownership of conflicting fields.",
);
const LIST_PARAMS: &[Param] = &[
    param(
        "allowWatchBookmarks",
        "boolean",
        "Ask for BOOKMARK watch events.",
    ),
    param(
        "continue",
        "string",
        "The continue token of the previous page.",
    ),
    param(
        "fieldSelector",
        "string",
        "Restrict the returned objects by their fields.",
    ),
    param(
        "labelSelector",
        "string",
        "Restrict the returned objects by their labels.",
    ),
    param("limit", "integer", "The most objects one page returns."),
    param(
        "resourceVersion",
        "string",
        "Which resource version the request reads at.",
    ),
    param(
        "resourceVersionMatch",
        "string",
        "How resourceVersion applies: Exact or NotOlderThan.",
    ),
    param(
        "sendInitialEvents",
        "boolean",
        "Start a watch with the current state as ADDED events, then a bookmark.",
    ),
    param(
        "timeoutSeconds",
        "integer",
        "End a list or watch call after this many seconds.",
    ),
    param("watch", "boolean", "Watch for changes instead of listing."),
];
const DELETE_PARAMS: &[Param] = &[
    DRY_RUN,
    param(
        "gracePeriodSeconds",
        "integer",
        "The seconds before the object is deleted; zero deletes immediately.",
    ),
    param(
        "propagationPolicy",
        "string",
        "Whether and how dependents are garbage collected: Orphan, Background or Foreground.",
    ),
];

fn query(flavor: Flavor, p: &Param) -> Value {
    let mut v =
        json!({"name": p.name, "in": "query", "description": p.description, "uniqueItems": true});
    match flavor {
        Flavor::V2 => v["type"] = p.kind.into(),
        Flavor::V3 => v["schema"] = json!({"type": p.kind, "uniqueItems": true}),
    }
    v
}

fn path_param(flavor: Flavor, name: &str, description: &str) -> Value {
    let mut v = json!({"name": name, "in": "path", "required": true, "description": description, "uniqueItems": true});
    match flavor {
        Flavor::V2 => v["type"] = "string".into(),
        Flavor::V3 => v["schema"] = json!({"type": "string", "uniqueItems": true}),
    }
    v
}

/// What one operation takes and returns.
struct Op<'a> {
    id: String,
    action: &'static str,
    params: Vec<&'a Param>,
    /// The body's definition and the media types it may come in.
    body: Option<(&'a str, &'a [&'a str])>,
    /// `(status code, definition)` of the successful responses.
    responses: Vec<(u16, &'a str)>,
}

fn operation(flavor: Flavor, gvk: (&str, &str, &str), tag: &str, op: Op<'_>) -> Value {
    let mut params: Vec<Value> = op.params.iter().map(|p| query(flavor, p)).collect();
    let mut out = Map::new();
    out.insert("operationId".into(), op.id.into());
    out.insert("tags".into(), json!([tag]));
    let response = |code: u16, def: Option<&str>| {
        let mut r = json!({"description": if code == 401 { "Unauthorized" } else { "OK" }});
        if let Some(def) = def {
            match flavor {
                Flavor::V2 => r["schema"] = flavor.reference(def),
                Flavor::V3 => {
                    let content: Map<String, Value> = PRODUCES
                        .iter()
                        .map(|m| (m.to_string(), json!({"schema": flavor.reference(def)})))
                        .collect();
                    r["content"] = Value::Object(content);
                }
            }
        }
        r
    };
    let mut responses = Map::new();
    for (code, def) in &op.responses {
        responses.insert(code.to_string(), response(*code, Some(def)));
    }
    responses.insert("401".into(), response(401, None));
    match (flavor, op.body) {
        (Flavor::V2, Some((def, consumes))) => {
            params.insert(
                0,
                json!({"name": "body", "in": "body", "required": true, "schema": flavor.reference(def)}),
            );
            out.insert("consumes".into(), json!(consumes));
        }
        (Flavor::V2, None) => {
            out.insert("consumes".into(), json!(["*/*"]));
        }
        (Flavor::V3, Some((def, consumes))) => {
            let content: Map<String, Value> = consumes
                .iter()
                .map(|m| (m.to_string(), json!({"schema": flavor.reference(def)})))
                .collect();
            out.insert(
                "requestBody".into(),
                json!({"content": content, "required": true}),
            );
        }
        (Flavor::V3, None) => {}
    }
    if flavor == Flavor::V2 {
        out.insert("produces".into(), json!(PRODUCES));
        out.insert("schemes".into(), json!(["https"]));
    }
    out.insert("parameters".into(), Value::Array(params));
    out.insert("responses".into(), Value::Object(responses));
    out.insert("x-kubernetes-action".into(), op.action.into());
    out.insert(
        "x-kubernetes-group-version-kind".into(),
        json!({"group": gvk.0, "kind": gvk.2, "version": gvk.1}),
    );
    Value::Object(out)
}

/// The tag upstream files a group-version's operations under (`core_v1`, `apps_v1`).
fn tag(info: &ResourceInfo) -> String {
    let group = if info.group.is_empty() {
        "core".to_string()
    } else {
        info.group
            .trim_end_matches(".k8s.io")
            .replace('.', "")
            .to_string()
    };
    format!("{group}_{}", info.version)
}

/// Adds the paths of one resource to `paths`.
pub fn add(
    flavor: Flavor,
    schemas: &Schemas,
    info: &ResourceInfo,
    strategic: bool,
    paths: &mut Map<String, Value>,
) {
    let patch_types = if strategic {
        PATCH_TYPES
    } else {
        CUSTOM_PATCH_TYPES
    };
    let Some(def) = schemas.definition_of(info.group, info.version, info.kind) else {
        return;
    };
    let list_def = schemas
        .definition_of(info.group, info.version, &info.list_kind())
        .unwrap_or(def);
    let root = if info.group.is_empty() {
        format!("/api/{}", info.version)
    } else {
        format!("/apis/{}/{}", info.group, info.version)
    };
    let scope = if info.namespaced {
        "/namespaces/{namespace}"
    } else {
        ""
    };
    let collection = format!("{root}{scope}/{}", info.resource);
    let item = format!("{collection}/{{name}}");
    let id = format!(
        "{}{}{}",
        if info.namespaced { "Namespaced" } else { "" },
        info.kind,
        info.version
    );
    let gvk = (info.group, info.version, info.kind);
    let tag = tag(info);
    let scope_params = |extra: Option<&str>| {
        let mut v = Vec::new();
        if let Some(what) = extra {
            v.push(path_param(flavor, "name", &format!("name of the {what}")));
        }
        if info.namespaced {
            v.push(path_param(
                flavor,
                "namespace",
                "object name and auth scope, such as for teams and projects",
            ));
        }
        v.push(query(
            flavor,
            &param(
                "pretty",
                "string",
                "If 'true', then the output is pretty printed.",
            ),
        ));
        Value::Array(v)
    };
    let write = [&DRY_RUN, &FIELD_MANAGER, &FIELD_VALIDATION];

    let mut coll = Map::new();
    if info.supports("list") {
        let op = Op {
            id: format!("list{id}"),
            action: "list",
            params: LIST_PARAMS.iter().collect(),
            body: None,
            responses: vec![(200, list_def)],
        };
        coll.insert("get".into(), operation(flavor, gvk, &tag, op));
    }
    if info.supports("create") {
        let op = Op {
            id: format!("create{id}"),
            action: "post",
            params: write.to_vec(),
            body: Some((def, &["*/*"])),
            responses: vec![(200, def), (201, def), (202, def)],
        };
        coll.insert("post".into(), operation(flavor, gvk, &tag, op));
    }
    if info.supports("deletecollection") {
        let mut params: Vec<&Param> = LIST_PARAMS.iter().collect();
        params.extend(DELETE_PARAMS);
        let op = Op {
            id: format!("deletecollection{id}"),
            action: "deletecollection",
            params,
            body: Some((DELETE_OPTIONS, &["*/*"])),
            responses: vec![(200, STATUS)],
        };
        coll.insert("delete".into(), operation(flavor, gvk, &tag, op));
    }
    if !coll.is_empty() {
        coll.insert("parameters".into(), scope_params(None));
        paths.insert(collection.clone(), Value::Object(coll));
    }

    let mut one = Map::new();
    if info.supports("get") {
        let op = Op {
            id: format!("read{id}"),
            action: "get",
            params: vec![],
            body: None,
            responses: vec![(200, def)],
        };
        one.insert("get".into(), operation(flavor, gvk, &tag, op));
    }
    if info.supports("update") {
        let op = Op {
            id: format!("replace{id}"),
            action: "put",
            params: write.to_vec(),
            body: Some((def, &["*/*"])),
            responses: vec![(200, def), (201, def)],
        };
        one.insert("put".into(), operation(flavor, gvk, &tag, op));
    }
    if info.supports("patch") {
        let mut params = write.to_vec();
        params.push(&FORCE);
        let op = Op {
            id: format!("patch{id}"),
            action: "patch",
            params,
            body: Some((PATCH, patch_types)),
            responses: vec![(200, def), (201, def)],
        };
        one.insert("patch".into(), operation(flavor, gvk, &tag, op));
    }
    if info.supports("delete") {
        let op = Op {
            id: format!("delete{id}"),
            action: "delete",
            params: DELETE_PARAMS.iter().collect(),
            body: Some((DELETE_OPTIONS, &["*/*"])),
            responses: vec![(200, STATUS), (202, STATUS)],
        };
        one.insert("delete".into(), operation(flavor, gvk, &tag, op));
    }
    if !one.is_empty() {
        one.insert("parameters".into(), scope_params(Some(info.kind)));
        paths.insert(item.clone(), Value::Object(one));
    }
    if info.supports("watch") {
        let op = Op {
            id: format!("watch{id}List"),
            action: "watchlist",
            params: LIST_PARAMS.iter().collect(),
            body: None,
            responses: vec![(200, WATCH_EVENT)],
        };
        let mut w = Map::new();
        w.insert("get".into(), operation(flavor, gvk, &tag, op));
        w.insert("parameters".into(), scope_params(None));
        paths.insert(
            format!("{root}/watch{scope}/{}", info.resource),
            Value::Object(w),
        );
    }
    for sub in info.subresources {
        add_subresource(
            flavor,
            schemas,
            sub,
            &item,
            &id,
            &tag,
            patch_types,
            paths,
            &scope_params,
        );
    }
}

#[allow(clippy::too_many_arguments)] // the pieces of the parent's path, computed once by `add`
fn add_subresource(
    flavor: Flavor,
    schemas: &Schemas,
    sub: &SubresourceInfo,
    item: &str,
    id: &str,
    tag: &str,
    patch_types: &'static [&'static str],
    paths: &mut Map<String, Value>,
    scope_params: &dyn Fn(Option<&str>) -> Value,
) {
    let def = schemas
        .definition_of(sub.group, sub.version, sub.kind)
        .unwrap_or(STATUS);
    let gvk = (sub.group, sub.version, sub.kind);
    let suffix = {
        let mut c = sub.name.chars();
        c.next()
            .map(|f| f.to_uppercase().chain(c).collect::<String>())
            .unwrap_or_default()
    };
    let sid = format!("{id}{suffix}");
    let write = [&DRY_RUN, &FIELD_MANAGER, &FIELD_VALIDATION];
    let mut ops = Map::new();
    for verb in sub.verbs {
        let (method, op) = match *verb {
            "get" => (
                "get",
                Op {
                    id: format!("read{sid}"),
                    action: "get",
                    params: vec![],
                    body: None,
                    responses: vec![(200, def)],
                },
            ),
            "update" => (
                "put",
                Op {
                    id: format!("replace{sid}"),
                    action: "put",
                    params: write.to_vec(),
                    body: Some((def, &["*/*"])),
                    responses: vec![(200, def), (201, def)],
                },
            ),
            "patch" => {
                let mut params = write.to_vec();
                params.push(&FORCE);
                (
                    "patch",
                    Op {
                        id: format!("patch{sid}"),
                        action: "patch",
                        params,
                        body: Some((PATCH, patch_types)),
                        responses: vec![(200, def), (201, def)],
                    },
                )
            }
            "create" => (
                "post",
                Op {
                    id: format!("create{sid}"),
                    action: "post",
                    params: write.to_vec(),
                    body: Some((def, &["*/*"])),
                    responses: vec![(200, def), (201, def), (202, def)],
                },
            ),
            _ => continue,
        };
        ops.insert(method.into(), operation(flavor, gvk, tag, op));
    }
    if !ops.is_empty() {
        ops.insert("parameters".into(), scope_params(Some(sub.kind)));
        paths.insert(format!("{item}/{}", sub.name), Value::Object(ops));
    }
}
