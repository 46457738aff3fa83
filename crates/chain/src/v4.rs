//! Protocol version 4 (docs/protocol.md §10): the Rust mirror of the v4 enums and custom
//! errors, deployment of the whole v4 stack, and typed access to its contracts.
//!
//! Deployment order ([`deploy_v4`]): PoseidonT3 at its deterministic address (npm
//! `poseidon-solidity` 0.0.5's published bytecode through the CREATE2 deployer proxy, skipped
//! when the address already has code), `LibChunkDescentLinked` linked against it, one
//! `Groth16TemplateVerifier` per template key, `TemplateRegistry` with their ids and gas
//! budgets, `ModelRegistryV4`, and `InferenceMarketV4` linked against the descent library.

use alloy::{
    network::TransactionBuilder,
    primitives::{Address, Bytes, TxKind, B256, U256},
    providers::{DynProvider, Provider},
    rpc::types::TransactionRequest,
    sol_types::{SolInterface, SolValue},
};
use serde::{Deserialize, Serialize};
use tracing::info;

use crate::{
    bindings::{
        descent_lib::LibChunkDescentLinked::{self, LibChunkDescentLinkedErrors},
        market_v4::InferenceMarketV4::{self, InferenceMarketV4Errors, InferenceMarketV4Instance},
        registry_v4::ModelRegistryV4::{self, ModelRegistryV4Errors, ModelRegistryV4Instance},
        template_registry::TemplateRegistry::{
            self, TemplateRegistryErrors, TemplateRegistryInstance,
        },
        template_verifier::Groth16TemplateVerifier::{
            self, Groth16TemplateVerifierErrors, Groth16TemplateVerifierInstance,
        },
    },
    types::contract_enum,
    Chain, ChainError, Result,
};

/// `InferenceMarketV4`'s creation code with its `LibChunkDescentLinked` placeholders.
const MARKET_LINK: &str = include_str!("../artifacts/InferenceMarketV4.link.json");
/// `LibChunkDescentLinked`'s creation code with its `PoseidonT3` placeholders.
const DESCENT_LINK: &str = include_str!("../artifacts/LibChunkDescentLinked.link.json");
/// npm poseidon-solidity's published PoseidonT3 deployment (see `scripts/export-artifacts.sh`).
const POSEIDON: &str = include_str!("../artifacts/PoseidonT3.json");

contract_enum! {
    /// `TypesV4.RequestStatus`.
    RequestStatus {
        /// No such request.
        None = 0,
        /// Waiting for a response.
        Open = 1,
        /// A response is pending.
        Responded = 2,
        /// Finalised (fee paid).
        Finalized = 3,
        /// Cancelled (fee refunded).
        Cancelled = 4,
    }
}

contract_enum! {
    /// `TypesV4.ResponseStatus`.
    ResponseStatus {
        /// No such response.
        None = 0,
        /// Within its challenge window or disputed.
        Pending = 1,
        /// A game or one-shot disproved it.
        Disproven = 2,
        /// Final.
        Finalized = 3,
        /// A verifier failure voided it (§10.8).
        Voided = 4,
    }
}

contract_enum! {
    /// `TypesV4.Phase`: whose move a version-4 game waits for.
    Phase {
        /// Level 1: the submitter reveals its split points.
        SubmitterReveal = 0,
        /// Level 1: the challenger reveals its split points.
        ChallengerReveal = 1,
        /// Level 2: the submitter opens L_lo and L_hi.
        SubmitterOpenStep = 2,
        /// Level 2: the challenger opens its L_hi.
        ChallengerOpenStep = 3,
        /// Level 2: the submitter reveals its step outputs.
        SubmitterOps = 4,
        /// Level 2: the challenger reveals its step outputs.
        ChallengerOps = 5,
        /// Level 2: the outputs agree, an assembly fault must be proven.
        AssemblyProving = 6,
        /// Level 3: waiting for `startDescent` (submitter's clock).
        DescentStart = 7,
        /// Level 3: the chunk descent runs.
        Descent = 8,
        /// Over.
        Resolved = 9,
    }
}

contract_enum! {
    /// `TypesV4.GameStatus`.
    GameStatus {
        /// Still being played.
        InProgress = 0,
        /// The submitter won (the challenger's bond is its).
        SubmitterWon = 1,
        /// The challenger won (the response is disproven).
        ChallengerWon = 2,
        /// Neither proved its claim: both bonds burned.
        BothLost = 3,
        /// Cancelled by another game's or a one-shot's outcome (bond refunded).
        Cancelled = 4,
        /// Voided by a verifier failure or an unprovable leaf (§10.8).
        Voided = 5,
    }
}

contract_enum! {
    /// `Types.Side`.
    Side {
        /// The response's submitter.
        Submitter = 0,
        /// The game's challenger.
        Challenger = 1,
    }
}

contract_enum! {
    /// `Types.DescentPhase`: the level-3 chunk descent's state.
    DescentPhase {
        /// Not started.
        None = 0,
        /// The submitter opens its C(Y_o).
        SubmitterOpen = 1,
        /// The challenger opens its C(Y_o).
        ChallengerOpen = 2,
        /// The submitter reveals the children of its node.
        SubmitterReveal = 3,
        /// The challenger reveals the children of its node.
        ChallengerReveal = 4,
        /// Waiting for the leaf proof.
        Proving = 5,
        /// Over.
        Resolved = 6,
    }
}

/// A decoded revert of a version-4 contract: the custom errors of `ErrorsV4` and `Errors`
/// as each contract's ABI declares them.
#[derive(Debug)]
pub enum V4Revert {
    /// `InferenceMarketV4`.
    Market(InferenceMarketV4Errors),
    /// `LibChunkDescentLinked` (bubbles up through the market).
    Descent(LibChunkDescentLinkedErrors),
    /// `ModelRegistryV4`.
    Registry(ModelRegistryV4Errors),
    /// `TemplateRegistry`.
    Templates(TemplateRegistryErrors),
    /// `Groth16TemplateVerifier` (`InvalidProof()` and the constructor's errors).
    Verifier(Groth16TemplateVerifierErrors),
}

impl V4Revert {
    /// Decodes revert data against the v4 contracts' errors, market first.
    pub fn decode(data: &[u8]) -> Option<Self> {
        if let Ok(e) = InferenceMarketV4Errors::abi_decode(data) {
            return Some(Self::Market(e));
        }
        if let Ok(e) = LibChunkDescentLinkedErrors::abi_decode(data) {
            return Some(Self::Descent(e));
        }
        if let Ok(e) = ModelRegistryV4Errors::abi_decode(data) {
            return Some(Self::Registry(e));
        }
        if let Ok(e) = TemplateRegistryErrors::abi_decode(data) {
            return Some(Self::Templates(e));
        }
        Groth16TemplateVerifierErrors::abi_decode(data)
            .ok()
            .map(Self::Verifier)
    }

    /// Whether this revert says the chain moved on since the caller read it: the move was
    /// made already (by this agent's earlier attempt whose answer was lost, by another agent
    /// with the same key, or re-made after a reorganisation), the game or the response
    /// ended, the round the caller read has passed, the window or the clock the caller
    /// judged by the latest block is not yet over in the next one. An agent that reads the state again on its next tick decides afresh;
    /// any other revert is a disagreement with the contract, not a race.
    pub fn is_stale(&self) -> bool {
        use InferenceMarketV4Errors as M;
        use LibChunkDescentLinkedErrors as D;
        match self {
            Self::Market(e) => matches!(
                e,
                M::WrongGamePhase(_)
                    | M::WrongDescentPhase(_)
                    | M::DescentNotInProgress(_)
                    | M::GameOver(_)
                    | M::LeafAlreadyProven(_)
                    | M::TraceAlreadyCommitted(_)
                    | M::WrongRequestStatus(_)
                    | M::ResponseNotPendingV4(_)
                    | M::RespondTooEarly(_)
                    | M::ChallengeWindowOpen(_)
                    | M::GamesInProgress(_)
                    | M::NoTimeout(_)
                    | M::NothingToWithdraw(_)
                    // The submitter's leaves of the round the caller read are not the
                    // round's any more (another client of the key revealed meanwhile).
                    | M::RevealMismatch(_)
                    // Another game's leaf was proven for its challenger: until its
                    // `finishGame` this response is held; after it, this game is cancelled.
                    | M::ResponseHeldByGame(_)
            ),
            Self::Descent(e) => matches!(
                e,
                D::WrongDescentPhase(_)
                    | D::DescentNotInProgress(_)
                    | D::DescentAlreadyStarted(_)
                    | D::NotSidesTurn(_)
                    | D::NoDescentTimeout(_)
            ),
            _ => false,
        }
    }

    /// Whether this is `InvalidProof()` (a template verifier refused the proof).
    pub fn is_invalid_proof(&self) -> bool {
        matches!(
            self,
            Self::Market(InferenceMarketV4Errors::InvalidProof(_))
                | Self::Verifier(Groth16TemplateVerifierErrors::InvalidProof(_))
        )
    }
}

/// One template's verifying key as `Groth16TemplateVerifier` constructor arguments, with the
/// id and gas budget it is registered under.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TemplateKeyArgs {
    /// The template's name (`zkopml_prover::templates::TEMPLATES`).
    pub name: String,
    /// Its templateId (docs/protocol.md §10.8: index in `TEMPLATES` + 1).
    pub id: u64,
    /// Gas budget of its verifier (0 < gasLimit ≤ 5,000,000).
    pub gas_limit: u64,
    /// `alpha` in G1.
    pub alpha1: [U256; 2],
    /// `beta` in G2 (EIP-197 order).
    pub beta2: [[U256; 2]; 2],
    /// `gamma` in G2.
    pub gamma2: [[U256; 2]; 2],
    /// `delta` in G2.
    pub delta2: [[U256; 2]; 2],
    /// IC points: the constant term, then one per public input.
    pub ic: Vec<[U256; 2]>,
    /// Whether the key is a test key (public seed: anyone can forge proofs).
    pub test_key: bool,
}

/// One deployed template verifier.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeployedTemplate {
    /// Template name.
    pub name: String,
    /// templateId.
    pub id: u64,
    /// Its `Groth16TemplateVerifier`.
    pub verifier: Address,
    /// Registered gas budget.
    pub gas_limit: u64,
    /// Whether its key is a test key.
    pub test_key: bool,
}

/// Where the version-4 contracts live (recorded beside version 3 in the devnet config).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeploymentV4 {
    /// PoseidonT3 (deterministic address).
    pub poseidon: Address,
    /// `LibChunkDescentLinked`.
    pub descent_lib: Address,
    /// `TemplateRegistry`.
    pub templates: Address,
    /// `ModelRegistryV4`.
    pub registry: Address,
    /// `InferenceMarketV4`.
    pub market: Address,
    /// The template verifiers, in templateId order.
    pub verifiers: Vec<DeployedTemplate>,
    /// Gas of every deployment transaction, in order (`(what, gas)`).
    pub deploy_gas: Vec<(String, u64)>,
}

impl DeploymentV4 {
    /// Total gas of the deployment transactions.
    pub fn total_deploy_gas(&self) -> u64 {
        self.deploy_gas.iter().map(|(_, g)| g).sum()
    }

    /// The verifier of template `name`.
    pub fn template(&self, name: &str) -> Option<&DeployedTemplate> {
        self.verifiers.iter().find(|t| t.name == name)
    }
}

/// Replaces the `__$…$__` link placeholders of a `*.link.json` artifact with `libs`' addresses
/// (by library name); fails if any placeholder is left.
pub fn link(artifact: &str, libs: &[(&str, Address)]) -> Result<Bytes> {
    let bad = |reason: String| ChainError::Config {
        what: "linkable artifact",
        reason,
    };
    let v: serde_json::Value = serde_json::from_str(artifact).map_err(|e| bad(e.to_string()))?;
    let mut hex = v["bytecode"]
        .as_str()
        .ok_or_else(|| bad("no bytecode".into()))?
        .trim_start_matches("0x")
        .to_string();
    let refs = v["linkReferences"]
        .as_object()
        .ok_or_else(|| bad("no linkReferences".into()))?;
    for by_name in refs.values() {
        let by_name = by_name
            .as_object()
            .ok_or_else(|| bad("linkReferences entry".into()))?;
        for (name, spots) in by_name {
            let addr = libs
                .iter()
                .find(|(n, _)| n == name)
                .map(|(_, a)| *a)
                .ok_or_else(|| bad(format!("no address for library {name}")))?;
            let addr_hex = alloy::primitives::hex::encode(addr);
            for spot in spots.as_array().into_iter().flatten() {
                let start = spot["start"].as_u64().unwrap_or(u64::MAX) as usize;
                let len = spot["length"].as_u64().unwrap_or(0) as usize;
                if len != 20 || 2 * (start + len) > hex.len() {
                    return Err(bad(format!("bad link reference {spot}")));
                }
                hex.replace_range(2 * start..2 * (start + len), &addr_hex);
            }
        }
    }
    if hex.contains("__$") {
        return Err(bad("unlinked placeholder left".into()));
    }
    alloy::primitives::hex::decode(&hex)
        .map(Bytes::from)
        .map_err(|e| bad(e.to_string()))
}

async fn send_raw(
    provider: &DynProvider,
    rpc: &str,
    what: &str,
    tx: TransactionRequest,
) -> Result<alloy::rpc::types::TransactionReceipt> {
    let unavailable = |e: String| ChainError::Unavailable {
        rpc: rpc.to_string(),
        reason: e,
    };
    let pending = provider.send_transaction(tx).await.map_err(|e| {
        let reason = e.to_string();
        if reason.contains("revert") {
            ChainError::Rpc {
                call: "deploy_v4",
                reason: format!("{what}: {reason}"),
            }
        } else {
            unavailable(reason)
        }
    })?;
    let receipt = pending
        .get_receipt()
        .await
        .map_err(|e| unavailable(e.to_string()))?;
    if !receipt.status() {
        return Err(ChainError::Failed {
            call: "deploy_v4",
            tx: format!("{}", receipt.transaction_hash),
            reason: format!("{what} reverted"),
            cause: None,
        });
    }
    Ok(receipt)
}

async fn create(
    provider: &DynProvider,
    rpc: &str,
    what: &str,
    code: Bytes,
    gas: &mut Vec<(String, u64)>,
) -> Result<Address> {
    let tx = TransactionRequest::default().with_deploy_code(code);
    let receipt = send_raw(provider, rpc, what, tx).await?;
    let address = receipt.contract_address.ok_or(ChainError::Failed {
        call: "deploy_v4",
        tx: format!("{}", receipt.transaction_hash),
        reason: format!("{what}: no contract address in the receipt"),
        cause: None,
    })?;
    gas.push((what.to_string(), receipt.gas_used));
    info!(what, %address, gas = receipt.gas_used, "deployed");
    Ok(address)
}

/// Deploys PoseidonT3 at its deterministic address through the CREATE2 deployer proxy, unless
/// the address already has code. Returns the address.
pub async fn deploy_poseidon(
    provider: &DynProvider,
    rpc: &str,
    gas: &mut Vec<(String, u64)>,
) -> Result<Address> {
    let bad = |reason: String| ChainError::Config {
        what: "PoseidonT3 artifact",
        reason,
    };
    let v: serde_json::Value = serde_json::from_str(POSEIDON).map_err(|e| bad(e.to_string()))?;
    let field = |k: &str| -> Result<String> {
        v[k].as_str()
            .map(str::to_string)
            .ok_or_else(|| bad(format!("no {k}")))
    };
    let address: Address = field("address")?.parse().map_err(|e| bad(format!("{e}")))?;
    let proxy: Address = field("proxyAddress")?
        .parse()
        .map_err(|e| bad(format!("{e}")))?;
    let data: Bytes = field("data")?.parse().map_err(|e| bad(format!("{e}")))?;
    let code_at = |a: Address| async move {
        provider
            .get_code_at(a)
            .await
            .map_err(|e| ChainError::Unavailable {
                rpc: rpc.to_string(),
                reason: e.to_string(),
            })
    };
    if !code_at(address).await?.is_empty() {
        return Ok(address);
    }
    if code_at(proxy).await?.is_empty() {
        return Err(ChainError::Config {
            what: "chain",
            reason: format!("no CREATE2 deployer proxy at {proxy} (anvil pre-deploys it)"),
        });
    }
    let tx = TransactionRequest::default()
        .with_kind(TxKind::Call(proxy))
        .with_input(data);
    let receipt = send_raw(provider, rpc, "PoseidonT3", tx).await?;
    gas.push(("PoseidonT3".into(), receipt.gas_used));
    if code_at(address).await?.is_empty() {
        return Err(ChainError::Failed {
            call: "deploy_v4",
            tx: format!("{}", receipt.transaction_hash),
            reason: format!("PoseidonT3 not at {address} after the proxy call"),
            cause: None,
        });
    }
    info!(%address, gas = receipt.gas_used, "deployed PoseidonT3");
    Ok(address)
}

/// Deploys the whole version-4 stack with `key` (see the module docs for the order),
/// `bond_floor` as `ModelRegistryV4`'s `BOND_FLOOR` and `time_floor` (seconds) as its
/// `TIME_FLOOR`.
pub async fn deploy_v4(
    rpc: &str,
    key: &str,
    templates: &[TemplateKeyArgs],
    bond_floor: U256,
    time_floor: u64,
) -> Result<DeploymentV4> {
    let (provider, _) = Chain::provider(rpc, key, &crate::ClientOptions::default())?;
    let mut gas = Vec::new();
    let poseidon = deploy_poseidon(&provider, rpc, &mut gas).await?;
    let descent_code = link(DESCENT_LINK, &[("PoseidonT3", poseidon)])?;
    let descent_lib = create(
        &provider,
        rpc,
        "LibChunkDescentLinked",
        descent_code,
        &mut gas,
    )
    .await?;
    let mut verifiers = Vec::with_capacity(templates.len());
    for t in templates {
        let code = Groth16TemplateVerifier::deploy_builder(
            provider.clone(),
            t.alpha1,
            t.beta2,
            t.gamma2,
            t.delta2,
            t.ic.clone(),
        )
        .calldata()
        .clone();
        let what = format!("Groth16TemplateVerifier({})", t.name);
        let verifier = create(&provider, rpc, &what, code, &mut gas).await?;
        verifiers.push(DeployedTemplate {
            name: t.name.clone(),
            id: t.id,
            verifier,
            gas_limit: t.gas_limit,
            test_key: t.test_key,
        });
    }
    let code = TemplateRegistry::deploy_builder(
        provider.clone(),
        verifiers.iter().map(|v| U256::from(v.id)).collect(),
        verifiers.iter().map(|v| v.verifier).collect(),
        verifiers.iter().map(|v| v.gas_limit).collect(),
    )
    .calldata()
    .clone();
    let template_registry = create(&provider, rpc, "TemplateRegistry", code, &mut gas).await?;
    let code = ModelRegistryV4::deploy_builder(provider.clone(), bond_floor, time_floor)
        .calldata()
        .clone();
    let registry = create(&provider, rpc, "ModelRegistryV4", code, &mut gas).await?;
    let mut code = link(MARKET_LINK, &[("LibChunkDescentLinked", descent_lib)])?.to_vec();
    code.extend_from_slice(&(registry, template_registry).abi_encode_params());
    let market = create(
        &provider,
        rpc,
        "InferenceMarketV4",
        Bytes::from(code),
        &mut gas,
    )
    .await?;
    let d = DeploymentV4 {
        poseidon,
        descent_lib,
        templates: template_registry,
        registry,
        market,
        verifiers,
        deploy_gas: gas,
    };
    info!(market = %d.market, registry = %d.registry, gas = d.total_deploy_gas(), "deployed v4");
    Ok(d)
}

/// One `InferenceMarketV4` event as mined ([`Chain::market_v4_log`]).
#[derive(Clone, Debug)]
pub struct MarketEventV4 {
    /// Number of the block that holds it.
    pub block: u64,
    /// The transaction that emitted it.
    pub tx_hash: B256,
    /// Its position among the block's logs.
    pub log_index: u64,
    /// The decoded event.
    pub event: MarketEventKindV4,
}

/// What an `InferenceMarketV4` log decodes to: one of the market's own events, or one of the
/// chunk descent library's, which the market emits from its delegatecalls without a game id
/// (the market's `DescentBegan`/`DescentMoved` of the same transaction carries it).
#[derive(Clone, Debug)]
pub enum MarketEventKindV4 {
    /// `InferenceMarketV4`'s event.
    Market(InferenceMarketV4::InferenceMarketV4Events),
    /// `LibChunkDescentLinked`'s event.
    Descent(LibChunkDescentLinked::LibChunkDescentLinkedEvents),
}

/// A mined transaction, as a person reading a game needs it ([`Chain::mined_tx`]).
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct MinedTx {
    /// Its hash.
    pub hash: B256,
    /// Its sender.
    pub from: Address,
    /// The block that holds it.
    pub block: u64,
    /// That block's timestamp (seconds).
    pub timestamp: u64,
    /// Gas it used.
    pub gas_used: u64,
    /// Whether it succeeded (a reverted transaction emits no event).
    pub success: bool,
    /// Its calldata (decode with `InferenceMarketV4Calls`).
    pub input: Bytes,
}

impl Chain {
    fn v4(&self) -> Result<&DeploymentV4> {
        self.deployment.v4.as_ref().ok_or(ChainError::Config {
            what: "deployment",
            reason: "no version-4 contracts in this deployment".into(),
        })
    }

    /// `InferenceMarketV4` of this deployment.
    pub fn market_v4(&self) -> Result<InferenceMarketV4Instance<DynProvider>> {
        Ok(InferenceMarketV4::new(
            self.v4()?.market,
            self.provider.clone(),
        ))
    }

    /// `TemplateRegistry` of this deployment (templateId → verifier and gas budget: what a
    /// leaf statement names, `InferenceMarketV4.resolveLeaf`).
    pub fn template_registry_v4(&self) -> Result<TemplateRegistryInstance<DynProvider>> {
        Ok(TemplateRegistry::new(
            self.v4()?.templates,
            self.provider.clone(),
        ))
    }

    /// `ModelRegistryV4` of this deployment.
    pub fn registry_v4(&self) -> Result<ModelRegistryV4Instance<DynProvider>> {
        Ok(ModelRegistryV4::new(
            self.v4()?.registry,
            self.provider.clone(),
        ))
    }

    /// Every `E` event `InferenceMarketV4` emitted with first indexed topic `topic1` (a
    /// gameId or requestId), oldest first.
    pub async fn market_v4_events<E: alloy::sol_types::SolEvent>(
        &self,
        topic1: U256,
    ) -> Result<Vec<E>> {
        let filter = alloy::rpc::types::Filter::new()
            .address(self.v4()?.market)
            .event_signature(E::SIGNATURE_HASH)
            .topic1(alloy::primitives::B256::from(topic1))
            .from_block(0);
        let logs = self
            .provider
            .get_logs(&filter)
            .await
            .map_err(|e| ChainError::Unavailable {
                rpc: self.deployment.rpc.clone(),
                reason: e.to_string(),
            })?;
        Ok(logs
            .iter()
            .filter_map(|l| E::decode_log(&l.inner).ok().map(|e| e.data))
            .collect())
    }

    /// Every event `InferenceMarketV4` emitted from block `from_block` on (its own and its
    /// descent library's), in chain order (block, then position in the block), each with the
    /// transaction that emitted it. Logs neither binding decodes are skipped.
    pub async fn market_v4_log(&self, from_block: u64) -> Result<Vec<MarketEventV4>> {
        use alloy::sol_types::SolEventInterface;
        let filter = alloy::rpc::types::Filter::new()
            .address(self.v4()?.market)
            .from_block(from_block);
        let logs = self
            .provider
            .get_logs(&filter)
            .await
            .map_err(|e| self.unavailable(&e))?;
        let mut out: Vec<MarketEventV4> = logs
            .iter()
            .filter_map(|l| {
                let event = match InferenceMarketV4::InferenceMarketV4Events::decode_log(&l.inner) {
                    Ok(e) => MarketEventKindV4::Market(e.data),
                    Err(_) => MarketEventKindV4::Descent(
                        LibChunkDescentLinked::LibChunkDescentLinkedEvents::decode_log(&l.inner)
                            .ok()?
                            .data,
                    ),
                };
                Some(MarketEventV4 {
                    block: l.block_number?,
                    tx_hash: l.transaction_hash?,
                    log_index: l.log_index?,
                    event,
                })
            })
            .collect();
        out.sort_by_key(|e| (e.block, e.log_index));
        Ok(out)
    }

    /// The mined transaction `hash` with its receipt's gas and status and its block's
    /// timestamp; `None` while it is not mined (or the node does not know it).
    pub async fn mined_tx(&self, hash: B256) -> Result<Option<MinedTx>> {
        use alloy::{
            network::{ReceiptResponse, TransactionResponse},
            rpc::types::TransactionTrait,
        };
        let Some(receipt) = self
            .provider
            .get_transaction_receipt(hash)
            .await
            .map_err(|e| self.unavailable(&e))?
        else {
            return Ok(None);
        };
        let Some(tx) = self
            .provider
            .get_transaction_by_hash(hash)
            .await
            .map_err(|e| self.unavailable(&e))?
        else {
            return Ok(None);
        };
        let Some(block) = receipt.block_number() else {
            return Ok(None);
        };
        let timestamp = self
            .provider
            .get_block_by_number(alloy::eips::BlockNumberOrTag::Number(block))
            .await
            .map_err(|e| self.unavailable(&e))?
            .map_or(0, |b| b.header.timestamp);
        Ok(Some(MinedTx {
            hash,
            from: tx.from(),
            block,
            timestamp,
            gas_used: receipt.gas_used(),
            success: receipt.status(),
            input: tx.input().clone(),
        }))
    }

    fn unavailable(&self, e: &impl std::fmt::Display) -> ChainError {
        ChainError::Unavailable {
            rpc: self.deployment.rpc.clone(),
            reason: e.to_string(),
        }
    }

    /// A `Groth16TemplateVerifier` at `address`.
    pub fn template_verifier(
        &self,
        address: Address,
    ) -> Groth16TemplateVerifierInstance<DynProvider> {
        Groth16TemplateVerifier::new(address, self.provider.clone())
    }
}

#[cfg(test)]
mod tests {
    use alloy::sol_types::SolError;

    use super::*;
    use crate::market_v4::InferenceMarketV4::{InvalidProof, ResponseHeldByGame, WrongInputCount};

    #[test]
    fn link_fills_every_placeholder_with_the_address() {
        let poseidon: Address = "0x3333333C0A88F9BE4fd23ed0536F9B6c427e3B93"
            .parse()
            .unwrap();
        let code = link(DESCENT_LINK, &[("PoseidonT3", poseidon)]).unwrap();
        let hex = alloy::primitives::hex::encode(&code);
        assert_eq!(
            hex.matches(&alloy::primitives::hex::encode(poseidon))
                .count(),
            2
        );
        let market = link(MARKET_LINK, &[("LibChunkDescentLinked", poseidon)]).unwrap();
        assert_eq!(
            alloy::primitives::hex::encode(&market)
                .matches(&alloy::primitives::hex::encode(poseidon))
                .count(),
            4
        );
    }

    #[test]
    fn link_refuses_a_missing_library() {
        let err = link(MARKET_LINK, &[("PoseidonT3", Address::ZERO)]).unwrap_err();
        assert!(err.to_string().contains("LibChunkDescentLinked"), "{err}");
    }

    #[test]
    fn reverts_decode_to_the_typed_errors() {
        let data = WrongInputCount {
            expected: U256::from(2),
            got: U256::from(1),
        }
        .abi_encode();
        match V4Revert::decode(&data) {
            Some(V4Revert::Market(InferenceMarketV4Errors::WrongInputCount(e))) => {
                assert_eq!((e.expected, e.got), (U256::from(2), U256::from(1)))
            }
            other => panic!("decoded {other:?}"),
        }
        let invalid = V4Revert::decode(&InvalidProof {}.abi_encode()).unwrap();
        assert!(invalid.is_invalid_proof());
        assert!(!invalid.is_stale(), "a bad proof is no race");
        assert!(V4Revert::decode(&[0xde, 0xad, 0xbe, 0xef]).is_none());
        // A response held by another game's proven leaf is a passing state: the agent reads
        // again (after that game's finishGame its own game is cancelled).
        let held = ResponseHeldByGame {
            responseId: U256::from(1),
            gameId: U256::from(2),
        }
        .abi_encode();
        assert!(V4Revert::decode(&held).unwrap().is_stale());
    }

    #[test]
    fn enums_round_trip_and_refuse_unknown_values() {
        for v in 0..=9u8 {
            assert_eq!(u8::from(Phase::try_from(v).unwrap()), v);
        }
        assert!(Phase::try_from(10).is_err());
        assert_eq!(GameStatus::try_from(5).unwrap(), GameStatus::Voided);
        assert!(GameStatus::try_from(6).is_err());
        assert_eq!(Side::try_from(1).unwrap(), Side::Challenger);
        assert_eq!(DescentPhase::try_from(5).unwrap(), DescentPhase::Proving);
        assert_eq!(
            RequestStatus::try_from(3).unwrap(),
            RequestStatus::Finalized
        );
    }
}
