//! Phase 2: per-template contributions to δ (Bowe–Gabizon–Miers 2017, as snarkjs's
//! `zkey contribute` and `phase2-bn254`).
//!
//! A contributor with secret `x` sets `δ' = δ·x` — `delta_g1`, `delta_g2` times `x`,
//! `l_query` and `h_query` (which carry `1/δ`) times `x⁻¹` — and publishes a
//! [`Contribution`]: the new `δ·G1` and a [`Pok`] of `x` bound to a hash of the transcript
//! so far. Everything else in the keys (`α, β, γ`, the A/B/C queries, the verifying key's
//! input terms) is fixed by phase 1 and the circuit and must never change.
//!
//! After the last contribution `δ` is the product of every contributor's secret: one
//! honest contributor who forgot theirs makes `δ` unknown, and proofs unforgeable.

use ark_bn254::{Bn254, G1Affine, G2Affine};
use ark_ec::{AffineRepr, CurveGroup};
use ark_ff::Field;
use ark_groth16::{ProvingKey, VerifyingKey};
use ark_serialize::{CanonicalDeserialize, CanonicalSerialize};
use rand::Rng;
use sha2::{Digest, Sha256};
use tracing::{debug, info_span};
use zkopml_prover::templates::Template;

use crate::{
    curve::{combine, mul_g1, mul_g2, random_coefficients, random_nonzero, same_ratio, scale_g1},
    derive::{phase1_keys, TemplateR1cs},
    pok::Pok,
    powers::Powers,
    CeremonyError, Result,
};

/// A template's Groth16 keys at some point of phase 2.
#[derive(Clone, Debug, PartialEq, CanonicalSerialize, CanonicalDeserialize)]
pub struct CeremonyKeys {
    /// The template's name ([`Template::NAME`]).
    pub template: String,
    /// The proving key (its verifying key inside).
    pub pk: ProvingKey<Bn254>,
}

impl CeremonyKeys {
    /// The keys of template `T` derived from phase 1, δ = 1: the start of its phase 2
    /// (anyone can recompute them from the powers, and verifiers do).
    pub fn init<T: Template>(powers: &Powers) -> Result<Self> {
        let r1cs = TemplateR1cs::of::<T>()?;
        Ok(CeremonyKeys {
            template: r1cs.name.clone(),
            pk: phase1_keys(&r1cs, powers)?,
        })
    }

    /// SHA-256 of the compressed encoding: names one state of the keys in a transcript.
    pub fn digest(&self) -> [u8; 32] {
        let mut h = Sha256::new();
        self.serialize_compressed(&mut h)
            .expect("hashing cannot fail");
        h.finalize().into()
    }

    /// The verifying key.
    pub fn vk(&self) -> &VerifyingKey<Bn254> {
        &self.pk.vk
    }

    /// Whether δ is still 1 (no contribution applied).
    pub fn is_initial(&self) -> bool {
        self.pk.delta_g1 == G1Affine::generator() && self.pk.vk.delta_g2 == G2Affine::generator()
    }

    /// Checks that everything phase 2 must not touch is equal in `other`.
    pub fn check_unchanged(&self, other: &Self) -> Result<()> {
        let (a, b) = (&self.pk, &other.pk);
        let same = [
            (self.template == other.template, "the template name"),
            (a.vk.alpha_g1 == b.vk.alpha_g1, "α"),
            (a.vk.beta_g2 == b.vk.beta_g2 && a.beta_g1 == b.beta_g1, "β"),
            (a.vk.gamma_g2 == b.vk.gamma_g2, "γ"),
            (
                a.vk.gamma_abc_g1 == b.vk.gamma_abc_g1,
                "the verifying key's input terms",
            ),
            (a.a_query == b.a_query, "the A query"),
            (
                a.b_g1_query == b.b_g1_query && a.b_g2_query == b.b_g2_query,
                "the B query",
            ),
            (a.h_query.len() == b.h_query.len(), "the H query's length"),
            (a.l_query.len() == b.l_query.len(), "the L query's length"),
        ];
        match same.into_iter().find(|(ok, _)| !ok) {
            Some((_, what)) => Err(CeremonyError::KeysChanged { what }),
            None => Ok(()),
        }
    }
}

/// One phase-2 contribution's public record.
#[derive(Clone, Debug, PartialEq, Eq, CanonicalSerialize, CanonicalDeserialize)]
pub struct Contribution {
    /// `δ·G1` after this contribution.
    pub delta_g1: G1Affine,
    /// Knowledge of the factor `x` with `δ_after = δ_before·x`.
    pub pok: Pok,
    /// [`CeremonyKeys::digest`] of the keys this contribution produced.
    pub keys_digest: [u8; 32],
}

/// The public record of one template's phase 2: enough, with the phase-1-derived keys
/// and the final keys, to check every contribution.
#[derive(Clone, Debug, PartialEq, Eq, CanonicalSerialize, CanonicalDeserialize)]
pub struct Transcript {
    /// The template's name.
    pub template: String,
    /// [`CeremonyKeys::digest`] of the phase-1-derived keys (δ = 1).
    pub initial_digest: [u8; 32],
    /// Contributions in order.
    pub contributions: Vec<Contribution>,
}

impl Transcript {
    /// An empty transcript starting at `initial` (the phase-1-derived keys).
    pub fn new(initial: &CeremonyKeys) -> Self {
        Transcript {
            template: initial.template.clone(),
            initial_digest: initial.digest(),
            contributions: Vec::new(),
        }
    }

    /// The challenge contribution `k` proves knowledge under: a hash of the template, the
    /// initial keys' digest and contributions `0..k`.
    pub fn challenge(&self, k: usize) -> [u8; 32] {
        let mut h = Sha256::new();
        h.update(b"zkopml/ceremony/phase2/v1");
        let mut buf = Vec::new();
        self.template
            .serialize_compressed(&mut buf)
            .expect("writing to a Vec cannot fail");
        h.update(&buf);
        h.update(self.initial_digest);
        for c in &self.contributions[..k] {
            buf.clear();
            c.serialize_compressed(&mut buf)
                .expect("writing to a Vec cannot fail");
            h.update(&buf);
        }
        h.finalize().into()
    }

    /// The digest of the keys the next contribution must start from.
    pub fn latest_digest(&self) -> [u8; 32] {
        self.contributions
            .last()
            .map_or(self.initial_digest, |c| c.keys_digest)
    }

    /// [`contribute`] and record the contribution; returns the new keys.
    pub fn contribute<R: Rng + ?Sized>(
        &mut self,
        keys: &CeremonyKeys,
        rng: &mut R,
    ) -> Result<CeremonyKeys> {
        let (next, c) = contribute(keys, self, rng)?;
        self.contributions.push(c);
        Ok(next)
    }
}

/// Multiplies δ of `keys` (the transcript's latest) by a fresh secret from `rng`; returns
/// the new keys and the contribution to append to `transcript`. The secret lives only
/// inside this call.
pub fn contribute<R: Rng + ?Sized>(
    keys: &CeremonyKeys,
    transcript: &Transcript,
    rng: &mut R,
) -> Result<(CeremonyKeys, Contribution)> {
    let index = transcript.contributions.len();
    let _s = info_span!("phase2_contribute", template = %keys.template, index).entered();
    if keys.template != transcript.template {
        return Err(CeremonyError::TemplateMismatch {
            expected: transcript.template.clone(),
            got: keys.template.clone(),
        });
    }
    if keys.digest() != transcript.latest_digest() {
        return Err(CeremonyError::NotLatest);
    }
    let x = random_nonzero(rng);
    let x_inv = x.inverse().expect("x is not zero");
    let mut pk = keys.pk.clone();
    pk.delta_g1 = mul_g1(&pk.delta_g1, &x).into_affine();
    pk.vk.delta_g2 = mul_g2(&pk.vk.delta_g2, &x).into_affine();
    pk.l_query = scale_g1(&pk.l_query, &x_inv);
    pk.h_query = scale_g1(&pk.h_query, &x_inv);
    let next = CeremonyKeys {
        template: keys.template.clone(),
        pk,
    };
    let contribution = Contribution {
        delta_g1: next.pk.delta_g1,
        pok: Pok::prove(&x, &transcript.challenge(index), rng),
        keys_digest: next.digest(),
    };
    debug!("contributed");
    Ok((next, contribution))
}

/// `e(Σρ·after_i, δ_after) = e(Σρ·before_i, δ_before)` over the L and H queries: each
/// element was multiplied by `δ_before/δ_after`, i.e. the queries carry exactly `1/δ`.
fn lh_scaled(before: &ProvingKey<Bn254>, after: &ProvingKey<Bn254>) -> bool {
    let rho = random_coefficients(before.l_query.len() + before.h_query.len());
    let both = |pk: &ProvingKey<Bn254>| {
        let l = combine(&pk.l_query, &rho).into_group();
        let h = combine(&pk.h_query, &rho[pk.l_query.len()..]);
        (l + h).into_affine()
    };
    same_ratio(
        (both(after), both(before)),
        (before.vk.delta_g2, after.vk.delta_g2),
    )
}

/// δ in G1 and G2 are the same scalar.
fn delta_consistent(pk: &ProvingKey<Bn254>) -> bool {
    same_ratio(
        (G1Affine::generator(), pk.delta_g1),
        (G2Affine::generator(), pk.vk.delta_g2),
    )
}

/// Checks contribution `index` of `transcript` from the keys before and after it (what a
/// coordinator runs on each submission before passing the keys on): the keys are the ones
/// the transcript names, nothing but δ and L/H changed, the proof of knowledge holds, δ
/// was multiplied by the proven secret, δ agrees in G1 and G2, and L/H were scaled by its
/// inverse.
pub fn verify_contribution(
    before: &CeremonyKeys,
    after: &CeremonyKeys,
    transcript: &Transcript,
    index: usize,
) -> Result<()> {
    let _s = info_span!("phase2_verify_contribution", index).entered();
    let fail = |check| Err(CeremonyError::Phase2Contribution { index, check });
    let Some(c) = transcript.contributions.get(index) else {
        return fail("no such contribution");
    };
    let expected_before = match index {
        0 => transcript.initial_digest,
        i => transcript.contributions[i - 1].keys_digest,
    };
    if before.digest() != expected_before {
        return fail("the keys before are not the ones the transcript names");
    }
    if after.digest() != c.keys_digest {
        return fail("the keys after are not the ones the transcript names");
    }
    before.check_unchanged(after)?;
    let challenge = transcript.challenge(index);
    if !c.pok.verify(&challenge) {
        return fail("bad proof of knowledge");
    }
    if after.pk.delta_g1 != c.delta_g1 || !c.pok.applied(&challenge, before.pk.delta_g1, c.delta_g1)
    {
        return fail("δ was not multiplied by the proven secret");
    }
    if !delta_consistent(&after.pk) {
        return fail("δ in G2 differs from δ in G1");
    }
    if !lh_scaled(&before.pk, &after.pk) {
        return fail("the L and H queries were not divided by the secret");
    }
    Ok(())
}

/// Checks a whole phase 2 from its two ends: `initial` are the phase-1-derived keys (δ = 1;
/// a verifier recomputes them with [`CeremonyKeys::init`]), `last` the keys to publish.
///
/// - the transcript names both (template, initial digest, last contribution's digest);
/// - there is at least one contribution;
/// - each contribution proves knowledge of its secret under its challenge and multiplied
///   the previous δ·G1 by it (so final δ is the product of the secrets);
/// - the final δ agrees in G1 and G2 and the final L/H queries carry exactly `1/δ`;
/// - everything else equals the phase-1 derivation ([`CeremonyKeys::check_unchanged`]).
pub fn verify_transcript(
    initial: &CeremonyKeys,
    last: &CeremonyKeys,
    transcript: &Transcript,
) -> Result<()> {
    let _s = info_span!(
        "phase2_verify",
        template = %transcript.template,
        contributions = transcript.contributions.len()
    )
    .entered();
    for keys in [initial, last] {
        if keys.template != transcript.template {
            return Err(CeremonyError::TemplateMismatch {
                expected: transcript.template.clone(),
                got: keys.template.clone(),
            });
        }
    }
    if !initial.is_initial() || initial.digest() != transcript.initial_digest {
        return Err(CeremonyError::DigestMismatch { which: "initial" });
    }
    let Some(final_contribution) = transcript.contributions.last() else {
        return Err(CeremonyError::NoContributions { phase: "phase-2" });
    };
    initial.check_unchanged(last)?;
    let mut delta = initial.pk.delta_g1;
    for (index, c) in transcript.contributions.iter().enumerate() {
        let fail = |check| Err(CeremonyError::Phase2Contribution { index, check });
        let challenge = transcript.challenge(index);
        if !c.pok.verify(&challenge) {
            return fail("bad proof of knowledge");
        }
        if !c.pok.applied(&challenge, delta, c.delta_g1) {
            return fail("δ was not multiplied by the proven secret");
        }
        delta = c.delta_g1;
    }
    let fail = |check| Err(CeremonyError::FinalKeys { check });
    if last.pk.delta_g1 != delta {
        return fail("δ·G1 is not the last contribution's");
    }
    if !delta_consistent(&last.pk) {
        return fail("δ in G2 differs from δ in G1");
    }
    if !lh_scaled(&initial.pk, &last.pk) {
        return fail("the L and H queries do not carry 1/δ");
    }
    if last.digest() != final_contribution.keys_digest {
        return Err(CeremonyError::DigestMismatch { which: "final" });
    }
    debug!("transcript verified");
    Ok(())
}
