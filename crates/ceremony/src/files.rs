//! The ceremony as file operations, one function per step a deployment runs (the shape of
//! a `zkopml ceremony` subcommand each):
//!
//! 1. [`init`]: from a `.ptau` and a template, the phase-1-derived keys and an empty
//!    transcript (the coordinator; anyone can repeat it to check).
//! 2. [`contribute`]: each participant in turn, on the latest keys; appends to the
//!    transcript and writes new keys.
//! 3. [`verify`]: anyone, from the `.ptau`, the template, the final keys and the transcript.
//! 4. [`export`]: the final proving and verifying keys (ark-serialize, compressed) and the
//!    verifying key in the EVM verifier's encoding.
//!
//! Keys and transcripts are ark-serialize compressed encodings behind an 8-byte magic;
//! reading validates every point (on the curve, in the prime-order subgroup).

use std::{
    fs,
    path::{Path, PathBuf},
};

use ark_bn254::{Bn254, Fq, G1Affine, G2Affine};
use ark_ec::AffineRepr;
use ark_ff::{BigInteger, PrimeField};
use ark_groth16::VerifyingKey;
use ark_serialize::{CanonicalDeserialize, CanonicalSerialize, Compress, Validate};
use rand::Rng;
use serde::Serialize;
use tracing::info;
use zkopml_prover::templates::Template;

use crate::{
    derive::{phase1_keys_with, LagrangeBasis, TemplateR1cs},
    phase2::{verify_transcript, CeremonyKeys, Transcript},
    powers::Powers,
    ptau::Ptau,
    CeremonyError, Result,
};

const KEYS_MAGIC: &[u8; 8] = b"zkoKEYS1";
const TRANSCRIPT_MAGIC: &[u8; 8] = b"zkoTRNS1";

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> CeremonyError + '_ {
    move |source| CeremonyError::Io {
        path: path.display().to_string(),
        source,
    }
}

/// Writes `bytes` to `path` through a temporary file and a rename, so a reader never sees
/// half a file.
fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    let mut tmp = PathBuf::from(path);
    tmp.set_extension(format!("tmp{}", std::process::id()));
    fs::write(&tmp, bytes).map_err(io(&tmp))?;
    fs::rename(&tmp, path).map_err(io(path))
}

fn write_tagged<T: CanonicalSerialize>(path: &Path, magic: &[u8; 8], v: &T) -> Result<()> {
    let mut bytes = magic.to_vec();
    v.serialize_compressed(&mut bytes)?;
    write_atomic(path, &bytes)
}

fn read_tagged<T: CanonicalDeserialize>(path: &Path, magic: &[u8; 8]) -> Result<T> {
    let bytes = fs::read(path).map_err(io(path))?;
    if bytes.len() < 8 || &bytes[..8] != magic {
        return Err(CeremonyError::Serialization(
            ark_serialize::SerializationError::InvalidData,
        ));
    }
    Ok(T::deserialize_with_mode(
        &bytes[8..],
        Compress::Yes,
        Validate::Yes,
    )?)
}

/// Reads keys written by [`write_keys`].
pub fn read_keys(path: &Path) -> Result<CeremonyKeys> {
    read_tagged(path, KEYS_MAGIC)
}

/// Writes keys (magic + compressed encoding).
pub fn write_keys(path: &Path, keys: &CeremonyKeys) -> Result<()> {
    write_tagged(path, KEYS_MAGIC, keys)
}

/// Reads a transcript written by [`write_transcript`].
pub fn read_transcript(path: &Path) -> Result<Transcript> {
    read_tagged(path, TRANSCRIPT_MAGIC)
}

/// Writes a transcript (magic + compressed encoding).
pub fn write_transcript(path: &Path, t: &Transcript) -> Result<()> {
    write_tagged(path, TRANSCRIPT_MAGIC, t)
}

/// What a template's phase 2 starts from: its R1CS, the powers cut to its domain, and
/// the Lagrange basis of that domain.
#[derive(Clone, Debug)]
pub struct Phase1For {
    /// The template's constraint system.
    pub r1cs: TemplateR1cs,
    /// The powers, cut to the template's domain and checked for consistency.
    pub powers: Powers,
    /// The Lagrange basis: from a prepared `.ptau` (checked against the powers), else
    /// computed (minutes for a 2^17 domain).
    pub lagrange: LagrangeBasis,
}

impl Phase1For {
    /// The phase-1-derived keys (δ = 1).
    pub fn keys(&self) -> Result<CeremonyKeys> {
        Ok(CeremonyKeys {
            template: self.r1cs.name.clone(),
            pk: phase1_keys_with(&self.r1cs, &self.powers, &self.lagrange)?,
        })
    }
}

/// Reads `ptau` for template `T`: checks it is large enough, cuts the powers to the
/// template's domain, checks their consistency ([`Powers::verify_consistency`]) and takes
/// the Lagrange basis from the file if it is prepared.
pub fn phase1_for<T: Template>(ptau: &Path) -> Result<Phase1For> {
    let r1cs = TemplateR1cs::of::<T>()?;
    let file = Ptau::read_file(ptau)?;
    r1cs.check_powers(&file.powers)?;
    let n = r1cs.domain_size()?;
    let prepared = file.lagrange_basis(n)?;
    let powers = file.powers.truncate(n.trailing_zeros())?;
    powers.verify_consistency()?;
    let lagrange = match prepared {
        Some(basis) => basis,
        None => {
            info!(
                domain = n,
                "not a prepared .ptau: computing the Lagrange basis"
            );
            LagrangeBasis::new(&powers, n)?
        }
    };
    Ok(Phase1For {
        r1cs,
        powers,
        lagrange,
    })
}

/// What [`init`] made.
#[derive(Clone, Debug, Serialize)]
pub struct InitSummary {
    /// The template.
    pub template: String,
    /// Its constraints.
    pub constraints: usize,
    /// Its public inputs (the constant 1 not counted).
    pub public_inputs: usize,
    /// Its evaluation domain's size (the powers used).
    pub domain: usize,
    /// Hex digest of the initial keys (the transcript's first link).
    pub initial_digest: String,
}

/// Step 1: the phase-1-derived keys of template `T` from `ptau` (δ = 1) and an empty
/// transcript.
pub fn init<T: Template>(
    ptau: &Path,
    keys_out: &Path,
    transcript_out: &Path,
) -> Result<InitSummary> {
    let p1 = phase1_for::<T>(ptau)?;
    let keys = p1.keys()?;
    let r1cs = p1.r1cs;
    let transcript = Transcript::new(&keys);
    write_keys(keys_out, &keys)?;
    write_transcript(transcript_out, &transcript)?;
    info!(template = T::NAME, "phase 2 initialised");
    Ok(InitSummary {
        template: r1cs.name.clone(),
        constraints: r1cs.num_constraints,
        public_inputs: r1cs.num_instance - 1,
        domain: r1cs.domain_size()?,
        initial_digest: hex::encode(transcript.initial_digest),
    })
}

/// What [`contribute`] did.
#[derive(Clone, Debug, Serialize)]
pub struct ContributionSummary {
    /// The template.
    pub template: String,
    /// This contribution's index in the transcript.
    pub index: usize,
    /// Hex digest of the new keys: the participant publishes it (and checks it appears
    /// in the final transcript).
    pub keys_digest: String,
}

/// Step 2: one participant's contribution with randomness from `rng`: reads the latest
/// keys and the transcript, writes the new keys to `keys_out` and the extended transcript
/// back to `transcript`.
pub fn contribute<R: Rng + ?Sized>(
    keys_in: &Path,
    transcript: &Path,
    keys_out: &Path,
    rng: &mut R,
) -> Result<ContributionSummary> {
    let keys = read_keys(keys_in)?;
    let mut t = read_transcript(transcript)?;
    let next = t.contribute(&keys, rng)?;
    write_keys(keys_out, &next)?;
    write_transcript(transcript, &t)?;
    let c = t.contributions.last().expect("just pushed");
    Ok(ContributionSummary {
        template: t.template.clone(),
        index: t.contributions.len() - 1,
        keys_digest: hex::encode(c.keys_digest),
    })
}

/// What [`verify`] checked.
#[derive(Clone, Debug, Serialize)]
pub struct VerifySummary {
    /// The template.
    pub template: String,
    /// Contributions checked.
    pub contributions: usize,
    /// Hex digest of the final keys.
    pub final_digest: String,
}

/// Step 3: recomputes the phase-1-derived keys of `T` from `ptau` and checks the transcript
/// from them to `keys` ([`verify_transcript`]).
pub fn verify<T: Template>(ptau: &Path, keys: &Path, transcript: &Path) -> Result<VerifySummary> {
    let initial = phase1_for::<T>(ptau)?.keys()?;
    let last = read_keys(keys)?;
    let t = read_transcript(transcript)?;
    verify_transcript(&initial, &last, &t)?;
    Ok(VerifySummary {
        template: t.template.clone(),
        contributions: t.contributions.len(),
        final_digest: hex::encode(last.digest()),
    })
}

/// The verifying key as the EVM Groth16 verifier takes it (the encoding of
/// `zkopml_prover::evm::verifier_args`, for any number of public inputs): 32-byte
/// big-endian hex words, G2 coordinates imaginary part first (EIP-197).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct EvmVerifyingKey {
    /// α in G1: `[x, y]`.
    pub alpha1: [String; 2],
    /// β in G2: `[[x.c1, x.c0], [y.c1, y.c0]]`.
    pub beta2: [[String; 2]; 2],
    /// γ in G2.
    pub gamma2: [[String; 2]; 2],
    /// δ in G2.
    pub delta2: [[String; 2]; 2],
    /// `IC_0 … IC_l` in G1 (`l` public inputs).
    pub ic: Vec<[String; 2]>,
}

fn word(x: &Fq) -> String {
    format!("0x{}", hex::encode(x.into_bigint().to_bytes_be()))
}

fn g1_words(p: &G1Affine) -> [String; 2] {
    let (x, y) = p.xy().unwrap_or_default();
    [word(&x), word(&y)]
}

fn g2_words(p: &G2Affine) -> [[String; 2]; 2] {
    let (x, y) = p.xy().unwrap_or_default();
    [[word(&x.c1), word(&x.c0)], [word(&y.c1), word(&y.c0)]]
}

impl EvmVerifyingKey {
    /// The encoding of `vk`.
    pub fn new(vk: &VerifyingKey<Bn254>) -> Self {
        EvmVerifyingKey {
            alpha1: g1_words(&vk.alpha_g1),
            beta2: g2_words(&vk.beta_g2),
            gamma2: g2_words(&vk.gamma_g2),
            delta2: g2_words(&vk.delta_g2),
            ic: vk.gamma_abc_g1.iter().map(g1_words).collect(),
        }
    }
}

/// Step 4: writes the proving key to `pk_out`, the verifying key to `vk_out` (ark-serialize
/// compressed: what `zkopml_prover` loads) and, if asked, the verifying key as JSON in the
/// EVM encoding. Refuses keys no one contributed to; run [`verify`] first.
pub fn export(keys: &Path, pk_out: &Path, vk_out: &Path, vk_json: Option<&Path>) -> Result<()> {
    let keys = read_keys(keys)?;
    if keys.is_initial() {
        return Err(CeremonyError::NoContributions { phase: "phase-2" });
    }
    let mut pk = Vec::new();
    keys.pk.serialize_compressed(&mut pk)?;
    write_atomic(pk_out, &pk)?;
    let mut vk = Vec::new();
    keys.vk().serialize_compressed(&mut vk)?;
    write_atomic(vk_out, &vk)?;
    if let Some(path) = vk_json {
        let json = serde_json::to_vec_pretty(&EvmVerifyingKey::new(keys.vk()))
            .expect("plain strings serialise");
        write_atomic(path, &json)?;
    }
    Ok(())
}

/// A complete local phase 2: the initial keys, the final keys and the transcript between.
#[derive(Clone, Debug)]
pub struct LocalCeremony {
    /// The phase-1-derived keys (δ = 1).
    pub initial: CeremonyKeys,
    /// The keys after the last contribution.
    pub last: CeremonyKeys,
    /// The transcript.
    pub transcript: Transcript,
}

/// Phase 2 of template `T` in one call, with `contributors` local contributions (each
/// checked by [`crate::verify_contribution`] as a coordinator would) and the whole
/// transcript verified at the end. For tests and devnets: the secrets all come from one
/// `rng` on one machine, so these are test keys unless `rng` is something better.
pub fn run_local<T: Template, R: Rng + ?Sized>(
    powers: &Powers,
    contributors: usize,
    rng: &mut R,
) -> Result<LocalCeremony> {
    let initial = CeremonyKeys::init::<T>(powers)?;
    let mut transcript = Transcript::new(&initial);
    let mut last = initial.clone();
    for index in 0..contributors {
        let next = transcript.contribute(&last, rng)?;
        crate::verify_contribution(&last, &next, &transcript, index)?;
        last = next;
    }
    verify_transcript(&initial, &last, &transcript)?;
    Ok(LocalCeremony {
        initial,
        last,
        transcript,
    })
}
