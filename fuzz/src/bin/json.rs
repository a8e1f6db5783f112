//! Fuzz target `json`: see `properties::json`.
ringserve_fuzz::afl_main!(ringserve_fuzz::properties::json::check);
