//! `evaluate` (activations dropped after their last use, elementwise ops in place) gives the
//! same integers as running every node's kernel on freshly allocated tensors, as `execute`
//! does.

use std::{collections::HashMap, path::PathBuf};

use zkopml_engine::{
    evaluate,
    import::{self, Const, ConstData, Dim, Graph, GraphNode},
    io::{quantize_inputs, TensorFile},
    Program, Tensor, ValueKind,
};

/// Every node's kernel on fresh tensors, every value kept: the executor `execute` runs.
fn reference(program: &Program, inputs: &[Tensor]) -> Vec<Tensor> {
    let mut values: Vec<Option<Tensor>> = vec![None; program.values.len()];
    for (t, id) in inputs.iter().zip(&program.inputs) {
        values[*id] = Some(t.clone());
    }
    for node in &program.nodes {
        let ins: Vec<&Tensor> = node
            .inputs
            .iter()
            .map(|i| match &program.values[*i].kind {
                ValueKind::Const(t) => t,
                _ => values[*i].as_ref().unwrap(),
            })
            .collect();
        values[node.output] = Some(node.op.eval(&ins, &program.values[node.output].shape));
    }
    program
        .outputs
        .iter()
        .map(|o| values[*o].clone().unwrap())
        .collect()
}

#[test]
fn evaluate_equals_fresh_execution_on_every_test_model() {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../testdata");
    let mut ran = Vec::new();
    for model in [
        "dnn",
        "variable_cnn",
        "lenet5",
        "conv2d",
        "xgboost",
        "mobilenet_v2",
        "bert_tiny",
        "gte_tiny",
        "t5_tiny",
        "whisper_tiny",
    ] {
        let dir = root.join(model);
        // Generated models (git-ignored) are checked where they exist.
        let (Ok(graph), Ok(input)) = (
            import::load_file(&dir.join("model.onnx")),
            TensorFile::read(&dir.join("input.json")),
        ) else {
            continue;
        };
        let Ok(program) = Program::compile(&graph, &HashMap::new(), 1) else {
            continue;
        };
        let inputs = quantize_inputs(&program, &input.inputs).unwrap();
        let want = reference(&program, &inputs);
        assert_eq!(evaluate(&program, &inputs).unwrap(), want, "{model}");
        // Later calls reuse the weight-side data the first derived; a clone derives its own.
        assert_eq!(evaluate(&program, &inputs).unwrap(), want, "{model}, again");
        assert_eq!(
            evaluate(&program.clone(), &inputs).unwrap(),
            want,
            "{model}, clone"
        );
        // Inputs at the edges of `i32`, which need wider accumulators than the first call's,
        // on the reused data (models whose inputs are values, not indices).
        if ["dnn", "variable_cnn", "lenet5", "conv2d", "mobilenet_v2"].contains(&model) {
            let edges: Vec<Tensor> = inputs
                .iter()
                .map(|t| {
                    let at = |i: usize, v: i32| [i32::MAX, i32::MIN, v, -v][i % 4];
                    let data = t.data.iter().enumerate().map(|(i, v)| at(i, *v));
                    Tensor::new(t.shape.clone(), data.collect())
                })
                .collect();
            let want = reference(&program, &edges);
            assert_eq!(evaluate(&program, &edges).unwrap(), want, "{model}, edges");
        }
        ran.push(model);
    }
    eprintln!("checked: {ran:?}");
    for model in ["dnn", "variable_cnn", "lenet5", "conv2d", "xgboost"] {
        assert!(ran.contains(&model), "{model} did not run");
    }
}

/// The transformer exports (committed, `testdata/exports/`) and the real MiniLM exports
/// (git-ignored, `testdata/minilm/`, checked where present), on every case of their
/// `cases.json`: `evaluate` (whose `MatMul`s with constant weights take the prepared,
/// transposed product) gives the integers of every node's kernel on fresh tensors.
#[test]
fn evaluate_equals_fresh_execution_on_the_transformer_exports() {
    #[derive(serde::Deserialize)]
    struct Case {
        inputs: std::collections::BTreeMap<String, zkopml_engine::io::FloatTensor>,
    }
    #[derive(serde::Deserialize)]
    struct Cases {
        cases: Vec<Case>,
    }
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../testdata");
    let committed = [
        "bert_mask",
        "t5_encoder",
        "t5_decoder",
        "whisper",
        "t5_generate",
        "whisper_generate",
    ];
    let dirs = committed
        .iter()
        .map(|m| (true, root.join("exports").join(m)))
        .chain(
            [
                "torchscript_op14",
                "torchscript_op17",
                "dynamo_op14",
                "dynamo_op17",
            ]
            .iter()
            .map(|m| (false, root.join("minilm").join(m))),
        );
    let mut ran = 0;
    for (required, dir) in dirs {
        let Ok(text) = std::fs::read_to_string(dir.join("cases.json")) else {
            assert!(!required, "{}: cases.json missing", dir.display());
            continue;
        };
        let graph = import::load_file(&dir.join("model.onnx")).unwrap();
        let program = Program::compile(&graph, &HashMap::new(), 1).unwrap();
        let cases: Cases = serde_json::from_str(&text).unwrap();
        // MiniLM is large: its first two cases suffice (every MatMul runs in each).
        let take = if required { cases.cases.len() } else { 2 };
        for (i, case) in cases.cases.iter().take(take).enumerate() {
            let inputs = quantize_inputs(&program, &case.inputs).unwrap();
            let want = reference(&program, &inputs);
            assert_eq!(
                evaluate(&program, &inputs).unwrap(),
                want,
                "{}, case {i}",
                dir.display()
            );
        }
        ran += 1;
    }
    assert!(ran >= committed.len());
}

fn node(op: &str, inputs: &[&str], output: &str) -> GraphNode {
    GraphNode {
        name: output.into(),
        op_type: op.into(),
        inputs: inputs.iter().map(|s| s.to_string()).collect(),
        outputs: vec![output.into()],
        attrs: Default::default(),
    }
}

/// Operands read twice by one node, values that are both graph outputs and read later,
/// and broadcast operands: nothing a later node or the caller reads is overwritten.
#[test]
fn in_place_never_overwrites_a_live_value() {
    let constant = |shape: Vec<usize>, v: Vec<f64>| Const {
        shape,
        data: ConstData::Float(v),
    };
    let graph = Graph {
        nodes: vec![
            node("Relu", &["x"], "a"),
            node("Add", &["a", "a"], "b"),
            node("Clip", &["b", "lo", "hi"], "c"),
            node("Mul", &["c", "x"], "d"),
            node("Sub", &["s", "d"], "e"),
            node("Add", &["e", "b"], "f"),
            node("Relu", &["f"], "g"),
            node("Div", &["g", "c"], "h"),
            node("Flatten", &["h"], "i"),
            node("Relu", &["c"], "j"),
        ],
        initializers: HashMap::from([
            ("lo".into(), constant(vec![], vec![-0.5])),
            ("hi".into(), constant(vec![], vec![1.5])),
            ("s".into(), constant(vec![3, 1, 1], vec![0.25, -3.0, 7.5])),
        ]),
        inputs: vec![(
            "x".into(),
            [1, 3, 2, 4].iter().map(|d| Dim::Fixed(*d)).collect(),
        )],
        outputs: vec!["b".into(), "i".into(), "j".into(), "c".into()],
        opset: 13,
    };
    let program = Program::compile(&graph, &HashMap::new(), 1).unwrap();
    let x = Tensor::new(
        vec![1, 3, 2, 4],
        (0..24)
            .map(|i: i32| (i - 11).wrapping_mul(1 << 27) + i * 977)
            .collect(),
    );
    let inputs = vec![x];
    assert_eq!(
        evaluate(&program, &inputs).unwrap(),
        reference(&program, &inputs)
    );
}
