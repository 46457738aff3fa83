//! `Concat` (engine: `ops/shape.rs`) lowered onto existing templates: every operand spread
//! over the output's shape by `gather_chunk` (a tile, then a slice unless the tile already is
//! it), then `Where` selections by constant masks (`logic_chunk`). Every leaf is the
//! statement the contract builds and the lowered output is the engine's bit for bit (equal
//! and unequal operands, any axis, a constant operand, the `i32` extremes), the plan counts
//! the leaves, and a fault is first caught at the last `Where`'s leaf.

use crate::common::{check_leaves, check_leaves_where, input};
use zkopml_engine::{
    import::{Attr, Const, ConstData, Dim, Graph, GraphNode},
    Program, Tensor,
};
use zkopml_prover::{
    templates::{GatherTemplate, LogicTemplate, Template},
    v4::{LeafInstance, Lowered, V4Trace},
};

const CHUNK: usize = zkopml_commit::CHUNK_VALUES;

/// `y = Concat(x0, x1, …, consts…)` along `axis`.
fn concat(shapes: &[&[usize]], consts: &[(Vec<usize>, Vec<i64>)], axis: i64) -> Program {
    let names: Vec<String> = (0..shapes.len()).map(|k| format!("x{k}")).collect();
    let cnames: Vec<String> = (0..consts.len()).map(|k| format!("c{k}")).collect();
    let graph = Graph {
        nodes: vec![GraphNode {
            name: "y".into(),
            op_type: "Concat".into(),
            inputs: names.iter().chain(&cnames).cloned().collect(),
            outputs: vec!["y".into()],
            attrs: [("axis".to_string(), Attr::Int(axis))]
                .into_iter()
                .collect(),
        }],
        initializers: cnames
            .iter()
            .zip(consts)
            .map(|(n, (shape, v))| {
                (
                    n.clone(),
                    Const {
                        shape: shape.clone(),
                        data: ConstData::Int(v.clone()),
                    },
                )
            })
            .collect(),
        inputs: names
            .iter()
            .zip(shapes)
            .map(|(n, s)| (n.clone(), s.iter().map(|d| Dim::Fixed(*d)).collect()))
            .collect(),
        outputs: vec!["y".into()],
        opset: 13,
    };
    Program::compile(&graph, &std::collections::HashMap::new(), 1).unwrap()
}

#[test]
fn equal_halves_lower_to_two_tiles_and_one_where() {
    // vision_gates' Concat: [1, 4, 8, 8] twice along the channels.
    let s: &[usize] = &[1, 4, 8, 8];
    let p = concat(&[s, s], &[], 1);
    let (_, _, leaves) = check_leaves(&p, &[input(s, 1), input(s, 2)], true);
    assert_eq!(leaves[GatherTemplate::NAME], 2);
    assert_eq!(leaves[LogicTemplate::NAME], 1);
}

#[test]
fn unequal_operands_on_any_axis_lower_exactly() {
    // Three operands of 3, 5, 1 rows of 70 values (1,260 values: chunk borders inside rows).
    let shapes: [&[usize]; 3] = [&[2, 3, 70], &[2, 5, 70], &[2, 1, 70]];
    let xs: Vec<Tensor> = shapes
        .iter()
        .enumerate()
        .map(|(k, s)| input(s, 3 + k as u64))
        .collect();
    // Satisfied: the first chunk of every Where and of the first gather (the statements of
    // all leaves are checked; the gathers' circuits are gather_chunk's own tests').
    let first = |o: usize, t: &str, j: usize, _| j == 0 && (o == 0 || t == LogicTemplate::NAME);
    let (_, _, leaves) = check_leaves_where(&concat(&shapes, &[], 1), &xs, &first);
    assert_eq!(
        leaves[LogicTemplate::NAME],
        2 * 3,
        "two Wheres of three chunks"
    );
    // The last axis, negative: [4, 7] ‖ [4, 2] ‖ [4, 300].
    let shapes: [&[usize]; 3] = [&[4, 7], &[4, 2], &[4, 300]];
    let xs: Vec<Tensor> = shapes
        .iter()
        .enumerate()
        .map(|(k, s)| input(s, 7 + k as u64))
        .collect();
    check_leaves_where(&concat(&shapes, &[], -1), &xs, &first);
    // The first axis, with a constant operand after the computed one.
    let c = (vec![2, 30], (0..60).map(|v| v * 1000 - 30_000).collect());
    check_leaves_where(&concat(&[&[5, 30]], &[c], 0), &[input(&[5, 30], 9)], &first);
}

#[test]
fn a_fault_in_a_concat_is_caught_at_its_where_leaf() {
    let shapes: [&[usize]; 2] = [&[3, 300], &[5, 300]];
    let p = concat(&shapes, &[], 0);
    let xs = [input(shapes[0], 1), input(shapes[1], 2)];
    let l = Lowered::new(&p, 1).unwrap();
    let at = 1000;
    let honest = V4Trace::compute(&l, &p, &xs, None).unwrap();
    let liar = V4Trace::compute(&l, &p, &xs, Some((0, at))).unwrap();
    let o = (0..l.ops.len())
        .find(|o| liar.commitments[l.ops[*o].output] != honest.commitments[l.ops[*o].output])
        .unwrap();
    assert_eq!(o, l.ops.len() - 1, "the Where");
    let (out, j) = (l.ops[o].output, at / CHUNK);
    let inst = LeafInstance::new(&l, &liar, o, j).unwrap();
    assert!(inst.is_satisfied().unwrap());
    assert_eq!(inst.digest(), honest.tree(out).unwrap().leaves()[j]);
    assert_ne!(inst.digest(), liar.tree(out).unwrap().leaves()[j]);
}
