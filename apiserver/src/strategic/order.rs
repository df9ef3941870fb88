//! `$setElementOrder/<field>`: kubectl sends the order it wants for the elements it knows; the
//! elements only the server has (added by other writers) keep their places relative to them.

use serde_json::Value;

/// What identifies an element: its merge key's value, or the scalar itself.
fn id<'v>(v: &'v Value, key: Option<&str>) -> &'v Value {
    match key {
        Some(k) => v.get(k).unwrap_or(v),
        None => v,
    }
}

/// Orders `merged` (the server's order, new elements last): elements named in `wanted` follow
/// its order, the others keep theirs, and where an element of each kind competes for a place
/// the one the server had first goes first.
pub fn normalize(merged: Vec<Value>, wanted: &[Value], key: Option<&str>) -> Vec<Value> {
    let wanted_ids: Vec<&Value> = wanted.iter().map(|w| id(w, key)).collect();
    let server_pos: Vec<Value> = merged.iter().map(|v| id(v, key).clone()).collect();
    let position = |v: &Value| server_pos.iter().position(|s| s == id(v, key));
    let (mut named, server_only): (Vec<Value>, Vec<Value>) = merged
        .into_iter()
        .partition(|v| wanted_ids.contains(&id(v, key)));
    named.sort_by_key(|v| wanted_ids.iter().position(|w| *w == id(v, key)));
    let mut out = Vec::with_capacity(named.len() + server_only.len());
    let (mut named, mut server_only) = (
        named.into_iter().peekable(),
        server_only.into_iter().peekable(),
    );
    loop {
        let take_named = match (named.peek(), server_only.peek()) {
            (Some(l), Some(r)) => position(l) < position(r),
            (Some(_), None) => true,
            (None, Some(_)) => false,
            (None, None) => break,
        };
        let next = if take_named {
            named.next()
        } else {
            server_only.next()
        };
        out.extend(next);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn patch_order_wins_and_server_only_elements_keep_their_place() {
        let merged = vec![
            json!({"name": "a"}),
            json!({"name": "b"}),
            json!({"name": "c"}),
        ];
        let wanted = [json!({"name": "c"}), json!({"name": "a"})];
        let out = normalize(merged, &wanted, Some("name"));
        let names: Vec<&str> = out.iter().map(|v| v["name"].as_str().unwrap()).collect();
        // b (server only) sits before c, which the server had after it.
        assert_eq!(names, ["b", "c", "a"]);
    }

    #[test]
    fn scalars_are_their_own_key() {
        let out = normalize(
            vec![json!("x"), json!("y")],
            &[json!("y"), json!("x")],
            None,
        );
        assert_eq!(out, [json!("y"), json!("x")]);
    }
}
