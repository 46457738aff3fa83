//! `sol!` bindings from the exported Foundry artifacts, one module per contract (each
//! carries its own copy of the `Types` structs it uses).
#![allow(missing_docs, unreachable_pub, clippy::too_many_arguments)]

/// `ModelRegistry`.
pub mod registry {
    alloy::sol!(
        #[sol(rpc)]
        #[derive(Debug)]
        ModelRegistry,
        "artifacts/ModelRegistry.json"
    );
}

/// `InferenceMarket`.
pub mod market {
    alloy::sol!(
        #[sol(rpc)]
        #[derive(Debug)]
        InferenceMarket,
        "artifacts/InferenceMarket.json"
    );
}

/// `Groth16Verifier`.
pub mod verifier {
    alloy::sol!(
        #[sol(rpc)]
        #[derive(Debug)]
        Groth16Verifier,
        "artifacts/Groth16Verifier.json"
    );
}

/// `ModelRegistryV4` (protocol version 4, docs/protocol.md §10).
pub mod registry_v4 {
    alloy::sol!(
        #[sol(rpc)]
        #[derive(Debug)]
        ModelRegistryV4,
        "artifacts/ModelRegistryV4.json"
    );
}

/// `InferenceMarketV4`: ABI only (its creation code links `LibChunkDescentLinked`, see
/// [`crate::v4`]).
pub mod market_v4 {
    alloy::sol!(
        #[sol(rpc)]
        #[derive(Debug)]
        InferenceMarketV4,
        "artifacts/InferenceMarketV4.json"
    );
}

/// `TemplateRegistry`: templateId → (verifier, gasLimit), fixed at deployment.
pub mod template_registry {
    alloy::sol!(
        #[sol(rpc)]
        #[derive(Debug)]
        TemplateRegistry,
        "artifacts/TemplateRegistry.json"
    );
}

/// `Groth16TemplateVerifier`: one per template key, n public inputs.
pub mod template_verifier {
    alloy::sol!(
        #[sol(rpc)]
        #[derive(Debug)]
        Groth16TemplateVerifier,
        "artifacts/Groth16TemplateVerifier.json"
    );
}

/// `LibChunkDescentLinked`: ABI only (its code links PoseidonT3); its custom errors are the
/// descent's (`Errors.Descent*`), which bubble up through the market's delegatecalls.
pub mod descent_lib {
    alloy::sol!(
        #[sol(rpc)]
        #[derive(Debug)]
        LibChunkDescentLinked,
        "artifacts/LibChunkDescentLinked.json"
    );
}
