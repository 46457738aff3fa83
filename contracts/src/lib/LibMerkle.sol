// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

/// @title LibMerkle
/// @notice Keccak Merkle tree shared bit for bit with the Rust side (`crates/commit`).
/// @dev Tree over `count` leaves: width = next power of two >= count (1 if count <= 1),
///      depth = log2(width). A present leaf's node is `keccak256(abi.encode(value))`
///      (see `leafState`, `leafModel`); padding leaves are `bytes32(0)` (not hashed).
///      Internal node = keccak256(abi.encodePacked(left, right)). A proof is exactly `depth`
///      siblings from bottom to top; bit j of the index is 1 iff the node at level j is a
///      right child.
library LibMerkle {
    /// @notice Depth of the tree over `count` leaves.
    /// @param count Number of leaves.
    /// @return depth log2(next power of two >= count); 0 for count <= 1.
    function depthFor(uint256 count) internal pure returns (uint256 depth) {
        uint256 width = 1;
        while (width < count) {
            width <<= 1;
            ++depth;
        }
    }

    /// @notice Leaf node of a trace tree: keccak256(abi.encode(state)).
    /// @param state State commitment S_i.
    /// @return node The leaf node.
    function leafState(bytes32 state) internal pure returns (bytes32 node) {
        assembly ("memory-safe") {
            mstore(0x00, state)
            node := keccak256(0x00, 0x20)
        }
    }

    /// @notice Leaf node of a model tree: keccak256(abi.encode(stepIndex, opDigest, verifier)).
    /// @param stepIndex Step index j.
    /// @param opDigest  Field element identifying step j's circuit.
    /// @param verifier  Step j's IOperatorVerifier.
    /// @return node The leaf node.
    function leafModel(uint256 stepIndex, uint256 opDigest, address verifier) internal pure returns (bytes32 node) {
        node = keccak256(abi.encode(stepIndex, opDigest, verifier));
    }

    /// @notice Checks that `leafNode` sits at `index` of the tree with `root` and `depth`.
    /// @param expectedRoot Tree root.
    /// @param leafNode     Leaf node (already hashed, see `leafState` / `leafModel`).
    /// @param index        Leaf index; must be < 2**depth.
    /// @param siblings     Exactly `depth` siblings, bottom to top.
    /// @param depth        Tree depth.
    /// @return ok True iff the proof is well-formed and reconstructs `root`.
    function verify(bytes32 expectedRoot, bytes32 leafNode, uint256 index, bytes32[] calldata siblings, uint256 depth)
        internal
        pure
        returns (bool ok)
    {
        if (siblings.length != depth || depth > 255 || index >> depth != 0) return false;
        bytes32 node = leafNode;
        assembly ("memory-safe") {
            let p := siblings.offset
            for { let j := 0 } lt(j, depth) { j := add(j, 1) } {
                let sib := calldataload(add(p, shl(5, j)))
                switch and(shr(j, index), 1)
                case 0 {
                    mstore(0x00, node)
                    mstore(0x20, sib)
                }
                default {
                    mstore(0x00, sib)
                    mstore(0x20, node)
                }
                node := keccak256(0x00, 0x40)
            }
        }
        ok = node == expectedRoot;
    }

    /// @notice Root of the tree whose leaf nodes are `leafNodes` (padding with bytes32(0)).
    /// @dev For tests and tooling; O(width) memory.
    /// @param leafNodes Leaf nodes (already hashed).
    /// @return r The root (bytes32(0) for an empty list).
    function root(bytes32[] memory leafNodes) internal pure returns (bytes32 r) {
        uint256 width = 2 ** depthFor(leafNodes.length);
        bytes32[] memory level = new bytes32[](width);
        for (uint256 i; i < leafNodes.length; ++i) {
            level[i] = leafNodes[i];
        }
        while (width > 1) {
            width >>= 1;
            for (uint256 i; i < width; ++i) {
                level[i] = keccak256(abi.encodePacked(level[2 * i], level[2 * i + 1]));
            }
        }
        r = level[0];
    }

    /// @notice Proof (siblings bottom to top) for leaf `index` of the tree over `leafNodes`.
    /// @dev For tests and tooling; O(width) memory.
    /// @param leafNodes Leaf nodes (already hashed).
    /// @param index     Leaf index < leafNodes.length.
    /// @return siblings `depthFor(leafNodes.length)` siblings.
    function proof(bytes32[] memory leafNodes, uint256 index) internal pure returns (bytes32[] memory siblings) {
        uint256 depth = depthFor(leafNodes.length);
        uint256 width = 2 ** depth;
        bytes32[] memory level = new bytes32[](width);
        for (uint256 i; i < leafNodes.length; ++i) {
            level[i] = leafNodes[i];
        }
        siblings = new bytes32[](depth);
        for (uint256 j; j < depth; ++j) {
            siblings[j] = level[index ^ 1];
            width >>= 1;
            for (uint256 i; i < width; ++i) {
                level[i] = keccak256(abi.encodePacked(level[2 * i], level[2 * i + 1]));
            }
            index >>= 1;
        }
    }
}
