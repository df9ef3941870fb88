//! Watch helpers mirroring upstream's: `waitForEvent`/`expectEvent`/`expectNoEvent` from the
//! watch tests, `watchtools.Until`, and `watchtools.NewRetryWatcher` (a watch that reopens
//! itself from the last resource version it saw when the server closes it).

use super::compare;
use anyhow::{Context, Result, anyhow, bail};
use futures::stream::BoxStream;
use futures::{StreamExt, TryStreamExt};
use kube::Api;
use kube::api::WatchParams;
use kube::core::WatchEvent;
use serde::Serialize;
use serde::de::DeserializeOwned;
use std::fmt::Debug;
use std::time::{Duration, Instant};

/// How long upstream's `expectEvent` waits for a matching notification.
pub const EXPECT_EVENT_TIMEOUT: Duration = Duration::from_secs(60);
/// How long upstream's `expectNoEvent` watches for an unwanted notification.
pub const EXPECT_NO_EVENT_TIMEOUT: Duration = Duration::from_secs(10);

/// The type of a watch notification.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventType {
    Added,
    Modified,
    Deleted,
    Bookmark,
    Error,
}

/// One watch notification.
#[derive(Debug, Clone)]
pub struct Event<K> {
    pub kind: EventType,
    /// The object, for ADDED, MODIFIED and DELETED.
    pub object: Option<K>,
    /// The resource version the notification carries (object or bookmark).
    pub resource_version: Option<String>,
    /// The status, for ERROR.
    pub status: Option<kube::core::Status>,
}

impl<K: kube::Resource> Event<K> {
    fn from_watch_event(e: WatchEvent<K>) -> Self {
        let with = |kind, o: K| Event {
            kind,
            resource_version: o.meta().resource_version.clone(),
            object: Some(o),
            status: None,
        };
        match e {
            WatchEvent::Added(o) => with(EventType::Added, o),
            WatchEvent::Modified(o) => with(EventType::Modified, o),
            WatchEvent::Deleted(o) => with(EventType::Deleted, o),
            WatchEvent::Bookmark(b) => Event {
                kind: EventType::Bookmark,
                object: None,
                resource_version: Some(b.metadata.resource_version),
                status: None,
            },
            WatchEvent::Error(s) => Event {
                kind: EventType::Error,
                object: None,
                resource_version: None,
                status: Some(*s),
            },
        }
    }
}

/// An open watch.
pub struct Watch<K: Clone + DeserializeOwned + Debug + 'static> {
    api: Api<K>,
    params: WatchParams,
    stream: BoxStream<'static, kube::Result<WatchEvent<K>>>,
    /// Reopen from the last seen resource version when the server ends the watch.
    retry: bool,
    last_rv: String,
}

fn plain_params(label_selector: Option<&str>, field_selector: Option<&str>) -> WatchParams {
    WatchParams {
        label_selector: label_selector.map(str::to_string),
        field_selector: field_selector.map(str::to_string),
        // client-go does not ask for bookmarks unless told to; neither do upstream's tests.
        bookmarks: false,
        ..WatchParams::default()
    }
}

impl<K> Watch<K>
where
    K: kube::Resource + Clone + DeserializeOwned + Debug + Send + 'static,
{
    /// Opens a watch from `resource_version` (`""` for "now, with the current state first").
    pub async fn start(
        api: &Api<K>,
        resource_version: &str,
        label_selector: Option<&str>,
        field_selector: Option<&str>,
    ) -> Result<Self> {
        let params = plain_params(label_selector, field_selector);
        let stream = open(api, &params, resource_version).await?;
        Ok(Watch {
            api: api.clone(),
            params,
            stream,
            retry: false,
            last_rv: resource_version.to_string(),
        })
    }

    /// Opens a watch with explicit parameters (server-side timeout, bookmarks, ...).
    pub async fn start_with(
        api: &Api<K>,
        resource_version: &str,
        params: WatchParams,
    ) -> Result<Self> {
        let stream = open(api, &params, resource_version).await?;
        Ok(Watch {
            api: api.clone(),
            params,
            stream,
            retry: false,
            last_rv: resource_version.to_string(),
        })
    }

    /// Opens a watch that survives the server closing it, like `watchtools.NewRetryWatcher`.
    /// Needs a concrete starting resource version.
    pub async fn start_retrying(
        api: &Api<K>,
        resource_version: &str,
        label_selector: Option<&str>,
    ) -> Result<Self> {
        if resource_version.is_empty() || resource_version == "0" {
            bail!(
                "initial RV {resource_version:?} is not supported due to issues with underlying WATCH"
            );
        }
        let mut w = Self::start(api, resource_version, label_selector, None).await?;
        w.retry = true;
        Ok(w)
    }

    /// The next notification, or `None` if none came within `timeout`. A watch that ends fails
    /// ("Watch closed unexpectedly") unless it retries.
    pub async fn next(&mut self, timeout: Duration) -> Result<Option<Event<K>>> {
        let deadline = Instant::now() + timeout;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match tokio::time::timeout(left, self.stream.next()).await {
                Err(_) => return Ok(None),
                Ok(Some(Ok(e))) => {
                    let e = Event::from_watch_event(e);
                    if let Some(rv) = &e.resource_version {
                        self.last_rv.clone_from(rv);
                    }
                    if self.retry && e.kind == EventType::Bookmark {
                        continue;
                    }
                    return Ok(Some(e));
                }
                Ok(Some(Err(e))) if !self.retry => {
                    return Err(anyhow!(e).context("the watch failed"));
                }
                Ok(None) if !self.retry => bail!("Watch closed unexpectedly"),
                Ok(_) => {
                    self.stream = open(&self.api, &self.params, &self.last_rv).await?;
                }
            }
        }
    }

    /// Upstream's `waitForEvent`: consumes notifications until one of type `kind` (and, if
    /// given, semantically equal to `expect`) arrives. `None` if none did within `timeout`.
    pub async fn wait_for(
        &mut self,
        kind: EventType,
        expect: Option<&K>,
        timeout: Duration,
    ) -> Result<Option<Event<K>>>
    where
        K: Serialize,
    {
        let deadline = Instant::now() + timeout;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let Some(e) = self.next(left).await? else {
                return Ok(None);
            };
            let object_matches = match (expect, &e.object) {
                (None, _) => true,
                (Some(want), Some(got)) => compare::semantic_eq(want, got),
                (Some(_), None) => false,
            };
            if e.kind == kind && object_matches {
                return Ok(Some(e));
            }
        }
    }

    /// Upstream's `expectEvent`: a matching notification must arrive within a minute.
    pub async fn expect_event(&mut self, kind: EventType, expect: Option<&K>) -> Result<Event<K>>
    where
        K: Serialize,
    {
        self.wait_for(kind, expect, EXPECT_EVENT_TIMEOUT)
            .await?
            .with_context(|| {
                format!(
                    "Timed out waiting for expected watch notification: {kind:?} {}",
                    describe(expect)
                )
            })
    }

    /// Upstream's `expectNoEvent`: no matching notification may arrive within ten seconds.
    pub async fn expect_no_event(&mut self, kind: EventType, expect: Option<&K>) -> Result<()>
    where
        K: Serialize,
    {
        match self.wait_for(kind, expect, EXPECT_NO_EVENT_TIMEOUT).await? {
            Some(e) => bail!(
                "Unexpected watch notification observed: {kind:?} {}",
                describe(e.object.as_ref())
            ),
            None => Ok(()),
        }
    }

    /// `watchtools.Until`: feeds notifications to `condition` until it returns true; fails if
    /// that takes longer than `timeout`.
    pub async fn until(
        &mut self,
        timeout: Duration,
        mut condition: impl FnMut(&Event<K>) -> Result<bool>,
    ) -> Result<Event<K>> {
        let deadline = Instant::now() + timeout;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let Some(e) = self.next(left).await? else {
                bail!("timed out waiting for the condition after {timeout:?}");
            };
            if condition(&e)? {
                return Ok(e);
            }
        }
    }
}

async fn open<K>(
    api: &Api<K>,
    params: &WatchParams,
    rv: &str,
) -> Result<BoxStream<'static, kube::Result<WatchEvent<K>>>>
where
    K: Clone + DeserializeOwned + Debug + Send + 'static,
{
    let stream = api
        .watch(params, rv)
        .await
        .with_context(|| format!("starting a watch from resource version {rv:?}"))?;
    Ok(stream.into_stream().boxed())
}

fn describe<K: Serialize>(o: Option<&K>) -> String {
    match o {
        None => "<any object>".into(),
        Some(o) => serde_json::to_string(o).unwrap_or_default(),
    }
}

/// `watchtools.Until` from a list's resource version, in one call.
pub async fn watch_until<K>(
    api: &Api<K>,
    resource_version: &str,
    label_selector: Option<&str>,
    timeout: Duration,
    condition: impl FnMut(&Event<K>) -> Result<bool>,
) -> Result<Event<K>>
where
    K: kube::Resource + Clone + DeserializeOwned + Debug + Send + 'static,
{
    let mut w = Watch::start_retrying(api, resource_version, label_selector).await?;
    w.until(timeout, condition).await
}
