//! the kubelet. Not built yet: the kubelet issue fills this crate; until then [`run`] says so.
//! [`simulated`] already runs simulated nodes (what kwok does) for measuring the control plane.

pub mod simulated;

/// What can go wrong running the kubelet.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The component has not been implemented yet.
    #[error("the kubelet is not built yet in ferrokube; see the kubelet issue")]
    NotBuiltYet,
}

/// Runs the kubelet until it fails. Today it fails at once.
pub fn run() -> Result<(), Error> {
    Err(Error::NotBuiltYet)
}
