//! Tensor files: the JSON the CLI and test data use, `{"inputs": {name: {shape, data}}}`
//! (or `"outputs"`), with real-valued data quantised on read.

use std::{collections::BTreeMap, path::Path};

use serde::{Deserialize, Serialize};

use crate::{fixed::quantize, EngineError, Program, Result, Tensor};

/// One real-valued tensor as JSON carries it.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct FloatTensor {
    /// Dimensions.
    pub shape: Vec<usize>,
    /// Row-major values (`null` stands for NaN).
    pub data: Vec<Option<f64>>,
}

/// A named set of tensors: `{"inputs": {...}}` or `{"outputs": {...}}`.
#[derive(Clone, Debug, Serialize, Deserialize, Default, PartialEq)]
pub struct TensorFile {
    /// Inputs by name.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub inputs: BTreeMap<String, FloatTensor>,
    /// Outputs by name.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub outputs: BTreeMap<String, FloatTensor>,
}

impl TensorFile {
    /// Reads a JSON tensor file.
    pub fn read(path: &Path) -> Result<Self> {
        let text = std::fs::read_to_string(path).map_err(|source| EngineError::Io {
            path: path.display().to_string(),
            source,
        })?;
        serde_json::from_str(&text).map_err(|source| EngineError::Json {
            path: path.display().to_string(),
            source,
        })
    }
}

/// Quantises named real inputs into the program's input order, checking names and shapes.
pub fn quantize_inputs(
    program: &Program,
    named: &BTreeMap<String, FloatTensor>,
) -> Result<Vec<Tensor>> {
    program
        .inputs
        .iter()
        .map(|id| {
            let info = &program.values[*id];
            let t = named.get(&info.name).ok_or_else(|| EngineError::BadInput {
                name: info.name.clone(),
                reason: "missing".into(),
            })?;
            if t.shape != info.shape || t.data.len() != info.shape.iter().product::<usize>() {
                return Err(EngineError::BadInput {
                    name: info.name.clone(),
                    reason: format!(
                        "expected shape {:?}, got {:?} with {} values",
                        info.shape,
                        t.shape,
                        t.data.len()
                    ),
                });
            }
            Ok(Tensor::new(
                t.shape.clone(),
                t.data
                    .iter()
                    .map(|v| quantize(v.unwrap_or(f64::NAN)))
                    .collect(),
            ))
        })
        .collect()
}
