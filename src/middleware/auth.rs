//! Authentication helpers (being written).
