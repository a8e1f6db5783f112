//! Fuzz target `params`: see `properties::params`.
ringserve_fuzz::afl_main!(ringserve_fuzz::properties::params::check);
