//! Interned strings: names that live as long as the process, for the parts of dynamically
//! served resources (custom resources) that the registry describes with `&'static str`.
//! Each distinct string is leaked once, so re-creating the same CustomResourceDefinition
//! costs nothing more; memory grows only with the number of distinct names ever served.

use std::collections::HashSet;
use std::sync::{Mutex, OnceLock};

static STRINGS: OnceLock<Mutex<HashSet<&'static str>>> = OnceLock::new();

/// The process-lifetime copy of `s`.
pub fn intern(s: &str) -> &'static str {
    let set = STRINGS.get_or_init(|| Mutex::new(HashSet::new()));
    let mut set = set.lock().unwrap_or_else(|p| p.into_inner());
    if let Some(found) = set.get(s) {
        return found;
    }
    let leaked: &'static str = Box::leak(s.to_string().into_boxed_str());
    set.insert(leaked);
    leaked
}

/// Interns every string of a list, and the list itself (keyed by its contents).
pub fn intern_list(items: &[String]) -> &'static [&'static str] {
    static LISTS: OnceLock<Mutex<HashSet<&'static [&'static str]>>> = OnceLock::new();
    let interned: Vec<&'static str> = items.iter().map(|s| intern(s)).collect();
    let set = LISTS.get_or_init(|| Mutex::new(HashSet::new()));
    let mut set = set.lock().unwrap_or_else(|p| p.into_inner());
    if let Some(found) = set.get(interned.as_slice()) {
        return found;
    }
    let leaked: &'static [&'static str] = Box::leak(interned.into_boxed_slice());
    set.insert(leaked);
    leaked
}

/// Interns a list of subresources (keyed by its contents).
pub fn intern_subresources(
    items: Vec<crate::registry::SubresourceInfo>,
) -> &'static [crate::registry::SubresourceInfo] {
    type Lists = Mutex<Vec<&'static [crate::registry::SubresourceInfo]>>;
    static LISTS: OnceLock<Lists> = OnceLock::new();
    let lists = LISTS.get_or_init(|| Mutex::new(Vec::new()));
    let mut lists = lists.lock().unwrap_or_else(|p| p.into_inner());
    if let Some(found) = lists.iter().find(|l| **l == items.as_slice()) {
        return found;
    }
    let leaked: &'static [crate::registry::SubresourceInfo] = Box::leak(items.into_boxed_slice());
    lists.push(leaked);
    leaked
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_same_string_is_one_allocation() {
        let a = intern(&String::from("widgets.example.com"));
        let b = intern("widgets.example.com");
        assert!(std::ptr::eq(a, b));
        let l1 = intern_list(&["a".to_string(), "b".to_string()]);
        let l2 = intern_list(&["a".to_string(), "b".to_string()]);
        assert!(std::ptr::eq(l1, l2));
        assert_eq!(l1, &["a", "b"]);
    }
}
