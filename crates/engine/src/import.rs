//! ONNX protobuf → normalised float graph. Thin by design: it only decodes, parses
//! attributes and orders nodes; operator semantics live in `ops`.

use std::collections::{BTreeMap, HashMap, HashSet};

use onnx_protobuf::{
    attribute_proto::AttributeType, tensor_proto::DataType, Message, ModelProto, TensorProto,
};
use protobuf::Enum;

use crate::{EngineError, Result};

/// A constant tensor as stored in the ONNX file.
#[derive(Clone, Debug, PartialEq)]
pub struct Const {
    /// Dimensions.
    pub shape: Vec<usize>,
    /// Values.
    pub data: ConstData,
}

/// Values of a constant, in the widest type of their family.
#[derive(Clone, Debug, PartialEq)]
pub enum ConstData {
    /// Floating-point values (f32, f64, f16 widened).
    Float(Vec<f64>),
    /// Integer and boolean values.
    Int(Vec<i64>),
}

impl ConstData {
    /// Number of values.
    pub fn len(&self) -> usize {
        match self {
            ConstData::Float(v) => v.len(),
            ConstData::Int(v) => v.len(),
        }
    }

    /// Whether there are no values.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The values as integers (floats truncated toward zero, saturating).
    pub fn as_ints(&self) -> Vec<i64> {
        match self {
            ConstData::Float(v) => v.iter().map(|x| *x as i64).collect(),
            ConstData::Int(v) => v.clone(),
        }
    }

    /// The values as reals.
    pub fn as_floats(&self) -> Vec<f64> {
        match self {
            ConstData::Float(v) => v.clone(),
            ConstData::Int(v) => v.iter().map(|x| *x as f64).collect(),
        }
    }
}

/// A parsed attribute value.
#[derive(Clone, Debug, PartialEq)]
pub enum Attr {
    /// `FLOAT`.
    Float(f32),
    /// `INT`.
    Int(i64),
    /// `FLOATS`.
    Floats(Vec<f32>),
    /// `INTS`.
    Ints(Vec<i64>),
    /// `STRING` (lossy UTF-8).
    Str(String),
    /// `STRINGS` (lossy UTF-8).
    Strings(Vec<String>),
    /// `TENSOR`.
    Tensor(Const),
}

/// One ONNX node with its attributes parsed.
#[derive(Clone, Debug)]
pub struct GraphNode {
    /// Node name (synthesised as `<op>_<index>` when the file has none).
    pub name: String,
    /// ONNX op type.
    pub op_type: String,
    /// Input tensor names (empty string = omitted optional input).
    pub inputs: Vec<String>,
    /// Output tensor names.
    pub outputs: Vec<String>,
    /// Attributes by name.
    pub attrs: BTreeMap<String, Attr>,
}

impl GraphNode {
    /// An integer attribute or its default.
    pub fn int(&self, name: &str, default: i64) -> Result<i64> {
        match self.attrs.get(name) {
            None => Ok(default),
            Some(Attr::Int(v)) => Ok(*v),
            Some(other) => Err(self.bad_attr(name, format!("expected an int, found {other:?}"))),
        }
    }

    /// A float attribute or its default.
    pub fn float(&self, name: &str, default: f32) -> Result<f32> {
        match self.attrs.get(name) {
            None => Ok(default),
            Some(Attr::Float(v)) => Ok(*v),
            Some(Attr::Int(v)) => Ok(*v as f32),
            Some(other) => Err(self.bad_attr(name, format!("expected a float, found {other:?}"))),
        }
    }

    /// An ints attribute, if present.
    pub fn ints(&self, name: &str) -> Result<Option<Vec<i64>>> {
        match self.attrs.get(name) {
            None => Ok(None),
            Some(Attr::Ints(v)) => Ok(Some(v.clone())),
            Some(other) => Err(self.bad_attr(name, format!("expected ints, found {other:?}"))),
        }
    }

    /// A string attribute or its default.
    pub fn string(&self, name: &str, default: &str) -> Result<String> {
        match self.attrs.get(name) {
            None => Ok(default.to_string()),
            Some(Attr::Str(v)) => Ok(v.clone()),
            Some(other) => Err(self.bad_attr(name, format!("expected a string, found {other:?}"))),
        }
    }

    /// A typed error naming this node and the attribute.
    pub fn bad_attr(&self, attr: &str, reason: impl Into<String>) -> EngineError {
        EngineError::BadAttribute {
            node: self.name.clone(),
            attr: attr.to_string(),
            reason: reason.into(),
        }
    }
}

/// A dimension of a graph input.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Dim {
    /// Fixed size.
    Fixed(usize),
    /// Symbolic (`dim_param`) or unknown: resolved when the program is compiled.
    Symbolic(String),
}

/// A normalised float graph: constants folded into `initializers`, `Identity` dropped,
/// nodes in a fixed topological order.
#[derive(Clone, Debug)]
pub struct Graph {
    /// Nodes in execution order.
    pub nodes: Vec<GraphNode>,
    /// Constant tensors by name.
    pub initializers: HashMap<String, Const>,
    /// Runtime inputs (initializers excluded) with their declared dims.
    pub inputs: Vec<(String, Vec<Dim>)>,
    /// Graph output names.
    pub outputs: Vec<String>,
    /// Default-domain opset version.
    pub opset: i64,
}

/// Decodes an ONNX file's bytes.
///
/// Refuses a file whose top level is not exactly a sequence of whole fields (a truncated
/// file, or one with bytes appended: [`check_top_level`]) before decoding it, and a model
/// without a default-domain `opset_import` (which ONNX requires, and which a file cut at a
/// field boundary loses).
pub fn load_bytes(bytes: &[u8]) -> Result<Graph> {
    check_top_level(bytes)?;
    normalise(parse_model(bytes)?)
}

/// `ModelProto` fields that occur at most once (`ir_version` … `graph`); a second copy is
/// what appending a field to a file looks like (protobuf would silently merge it).
const SINGULAR_FIELDS: std::ops::RangeInclusive<u64> = 1..=7;

/// Walks the top-level fields of a `ModelProto` without decoding them: every tag a valid
/// varint with a field number ≥ 1 and a wire type protobuf defines (groups balanced), every
/// fixed-width or length-delimited payload inside the input, the input ending exactly at a
/// field boundary, and no singular field twice.
///
/// Why: rust-protobuf 3.4 does not check a length-delimited field against the end of a
/// slice at the top level (its limit there is "unbounded"), so a file cut anywhere inside
/// `graph` decoded as a smaller graph (found by cutting lenet5 by 1..64 bytes: 20 of the 64
/// cuts loaded). Nested fields are checked by the decoder against their parent's length,
/// so checking the top level closes the gap. Iterative, so deeply nested groups cost heap,
/// never stack.
pub fn check_top_level(bytes: &[u8]) -> Result<()> {
    let malformed = |offset: usize, reason: String| EngineError::Malformed { offset, reason };
    let varint = |pos: &mut usize| -> Option<u64> {
        let mut v = 0u64;
        for shift in (0..64).step_by(7) {
            let b = *bytes.get(*pos)?;
            *pos += 1;
            v |= u64::from(b & 0x7f) << shift;
            if b & 0x80 == 0 {
                return Some(v);
            }
        }
        None
    };
    let mut pos = 0usize;
    let mut groups: Vec<u64> = Vec::new();
    let mut seen = [false; 8];
    while pos < bytes.len() {
        let at = pos;
        let tag =
            varint(&mut pos).ok_or_else(|| malformed(at, "tag is not a complete varint".into()))?;
        let (field, wire) = (tag >> 3, tag & 7);
        if field == 0 {
            return Err(malformed(at, "field number 0".into()));
        }
        if groups.is_empty() && SINGULAR_FIELDS.contains(&field) {
            // INVARIANT: field ∈ 1..=7, an index of `seen`.
            let slot = &mut seen[field as usize];
            if *slot {
                return Err(malformed(
                    at,
                    format!("ModelProto field {field} occurs twice"),
                ));
            }
            *slot = true;
        }
        let need = match wire {
            0 => {
                varint(&mut pos).ok_or_else(|| {
                    malformed(at, format!("field {field}: value is not a complete varint"))
                })?;
                0
            }
            1 => 8,
            2 => {
                let len = varint(&mut pos).ok_or_else(|| {
                    malformed(
                        at,
                        format!("field {field}: length is not a complete varint"),
                    )
                })?;
                usize::try_from(len).unwrap_or(usize::MAX)
            }
            3 => {
                groups.push(field);
                0
            }
            4 => {
                if groups.pop() != Some(field) {
                    return Err(malformed(at, format!("end of group {field} never opened")));
                }
                0
            }
            5 => 4,
            other => return Err(malformed(at, format!("field {field}: wire type {other}"))),
        };
        let left = bytes.len() - pos;
        if need > left {
            return Err(malformed(
                at,
                format!("field {field} needs {need} bytes, the file has {left} left (truncated?)"),
            ));
        }
        pos += need;
    }
    if let Some(open) = groups.last() {
        return Err(malformed(
            bytes.len(),
            format!(
                "the file ends inside group {open} ({} open; truncated?)",
                groups.len()
            ),
        ));
    }
    Ok(())
}

/// Stack per input byte for [`parse_model`]: one nesting level of group tags costs one input
/// byte and about 80 bytes of the decoder's stack (measured with the fuzz crash input).
const PARSE_STACK_PER_BYTE: usize = 128;

/// `ModelProto::parse_from_bytes` on a thread whose stack grows with the input.
///
/// rust-protobuf 3.4 skips unknown *group* fields recursively without a depth limit
/// (RUSTSEC-2024-0437, fixed in 3.7.2, which onnx-protobuf 0.2's generated code cannot use):
/// a few hundred kilobytes of nested group tags overflow an 8 MB stack and kill the process.
/// The nesting depth is bounded by the input's length, so a stack of
/// `PARSE_STACK_PER_BYTE` per byte (reserved, only touched by such inputs) makes every input
/// decode or fail with an error. Found by the `load` fuzz target.
fn parse_model(bytes: &[u8]) -> Result<ModelProto> {
    let stack = (32 << 20) + bytes.len().saturating_mul(PARSE_STACK_PER_BYTE);
    std::thread::scope(|s| {
        std::thread::Builder::new()
            .name("onnx-decode".into())
            .stack_size(stack)
            .spawn_scoped(s, || ModelProto::parse_from_bytes(bytes))
            .map_err(|e| EngineError::Undecodable(format!("no {stack}-byte decoder stack: {e}")))?
            .join()
            .map_err(|_| EngineError::Undecodable("the protobuf decoder panicked".into()))?
            .map_err(EngineError::from)
    })
}

/// Reads and decodes an ONNX file.
pub fn load_file(path: &std::path::Path) -> Result<Graph> {
    let bytes = std::fs::read(path).map_err(|source| EngineError::Io {
        path: path.display().to_string(),
        source,
    })?;
    load_bytes(&bytes)
}

fn normalise(model: ModelProto) -> Result<Graph> {
    let graph = model.graph.into_option().ok_or(EngineError::MissingField {
        node: "<model>".into(),
        field: "graph",
    })?;
    // ONNX requires the default domain's opset; a file cut at a field boundary loses it
    // (`opset_import` is the last field torch and onnx.helper write).
    let opset = model
        .opset_import
        .iter()
        .find(|o| o.domain.is_empty() || o.domain == "ai.onnx")
        .map(|o| o.version)
        .filter(|v| *v >= 1)
        .ok_or(EngineError::MissingField {
            node: "<model>".into(),
            field: "opset_import (default domain, version >= 1)",
        })?;

    let mut initializers = HashMap::new();
    for t in &graph.initializer {
        initializers.insert(t.name.clone(), parse_tensor(t)?);
    }
    let inputs = graph
        .input
        .iter()
        .filter(|vi| !initializers.contains_key(&vi.name))
        .map(|vi| {
            let dims = vi
                .type_
                .as_ref()
                .filter(|t| t.has_tensor_type())
                .and_then(|t| t.tensor_type().shape.as_ref())
                .map(|s| {
                    s.dim
                        .iter()
                        .enumerate()
                        .map(|(axis, d)| {
                            if d.has_dim_value() && d.dim_value() > 0 {
                                Dim::Fixed(d.dim_value() as usize)
                            } else if d.dim_param().is_empty() {
                                // An unnamed unknown dim: named by its position, so that
                                // it binds on its own.
                                Dim::Symbolic(format!("{}:{axis}", vi.name))
                            } else {
                                Dim::Symbolic(d.dim_param().to_string())
                            }
                        })
                        .collect()
                })
                .ok_or_else(|| EngineError::MissingField {
                    node: vi.name.clone(),
                    field: "type.tensor_type.shape",
                })?;
            Ok((vi.name.clone(), dims))
        })
        .collect::<Result<Vec<_>>>()?;
    let outputs: Vec<String> = graph.output.iter().map(|o| o.name.clone()).collect();

    // Parse nodes; fold `Constant`, drop `Identity` by renaming its consumers' inputs.
    let mut alias: HashMap<String, String> = HashMap::new();
    let mut nodes = Vec::new();
    for (i, n) in graph.node.iter().enumerate() {
        let name = if n.name.is_empty() {
            format!("{}_{i}", n.op_type)
        } else {
            n.name.clone()
        };
        let mut attrs = BTreeMap::new();
        for a in &n.attribute {
            attrs.insert(a.name.clone(), parse_attr(&name, a)?);
        }
        // `ai.onnx.ml` ops keep their domain in the op type (`ai.onnx.ml.TreeEnsembleClassifier`).
        let op_type = if n.domain == "ai.onnx.ml" {
            format!("{}{}", crate::ops::ML_PREFIX, n.op_type)
        } else {
            n.op_type.clone()
        };
        let node = GraphNode {
            name,
            op_type,
            inputs: n.input.clone(),
            outputs: n.output.clone(),
            attrs,
        };
        if !n.domain.is_empty() && n.domain != "ai.onnx" && n.domain != "ai.onnx.ml" {
            return Err(EngineError::UnsupportedOp {
                node: node.name,
                op: format!("{}::{}", n.domain, n.op_type),
            });
        }
        match node.op_type.as_str() {
            "Constant" => {
                let out = node
                    .outputs
                    .first()
                    .ok_or_else(|| EngineError::MissingField {
                        node: node.name.clone(),
                        field: "output",
                    })?;
                let value = constant_value(&node)?;
                initializers.insert(out.clone(), value);
            }
            "Identity" if !node.outputs.is_empty() && !node.inputs.is_empty() => {
                alias.insert(node.outputs[0].clone(), node.inputs[0].clone());
            }
            // One single-output node per output of a multi-output `Split` (or a classifier's
            // label and scores), each tagged with its index (programs have one output per
            // node; `ops::select::build_split`, `ops::ml`).
            "Split" | "ai.onnx.ml.TreeEnsembleClassifier" | "ai.onnx.ml.LinearClassifier"
                if node.outputs.len() > 1 =>
            {
                let count = node.outputs.len() as i64;
                for (j, out) in node.outputs.iter().enumerate() {
                    if out.is_empty() {
                        continue;
                    }
                    let mut part = node.clone();
                    part.name = format!("{}:{j}", node.name);
                    part.outputs = vec![out.clone()];
                    part.attrs
                        .insert(crate::ops::OUTPUT_INDEX_ATTR.into(), Attr::Int(j as i64));
                    part.attrs
                        .insert(crate::ops::NUM_OUTPUTS_ATTR.into(), Attr::Int(count));
                    nodes.push(part);
                }
            }
            _ => nodes.push(node),
        }
    }
    let resolve = |name: &str| -> String {
        let mut cur = name.to_string();
        let mut hops = 0;
        while let Some(next) = alias.get(&cur) {
            cur = next.clone();
            hops += 1;
            if hops > alias.len() {
                break;
            }
        }
        cur
    };
    for n in &mut nodes {
        for i in &mut n.inputs {
            if !i.is_empty() {
                *i = resolve(i);
            }
        }
    }
    let mut outputs = outputs;
    for o in &mut outputs {
        let r = resolve(o);
        // An output that is an Identity of another tensor keeps the producer's value.
        *o = r;
    }

    let nodes = topo_sort(nodes, &initializers, &inputs)?;
    Ok(Graph {
        nodes,
        initializers,
        inputs,
        outputs,
        opset,
    })
}

fn topo_sort(
    nodes: Vec<GraphNode>,
    inits: &HashMap<String, Const>,
    inputs: &[(String, Vec<Dim>)],
) -> Result<Vec<GraphNode>> {
    let mut available: HashSet<String> = inits
        .keys()
        .cloned()
        .chain(inputs.iter().map(|(n, _)| n.clone()))
        .collect();
    let producers: HashMap<&str, usize> = nodes
        .iter()
        .enumerate()
        .flat_map(|(i, n)| n.outputs.iter().map(move |o| (o.as_str(), i)))
        .collect();
    for n in &nodes {
        for i in n.inputs.iter().filter(|i| !i.is_empty()) {
            if !available.contains(i) && !producers.contains_key(i.as_str()) {
                return Err(EngineError::UnknownValue {
                    node: n.name.clone(),
                    name: i.clone(),
                });
            }
        }
    }
    let mut done = vec![false; nodes.len()];
    let mut order = Vec::with_capacity(nodes.len());
    while order.len() < nodes.len() {
        let before = order.len();
        for (i, n) in nodes.iter().enumerate() {
            if !done[i]
                && n.inputs
                    .iter()
                    .all(|x| x.is_empty() || available.contains(x))
            {
                done[i] = true;
                available.extend(n.outputs.iter().cloned());
                order.push(i);
            }
        }
        if order.len() == before {
            let stuck = nodes
                .iter()
                .enumerate()
                .find(|(i, _)| !done[*i])
                .map(|(_, n)| n.name.clone())
                .unwrap_or_default();
            return Err(EngineError::Cycle(stuck));
        }
    }
    let mut slots: Vec<Option<GraphNode>> = nodes.into_iter().map(Some).collect();
    Ok(order.into_iter().filter_map(|i| slots[i].take()).collect())
}

fn constant_value(node: &GraphNode) -> Result<Const> {
    match node.attrs.iter().next() {
        Some((_, Attr::Tensor(t))) => Ok(t.clone()),
        Some((_, Attr::Float(v))) => Ok(Const {
            shape: vec![],
            data: ConstData::Float(vec![*v as f64]),
        }),
        Some((_, Attr::Int(v))) => Ok(Const {
            shape: vec![],
            data: ConstData::Int(vec![*v]),
        }),
        Some((_, Attr::Floats(v))) => Ok(Const {
            shape: vec![v.len()],
            data: ConstData::Float(v.iter().map(|x| *x as f64).collect()),
        }),
        Some((_, Attr::Ints(v))) => Ok(Const {
            shape: vec![v.len()],
            data: ConstData::Int(v.clone()),
        }),
        _ => Err(EngineError::MissingField {
            node: node.name.clone(),
            field: "value",
        }),
    }
}

fn parse_attr(node: &str, a: &onnx_protobuf::AttributeProto) -> Result<Attr> {
    let bad = |reason: &str| EngineError::BadAttribute {
        node: node.to_string(),
        attr: a.name.clone(),
        reason: reason.to_string(),
    };
    Ok(match a.type_.enum_value() {
        Ok(AttributeType::FLOAT) => Attr::Float(a.f),
        Ok(AttributeType::INT) => Attr::Int(a.i),
        Ok(AttributeType::FLOATS) => Attr::Floats(a.floats.clone()),
        Ok(AttributeType::INTS) => Attr::Ints(a.ints.clone()),
        Ok(AttributeType::STRING) => Attr::Str(String::from_utf8_lossy(&a.s).into_owned()),
        Ok(AttributeType::STRINGS) => Attr::Strings(
            a.strings
                .iter()
                .map(|s| String::from_utf8_lossy(s).into_owned())
                .collect(),
        ),
        Ok(AttributeType::TENSOR) => Attr::Tensor(parse_tensor(
            a.t.as_ref()
                .ok_or_else(|| bad("TENSOR attribute without a tensor"))?,
        )?),
        Ok(other) => Attr::Str(format!("<unsupported attribute type {other:?}>")),
        Err(code) => return Err(bad(&format!("unknown attribute type code {code}"))),
    })
}

/// Decodes an ONNX `TensorProto` (typed fields or little-endian `raw_data`).
pub fn parse_tensor(t: &TensorProto) -> Result<Const> {
    let mut shape = Vec::with_capacity(t.dims.len());
    for d in &t.dims {
        if *d < 0 {
            return Err(EngineError::DataLength {
                name: t.name.clone(),
                shape: vec![],
                got: 0,
            });
        }
        shape.push(*d as usize);
    }
    let expected: usize = shape.iter().product();
    let raw = &t.raw_data;
    let dtype = DataType::from_i32(t.data_type);
    let unsupported = || EngineError::UnsupportedDtype {
        name: t.name.clone(),
        dtype: t.data_type,
    };
    if t.data_location.value() != 0 {
        return Err(unsupported());
    }
    let width = match dtype {
        Some(DataType::DOUBLE | DataType::INT64) => 8,
        Some(DataType::FLOAT | DataType::INT32) => 4,
        Some(DataType::INT16 | DataType::UINT16) => 2,
        _ => 1,
    };
    // `raw_data` must hold exactly the shape's values: a remainder (which `chunks_exact`
    // would drop) is a cut or padded tensor.
    if !raw.is_empty() && raw.len() != expected.saturating_mul(width) {
        return Err(EngineError::DataLength {
            name: t.name.clone(),
            shape,
            got: raw.len() / width,
        });
    }
    fn chunks<const N: usize>(raw: &[u8]) -> impl Iterator<Item = [u8; N]> + '_ {
        raw.chunks_exact(N)
            .map(|c| c.try_into().expect("exact chunk"))
    }
    let data = match dtype.ok_or_else(unsupported)? {
        DataType::FLOAT => ConstData::Float(if raw.is_empty() {
            t.float_data.iter().map(|x| *x as f64).collect()
        } else {
            chunks::<4>(raw)
                .map(|b| f32::from_le_bytes(b) as f64)
                .collect()
        }),
        DataType::DOUBLE => ConstData::Float(if raw.is_empty() {
            t.double_data.clone()
        } else {
            chunks::<8>(raw).map(f64::from_le_bytes).collect()
        }),
        DataType::INT64 => ConstData::Int(if raw.is_empty() {
            t.int64_data.clone()
        } else {
            chunks::<8>(raw).map(i64::from_le_bytes).collect()
        }),
        DataType::INT32
        | DataType::INT16
        | DataType::INT8
        | DataType::UINT8
        | DataType::UINT16
        | DataType::BOOL => ConstData::Int(if raw.is_empty() {
            t.int32_data.iter().map(|x| *x as i64).collect()
        } else {
            match dtype {
                Some(DataType::INT32) => chunks::<4>(raw)
                    .map(|b| i32::from_le_bytes(b) as i64)
                    .collect(),
                Some(DataType::INT16) => chunks::<2>(raw)
                    .map(|b| i16::from_le_bytes(b) as i64)
                    .collect(),
                Some(DataType::UINT16) => chunks::<2>(raw)
                    .map(|b| u16::from_le_bytes(b) as i64)
                    .collect(),
                Some(DataType::INT8) => raw.iter().map(|b| *b as i8 as i64).collect(),
                _ => raw.iter().map(|b| *b as i64).collect(),
            }
        }),
        _ => return Err(unsupported()),
    };
    if data.len() != expected {
        return Err(EngineError::DataLength {
            name: t.name.clone(),
            shape,
            got: data.len(),
        });
    }
    Ok(Const { shape, data })
}

/// The sizes of `graph`'s symbolic input dims (by `dim_param` name) that give its inputs the
/// shapes in `given` (by input name), for [`Program::compile`](crate::Program::compile): a
/// model exported with dynamic axes (batch, sequence length) is compiled for the shapes of
/// the input at hand. A fixed dim must match, a name takes one size across all inputs, and
/// an input absent from `given` keeps its defaults.
pub fn bind_dims(
    graph: &Graph,
    given: &BTreeMap<String, Vec<usize>>,
) -> Result<HashMap<String, usize>> {
    let mut dims: HashMap<String, usize> = HashMap::new();
    for (name, ds) in &graph.inputs {
        let Some(shape) = given.get(name) else {
            continue;
        };
        let bad = |reason: String| EngineError::BadInput {
            name: name.clone(),
            reason,
        };
        if shape.len() != ds.len() {
            return Err(bad(format!(
                "rank {} given, the model's input has rank {} ({})",
                shape.len(),
                ds.len(),
                show_dims(ds)
            )));
        }
        for (axis, (d, n)) in ds.iter().zip(shape).enumerate() {
            match d {
                Dim::Fixed(f) if f != n => {
                    return Err(bad(format!(
                        "axis {axis} has size {n}, the model fixes it to {f} ({})",
                        show_dims(ds)
                    )))
                }
                Dim::Fixed(_) => {}
                Dim::Symbolic(s) => match dims.get(s) {
                    Some(m) if m != n => {
                        return Err(bad(format!(
                            "axis {axis} (`{s}`) has size {n}, another input gives `{s}` size {m}"
                        )))
                    }
                    _ => {
                        if *n == 0 {
                            return Err(bad(format!("axis {axis} (`{s}`) has size 0")));
                        }
                        dims.insert(s.clone(), *n);
                    }
                },
            }
        }
    }
    Ok(dims)
}

fn show_dims(ds: &[Dim]) -> String {
    let parts: Vec<String> = ds
        .iter()
        .map(|d| match d {
            Dim::Fixed(n) => n.to_string(),
            Dim::Symbolic(s) => s.clone(),
        })
        .collect();
    format!("[{}]", parts.join(", "))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deeply_nested_groups_are_an_error_not_a_stack_overflow() {
        // Field 1, wire type 3 (start group), nested 500k deep: the fuzz crash's shape. The
        // top-level check refuses the unclosed groups; behind it, the decoder (on its grown
        // stack) refuses the same groups closed, which pass the check.
        let open = vec![0x0b; 500_000];
        assert!(matches!(
            load_bytes(&open),
            Err(EngineError::Malformed { .. })
        ));
        // Unknown field 100 (tags `a3 06` / `a4 06`), which the decoder skips recursively.
        let depth = 250_000;
        let mut closed = [0xa3, 0x06].repeat(depth);
        closed.extend([0xa4, 0x06].repeat(depth));
        check_top_level(&closed).unwrap();
        assert!(parse_model(&closed).is_ok());
        assert!(matches!(
            load_bytes(&closed),
            Err(EngineError::MissingField { field: "graph", .. })
        ));
    }

    #[test]
    fn garbage_is_a_typed_error_not_a_panic() {
        assert!(matches!(
            load_bytes(&[0xff, 0xff, 0xff, 0x01]),
            Err(EngineError::Malformed { .. })
        ));
        // A well-formed top level whose graph (field 7) holds a cut tag.
        assert!(matches!(
            load_bytes(&[0x3a, 0x01, 0xff]),
            Err(EngineError::Decode(_))
        ));
    }

    #[test]
    fn raw_data_with_a_remainder_is_refused() {
        let t = TensorProto {
            name: "w".into(),
            dims: vec![1],
            data_type: DataType::FLOAT as i32,
            raw_data: vec![0; 7],
            ..Default::default()
        };
        assert!(matches!(
            parse_tensor(&t),
            Err(EngineError::DataLength { got: 1, .. })
        ));
    }

    #[test]
    fn empty_model_has_no_graph() {
        assert!(matches!(
            load_bytes(&[]),
            Err(EngineError::MissingField { field: "graph", .. })
        ));
    }
}
