//! Elementwise activations: `Relu`, `Clip`.

use serde::{Deserialize, Serialize};

use super::{input, BuildCtx, Built, Op, Wire};
use crate::{fixed::quantize, import::GraphNode, Result, Tensor};

/// `Relu(x) = max(x, 0)`: exact.
pub(crate) fn relu(x: &Tensor) -> Tensor {
    Clip::RELU.eval(x)
}

/// `Clip(x) = min(max(x, lo), hi)` with quantised bounds; if `lo > hi` every output is `hi`
/// (ONNX: min applied last).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Clip {
    /// Lower bound (quantised; `i32::MIN` when absent).
    pub lo: i32,
    /// Upper bound (quantised; `i32::MAX` when absent).
    pub hi: i32,
}

impl Clip {
    /// `Relu` as a clip: `min(max(x, 0), i32::MAX) = max(x, 0)`.
    pub const RELU: Clip = Clip {
        lo: 0,
        hi: i32::MAX,
    };

    pub(crate) fn eval(&self, x: &Tensor) -> Tensor {
        let mut data = x.data.clone();
        self.eval_in_place(&mut data);
        Tensor::new(x.shape.clone(), data)
    }

    /// The same kernel on values it overwrites.
    pub(crate) fn eval_in_place(&self, data: &mut [i32]) {
        let (lo, hi) = (self.lo, self.hi);
        data.iter_mut().for_each(|v| *v = (*v).max(lo).min(hi));
    }
}

/// Opset < 11 takes `min`/`max` attributes; opset >= 11 optional constant inputs.
pub(crate) fn build_clip(node: &GraphNode, ctx: &dyn BuildCtx) -> Result<Built> {
    let bound = |i: usize, attr: &str, default: i32| -> Result<i32> {
        if let Some(name) = node.inputs.get(i).filter(|s| !s.is_empty()) {
            let c = ctx
                .constant(name)
                .ok_or_else(|| node.bad_attr(attr, "Clip bounds must be constants"))?;
            let v = c.data.as_floats();
            return v
                .first()
                .map(|x| quantize(*x))
                .ok_or_else(|| node.bad_attr(attr, "empty bound"));
        }
        match node.attrs.get(attr) {
            Some(_) => Ok(quantize(node.float(attr, 0.0)? as f64)),
            None => Ok(default),
        }
    };
    let clip = Clip {
        lo: bound(1, "min", i32::MIN)?,
        hi: bound(2, "max", i32::MAX)?,
    };
    Ok(Built {
        op: Op::Clip(clip),
        inputs: vec![Wire::Value(input(node, 0)?)],
    })
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;
    use crate::ops::test_values as values;

    proptest! {
        /// `Relu` and `Clip`, fresh and in place, against their one-line definitions.
        #[test]
        fn equals_definition(data in values(64), lo in any::<i32>(), hi in any::<i32>()) {
            let x = Tensor::new(vec![data.len()], data.clone());
            let want: Vec<i32> = data.iter().map(|v| (*v).max(0)).collect();
            prop_assert_eq!(&relu(&x).data, &want);
            let clip = Clip { lo, hi };
            let want: Vec<i32> = data.iter().map(|v| (*v).max(lo).min(hi)).collect();
            prop_assert_eq!(&clip.eval(&x).data, &want);
            let mut inplace = data;
            clip.eval_in_place(&mut inplace);
            prop_assert_eq!(inplace, want);
        }
    }
}
