//! AFL++ fuzz targets for ringserve's parsers (issue 14): the head parser, the chunked body
//! decoder, the route-prefix trie, the ingress's path/query/header deserializer and its JSON
//! body extractor. Each target is a property in [`properties`] (shared with the suite's
//! `tests/fuzz.rs`) and a binary in `src/bin/` made by [`afl_main!`].
//!
//! Invariant: a binary is its property and nothing else, so a crash AFL++ finds replays in
//! `cargo test --test fuzz` (or `cargo afl run --bin NAME < crash`) exactly.

pub mod properties;

pub use afl;

/// The `main` of a fuzz target: installs the counting allocator the allowances need, then
/// hands every input AFL++ makes to `$property` in AFL++'s persistent mode.
#[macro_export]
macro_rules! afl_main {
    ($property:path) => {
        #[global_allocator]
        static ALLOCATOR: $crate::properties::CountingAllocator =
            $crate::properties::CountingAllocator;

        fn main() {
            $crate::afl::fuzz!(|data: &[u8]| {
                $property(data);
            });
        }
    };
}
