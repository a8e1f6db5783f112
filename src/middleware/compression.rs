//! Response compression (being written).
