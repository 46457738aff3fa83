//! The template library's one-time cost and per-leaf cost: for each template, constraints,
//! setup time and proving-key size (once for the protocol, never per model), and the time to
//! prove one leaf (median of 3): a chunk of a mobilenet_v2-sized activation for `clip_chunk`
//! and `binary_chunk`, mobilenet_v2's classifier shape (`Gemm` 1280 → 1000) for
//! `gemm_block` and `rescale_chunk`, and mobilenet_v2's first `Conv` (3×3 stride 2 on
//! 3 × 224 × 224, the leaf whose table is fullest: chunk 40, tap 6) for `conv_block`, and
//! lenet5's first `MaxPool` (2 × 2 stride 2 on 6 × 28 × 28, chunk 1 over three channels) for
//! `pool_block`, and mobilenet_v2's `GlobalAveragePool` (1280 planes of 7 × 7: chunk 2, the
//! last, block 3) for `gap_block` and `avg_chunk`, and attention's head-split `Transpose`
//! (`[1, 64, 6, 64] → [1, 6, 64, 64]`, the chunk reading most chunks of `X`) for
//! `gather_chunk`. Peak memory: run under `/usr/bin/time -v`.
//!
//! Usage: `cargo bench -p zkopml-prover --bench templates [-- NAME…]` (only the templates
//! whose names contain one of the NAMEs, e.g. `-- gap avg`).

use std::time::Instant;

use ark_serialize::CanonicalSerialize;
use zkopml_commit::{wide_tree, ChunkTree, CHUNK_VALUES};
use zkopml_engine::{
    ops::{BinaryKind, Clip, Conv, Gemm, Pool},
    Tensor,
};
use zkopml_prover::templates::{
    template_prove, template_setup, template_stats, template_verify, AvgChunk, AvgDispute,
    AvgTemplate, BinaryChunk, BinaryTemplate, ChunkOpening, ClipChunk, ClipTemplate,
    ConvBlockTemplate, ConvDispute, GapBlockTemplate, GapDispute, GatherChunk, GatherTemplate,
    GatherView, GemmBlockChunk, GemmBlockTemplate, GemmDispute, PoolBlockTemplate, PoolDispute,
    RescaleChunk, RescaleTemplate, Template, WideOpening, KB,
};
use zkopml_prover::templates::{
    GroupBlockTemplate, GroupDispute, GroupKind, SoftmaxExpChunk, SoftmaxExpTemplate,
    SoftmaxFinishChunk, SoftmaxFinishTemplate,
};
use zkopml_prover::templates::{
    LayerNormFinishChunk, LayerNormFinishTemplate, LayerNormPlan, LayerNormStatsChunk,
    LayerNormStatsTemplate,
};

fn measure<T: Template>(inst: &T::Instance) {
    let only: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with('-'))
        .collect();
    if !only.is_empty() && !only.iter().any(|n| T::NAME.contains(n.as_str())) {
        return;
    }
    let constraints = template_stats::<T>().expect("stats");
    let t = Instant::now();
    let keys = template_setup::<T>().expect("setup");
    let setup_s = t.elapsed().as_secs_f64();
    let pk_mb = keys.pk.compressed_size() as f64 / 1e6;
    let mut times: Vec<f64> = (0..3)
        .map(|_| {
            let t = Instant::now();
            let p = template_prove(&keys, inst).expect("prove");
            let s = t.elapsed().as_secs_f64();
            template_verify(&keys, &p.public, &p.proof).expect("verify");
            s
        })
        .collect();
    times.sort_by(f64::total_cmp);
    println!(
        "{:<18} {constraints:>8} constraints  setup {setup_s:>5.1} s  proving key {pk_mb:>6.1} MB  prove {:>5.2} s",
        T::NAME,
        times[1]
    );
}

fn values(n: usize, salt: i64) -> Vec<i32> {
    (0..n as i64)
        .map(|i| ((i * 7919 + salt) % 900_001 - 450_000) as i32)
        .collect()
}

fn main() {
    let shape = [1usize, 32, 112, 112];
    let x = values(32 * 112 * 112, 1);
    let y = values(32 * 112 * 112, 2);
    let (tx, ty) = (ChunkTree::of_values(&x), ChunkTree::of_values(&y));
    measure::<ClipTemplate>(&ClipChunk {
        input: ChunkOpening::new(&shape, &x, &tx, 300).expect("chunk"),
        clip: Clip { lo: 0, hi: 6 << 12 },
    });
    measure::<BinaryTemplate>(&BinaryChunk {
        a: ChunkOpening::new(&shape, &x, &tx, 300).expect("chunk"),
        b: ChunkOpening::new(&shape, &y, &ty, 300).expect("chunk"),
        kind: BinaryKind::Mul,
    });
    // mobilenet_v2's classifier shape: A [1, 1280], B' [1280, 1000].
    let g = Gemm {
        trans_a: false,
        trans_b: false,
        has_bias: true,
        weight_frac_bits: 14,
        bias_frac_bits: 20,
    };
    let a = Tensor {
        shape: vec![1, 1280],
        data: values(1280, 3).iter().map(|v| v / 64).collect(),
    };
    let b = Tensor {
        shape: vec![1280, 1000],
        data: values(1280 * 1000, 4).iter().map(|v| v / 32).collect(),
    };
    let c = Tensor {
        shape: vec![1000],
        data: values(1000, 5),
    };
    let d = GemmDispute::new(&g, &a, &b, Some(&c)).expect("decomposition");
    let blk = d.blocks() / 2;
    let acc = d.acc_fr(blk);
    let r = d.n_pad / CHUNK_VALUES;
    let wt = ChunkTree::of_values(&d.weights.data);
    measure::<GemmBlockTemplate>(&GemmBlockChunk {
        acc_in: WideOpening::new(&[d.n_pad], &acc, &wide_tree(&acc), 1).expect("chunk"),
        a: ChunkOpening::new(
            &a.shape,
            &a.data,
            &ChunkTree::of_values(&a.data),
            blk / (CHUNK_VALUES / KB),
        )
        .expect("chunk"),
        rows: (0..KB)
            .map(|t| {
                ChunkOpening::new(
                    &d.weights.shape,
                    &d.weights.data,
                    &wt,
                    (KB * blk + t) * r + 1,
                )
                .expect("row")
            })
            .collect(),
        block: blk,
        row_chunks: r,
    });
    let last = d.acc_fr(d.blocks());
    measure::<RescaleTemplate>(&RescaleChunk {
        acc: WideOpening::new(&[d.n_pad], &last, &wide_tree(&last), 1).expect("chunk"),
        shift: d.shift,
        len: d.n,
    });
    // mobilenet_v2's first Conv: X [1, 3, 224, 224], W [32, 3, 3, 3], stride 2, pad 1.
    let conv = Conv {
        kernel: [3, 3],
        pads: [1; 4],
        strides: [2, 2],
        dilations: [1, 1],
        group: 1,
        has_bias: true,
        weight_frac_bits: 16,
        bias_frac_bits: 28,
    };
    let x = Tensor {
        shape: vec![1, 3, 224, 224],
        data: values(3 * 224 * 224, 6),
    };
    let w = Tensor {
        shape: vec![32, 3, 3, 3],
        data: values(32 * 27, 7),
    };
    let bias = Tensor {
        shape: vec![32],
        data: values(32, 8),
    };
    let d = ConvDispute::new(&conv, &x, &w, Some(&bias)).expect("decomposition");
    let acc = d.acc(&x, 6);
    measure::<ConvBlockTemplate>(&d.block_instance(&x, &acc, 40, 6).expect("leaf"));
    // lenet5's first MaxPool: X [1, 6, 28, 28], 2 × 2 stride 2.
    let pool = Pool {
        kernel: [2, 2],
        pads: [0; 4],
        strides: [2, 2],
        ceil_mode: false,
        count_include_pad: false,
    };
    let x = Tensor {
        shape: vec![1, 6, 28, 28],
        data: values(6 * 28 * 28, 9),
    };
    let d = PoolDispute::new(&pool, &x).expect("decomposition");
    let acc = d.acc(&x, 3);
    measure::<PoolBlockTemplate>(&d.block_instance(&x, &acc, 1, 3).expect("leaf"));
    // mobilenet_v2's GlobalAveragePool: X [1, 1280, 7, 7] → [1, 1280, 1, 1].
    let x = Tensor {
        shape: vec![1, 1280, 7, 7],
        data: values(1280 * 49, 10),
    };
    let g = GapDispute::new(&x.shape).expect("decomposition");
    let acc = g.acc(&x, 3);
    measure::<GapBlockTemplate>(&g.block_instance(&x, &acc, 2, 3).expect("leaf"));
    let avg = AvgDispute::global(&x.shape, &[1, 1280, 1, 1]).expect("decomposition");
    let acc: Vec<_> = g
        .acc(&x, g.blocks())
        .iter()
        .map(|v| zkopml_commit::fr_from_i64(*v as i64))
        .collect();
    let counts = &avg.counts;
    measure::<AvgTemplate>(&AvgChunk {
        acc: WideOpening::new(&[1280], &acc, &wide_tree(&acc), 2).expect("opening"),
        counts: ChunkOpening::new(
            &counts.shape,
            &counts.data,
            &ChunkTree::of_values(&counts.data),
            2,
        )
        .expect("opening"),
        forge: None,
    });
    // Attention's head split of a 64-token, 6 × 64 sequence: [1, 64, 6, 64] → [1, 6, 64, 64],
    // the output chunk reading the most chunks of X.
    let shape = [1usize, 64, 6, 64];
    let x = values(64 * 6 * 64, 11);
    let view = GatherView::transpose(&shape, &[0, 2, 1, 3]).expect("view");
    let j = (0..zkopml_commit::chunk_count(x.len()))
        .max_by_key(|j| view.chunks_read(*j).len())
        .expect("a chunk");
    measure::<GatherTemplate>(
        &GatherChunk::new(view, &shape, &x, &ChunkTree::of_values(&x), j).expect("leaf"),
    );
    // Attention scores of 6 heads over 64 tokens, [1, 6, 64, 64], softmax over the last axis
    // (n = 64): chunk 2 of the maxima (block 5), of e and of y.
    let n = 64;
    let shape = [1usize, 6, 64, 64];
    let x = values(6 * 64 * 64, 12);
    let groups = x.len() / n;
    let d = GroupDispute::new(x.len(), n, GroupKind::Max).expect("groups");
    let t = Tensor::new(shape.to_vec(), x.clone());
    let acc = d.acc(&x, 5);
    measure::<GroupBlockTemplate>(&d.block_instance(&t, &acc, 0, 5).expect("leaf"));
    let m: Vec<i32> = x
        .chunks(n)
        .map(|g| *g.iter().max().expect("n > 0"))
        .collect();
    let e: Vec<i32> = x
        .iter()
        .enumerate()
        .map(|(i, v)| zkopml_engine::ops::exp_q30(*v as i64 - m[i / n] as i64) as i32)
        .collect();
    let x_open = ChunkOpening::new(&shape, &x, &ChunkTree::of_values(&x), 2).expect("chunk");
    measure::<SoftmaxExpTemplate>(
        &SoftmaxExpChunk::new(x_open, &[groups], &m, &ChunkTree::of_values(&m), n).expect("leaf"),
    );
    let s: Vec<_> = e
        .chunks(n)
        .map(|g| zkopml_commit::fr_from_i64(g.iter().map(|v| *v as i64).sum()))
        .collect();
    let e_open = ChunkOpening::new(&shape, &e, &ChunkTree::of_values(&e), 2).expect("chunk");
    measure::<SoftmaxFinishTemplate>(
        &SoftmaxFinishChunk::new(e_open, &[groups], &s, n).expect("leaf"),
    );
    gather_index_and_argmax();
    // A LayerNormalization over a 64-token sequence of width 384 (whisper's), [1, 64, 384]:
    // chunk 0 of the statistics T (all 64 groups), chunk 2 of y.
    let n = 384;
    let shape = [1usize, 64, 384];
    let x = values(64 * 384, 13);
    let p = LayerNormPlan {
        n,
        groups: 64,
        eps_q48: 2_814_750_000,
    };
    let sums = p.sums().map(|d| {
        let w: Vec<_> = d.acc(&x, d.blocks()).into_iter().map(fr_i128).collect();
        w
    });
    let open =
        |w: &[ark_bn254::Fr], j| WideOpening::new(&[64], w, &wide_tree(w), j).expect("opening");
    measure::<LayerNormStatsTemplate>(&LayerNormStatsChunk {
        s1: open(&sums[0], 0),
        s2: open(&sums[1], 0),
        n,
        eps_q48: p.eps_q48,
        forge: None,
    });
    let t = p.stats(&x);
    let gamma = values(64 * 384, 14);
    let beta = values(64 * 384, 15);
    let chunk =
        |v: &[i32]| ChunkOpening::new(&shape, v, &ChunkTree::of_values(v), 2).expect("chunk");
    measure::<LayerNormFinishTemplate>(
        &LayerNormFinishChunk::new(chunk(&x), &[64], &t, chunk(&gamma), chunk(&beta), n)
            .expect("leaf"),
    );
}

/// `gather_index` on MiniLM's embedding (`[30522, 384]`, 8 token ids: chunk 2 of the
/// `[1, 8, 384]` lookup, rows of two ids in four chunks of the table), and `argmax_mark`
/// on a 1000-class row (chunk 1, ties to the first index).
fn gather_index_and_argmax() {
    use zkopml_prover::templates::{
        ArgMaxMarkChunk, ArgMaxMarkTemplate, GatherIndexChunk, GatherIndexTemplate, IndexGather,
    };
    let only: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with('-'))
        .collect();
    let wanted = |name: &str| only.is_empty() || only.iter().any(|n| name.contains(n.as_str()));
    if wanted(GatherIndexTemplate::NAME) {
        let (v, d) = (30522usize, 384usize);
        let table = values(v * d, 21);
        let tree = ChunkTree::of_values(&table);
        let ids: Vec<i32> = [101, 7592, 2088, 30521, 0, 1996, 3899, 102]
            .iter()
            .map(|k| k << 12)
            .collect();
        let p = IndexGather::gather(&[v, d], &[1, 8], 0).expect("gather");
        let j = p.idx.apply(&ids).expect("indices");
        let j_tree = ChunkTree::of_values(&j);
        measure::<GatherIndexTemplate>(
            &GatherIndexChunk::new(p, (&[v, d], &table, &tree), (&[1, 8, d], &j, &j_tree), 2)
                .expect("leaf"),
        );
    }
    if wanted(ArgMaxMarkTemplate::NAME) {
        let x = values(1000, 5);
        let m = vec![*x.iter().max().expect("values")];
        let open = ChunkOpening::new(&[1, 1000], &x, &ChunkTree::of_values(&x), 1).expect("chunk");
        measure::<ArgMaxMarkTemplate>(
            &ArgMaxMarkChunk::new(open, (&[1], &m, &ChunkTree::of_values(&m)), 1000, false)
                .expect("leaf"),
        );
    }
}

fn fr_i128(v: i128) -> ark_bn254::Fr {
    let f = ark_bn254::Fr::from(v.unsigned_abs());
    if v < 0 {
        -f
    } else {
        f
    }
}
