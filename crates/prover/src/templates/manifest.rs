//! The manifest: which template proves each operator's output chunks, and how many leaves an
//! operator of a given program has. Computed from the program alone, without keys.

use std::sync::OnceLock;

use zkopml_commit::chunk_count;
use zkopml_engine::{ops::Op, Node, Program};

use super::{
    template_stats, BinaryChunk, BinaryTemplate, ClipTemplate, GemmBlockTemplate, RescaleTemplate,
    Template, KB,
};
use zkopml_engine::program::ValueKind;

/// How an operator's output is proved under version 4.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LeafPlan {
    /// The template's name (for an operator proved by several, the largest one).
    pub template: &'static str,
    /// Leaves: one per output chunk (for a `Gemm`, one per output chunk and block of rows of
    /// `B'`, plus one rescale leaf per output chunk).
    pub leaves: usize,
    /// Constraints of one leaf (the template's, the same for every model).
    pub constraints: usize,
}

/// The operator `node` of `program` under the template library: its plan, or why no
/// template proves it yet.
pub fn plan(program: &Program, node: &Node) -> Result<LeafPlan, &'static str> {
    let out_len: usize = program.values[node.output].shape.iter().product();
    let same_len = |v: &usize| program.values[*v].shape.iter().product::<usize>() == out_len;
    let template = match &node.op {
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
        Op::Gemm(g) => {
            let a = &program.values[node.inputs[0]].shape;
            let b = &program.values[node.inputs[1]];
            let constant_b = matches!(b.kind, ValueKind::Const(_));
            if a.len() != 2 || a[0] != 1 || g.trans_a || !constant_b {
                return Err("Gemm with more than one row of A or a computed B has no template yet");
            }
            // Per output chunk: one block leaf per KB rows of B', then one rescale leaf.
            let (_, k, _) = g.dims(a, &b.shape);
            let block = constraints(GemmBlockTemplate::NAME);
            let rescale = constraints(RescaleTemplate::NAME);
            return Ok(LeafPlan {
                template: if block >= rescale {
                    GemmBlockTemplate::NAME
                } else {
                    RescaleTemplate::NAME
                },
                leaves: chunk_count(out_len).max(1) * (k.div_ceil(KB) + 1),
                constraints: block.max(rescale),
            });
        }
        Op::Conv(_) | Op::Conv1d(_) | Op::MatMul(_) => return Err(
            "needs the window-copy template (im2col into the accumulation blocks; not built yet)",
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
    static BLOCK: OnceLock<usize> = OnceLock::new();
    static RESCALE: OnceLock<usize> = OnceLock::new();
    let count = |t: &OnceLock<usize>, f: fn() -> crate::Result<usize>| {
        *t.get_or_init(|| f().expect("a template synthesises without a witness"))
    };
    match template {
        ClipTemplate::NAME => count(&CLIP, template_stats::<ClipTemplate>),
        BinaryTemplate::NAME => count(&BINARY, template_stats::<BinaryTemplate>),
        GemmBlockTemplate::NAME => count(&BLOCK, template_stats::<GemmBlockTemplate>),
        RescaleTemplate::NAME => count(&RESCALE, template_stats::<RescaleTemplate>),
        _ => 0,
    }
}

/// The protocol's id of a template: its position in [`TEMPLATES`] plus one (0 is no
/// template). Ids are fixed once deployed: new templates are appended, never inserted.
pub fn template_id(name: &str) -> Option<u64> {
    TEMPLATES
        .iter()
        .position(|t| *t == name)
        .map(|i| i as u64 + 1)
}

/// The templates of the library, by name, in id order ([`template_id`]).
pub const TEMPLATES: [&str; 4] = [
    ClipTemplate::NAME,
    BinaryTemplate::NAME,
    GemmBlockTemplate::NAME,
    RescaleTemplate::NAME,
];
