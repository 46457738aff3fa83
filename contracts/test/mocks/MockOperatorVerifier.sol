// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

import {IOperatorVerifier} from "../../src/interfaces/IOperatorVerifier.sol";

/// @title MockOperatorVerifier
/// @notice TEST DOUBLE. Stands in for a step's Groth16 verifier: the "true" transition of the
///         test model is the keccak-free function `next(pre, opDigest)`, and a "proof" is any
///         non-empty bytes. Accepts iff publicInputs[1] == next(publicInputs[0], publicInputs[2]).
contract MockOperatorVerifier is IOperatorVerifier {
    /// @notice BN254 scalar field order.
    uint256 internal constant R = 0x30644e72e131a029b85045b68181585d2833e84879b9709143e1f593f0000001;

    /// @notice The mock rejected the claimed transition.
    error MockRejected(uint256 pre, uint256 post, uint256 opDigest);

    /// @notice The true post-state of the test model's step with `opDigest` from `pre`.
    function next(uint256 pre, uint256 opDigest) public pure returns (uint256) {
        return addmod(mulmod(pre, 3, R), opDigest, R);
    }

    /// @inheritdoc IOperatorVerifier
    function verifyProof(bytes calldata proof, uint256[3] calldata publicInputs) external pure {
        if (
            proof.length == 0 || publicInputs[0] >= R || publicInputs[1] >= R
                || publicInputs[1] != next(publicInputs[0], publicInputs[2])
        ) revert MockRejected(publicInputs[0], publicInputs[1], publicInputs[2]);
    }
}
