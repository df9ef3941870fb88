//! The log backend (`--audit-log-path`): one JSON event per line, to a rotated file or to
//! standard output (`-`), written by one thread that owns the file.
//!
//! Modes (`--audit-log-mode`), as upstream's:
//! - `blocking` (default): a request waits until its event is written; a failed write is
//!   logged and the request goes on.
//! - `blocking-strict`: as `blocking`, but a request whose `RequestReceived` event cannot be
//!   written fails (500).
//! - `batch`: events are queued (at most `--audit-log-batch-buffer-size`) and written in the
//!   background; when the queue is full, events are dropped with a warning rather than slowing
//!   requests.
//!
//! Events queued together are written back to back and flushed once.

use super::event::Event;
use super::rotate::{Limits, Rotating};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc;
use tokio::sync::oneshot;

/// `--audit-log-mode`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    Blocking,
    BlockingStrict,
    Batch,
}

impl Mode {
    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "blocking" => Mode::Blocking,
            "blocking-strict" => Mode::BlockingStrict,
            "batch" => Mode::Batch,
            _ => return None,
        })
    }
}

/// Where events go. Implementations never block the caller's thread.
pub trait Sink: Send + Sync {
    /// Hands `event` over; the delivery resolves once the event is stored (blocking modes) or
    /// queued (batch).
    fn process(&self, event: &Event) -> Delivery;
}

/// How a handed-over event fares.
pub enum Delivery {
    /// Already settled: stored or queued (`true`), or lost (`false`).
    Done(bool),
    /// Settles when the writer has written it.
    Pending(oneshot::Receiver<bool>),
}

impl Delivery {
    /// Whether the event was stored (or queued).
    pub async fn outcome(self) -> bool {
        match self {
            Delivery::Done(ok) => ok,
            Delivery::Pending(rx) => rx.await.unwrap_or(false),
        }
    }
}

/// Why the log backend could not start.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("opening {path}: {source}")]
    Open {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("starting the audit log writer: {0}")]
    Thread(#[source] std::io::Error),
}

struct Entry {
    line: Vec<u8>,
    done: Option<oneshot::Sender<bool>>,
}

enum Queue {
    /// Unbounded: each request waits for its own event, so the queue never holds more than
    /// the requests in flight.
    Blocking(mpsc::Sender<Entry>),
    Batch(mpsc::SyncSender<Entry>),
}

/// The JSON-lines log backend.
pub struct Log {
    queue: Queue,
    mode: Mode,
    dropped: AtomicU64,
}

/// What the writer thread writes to.
enum Output {
    File(Rotating, PathBuf),
    Stdout,
}

impl Output {
    fn write(&mut self, line: &[u8]) -> std::io::Result<()> {
        match self {
            Output::File(f, _) => f.write(line),
            Output::Stdout => std::io::stdout().lock().write_all(line),
        }
    }

    fn flush(&mut self) -> std::io::Result<()> {
        match self {
            // Lines go to the file unbuffered, as upstream's.
            Output::File(..) => Ok(()),
            Output::Stdout => std::io::stdout().lock().flush(),
        }
    }

    fn describe(&self) -> String {
        match self {
            Output::File(_, p) => p.display().to_string(),
            Output::Stdout => "standard output".into(),
        }
    }
}

/// Most events written between two flushes.
const MAX_BATCH: usize = 512;

impl Log {
    /// Starts the writer for `path` (`-`: standard output).
    pub fn start(path: &Path, limits: Limits, mode: Mode, buffer: usize) -> Result<Self, Error> {
        let output = if path == Path::new("-") {
            Output::Stdout
        } else {
            let file = Rotating::open(path, limits).map_err(|source| Error::Open {
                path: path.display().to_string(),
                source,
            })?;
            Output::File(file, path.to_path_buf())
        };
        let (queue, rx) = match mode {
            Mode::Batch => {
                let (tx, rx) = mpsc::sync_channel(buffer.max(1));
                (Queue::Batch(tx), rx)
            }
            Mode::Blocking | Mode::BlockingStrict => {
                let (tx, rx) = mpsc::channel();
                (Queue::Blocking(tx), rx)
            }
        };
        // A thread, not a task: file writes block, and the runtime's workers serve requests.
        std::thread::Builder::new()
            .name("audit-log".into())
            .spawn(move || write_loop(rx, output))
            .map_err(Error::Thread)?;
        Ok(Self {
            queue,
            mode,
            dropped: AtomicU64::new(0),
        })
    }

    pub fn mode(&self) -> Mode {
        self.mode
    }
}

impl Sink for Log {
    fn process(&self, event: &Event) -> Delivery {
        let line = event.to_line();
        match &self.queue {
            Queue::Blocking(tx) => {
                let (done, rx) = oneshot::channel();
                match tx.send(Entry {
                    line,
                    done: Some(done),
                }) {
                    Ok(()) => Delivery::Pending(rx),
                    Err(_) => Delivery::Done(false),
                }
            }
            Queue::Batch(tx) => match tx.try_send(Entry { line, done: None }) {
                Ok(()) => Delivery::Done(true),
                Err(mpsc::TrySendError::Full(_)) => {
                    let n = self.dropped.fetch_add(1, Ordering::Relaxed);
                    // Warn on the first drop and then every thousandth, not on each.
                    if n.is_multiple_of(1000) {
                        tracing::warn!(
                            dropped = n + 1,
                            "The audit log buffer is full; audit events are being dropped."
                        );
                    }
                    Delivery::Done(false)
                }
                Err(mpsc::TrySendError::Disconnected(_)) => Delivery::Done(false),
            },
        }
    }
}

/// Writes events until every sender is gone (the server stopped).
fn write_loop(rx: mpsc::Receiver<Entry>, mut out: Output) {
    let mut failures: u64 = 0;
    while let Ok(first) = rx.recv() {
        let mut batch = vec![first];
        while batch.len() < MAX_BATCH {
            match rx.try_recv() {
                Ok(e) => batch.push(e),
                Err(_) => break,
            }
        }
        let mut results = Vec::with_capacity(batch.len());
        for e in &batch {
            let r = out.write(&e.line);
            if let Err(err) = &r {
                failures += 1;
                tracing::error!(
                    output = %out.describe(),
                    error = %err,
                    failures,
                    "Writing an audit event failed; the event is lost."
                );
            }
            results.push(r.is_ok());
        }
        if let Err(err) = out.flush() {
            tracing::error!(output = %out.describe(), error = %err, "Flushing the audit log failed.");
        }
        for (e, ok) in batch.into_iter().zip(results) {
            if let Some(done) = e.done {
                let _ = done.send(ok);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::audit::event::Level;

    fn event(id: &str) -> Event {
        Event::new(Level::Metadata, id.into())
    }

    fn lines(path: &Path) -> Vec<serde_json::Value> {
        std::fs::read_to_string(path)
            .unwrap_or_default()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect()
    }

    #[tokio::test]
    async fn blocking_mode_has_written_the_event_when_it_settles() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("audit.log");
        let log = Log::start(&path, Limits::from_flags(0, 0, 0), Mode::Blocking, 10).unwrap();
        for i in 0..3 {
            assert!(log.process(&event(&format!("e{i}"))).outcome().await);
            assert_eq!(lines(&path).len(), i + 1);
        }
        assert_eq!(lines(&path)[2]["auditID"], "e2");
    }

    #[tokio::test]
    async fn batch_mode_writes_in_the_background_and_drops_when_full() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("audit.log");
        let log = Log::start(&path, Limits::from_flags(0, 0, 0), Mode::Batch, 10_000).unwrap();
        for i in 0..100 {
            assert!(log.process(&event(&format!("e{i}"))).outcome().await);
        }
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        while lines(&path).len() < 100 {
            assert!(std::time::Instant::now() < deadline, "events not written");
            tokio::time::sleep(std::time::Duration::from_millis(5)).await;
        }
        let ids: Vec<String> = lines(&path)
            .iter()
            .map(|v| v["auditID"].as_str().unwrap().to_string())
            .collect();
        let want: Vec<String> = (0..100).map(|i| format!("e{i}")).collect();
        assert_eq!(ids, want, "written in order");

        // A queue of one that the writer cannot drain fast enough drops, never blocks.
        let path = dir.path().join("small.log");
        let log = Log::start(&path, Limits::from_flags(0, 0, 0), Mode::Batch, 1).unwrap();
        let mut kept = 0;
        for i in 0..2000 {
            if log.process(&event(&format!("e{i}"))).outcome().await {
                kept += 1;
            }
        }
        assert!(kept >= 1);
    }

    #[tokio::test]
    async fn a_failed_write_settles_as_lost() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("audit.log");
        let limits = Limits {
            max_bytes: 10,
            ..Limits::from_flags(0, 0, 0)
        };
        let log = Log::start(&path, limits, Mode::BlockingStrict, 10).unwrap();
        assert_eq!(log.mode(), Mode::BlockingStrict);
        assert!(
            !log.process(&event("too-long-for-ten-bytes"))
                .outcome()
                .await
        );
    }

    #[test]
    fn modes() {
        assert_eq!(Mode::parse("batch"), Some(Mode::Batch));
        assert_eq!(Mode::parse("blocking"), Some(Mode::Blocking));
        assert_eq!(Mode::parse("blocking-strict"), Some(Mode::BlockingStrict));
        assert_eq!(Mode::parse("async"), None);
    }

    #[test]
    fn an_unwritable_path_is_refused_at_start() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("file");
        std::fs::write(&file, b"").unwrap();
        let err = Log::start(
            &file.join("audit.log"),
            Limits::from_flags(0, 0, 0),
            Mode::Blocking,
            1,
        )
        .err()
        .unwrap();
        assert!(err.to_string().starts_with("opening "), "{err}");
    }
}
