//! The version-4 trace of one run of a lowered program: every tensor's commitment, the
//! states, the step outputs and the trace leaves (§10.1), with the openings the game's
//! moves carry.
//!
//! The trace holds the engine's values (the narrow tensors) and their chunk trees, but not
//! the wide partial sums of the reductions: those are most of a CNN's trace (mobilenet_v2:
//! 300 M values, 9.6 GB as field elements, against 3.5 M narrow ones), so they are hashed
//! as they are produced, tap by tap, and only their commitments kept. A move or a leaf that
//! opens one re-derives it from the reduction's input ([`V4Trace::data`], [`V4Trace::tree`]).

use std::{borrow::Cow, sync::Arc};

use alloy_primitives::{keccak256, B256};
use ark_bn254::Fr;
use rayon::prelude::*;
use zkopml_commit::{
    chunk_trees, chunked_commitment_of, chunked_commitments, fr_to_bytes32, tensor_header,
    wide_tree, wide_trees, ChunkTree, KeccakTree, MerkleProof,
};
use zkopml_engine::{activations, ops::Op, program::ValueKind, Program, Tensor};

use super::{
    lower::{i128_fr, Data, LOpKind, LValueId, Lowered, Origin},
    V4Error,
};
use crate::templates::{
    ConvDispute, GapDispute, GemmDispute, GroupDispute, MatMulDispute, PoolDispute,
};

/// Partial-sum tensors hashed together (a batch is `WIDE_BATCH × output length` field
/// elements in memory: 8 MB for mobilenet_v2's widest reduction).
const WIDE_BATCH: usize = 32;

/// How a wide partial-sum tensor the trace does not keep is re-derived.
#[derive(Clone, Debug)]
enum WideRecipe {
    /// `acc_{block+1}` of the `Gemm` of engine node `node` (its decomposition is kept).
    Gemm { node: usize, block: usize },
    /// `acc_{block+1}` of a `Conv` over the narrow value `x`.
    Conv {
        dispute: Arc<ConvDispute>,
        x: usize,
        block: usize,
    },
    /// `acc_{block+1}` of a `MaxPool` over the narrow value `x`.
    Pool {
        dispute: Arc<PoolDispute>,
        x: usize,
        block: usize,
    },
    /// `acc_{block+1}` of a global average pool's plane sums over the narrow value `x`.
    Gap {
        dispute: Arc<GapDispute>,
        x: usize,
        block: usize,
    },
    /// `acc_{block+1}` of a matrix product of the narrow values `a` and `b`.
    MatMul {
        dispute: Arc<MatMulDispute>,
        a: usize,
        b: usize,
        block: usize,
    },
    /// `acc_{block+1}` of a group reduction over the narrow value `x`.
    Group {
        dispute: Arc<GroupDispute>,
        x: usize,
        block: usize,
    },
}

/// Every commitment of one run under version 4.
#[derive(Clone, Debug)]
pub struct V4Trace {
    /// Contents of every value the trace keeps (inputs, constants, narrow outputs); `None`
    /// for a wide partial-sum tensor ([`Self::data`] re-derives it).
    kept: Vec<Option<Data>>,
    /// Chunk tree of every kept value.
    kept_trees: Vec<Option<ChunkTree>>,
    /// How each value the trace does not keep is re-derived.
    recipes: Vec<Option<WideRecipe>>,
    /// The decomposition of every `Gemm` node (its partial sums from the run's `A`).
    gemms: std::collections::HashMap<usize, GemmDispute>,
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

/// `S_0` from the program's runtime inputs alone (in the program's order): the request's
/// input state, with nothing run and only the inputs hashed. Equal to
/// [`V4Trace::compute`]'s `state_roots[0]`.
pub fn input_state(lowered: &Lowered, inputs: &[Tensor]) -> Result<B256, V4Error> {
    boundary_state(lowered, 0, "input", &lowered.inputs, inputs)
}

/// `S_n` from the program's outputs alone (the engine's, in the program's order): the
/// response's output state. Inference and this are an honest party's whole cost on the
/// happy path — a submitter responds with it and a challenger checks a response with it;
/// the trace is computed only when a game needs it (docs/protocol.md §10.3). Equal to
/// [`V4Trace::compute`]'s [`V4Trace::final_state`].
pub fn output_state(lowered: &Lowered, outputs: &[Tensor]) -> Result<B256, V4Error> {
    boundary_state(
        lowered,
        lowered.num_steps(),
        "output",
        &lowered.outputs,
        outputs,
    )
}

/// `S_b` when every value live at boundary `b` is one of `ids` (the runtime inputs at 0,
/// the graph outputs at `n`: the liveness rule of [`Lowered::layout`]) with the data of
/// `tensors` (same order): the keccak tree over the live values' `C(T)` in slot order,
/// padded with zeros to the state's width, as [`V4Trace::compute`] builds every state.
fn boundary_state(
    lowered: &Lowered,
    b: usize,
    what: &'static str,
    ids: &[LValueId],
    tensors: &[Tensor],
) -> Result<B256, V4Error> {
    let wrong = |v: LValueId, reason: String| V4Error::BoundaryTensor {
        what,
        name: lowered.values[v].name.clone(),
        reason,
    };
    if tensors.len() != ids.len() {
        let v = ids.get(tensors.len()).or(ids.last()).copied().unwrap_or(0);
        return Err(wrong(
            v,
            format!(
                "{} {what}s given, the program has {}",
                tensors.len(),
                ids.len()
            ),
        ));
    }
    let mut live = Vec::with_capacity(lowered.layout(b).len());
    for &v in lowered.layout(b) {
        let i = ids
            .iter()
            .position(|id| *id == v)
            .ok_or_else(|| wrong(v, format!("live at boundary {b} but not a program {what}")))?;
        let shape = lowered.values[v].shape.as_slice();
        let data = tensors[i].data.as_slice();
        let len: usize = shape.iter().product();
        if data.len() != len {
            return Err(wrong(
                v,
                format!("{} values, the lowered value has {len}", data.len()),
            ));
        }
        live.push((v, shape, data));
    }
    let pairs: Vec<(&[usize], &[i32])> = live.iter().map(|(_, s, d)| (*s, *d)).collect();
    let mut words = Vec::with_capacity(lowered.state_slots());
    for ((v, _, _), c) in live.iter().zip(chunked_commitments(&pairs)) {
        let c = c.ok_or_else(|| V4Error::Uncommittable(lowered.values[*v].name.clone()))?;
        words.push(word(&c));
    }
    words.resize(lowered.state_slots(), word(&Fr::from(0u64)));
    Ok(KeccakTree::from_values(&words).root())
}

/// `keccak256(S ‖ P)`.
pub fn trace_leaf(state: B256, prev_outputs: B256) -> B256 {
    keccak256([state.as_slice(), prev_outputs.as_slice()].concat())
}

/// One tap of a `Conv`'s running sums: `acc += W'[t, co(p)]·X[src_t(p)]`.
fn conv_tap(d: &ConvDispute, x: &Tensor, acc: &mut [i128], t: usize) {
    let (w, row) = (&d.weights.data, d.weights.shape[1]);
    for (p, s) in acc.iter_mut().enumerate() {
        if let (co, Some(f)) = d.params.source(p, t) {
            *s += w[t * row + co] as i128 * x.data[f] as i128;
        }
    }
}

/// One tap of a `MaxPool`'s running maxima: `acc = max(acc, X[src_t(p)])`.
fn pool_tap(d: &PoolDispute, x: &Tensor, acc: &mut [i128], t: usize) {
    for (p, s) in acc.iter_mut().enumerate() {
        if let (_, Some(f)) = d.params.source(p, t) {
            *s = (*s).max(x.data[f] as i128);
        }
    }
}

/// Commitments of a batch of wide tensors, hashed on every core.
fn wide_commitments(lowered: &Lowered, batch: &[(usize, Vec<Fr>)]) -> Vec<(usize, Fr)> {
    batch
        .par_chunks(4)
        .flat_map_iter(|group| {
            let refs: Vec<&[Fr]> = group.iter().map(|(_, v)| v.as_slice()).collect();
            let trees = wide_trees(&refs);
            group
                .iter()
                .zip(trees)
                .map(|((v, _), t)| {
                    let h = tensor_header(&lowered.values[*v].shape).unwrap_or_default();
                    (*v, chunked_commitment_of(h, t.root()))
                })
                .collect::<Vec<_>>()
        })
        .collect()
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
        Self::compute_inner(lowered, program, inputs, fault, None)
    }

    /// The faulty run `fault = (node, element)` of [`Self::compute`], reusing from `honest`
    /// (the fault-free trace of the same lowering and inputs) every value that the fault does
    /// not reach: only the faulty node's operators and those downstream of them are
    /// recomputed and re-hashed. Equal to `compute(lowered, program, inputs, Some(fault))`
    /// (tested); a test actor's lie late in a large model then costs a fraction of a trace.
    pub fn compute_faulty_from(
        honest: &V4Trace,
        lowered: &Lowered,
        program: &Program,
        inputs: &[Tensor],
        fault: (usize, usize),
    ) -> Result<Self, V4Error> {
        Self::compute_inner(lowered, program, inputs, Some(fault), Some(honest))
    }

    fn compute_inner(
        lowered: &Lowered,
        program: &Program,
        inputs: &[Tensor],
        fault: Option<(usize, usize)>,
        reuse: Option<&V4Trace>,
    ) -> Result<Self, V4Error> {
        let engine = activations(program, inputs, fault)?;
        let count = lowered.values.len();
        // Which values the fault reaches (all of them when nothing is reused): the faulty
        // node's outputs and everything computed from them, at the engine's level (a node
        // reading a reached value) and at the lowering's (an operator reading one).
        let reached: Vec<bool> = match (fault, reuse) {
            (Some((fault_node, _)), Some(h)) => {
                if h.kept.len() != count {
                    return Err(V4Error::ValueOutOfRange {
                        index: h.kept.len(),
                        count,
                    });
                }
                let mut engine_reached = vec![false; program.values.len()];
                let mut node_reached = vec![false; program.nodes.len()];
                for (k, n) in program.nodes.iter().enumerate() {
                    node_reached[k] =
                        k == fault_node || n.inputs.iter().any(|v| engine_reached[*v]);
                    engine_reached[n.output] = node_reached[k];
                }
                let mut reached = vec![false; count];
                for (id, v) in lowered.values.iter().enumerate() {
                    if let Origin::Op(o) = v.origin {
                        let op = &lowered.ops[o];
                        reached[id] = node_reached[op.node]
                            || op.inputs.iter().any(|i| *i >= id || reached[*i]);
                    }
                }
                reached
            }
            _ => vec![true; count],
        };
        let engine_value = |v: usize| -> Tensor {
            match &program.values[v].kind {
                ValueKind::Const(t) => t.clone(),
                _ => engine[v]
                    .clone()
                    .expect("every input and activation is computed"),
            }
        };
        let mut kept: Vec<Option<Data>> = vec![None; count];
        let mut recipes: Vec<Option<WideRecipe>> = vec![None; count];
        let mut gemms = std::collections::HashMap::new();
        for (id, v) in lowered.values.iter().enumerate() {
            if let (false, Some(h)) = (reached[id], reuse) {
                kept[id] = h.kept[id].clone();
                recipes[id] = h.recipes[id].clone();
                if let Some(WideRecipe::Gemm { node, .. }) = &recipes[id] {
                    if let Some(g) = h.gemms.get(node) {
                        gemms.entry(*node).or_insert_with(|| g.clone());
                    }
                }
                continue;
            }
            match &v.origin {
                Origin::Input(e) => kept[id] = Some(Data::Narrow(engine_value(*e))),
                Origin::Const { data, .. } => kept[id] = Some(data.clone()),
                Origin::Op(o) => {
                    let op = &lowered.ops[*o];
                    let node = &program.nodes[op.node];
                    recipes[id] = match op.kind {
                        LOpKind::GemmBlock { block, .. } => {
                            if let std::collections::hash_map::Entry::Vacant(e) =
                                gemms.entry(op.node)
                            {
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
                                e.insert(d);
                            }
                            Some(WideRecipe::Gemm {
                                node: op.node,
                                block,
                            })
                        }
                        LOpKind::ConvBlock { block, ref dispute } => Some(WideRecipe::Conv {
                            dispute: dispute.clone(),
                            x: op.inputs[1],
                            block,
                        }),
                        LOpKind::PoolBlock { block, ref dispute } => Some(WideRecipe::Pool {
                            dispute: dispute.clone(),
                            x: op.inputs[1],
                            block,
                        }),
                        LOpKind::GapBlock { block, ref dispute } => Some(WideRecipe::Gap {
                            dispute: dispute.clone(),
                            x: op.inputs[1],
                            block,
                        }),
                        LOpKind::MatMulBlock { block, ref dispute } => Some(WideRecipe::MatMul {
                            dispute: dispute.clone(),
                            a: op.inputs[1],
                            b: op.inputs[2],
                            block,
                        }),
                        LOpKind::GroupBlock { block, ref dispute } => Some(WideRecipe::Group {
                            dispute: dispute.clone(),
                            x: op.inputs[1],
                            block,
                        }),
                        // A Softmax's intermediates (and its output before an axis move
                        // back) from the kept X' (groups contiguous).
                        LOpKind::Rescale { .. }
                        | LOpKind::SoftmaxExp { .. }
                        | LOpKind::SoftmaxFinish { .. }
                        | LOpKind::ArgMaxMark { .. }
                            if matches!(
                                node.op,
                                Op::Softmax(_) | Op::ArgMax(_) | Op::Reduce(_)
                            ) && lowered.of_engine[node.output] != Some(id) =>
                        {
                            let data = softmax_part(lowered, &kept, op)
                                .ok_or_else(|| V4Error::Uncommittable(v.name.clone()))?;
                            kept[id] = Some(Data::Narrow(Tensor::new(v.shape.clone(), data)));
                            None
                        }
                        // A LayerNorm's packed statistics from the node's input (small:
                        // one value a group, kept).
                        LOpKind::LayerNormStats { n, eps_q48 } => {
                            let x = engine_value(node.inputs[0]);
                            let p = crate::templates::LayerNormPlan {
                                n,
                                groups: x.data.len() / n.max(1),
                                eps_q48,
                            };
                            kept[id] = Some(Data::Wide(p.stats(&x.data)));
                            None
                        }
                        // The first leaf of Erf/Gelu: U from the node's input.
                        LOpKind::Unary(f) if f.two_stage() => {
                            let x = engine_value(node.inputs[0]);
                            let u = x.data.iter().map(|q| f.first_stage(*q)).collect();
                            kept[id] = Some(Data::Narrow(Tensor::new(x.shape.clone(), u)));
                            None
                        }
                        // A broadcast operand (not the node's output): moved from its input.
                        LOpKind::Gather(view) if lowered.of_engine[node.output] != Some(id) => {
                            let x = match &kept[op.inputs[0]] {
                                Some(Data::Narrow(t)) => t,
                                _ => return Err(V4Error::Uncommittable(v.name.clone())),
                            };
                            let data = view
                                .apply(&x.data)
                                .ok_or_else(|| V4Error::Uncommittable(v.name.clone()))?;
                            kept[id] = Some(Data::Narrow(Tensor::new(v.shape.clone(), data)));
                            None
                        }
                        // An elementwise intermediate (ReduceMin's complements, a Concat's
                        // selections, GELU-tanh's argument and tanh) from its kept operands.
                        LOpKind::Binary(_)
                        | LOpKind::Logic(_)
                        | LOpKind::Unary(_)
                        | LOpKind::Gate(_)
                            if lowered.of_engine[node.output] != Some(id) =>
                        {
                            let data = elementwise_part(&kept, op)
                                .ok_or_else(|| V4Error::Uncommittable(v.name.clone()))?;
                            kept[id] = Some(Data::Narrow(Tensor::new(v.shape.clone(), data)));
                            None
                        }
                        // The node's own output (a faulty one stays faulty).
                        _ => {
                            kept[id] = Some(Data::Narrow(engine_value(node.output)));
                            None
                        }
                    };
                }
            }
        }
        // Narrow trees eight chunks at a time where the CPU allows; kept wide ones (the
        // constants `acc_0`) one by one.
        let narrow: Vec<usize> = (0..count)
            .filter(|i| reached[*i] && matches!(kept[*i], Some(Data::Narrow(_))))
            .collect();
        let narrow_trees = chunk_trees(
            &narrow
                .iter()
                .map(|i| match &kept[*i] {
                    Some(Data::Narrow(t)) => t.data.as_slice(),
                    _ => unreachable!("filtered"),
                })
                .collect::<Vec<_>>(),
        );
        let mut kept_trees: Vec<Option<ChunkTree>> = vec![None; count];
        for (i, t) in narrow.into_iter().zip(narrow_trees) {
            kept_trees[i] = Some(t);
        }
        for (i, d) in kept.iter().enumerate() {
            match (reached[i], reuse, d) {
                (false, Some(h), _) => kept_trees[i] = h.kept_trees[i].clone(),
                (_, _, Some(Data::Wide(v))) => kept_trees[i] = Some(wide_tree(v)),
                _ => {}
            }
        }
        let mut commitments: Vec<Option<Fr>> = lowered
            .values
            .iter()
            .zip(&kept_trees)
            .map(|(v, t)| {
                let t = t.as_ref()?;
                Some(chunked_commitment_of(tensor_header(&v.shape)?, t.root()))
            })
            .collect();
        // The partial sums, reduction by reduction and tap by tap, hashed in batches.
        let mut batch: Vec<(usize, Vec<Fr>)> = Vec::with_capacity(WIDE_BATCH);
        let flush = |batch: &mut Vec<(usize, Vec<Fr>)>, commitments: &mut [Option<Fr>]| {
            for (v, c) in wide_commitments(lowered, batch) {
                commitments[v] = Some(c);
            }
            batch.clear();
        };
        let mut running: Option<(usize, Vec<i128>)> = None;
        for (id, recipe) in recipes.iter().enumerate() {
            let Some(recipe) = recipe else { continue };
            if let (false, Some(h)) = (reached[id], reuse) {
                commitments[id] = Some(h.commitments[id]);
                continue;
            }
            let values: Vec<Fr> = match recipe {
                WideRecipe::Gemm { node, block } => gemms[node].acc_fr(block + 1),
                WideRecipe::Conv { dispute, x, block } => {
                    let x = narrow_of(&kept, *x)?;
                    next_tap(
                        &mut running,
                        id,
                        *block,
                        |b| dispute.acc(x, b),
                        |acc| conv_tap(dispute, x, acc, *block),
                    )
                }
                WideRecipe::Pool { dispute, x, block } => {
                    let x = narrow_of(&kept, *x)?;
                    next_tap(
                        &mut running,
                        id,
                        *block,
                        |b| dispute.acc(x, b),
                        |acc| pool_tap(dispute, x, acc, *block),
                    )
                }
                WideRecipe::Gap { dispute, x, block } => dispute
                    .acc(narrow_of(&kept, *x)?, block + 1)
                    .into_iter()
                    .map(i128_fr)
                    .collect(),
                WideRecipe::MatMul {
                    dispute,
                    a,
                    b,
                    block,
                } => {
                    let (a, b) = (narrow_of(&kept, *a)?, narrow_of(&kept, *b)?);
                    next_tap(
                        &mut running,
                        id,
                        *block,
                        |t| dispute.acc(&a.data, &b.data, t),
                        |acc| dispute.tap(&a.data, &b.data, acc, *block),
                    )
                }
                WideRecipe::Group { dispute, x, block } => {
                    let x = narrow_of(&kept, *x)?;
                    next_tap(
                        &mut running,
                        id,
                        *block,
                        |b| dispute.acc(&x.data, b),
                        |acc| dispute.fold_block(&x.data, *block, acc),
                    )
                }
            };
            batch.push((id, values));
            if batch.len() == WIDE_BATCH {
                flush(&mut batch, &mut commitments);
            }
        }
        flush(&mut batch, &mut commitments);
        let commitments: Vec<Fr> = lowered
            .values
            .iter()
            .zip(commitments)
            .map(|(v, c)| c.ok_or_else(|| V4Error::Uncommittable(v.name.clone())))
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
        let state_roots: Vec<B256> = states.par_iter().map(|s| root_of(s)).collect();
        let output_roots: Vec<B256> = outputs.par_iter().map(|p| root_of(p)).collect();
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
            kept,
            kept_trees,
            recipes,
            gemms,
            commitments,
            states,
            outputs,
            state_roots,
            output_roots,
            leaves,
            tree,
        })
    }

    /// The contents of value `v` (a wide partial-sum tensor is re-derived from its
    /// reduction's input: `O(block × length)`).
    pub fn data(&self, v: usize) -> Result<Cow<'_, Data>, V4Error> {
        if let Some(d) = self.kept.get(v).and_then(Option::as_ref) {
            return Ok(Cow::Borrowed(d));
        }
        let recipe =
            self.recipes
                .get(v)
                .and_then(Option::as_ref)
                .ok_or(V4Error::ValueOutOfRange {
                    index: v,
                    count: self.kept.len(),
                })?;
        let acc = match recipe {
            WideRecipe::Gemm { node, block } => {
                return Ok(Cow::Owned(Data::Wide(self.gemms[node].acc_fr(block + 1))))
            }
            WideRecipe::Conv { dispute, x, block } => {
                dispute.acc(narrow_of(&self.kept, *x)?, block + 1)
            }
            WideRecipe::Pool { dispute, x, block } => {
                dispute.acc(narrow_of(&self.kept, *x)?, block + 1)
            }
            WideRecipe::Gap { dispute, x, block } => {
                dispute.acc(narrow_of(&self.kept, *x)?, block + 1)
            }
            WideRecipe::Group { dispute, x, block } => {
                dispute.acc(&narrow_of(&self.kept, *x)?.data, block + 1)
            }
            WideRecipe::MatMul {
                dispute,
                a,
                b,
                block,
            } => dispute.acc(
                &narrow_of(&self.kept, *a)?.data,
                &narrow_of(&self.kept, *b)?.data,
                block + 1,
            ),
        };
        Ok(Cow::Owned(Data::Wide(
            acc.into_iter().map(i128_fr).collect(),
        )))
    }

    /// The chunk tree of value `v` (re-derived for a wide partial-sum tensor).
    pub fn tree(&self, v: usize) -> Result<Cow<'_, ChunkTree>, V4Error> {
        if let Some(t) = self.kept_trees.get(v).and_then(Option::as_ref) {
            return Ok(Cow::Borrowed(t));
        }
        Ok(Cow::Owned(self.data(v)?.tree()))
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

    /// A test actor's trace: this one with slot `slot` of `S_n` holding `value` instead (an
    /// assembly lie at the last step: every operator output, and so every `P_i`, true). Its
    /// `S_n` is a well-formed state that differs from the truth in that slot alone.
    pub fn misassembled_final(&self, slot: usize, value: Fr) -> Result<Self, V4Error> {
        let mut t = self.clone();
        let n = t.states.len() - 1;
        let count = t.states[n].len();
        *t.states[n]
            .get_mut(slot)
            .ok_or(V4Error::ValueOutOfRange { index: slot, count })? = value;
        t.state_roots[n] =
            KeccakTree::from_values(&t.states[n].iter().map(word).collect::<Vec<_>>()).root();
        let prev = if n == 0 {
            B256::ZERO
        } else {
            t.output_roots[n - 1]
        };
        t.leaves[n] = trace_leaf(t.state_roots[n], prev);
        t.tree = KeccakTree::from_values(&t.leaves);
        Ok(t)
    }

    /// `S_n`: the response's output commitment.
    pub fn final_state(&self) -> B256 {
        *self.state_roots.last().expect("n + 1 states")
    }
}

/// A Softmax intermediate computed natively from the kept values before it: `m` (the
/// `rescale_chunk` after the maxima, from the maxima's `X'`), `e` (from `X'` and `m`), `y`
/// before an axis move back (from `e`).
fn softmax_part(
    lowered: &Lowered,
    kept: &[Option<Data>],
    op: &super::lower::LOp,
) -> Option<Vec<i32>> {
    let narrow = |v: usize| match kept.get(v) {
        Some(Some(Data::Narrow(t))) => Some(&t.data),
        _ => None,
    };
    match op.kind {
        LOpKind::Rescale { .. } => {
            let Origin::Op(p) = lowered.values[op.inputs[0]].origin else {
                return None;
            };
            let last = &lowered.ops[p];
            let LOpKind::GroupBlock { ref dispute, .. } = last.kind else {
                return None;
            };
            let x = narrow(last.inputs[1])?;
            Some(
                dispute
                    .acc(x, dispute.blocks())
                    .into_iter()
                    .map(|v| v as i32)
                    .collect(),
            )
        }
        LOpKind::SoftmaxExp { n } => {
            let (x, m) = (narrow(op.inputs[0])?, narrow(op.inputs[1])?);
            x.iter()
                .enumerate()
                .map(|(i, v)| {
                    let m = *m.get(i / n.max(1))?;
                    Some(zkopml_engine::ops::exp_q30((*v as i64 - m as i64).min(0)) as i32)
                })
                .collect()
        }
        LOpKind::ArgMaxMark { n, last } => {
            let (x, m) = (narrow(op.inputs[0])?, narrow(op.inputs[1])?);
            x.iter()
                .enumerate()
                .map(|(i, v)| {
                    let m = *m.get(i / n.max(1))?;
                    Some(crate::templates::argmax_mark(*v, m, i % n.max(1), last))
                })
                .collect()
        }
        LOpKind::SoftmaxFinish { n } => {
            let e = narrow(op.inputs[0])?;
            let n = n.max(1);
            let s: Vec<i128> = e
                .chunks(n)
                .map(|g| g.iter().map(|v| *v as i128).sum())
                .collect();
            Some(
                e.iter()
                    .enumerate()
                    .map(|(i, v)| match s[i / n] {
                        s if s > 0 => zkopml_engine::ops::softmax_element(*v as i64, s),
                        _ => 0,
                    })
                    .collect(),
            )
        }
        _ => None,
    }
}

/// An elementwise intermediate computed natively from its kept operands (all of its length).
fn elementwise_part(kept: &[Option<Data>], op: &super::lower::LOp) -> Option<Vec<i32>> {
    let narrow = |k: usize| match kept.get(*op.inputs.get(k)?) {
        Some(Some(Data::Narrow(t))) => Some(&t.data),
        _ => None,
    };
    let a = narrow(0)?;
    let at = |k: usize, i: usize| narrow(k).and_then(|t| t.get(i).copied());
    (0..a.len())
        .map(|i| {
            Some(match op.kind {
                LOpKind::Binary(k) => k.apply(a[i], at(1, i)?, 0),
                LOpKind::Logic(l) => l.apply(a[i], at(1, i)?, at(2, i)?),
                LOpKind::Unary(f) => f.first_stage(a[i]),
                LOpKind::Gate(g) => g.apply(a[i], at(1, i)?),
                _ => return None,
            })
        })
        .collect()
}

/// The kept narrow tensor of value `v`.
fn narrow_of(kept: &[Option<Data>], v: usize) -> Result<&Tensor, V4Error> {
    match kept.get(v) {
        Some(Some(Data::Narrow(t))) => Ok(t),
        _ => Err(V4Error::ValueOutOfRange {
            index: v,
            count: kept.len(),
        }),
    }
}

/// `acc_{block+1}` of a reduction at value `id`, as field elements: the accumulator the
/// previous value left when `id` continues its reduction (the blocks of a reduction are
/// consecutive values), else `acc_block` from scratch, advanced by one `tap`.
fn next_tap(
    running: &mut Option<(usize, Vec<i128>)>,
    id: usize,
    block: usize,
    from_scratch: impl FnOnce(usize) -> Vec<i128>,
    tap: impl FnOnce(&mut [i128]),
) -> Vec<Fr> {
    let mut acc = match running.take() {
        Some((prev, acc)) if block > 0 && prev + 1 == id => acc,
        _ => from_scratch(block),
    };
    tap(&mut acc);
    let values = acc.iter().map(|v| i128_fr(*v)).collect();
    *running = Some((id, acc));
    values
}
