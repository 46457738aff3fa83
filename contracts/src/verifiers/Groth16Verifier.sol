// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

import {IOperatorVerifier} from "../interfaces/IOperatorVerifier.sol";
import {InvalidProof} from "../lib/Errors.sol";

/// @title Groth16Verifier
/// @notice Generic BN254 Groth16 verifier for circuits with exactly three public inputs
///         [preState, postState, opDigest]. One deployment per verifying key; the key is held
///         in immutables. Uses the EIP-196/197 precompiles (0x06 add, 0x07 mul, 0x08 pairing).
/// @dev G2 points use the EIP-197 order [[x.c1, x.c0], [y.c1, y.c0]] (imaginary part first),
///      for the key and for the proof's B. Checks e(-A, B) * e(alpha, beta) * e(vk_x, gamma)
///      * e(C, delta) == 1 with vk_x = ic[0] + sum_i publicInputs[i] * ic[i + 1].
contract Groth16Verifier is IOperatorVerifier {
    /// @notice BN254 scalar field order r (public inputs must be < r).
    uint256 internal constant R = 0x30644e72e131a029b85045b68181585d2833e84879b9709143e1f593f0000001;
    /// @notice BN254 base field order q.
    uint256 internal constant Q = 0x30644e72e131a029b85045b68181585d97816a916871ca8d3c208c16d87cfd47;

    uint256 internal immutable ALPHA_X;
    uint256 internal immutable ALPHA_Y;
    uint256 internal immutable BETA_X1;
    uint256 internal immutable BETA_X0;
    uint256 internal immutable BETA_Y1;
    uint256 internal immutable BETA_Y0;
    uint256 internal immutable GAMMA_X1;
    uint256 internal immutable GAMMA_X0;
    uint256 internal immutable GAMMA_Y1;
    uint256 internal immutable GAMMA_Y0;
    uint256 internal immutable DELTA_X1;
    uint256 internal immutable DELTA_X0;
    uint256 internal immutable DELTA_Y1;
    uint256 internal immutable DELTA_Y0;
    uint256 internal immutable IC0_X;
    uint256 internal immutable IC0_Y;
    uint256 internal immutable IC1_X;
    uint256 internal immutable IC1_Y;
    uint256 internal immutable IC2_X;
    uint256 internal immutable IC2_Y;
    uint256 internal immutable IC3_X;
    uint256 internal immutable IC3_Y;

    /// @notice Stores the verifying key.
    /// @param alpha1 alpha in G1 (x, y).
    /// @param beta2  beta in G2, EIP-197 order.
    /// @param gamma2 gamma in G2, EIP-197 order.
    /// @param delta2 delta in G2, EIP-197 order.
    /// @param ic     IC points in G1: ic[0] constant term, ic[1..3] for the three inputs.
    constructor(
        uint256[2] memory alpha1,
        uint256[2][2] memory beta2,
        uint256[2][2] memory gamma2,
        uint256[2][2] memory delta2,
        uint256[2][4] memory ic
    ) {
        ALPHA_X = alpha1[0];
        ALPHA_Y = alpha1[1];
        BETA_X1 = beta2[0][0];
        BETA_X0 = beta2[0][1];
        BETA_Y1 = beta2[1][0];
        BETA_Y0 = beta2[1][1];
        GAMMA_X1 = gamma2[0][0];
        GAMMA_X0 = gamma2[0][1];
        GAMMA_Y1 = gamma2[1][0];
        GAMMA_Y0 = gamma2[1][1];
        DELTA_X1 = delta2[0][0];
        DELTA_X0 = delta2[0][1];
        DELTA_Y1 = delta2[1][0];
        DELTA_Y0 = delta2[1][1];
        IC0_X = ic[0][0];
        IC0_Y = ic[0][1];
        IC1_X = ic[1][0];
        IC1_Y = ic[1][1];
        IC2_X = ic[2][0];
        IC2_Y = ic[2][1];
        IC3_X = ic[3][0];
        IC3_Y = ic[3][1];
    }

    /// @inheritdoc IOperatorVerifier
    /// @dev Reverts InvalidProof on a wrong length, an input >= r, an invalid point (precompile
    ///      failure) or a failed pairing check.
    function verifyProof(bytes calldata proof, uint256[3] calldata publicInputs) external view {
        if (proof.length != 256) revert InvalidProof();
        for (uint256 i; i < 3; ++i) {
            if (publicInputs[i] >= R) revert InvalidProof();
        }

        // vk_x = IC0 + in0 * IC1 + in1 * IC2 + in2 * IC3
        (uint256 vx, uint256 vy) = (IC0_X, IC0_Y);
        (vx, vy) = _mulAdd(vx, vy, IC1_X, IC1_Y, publicInputs[0]);
        (vx, vy) = _mulAdd(vx, vy, IC2_X, IC2_Y, publicInputs[1]);
        (vx, vy) = _mulAdd(vx, vy, IC3_X, IC3_Y, publicInputs[2]);

        uint256[24] memory input;
        // Pair 1: (-A, B). Proof layout: a (2 words), b (4 words), c (2 words).
        uint256 ay = uint256(bytes32(proof[32:64]));
        if (ay >= Q) revert InvalidProof();
        input[0] = uint256(bytes32(proof[0:32]));
        input[1] = ay == 0 ? 0 : Q - ay;
        input[2] = uint256(bytes32(proof[64:96]));
        input[3] = uint256(bytes32(proof[96:128]));
        input[4] = uint256(bytes32(proof[128:160]));
        input[5] = uint256(bytes32(proof[160:192]));
        // Pair 2: (alpha, beta).
        input[6] = ALPHA_X;
        input[7] = ALPHA_Y;
        input[8] = BETA_X1;
        input[9] = BETA_X0;
        input[10] = BETA_Y1;
        input[11] = BETA_Y0;
        // Pair 3: (vk_x, gamma).
        input[12] = vx;
        input[13] = vy;
        input[14] = GAMMA_X1;
        input[15] = GAMMA_X0;
        input[16] = GAMMA_Y1;
        input[17] = GAMMA_Y0;
        // Pair 4: (C, delta).
        input[18] = uint256(bytes32(proof[192:224]));
        input[19] = uint256(bytes32(proof[224:256]));
        input[20] = DELTA_X1;
        input[21] = DELTA_X0;
        input[22] = DELTA_Y1;
        input[23] = DELTA_Y0;

        bool ok;
        uint256 result;
        assembly ("memory-safe") {
            ok := staticcall(gas(), 0x08, input, 768, 0x00, 0x20)
            result := mload(0x00)
        }
        if (!ok || result != 1) revert InvalidProof();
    }

    /// @dev Returns (x, y) + s * (px, py) via precompiles 0x07 and 0x06; reverts InvalidProof
    ///      if a precompile fails.
    function _mulAdd(uint256 x, uint256 y, uint256 px, uint256 py, uint256 s)
        private
        view
        returns (uint256 rx, uint256 ry)
    {
        bool ok;
        assembly ("memory-safe") {
            let m := mload(0x40)
            mstore(m, px)
            mstore(add(m, 0x20), py)
            mstore(add(m, 0x40), s)
            ok := staticcall(gas(), 0x07, m, 0x60, m, 0x40)
            if ok {
                mstore(add(m, 0x40), x)
                mstore(add(m, 0x60), y)
                ok := staticcall(gas(), 0x06, m, 0x80, m, 0x40)
                rx := mload(m)
                ry := mload(add(m, 0x20))
            }
        }
        if (!ok) revert InvalidProof();
    }
}
