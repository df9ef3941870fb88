//! An informer's cache with the scheduler's own not-yet-written versions of some objects laid
//! over it (upstream's `AssumeCache`): the volume binder assumes a PV pre-bound to a claim,
//! or a claim with its selected node, at Reserve, so the next pods see them taken before the
//! API has the change. An assumed version gives way once the informer delivers a newer one,
//! and is dropped by [`AssumeCache::restore`] when the pod's binding is undone.

use crate::volumes::resource_version;
use controllers::informer::Watched;
use kube::runtime::reflector::{ObjectRef, Store};
use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};

pub struct AssumeCache<K: Watched> {
    store: Store<K>,
    assumed: Mutex<HashMap<ObjectRef<K>, Arc<K>>>,
}

impl<K: Watched> AssumeCache<K> {
    pub fn new(store: Store<K>) -> Self {
        Self {
            store,
            assumed: Mutex::new(HashMap::new()),
        }
    }

    fn assumed(&self) -> MutexGuard<'_, HashMap<ObjectRef<K>, Arc<K>>> {
        self.assumed.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The assumed version if the informer has nothing newer, else the informer's.
    fn overlay(&self, latest: Arc<K>, assumed: &mut HashMap<ObjectRef<K>, Arc<K>>) -> Arc<K> {
        let key = ObjectRef::from_obj(&*latest);
        match assumed.get(&key) {
            Some(a) if resource_version(latest.meta()) <= resource_version(a.meta()) => a.clone(),
            Some(_) => {
                assumed.remove(&key);
                latest
            }
            None => latest,
        }
    }

    /// The object as the scheduler sees it (upstream `Get`).
    pub fn get(&self, key: &ObjectRef<K>) -> Option<Arc<K>> {
        let Some(latest) = self.store.get(key) else {
            self.assumed().remove(key);
            return None;
        };
        Some(self.overlay(latest, &mut self.assumed()))
    }

    /// The object as the API last said (upstream `GetAPIObj`).
    pub fn get_api(&self, key: &ObjectRef<K>) -> Option<Arc<K>> {
        self.store.get(key)
    }

    /// Every object as the scheduler sees it.
    pub fn list(&self) -> Vec<Arc<K>> {
        let mut assumed = self.assumed();
        self.store
            .state()
            .into_iter()
            .map(|latest| self.overlay(latest, &mut assumed))
            .collect()
    }

    /// Lays `obj` over the informer's version; refused if that is newer (upstream
    /// `Assume`).
    pub fn assume(&self, obj: K) -> Result<(), String> {
        let key = ObjectRef::from_obj(&obj);
        let Some(latest) = self.store.get(&key) else {
            return Err(format!("{} {:?} not found", K::kind(&()), key.name));
        };
        let (stored, assume) = (
            resource_version(latest.meta()),
            resource_version(obj.meta()),
        );
        if stored > assume {
            return Err(format!(
                "{} {:?} is out of sync (stored: {stored}, assume: {assume})",
                K::kind(&()),
                key.name
            ));
        }
        self.assumed().insert(key, Arc::new(obj));
        Ok(())
    }

    /// Drops the assumed version (upstream `Restore`).
    pub fn restore(&self, key: &ObjectRef<K>) {
        self.assumed().remove(key);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::volumes::testing::volume;
    use k8s_openapi::api::core::v1::PersistentVolume;
    use kube::runtime::{reflector, watcher};

    #[test]
    fn assumed_versions_give_way_to_newer_ones() {
        let (store, mut writer) = reflector::store::<PersistentVolume>();
        writer.apply_watcher_event(&watcher::Event::Apply(volume("pv", "", "1Gi", &[])));
        let cache = AssumeCache::new(store);
        let key = ObjectRef::new("pv");
        let mut claimed = volume("pv", "", "1Gi", &[]);
        claimed.metadata.labels = Some([("claimed".to_string(), "yes".to_string())].into());
        cache.assume(claimed.clone()).unwrap();
        let labels = |c: &AssumeCache<PersistentVolume>| {
            c.get(&key)
                .unwrap()
                .metadata
                .labels
                .clone()
                .unwrap_or_default()
        };
        assert!(labels(&cache).contains_key("claimed"));
        assert_eq!(cache.list().len(), 1);
        assert!(
            cache
                .get_api(&key)
                .unwrap()
                .metadata
                .labels
                .as_ref()
                .unwrap()
                .is_empty()
        );
        cache.restore(&key);
        assert!(!labels(&cache).contains_key("claimed"));
        // The informer moves past the assumed version: it wins, and older assumptions fail.
        cache.assume(claimed.clone()).unwrap();
        let mut newer = volume("pv", "", "1Gi", &[]);
        newer.metadata.resource_version = Some("2".to_string());
        writer.apply_watcher_event(&watcher::Event::Apply(newer));
        assert!(!labels(&cache).contains_key("claimed"));
        let err = cache.assume(claimed).unwrap_err();
        assert!(err.contains("out of sync"), "{err}");
    }
}
