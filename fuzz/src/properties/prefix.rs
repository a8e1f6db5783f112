//! Target `prefix`: the route-prefix trie agrees with a naive longest-prefix search, and
//! accepts exactly the prefix sets a naive reading of the rules accepts.
//!
//! The input is lines: every line but the last is an application's route prefix (at most
//! [`APPS_MAX`]), the last is the path looked up (and each of its own prefixes, so that paths
//! near a boundary are tried too). Bytes that are not UTF-8 become U+FFFD. Building the trie
//! may allocate in proportion to its prefixes; a lookup allocates nothing.

use ringserve::prefix::{PREFIX_BYTES_MAX, PrefixMatch, PrefixTrie, validate_prefix};

use super::{allocated_by, bounded};

/// The most applications one input declares.
const APPS_MAX: usize = 16;

/// Checks the property on `data`.
pub fn check(data: &[u8]) {
    let text = String::from_utf8_lossy(bounded(data));
    let mut lines: Vec<&str> = text.split('\n').collect();
    let path = lines.pop().unwrap_or_default();
    lines.truncate(APPS_MAX);
    let prefixes = lines;

    for prefix in &prefixes {
        assert_eq!(
            validate_prefix(prefix).is_ok(),
            naive_valid(prefix),
            "validity of {prefix:?}"
        );
    }
    let naive_ok = prefixes.iter().all(|prefix| naive_valid(prefix))
        && prefixes
            .iter()
            .enumerate()
            .all(|(index, prefix)| !prefixes[..index].contains(prefix));
    let built = PrefixTrie::build(&prefixes);
    assert_eq!(built.is_ok(), naive_ok, "building {prefixes:?}: {built:?}");
    let Ok(trie) = built else {
        return;
    };
    let mut ends: Vec<usize> = path.char_indices().map(|(at, _)| at).collect();
    ends.push(path.len());
    for end in ends {
        let path = &path[..end];
        let (found, bytes) = allocated_by(|| trie.lookup(path));
        assert_eq!(bytes, 0, "a lookup allocated");
        assert_eq!(
            found,
            naive_lookup(&prefixes, path),
            "{path:?} among {prefixes:?}"
        );
        if let Some(found) = found {
            let rest = &path[found.prefix_len..];
            assert!(
                rest.is_empty() || rest.starts_with('/'),
                "matched mid-segment"
            );
        }
    }
}

/// The rules of a route prefix, as the design states them.
fn naive_valid(prefix: &str) -> bool {
    prefix.starts_with('/')
        && prefix.len() <= PREFIX_BYTES_MAX
        && prefix
            .bytes()
            .all(|byte| (0x21..=0x7e).contains(&byte) && !b"?#{}".contains(&byte))
        && !prefix.contains("//")
        && (prefix == "/" || !prefix.ends_with('/'))
}

/// The longest prefix that covers `path` on whole segments, by trying every one.
fn naive_lookup(prefixes: &[&str], path: &str) -> Option<PrefixMatch> {
    if !path.starts_with('/') {
        return None;
    }
    prefixes
        .iter()
        .enumerate()
        .filter(|(_, prefix)| {
            **prefix == "/"
                || path
                    .strip_prefix(**prefix)
                    .is_some_and(|rest| rest.is_empty() || rest.starts_with('/'))
        })
        .max_by_key(|(_, prefix)| prefix.len())
        .map(|(app, prefix)| PrefixMatch {
            app,
            prefix_len: if *prefix == "/" { 0 } else { prefix.len() },
        })
}
