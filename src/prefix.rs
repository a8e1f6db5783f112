//! The route-prefix table: which application a request path belongs to.
//!
//! Each application is served under one route prefix (`/`, `/api`, `/api/v1`, ...). A path goes
//! to the application with the longest prefix that covers it on whole path segments, as in Ray
//! Serve: `/api` covers `/api`, `/api/` and `/api/x`, but never `/apix`.
//!
//! Invariants: the table is built once, before the server starts, from prefixes that have all
//! been validated, and is read-only afterwards (no interior mutability, so it can be shared by
//! reference between threads); a match always ends on a segment boundary, so
//! `&path[prefix_len..]` is empty or starts with `/`.

use std::fmt;

/// Dense application id: the index of the application in the list given to [`PrefixTrie::build`].
pub type AppId = usize;

pub use crate::limits::PREFIX_BYTES_MAX;

const REASON_NO_LEADING_SLASH: &str = "must start with '/'";
const REASON_TOO_LONG: &str = "must be at most PREFIX_BYTES_MAX (1024) bytes long";
const REASON_NOT_VISIBLE_ASCII: &str = "must contain only visible ASCII characters";
const REASON_QUERY_OR_FRAGMENT: &str = "must not contain '?' or '#'";
const REASON_BRACE: &str = "must not contain '{' or '}'";
const REASON_EMPTY_SEGMENT: &str = "must not contain an empty segment (\"//\")";
const REASON_TRAILING_SLASH: &str = "must not end with '/'";

/// The application a path belongs to, and how much of the path its prefix covers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PrefixMatch {
    /// The application whose route prefix matched.
    pub app: AppId,
    /// Bytes of the path covered by the matched prefix; 0 for the prefix `/`.
    ///
    /// `&path[prefix_len..]` is the path inside the application: empty or starting with `/`.
    pub prefix_len: usize,
}

/// Why a set of route prefixes was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PrefixError {
    /// The prefix breaks one of the rules of [`validate_prefix`].
    Invalid {
        /// The offending prefix, as given.
        prefix: String,
        /// The rule it breaks.
        reason: &'static str,
    },
    /// Two applications were given the same prefix.
    Duplicate {
        /// The shared prefix.
        prefix: String,
    },
}

impl fmt::Display for PrefixError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PrefixError::Invalid { prefix, reason } => {
                write!(f, "invalid route prefix {prefix:?}: {reason}")
            }
            PrefixError::Duplicate { prefix } => {
                write!(f, "route prefix {prefix:?} is used by two applications")
            }
        }
    }
}

impl std::error::Error for PrefixError {}

/// Checks one route prefix: it starts with `/`; it does not end with `/` unless it is `/`
/// itself; it has no empty segment (`//`); it holds only visible ASCII (0x21..=0x7E) other than
/// `?`, `#`, `{` and `}`; and it is at most [`PREFIX_BYTES_MAX`] bytes long.
pub fn validate_prefix(prefix: &str) -> Result<(), PrefixError> {
    match broken_rule(prefix) {
        None => Ok(()),
        Some(reason) => Err(PrefixError::Invalid {
            prefix: prefix.to_owned(),
            reason,
        }),
    }
}

/// The first rule `prefix` breaks, if any.
fn broken_rule(prefix: &str) -> Option<&'static str> {
    if !prefix.starts_with('/') {
        return Some(REASON_NO_LEADING_SLASH);
    }
    if prefix.len() > PREFIX_BYTES_MAX {
        return Some(REASON_TOO_LONG);
    }
    if let Some(reason) = prefix.bytes().find_map(broken_byte_rule) {
        return Some(reason);
    }
    if prefix.contains("//") {
        return Some(REASON_EMPTY_SEGMENT);
    }
    if prefix != "/" && prefix.ends_with('/') {
        return Some(REASON_TRAILING_SLASH);
    }
    None
}

/// The rule a single byte of a prefix breaks, if any.
fn broken_byte_rule(byte: u8) -> Option<&'static str> {
    match byte {
        b'?' | b'#' => Some(REASON_QUERY_OR_FRAGMENT),
        b'{' | b'}' => Some(REASON_BRACE),
        0x21..=0x7E => None,
        _ => Some(REASON_NOT_VISIBLE_ASCII),
    }
}

/// The segments of a valid prefix: `/` has none, `/api/v1` has `api` and `v1`.
fn prefix_segments(prefix: &str) -> impl Iterator<Item = &str> {
    prefix.split('/').filter(|segment| !segment.is_empty())
}

/// Rejects the first prefix (in byte order) that more than one application uses.
fn reject_duplicates(prefixes: &[&str]) -> Result<(), PrefixError> {
    let mut sorted = prefixes.to_vec();
    sorted.sort_unstable();
    match sorted.windows(2).find(|pair| pair[0] == pair[1]) {
        None => Ok(()),
        Some(pair) => Err(PrefixError::Duplicate {
            prefix: pair[0].to_owned(),
        }),
    }
}

/// Index of a node in [`PrefixTrie::nodes`].
type NodeIndex = usize;

/// The node of the prefix `/`; every other node descends from it.
const ROOT: NodeIndex = 0;

/// A link from a node to the node one segment deeper.
#[derive(Debug)]
struct Edge {
    key: SegmentKey,
    segment: Box<str>,
    child: NodeIndex,
}

/// A segment's length and first eight bytes, as integers: most comparisons in a lookup settle
/// on these without touching the segment's bytes (`benches/prefix.rs` measures it).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
struct SegmentKey {
    len: usize,
    head: u64,
}

impl SegmentKey {
    fn of(segment: &str) -> Self {
        let bytes = segment.as_bytes();
        let mut head = [0u8; 8];
        let take = bytes.len().min(8);
        head[..take].copy_from_slice(&bytes[..take]);
        SegmentKey {
            len: bytes.len(),
            head: u64::from_be_bytes(head),
        }
    }
}

/// One prefix's worth of segments from the root; holds an app if some prefix ends here.
#[derive(Debug, Default)]
struct Node {
    app: Option<AppId>,
    /// Sorted by [`segment_order`], so a lookup binary-searches them.
    edges: Vec<Edge>,
}

/// The order of a node's edges: by length and first eight bytes as integers, then by the
/// remaining bytes. Integer comparisons first are what make a lookup cheap
/// (`benches/prefix.rs`): a segment of up to eight bytes never reaches a byte comparison.
fn segment_order(edge: &Edge, key: SegmentKey, segment: &str) -> std::cmp::Ordering {
    edge.key
        .cmp(&key)
        .then_with(|| edge.segment.as_bytes().cmp(segment.as_bytes()))
}

/// Maps a request path to the application whose route prefix matches it, longest prefix first,
/// on whole path segments only.
///
/// Lookup walks the path one segment at a time, binary-searching each node's children, so it
/// costs the path's matched segment count times the log of the fan-out and allocates nothing.
///
/// ```
/// use ringserve::prefix::{PrefixMatch, PrefixTrie};
///
/// let trie = PrefixTrie::build(&["/", "/api", "/api/v1"])?;
/// assert_eq!(trie.lookup("/api/v1/users"), Some(PrefixMatch { app: 2, prefix_len: 7 }));
/// assert_eq!(trie.lookup("/api/v2"), Some(PrefixMatch { app: 1, prefix_len: 4 }));
/// assert_eq!(trie.lookup("/apix"), Some(PrefixMatch { app: 0, prefix_len: 0 }));
/// assert_eq!(trie.lookup("no-leading-slash"), None);
/// # Ok::<(), ringserve::prefix::PrefixError>(())
/// ```
#[derive(Debug)]
pub struct PrefixTrie {
    /// `nodes[ROOT]` is the node of `/`; edges point only at later indices.
    nodes: Vec<Node>,
}

impl PrefixTrie {
    /// Builds the table; `prefixes[i]` is the route prefix of application `i`.
    ///
    /// Every prefix is validated (see [`validate_prefix`]) and checked for duplicates before
    /// anything is inserted; the first failure is returned.
    pub fn build(prefixes: &[&str]) -> Result<PrefixTrie, PrefixError> {
        prefixes
            .iter()
            .try_for_each(|prefix| validate_prefix(prefix))?;
        reject_duplicates(prefixes)?;
        let mut trie = PrefixTrie {
            nodes: vec![Node::default()],
        };
        for (app, prefix) in prefixes.iter().enumerate() {
            trie.insert(prefix, app);
        }
        Ok(trie)
    }

    /// Longest whole-segment prefix match for `path` (without query string), byte for byte.
    /// A path that does not start with `/` matches nothing. Allocates nothing.
    pub fn lookup(&self, path: &str) -> Option<PrefixMatch> {
        let mut rest = path.strip_prefix('/')?;
        let mut best = self.nodes[ROOT]
            .app
            .map(|app| PrefixMatch { app, prefix_len: 0 });
        let mut node = ROOT;
        let mut covered = 0;
        loop {
            let (segment, after) = match rest.as_bytes().iter().position(|&byte| byte == b'/') {
                Some(slash) => (&rest[..slash], Some(&rest[slash + 1..])),
                None => (rest, None),
            };
            let Some(child) = self.child(node, segment) else {
                break;
            };
            node = child;
            covered += 1 + segment.len();
            if let Some(app) = self.nodes[node].app {
                best = Some(PrefixMatch {
                    app,
                    prefix_len: covered,
                });
            }
            match after {
                Some(after) => rest = after,
                None => break,
            }
        }
        best
    }

    /// Adds a validated, not yet present prefix for `app`.
    fn insert(&mut self, prefix: &str, app: AppId) {
        let node =
            prefix_segments(prefix).fold(ROOT, |node, segment| self.child_or_insert(node, segment));
        self.nodes[node].app = Some(app);
    }

    /// The child of `node` reached by `segment`, if there is one.
    fn child(&self, node: NodeIndex, segment: &str) -> Option<NodeIndex> {
        let edges = &self.nodes[node].edges;
        let key = SegmentKey::of(segment);
        edges
            .binary_search_by(|edge| segment_order(edge, key, segment))
            .ok()
            .map(|position| edges[position].child)
    }

    /// The child of `node` reached by `segment`, created (keeping the edges sorted) if missing.
    fn child_or_insert(&mut self, node: NodeIndex, segment: &str) -> NodeIndex {
        let search = self.nodes[node]
            .edges
            .binary_search_by(|edge| segment_order(edge, SegmentKey::of(segment), segment));
        match search {
            Ok(position) => self.nodes[node].edges[position].child,
            Err(position) => {
                let child = self.nodes.len();
                self.nodes.push(Node::default());
                let edge = Edge {
                    key: SegmentKey::of(segment),
                    segment: segment.into(),
                    child,
                };
                self.nodes[node].edges.insert(position, edge);
                child
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn build(prefixes: &[&str]) -> PrefixTrie {
        match PrefixTrie::build(prefixes) {
            Ok(trie) => trie,
            Err(error) => panic!("valid prefixes {prefixes:?} refused: {error}"),
        }
    }

    fn matched(app: AppId, prefix_len: usize) -> Option<PrefixMatch> {
        Some(PrefixMatch { app, prefix_len })
    }

    fn invalid(prefix: &str, reason: &'static str) -> Result<(), PrefixError> {
        Err(PrefixError::Invalid {
            prefix: prefix.to_owned(),
            reason,
        })
    }

    #[test]
    fn trie_is_send_and_sync() {
        fn assert_send_sync<T: Send + Sync>() {}
        assert_send_sync::<PrefixTrie>();
    }

    #[test]
    fn prefix_matches_itself_and_paths_below_it() {
        let trie = build(&["/api"]);
        assert_eq!(trie.lookup("/api"), matched(0, 4));
        assert_eq!(trie.lookup("/api/"), matched(0, 4));
        assert_eq!(trie.lookup("/api/x"), matched(0, 4));
        assert_eq!(trie.lookup("/api/x/y"), matched(0, 4));
    }

    #[test]
    fn prefix_never_matches_part_of_a_segment() {
        let trie = build(&["/api"]);
        assert_eq!(trie.lookup("/apix"), None);
        assert_eq!(trie.lookup("/apix/y"), None);
        assert_eq!(trie.lookup("/ap"), None);
        assert_eq!(trie.lookup("/"), None);
        assert_eq!(trie.lookup("/other"), None);
    }

    #[test]
    fn root_prefix_matches_every_path_with_a_leading_slash() {
        let trie = build(&["/"]);
        assert_eq!(trie.lookup("/"), matched(0, 0));
        assert_eq!(trie.lookup("/x"), matched(0, 0));
        assert_eq!(trie.lookup("/x/y/"), matched(0, 0));
        assert_eq!(trie.lookup("//"), matched(0, 0));
    }

    #[test]
    fn root_is_the_fallback_when_nothing_longer_matches() {
        let trie = build(&["/api", "/"]);
        assert_eq!(trie.lookup("/api/x"), matched(0, 4));
        assert_eq!(trie.lookup("/apix"), matched(1, 0));
        assert_eq!(trie.lookup("/other"), matched(1, 0));
        assert_eq!(trie.lookup("/"), matched(1, 0));
    }

    #[test]
    fn longest_prefix_wins() {
        let trie = build(&["/api", "/api/v1"]);
        assert_eq!(trie.lookup("/api/v1/x"), matched(1, 7));
        assert_eq!(trie.lookup("/api/v1"), matched(1, 7));
        assert_eq!(trie.lookup("/api/v2"), matched(0, 4));
        assert_eq!(trie.lookup("/api/v1x"), matched(0, 4));
        assert_eq!(trie.lookup("/other"), None);
    }

    #[test]
    fn longest_prefix_wins_whatever_the_build_order() {
        let trie = build(&["/api/v1", "/", "/api"]);
        assert_eq!(trie.lookup("/api/v1/x"), matched(0, 7));
        assert_eq!(trie.lookup("/api/v2"), matched(2, 4));
        assert_eq!(trie.lookup("/v1"), matched(1, 0));
    }

    #[test]
    fn deeper_prefix_without_its_parent_needs_all_its_segments() {
        let trie = build(&["/api/v1"]);
        assert_eq!(trie.lookup("/api"), None);
        assert_eq!(trie.lookup("/api/"), None);
        assert_eq!(trie.lookup("/api/v1/"), matched(0, 7));
    }

    #[test]
    fn empty_segments_in_paths_are_not_skipped() {
        let trie = build(&["/", "/api", "/api/x"]);
        assert_eq!(trie.lookup("//"), matched(0, 0));
        assert_eq!(trie.lookup("//api"), matched(0, 0));
        assert_eq!(trie.lookup("/api//x"), matched(1, 4));
        assert_eq!(trie.lookup("/api/x//"), matched(2, 6));
    }

    #[test]
    fn path_without_leading_slash_matches_nothing() {
        let trie = build(&["/", "/api"]);
        assert_eq!(trie.lookup(""), None);
        assert_eq!(trie.lookup("api"), None);
        assert_eq!(trie.lookup("api/x"), None);
        assert_eq!(trie.lookup("*"), None);
    }

    #[test]
    fn paths_are_matched_byte_for_byte() {
        let trie = build(&["/a%20b", "/API"]);
        assert_eq!(trie.lookup("/a%20b/c"), matched(0, 6));
        assert_eq!(trie.lookup("/a b/c"), None);
        assert_eq!(trie.lookup("/api"), None);
        assert_eq!(trie.lookup("/API"), matched(1, 4));
        assert_eq!(trie.lookup("/API/\u{e9}"), matched(1, 4));
    }

    #[test]
    fn empty_table_matches_nothing() {
        let trie = build(&[]);
        assert_eq!(trie.lookup("/"), None);
        assert_eq!(trie.lookup("/api"), None);
    }

    #[test]
    fn prefix_len_leaves_the_path_inside_the_application() {
        let trie = build(&["/", "/api"]);
        for (path, inner) in [
            ("/api/x", "/x"),
            ("/api", ""),
            ("/api/", "/"),
            ("/other", "/other"),
        ] {
            let found = trie.lookup(path).map(|m| &path[m.prefix_len..]);
            assert_eq!(found, Some(inner), "path {path:?}");
        }
    }

    #[test]
    fn valid_prefixes_are_accepted() {
        for prefix in [
            "/",
            "/api",
            "/api/v1",
            "/a-b_c.d~e",
            "/%41",
            "/!$&'()*+,;=:@",
        ] {
            assert_eq!(validate_prefix(prefix), Ok(()), "prefix {prefix:?}");
        }
    }

    #[test]
    fn prefix_must_start_with_slash() {
        assert_eq!(validate_prefix(""), invalid("", REASON_NO_LEADING_SLASH));
        assert_eq!(
            validate_prefix("api"),
            invalid("api", REASON_NO_LEADING_SLASH)
        );
    }

    #[test]
    fn prefix_must_not_end_with_slash() {
        assert_eq!(
            validate_prefix("/api/"),
            invalid("/api/", REASON_TRAILING_SLASH)
        );
    }

    #[test]
    fn prefix_must_not_contain_braces() {
        assert_eq!(validate_prefix("/{id}"), invalid("/{id}", REASON_BRACE));
        assert_eq!(validate_prefix("/a}"), invalid("/a}", REASON_BRACE));
    }

    #[test]
    fn prefix_must_not_contain_empty_segment() {
        assert_eq!(validate_prefix("//"), invalid("//", REASON_EMPTY_SEGMENT));
        assert_eq!(
            validate_prefix("/a//b"),
            invalid("/a//b", REASON_EMPTY_SEGMENT)
        );
    }

    #[test]
    fn prefix_must_be_visible_ascii() {
        for prefix in ["/a b", "/a\tb", "/\u{7f}", "/caf\u{e9}", "/a\0"] {
            assert_eq!(
                validate_prefix(prefix),
                invalid(prefix, REASON_NOT_VISIBLE_ASCII)
            );
        }
    }

    #[test]
    fn prefix_must_not_contain_query_or_fragment() {
        assert_eq!(
            validate_prefix("/a?b"),
            invalid("/a?b", REASON_QUERY_OR_FRAGMENT)
        );
        assert_eq!(
            validate_prefix("/a#b"),
            invalid("/a#b", REASON_QUERY_OR_FRAGMENT)
        );
    }

    #[test]
    fn prefix_length_is_bounded() {
        let longest = format!("/{}", "a".repeat(PREFIX_BYTES_MAX - 1));
        assert_eq!(validate_prefix(&longest), Ok(()));
        let too_long = format!("/{}", "a".repeat(PREFIX_BYTES_MAX));
        assert_eq!(
            validate_prefix(&too_long),
            invalid(&too_long, REASON_TOO_LONG)
        );
        assert!(REASON_TOO_LONG.contains(&PREFIX_BYTES_MAX.to_string()));
    }

    #[test]
    fn build_rejects_the_first_invalid_prefix() {
        assert_eq!(
            PrefixTrie::build(&["/ok", "/bad/", "bad"]).err(),
            Some(PrefixError::Invalid {
                prefix: "/bad/".to_owned(),
                reason: REASON_TRAILING_SLASH,
            })
        );
    }

    #[test]
    fn build_rejects_duplicate_prefixes() {
        assert_eq!(
            PrefixTrie::build(&["/api", "/", "/api"]).err(),
            Some(PrefixError::Duplicate {
                prefix: "/api".to_owned()
            })
        );
        assert_eq!(
            PrefixTrie::build(&["/", "/"]).err(),
            Some(PrefixError::Duplicate {
                prefix: "/".to_owned()
            })
        );
    }

    #[test]
    fn invalid_prefix_is_reported_before_duplicates() {
        assert_eq!(
            PrefixTrie::build(&["/a", "/a", "/b/"]).err(),
            Some(PrefixError::Invalid {
                prefix: "/b/".to_owned(),
                reason: REASON_TRAILING_SLASH,
            })
        );
    }

    #[test]
    fn errors_name_the_prefix_and_the_reason() {
        let trailing = validate_prefix("/api/").err().map(|e| e.to_string());
        assert_eq!(
            trailing.as_deref(),
            Some("invalid route prefix \"/api/\": must not end with '/'")
        );
        let duplicate = PrefixTrie::build(&["/api", "/api"])
            .err()
            .map(|e| e.to_string());
        assert_eq!(
            duplicate.as_deref(),
            Some("route prefix \"/api\" is used by two applications")
        );
    }

    #[test]
    fn thousand_prefixes_agree_with_reference() {
        let owned: Vec<String> = (0..1000)
            .map(|i| format!("/s{}/t{}/u{}", i % 10, i / 10 % 10, i / 100))
            .collect();
        let prefixes: Vec<&str> = owned.iter().map(String::as_str).collect();
        let trie = build(&prefixes);
        for path in ["/s3/t4/u5/x", "/s3/t4", "/s9/t9/u9", "/s1/t1/u10", "/s0"] {
            assert_eq!(trie.lookup(path), reference_lookup(&prefixes, path));
        }
        assert_eq!(trie.lookup("/s3/t4/u5/x"), matched(543, 9));
    }

    /// Whether `prefix` covers `path` on whole segments, by the definition.
    fn reference_matches(prefix: &str, path: &str) -> bool {
        if prefix == "/" {
            return path.starts_with('/');
        }
        path.strip_prefix(prefix)
            .is_some_and(|rest| rest.is_empty() || rest.starts_with('/'))
    }

    /// Linear scan over all prefixes, picking the longest that covers `path`.
    fn reference_lookup(prefixes: &[&str], path: &str) -> Option<PrefixMatch> {
        prefixes
            .iter()
            .enumerate()
            .filter(|(_, prefix)| reference_matches(prefix, path))
            .max_by_key(|(_, prefix)| prefix.len())
            .map(|(app, prefix)| PrefixMatch {
                app,
                prefix_len: if *prefix == "/" { 0 } else { prefix.len() },
            })
    }

    fn prefix_strategy() -> impl Strategy<Value = String> {
        let segment = prop::sample::select(vec!["a", "b", "ab", "v1"]);
        prop::collection::vec(segment, 0..4).prop_map(|segments| {
            if segments.is_empty() {
                "/".to_owned()
            } else {
                segments
                    .iter()
                    .fold(String::new(), |prefix, segment| prefix + "/" + segment)
            }
        })
    }

    fn path_strategy() -> impl Strategy<Value = String> {
        let segment = prop::sample::select(vec!["a", "b", "ab", "v1", "", "x", "abc", "a?"]);
        let leading = prop::sample::select(vec!["/", "", "//"]);
        (leading, prop::collection::vec(segment, 0..6))
            .prop_map(|(leading, segments)| leading.to_owned() + &segments.join("/"))
    }

    proptest! {
        #[test]
        fn lookup_agrees_with_reference(
            prefix_set in prop::collection::btree_set(prefix_strategy(), 0..12),
            rotation in any::<usize>(),
            paths in prop::collection::vec(path_strategy(), 1..20),
        ) {
            let mut owned: Vec<String> = prefix_set.into_iter().collect();
            let start = rotation % owned.len().max(1);
            owned.rotate_left(start);
            let prefixes: Vec<&str> = owned.iter().map(String::as_str).collect();
            let trie = PrefixTrie::build(&prefixes);
            prop_assert!(trie.is_ok(), "refused {:?}", prefixes);
            if let Ok(trie) = trie {
                for path in &paths {
                    prop_assert_eq!(
                        trie.lookup(path),
                        reference_lookup(&prefixes, path),
                        "path {:?} prefixes {:?}", path, prefixes
                    );
                }
            }
        }

        #[test]
        fn arbitrary_input_never_panics_and_matches_end_on_boundaries(
            prefixes in prop::collection::vec("/?[ab/{}?#\u{e9} \\-]{0,8}|.{0,12}", 0..6),
            path in "/?[ab/\u{e9}]{0,12}|.{0,24}",
        ) {
            let prefixes: Vec<&str> = prefixes.iter().map(String::as_str).collect();
            for prefix in &prefixes {
                let _ = validate_prefix(prefix);
            }
            if let Ok(trie) = PrefixTrie::build(&prefixes) {
                let found = trie.lookup(&path);
                prop_assert_eq!(found, reference_lookup(&prefixes, &path));
                let inner = found.and_then(|found| path.get(found.prefix_len..));
                let ends_on_boundary =
                    inner.is_none_or(|rest| rest.is_empty() || rest.starts_with('/'));
                prop_assert!(found.is_none() || inner.is_some());
                prop_assert!(ends_on_boundary, "path {:?} match {:?}", path, found);
            }
        }
    }
}
