//! Fidelity against ONNX Runtime (f32) on the 100 committed inputs of every classifier:
//! top-1 agreement and the worst absolute and relative output error. The figures in
//! `docs/fidelity.md` come from this test (`cargo test -p zkopml-engine --test fidelity -- --nocapture`).

use std::{
    collections::{BTreeMap, HashMap},
    path::PathBuf,
};

use serde::Deserialize;
use zkopml_engine::{
    evaluate,
    fixed::dequantize,
    import,
    io::{quantize_inputs, FloatTensor},
    Program,
};

#[derive(Deserialize)]
struct Case {
    inputs: BTreeMap<String, FloatTensor>,
    outputs: BTreeMap<String, FloatTensor>,
}

#[derive(Deserialize)]
struct Cases {
    cases: Vec<Case>,
}

fn argmax(v: &[f64]) -> usize {
    v.iter()
        .enumerate()
        .fold(0, |b, (i, x)| if *x > v[b] { i } else { b })
}

#[test]
fn classifiers_agree_with_onnx_runtime_on_100_inputs() {
    println!("| model | cases | top-1 agreement | max abs error | max rel error (|ref| > 0.1) | mean abs error |");
    println!("|---|---|---|---|---|---|");
    for model in ["dnn", "variable_cnn", "lenet5", "conv2d"] {
        let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .join("../../testdata")
            .join(model);
        let program = Program::compile(
            &import::load_file(&dir.join("model.onnx")).unwrap(),
            &HashMap::new(),
            1,
        )
        .unwrap();
        let cases: Cases =
            serde_json::from_slice(&std::fs::read(dir.join("fidelity.json")).unwrap()).unwrap();
        let (mut agree, mut max_abs, mut max_rel, mut sum_abs, mut count) =
            (0, 0f64, 0f64, 0f64, 0usize);
        for case in &cases.cases {
            let outputs =
                evaluate(&program, &quantize_inputs(&program, &case.inputs).unwrap()).unwrap();
            let ours: Vec<f64> = outputs[0].data.iter().map(|q| dequantize(*q)).collect();
            let name = &program.values[program.outputs[0]].name;
            let theirs: Vec<f64> = case.outputs[name].data.iter().map(|v| v.unwrap()).collect();
            agree += (argmax(&ours) == argmax(&theirs)) as usize;
            for (o, t) in ours.iter().zip(&theirs) {
                let e = (o - t).abs();
                max_abs = max_abs.max(e);
                sum_abs += e;
                count += 1;
                if t.abs() > 0.1 {
                    max_rel = max_rel.max(e / t.abs());
                }
            }
        }
        let n = cases.cases.len();
        println!(
            "| {model} | {n} | {agree}/{n} | {max_abs:.2e} | {max_rel:.2e} | {:.2e} |",
            sum_abs / count as f64
        );
        assert!(
            agree * 100 >= n * 98,
            "{model}: top-1 agreement {agree}/{n}"
        );
        assert!(max_abs < 0.1, "{model}: max abs error {max_abs}");
    }
}
