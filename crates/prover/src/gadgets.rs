//! R1CS building blocks over tracked linear combinations.
//!
//! An [`Lc`] is a linear combination together with its value, so native witness values are
//! computed in lockstep with the constraints (in setup mode the values are dummies).

use ark_bn254::Fr;
use ark_ff::{AdditiveGroup, BigInteger, Field, One, PrimeField, Zero};
use std::{
    collections::HashMap,
    sync::{
        atomic::{AtomicUsize, Ordering},
        Arc, Mutex,
    },
};

use ark_relations::gr1cs::{
    ConstraintSystem, ConstraintSystemRef, LinearCombination, SynthesisError, SynthesisMode,
    Variable,
};

/// Result of constraint synthesis.
pub(crate) type CsResult<T> = Result<T, SynthesisError>;

/// A linear combination of circuit variables and the value it takes.
#[derive(Clone, Debug)]
pub struct Lc {
    /// `(coefficient, variable)` terms (not necessarily compacted).
    pub terms: Vec<(Fr, Variable)>,
    /// Its value under the witness being built.
    pub val: Fr,
}

impl Lc {
    /// The constant `k`.
    pub fn constant(k: Fr) -> Self {
        Lc {
            terms: if k.is_zero() {
                vec![]
            } else {
                vec![(k, Variable::One)]
            },
            val: k,
        }
    }

    /// The constant of a signed integer.
    pub fn int(k: i64) -> Self {
        Self::constant(zkopml_commit::fr_from_i64(k))
    }

    /// A single variable with a known value.
    pub fn var(v: Variable, val: Fr) -> Self {
        Lc {
            terms: vec![(Fr::one(), v)],
            val,
        }
    }

    /// `self + other`.
    pub fn add(&self, other: &Lc) -> Lc {
        let mut terms = self.terms.clone();
        terms.extend_from_slice(&other.terms);
        Lc {
            terms,
            val: self.val + other.val,
        }
    }

    /// `self - other`.
    pub fn sub(&self, other: &Lc) -> Lc {
        let mut terms = self.terms.clone();
        terms.extend(other.terms.iter().map(|(c, v)| (-*c, *v)));
        Lc {
            terms,
            val: self.val - other.val,
        }
    }

    /// `k · self`.
    pub fn scale(&self, k: Fr) -> Lc {
        if k.is_zero() {
            return Lc::constant(Fr::zero());
        }
        Lc {
            terms: self.terms.iter().map(|(c, v)| (*c * k, *v)).collect(),
            val: self.val * k,
        }
    }

    /// `self + k`.
    pub fn add_const(&self, k: Fr) -> Lc {
        self.add(&Lc::constant(k))
    }

    /// Merges duplicate variables.
    pub fn compact(mut self) -> Lc {
        let mut lc = LinearCombination(std::mem::take(&mut self.terms));
        lc.compactify();
        self.terms = lc.0;
        self
    }

    fn to_lc(&self) -> LinearCombination<Fr> {
        LinearCombination(self.terms.clone())
    }

    /// The value as a signed integer if it lies in `(-2^127, 2^127)`.
    pub fn as_i128(&self) -> Option<i128> {
        fr_to_i128(self.val)
    }
}

/// A field element read as a signed integer in `(-2^127, 2^127)`.
pub fn fr_to_i128(x: Fr) -> Option<i128> {
    let small = |y: Fr| -> Option<i128> {
        let bytes = y.into_bigint().to_bytes_le();
        if bytes[16..].iter().any(|b| *b != 0) || bytes[15] & 0x80 != 0 {
            return None;
        }
        Some(i128::from_le_bytes(
            bytes[..16].try_into().expect("16 bytes"),
        ))
    };
    small(x).or_else(|| small(-x).map(|v| -v))
}

/// `i32` decompositions already constrained, by the compacted terms of the value.
type BitsMemo = HashMap<Vec<(Fr, Variable)>, Vec<Lc>>;

/// A constraint system plus the helpers the operator circuits share.
#[derive(Clone)]
pub struct Cs {
    /// The arkworks constraint system.
    pub cs: ConstraintSystemRef<Fr>,
    /// [`Cs::i32_bits`] made so far: an opened input's range check and a later `Relu`'s
    /// sign bit of the same value share one decomposition.
    i32_memo: Arc<Mutex<BitsMemo>>,
    /// Constraints enforced through this handle (arkworks counts only while it builds
    /// matrices; this count also works in the cheap count-only mode of `circuit_stats`).
    enforced: Arc<AtomicUsize>,
    /// Checking mode ([`Cs::checking`]): the index of the first constraint the witness
    /// does not satisfy, if any.
    unsatisfied: Option<Arc<Mutex<Option<usize>>>>,
}

impl Cs {
    /// Helpers over `cs`.
    pub fn new(cs: ConstraintSystemRef<Fr>) -> Self {
        Cs {
            cs,
            i32_memo: Arc::default(),
            enforced: Arc::default(),
            unsatisfied: None,
        }
    }

    /// A handle that checks the witness instead of recording constraints: each `a · b = c`
    /// is evaluated on the assigned variables as it is enforced, and nothing else is kept
    /// (no linear-combination map, no matrices). The same verdict as synthesising into an
    /// arkworks constraint system and calling `is_satisfied`, at a fraction of the cost;
    /// [`Cs::first_unsatisfied`] names the first failing constraint.
    pub fn checking() -> Self {
        let cs = ConstraintSystem::<Fr>::new_ref();
        cs.set_mode(SynthesisMode::Prove {
            construct_matrices: false,
            generate_lc_assignments: false,
        });
        Cs {
            unsatisfied: Some(Arc::default()),
            ..Cs::new(cs)
        }
    }

    /// In checking mode, the index of the first constraint not satisfied (`None`: all are,
    /// or not checking).
    pub fn first_unsatisfied(&self) -> Option<usize> {
        self.unsatisfied
            .as_ref()
            .and_then(|u| *u.lock().expect("check lock"))
    }

    /// The value of `lc` under the assigned variables (checking mode).
    fn eval(&self, lc: &Lc) -> CsResult<Fr> {
        let mut sum = Fr::zero();
        for (c, v) in &lc.terms {
            let x = if v.is_one() {
                Fr::one()
            } else if v.is_zero() {
                Fr::zero()
            } else {
                self.cs
                    .assigned_value(*v)
                    .ok_or(SynthesisError::AssignmentMissing)?
            };
            sum += *c * x;
        }
        Ok(sum)
    }

    /// A private witness with value `val`.
    pub fn witness(&self, val: Fr) -> CsResult<Lc> {
        let v = self.cs.new_witness_variable(|| Ok(val))?;
        Ok(Lc::var(v, val))
    }

    /// A public input with value `val`.
    pub fn input(&self, val: Fr) -> CsResult<Lc> {
        let v = self.cs.new_input_variable(|| Ok(val))?;
        Ok(Lc::var(v, val))
    }

    /// Constraints enforced so far.
    pub fn constraints(&self) -> usize {
        self.enforced.load(Ordering::Relaxed)
    }

    /// Enforces `a · b = c`.
    pub fn enforce(&self, a: &Lc, b: &Lc, c: &Lc) -> CsResult<()> {
        let index = self.enforced.fetch_add(1, Ordering::Relaxed);
        if let Some(first) = &self.unsatisfied {
            if self.eval(a)? * self.eval(b)? != self.eval(c)? {
                first.lock().expect("check lock").get_or_insert(index);
            }
            return Ok(());
        }
        self.cs
            .enforce_r1cs_constraint(|| a.to_lc(), || b.to_lc(), || c.to_lc())
    }

    /// Enforces `a = b`.
    pub fn assert_eq(&self, a: &Lc, b: &Lc) -> CsResult<()> {
        self.enforce(
            &a.sub(b),
            &Lc::constant(Fr::one()),
            &Lc::constant(Fr::zero()),
        )
    }

    /// `a · b` as a new variable.
    pub fn mul(&self, a: &Lc, b: &Lc) -> CsResult<Lc> {
        let c = self.witness(a.val * b.val)?;
        self.enforce(a, b, &c)?;
        Ok(c)
    }

    /// `x^5` (three constraints), the Poseidon S-box.
    pub fn pow5(&self, x: &Lc) -> CsResult<Lc> {
        let x2 = self.mul(x, x)?;
        let x4 = self.mul(&x2, &x2)?;
        self.mul(&x4, x)
    }

    /// Little-endian bits of `x`, which must be an integer in `[0, 2^n)`: `n` boolean
    /// constraints and one recomposition. Unsatisfiable when `x` is out of range (`n < 253`).
    pub fn bits(&self, x: &Lc, n: usize) -> CsResult<Vec<Lc>> {
        debug_assert!(n < 253);
        let repr = x.val.into_bigint();
        let mut bits = Vec::with_capacity(n);
        let mut sum = Lc::constant(Fr::zero());
        let mut pow = Fr::one();
        for i in 0..n {
            let b = self.witness(if repr.get_bit(i) {
                Fr::one()
            } else {
                Fr::zero()
            })?;
            // b · (1 - b) = 0
            self.enforce(
                &b,
                &Lc::constant(Fr::one()).sub(&b),
                &Lc::constant(Fr::zero()),
            )?;
            sum = sum.add(&b.scale(pow));
            pow.double_in_place();
            bits.push(b);
        }
        self.assert_eq(&sum, x)?;
        Ok(bits)
    }

    /// Little-endian bits of `v + 2^31` for a value that must lie in the `i32` range (bit 31
    /// is the sign: set iff `v >= 0`). Memoised per value: the range check of an opened
    /// tensor element and a later `Relu` of it cost one decomposition.
    pub fn i32_bits(&self, v: &Lc) -> CsResult<Vec<Lc>> {
        let key = v.clone().compact().terms;
        if let Some(bits) = self.i32_memo.lock().expect("memo lock").get(&key) {
            return Ok(bits.clone());
        }
        let bits = self.bits(&v.add_const(Fr::from(1u64 << 31)), 32)?;
        self.i32_memo
            .lock()
            .expect("memo lock")
            .insert(key, bits.clone());
        Ok(bits)
    }

    /// `1` if `x = 0` else `0` (two constraints).
    pub fn is_zero(&self, x: &Lc) -> CsResult<Lc> {
        let inv = self.witness(x.val.inverse().unwrap_or(Fr::zero()))?;
        let z = self.witness(if x.val.is_zero() {
            Fr::one()
        } else {
            Fr::zero()
        })?;
        // x · inv = 1 - z ; x · z = 0
        self.enforce(x, &inv, &Lc::constant(Fr::one()).sub(&z))?;
        self.enforce(x, &z, &Lc::constant(Fr::zero()))?;
        Ok(z)
    }

    /// `if s { a } else { b }` for a boolean `s` (one constraint).
    pub fn select(&self, s: &Lc, a: &Lc, b: &Lc) -> CsResult<Lc> {
        // b + s·(a - b)
        let d = self.mul(s, &a.sub(b))?;
        Ok(b.add(&d))
    }

    /// The engine's `rescale`: `clamp(floor((acc + 2^(shift-1)) / 2^shift), i32)` for an
    /// `acc` known to satisfy `|acc| <= bound`. Costs `shift + W + 4` constraints with
    /// `W = max(33, bits(bound / 2^shift) + 2)`.
    pub fn rescale(&self, acc: &Lc, shift: u32, bound: u128) -> CsResult<Lc> {
        let w = rescale_width(bound, shift);
        let half = if shift == 0 {
            Fr::zero()
        } else {
            Fr::from(1u128 << (shift - 1))
        };
        let offset = Fr::from(2u64).pow([(shift + w - 1) as u64]);
        let u = acc.add_const(half + offset);
        let bits = self.bits(&u, (shift + w) as usize)?;
        let high = &bits[shift as usize..];
        // q' = q + 2^(w-1)
        let q_shifted = lc_from_bits(high);
        let q = q_shifted.add_const(-Fr::from(2u64).pow([(w - 1) as u64]));
        // h = floor(q' / 2^31); in range iff h - 2^(w-32) + 1 - sign = 0.
        let h = lc_from_bits(&high[31..]);
        let sign = &high[(w - 1) as usize];
        let e = h
            .add_const(-Fr::from(2u64).pow([(w - 32) as u64]) + Fr::one())
            .sub(sign);
        let in_range = self.is_zero(&e)?;
        let min = Lc::int(i32::MIN as i64);
        let sat = min.add(&sign.scale(Fr::from(u32::MAX as u64)));
        self.select(&in_range, &q, &sat)
    }

    /// `max(a, b)` for `a, b` in the `i32` range (`35` constraints).
    pub fn max(&self, a: &Lc, b: &Lc) -> CsResult<Lc> {
        // a - b + 2^32 in [0, 2^33); bit 32 set iff a >= b.
        let d = a.sub(b).add_const(Fr::from(1u64 << 32));
        let bits = self.bits(&d, 33)?;
        self.select(&bits[32], a, b)
    }
}

impl Cs {
    /// `1` if `a < b` else `0`, for `a, b` with `|a − b| < 2^32` (34 constraints):
    /// bit 32 of `b − a − 1 + 2^32`.
    pub fn lt(&self, a: &Lc, b: &Lc) -> CsResult<Lc> {
        let d = b.sub(a).add_const(Fr::from((1u64 << 32) - 1));
        Ok(self.bits(&d, 33)?.swap_remove(32))
    }

    /// `floor(x / 2^shift)` for an integer `|x| < 2^b`: one decomposition of `x + 2^b`
    /// into `b + 1` bits. Unsatisfiable when `x` is out of that range.
    pub fn floor_shift(&self, x: &Lc, shift: u32, b: u32) -> CsResult<Lc> {
        let two = Fr::from(2u64);
        let bits = self.bits(&x.add_const(two.pow([b as u64])), (b + 1) as usize)?;
        Ok(lc_from_bits(&bits[shift as usize..]).add_const(-two.pow([(b - shift) as u64])))
    }

    /// Enforces `0 <= x < 2^n` (`n + 1` constraints).
    pub fn range(&self, x: &Lc, n: usize) -> CsResult<()> {
        self.bits(x, n).map(drop)
    }

    /// A witness holding `v` (a signed integer).
    pub fn witness_int(&self, v: i128) -> CsResult<Lc> {
        let f = Fr::from(v.unsigned_abs());
        self.witness(if v < 0 { -f } else { f })
    }
}

/// Width of the quotient decomposition in [`Cs::rescale`].
pub fn rescale_width(bound: u128, shift: u32) -> u32 {
    let q = (bound >> shift) + 1;
    (128 - q.leading_zeros() + 2).max(33)
}

/// `Σ bits_i 2^i`.
pub fn lc_from_bits(bits: &[Lc]) -> Lc {
    let mut pow = Fr::one();
    let mut out = Lc::constant(Fr::zero());
    for b in bits {
        out = out.add(&b.scale(pow));
        pow.double_in_place();
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use ark_relations::gr1cs::ConstraintSystem;
    use zkopml_engine::fixed::rescale;

    fn cs() -> Cs {
        Cs::new(ConstraintSystem::<Fr>::new_ref())
    }

    #[test]
    fn rescale_gadget_equals_engine_rescale() {
        let bound: u128 = 1 << 70;
        for acc in [
            0i128,
            1,
            2047,
            2048,
            -2048,
            -2049,
            123456789,
            -(1 << 50),
            (1 << 69),
            -(1 << 69),
            (i32::MAX as i128) << 12,
            ((i32::MIN as i128) << 12) - 2049,
        ] {
            let c = cs();
            let x = c
                .witness(
                    zkopml_commit::fr_from_i64(0)
                        + Fr::from(acc.unsigned_abs())
                            * if acc < 0 { -Fr::one() } else { Fr::one() },
                )
                .unwrap();
            let y = c.rescale(&x, 12, bound).unwrap();
            assert_eq!(y.as_i128(), Some(rescale(acc, 12) as i128), "acc {acc}");
            assert!(c.cs.is_satisfied().unwrap(), "acc {acc}");
        }
    }

    #[test]
    fn tampered_rescale_output_is_unsatisfied() {
        let c = cs();
        let x = c.witness(Fr::from(5000u64)).unwrap();
        let y = c.rescale(&x, 12, 1 << 40).unwrap();
        // Claim the result is 2 instead of 1.
        c.assert_eq(&y, &Lc::int(2)).unwrap();
        assert!(!c.cs.is_satisfied().unwrap());
    }

    /// The checking handle gives arkworks' verdict: a true rescale passes both; a false
    /// claim fails both, and the checker names the false constraint (the last one).
    #[test]
    fn checking_mode_agrees_with_arkworks_is_satisfied() {
        for claim in [None, Some(2), Some(1)] {
            let (full, check) = (cs(), Cs::checking());
            for c in [&full, &check] {
                let x = c.witness(Fr::from(5000u64)).unwrap();
                let y = c.rescale(&x, 12, 1 << 40).unwrap();
                if let Some(k) = claim {
                    c.assert_eq(&y, &Lc::int(k)).unwrap();
                }
            }
            let ok = full.cs.is_satisfied().unwrap();
            assert_eq!(ok, claim != Some(2), "claim {claim:?}");
            assert_eq!(check.first_unsatisfied().is_none(), ok, "claim {claim:?}");
            assert_eq!(check.constraints(), full.constraints());
            if !ok {
                assert_eq!(check.first_unsatisfied(), Some(check.constraints() - 1));
            }
        }
        // A tampered witness deep inside a gadget (a bit that is not a bit) too.
        let c = Cs::checking();
        let x = c.witness(Fr::from(2u64)).unwrap();
        c.enforce(
            &x,
            &Lc::constant(Fr::one()).sub(&x),
            &Lc::constant(Fr::zero()),
        )
        .unwrap();
        assert_eq!(c.first_unsatisfied(), Some(0));
    }

    #[test]
    fn max_gadget() {
        for (a, b) in [
            (3i64, 5i64),
            (-7, -9),
            (i32::MIN as i64, i32::MAX as i64),
            (4, 4),
        ] {
            let c = cs();
            let (x, y) = (
                c.witness(zkopml_commit::fr_from_i64(a)).unwrap(),
                c.witness(zkopml_commit::fr_from_i64(b)).unwrap(),
            );
            let m = c.max(&x, &y).unwrap();
            assert_eq!(m.as_i128(), Some(a.max(b) as i128));
            assert!(c.cs.is_satisfied().unwrap());
        }
    }
}
