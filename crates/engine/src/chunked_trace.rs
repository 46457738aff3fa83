//! The version-4 commitments of an execution (`docs/protocol.md` §10.1,
//! `docs/commitments.md` "Version 4"), computed from the tensors of a run.
//!
//! - `C(T)` of every input and operator output: its chunk tree under its shape header;
//! - `S_b`: the keccak tree (`LibMerkle` layout) over `C(T)` of the tensors live at boundary
//!   `b`, in [`Program::layout`] order;
//! - `P_i`: the keccak tree over `C(Y)` of step `i`'s operator outputs, in node order;
//! - `L_0 = keccak256(S_0 ‖ 0)`, `L_{i+1} = keccak256(S_{i+1} ‖ P_i)`: the trace's leaves.
//!
//! Not yet the registered program version: version 3 (`exec`) is what the contracts play
//! until the remaining parts of §10.7 land.

use alloy_primitives::{keccak256, B256};
use rayon::prelude::*;
use zkopml_commit::{chunked_commitments, fr_to_bytes32, Fr, KeccakTree};

use crate::{program::ValueId, Program, Tensor};

/// Version-4 commitments of one execution.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ChunkedTrace {
    /// `C(T)` by value id (`None` for constants and values never computed).
    pub commitments: Vec<Option<Fr>>,
    /// `S_0 … S_n`.
    pub states: Vec<B256>,
    /// `P_0 … P_{n−1}`.
    pub steps: Vec<B256>,
    /// `L_0 … L_n`.
    pub leaves: Vec<B256>,
}

impl ChunkedTrace {
    /// Commits `values` (every input and activation by value id, as [`crate::Trace::values`])
    /// of a run of `program`. Tensors are hashed in parallel, each on one thread (its chunk
    /// leaves eight at a time where the CPU has AVX-512 IFMA); the result does not depend on
    /// the thread count.
    pub fn commit(program: &Program, values: &[Option<Tensor>]) -> Self {
        // Largest first, dealt to one group per thread by least load; each group's chunks are
        // hashed together, so short tensors share the eight lanes.
        let mut ids: Vec<ValueId> = (0..values.len()).filter(|i| values[*i].is_some()).collect();
        let len = |i: &ValueId| values[*i].as_ref().map_or(0, |t| t.data.len());
        ids.sort_by_key(|i| std::cmp::Reverse(len(i)));
        let threads = rayon::current_num_threads().max(1);
        let mut groups: Vec<(usize, Vec<ValueId>)> = vec![(0, Vec::new()); threads];
        for i in ids {
            let g = groups
                .iter_mut()
                .min_by_key(|(load, _)| *load)
                .expect("threads >= 1");
            g.0 += len(&i).max(1);
            g.1.push(i);
        }
        let hashed: Vec<(ValueId, Option<Fr>)> = groups
            .par_iter()
            .flat_map_iter(|(_, group)| {
                let tensors: Vec<(&[usize], &[i32])> = group
                    .iter()
                    .map(|i| {
                        let t = values[*i].as_ref().expect("filtered");
                        (t.shape.as_slice(), t.data.as_slice())
                    })
                    .collect();
                group.iter().copied().zip(chunked_commitments(&tensors))
            })
            .collect();
        let mut commitments = vec![None; values.len()];
        for (i, c) in hashed {
            commitments[i] = c;
        }
        let word = |v: &ValueId| B256::from(fr_to_bytes32(&commitments[*v].unwrap_or_default()));
        let states: Vec<B256> = (0..=program.num_steps())
            .map(|b| {
                KeccakTree::from_values(&program.layout(b).iter().map(word).collect::<Vec<_>>())
                    .root()
            })
            .collect();
        let steps: Vec<B256> = (0..program.num_steps())
            .map(|i| {
                let outs: Vec<B256> = program.nodes[program.step_nodes(i)]
                    .iter()
                    .map(|n| word(&n.output))
                    .collect();
                KeccakTree::from_values(&outs).root()
            })
            .collect();
        let leaves = states
            .iter()
            .enumerate()
            .map(|(b, s)| {
                let p = if b == 0 { B256::ZERO } else { steps[b - 1] };
                keccak256([s.as_slice(), p.as_slice()].concat())
            })
            .collect();
        Self {
            commitments,
            states,
            steps,
            leaves,
        }
    }

    /// The trace root: the keccak tree over `L_0 … L_n`.
    pub fn root(&self) -> B256 {
        KeccakTree::from_values(&self.leaves).root()
    }
}
