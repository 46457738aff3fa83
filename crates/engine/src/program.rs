//! The compiled fixed-point program: what a model owner registers and every party runs.

use std::collections::HashMap;

use alloy_primitives::{keccak256, B256};
use serde::{Deserialize, Serialize};
use zkopml_commit::Fr;

use crate::{
    fixed::{dequantize, quantize_at, FRAC_BITS},
    import::{Const, ConstData, Dim, Graph},
    ops::{self, BuildCtx, Op, Wire},
    EngineError, Result, Tensor,
};

/// Version of the program format and of the integer semantics it encodes. Bump on any
/// change to either: a registered program is only ever run by the semantics it names.
/// History: 1 — first release; 2 — tensor commitments absorb 7 packed `i32` limbs per
/// field element (`zkopml_commit::pack_word`); 3 — constant weights and biases of `Conv`,
/// `Gemm` and `MatMul` carry their own fractional bits (`fixed::weight_frac_bits`,
/// `fixed::bias_frac_bits`). Version 3 was extended without a bump by appending operators
/// (`Op::Activation`, `Op::Logic`, `Op::Select`, `Op::CumSum`, `ReduceKind::Min`; then
/// `Op::TreeEnsemble`, `Op::LinearModel`, `Op::Normalizer`, `Op::Scaler`, `Op::GlobalMaxPool`
/// and new `UnaryKind`, `ExtremumKind` and `Activation` variants, all appended last): every
/// program an earlier build compiled serialises, decodes and runs bit-identically; a program
/// that uses a new operator fails to decode in an older build.
pub const PROGRAM_VERSION: u32 = 3;

/// The largest output (elements) a node may have to be folded at compile time (`2^22`).
pub const FOLD_LIMIT: usize = 1 << 22;
/// The most elements all folded outputs of one compilation may have together (`2^25`).
pub const FOLD_BUDGET: usize = 1 << 25;

/// Index of a tensor in [`Program::values`].
pub type ValueId = usize;

/// Where a tensor's data comes from.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum ValueKind {
    /// Supplied by the requester.
    Input,
    /// Part of the model, quantised at compile time.
    Const(Tensor),
    /// Produced by a node.
    Activation,
}

/// A tensor of the program.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ValueInfo {
    /// ONNX name (or a derived name for builder constants).
    pub name: String,
    /// Static shape.
    pub shape: Vec<usize>,
    /// Origin.
    pub kind: ValueKind,
}

/// One operator application.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Node {
    /// ONNX node name.
    pub name: String,
    /// The integer operator.
    pub op: Op,
    /// Input tensors in operator order.
    pub inputs: Vec<ValueId>,
    /// The output tensor.
    pub output: ValueId,
}

/// A model compiled to integer operators over `i32` tensors at scale `2^-frac_bits`.
///
/// Nodes are grouped into *steps* of `ops_per_step` consecutive nodes: the unit the
/// dispute game bisects over and a leaf proof proves.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Program {
    /// [`PROGRAM_VERSION`] at compile time.
    pub version: u32,
    /// Fractional bits of every tensor.
    pub frac_bits: u32,
    /// Consecutive nodes per step (`N`).
    pub ops_per_step: usize,
    /// All tensors.
    pub values: Vec<ValueInfo>,
    /// Nodes in execution order.
    pub nodes: Vec<Node>,
    /// Runtime inputs, in the ONNX graph's order.
    pub inputs: Vec<ValueId>,
    /// Outputs, in the ONNX graph's order.
    pub outputs: Vec<ValueId>,
    /// Weight-side data [`evaluate`](crate::evaluate) derives from the constants on its
    /// first call and reuses (not part of the program's content: never serialised, equal
    /// in every program, empty in a clone).
    #[serde(skip)]
    pub(crate) prepared: crate::exec::Prepared,
}

struct Ctx<'a> {
    graph: &'a Graph,
    shapes: HashMap<String, Vec<usize>>,
    /// Outputs of nodes folded at compile time, as reals (`q / 2^F`, exact).
    folded: HashMap<String, Const>,
}

impl BuildCtx for Ctx<'_> {
    fn shape(&self, name: &str) -> Option<Vec<usize>> {
        self.shapes.get(name).cloned()
    }
    fn constant(&self, name: &str) -> Option<&Const> {
        self.graph
            .initializers
            .get(name)
            .or_else(|| self.folded.get(name))
    }
    fn opset(&self) -> i64 {
        self.graph.opset
    }
}

fn quantize_const(c: &Const, frac_bits: u32) -> Tensor {
    Tensor::new(
        c.shape.clone(),
        c.data
            .as_floats()
            .iter()
            .map(|x| quantize_at(*x, frac_bits))
            .collect(),
    )
}

/// Adds a constant the builder of node `node` derived for its input `k`, quantised at
/// `frac_bits`; returns its id.
fn push_const(
    values: &mut Vec<ValueInfo>,
    node: &str,
    k: usize,
    c: &Const,
    frac_bits: u32,
) -> ValueId {
    values.push(ValueInfo {
        name: format!("{node}:const{k}"),
        shape: c.shape.clone(),
        kind: ValueKind::Const(quantize_const(c, frac_bits)),
    });
    values.len() - 1
}

impl Program {
    /// Compiles a normalised graph. Symbolic input dims take their value from
    /// `dims` (by `dim_param` name) or default to 1 (batch 1).
    pub fn compile(
        graph: &Graph,
        dims: &HashMap<String, usize>,
        ops_per_step: usize,
    ) -> Result<Self> {
        if ops_per_step == 0 {
            return Err(EngineError::Program(
                "ops_per_step must be at least 1".into(),
            ));
        }
        let mut ctx = Ctx {
            graph,
            shapes: HashMap::new(),
            folded: HashMap::new(),
        };
        let mut values: Vec<ValueInfo> = Vec::new();
        let mut ids: HashMap<String, ValueId> = HashMap::new();
        let mut inputs = Vec::new();
        for (name, ds) in &graph.inputs {
            let shape: Vec<usize> = ds
                .iter()
                .map(|d| match d {
                    Dim::Fixed(v) => *v,
                    Dim::Symbolic(s) => dims.get(s).copied().unwrap_or(1),
                })
                .collect();
            ctx.shapes.insert(name.clone(), shape.clone());
            ids.insert(name.clone(), values.len());
            inputs.push(values.len());
            values.push(ValueInfo {
                name: name.clone(),
                shape,
                kind: ValueKind::Input,
            });
        }
        for (name, c) in &graph.initializers {
            ctx.shapes.insert(name.clone(), c.shape.clone());
        }
        let mut nodes = Vec::new();
        let mut folded_total = 0usize;
        for gn in &graph.nodes {
            let built = ops::build(gn, &ctx)?;
            let mut in_ids = Vec::with_capacity(built.inputs.len());
            for (k, w) in built.inputs.into_iter().enumerate() {
                let id = match w {
                    Wire::Value(name) => match ids.get(&name) {
                        Some(id) => *id,
                        None => {
                            let c = graph.initializers.get(&name).ok_or_else(|| {
                                EngineError::UnknownValue {
                                    node: gn.name.clone(),
                                    name: name.clone(),
                                }
                            })?;
                            let id = values.len();
                            values.push(ValueInfo {
                                name: name.clone(),
                                shape: c.shape.clone(),
                                kind: ValueKind::Const(quantize_const(c, FRAC_BITS)),
                            });
                            ids.insert(name, id);
                            id
                        }
                    },
                    Wire::Const(c) => push_const(&mut values, &gn.name, k, &c, FRAC_BITS),
                    Wire::ConstAt(c, bits) => push_const(&mut values, &gn.name, k, &c, bits),
                };
                in_ids.push(id);
            }
            let in_shapes: Vec<&[usize]> =
                in_ids.iter().map(|i| values[*i].shape.as_slice()).collect();
            let shape = built.op.output_shape(&gn.name, &in_shapes)?;
            if shape.len() > 9 {
                return Err(EngineError::ShapeMismatch {
                    node: gn.name.clone(),
                    expected: "rank <= 9".into(),
                    got: vec![shape],
                });
            }
            let out_name = gn
                .outputs
                .first()
                .cloned()
                .ok_or(EngineError::MissingField {
                    node: gn.name.clone(),
                    field: "output",
                })?;
            ctx.shapes.insert(out_name.clone(), shape.clone());
            // Constant folding: a node whose inputs are all constants (and whose output is
            // not a graph output) runs now, by the same integer kernel, and its output
            // becomes a constant of the program.
            let consts: Option<Vec<&Tensor>> = in_ids
                .iter()
                .map(|i| match &values[*i].kind {
                    ValueKind::Const(t) => Some(t),
                    _ => None,
                })
                .collect();
            // Folding is bounded (`FOLD_LIMIT`, `FOLD_BUDGET`): a larger all-constant node
            // stays a node of the program (same kernel, same values, run at execution), so a
            // file cannot make compilation hold gigabytes of folded constants (found by the
            // `load` fuzz target: a Tile of a mask mutated to 64 M elements, then five
            // elementwise folds of it, took 4.4 GB).
            let n_out: usize = shape.iter().product();
            let foldable = n_out <= FOLD_LIMIT && folded_total + n_out <= FOLD_BUDGET;
            if let Some(ins) = consts.filter(|_| foldable && !graph.outputs.contains(&out_name)) {
                folded_total += n_out;
                let t = built.op.eval(&ins, &shape);
                tracing::debug!(node = %gn.name, op = built.op.name(), "folded at compile time");
                ctx.folded.insert(
                    out_name.clone(),
                    Const {
                        shape: shape.clone(),
                        data: ConstData::Float(t.data.iter().map(|q| dequantize(*q)).collect()),
                    },
                );
                ids.insert(out_name.clone(), values.len());
                values.push(ValueInfo {
                    name: out_name,
                    shape,
                    kind: ValueKind::Const(t),
                });
                continue;
            }
            let out = values.len();
            values.push(ValueInfo {
                name: out_name.clone(),
                shape,
                kind: ValueKind::Activation,
            });
            ids.insert(out_name, out);
            nodes.push(Node {
                name: gn.name.clone(),
                op: built.op,
                inputs: in_ids,
                output: out,
            });
        }
        let outputs = graph
            .outputs
            .iter()
            .map(|o| match ids.get(o) {
                Some(id) if values[*id].kind == ValueKind::Activation => Ok(*id),
                _ => Err(EngineError::UnknownValue {
                    node: "<graph output>".into(),
                    name: o.clone(),
                }),
            })
            .collect::<Result<Vec<_>>>()?;
        if nodes.is_empty() {
            return Err(EngineError::Program("the graph has no operators".into()));
        }
        Ok(Self {
            version: PROGRAM_VERSION,
            frac_bits: FRAC_BITS,
            ops_per_step,
            values,
            nodes,
            inputs,
            outputs,
            prepared: Default::default(),
        })
    }

    /// Number of steps `n`; the trace has states `S_0..S_n`.
    pub fn num_steps(&self) -> usize {
        self.nodes.len().div_ceil(self.ops_per_step)
    }

    /// Node indices of step `step`.
    pub fn step_nodes(&self, step: usize) -> std::ops::Range<usize> {
        let start = (step * self.ops_per_step).min(self.nodes.len());
        start..((step + 1) * self.ops_per_step).min(self.nodes.len())
    }

    /// Tensors live at boundary `b` (after step `b - 1`; `b = 0` is before the first step),
    /// in slot order: produced (or input) before it and read after it, or a graph output.
    pub fn layout(&self, b: usize) -> Vec<ValueId> {
        let t = (b * self.ops_per_step).min(self.nodes.len());
        let produced_before = |v: ValueId| match self.values[v].kind {
            ValueKind::Input => true,
            ValueKind::Const(_) => false,
            ValueKind::Activation => self.nodes[..t].iter().any(|n| n.output == v),
        };
        let read_after = |v: ValueId| {
            self.nodes[t..].iter().any(|n| n.inputs.contains(&v)) || self.outputs.contains(&v)
        };
        (0..self.values.len())
            .filter(|v| produced_before(*v) && read_after(*v))
            .collect()
    }

    /// Canonical bytes: a 4-byte magic, the version, then the bincode body.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = b"ZKPG".to_vec();
        out.extend_from_slice(&self.version.to_le_bytes());
        out.extend(bincode::serialize(self).expect("programs serialize"));
        out
    }

    /// Parses [`Program::to_bytes`]; rejects other magics and versions.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self> {
        if bytes.len() < 8 || &bytes[..4] != b"ZKPG" {
            return Err(EngineError::Program(
                "not a compiled program (bad magic)".into(),
            ));
        }
        let version = u32::from_le_bytes(bytes[4..8].try_into().expect("4 bytes"));
        if version != PROGRAM_VERSION {
            return Err(EngineError::Program(format!(
                "program version {version}, this build runs {PROGRAM_VERSION}"
            )));
        }
        bincode::deserialize(&bytes[8..])
            .map_err(|e| EngineError::Program(format!("corrupt program: {e}")))
    }

    /// keccak256 of the canonical bytes.
    pub fn digest(&self) -> B256 {
        keccak256(self.to_bytes())
    }

    /// The field element naming step `step` of this program: keccak256(program digest ‖
    /// step as u64 BE) reduced mod r. A circuit embeds it; the model tree's leaf carries it.
    pub fn step_digest(&self, step: usize) -> Fr {
        use ark_ff::PrimeField;
        let mut buf = self.digest().to_vec();
        buf.extend_from_slice(&(step as u64).to_be_bytes());
        Fr::from_be_bytes_mod_order(keccak256(buf).as_slice())
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;
    use crate::import::{Attr, GraphNode};

    fn node(op: &str, inputs: &[&str], out: &str, attrs: &[(&str, Attr)]) -> GraphNode {
        GraphNode {
            name: format!("{op}_{out}"),
            op_type: op.into(),
            inputs: inputs.iter().map(|s| s.to_string()).collect(),
            outputs: vec![out.into()],
            attrs: attrs
                .iter()
                .map(|(k, v)| (k.to_string(), v.clone()))
                .collect::<BTreeMap<_, _>>(),
        }
    }

    /// `Shape → ConstantOfShape → Mul` on constants folds at compile time: only the `Add`
    /// that reads the runtime input remains, and it sees the folded constant.
    #[test]
    fn all_constant_nodes_fold_at_compile_time() {
        let value = Const {
            shape: vec![1],
            data: ConstData::Float(vec![0.5]),
        };
        let graph = Graph {
            nodes: vec![
                node("Shape", &["x"], "s", &[]),
                node(
                    "ConstantOfShape",
                    &["s"],
                    "c",
                    &[("value", Attr::Tensor(value))],
                ),
                node("Mul", &["c", "two"], "d", &[]),
                node("Add", &["x", "d"], "y", &[]),
            ],
            initializers: [(
                "two".to_string(),
                Const {
                    shape: vec![],
                    data: ConstData::Float(vec![2.0]),
                },
            )]
            .into_iter()
            .collect(),
            inputs: vec![("x".into(), vec![Dim::Fixed(2), Dim::Fixed(3)])],
            outputs: vec!["y".into()],
            opset: 17,
        };
        let p = Program::compile(&graph, &HashMap::new(), 1).unwrap();
        assert_eq!(p.nodes.len(), 1);
        assert_eq!(p.nodes[0].op.name(), "Add");
        let x = Tensor::new(vec![2, 3], vec![0, 1, 2, 3, 4, 5]);
        let t = crate::execute(&p, &[x]).unwrap();
        assert_eq!(t.outputs[0].data, vec![4096, 4097, 4098, 4099, 4100, 4101]);
    }

    /// A constant node whose output exceeds `FOLD_LIMIT` stays a program node (the fuzz
    /// finding: a mutated Tile of a constant), and still computes the same values.
    #[test]
    fn oversized_constant_nodes_are_not_folded() {
        let big = (FOLD_LIMIT + 1) as i64;
        let graph = Graph {
            nodes: vec![
                node("ConstantOfShape", &["shape"], "c", &[]),
                node("ReduceSum", &["c"], "s", &[("keepdims", Attr::Int(0))]),
                node("Add", &["x", "s"], "y", &[]),
            ],
            initializers: [(
                "shape".to_string(),
                Const {
                    shape: vec![1],
                    data: ConstData::Int(vec![big]),
                },
            )]
            .into_iter()
            .collect(),
            inputs: vec![("x".into(), vec![Dim::Fixed(1)])],
            outputs: vec!["y".into()],
            opset: 17,
        };
        let p = Program::compile(&graph, &HashMap::new(), 1).unwrap();
        let names: Vec<&str> = p.nodes.iter().map(|n| n.op.name()).collect();
        assert_eq!(names, ["Expand", "ReduceSum", "Add"]);
    }
}
