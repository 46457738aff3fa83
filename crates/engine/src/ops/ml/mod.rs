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
//! Files: `tree.rs` (tree ensembles), `linear.rs` (linear models, `Normalizer`, `Scaler`);
//! this file holds what they share (post-transforms, classifier labels, attribute parsing).
//!
//! Node ids: the importer prefixes the op type of an `ai.onnx.ml` node with [`ML_PREFIX`], and
//! gives each output of a two-output classifier its own node ([`OUTPUT_INDEX_ATTR`]).

mod linear;
mod tree;

pub(crate) use linear::{build_linear, build_normalizer, build_scaler};
pub use linear::{LinearModel, NormKind, Scaler, OFFSET_EXTRA_BITS};
pub(crate) use tree::build_tree_ensemble;
pub use tree::{Aggregate, Branch, TreeEnsemble, TreeNode};

use serde::{Deserialize, Serialize};

use super::{
    activation::sigmoid_q, input_shape, select::OUTPUT_INDEX_ATTR, shape_err, softmax::Softmax,
    BuildCtx, Built,
};
use crate::{
    fixed::{quantize, rescale, saturate, FRAC_BITS, ONE},
    import::{Attr, GraphNode},
    EngineError, Result, Tensor,
};

/// Op-type prefix the importer gives nodes of the `ai.onnx.ml` domain.
pub const ML_PREFIX: &str = "ai.onnx.ml.";

/// Labels and values must be below this magnitude to be fixed-point values (`2^19`).
const RANGE: f64 = (1u64 << (31 - FRAC_BITS)) as f64;
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

fn rows_shape(node: &str, ins: &[&[usize]], features: usize) -> Result<usize> {
    match ins {
        [[n, f]] if *f == features => Ok(*n),
        _ => Err(shape_err(node, format!("one input [N, {features}]"), ins)),
    }
}

/// A model's exact scores, `rows × targets` row-major.
struct Exact<'a> {
    /// The scores at scale `2^-(F + shift)`.
    raw: &'a [i128],
    /// Which scores received a tree vote (`None`: all, a linear model).
    voted: Option<&'a [bool]>,
    rows: usize,
    targets: usize,
    shift: u32,
}

/// Labels and output scores of a classifier from its exact scores, or the scores of a
/// regressor.
fn finish(
    e: Exact<'_>,
    post: PostTransform,
    classifier: Option<&Classifier>,
    out_shape: &[usize],
) -> Tensor {
    let Exact {
        raw,
        voted,
        rows,
        targets,
        shift,
    } = e;
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
                        // ORT's rule: among the classes that received a vote (all of
                        // them for a linear model), the first with the largest score.
                        ClassRule::Multiclass => {
                            let has = |j: usize| voted.is_none_or(|v| v[n * targets + j]);
                            let mut best: Option<usize> = None;
                            for (j, v) in row.iter().enumerate() {
                                if has(j) && best.is_none_or(|b| *v > row[b]) {
                                    best = Some(j);
                                }
                            }
                            best.unwrap_or(0)
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

/// `ZipMap` turns the scores into a sequence of maps, which no tensor program holds.
pub(crate) fn refuse_zipmap(node: &GraphNode) -> Result<Built> {
    Err(EngineError::UnsupportedOp {
        node: node.name.clone(),
        op: "ai.onnx.ml ZipMap (outputs a sequence of maps, not a tensor; convert with \
             skl2onnx option {'zipmap': False})"
            .into(),
    })
}
