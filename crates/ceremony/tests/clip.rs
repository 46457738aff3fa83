//! The whole ceremony for the real `clip_chunk/v1` template (79,946 constraints, a 2^17
//! domain), timed: run once, in release mode, with
//!
//! ```sh
//! cargo test -p zkopml-ceremony --release --test clip -- --ignored --nocapture
//! ```

mod common;

use std::time::Instant;

use ark_serialize::CanonicalSerialize;
use common::{prove, rng, verifies};
use zkopml_ceremony::{
    phase1_keys_with, ptau::Ptau, verify_contribution, verify_transcript, CeremonyKeys,
    LagrangeBasis, Phase1Transcript, Powers, TemplateR1cs, Transcript,
};
use zkopml_commit::ChunkTree;
use zkopml_engine::ops::Clip;
use zkopml_prover::templates::{
    template_prove, template_setup, ChunkOpening, ClipChunk, ClipTemplate, Template,
};

fn timed<T>(what: &str, f: impl FnOnce() -> T) -> T {
    let t = Instant::now();
    let out = f();
    eprintln!("{what}: {:.1} s", t.elapsed().as_secs_f64());
    out
}

fn mb(bytes: usize) -> String {
    format!("{:.1} MB", bytes as f64 / 1e6)
}

#[test]
#[ignore = "minutes: the full ceremony for a 2^17 domain (run in release mode)"]
fn clip_template_ceremony_end_to_end() {
    let mut r = rng(20);
    let r1cs = timed("synthesise clip_chunk/v1", || {
        TemplateR1cs::of::<ClipTemplate>().unwrap()
    });
    let n = r1cs.domain_size().unwrap();
    let power = n.trailing_zeros();
    eprintln!(
        "{}: {} constraints, {} public inputs, {} witnesses, domain 2^{power}",
        r1cs.name,
        r1cs.num_constraints,
        r1cs.num_instance - 1,
        r1cs.num_witness
    );

    // Phase 1: two local contributors (the first on trivial powers takes the fixed-base
    // path; the second is what every later contributor pays).
    let mut p1 = Phase1Transcript::new(power);
    let powers = Powers::trivial(power).unwrap();
    let powers = timed("phase 1: first contribution", || {
        p1.contribute(&powers, &mut r).unwrap()
    });
    let powers = timed("phase 1: second contribution", || {
        p1.contribute(&powers, &mut r).unwrap()
    });
    timed("phase 1: verify transcript (incl. consistency)", || {
        p1.verify(&powers).unwrap()
    });
    let mut ptau = Vec::new();
    timed("phase 1: export .ptau", || {
        Ptau::from_powers(powers.clone()).write(&mut ptau).unwrap()
    });
    eprintln!(".ptau of power {power}: {}", mb(ptau.len()));
    let powers = timed("phase 1: import .ptau (validating every point)", || {
        Ptau::read(&ptau[..]).unwrap().powers
    });

    // Keys from phase 1.
    let lagrange = timed("Lagrange basis (inverse FFTs in G1 ×3 and G2)", || {
        LagrangeBasis::new(&powers, n).unwrap()
    });
    timed(
        "Lagrange basis check (what a prepared .ptau's basis costs instead)",
        || lagrange.check(&powers).unwrap(),
    );
    let initial = timed("phase-1-derived keys (queries)", || CeremonyKeys {
        template: r1cs.name.clone(),
        pk: phase1_keys_with(&r1cs, &powers, &lagrange).unwrap(),
    });

    // Phase 2: three contributors, each checked as a coordinator would.
    let mut t = Transcript::new(&initial);
    let mut last = initial.clone();
    for i in 0..3 {
        let next = timed(&format!("phase 2: contribution {i}"), || {
            t.contribute(&last, &mut r).unwrap()
        });
        timed(&format!("phase 2: verify contribution {i}"), || {
            verify_contribution(&last, &next, &t, i).unwrap()
        });
        last = next;
    }
    timed("phase 2: verify transcript", || {
        verify_transcript(&initial, &last, &t).unwrap()
    });
    eprintln!(
        "sizes (compressed): proving key {}, verifying key {} B, transcript {} B",
        mb(last.pk.compressed_size()),
        last.vk().compressed_size(),
        t.compressed_size()
    );

    // The final keys prove a chunk; test-key proofs are rejected.
    let shape = [1usize, 32, 112, 112];
    let data: Vec<i32> = (0..32 * 112 * 112)
        .map(|i| (i * 7919) % 900_001 - 450_000)
        .collect();
    let tree = ChunkTree::of_values(&data);
    let inst = ClipChunk {
        input: ChunkOpening::new(&shape, &data, &tree, 300).unwrap(),
        clip: Clip { lo: 0, hi: 6 << 16 },
    };
    let public = ClipTemplate::public_inputs(&inst);
    let proof = timed("prove one chunk under the ceremony keys", || {
        prove::<ClipTemplate>(&last.pk, &inst)
    });
    assert!(verifies(last.vk(), &public, &proof));
    let test_keys = template_setup::<ClipTemplate>().unwrap();
    let forged = template_prove(&test_keys, &inst).unwrap();
    assert!(!verifies(last.vk(), &public, &forged.proof));
}
