//! The prover crate's integration tests, one module per file, in one binary (one link,
//! and the test threads stay busy across files): `cargo test -p zkopml-prover --test circuits
//! <module>::` runs one file.

mod arith_templates;
mod avgpool_templates;
mod common;
mod concat_templates;
mod conv_templates;
mod gate_templates;
mod gather_dynamic_templates;
mod gather_templates;
mod gemm_templates;
mod logic_templates;
mod matmul_templates;
mod norm_templates;
mod ops;
mod reduce_templates;
mod softmax_templates;
mod steps;
mod templates;
mod unary_templates;
mod v4_lowering;
