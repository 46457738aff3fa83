// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

import {Test} from "forge-std/Test.sol";
import {LibMerkle} from "../src/lib/LibMerkle.sol";

/// @notice Harness exposing LibMerkle.verify over calldata.
contract MerkleHarness {
    function verify(bytes32 root, bytes32 leaf, uint256 index, bytes32[] calldata proof, uint256 depth)
        external
        pure
        returns (bool)
    {
        return LibMerkle.verify(root, leaf, index, proof, depth);
    }
}

/// @notice LibMerkle: shapes, known answers shared with Rust, and proof round trips.
contract LibMerkleTest is Test {
    MerkleHarness internal h = new MerkleHarness();

    function test_depthFor() public pure {
        assertEq(LibMerkle.depthFor(0), 0);
        assertEq(LibMerkle.depthFor(1), 0);
        assertEq(LibMerkle.depthFor(2), 1);
        assertEq(LibMerkle.depthFor(3), 2);
        assertEq(LibMerkle.depthFor(4), 2);
        assertEq(LibMerkle.depthFor(5), 3);
        assertEq(LibMerkle.depthFor(1025), 11);
    }

    /// @dev Known answer: 3 leaves, padded with a zero (unhashed) node.
    function test_root_knownShape() public pure {
        bytes32[] memory leaves = new bytes32[](3);
        for (uint256 i; i < 3; ++i) {
            leaves[i] = LibMerkle.leafState(bytes32(i + 1));
        }
        bytes32 l = keccak256(abi.encodePacked(leaves[0], leaves[1]));
        bytes32 r = keccak256(abi.encodePacked(leaves[2], bytes32(0)));
        assertEq(LibMerkle.root(leaves), keccak256(abi.encodePacked(l, r)));
        assertEq(LibMerkle.leafState(bytes32(uint256(1))), keccak256(abi.encode(bytes32(uint256(1)))));
    }

    function test_root_singleLeafIsTheLeaf() public pure {
        bytes32[] memory leaves = new bytes32[](1);
        leaves[0] = LibMerkle.leafState(bytes32(uint256(7)));
        assertEq(LibMerkle.root(leaves), leaves[0]);
    }

    function testFuzz_proofRoundTrip(uint8 count, uint256 index, bytes32 salt) public view {
        count = uint8(bound(count, 1, 40));
        index = bound(index, 0, count - 1);
        bytes32[] memory leaves = new bytes32[](count);
        for (uint256 i; i < count; ++i) {
            leaves[i] = LibMerkle.leafState(keccak256(abi.encode(salt, i)));
        }
        bytes32 root = LibMerkle.root(leaves);
        bytes32[] memory proof = LibMerkle.proof(leaves, index);
        uint256 depth = LibMerkle.depthFor(count);
        assertTrue(h.verify(root, leaves[index], index, proof, depth));
        // Wrong index, wrong leaf, wrong depth all fail.
        if (count > 1) assertFalse(h.verify(root, leaves[index], index ^ 1, proof, depth));
        assertFalse(h.verify(root, bytes32(uint256(leaves[index]) ^ 1), index, proof, depth));
        assertFalse(h.verify(root, leaves[index], index, proof, depth + 1));
        assertFalse(h.verify(root, leaves[index], index + (1 << depth), proof, depth));
    }
}
