//! Fixtures shared by the version-4 anvil test files: the repository, the template test
//! keys (made once per target dir, under one lock), a devnet that goes down when dropped.

use std::{path::PathBuf, sync::Mutex};

use alloy_primitives::{Address, U256};
use zkopml_agents::{devnet, v4, DevnetConfig, Timeline};
use zkopml_chain::{
    market_v4::InferenceMarketV4::Withdrawn, registry_v4::TypesV4::GameParams, Chain,
};
use zkopml_engine::io::{quantize_inputs, TensorFile};

/// Serialises the first template key setup (the cache is shared by every test).
static KEYS: Mutex<()> = Mutex::new(());

pub(crate) fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// The template test keys, shared by every v4 test (and `demo_v4`).
pub(crate) fn key_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("template-keys")
}

/// A devnet, taken down when dropped.
pub(crate) struct Net {
    pub(crate) cfg: DevnetConfig,
    pub(crate) _dir: tempfile::TempDir,
}

impl Drop for Net {
    fn drop(&mut self) {
        devnet::down(&self.cfg);
    }
}

/// A devnet with version 3 and version 4 deployed (the template keys made once, cached
/// across tests).
pub(crate) async fn v4_net() -> Net {
    v4_net_with(false).await
}

/// [`v4_net`], with anvil persisting its chain (`devnet::restart` starts it again from it)
/// when `persist_state`.
pub(crate) async fn v4_net_with(persist_state: bool) -> Net {
    let anvil = repo().join(".tools/bin/anvil");
    assert!(
        anvil.exists(),
        "anvil not installed: run `bash scripts/install-toolchain.sh`"
    );
    std::env::set_var("ZKOPML_ANVIL", &anvil);
    {
        let _g = KEYS.lock().unwrap_or_else(|e| e.into_inner());
        v4::template_key_args(&key_dir()).expect("template keys");
    }
    let dir = tempfile::tempdir().unwrap();
    let port = devnet::free_port().unwrap();
    let opts = devnet::UpOptions {
        v4: true,
        template_keys: Some(key_dir()),
        persist_state,
        time_floor: zkopml_agents::v4::DEVNET_TIME_FLOOR,
    };
    let cfg = devnet::up_with(&dir.path().join("devnet.json"), port, None, &opts)
        .await
        .expect("devnet up");
    Net { cfg, _dir: dir }
}

/// The response and challenger bond of [`dnn_request`]'s model.
pub(crate) const BOND: u128 = 10_000_000_000_000_000;
/// The fee of [`dnn_request`]'s request.
pub(crate) const FEE: u128 = 1_000_000_000_000_000;
/// Version 4's shortest challenge window.
pub(crate) const WINDOW: u64 = 600;

/// dnn registered under version 4 by `owner` (short windows, [`BOND`] both ways) and one
/// request on its input by `requester` for [`FEE`].
pub(crate) async fn dnn_request(net: &Net) -> (v4::LoadedV4, U256) {
    let model = register_dnn(net, 300).await;
    let request = request_dnn(net, &model).await;
    (model, request)
}

/// dnn registered under version 4 by `owner`: [`WINDOW`], `clock` seconds per side and to
/// prove, arity 2, [`BOND`] both ways.
pub(crate) async fn register_dnn(net: &Net, clock: u64) -> v4::LoadedV4 {
    let owner = net.cfg.ctx("owner", Timeline::default()).unwrap();
    let onnx = std::fs::read(repo().join("testdata/dnn/model.onnx")).unwrap();
    let (model, _) = v4::register_onnx(&owner, &onnx, 4, |_| GameParams {
        challengeWindow: WINDOW,
        clockPerSide: clock,
        provingWindow: clock,
        arity: 2,
        responseBond: BOND,
        challengerBond: BOND,
    })
    .await
    .expect("register dnn under v4");
    model
}

/// One request on dnn's input by `requester` for [`FEE`].
pub(crate) async fn request_dnn(net: &Net, model: &v4::LoadedV4) -> U256 {
    let requester = net.cfg.ctx("requester", Timeline::default()).unwrap();
    let file = TensorFile::read(&repo().join("testdata/dnn/input.json")).unwrap();
    let inputs = quantize_inputs(&model.program, &file.inputs).unwrap();
    let (request, _, _) = v4::request_inputs(&requester, model, inputs, U256::from(FEE))
        .await
        .expect("request");
    request
}

/// The first template operator of `template` in the lowering (where a test actor lies).
pub(crate) fn first_op(model: &v4::LoadedV4, template: &str) -> v4::Defect {
    let l = &model.model.lowered;
    v4::Defect::Op(
        (0..l.ops.len())
            .find(|o| l.ops[*o].template() == template)
            .unwrap_or_else(|| panic!("dnn lowers to a {template} operator")),
    )
}

/// Game `id`'s status on the version-4 market.
pub(crate) async fn game_status(chain: &Chain, id: U256) -> zkopml_chain::v4::GameStatus {
    let g = v4::game(chain, id).await.unwrap();
    zkopml_chain::v4::GameStatus::try_from(g.status).unwrap()
}

/// Everything `account` withdrew from the version-4 market.
pub(crate) async fn withdrawn(chain: &Chain, account: Address) -> U256 {
    chain
        .market_v4_events::<Withdrawn>(U256::from_be_bytes(account.into_word().0))
        .await
        .unwrap()
        .iter()
        .map(|w| w.amount)
        .sum()
}

/// The address of `role` on the devnet.
pub(crate) fn net_addr(net: &Net, role: &str) -> Address {
    net.cfg
        .ctx(role, Timeline::default())
        .unwrap()
        .chain
        .address
}
