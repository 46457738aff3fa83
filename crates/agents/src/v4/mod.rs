//! Protocol version 4 (docs/protocol.md §10) from the agents' side: deploying the stack with
//! the protocol's template keys, proving leaves under them, and playing a version-4 dispute
//! game for either role.

mod deploy;
mod game;
mod model;
mod prover;

pub use deploy::{
    deploy, template_gas_limit, template_key_args, DEVNET_BOND_FLOOR, TEMPLATE_KEY_DIR,
};
pub use game::{
    challenge, finalize, game, play, register, request, respond, Move, Player, Role, V4Model,
};
pub use model::{
    load, load_request, lower, register_lowered, register_onnx, request_inputs, trace, LoadedV4,
};
pub use prover::{ChainProof, TemplateProver};
