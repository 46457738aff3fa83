// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

import {Test} from "forge-std/Test.sol";
import {Groth16Verifier} from "../src/verifiers/Groth16Verifier.sol";
import {InvalidProof} from "../src/lib/Errors.sol";

/// @notice Groth16Verifier against a synthetic (setup-free) instance: every point is a known
///         multiple of the generators, so the pairing equation reduces to a scalar identity
///         a = alpha + (k0 + sum x_i k_{i+1}) + c (mod r) with B = beta = gamma = delta = G2.
///         This exercises the real precompiles, the vk_x sum, the negation of A and the G2
///         (EIP-197) coordinate order; the Rust side adds a real-circuit proof on anvil.
contract Groth16VerifierTest is Test {
    uint256 internal constant R = 0x30644e72e131a029b85045b68181585d2833e84879b9709143e1f593f0000001;
    // G2 generator, EIP-197 order [[x.c1, x.c0], [y.c1, y.c0]].
    uint256 internal constant G2_X1 = 11559732032986387107991004021392285783925812861821192530917403151452391805634;
    uint256 internal constant G2_X0 = 10857046999023057135944570762232829481370756359578518086990519993285655852781;
    uint256 internal constant G2_Y1 = 4082367875863433681332203403145435568316851327593401208105741076214120093531;
    uint256 internal constant G2_Y0 = 8495653923123431417604973247489272438418190587263600148770280649306958101930;

    uint256 internal constant ALPHA = 7;
    uint256 internal constant K0 = 11;
    uint256 internal constant K1 = 13;
    uint256 internal constant K2 = 17;
    uint256 internal constant K3 = 19;
    uint256 internal constant C = 23;

    Groth16Verifier internal verifier;

    function _g1(uint256 s) internal view returns (uint256[2] memory p) {
        (bool ok, bytes memory out) = address(7).staticcall(abi.encode(uint256(1), uint256(2), s));
        require(ok, "ecMul");
        p = abi.decode(out, (uint256[2]));
    }

    function _g2() internal pure returns (uint256[2][2] memory g) {
        g[0] = [G2_X1, G2_X0];
        g[1] = [G2_Y1, G2_Y0];
    }

    function setUp() public {
        uint256[2][4] memory ic = [_g1(K0), _g1(K1), _g1(K2), _g1(K3)];
        verifier = new Groth16Verifier(_g1(ALPHA), _g2(), _g2(), _g2(), ic);
    }

    function _proofFor(uint256[3] memory x) internal view returns (bytes memory) {
        uint256 vk = addmod(K0, addmod(mulmod(x[0], K1, R), addmod(mulmod(x[1], K2, R), mulmod(x[2], K3, R), R), R), R);
        uint256 a = addmod(addmod(ALPHA, vk, R), C, R);
        return abi.encode(_g1(a), _g2(), _g1(C));
    }

    function testFuzz_acceptsValidProof(uint256 pre, uint256 post, uint256 op) public view {
        uint256[3] memory x = [pre % R, post % R, op % R];
        verifier.verifyProof(_proofFor(x), x);
    }

    function testFuzz_rejectsWrongPublicInput(uint256 pre, uint256 post, uint256 op, uint256 delta) public {
        uint256[3] memory x = [pre % R, post % R, op % R];
        bytes memory proof = _proofFor(x);
        x[1] = addmod(x[1], bound(delta, 1, R - 1), R);
        vm.expectRevert(abi.encodeWithSelector(InvalidProof.selector));
        verifier.verifyProof(proof, x);
    }

    function test_rejectsInputNotInField() public {
        uint256[3] memory x = [uint256(1), 2, 3];
        bytes memory proof = _proofFor(x);
        x[0] += R; // same residue, but not canonical
        vm.expectRevert(abi.encodeWithSelector(InvalidProof.selector));
        verifier.verifyProof(proof, x);
    }

    function test_rejectsWrongLength() public {
        uint256[3] memory x = [uint256(1), 2, 3];
        bytes memory proof = _proofFor(x);
        vm.expectRevert(abi.encodeWithSelector(InvalidProof.selector));
        verifier.verifyProof(bytes.concat(proof, hex"00"), x);
        vm.expectRevert(abi.encodeWithSelector(InvalidProof.selector));
        verifier.verifyProof(hex"", x);
    }

    function test_rejectsGarbageAndOffCurvePoints() public {
        uint256[3] memory x = [uint256(1), 2, 3];
        vm.expectRevert(abi.encodeWithSelector(InvalidProof.selector));
        verifier.verifyProof(
            abi.encode(
                keccak256("a"),
                keccak256("b"),
                keccak256("c"),
                keccak256("d"),
                keccak256("e"),
                keccak256("f"),
                keccak256("g"),
                keccak256("h")
            ),
            x
        );
        // Valid G1 points but G2 coordinates in the wrong (c0-first) order.
        bytes memory proof = _proofFor(x);
        (uint256[2] memory a,, uint256[2] memory c) = abi.decode(proof, (uint256[2], uint256[2][2], uint256[2]));
        uint256[2][2] memory swapped = [[G2_X0, G2_X1], [G2_Y0, G2_Y1]];
        vm.expectRevert(abi.encodeWithSelector(InvalidProof.selector));
        verifier.verifyProof(abi.encode(a, swapped, c), x);
        // A's y >= q.
        a[1] = type(uint256).max;
        vm.expectRevert(abi.encodeWithSelector(InvalidProof.selector));
        verifier.verifyProof(abi.encode(a, _g2(), c), x);
    }

    function test_rejectsTamperedC() public {
        uint256[3] memory x = [uint256(5), 6, 7];
        (uint256[2] memory a, uint256[2][2] memory b,) =
            abi.decode(_proofFor(x), (uint256[2], uint256[2][2], uint256[2]));
        bytes memory tampered = abi.encode(a, b, _g1(C + 1));
        vm.expectRevert(abi.encodeWithSelector(InvalidProof.selector));
        verifier.verifyProof(tampered, x);
    }

    function test_gas_verify() public view {
        uint256[3] memory x = [uint256(5), 6, 7];
        bytes memory proof = _proofFor(x);
        uint256 g = gasleft();
        verifier.verifyProof(proof, x);
        g -= gasleft();
        assertLt(g, 230_000);
    }
}
