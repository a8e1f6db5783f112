//! A request's path made a path inside the served directory, or refused.
//!
//! Invariant: what comes out is relative, made of plain segments only — no `..`, no `.`, no
//! empty segment, no NUL, no leading `/` — after percent-decoding, so `%2e%2e` and `%2F` are
//! judged as what they decode to. Symbolic links are not judged here: the kernel refuses those
//! that leave the directory when the file is opened (`RESOLVE_BENEATH`).

use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;
use std::path::PathBuf;

use percent_encoding::percent_decode_str;

/// The path below the served directory that `route_path` (the request's path after the
/// application's route prefix, still percent-encoded) names, or `None` for one that would
/// leave it or cannot name a file.
pub(crate) fn inside(route_path: &str) -> Option<PathBuf> {
    let decoded: Vec<u8> = percent_decode_str(route_path).collect();
    if decoded.contains(&0) {
        return None;
    }
    let mut relative = PathBuf::new();
    for segment in decoded.split(|&byte| byte == b'/') {
        match segment {
            b"" | b"." => {}
            b".." => return None,
            segment => relative.push(OsStr::from_bytes(segment)),
        }
    }
    debug_assert!(relative.is_relative(), "a path inside the root is relative");
    Some(relative)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_paths_are_kept() {
        assert_eq!(inside("/"), Some(PathBuf::new()));
        assert_eq!(inside("/a/b.txt"), Some(PathBuf::from("a/b.txt")));
        assert_eq!(inside("//a/./b/"), Some(PathBuf::from("a/b")));
        assert_eq!(inside("/caf%C3%A9.txt"), Some(PathBuf::from("café.txt")));
        assert_eq!(inside("/a%20b"), Some(PathBuf::from("a b")));
        assert_eq!(inside("/..a/b..c"), Some(PathBuf::from("..a/b..c")));
    }

    #[test]
    fn anything_that_climbs_or_hides_a_nul_is_refused() {
        for path in [
            "/..",
            "/a/../../etc/passwd",
            "/%2e%2e/etc/passwd",
            "/%2E%2E%2Fetc%2Fpasswd",
            "/a/%2e%2e",
            "/a%00.txt",
            "/a%2F..%2F..",
        ] {
            assert_eq!(inside(path), None, "{path}");
        }
    }
}
