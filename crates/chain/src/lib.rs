#![doc = include_str!("../README.md")]

mod bindings;
mod client;
mod error;
pub mod types;

pub use bindings::{market, registry, verifier};
pub use client::{Chain, Deployment, TxInfo};
pub use error::{ChainError, Result};

pub use alloy::primitives::{Address, Bytes, B256, U256};
