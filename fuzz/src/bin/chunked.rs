//! Fuzz target `chunked`: see `properties::chunked`.
ringserve_fuzz::afl_main!(ringserve_fuzz::properties::chunked::check);
