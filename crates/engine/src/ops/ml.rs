//! The `ai.onnx.ml` models scikit-learn exports through skl2onnx: `TreeEnsembleClassifier`,
//! `TreeEnsembleRegressor`, `LinearClassifier`, `LinearRegressor`, `Normalizer` and `Scaler`.
//! `ZipMap` (a sequence of maps, not a tensor) is refused with a typed error naming the export
//! option that leaves it out.
//!
//! Integer semantics (normative: `docs/numerics.md`): a tree's branch compares the quantised
//! feature `q` with an integer bound derived from the float threshold `t` so that the decision
//! equals the float decision whenever the feature is on the `2^-F` grid (`x ≤ t ⟺ q ≤ ⌊t·2^F⌋`);
//! leaf weights and base values are summed exactly at their own scale `2^-S`; classifier labels
//! are taken from those exact sums, before any post-transform. Linear models accumulate
//! `q·c` exactly at `2^-(F+S)` and take labels from the exact scores.
//!
//! Node ids: the importer prefixes the op type of an `ai.onnx.ml` node with [`ML_PREFIX`], and
//! gives each output of a two-output classifier its own node ([`OUTPUT_INDEX_ATTR`]).

use std::collections::{BTreeMap, HashMap};

use serde::{Deserialize, Serialize};

use super::{
    activation::sigmoid_q, input, input_shape, math::sqrt_round, select::OUTPUT_INDEX_ATTR,
    shape_err, softmax::Softmax, BuildCtx, Built, Op, Wire,
};
use crate::{
    fixed::{bias_frac_bits, div_round, quantize, quantize_at, rescale, saturate},
    fixed::{FRAC_BITS, ONE},
    import::{Attr, GraphNode},
    EngineError, Result, Tensor,
};

/// Op-type prefix the importer gives nodes of the `ai.onnx.ml` domain.
pub const ML_PREFIX: &str = "ai.onnx.ml.";

/// Labels and values must be below this magnitude to be fixed-point values (`2^19`).
const RANGE: f64 = (1u64 << (31 - FRAC_BITS)) as f64;
/// Integer branch bounds are clamped to `±2^40`, far outside every `i32` feature.
const BOUND_CLAMP: i64 = 1 << 40;

/// The score transform of a model (`post_transform`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum PostTransform {
    /// Scores as computed.
    None,
    /// [`sigmoid_q`] of every score.
    Logistic,
    /// The integer softmax of `Softmax` over each row.
    Softmax,
}

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

/// Which output of a two-output classifier a program node computes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum ClassOutput {
    /// Output 0: the label of each row, `[N]`, as the fixed-point integer `label·2^F`.
    Label,
    /// Output 1: the class scores of each row, `[N, classes]`.
    Scores,
}

/// How a classifier turns exact scores into labels and output scores.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum ClassRule {
    /// One score per class; the label is the first class with the largest exact score.
    Multiclass,
    /// Two labels and one score `s` (ORT's binary case, mixed-sign weights): label 1 iff
    /// `s > 0`; scores `[σ(−s), σ(s)]` (`post_transform = LOGISTIC`) or `[−s, s]` (linear
    /// models, `NONE`).
    BinaryMargin,
    /// Two labels and one score `s` (tree votes all `≥ 0`, `post_transform = NONE`): label 1
    /// iff `s > 1/2`; scores `[1 − s, s]`.
    BinaryProbability,
}

/// A classifier's labels, rule and output.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Classifier {
    /// `classlabels_int64s` / `classlabels_ints` as fixed-point integers.
    pub labels: Vec<i32>,
    /// Label and score rule.
    pub rule: ClassRule,
    /// Which output this node computes.
    pub output: ClassOutput,
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

/// `LinearClassifier` / `LinearRegressor` on `X: [N, features]`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct LinearModel {
    /// `[targets, features]` coefficients at scale `2^-weight_bits`.
    pub coefficients: Vec<i32>,
    /// Intercepts at scale `2^-(F + weight_bits)` (exact at the products' scale).
    pub intercepts: Vec<i64>,
    /// Fractional bits `S` of the coefficients.
    pub weight_bits: u32,
    /// Number of feature columns.
    pub features: usize,
    /// Number of targets.
    pub targets: usize,
    /// Score transform.
    pub post: PostTransform,
    /// `Some` for a classifier.
    pub classifier: Option<Classifier>,
}

/// `Normalizer`: each row divided by its max-abs, L1 or L2 norm.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum NormKind {
    /// `max |x|`.
    Max,
    /// `Σ |x|`.
    L1,
    /// `√(Σ x²)`.
    L2,
}

/// Extra fractional bits of `Scaler` offsets beyond `F`: a standardising scale of 1/σ
/// multiplies the offset's rounding error, so the offset is kept at `2^-(F+16)`.
pub const OFFSET_EXTRA_BITS: u32 = 16;

/// `Scaler`: `(x − offset)·scale` per feature (one value or one per column).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Scaler {
    /// Offsets at `2^-(F + OFFSET_EXTRA_BITS)`.
    pub offset: Vec<i64>,
    /// Scales at `2^-scale_bits`.
    pub scale: Vec<i32>,
    /// Fractional bits of the scales.
    pub scale_bits: u32,
}

fn rows_shape(node: &str, ins: &[&[usize]], features: usize) -> Result<usize> {
    match ins {
        [[n, f]] if *f == features => Ok(*n),
        _ => Err(shape_err(node, format!("one input [N, {features}]"), ins)),
    }
}

/// Labels and output scores of a classifier from exact per-row scores `raw` (scale
/// `2^-(F + shift)`); `None` for a regressor (scores only).
fn finish(
    raw: &[i128],
    rows: usize,
    targets: usize,
    shift: u32,
    post: PostTransform,
    classifier: Option<&Classifier>,
    out_shape: &[usize],
) -> Tensor {
    let scaled: Vec<i32> = raw.iter().map(|r| rescale(*r, shift)).collect();
    let Some(c) = classifier else {
        return transform(post, Tensor::new(vec![rows, targets], scaled));
    };
    match c.output {
        ClassOutput::Label => {
            let data = (0..rows)
                .map(|n| {
                    let row = &raw[n * targets..(n + 1) * targets];
                    let k = match c.rule {
                        ClassRule::Multiclass => {
                            let mut best = 0;
                            for (j, v) in row.iter().enumerate() {
                                if *v > row[best] {
                                    best = j;
                                }
                            }
                            best
                        }
                        ClassRule::BinaryMargin => usize::from(row[0] > 0),
                        ClassRule::BinaryProbability => {
                            // `s > 1/2` at scale `2^-(F + shift)`.
                            usize::from(row[0] > 1i128 << (FRAC_BITS + shift - 1))
                        }
                    };
                    c.labels.get(k).copied().unwrap_or(0)
                })
                .collect();
            Tensor::new(out_shape.to_vec(), data)
        }
        ClassOutput::Scores => match c.rule {
            ClassRule::Multiclass => transform(post, Tensor::new(vec![rows, targets], scaled)),
            ClassRule::BinaryMargin => {
                let data = scaled
                    .iter()
                    .flat_map(|s| match post {
                        PostTransform::Logistic => [sigmoid_q(s.saturating_neg()), sigmoid_q(*s)],
                        _ => [s.saturating_neg(), *s],
                    })
                    .collect();
                Tensor::new(out_shape.to_vec(), data)
            }
            ClassRule::BinaryProbability => {
                let data = scaled
                    .iter()
                    .flat_map(|s| [saturate(ONE as i128 - *s as i128), *s])
                    .collect();
                Tensor::new(out_shape.to_vec(), data)
            }
        },
    }
}

fn transform(post: PostTransform, t: Tensor) -> Tensor {
    match post {
        PostTransform::None => t,
        PostTransform::Logistic => Tensor::new(
            t.shape.clone(),
            t.data.iter().map(|q| sigmoid_q(*q)).collect(),
        ),
        PostTransform::Softmax => Softmax {
            axis: 1,
            coerce_2d: false,
        }
        .eval(&t),
    }
}

fn classifier_shape(c: Option<&Classifier>, rows: usize, targets: usize) -> Vec<usize> {
    match c {
        None => vec![rows, targets],
        Some(c) if c.output == ClassOutput::Label => vec![rows],
        Some(c) => vec![rows, c.labels.len().max(targets)],
    }
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
    pub fn raw_scores(&self, x: &Tensor) -> Vec<i128> {
        let rows = x.shape.first().copied().unwrap_or(0);
        let mut out = Vec::with_capacity(rows * self.targets);
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
                let mut v = a.unwrap_or(0);
                if self.aggregate == Aggregate::Average {
                    v = div_round(v, self.roots.len().max(1) as i128);
                }
                out.push(v + self.base.get(t).copied().unwrap_or(0) as i128);
            }
        }
        out
    }

    pub(crate) fn eval(&self, x: &Tensor, out_shape: &[usize]) -> Tensor {
        let raw = self.raw_scores(x);
        let rows = x.shape.first().copied().unwrap_or(0);
        finish(
            &raw,
            rows,
            self.targets,
            self.weight_bits - FRAC_BITS,
            self.post,
            self.classifier.as_ref(),
            out_shape,
        )
    }
}

impl LinearModel {
    pub(crate) fn output_shape(&self, node: &str, ins: &[&[usize]]) -> Result<Vec<usize>> {
        let rows = rows_shape(node, ins, self.features)?;
        Ok(classifier_shape(
            self.classifier.as_ref(),
            rows,
            self.targets,
        ))
    }

    /// Exact scores `Σ q·c + b` at scale `2^-(F + weight_bits)`, row-major.
    pub fn raw_scores(&self, x: &Tensor) -> Vec<i128> {
        let rows = x.shape.first().copied().unwrap_or(0);
        let mut out = Vec::with_capacity(rows * self.targets);
        for n in 0..rows {
            let row = &x.data[n * self.features..(n + 1) * self.features];
            for t in 0..self.targets {
                let c = &self.coefficients[t * self.features..(t + 1) * self.features];
                let dot: i128 = row
                    .iter()
                    .zip(c)
                    .map(|(a, b)| *a as i128 * *b as i128)
                    .sum();
                out.push(dot + self.intercepts[t] as i128);
            }
        }
        out
    }

    pub(crate) fn eval(&self, x: &Tensor, out_shape: &[usize]) -> Tensor {
        let raw = self.raw_scores(x);
        let rows = x.shape.first().copied().unwrap_or(0);
        finish(
            &raw,
            rows,
            self.targets,
            self.weight_bits,
            self.post,
            self.classifier.as_ref(),
            out_shape,
        )
    }
}

impl NormKind {
    /// ONNX op type.
    pub fn name(&self) -> &'static str {
        "Normalizer"
    }

    pub(crate) fn output_shape(&self, node: &str, ins: &[&[usize]]) -> Result<Vec<usize>> {
        match ins {
            [x] if x.len() == 1 || x.len() == 2 => Ok(x.to_vec()),
            _ => Err(shape_err(node, "one input of rank 1 or 2", ins)),
        }
    }

    /// Each row (last axis) times `2^F / d`, `d` its norm in fixed point (`max(d, 1)`, so a
    /// zero row stays zero): `div_round(q·2^F, d)`, saturated.
    pub(crate) fn eval(&self, x: &Tensor) -> Tensor {
        let width = x.shape.last().copied().unwrap_or(0).max(1);
        let mut out = Vec::with_capacity(x.len());
        for row in x.data.chunks(width) {
            let d: i128 = match self {
                NormKind::Max => row.iter().map(|q| (*q as i128).abs()).max().unwrap_or(0),
                NormKind::L1 => row.iter().map(|q| (*q as i128).abs()).sum(),
                NormKind::L2 => {
                    let s: u128 = row.iter().map(|q| (*q as i128 * *q as i128) as u128).sum();
                    sqrt_round(s) as i128
                }
            };
            let d = d.max(1);
            out.extend(
                row.iter()
                    .map(|q| saturate(div_round((*q as i128) << FRAC_BITS, d))),
            );
        }
        Tensor::new(x.shape.clone(), out)
    }
}

impl Scaler {
    pub(crate) fn output_shape(&self, node: &str, ins: &[&[usize]]) -> Result<Vec<usize>> {
        let n = self.scale.len().max(self.offset.len());
        match ins {
            [x] if x.len() == 2 && (n == 1 || x[1] == n) => Ok(x.to_vec()),
            _ => Err(shape_err(
                node,
                format!("one input [N, {n}] (or [N, C] for one value)"),
                ins,
            )),
        }
    }

    /// `rescale((q·2^16 − offset)·scale, 16 + scale_bits)` per column.
    pub(crate) fn eval(&self, x: &Tensor) -> Tensor {
        let width = x.shape.last().copied().unwrap_or(0).max(1);
        let offset = |j: usize| match self.offset.as_slice() {
            [o] => *o,
            v => v.get(j).copied().unwrap_or(0),
        };
        let scale = |j: usize| match self.scale.as_slice() {
            [s] => *s,
            v => v.get(j).copied().unwrap_or(0),
        };
        let data = x
            .data
            .iter()
            .enumerate()
            .map(|(i, q)| {
                let j = i % width;
                let d = ((*q as i128) << OFFSET_EXTRA_BITS) - offset(j) as i128;
                rescale(d * scale(j) as i128, OFFSET_EXTRA_BITS + self.scale_bits)
            })
            .collect();
        Tensor::new(x.shape.clone(), data)
    }
}

// ---- builders -------------------------------------------------------------------------

fn strings(node: &GraphNode, name: &str) -> Result<Option<Vec<String>>> {
    match node.attrs.get(name) {
        None => Ok(None),
        Some(Attr::Strings(v)) => Ok(Some(v.clone())),
        Some(other) => Err(node.bad_attr(name, format!("expected strings, found {other:?}"))),
    }
}

/// A floats attribute or its `<name>_as_tensor` (double) twin; every value finite.
fn reals(node: &GraphNode, name: &str) -> Result<Option<Vec<f64>>> {
    let v = match (
        node.attrs.get(name),
        node.attrs.get(&format!("{name}_as_tensor")),
    ) {
        (Some(Attr::Floats(v)), _) => v.iter().map(|x| *x as f64).collect::<Vec<_>>(),
        (None, Some(Attr::Tensor(t))) => t.data.as_floats(),
        (None, None) => return Ok(None),
        (Some(other), _) | (None, Some(other)) => {
            return Err(node.bad_attr(name, format!("expected floats, found {other:?}")))
        }
    };
    if let Some(x) = v.iter().find(|x| !x.is_finite()) {
        return Err(node.bad_attr(name, format!("value {x} is not finite")));
    }
    Ok(Some(v))
}

fn ints(node: &GraphNode, name: &str) -> Result<Vec<i64>> {
    Ok(node.ints(name)?.unwrap_or_default())
}

fn post_transform(node: &GraphNode) -> Result<PostTransform> {
    match node.string("post_transform", "NONE")?.as_str() {
        "NONE" => Ok(PostTransform::None),
        "LOGISTIC" => Ok(PostTransform::Logistic),
        "SOFTMAX" => Ok(PostTransform::Softmax),
        other => Err(node.bad_attr(
            "post_transform",
            format!("{other}: only NONE, LOGISTIC and SOFTMAX are supported"),
        )),
    }
}

fn features(node: &GraphNode, ctx: &dyn BuildCtx) -> Result<usize> {
    let x = input_shape(node, ctx, 0)?;
    match x.as_slice() {
        [_, f] => Ok(*f),
        _ => Err(shape_err(&node.name, "X of rank 2 [N, features]", &[&x])),
    }
}

/// Class labels (`int64s`/`ints`; strings are refused) as fixed-point integers.
fn class_labels(node: &GraphNode, attr: &str) -> Result<Vec<i32>> {
    let string_attr = "classlabels_strings";
    if node.attrs.contains_key(string_attr) {
        return Err(node.bad_attr(
            string_attr,
            "string class labels have no fixed-point value; export integer labels",
        ));
    }
    let labels = ints(node, attr)?;
    if labels.is_empty() {
        return Err(node.bad_attr(attr, "no class labels"));
    }
    labels
        .iter()
        .map(|l| {
            if (*l as f64).abs() < RANGE {
                Ok(quantize(*l as f64))
            } else {
                Err(node.bad_attr(
                    attr,
                    format!("label {l} outside the fixed-point range ±2^19"),
                ))
            }
        })
        .collect()
}

fn class_output(node: &GraphNode) -> Result<ClassOutput> {
    match node.int(OUTPUT_INDEX_ATTR, 0)? {
        0 => Ok(ClassOutput::Label),
        1 => Ok(ClassOutput::Scores),
        k => Err(node.bad_attr(
            OUTPUT_INDEX_ATTR,
            format!("output {k}: a classifier has two"),
        )),
    }
}

fn fits(node: &GraphNode, attr: &str, values: &[f64]) -> Result<()> {
    match values.iter().find(|v| v.abs() >= RANGE) {
        Some(v) => Err(node.bad_attr(
            attr,
            format!("value {v} outside the fixed-point range ±2^19"),
        )),
        None => Ok(()),
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

/// `LinearClassifier` and `LinearRegressor`.
pub(crate) fn build_linear(node: &GraphNode, ctx: &dyn BuildCtx) -> Result<Built> {
    let classify = node.op_type.ends_with("Classifier");
    let features = features(node, ctx)?;
    let coef =
        reals(node, "coefficients")?.ok_or_else(|| node.bad_attr("coefficients", "missing"))?;
    if features == 0 || coef.is_empty() || coef.len() % features != 0 {
        return Err(node.bad_attr(
            "coefficients",
            format!(
                "{} values are not a [targets, {features}] matrix",
                coef.len()
            ),
        ));
    }
    let targets = coef.len() / features;
    let intercepts_f = reals(node, "intercepts")?.unwrap_or_else(|| vec![0.0; targets]);
    if intercepts_f.len() != targets {
        return Err(node.bad_attr(
            "intercepts",
            format!("{} values for {targets} targets", intercepts_f.len()),
        ));
    }
    if !classify && node.int("targets", targets as i64)? != targets as i64 {
        return Err(node.bad_attr("targets", format!("the coefficients hold {targets}")));
    }
    fits(node, "intercepts", &intercepts_f)?;
    // The most fractional bits in 12..=30 that keep the largest coefficient below 2^30:
    // products with features (< 2^31) and their sums stay far inside i128.
    let weight_bits = bias_frac_bits(&coef, 18);
    let coefficients = coef.iter().map(|c| quantize_at(*c, weight_bits)).collect();
    let scale = (1u64 << (FRAC_BITS + weight_bits)) as f64;
    let intercepts = intercepts_f
        .iter()
        .map(|b| (b * scale).round() as i64)
        .collect();
    let post = post_transform(node)?;
    let classifier = if classify {
        let labels = class_labels(node, "classlabels_ints")?;
        let rule = match (targets, labels.len()) {
            (1, 2) if post != PostTransform::Softmax => ClassRule::BinaryMargin,
            (t, l) if t == l && l >= 2 => ClassRule::Multiclass,
            (t, l) => {
                return Err(node.bad_attr(
                    "classlabels_ints",
                    format!("{l} labels for {t} score columns (with post_transform {post:?})"),
                ))
            }
        };
        Some(Classifier {
            labels,
            rule,
            output: class_output(node)?,
        })
    } else {
        None
    };
    Ok(Built {
        op: Op::LinearModel(LinearModel {
            coefficients,
            intercepts,
            weight_bits,
            features,
            targets,
            post,
            classifier,
        }),
        inputs: vec![Wire::Value(input(node, 0)?)],
    })
}

/// `Normalizer` (`norm` MAX, L1 or L2).
pub(crate) fn build_normalizer(node: &GraphNode) -> Result<Built> {
    let kind = match node.string("norm", "MAX")?.as_str() {
        "MAX" => NormKind::Max,
        "L1" => NormKind::L1,
        "L2" => NormKind::L2,
        other => return Err(node.bad_attr("norm", format!("unknown norm {other}"))),
    };
    Ok(Built {
        op: Op::Normalizer(kind),
        inputs: vec![Wire::Value(input(node, 0)?)],
    })
}

/// `Scaler` (`offset`, `scale`: one value or one per column).
pub(crate) fn build_scaler(node: &GraphNode) -> Result<Built> {
    let offset_f = reals(node, "offset")?.unwrap_or_else(|| vec![0.0]);
    let scale_f = reals(node, "scale")?.unwrap_or_else(|| vec![1.0]);
    let (no, ns) = (offset_f.len(), scale_f.len());
    if no == 0 || ns == 0 || (no != 1 && ns != 1 && no != ns) {
        return Err(node.bad_attr("scale", format!("{ns} scales for {no} offsets")));
    }
    fits(node, "offset", &offset_f)?;
    // The most fractional bits in 12..=30 that keep the largest scale below 2^30 (a 1/σ of
    // 140 next to one of 0.003 keeps ~17 significant bits for the small one).
    let scale_bits = bias_frac_bits(&scale_f, 18);
    Ok(Built {
        op: Op::Scaler(Scaler {
            offset: offset_f
                .iter()
                .map(|o| (o * (1u64 << (FRAC_BITS + OFFSET_EXTRA_BITS)) as f64).round() as i64)
                .collect(),
            scale: scale_f
                .iter()
                .map(|s| quantize_at(*s, scale_bits))
                .collect(),
            scale_bits,
        }),
        inputs: vec![Wire::Value(input(node, 0)?)],
    })
}

/// `ZipMap` turns the scores into a sequence of maps, which no tensor program holds.
pub(crate) fn refuse_zipmap(node: &GraphNode) -> Result<Built> {
    Err(EngineError::UnsupportedOp {
        node: node.name.clone(),
        op: "ai.onnx.ml ZipMap (outputs a sequence of maps, not a tensor; convert with \
             skl2onnx option {'zipmap': False})"
            .into(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

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
    fn tree_labels_follow_the_threshold() {
        let mut e = tree(Branch::from_mode("BRANCH_LEQ", 0.5).unwrap());
        let x = Tensor::new(vec![3, 1], vec![2048, 2049, -5]);
        assert_eq!(e.eval(&x, &[3]).data, vec![0, 7 << 12, 0]);
        e.classifier.as_mut().unwrap().output = ClassOutput::Scores;
        assert_eq!(e.eval(&x, &[3, 2]).data, vec![4096, 0, 0, 4096, 4096, 0]);
    }

    #[test]
    fn linear_binary_margin_and_normalizer() {
        let m = LinearModel {
            coefficients: vec![1 << 14],
            intercepts: vec![-(1i64 << 26)], // -1 at 2^-(12+14)
            weight_bits: 14,
            features: 1,
            targets: 1,
            post: PostTransform::None,
            classifier: Some(Classifier {
                labels: vec![0, 4096],
                rule: ClassRule::BinaryMargin,
                output: ClassOutput::Scores,
            }),
        };
        let x = Tensor::new(vec![2, 1], vec![3 << 12, 0]);
        assert_eq!(
            m.eval(&x, &[2, 2]).data,
            vec![-(2 << 12), 2 << 12, 4096, -4096]
        );
        let y = NormKind::L1.eval(&Tensor::new(vec![1, 3], vec![1, -1, 2]));
        assert_eq!(y.data, vec![1024, -1024, 2048]);
        let y = NormKind::L2.eval(&Tensor::new(vec![1, 2], vec![0, 0]));
        assert_eq!(y.data, vec![0, 0]);
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
        let built = super::super::build(&tree_node(|_| {}), &Ctx).unwrap();
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
            let r = super::super::build(&tree_node(edit), &Ctx);
            assert!(
                matches!(r, Err(EngineError::BadAttribute { .. })),
                "case {k}: {:?}",
                r.map(|b| b.op)
            );
        }
        let mut zip = tree_node(|_| {});
        zip.op_type = format!("{ML_PREFIX}ZipMap");
        assert!(matches!(
            super::super::build(&zip, &Ctx),
            Err(EngineError::UnsupportedOp { .. })
        ));
    }
}
