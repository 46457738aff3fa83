#![doc = include_str!("../README.md")]

mod error;
mod server;
mod snapshot;

pub use error::{ExplorerError, Result};
pub use server::{router, Explorer, PAGE};
pub use snapshot::{
    ContentView, DescentHistory, DescentLevelView, GameHistory, LeafView, ModelView, Reader,
    RoundView, Snapshot, StepView, TxView,
};
