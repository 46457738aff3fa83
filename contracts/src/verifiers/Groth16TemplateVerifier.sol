// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

import {ITemplateVerifier} from "../interfaces/ITemplateVerifier.sol";
import {InvalidProof} from "../lib/Errors.sol";

/// @title Groth16TemplateVerifier
/// @notice BN254 Groth16 verifier for one template (docs/protocol.md §10.3) with any fixed
///         number n of public inputs: `Groth16Verifier`'s key layout and pairing check,
///         generalised from three inputs to n. One deployment per template key.
/// @dev alpha and the negated beta, gamma, delta are immutables (G2 in EIP-197 order
///      [[x.c1, x.c0], [y.c1, y.c0]], imaginary part first, for the key and the proof's B).
///      The n + 1 IC points do not fit immutables of a fixed count: they are the runtime code
///      of a data contract written once by the constructor (2·(n+1) words, read back with
///      EXTCODECOPY: 2,600 gas + 3 per word, instead of 2,100 per cold storage word).
///      Checks e(A, B) · e(alpha, −beta) · e(vk_x, −gamma) · e(C, −delta) == 1 (the standard
///      e(A, B) = e(alpha, beta) · e(vk_x, gamma) · e(C, delta), with the key's G2 points
///      negated once at deployment instead of A at every call) with
///      vk_x = ic[0] + Σ_i publicInputs[i] · ic[i + 1], in one assembly block: one ecMul and
///      one ecAdd per input (none for an input 0, no ecMul for an input 1: the same sum) and
///      one pairing call over the four pairs. Reverts exactly `InvalidProof()` on a wrong
///      proof length, a wrong number of inputs, an input >= r, an invalid point (a coordinate
///      >= q or off the curve: the precompiles refuse it, so A, B and C are checked there) or
///      a failed pairing — the failure contract of `ITemplateVerifier`.
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
    // −beta, −gamma, −delta: x as given, y negated (q − y per component, 0 stays 0).
    uint256 internal immutable BETA_X1;
    uint256 internal immutable BETA_X0;
    uint256 internal immutable BETA_NEG_Y1;
    uint256 internal immutable BETA_NEG_Y0;
    uint256 internal immutable GAMMA_X1;
    uint256 internal immutable GAMMA_X0;
    uint256 internal immutable GAMMA_NEG_Y1;
    uint256 internal immutable GAMMA_NEG_Y0;
    uint256 internal immutable DELTA_X1;
    uint256 internal immutable DELTA_X0;
    uint256 internal immutable DELTA_NEG_Y1;
    uint256 internal immutable DELTA_NEG_Y0;

    /// @notice The key must have 1 to MAX_IC IC points (ic[0] and one per input).
    error InvalidICCount(uint256 count);
    /// @notice A G2 coordinate of the key is not < q (it could not be negated faithfully).
    error InvalidKeyCoordinate(uint256 value);

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
        BETA_NEG_Y1 = _neg(beta2[1][0]);
        BETA_NEG_Y0 = _neg(beta2[1][1]);
        GAMMA_X1 = gamma2[0][0];
        GAMMA_X0 = gamma2[0][1];
        GAMMA_NEG_Y1 = _neg(gamma2[1][0]);
        GAMMA_NEG_Y0 = _neg(gamma2[1][1]);
        DELTA_X1 = delta2[0][0];
        DELTA_X0 = delta2[0][1];
        DELTA_NEG_Y1 = _neg(delta2[1][0]);
        DELTA_NEG_Y0 = _neg(delta2[1][1]);
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

    /// @dev −y in the base field, for a canonical coordinate y < q.
    function _neg(uint256 y) private pure returns (uint256) {
        if (y >= Q) revert InvalidKeyCoordinate(y);
        return y == 0 ? 0 : Q - y;
    }

    /// @inheritdoc ITemplateVerifier
    function verifyProof(bytes calldata proof, uint256[] calldata publicInputs) external view {
        uint256 n = NUM_INPUTS;
        address data = IC_DATA;
        (uint256 ax, uint256 ay) = (ALPHA_X, ALPHA_Y);
        (uint256 bx1, uint256 bx0, uint256 by1, uint256 by0) = (BETA_X1, BETA_X0, BETA_NEG_Y1, BETA_NEG_Y0);
        (uint256 gx1, uint256 gx0, uint256 gy1, uint256 gy0) = (GAMMA_X1, GAMMA_X0, GAMMA_NEG_Y1, GAMMA_NEG_Y0);
        (uint256 dx1, uint256 dx0, uint256 dy1, uint256 dy0) = (DELTA_X1, DELTA_X0, DELTA_NEG_Y1, DELTA_NEG_Y0);
        bool ok;
        assembly ("memory-safe") {
            // Memory from the free pointer (never claimed: nothing is allocated after this):
            //   p        the pairing input, 24 words (4 pairs of G1 ‖ G2)
            //   p+0x300  ecAdd input: [mul result (2 words) | accumulator vk_x (2 words)]
            //   p+0x380  ecMul input: [ic point (2 words) | scalar]
            //   p+0x3e0  ic[0..n], 2·(n + 1) words
            let p := mload(0x40)
            ok := and(eq(proof.length, 256), eq(publicInputs.length, n))
            if ok {
                let add_ := add(p, 0x300)
                let mul_ := add(p, 0x380)
                let ic := add(p, 0x3e0)
                extcodecopy(data, ic, 1, shl(6, add(n, 1)))
                // vk_x starts at ic[0].
                mstore(add(add_, 0x40), mload(ic))
                mstore(add(add_, 0x60), mload(add(ic, 0x20)))
                for { let i := 0 } lt(i, n) { i := add(i, 1) } {
                    let x := calldataload(add(publicInputs.offset, shl(5, i)))
                    // INVARIANT: every public input is a field element (x and x + r would alias).
                    if iszero(lt(x, R)) {
                        ok := 0
                        break
                    }
                    let pt := add(ic, shl(6, add(i, 1)))
                    switch x
                    case 0 {}
                    case 1 {
                        // 1 · ic[i + 1] = ic[i + 1]: add it as is.
                        mstore(add_, mload(pt))
                        mstore(add(add_, 0x20), mload(add(pt, 0x20)))
                        ok := staticcall(gas(), 0x06, add_, 0x80, add(add_, 0x40), 0x40)
                    }
                    default {
                        mstore(mul_, mload(pt))
                        mstore(add(mul_, 0x20), mload(add(pt, 0x20)))
                        mstore(add(mul_, 0x40), x)
                        ok := staticcall(gas(), 0x07, mul_, 0x60, add_, 0x40)
                        if ok { ok := staticcall(gas(), 0x06, add_, 0x80, add(add_, 0x40), 0x40) }
                    }
                    if iszero(ok) { break }
                }
            }
            if ok {
                // Pair 1: (A, B). Proof layout: a (2 words), b (4 words), c (2 words).
                calldatacopy(p, proof.offset, 0xc0)
                // Pair 2: (alpha, −beta).
                mstore(add(p, 0xc0), ax)
                mstore(add(p, 0xe0), ay)
                mstore(add(p, 0x100), bx1)
                mstore(add(p, 0x120), bx0)
                mstore(add(p, 0x140), by1)
                mstore(add(p, 0x160), by0)
                // Pair 3: (vk_x, −gamma).
                mstore(add(p, 0x180), mload(add(p, 0x340)))
                mstore(add(p, 0x1a0), mload(add(p, 0x360)))
                mstore(add(p, 0x1c0), gx1)
                mstore(add(p, 0x1e0), gx0)
                mstore(add(p, 0x200), gy1)
                mstore(add(p, 0x220), gy0)
                // Pair 4: (C, −delta).
                calldatacopy(add(p, 0x240), add(proof.offset, 0xc0), 0x40)
                mstore(add(p, 0x280), dx1)
                mstore(add(p, 0x2a0), dx0)
                mstore(add(p, 0x2c0), dy1)
                mstore(add(p, 0x2e0), dy0)
                ok := staticcall(gas(), 0x08, p, 0x300, p, 0x20)
                // (A separate statement: Yul evaluates arguments right to left.)
                ok := and(ok, eq(mload(p), 1))
            }
        }
        if (!ok) revert InvalidProof();
    }
}
