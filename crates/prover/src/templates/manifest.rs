//! The manifest: which template proves each operator's output chunks, and how many leaves an
//! operator of a given program has. Computed from the program alone, without keys.

use std::sync::OnceLock;

use zkopml_commit::chunk_count;
use zkopml_engine::{ops::Op, Node, Program};

use super::{template_stats, BinaryChunk, BinaryTemplate, ClipTemplate, Template};

/// How an operator's output is proved under version 4.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LeafPlan {
    /// The template's name.
    pub template: &'static str,
    /// Leaves: one per output chunk.
    pub leaves: usize,
    /// Constraints of one leaf (the template's, the same for every model).
    pub constraints: usize,
}

/// The operator `node` of `program` under the template library: its plan, or why no
/// template proves it yet.
pub fn plan(program: &Program, node: &Node) -> Result<LeafPlan, &'static str> {
    let out_len: usize = program.values[node.output].shape.iter().product();
    let same_len = |v: &usize| program.values[*v].shape.iter().product::<usize>() == out_len;
    let template =
        match &node.op {
            // Relu, Clip; a reshape is the identity clip (same values, the header alone changes).
            Op::Relu | Op::Clip(_) | Op::Reshape(_) => ClipTemplate::NAME,
            Op::Binary(k) if BinaryChunk::code(*k).is_some() => {
                if node.inputs.iter().all(same_len) {
                    BinaryTemplate::NAME
                } else {
                    return Err("broadcasting operands need the copy template (not built yet)");
                }
            }
            Op::Binary(_) => return Err("no template for this arithmetic kind yet"),
            Op::Gemm(_) | Op::Conv(_) | Op::Conv1d(_) | Op::MatMul(_) => return Err(
                "needs the accumulation-block, rescale and window-copy templates (not built yet)",
            ),
            _ => return Err("no template for this operator yet"),
        };
    Ok(LeafPlan {
        template,
        leaves: chunk_count(out_len).max(1),
        constraints: constraints(template),
    })
}

/// Constraints of a template by name (synthesised once per process, without keys).
pub fn constraints(template: &str) -> usize {
    static CLIP: OnceLock<usize> = OnceLock::new();
    static BINARY: OnceLock<usize> = OnceLock::new();
    let count = |t: &OnceLock<usize>, f: fn() -> crate::Result<usize>| {
        *t.get_or_init(|| f().expect("a template synthesises without a witness"))
    };
    match template {
        ClipTemplate::NAME => count(&CLIP, template_stats::<ClipTemplate>),
        BinaryTemplate::NAME => count(&BINARY, template_stats::<BinaryTemplate>),
        _ => 0,
    }
}

/// The templates of the library, by name.
pub const TEMPLATES: [&str; 2] = [ClipTemplate::NAME, BinaryTemplate::NAME];
