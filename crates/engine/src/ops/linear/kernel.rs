//! Exact integer inner products, fast: the arithmetic of `Gemm` and `Conv`.
//!
//! Every kernel here stores, for each output, `rescale(acc, S)` ([`rescale`]) of the exact
//! integer `acc = bias·2^S + Σ_k a_k·b_k` over `i32` operands (`S` the weights' fractional
//! bits, `F` or more: `crate::fixed::weight_frac_bits`) — the integer a schoolbook
//! `i128` loop gives. Speed comes only from the order of the additions (packed panels,
//! register tiles, vector instructions), and the order cannot change the integer:
//!
//! * the caller picks the accumulator ([`Acc::for_bound`]) from a static bound
//!   `B ≥ |bias·2^S| + Σ_k |a_k·b_k|` on every output; every product and every partial sum,
//!   in any order, is at most `B` in magnitude, so `f64` is exact whenever `B ≤ 2^53`
//!   (every such integer is a `f64`, and IEEE 754 returns an exactly representable result
//!   unrounded), `i64` whenever `B ≤ i64::MAX`, and `i128` always (`B < 2^55 + K·2^62`);
//! * vector instructions are chosen at run time (`is_x86_feature_detected!`) and only
//!   compile the same Rust body for a wider instruction set: integer arithmetic is exact,
//!   so every machine computes the same outputs bit for bit.

use std::cell::Cell;

use crate::fixed::rescale;

/// Rows of `A` one register tile covers.
const MR: usize = 6;
/// Columns of `B` one register tile covers.
const NR: usize = 8;
/// Target bytes of packed `A` rows reused from L2 while `B` panels stream through L1.
const A_BLOCK_BYTES: usize = 128 << 10;
/// Target bytes of packed `B` columns kept in L2/L3 while all of `A` passes over them.
const B_BLOCK_BYTES: usize = 512 << 10;

/// The fixed-point scales around a product: each output is
/// `rescale(bias·2^lift + Σ_k a_k·b_k, shift)`. With activations at `2^-F`, weights at `2^-S`
/// and the bias at `2^-T` (`F ≤ T ≤ F + S`): `lift = F + S − T`, `shift = S`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Scale {
    /// Left shift of the bias onto the product's scale.
    pub lift: u32,
    /// Right shift (rounding half up, saturating) of the sum back to `2^-F`.
    pub shift: u32,
}

impl Scale {
    /// The scales of a product with weights at `2^-weight_frac_bits` and a bias at
    /// `2^-bias_frac_bits` (`F ≤ T ≤ F + S`).
    pub fn of(weight_frac_bits: u32, bias_frac_bits: u32) -> Scale {
        Scale {
            lift: (crate::fixed::FRAC_BITS + weight_frac_bits).saturating_sub(bias_frac_bits),
            shift: weight_frac_bits,
        }
    }
}

/// An exact accumulator for one node, chosen from a bound on its partial sums.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Acc {
    /// Every operand, product and partial sum is an integer of magnitude at most 2^53:
    /// `f64` holds each exactly, and its multiply-adds are the fastest exact ones.
    F64,
    /// Every partial sum fits `i64`.
    I64,
    /// The general case: `i128` holds any sum of fewer than 2^64 products of `i32`s.
    I128,
}

impl Acc {
    /// The accumulator for a node whose every output satisfies
    /// `|bias·2^S| + Σ_k |a_k·b_k| ≤ bound` (which bounds each product too).
    pub(crate) fn for_bound(bound: u128) -> Acc {
        if bound <= 1 << 53 {
            Acc::F64
        } else if bound <= i64::MAX as u128 {
            Acc::I64
        } else {
            Acc::I128
        }
    }
}

/// Runs `$body($args)`, compiled a second time with AVX2 and FMA enabled (`$fast`: the
/// same safe body) and taken where the CPU has them.
macro_rules! with_avx2 {
    ($body:ident, $fast:ident, ($($arg:expr),*)) => {{
        #[cfg(target_arch = "x86_64")]
        if std::is_x86_feature_detected!("avx2") && std::is_x86_feature_detected!("fma") {
            // SAFETY: `$fast` only enables AVX2 and FMA, which the CPU has (checked just
            // above), for a safe body.
            return unsafe { $fast($($arg),*) };
        }
        $body($($arg),*)
    }};
}

/// `max |v|` (0 for an empty slice).
pub(crate) fn max_abs(v: &[i32]) -> u128 {
    with_avx2!(max_abs_body, max_abs_fast, (v))
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn max_abs_fast(v: &[i32]) -> u128 {
    max_abs_body(v)
}

#[inline(always)]
fn max_abs_body(v: &[i32]) -> u128 {
    v.iter().map(|x| x.unsigned_abs()).max().unwrap_or(0) as u128
}

/// `Σ |v|`, exactly (in `u64` chunks that cannot overflow).
pub(crate) fn sum_abs(v: &[i32]) -> u128 {
    with_avx2!(sum_abs_body, sum_abs_fast, (v))
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn sum_abs_fast(v: &[i32]) -> u128 {
    sum_abs_body(v)
}

#[inline(always)]
fn sum_abs_body(v: &[i32]) -> u128 {
    let chunk = |c: &[i32]| c.iter().map(|x| x.unsigned_abs() as u64).sum::<u64>() as u128;
    v.chunks(1 << 32).map(chunk).sum()
}

/// `max_j Σ_i |m[i][j]|`: the largest column sum of absolute values (0 without columns;
/// at least 2^64 whenever the sum is).
pub(crate) fn max_col_abs_sum(m: Strided<'_>) -> u128 {
    with_avx2!(max_col_abs_sum_body, max_col_abs_sum_fast, (m))
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn max_col_abs_sum_fast(m: Strided<'_>) -> u128 {
    max_col_abs_sum_body(m)
}

#[inline(always)]
fn max_col_abs_sum_body(m: Strided<'_>) -> u128 {
    if m.rs == 1 {
        // Contiguous columns.
        let col = |j: usize| sum_abs_body(&m.data[j * m.cs..][..m.rows]);
        (0..m.cols).map(col).max().unwrap_or(0)
    } else {
        // Row by row, in u64: saturation only ever overstates a sum of 2^64 or more, which
        // picks the i128 accumulator all the same.
        let mut sums = vec![0u64; m.cols];
        let mut line = vec![0i32; m.cols];
        for i in 0..m.rows {
            m.row(i, 0, &mut line, |v| v);
            for (s, v) in sums.iter_mut().zip(&line) {
                *s = s.saturating_add(v.unsigned_abs() as u64);
            }
        }
        sums.into_iter().max().unwrap_or(0) as u128
    }
}

/// An exact accumulator ([`Acc`]) and the form operands are packed in for it.
trait Lane: Copy {
    /// Packed operand: `f64` for the float lanes (converted once, while packing), `i32`
    /// for the integer ones (widened as used).
    type Packed: Copy;
    /// `v` packed.
    fn pack(v: i32) -> Self::Packed;
    /// A packed value as an accumulator (the broadcast left operand of [`Lane::mac`]).
    fn of(v: Self::Packed) -> Self;
    /// Zero.
    fn zero() -> Self {
        Self::of(Self::pack(0))
    }
    /// `bias·2^lift` (`lift ≤ 31`, so it is exact in every lane under the caller's bound).
    fn bias(v: i32, lift: u32) -> Self;
    /// `self + a·b`, exactly (the caller's bound rules out overflow and rounding).
    fn mac(self, a: Self, b: Self::Packed) -> Self;
    /// `rescale(self, shift)`.
    fn finish(self, shift: u32) -> i32;
    /// `min(max(rescale(self, shift), lo), hi)` ([`clamp`]).
    #[inline(always)]
    fn finish_clamped(self, shift: u32, bounds: Clamp) -> i32 {
        clamp(self.finish(shift), bounds)
    }
    /// This thread's scratch memory for packed operands, taken out (empty the first time):
    /// kept between calls by [`Lane::keep`], so that packing writes to warm memory instead
    /// of fresh pages on every call.
    fn take() -> Vec<Self::Packed>;
    /// Gives the scratch memory back for the next call on this thread.
    fn keep(scratch: Vec<Self::Packed>);
}

thread_local! {
    /// Scratch of the `f64` lanes ([`Lane::take`]).
    static F64_SCRATCH: Cell<Vec<f64>> = const { Cell::new(Vec::new()) };
    /// Scratch of the integer lanes ([`Lane::take`]).
    static I32_SCRATCH: Cell<Vec<i32>> = const { Cell::new(Vec::new()) };
}

/// `len` values of `scratch`, grown if it is shorter (contents unspecified).
fn room<T: Copy>(scratch: &mut Vec<T>, len: usize, zero: T) -> &mut [T] {
    if scratch.len() < len {
        scratch.resize(len, zero);
    }
    &mut scratch[..len]
}

/// `f64` with separate multiply and add. Exact under [`Acc::F64`]'s bound: operands,
/// products and partial sums are integers of magnitude at most 2^53, which `f64`
/// represents exactly, and IEEE 754 rounds an exactly representable result to itself.
impl Lane for f64 {
    type Packed = f64;
    #[inline(always)]
    fn pack(v: i32) -> f64 {
        v as f64
    }
    #[inline(always)]
    fn of(v: f64) -> f64 {
        v
    }
    #[inline(always)]
    fn bias(v: i32, lift: u32) -> f64 {
        ((v as i64) << lift) as f64
    }
    #[inline(always)]
    fn mac(self, a: f64, b: f64) -> f64 {
        self + a * b
    }
    #[inline(always)]
    fn finish(self, shift: u32) -> i32 {
        rescale(self as i64 as i128, shift)
    }
    fn take() -> Vec<Self::Packed> {
        F64_SCRATCH.take()
    }
    fn keep(scratch: Vec<Self::Packed>) {
        F64_SCRATCH.set(scratch)
    }
}

/// `f64` with fused multiply-add (one rounding of an exact result, so exact for the same
/// reason as `f64`); only instantiated where the CPU has FMA.
#[derive(Clone, Copy)]
#[cfg_attr(not(target_arch = "x86_64"), allow(dead_code))]
struct Fma(f64);

impl Lane for Fma {
    type Packed = f64;
    #[inline(always)]
    fn pack(v: i32) -> f64 {
        v as f64
    }
    #[inline(always)]
    fn of(v: f64) -> Fma {
        Fma(v)
    }
    #[inline(always)]
    fn bias(v: i32, lift: u32) -> Fma {
        Fma(f64::bias(v, lift))
    }
    #[inline(always)]
    fn mac(self, a: Fma, b: f64) -> Fma {
        Fma(a.0.mul_add(b, self.0))
    }
    /// `rescale(v, S)` in vector-friendly `f64` arithmetic: `clamp(floor(v·2^-S + 1/2))`.
    /// Equal to [`rescale`] for every integer `|v| ≤ 2^53` and `1 ≤ S ≤ 31`: below 2^52,
    /// `v·2^-S` is exact (a power-of-two scaling) and so is adding 1/2 (the sum is a
    /// multiple of 2^-S below 2^(52-S), 52 significant bits), so the floor is
    /// `floor((v + 2^(S-1)) / 2^S)`; from 2^52 up both sides saturate (`S ≤ 31`).
    #[inline(always)]
    fn finish(self, shift: u32) -> i32 {
        let q = (self.0 * (1.0 / (1u64 << shift) as f64) + 0.5).floor();
        let q = q.clamp(i32::MIN as f64, i32::MAX as f64);
        // SAFETY: `q` is an integer in the `i32` range: the accumulator is a finite sum of
        // finite products of `i32`s (never NaN or infinite), and `q` is its clamped floor.
        // (A checked `as i32` would re-test for NaN and keep the compiler from vectorising.)
        unsafe { q.to_int_unchecked::<i32>() }
    }
    /// [`Fma::finish`] with the bounds applied in `f64` instead of the `i32` range:
    /// `min(max(q, lo), hi)` for the integer `q = floor(v·2^-S + 1/2)` and `i32` bounds
    /// (exact `f64`s). Equal to saturating `q` to `i32` and then clipping, for any `lo`,
    /// `hi`: `min(max(min(max(q, MIN), MAX), lo), hi) = min(max(q, lo), hi)` because
    /// `MIN ≤ lo` and `hi ≤ MAX` (and both sides are `hi` when `lo > hi`).
    #[inline(always)]
    fn finish_clamped(self, shift: u32, [lo, hi]: Clamp) -> i32 {
        let q = (self.0 * (1.0 / (1u64 << shift) as f64) + 0.5).floor();
        let (lo, hi) = (lo as f64, hi as f64);
        let q = if q < lo { lo } else { q };
        let q = if q > hi { hi } else { q };
        // SAFETY: `q` is an integer in the `i32` range: the accumulator is a finite sum of
        // finite products of `i32`s (never NaN or infinite), and `q` is its floor bounded by
        // `i32` values (`hi` last).
        unsafe { q.to_int_unchecked::<i32>() }
    }
    fn take() -> Vec<Self::Packed> {
        F64_SCRATCH.take()
    }
    fn keep(scratch: Vec<Self::Packed>) {
        F64_SCRATCH.set(scratch)
    }
}

/// The integer lanes: `i32` operands widened into an exact `$t` accumulator.
macro_rules! int_lane {
    ($t:ty) => {
        impl Lane for $t {
            type Packed = i32;
            #[inline(always)]
            fn pack(v: i32) -> i32 {
                v
            }
            #[inline(always)]
            fn of(v: i32) -> $t {
                v as $t
            }
            #[inline(always)]
            fn bias(v: i32, lift: u32) -> $t {
                (v as $t) << lift
            }
            #[inline(always)]
            fn mac(self, a: $t, b: i32) -> $t {
                self + a * b as $t
            }
            #[inline(always)]
            fn finish(self, shift: u32) -> i32 {
                rescale(self as i128, shift)
            }
            fn take() -> Vec<Self::Packed> {
                I32_SCRATCH.take()
            }
            fn keep(scratch: Vec<Self::Packed>) {
                I32_SCRATCH.set(scratch)
            }
        }
    };
}

int_lane!(i64);
int_lane!(i128);

/// Runs `$body::<L>($args)` with `L` the lane of accumulator `$acc`. Where the CPU has
/// AVX2 and FMA, the `f64` (as [`Fma`]) and `i64` instantiations run compiled for them
/// (`$fast`: the same safe body with those features enabled).
macro_rules! dispatch {
    ($acc:expr, $body:ident, $fast:ident, ($($arg:expr),*)) => {{
        #[cfg(target_arch = "x86_64")]
        if $acc != Acc::I128
            && std::is_x86_feature_detected!("avx2")
            && std::is_x86_feature_detected!("fma")
        {
            // SAFETY: `$fast` only enables AVX2 and FMA, which the CPU has (checked just
            // above), for a safe body.
            return unsafe {
                match $acc {
                    Acc::F64 => $fast::<Fma>($($arg),*),
                    _ => $fast::<i64>($($arg),*),
                }
            };
        }
        match $acc {
            Acc::F64 => $body::<f64>($($arg),*),
            Acc::I64 => $body::<i64>($($arg),*),
            Acc::I128 => $body::<i128>($($arg),*),
        }
    }};
}

/// A read-only `rows × cols` view of `i32` values: element `(r, c)` is `data[r·rs + c·cs]`.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Strided<'a> {
    /// The values.
    pub data: &'a [i32],
    /// Number of rows.
    pub rows: usize,
    /// Number of columns.
    pub cols: usize,
    /// Distance between consecutive rows.
    pub rs: usize,
    /// Distance between consecutive columns.
    pub cs: usize,
}

impl Strided<'_> {
    /// The transposed view.
    fn t(self) -> Self {
        Strided {
            rows: self.cols,
            cols: self.rows,
            rs: self.cs,
            cs: self.rs,
            ..self
        }
    }
}

/// A matrix read by row segments: the right-hand operand of [`gemm`] (a [`Strided`] view,
/// or the virtual im2col matrix of a convolution).
pub(crate) trait Rows {
    /// `(rows, cols)`.
    fn dims(&self) -> (usize, usize);
    /// Writes `pack(self[r][c0 + i])` into `dst[i]` for every `i < dst.len()`.
    fn row<T: Copy>(&self, r: usize, c0: usize, dst: &mut [T], pack: impl Fn(i32) -> T);

    /// Packs columns `c0..c1` into panels of `W` columns, row-major inside a panel:
    /// `out[(p·rows + r)·W + l] = pack(self[r][c0 + p·W + l])`, `pack(0)` past `c1` (`out`
    /// holds exactly the panels, `line` is scratch of at least `c1 − c0` values). Row by
    /// row ([`pack_rows`]) unless the matrix knows a better order.
    #[inline(always)]
    fn panels<T: Copy, const W: usize>(
        &self,
        cols: [usize; 2],
        out: &mut [T],
        line: &mut [T],
        pack: impl Fn(i32) -> T,
    ) {
        pack_rows::<Self, T, W>(self, cols, out, line, pack)
    }
}

impl Rows for Strided<'_> {
    fn dims(&self) -> (usize, usize) {
        (self.rows, self.cols)
    }

    #[inline(always)]
    fn row<T: Copy>(&self, r: usize, c0: usize, dst: &mut [T], pack: impl Fn(i32) -> T) {
        let start = r * self.rs + c0 * self.cs;
        if self.cs == 1 {
            let src = &self.data[start..][..dst.len()];
            for (d, &v) in dst.iter_mut().zip(src) {
                *d = pack(v);
            }
        } else {
            for (i, d) in dst.iter_mut().enumerate() {
                *d = pack(self.data[start + i * self.cs]);
            }
        }
    }

    /// Column by column when columns are contiguous (rows are not): each column is read
    /// in order and written with stride `W` inside its panel.
    #[inline(always)]
    fn panels<T: Copy, const W: usize>(
        &self,
        [c0, c1]: [usize; 2],
        out: &mut [T],
        line: &mut [T],
        pack: impl Fn(i32) -> T,
    ) {
        if self.cs == 1 {
            // Contiguous rows: each row segment straight into its panels.
            let row = |r: usize| &self.data[r * self.rs + c0..][..c1 - c0];
            return pack_contiguous::<T, W>(row, self.rows, out, pack);
        }
        if self.rs != 1 || self.rows == 0 {
            return pack_rows::<Self, T, W>(self, [c0, c1], out, line, pack);
        }
        let rows = self.rows;
        for (p, panel) in out.chunks_exact_mut(rows * W).enumerate() {
            for l in 0..W {
                let c = c0 + p * W + l;
                let dst = panel.iter_mut().skip(l).step_by(W);
                if c < c1 {
                    for (d, &v) in dst.zip(&self.data[c * self.cs..][..rows]) {
                        *d = pack(v);
                    }
                } else {
                    dst.for_each(|d| *d = pack(0));
                }
            }
        }
    }
}

/// [`Rows::panels`] of a matrix whose row segments are contiguous (`row(r)`: the `c1 − c0`
/// values of row `r` from column `c0`): each is packed straight into its panels.
#[inline(always)]
pub(crate) fn pack_contiguous<'a, T: Copy, const W: usize>(
    row: impl Fn(usize) -> &'a [i32],
    rows: usize,
    out: &mut [T],
    pack: impl Fn(i32) -> T,
) {
    for r in 0..rows {
        let full = row(r).chunks_exact(W);
        let (tail, last) = (full.remainder(), full.len());
        for (p, chunk) in full.enumerate() {
            for (o, &v) in out[(p * rows + r) * W..][..W].iter_mut().zip(chunk) {
                *o = pack(v);
            }
        }
        if !tail.is_empty() {
            let dst = &mut out[(last * rows + r) * W..][..W];
            for (i, o) in dst.iter_mut().enumerate() {
                *o = pack(tail.get(i).copied().unwrap_or(0));
            }
        }
    }
}

/// [`Rows::panels`] row by row: each row segment is read once ([`Rows::row`]) and cut into
/// the panels.
#[inline(always)]
pub(crate) fn pack_rows<R: Rows + ?Sized, T: Copy, const W: usize>(
    src: &R,
    [c0, c1]: [usize; 2],
    out: &mut [T],
    line: &mut [T],
    pack: impl Fn(i32) -> T,
) {
    let rows = src.dims().0;
    let line = &mut line[..c1 - c0];
    for r in 0..rows {
        src.row(r, c0, line, &pack);
        let full = line.chunks_exact(W);
        let (tail, last) = (full.remainder(), full.len());
        for (p, chunk) in full.enumerate() {
            out[(p * rows + r) * W..][..W].copy_from_slice(chunk);
        }
        if !tail.is_empty() {
            let dst = &mut out[(last * rows + r) * W..][..W];
            for (i, o) in dst.iter_mut().enumerate() {
                *o = tail.get(i).copied().unwrap_or(pack(0));
            }
        }
    }
}

/// The bias added (times `2^lift`, [`Scale`]) to output `(i, j)` of a [`gemm`].
#[derive(Clone, Copy, Debug)]
pub(crate) enum Bias<'a> {
    /// No bias.
    None,
    /// `bias[i]`: one value per output row (a convolution's output channel).
    Row(&'a [i32]),
    /// `bias[i·cols + j]`: a full matrix.
    Full(&'a [i32]),
}

impl Bias<'_> {
    /// The bias of output `(i, j)` of a product with `cols` columns.
    #[inline(always)]
    fn at(&self, i: usize, j: usize, cols: usize) -> i32 {
        match self {
            Bias::None => 0,
            Bias::Row(b) => b[i],
            Bias::Full(b) => b[i * cols + j],
        }
    }

    /// `bias·2^lift` of the register tile at `(i0, j0)` (`rows × cols` of it inside the
    /// product, which has `cols_all` columns; zero elsewhere).
    #[inline(always)]
    fn tile<L: Lane>(
        &self,
        i0: usize,
        j0: usize,
        rows: usize,
        cols: usize,
        cols_all: usize,
        lift: u32,
    ) -> [[L; NR]; MR] {
        let mut t = [[L::zero(); NR]; MR];
        for (i, row) in t.iter_mut().enumerate().take(rows) {
            for (j, v) in row.iter_mut().enumerate().take(cols) {
                *v = L::bias(self.at(i0 + i, j0 + j, cols_all), lift);
            }
        }
        t
    }
}

/// One register tile: `acc[i][j] + Σ_k a[k][i]·b[k][j]` over packed panels
/// (`a`: `MR` values per `k`, `b`: `NR` values per `k`).
#[inline(always)]
fn tile<L: Lane>(a: &[L::Packed], b: &[L::Packed], mut acc: [[L; NR]; MR]) -> [[L; NR]; MR] {
    for (ak, bk) in a.chunks_exact(MR).zip(b.chunks_exact(NR)) {
        for (row, &x) in acc.iter_mut().zip(ak) {
            let x = L::of(x);
            for (c, &y) in row.iter_mut().zip(bk) {
                *c = c.mac(x, y);
            }
        }
    }
    acc
}

/// `out[i·ldo + j] = rescale(bias(i, j)·2^L + Σ_k a[i][k]·b[k][j], S)` (`L`, `S`: [`Scale`]) for
/// every `i < a.rows`, `j < b.cols`, exactly, with accumulator `acc` (see the module
/// documentation for why the order of the sum is free). `a.cols` must equal `b`'s row count.
pub(crate) fn gemm(
    acc: Acc,
    a: Strided<'_>,
    b: &impl Rows,
    (bias, scale): (Bias<'_>, Scale),
    out: &mut [i32],
    ldo: usize,
) {
    dispatch!(
        acc,
        gemm_body,
        gemm_fast,
        (Left::Strided(a), b, (bias, scale), NO_CLAMP, out, ldo)
    )
}

/// Bounds `[lo, hi]` a kernel applies to each output after the rescale, as
/// `min(max(v, lo), hi)`: an ONNX `Clip` (or `Relu`, `[0, i32::MAX]`) fused into the
/// product by [`crate::evaluate`], the same integers as clipping afterwards.
pub(crate) type Clamp = [i32; 2];

/// No bounds: every `i32` is kept.
pub(crate) const NO_CLAMP: Clamp = [i32::MIN, i32::MAX];

/// `min(max(v, lo), hi)`, as ONNX `Clip` (and [`crate::ops::Clip`]) computes it.
#[inline(always)]
fn clamp(v: i32, [lo, hi]: Clamp) -> i32 {
    v.max(lo).min(hi)
}

/// The left operand `A` (`m × k`) of the [`gemm`] kernels: a view to pack on every call,
/// or panels packed once ([`Panels`]).
#[derive(Clone, Copy)]
enum Left<'a, P> {
    /// Packed into scratch memory by the call.
    Strided(Strided<'a>),
    /// Already packed, as [`Panels::data`] holds them.
    Packed {
        panels: &'a [P],
        rows: usize,
        cols: usize,
    },
}

/// A left operand `A` (`rows × cols`) packed once for the `f64` accumulator, in the layout
/// [`gemm`] packs it into on every call: `MR`-row panels, `k`-major inside a panel
/// (`data[(p·cols + k)·MR + i] = A[p·MR + i][k]`, zero past the last row). Constant weights
/// are packed once per program ([`crate::exec`]) instead of once per call.
#[derive(Clone, Debug, Default)]
pub(crate) struct Panels {
    /// The packed values (integers, exactly representable: `|v| ≤ 2^31`).
    data: Vec<f64>,
    /// Rows of `A`.
    rows: usize,
    /// Columns of `A` (the inner dimension).
    cols: usize,
}

impl Panels {
    /// `a` packed for the `f64` lanes (`v as f64` is exact for every `i32`).
    pub(crate) fn pack(a: Strided<'_>) -> Panels {
        let (m, k) = (a.rows, a.cols);
        let mut data = vec![0.0; m.div_ceil(MR) * MR * k];
        let mut line = vec![0.0; m];
        a.t()
            .panels::<f64, MR>([0, m], &mut data, &mut line, |v| v as f64);
        Panels {
            data,
            rows: m,
            cols: k,
        }
    }
}

/// [`gemm`] with the left operand packed beforehand ([`Panels`]), for the [`Acc::F64`]
/// accumulator only (the caller's bound must pick it): the same sums, without packing `A`.
pub(crate) fn gemm_packed(
    a: &Panels,
    b: &impl Rows,
    epilogue: (Bias<'_>, Scale),
    bounds: Clamp,
    out: &mut [i32],
    ldo: usize,
) {
    let left = Left::Packed {
        panels: &a.data,
        rows: a.rows,
        cols: a.cols,
    };
    #[cfg(target_arch = "x86_64")]
    if std::is_x86_feature_detected!("avx2") && std::is_x86_feature_detected!("fma") {
        // SAFETY: `gemm_fast` only enables AVX2 and FMA, which the CPU has (checked just
        // above), for a safe body.
        return unsafe { gemm_fast::<Fma>(left, b, epilogue, bounds, out, ldo) };
    }
    gemm_body::<f64>(left, b, epilogue, bounds, out, ldo)
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn gemm_fast<L: Lane>(
    a: Left<'_, L::Packed>,
    b: &impl Rows,
    epilogue: (Bias<'_>, Scale),
    bounds: Clamp,
    out: &mut [i32],
    ldo: usize,
) {
    gemm_body::<L>(a, b, epilogue, bounds, out, ldo)
}

/// The blocked product: `A` packed once into `MR`-row panels (or given packed); `B` packed
/// block by block into `NR`-column panels; each pair of panels is one register [`tile`]
/// over all of `K`. Loop order keeps a block of `A` panels in L2 while one `B` panel sits
/// in L1.
#[inline(always)]
fn gemm_body<L: Lane>(
    a: Left<'_, L::Packed>,
    b: &impl Rows,
    (bias, scale): (Bias<'_>, Scale),
    bounds: Clamp,
    out: &mut [i32],
    ldo: usize,
) {
    let (m, k) = match a {
        Left::Strided(a) => (a.rows, a.cols),
        Left::Packed { rows, cols, .. } => (rows, cols),
    };
    let (kb, n) = b.dims();
    assert_eq!(k, kb, "gemm: inner dimensions");
    let line_bytes = k.max(1) * std::mem::size_of::<L::Packed>();
    let a_block = (A_BLOCK_BYTES / (line_bytes * MR)).max(1);
    let b_block = (B_BLOCK_BYTES / (line_bytes * NR)).max(1) * NR;
    let a_panels = m.div_ceil(MR);
    let a_len = match a {
        Left::Strided(_) => a_panels * MR * k,
        Left::Packed { .. } => 0,
    };
    let b_cols = b_block.min(n.div_ceil(NR) * NR);
    let mut scratch = L::take();
    let buf = room(&mut scratch, a_len + b_cols * k + m.max(b_cols), L::pack(0));
    let (ap, rest) = buf.split_at_mut(a_len);
    let (bp, line) = rest.split_at_mut(b_cols * k);
    let ap: &[L::Packed] = match a {
        Left::Strided(a) => {
            a.t().panels::<_, MR>([0, m], ap, line, L::pack);
            ap
        }
        Left::Packed { panels, .. } => {
            assert_eq!(panels.len(), a_panels * MR * k, "gemm: packed panels");
            panels
        }
    };
    // Per-row bias·2^lift (zero for a full-matrix bias, added tile by tile instead).
    let row_bias: Vec<L> = (0..a_panels * MR)
        .map(|i| match bias {
            Bias::Row(b) if i < m => L::bias(b[i], scale.lift),
            _ => L::zero(),
        })
        .collect();
    for c0 in (0..n).step_by(b_block) {
        let c1 = (c0 + b_block).min(n);
        let b_panels = (c1 - c0).div_ceil(NR);
        b.panels::<_, NR>([c0, c1], &mut bp[..b_panels * k * NR], line, L::pack);
        for p0 in (0..a_panels).step_by(a_block) {
            for q in 0..b_panels {
                let bq = &bp[q * k * NR..][..k * NR];
                let j0 = c0 + q * NR;
                let cols = NR.min(n - j0);
                for p in p0..(p0 + a_block).min(a_panels) {
                    let i0 = p * MR;
                    let rows = MR.min(m - i0);
                    let init = match bias {
                        Bias::Full(_) => bias.tile::<L>(i0, j0, rows, cols, n, scale.lift),
                        _ => {
                            let b: &[L; MR] = row_bias[i0..].first_chunk().expect("MR rows");
                            std::array::from_fn(|i| [b[i]; NR])
                        }
                    };
                    let acc = tile(&ap[p * k * MR..][..k * MR], bq, init);
                    if rows == MR && cols == NR {
                        for (i, row) in acc.iter().enumerate() {
                            let dst = &mut out[(i0 + i) * ldo + j0..][..NR];
                            *dst.first_chunk_mut::<NR>().expect("NR values") =
                                row.map(|v| v.finish_clamped(scale.shift, bounds));
                        }
                    } else {
                        for (i, row) in acc.iter().enumerate().take(rows) {
                            let dst = &mut out[(i0 + i) * ldo + j0..][..cols];
                            for (d, v) in dst.iter_mut().zip(row) {
                                *d = v.finish_clamped(scale.shift, bounds);
                            }
                        }
                    }
                }
            }
        }
    }
    L::keep(scratch);
}

/// `out[i·ldo + j] = rescale(bias(i, j)·2^L + Σ_k a[i][k]·b[k][j], S)` like [`gemm`], for few
/// rows: each output row is `B`'s columns dotted with one row of `A` (when `B`'s columns are
/// contiguous) or a sum of `B`'s rows scaled by it (otherwise), with no packing of `B`.
pub(crate) fn gemv(
    acc: Acc,
    a: Strided<'_>,
    b: Strided<'_>,
    epilogue: (Bias<'_>, Scale),
    out: &mut [i32],
    ldo: usize,
) {
    dispatch!(acc, gemv_body, gemv_fast, (a, b, epilogue, out, ldo))
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn gemv_fast<L: Lane>(
    a: Strided<'_>,
    b: Strided<'_>,
    epilogue: (Bias<'_>, Scale),
    out: &mut [i32],
    ldo: usize,
) {
    gemv_body::<L>(a, b, epilogue, out, ldo)
}

/// The row-by-row product behind [`gemv`].
#[inline(always)]
fn gemv_body<L: Lane>(
    a: Strided<'_>,
    b: Strided<'_>,
    (bias, scale): (Bias<'_>, Scale),
    out: &mut [i32],
    ldo: usize,
) {
    let (m, k, n) = (a.rows, a.cols, b.cols);
    assert_eq!(k, b.rows, "gemv: inner dimensions");
    let mut x = vec![L::pack(0); k];
    let mut line = vec![0i32; n];
    let mut sums = vec![L::zero(); n];
    for i in 0..m {
        a.row(i, 0, &mut x, L::pack);
        for (j, s) in sums.iter_mut().enumerate() {
            *s = L::bias(bias.at(i, j, n), scale.lift);
        }
        if b.rs == 1 {
            // Column j of B is contiguous: one dot product per output.
            for (j, s) in sums.iter_mut().enumerate() {
                *s = dot(*s, &x, &b.data[j * b.cs..][..k]);
            }
        } else {
            // Rows of B: the output row gains x[k]·B[k][..] for each k.
            for (kk, &xv) in x.iter().enumerate() {
                b.row(kk, 0, &mut line, |v| v);
                let xv = L::of(xv);
                for (s, &y) in sums.iter_mut().zip(&line) {
                    *s = s.mac(xv, L::pack(y));
                }
            }
        }
        for (d, s) in out[i * ldo..][..n].iter_mut().zip(&sums) {
            *d = s.finish(scale.shift);
        }
    }
}

/// Independent partial sums of [`dot`] (enough to keep the vector units busy).
const DOT_LANES: usize = 16;

/// `init + Σ x[k]·y[k]`, in `DOT_LANES` independent partial sums (which the compiler maps
/// onto vector registers), added up at the end.
#[inline(always)]
fn dot<L: Lane>(init: L, x: &[L::Packed], y: &[i32]) -> L {
    let mut lanes = [L::zero(); DOT_LANES];
    let (xc, yc) = (x.chunks_exact(DOT_LANES), y.chunks_exact(DOT_LANES));
    let (xr, yr) = (xc.remainder(), yc.remainder());
    for (xs, ys) in xc.zip(yc) {
        for ((l, &a), &b) in lanes.iter_mut().zip(xs).zip(ys) {
            *l = l.mac(L::of(a), L::pack(b));
        }
    }
    let mut s = init;
    for (&a, &b) in xr.iter().zip(yr) {
        s = s.mac(L::of(a), L::pack(b));
    }
    let one = L::pack(1);
    for l in lanes {
        s = s.mac(l, one);
    }
    s
}

/// The geometry of one single-channel convolution plane: input `h × w`, output `oh × ow`,
/// kernel, strides, dilations and the top/left padding (padding reads zero).
#[derive(Clone, Copy, Debug)]
pub(crate) struct Window {
    /// Input height and width.
    pub input: [usize; 2],
    /// Output height and width.
    pub output: [usize; 2],
    /// `[kh, kw]`.
    pub kernel: [usize; 2],
    /// `[sh, sw]`.
    pub strides: [usize; 2],
    /// `[dh, dw]`.
    pub dilations: [usize; 2],
    /// `[top, left]` padding.
    pub pad: [usize; 2],
}

/// A convolution in which every output channel reads a single input channel
/// (`C/group = 1`: depthwise, or a one-channel input). Plane `g < planes` of `image`
/// (`h × w`) feeds output planes `j` in `g·per_plane..(g + 1)·per_plane`:
/// `out[j][oy][ox] = rescale(bias[j]·2^L + Σ_{ky,kx} w[j][ky][kx]·x[g][oy·sh + ky·dh − top]
/// [ox·sw + kx·dw − left], S)` (`L`, `S`: [`Scale`]), padding reading zero.
pub(crate) fn single_channel(
    acc: Acc,
    win: &Window,
    [planes, per_plane]: [usize; 2],
    image: &[i32],
    weights: &[i32],
    (bias, scale, bounds): (Option<&[i32]>, Scale, Clamp),
    out: &mut [i32],
) {
    dispatch!(
        acc,
        single_channel_body,
        single_channel_fast,
        (
            win,
            [planes, per_plane],
            image,
            weights,
            (bias, scale, bounds),
            out
        )
    )
}

mod plane;

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn single_channel_fast<L: Lane>(
    win: &Window,
    [planes, per_plane]: [usize; 2],
    image: &[i32],
    weights: &[i32],
    epilogue: (Option<&[i32]>, Scale, Clamp),
    out: &mut [i32],
) {
    plane::body::<L>(win, [planes, per_plane], image, weights, epilogue, out)
}

/// `dst[t] = src[t·S]`, packed (`src` holds at least `(dst.len() − 1)·S + 1` values). The
/// constant stride lets the compiler vectorise the common strides 1 and 2.
#[inline(always)]
fn every<L: Lane, const S: usize>(dst: &mut [L::Packed], src: &[i32]) {
    let full = src.chunks_exact(S);
    let tail = full.remainder().first();
    let n = full.len();
    for (d, run) in dst.iter_mut().zip(full) {
        *d = L::pack(run[0]);
    }
    if let (Some(d), Some(&v)) = (dst.get_mut(n), tail) {
        *d = L::pack(v);
    }
}

/// `dst[t] = src[t·stride]`, packed: [`every`] with the strides 1 and 2 made constant.
#[inline(always)]
fn every_nth<L: Lane>(dst: &mut [L::Packed], src: &[i32], stride: usize) {
    match stride {
        1 => every::<L, 1>(dst, src),
        2 => every::<L, 2>(dst, src),
        _ => {
            for (d, run) in dst.iter_mut().zip(src.chunks(stride)) {
                *d = L::pack(run[0]);
            }
        }
    }
}

/// [`single_channel`] without AVX2: the same body ([`plane::body`]).
fn single_channel_body<L: Lane>(
    win: &Window,
    [planes, per_plane]: [usize; 2],
    image: &[i32],
    weights: &[i32],
    epilogue: (Option<&[i32]>, Scale, Clamp),
    out: &mut [i32],
) {
    plane::body::<L>(win, [planes, per_plane], image, weights, epilogue, out)
}

/// Outputs of one row [`single_channel_rows`] computes together ([`runs`]).
#[cfg(test)]
const LANES: usize = 16;

/// The previous direct convolution behind [`single_channel`], kept as a test reference for
/// [`plane::body`]: one output row at a time. Each input plane, padded, is split by
/// column phase (phase `q` holds padded columns `q, q + sw, q + 2·sw, …`), so that for every
/// tap `(ky, kx)` the inputs of neighbouring outputs of a row are a contiguous run of one
/// phase row: each run of outputs is a sum over taps of scaled contiguous runs ([`runs`]).
#[cfg(test)]
fn single_channel_rows<L: Lane>(
    win: &Window,
    [planes, per_plane]: [usize; 2],
    image: &[i32],
    weights: &[i32],
    (bias, scale): (Option<&[i32]>, Scale),
    out: &mut [i32],
) {
    let ([h, w], [oh, ow]) = (win.input, win.output);
    let ([kh, kw], [sh, sw], [dh, dw]) = (win.kernel, win.strides, win.dilations);
    let [top, left] = win.pad;
    let taps_per_out = kh * kw;
    // Padded width: every column a window reads (the output size guarantees it exists).
    let wp = (w + left).max((ow.max(1) - 1) * sw + (kw - 1) * dw + 1);
    // Phase q: padded columns q + t·sw for t < len(q), in rows of stride(q) (LANES zeros
    // past the end, so a run of LANES outputs never reads outside its row), h rows each.
    let len = |q: usize| (wp - q.min(wp)).div_ceil(sw);
    let stride = |q: usize| len(q) + LANES;
    let offsets: Vec<usize> = (0..sw)
        .map(|q| (0..q).map(|p| h * stride(p)).sum())
        .collect();
    let size = (0..sw).map(|q| h * stride(q)).sum();
    // Column tap kx reads phase (kx·dw) mod sw from index (kx·dw) / sw on: its run for
    // input row iy starts at `start + iy·step`.
    let (start, step): (Vec<usize>, Vec<usize>) = (0..kw)
        .map(|kx| {
            let q = (kx * dw) % sw;
            (offsets[q] + (kx * dw) / sw, stride(q))
        })
        .unzip();
    // Columns t·sw + q − left inside [0, w): t in lo(q)..hi(q); the rest of a phase row
    // is padding, zero.
    let lo = |q: usize| left.saturating_sub(q).div_ceil(sw).min(len(q));
    let hi = |q: usize| {
        (w + left)
            .saturating_sub(q)
            .div_ceil(sw)
            .clamp(lo(q), len(q))
    };
    let mut scratch = L::take();
    let phases = room(&mut scratch, size, L::pack(0));
    for g in 0..planes {
        let plane = &image[g * h * w..][..h * w];
        for q in 0..sw {
            let (lo, hi) = (lo(q), hi(q));
            let rows = phases[offsets[q]..][..h * stride(q)].chunks_exact_mut(stride(q));
            for (iy, dst) in rows.enumerate() {
                let (pad_left, rest) = dst.split_at_mut(lo);
                let (dst, pad_right) = rest.split_at_mut(hi - lo);
                pad_left.fill(L::pack(0));
                pad_right.fill(L::pack(0));
                if lo < hi {
                    // t ≥ lo, so the first column is not left of the plane.
                    let src = &plane[iy * w..][..w][lo * sw + q - left..];
                    every_nth::<L>(dst, src, sw);
                }
            }
        }
        let phases: &[L::Packed] = phases;
        // The taps of one output row that read inside the plane (the others read padding):
        // weight and the phase row its run of inputs starts in.
        let mut live: Vec<(L, &[L::Packed])> = Vec::with_capacity(taps_per_out);
        for j in g * per_plane..(g + 1) * per_plane {
            let b = L::bias(bias.map_or(0, |b| b[j]), scale.lift);
            let taps = &weights[j * taps_per_out..][..taps_per_out];
            for oy in 0..oh {
                live.clear();
                for ky in 0..kh {
                    let Some(iy) = (oy * sh + ky * dh).checked_sub(top).filter(|iy| *iy < h) else {
                        continue;
                    };
                    for kx in 0..kw {
                        let run = &phases[start[kx] + iy * step[kx]..][..ow + LANES];
                        live.push((L::of(L::pack(taps[ky * kw + kx])), run));
                    }
                }
                let dst = &mut out[(j * oh + oy) * ow..][..ow];
                runs::<L, LANES>(b, &live, dst, scale.shift);
            }
        }
    }
    L::keep(scratch);
}

/// One output row of [`single_channel_rows`]: `dst[ox] = rescale(b + Σ_taps w·run[ox], shift)` for
/// the row's live taps `(w, run)` (each `run` holding at least `dst.len() + N` values), in
/// runs of `N` outputs held in registers (independent sums for the vector units) until
/// finished. When the row is longer than one run, the last run ends at the row's end
/// (overlapping its predecessor, recomputing the same values), so every run is stored whole.
#[cfg(test)]
fn runs<L: Lane, const N: usize>(b: L, live: &[(L, &[L::Packed])], dst: &mut [i32], shift: u32) {
    let ow = dst.len();
    for c0 in (0..ow).step_by(N).map(|c| c.min(ow.saturating_sub(N))) {
        let mut acc = [b; N];
        for &(wv, run) in live {
            for (a, &v) in acc.iter_mut().zip(&run[c0..c0 + N]) {
                *a = a.mac(wv, v);
            }
        }
        match dst[c0..].first_chunk_mut::<N>() {
            Some(run) => *run = acc.map(|a| a.finish(shift)),
            None => {
                for (d, a) in dst[c0..].iter_mut().zip(&acc) {
                    *d = a.finish(shift);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fixed::FRAC_BITS;

    /// xorshift64: a fixed, dependency-free stream of test values.
    struct Rng(u64);

    impl Rng {
        fn next(&mut self) -> u64 {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 7;
            self.0 ^= self.0 << 17;
            self.0
        }
        /// Uniform in `[-2^bits, 2^bits)`, `bits ≤ 31`.
        fn value(&mut self, bits: u32) -> i32 {
            ((self.next() as i64) >> (63 - bits)) as i32
        }
        fn below(&mut self, n: usize) -> usize {
            (self.next() % n as u64) as usize
        }
    }

    /// The schoolbook product in `i128`: what every lane must give.
    fn naive(a: Strided<'_>, b: Strided<'_>, (bias, scale): (Bias<'_>, Scale)) -> Vec<i32> {
        let mut out = Vec::new();
        for i in 0..a.rows {
            for j in 0..b.cols {
                let mut acc = (bias.at(i, j, b.cols) as i128) << scale.lift;
                for k in 0..a.cols {
                    acc +=
                        a.data[i * a.rs + k * a.cs] as i128 * b.data[k * b.rs + j * b.cs] as i128;
                }
                out.push(rescale(acc, scale.shift));
            }
        }
        out
    }

    /// Scales with a shift from `F` to the largest weight scale and lifts from 0 up to it,
    /// and the bias size `2^bits` whose `bias·2^lift` stays within the `2^43` that
    /// [`widest`] leaves for it.
    fn scale_and_bias_bits(case: usize) -> (Scale, u32) {
        let shift =
            FRAC_BITS + (case as u32 % (crate::fixed::MAX_WEIGHT_FRAC_BITS - FRAC_BITS + 1));
        let lift = (case as u32 / 3) % (shift + 1);
        (Scale { lift, shift }, (43 - lift).min(31))
    }

    /// The largest operand size `2^bits` for which `k` products and a full-range bias stay
    /// within `lane`'s bound: operands at the edge of what each lane is chosen for.
    fn widest(lane: Acc, k: usize) -> u32 {
        let bound = |bits: u32| (1u128 << 43) + k as u128 * (1u128 << (2 * bits));
        (0..=31)
            .rev()
            .find(|b| Acc::for_bound(bound(*b)) == lane)
            .unwrap_or(31)
    }

    fn view(data: &[i32], rows: usize, cols: usize, transposed: bool) -> Strided<'_> {
        let (rs, cs) = if transposed { (1, rows) } else { (cols, 1) };
        Strided {
            data,
            rows,
            cols,
            rs,
            cs,
        }
    }

    /// Every lane type, both products and both compilations (portable, AVX2+FMA) against
    /// the schoolbook sum, on sizes crossing the tile and cache blocks, with operands as
    /// large as each lane's bound allows.
    #[test]
    fn every_lane_equals_the_schoolbook_product() {
        let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
        let shapes = [
            (1, 1, 1),
            (3, 0, 5),
            (5, 7, 9),
            (13, 40, 17),
            (130, 600, 1000),
        ];
        for (case, (m, k, n)) in shapes.into_iter().enumerate() {
            for lane in [Acc::F64, Acc::I64, Acc::I128] {
                let bits = widest(lane, k);
                let (scale, bias_bits) = scale_and_bias_bits(case * 7 + lane as usize);
                let ta = rng.next() & 1 == 1;
                let tb = rng.next() & 1 == 1;
                let ad: Vec<i32> = (0..m * k).map(|_| rng.value(bits)).collect();
                let bd: Vec<i32> = (0..k * n).map(|_| rng.value(bits)).collect();
                let cd: Vec<i32> = (0..m * n).map(|_| rng.value(bias_bits)).collect();
                let (a, b) = (view(&ad, m, k, ta), view(&bd, k, n, tb));
                let bias = (Bias::Full(&cd), scale);
                let want = naive(a, b, bias);
                let mut runs: Vec<(&str, Vec<i32>)> = Vec::new();
                let mut run = |name, f: &dyn Fn(&mut [i32])| {
                    let mut out = vec![0; m * n];
                    f(&mut out);
                    runs.push((name, out));
                };
                run("gemm", &|o| gemm(lane, a, &b, bias, o, n));
                run("gemv", &|o| gemv(lane, a, b, bias, o, n));
                run("gemm i128", &|o| {
                    gemm_body::<i128>(Left::Strided(a), &b, bias, NO_CLAMP, o, n)
                });
                if lane != Acc::I128 {
                    run("gemm i64", &|o| {
                        gemm_body::<i64>(Left::Strided(a), &b, bias, NO_CLAMP, o, n)
                    });
                    run("gemv i64", &|o| gemv_body::<i64>(a, b, bias, o, n));
                }
                if lane == Acc::F64 {
                    run("gemm f64", &|o| {
                        gemm_body::<f64>(Left::Strided(a), &b, bias, NO_CLAMP, o, n)
                    });
                    run("gemm packed", &|o| {
                        gemm_packed(&Panels::pack(a), &b, bias, NO_CLAMP, o, n)
                    });
                    run("gemv f64", &|o| gemv_body::<f64>(a, b, bias, o, n));
                }
                for (name, got) in runs {
                    assert_eq!(got, want, "{name} {lane:?} m {m} k {k} n {n} {scale:?}");
                }
            }
        }
    }

    /// The float rescale of [`Fma`] is [`rescale`] on every integer up to 2^53: around
    /// zero, every rounding tie near the saturation edges, and the top of the range; and
    /// with output clips, the clipped [`rescale`].
    #[test]
    fn fma_finish_is_rescale() {
        let mut rng = Rng(7);
        // Output clips: none, Relu, Relu6 at `F`, tight, empty (`lo > hi`), at the edges.
        let clamps = [
            NO_CLAMP,
            [0, i32::MAX],
            [0, 6 << FRAC_BITS],
            [-1, 1],
            [5, -5],
            [i32::MIN, i32::MIN],
            [i32::MAX, i32::MAX],
            [i32::MAX, i32::MIN],
        ];
        for shift in FRAC_BITS..=crate::fixed::MAX_WEIGHT_FRAC_BITS {
            let half = 1i64 << (shift - 1);
            let mut centres = vec![0, half, 1 << 40, 1 << 52, 1 << 53];
            centres.extend([i32::MAX as i64, i32::MIN as i64].map(|q| (q << shift) + half));
            centres.extend([i32::MAX as i64 + 1, i32::MIN as i64 - 1].map(|q| q << shift));
            centres.extend((0..2_000).map(|_| (rng.next() >> 11) as i64));
            for c in centres {
                for d in -4..=4 {
                    for v in [c + d, -(c + d)] {
                        if v.unsigned_abs() > 1 << 53 {
                            continue;
                        }
                        let want = rescale(v as i128, shift);
                        assert_eq!(Fma(v as f64).finish(shift), want, "{v} >> {shift}");
                        assert_eq!((v as f64).finish(shift), want, "{v} >> {shift}");
                        for bounds in clamps {
                            let want = clamp(want, bounds);
                            let got = Fma(v as f64).finish_clamped(shift, bounds);
                            assert_eq!(got, want, "{v} >> {shift} in {bounds:?}");
                            let got = (v as f64).finish_clamped(shift, bounds);
                            assert_eq!(got, want, "{v} >> {shift} in {bounds:?}");
                        }
                    }
                }
            }
        }
    }

    /// Why the bound matters: with products just above 2^53, `f64` rounds
    /// (`(2^27 + 1)^2 = 2^54 + 2^28 + 1` loses its last bit), and a cancelling sum exposes it
    /// after the rescale; the chosen accumulator is exact.
    #[test]
    fn the_bound_keeps_f64_away_from_rounding() {
        let big = (1 << 27) + 1;
        let (ad, bd) = ([big, big, 1], [big, -big, 1 << (FRAC_BITS - 1)]);
        let (a, b) = (view(&ad, 1, 3, false), view(&bd, 3, 1, false));
        let want = naive(
            a,
            b,
            (
                Bias::None,
                Scale {
                    lift: FRAC_BITS,
                    shift: FRAC_BITS,
                },
            ),
        );
        assert_eq!(want, [1]);
        let bound = kernel_bound(&ad, &bd);
        assert_ne!(Acc::for_bound(bound), Acc::F64);
        let mut out = [0];
        gemv(
            Acc::for_bound(bound),
            a,
            b,
            (
                Bias::None,
                Scale {
                    lift: FRAC_BITS,
                    shift: FRAC_BITS,
                },
            ),
            &mut out,
            1,
        );
        assert_eq!(out, [1]);
        #[cfg(target_arch = "x86_64")]
        if std::is_x86_feature_detected!("avx2") && std::is_x86_feature_detected!("fma") {
            // SAFETY: the CPU has AVX2 and FMA.
            unsafe {
                gemv_fast::<Fma>(
                    a,
                    b,
                    (
                        Bias::None,
                        Scale {
                            lift: FRAC_BITS,
                            shift: FRAC_BITS,
                        },
                    ),
                    &mut out,
                    1,
                )
            };
            assert_eq!(out, [0], "f64 beyond its bound rounds");
        }
    }

    fn kernel_bound(a: &[i32], b: &[i32]) -> u128 {
        max_abs(a) * sum_abs(b)
    }

    /// The direct single-channel convolution against a schoolbook window sum, on random
    /// geometries (strides and dilations up to 3, padding up to 3) and every lane.
    #[test]
    fn single_channel_equals_the_window_sum() {
        let mut rng = Rng(0x2545_f491_4f6c_dd1d);
        for case in 0..400 {
            let (h, w) = (1 + rng.below(20), 1 + rng.below(20));
            let kernel = [1 + rng.below(3), 1 + rng.below(3)];
            let strides = [1 + rng.below(3), 1 + rng.below(3)];
            let dilations = [1 + rng.below(3), 1 + rng.below(3)];
            let pads = [rng.below(4), rng.below(4), rng.below(4), rng.below(4)];
            let span = |a: usize| dilations[a] * (kernel[a] - 1) + 1;
            let padded = [h + pads[0] + pads[2], w + pads[1] + pads[3]];
            if padded[0] < span(0) || padded[1] < span(1) {
                continue;
            }
            let output = [0, 1].map(|a| (padded[a] - span(a)) / strides[a] + 1);
            let win = Window {
                input: [h, w],
                output,
                kernel,
                strides,
                dilations,
                pad: [pads[0], pads[1]],
            };
            let outs = 1 + rng.below(3);
            let lane = [Acc::F64, Acc::I64, Acc::I128][case % 3];
            let bits = widest(lane, kernel[0] * kernel[1]);
            let plane: Vec<i32> = (0..h * w).map(|_| rng.value(bits)).collect();
            let wts: Vec<i32> = (0..outs * kernel[0] * kernel[1])
                .map(|_| rng.value(bits))
                .collect();
            let (scale, bias_bits) = scale_and_bias_bits(case);
            let bias: Vec<i32> = (0..outs).map(|_| rng.value(bias_bits)).collect();
            let mut want = Vec::new();
            for j in 0..outs {
                for oy in 0..output[0] {
                    for ox in 0..output[1] {
                        let mut acc = (bias[j] as i128) << scale.lift;
                        for ky in 0..kernel[0] {
                            for kx in 0..kernel[1] {
                                let iy = (oy * strides[0] + ky * dilations[0]) as isize
                                    - pads[0] as isize;
                                let ix = (ox * strides[1] + kx * dilations[1]) as isize
                                    - pads[1] as isize;
                                if (0..h as isize).contains(&iy) && (0..w as isize).contains(&ix) {
                                    let wv = wts[(j * kernel[0] + ky) * kernel[1] + kx];
                                    acc +=
                                        wv as i128 * plane[iy as usize * w + ix as usize] as i128;
                                }
                            }
                        }
                        want.push(rescale(acc, scale.shift));
                    }
                }
            }
            let n = outs * output[0] * output[1];
            let mut got = vec![0; n];
            single_channel(
                lane,
                &win,
                [1, outs],
                &plane,
                &wts,
                (Some(&bias), scale, NO_CLAMP),
                &mut got,
            );
            assert_eq!(got, want, "dispatched {lane:?} {win:?}");
            single_channel_body::<i128>(
                &win,
                [1, outs],
                &plane,
                &wts,
                (Some(&bias), scale, NO_CLAMP),
                &mut got,
            );
            assert_eq!(got, want, "i128 {win:?}");
            if lane != Acc::I128 {
                single_channel_body::<i64>(
                    &win,
                    [1, outs],
                    &plane,
                    &wts,
                    (Some(&bias), scale, NO_CLAMP),
                    &mut got,
                );
                assert_eq!(got, want, "i64 {win:?}");
            }
            if lane == Acc::F64 {
                single_channel_body::<f64>(
                    &win,
                    [1, outs],
                    &plane,
                    &wts,
                    (Some(&bias), scale, NO_CLAMP),
                    &mut got,
                );
                assert_eq!(got, want, "f64 {win:?}");
            }
        }
    }
}
