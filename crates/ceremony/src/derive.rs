//! Circuit-specific keys from phase 1: a template's R1CS, the Lagrange basis of the powers
//! over its evaluation domain, and the Groth16 proving key with δ = γ = 1 that phase 2
//! starts from.
//!
//! The conventions are arkworks 0.6's, exactly (`ark-groth16` `generator.rs` with
//! `r1cs_to_qap::LibsnarkReduction`), so `Groth16::<Bn254>::prove` accepts the keys:
//!
//! - synthesis in setup mode with `OptimizationGoal::Constraints`, then `finalize`;
//! - the domain is the radix-2 domain of size ≥ `constraints + instance variables`;
//! - variables are `[1, public inputs…, witnesses…]`; `a_j(X)` of the j-th instance
//!   variable (the constant 1 included) gets the extra term `L_{m+j}(X)` — the "input
//!   constraints" that make the public inputs' polynomials linearly independent;
//! - `a_query[i] = a_i(τ)`, `b_g1_query[i]`/`b_g2_query[i] = b_i(τ)` in G1/G2;
//! - `gamma_abc_g1[j] = (β·a_j(τ) + α·b_j(τ) + c_j(τ))/γ` for instance variables and
//!   `l_query[k]` the same over δ for witnesses;
//! - `h_query[i] = τ^i·Z(τ)/δ` for `i < n − 1`, `Z(X) = X^n − 1`.
//!
//! With the secrets unknown, `L_r(τ)` comes from the powers by an inverse FFT "in the
//! exponent" (snarkjs's `prepare phase2`), and `τ^i·Z(τ) = τ^{i+n} − τ^i` from `tau_g1`
//! directly. γ stays 1 (BGM17: the public-input terms need no separate secret); δ = 1 here
//! and becomes the product of the phase-2 contributors' secrets.

use ark_bn254::{Bn254, Fr, G1Affine, G1Projective, G2Affine, G2Projective};
use ark_ec::{AffineRepr, CurveGroup, VariableBaseMSM};
use ark_ff::{BigInteger, One, PrimeField, Zero};
use ark_groth16::{ProvingKey, VerifyingKey};
use ark_poly::{EvaluationDomain, GeneralEvaluationDomain};
use ark_relations::{
    gr1cs::{
        ConstraintSystem, OptimizationGoal, SynthesisError, SynthesisMode, R1CS_PREDICATE_LABEL,
    },
    utils::matrix::Matrix,
};
use ark_serialize::{CanonicalDeserialize, CanonicalSerialize};
use rayon::prelude::*;
use tracing::{debug, info_span};
use zkopml_prover::{gadgets::Cs, templates::Template};

use crate::{
    curve::{mul_g2, random_coefficients},
    powers::Powers,
    CeremonyError, Result,
};

/// A template's constraint system as arkworks' Groth16 generator builds it.
#[derive(Clone, Debug)]
pub struct TemplateR1cs {
    /// The template's name ([`Template::NAME`]).
    pub name: String,
    /// Instance variables, the constant 1 included.
    pub num_instance: usize,
    /// Witness variables.
    pub num_witness: usize,
    /// Constraints `m`.
    pub num_constraints: usize,
    /// `[A, B, C]`, one row per constraint, entries `(coefficient, variable index)`.
    pub matrices: Vec<Matrix<Fr>>,
}

impl TemplateR1cs {
    /// Synthesises template `T` without a witness, exactly as
    /// `Groth16::circuit_specific_setup` does.
    pub fn of<T: Template>() -> Result<Self> {
        let _s = info_span!("synthesize", template = T::NAME).entered();
        let cs = ConstraintSystem::<Fr>::new_ref();
        cs.set_optimization_goal(OptimizationGoal::Constraints);
        cs.set_mode(SynthesisMode::Setup);
        T::synthesize(&Cs::new(cs.clone()), None)?;
        cs.finalize();
        let mut all = cs.to_matrices()?;
        let matrices = all
            .remove(R1CS_PREDICATE_LABEL)
            .filter(|_| all.is_empty())
            .ok_or_else(|| CeremonyError::NotR1cs {
                template: T::NAME.to_string(),
            })?;
        let r1cs = TemplateR1cs {
            name: T::NAME.to_string(),
            num_instance: cs.num_instance_variables(),
            num_witness: cs.num_witness_variables(),
            num_constraints: cs.num_constraints(),
            matrices,
        };
        debug!(
            constraints = r1cs.num_constraints,
            instance = r1cs.num_instance,
            witness = r1cs.num_witness,
            "synthesised"
        );
        Ok(r1cs)
    }

    /// The evaluation domain arkworks uses for this circuit.
    pub fn domain(&self) -> Result<GeneralEvaluationDomain<Fr>> {
        GeneralEvaluationDomain::new(self.num_constraints + self.num_instance).ok_or(
            CeremonyError::Synthesis(SynthesisError::PolynomialDegreeTooLarge),
        )
    }

    /// The domain's size `n`: phase 1 must provide at least `n` powers.
    pub fn domain_size(&self) -> Result<usize> {
        Ok(self.domain()?.size())
    }

    /// Checks that `powers` are large enough for this circuit.
    pub fn check_powers(&self, powers: &Powers) -> Result<()> {
        let domain = self.domain_size()?;
        if domain > powers.size() {
            return Err(CeremonyError::PowersTooSmall {
                template: self.name.clone(),
                domain,
                need: domain.trailing_zeros(),
                have: powers.power(),
            });
        }
        Ok(())
    }
}

/// The powers in the Lagrange basis of a domain: `L_r(τ)` in G1 and G2, `α·L_r(τ)` and
/// `β·L_r(τ)` in G1, for `r < n`. Depends only on the powers and the domain size, so one
/// basis serves every template with the same domain (snarkjs stores these in a
/// "prepared" `.ptau`).
#[derive(Clone, Debug, PartialEq, Eq, CanonicalSerialize, CanonicalDeserialize)]
pub struct LagrangeBasis {
    /// `L_r(τ)·G1`.
    pub tau_g1: Vec<G1Affine>,
    /// `L_r(τ)·G2`.
    pub tau_g2: Vec<G2Affine>,
    /// `α·L_r(τ)·G1`.
    pub alpha_tau_g1: Vec<G1Affine>,
    /// `β·L_r(τ)·G1`.
    pub beta_tau_g1: Vec<G1Affine>,
}

/// A G2 element that multiplies by GLV inside the FFT (arkworks' G2 `MulAssign` uses
/// double-and-add, about twice as slow).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct G2Glv(G2Projective);

impl core::ops::Add for G2Glv {
    type Output = Self;
    fn add(self, o: Self) -> Self {
        G2Glv(self.0 + o.0)
    }
}
impl core::ops::Sub for G2Glv {
    type Output = Self;
    fn sub(self, o: Self) -> Self {
        G2Glv(self.0 - o.0)
    }
}
impl core::ops::AddAssign for G2Glv {
    fn add_assign(&mut self, o: Self) {
        self.0 += o.0;
    }
}
impl core::ops::SubAssign for G2Glv {
    fn sub_assign(&mut self, o: Self) {
        self.0 -= o.0;
    }
}
impl core::ops::MulAssign<Fr> for G2Glv {
    fn mul_assign(&mut self, s: Fr) {
        self.0 = mul_g2(&self.0.into_affine(), &s);
    }
}
impl Zero for G2Glv {
    fn zero() -> Self {
        G2Glv(G2Projective::zero())
    }
    fn is_zero(&self) -> bool {
        self.0.is_zero()
    }
}

impl LagrangeBasis {
    /// The basis for a domain of `domain_size` points (a power of two ≤ the powers' size),
    /// by inverse FFTs over the group: `L_r(τ) = (1/n)·Σ_j ω^{−rj}·τ^j`.
    pub fn new(powers: &Powers, domain_size: usize) -> Result<Self> {
        let _s = info_span!("lagrange_basis", domain_size).entered();
        let domain = GeneralEvaluationDomain::<Fr>::new(domain_size)
            .filter(|d| d.size() == domain_size && domain_size <= powers.size())
            .ok_or(CeremonyError::BadPower {
                power: domain_size.trailing_zeros(),
            })?;
        let n = domain_size;
        let g1 = |v: &[G1Affine]| {
            let mut x: Vec<G1Projective> = v[..n].iter().map(|p| p.into_group()).collect();
            domain.ifft_in_place(&mut x);
            G1Projective::normalize_batch(&x)
        };
        let mut x2: Vec<G2Glv> = powers.tau_g2[..n]
            .iter()
            .map(|p| G2Glv(p.into_group()))
            .collect();
        domain.ifft_in_place(&mut x2);
        let x2: Vec<G2Projective> = x2.into_iter().map(|p| p.0).collect();
        Ok(LagrangeBasis {
            tau_g1: g1(&powers.tau_g1),
            tau_g2: G2Projective::normalize_batch(&x2),
            alpha_tau_g1: g1(&powers.alpha_tau_g1),
            beta_tau_g1: g1(&powers.beta_tau_g1),
        })
    }

    /// The domain size.
    pub fn size(&self) -> usize {
        self.tau_g1.len()
    }

    /// Checks that this is the Lagrange basis of `powers` (one imported from a prepared
    /// `.ptau`, or a cached one): for random `ρ`, `Σ_r ρ_r·L_r(τ) = Σ_j ĉ_j·τ^j` with
    /// `ĉ = IFFT(ρ)` computed in the field — the identity `L_r(X) = (1/n)·Σ_j ω^{−rj}X^j`
    /// combined over r. Two MSMs per basis, no pairing; a wrong point passes with
    /// probability ≤ 1/r.
    pub fn check(&self, powers: &Powers) -> Result<()> {
        let n = self.size();
        let fail = |check| Err(CeremonyError::InconsistentPowers { check });
        if n > powers.size()
            || [
                self.tau_g2.len(),
                self.alpha_tau_g1.len(),
                self.beta_tau_g1.len(),
            ] != [n; 3]
        {
            return fail("the Lagrange basis has the wrong size");
        }
        let domain = GeneralEvaluationDomain::<Fr>::new(n)
            .filter(|d| d.size() == n)
            .ok_or(CeremonyError::BadPower {
                power: n.trailing_zeros(),
            })?;
        let rho = random_coefficients(n);
        let c = domain.ifft(&rho);
        let g1 = |basis: &[G1Affine], monomial: &[G1Affine]| {
            G1Projective::msm_unchecked(basis, &rho)
                == G1Projective::msm_unchecked(&monomial[..n], &c)
        };
        if !g1(&self.tau_g1, &powers.tau_g1) {
            return fail("the Lagrange basis of tau_g1 is not the powers'");
        }
        if G2Projective::msm_unchecked(&self.tau_g2, &rho)
            != G2Projective::msm_unchecked(&powers.tau_g2[..n], &c)
        {
            return fail("the Lagrange basis of tau_g2 is not the powers'");
        }
        if !g1(&self.alpha_tau_g1, &powers.alpha_tau_g1) {
            return fail("the Lagrange basis of alpha_tau_g1 is not the powers'");
        }
        if !g1(&self.beta_tau_g1, &powers.beta_tau_g1) {
            return fail("the Lagrange basis of beta_tau_g1 is not the powers'");
        }
        Ok(())
    }
}

/// Columns of a matrix: for each variable, the `(coefficient, row)` entries.
fn columns(m: &Matrix<Fr>, num_vars: usize) -> Vec<Vec<(Fr, usize)>> {
    let mut cols = vec![Vec::new(); num_vars];
    for (row, entries) in m.iter().enumerate() {
        for &(c, var) in entries {
            cols[var].push((c, row));
        }
    }
    cols
}

/// `c·p`, fast for the coefficients circuits mostly use: ±1 and small integers (bit
/// weights), with a full multiplication otherwise.
fn times<A: AffineRepr<ScalarField = Fr>>(
    p: &A,
    c: &Fr,
    full: fn(&A, &Fr) -> A::Group,
) -> A::Group {
    let small = |x: &Fr| {
        let b = x.into_bigint();
        (b.num_bits() <= 64).then(|| b.0[0])
    };
    if c.is_one() {
        p.into_group()
    } else if let Some(k) = small(c) {
        p.mul_bigint([k])
    } else if let Some(k) = small(&-*c) {
        -p.mul_bigint([k])
    } else {
        full(p, c)
    }
}

/// `Σ c·basis[row]` over a column's entries; an MSM for long columns.
fn column_sum<A: AffineRepr<ScalarField = Fr>>(
    col: &[(Fr, usize)],
    basis: &[A],
    full: fn(&A, &Fr) -> A::Group,
) -> A::Group
where
    A::Group: VariableBaseMSM<MulBase = A>,
{
    if col.len() > 64 {
        let bases: Vec<A> = col.iter().map(|(_, r)| basis[*r]).collect();
        let scalars: Vec<Fr> = col.iter().map(|(c, _)| *c).collect();
        return A::Group::msm_unchecked(&bases, &scalars);
    }
    col.iter().fold(A::Group::zero(), |acc, (c, r)| {
        acc + times(&basis[*r], c, full)
    })
}

fn full_g1(p: &G1Affine, c: &Fr) -> G1Projective {
    p.into_group() * c
}

fn full_g2(p: &G2Affine, c: &Fr) -> G2Projective {
    mul_g2(p, c)
}

/// The proving key of `r1cs` from phase 1 with δ = γ = 1: the start of phase 2. Computes
/// the Lagrange basis (the expensive part); use [`phase1_keys_with`] to share one.
pub fn phase1_keys(r1cs: &TemplateR1cs, powers: &Powers) -> Result<ProvingKey<Bn254>> {
    r1cs.check_powers(powers)?;
    let lagrange = LagrangeBasis::new(powers, r1cs.domain_size()?)?;
    phase1_keys_with(r1cs, powers, &lagrange)
}

/// [`phase1_keys`] with a precomputed Lagrange basis of the template's domain.
pub fn phase1_keys_with(
    r1cs: &TemplateR1cs,
    powers: &Powers,
    lagrange: &LagrangeBasis,
) -> Result<ProvingKey<Bn254>> {
    r1cs.check_powers(powers)?;
    let n = r1cs.domain_size()?;
    if lagrange.size() != n {
        return Err(CeremonyError::BadPower {
            power: lagrange.size().trailing_zeros(),
        });
    }
    let _s = info_span!("phase1_keys", template = %r1cs.name, domain = n).entered();
    let (m, ni) = (r1cs.num_constraints, r1cs.num_instance);
    let num_vars = ni + r1cs.num_witness;
    let [a, b, c] = [0, 1, 2].map(|k| columns(&r1cs.matrices[k], num_vars));
    let lt = &lagrange.tau_g1;
    let per_var: Vec<_> = (0..num_vars)
        .into_par_iter()
        .map(|i| {
            let mut a_i = column_sum(&a[i], lt, full_g1);
            let mut l_i = column_sum(&a[i], &lagrange.beta_tau_g1, full_g1)
                + column_sum(&b[i], &lagrange.alpha_tau_g1, full_g1)
                + column_sum(&c[i], lt, full_g1);
            if i < ni {
                // arkworks' input constraint for instance variable i, at row m + i.
                a_i += lt[m + i];
                l_i += lagrange.beta_tau_g1[m + i];
            }
            let b1 = column_sum(&b[i], lt, full_g1);
            let b2 = column_sum(&b[i], &lagrange.tau_g2, full_g2);
            (a_i, b1, b2, l_i)
        })
        .collect();
    let norm1 =
        |f: fn(&(G1Projective, G1Projective, G2Projective, G1Projective)) -> G1Projective| {
            G1Projective::normalize_batch(&per_var.iter().map(f).collect::<Vec<_>>())
        };
    let a_query = norm1(|t| t.0);
    let b_g1_query = norm1(|t| t.1);
    let l_all = norm1(|t| t.3);
    let b_g2_query =
        G2Projective::normalize_batch(&per_var.iter().map(|t| t.2).collect::<Vec<_>>());
    let t = &powers.tau_g1;
    let h: Vec<G1Projective> = (0..n - 1)
        .into_par_iter()
        .map(|i| t[i + n].into_group() - t[i])
        .collect();
    let (g1, g2) = (G1Affine::generator(), G2Affine::generator());
    Ok(ProvingKey {
        vk: VerifyingKey {
            alpha_g1: powers.alpha_tau_g1[0],
            beta_g2: powers.beta_g2,
            gamma_g2: g2,
            delta_g2: g2,
            gamma_abc_g1: l_all[..ni].to_vec(),
        },
        beta_g1: powers.beta_tau_g1[0],
        delta_g1: g1,
        a_query,
        b_g1_query,
        b_g2_query,
        h_query: G1Projective::normalize_batch(&h),
        l_query: l_all[ni..].to_vec(),
    })
}
