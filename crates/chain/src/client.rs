//! The client: a signing provider and the two contract addresses.

use alloy::{
    contract::{CallBuilder, CallDecoder},
    network::EthereumWallet,
    primitives::{Address, Bytes, B256, U256},
    providers::{DynProvider, Provider, ProviderBuilder},
    rpc::types::Filter,
    signers::local::PrivateKeySigner,
    sol_types::{SolEvent, SolInterface},
};
use serde::{Deserialize, Serialize};
use tracing::{debug, info};

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
        let text = err.to_string();
        if text.contains("error sending request")
            || text.contains("Connection refused")
            || text.contains("connection closed")
        {
            return ChainError::Unavailable {
                rpc: self.rpc.clone(),
                reason: text,
            };
        }
        ChainError::Rpc { call, reason: text }
    }

    pub(crate) fn provider(rpc: &str, key: &str) -> Result<(DynProvider, Address)> {
        let signer: PrivateKeySigner = key.parse().map_err(|e| ChainError::Config {
            what: "private key",
            reason: format!("{e}"),
        })?;
        let address = signer.address();
        let url = rpc.parse().map_err(|e| ChainError::Config {
            what: "RPC URL",
            reason: format!("{e}"),
        })?;
        // Nonces are read from the node for every transaction (`pending` count), never
        // cached: the recommended fillers prepare gas and nonce concurrently, so a call that
        // reverts at gas estimation would still consume a cached nonce, and every later
        // transaction of this client would wait forever behind the gap.
        let provider = ProviderBuilder::default()
            .with_gas_estimation()
            .with_simple_nonce_management()
            .fetch_chain_id()
            .wallet(EthereumWallet::from(signer))
            .connect_http(url);
        Ok((provider.erased(), address))
    }

    /// Deploys `ModelRegistry` and `InferenceMarket` with `key`.
    pub async fn deploy(rpc: &str, key: &str) -> Result<Deployment> {
        let (provider, _) = Self::provider(rpc, key)?;
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

    /// A client signing with `key` against `deployment`.
    pub fn connect(deployment: &Deployment, key: &str) -> Result<Self> {
        let (provider, address) = Self::provider(&deployment.rpc, key)?;
        Ok(Self {
            provider,
            rpc: deployment.rpc.clone(),
            address,
            deployment: deployment.clone(),
        })
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
        let receipt = pending
            .get_receipt()
            .await
            .map_err(|e| ChainError::Unavailable {
                rpc: self.rpc.clone(),
                reason: e.to_string(),
            })?;
        let info = TxInfo {
            call: call.to_string(),
            hash: receipt.transaction_hash,
            gas_used: receipt.gas_used,
        };
        if !receipt.status() {
            // Replay the same call on the state the transaction ran on (the block before its
            // own) to decode why it reverted: a mined revert means the state changed between
            // gas estimation and inclusion, and the reason says how.
            let reason = match receipt.block_number {
                Some(n) if n > 0 => match builder
                    .call()
                    .block(alloy::eips::BlockId::number(n - 1))
                    .await
                {
                    Err(e) => self.map_err_as(call, e, v4).to_string(),
                    Ok(_) => format!(
                        "out of gas or state changed within block {n} (gas used {})",
                        receipt.gas_used
                    ),
                },
                _ => "no block number in the receipt".into(),
            };
            return Err(ChainError::Failed {
                call,
                tx: format!("{}", receipt.transaction_hash),
                reason,
            });
        }
        debug!(call, gas = receipt.gas_used, tx = %receipt.transaction_hash, "mined");
        Ok((info, receipt))
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
        let receipt = pending
            .get_receipt()
            .await
            .map_err(|e| ChainError::Unavailable {
                rpc: self.rpc.clone(),
                reason: e.to_string(),
            })?;
        let address = receipt.contract_address.ok_or(ChainError::Failed {
            call: "Groth16Verifier.deploy",
            tx: format!("{}", receipt.transaction_hash),
            reason: "no contract address in the receipt".into(),
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

    /// The latest block's timestamp.
    pub async fn latest_timestamp(&self) -> Result<u64> {
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
        Ok(block.header.timestamp)
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
