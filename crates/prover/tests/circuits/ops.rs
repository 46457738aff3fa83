//! Circuits of the selection, comparison, reduction and softmax operators against the
//! engine: on random, tied and saturating inputs the circuit's witness hashes to the
//! engine's post-state bit for bit, and a changed output element does not satisfy it.

use std::collections::{BTreeMap, HashMap};

use zkopml_engine::{
    execute,
    import::{Attr, Const, ConstData, Dim, Graph, GraphNode},
    Program, Tensor,
};
use zkopml_prover::is_satisfied;

const K: i32 = 4096;

/// A one-node graph: runtime inputs `(name, shape)`, constants, attributes.
fn one_node(
    op: &str,
    inputs: &[(&str, &[usize])],
    consts: &[(&str, Vec<usize>, Vec<f64>)],
    order: &[&str],
    attrs: &[(&str, Attr)],
    opset: i64,
) -> Program {
    let graph = Graph {
        nodes: vec![GraphNode {
            name: format!("{op}_0"),
            op_type: op.into(),
            inputs: order.iter().map(|s| s.to_string()).collect(),
            outputs: vec!["out".into()],
            attrs: attrs
                .iter()
                .map(|(k, v)| (k.to_string(), v.clone()))
                .collect::<BTreeMap<_, _>>(),
        }],
        initializers: consts
            .iter()
            .map(|(n, s, d)| {
                (
                    n.to_string(),
                    Const {
                        shape: s.clone(),
                        data: ConstData::Float(d.clone()),
                    },
                )
            })
            .collect(),
        inputs: inputs
            .iter()
            .map(|(n, s)| (n.to_string(), s.iter().map(|d| Dim::Fixed(*d)).collect()))
            .collect(),
        outputs: vec!["out".into()],
        opset,
    };
    Program::compile(&graph, &HashMap::new(), 1).expect("compiles")
}

struct Rng(u64);
impl Rng {
    fn next(&mut self) -> i32 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 as i32
    }
    /// Values from a small set, so ties and equal pairs are common.
    fn small(&mut self, span: i32) -> i32 {
        self.next().rem_euclid(2 * span + 1) - span
    }
}

/// Input tensors for a program: per input, the given generator.
fn run_cases(name: &str, program: &Program, gens: &mut dyn FnMut(usize, usize, &mut Rng) -> i32) {
    let mut rng = Rng(0x2545_f491_4f6c_dd1d);
    for case in 0..6 {
        let inputs: Vec<Tensor> = program
            .inputs
            .iter()
            .enumerate()
            .map(|(k, id)| {
                let shape = program.values[*id].shape.clone();
                let n = shape.iter().product();
                let data = (0..n)
                    .map(|i| match case {
                        0 => i32::MAX,
                        1 => i32::MIN,
                        2 => {
                            if i % 2 == 0 {
                                i32::MAX
                            } else {
                                i32::MIN
                            }
                        }
                        3 => rng.next(),
                        _ => gens(k, i, &mut rng),
                    })
                    .collect();
                Tensor::new(shape, data)
            })
            .collect();
        let mut trace = execute(program, &inputs).expect("executes");
        assert!(
            is_satisfied(program, 0, &trace).unwrap(),
            "{name}: case {case} inputs {inputs:?}"
        );
        // A cheating submitter changes one output element and recommits it.
        let out = program.nodes[0].output;
        let t = trace.values[out].as_mut().unwrap();
        t.data[0] = t.data[0].wrapping_add(1);
        let c = t.commitment();
        trace.commitments[out] = Some(c);
        trace.states[1] = zkopml_commit::state_commitment(&[c]);
        assert!(
            !is_satisfied(program, 0, &trace).unwrap(),
            "{name}: case {case} tampered output accepted"
        );
    }
}

#[test]
fn comparisons_and_where_agree_with_engine() {
    for op in ["Less", "LessOrEqual", "Greater", "GreaterOrEqual", "Equal"] {
        let p = one_node(
            op,
            &[("a", &[2, 3]), ("b", &[3])],
            &[],
            &["a", "b"],
            &[],
            13,
        );
        run_cases(op, &p, &mut |_, _, r| r.small(2) * K);
    }
    let p = one_node(
        "Where",
        &[("c", &[2, 3]), ("x", &[2, 3]), ("y", &[1])],
        &[],
        &["c", "x", "y"],
        &[],
        13,
    );
    run_cases("Where", &p, &mut |k, _, r| {
        if k == 0 {
            r.small(1)
        } else {
            r.next()
        }
    });
}

#[test]
fn cast_agrees_with_engine() {
    for to in [1i64, 2, 3, 7, 9] {
        let p = one_node(
            "Cast",
            &[("x", &[2, 4])],
            &[],
            &["x"],
            &[("to", Attr::Int(to))],
            13,
        );
        run_cases(&format!("Cast to {to}"), &p, &mut |_, _, r| {
            r.small(300 * K)
        });
    }
}

#[test]
fn gathers_agree_with_engine() {
    // Constant table, data-dependent indices (fractional, negative, out of range).
    let table: Vec<f64> = (0..10).map(|v| v as f64 * 0.75 - 3.0).collect();
    let p = one_node(
        "Gather",
        &[("i", &[1, 3])],
        &[("t", vec![5, 2], table)],
        &["t", "i"],
        &[("axis", Attr::Int(0))],
        13,
    );
    run_cases("Gather const data", &p, &mut |_, _, r| {
        r.small(6) * K + r.small(2047)
    });
    // Runtime data and indices, axis 1.
    let p = one_node(
        "Gather",
        &[("d", &[2, 4]), ("i", &[2])],
        &[],
        &["d", "i"],
        &[("axis", Attr::Int(1))],
        13,
    );
    run_cases("Gather", &p, &mut |k, _, r| {
        if k == 0 {
            r.next()
        } else {
            r.small(5) * K
        }
    });
    // Constant indices: wiring only.
    let p = one_node(
        "Gather",
        &[("d", &[2, 4])],
        &[("i", vec![3], vec![3.0, -1.0, 0.0])],
        &["d", "i"],
        &[("axis", Attr::Int(-1))],
        13,
    );
    run_cases("Gather const indices", &p, &mut |_, _, r| r.next());
    let p = one_node(
        "GatherElements",
        &[("d", &[2, 3]), ("i", &[2, 2])],
        &[],
        &["d", "i"],
        &[("axis", Attr::Int(1))],
        13,
    );
    run_cases("GatherElements", &p, &mut |k, _, r| {
        if k == 0 {
            r.next()
        } else {
            r.small(4) * K
        }
    });
}

#[test]
fn reductions_argmax_and_softmax_agree_with_engine() {
    for op in ["ReduceSum", "ReduceMean", "ReduceMax"] {
        let p = one_node(
            op,
            &[("x", &[2, 3, 2])],
            &[],
            &["x"],
            &[
                ("axes", Attr::Ints(vec![1, -1])),
                ("keepdims", Attr::Int(0)),
            ],
            11,
        );
        run_cases(op, &p, &mut |_, _, r| r.next() >> 3);
    }
    for last in [0, 1] {
        let p = one_node(
            "ArgMax",
            &[("x", &[3, 4])],
            &[],
            &["x"],
            &[
                ("axis", Attr::Int(1)),
                ("select_last_index", Attr::Int(last)),
            ],
            13,
        );
        run_cases("ArgMax", &p, &mut |_, _, r| r.small(2));
    }
    let p = one_node("Softmax", &[("x", &[2, 5])], &[], &["x"], &[], 13);
    run_cases("Softmax", &p, &mut |_, _, r| r.small(12 * K));
    let p = one_node(
        "Softmax",
        &[("x", &[2, 2, 3])],
        &[],
        &["x"],
        &[("axis", Attr::Int(1))],
        11,
    );
    run_cases("Softmax opset 11", &p, &mut |_, _, r| r.small(30 * K));
}

/// The per-element costs `docs/numerics.md` states, measured on small shapes.
#[test]
fn constraint_costs_match_the_numerics_table() {
    let cost = |p: &Program| zkopml_prover::circuit_stats(p, 0).unwrap().constraints;
    // The step circuit also opens the input and output tensors; subtract a Reshape's cost
    // over the same tensors to isolate the operator.
    let base = |shape: &[usize]| {
        let p = one_node(
            "Flatten",
            &[("x", shape)],
            &[],
            &["x"],
            &[("axis", Attr::Int(0))],
            13,
        );
        cost(&p)
    };
    let sm = one_node("Softmax", &[("x", &[1, 64])], &[], &["x"], &[], 13);
    let per_softmax = (cost(&sm) - base(&[1, 64])) / 64;
    let am = one_node(
        "ArgMax",
        &[("x", &[1, 64])],
        &[],
        &["x"],
        &[("axis", Attr::Int(1))],
        13,
    );
    let per_argmax = (cost(&am) - base(&[1, 64])) / 64;
    println!("softmax {per_softmax}/element, argmax {per_argmax}/element");
    assert!((620..=720).contains(&per_softmax), "softmax {per_softmax}");
    assert!((30..=50).contains(&per_argmax), "argmax {per_argmax}");
}

/// Clip's circuit specialises on its bounds (absent, `lo = 0` as a Relu, general); every
/// variant, and `lo > hi`, proves the engine's kernel.
#[test]
fn clip_variants_agree_with_engine() {
    for (lo, hi) in [
        (Some(0.0), Some(6.0)),
        (Some(-1.5), Some(2.0)),
        (None, Some(3.0)),
        (Some(2.0), None),
        (Some(3.0), Some(1.0)),
    ] {
        let mut consts = Vec::new();
        let mut order = vec!["x"];
        for (name, b) in [("lo", lo), ("hi", hi)] {
            match b {
                Some(v) => {
                    consts.push((name, vec![], vec![v]));
                    order.push(name);
                }
                None => order.push(""),
            }
        }
        let p = one_node("Clip", &[("x", &[2, 8])], &consts, &order, &[], 13);
        run_cases(&format!("Clip {lo:?} {hi:?}"), &p, &mut |_, _, r| {
            r.small(8 * K)
        });
    }
}

/// Conv and Gemm with weights and biases at their own scales (program version 3): tiny
/// weights (the largest weight scale), weights near 1, large biases (no lift) and tiny ones
/// (the full lift) — the circuit rescales by the same `S` and lifts the bias by the same
/// `F + S − T` as the engine, on saturating and random inputs.
#[test]
fn conv_and_gemm_at_their_own_weight_and_bias_scales_agree_with_engine() {
    use zkopml_engine::ops::Op;
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let mut floats = |n: usize, size: f64| -> Vec<f64> {
        (0..n)
            .map(|_| rng.next() as f64 / i32::MAX as f64 * size)
            .collect()
    };
    for (w_size, b_size) in [(1e-4, 1e-6), (0.08, 0.3), (0.9, 1e4), (200.0, 5.0)] {
        let w = floats(4 * 3 * 3, w_size);
        let b = floats(4, b_size);
        let conv = one_node(
            "Conv",
            &[("x", &[1, 2, 4, 4])],
            &[
                ("w", vec![4, 1, 3, 3], w.clone()),
                ("b", vec![4], b.clone()),
            ],
            &["x", "w", "b"],
            &[
                ("pads", Attr::Ints(vec![1, 1, 1, 1])),
                ("group", Attr::Int(2)),
            ],
            13,
        );
        let Op::Conv(c) = &conv.nodes[0].op else {
            panic!("a Conv node")
        };
        assert_eq!(
            c.weight_frac_bits,
            zkopml_engine::fixed::weight_frac_bits(&w)
        );
        run_cases(
            &format!("Conv |w| ≤ {w_size} |b| ≤ {b_size}"),
            &conv,
            &mut |_, _, r| r.small(8 * K),
        );
        let gemm = one_node(
            "Gemm",
            &[("a", &[2, 9])],
            &[("bw", vec![9, 4], w), ("c", vec![4], b)],
            &["a", "bw", "c"],
            &[],
            13,
        );
        let Op::Gemm(g) = &gemm.nodes[0].op else {
            panic!("a Gemm node")
        };
        assert!(g.bias_frac_bits >= 12 && g.bias_frac_bits <= 12 + g.weight_frac_bits);
        run_cases(
            &format!("Gemm |w| ≤ {w_size} |b| ≤ {b_size}"),
            &gemm,
            &mut |_, _, r| r.small(8 * K),
        );
    }
}

/// The transformer operators have no circuit yet: proving a step with one is a typed
/// `Unsupported` error naming the operator, never a panic.
#[test]
fn transformer_ops_without_circuits_are_typed_errors() {
    let w3 = vec![0.5; 4 * 2 * 3];
    let cases: Vec<(&str, Program)> = vec![
        (
            "Erf",
            one_node("Erf", &[("x", &[2, 3])], &[], &["x"], &[], 17),
        ),
        (
            "Tanh",
            one_node("Tanh", &[("x", &[2, 3])], &[], &["x"], &[], 17),
        ),
        (
            "Sqrt",
            one_node("Sqrt", &[("x", &[2, 3])], &[], &["x"], &[], 17),
        ),
        (
            "Log",
            one_node("Log", &[("x", &[2, 3])], &[], &["x"], &[], 17),
        ),
        (
            "Abs",
            one_node("Abs", &[("x", &[2, 3])], &[], &["x"], &[], 17),
        ),
        (
            "Pow",
            one_node(
                "Pow",
                &[("x", &[2, 3])],
                &[("y", vec![], vec![3.0])],
                &["x", "y"],
                &[],
                17,
            ),
        ),
        (
            "Min",
            one_node(
                "Min",
                &[("a", &[2, 3]), ("b", &[3])],
                &[],
                &["a", "b"],
                &[],
                17,
            ),
        ),
        (
            "ReduceL2",
            one_node("ReduceL2", &[("x", &[2, 3])], &[], &["x"], &[], 17),
        ),
        (
            "LayerNormalization",
            one_node(
                "LayerNormalization",
                &[("x", &[2, 3])],
                &[("g", vec![3], vec![1.0; 3]), ("b", vec![3], vec![0.0; 3])],
                &["x", "g", "b"],
                &[],
                17,
            ),
        ),
        (
            "Expand",
            one_node(
                "Expand",
                &[("x", &[1, 3])],
                &[("s", vec![2], vec![2.0, 3.0])],
                &["x", "s"],
                &[],
                17,
            ),
        ),
        (
            "MatMul",
            one_node(
                "MatMul",
                &[("a", &[2, 2, 3]), ("b", &[2, 3, 2])],
                &[],
                &["a", "b"],
                &[],
                17,
            ),
        ),
        (
            "Conv",
            one_node(
                "Conv",
                &[("x", &[1, 2, 8])],
                &[("w", vec![4, 2, 3], w3)],
                &["x", "w"],
                &[],
                17,
            ),
        ),
    ];
    for (op, p) in cases {
        let inputs: Vec<Tensor> = p
            .inputs
            .iter()
            .map(|i| {
                let shape = p.values[*i].shape.clone();
                let n = shape.iter().product();
                Tensor::new(shape, (0..n).map(|v| (v as i32 - 3) * K / 2).collect())
            })
            .collect();
        let trace = execute(&p, &inputs).expect("the engine runs it");
        match is_satisfied(&p, 0, &trace) {
            Err(zkopml_prover::ProverError::Unsupported { reason, .. }) => {
                assert!(reason.contains("no circuit"), "{op}: {reason}");
            }
            other => panic!("{op}: expected a typed Unsupported error, got {other:?}"),
        }
    }
}
