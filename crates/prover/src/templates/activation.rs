//! `Relu` and `Clip` (engine: `ops/activation.rs`): one template, `clip_chunk`.
//!
//! Public inputs `[C(X), j, lo, hi, d]`: output chunk `j` of `Y = min(max(X, lo), hi)` has
//! leaf digest `d`, where `X` is the tensor committed as `C(X)` (version 4) and `Y` has
//! `X`'s length. `Relu` is `lo = 0, hi = i32::MAX`; an absent `Clip` bound is `i32::MIN` /
//! `i32::MAX`, exactly the engine's `Clip`.

use ark_bn254::Fr;
use zkopml_commit::{
    chunk_digest, chunked_commitment_of, fr_from_i64, tensor_header, CHUNK_VALUES,
};
use zkopml_engine::ops::Clip;

use super::{
    chunk::{open_chunk, output_leaf, ChunkOpening},
    Template,
};
use crate::gadgets::{Cs, CsResult};

/// The `Relu`/`Clip` chunk template.
pub struct ClipTemplate;

/// One instance: the opened input chunk and the bounds.
#[derive(Clone, Debug)]
pub struct ClipChunk {
    /// Chunk `index` of the input tensor.
    pub input: ChunkOpening,
    /// The operator's bounds.
    pub clip: Clip,
}

impl ClipChunk {
    /// The output chunk the engine computes.
    pub fn output(&self) -> Vec<i32> {
        self.input
            .values
            .iter()
            .map(|v| (*v).max(self.clip.lo).min(self.clip.hi))
            .collect()
    }
}

impl Template for ClipTemplate {
    const NAME: &'static str = "clip_chunk/v1";
    type Instance = ClipChunk;

    fn public_inputs(inst: &ClipChunk) -> Vec<Fr> {
        let header = tensor_header(&inst.input.shape).unwrap_or_default();
        vec![
            chunked_commitment_of(header, inst.input.root),
            Fr::from(inst.input.index as u64),
            fr_from_i64(inst.clip.lo as i64),
            fr_from_i64(inst.clip.hi as i64),
            chunk_digest(inst.input.index, &inst.output()),
        ]
    }

    fn synthesize(cs: &Cs, inst: Option<&ClipChunk>) -> CsResult<()> {
        let public = inst
            .map(Self::public_inputs)
            .unwrap_or(vec![Fr::from(0u64); 5]);
        let [c_x, index, lo, hi, digest] = [0, 1, 2, 3, 4].map(|i| cs.input(public[i]));
        let (c_x, index, lo, hi, digest) = (c_x?, index?, lo?, hi?, digest?);
        // The bounds are i32 (the max gadget's domain).
        cs.i32_bits(&lo)?;
        cs.i32_bits(&hi)?;
        let x = open_chunk(cs, &c_x, &index, inst.map(|i| &i.input))?;
        debug_assert_eq!(x.values.len(), CHUNK_VALUES);
        let y = x
            .values
            .iter()
            .map(|v| {
                let m = cs.max(v, &lo)?;
                // min(m, hi) = m + hi − max(m, hi)
                let top = cs.max(&m, &hi)?;
                Ok(m.add(&hi).sub(&top))
            })
            .collect::<CsResult<Vec<_>>>()?;
        let d = output_leaf(cs, &index, &y, &x)?;
        cs.assert_eq(&d, &digest)
    }
}
