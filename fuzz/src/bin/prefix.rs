//! Fuzz target `prefix`: see `properties::prefix`.
ringserve_fuzz::afl_main!(ringserve_fuzz::properties::prefix::check);
