//! The result of running a plugin: a [`Code`] and the reasons a person reads, as upstream's
//! `framework.Status`. The code decides what happens to the pod next (see [`Code`]).

use std::fmt;

/// What a plugin's answer means for the pod.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Code {
    /// Go on.
    Success,
    /// Something broke (not the pod's fault): the pod is retried after its backoff.
    Error,
    /// The pod does not fit here now; another node, or preemption, may help. The pod waits
    /// for a cluster event one of the rejecting plugins registered for.
    Unschedulable,
    /// The pod does not fit here, and preemption on this node will not change that.
    UnschedulableAndUnresolvable,
    /// Permit: hold the pod until it is allowed or rejected.
    Wait,
    /// The plugin has nothing to do for this pod: its later extension points are skipped for
    /// this cycle (PreFilter -> Filter, PreScore -> Score), or, for Bind, another binder binds.
    Skip,
    /// The pod waits for something outside the scheduler (a PreEnqueue or Permit verdict).
    Pending,
}

/// A plugin's answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Status {
    code: Code,
    reasons: Vec<String>,
    /// The plugin that answered, once the framework has stamped it.
    plugin: Option<&'static str>,
}

impl Default for Status {
    fn default() -> Self {
        Self::success()
    }
}

impl Status {
    pub fn new(code: Code, reasons: impl IntoIterator<Item = impl Into<String>>) -> Self {
        Self {
            code,
            reasons: reasons.into_iter().map(Into::into).collect(),
            plugin: None,
        }
    }

    pub fn success() -> Self {
        Self::new(Code::Success, Vec::<String>::new())
    }

    pub fn skip() -> Self {
        Self::new(Code::Skip, Vec::<String>::new())
    }

    pub fn error(message: impl Into<String>) -> Self {
        Self::new(Code::Error, [message.into()])
    }

    pub fn unschedulable(reason: impl Into<String>) -> Self {
        Self::new(Code::Unschedulable, [reason.into()])
    }

    pub fn unresolvable(reason: impl Into<String>) -> Self {
        Self::new(Code::UnschedulableAndUnresolvable, [reason.into()])
    }

    /// Stamps the plugin that answered.
    pub fn with_plugin(mut self, plugin: &'static str) -> Self {
        self.plugin = Some(plugin);
        self
    }

    pub fn code(&self) -> Code {
        self.code
    }

    pub fn plugin(&self) -> Option<&'static str> {
        self.plugin
    }

    pub fn reasons(&self) -> &[String] {
        &self.reasons
    }

    /// The reasons joined as upstream's `Status.Message` joins them.
    pub fn message(&self) -> String {
        self.reasons.join(", ")
    }

    pub fn is_success(&self) -> bool {
        self.code == Code::Success
    }

    pub fn is_skip(&self) -> bool {
        self.code == Code::Skip
    }

    /// Whether the pod was turned down (rather than something failing): upstream's
    /// `IsRejected`.
    pub fn is_rejected(&self) -> bool {
        matches!(
            self.code,
            Code::Unschedulable | Code::UnschedulableAndUnresolvable | Code::Pending
        )
    }
}

impl fmt::Display for Status {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.plugin {
            Some(plugin) => write!(f, "{:?} from {plugin}: {}", self.code, self.message()),
            None => write!(f, "{:?}: {}", self.code, self.message()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rejections_and_messages() {
        let s = Status::new(
            Code::Unschedulable,
            ["Insufficient cpu", "Insufficient memory"],
        );
        assert!(s.is_rejected());
        assert_eq!(s.message(), "Insufficient cpu, Insufficient memory");
        assert!(!Status::error("boom").is_rejected());
        assert!(Status::success().is_success());
        assert_eq!(
            Status::unresolvable("x")
                .with_plugin("NodeName")
                .to_string(),
            "UnschedulableAndUnresolvable from NodeName: x"
        );
    }
}
