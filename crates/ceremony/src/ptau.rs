//! snarkjs's `.ptau` format: import the public Perpetual Powers of Tau (or any snarkjs
//! phase 1), export ours in the same layout.
//!
//! Layout (snarkjs `src/powersoftau_*.js`, `binfileutils.js`), all integers little-endian:
//!
//! ```text
//! "ptau" | version u32 (= 1) | number of sections u32
//! then per section: id u32 | byte length u64 | data
//!   1 header      n8 u32 (= 32) | q (n8 bytes, the base field prime) | power u32 | ceremonyPower u32
//!   2 tauG1       (2·2^power − 1) G1 points
//!   3 tauG2       2^power G2 points
//!   4 alphaTauG1  2^power G1 points
//!   5 betaTauG1   2^power G1 points
//!   6 betaG2      1 G2 point
//!   7 contributions (the ceremony's history; kept as raw bytes here)
//!   12–15 a "prepared" file's Lagrange bases of tauG1, tauG2, alphaTauG1, betaTauG1 for
//!         every domain 2^p, p = 0..=power (12 also has p = power + 1), concatenated
//! ```
//!
//! A point is affine and uncompressed, every base-field element in Montgomery form
//! (x·2^256 mod q) as 32 little-endian bytes; a G2 coordinate is `c0` then `c1`; the point
//! at infinity is all zeros. arkworks stores BN254 field elements in the same Montgomery
//! form, so an element's bytes are its limbs.
//!
//! This module checks the format and that every point is a valid group element; that the
//! points are consistent powers is [`Powers::verify_consistency`], and that the secrets
//! were destroyed is the public ceremony's own transcript (section 7, checked by
//! `snarkjs powersoftau verify`).
//!
//! snarkjs's Lagrange bases are exactly [`LagrangeBasis::new`]'s (same roots of unity, same
//! order; tested against snarkjs), so a prepared file — the public PPoT files are — saves
//! the inverse FFTs, by far the most expensive step of deriving a template's keys.
//! [`Ptau::lagrange_basis`] checks them against the powers before use.

use std::{
    fs::File,
    io::{BufReader, BufWriter, Read, Write},
    path::Path,
};

use ark_bn254::{Fq, Fq2, G1Affine, G2Affine};
use ark_ec::AffineRepr;
use ark_ff::{BigInt, PrimeField};
use rayon::prelude::*;
use tracing::{debug, info_span};

use crate::{derive::LagrangeBasis, powers::Powers, CeremonyError, Result};

/// Bytes of one base-field element.
const N8: usize = 32;
/// Bytes of one G1 point.
const G1_BYTES: usize = 2 * N8;
/// Bytes of one G2 point.
const G2_BYTES: usize = 4 * N8;

/// A snarkjs phase-1 file: the powers plus what we carry through unchanged.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Ptau {
    /// The powers (sections 2–6).
    pub powers: Powers,
    /// The power of the ceremony the file was cut from (header; ≥ the file's own power).
    pub ceremony_power: u32,
    /// Section 7 as stored: the contributions' public keys and hashes. `None` writes an
    /// empty list.
    pub contributions: Option<Vec<u8>>,
    /// Sections 12–15 as stored, in a "prepared" file (`snarkjs powersoftau prepare
    /// phase2`): read them with [`Ptau::lagrange_basis`].
    pub prepared: Option<[Vec<u8>; 4]>,
}

fn format(reason: impl Into<String>) -> CeremonyError {
    CeremonyError::PtauFormat {
        reason: reason.into(),
    }
}

fn read_u32(r: &mut impl Read) -> Result<u32> {
    let mut b = [0u8; 4];
    r.read_exact(&mut b).map_err(|_| format("truncated file"))?;
    Ok(u32::from_le_bytes(b))
}

fn read_u64(r: &mut impl Read) -> Result<u64> {
    let mut b = [0u8; 8];
    r.read_exact(&mut b).map_err(|_| format("truncated file"))?;
    Ok(u64::from_le_bytes(b))
}

/// The Montgomery-form element in `b`, or `None` if not canonical (≥ q).
fn fq_from_montgomery(b: &[u8]) -> Option<Fq> {
    let mut limbs = [0u64; 4];
    for (l, c) in limbs.iter_mut().zip(b.chunks_exact(8)) {
        *l = u64::from_le_bytes(c.try_into().expect("8-byte chunk"));
    }
    let big = BigInt::new(limbs);
    (big < Fq::MODULUS).then(|| Fq::new_unchecked(big))
}

fn fq_to_montgomery(x: &Fq, out: &mut Vec<u8>) {
    for l in x.0 .0 {
        out.extend_from_slice(&l.to_le_bytes());
    }
}

fn g1_from_bytes(b: &[u8]) -> Option<G1Affine> {
    if b.iter().all(|&x| x == 0) {
        return Some(G1Affine::zero());
    }
    let p = G1Affine::new_unchecked(fq_from_montgomery(&b[..N8])?, fq_from_montgomery(&b[N8..])?);
    (p.is_on_curve() && p.is_in_correct_subgroup_assuming_on_curve()).then_some(p)
}

fn g2_from_bytes(b: &[u8]) -> Option<G2Affine> {
    if b.iter().all(|&x| x == 0) {
        return Some(G2Affine::zero());
    }
    let fq2 = |o: usize| {
        Some(Fq2::new(
            fq_from_montgomery(&b[o..o + N8])?,
            fq_from_montgomery(&b[o + N8..o + 2 * N8])?,
        ))
    };
    let p = G2Affine::new_unchecked(fq2(0)?, fq2(2 * N8)?);
    (p.is_on_curve() && p.is_in_correct_subgroup_assuming_on_curve()).then_some(p)
}

fn g1_to_bytes(p: &G1Affine, out: &mut Vec<u8>) {
    match p.xy() {
        None => out.extend_from_slice(&[0u8; G1_BYTES]),
        Some((x, y)) => {
            fq_to_montgomery(&x, out);
            fq_to_montgomery(&y, out);
        }
    }
}

fn g2_to_bytes(p: &G2Affine, out: &mut Vec<u8>) {
    match p.xy() {
        None => out.extend_from_slice(&[0u8; G2_BYTES]),
        Some((x, y)) => {
            for c in [x.c0, x.c1, y.c0, y.c1] {
                fq_to_montgomery(&c, out);
            }
        }
    }
}

/// Decodes `count` points of `width` bytes each, validating them in parallel.
fn decode<P: Send>(
    data: &[u8],
    section: &'static str,
    count: usize,
    width: usize,
    one: fn(&[u8]) -> Option<P>,
) -> Result<Vec<P>> {
    if data.len() != count * width {
        return Err(format(format!(
            "section {section} has {} bytes, expected {count} points of {width} bytes",
            data.len()
        )));
    }
    data.par_chunks_exact(width)
        .enumerate()
        .map(|(index, b)| one(b).ok_or(CeremonyError::InvalidPoint { section, index }))
        .collect()
}

impl Ptau {
    /// Reads a `.ptau` from `r` (sections in any order; unknown sections skipped).
    pub fn read(mut r: impl Read) -> Result<Self> {
        let _s = info_span!("ptau_read").entered();
        let mut magic = [0u8; 4];
        r.read_exact(&mut magic)
            .map_err(|_| format("truncated file"))?;
        if &magic != b"ptau" {
            return Err(format("not a ptau file (magic)"));
        }
        let version = read_u32(&mut r)?;
        if version != 1 {
            return Err(format(format!("version {version}, only 1 is known")));
        }
        let sections = read_u32(&mut r)?;
        let mut raw: [Option<Vec<u8>>; 16] = Default::default();
        for _ in 0..sections {
            let id = read_u32(&mut r)?;
            let len = read_u64(&mut r)?;
            if (1..=7).contains(&id) || (12..=15).contains(&id) {
                if raw[id as usize].is_some() {
                    return Err(format(format!("section {id} appears twice")));
                }
                let mut data = Vec::new();
                (&mut r)
                    .take(len)
                    .read_to_end(&mut data)
                    .map_err(|e| format(format!("section {id}: {e}")))?;
                if data.len() as u64 != len {
                    return Err(format(format!("section {id} truncated")));
                }
                raw[id as usize] = Some(data);
            } else {
                debug!(id, len, "skipping ptau section");
                std::io::copy(&mut (&mut r).take(len), &mut std::io::sink())
                    .map_err(|e| format(format!("section {id}: {e}")))?;
            }
        }
        let mut take = |id: usize, name: &str| {
            raw[id]
                .take()
                .ok_or_else(|| format(format!("missing section {id} ({name})")))
        };
        let header = take(1, "header")?;
        if header.len() != 4 + N8 + 8 {
            return Err(format("header length"));
        }
        if u32::from_le_bytes(header[..4].try_into().expect("4 bytes")) as usize != N8 {
            return Err(format("field element size is not 32 bytes"));
        }
        let modulus: Vec<u8> = Fq::MODULUS.0.iter().flat_map(|l| l.to_le_bytes()).collect();
        if header[4..4 + N8] != modulus[..] {
            return Err(format("the curve is not BN254 (bn128)"));
        }
        let word = |o: usize| u32::from_le_bytes(header[o..o + 4].try_into().expect("4 bytes"));
        let (power, ceremony_power) = (word(4 + N8), word(8 + N8));
        if power == 0 || power > crate::powers::MAX_POWER {
            return Err(CeremonyError::BadPower { power });
        }
        let n = 1usize << power;
        let powers = Powers {
            tau_g1: decode(
                &take(2, "tauG1")?,
                "tauG1",
                2 * n - 1,
                G1_BYTES,
                g1_from_bytes,
            )?,
            tau_g2: decode(&take(3, "tauG2")?, "tauG2", n, G2_BYTES, g2_from_bytes)?,
            alpha_tau_g1: decode(
                &take(4, "alphaTauG1")?,
                "alphaTauG1",
                n,
                G1_BYTES,
                g1_from_bytes,
            )?,
            beta_tau_g1: decode(
                &take(5, "betaTauG1")?,
                "betaTauG1",
                n,
                G1_BYTES,
                g1_from_bytes,
            )?,
            beta_g2: decode(&take(6, "betaG2")?, "betaG2", 1, G2_BYTES, g2_from_bytes)?[0],
        };
        let prepared = match [12, 13, 14, 15].map(|id| raw[id].take()) {
            [Some(a), Some(b), Some(c), Some(d)] => Some([a, b, c, d]),
            [None, None, None, None] => None,
            _ => return Err(format("a prepared file needs all of sections 12–15")),
        };
        debug!(
            power,
            ceremony_power,
            prepared = prepared.is_some(),
            "ptau read"
        );
        Ok(Ptau {
            powers,
            ceremony_power,
            contributions: raw[7].take(),
            prepared,
        })
    }

    /// Writes sections 1–7 (and 12–15 if prepared) in snarkjs's order: a file read by
    /// [`Ptau::read`] from snarkjs is written back byte for byte.
    pub fn write(&self, mut w: impl Write) -> Result<()> {
        let io = |e: std::io::Error| format(format!("write: {e}"));
        let p = &self.powers;
        let mut header = (N8 as u32).to_le_bytes().to_vec();
        header.extend(Fq::MODULUS.0.iter().flat_map(|l| l.to_le_bytes()));
        header.extend_from_slice(&p.power().to_le_bytes());
        header.extend_from_slice(&self.ceremony_power.to_le_bytes());
        let g1s = |v: &[G1Affine]| {
            let mut out = Vec::with_capacity(v.len() * G1_BYTES);
            v.iter().for_each(|q| g1_to_bytes(q, &mut out));
            out
        };
        let g2s = |v: &[G2Affine]| {
            let mut out = Vec::with_capacity(v.len() * G2_BYTES);
            v.iter().for_each(|q| g2_to_bytes(q, &mut out));
            out
        };
        let contributions = self
            .contributions
            .clone()
            .unwrap_or_else(|| 0u32.to_le_bytes().to_vec());
        w.write_all(b"ptau").map_err(io)?;
        w.write_all(&1u32.to_le_bytes()).map_err(io)?;
        let mut sections = vec![
            (1u32, header),
            (2, g1s(&p.tau_g1)),
            (3, g2s(&p.tau_g2)),
            (4, g1s(&p.alpha_tau_g1)),
            (5, g1s(&p.beta_tau_g1)),
            (6, g2s(&[p.beta_g2])),
            (7, contributions),
        ];
        if let Some(prepared) = &self.prepared {
            sections.extend((12u32..).zip(prepared.iter().cloned()));
        }
        w.write_all(&(sections.len() as u32).to_le_bytes())
            .map_err(io)?;
        for (id, data) in sections {
            w.write_all(&id.to_le_bytes()).map_err(io)?;
            w.write_all(&(data.len() as u64).to_le_bytes())
                .map_err(io)?;
            w.write_all(&data).map_err(io)?;
        }
        w.flush().map_err(io)
    }

    /// [`Ptau::read`] from a file.
    pub fn read_file(path: &Path) -> Result<Self> {
        let f = File::open(path).map_err(|source| CeremonyError::Io {
            path: path.display().to_string(),
            source,
        })?;
        Self::read(BufReader::new(f))
    }

    /// [`Ptau::write`] to a file.
    pub fn write_file(&self, path: &Path) -> Result<()> {
        let f = File::create(path).map_err(|source| CeremonyError::Io {
            path: path.display().to_string(),
            source,
        })?;
        self.write(BufWriter::new(f))
    }

    /// Our powers in a file snarkjs reads (its `contributions` section empty, not prepared).
    pub fn from_powers(powers: Powers) -> Self {
        let ceremony_power = powers.power();
        Ptau {
            powers,
            ceremony_power,
            contributions: None,
            prepared: None,
        }
    }

    /// The Lagrange basis for a domain of `domain_size` points from a prepared file's
    /// sections 12–15 (`None` if the file is not prepared), every point validated and the
    /// basis checked against the powers ([`LagrangeBasis::check`]): a basis that is not the
    /// powers' would give keys for another circuit, or forgeable ones.
    pub fn lagrange_basis(&self, domain_size: usize) -> Result<Option<LagrangeBasis>> {
        let Some([t1, t2, a1, b1]) = &self.prepared else {
            return Ok(None);
        };
        if !domain_size.is_power_of_two() || domain_size > self.powers.size() {
            return Err(CeremonyError::BadPower {
                power: domain_size.trailing_zeros(),
            });
        }
        let _s = info_span!("ptau_lagrange", domain_size).entered();
        // Domain 2^p starts after the 2^p − 1 points of the smaller domains.
        let n = domain_size;
        fn slice<'a>(data: &'a [u8], n: usize, width: usize, section: &str) -> Result<&'a [u8]> {
            let (from, to) = ((n - 1) * width, (2 * n - 1) * width);
            data.get(from..to)
                .ok_or_else(|| format(format!("section {section} too short for domain {n}")))
        }
        let basis = LagrangeBasis {
            tau_g1: decode(
                slice(t1, n, G1_BYTES, "12")?,
                "lagrange tauG1",
                n,
                G1_BYTES,
                g1_from_bytes,
            )?,
            tau_g2: decode(
                slice(t2, n, G2_BYTES, "13")?,
                "lagrange tauG2",
                n,
                G2_BYTES,
                g2_from_bytes,
            )?,
            alpha_tau_g1: decode(
                slice(a1, n, G1_BYTES, "14")?,
                "lagrange alphaTauG1",
                n,
                G1_BYTES,
                g1_from_bytes,
            )?,
            beta_tau_g1: decode(
                slice(b1, n, G1_BYTES, "15")?,
                "lagrange betaTauG1",
                n,
                G1_BYTES,
                g1_from_bytes,
            )?,
        };
        basis.check(&self.powers)?;
        Ok(Some(basis))
    }
}

#[cfg(test)]
mod tests {
    use ark_ec::{CurveGroup, PrimeGroup};
    use ark_ff::UniformRand;
    use rand::SeedableRng;
    use rand_chacha::ChaCha20Rng;

    use super::*;

    #[test]
    fn points_round_trip_through_montgomery_bytes() {
        let mut rng = ChaCha20Rng::seed_from_u64(3);
        let p =
            (ark_bn254::G1Projective::generator() * ark_bn254::Fr::rand(&mut rng)).into_affine();
        let q =
            (ark_bn254::G2Projective::generator() * ark_bn254::Fr::rand(&mut rng)).into_affine();
        let (mut b1, mut b2) = (Vec::new(), Vec::new());
        g1_to_bytes(&p, &mut b1);
        g2_to_bytes(&q, &mut b2);
        assert_eq!(g1_from_bytes(&b1), Some(p));
        assert_eq!(g2_from_bytes(&b2), Some(q));
        g1_to_bytes(&G1Affine::zero(), &mut b1);
        assert_eq!(g1_from_bytes(&b1[G1_BYTES..]), Some(G1Affine::zero()));
    }

    #[test]
    fn the_generator_is_stored_in_montgomery_form() {
        // G1 = (1, 2): in Montgomery form 1 is R mod q, which is not the integer 1.
        let mut b = Vec::new();
        g1_to_bytes(&G1Affine::generator(), &mut b);
        assert_ne!(&b[..8], &1u64.to_le_bytes());
        let r = Fq::from(1u64);
        assert_eq!(fq_from_montgomery(&b[..N8]), Some(r));
    }

    #[test]
    fn a_point_off_the_curve_is_rejected() {
        let mut b = Vec::new();
        g1_to_bytes(&G1Affine::generator(), &mut b);
        b[N8] ^= 1;
        assert_eq!(g1_from_bytes(&b), None);
        let mut non_canonical = vec![0xffu8; G1_BYTES];
        non_canonical[0] = 1;
        assert_eq!(g1_from_bytes(&non_canonical), None);
    }
}
