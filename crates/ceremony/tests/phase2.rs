//! Phase 2 as a spec: keys derived from phase 1 are arkworks' keys; three contributors
//! make keys that prove and verify; every way of tampering with a contribution is caught;
//! proofs under the project's public test keys do not verify under ceremony keys.

mod common;

use std::sync::OnceLock;

use ark_bn254::{Bn254, Fr, G1Affine, G2Affine};
use ark_ec::{AffineRepr, CurveGroup};
use ark_ff::{Field, UniformRand};
use ark_groth16::{
    r1cs_to_qap::{LibsnarkReduction, R1CSToQAP},
    ProvingKey, VerifyingKey,
};
use ark_poly::GeneralEvaluationDomain;
use ark_relations::gr1cs::{ConstraintSystem, OptimizationGoal, SynthesisMode};
use ark_serialize::CanonicalDeserialize;
use common::{prove, rng, testdata_ptau, verifies, Big, Cube, CubeInstance};
use zkopml_ceremony::{
    contribute, files, phase1_keys, ptau::Ptau, verify_contribution, verify_transcript,
    CeremonyError, CeremonyKeys, Powers, TemplateR1cs, Transcript,
};
use zkopml_prover::{
    gadgets::Cs,
    templates::{template_prove, template_setup, Template},
};

fn powers() -> &'static Powers {
    static P: OnceLock<Powers> = OnceLock::new();
    P.get_or_init(|| Ptau::read_file(&testdata_ptau()).unwrap().powers)
}

/// Three local contributors on the committed snarkjs phase 1.
fn ceremony() -> &'static files::LocalCeremony {
    static C: OnceLock<files::LocalCeremony> = OnceLock::new();
    C.get_or_init(|| files::run_local::<Cube, _>(powers(), 3, &mut rng(10)).unwrap())
}

fn instance() -> CubeInstance {
    CubeInstance {
        a: Fr::from(3u64),
        x: Fr::from(11u64),
    }
}

#[test]
fn phase1_keys_are_arkworks_keys_at_tau() {
    // With known secrets, compare with arkworks' own QAP evaluated in the clear at τ.
    let mut r = rng(11);
    let (tau, alpha, beta) = (Fr::rand(&mut r), Fr::rand(&mut r), Fr::rand(&mut r));
    let powers = Powers::from_secrets(8, tau, alpha, beta).unwrap();
    let pk = phase1_keys(&TemplateR1cs::of::<Cube>().unwrap(), &powers).unwrap();

    let cs = ConstraintSystem::<Fr>::new_ref();
    cs.set_optimization_goal(OptimizationGoal::Constraints);
    cs.set_mode(SynthesisMode::Setup);
    Cube::synthesize(&Cs::new(cs.clone()), None).unwrap();
    cs.finalize();
    let ni = cs.num_instance_variables();
    let (a, b, c, zt, _, n) = LibsnarkReduction::instance_map_with_evaluation::<
        Fr,
        GeneralEvaluationDomain<Fr>,
    >(cs, &tau)
    .unwrap();
    assert_eq!(n, 256);
    let g1 = |s: Fr| (G1Affine::generator() * s).into_affine();
    let g2 = |s: Fr| (G2Affine::generator() * s).into_affine();
    let abc = |i: usize| beta * a[i] + alpha * b[i] + c[i];
    assert_eq!(pk.a_query, a.iter().map(|&s| g1(s)).collect::<Vec<_>>());
    assert_eq!(pk.b_g1_query, b.iter().map(|&s| g1(s)).collect::<Vec<_>>());
    assert_eq!(pk.b_g2_query, b.iter().map(|&s| g2(s)).collect::<Vec<_>>());
    assert_eq!(
        pk.vk.gamma_abc_g1,
        (0..ni).map(|i| g1(abc(i))).collect::<Vec<_>>()
    );
    assert_eq!(
        pk.l_query,
        (ni..a.len()).map(|i| g1(abc(i))).collect::<Vec<_>>()
    );
    let h: Vec<_> = (0..n - 1).map(|i| g1(zt * tau.pow([i as u64]))).collect();
    assert_eq!(pk.h_query, h);
    assert_eq!(
        (pk.vk.alpha_g1, pk.beta_g1, pk.vk.beta_g2),
        (g1(alpha), g1(beta), g2(beta))
    );
    assert_eq!(
        (pk.delta_g1, pk.vk.delta_g2, pk.vk.gamma_g2),
        (g1(Fr::ONE), g2(Fr::ONE), g2(Fr::ONE))
    );
}

#[test]
fn three_contributors_make_keys_that_prove_and_verify() {
    let c = ceremony();
    assert_eq!(c.transcript.contributions.len(), 3);
    verify_transcript(&c.initial, &c.last, &c.transcript).unwrap();
    let inst = instance();
    let public = Cube::public_inputs(&inst);
    let proof = prove::<Cube>(&c.last.pk, &inst);
    assert!(verifies(c.last.vk(), &public, &proof));
    // A wrong public input (another output) is rejected.
    let wrong = [public[0], public[1] + Fr::ONE];
    assert!(!verifies(c.last.vk(), &wrong, &proof));
    // δ moved: a proof made under the phase-1-derived keys (δ = 1) is not accepted.
    let before = prove::<Cube>(&c.initial.pk, &inst);
    assert!(verifies(c.initial.vk(), &public, &before));
    assert!(!verifies(c.last.vk(), &public, &before));
}

#[test]
fn proofs_under_the_public_test_keys_are_rejected_by_ceremony_keys() {
    let c = ceremony();
    let inst = instance();
    let test_keys = template_setup::<Cube>().unwrap();
    let forged = template_prove(&test_keys, &inst).unwrap();
    assert!(verifies(test_keys.vk(), &forged.public, &forged.proof));
    assert!(!verifies(c.last.vk(), &forged.public, &forged.proof));
    let honest = prove::<Cube>(&c.last.pk, &inst);
    assert!(verifies(c.last.vk(), &forged.public, &honest));
    assert!(!verifies(test_keys.vk(), &forged.public, &honest));
}

#[test]
fn each_contribution_verifies_on_its_own() {
    let mut r = rng(12);
    let initial = ceremony().initial.clone();
    let mut t = Transcript::new(&initial);
    let k1 = t.contribute(&initial, &mut r).unwrap();
    let k2 = t.contribute(&k1, &mut r).unwrap();
    verify_contribution(&initial, &k1, &t, 0).unwrap();
    verify_contribution(&k1, &k2, &t, 1).unwrap();
    assert!(matches!(
        verify_contribution(&k1, &k2, &t, 0),
        Err(CeremonyError::Phase2Contribution { index: 0, .. })
    ));
    assert!(verify_contribution(&initial, &k2, &t, 1).is_err());
}

#[test]
fn contributing_on_stale_keys_is_refused() {
    let c = ceremony();
    assert!(matches!(
        contribute(&c.initial, &c.transcript, &mut rng(13)),
        Err(CeremonyError::NotLatest)
    ));
}

fn check(last: &CeremonyKeys, t: &Transcript) -> Result<(), CeremonyError> {
    verify_transcript(&ceremony().initial, last, t)
}

/// Multiplies δ of the keys by `s` without touching L and H.
fn shift_delta(pk: &mut ProvingKey<Bn254>, s: Fr) {
    pk.delta_g1 = (pk.delta_g1 * s).into_affine();
    pk.vk.delta_g2 = (pk.vk.delta_g2 * s).into_affine();
}

#[test]
fn delta_changed_without_l_and_h_is_rejected() {
    let c = ceremony();
    let s = Fr::from(7u64);
    let mut last = c.last.clone();
    shift_delta(&mut last.pk, s);
    assert!(matches!(
        check(&last, &c.transcript),
        Err(CeremonyError::FinalKeys { .. })
    ));
    // Also rewriting the transcript's last δ: the proof of knowledge no longer matches it.
    let mut t = c.transcript.clone();
    t.contributions[2].delta_g1 = last.pk.delta_g1;
    t.contributions[2].keys_digest = last.digest();
    assert!(matches!(
        check(&last, &t),
        Err(CeremonyError::Phase2Contribution { index: 2, .. })
    ));
}

#[test]
fn l_or_h_not_scaled_by_the_secret_is_rejected() {
    let c = ceremony();
    let mut last = c.last.clone();
    last.pk.l_query[4] = c.initial.pk.l_query[4];
    assert!(matches!(
        check(&last, &c.transcript),
        Err(CeremonyError::FinalKeys { .. })
    ));
    let mut last = c.last.clone();
    last.pk.h_query[100] = (last.pk.h_query[100] * Fr::from(2u64)).into_affine();
    assert!(matches!(
        check(&last, &c.transcript),
        Err(CeremonyError::FinalKeys { .. })
    ));
}

#[test]
fn a_bad_proof_of_knowledge_is_rejected() {
    let c = ceremony();
    let mut t = c.transcript.clone();
    t.contributions[1].pok.r_x = (t.contributions[1].pok.r_x * Fr::from(2u64)).into_affine();
    assert!(matches!(
        check(&c.last, &t),
        Err(CeremonyError::Phase2Contribution { index: 1, .. })
    ));
    // A proof copied from another contribution is bound to the other challenge.
    let mut t = c.transcript.clone();
    t.contributions[1].pok = t.contributions[0].pok;
    assert!(matches!(
        check(&c.last, &t),
        Err(CeremonyError::Phase2Contribution { index: 1, .. })
    ));
}

#[test]
fn a_dropped_or_reordered_contribution_is_rejected() {
    let c = ceremony();
    let mut t = c.transcript.clone();
    t.contributions.remove(1);
    assert!(check(&c.last, &t).is_err());
    let mut t = c.transcript.clone();
    t.contributions.swap(0, 1);
    assert!(check(&c.last, &t).is_err());
    let mut t = c.transcript.clone();
    t.contributions.clear();
    assert!(matches!(
        check(&c.initial, &t),
        Err(CeremonyError::NoContributions { .. })
    ));
}

#[test]
fn changing_what_phase_1_fixed_is_rejected() {
    let c = ceremony();
    let mut last = c.last.clone();
    last.pk.a_query[2] = last.pk.a_query[3];
    assert!(matches!(
        check(&last, &c.transcript),
        Err(CeremonyError::KeysChanged {
            what: "the A query"
        })
    ));
    let mut last = c.last.clone();
    last.pk.vk.gamma_g2 = last.pk.vk.delta_g2;
    assert!(matches!(
        check(&last, &c.transcript),
        Err(CeremonyError::KeysChanged { what: "γ" })
    ));
    let mut last = c.last.clone();
    last.pk.vk.gamma_abc_g1[1] = G1Affine::generator();
    assert!(matches!(
        check(&last, &c.transcript),
        Err(CeremonyError::KeysChanged { .. })
    ));
}

#[test]
fn initial_keys_other_than_the_phase1_derivation_are_rejected() {
    let c = ceremony();
    // Derived from other powers: the transcript names another initial digest.
    let (other, _) = Powers::generate_local(8, 1, &mut rng(14)).unwrap();
    let initial = CeremonyKeys::init::<Cube>(&other).unwrap();
    assert!(matches!(
        verify_transcript(&initial, &c.last, &c.transcript),
        Err(CeremonyError::DigestMismatch { which: "initial" })
    ));
}

#[test]
fn powers_too_small_for_a_template_are_a_typed_error() {
    assert!(matches!(
        CeremonyKeys::init::<Big>(powers()),
        Err(CeremonyError::PowersTooSmall {
            need: 11,
            have: 10,
            ..
        })
    ));
}

#[test]
fn the_file_api_runs_init_contribute_verify_export() {
    let dir = tempfile::tempdir().unwrap();
    let p = |name: &str| dir.path().join(name);
    let ptau = testdata_ptau();
    let init = files::init::<Cube>(&ptau, &p("k0"), &p("t")).unwrap();
    assert_eq!((init.domain, init.public_inputs), (256, 2));
    // An unverified export of δ = 1 keys is refused.
    assert!(matches!(
        files::export(&p("k0"), &p("pk"), &p("vk"), None),
        Err(CeremonyError::NoContributions { .. })
    ));
    let mut r = rng(15);
    for i in 0..3 {
        let s = files::contribute(
            &p(&format!("k{i}")),
            &p("t"),
            &p(&format!("k{}", i + 1)),
            &mut r,
        )
        .unwrap();
        assert_eq!(s.index, i);
    }
    let v = files::verify::<Cube>(&ptau, &p("k3"), &p("t")).unwrap();
    assert_eq!(v.contributions, 3);
    // The keys of an intermediate state are not the transcript's final keys.
    assert!(files::verify::<Cube>(&ptau, &p("k2"), &p("t")).is_err());
    files::export(&p("k3"), &p("pk"), &p("vk"), Some(&p("vk.json"))).unwrap();

    let pk =
        ProvingKey::<Bn254>::deserialize_compressed(&std::fs::read(p("pk")).unwrap()[..]).unwrap();
    let vk = VerifyingKey::<Bn254>::deserialize_compressed(&std::fs::read(p("vk")).unwrap()[..])
        .unwrap();
    let inst = instance();
    assert!(verifies(
        &vk,
        &Cube::public_inputs(&inst),
        &prove::<Cube>(&pk, &inst)
    ));
    let json: serde_json::Value =
        serde_json::from_slice(&std::fs::read(p("vk.json")).unwrap()).unwrap();
    assert_eq!(json["ic"].as_array().unwrap().len(), 3);

    // A corrupted keys file does not load.
    let mut bytes = std::fs::read(p("k3")).unwrap();
    let mid = bytes.len() / 2;
    bytes[mid] ^= 0x55;
    std::fs::write(p("bad"), &bytes).unwrap();
    assert!(files::verify::<Cube>(&ptau, &p("bad"), &p("t")).is_err());
}

#[test]
fn verification_failures_classify_themselves() {
    let c = ceremony();
    let mut t = c.transcript.clone();
    t.contributions[0].pok.r_x = t.contributions[1].pok.r_x;
    let err = check(&c.last, &t).unwrap_err();
    assert!(err.is_verification_failure(), "{err}");
    let io = files::verify::<Cube>(
        std::path::Path::new("/nonexistent.ptau"),
        std::path::Path::new("/nonexistent"),
        std::path::Path::new("/nonexistent"),
    )
    .unwrap_err();
    assert!(!io.is_verification_failure(), "{io}");
}
