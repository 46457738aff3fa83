//! The step circuit: "step `i` of the program maps the tensors committed in `S_i` to the
//! tensors committed in `S_{i+1}`", public inputs `[S_i, S_{i+1}, step digest]`.

use std::collections::{HashMap, HashSet};

use ark_bn254::Fr;
use ark_ff::Zero;
use ark_relations::gr1cs::{ConstraintSynthesizer, ConstraintSystemRef, SynthesisError};
use zkopml_engine::{program::ValueKind, Program, Tensor, Trace, ValueId};

use crate::{
    gadgets::{Cs, Lc},
    ops::{self, Operand},
    poseidon, ProverError, Result,
};

/// One step of one program, with or without a witness (setup needs none).
#[derive(Clone, Copy)]
pub struct StepCircuit<'a> {
    /// The compiled program (its constants become circuit constants).
    pub program: &'a Program,
    /// The step.
    pub step: usize,
    /// The honest execution trace to take witness values from (`None` in setup).
    pub trace: Option<&'a Trace>,
}

impl<'a> StepCircuit<'a> {
    /// Checks that every node of the step has a circuit.
    pub fn check_supported(program: &Program, step: usize) -> Result<()> {
        if step >= program.num_steps() {
            return Err(ProverError::StepOutOfRange {
                step,
                steps: program.num_steps(),
            });
        }
        for n in &program.nodes[program.step_nodes(step)] {
            let consts: Vec<bool> = n
                .inputs
                .iter()
                .map(|i| matches!(program.values[*i].kind, ValueKind::Const(_)))
                .collect();
            ops::check(&n.op, &consts).map_err(|reason| ProverError::Unsupported {
                step,
                node: n.name.clone(),
                op: n.op.name(),
                reason,
            })?;
        }
        Ok(())
    }

    /// The public inputs this step's proof is checked against, from a trace.
    pub fn public_inputs(program: &Program, step: usize, trace: &Trace) -> [Fr; 3] {
        [
            trace.states[step],
            trace.states[step + 1],
            program.step_digest(step),
        ]
    }

    fn value(&self, v: ValueId) -> Option<&'a Tensor> {
        self.trace.and_then(|t| t.values[v].as_ref())
    }
}

impl ConstraintSynthesizer<Fr> for StepCircuit<'_> {
    fn generate_constraints(self, cs: ConstraintSystemRef<Fr>) -> Result<(), SynthesisError> {
        self.synthesize(&Cs::new(cs))
    }
}

impl StepCircuit<'_> {
    /// The step's constraints, over a [`Cs`] the caller keeps (to read its counters).
    pub(crate) fn synthesize(self, cs: &Cs) -> Result<(), SynthesisError> {
        let p = self.program;
        let public = self
            .trace
            .map(|t| Self::public_inputs(p, self.step, t))
            .unwrap_or([Fr::zero(); 3]);
        let pre = cs.input(public[0])?;
        let post = cs.input(public[1])?;
        let digest = cs.input(public[2])?;
        cs.assert_eq(&digest, &Lc::constant(p.step_digest(self.step)))?;

        // Open S_i: the live tensors' commitments, hashed into the pre-state.
        let layout_in = p.layout(self.step);
        let mut commitments: HashMap<ValueId, Lc> = HashMap::new();
        let mut pre_commitments = Vec::with_capacity(layout_in.len());
        for v in &layout_in {
            let c = cs.witness(
                self.trace
                    .and_then(|t| t.commitments[*v])
                    .unwrap_or_default(),
            )?;
            commitments.insert(*v, c.clone());
            pre_commitments.push(c);
        }
        let s_pre = poseidon::state_commitment(cs, &pre_commitments)?;
        cs.assert_eq(&s_pre, &pre)?;

        // Run the step's nodes, opening each live input tensor once.
        let mut values: HashMap<ValueId, Vec<Lc>> = HashMap::new();
        let mut produced: HashSet<ValueId> = HashSet::new();
        for node in &p.nodes[p.step_nodes(self.step)] {
            let mut operands = Vec::with_capacity(node.inputs.len());
            for v in &node.inputs {
                let info = &p.values[*v];
                if let ValueKind::Const(t) = &info.kind {
                    operands.push(Operand::Const(t));
                    continue;
                }
                if !values.contains_key(v) {
                    let len: usize = info.shape.iter().product();
                    let data = self.value(*v);
                    let lcs: Vec<Lc> = (0..len)
                        .map(|i| {
                            cs.witness(data.map_or(Fr::zero(), |t| {
                                zkopml_commit::fr_from_i64(t.data[i] as i64)
                            }))
                        })
                        .collect::<Result<_, _>>()?;
                    for v in &lcs {
                        poseidon::open_range_check(cs, v)?;
                    }
                    let c = poseidon::tensor_commitment(cs, &info.shape, &lcs)?;
                    let expected = commitments
                        .get(v)
                        .ok_or(SynthesisError::AssignmentMissing)?;
                    cs.assert_eq(&c, expected)?;
                    values.insert(*v, lcs);
                }
                operands.push(Operand::Var(values[v].clone(), info.shape.clone()));
            }
            let out_shape = &p.values[node.output].shape;
            let out = ops::synthesize(cs, &node.op, &operands, out_shape)?;
            values.insert(node.output, out);
            produced.insert(node.output);
        }

        // Close S_{i+1}: passed-through commitments reused, produced tensors hashed.
        let layout_out = p.layout(self.step + 1);
        let mut post_commitments = Vec::with_capacity(layout_out.len());
        for v in &layout_out {
            let c = if produced.contains(v) {
                poseidon::tensor_commitment(cs, &p.values[*v].shape, &values[v])?
            } else {
                commitments
                    .get(v)
                    .cloned()
                    .ok_or(SynthesisError::AssignmentMissing)?
            };
            post_commitments.push(c);
        }
        let s_post = poseidon::state_commitment(cs, &post_commitments)?;
        cs.assert_eq(&s_post, &post)
    }
}
