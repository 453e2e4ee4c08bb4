//! The benchmark harness of healthapi (see BENCHMARKS.md): the driver (`bench`), the load
//! generator it runs as a separate process (`bench load`), the raw in-process baselines, and the
//! bare baseline server (`bare`).

pub mod client;
pub mod load;
pub mod procfs;
pub mod raw;
pub mod seed;
