//! The engine crate's integration tests, one module per file, in one binary (one link,
//! and the test threads stay busy across files): `cargo test -p zkopml-engine --test programs
//! <module>::` runs one file.

mod chunked_trace;
mod conformance;
mod evaluate;
mod exports;
mod fidelity;
mod models;
mod sklearn;
mod symbolic_dims;
mod transformers;
mod truncated;
