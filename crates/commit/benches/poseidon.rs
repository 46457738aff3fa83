//! Native Poseidon speed: the optimised permutation against the round-by-round reference
//! and light-poseidon's circom hasher, and one tensor commitment, on one thread; and, for
//! scale, what the same tensor costs per value under hashes no circuit can open cheaply
//! (keccak256, SHA-256, BLAKE3 over the values' little-endian bytes).
//! Prints one line per measurement (median of 11 batches).
//!
//! Usage: `cargo bench -p zkopml-commit --bench poseidon`

use std::{hint::black_box, time::Instant};

use light_poseidon::{Poseidon, PoseidonHasher};
use zkopml_commit::{
    chunked_commitment, chunked_commitments, poseidon_t13, poseidon_t13_reference, poseidon_t3,
    tensor_commitment, tensor_commitments, Fr,
};

/// Median over 11 batches of the time per call of `f`, in microseconds.
fn median_us(calls: usize, mut f: impl FnMut()) -> f64 {
    f();
    let mut v: Vec<f64> = (0..11)
        .map(|_| {
            let t = Instant::now();
            for _ in 0..calls {
                f();
            }
            t.elapsed().as_secs_f64() * 1e6 / calls as f64
        })
        .collect();
    v.sort_by(f64::total_cmp);
    v[5]
}

fn main() {
    let mut inputs: [Fr; 12] = core::array::from_fn(|i| Fr::from(i as u64 + 1));
    let reference = median_us(200, || {
        inputs[0] = poseidon_t13_reference(black_box(&inputs));
    });
    let optimized = median_us(1000, || {
        inputs[0] = poseidon_t13(black_box(&inputs));
    });
    let mut library = Poseidon::<Fr>::new_circom(12).expect("width 13");
    let light = median_us(100, || {
        inputs[0] = library.hash(black_box(&inputs)).expect("12 inputs");
    });
    let mut x = inputs[1];
    let y = inputs[2];
    let mul_ns = median_us(100_000, || {
        x *= black_box(y);
    }) * 1e3;
    black_box(x);
    let data: Vec<i32> = (0..77 * 1000).map(|i| i * 7919 - 300_000).collect();
    let tensor = median_us(1, || {
        black_box(tensor_commitment(&[data.len()], black_box(&data)));
    });
    // Sixteen such tensors through the batched API (eight chains in lock-step with IFMA).
    let shape = [data.len()];
    let batch = median_us(1, || {
        let mut i = 0;
        black_box(tensor_commitments(|| {
            i += 1;
            (i <= 16).then_some((i, &shape[..], &data[..]))
        }));
    }) / 16.0;
    // Version 4 (chunked: leaf chains + a t = 3 tree), the same tensor and batch.
    let t3 = median_us(1000, || {
        inputs[0] = poseidon_t3(black_box(inputs[0]), inputs[1]);
    });
    let chunked = median_us(1, || {
        black_box(chunked_commitment(&[data.len()], black_box(&data)));
    });
    let pairs: Vec<(&[usize], &[i32])> = (0..16).map(|_| (&shape[..], &data[..])).collect();
    let chunked_batch = median_us(1, || {
        black_box(chunked_commitments(black_box(&pairs)));
    }) / 16.0;
    let bytes: Vec<u8> = data.iter().flat_map(|v| v.to_le_bytes()).collect();
    let keccak = median_us(10, || {
        black_box(alloy_primitives::keccak256(black_box(&bytes)));
    });
    let sha256 = median_us(10, || {
        black_box(<sha2::Sha256 as sha2::Digest>::digest(black_box(&bytes)));
    });
    let blake3 = median_us(10, || {
        black_box(blake3::hash(black_box(&bytes)));
    });
    println!("poseidon t=13, reference (dense rounds): {reference:.2} us");
    println!(
        "poseidon t=13, optimised:                {optimized:.2} us ({:.2}x)",
        reference / optimized
    );
    println!("poseidon t=13, light-poseidon 0.5:       {light:.2} us");
    println!("one field multiplication (latency):     {mul_ns:.1} ns");
    println!(
        "tensor commitment, 77000 values (1001 permutations): {:.2} ms",
        tensor / 1e3
    );
    let per_value = |us: f64| us * 1e3 / data.len() as f64;
    println!("per value (i32), same 77000-value tensor:");
    println!("  poseidon tensor commitment: {:8.2} ns", per_value(tensor));
    println!(
        "  same, batched (16 tensors): {:8.2} ns ({:.2}x)",
        per_value(batch),
        tensor / batch
    );
    println!("poseidon t=3 (tree node):               {t3:.2} us");
    println!(
        "  v4 chunked commitment:      {:8.2} ns ({:.2}x v3 single)",
        per_value(chunked),
        chunked / tensor
    );
    println!(
        "  v4 chunked, batched (16):   {:8.2} ns ({:.2}x v3 batched)",
        per_value(chunked_batch),
        chunked_batch / batch
    );
    println!("  keccak256 of the bytes:     {:8.2} ns", per_value(keccak));
    println!("  sha256 of the bytes:        {:8.2} ns", per_value(sha256));
    println!("  blake3 of the bytes:        {:8.2} ns", per_value(blake3));
}
