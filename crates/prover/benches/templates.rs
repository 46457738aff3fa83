//! The template library's one-time cost and per-leaf cost: for each template, constraints,
//! setup time and proving-key size (once for the protocol), and the time to prove one chunk
//! of a mobilenet_v2-sized tensor (median of 3). Peak memory: run under `/usr/bin/time -v`.
//!
//! Usage: `cargo bench -p zkopml-prover --bench templates`

use std::time::Instant;

use ark_serialize::CanonicalSerialize;
use zkopml_commit::ChunkTree;
use zkopml_engine::ops::Clip;
use zkopml_prover::templates::{
    template_prove, template_setup, template_stats, template_verify, ChunkOpening, ClipChunk,
    ClipTemplate, Template,
};

fn main() {
    let constraints = template_stats::<ClipTemplate>().expect("stats");
    let t = Instant::now();
    let keys = template_setup::<ClipTemplate>().expect("setup");
    let setup_s = t.elapsed().as_secs_f64();
    let pk_bytes = keys.pk.compressed_size();
    let shape = [1usize, 32, 112, 112];
    let data: Vec<i32> = (0..32 * 112 * 112)
        .map(|i| (i * 7919) % 900_001 - 450_000)
        .collect();
    let tree = ChunkTree::of_values(&data);
    let inst = ClipChunk {
        input: ChunkOpening::new(&shape, &data, &tree, 300).expect("chunk 300"),
        clip: Clip { lo: 0, hi: 6 << 16 },
    };
    let mut times: Vec<f64> = (0..3)
        .map(|_| {
            let t = Instant::now();
            let p = template_prove(&keys, &inst).expect("prove");
            let s = t.elapsed().as_secs_f64();
            template_verify(&keys, &p.public, &p.proof).expect("verify");
            s
        })
        .collect();
    times.sort_by(f64::total_cmp);
    println!(
        "{}: {constraints} constraints, setup {setup_s:.1} s, proving key {:.1} MB, prove {:.2} s (median of 3; chunk 300 of 1x32x112x112, tree depth {})",
        ClipTemplate::NAME,
        pk_bytes as f64 / 1e6,
        times[1],
        tree.depth()
    );
}
