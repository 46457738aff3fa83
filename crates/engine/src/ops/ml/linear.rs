//! `LinearClassifier`, `LinearRegressor`, `Normalizer` and `Scaler` (normative:
//! `docs/numerics.md`, "ai.onnx.ml models").

use serde::{Deserialize, Serialize};

use super::{
    class_labels, class_output, classifier_shape, features, finish, fits, post_transform, reals,
    rows_shape, ClassRule, Classifier, Exact, PostTransform,
};
use crate::{
    fixed::{bias_frac_bits, div_round, quantize_at, rescale, saturate, FRAC_BITS},
    import::GraphNode,
    ops::{input, math::sqrt_round, shape_err, BuildCtx, Built, Op, Wire},
    Result, Tensor,
};

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
            Exact {
                raw: &raw,
                voted: None,
                rows,
                targets: self.targets,
                shift: self.weight_bits,
            },
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
    fits(node, "coefficients", &coef)?;
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
    fits(node, "scale", &scale_f)?;
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ops::ClassOutput;

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
}
