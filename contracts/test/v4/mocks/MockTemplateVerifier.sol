// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

import {ITemplateVerifier} from "../../../src/interfaces/ITemplateVerifier.sol";
import {InvalidProof} from "../../../src/lib/Errors.sol";

/// @notice The test model's "template semantics": chunk j of an operator output, given its
///         public-input head `[C(X_1) … C(X_r), j, params…]`, has digest
///         keccak256(abi.encode(head)) mod r (1 instead of 0, so real chunks are never empty).
library MockTemplate {
    uint256 internal constant R = 0x30644e72e131a029b85045b68181585d2833e84879b9709143e1f593f0000001;

    function digest(uint256[] memory head) internal pure returns (uint256 d) {
        d = uint256(keccak256(abi.encode(head))) % R;
        if (d == 0) d = 1;
    }
}

/// @title MockTemplateVerifier
/// @notice TEST DOUBLE for a protocol template verifier: a "proof" is any non-empty bytes, and
///         it accepts exactly the true digest — `publicInputs[last] == MockTemplate.digest(the
///         rest)` — reverting `InvalidProof()` otherwise, as ITemplateVerifier requires.
contract MockTemplateVerifier is ITemplateVerifier {
    /// @inheritdoc ITemplateVerifier
    function verifyProof(bytes calldata proof, uint256[] calldata publicInputs) external pure {
        uint256 n = publicInputs.length;
        if (proof.length == 0 || n == 0) revert InvalidProof();
        uint256[] memory head = new uint256[](n - 1);
        for (uint256 i; i + 1 < n; ++i) {
            head[i] = publicInputs[i];
        }
        if (publicInputs[n - 1] != MockTemplate.digest(head)) revert InvalidProof();
    }
}

/// @title BrokenTemplateVerifier
/// @notice TEST DOUBLE for a failing verifier: `mode` 0 reverts with another error, 1 burns
///         all the gas it is given, 2 reverts with no data.
contract BrokenTemplateVerifier is ITemplateVerifier {
    /// @notice The non-InvalidProof error it raises in mode 0.
    error Broken();

    uint256 public immutable MODE;

    constructor(uint256 mode) {
        MODE = mode;
    }

    /// @inheritdoc ITemplateVerifier
    function verifyProof(bytes calldata, uint256[] calldata) external view {
        if (MODE == 0) revert Broken();
        if (MODE == 1) {
            uint256 x;
            while (gasleft() > 0) {
                x = uint256(keccak256(abi.encode(x)));
            }
        }
        revert();
    }
}
