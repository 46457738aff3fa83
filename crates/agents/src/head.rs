//! Noticing that the chain below an agent changed: a reorganisation, or a node restarted
//! from a state older than what the agent saw (anvil killed and started again from its last
//! dump). Either can take back a response, a challenge or a move the agent made, so what
//! the agent remembers about them must be read again from the chain.

use alloy_primitives::B256;
use zkopml_chain::Chain;

use crate::Result;

/// The newest block an agent has seen.
#[derive(Debug, Default)]
pub(crate) struct HeadWatch {
    seen: Option<(u64, B256)>,
}

impl HeadWatch {
    /// Reads the chain's head and checks that the block seen last is still on the chain:
    /// returns the number of that block if it is not (the chain was reorganised or rolled
    /// back below it), `None` if it is (or on the first call).
    ///
    /// The head is read before the check, so a change between the two reads is seen on the
    /// next call rather than missed.
    pub(crate) async fn moved(&mut self, chain: &Chain) -> Result<Option<u64>> {
        let head = chain.head().await?;
        let moved = match self.seen {
            Some((n, hash)) if chain.block_hash(n).await? != Some(hash) => Some(n),
            _ => None,
        };
        self.seen = Some(head);
        Ok(moved)
    }
}
