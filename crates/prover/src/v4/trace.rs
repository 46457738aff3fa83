//! The version-4 trace of one run of a lowered program: every tensor, its chunk tree and
//! commitment, the states, the step outputs and the trace leaves (§10.1), with the
//! openings the game's moves carry.

use alloy_primitives::{keccak256, B256};
use ark_bn254::Fr;
use zkopml_commit::{
    chunk_trees, chunked_commitment_of, fr_to_bytes32, tensor_header, wide_tree, ChunkTree,
    KeccakTree, MerkleProof,
};
use zkopml_engine::{activations, ops::Op, program::ValueKind, Program, Tensor};

use super::{
    lower::{i128_fr, Data, LOpKind, Lowered, Origin},
    V4Error,
};
use crate::templates::GemmDispute;

/// Every commitment of one run under version 4.
#[derive(Clone, Debug)]
pub struct V4Trace {
    /// Contents of every value (constants included).
    pub data: Vec<Data>,
    /// Chunk tree of every value.
    pub trees: Vec<ChunkTree>,
    /// `C(T)` of every value.
    pub commitments: Vec<Fr>,
    /// The `W` slot commitments of `S_0 … S_n` (0 for an empty slot).
    pub states: Vec<Vec<Fr>>,
    /// The `N` entries of `P_0 … P_{n−1}` (0 past the last operator).
    pub outputs: Vec<Vec<Fr>>,
    /// `S_0 … S_n`.
    pub state_roots: Vec<B256>,
    /// `P_0 … P_{n−1}`.
    pub output_roots: Vec<B256>,
    /// `L_0 … L_n`.
    pub leaves: Vec<B256>,
    tree: KeccakTree,
}

fn word(f: &Fr) -> B256 {
    B256::from(fr_to_bytes32(f))
}

/// `acc_1 … acc_B` from `acc_0` by `step(acc, t)` for each tap `t`, as field elements.
fn running(start: &[i128], taps: usize, mut step: impl FnMut(&mut [i128], usize)) -> Vec<Vec<Fr>> {
    let mut acc = start.to_vec();
    (0..taps)
        .map(|t| {
            step(&mut acc, t);
            acc.iter().map(|v| i128_fr(*v)).collect()
        })
        .collect()
}

/// `keccak256(S ‖ P)`.
pub fn trace_leaf(state: B256, prev_outputs: B256) -> B256 {
    keccak256([state.as_slice(), prev_outputs.as_slice()].concat())
}

impl V4Trace {
    /// Runs `program` on `inputs` (quantised) and commits every value of its lowering. With
    /// `fault = Some((node, element))` the run is the consistent wrong one of
    /// [`zkopml_engine::activations`] (tests of the game).
    pub fn compute(
        lowered: &Lowered,
        program: &Program,
        inputs: &[Tensor],
        fault: Option<(usize, usize)>,
    ) -> Result<Self, V4Error> {
        let engine = activations(program, inputs, fault)?;
        let engine_value = |v: usize| -> Tensor {
            match &program.values[v].kind {
                ValueKind::Const(t) => t.clone(),
                _ => engine[v]
                    .clone()
                    .expect("every input and activation is computed"),
            }
        };
        // The partial sums of every Gemm, from its (possibly faulty) input.
        let mut sums: Vec<Option<GemmDispute>> = vec![None; program.nodes.len()];
        // Every tap's partial sums of a Conv or MaxPool node, taken one by one.
        let mut taps: std::collections::HashMap<usize, Vec<Vec<Fr>>> = Default::default();
        let mut data: Vec<Option<Data>> = vec![None; lowered.values.len()];
        for (id, v) in lowered.values.iter().enumerate() {
            data[id] = Some(match &v.origin {
                Origin::Input(e) => Data::Narrow(engine_value(*e)),
                Origin::Const { data, .. } => data.clone(),
                Origin::Op(o) => {
                    let op = &lowered.ops[*o];
                    let node = &program.nodes[op.node];
                    match op.kind {
                        LOpKind::GemmBlock { block, .. } => {
                            if sums[op.node].is_none() {
                                let Op::Gemm(g) = &node.op else {
                                    unreachable!("gemm blocks come from Gemm nodes")
                                };
                                let operand =
                                    |k: usize| node.inputs.get(k).map(|v| engine_value(*v));
                                let d = GemmDispute::new(
                                    g,
                                    &engine_value(node.inputs[0]),
                                    &engine_value(node.inputs[1]),
                                    operand(2).as_ref(),
                                )
                                .map_err(|reason| {
                                    V4Error::Unsupported {
                                        node: node.name.clone(),
                                        op: "Gemm",
                                        reason,
                                    }
                                })?;
                                sums[op.node] = Some(d);
                            }
                            let d = sums[op.node].as_ref().expect("just set");
                            Data::Wide(d.acc_fr(block + 1))
                        }
                        LOpKind::ConvBlock { block, ref dispute } => {
                            let x = engine_value(node.inputs[0]);
                            let sums = taps.entry(op.node).or_insert_with(|| {
                                let (w, row) = (&dispute.weights.data, dispute.weights.shape[1]);
                                running(&dispute.acc0, dispute.blocks(), |acc, t| {
                                    for (p, s) in acc.iter_mut().enumerate() {
                                        if let (co, Some(f)) = dispute.params.source(p, t) {
                                            *s += w[t * row + co] as i128 * x.data[f] as i128;
                                        }
                                    }
                                })
                            });
                            Data::Wide(std::mem::take(&mut sums[block]))
                        }
                        LOpKind::PoolBlock { block, ref dispute } => {
                            let x = engine_value(node.inputs[0]);
                            let sums = taps.entry(op.node).or_insert_with(|| {
                                let start = vec![i32::MIN as i128; dispute.len];
                                running(&start, dispute.blocks(), |acc, t| {
                                    for (p, s) in acc.iter_mut().enumerate() {
                                        if let (_, Some(f)) = dispute.params.source(p, t) {
                                            *s = (*s).max(x.data[f] as i128);
                                        }
                                    }
                                })
                            });
                            Data::Wide(std::mem::take(&mut sums[block]))
                        }
                        LOpKind::GapBlock { block, ref dispute } => {
                            let x = engine_value(node.inputs[0]);
                            let sums = taps.entry(op.node).or_insert_with(|| dispute.running(&x));
                            Data::Wide(std::mem::take(&mut sums[block]))
                        }
                        // The node's own output (a faulty one stays faulty).
                        _ => Data::Narrow(engine_value(node.output)),
                    }
                }
            });
        }
        let data: Vec<Data> = data.into_iter().map(|d| d.expect("every value")).collect();
        // Narrow trees eight chunks at a time where the CPU allows; wide ones one by one.
        let narrow: Vec<usize> = (0..data.len())
            .filter(|i| matches!(data[*i], Data::Narrow(_)))
            .collect();
        let narrow_trees = chunk_trees(
            &narrow
                .iter()
                .map(|i| match &data[*i] {
                    Data::Narrow(t) => t.data.as_slice(),
                    Data::Wide(_) => unreachable!("filtered"),
                })
                .collect::<Vec<_>>(),
        );
        let mut trees: Vec<Option<ChunkTree>> = vec![None; data.len()];
        for (i, t) in narrow.into_iter().zip(narrow_trees) {
            trees[i] = Some(t);
        }
        for (i, d) in data.iter().enumerate() {
            if let Data::Wide(v) = d {
                trees[i] = Some(wide_tree(v));
            }
        }
        let trees: Vec<ChunkTree> = trees.into_iter().map(|t| t.expect("every tree")).collect();
        let commitments: Vec<Fr> = lowered
            .values
            .iter()
            .zip(&trees)
            .map(|(v, t)| {
                tensor_header(&v.shape)
                    .map(|h| chunked_commitment_of(h, t.root()))
                    .ok_or_else(|| V4Error::Uncommittable(v.name.clone()))
            })
            .collect::<Result<_, _>>()?;
        let w = lowered.state_slots();
        let n = lowered.num_steps();
        let states: Vec<Vec<Fr>> = (0..=n)
            .map(|b| {
                let mut s: Vec<Fr> = lowered.layout(b).iter().map(|v| commitments[*v]).collect();
                s.resize(w, Fr::from(0u64));
                s
            })
            .collect();
        let outputs: Vec<Vec<Fr>> = (0..n)
            .map(|i| {
                let mut p: Vec<Fr> = lowered
                    .step_ops(i)
                    .map(|o| commitments[lowered.ops[o].output])
                    .collect();
                p.resize(lowered.ops_per_step, Fr::from(0u64));
                p
            })
            .collect();
        let root_of =
            |v: &[Fr]| KeccakTree::from_values(&v.iter().map(word).collect::<Vec<_>>()).root();
        let state_roots: Vec<B256> = states.iter().map(|s| root_of(s)).collect();
        let output_roots: Vec<B256> = outputs.iter().map(|p| root_of(p)).collect();
        let leaves: Vec<B256> = (0..=n)
            .map(|b| {
                let p = if b == 0 {
                    B256::ZERO
                } else {
                    output_roots[b - 1]
                };
                trace_leaf(state_roots[b], p)
            })
            .collect();
        let tree = KeccakTree::from_values(&leaves);
        Ok(Self {
            data,
            trees,
            commitments,
            states,
            outputs,
            state_roots,
            output_roots,
            leaves,
            tree,
        })
    }

    /// The trace root (what `challenge` and `commitTrace` carry).
    pub fn root(&self) -> B256 {
        self.tree.root()
    }

    /// Opening of `L_b` from the trace root.
    pub fn leaf_proof(&self, b: usize) -> Option<MerkleProof> {
        self.tree.prove(b)
    }

    /// Opening of slot `slot` of `S_b`.
    pub fn state_proof(&self, b: usize, slot: usize) -> Option<MerkleProof> {
        let s = self.states.get(b)?;
        KeccakTree::from_values(&s.iter().map(word).collect::<Vec<_>>()).prove(slot)
    }

    /// Opening of entry `position` of `P_i`.
    pub fn output_proof(&self, i: usize, position: usize) -> Option<MerkleProof> {
        let p = self.outputs.get(i)?;
        KeccakTree::from_values(&p.iter().map(word).collect::<Vec<_>>()).prove(position)
    }

    /// `S_n`: the response's output commitment.
    pub fn final_state(&self) -> B256 {
        *self.state_roots.last().expect("n + 1 states")
    }
}
