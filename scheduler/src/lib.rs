//! kube-scheduler. Not built yet: the scheduler issue fills this crate; until then [`run`] says so.

/// What can go wrong running kube-scheduler.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The component has not been implemented yet.
    #[error("kube-scheduler is not built yet in ferrokube; see the scheduler issue")]
    NotBuiltYet,
}

/// Runs kube-scheduler until it fails. Today it fails at once.
pub fn run() -> Result<(), Error> {
    Err(Error::NotBuiltYet)
}
