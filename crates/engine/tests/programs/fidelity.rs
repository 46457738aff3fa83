//! Fidelity against ONNX Runtime (f32) on the 100 committed inputs of every classifier:
//! top-1 agreement and the worst absolute and relative output error. The figures in
//! `docs/fidelity.md` come from this test (`cargo test -p zkopml-engine --test programs -- --nocapture fidelity::`).

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

/// One fidelity case: named inputs and the reference's first output.
type Pair = (BTreeMap<String, FloatTensor>, Vec<f64>);

/// The committed JSON cases, or for models generated on demand (mobilenet_v2: 100 inputs of
/// 150,528 values) the raw little-endian f32 files `gen_models.py` writes next to the model.
fn load_cases(dir: &std::path::Path, program: &Program) -> Vec<Pair> {
    let json = dir.join("fidelity.json");
    if json.exists() {
        let cases: Cases = serde_json::from_slice(&std::fs::read(json).unwrap()).unwrap();
        let name = &program.values[program.outputs[0]].name;
        return cases
            .cases
            .into_iter()
            .map(|c| {
                let out = c.outputs[name].data.iter().map(|v| v.unwrap()).collect();
                (c.inputs, out)
            })
            .collect();
    }
    let read = |f: &str| -> Vec<f64> {
        let bytes = std::fs::read(dir.join(f)).unwrap_or_else(|e| {
            panic!("{}/{f}: {e} (generate it: .venv/bin/python testdata/gen_models.py --only mobilenet_v2)", dir.display())
        });
        bytes
            .chunks_exact(4)
            .map(|b| f32::from_le_bytes(b.try_into().unwrap()) as f64)
            .collect()
    };
    let (xs, ys) = (read("fidelity.inputs.f32"), read("fidelity.outputs.f32"));
    let input = &program.values[program.inputs[0]];
    let in_len: usize = input.shape.iter().product();
    let out_len: usize = program.values[program.outputs[0]].shape.iter().product();
    xs.chunks_exact(in_len)
        .zip(ys.chunks_exact(out_len))
        .map(|(x, y)| {
            let t = FloatTensor {
                shape: input.shape.clone(),
                data: x.iter().map(|v| Some(*v)).collect(),
            };
            (BTreeMap::from([(input.name.clone(), t)]), y.to_vec())
        })
        .collect()
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
    // (model, minimum top-1 agreement in %, max abs error bound). mobilenet_v2's logits
    // spread wider (std ≈ 3) and pass through 52 rescaled layers: its bound is 0.25
    // (docs/fidelity.md).
    for (model, min_agree, abs_bound) in [
        ("dnn", 98, 0.1),
        ("variable_cnn", 98, 0.1),
        ("lenet5", 98, 0.1),
        ("conv2d", 98, 0.1),
        ("xgboost", 98, 0.1),
        ("mobilenet_v2", 98, 0.25),
    ] {
        let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .join("../../testdata")
            .join(model);
        let program = Program::compile(
            &import::load_file(&dir.join("model.onnx")).unwrap(),
            &HashMap::new(),
            1,
        )
        .unwrap();
        let cases = load_cases(&dir, &program);
        let (mut agree, mut max_abs, mut max_rel, mut sum_abs, mut count) =
            (0, 0f64, 0f64, 0f64, 0usize);
        for (inputs, theirs) in &cases {
            let outputs = evaluate(&program, &quantize_inputs(&program, inputs).unwrap()).unwrap();
            let ours: Vec<f64> = outputs[0].data.iter().map(|q| dequantize(*q)).collect();
            agree += (argmax(&ours) == argmax(theirs)) as usize;
            for (o, t) in ours.iter().zip(theirs) {
                let e = (o - t).abs();
                max_abs = max_abs.max(e);
                sum_abs += e;
                count += 1;
                if t.abs() > 0.1 {
                    max_rel = max_rel.max(e / t.abs());
                }
            }
        }
        let n = cases.len();
        println!(
            "| {model} | {n} | {agree}/{n} | {max_abs:.2e} | {max_rel:.2e} | {:.2e} |",
            sum_abs / count as f64
        );
        assert!(
            agree * 100 >= n * min_agree,
            "{model}: top-1 agreement {agree}/{n}"
        );
        assert!(max_abs < abs_bound, "{model}: max abs error {max_abs}");
    }
}

/// XGBoost's second output is the predicted class itself (`ArgMax`, int64 in ONNX; the
/// integer `k` as `k·2^F` here): it must equal ONNX Runtime's label on the same inputs as
/// often as the margins' argmax does (a split threshold within `2^-13` of an input feature
/// can flip after quantisation, nothing else can).
#[test]
fn xgboost_labels_agree_with_onnx_runtime() {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../testdata/xgboost");
    let program = Program::compile(
        &import::load_file(&dir.join("model.onnx")).unwrap(),
        &HashMap::new(),
        1,
    )
    .unwrap();
    let cases: Cases =
        serde_json::from_slice(&std::fs::read(dir.join("fidelity.json")).unwrap()).unwrap();
    let label = program.outputs[1];
    assert_eq!(program.values[label].name, "label");
    let mut agree = 0;
    for c in &cases.cases {
        let outputs = evaluate(&program, &quantize_inputs(&program, &c.inputs).unwrap()).unwrap();
        let ours = dequantize(outputs[1].data[0]);
        let theirs = c.outputs["label"].data[0].unwrap();
        agree += (ours == theirs) as usize;
    }
    println!(
        "xgboost labels: {agree}/{} equal to ONNX Runtime",
        cases.cases.len()
    );
    assert!(agree * 100 >= cases.cases.len() * 98);
}
