//! The executor: runs a program step by step and commits to the state after each step.

use alloy_primitives::B256;
use rayon::prelude::*;
use tracing::{debug_span, info_span};
use zkopml_commit::{fr_to_bytes32, state_commitment, tensor_commitments, Fr, KeccakTree};

use crate::{
    ops::{Clip, ConvWeights, MatMulWeights, Op},
    program::{ValueId, ValueKind},
    EngineError, Program, Result, Tensor,
};

/// Everything an honest party needs to respond, dispute or prove: every tensor, every
/// tensor commitment and the state commitments `S_0..S_n`.
#[derive(Clone, Debug)]
pub struct Trace {
    /// Value of every input and activation (`None` for constants).
    pub values: Vec<Option<Tensor>>,
    /// Commitment of every input and activation that is live at a step boundary (`None`
    /// for constants and for tensors produced and consumed inside one step).
    pub commitments: Vec<Option<Fr>>,
    /// `S_0..S_n`.
    pub states: Vec<Fr>,
    /// The graph outputs, in order.
    pub outputs: Vec<Tensor>,
    /// Wall time of the operators and of the commitments (not part of the trace's content).
    pub timings: Timings,
}

/// Where execution time went.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Timings {
    /// Seconds in operator kernels.
    pub ops_s: f64,
    /// Seconds hashing tensors and states.
    pub commit_s: f64,
}

impl Trace {
    /// The states as 32-byte words.
    pub fn state_words(&self) -> Vec<B256> {
        self.states
            .iter()
            .map(|s| B256::from(fr_to_bytes32(s)))
            .collect()
    }

    /// The keccak tree over `S_0..S_n`.
    pub fn tree(&self) -> KeccakTree {
        KeccakTree::from_values(&self.state_words())
    }

    /// The trace root posted with a response.
    pub fn root(&self) -> B256 {
        self.tree().root()
    }

    /// `S_0`, the input commitment.
    pub fn input_commitment(&self) -> Fr {
        self.states[0]
    }

    /// `S_n`, the output commitment.
    pub fn output_commitment(&self) -> Fr {
        *self.states.last().expect("a trace has at least S_0")
    }
}

/// Checks that `inputs` match the program's declared inputs (count and shapes).
pub fn check_inputs(program: &Program, inputs: &[Tensor]) -> Result<()> {
    check_tensors(program, "inputs", &program.inputs, inputs)
}

/// Checks that `tensors` match the values `ids` (count and shapes); `what` names them.
fn check_tensors(program: &Program, what: &str, ids: &[ValueId], tensors: &[Tensor]) -> Result<()> {
    if tensors.len() != ids.len() {
        return Err(EngineError::BadInput {
            name: format!("<{what}>"),
            reason: format!("expected {} {what}, got {}", ids.len(), tensors.len()),
        });
    }
    for (t, id) in tensors.iter().zip(ids) {
        let info = &program.values[*id];
        if t.shape != info.shape || t.data.len() != info.shape.iter().product::<usize>() {
            return Err(EngineError::BadInput {
                name: info.name.clone(),
                reason: format!(
                    "expected shape {:?}, got {:?} with {} values",
                    info.shape,
                    t.shape,
                    t.data.len()
                ),
            });
        }
    }
    Ok(())
}

/// `S_0` of `inputs` (in the program's input order): what a request posts, computed
/// without running anything.
pub fn input_commitment(program: &Program, inputs: &[Tensor]) -> Result<Fr> {
    check_inputs(program, inputs)?;
    Ok(boundary_commitment(program, 0, &program.inputs, inputs))
}

/// `S_n` of `outputs` (in the program's output order, as [`evaluate`] returns them).
///
/// Equal to [`Trace::output_commitment`] of the same run, but it hashes the outputs only:
/// a verifier that agrees with a response pays for the inference and this, and computes the
/// full trace (every tensor's commitment) only when it has to dispute.
pub fn output_commitment(program: &Program, outputs: &[Tensor]) -> Result<Fr> {
    check_tensors(program, "outputs", &program.outputs, outputs)?;
    Ok(boundary_commitment(
        program,
        program.num_steps(),
        &program.outputs,
        outputs,
    ))
}

/// The state commitment at boundary `b` when every tensor live there is one of `tensors`
/// (named by `ids`, the value ids in the same order).
fn boundary_commitment(program: &Program, b: usize, ids: &[ValueId], tensors: &[Tensor]) -> Fr {
    let live: Vec<Fr> = program
        .layout(b)
        .iter()
        .map(|v| {
            let pos = ids.iter().position(|i| i == v).expect(
                "the tensors live at the first and last boundary are the inputs and outputs",
            );
            tensors[pos].commitment()
        })
        .collect();
    state_commitment(&live)
}

/// Runs `program` on `inputs` (already quantised), recording the trace.
pub fn execute(program: &Program, inputs: &[Tensor]) -> Result<Trace> {
    execute_with_fault(program, inputs, None)
}

/// Like [`execute`], but with `fault = Some(k)` flips the lowest bit of the first element
/// of step `k`'s last output and computes honestly from there: the consistent wrong trace a
/// cheating party would commit to. For testing the dispute game only.
pub fn execute_with_fault(
    program: &Program,
    inputs: &[Tensor],
    fault: Option<usize>,
) -> Result<Trace> {
    let _span = info_span!(
        "execute",
        nodes = program.nodes.len(),
        steps = program.num_steps()
    )
    .entered();
    let started = std::time::Instant::now();
    let fault = fault.map(|k| (program.step_nodes(k).end.saturating_sub(1), 0));
    let values = run_ops(program, inputs, fault)?;
    let ops_s = started.elapsed().as_secs_f64();
    let started = std::time::Instant::now();
    // Only tensors live at a step boundary enter a state (with N > 1 operators per step,
    // those produced and consumed inside one step never do): nothing else is hashed.
    let layouts: Vec<Vec<ValueId>> = (0..=program.num_steps())
        .map(|b| program.layout(b))
        .collect();
    let mut at_boundary = vec![false; values.len()];
    layouts
        .iter()
        .flatten()
        .for_each(|v| at_boundary[*v] = true);
    let commitments: Vec<Option<Fr>> = {
        let _s = info_span!("commit_tensors").entered();
        // A tensor's chain is sequential: longest first, each thread taking the next tensor
        // when it is free, so two long chains do not queue on one thread. Results land by
        // value id, whatever the order or the thread count.
        let mut order: Vec<usize> = (0..values.len())
            .filter(|&i| at_boundary[i] && values[i].is_some())
            .collect();
        order.sort_by_key(|&i| std::cmp::Reverse(values[i].as_ref().map_or(0, |t| t.data.len())));
        let next = std::sync::atomic::AtomicUsize::new(0);
        let mut commitments = vec![None; values.len()];
        // Each thread hashes up to eight chains in lock-step where the CPU allows
        // (`tensor_commitments`), refilling its lanes from the shared queue.
        let hashed = rayon::broadcast(|_| {
            tensor_commitments(|| {
                let &i = order.get(next.fetch_add(1, std::sync::atomic::Ordering::Relaxed))?;
                let t = values[i].as_ref()?;
                Some((i, t.shape.as_slice(), t.data.as_slice()))
            })
        });
        for (i, c) in hashed.into_iter().flatten() {
            commitments[i] = c;
        }
        commitments
    };
    // States are independent of each other: hashed in parallel, collected in step order.
    let states = layouts
        .par_iter()
        .map(|layout| {
            let live: Vec<Fr> = layout
                .iter()
                .map(|v| commitments[*v].expect("live tensors are computed"))
                .collect();
            state_commitment(&live)
        })
        .collect();
    let outputs = program
        .outputs
        .iter()
        .map(|o| values[*o].clone().expect("outputs computed"))
        .collect();
    let timings = Timings {
        ops_s,
        commit_s: started.elapsed().as_secs_f64(),
    };
    Ok(Trace {
        values,
        commitments,
        states,
        outputs,
        timings,
    })
}

/// Runs the operators only (no commitments): every input and activation by value id
/// (`None` for constants). With `fault = Some((node, element))` the lowest bit of that
/// element of node `node`'s output is flipped and everything after it computed from there:
/// the consistent wrong run a cheating party would commit to (for tests of the dispute
/// game; an element past the output's end flips nothing).
pub fn activations(
    program: &Program,
    inputs: &[Tensor],
    fault: Option<(usize, usize)>,
) -> Result<Vec<Option<Tensor>>> {
    run_ops(program, inputs, fault)
}

fn run_ops(
    program: &Program,
    inputs: &[Tensor],
    fault: Option<(usize, usize)>,
) -> Result<Vec<Option<Tensor>>> {
    check_inputs(program, inputs)?;
    let mut values: Vec<Option<Tensor>> = vec![None; program.values.len()];
    for (t, id) in inputs.iter().zip(&program.inputs) {
        values[*id] = Some(t.clone());
    }
    for (index, node) in program.nodes.iter().enumerate() {
        let _s = debug_span!("op", name = %node.name, op = node.op.name()).entered();
        let ins: Vec<&Tensor> = node
            .inputs
            .iter()
            .map(|i| match &program.values[*i].kind {
                ValueKind::Const(t) => t,
                _ => values[*i]
                    .as_ref()
                    .expect("topological order: inputs computed before use"),
            })
            .collect();
        let mut out = node.op.eval(&ins, &program.values[node.output].shape);
        if let Some((_, e)) = fault.filter(|(n, _)| *n == index) {
            if let Some(v) = out.data.get_mut(e) {
                *v ^= 1;
            }
        }
        values[node.output] = Some(out);
    }
    Ok(values)
}

/// Plain inference: the program's outputs, without trace commitments (fidelity checks and
/// benchmarks of the kernels alone). The same kernels as [`execute`], the same integers;
/// but every activation is dropped after its last use, and `Relu`, `Clip`, `Reshape` and
/// elementwise arithmetic write over an input of the output's shape that no later node
/// reads instead of allocating a new tensor.
pub fn evaluate(program: &Program, inputs: &[Tensor]) -> Result<Vec<Tensor>> {
    check_inputs(program, inputs)?;
    let n = program.values.len();
    // The last node that reads each value; the graph outputs are read at the end.
    let mut last_use: Vec<Option<usize>> = vec![None; n];
    for (index, node) in program.nodes.iter().enumerate() {
        for v in &node.inputs {
            last_use[*v] = Some(index);
        }
    }
    for o in &program.outputs {
        last_use[*o] = Some(usize::MAX);
    }
    let mut given: Vec<Option<&Tensor>> = vec![None; n];
    for (t, id) in inputs.iter().zip(&program.inputs) {
        given[*id] = Some(t);
    }
    let mut owned: Vec<Option<Tensor>> = vec![None; n];
    let prepared = program.prepared.0.get_or_init(|| prepare(program));
    // The clip of a `Conv` whose only reader is the next node, a `Relu` or `Clip`: the
    // convolution applies it to each output as it writes it, and the clip node, finding
    // its input clipped (`clipped`), leaves it as it is (clipping twice is clipping once,
    // so a clip node that cannot take its input over and clips a copy gives the same).
    let fused_clip = |index: usize| -> Option<Clip> {
        let (conv, next) = (&program.nodes[index], program.nodes.get(index + 1)?);
        if next.inputs != [conv.output] || last_use[conv.output] != Some(index + 1) {
            return None;
        }
        match &next.op {
            Op::Relu => Some(Clip::RELU),
            Op::Clip(c) => Some(c.clone()),
            _ => None,
        }
    };
    let mut clipped: Option<usize> = None;
    // A bound on `|v|` for every value of a `Clip`'s output: its values lie in `[lo, hi]`
    // (all `hi` when `lo > hi`), fused into a convolution or not.
    let mut clip_abs_bound: Vec<Option<u128>> = vec![None; n];
    for node in &program.nodes {
        if let Op::Clip(c) = &node.op {
            clip_abs_bound[node.output] =
                Some(c.lo.unsigned_abs().max(c.hi.unsigned_abs()) as u128);
        }
    }
    let clipped_input = |v: usize| clip_abs_bound[v];
    for (index, node) in program.nodes.iter().enumerate() {
        let _s = debug_span!("op", name = %node.name, op = node.op.name()).entered();
        let shape = &program.values[node.output].shape;
        // An operand to overwrite: computed here (not a constant or a graph input), read by
        // no later node and only once by this one, of the output's shape (any shape for
        // `Reshape`).
        let reusable = |p: usize| {
            let v = node.inputs[p];
            last_use[v] == Some(index)
                && node.inputs.iter().filter(|u| **u == v).count() == 1
                && owned[v]
                    .as_ref()
                    .is_some_and(|t| matches!(node.op, Op::Reshape(_)) || t.shape == *shape)
        };
        let in_place = match &node.op {
            Op::Relu | Op::Clip(_) | Op::Reshape(_) => reusable(0).then_some(0),
            Op::Binary(_) => (0..node.inputs.len()).find(|p| reusable(*p)),
            _ => None,
        };
        let prep = prepared[index].as_ref();
        let out = match in_place {
            Some(p) => {
                let mut t = owned[node.inputs[p]].take().expect("reusable");
                match &node.op {
                    // Already clipped by the convolution that wrote it (see `fused_clip`).
                    Op::Relu | Op::Clip(_) if clipped == Some(index) => {}
                    Op::Relu => Clip::RELU.eval_in_place(&mut t.data),
                    Op::Clip(c) => c.eval_in_place(&mut t.data),
                    Op::Binary(k) => {
                        let ins: Vec<Option<&Tensor>> = node
                            .inputs
                            .iter()
                            .enumerate()
                            .map(|(k, v)| (k != p).then(|| read(program, &given, &owned, *v)))
                            .collect();
                        k.eval_into(&ins, shape, &mut t.data);
                    }
                    _ => {}
                }
                t.shape.clone_from(shape);
                t
            }
            None => {
                let ins: Vec<&Tensor> = node
                    .inputs
                    .iter()
                    .map(|v| read(program, &given, &owned, *v))
                    .collect();
                let prep = prep.filter(|p| p.is_for(ins[1])).map(|p| &p.data);
                match &node.op {
                    Op::Gemm(g) => {
                        let col_abs_sum = match prep {
                            Some(Derived::Gemm(sum)) => Some(*sum),
                            _ => None,
                        };
                        g.eval_prepared(&ins, shape, col_abs_sum)
                    }
                    Op::MatMul(m) => {
                        let weights = match prep {
                            Some(Derived::MatMul(w)) => Some(w),
                            _ => None,
                        };
                        m.eval_prepared(&ins, shape, weights)
                    }
                    Op::Conv(c) => {
                        let prep = match prep {
                            Some(Derived::Conv(w)) => Some(w),
                            _ => None,
                        };
                        let bounds = match fused_clip(index) {
                            Some(clip) => {
                                clipped = Some(index + 1);
                                [clip.lo, clip.hi]
                            }
                            None => [i32::MIN, i32::MAX],
                        };
                        let x_abs_bound = clipped_input(node.inputs[0]);
                        c.eval_prepared(&ins, shape, (prep, x_abs_bound), bounds)
                    }
                    _ => node.op.eval(&ins, shape),
                }
            }
        };
        for v in &node.inputs {
            if last_use[*v] == Some(index) {
                owned[*v] = None;
            }
        }
        if last_use[node.output].is_some_and(|l| l > index) {
            owned[node.output] = Some(out);
        }
    }
    Ok(program
        .outputs
        .iter()
        .map(|o| read(program, &given, &owned, *o).clone())
        .collect())
}

/// Weight-side data of a program's constant operands (see [`NodePrep`]), derived on its
/// first [`evaluate`] and reused by the later ones: one entry per node. Not part of the
/// program's content: every two are equal, a clone starts empty, and it is never
/// serialised.
#[derive(Default)]
pub(crate) struct Prepared(std::sync::OnceLock<Vec<Option<NodePrep>>>);

impl Clone for Prepared {
    fn clone(&self) -> Self {
        Prepared::default()
    }
}

impl PartialEq for Prepared {
    fn eq(&self, _: &Self) -> bool {
        true
    }
}

impl Eq for Prepared {}

impl std::fmt::Debug for Prepared {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Prepared")
    }
}

/// What [`evaluate`] reuses for one node whose weights are a constant of the program: a
/// `Conv`'s row sums and packed weights, a `Gemm`'s column sum of `B`. It names the
/// constant it was derived from by address and length, and is only used while the node's
/// weight operand is that same tensor (a program's constants are not modified after it is
/// compiled or loaded; one that was replaced is recomputed from scratch).
pub(crate) struct NodePrep {
    /// Address and length of the weights' data.
    source: (usize, usize),
    /// What was derived from them.
    data: Derived,
}

/// The weight-side data of one node ([`NodePrep`]).
enum Derived {
    /// A convolution's ([`crate::ops::Conv::prepare`]).
    Conv(ConvWeights),
    /// A product's `max_j Σ_k |B'[k][j]|` ([`crate::ops::Gemm::col_abs_sum`]).
    Gemm(u128),
    /// A `MatMul`'s constant rank-2 `B` ([`crate::ops::MatMul::prepare`]).
    MatMul(MatMulWeights),
}

impl NodePrep {
    /// Whether this was derived from `w`'s very data.
    fn is_for(&self, w: &Tensor) -> bool {
        self.source == (w.data.as_ptr() as usize, w.data.len())
    }
}

/// The weight-side data of every `Conv`, `Gemm` and `MatMul` node whose weights are a
/// constant.
fn prepare(program: &Program) -> Vec<Option<NodePrep>> {
    let prep = |node: &crate::Node| {
        let ValueKind::Const(w) = &program.values[*node.inputs.get(1)?].kind else {
            return None;
        };
        let data = match &node.op {
            Op::Conv(c) => Derived::Conv(c.prepare(w)),
            Op::Gemm(g) => Derived::Gemm(g.col_abs_sum(w)?),
            Op::MatMul(m) => Derived::MatMul(m.prepare(w)?),
            _ => return None,
        };
        Some(NodePrep {
            source: (w.data.as_ptr() as usize, w.data.len()),
            data,
        })
    };
    program.nodes.iter().map(prep).collect()
}

/// A value [`evaluate`] holds: a constant, a graph input or a computed activation.
fn read<'a>(
    program: &'a Program,
    given: &[Option<&'a Tensor>],
    owned: &'a [Option<Tensor>],
    v: usize,
) -> &'a Tensor {
    match &program.values[v].kind {
        ValueKind::Const(t) => t,
        _ => given[v]
            .or(owned[v].as_ref())
            .expect("topological order: inputs computed before use"),
    }
}

/// Whether `trace` is honest at `step`: the step's nodes, re-run on the trace's own tensors,
/// give the trace's outputs, and the trace's `S_step`, `S_{step+1}` are the commitments of
/// its tensors. A prover checks this before proving: it never attempts a false statement.
pub fn step_is_consistent(program: &Program, step: usize, trace: &Trace) -> bool {
    if step >= program.num_steps() || trace.states.len() != program.num_steps() + 1 {
        return false;
    }
    let state_of = |b: usize| -> Option<Fr> {
        let live: Option<Vec<Fr>> = program
            .layout(b)
            .iter()
            .map(|v| trace.values[*v].as_ref().map(Tensor::commitment))
            .collect();
        live.map(|c| state_commitment(&c))
    };
    if state_of(step) != Some(trace.states[step])
        || state_of(step + 1) != Some(trace.states[step + 1])
    {
        return false;
    }
    program.nodes[program.step_nodes(step)].iter().all(|node| {
        let ins: Option<Vec<&Tensor>> = node
            .inputs
            .iter()
            .map(|i| match &program.values[*i].kind {
                ValueKind::Const(t) => Some(t),
                _ => trace.values[*i].as_ref(),
            })
            .collect();
        match (ins, &trace.values[node.output]) {
            (Some(ins), Some(out)) => {
                node.op.eval(&ins, &program.values[node.output].shape) == *out
            }
            _ => false,
        }
    })
}
