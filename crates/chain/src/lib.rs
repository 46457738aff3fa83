#![doc = include_str!("../README.md")]

mod bindings;
mod client;
mod error;
pub mod heads;
pub mod signer;
pub mod types;
pub mod v4;

pub use bindings::{
    descent_lib, market, market_v4, registry, registry_v4, template_registry, template_verifier,
    verifier,
};
pub use client::{Chain, ClientOptions, Deployment, TxInfo};
pub use error::{ChainError, Result};

pub use alloy::primitives::{Address, Bytes, B256, U256};
/// What [`Chain::send`] returns with its [`TxInfo`].
pub use alloy::rpc::types::TransactionReceipt;
/// What [`Chain::send`] takes: a contract call bound to the client's provider.
pub use alloy::{
    contract::{CallBuilder, CallDecoder},
    providers::DynProvider,
    sol_types::SolEvent,
};
