//! The authenticated user a request runs as.

use std::collections::BTreeMap;

/// Who made a request, as upstream's `user.Info`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct UserInfo {
    pub name: String,
    pub uid: String,
    pub groups: Vec<String>,
    /// Further attributes an authenticator recorded (for service account tokens, the bound
    /// pod and node; for impersonation, the `Impersonate-Extra-*` headers).
    pub extra: BTreeMap<String, Vec<String>>,
}

impl UserInfo {
    /// The user the apiserver itself acts as for bootstrap writes.
    pub fn system_apiserver() -> Self {
        Self {
            name: "system:apiserver".to_string(),
            groups: vec![
                "system:masters".to_string(),
                "system:authenticated".to_string(),
            ],
            ..Default::default()
        }
    }
}
