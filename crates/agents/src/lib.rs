#![doc = include_str!("../README.md")]

mod challenger;
mod ctx;
mod data;
pub mod devnet;
mod error;
mod head;
mod job;
pub mod model;
pub mod requester;
mod state;
pub mod status;
mod submitter;
mod timeline;
pub mod v4;

pub use challenger::{Challenger, ChallengerConfig, DisputeMode};
pub use ctx::{Ctx, DevnetConfig, ANVIL_KEYS};
pub use data::{IntTensors, PublishedTrace};
pub use error::{AgentError, Result};
pub use submitter::{Submitter, SubmitterConfig};
pub use timeline::{Timeline, TimelineEntry};
