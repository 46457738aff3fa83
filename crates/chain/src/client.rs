//! The client: a signing provider and the two contract addresses.

use std::time::{Duration, Instant};

use alloy::{
    contract::{CallBuilder, CallDecoder},
    network::EthereumWallet,
    primitives::{Address, Bytes, B256, U256},
    providers::{DynProvider, Provider, ProviderBuilder},
    rpc::{client::ClientBuilder, types::Filter},
    signers::local::PrivateKeySigner,
    sol_types::{SolEvent, SolInterface},
    transports::{
        http::reqwest,
        layers::{RetryBackoffLayer, RetryPolicy},
        RpcError, TransportError, TransportErrorKind,
    },
};
use serde::{Deserialize, Serialize};
use tracing::{debug, info, warn};

use crate::{
    bindings::{
        market::InferenceMarket::{self, InferenceMarketErrors, InferenceMarketInstance},
        registry::{
            ModelRegistry::{self, ModelRegistryErrors, ModelRegistryInstance},
            Types::GameParams,
        },
        verifier::Groth16Verifier,
    },
    ChainError, Result,
};

/// Where the contracts live: what `devnet up` records and every actor reads.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct Deployment {
    /// JSON-RPC URL.
    pub rpc: String,
    /// Chain id.
    pub chain_id: u64,
    /// `ModelRegistry`.
    pub registry: Address,
    /// `InferenceMarket`.
    pub market: Address,
    /// The version-4 contracts, when deployed (`crate::v4::deploy_v4`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub v4: Option<crate::v4::DeploymentV4>,
}

/// The gas limit sent for a call estimated at `estimate`: a quarter more plus 25k.
pub(crate) fn gas_limit(estimate: u64) -> u64 {
    estimate.saturating_add(estimate / 4).saturating_add(25_000)
}

/// How a [`Chain`] talks to its node: how long one request may take, how often a request
/// that met a transport fault is sent again, and how long a sent transaction's receipt is
/// awaited.
///
/// A transport fault is a connection refused, reset or closed before the response, a
/// request past `request_timeout`, or an HTTP 429/5xx: the node or the network between, not
/// the request. The node's own answers (a revert, `nonce too low`) are never re-sent here.
#[derive(Clone, Debug)]
pub struct ClientOptions {
    /// The longest wait for one JSON-RPC response (then the request is a transport fault).
    pub request_timeout: Duration,
    /// How many times a request that met a transport fault is sent again before the call
    /// fails with [`ChainError::Unavailable`]. A re-sent `eth_sendRawTransaction` is the same
    /// signed transaction: if the first one reached the node, the node answers `nonce too
    /// low` ([`ChainError::NonceTaken`]) and nothing is sent twice.
    pub transport_retries: u32,
    /// The pause before each re-send.
    pub retry_backoff: Duration,
    /// The longest wait for a sent transaction's receipt ([`ChainError::NotMined`] after
    /// it: the transaction was dropped, e.g. by a reorganisation or a node restarted from
    /// older state, or is still waiting in the pool).
    pub receipt_timeout: Duration,
}

impl Default for ClientOptions {
    /// 30 s per request, 3 re-sends 250 ms apart, 120 s for a receipt.
    fn default() -> Self {
        Self {
            request_timeout: Duration::from_secs(30),
            transport_retries: 3,
            retry_backoff: Duration::from_millis(250),
            receipt_timeout: Duration::from_secs(120),
        }
    }
}

/// Whether `e` is a transport fault ([`ClientOptions`]): the request may not have reached
/// the node, or its answer was lost; sending it again may succeed.
pub(crate) fn is_transport_fault(e: &TransportError) -> bool {
    match e {
        RpcError::Transport(kind) => match kind {
            TransportErrorKind::HttpError(h) => h.status == 429 || h.status >= 500,
            TransportErrorKind::PubsubUnavailable => false,
            // Connection refused, reset or closed, a timeout (reqwest's errors are `Custom`),
            // the backend gone, a batch member missing.
            _ => true,
        },
        _ => false,
    }
}

/// Whether a node's error message says the transaction's nonce was taken: by this very
/// transaction (a re-send after its first answer was lost) or by another transaction of the
/// same account (another agent with the same key).
fn is_nonce_message(message: &str) -> bool {
    let m = message.to_ascii_lowercase();
    [
        "nonce too low",
        "already imported",
        "already known",
        "replacement transaction underpriced",
    ]
    .iter()
    .any(|s| m.contains(s))
}

/// The retry policy of [`ClientOptions::transport_retries`]: transport faults only.
#[derive(Clone, Copy, Debug)]
struct TransportFaults;

impl RetryPolicy for TransportFaults {
    fn should_retry(&self, error: &TransportError) -> bool {
        let retry = is_transport_fault(error);
        if retry {
            debug!(%error, "transport fault, sending the request again");
        }
        retry
    }

    fn backoff_hint(&self, _error: &TransportError) -> Option<Duration> {
        None
    }
}

/// A mined transaction.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct TxInfo {
    /// Contract function.
    pub call: String,
    /// Hash.
    pub hash: B256,
    /// Gas used.
    pub gas_used: u64,
}

/// A signing client bound to one deployment.
#[derive(Clone)]
pub struct Chain {
    pub(crate) provider: DynProvider,
    rpc: String,
    options: ClientOptions,
    /// The signer's address.
    pub address: Address,
    /// The deployment.
    pub deployment: Deployment,
}

fn decode_revert(err: &alloy::contract::Error) -> Option<String> {
    let data = err.as_revert_data()?;
    if let Ok(e) = InferenceMarketErrors::abi_decode(&data) {
        return Some(format!("{e:?}"));
    }
    if let Ok(e) = ModelRegistryErrors::abi_decode(&data) {
        return Some(format!("{e:?}"));
    }
    if let Ok(e) = Groth16Verifier::Groth16VerifierErrors::abi_decode(&data) {
        return Some(format!("{e:?}"));
    }
    Some(format!("revert data {data}"))
}

impl Chain {
    fn map_err(&self, call: &'static str, err: alloy::contract::Error) -> ChainError {
        self.map_err_as(call, err, false)
    }

    /// Maps a contract error; with `v4`, revert data is decoded against the version-4
    /// contracts' errors first ([`ChainError::V4Reverted`]).
    fn map_err_as(&self, call: &'static str, err: alloy::contract::Error, v4: bool) -> ChainError {
        if v4 {
            if let Some(error) = err
                .as_revert_data()
                .and_then(|d| crate::v4::V4Revert::decode(&d))
            {
                return ChainError::V4Reverted {
                    call,
                    error: Box::new(error),
                };
            }
        }
        if let Some(reason) = decode_revert(&err) {
            return ChainError::Reverted { call, reason };
        }
        match err {
            alloy::contract::Error::TransportError(e) => self.transport_error(call, &e),
            alloy::contract::Error::PendingTransactionError(e) => ChainError::Unavailable {
                rpc: self.rpc.clone(),
                reason: e.to_string(),
            },
            other => ChainError::Rpc {
                call,
                reason: other.to_string(),
            },
        }
    }

    /// Classifies an RPC error that is not a revert: a transport fault is
    /// [`ChainError::Unavailable`], a taken nonce [`ChainError::NonceTaken`], anything else
    /// [`ChainError::Rpc`].
    fn transport_error(&self, call: &'static str, e: &TransportError) -> ChainError {
        if is_transport_fault(e) {
            return ChainError::Unavailable {
                rpc: self.rpc.clone(),
                reason: e.to_string(),
            };
        }
        match e.as_error_resp() {
            Some(p) if is_nonce_message(&p.message) => ChainError::NonceTaken {
                call,
                reason: p.message.to_string(),
            },
            _ => ChainError::Rpc {
                call,
                reason: e.to_string(),
            },
        }
    }

    pub(crate) fn provider(
        rpc: &str,
        key: &str,
        options: &ClientOptions,
    ) -> Result<(DynProvider, Address)> {
        let signer: PrivateKeySigner = key.parse().map_err(|e| ChainError::Config {
            what: "private key",
            reason: format!("{e}"),
        })?;
        let address = signer.address();
        let url = rpc.parse().map_err(|e| ChainError::Config {
            what: "RPC URL",
            reason: format!("{e}"),
        })?;
        let http = reqwest::Client::builder()
            .timeout(options.request_timeout)
            .build()
            .map_err(|e| ChainError::Config {
                what: "HTTP client",
                reason: format!("{e}"),
            })?;
        // Transport faults are re-sent here, one request at a time, so that one dropped
        // request does not fail a whole agent tick (a tick makes tens of requests).
        let retry = RetryBackoffLayer::new_with_policy(
            options.transport_retries,
            options.retry_backoff.as_millis() as u64,
            u64::MAX,
            TransportFaults,
        );
        let client = ClientBuilder::default()
            .layer(retry)
            .http_with_client(http, url);
        // Nonces are read from the node for every transaction (`pending` count), never
        // cached: the recommended fillers prepare gas and nonce concurrently, so a call that
        // reverts at gas estimation would still consume a cached nonce, and every later
        // transaction of this client would wait forever behind the gap. Read from the node,
        // a nonce also follows a reorganisation or a node restarted from older state.
        let provider = ProviderBuilder::default()
            .with_gas_estimation()
            .with_simple_nonce_management()
            .fetch_chain_id()
            .wallet(EthereumWallet::from(signer))
            .connect_client(client);
        Ok((provider.erased(), address))
    }

    /// Deploys `ModelRegistry` and `InferenceMarket` with `key`.
    pub async fn deploy(rpc: &str, key: &str) -> Result<Deployment> {
        let (provider, _) = Self::provider(rpc, key, &ClientOptions::default())?;
        let unavailable = |e: alloy::contract::Error| ChainError::Unavailable {
            rpc: rpc.to_string(),
            reason: e.to_string(),
        };
        let registry = ModelRegistry::deploy(provider.clone())
            .await
            .map_err(unavailable)?;
        let market = InferenceMarket::deploy(provider.clone(), *registry.address())
            .await
            .map_err(unavailable)?;
        let chain_id = provider
            .get_chain_id()
            .await
            .map_err(|e| ChainError::Unavailable {
                rpc: rpc.to_string(),
                reason: e.to_string(),
            })?;
        info!(registry = %registry.address(), market = %market.address(), "deployed");
        Ok(Deployment {
            rpc: rpc.to_string(),
            chain_id,
            registry: *registry.address(),
            market: *market.address(),
            v4: None,
        })
    }

    /// Checks that the node at `deployment.rpc` holds `deployment`: it serves the chain id
    /// the deployment was made on, and the registries and markets it names have code there
    /// (a config file pointed at another node's RPC URL fails here, not at its first
    /// transaction).
    pub async fn check_deployment(deployment: &Deployment) -> Result<()> {
        let rpc = &deployment.rpc;
        let url = rpc.parse().map_err(|e| ChainError::Config {
            what: "RPC URL",
            reason: format!("{e}"),
        })?;
        let provider = ProviderBuilder::new().connect_http(url);
        let unavailable = |e: TransportError| ChainError::Unavailable {
            rpc: rpc.clone(),
            reason: e.to_string(),
        };
        let wrong = |reason: String| ChainError::WrongChain {
            rpc: rpc.clone(),
            reason,
        };
        let node = provider.get_chain_id().await.map_err(unavailable)?;
        // INVARIANT: transactions are signed for the node's chain id; one signed for a
        // chain the contracts are not on would go to addresses that hold nothing of ours.
        if node != deployment.chain_id {
            return Err(wrong(format!(
                "it serves chain {node}, the deployment is on chain {}",
                deployment.chain_id
            )));
        }
        let mut contracts = vec![
            ("ModelRegistry", deployment.registry),
            ("InferenceMarket", deployment.market),
        ];
        if let Some(v4) = &deployment.v4 {
            contracts.push(("ModelRegistryV4", v4.registry));
            contracts.push(("InferenceMarketV4", v4.market));
        }
        for (name, address) in contracts {
            if provider
                .get_code_at(address)
                .await
                .map_err(unavailable)?
                .is_empty()
            {
                return Err(wrong(format!("no {name} at {address}")));
            }
        }
        Ok(())
    }

    /// A client signing with `key` against `deployment`, with the default
    /// [`ClientOptions`].
    pub fn connect(deployment: &Deployment, key: &str) -> Result<Self> {
        Self::connect_with(deployment, key, ClientOptions::default())
    }

    /// [`Chain::connect`] with `options` (timeouts and retries).
    pub fn connect_with(
        deployment: &Deployment,
        key: &str,
        options: ClientOptions,
    ) -> Result<Self> {
        let (provider, address) = Self::provider(&deployment.rpc, key, &options)?;
        Ok(Self {
            provider,
            rpc: deployment.rpc.clone(),
            options,
            address,
            deployment: deployment.clone(),
        })
    }

    /// The options this client was made with.
    pub fn options(&self) -> &ClientOptions {
        &self.options
    }

    /// The market contract.
    pub fn market(&self) -> InferenceMarketInstance<DynProvider> {
        InferenceMarket::new(self.deployment.market, self.provider.clone())
    }

    /// The registry contract.
    pub fn registry(&self) -> ModelRegistryInstance<DynProvider> {
        ModelRegistry::new(self.deployment.registry, self.provider.clone())
    }

    /// Sends a transaction, waits for its receipt, and decodes reverts.
    pub async fn send<D: CallDecoder>(
        &self,
        call: &'static str,
        builder: CallBuilder<&DynProvider, D>,
    ) -> Result<(TxInfo, alloy::rpc::types::TransactionReceipt)> {
        self.send_as(call, builder, false).await
    }

    /// [`Chain::send`] to a version-4 contract: reverts decode to [`ChainError::V4Reverted`].
    pub async fn send_v4<D: CallDecoder>(
        &self,
        call: &'static str,
        builder: CallBuilder<&DynProvider, D>,
    ) -> Result<(TxInfo, alloy::rpc::types::TransactionReceipt)> {
        self.send_as(call, builder, true).await
    }

    /// [`Chain::view`] of a version-4 contract.
    pub async fn view_v4<D: CallDecoder>(
        &self,
        call: &'static str,
        builder: CallBuilder<&DynProvider, D>,
    ) -> Result<D::CallOutput> {
        builder
            .call()
            .await
            .map_err(|e| self.map_err_as(call, e, true))
    }

    async fn send_as<D: CallDecoder>(
        &self,
        call: &'static str,
        builder: CallBuilder<&DynProvider, D>,
        v4: bool,
    ) -> Result<(TxInfo, alloy::rpc::types::TransactionReceipt)> {
        // The estimate runs on the latest block; the transaction runs in the next, where a
        // chess clock charged by `block.timestamp` or a storage slot changing between zero and
        // non-zero can cost more (seen: `challengerOpenStep` out of gas at 119,332 used). A
        // margin over the estimate, never a limit equal to it; unused gas is not paid.
        // The estimate is taken on the pending block (the next block's timestamp, as the
        // transaction will see it). If it fails, the call is sent as given: the provider's own
        // estimate then reports the revert, or a caller-set gas limit lets it be mined.
        let builder = builder.block(alloy::eips::BlockId::pending());
        let builder = match builder.estimate_gas().await {
            Ok(estimate) => builder.gas(gas_limit(estimate)),
            Err(_) => builder,
        };
        let pending = builder
            .send()
            .await
            .map_err(|e| self.map_err_as(call, e, v4))?;
        let receipt = self.wait_receipt(call, *pending.tx_hash()).await?;
        let info = TxInfo {
            call: call.to_string(),
            hash: receipt.transaction_hash,
            gas_used: receipt.gas_used,
        };
        if !receipt.status() {
            // Replay the same call on the state the transaction ran on (the block before its
            // own) to decode why it reverted: a mined revert means the state changed between
            // gas estimation and inclusion, and the reason says how.
            let (reason, cause) = match receipt.block_number {
                Some(n) if n > 0 => match builder
                    .call()
                    .block(alloy::eips::BlockId::number(n - 1))
                    .await
                {
                    Err(e) => {
                        let e = self.map_err_as(call, e, v4);
                        (e.to_string(), Some(Box::new(e)))
                    }
                    Ok(_) => (
                        format!(
                            "out of gas or state changed within block {n} (gas used {})",
                            receipt.gas_used
                        ),
                        None,
                    ),
                },
                _ => ("no block number in the receipt".into(), None),
            };
            return Err(ChainError::Failed {
                call,
                tx: format!("{}", receipt.transaction_hash),
                reason,
                cause,
            });
        }
        debug!(call, gas = receipt.gas_used, tx = %receipt.transaction_hash, "mined");
        Ok((info, receipt))
    }

    /// Polls the receipt of `hash` (sent by `call`) until it is mined, through transport
    /// faults, for up to [`ClientOptions::receipt_timeout`], or until the node has not known
    /// the transaction for a few polls in a row (dropped).
    async fn wait_receipt(
        &self,
        call: &'static str,
        hash: B256,
    ) -> Result<alloy::rpc::types::TransactionReceipt> {
        // Polls in a row in which the node did not know the transaction at all: a dropped
        // transaction (its block reorganised away, or the node restarted from older state)
        // is given up after a few, not after the whole timeout.
        const UNKNOWN_POLLS: u32 = 4;
        let started = Instant::now();
        let poll = self
            .provider
            .client()
            .poll_interval()
            .min(Duration::from_millis(250));
        let mut unknown = 0;
        loop {
            match self.provider.get_transaction_receipt(hash).await {
                Ok(Some(receipt)) => return Ok(receipt),
                Ok(None) => match self.provider.get_transaction_by_hash(hash).await {
                    Ok(None) => unknown += 1,
                    Ok(Some(_)) => unknown = 0,
                    Err(e) => warn!(call, tx = %hash, error = %e, "transaction not readable"),
                },
                Err(e) if is_transport_fault(&e) => {
                    warn!(call, tx = %hash, error = %e, "receipt not readable yet");
                }
                Err(e) => return Err(self.transport_error("eth_getTransactionReceipt", &e)),
            }
            let waited = started.elapsed();
            if waited > self.options.receipt_timeout || unknown >= UNKNOWN_POLLS {
                return Err(ChainError::NotMined {
                    call,
                    tx: format!("{hash}"),
                    waited_s: waited.as_secs(),
                });
            }
            tokio::time::sleep(poll).await;
        }
    }

    /// Deploys a `Groth16Verifier` for one step's verifying key.
    pub async fn deploy_verifier(
        &self,
        alpha1: [U256; 2],
        beta2: [[U256; 2]; 2],
        gamma2: [[U256; 2]; 2],
        delta2: [[U256; 2]; 2],
        ic: [[U256; 2]; 4],
    ) -> Result<(Address, TxInfo)> {
        let builder = Groth16Verifier::deploy_builder(
            self.provider.clone(),
            alpha1,
            beta2,
            gamma2,
            delta2,
            ic,
        );
        let pending = builder
            .send()
            .await
            .map_err(|e| self.map_err("Groth16Verifier.deploy", e))?;
        let receipt = self
            .wait_receipt("Groth16Verifier.deploy", *pending.tx_hash())
            .await?;
        let address = receipt.contract_address.ok_or(ChainError::Failed {
            call: "Groth16Verifier.deploy",
            tx: format!("{}", receipt.transaction_hash),
            reason: "no contract address in the receipt".into(),
            cause: None,
        })?;
        Ok((
            address,
            TxInfo {
                call: "Groth16Verifier.deploy".into(),
                hash: receipt.transaction_hash,
                gas_used: receipt.gas_used,
            },
        ))
    }

    /// Checks a proof with a deployed verifier: an `eth_call` first (a rejection is a typed
    /// error carrying the verifier's revert), then the same call as a mined transaction, so
    /// the returned gas is a real transaction's `gasUsed` (base cost and calldata included).
    pub async fn verify_on_chain(
        &self,
        verifier: Address,
        proof: Bytes,
        public: [U256; 3],
    ) -> Result<u64> {
        let v = Groth16Verifier::new(verifier, self.provider.clone());
        let call = v.verifyProof(proof, public);
        call.call()
            .await
            .map_err(|e| self.map_err("verifyProof", e))?;
        let (info, _) = self.send("verifyProof", call).await?;
        Ok(info.gas_used)
    }

    /// Registers a model; returns its id.
    pub async fn register_model(
        &self,
        root: B256,
        num_steps: u32,
        ops_per_step: u32,
        onnx_cid: String,
        program_cid: String,
        params: GameParams,
    ) -> Result<(U256, TxInfo)> {
        let reg = self.registry();
        let (info, receipt) = self
            .send(
                "registerModel",
                reg.registerModel(root, num_steps, ops_per_step, onnx_cid, program_cid, params),
            )
            .await?;
        let id = receipt
            .inner
            .logs()
            .iter()
            .find_map(|l| ModelRegistry::ModelRegistered::decode_log(&l.inner).ok())
            .map(|e| e.modelId)
            .ok_or(ChainError::Rpc {
                call: "registerModel",
                reason: "no ModelRegistered event".into(),
            })?;
        Ok((id, info))
    }

    /// The market's requestId of a `RequestCreated` event in a receipt.
    pub fn request_id(receipt: &alloy::rpc::types::TransactionReceipt) -> Option<U256> {
        receipt
            .inner
            .logs()
            .iter()
            .find_map(|l| InferenceMarket::RequestCreated::decode_log(&l.inner).ok())
            .map(|e| e.requestId)
    }

    /// The gameId of a `GameCreated` event in a receipt.
    pub fn game_id(receipt: &alloy::rpc::types::TransactionReceipt) -> Option<U256> {
        receipt
            .inner
            .logs()
            .iter()
            .find_map(|l| InferenceMarket::GameCreated::decode_log(&l.inner).ok())
            .map(|e| e.gameId)
    }

    /// Reads a view, mapping errors.
    pub async fn view<D: CallDecoder>(
        &self,
        call: &'static str,
        builder: CallBuilder<&DynProvider, D>,
    ) -> Result<D::CallOutput> {
        builder.call().await.map_err(|e| self.map_err(call, e))
    }

    /// All `SubmitterRevealed` events of a game, oldest first.
    pub async fn submitter_reveals(
        &self,
        game_id: U256,
    ) -> Result<Vec<InferenceMarket::SubmitterRevealed>> {
        let filter = Filter::new()
            .address(self.deployment.market)
            .event_signature(InferenceMarket::SubmitterRevealed::SIGNATURE_HASH)
            .topic1(B256::from(game_id))
            .from_block(0);
        let logs = self
            .provider
            .get_logs(&filter)
            .await
            .map_err(|e| ChainError::Unavailable {
                rpc: self.rpc.clone(),
                reason: e.to_string(),
            })?;
        Ok(logs
            .iter()
            .filter_map(|l| {
                InferenceMarket::SubmitterRevealed::decode_log(&l.inner)
                    .ok()
                    .map(|e| e.data)
            })
            .collect())
    }

    /// The time the next block will carry, as far as this client can tell: the later of the
    /// latest block's timestamp and the local clock (a devnet that mines on demand leaves
    /// the latest timestamp behind while idle).
    pub async fn now(&self) -> Result<u64> {
        let wall = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        Ok(self.latest_timestamp().await?.max(wall))
    }

    /// The latest block's number and hash.
    pub async fn head(&self) -> Result<(u64, B256)> {
        let header = self.latest_header().await?;
        Ok((header.number, header.hash))
    }

    /// The hash of block `number` on the node's chain now (`None`: the chain is shorter).
    pub async fn block_hash(&self, number: u64) -> Result<Option<B256>> {
        Ok(self
            .provider
            .get_block_by_number(alloy::eips::BlockNumberOrTag::Number(number))
            .await
            .map_err(|e| ChainError::Unavailable {
                rpc: self.rpc.clone(),
                reason: e.to_string(),
            })?
            .map(|b| b.header.hash))
    }

    /// The latest block's timestamp.
    pub async fn latest_timestamp(&self) -> Result<u64> {
        Ok(self.latest_header().await?.timestamp)
    }

    /// The latest block's header.
    async fn latest_header(&self) -> Result<alloy::rpc::types::Header> {
        let block = self
            .provider
            .get_block_by_number(alloy::eips::BlockNumberOrTag::Latest)
            .await
            .map_err(|e| ChainError::Unavailable {
                rpc: self.rpc.clone(),
                reason: e.to_string(),
            })?
            .ok_or(ChainError::Rpc {
                call: "eth_getBlockByNumber",
                reason: "no latest block".into(),
            })?;
        Ok(block.header)
    }

    /// Balance of an address in wei.
    pub async fn balance(&self, who: Address) -> Result<U256> {
        self.provider
            .get_balance(who)
            .await
            .map_err(|e| ChainError::Unavailable {
                rpc: self.rpc.clone(),
                reason: e.to_string(),
            })
    }

    /// Sets anvil's clock (devnet only, `evm_setTime`): the next block carries `timestamp`
    /// (or later), and the clock runs on from there.
    pub async fn set_time(&self, timestamp: u64) -> Result<()> {
        let _: serde_json::Value = self
            .provider
            .raw_request("evm_setTime".into(), (timestamp,))
            .await
            .map_err(|e| ChainError::Unavailable {
                rpc: self.rpc.clone(),
                reason: e.to_string(),
            })?;
        Ok(())
    }

    /// Reorganises anvil's chain (devnet only, `anvil_reorg`): its last `depth` blocks are
    /// replaced by as many empty ones; their transactions are gone (not back in the pool).
    pub async fn reorg(&self, depth: u64) -> Result<()> {
        let _: serde_json::Value = self
            .provider
            .raw_request(
                "anvil_reorg".into(),
                (depth, Vec::<serde_json::Value>::new()),
            )
            .await
            .map_err(|e| ChainError::Rpc {
                call: "anvil_reorg",
                reason: e.to_string(),
            })?;
        Ok(())
    }

    /// Advances anvil's clock (devnet only): `evm_increaseTime` then `evm_mine`.
    pub async fn advance_time(&self, seconds: u64) -> Result<()> {
        let unavailable = |e: alloy::transports::TransportError| ChainError::Unavailable {
            rpc: self.rpc.clone(),
            reason: e.to_string(),
        };
        let _: serde_json::Value = self
            .provider
            .raw_request("evm_increaseTime".into(), (seconds,))
            .await
            .map_err(unavailable)?;
        let _: serde_json::Value = self
            .provider
            .raw_request("evm_mine".into(), ())
            .await
            .map_err(unavailable)?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn deployment(rpc: String) -> Deployment {
        Deployment {
            rpc,
            chain_id: 31337,
            registry: Address::ZERO,
            market: Address::ZERO,
            v4: None,
        }
    }

    const KEY: &str = "0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80";

    /// A client of a node on local `port` with `options`.
    fn chain_at(port: u16, options: ClientOptions) -> Chain {
        Chain::connect_with(
            &deployment(format!("http://127.0.0.1:{port}")),
            KEY,
            options,
        )
        .unwrap()
    }

    /// A node that is down is a retryable `Unavailable` once the transport retries are
    /// spent, not before and not much later.
    #[tokio::test]
    async fn a_node_that_is_down_is_unavailable_after_the_retries() {
        let port = {
            let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            l.local_addr().unwrap().port()
        };
        let options = ClientOptions {
            request_timeout: Duration::from_secs(1),
            transport_retries: 3,
            retry_backoff: Duration::from_millis(100),
            receipt_timeout: Duration::from_secs(1),
        };
        let chain = chain_at(port, options);
        let started = Instant::now();
        let err = chain.head().await.unwrap_err();
        let took = started.elapsed();
        assert!(err.is_retryable(), "{err}");
        assert!(
            took >= Duration::from_millis(300) && took < Duration::from_secs(15),
            "three re-sends 100 ms apart took {took:?}"
        );
    }

    /// A request the node never answers is a transport fault after the request timeout.
    #[tokio::test]
    async fn a_request_past_the_timeout_is_a_transport_fault() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        // Accepts and never answers.
        std::thread::spawn(move || {
            let mut held = Vec::new();
            for s in listener.incoming() {
                held.push(s);
            }
        });
        let options = ClientOptions {
            request_timeout: Duration::from_millis(200),
            transport_retries: 1,
            retry_backoff: Duration::from_millis(10),
            receipt_timeout: Duration::from_secs(1),
        };
        let chain = chain_at(port, options);
        let started = Instant::now();
        let err = chain.head().await.unwrap_err();
        assert!(err.is_retryable(), "{err}");
        assert!(started.elapsed() < Duration::from_secs(15));
    }

    #[test]
    fn nonce_messages_are_recognised() {
        for m in [
            "nonce too low",
            "Nonce too low: next nonce 4, tx nonce 3",
            "transaction already imported",
            "already known",
            "replacement transaction underpriced",
        ] {
            assert!(is_nonce_message(m), "{m}");
        }
        assert!(!is_nonce_message("execution reverted"));
        assert!(!is_nonce_message(
            "insufficient funds for gas * price + value"
        ));
    }
}
