//! What a resource request is about, from its method, path and query: upstream's `RequestInfo`.

use http::Method;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verb {
    Get,
    List,
    Watch,
    Create,
    Update,
    Patch,
    Delete,
    DeleteCollection,
}

impl Verb {
    pub fn as_str(self) -> &'static str {
        match self {
            Verb::Get => "get",
            Verb::List => "list",
            Verb::Watch => "watch",
            Verb::Create => "create",
            Verb::Update => "update",
            Verb::Patch => "patch",
            Verb::Delete => "delete",
            Verb::DeleteCollection => "deletecollection",
        }
    }
}

/// A parsed resource request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestInfo {
    pub verb: Verb,
    pub group: String,
    pub version: String,
    pub namespace: String,
    pub resource: String,
    pub name: String,
    pub subresource: String,
}

/// Subresources of a namespace that are addressed as `namespaces/<name>/<sub>`.
const NAMESPACE_SUBRESOURCES: &[&str] = &["status", "finalize"];

/// Parses `/api/v1/...` and `/apis/<group>/<version>/...`; `None` when the path is not a
/// resource path (discovery and the like).
pub fn parse(method: &Method, path: &str, watch_param: bool) -> Option<RequestInfo> {
    let parts: Vec<&str> = path.trim_matches('/').split('/').collect();
    let (group, version, mut rest) = match parts.as_slice() {
        ["api", version, rest @ ..] if !rest.is_empty() => ("", *version, rest),
        ["apis", group, version, rest @ ..] if !rest.is_empty() => (*group, *version, rest),
        _ => return None,
    };
    let mut legacy_watch = false;
    if rest.first() == Some(&"watch") {
        legacy_watch = true;
        rest = &rest[1..];
    }
    let mut namespace = "";
    if rest.first() == Some(&"namespaces") && rest.len() > 1 {
        namespace = rest[1];
        if rest.len() > 2 && !NAMESPACE_SUBRESOURCES.contains(&rest[2]) {
            rest = &rest[2..];
        } else {
            // The namespace object itself.
            let sub = rest.get(2).copied().unwrap_or_default();
            return Some(RequestInfo {
                verb: verb(method, true, legacy_watch || watch_param),
                group: group.to_string(),
                version: version.to_string(),
                namespace: String::new(),
                resource: "namespaces".to_string(),
                name: rest[1].to_string(),
                subresource: sub.to_string(),
            })
            .filter(|_| rest.len() <= 3);
        }
    }
    let (resource, name, subresource) = match rest {
        [resource] => (*resource, "", ""),
        [resource, name] => (*resource, *name, ""),
        [resource, name, sub] => (*resource, *name, *sub),
        // Proxy paths carry more segments; the subresource is the third.
        [resource, name, sub, ..] => (*resource, *name, *sub),
        [] => return None,
    };
    Some(RequestInfo {
        verb: verb(method, !name.is_empty(), legacy_watch || watch_param),
        group: group.to_string(),
        version: version.to_string(),
        namespace: namespace.to_string(),
        resource: resource.to_string(),
        name: name.to_string(),
        subresource: subresource.to_string(),
    })
}

fn verb(method: &Method, named: bool, watch: bool) -> Verb {
    match *method {
        Method::POST => Verb::Create,
        Method::PUT => Verb::Update,
        Method::PATCH => Verb::Patch,
        Method::DELETE if named => Verb::Delete,
        Method::DELETE => Verb::DeleteCollection,
        _ if watch => Verb::Watch,
        _ if named => Verb::Get,
        _ => Verb::List,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_resource_paths() {
        let i = parse(&Method::GET, "/api/v1/namespaces/ns/configmaps/x", false).unwrap();
        assert_eq!(
            (
                i.verb,
                i.namespace.as_str(),
                i.resource.as_str(),
                i.name.as_str()
            ),
            (Verb::Get, "ns", "configmaps", "x")
        );
        let i = parse(&Method::GET, "/apis/apps/v1/deployments", true).unwrap();
        assert_eq!(
            (i.verb, i.group.as_str(), i.resource.as_str()),
            (Verb::Watch, "apps", "deployments")
        );
        let i = parse(&Method::GET, "/api/v1/namespaces/kube-system", false).unwrap();
        assert_eq!(
            (i.resource.as_str(), i.name.as_str(), i.namespace.as_str()),
            ("namespaces", "kube-system", "")
        );
        let i = parse(&Method::PUT, "/api/v1/namespaces/x/finalize", false).unwrap();
        assert_eq!(
            (i.resource.as_str(), i.subresource.as_str()),
            ("namespaces", "finalize")
        );
        let i = parse(&Method::GET, "/api/v1/watch/namespaces/ns/pods", false).unwrap();
        assert_eq!((i.verb, i.namespace.as_str()), (Verb::Watch, "ns"));
        let i = parse(&Method::DELETE, "/api/v1/namespaces/ns/pods", false).unwrap();
        assert_eq!(i.verb, Verb::DeleteCollection);
        let i = parse(
            &Method::PUT,
            "/apis/apps/v1/namespaces/ns/deployments/d/scale",
            false,
        )
        .unwrap();
        assert_eq!((i.verb, i.subresource.as_str()), (Verb::Update, "scale"));
        assert!(parse(&Method::GET, "/api/v1", false).is_none());
        assert!(parse(&Method::GET, "/apis/apps", false).is_none());
    }
}
