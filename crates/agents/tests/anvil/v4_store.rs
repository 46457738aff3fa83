//! Version-4 models through the content store on a real anvil: what the owner registers
//! (`v4::register_onnx`) every party loads back (`v4::load`) with the same roots, a request's
//! inputs come back committed to its `S_0`, and a registration whose program CID names
//! another program is refused at load. Needs the pinned toolchain
//! (`bash scripts/install-toolchain.sh`).

use alloy_primitives::U256;
use zkopml_agents::{v4, AgentError, Timeline};
use zkopml_chain::registry_v4::TypesV4::GameParams;
use zkopml_engine::io::{quantize_inputs, TensorFile};
use zkopml_store::ContentStore;

use super::common::{repo, v4_net, Net};

async fn net() -> Net {
    v4_net().await
}

fn params(_steps: usize) -> GameParams {
    GameParams {
        challengeWindow: 600,
        clockPerSide: 300,
        provingWindow: 300,
        arity: 2,
        responseBond: 10_000_000_000_000_000,
        challengerBond: 10_000_000_000_000_000,
    }
}

fn onnx(model: &str) -> Vec<u8> {
    std::fs::read(repo().join("testdata").join(model).join("model.onnx")).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_v4_model_and_request_round_trip_through_the_store_and_a_foreign_program_is_refused() {
    let net = net().await;
    let owner = net.cfg.ctx("owner", Timeline::default()).unwrap();
    let (m, _) = v4::register_onnx(&owner, &onnx("dnn"), 4, params)
        .await
        .expect("register dnn under v4");

    // Another party (its own context) loads the same model from the chain and the store.
    let requester = net.cfg.ctx("requester", Timeline::default()).unwrap();
    let loaded = v4::load(&requester, m.id).await.expect("load");
    assert_eq!(loaded.model.model_root(), m.model.model_root());
    assert_eq!(loaded.model.layout_root(), m.model.layout_root());
    assert_eq!(loaded.program.to_bytes(), m.program.to_bytes());
    assert_eq!(loaded.model.lowered.ops_per_step, 4);

    // A request: the inputs come back from the store committed to the request's S_0.
    let file = TensorFile::read(&repo().join("testdata/dnn/input.json")).unwrap();
    let inputs = quantize_inputs(&loaded.program, &file.inputs).unwrap();
    let (rid, _, posted) = v4::request_inputs(
        &requester,
        &loaded,
        inputs.clone(),
        U256::from(1_000_000_000_000_000u64),
    )
    .await
    .expect("request");
    let submitter = net.cfg.ctx("submitter", Timeline::default()).unwrap();
    let (_, back, s0) = v4::load_request(&submitter, rid)
        .await
        .expect("load request");
    assert_eq!(back, inputs);
    assert_eq!(s0, posted);
    let theirs = v4::trace(&loaded, &back, None, Some(s0)).expect("trace from S_0");
    assert_eq!(
        theirs.state_roots[0], s0,
        "S_0 from the inputs alone is the trace's"
    );
    // Inputs other than the request's do not pass as its run.
    let mut other = back.clone();
    other[0].data[0] += 1;
    assert!(matches!(
        v4::trace(&loaded, &other, None, Some(s0)),
        Err(AgentError::Inconsistent { .. })
    ));

    // A registration whose program CID names another program (lenet5's) than the one its
    // roots commit (dnn's): loading it is refused.
    let (lenet5, _) = v4::lower(&onnx("lenet5"), 4, &Default::default()).unwrap();
    let foreign = owner.store.put(&lenet5.to_bytes()).unwrap().to_string();
    let (_, dnn) = v4::lower(&onnx("dnn"), 4, &Default::default()).unwrap();
    let (bad, _) = v4::register(&owner.chain, &dnn, params(0), m.onnx_cid.clone(), foreign)
        .await
        .expect("the registry does not read CIDs");
    match v4::load(&requester, bad).await {
        Err(AgentError::Inconsistent { reason, .. }) => {
            assert!(reason.contains("model root"), "{reason}")
        }
        Err(e) => panic!("expected a root mismatch, got {e}"),
        Ok(_) => panic!("a foreign program was loaded"),
    }
    // An id the registry does not know.
    assert!(matches!(
        v4::load(&requester, U256::from(99)).await,
        Err(AgentError::UnknownModel(_))
    ));
}
