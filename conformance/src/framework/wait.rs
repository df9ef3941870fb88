//! Waiting and retrying: upstream's `wait.PollUntilContextTimeout` and
//! `retry.RetryOnConflict(retry.DefaultRetry, ...)`.

use super::api;
use anyhow::{Result, bail};
use std::time::{Duration, Instant};

/// Calls `condition` every `interval` (first immediately) until it returns `true`, fails, or
/// `timeout` passes.
pub async fn poll(
    interval: Duration,
    timeout: Duration,
    mut condition: impl AsyncFnMut() -> Result<bool>,
) -> Result<()> {
    let deadline = Instant::now() + timeout;
    loop {
        if condition().await? {
            return Ok(());
        }
        if Instant::now() + interval > deadline {
            bail!("timed out waiting for the condition after {timeout:?}");
        }
        tokio::time::sleep(interval).await;
    }
}

/// Retries `op` while it fails with a 409 Conflict, with upstream's `retry.DefaultRetry`
/// backoff (5 tries, 10ms apart).
pub async fn retry_on_conflict<T>(mut op: impl AsyncFnMut() -> Result<T>) -> Result<T> {
    let mut tries = 0;
    loop {
        tries += 1;
        match op().await {
            Err(e) if tries < 5 && api::anyhow_is(&e, api::is_conflict) => {
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
            r => return r,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn poll_succeeds_and_times_out() {
        let mut n = 0;
        poll(
            Duration::from_millis(1),
            Duration::from_secs(1),
            async || {
                n += 1;
                Ok(n == 3)
            },
        )
        .await
        .unwrap();
        assert_eq!(n, 3);
        let err = poll(
            Duration::from_millis(5),
            Duration::from_millis(20),
            async || Ok(false),
        )
        .await
        .unwrap_err();
        assert!(err.to_string().contains("timed out"), "{err}");
    }

    #[tokio::test]
    async fn retry_gives_up_on_other_errors() {
        let mut n = 0;
        let r: Result<()> = retry_on_conflict(async || {
            n += 1;
            bail!("boom")
        })
        .await;
        assert!(r.is_err());
        assert_eq!(n, 1);
    }
}
