//! The integer tensor every operator reads and writes.

use serde::{Deserialize, Serialize};

/// A row-major tensor of fixed-point integers (`value = data / 2^FRAC_BITS`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Tensor {
    /// Dimensions, outermost first.
    pub shape: Vec<usize>,
    /// Values, row-major; `data.len()` is the product of `shape`.
    pub data: Vec<i32>,
}

impl Tensor {
    /// A tensor; the caller guarantees `data` fills `shape`.
    pub fn new(shape: Vec<usize>, data: Vec<i32>) -> Self {
        debug_assert_eq!(shape.iter().product::<usize>(), data.len());
        Self { shape, data }
    }

    /// Number of elements.
    pub fn len(&self) -> usize {
        self.data.len()
    }

    /// Whether it has no elements.
    pub fn is_empty(&self) -> bool {
        self.data.is_empty()
    }

    /// Its commitment (see `zkopml_commit::tensor_commitment`).
    pub fn commitment(&self) -> zkopml_commit::Fr {
        zkopml_commit::tensor_commitment(&self.shape, &self.data)
            .expect("engine tensors have rank <= 9 and consistent data")
    }
}
