#![doc = include_str!("../README.md")]

mod curve;
mod derive;
mod error;
pub mod files;
mod phase2;
mod pok;
mod powers;
pub mod ptau;

pub use derive::{phase1_keys, phase1_keys_with, LagrangeBasis, TemplateR1cs};
pub use error::{CeremonyError, Result};
pub use phase2::{
    contribute, verify_contribution, verify_transcript, CeremonyKeys, Contribution, Transcript,
};
pub use pok::Pok;
pub use powers::{Phase1Contribution, Phase1Transcript, Powers, MAX_POWER};
