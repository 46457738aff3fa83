//! The agents crate's integration tests, one module per file, in one binary (one link,
//! and the test threads stay busy across files): `cargo test -p zkopml-agents --test anvil
//! <module>::` runs one file.

mod common;
mod e2e;
mod faults;
mod load;
mod v4;
mod v4_agents;
mod v4_monitor;
mod v4_store;
