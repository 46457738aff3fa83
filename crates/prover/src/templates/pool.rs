//! `MaxPool` (engine: `ops/pool.rs`) as fixed templates: the window of every output position
//! is gathered tap by tap exactly as a depthwise `Conv`'s ([`super::conv`]'s lookup over a
//! table of [`POOL_SLOTS`] chunks of `X`, no weights), into wide running maxima:
//!
//! - `acc_0[p] = i32::MIN` (a constant),
//! - `acc_{b+1}[p] = max(acc_b[p], X[co, oy·sh + ky − top, ox·sw + kx − left])` where the
//!   tap `b = ky·kw + kx` reads inside the plane, `acc_b[p]` in the padding — template
//!   `pool_block`,
//! - `y = acc_B` — the Gemm's `rescale_chunk` with `S = 0` (the identity on `i32` values).
//!
//! A window with no position inside the plane keeps `i32::MIN`, as the engine's.
//! `AveragePool` and `GlobalAveragePool` are not built: a global pool's output chunk reads
//! one value of each of 616 planes per tap (616 chunks), which needs another decomposition.

use ark_bn254::Fr;
use ark_ff::Zero;
use zkopml_commit::{chunked_commitment_of, tensor_header, wide_chunk_digest, CHUNK_VALUES};
use zkopml_engine::{ops::Pool, Tensor};

use super::{
    chunk::wide_leaf,
    conv::{i128_fr, leaf_instance, window, WindowInputs},
    ConvBlockChunk, ConvDisputeError, ConvParams, Template,
};
use crate::gadgets::{Cs, CsResult, Lc};

/// Chunks in a `pool_block` leaf's lookup table (all of `X`).
pub const POOL_SLOTS: usize = 6;

/// A `MaxPool` node's dispute decomposition (batch 1, floor mode).
#[derive(Clone, Debug)]
pub struct PoolDispute {
    /// Shape parameters of every leaf (`cg = mg = 1`: each output plane reads its own).
    pub params: ConvParams,
    /// Output length `C·Ho·Wo`.
    pub len: usize,
    /// `acc_B`: the window maxima.
    pub acc_final: Vec<i128>,
    /// The output: the engine's.
    pub y: Vec<i32>,
}

impl PoolDispute {
    /// Decomposes `MaxPool` `p` of `x` (`[1, C, H, W]`).
    pub fn new(p: &Pool, x: &Tensor) -> Result<Self, ConvDisputeError> {
        let shape_err = || ConvDisputeError::Shape {
            x: x.shape.clone(),
            w: p.kernel.to_vec(),
        };
        if x.shape.len() != 4 || x.shape[0] != 1 || p.ceil_mode {
            return Err(shape_err());
        }
        let out_dim = |a: usize| {
            let padded = x.shape[2 + a] + p.pads[a] + p.pads[a + 2];
            (padded >= p.kernel[a] && p.strides[a] > 0)
                .then(|| (padded - p.kernel[a]) / p.strides[a] + 1)
        };
        let (Some(ho), Some(wo)) = (out_dim(0), out_dim(1)) else {
            return Err(shape_err());
        };
        let params = ConvParams {
            input: [x.shape[2], x.shape[3]],
            output: [ho, wo],
            cg: 1,
            mg: 1,
            kernel: p.kernel,
            strides: p.strides,
            dilations: [1, 1],
            pad: [p.pads[0], p.pads[1]],
            row_chunks: 1,
        };
        for value in params.list() {
            if value >= 1 << 12 {
                return Err(ConvDisputeError::Param {
                    name: "pool shape",
                    value,
                });
            }
        }
        let mut d = Self {
            params,
            len: x.shape[1] * ho * wo,
            acc_final: Vec::new(),
            y: Vec::new(),
        };
        d.acc_final = d.acc(x, d.blocks());
        d.y = d.acc_final.iter().map(|v| *v as i32).collect();
        Ok(d)
    }

    /// Number of blocks (taps) `B = kh·kw`.
    pub fn blocks(&self) -> usize {
        self.params.taps()
    }

    /// `acc_b`: the running maxima after the first `b` taps.
    pub fn acc(&self, x: &Tensor, b: usize) -> Vec<i128> {
        let mut acc = vec![i32::MIN as i128; self.len];
        for t in 0..b {
            for (p, s) in acc.iter_mut().enumerate() {
                if let (_, Some(f)) = self.params.source(p, t) {
                    *s = (*s).max(x.data[f] as i128);
                }
            }
        }
        acc
    }

    /// The chunks of `X` that chunk `j` of tap `b` reads, ascending.
    pub fn chunks_read(&self, j: usize, b: usize) -> Vec<usize> {
        let lo = j * CHUNK_VALUES;
        let mut xs: Vec<usize> = (lo..(lo + CHUNK_VALUES).min(self.len))
            .filter_map(|p| self.params.source(p, b).1)
            .map(|f| f / CHUNK_VALUES)
            .collect();
        xs.dedup();
        xs.sort_unstable();
        xs.dedup();
        xs
    }

    /// The leaf proving chunk `j` of `acc_{b+1}` from `acc_b` (given) and `X`.
    pub fn block_instance(
        &self,
        x: &Tensor,
        acc_b: &[i128],
        j: usize,
        b: usize,
    ) -> Result<PoolBlockChunk, ConvDisputeError> {
        if j >= zkopml_commit::chunk_count(self.len).max(1) || b >= self.blocks() {
            return Err(ConvDisputeError::OutOfRange { chunk: j, tap: b });
        }
        let window = leaf_instance(
            (x, None),
            (self.chunks_read(j, b), Vec::new()),
            POOL_SLOTS,
            (acc_b, self.len),
            (j, b),
            self.params,
        )?;
        Ok(PoolBlockChunk { window })
    }
}

/// The max-pool tap template: chunk `j` of `acc_{b+1}` from `acc_b`'s and `X`.
pub struct PoolBlockTemplate;

/// One instance of [`PoolBlockTemplate`]: the gather of [`ConvBlockChunk`] without weights
/// (its slots all of `X`).
#[derive(Clone, Debug)]
pub struct PoolBlockChunk {
    /// The window gather's witness.
    pub window: ConvBlockChunk,
}

impl PoolBlockChunk {
    /// The output chunk (`acc_{b+1}`'s chunk `j`).
    pub fn output(&self) -> Vec<Fr> {
        let w = &self.window;
        let r = w.reads();
        let base = w.acc_in.index * CHUNK_VALUES;
        (0..w.acc_in.values.len())
            .map(|k| {
                let acc = w.acc_in.values[k];
                match w.params.source(base + k, w.block).1 {
                    Some(_) => {
                        let a = crate::gadgets::fr_to_i128(acc).unwrap_or(0);
                        i128_fr(a.max(r.x[k] as i128))
                    }
                    None => acc,
                }
            })
            .collect()
    }
}

impl Template for PoolBlockTemplate {
    const NAME: &'static str = "pool_block/v1";
    type Instance = PoolBlockChunk;

    /// `[C(acc_b), C(X), j, b, P, d]` (`P` the packed [`ConvParams`], `cg = mg = 1`).
    fn public_inputs(inst: &PoolBlockChunk) -> Vec<Fr> {
        let w = &inst.window;
        let j = w.acc_in.index;
        vec![
            chunked_commitment_of(
                tensor_header(&w.acc_in.shape).unwrap_or_default(),
                w.acc_in.root,
            ),
            w.commitments().0,
            Fr::from(j as u64),
            Fr::from(w.block as u64),
            w.params.packed(),
            wide_chunk_digest(j, &inst.output()),
        ]
    }

    fn synthesize(cs: &Cs, inst: Option<&PoolBlockChunk>) -> CsResult<()> {
        let public = inst.map(Self::public_inputs).unwrap_or(vec![Fr::zero(); 6]);
        let v: Vec<Lc> = public
            .iter()
            .map(|x| cs.input(*x))
            .collect::<CsResult<_>>()?;
        let [c_acc, c_x, j, b, packed, digest] = [&v[0], &v[1], &v[2], &v[3], &v[4], &v[5]];
        let win = window(
            cs,
            WindowInputs {
                c_acc,
                c_x,
                c_w: None,
                j,
                b,
                packed,
                transcript: &v,
            },
            POOL_SLOTS,
            inst.map(|i| &i.window),
        )?;
        // acc_{b+1} = acc_b + inside·(max(acc_b, x) − acc_b); acc_b and x in the i32 range.
        let mut out = Vec::with_capacity(CHUNK_VALUES);
        for k in 0..CHUNK_VALUES {
            let acc = &win.acc.values[k];
            let m = cs.max(acc, &win.x[k])?;
            out.push(acc.add(&cs.mul(&win.inside[k], &m.sub(acc))?));
        }
        let d = wide_leaf(cs, j, &out)?;
        cs.assert_eq(&d, digest)
    }
}
