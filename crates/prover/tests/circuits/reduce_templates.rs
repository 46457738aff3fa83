//! `ReduceMin` and `CumSum` (engine: `ops/reduce.rs`) lowered onto existing templates:
//! `ReduceMin` as `ReduceMax` between two complements `x ↦ −1 − x` (`binary_chunk` Sub,
//! `group_block`, `rescale_chunk`), `CumSum` as a product with a constant 0/1 matrix
//! (`matmul_block`, `rescale_chunk` S = 0). Every leaf is the statement the contract builds,
//! the lowered output is the engine's bit for bit on inputs with the `i32` extremes (a
//! group whose minimum is `i32::MIN`, prefixes that saturate), the plan counts the leaves,
//! and a fault in either node's output is first caught at its last leaf.

use crate::common::{check_leaves, check_leaves_where, input, program};
use zkopml_engine::{import::Attr, Program, Tensor};
use zkopml_prover::{
    templates::{
        BinaryTemplate, GroupBlockTemplate, MatMulBlockTemplate, RescaleTemplate, Template,
    },
    v4::{LeafInstance, Lowered, V4Trace},
};

const CHUNK: usize = zkopml_commit::CHUNK_VALUES;

fn reduce_min(shape: &[usize], axes: &[i64], keepdims: i64) -> Program {
    program(
        "ReduceMin",
        &[("x", shape)],
        &[("axes", vec![axes.len()], axes.to_vec())],
        &[("keepdims", Attr::Int(keepdims))],
    )
}

#[test]
fn reduce_min_lowers_exactly_with_the_extremes() {
    // Groups of 700 over two chunks and a partial one; i32::MIN and i32::MAX in every group.
    let p = reduce_min(&[2, 700], &[1], 1);
    let x = input(&[2, 700], 11);
    let (_, _, leaves) = check_leaves_where(&p, std::slice::from_ref(&x), &|_, t, j, _| {
        j == 0 && t != GroupBlockTemplate::NAME
    });
    assert_eq!(
        leaves[BinaryTemplate::NAME],
        3 + 1,
        "complements of X and of m"
    );
    assert_eq!(leaves[RescaleTemplate::NAME], 1);
    assert_eq!(
        leaves[GroupBlockTemplate::NAME],
        3,
        "one group, three blocks"
    );
    // A group of i32::MAX only, one with i32::MIN alone at its end, negative groups.
    let mut y = Tensor::new(vec![3, 5, 40], vec![i32::MAX; 600]);
    y.data[199] = i32::MIN;
    for v in &mut y.data[400..] {
        *v = -7;
    }
    y.data[450] = -8;
    // Reduced axes first (moved last by a gather) and last, keepdims both ways.
    // Satisfied: the complements' and the finish's leaves (the statements of all leaves are
    // checked; group_block's circuit is its own tests').
    let ends = |_, t: &str, _, _| t == BinaryTemplate::NAME || t == RescaleTemplate::NAME;
    for (axes, keep) in [(&[1][..], 1), (&[0, 2][..], 0), (&[2][..], 0)] {
        let p = reduce_min(&[3, 5, 40], axes, keep);
        check_leaves_where(&p, std::slice::from_ref(&y), &ends);
        check_leaves_where(&p, &[input(&[3, 5, 40], 12)], &|_, _, _, _| false);
    }
}

fn cumsum(shape: &[usize], axis: i64, exclusive: i64, reverse: i64) -> Program {
    program(
        "CumSum",
        &[("x", shape)],
        &[("axis", vec![], vec![axis])],
        &[
            ("exclusive", Attr::Int(exclusive)),
            ("reverse", Attr::Int(reverse)),
        ],
    )
}

#[test]
fn cumsum_lowers_exactly_and_saturates_as_the_engine() {
    // The extremes make prefixes saturate both ways; every direction and axis position.
    for (shape, axis) in [(&[64, 12][..], 1), (&[3, 7, 30][..], 1), (&[6, 130][..], 0)] {
        let x = input(shape, 13);
        // Every direction on the short axis, the plain one on the others.
        let modes: &[(i64, i64)] = if shape.len() == 3 {
            &[(0, 0), (1, 0), (0, 1), (1, 1)]
        } else {
            &[(0, 0)]
        };
        for &(exclusive, reverse) in modes {
            let p = cumsum(shape, axis, exclusive, reverse);
            // Satisfied (plain direction only): the first block and the rescale of the
            // first chunk; every leaf's statement is checked in every direction.
            let plain = exclusive == 0 && reverse == 0;
            let (l, _, leaves) = check_leaves_where(&p, std::slice::from_ref(&x), &|o, t, j, _| {
                plain && j == 0 && (o == 0 || t == RescaleTemplate::NAME)
            });
            let d = shape[axis as usize];
            let chunks = x.data.len().div_ceil(CHUNK);
            assert_eq!(leaves[MatMulBlockTemplate::NAME], d * chunks, "{shape:?}");
            assert_eq!(l.ops.len(), d + 1);
        }
    }
    // Prefixes of i32::MAX saturate at once and stay there; a negative run saturates low.
    let mut x = Tensor::new(vec![2, 9], vec![i32::MAX; 18]);
    for v in &mut x.data[9..] {
        *v = i32::MIN + 1;
    }
    check_leaves(&cumsum(&[2, 9], -1, 0, 0), &[x], false);
}

/// A fault in a node's output is first visible at its last operator (the blocks before it
/// are computed from agreed inputs): built from the liar's own trace, that leaf proves the
/// honest chunk.
#[test]
fn a_fault_in_a_reduce_min_or_a_cumsum_is_caught_at_its_last_leaf() {
    for (p, shape) in [
        (reduce_min(&[700, 2], &[1], 0), [700, 2]),
        (cumsum(&[20, 40], 1, 0, 0), [20, 40]),
    ] {
        let x = [input(&shape, 14)];
        let l = Lowered::new(&p, 1).unwrap();
        let honest = V4Trace::compute(&l, &p, &x, None).unwrap();
        let liar = V4Trace::compute(&l, &p, &x, Some((0, 650))).unwrap();
        let o = (0..l.ops.len())
            .find(|o| liar.commitments[l.ops[*o].output] != honest.commitments[l.ops[*o].output])
            .unwrap();
        assert_eq!(o, l.ops.len() - 1, "the last operator");
        let out = l.ops[o].output;
        let j = 650 / CHUNK;
        assert_ne!(
            honest.tree(out).unwrap().leaves()[j],
            liar.tree(out).unwrap().leaves()[j]
        );
        let inst = LeafInstance::new(&l, &liar, o, j).unwrap();
        assert!(inst.is_satisfied().unwrap());
        assert_eq!(inst.digest(), honest.tree(out).unwrap().leaves()[j]);
    }
}
