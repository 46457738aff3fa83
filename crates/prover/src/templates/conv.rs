//! `Conv` (engine: `ops/conv.rs`) as fixed templates: 2-D convolution of one image (batch 1,
//! NCHW) with constant weights — any stride, padding, dilation and group count (depthwise
//! included) — split, inside a dispute, into wide partial sums over the taps of a window:
//!
//! - `acc_0[p] = bias[co(p)]·2^L` (a model constant),
//! - `acc_{b+1}[p] = acc_b[p] + W[co, ci, ky, kx] · X[g·cg + ci, oy·sh + ky·dh − top,
//!   ox·sw + kx·dw − left]` (zero outside the plane) for tap `b = (ci·kh + ky)·kw + kx` of the
//!   group's `cg·kh·kw` — template `conv_block`,
//! - `y = rescale(acc_B, S)` — the Gemm's `rescale_chunk` (`linear.rs`), unchanged.
//!
//! The partial sums are wide tensors in `Y`'s flat layout `[Cout, Ho, Wo]` (one field
//! element per value), so chunk `j` of every `acc_b` holds the same 616 output positions as
//! chunk `j` of `Y`, whatever channels, rows and borders it spans.
//!
//! **The gather.** Output position `p = 616·j + k` reads `X` at a flat index `f_k` that
//! depends on its channel, row and column: a shift for a stride-1 layer, a decimation for a
//! stride-2 one, a replication of one plane across the output channels of a chunk for a
//! small map. One mechanism covers all of them: a log-derivative lookup of the pairs
//! `(f_k, x_k)` in a table of [`SLOTS`] chunks opened from `X` or from the weights (each slot
//! is either, the prover's choice; every table entry is a genuine `(index, value)` of the
//! tensor it was opened from). Every query index is computed in the circuit from `j`, the
//! tap `b` and the public shape parameters (position counters, border thresholds); only the
//! gathered values, the weights and the table's multiplicities are witnesses, and all of
//! them, with the slots and the public inputs, are hashed (Poseidon) into the lookup's
//! challenges `α, β, γ` before they are used (Fiat–Shamir inside the circuit; `γ` tags the
//! weights' entries so `X` and `W'` keys never alias). The weights `W'` are registered in the
//! template layout `[cg·kh·kw, R·616]` (`W'[b, co] = W[co, b]`, zero-padded rows of `R`
//! chunks), so a chunk's weights of one tap are one or two chunks of `W'`.
//!
//! The manifest does not check that every leaf of a Conv fits the table (that costs a pass
//! over every position of every tap); `ConvDispute::block_instance` reports a leaf that does
//! not (`ConvDisputeError::TooManyChunks`), and the tests check every Conv of the models.

use super::public_vars;
use ark_bn254::Fr;
use ark_ff::{Field, One, Zero};
use zkopml_commit::{
    chunked_commitment_of, fr_from_i64, tensor_header, wide_chunk_digest, ChunkTree, CHUNK_VALUES,
};
use zkopml_engine::{fixed::rescale, ops::Conv, Tensor};

use super::{
    chunk::{
        divmod, fresh, open_chunk, open_wide, pack, poseidon_t3, wide_leaf, ChunkOpening,
        OpenedWide, WideOpening,
    },
    Template,
};
use crate::{
    gadgets::{lc_from_bits, Cs, CsResult, Lc},
    poseidon,
};

/// Chunks in a `conv_block` leaf's lookup table (from `X` or from `W'`, any mix).
pub const SLOTS: usize = 7;
/// Bits of each packed shape parameter (every parameter is below `2^12`).
const PARAM_BITS: usize = 12;
/// Shape parameters, in packing order: `H, W, Ho, Wo, cg, mg, kh, kw, sh, sw, dh, dw, top,
/// left, R`.
const PARAMS: usize = 15;
/// Bits of a table entry's multiplicity.
const MULT_BITS: usize = 10;
/// Domain tag of the lookup's challenge hash.
const CHALLENGE_TAG: u64 = 0x636f_6e76; // "conv"

pub(crate) fn i128_fr(v: i128) -> Fr {
    let f = Fr::from(v.unsigned_abs());
    if v < 0 {
        -f
    } else {
        f
    }
}

/// A `Conv1d` operand's shape `[N, C, W]` as the 2-D kernel's `[N, C, 1, W]` (other ranks
/// unchanged; the engine's `Conv::lift`).
pub fn lift_1d(shape: &[usize]) -> Vec<usize> {
    match shape {
        [n, c, w] => vec![*n, *c, 1, *w],
        other => other.to_vec(),
    }
}

/// Why a `Conv` has no dispute decomposition.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConvDisputeError {
    /// Not one NCHW image with rank-4 weights.
    #[error("Conv operands must be X [1, C, H, W] and W [M, C/g, kh, kw]; got {x:?} and {w:?}")]
    Shape {
        /// `X`'s shape.
        x: Vec<usize>,
        /// `W`'s shape.
        w: Vec<usize>,
    },
    /// A shape parameter does not fit the template's 12 bits.
    #[error("shape parameter {name} = {value} is not below 2^12")]
    Param {
        /// The parameter.
        name: &'static str,
        /// Its value.
        value: usize,
    },
    /// The chunk of a tap reads more chunks than the table holds.
    #[error(
        "chunk {chunk}, tap {tap} reads {needed} chunks of X and W' (the table holds {SLOTS})"
    )]
    TooManyChunks {
        /// The output chunk.
        chunk: usize,
        /// The tap.
        tap: usize,
        /// Chunks it reads.
        needed: usize,
    },
    /// An index past the output's last chunk or the group's last tap.
    #[error("chunk {chunk} / tap {tap} out of range")]
    OutOfRange {
        /// The output chunk.
        chunk: usize,
        /// The tap.
        tap: usize,
    },
}

/// The shape parameters of a `conv_block` leaf (public, packed into one field element).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ConvParams {
    /// Input plane `[H, W]`.
    pub input: [usize; 2],
    /// Output plane `[Ho, Wo]`.
    pub output: [usize; 2],
    /// Input channels per group `cg`.
    pub cg: usize,
    /// Output channels per group `mg`.
    pub mg: usize,
    /// `[kh, kw]`.
    pub kernel: [usize; 2],
    /// `[sh, sw]`.
    pub strides: [usize; 2],
    /// `[dh, dw]`.
    pub dilations: [usize; 2],
    /// `[top, left]` padding (bottom and right follow from the output plane).
    pub pad: [usize; 2],
    /// Chunks per row of `W'`.
    pub row_chunks: usize,
}

impl ConvParams {
    /// The parameters in packing order.
    pub fn list(&self) -> [usize; PARAMS] {
        [
            self.input[0],
            self.input[1],
            self.output[0],
            self.output[1],
            self.cg,
            self.mg,
            self.kernel[0],
            self.kernel[1],
            self.strides[0],
            self.strides[1],
            self.dilations[0],
            self.dilations[1],
            self.pad[0],
            self.pad[1],
            self.row_chunks,
        ]
    }

    /// `Σ_i param_i · 2^(12·i)`: the public input.
    pub fn packed(&self) -> Fr {
        let mut acc = Fr::zero();
        let mut pow = Fr::one();
        for v in self.list() {
            acc += pow * Fr::from(v as u64);
            pow *= Fr::from(1u64 << PARAM_BITS);
        }
        acc
    }

    /// Taps per group: `cg·kh·kw` (the number of blocks).
    pub fn taps(&self) -> usize {
        self.cg * self.kernel[0] * self.kernel[1]
    }

    /// Output positions per channel.
    pub(crate) fn plane_out(&self) -> usize {
        self.output[0] * self.output[1]
    }

    /// What output position `p` reads at tap `b`: `(co, flat index into X)` or `None` in the
    /// padding.
    pub fn source(&self, p: usize, b: usize) -> (usize, Option<usize>) {
        let [kh, kw] = self.kernel;
        let (ci, ky, kx) = (b / (kh * kw), b / kw % kh, b % kw);
        let co = p / self.plane_out();
        let (oy, ox) = (p % self.plane_out() / self.output[1], p % self.output[1]);
        let iy = (oy * self.strides[0] + ky * self.dilations[0]) as isize - self.pad[0] as isize;
        let ix = (ox * self.strides[1] + kx * self.dilations[1]) as isize - self.pad[1] as isize;
        let [h, w] = self.input;
        let inside = iy >= 0 && ix >= 0 && (iy as usize) < h && (ix as usize) < w;
        let c = co / self.mg * self.cg + ci;
        (co, inside.then(|| (c * h + iy as usize) * w + ix as usize))
    }
}

/// A `Conv` node's dispute decomposition (batch 1, constant weights).
#[derive(Clone, Debug)]
pub struct ConvDispute {
    /// Shape parameters of every leaf.
    pub params: ConvParams,
    /// Output channels `M`.
    pub out_channels: usize,
    /// Output length `M·Ho·Wo` (also the partial sums' length).
    pub len: usize,
    /// The rescale shift `S`.
    pub shift: u32,
    /// `W'` in the template layout `[cg·kh·kw, R·616]`.
    pub weights: Tensor,
    /// `acc_0`: the bias on the product's scale.
    pub acc0: Vec<i128>,
    /// `acc_B` (`B = cg·kh·kw`): the exact window sums.
    pub acc_final: Vec<i128>,
    /// The output `y = rescale(acc_B, S)`: the engine's.
    pub y: Vec<i32>,
}

impl ConvDispute {
    /// Decomposes `Conv` `c` of `x` (`[1, C, H, W]`), constant `w` and optional bias `bias`.
    pub fn new(
        c: &Conv,
        x: &Tensor,
        w: &Tensor,
        bias: Option<&Tensor>,
    ) -> Result<Self, ConvDisputeError> {
        let shape_err = || ConvDisputeError::Shape {
            x: x.shape.clone(),
            w: w.shape.clone(),
        };
        if x.shape.len() != 4 || w.shape.len() != 4 || x.shape[0] != 1 {
            return Err(shape_err());
        }
        let m = w.shape[0];
        let len = |s: &[usize]| s.iter().product::<usize>();
        if c.group == 0
            || x.shape[1] != w.shape[1] * c.group
            || !m.is_multiple_of(c.group)
            || x.data.len() != len(&x.shape)
            || w.data.len() != len(&w.shape)
            || w.shape[2..] != c.kernel[..]
            || (c.has_bias && bias.is_some_and(|b| b.data.len() != m))
        {
            return Err(shape_err());
        }
        // The engine's output plane: ⌊(size + pads − span) / stride⌋ + 1.
        let out_dim = |a: usize| {
            let span = c.dilations[a] * (c.kernel[a].max(1) - 1) + 1;
            let padded = x.shape[2 + a] + c.pads[a] + c.pads[a + 2];
            (padded >= span && c.strides[a] > 0).then(|| (padded - span) / c.strides[a] + 1)
        };
        let y_shape = match (out_dim(0), out_dim(1)) {
            (Some(h), Some(w)) => [1, m, h, w],
            _ => return Err(shape_err()),
        };
        let r = m.div_ceil(CHUNK_VALUES).max(1);
        let params = ConvParams {
            input: [x.shape[2], x.shape[3]],
            output: [y_shape[2], y_shape[3]],
            cg: w.shape[1],
            mg: m / c.group,
            kernel: c.kernel,
            strides: c.strides,
            dilations: c.dilations,
            pad: [c.pads[0], c.pads[1]],
            row_chunks: r,
        };
        const NAMES: [&str; PARAMS] = [
            "H", "W", "Ho", "Wo", "cg", "mg", "kh", "kw", "sh", "sw", "dh", "dw", "top", "left",
            "R",
        ];
        for (name, value) in NAMES.iter().zip(params.list()) {
            if value >= 1 << PARAM_BITS {
                return Err(ConvDisputeError::Param { name, value });
            }
        }
        let taps = params.taps();
        let row = r * CHUNK_VALUES;
        let mut wt = vec![0i32; taps * row];
        for co in 0..m {
            for b in 0..taps {
                wt[b * row + co] = w.data[co * taps + b];
            }
        }
        let len = m * params.plane_out();
        let scale = c.scale();
        let acc0: Vec<i128> = (0..len)
            .map(|p| match bias {
                Some(bias) if c.has_bias => {
                    (bias.data[p / params.plane_out()] as i128) << scale.lift
                }
                _ => 0,
            })
            .collect();
        let mut d = Self {
            params,
            out_channels: m,
            len,
            shift: scale.shift,
            weights: Tensor {
                shape: vec![taps, row],
                data: wt,
            },
            acc0,
            acc_final: Vec::new(),
            y: Vec::new(),
        };
        d.acc_final = d.acc(x, taps);
        d.y = d.acc_final.iter().map(|s| rescale(*s, d.shift)).collect();
        Ok(d)
    }

    /// Number of blocks (taps) `B`.
    pub fn blocks(&self) -> usize {
        self.params.taps()
    }

    /// The weight of output channel `co` at tap `b` (from `W'`).
    fn weight(&self, b: usize, co: usize) -> i32 {
        self.weights.data[b * self.weights.shape[1] + co]
    }

    /// `acc_b`: the partial sums after the first `b` taps.
    pub fn acc(&self, x: &Tensor, b: usize) -> Vec<i128> {
        let mut acc = self.acc0.clone();
        for t in 0..b {
            for (p, s) in acc.iter_mut().enumerate() {
                if let (co, Some(f)) = self.params.source(p, t) {
                    *s += self.weight(t, co) as i128 * x.data[f] as i128;
                }
            }
        }
        acc
    }

    /// The chunks of `X` and of `W'` that chunk `j` of tap `b` reads, each list ascending.
    pub fn chunks_read(&self, j: usize, b: usize) -> (Vec<usize>, Vec<usize>) {
        let (mut xs, mut ws) = (Vec::new(), Vec::new());
        let lo = j * CHUNK_VALUES;
        for p in lo..(lo + CHUNK_VALUES).min(self.len) {
            let (co, f) = self.params.source(p, b);
            if let Some(f) = f {
                xs.push(f / CHUNK_VALUES);
            }
            ws.push((b * self.weights.shape[1] + co) / CHUNK_VALUES);
        }
        for v in [&mut xs, &mut ws] {
            v.sort_unstable();
            v.dedup();
        }
        (xs, ws)
    }

    /// The leaf proving chunk `j` of `acc_{b+1}` from `acc_b` (given), `X` and `W'`.
    pub fn block_instance(
        &self,
        x: &Tensor,
        acc_b: &[i128],
        j: usize,
        b: usize,
    ) -> Result<ConvBlockChunk, ConvDisputeError> {
        if j >= zkopml_commit::chunk_count(self.len).max(1) || b >= self.blocks() {
            return Err(ConvDisputeError::OutOfRange { chunk: j, tap: b });
        }
        let (xs, ws) = self.chunks_read(j, b);
        leaf_instance(
            (x, Some(&self.weights)),
            (xs, ws),
            SLOTS,
            (acc_b, self.len),
            (j, b),
            self.params,
        )
    }
}

/// The leaf of chunk `j`, tap `b` over `acc_b` (a wide tensor of `len` values): a table of
/// `slots` chunks of `x` (and of `w`), those read first, then the first repeated.
pub(crate) fn leaf_instance(
    (x, w): (&Tensor, Option<&Tensor>),
    (mut xs, ws): (Vec<usize>, Vec<usize>),
    slots: usize,
    (acc_b, len): (&[i128], usize),
    (j, b): (usize, usize),
    params: ConvParams,
) -> Result<ConvBlockChunk, ConvDisputeError> {
    if xs.is_empty() {
        // A chunk wholly in the padding reads no X: chunk 0 stands in (C(X) is public).
        xs.push(0);
    }
    let needed = xs.len() + ws.len();
    if needed > slots {
        return Err(ConvDisputeError::TooManyChunks {
            chunk: j,
            tap: b,
            needed,
        });
    }
    let x_tree = ChunkTree::of_values(&x.data);
    let w_tree = w.map(|w| ChunkTree::of_values(&w.data));
    let open = |is_w: bool, i: usize| {
        let (t, tree) = match (is_w, w, &w_tree) {
            (true, Some(w), Some(tree)) => (w, tree),
            (true, _, _) => return None,
            _ => (x, &x_tree),
        };
        ChunkOpening::new(&t.shape, &t.data, tree, i).map(|o| (is_w, o))
    };
    let out_of_range = ConvDisputeError::OutOfRange { chunk: j, tap: b };
    let mut table: Vec<(bool, ChunkOpening)> = xs
        .iter()
        .map(|i| open(false, *i))
        .chain(ws.iter().map(|i| open(true, *i)))
        .collect::<Option<_>>()
        .ok_or(out_of_range.clone())?;
    // Unused slots repeat the first (a duplicate table entry is harmless).
    while table.len() < slots {
        table.push(table[0].clone());
    }
    let acc: Vec<Fr> = acc_b.iter().map(|v| i128_fr(*v)).collect();
    let acc_tree = zkopml_commit::wide_tree(&acc);
    Ok(ConvBlockChunk {
        acc_in: WideOpening::new(&[len], &acc, &acc_tree, j).ok_or(out_of_range)?,
        slots: table,
        block: b,
        params,
        forge: None,
    })
}

/// The tap template: chunk `j` of `acc_{b+1}` from `acc_b`'s, `X` and `W'`.
pub struct ConvBlockTemplate;

/// One instance of [`ConvBlockTemplate`].
#[derive(Clone, Debug)]
pub struct ConvBlockChunk {
    /// Chunk `j` of `acc_b`.
    pub acc_in: WideOpening,
    /// The lookup table: [`SLOTS`] chunks, each of `W'` (`true`) or of `X` (`false`).
    pub slots: Vec<(bool, ChunkOpening)>,
    /// The tap `b`.
    pub block: usize,
    /// The shape parameters.
    pub params: ConvParams,
    /// A dishonest prover's claim (soundness tests): the value it says position `k` gathered
    /// from `X`, in place of the true one; `None` for the honest witness.
    pub forge: Option<(usize, i32)>,
}

/// What each position of a chunk reads, computed natively (the honest witness).
pub(crate) struct Reads {
    /// The gathered `x` (0 in the padding).
    pub x: Vec<i32>,
    /// The weight of each position's channel (0 without weights).
    pub w: Vec<i32>,
    /// Multiplicity of every table entry, slot by slot.
    pub mult: Vec<Vec<u64>>,
}

impl ConvBlockChunk {
    /// Values of the chunk (`acc_b`'s chunk `j`).
    fn count(&self) -> usize {
        let len = self.acc_in.shape.iter().product::<usize>();
        len.saturating_sub(self.acc_in.index * CHUNK_VALUES)
            .min(CHUNK_VALUES)
    }

    pub(crate) fn reads(&self) -> Reads {
        let base = self.acc_in.index * CHUNK_VALUES;
        let row = self.params.row_chunks * CHUNK_VALUES;
        let mut mult: Vec<Vec<u64>> = vec![vec![0; CHUNK_VALUES]; self.slots.len()];
        let mut lookup = |is_w: bool, key: usize| -> Option<i32> {
            let (c, i) = (key / CHUNK_VALUES, key % CHUNK_VALUES);
            let s = self
                .slots
                .iter()
                .position(|(w, o)| *w == is_w && o.index == c && i < o.values.len())?;
            mult[s][i] += 1;
            Some(self.slots[s].1.values[i])
        };
        let (mut xs, mut ws) = (Vec::new(), Vec::new());
        for k in 0..CHUNK_VALUES {
            if k >= self.count() {
                xs.push(0);
                ws.push(0);
                continue;
            }
            let (co, f) = self.params.source(base + k, self.block);
            // Without W' slots (a pool) no weight is looked up.
            let w = lookup(true, self.block * row + co).unwrap_or(0);
            let x = f.and_then(|f| lookup(false, f)).unwrap_or(0);
            let x = match self.forge {
                Some((at, v)) if at == k => v,
                _ => x,
            };
            xs.push(x);
            ws.push(w);
        }
        Reads { x: xs, w: ws, mult }
    }

    /// The output chunk (`acc_{b+1}`'s chunk `j`).
    pub fn output(&self) -> Vec<Fr> {
        let r = self.reads();
        (0..self.acc_in.values.len())
            .map(|k| {
                self.acc_in.values[k] + fr_from_i64(r.w[k] as i64) * fr_from_i64(r.x[k] as i64)
            })
            .collect()
    }

    /// `C(X)` and `C(W')` as the slots show them (zero when no slot opens the tensor).
    pub(crate) fn commitments(&self) -> (Fr, Fr) {
        let c = |want: bool| {
            self.slots
                .iter()
                .find(|(w, _)| *w == want)
                .map(|(_, o)| {
                    chunked_commitment_of(tensor_header(&o.shape).unwrap_or_default(), o.root)
                })
                .unwrap_or_default()
        };
        (c(false), c(true))
    }
}

/// `[bit ≥ 0]` of `a − b` for `|a − b| < 2^13`.
fn ge(cs: &Cs, a: &Lc, b: &Lc) -> CsResult<Lc> {
    let d = a.sub(b).add_const(Fr::from(1u64 << 13));
    Ok(cs.bits(&d, 14)?.swap_remove(13))
}

/// `⌈n / s⌉` for `s ≥ 1`, `|n| < 2^26`, as a constrained witness.
fn ceil_div(cs: &Cs, n: &Lc, s: &Lc) -> CsResult<Lc> {
    let (nv, sv) = (
        crate::gadgets::fr_to_i128(n.val).unwrap_or(0),
        crate::gadgets::fr_to_i128(s.val).unwrap_or(1).max(1),
    );
    let q = cs.witness_int(-((-nv).div_euclid(sv)))?;
    // 0 ≤ q·s − n < s
    let t = cs.mul(&q, s)?.sub(n);
    cs.range(&t, PARAM_BITS)?;
    cs.range(&s.sub(&t).add_const(-Fr::one()), PARAM_BITS)?;
    Ok(q)
}

/// The border thresholds of one axis: output coordinates `o` read inside the plane iff
/// `lo ≤ o < hi`, for the input coordinate `o·s + a − pad` (`a = k·d`) of a plane of `size`.
fn thresholds(cs: &Cs, a: &Lc, s: &Lc, pad: &Lc, size: &Lc) -> CsResult<(Lc, Lc)> {
    let zero = Lc::constant(Fr::zero());
    let lo = ceil_div(cs, &pad.sub(a), s)?;
    let hi = ceil_div(cs, &size.add(pad).sub(a), s)?;
    Ok((cs.max(&lo, &zero)?, cs.max(&hi, &zero)?))
}

/// `1` if `a = b` else `0`.
fn eq(cs: &Cs, a: &Lc, b: &Lc) -> CsResult<Lc> {
    cs.is_zero(&a.sub(b))
}

impl Template for ConvBlockTemplate {
    const NAME: &'static str = "conv_block/v1";
    type Instance = ConvBlockChunk;

    /// `[C(acc_b), C(X), C(W'), j, b, P, d]` (`P` the packed [`ConvParams`]).
    fn public_inputs(inst: &ConvBlockChunk) -> Vec<Fr> {
        let j = inst.acc_in.index;
        let (c_x, c_w) = inst.commitments();
        vec![
            chunked_commitment_of(
                tensor_header(&inst.acc_in.shape).unwrap_or_default(),
                inst.acc_in.root,
            ),
            c_x,
            c_w,
            Fr::from(j as u64),
            Fr::from(inst.block as u64),
            inst.params.packed(),
            wide_chunk_digest(j, &inst.output()),
        ]
    }

    fn synthesize(cs: &Cs, inst: Option<&ConvBlockChunk>) -> CsResult<()> {
        let v = public_vars::<Self, 7>(cs, inst)?;
        let [c_acc, c_x, c_w, j, b, packed, digest] = &v;
        let win = window(
            cs,
            WindowInputs {
                c_acc,
                c_x,
                c_w: Some(c_w),
                j,
                b,
                packed,
                transcript: &v,
            },
            SLOTS,
            inst,
        )?;
        let (acc, xs, x_valid, ws) = (win.acc, win.x, win.inside, win.w);

        // acc_{b+1} = acc_b + w·x where the window reads inside the plane.
        let mut out = Vec::with_capacity(CHUNK_VALUES);
        for k in 0..CHUNK_VALUES {
            let x = cs.mul(&x_valid[k], &xs[k])?;
            out.push(acc.values[k].add(&cs.mul(&ws[k], &x)?));
        }
        let d = wide_leaf(cs, j, &out)?;
        cs.assert_eq(&d, digest)
    }
}

/// The public inputs [`window`] reads.
pub(crate) struct WindowInputs<'a> {
    /// `C(acc_b)`.
    pub c_acc: &'a Lc,
    /// `C(X)`.
    pub c_x: &'a Lc,
    /// `C(W')`, for a template with weights.
    pub c_w: Option<&'a Lc>,
    /// The chunk `j`.
    pub j: &'a Lc,
    /// The tap `b`.
    pub b: &'a Lc,
    /// The packed [`ConvParams`].
    pub packed: &'a Lc,
    /// What the challenges are derived from besides the witnesses (the public inputs).
    pub transcript: &'a [Lc],
}

/// What [`window`] proves: per position of chunk `j`, the value the window reads at tap `b`
/// and whether it lies inside the plane (and inside the output), and the weight of its
/// channel.
pub(crate) struct Window {
    /// Chunk `j` of `acc_b`.
    pub acc: OpenedWide,
    /// The gathered `x_k` (arbitrary where `inside_k = 0`).
    pub x: Vec<Lc>,
    /// `1` where the tap reads inside the plane at a position of the output.
    pub inside: Vec<Lc>,
    /// The weights `w_k` (empty without `C(W')`).
    pub w: Vec<Lc>,
}

/// The gather of one tap of a window over chunk `j` (shared by `conv_block` and
/// `pool_block`): positions, borders and query keys from the public parameters, a table of
/// `slots` chunks of `X` (and of `W'` when `c_w` is given), the witnesses hashed into the
/// lookup's challenges, and the lookup itself.
pub(crate) fn window(
    cs: &Cs,
    inputs: WindowInputs<'_>,
    slots: usize,
    inst: Option<&ConvBlockChunk>,
) -> CsResult<Window> {
    let WindowInputs {
        c_acc,
        c_x,
        c_w,
        j,
        b,
        packed,
        transcript,
    } = inputs;
    let reads = inst.map(ConvBlockChunk::reads);

    // The parameters: twelve bits each, nothing above them.
    let bits = cs.bits(packed, PARAMS * PARAM_BITS)?;
    let p: Vec<Lc> = bits.chunks(PARAM_BITS).map(lc_from_bits).collect();
    let [h, w, ho, wo, cg, mg, kh, kw, sh, sw, dh, dw, top, left, r] = [
        &p[0], &p[1], &p[2], &p[3], &p[4], &p[5], &p[6], &p[7], &p[8], &p[9], &p[10], &p[11],
        &p[12], &p[13], &p[14],
    ];

    let acc = open_wide(cs, c_acc, j, inst.map(|i| &i.acc_in))?;

    // The tap: b = (ci·kh + ky)·kw + kx with ci < cg, ky < kh, kx < kw.
    let (rest, kx) = divmod(cs, b, kw, 24, PARAM_BITS)?;
    let (ci, ky) = divmod(cs, &rest, kh, PARAM_BITS, PARAM_BITS)?;
    cs.range(&cg.sub(&ci).add_const(-Fr::one()), PARAM_BITS)?;
    let (y_lo, y_hi) = thresholds(cs, &cs.mul(&ky, dh)?, sh, top, h)?;
    let (x_lo, x_hi) = thresholds(cs, &cs.mul(&kx, dw)?, sw, left, w)?;
    let y_off = cs.mul(&ky, dh)?.sub(top);
    let x_off = cs.mul(&kx, dw)?.sub(left);

    // The chunk's first position 616·j = (co·Ho + oy)·Wo + ox, co = g·mg + rg.
    let plane = cs.mul(ho, wo)?;
    let first = j.scale(Fr::from(CHUNK_VALUES as u64));
    // The plane `Ho·Wo` may exceed twelve bits.
    let (co0, q0) = divmod(cs, &first, &plane, 32, 24)?;
    let (oy0, ox0) = divmod(cs, &q0, wo, PARAM_BITS, PARAM_BITS)?;
    let (g0, rg0) = divmod(cs, &co0, mg, 32, PARAM_BITS)?;
    let in_plane = cs.mul(h, w)?;
    let row_len = r.scale(Fr::from(CHUNK_VALUES as u64));
    let w_row = cs.mul(b, &row_len)?;

    // Per position: counters, border flags, the two query keys.
    // The border flags [o ≥ threshold] by full comparisons at the first position, then
    // incrementally: ox runs 0, 1, …, Wo − 1 along a row, so [ox ≥ t] turns on exactly where
    // ox = t and resets at a row's start (to [0 = t], t ≥ 0); oy steps at row ends and
    // resets at a plane's.
    let (mut oy, mut ox, mut rg, mut g, mut co) = (oy0, ox0, rg0, g0, co0);
    let mut flags = [
        ge(cs, &oy, &y_lo)?,
        ge(cs, &oy, &y_hi)?,
        ge(cs, &ox, &x_lo)?,
        ge(cs, &ox, &x_hi)?,
    ];
    let (mut x_keys, mut x_valid, mut w_keys) = (Vec::new(), Vec::new(), Vec::new());
    for k in 0..CHUNK_VALUES {
        if k > 0 {
            let row_end = eq(cs, &ox, &wo.add_const(-Fr::one()))?;
            let plane_end = cs.mul(&row_end, &eq(cs, &oy, &ho.add_const(-Fr::one()))?)?;
            let group_end = cs.mul(&plane_end, &eq(cs, &rg, &mg.add_const(-Fr::one()))?)?;
            ox = fresh(cs, &ox.add_const(Fr::one()).sub(&cs.mul(&row_end, wo)?))?;
            oy = fresh(cs, &oy.add(&row_end).sub(&cs.mul(&plane_end, ho)?))?;
            rg = fresh(cs, &rg.add(&plane_end).sub(&cs.mul(&group_end, mg)?))?;
            g = fresh(cs, &g.add(&group_end))?;
            co = fresh(cs, &co.add(&plane_end))?;
            for (flag, t) in flags[..2].iter_mut().zip([&y_lo, &y_hi]) {
                // plane start: [0 = t]; row start: prev + [oy = t]; else prev.
                let hit = cs.mul(&row_end, &eq(cs, &oy, t)?)?;
                *flag = fresh(cs, &flag.sub(&cs.mul(flag, &plane_end)?).add(&hit))?;
            }
            for (flag, t) in flags[2..].iter_mut().zip([&x_lo, &x_hi]) {
                // row start: [0 = t]; else prev + [ox = t].
                let hit = eq(cs, &ox, t)?;
                *flag = fresh(cs, &flag.sub(&cs.mul(flag, &row_end)?).add(&hit))?;
            }
        }
        let [y_ge_lo, y_ge_hi, x_ge_lo, x_ge_hi] = &flags;
        let in_y = cs.mul(y_ge_lo, &Lc::constant(Fr::one()).sub(y_ge_hi))?;
        let in_x = cs.mul(x_ge_lo, &Lc::constant(Fr::one()).sub(x_ge_hi))?;
        let inside = cs.mul(&cs.mul(&in_y, &in_x)?, &acc.mask[k])?;
        let iy = cs.mul(&oy, sh)?.add(&y_off);
        let ix = cs.mul(&ox, sw)?.add(&x_off);
        let c_in = cs.mul(&g, cg)?.add(&ci);
        let f = cs.mul(&c_in, &in_plane)?.add(&cs.mul(&iy, w)?).add(&ix);
        x_keys.push(f);
        x_valid.push(inside);
        if c_w.is_some() {
            w_keys.push(w_row.add(&co));
        }
    }

    // The table: SLOTS chunks, each of X or of W'.
    let mut table = Vec::with_capacity(slots);
    let mut slot_words = Vec::with_capacity(2 * slots);
    for s in 0..slots {
        let o = inst.map(|i| &i.slots[s]);
        let (is_w, c) = match c_w {
            Some(c_w) => {
                let is_w = cs.witness(if o.is_some_and(|o| o.0) {
                    Fr::one()
                } else {
                    Fr::zero()
                })?;
                cs.enforce(
                    &is_w,
                    &Lc::constant(Fr::one()).sub(&is_w),
                    &Lc::constant(Fr::zero()),
                )?;
                let c = c_x.add(&cs.mul(&is_w, &c_w.sub(c_x))?);
                (is_w, c)
            }
            None => (Lc::constant(Fr::zero()), c_x.clone()),
        };
        let index = cs.witness(Fr::from(o.map_or(0, |o| o.1.index) as u64))?;
        let chunk = open_chunk(cs, &c, &index, o.map(|o| &o.1))?;
        let base = index.scale(Fr::from(CHUNK_VALUES as u64));
        slot_words.push(is_w.clone());
        slot_words.push(index);
        table.push((base, is_w, chunk));
    }

    // Gathered values, weights and multiplicities: witnesses, range-checked, hashed.
    let mut xs = Vec::with_capacity(CHUNK_VALUES);
    let mut ws = Vec::with_capacity(CHUNK_VALUES);
    let mut limbs = Vec::with_capacity(2 * CHUNK_VALUES);
    for k in 0..CHUNK_VALUES {
        let x = cs.witness_int(reads.as_ref().map_or(0, |r| r.x[k]) as i128)?;
        cs.i32_bits(&x)?;
        limbs.push(x.add_const(Fr::from(1u64 << 31)));
        xs.push(x);
        if c_w.is_some() {
            let wv = cs.witness_int(reads.as_ref().map_or(0, |r| r.w[k]) as i128)?;
            cs.i32_bits(&wv)?;
            limbs.push(wv.add_const(Fr::from(1u64 << 31)));
            ws.push(wv);
        }
    }
    let mut mults = Vec::with_capacity(slots * CHUNK_VALUES);
    for (s, (_, _, chunk)) in table.iter().enumerate() {
        for (i, valid) in chunk.mask.iter().enumerate() {
            let m = cs.witness(Fr::from(reads.as_ref().map_or(0, |r| r.mult[s][i])))?;
            cs.range(&m, MULT_BITS)?;
            // No entry past the tensor's end is looked up.
            cs.enforce(
                &m,
                &Lc::constant(Fr::one()).sub(valid),
                &Lc::constant(Fr::zero()),
            )?;
            mults.push(m);
        }
    }
    let mut transcript: Vec<Lc> = transcript.to_vec();
    transcript.extend(slot_words);
    transcript.extend(pack(&limbs, 32));
    transcript.extend(pack(&mults, MULT_BITS));
    let seed = poseidon::chain_from(cs, Lc::constant(Fr::from(CHALLENGE_TAG)), &transcript)?;
    let alpha = poseidon_t3(cs, &seed, &Lc::constant(Fr::one()))?;
    let beta = poseidon_t3(cs, &seed, &Lc::constant(Fr::from(2u64)))?;
    let gamma = poseidon_t3(cs, &seed, &Lc::constant(Fr::from(3u64)))?;

    // Σ_queries valid/(α − key − β·value − γ·tag) = Σ_entries m/(α − key − β·value −
    // γ·tag), tag 1 for W', 0 for X: X and W' entries never alias.
    let mut lhs = Lc::constant(Fr::zero());
    let term = |key: &Lc, value: &Lc, tag: &Lc, weight: &Lc| -> CsResult<Lc> {
        let denom = alpha.sub(key).sub(&cs.mul(&beta, value)?).sub(tag);
        let inv = denom.val.inverse().unwrap_or_default() * weight.val;
        let u = cs.witness(inv)?;
        cs.enforce(&u, &denom, weight)?;
        Ok(u)
    };
    for k in 0..CHUNK_VALUES {
        let zero = Lc::constant(Fr::zero());
        lhs = lhs.add(&term(&x_keys[k], &xs[k], &zero, &x_valid[k])?);
        if let Some(key) = w_keys.get(k) {
            lhs = lhs.add(&term(key, &ws[k], &gamma, &acc.mask[k])?);
        }
    }
    let mut rhs = Lc::constant(Fr::zero());
    for (s, (base, is_w, chunk)) in table.iter().enumerate() {
        let tag = cs.mul(is_w, &gamma)?;
        for i in 0..CHUNK_VALUES {
            let key = base.add_const(Fr::from(i as u64));
            rhs = rhs.add(&term(
                &key,
                &chunk.values[i],
                &tag,
                &mults[s * CHUNK_VALUES + i],
            )?);
        }
    }
    cs.assert_eq(&lhs.compact(), &rhs.compact())?;
    Ok(Window {
        acc,
        x: xs,
        inside: x_valid,
        w: ws,
    })
}
