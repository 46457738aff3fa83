//! Phase 1: powers of tau (Bowe–Gabizon–Miers 2017; the layout of snarkjs's `.ptau` and of
//! the Perpetual Powers of Tau).
//!
//! For `n = 2^power`, secrets τ, α, β:
//!
//! | field | points | count |
//! |---|---|---|
//! | `tau_g1` | τ^i·G1 | 2n − 1 |
//! | `tau_g2` | τ^i·G2 | n |
//! | `alpha_tau_g1` | α·τ^i·G1 | n |
//! | `beta_tau_g1` | β·τ^i·G1 | n |
//! | `beta_g2` | β·G2 | 1 |
//!
//! Phase 1 is universal: one set of powers serves every circuit whose evaluation domain
//! has at most `n` points. A deployment imports the public PPoT file ([`crate::ptau`]);
//! [`Powers::generate_local`] runs a local phase 1 for tests, with the same
//! verifiable-contribution structure (each participant multiplies in fresh secrets and
//! proves knowledge of them), so the verification code is exercised end to end.

use ark_bn254::{Fr, G1Affine, G1Projective, G2Affine, G2Projective};
use ark_ec::{scalar_mul::BatchMulPreprocessing, AffineRepr, CurveGroup, PrimeGroup};
use ark_serialize::{CanonicalDeserialize, CanonicalSerialize};
use rand::Rng;
use sha2::{Digest, Sha256};
use tracing::{debug, info_span};

use crate::{
    curve::{
        combine, combine_g2, mul_each_g1, mul_each_g2, mul_g2, powers_of, random_coefficients,
        random_nonzero, same_ratio,
    },
    pok::Pok,
    CeremonyError, Result,
};

/// The largest supported power: BN254's scalar field has 2-adicity 28, so no radix-2
/// evaluation domain is larger than 2^28.
pub const MAX_POWER: u32 = 28;

/// Powers of tau for domains of up to `2^power` points (see the module docs for the layout).
///
/// The fields are public so files can be inspected and tests can tamper with them; powers
/// from anywhere but [`Powers::generate_local`] are trusted only after
/// [`Powers::verify_consistency`] (and, for the secrets to be unknown, after checking the
/// contributions that made them).
#[derive(Clone, Debug, PartialEq, Eq, CanonicalSerialize, CanonicalDeserialize)]
pub struct Powers {
    /// τ^i·G1 for i < 2n − 1.
    pub tau_g1: Vec<G1Affine>,
    /// τ^i·G2 for i < n.
    pub tau_g2: Vec<G2Affine>,
    /// α·τ^i·G1 for i < n.
    pub alpha_tau_g1: Vec<G1Affine>,
    /// β·τ^i·G1 for i < n.
    pub beta_tau_g1: Vec<G1Affine>,
    /// β·G2.
    pub beta_g2: G2Affine,
}

fn check_power(power: u32) -> Result<usize> {
    if power == 0 || power > MAX_POWER {
        return Err(CeremonyError::BadPower { power });
    }
    Ok(1usize << power)
}

impl Powers {
    /// The starting point of phase 1, τ = α = β = 1 (every point a generator). Insecure
    /// until at least one honest contribution.
    pub fn trivial(power: u32) -> Result<Self> {
        let n = check_power(power)?;
        let (g1, g2) = (G1Affine::generator(), G2Affine::generator());
        Ok(Powers {
            tau_g1: vec![g1; 2 * n - 1],
            tau_g2: vec![g2; n],
            alpha_tau_g1: vec![g1; n],
            beta_tau_g1: vec![g1; n],
            beta_g2: g2,
        })
    }

    /// Powers of the given secrets, computed with fixed-base tables. Whoever calls this
    /// knows the toxic waste: keys made from such powers are **test keys**. Used for the
    /// first contribution on top of [`Powers::trivial`] (where it is the same as multiplying
    /// in the secrets, only faster) and by tests that compare with arkworks in the clear.
    pub fn from_secrets(power: u32, tau: Fr, alpha: Fr, beta: Fr) -> Result<Self> {
        let n = check_power(power)?;
        let _s = info_span!("powers_from_secrets", power).entered();
        let tau_i = powers_of(tau, 2 * n - 1);
        let mut g1_scalars = tau_i.clone();
        g1_scalars.extend(tau_i[..n].iter().map(|t| alpha * t));
        g1_scalars.extend(tau_i[..n].iter().map(|t| beta * t));
        let g1 = BatchMulPreprocessing::new(G1Projective::generator(), g1_scalars.len())
            .batch_mul(&g1_scalars);
        let tau_g2 =
            BatchMulPreprocessing::new(G2Projective::generator(), n).batch_mul(&tau_i[..n]);
        let mut g1 = g1.into_iter();
        Ok(Powers {
            tau_g1: g1.by_ref().take(2 * n - 1).collect(),
            alpha_tau_g1: g1.by_ref().take(n).collect(),
            beta_tau_g1: g1.collect(),
            tau_g2,
            beta_g2: mul_g2(&G2Affine::generator(), &beta).into_affine(),
        })
    }

    /// `log2` of [`Powers::size`].
    pub fn power(&self) -> u32 {
        self.tau_g2.len().trailing_zeros()
    }

    /// `n`: the largest evaluation domain these powers serve.
    pub fn size(&self) -> usize {
        self.tau_g2.len()
    }

    /// The powers for a smaller domain (a prefix of every section: still powers of the same
    /// secrets, so a large public file serves small circuits).
    pub fn truncate(&self, power: u32) -> Result<Self> {
        let n = check_power(power)?;
        if n > self.size() {
            return Err(CeremonyError::BadPower { power });
        }
        Ok(Powers {
            tau_g1: self.tau_g1[..2 * n - 1].to_vec(),
            tau_g2: self.tau_g2[..n].to_vec(),
            alpha_tau_g1: self.alpha_tau_g1[..n].to_vec(),
            beta_tau_g1: self.beta_tau_g1[..n].to_vec(),
            beta_g2: self.beta_g2,
        })
    }

    /// Whether these are [`Powers::trivial`] (every point a generator).
    pub fn is_trivial(&self) -> bool {
        let (g1, g2) = (G1Affine::generator(), G2Affine::generator());
        self.tau_g1.iter().all(|p| *p == g1)
            && self.alpha_tau_g1.iter().all(|p| *p == g1)
            && self.beta_tau_g1.iter().all(|p| *p == g1)
            && self.tau_g2.iter().all(|p| *p == g2)
            && self.beta_g2 == g2
    }

    /// Multiplies in secrets `(x, a, b)`: τ → τ·x, α → α·a, β → β·b.
    fn multiply(&self, x: Fr, a: Fr, b: Fr) -> Result<Self> {
        if self.is_trivial() {
            return Self::from_secrets(self.power(), x, a, b);
        }
        let n = self.size();
        let x_i = powers_of(x, 2 * n - 1);
        let a_x: Vec<Fr> = x_i[..n].iter().map(|t| a * t).collect();
        let b_x: Vec<Fr> = x_i[..n].iter().map(|t| b * t).collect();
        Ok(Powers {
            tau_g1: mul_each_g1(&self.tau_g1, &x_i),
            tau_g2: mul_each_g2(&self.tau_g2, &x_i[..n]),
            alpha_tau_g1: mul_each_g1(&self.alpha_tau_g1, &a_x),
            beta_tau_g1: mul_each_g1(&self.beta_tau_g1, &b_x),
            beta_g2: mul_g2(&self.beta_g2, &b).into_affine(),
        })
    }

    /// A local phase 1 with `contributors` sequential contributions, each with fresh
    /// secrets from `rng` (dropped after use) and a proof of knowledge. For tests and
    /// devnets: a deployment imports a public ceremony's `.ptau` instead.
    pub fn generate_local<R: Rng + ?Sized>(
        power: u32,
        contributors: usize,
        rng: &mut R,
    ) -> Result<(Self, Phase1Transcript)> {
        let mut powers = Self::trivial(power)?;
        let mut transcript = Phase1Transcript::new(power);
        for _ in 0..contributors {
            powers = transcript.contribute(&powers, rng)?;
        }
        Ok((powers, transcript))
    }

    /// Checks that the points are powers of one τ with one α and one β, by random linear
    /// combinations and pairings (the checks snarkjs's `powersoftau verify` makes on the
    /// final sections):
    ///
    /// - lengths `2n − 1, n, n, n`; `tau_g1[0] = G1`, `tau_g2[0] = G2`; τ, α, β ≠ 0;
    /// - `tau_g1[i+1] = τ·tau_g1[i]` for all i (against `(G2, τ·G2)`);
    /// - `tau_g2[i+1] = τ·tau_g2[i]` for all i (against `(G1, τ·G1)`);
    /// - `alpha_tau_g1[i+1] = τ·alpha_tau_g1[i]`, same for β;
    /// - `beta_tau_g1[0]` and `beta_g2` carry the same β.
    ///
    /// It does not check that anybody forgot the secrets: that is the contributions' job
    /// ([`Phase1Transcript::verify`], or snarkjs for an imported file).
    pub fn verify_consistency(&self) -> Result<()> {
        let _s = info_span!("verify_powers", power = self.power()).entered();
        let fail = |check| Err(CeremonyError::InconsistentPowers { check });
        let n = self.size();
        if n < 2
            || !n.is_power_of_two()
            || self.tau_g1.len() != 2 * n - 1
            || self.alpha_tau_g1.len() != n
            || self.beta_tau_g1.len() != n
        {
            return fail("section lengths are not 2n − 1, n, n, n for n a power of two ≥ 2");
        }
        let (g1, g2) = (G1Affine::generator(), G2Affine::generator());
        if self.tau_g1[0] != g1 || self.tau_g2[0] != g2 {
            return fail("the first powers are not the generators");
        }
        if self.tau_g1[1].is_zero() || self.alpha_tau_g1[0].is_zero() || self.beta_g2.is_zero() {
            return fail("a secret is zero");
        }
        let rho = random_coefficients(2 * n - 2);
        let t1 = &self.tau_g1;
        let (tau_g1, tau_g2) = (t1[1], self.tau_g2[1]);
        if !same_ratio(
            (combine(&t1[..2 * n - 2], &rho), combine(&t1[1..], &rho)),
            (g2, tau_g2),
        ) {
            return fail("tau_g1 are not successive powers of the τ of tau_g2[1]");
        }
        let t2 = &self.tau_g2;
        if !same_ratio(
            (g1, tau_g1),
            (combine_g2(&t2[..n - 1], &rho), combine_g2(&t2[1..], &rho)),
        ) {
            return fail("tau_g2 are not successive powers of the τ of tau_g1[1]");
        }
        for (name, v) in [
            (
                "alpha_tau_g1 are not α times successive powers of τ",
                &self.alpha_tau_g1,
            ),
            (
                "beta_tau_g1 are not β times successive powers of τ",
                &self.beta_tau_g1,
            ),
        ] {
            if !same_ratio(
                (combine(&v[..n - 1], &rho), combine(&v[1..], &rho)),
                (g2, tau_g2),
            ) {
                return fail(name);
            }
        }
        if !same_ratio((g1, self.beta_tau_g1[0]), (g2, self.beta_g2)) {
            return fail("beta_g2 and beta_tau_g1[0] carry different β");
        }
        debug!(n, "powers consistent");
        Ok(())
    }
}

/// One phase-1 contribution: the new τ·G1, α·G1, β·G1 and a proof of knowledge of each
/// secret that was multiplied in.
#[derive(Clone, Debug, PartialEq, Eq, CanonicalSerialize, CanonicalDeserialize)]
pub struct Phase1Contribution {
    /// τ·G1 after this contribution (`tau_g1[1]`).
    pub tau_g1: G1Affine,
    /// α·G1 after this contribution (`alpha_tau_g1[0]`).
    pub alpha_g1: G1Affine,
    /// β·G1 after this contribution (`beta_tau_g1[0]`).
    pub beta_g1: G1Affine,
    /// Knowledge of the factor of τ.
    pub tau_pok: Pok,
    /// Knowledge of the factor of α.
    pub alpha_pok: Pok,
    /// Knowledge of the factor of β.
    pub beta_pok: Pok,
}

/// The public record of a local phase 1: enough to check, from the final powers alone,
/// that every contribution multiplied in secrets its author knew.
#[derive(Clone, Debug, PartialEq, Eq, CanonicalSerialize, CanonicalDeserialize)]
pub struct Phase1Transcript {
    /// `log2 n`.
    pub power: u32,
    /// Contributions in order.
    pub contributions: Vec<Phase1Contribution>,
}

impl Phase1Transcript {
    /// An empty transcript for powers of size `2^power`.
    pub fn new(power: u32) -> Self {
        Phase1Transcript {
            power,
            contributions: Vec::new(),
        }
    }

    /// The challenge contribution `k` proves knowledge under: a hash of the power and of
    /// contributions `0..k`.
    pub fn challenge(&self, k: usize) -> [u8; 32] {
        let mut h = Sha256::new();
        h.update(b"zkopml/ceremony/phase1/v1");
        h.update(self.power.to_le_bytes());
        for c in &self.contributions[..k] {
            let mut buf = Vec::new();
            c.serialize_compressed(&mut buf)
                .expect("writing to a Vec cannot fail");
            h.update(&buf);
        }
        h.finalize().into()
    }

    /// Multiplies fresh secrets into `powers` (the transcript's latest: τ·G1, α·G1, β·G1 are
    /// the last contribution's, or the generators), records the contribution and returns
    /// the new powers. The secrets live only inside this call.
    pub fn contribute<R: Rng + ?Sized>(&mut self, powers: &Powers, rng: &mut R) -> Result<Powers> {
        let _s = info_span!("phase1_contribute", index = self.contributions.len()).entered();
        if powers.power() != self.power {
            return Err(CeremonyError::BadPower {
                power: powers.power(),
            });
        }
        let g1 = G1Affine::generator();
        let latest = self
            .contributions
            .last()
            .map_or((g1, g1, g1), |c| (c.tau_g1, c.alpha_g1, c.beta_g1));
        if (
            powers.tau_g1[1],
            powers.alpha_tau_g1[0],
            powers.beta_tau_g1[0],
        ) != latest
        {
            return Err(CeremonyError::NotLatest);
        }
        let challenge = self.challenge(self.contributions.len());
        let (x, a, b) = (
            random_nonzero(rng),
            random_nonzero(rng),
            random_nonzero(rng),
        );
        let next = powers.multiply(x, a, b)?;
        self.contributions.push(Phase1Contribution {
            tau_g1: next.tau_g1[1],
            alpha_g1: next.alpha_tau_g1[0],
            beta_g1: next.beta_tau_g1[0],
            tau_pok: Pok::prove(&x, &tagged(&challenge, b"tau"), rng),
            alpha_pok: Pok::prove(&a, &tagged(&challenge, b"alpha"), rng),
            beta_pok: Pok::prove(&b, &tagged(&challenge, b"beta"), rng),
        });
        Ok(next)
    }

    /// Checks the whole phase 1 from the final powers: every contribution proves knowledge
    /// of its three secrets and applied exactly them to the previous τ·G1, α·G1, β·G1
    /// (starting from the generators); the last contribution's points are the final powers';
    /// and the final powers are consistent ([`Powers::verify_consistency`]). One honest
    /// contributor then suffices for τ, α, β to be unknown.
    pub fn verify(&self, powers: &Powers) -> Result<()> {
        let _s = info_span!("phase1_verify", contributions = self.contributions.len()).entered();
        if powers.power() != self.power {
            return Err(CeremonyError::BadPower {
                power: powers.power(),
            });
        }
        if self.contributions.is_empty() {
            return Err(CeremonyError::NoContributions { phase: "phase-1" });
        }
        let g1 = G1Affine::generator();
        let mut prev = (g1, g1, g1);
        for (index, c) in self.contributions.iter().enumerate() {
            let fail = |check| Err(CeremonyError::Phase1Contribution { index, check });
            let challenge = self.challenge(index);
            let secrets = [
                (&b"tau"[..], &c.tau_pok, prev.0, c.tau_g1, "τ"),
                (b"alpha", &c.alpha_pok, prev.1, c.alpha_g1, "α"),
                (b"beta", &c.beta_pok, prev.2, c.beta_g1, "β"),
            ];
            for (tag, pok, before, after, secret) in secrets {
                let ch = tagged(&challenge, tag);
                if !pok.verify(&ch) {
                    debug!(index, secret, "bad proof of knowledge");
                    return fail("bad proof of knowledge of a factor (τ, α or β)");
                }
                if !pok.applied(&ch, before, after) {
                    debug!(index, secret, "factor not applied");
                    return fail("a secret (τ, α or β) was not multiplied by the proven factor");
                }
            }
            prev = (c.tau_g1, c.alpha_g1, c.beta_g1);
        }
        if (
            powers.tau_g1[1],
            powers.alpha_tau_g1[0],
            powers.beta_tau_g1[0],
        ) != prev
        {
            return Err(CeremonyError::Phase1Contribution {
                index: self.contributions.len() - 1,
                check: "the final powers are not the last contribution's",
            });
        }
        powers.verify_consistency()
    }
}

fn tagged(challenge: &[u8; 32], tag: &[u8]) -> Vec<u8> {
    [&challenge[..], tag].concat()
}
