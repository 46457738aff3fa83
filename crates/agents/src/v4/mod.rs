//! Protocol version 4 (docs/protocol.md §10) from the agents' side: deploying the stack with
//! the protocol's template keys, and playing a version-4 dispute game.

mod deploy;

pub use deploy::{
    deploy, template_gas_limit, template_key_args, DEVNET_BOND_FLOOR, TEMPLATE_KEY_DIR,
};
