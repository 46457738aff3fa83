//! Symbolic input dims (models exported with dynamic axes: batch, sequence length): bound
//! from the input at hand by `import::bind_dims`, then compiled. A batch of 4 copies of an
//! input gives 4 copies of the batch-1 output, bit for bit; shapes that contradict the
//! model are refused with the reason.

use std::collections::{BTreeMap, HashMap};

use zkopml_engine::{
    evaluate,
    import::{self, bind_dims, Dim},
    io::{quantize_inputs, TensorFile},
    EngineError, Program, Tensor,
};

fn testdata(model: &str) -> std::path::PathBuf {
    std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../testdata")
        .join(model)
}

/// `model` with its first input's batch axis made symbolic (`batch`), as a dynamic-axes
/// export declares it.
fn with_symbolic_batch(model: &str) -> import::Graph {
    let mut g = import::load_file(&testdata(model).join("model.onnx")).unwrap();
    g.inputs[0].1[0] = Dim::Symbolic("batch".into());
    g
}

fn shapes(v: &[(&str, &[usize])]) -> BTreeMap<String, Vec<usize>> {
    v.iter().map(|(n, s)| (n.to_string(), s.to_vec())).collect()
}

#[test]
fn a_batch_of_four_gives_four_copies_of_the_batch_one_output() {
    for model in ["lenet5", "dnn"] {
        let g = with_symbolic_batch(model);
        let file = TensorFile::read(&testdata(model).join("input.json")).unwrap();
        let one = Program::compile(&g, &HashMap::new(), 1).unwrap();
        let x = quantize_inputs(&one, &file.inputs).unwrap().remove(0);
        let y1 = evaluate(&one, std::slice::from_ref(&x)).unwrap().remove(0);

        let mut shape = x.shape.clone();
        shape[0] = 4;
        let dims = bind_dims(&g, &shapes(&[(&g.inputs[0].0, &shape)])).unwrap();
        assert_eq!(dims, HashMap::from([("batch".to_string(), 4)]));
        let four = Program::compile(&g, &dims, 1).unwrap();
        let x4 = Tensor::new(shape, x.data.repeat(4));
        let y4 = evaluate(&four, &[x4]).unwrap().remove(0);
        assert_eq!(y4.shape[0], 4, "{model}");
        assert_eq!(
            y4.data,
            y1.data.repeat(4),
            "{model}: every row is the batch-1 output"
        );
    }
}

#[test]
fn shapes_that_contradict_the_model_are_refused_with_the_reason() {
    let g = with_symbolic_batch("dnn");
    let name = g.inputs[0].0.clone();
    let bad = |r: Result<HashMap<String, usize>, EngineError>| match r {
        Err(EngineError::BadInput { reason, .. }) => reason,
        other => panic!("expected a bad input, got {other:?}"),
    };
    // A fixed axis of another size.
    assert!(bad(bind_dims(&g, &shapes(&[(&name, &[4, 783])]))).contains("fixes it to 784"));
    // Another rank.
    assert!(bad(bind_dims(&g, &shapes(&[(&name, &[4, 28, 28])]))).contains("rank 3 given"));
    // A size of 0.
    assert!(bad(bind_dims(&g, &shapes(&[(&name, &[0, 784])]))).contains("size 0"));
    // One name, two sizes across inputs.
    let mut two = g.clone();
    two.inputs
        .push(("mask".into(), vec![Dim::Symbolic("batch".into())]));
    let r = bind_dims(&two, &shapes(&[(&name, &[4, 784]), ("mask", &[3])]));
    assert!(bad(r).contains("another input gives `batch` size"));
    // Absent inputs keep their defaults.
    assert!(bind_dims(&g, &BTreeMap::new()).unwrap().is_empty());
}
