// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

import {ITemplateVerifier} from "../interfaces/ITemplateVerifier.sol";
import {InvalidProof} from "../lib/Errors.sol";

/// @title Groth16TemplateVerifier
/// @notice BN254 Groth16 verifier for one template (docs/protocol.md §10.3) with any fixed
///         number n of public inputs: `Groth16Verifier`'s key layout and pairing check,
///         generalised from three inputs to n. One deployment per template key.
/// @dev alpha, beta, gamma, delta are immutables as in `Groth16Verifier` (G2 in EIP-197 order
///      [[x.c1, x.c0], [y.c1, y.c0]], imaginary part first, for the key and the proof's B).
///      The n + 1 IC points do not fit immutables of a fixed count: they are the runtime code
///      of a data contract written once by the constructor (2·(n+1) words, read back with
///      EXTCODECOPY: 2,600 gas + 3 per word, instead of 2,100 per cold storage word).
///      Checks e(-A, B) · e(alpha, beta) · e(vk_x, gamma) · e(C, delta) == 1 with
///      vk_x = ic[0] + Σ_i publicInputs[i] · ic[i + 1]. Reverts exactly `InvalidProof()` on a
///      wrong proof length, a wrong number of inputs, an input >= r, a coordinate of A >= q,
///      an invalid point (a precompile failure) or a failed pairing — the failure contract of
///      `ITemplateVerifier`.
contract Groth16TemplateVerifier is ITemplateVerifier {
    /// @notice BN254 scalar field order r (public inputs must be < r).
    uint256 internal constant R = 0x30644e72e131a029b85045b68181585d2833e84879b9709143e1f593f0000001;
    /// @notice BN254 base field order q.
    uint256 internal constant Q = 0x30644e72e131a029b85045b68181585d97816a916871ca8d3c208c16d87cfd47;

    /// @notice Number of public inputs n.
    uint256 public immutable NUM_INPUTS;
    /// @notice Data contract whose code (after a leading 0x00 byte) is ic[0..n] as (x, y) words.
    address public immutable IC_DATA;

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

    /// @notice The key must have 1 to MAX_IC IC points (ic[0] and one per input).
    error InvalidICCount(uint256 count);

    /// @notice Most IC points a key may have (the data contract's length fits a PUSH2).
    uint256 public constant MAX_IC = 1000;
    /// @notice Writing the IC data contract failed.
    error ICDataDeployFailed();

    /// @notice Stores the verifying key.
    /// @param alpha1 alpha in G1 (x, y).
    /// @param beta2  beta in G2, EIP-197 order.
    /// @param gamma2 gamma in G2, EIP-197 order.
    /// @param delta2 delta in G2, EIP-197 order.
    /// @param ic     IC points in G1: ic[0] the constant term, ic[1..n] one per public input.
    constructor(
        uint256[2] memory alpha1,
        uint256[2][2] memory beta2,
        uint256[2][2] memory gamma2,
        uint256[2][2] memory delta2,
        uint256[2][] memory ic
    ) {
        if (ic.length == 0 || ic.length > MAX_IC) revert InvalidICCount(ic.length);
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
        NUM_INPUTS = ic.length - 1;

        // Runtime code of the data contract: 0x00 (STOP, so a call into it does nothing) ‖ ic.
        bytes memory runtime = abi.encodePacked(bytes1(0x00));
        for (uint256 i; i < ic.length; ++i) {
            runtime = abi.encodePacked(runtime, ic[i][0], ic[i][1]);
        }
        // Init code: PUSH2 len, DUP1, PUSH1 12, PUSH1 0, CODECOPY, PUSH1 0, RETURN — copies the
        // runtime that follows this 12-byte prefix to memory and returns it.
        bytes memory init = abi.encodePacked(hex"61", uint16(runtime.length), hex"80600c6000396000f3", runtime);
        address data;
        assembly ("memory-safe") {
            data := create(0, add(init, 0x20), mload(init))
        }
        if (data == address(0)) revert ICDataDeployFailed();
        IC_DATA = data;
    }

    /// @inheritdoc ITemplateVerifier
    function verifyProof(bytes calldata proof, uint256[] calldata publicInputs) external view {
        uint256 n = NUM_INPUTS;
        if (proof.length != 256 || publicInputs.length != n) revert InvalidProof();

        // The IC points, 2·(n + 1) words, from the data contract (skipping its 0x00 byte).
        uint256[] memory ic = new uint256[](2 * (n + 1));
        address data = IC_DATA;
        assembly ("memory-safe") {
            extcodecopy(data, add(ic, 0x20), 1, mul(0x40, add(n, 1)))
        }

        // vk_x = ic[0] + Σ in_i · ic[i + 1]
        (uint256 vx, uint256 vy) = (ic[0], ic[1]);
        for (uint256 i; i < n; ++i) {
            uint256 x = publicInputs[i];
            if (x >= R) revert InvalidProof();
            (vx, vy) = _mulAdd(vx, vy, ic[2 * i + 2], ic[2 * i + 3], x);
        }

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

    /// @dev Returns (x, y) + s · (px, py) via precompiles 0x07 and 0x06; reverts InvalidProof
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
