//! Typed errors of the engine: every one names the node, field or tensor at fault.

/// Result alias of this crate.
pub type Result<T, E = EngineError> = core::result::Result<T, E>;

/// What can go wrong between an ONNX file and an executed trace.
#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    /// The decoder could not run on this input (no stack of the size it needs).
    #[error("ONNX file cannot be decoded here: {0}")]
    Undecodable(String),
    /// The bytes are not an ONNX `ModelProto`.
    #[error("malformed ONNX protobuf: {0}")]
    Decode(#[from] protobuf::Error),
    /// The bytes end inside a field, a length runs past the end of the file, or the
    /// top level of the `ModelProto` is otherwise not well-formed protobuf (what a truncated
    /// or appended-to file looks like; rust-protobuf 3.4 accepts a top-level message field
    /// that runs past the end of its input).
    #[error("malformed ONNX file at byte {offset}: {reason}")]
    Malformed {
        /// Byte offset of the offending field's tag.
        offset: usize,
        /// What is wrong there.
        reason: String,
    },
    /// A required field is missing or empty.
    #[error("node `{node}`: missing field `{field}`")]
    MissingField {
        /// Node (or graph element) name.
        node: String,
        /// The field.
        field: &'static str,
    },
    /// An operator this engine has no integer semantics for.
    #[error("node `{node}`: unsupported operator `{op}` (supported operators: docs/numerics.md)")]
    UnsupportedOp {
        /// Node name.
        node: String,
        /// ONNX op type.
        op: String,
    },
    /// An attribute value outside what the operator supports.
    #[error("node `{node}`: attribute `{attr}`: {reason}")]
    BadAttribute {
        /// Node name.
        node: String,
        /// Attribute name.
        attr: String,
        /// Why it is rejected.
        reason: String,
    },
    /// Shapes that do not fit the operator.
    #[error("node `{node}`: shape mismatch: expected {expected}, got {got:?}")]
    ShapeMismatch {
        /// Node name.
        node: String,
        /// What the operator needs.
        expected: String,
        /// The offending shape(s).
        got: Vec<Vec<usize>>,
    },
    /// A node reads a tensor nothing produces.
    #[error("node `{node}`: input `{name}` is not produced by any node, input or initializer")]
    UnknownValue {
        /// Node name.
        node: String,
        /// Tensor name.
        name: String,
    },
    /// The graph has a cycle or otherwise cannot be ordered.
    #[error("graph cannot be ordered topologically (cycle through `{0}`)")]
    Cycle(String),
    /// A tensor's data type or encoding this engine does not read.
    #[error("tensor `{name}`: unsupported data type {dtype}")]
    UnsupportedDtype {
        /// Tensor name.
        name: String,
        /// ONNX `TensorProto.DataType` code.
        dtype: i32,
    },
    /// Data of a constant or input does not fill its shape.
    #[error("tensor `{name}`: {got} values for shape {shape:?}")]
    DataLength {
        /// Tensor name.
        name: String,
        /// Declared shape.
        shape: Vec<usize>,
        /// Number of values found.
        got: usize,
    },
    /// A provided input does not match the model's declared input.
    #[error("input `{name}`: {reason}")]
    BadInput {
        /// Input name.
        name: String,
        /// What is wrong.
        reason: String,
    },
    /// A serialized program that this version cannot read.
    #[error("program: {0}")]
    Program(String),
    /// Reading a file failed.
    #[error("{path}: {source}")]
    Io {
        /// The path.
        path: String,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// A JSON document that does not have the expected form.
    #[error("{path}: {source}")]
    Json {
        /// The path.
        path: String,
        /// The cause.
        #[source]
        source: serde_json::Error,
    },
}
