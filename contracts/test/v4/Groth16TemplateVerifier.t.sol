// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

import {Test} from "forge-std/Test.sol";
import {Groth16TemplateVerifier} from "../../src/verifiers/Groth16TemplateVerifier.sol";
import {InvalidProof} from "../../src/lib/Errors.sol";

/// @notice A synthetic Groth16 key (every point a known multiple of the generators) and the
///         proof it admits for any public inputs — the pairing check then holds iff the inputs
///         are the ones the proof was made for. Not a soundness test: a test of the verifier's
///         arithmetic and of the inputs a caller passes.
abstract contract SyntheticKey {
    uint256 internal constant KEY_R = 0x30644e72e131a029b85045b68181585d2833e84879b9709143e1f593f0000001;
    uint256 internal constant Q = 0x30644e72e131a029b85045b68181585d97816a916871ca8d3c208c16d87cfd47;
    uint256 internal constant G2_X1 = 11559732032986387107991004021392285783925812861821192530917403151452391805634;
    uint256 internal constant G2_X0 = 10857046999023057135944570762232829481370756359578518086990519993285655852781;
    uint256 internal constant G2_Y1 = 4082367875863433681332203403145435568316851327593401208105741076214120093531;
    uint256 internal constant G2_Y0 = 8495653923123431417604973247489272438418190587263600148770280649306958101930;
    uint256 internal constant ALPHA = 7;
    uint256 internal constant C = 23;

    function _g1(uint256 s) internal view returns (uint256[2] memory p) {
        (bool ok, bytes memory out) = address(7).staticcall(abi.encode(uint256(1), uint256(2), s));
        require(ok, "ecMul");
        p = abi.decode(out, (uint256[2]));
    }

    function _g2() internal pure returns (uint256[2][2] memory g) {
        g[0] = [G2_X1, G2_X0];
        g[1] = [G2_Y1, G2_Y0];
    }

    function _k(uint256 i) internal pure returns (uint256) {
        return 11 + 2 * i;
    }

    function _verifier(uint256 n) internal returns (Groth16TemplateVerifier) {
        uint256[2][] memory ic = new uint256[2][](n + 1);
        for (uint256 i; i <= n; ++i) {
            ic[i] = _g1(_k(i));
        }
        return new Groth16TemplateVerifier(_g1(ALPHA), _g2(), _g2(), _g2(), ic);
    }

    function _proofFor(uint256[] memory x) internal view returns (bytes memory) {
        uint256 vk = _k(0);
        for (uint256 i; i < x.length; ++i) {
            vk = addmod(vk, mulmod(x[i], _k(i + 1), KEY_R), KEY_R);
        }
        uint256 a = addmod(addmod(ALPHA, vk, KEY_R), C, KEY_R);
        return abi.encode(_g1(a), _g2(), _g1(C));
    }
}

/// @notice Groth16TemplateVerifier against a synthetic (setup-free) key, as
///         Groth16VerifierTest does for three inputs: every point is a known multiple of the
///         generators, so the pairing equation reduces to a = alpha + (k_0 + Σ x_i k_{i+1}) + c
///         (mod r) with B = beta = gamma = delta = G2. This exercises the real precompiles, the
///         IC data contract, the vk_x sum over n inputs, the negation of A and the G2 order.
///         A proof of a real template circuit is left to the Rust side (it needs the prover).
contract Groth16TemplateVerifierTest is Test, SyntheticKey {
    function _inputs(uint256 n, uint256 seed) internal pure returns (uint256[] memory x) {
        x = new uint256[](n);
        for (uint256 i; i < n; ++i) {
            x[i] = uint256(keccak256(abi.encode(seed, i))) % KEY_R;
        }
    }

    /// @notice A valid proof verifies for n = 1, 4, 7 and 12 public inputs.
    function test_acceptsValidProof_manyInputCounts() public {
        uint256[4] memory ns = [uint256(1), 4, 7, 12];
        for (uint256 t; t < ns.length; ++t) {
            Groth16TemplateVerifier v = _verifier(ns[t]);
            assertEq(v.NUM_INPUTS(), ns[t]);
            uint256[] memory x = _inputs(ns[t], t);
            v.verifyProof(_proofFor(x), x);
        }
    }

    /// @notice Changing any one public input makes the proof fail with InvalidProof.
    function testFuzz_rejectsWrongPublicInput(uint256 seed, uint256 which, uint256 delta) public {
        Groth16TemplateVerifier v = _verifier(7);
        uint256[] memory x = _inputs(7, seed);
        bytes memory proof = _proofFor(x);
        which %= 7;
        x[which] = addmod(x[which], bound(delta, 1, KEY_R - 1), KEY_R);
        vm.expectRevert(InvalidProof.selector);
        v.verifyProof(proof, x);
    }

    /// @notice The input count is the key's: one more or one fewer is InvalidProof.
    function test_rejectsWrongInputCount() public {
        Groth16TemplateVerifier v = _verifier(4);
        uint256[] memory x = _inputs(4, 1);
        bytes memory proof = _proofFor(x);
        uint256[] memory fewer = new uint256[](3);
        vm.expectRevert(InvalidProof.selector);
        v.verifyProof(proof, fewer);
        uint256[] memory more = new uint256[](5);
        vm.expectRevert(InvalidProof.selector);
        v.verifyProof(proof, more);
    }

    /// @notice Issue 14 item 6: inputs >= r are rejected (x + r would otherwise alias x).
    function test_rejectsNonFieldInput() public {
        Groth16TemplateVerifier v = _verifier(3);
        uint256[] memory x = _inputs(3, 2);
        bytes memory proof = _proofFor(x);
        x[1] += KEY_R;
        vm.expectRevert(InvalidProof.selector);
        v.verifyProof(proof, x);
    }

    /// @notice Malformed proofs (length, A's y >= q, a point off the curve) are InvalidProof,
    ///         never another failure (the market's failure contract, §10.8).
    function test_rejectsMalformedProofs() public {
        Groth16TemplateVerifier v = _verifier(2);
        uint256[] memory x = _inputs(2, 3);
        bytes memory proof = _proofFor(x);
        vm.expectRevert(InvalidProof.selector);
        v.verifyProof(bytes.concat(proof, hex"00"), x);
        bytes memory bad = bytes.concat(proof);
        assembly {
            mstore(add(bad, 0x40), Q)
        }
        vm.expectRevert(InvalidProof.selector);
        v.verifyProof(bad, x);
        bad = bytes.concat(proof);
        assembly {
            mstore(add(bad, 0x20), 5)
        }
        vm.expectRevert(InvalidProof.selector);
        v.verifyProof(bad, x);
    }

    /// @notice Inputs 0 and 1 take the verifier's short cuts (no ecMul) and still bind: a
    ///         proof for [0, 1, x] verifies, and fails for [1, 1, x], [0, 0, x] and [0, 2, x].
    function test_zeroAndOneInputs_bind() public {
        Groth16TemplateVerifier v = _verifier(3);
        uint256[] memory x = new uint256[](3);
        (x[0], x[1], x[2]) = (0, 1, 12345);
        bytes memory proof = _proofFor(x);
        v.verifyProof(proof, x);
        uint256[3][3] memory wrong = [[uint256(1), 1, 12345], [uint256(0), 0, 12345], [uint256(0), 2, 12345]];
        for (uint256 t; t < 3; ++t) {
            (x[0], x[1], x[2]) = (wrong[t][0], wrong[t][1], wrong[t][2]);
            vm.expectRevert(InvalidProof.selector);
            v.verifyProof(proof, x);
        }
    }

    /// @notice The key's G2 points are negated at deployment: a coordinate >= q is refused
    ///         there (it has no faithful negation).
    function test_constructor_revertsNonCanonicalG2() public {
        uint256[2][] memory ic = new uint256[2][](2);
        ic[0] = _g1(_k(0));
        ic[1] = _g1(_k(1));
        uint256[2][2] memory bad = _g2();
        bad[1][1] += Q;
        uint256[2] memory alpha = _g1(ALPHA);
        vm.expectRevert(abi.encodeWithSelector(Groth16TemplateVerifier.InvalidKeyCoordinate.selector, bad[1][1]));
        new Groth16TemplateVerifier(alpha, bad, _g2(), _g2(), ic);
    }

    function test_constructor_revertsEmptyKey() public {
        uint256[2][] memory ic = new uint256[2][](0);
        uint256[2] memory alpha = _g1(ALPHA);
        vm.expectRevert(abi.encodeWithSelector(Groth16TemplateVerifier.InvalidICCount.selector, 0));
        new Groth16TemplateVerifier(alpha, _g2(), _g2(), _g2(), ic);
    }

    /// @notice Gas of one verification, by input count.
    function test_gas_byInputCount() public {
        uint256[3] memory ns = [uint256(4), 8, 16];
        for (uint256 t; t < ns.length; ++t) {
            Groth16TemplateVerifier v = _verifier(ns[t]);
            uint256[] memory x = _inputs(ns[t], t);
            bytes memory proof = _proofFor(x);
            vm.cool(address(v));
            vm.cool(v.IC_DATA());
            v.verifyProof(proof, x);
            emit log_named_uint(
                string.concat("verifyProof, inputs = ", vm.toString(ns[t])), vm.lastCallGas().gasTotalUsed
            );
        }
    }
}
