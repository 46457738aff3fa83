//! Phase 1 as a spec: local contributions are verifiable and a bad one is caught; the
//! snarkjs `.ptau` format is read and written exactly as snarkjs does.

mod common;

use std::{path::Path, process::Command};

use ark_bn254::{Fr, G1Affine, G2Affine};
use ark_ec::{AffineRepr, CurveGroup};
use ark_ff::{Field, PrimeField};
use common::{rng, testdata_ptau};
use zkopml_ceremony::{ptau::Ptau, CeremonyError, LagrangeBasis, Powers};

#[test]
fn local_phase1_with_three_contributors_verifies() {
    let (powers, transcript) = Powers::generate_local(6, 3, &mut rng(1)).unwrap();
    assert_eq!(transcript.contributions.len(), 3);
    assert_eq!((powers.size(), powers.tau_g1.len()), (64, 127));
    assert!(!powers.is_trivial());
    transcript.verify(&powers).unwrap();
}

#[test]
fn trivial_powers_are_consistent_but_not_a_ceremony() {
    let powers = Powers::trivial(4).unwrap();
    powers.verify_consistency().unwrap();
    let (_, empty) = Powers::generate_local(4, 0, &mut rng(2)).unwrap();
    assert!(matches!(
        empty.verify(&powers),
        Err(CeremonyError::NoContributions { .. })
    ));
}

#[test]
fn a_tampered_power_is_rejected() {
    let (powers, transcript) = Powers::generate_local(5, 1, &mut rng(3)).unwrap();
    let mut bad = powers.clone();
    bad.tau_g1[17] = (bad.tau_g1[17] + G1Affine::generator()).into_affine();
    assert!(matches!(
        transcript.verify(&bad),
        Err(CeremonyError::InconsistentPowers { .. })
    ));
    let mut bad = powers.clone();
    bad.tau_g2[3] = bad.tau_g2[4];
    assert!(bad.verify_consistency().is_err());
    let mut bad = powers.clone();
    bad.alpha_tau_g1[31] = bad.beta_tau_g1[31];
    assert!(bad.verify_consistency().is_err());
    let mut bad = powers;
    bad.beta_g2 = G2Affine::generator();
    assert!(bad.verify_consistency().is_err());
}

#[test]
fn a_contribution_without_knowledge_of_its_secret_is_rejected() {
    let (powers, mut transcript) = Powers::generate_local(4, 2, &mut rng(4)).unwrap();
    // Replace the second proof of knowledge of τ by the first one: valid points, but made
    // under another challenge (a contributor copying someone else's proof).
    transcript.contributions[1].tau_pok = transcript.contributions[0].tau_pok;
    assert!(matches!(
        transcript.verify(&powers),
        Err(CeremonyError::Phase1Contribution { index: 1, .. })
    ));
}

#[test]
fn contributing_on_stale_powers_is_refused() {
    let mut r = rng(9);
    let (_, mut transcript) = Powers::generate_local(4, 1, &mut r).unwrap();
    assert!(matches!(
        transcript.contribute(&Powers::trivial(4).unwrap(), &mut r),
        Err(CeremonyError::NotLatest)
    ));
}

#[test]
fn a_contribution_that_skips_a_secret_is_rejected() {
    let (powers, mut transcript) = Powers::generate_local(4, 2, &mut rng(5)).unwrap();
    // Claim α was left as before while the proof says it was multiplied.
    transcript.contributions[1].alpha_g1 = transcript.contributions[0].alpha_g1;
    assert!(transcript.verify(&powers).is_err());
}

#[test]
fn powers_truncate_to_a_prefix_that_is_still_consistent() {
    let (powers, _) = Powers::generate_local(6, 1, &mut rng(6)).unwrap();
    let small = powers.truncate(3).unwrap();
    assert_eq!(small.size(), 8);
    assert_eq!(small.tau_g1[..], powers.tau_g1[..15]);
    small.verify_consistency().unwrap();
}

/// The committed file (made by snarkjs, see `testdata/README.md`) reads as consistent,
/// non-trivial powers and writes back byte for byte, prepared or not.
#[test]
fn a_snarkjs_ptau_reads_and_round_trips_byte_for_byte() {
    let bytes = std::fs::read(testdata_ptau()).unwrap();
    let ptau = Ptau::read(&bytes[..]).unwrap();
    assert_eq!((ptau.powers.power(), ptau.ceremony_power), (10, 10));
    assert!(ptau.prepared.is_some());
    assert!(!ptau.powers.is_trivial());
    ptau.powers.verify_consistency().unwrap();
    let mut out = Vec::new();
    ptau.write(&mut out).unwrap();
    assert_eq!(out, bytes);
    // Without the Lagrange sections: what `snarkjs powersoftau contribute` writes.
    let unprepared = Ptau {
        prepared: None,
        ..ptau.clone()
    };
    let mut short = Vec::new();
    unprepared.write(&mut short).unwrap();
    assert_eq!(Ptau::read(&short[..]).unwrap(), unprepared);
    assert!(short.len() < out.len());
}

/// A prepared file's Lagrange bases are ours, for every domain it covers, and a basis that
/// is not the powers' (here: two points swapped) is refused.
#[test]
fn a_prepared_ptau_supplies_a_checked_lagrange_basis() {
    let ptau = Ptau::read_file(&testdata_ptau()).unwrap();
    for n in [2usize, 256, 1024] {
        let theirs = ptau.lagrange_basis(n).unwrap().expect("prepared");
        assert_eq!(
            theirs,
            LagrangeBasis::new(&ptau.powers, n).unwrap(),
            "domain {n}"
        );
    }
    let mut bad = ptau.clone();
    let section = &mut bad.prepared.as_mut().unwrap()[0];
    // Domain 256 starts after 255 points; swap its points 3 and 4.
    let (a, b) = ((255 + 3) * 64, (255 + 4) * 64);
    let p3 = section[a..a + 64].to_vec();
    section.copy_within(b..b + 64, a);
    section[b..b + 64].copy_from_slice(&p3);
    assert!(matches!(
        bad.lagrange_basis(256),
        Err(CeremonyError::InconsistentPowers { .. })
    ));
    assert!(
        bad.lagrange_basis(512).is_ok(),
        "other domains are untouched"
    );
    assert_eq!(
        Ptau::from_powers(ptau.powers).lagrange_basis(256).unwrap(),
        None
    );
}

#[test]
fn local_powers_export_and_import() {
    let (powers, _) = Powers::generate_local(4, 1, &mut rng(7)).unwrap();
    let mut out = Vec::new();
    Ptau::from_powers(powers.clone()).write(&mut out).unwrap();
    assert_eq!(Ptau::read(&out[..]).unwrap().powers, powers);
}

#[test]
fn a_corrupted_ptau_is_rejected() {
    let bytes = std::fs::read(testdata_ptau()).unwrap();
    // Flip a bit in the y coordinate of tauG1[5]: off the curve.
    // Layout: 12-byte file header, then section 1 (12 + 44 bytes), then section 2's 12.
    let mut bad = bytes.clone();
    let at = 12 + 12 + 44 + 12 + 5 * 64 + 32;
    assert_eq!(
        &bad[12 + 12 + 44..12 + 12 + 44 + 4],
        &2u32.to_le_bytes(),
        "section 2"
    );
    bad[at] ^= 1;
    assert!(matches!(
        Ptau::read(&bad[..]),
        Err(CeremonyError::InvalidPoint {
            section: "tauG1",
            index: 5
        })
    ));
    let mut bad = bytes.clone();
    bad[0] = b'x';
    assert!(matches!(
        Ptau::read(&bad[..]),
        Err(CeremonyError::PtauFormat { .. })
    ));
    assert!(Ptau::read(&bytes[..bytes.len() - 100]).is_err());
}

/// snarkjs's `export json` prints, for each point, the first 32 bytes of its stored form
/// (x, or x.c0 for G2, in Montgomery form) read as an Fr element in Montgomery form:
/// `X · 2^{-256} mod r`. We compute the same from our points' encoding.
fn snarkjs_json_value(encoded_point: &[u8]) -> String {
    let x = Fr::from_le_bytes_mod_order(&encoded_point[..32]);
    let r_inv = Fr::from(2u64).pow([256]).inverse().unwrap();
    (x * r_inv).into_bigint().to_string()
}

fn encoded(powers: &Powers) -> Vec<u8> {
    let mut out = Vec::new();
    Ptau::from_powers(powers.clone()).write(&mut out).unwrap();
    out
}

/// Our encodings of `points` as they appear in a written `.ptau` section, one per point.
fn point_values<P: AffineRepr>(
    points: &[P],
    width: usize,
    section: u32,
    file: &[u8],
) -> Vec<String> {
    // Find the section in the file we wrote.
    let mut at = 12;
    loop {
        let id = u32::from_le_bytes(file[at..at + 4].try_into().unwrap());
        let len = u64::from_le_bytes(file[at + 4..at + 12].try_into().unwrap()) as usize;
        if id == section {
            return file[at + 12..at + 12 + len]
                .chunks(width)
                .take(points.len())
                .map(snarkjs_json_value)
                .collect();
        }
        at += 12 + len;
    }
}

fn snarkjs() -> Option<String> {
    let candidates = [std::env::var("SNARKJS").ok(), Some("snarkjs".to_string())];
    candidates.into_iter().flatten().find(|c| {
        Command::new(c)
            .arg("--version")
            .output()
            .map(|o| String::from_utf8_lossy(&o.stdout).contains("snarkjs"))
            .unwrap_or(false)
    })
}

fn run(snarkjs: &str, dir: &Path, args: &[&str]) {
    let out = Command::new(snarkjs)
        .args(args)
        .current_dir(dir)
        .output()
        .unwrap();
    assert!(
        out.status.success() && !String::from_utf8_lossy(&out.stdout).contains("[ERROR]"),
        "snarkjs {args:?}: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Against snarkjs itself (skipped without it): a fresh snarkjs phase 1 imports to exactly
/// the points snarkjs reports, passes our consistency checks, and snarkjs's Lagrange bases
/// ("prepare phase2") equal ours; and snarkjs reads our export of local powers back as the
/// same points and Lagrange bases.
#[test]
fn snarkjs_agrees_with_the_importer_the_exporter_and_the_lagrange_basis() {
    let Some(snarkjs) = snarkjs() else {
        eprintln!(
            "SKIPPED: snarkjs not found (set SNARKJS=/path/to/snarkjs or put it on PATH; \
             `npm install --prefix /tmp/snarkjs snarkjs@0.7.5` then \
             SNARKJS=/tmp/snarkjs/node_modules/.bin/snarkjs)"
        );
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    run(&snarkjs, d, &["powersoftau", "new", "bn128", "6", "a.ptau"]);
    run(
        &snarkjs,
        d,
        &[
            "powersoftau",
            "contribute",
            "a.ptau",
            "b.ptau",
            "--name=one",
            "-e=entropy one",
        ],
    );
    run(
        &snarkjs,
        d,
        &[
            "powersoftau",
            "contribute",
            "b.ptau",
            "c.ptau",
            "--name=two",
            "-e=entropy two",
        ],
    );
    run(
        &snarkjs,
        d,
        &["powersoftau", "prepare", "phase2", "c.ptau", "p.ptau"],
    );
    run(
        &snarkjs,
        d,
        &["powersoftau", "export", "json", "p.ptau", "p.json"],
    );

    let theirs = Ptau::read_file(&d.join("c.ptau")).unwrap().powers;
    theirs.verify_consistency().unwrap();
    assert!(!theirs.is_trivial());
    // A "prepared" file has the same powers, and round-trips too.
    let prepared = std::fs::read(d.join("p.ptau")).unwrap();
    let read = Ptau::read(&prepared[..]).unwrap();
    assert_eq!(read.powers, theirs);
    let mut out = Vec::new();
    read.write(&mut out).unwrap();
    assert_eq!(out, prepared);
    let json: serde_json::Value =
        serde_json::from_slice(&std::fs::read(d.join("p.json")).unwrap()).unwrap();
    check_against_json(&theirs, &json);

    // Our export of local powers, prepared and printed by snarkjs.
    let (ours, _) = Powers::generate_local(6, 1, &mut rng(8)).unwrap();
    Ptau::from_powers(ours.clone())
        .write_file(&d.join("ours.ptau"))
        .unwrap();
    run(
        &snarkjs,
        d,
        &[
            "powersoftau",
            "prepare",
            "phase2",
            "ours.ptau",
            "ours_p.ptau",
        ],
    );
    run(
        &snarkjs,
        d,
        &["powersoftau", "export", "json", "ours_p.ptau", "ours.json"],
    );
    let json: serde_json::Value =
        serde_json::from_slice(&std::fs::read(d.join("ours.json")).unwrap()).unwrap();
    check_against_json(&ours, &json);
}

fn check_against_json(powers: &Powers, json: &serde_json::Value) {
    let strings = |v: &serde_json::Value| -> Vec<String> {
        v.as_array()
            .unwrap()
            .iter()
            .map(|s| s.as_str().unwrap().to_string())
            .collect()
    };
    let file = encoded(powers);
    assert_eq!(
        strings(&json["tauG1"]),
        point_values(&powers.tau_g1, 64, 2, &file)
    );
    assert_eq!(
        strings(&json["tauG2"]),
        point_values(&powers.tau_g2, 128, 3, &file)
    );
    assert_eq!(
        strings(&json["alphaTauG1"]),
        point_values(&powers.alpha_tau_g1, 64, 4, &file)
    );
    assert_eq!(
        strings(&json["betaTauG1"]),
        point_values(&powers.beta_tau_g1, 64, 5, &file)
    );
    assert_eq!(
        strings(&json["betaG2"]),
        point_values(&[powers.beta_g2], 128, 6, &file)
    );
    for p in [2u32, 5, powers.power()] {
        let basis = LagrangeBasis::new(powers, 1 << p).unwrap();
        let as_powers = |g1: &[G1Affine], g2: &[G2Affine]| {
            // Reuse the section encoder: put the basis where the powers go.
            let mut fake = Powers::trivial(p).unwrap();
            fake.tau_g1[..g1.len()].copy_from_slice(g1);
            fake.tau_g2.copy_from_slice(g2);
            encoded(&fake)
        };
        let f = as_powers(&basis.tau_g1, &basis.tau_g2);
        let lg1 = point_values(&basis.tau_g1, 64, 2, &f);
        let lg2 = point_values(&basis.tau_g2, 128, 3, &f);
        assert_eq!(
            strings(&json["lTauG1"][p as usize]),
            lg1,
            "lTauG1 power {p}"
        );
        assert_eq!(
            strings(&json["lTauG2"][p as usize]),
            lg2,
            "lTauG2 power {p}"
        );
        let f = as_powers(&basis.alpha_tau_g1, &basis.tau_g2);
        let la = point_values(&basis.alpha_tau_g1, 64, 2, &f);
        assert_eq!(
            strings(&json["lAlphaTauG1"][p as usize]),
            la,
            "lAlphaTauG1 power {p}"
        );
        let f = as_powers(&basis.beta_tau_g1, &basis.tau_g2);
        let lb = point_values(&basis.beta_tau_g1, 64, 2, &f);
        assert_eq!(
            strings(&json["lBetaTauG1"][p as usize]),
            lb,
            "lBetaTauG1 power {p}"
        );
    }
}
