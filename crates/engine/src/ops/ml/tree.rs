//! `TreeEnsembleClassifier` and `TreeEnsembleRegressor` (normative: `docs/numerics.md`,
//! "ai.onnx.ml models").

use std::collections::{BTreeMap, HashMap};

use serde::{Deserialize, Serialize};

use super::{
    class_labels, class_output, classifier_shape, features, finish, fits, ints, post_transform,
    reals, rows_shape, strings, ClassRule, Classifier, Exact, PostTransform,
};
use crate::{
    fixed::{bias_frac_bits, div_round, quantize_at, FRAC_BITS, ONE},
    import::GraphNode,
    ops::{input, BuildCtx, Built, Op, Wire},
    Result, Tensor,
};

/// Integer branch bounds are clamped to `±2^40`, far outside every `i32` feature.
const BOUND_CLAMP: i64 = 1 << 40;

/// How a tree ensemble combines its trees' votes for one target (`aggregate_function`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Aggregate {
    /// Sum of the votes.
    Sum,
    /// Sum divided by the number of trees (rounded half up at the weights' scale).
    Average,
    /// Smallest vote (0 when no tree voted).
    Min,
    /// Largest vote (0 when no tree voted).
    Max,
}

/// A branch rule normalised to integers: go to the true child iff the rule holds for `q`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Branch {
    /// `q ≤ b`.
    Le(i64),
    /// `q ≥ b`.
    Ge(i64),
    /// `q = b`.
    Eq(i64),
    /// `q ≠ b`.
    Ne(i64),
    /// A leaf: its votes are counted.
    Leaf,
}

impl Branch {
    /// The integer rule of ONNX mode `mode` with float threshold `t` on features quantised at
    /// `2^-F`: for `x = q/2^F`, `x ≤ t ⟺ q ≤ ⌊t·2^F⌋`, `x < t ⟺ q ≤ ⌈t·2^F⌉ − 1`,
    /// `x ≥ t ⟺ q ≥ ⌈t·2^F⌉`, `x > t ⟺ q ≥ ⌊t·2^F⌋ + 1`, `x = t ⟺ q = t·2^F` (never when
    /// `t·2^F` is not an integer). `t·2^F` is exact in `f64`.
    fn from_mode(mode: &str, t: f64) -> Option<Branch> {
        let s = t * ONE as f64;
        let clamp = |v: f64| {
            if v.is_nan() {
                0
            } else {
                v.clamp(-(BOUND_CLAMP as f64), BOUND_CLAMP as f64) as i64
            }
        };
        let (lo, hi) = (clamp(s.floor()), clamp(s.ceil()));
        let exact = if s.fract() == 0.0 && s.abs() < BOUND_CLAMP as f64 {
            s as i64
        } else {
            BOUND_CLAMP
        };
        Some(match mode {
            "BRANCH_LEQ" => Branch::Le(lo),
            "BRANCH_LT" => Branch::Le(hi - 1),
            "BRANCH_GTE" => Branch::Ge(hi),
            "BRANCH_GT" => Branch::Ge(lo + 1),
            "BRANCH_EQ" => Branch::Eq(exact),
            "BRANCH_NEQ" => Branch::Ne(exact),
            "LEAF" => Branch::Leaf,
            _ => return None,
        })
    }

    fn holds(&self, q: i32) -> bool {
        let q = q as i64;
        match *self {
            Branch::Le(b) => q <= b,
            Branch::Ge(b) => q >= b,
            Branch::Eq(b) => q == b,
            Branch::Ne(b) => q != b,
            Branch::Leaf => false,
        }
    }
}

/// One node of a tree ensemble; children are indices into [`TreeEnsemble::nodes`].
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TreeNode {
    /// Feature column compared.
    pub feature: u32,
    /// The rule.
    pub branch: Branch,
    /// Child when the rule holds.
    pub on_true: u32,
    /// Child otherwise.
    pub on_false: u32,
    /// This leaf's votes: `votes[start..end]`.
    pub votes: (u32, u32),
}

/// `TreeEnsembleClassifier` / `TreeEnsembleRegressor` on `X: [N, features]`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TreeEnsemble {
    /// Every tree's nodes; acyclic (checked by the builder).
    pub nodes: Vec<TreeNode>,
    /// Root node of each tree.
    pub roots: Vec<u32>,
    /// `(target, weight)` votes at scale `2^-weight_bits`.
    pub votes: Vec<(u32, i32)>,
    /// Base value per target at scale `2^-weight_bits`.
    pub base: Vec<i32>,
    /// Fractional bits `S` of votes and base values.
    pub weight_bits: u32,
    /// Number of feature columns.
    pub features: usize,
    /// Number of targets (classes, or 1 for a binary classifier).
    pub targets: usize,
    /// Aggregation.
    pub aggregate: Aggregate,
    /// Score transform.
    pub post: PostTransform,
    /// `Some` for a classifier.
    pub classifier: Option<Classifier>,
}

impl TreeEnsemble {
    pub(crate) fn output_shape(&self, node: &str, ins: &[&[usize]]) -> Result<Vec<usize>> {
        let rows = rows_shape(node, ins, self.features)?;
        Ok(classifier_shape(
            self.classifier.as_ref(),
            rows,
            self.targets,
        ))
    }

    /// The leaf tree `root` sends row `x` to (bounded walk: the builder checked the tree is
    /// acyclic, so `nodes.len()` steps always reach a leaf).
    fn leaf(&self, root: u32, x: &[i32]) -> &TreeNode {
        let mut n = &self.nodes[root as usize];
        for _ in 0..self.nodes.len() {
            if n.branch == Branch::Leaf {
                break;
            }
            let q = x.get(n.feature as usize).copied().unwrap_or(0);
            let next = if n.branch.holds(q) {
                n.on_true
            } else {
                n.on_false
            };
            n = &self.nodes[next as usize];
        }
        n
    }

    /// Exact aggregated scores (scale `2^-weight_bits`) of every row, row-major.
    /// Also returns, per score, whether any tree voted for it (ORT labels only such classes).
    pub fn raw_scores(&self, x: &Tensor) -> (Vec<i128>, Vec<bool>) {
        let rows = x.shape.first().copied().unwrap_or(0);
        let mut out = Vec::with_capacity(rows * self.targets);
        let mut voted = Vec::with_capacity(rows * self.targets);
        for n in 0..rows {
            let row = &x.data[n * self.features..(n + 1) * self.features];
            let mut acc: Vec<Option<i128>> = vec![None; self.targets];
            for root in &self.roots {
                let leaf = self.leaf(*root, row);
                for (t, w) in &self.votes[leaf.votes.0 as usize..leaf.votes.1 as usize] {
                    let (slot, w) = (&mut acc[*t as usize], *w as i128);
                    *slot = Some(match (self.aggregate, *slot) {
                        (_, None) => w,
                        (Aggregate::Sum | Aggregate::Average, Some(a)) => a + w,
                        (Aggregate::Min, Some(a)) => a.min(w),
                        (Aggregate::Max, Some(a)) => a.max(w),
                    });
                }
            }
            for (t, a) in acc.into_iter().enumerate() {
                voted.push(a.is_some());
                let mut v = a.unwrap_or(0);
                if self.aggregate == Aggregate::Average {
                    v = div_round(v, self.roots.len().max(1) as i128);
                }
                out.push(v + self.base.get(t).copied().unwrap_or(0) as i128);
            }
        }
        (out, voted)
    }

    pub(crate) fn eval(&self, x: &Tensor, out_shape: &[usize]) -> Tensor {
        let (raw, voted) = self.raw_scores(x);
        let rows = x.shape.first().copied().unwrap_or(0);
        finish(
            Exact {
                raw: &raw,
                voted: Some(&voted),
                rows,
                targets: self.targets,
                shift: self.weight_bits - FRAC_BITS,
            },
            self.post,
            self.classifier.as_ref(),
            out_shape,
        )
    }
}

/// `TreeEnsembleClassifier` and `TreeEnsembleRegressor` (ai.onnx.ml 1 and 3).
pub(crate) fn build_tree_ensemble(node: &GraphNode, ctx: &dyn BuildCtx) -> Result<Built> {
    let classify = node.op_type.ends_with("Classifier");
    let features = features(node, ctx)?;
    let tree_ids = ints(node, "nodes_treeids")?;
    let node_ids = ints(node, "nodes_nodeids")?;
    let feature_ids = ints(node, "nodes_featureids")?;
    let modes = strings(node, "nodes_modes")?.unwrap_or_default();
    let values = reals(node, "nodes_values")?.unwrap_or_default();
    let true_ids = ints(node, "nodes_truenodeids")?;
    let false_ids = ints(node, "nodes_falsenodeids")?;
    let n = tree_ids.len();
    if n == 0 {
        return Err(node.bad_attr("nodes_treeids", "no tree nodes"));
    }
    for (attr, len) in [
        ("nodes_nodeids", node_ids.len()),
        ("nodes_featureids", feature_ids.len()),
        ("nodes_modes", modes.len()),
        ("nodes_values", values.len()),
        ("nodes_truenodeids", true_ids.len()),
        ("nodes_falsenodeids", false_ids.len()),
    ] {
        if len != n {
            return Err(node.bad_attr(attr, format!("{len} values for {n} nodes")));
        }
    }
    // (tree, node id) → index; trees in order of first appearance.
    let mut index: HashMap<(i64, i64), u32> = HashMap::new();
    let mut trees: BTreeMap<i64, ()> = BTreeMap::new();
    for (i, key) in tree_ids.iter().zip(&node_ids).enumerate() {
        if index.insert((*key.0, *key.1), i as u32).is_some() {
            return Err(node.bad_attr(
                "nodes_nodeids",
                format!("node {} of tree {} occurs twice", key.1, key.0),
            ));
        }
        trees.insert(*key.0, ());
    }
    let (vote_prefix, label_attr) = if classify {
        ("class", "classlabels_int64s")
    } else {
        ("target", "")
    };
    let v_trees = ints(node, &format!("{vote_prefix}_treeids"))?;
    let v_nodes = ints(node, &format!("{vote_prefix}_nodeids"))?;
    let v_ids = ints(node, &format!("{vote_prefix}_ids"))?;
    let v_weights = reals(node, &format!("{vote_prefix}_weights"))?.unwrap_or_default();
    for (attr, len) in [
        ("nodeids", v_nodes.len()),
        ("ids", v_ids.len()),
        ("weights", v_weights.len()),
    ] {
        if len != v_trees.len() {
            return Err(node.bad_attr(
                &format!("{vote_prefix}_{attr}"),
                format!("{len} values for {} votes", v_trees.len()),
            ));
        }
    }
    let labels = if classify {
        class_labels(node, label_attr)?
    } else {
        vec![]
    };
    let targets_declared = if classify {
        labels.len()
    } else {
        usize::try_from(node.int("n_targets", 1)?)
            .ok()
            .filter(|t| (1..=1 << 16).contains(t))
            .ok_or_else(|| node.bad_attr("n_targets", "must be in 1..=65536"))?
    };
    if let Some(t) = v_ids
        .iter()
        .find(|t| !(0..targets_declared as i64).contains(t))
    {
        return Err(node.bad_attr(
            &format!("{vote_prefix}_ids"),
            format!("target {t} outside 0..{targets_declared}"),
        ));
    }
    let base_f = reals(node, "base_values")?.unwrap_or_default();
    fits(node, &format!("{vote_prefix}_weights"), &v_weights)?;
    fits(node, "base_values", &base_f)?;
    let mut all = v_weights.clone();
    all.extend(&base_f);
    let weight_bits = bias_frac_bits(&all, 18);

    // Classifier rule: one target per label, or ORT's binary case (two labels, every vote
    // for class 0).
    let single = classify && labels.len() == 2 && v_ids.iter().all(|t| *t == 0);
    let post = post_transform(node)?;
    let (targets, classifier) = if classify {
        let rule = if single {
            let positive = v_weights.iter().all(|w| *w >= 0.0);
            match (positive, post) {
                (false, PostTransform::Logistic) => ClassRule::BinaryMargin,
                (true, PostTransform::None) => ClassRule::BinaryProbability,
                _ => {
                    return Err(node.bad_attr(
                        "post_transform",
                        "binary tree classifier: only LOGISTIC with mixed-sign votes or NONE with non-negative votes",
                    ))
                }
            }
        } else if labels.len() == 2 {
            return Err(node.bad_attr(
                "class_ids",
                "a two-class tree classifier with votes for both classes is not supported (ORT's rules for it are not specified by ONNX)",
            ));
        } else {
            ClassRule::Multiclass
        };
        let targets = if single { 1 } else { labels.len() };
        (
            targets,
            Some(Classifier {
                labels,
                rule,
                output: class_output(node)?,
            }),
        )
    } else {
        (targets_declared, None)
    };
    // Base values: one per target (a binary classifier adds base_values[0] to its score).
    let mut base = vec![0i32; targets];
    match base_f.len() {
        0 => {}
        k if k == targets || (single && k == 2) => {
            for (b, v) in base.iter_mut().zip(&base_f) {
                *b = quantize_at(*v, weight_bits);
            }
        }
        k => return Err(node.bad_attr("base_values", format!("{k} values for {targets} targets"))),
    }
    let aggregate = match node.string("aggregate_function", "SUM")?.as_str() {
        "SUM" => Aggregate::Sum,
        "AVERAGE" => Aggregate::Average,
        "MIN" => Aggregate::Min,
        "MAX" => Aggregate::Max,
        other => return Err(node.bad_attr("aggregate_function", format!("unknown {other}"))),
    };

    // Votes grouped by node.
    let mut by_node: Vec<Vec<(u32, i32)>> = vec![Vec::new(); n];
    for k in 0..v_trees.len() {
        let i = *index.get(&(v_trees[k], v_nodes[k])).ok_or_else(|| {
            node.bad_attr(
                &format!("{vote_prefix}_nodeids"),
                format!(
                    "vote for node {} of tree {}, which does not exist",
                    v_nodes[k], v_trees[k]
                ),
            )
        })?;
        by_node[i as usize].push((v_ids[k] as u32, quantize_at(v_weights[k], weight_bits)));
    }
    let mut nodes = Vec::with_capacity(n);
    let mut votes = Vec::new();
    for i in 0..n {
        let branch = Branch::from_mode(&modes[i], values[i])
            .ok_or_else(|| node.bad_attr("nodes_modes", format!("unknown mode {}", modes[i])))?;
        let child = |id: i64, attr: &str| -> Result<u32> {
            if branch == Branch::Leaf {
                return Ok(i as u32);
            }
            index.get(&(tree_ids[i], id)).copied().ok_or_else(|| {
                node.bad_attr(
                    attr,
                    format!("child {id} of tree {} does not exist", tree_ids[i]),
                )
            })
        };
        let (on_true, on_false) = (
            child(true_ids[i], "nodes_truenodeids")?,
            child(false_ids[i], "nodes_falsenodeids")?,
        );
        if branch != Branch::Leaf && !by_node[i].is_empty() {
            return Err(node.bad_attr(
                &format!("{vote_prefix}_nodeids"),
                format!(
                    "vote for branch node {} of tree {}",
                    node_ids[i], tree_ids[i]
                ),
            ));
        }
        let feature = if branch == Branch::Leaf {
            0
        } else {
            usize::try_from(feature_ids[i])
                .ok()
                .filter(|f| *f < features)
                .ok_or_else(|| {
                    node.bad_attr(
                        "nodes_featureids",
                        format!("feature {} outside 0..{features}", feature_ids[i]),
                    )
                })? as u32
        };
        let start = votes.len() as u32;
        votes.extend(by_node[i].iter().copied());
        nodes.push(TreeNode {
            feature,
            branch,
            on_true,
            on_false,
            votes: (start, votes.len() as u32),
        });
    }
    // Roots: the node with id 0 of each tree (ONNX: node ids start at 0); every tree acyclic.
    let mut roots = Vec::with_capacity(trees.len());
    for t in trees.keys() {
        let root = *index
            .get(&(*t, 0))
            .ok_or_else(|| node.bad_attr("nodes_nodeids", format!("tree {t} has no node 0")))?;
        check_acyclic(node, &nodes, root)?;
        roots.push(root);
    }
    Ok(Built {
        op: Op::TreeEnsemble(Box::new(TreeEnsemble {
            nodes,
            roots,
            votes,
            base,
            weight_bits,
            features,
            targets,
            aggregate,
            post,
            classifier,
        })),
        inputs: vec![Wire::Value(input(node, 0)?)],
    })
}

/// Depth-first search with colours: a grey node reached again is a cycle.
fn check_acyclic(node: &GraphNode, nodes: &[TreeNode], root: u32) -> Result<()> {
    // 0 white, 1 grey (on the stack), 2 black (done).
    let mut colour = HashMap::new();
    let mut stack = vec![(root, false)];
    while let Some((i, leaving)) = stack.pop() {
        if leaving {
            colour.insert(i, 2u8);
            continue;
        }
        match colour.get(&i) {
            Some(2) => continue,
            Some(_) => {
                return Err(node.bad_attr("nodes_truenodeids", "the tree has a cycle"));
            }
            None => {}
        }
        colour.insert(i, 1);
        stack.push((i, true));
        let n = &nodes[i as usize];
        if n.branch != Branch::Leaf {
            for c in [n.on_true, n.on_false] {
                if colour.get(&c) == Some(&1) {
                    return Err(node.bad_attr("nodes_truenodeids", "the tree has a cycle"));
                }
                if colour.get(&c) != Some(&2) {
                    stack.push((c, false));
                }
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{
        import::Attr,
        ops::{ClassOutput, ML_PREFIX},
        EngineError,
    };

    fn tree(branch: Branch) -> TreeEnsemble {
        // Root compares feature 0; true → leaf 1 (votes +1 for class 0), false → leaf 2
        // (votes +1 for class 1).
        TreeEnsemble {
            nodes: vec![
                TreeNode {
                    feature: 0,
                    branch,
                    on_true: 1,
                    on_false: 2,
                    votes: (0, 0),
                },
                TreeNode {
                    feature: 0,
                    branch: Branch::Leaf,
                    on_true: 1,
                    on_false: 1,
                    votes: (0, 1),
                },
                TreeNode {
                    feature: 0,
                    branch: Branch::Leaf,
                    on_true: 2,
                    on_false: 2,
                    votes: (1, 2),
                },
            ],
            roots: vec![0],
            votes: vec![(0, 1 << 12), (1, 1 << 12)],
            base: vec![0, 0],
            weight_bits: 12,
            features: 1,
            targets: 2,
            aggregate: Aggregate::Sum,
            post: PostTransform::None,
            classifier: Some(Classifier {
                labels: vec![0, 7 << 12],
                rule: ClassRule::Multiclass,
                output: ClassOutput::Label,
            }),
        }
    }

    #[test]
    fn branch_bounds_match_float_decisions_on_the_grid() {
        for t in [0.5f32, -1.25, 2.4, -0.0001, 3.000_244_1, 1e-9] {
            for mode in [
                "BRANCH_LEQ",
                "BRANCH_LT",
                "BRANCH_GTE",
                "BRANCH_GT",
                "BRANCH_EQ",
                "BRANCH_NEQ",
            ] {
                let b = Branch::from_mode(mode, t as f64).unwrap();
                for q in -20_000i32..20_000 {
                    let x = q as f64 / 4096.0;
                    let t = t as f64;
                    let want = match mode {
                        "BRANCH_LEQ" => x <= t,
                        "BRANCH_LT" => x < t,
                        "BRANCH_GTE" => x >= t,
                        "BRANCH_GT" => x > t,
                        "BRANCH_EQ" => x == t,
                        _ => x != t,
                    };
                    assert_eq!(b.holds(q), want, "{mode} {t} q={q}");
                }
            }
        }
    }

    #[test]
    fn labels_skip_classes_no_tree_voted_for() {
        // Class 1 gets no vote but the larger base value: ORT labels among voted classes.
        let mut e = tree(Branch::from_mode("BRANCH_LEQ", 0.5).unwrap());
        e.votes = vec![(0, -4096), (0, -4096)];
        e.base = vec![0, 8192];
        let x = Tensor::new(vec![1, 1], vec![0]);
        assert_eq!(e.eval(&x, &[1]).data, vec![0]);
        e.classifier.as_mut().unwrap().output = ClassOutput::Scores;
        assert_eq!(e.eval(&x, &[1, 2]).data, vec![-4096, 8192]);
    }

    #[test]
    fn tree_labels_follow_the_threshold() {
        let mut e = tree(Branch::from_mode("BRANCH_LEQ", 0.5).unwrap());
        let x = Tensor::new(vec![3, 1], vec![2048, 2049, -5]);
        assert_eq!(e.eval(&x, &[3]).data, vec![0, 7 << 12, 0]);
        e.classifier.as_mut().unwrap().output = ClassOutput::Scores;
        assert_eq!(e.eval(&x, &[3, 2]).data, vec![4096, 0, 0, 4096, 4096, 0]);
    }

    /// A build context with one input `X: [2, 2]` (a test double of the compiler's).
    struct Ctx;
    impl BuildCtx for Ctx {
        fn shape(&self, name: &str) -> Option<Vec<usize>> {
            (name == "X").then(|| vec![2, 2])
        }
        fn constant(&self, _: &str) -> Option<&crate::import::Const> {
            None
        }
        fn opset(&self) -> i64 {
            17
        }
    }

    fn tree_node(edit: impl FnOnce(&mut BTreeMap<String, Attr>)) -> GraphNode {
        let mut attrs = BTreeMap::new();
        let ints = |v: &[i64]| Attr::Ints(v.to_vec());
        attrs.insert("nodes_treeids".into(), ints(&[0, 0, 0]));
        attrs.insert("nodes_nodeids".into(), ints(&[0, 1, 2]));
        attrs.insert("nodes_featureids".into(), ints(&[1, 0, 0]));
        attrs.insert(
            "nodes_modes".into(),
            Attr::Strings(vec!["BRANCH_LEQ".into(), "LEAF".into(), "LEAF".into()]),
        );
        attrs.insert("nodes_values".into(), Attr::Floats(vec![0.5, 0.0, 0.0]));
        attrs.insert("nodes_truenodeids".into(), ints(&[1, 0, 0]));
        attrs.insert("nodes_falsenodeids".into(), ints(&[2, 0, 0]));
        attrs.insert("target_treeids".into(), ints(&[0, 0]));
        attrs.insert("target_nodeids".into(), ints(&[1, 2]));
        attrs.insert("target_ids".into(), ints(&[0, 0]));
        attrs.insert("target_weights".into(), Attr::Floats(vec![-1.5, 2.25]));
        edit(&mut attrs);
        GraphNode {
            name: "t".into(),
            op_type: format!("{ML_PREFIX}TreeEnsembleRegressor"),
            inputs: vec!["X".into()],
            outputs: vec!["Y".into()],
            attrs,
        }
    }

    #[test]
    fn regressor_builds_and_runs() {
        let built = crate::ops::build(&tree_node(|_| {}), &Ctx).unwrap();
        let x = Tensor::new(vec![2, 2], vec![0, 2048, 0, 2049]);
        let shape = built.op.output_shape("t", &[&x.shape]).unwrap();
        assert_eq!(shape, vec![2, 1]);
        assert_eq!(built.op.eval(&[&x], &shape).data, vec![-6144, 9216]);
    }

    #[test]
    fn malformed_trees_are_typed_errors_not_panics() {
        type Edit = Box<dyn FnOnce(&mut BTreeMap<String, Attr>)>;
        let cases: Vec<Edit> = vec![
            // A cycle: node 1 is a branch back to the root.
            Box::new(|a| {
                a.insert(
                    "nodes_modes".into(),
                    Attr::Strings(vec!["BRANCH_LEQ".into(), "BRANCH_LT".into(), "LEAF".into()]),
                );
                a.insert("target_nodeids".into(), Attr::Ints(vec![2, 2]));
            }),
            // A child that does not exist.
            Box::new(|a| {
                a.insert("nodes_truenodeids".into(), Attr::Ints(vec![7, 0, 0]));
            }),
            // A feature outside the input.
            Box::new(|a| {
                a.insert("nodes_featureids".into(), Attr::Ints(vec![5, 0, 0]));
            }),
            // Arrays of different lengths.
            Box::new(|a| {
                a.insert("nodes_values".into(), Attr::Floats(vec![0.5]));
            }),
            // An unknown mode, a non-finite threshold, a vote for a missing node.
            Box::new(|a| {
                a.insert(
                    "nodes_modes".into(),
                    Attr::Strings(vec!["BRANCH_XX".into(), "LEAF".into(), "LEAF".into()]),
                );
            }),
            Box::new(|a| {
                a.insert(
                    "nodes_values".into(),
                    Attr::Floats(vec![f32::NAN, 0.0, 0.0]),
                );
            }),
            Box::new(|a| {
                a.insert("target_nodeids".into(), Attr::Ints(vec![1, 9]));
            }),
            // A target outside n_targets.
            Box::new(|a| {
                a.insert("target_ids".into(), Attr::Ints(vec![0, 3]));
            }),
        ];
        for (k, edit) in cases.into_iter().enumerate() {
            let r = crate::ops::build(&tree_node(edit), &Ctx);
            assert!(
                matches!(r, Err(EngineError::BadAttribute { .. })),
                "case {k}: {:?}",
                r.map(|b| b.op)
            );
        }
        let mut zip = tree_node(|_| {});
        zip.op_type = format!("{ML_PREFIX}ZipMap");
        assert!(matches!(
            crate::ops::build(&zip, &Ctx),
            Err(EngineError::UnsupportedOp { .. })
        ));
    }
}
