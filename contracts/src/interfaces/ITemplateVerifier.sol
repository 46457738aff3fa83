// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

/// @title ITemplateVerifier
/// @notice Verifies a proof of one template leaf (docs/protocol.md §10.3): one chunk j of one
///         operator output, for public inputs `[C(X_1) … C(X_r), j, params…, d]` built by the
///         market. One verifier per template, deployed once with the protocol.
/// @dev The failure contract the market relies on (§10.8): with at least its registered gas
///      budget, a template verifier either returns (the proof verifies) or reverts with
///      exactly `InvalidProof()` (it does not, whatever the calldata). Any other outcome — no
///      code, out of gas within the budget, a panic or any other revert data — is a verifier
///      failure, which voids the game and refunds every party instead of slashing anyone.
interface ITemplateVerifier {
    /// @notice Returns iff `proof` proves the template's statement for `publicInputs`;
    ///         reverts `InvalidProof()` otherwise.
    /// @param proof        Proof bytes (Groth16TemplateVerifier: abi.encode(uint256[2] a,
    ///                     uint256[2][2] b, uint256[2] c), 256 bytes).
    /// @param publicInputs The public inputs, each a BN254 scalar-field element.
    function verifyProof(bytes calldata proof, uint256[] calldata publicInputs) external view;
}
