//! Shared fixtures of the template tests: one-node programs, deterministic inputs, and the
//! check that a lowered program's every leaf is the statement the contract builds.

use std::collections::{BTreeMap, HashMap};

use zkopml_engine::{
    evaluate,
    import::{Attr, Const, ConstData, Dim, Graph, GraphNode},
    Program, Tensor,
};
use zkopml_prover::{
    templates::plan,
    v4::{fr_u256, Data, LeafInstance, Lowered, Source, V4Trace, CONST_FLAG},
};

/// One node `y = op(inputs…, consts…)` over runtime inputs and integer initializers
/// (`(name, shape, values)`).
pub(crate) fn program(
    op: &str,
    inputs: &[(&str, &[usize])],
    consts: &[(&str, Vec<usize>, Vec<i64>)],
    attrs: &[(&str, Attr)],
) -> Program {
    let graph = Graph {
        nodes: vec![GraphNode {
            name: "y".into(),
            op_type: op.into(),
            inputs: inputs
                .iter()
                .map(|(n, _)| n.to_string())
                .chain(consts.iter().map(|(n, _, _)| n.to_string()))
                .collect(),
            outputs: vec!["y".into()],
            attrs: attrs
                .iter()
                .map(|(k, v)| (k.to_string(), v.clone()))
                .collect(),
        }],
        initializers: consts
            .iter()
            .map(|(n, shape, v)| {
                (
                    n.to_string(),
                    Const {
                        shape: shape.clone(),
                        data: ConstData::Int(v.clone()),
                    },
                )
            })
            .collect(),
        inputs: inputs
            .iter()
            .map(|(n, s)| (n.to_string(), s.iter().map(|d| Dim::Fixed(*d)).collect()))
            .collect(),
        outputs: vec!["y".into()],
        opset: 13,
    };
    Program::compile(&graph, &HashMap::new(), 1).unwrap()
}

/// Deterministic signed values with the `i32` extremes, zeros and repeats.
pub(crate) fn input(shape: &[usize], seed: u64) -> Tensor {
    let mut s = seed;
    let data = (0..shape.iter().product::<usize>())
        .map(|i| {
            s = s
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            match i % 17 {
                0 => i32::MAX,
                1 => i32::MIN,
                2 => 0,
                _ => (s >> 32) as u32 as i32 >> (i % 23),
            }
        })
        .collect();
    Tensor::new(shape.to_vec(), data)
}

/// The input commitments of operator `o` as the contract resolves them.
pub(crate) fn resolved_inputs(l: &Lowered, t: &V4Trace, o: usize) -> Vec<alloy_primitives::U256> {
    let step = o / l.ops_per_step;
    l.ops[o]
        .inputs
        .iter()
        .map(|v| match l.input_source(o, *v) {
            Source::Const(c) => Source::Const(c).encode() ^ CONST_FLAG,
            Source::State(s) => fr_u256(&t.states[step][s]),
            Source::Output(p) => fr_u256(&t.outputs[step][p]),
            Source::Empty => panic!("operator {o} reads an empty slot"),
        })
        .collect()
}

/// Lowers and runs the one-node program `p`: its output is the engine's; every leaf of
/// every operator is the statement the contract builds (inputs, parameters, the committed
/// chunk's digest) and is satisfied at the first and the last chunk (`every_chunk`: at
/// every chunk); the plan counts the leaves. Returns the leaves per template.
pub(crate) fn check_leaves(
    p: &Program,
    inputs: &[Tensor],
    every_chunk: bool,
) -> (Lowered, V4Trace, BTreeMap<&'static str, usize>) {
    check_leaves_where(p, inputs, &|_, _, j, chunks| {
        every_chunk || j == 0 || j + 1 == chunks
    })
}

/// [`check_leaves`], synthesising only the leaves `(operator, template, j, chunks)` that
/// `satisfy` names (every other leaf's statement is still checked).
pub(crate) fn check_leaves_where(
    p: &Program,
    inputs: &[Tensor],
    satisfy: &dyn Fn(usize, &str, usize, usize) -> bool,
) -> (Lowered, V4Trace, BTreeMap<&'static str, usize>) {
    let l = Lowered::new(p, 2).unwrap();
    let t = V4Trace::compute(&l, p, inputs, None).unwrap();
    let expect = evaluate(p, inputs).unwrap();
    let Data::Narrow(y) = &*t.data(l.outputs[0]).unwrap() else {
        panic!("narrow output")
    };
    assert_eq!(y, &expect[0], "the lowered output is the engine's");
    let mut per_template = BTreeMap::new();
    for o in 0..l.ops.len() {
        let leaf = l.operator_leaf(o);
        let ins = resolved_inputs(&l, &t, o);
        for j in 0..leaf.output_chunks as usize {
            let inst = LeafInstance::new(&l, &t, o, j).unwrap();
            let public: Vec<_> = inst.public_inputs().iter().map(fr_u256).collect();
            let r = ins.len();
            assert_eq!(public.len(), r + leaf.params.len() + 2, "op {o}");
            assert_eq!(public[..r], ins[..], "op {o} chunk {j}: inputs");
            assert_eq!(public[r + 1..public.len() - 1], leaf.params[..], "op {o}");
            assert_eq!(
                inst.digest(),
                t.tree(l.ops[o].output).unwrap().leaves()[j],
                "op {o} chunk {j}: the template's digest is the committed chunk's"
            );
            *per_template.entry(inst.template()).or_default() += 1;
            if satisfy(o, inst.template(), j, leaf.output_chunks as usize) {
                assert!(inst.is_satisfied().unwrap(), "op {o} chunk {j}");
            }
        }
    }
    let node_plan = plan(p, &p.nodes[0]).unwrap();
    assert_eq!(
        node_plan.leaves,
        per_template.values().sum::<usize>(),
        "the plan's leaf count"
    );
    (l, t, per_template)
}
