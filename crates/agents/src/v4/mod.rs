//! Protocol version 4 (docs/protocol.md §10) from the agents' side: deploying the stack with
//! the protocol's template keys, proving leaves under them, playing a version-4 dispute
//! game for either role, and the long-running submitter and challenger agents.

mod challenger;
mod deploy;
mod game;
mod job;
mod model;
pub mod monitor;
mod prover;
pub mod status;
mod submitter;

pub use challenger::{V4Challenger, V4ChallengerConfig};
pub use deploy::{
    deploy, template_gas_limit, template_key_args, DEVNET_BOND_FLOOR, DEVNET_TIME_FLOOR,
    TEMPLATE_KEY_DIR,
};
pub use game::{
    challenge, finalize, game, play, register, request, respond, Move, Player, Role, V4Model,
};
pub use job::answer;
pub use model::{
    lie, load, load_request, lower, register_lowered, register_onnx, request_inputs, trace, Defect,
    LoadedV4,
};
pub use prover::{ChainProof, TemplateProver};
pub use submitter::{V4Submitter, V4SubmitterConfig};
