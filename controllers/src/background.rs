//! Background tasks that stop with whoever started them. A controller whose future is dropped
//! (the manager lost its lease) must not leave watches and timers running behind it; tokio
//! detaches a task whose handle is dropped, so the handle is wrapped.

use std::future::Future;

/// A spawned task, aborted when this value is dropped.
#[derive(Debug)]
pub struct Background(tokio::task::JoinHandle<()>);

impl Background {
    pub fn spawn(task: impl Future<Output = ()> + Send + 'static) -> Self {
        Self(tokio::spawn(task))
    }
}

impl Drop for Background {
    fn drop(&mut self) {
        self.0.abort();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;
    use std::sync::atomic::{AtomicBool, Ordering};

    #[tokio::test]
    async fn dropping_the_handle_stops_the_task() {
        let ran_to_end = Arc::new(AtomicBool::new(false));
        let flag = ran_to_end.clone();
        let task = Background::spawn(async move {
            tokio::time::sleep(std::time::Duration::from_millis(200)).await;
            flag.store(true, Ordering::SeqCst);
        });
        drop(task);
        tokio::time::sleep(std::time::Duration::from_millis(400)).await;
        assert!(!ran_to_end.load(Ordering::SeqCst));
    }
}
