//! Fuzz target `head`: see `properties::head`.
ringserve_fuzz::afl_main!(ringserve_fuzz::properties::head::check);
