//! The authenticated user a request runs as.

/// Who made a request, as upstream's `user.Info`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct UserInfo {
    pub name: String,
    pub uid: String,
    pub groups: Vec<String>,
}

impl UserInfo {
    /// The user the apiserver itself acts as for bootstrap writes.
    pub fn system_apiserver() -> Self {
        Self {
            name: "system:apiserver".to_string(),
            uid: String::new(),
            groups: vec![
                "system:masters".to_string(),
                "system:authenticated".to_string(),
            ],
        }
    }
}
