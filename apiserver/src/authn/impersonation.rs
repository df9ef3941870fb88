//! Impersonation: `Impersonate-User`, `-Uid`, `-Group` and `-Extra-<key>` headers make a
//! request run as someone else, once the requester is authorized to `impersonate` each of
//! them (users, service accounts, uids, groups, userextras), as upstream's filter does.

use super::service_account::{self, USER_PREFIX};
use super::user::UserInfo;
use crate::authz::Attributes;
use http::HeaderMap;
use std::collections::BTreeMap;

pub const USER: &str = "impersonate-user";
pub const UID: &str = "impersonate-uid";
pub const GROUP: &str = "impersonate-group";
pub const EXTRA_PREFIX: &str = "impersonate-extra-";

use super::{ANONYMOUS, UNAUTHENTICATED};

/// Who a request asks to act as.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    pub user: String,
    pub uid: Option<String>,
    pub groups: Vec<String>,
    pub extra: BTreeMap<String, Vec<String>>,
}

fn values<'a>(headers: &'a HeaderMap, name: &str) -> Vec<&'a str> {
    headers
        .get_all(name)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .collect()
}

/// Extra keys travel percent-encoded in header names (which are case-insensitive, so keys
/// come out lower-case).
fn unescape(key: &str) -> String {
    let bytes = key.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%'
            && let Some(b) = key
                .get(i + 1..i + 3)
                .and_then(|h| u8::from_str_radix(h, 16).ok())
        {
            out.push(b);
            i += 3;
            continue;
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// The impersonation a request asks for, if any. `Err` when it names groups, a UID or
/// extras without a user (upstream answers that with an internal error).
pub fn requested(headers: &HeaderMap) -> Result<Option<Request>, String> {
    let user = values(headers, USER).first().map(|s| s.to_string());
    let uid = values(headers, UID).first().map(|s| s.to_string());
    let groups: Vec<String> = values(headers, GROUP)
        .into_iter()
        .map(String::from)
        .collect();
    let mut extra: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for (name, value) in headers {
        if let Some(key) = name.as_str().strip_prefix(EXTRA_PREFIX)
            && let Ok(v) = value.to_str()
        {
            extra.entry(unescape(key)).or_default().push(v.to_string());
        }
    }
    let Some(user) = user.filter(|u| !u.is_empty()) else {
        if uid.is_some() || !groups.is_empty() || !extra.is_empty() {
            return Err(
                "requested impersonation of groups, a uid or extra fields without impersonating a user"
                    .into(),
            );
        }
        return Ok(None);
    };
    Ok(Some(Request {
        user,
        uid,
        groups,
        extra,
    }))
}

impl Request {
    /// The checks the requester must pass, one per impersonated attribute.
    pub fn checks(&self, requester: &UserInfo) -> Vec<Attributes> {
        let check = |group: &str, resource: &str, namespace: &str, name: &str| Attributes {
            user: requester.clone(),
            verb: "impersonate".into(),
            resource_request: true,
            namespace: namespace.into(),
            api_group: group.into(),
            resource: resource.into(),
            name: name.into(),
            ..Default::default()
        };
        let mut out = Vec::new();
        match self.service_account() {
            Some((ns, name)) => out.push(check("", "serviceaccounts", ns, name)),
            None => out.push(check("", "users", "", &self.user)),
        }
        for g in &self.groups {
            out.push(check("", "groups", "", g));
        }
        if let Some(uid) = &self.uid {
            out.push(check("authentication.k8s.io", "uids", "", uid));
        }
        for (key, vals) in &self.extra {
            for v in vals {
                let mut a = check("authentication.k8s.io", "userextras", "", v);
                a.subresource = key.clone();
                out.push(a);
            }
        }
        out
    }

    fn service_account(&self) -> Option<(&str, &str)> {
        let rest = self.user.strip_prefix(USER_PREFIX)?;
        let (ns, name) = rest.split_once(':')?;
        (!ns.is_empty() && !name.is_empty() && !name.contains(':')).then_some((ns, name))
    }

    /// The user the request then runs as. A service account impersonated without groups
    /// gets its fixed groups; everyone but the anonymous user is in `system:authenticated`.
    pub fn user(&self) -> UserInfo {
        let mut groups = self.groups.clone();
        if groups.is_empty()
            && let Some((ns, name)) = self.service_account()
        {
            groups = service_account::Claims {
                namespace: ns.into(),
                service_account: service_account::ObjectRef {
                    name: name.into(),
                    uid: String::new(),
                },
                ..Default::default()
            }
            .user()
            .groups;
        }
        let implied = if self.user == ANONYMOUS {
            UNAUTHENTICATED
        } else {
            super::AUTHENTICATED
        };
        if !groups.iter().any(|g| g == implied) {
            groups.push(implied.to_string());
        }
        UserInfo {
            name: self.user.clone(),
            uid: self.uid.clone().unwrap_or_default(),
            groups,
            extra: self.extra.clone(),
        }
    }
}

/// Removes the impersonation headers once they have been applied.
pub fn strip(headers: &mut HeaderMap) {
    let names: Vec<_> = headers
        .keys()
        .filter(|n| n.as_str().starts_with("impersonate-"))
        .cloned()
        .collect();
    for n in names {
        headers.remove(n);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.append(
                http::HeaderName::from_bytes(k.as_bytes()).unwrap(),
                v.parse().unwrap(),
            );
        }
        h
    }

    #[test]
    fn users_groups_uids_and_extras_each_need_a_check() {
        let h = headers(&[
            ("Impersonate-User", "bob"),
            ("Impersonate-Group", "devs"),
            ("Impersonate-Group", "ops"),
            ("Impersonate-Uid", "u-1"),
            ("Impersonate-Extra-Scopes%2Fx", "view"),
        ]);
        let r = requested(&h).unwrap().unwrap();
        let checks = r.checks(&UserInfo::default());
        let described: Vec<_> = checks
            .iter()
            .map(|a| {
                format!(
                    "{}/{}/{}:{}",
                    a.api_group, a.resource, a.subresource, a.name
                )
            })
            .collect();
        assert_eq!(
            described,
            [
                "/users/:bob",
                "/groups/:devs",
                "/groups/:ops",
                "authentication.k8s.io/uids/:u-1",
                "authentication.k8s.io/userextras/scopes/x:view"
            ]
        );
        let user = r.user();
        assert_eq!(user.groups, ["devs", "ops", "system:authenticated"]);
        assert_eq!(user.uid, "u-1");
        assert_eq!(user.extra["scopes/x"], ["view"]);
    }

    #[test]
    fn service_accounts_get_their_groups_and_a_namespaced_check() {
        let h = headers(&[("Impersonate-User", "system:serviceaccount:ns:robot")]);
        let r = requested(&h).unwrap().unwrap();
        let check = &r.checks(&UserInfo::default())[0];
        assert_eq!(
            (
                check.resource.as_str(),
                check.namespace.as_str(),
                check.name.as_str()
            ),
            ("serviceaccounts", "ns", "robot")
        );
        assert_eq!(
            r.user().groups,
            [
                "system:serviceaccounts",
                "system:serviceaccounts:ns",
                "system:authenticated"
            ]
        );
        let anon = requested(&headers(&[("Impersonate-User", "system:anonymous")]))
            .unwrap()
            .unwrap();
        assert_eq!(anon.user().groups, ["system:unauthenticated"]);
    }

    #[test]
    fn groups_without_a_user_are_an_error() {
        assert!(requested(&headers(&[("Impersonate-Group", "devs")])).is_err());
        assert_eq!(requested(&headers(&[])).unwrap(), None);
    }
}
