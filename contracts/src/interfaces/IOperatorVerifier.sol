// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

/// @title IOperatorVerifier
/// @notice Verifies a succinct proof that one step (N consecutive ONNX operators) maps a
///         pre-state commitment to a post-state commitment.
interface IOperatorVerifier {
    /// @notice Reverts (with a custom error) unless `proof` proves the step's transition.
    /// @param proof        Proof bytes (for Groth16Verifier: abi.encode(uint256[2] a,
    ///                     uint256[2][2] b, uint256[2] c), 256 bytes).
    /// @param publicInputs [preState, postState, opDigest], each a BN254 scalar-field element.
    function verifyProof(bytes calldata proof, uint256[3] calldata publicInputs) external view;
}
