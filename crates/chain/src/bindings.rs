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
