// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

import {TypesV4} from "./TypesV4.sol";
import {LibMerkle} from "../../lib/LibMerkle.sol";

/// @title LibTraceV4
/// @notice The version-4 keccak commitments (docs/protocol.md §10.1), shared bit for bit with
///         the Rust side. Every tree is a `LibMerkle` tree:
///         - state S_i: W leaves, leaf s = keccak256(abi.encode(uint256 C)) of the tensor in
///           slot s (C = 0 for an empty slot);
///         - step outputs P_i: N leaves, leaf o = keccak256(abi.encode(uint256 C(Y_{i,o})));
///         - trace: n + 1 leaves, leaf i = keccak256(abi.encode(L_i)) with
///           L_i = keccak256(abi.encodePacked(S_i, P_{i-1})), P_{-1} = 0;
///         - model: n·N leaves, leaf step·N + o = `operatorLeaf`;
///         - layout: n·W leaves, leaf step·W + s = `layoutLeaf(step, s, source)`: where slot s
///           of S_{step+1} comes from.
library LibTraceV4 {
    /// @notice L_i = keccak256(S_i ‖ P_{i-1}).
    function traceLeaf(bytes32 state, bytes32 prevOutputs) internal pure returns (bytes32 l) {
        assembly ("memory-safe") {
            mstore(0x00, state)
            mstore(0x20, prevOutputs)
            l := keccak256(0x00, 0x40)
        }
    }

    /// @notice Leaf node of a state or outputs tree for tensor commitment `c`.
    function valueNode(uint256 c) internal pure returns (bytes32) {
        return LibMerkle.leafState(bytes32(c));
    }

    /// @notice leaf_o of the model tree (§10.1).
    function operatorLeaf(uint256 o, TypesV4.OperatorLeaf memory leaf) internal pure returns (bytes32) {
        return
            keccak256(
                abi.encode(o, leaf.templateId, leaf.params, leaf.inputSources, leaf.outputHeader, leaf.outputChunks)
            );
    }

    /// @notice Layout leaf: slot `slot` of S_{step+1} comes from `source` (`kind << 32 | index`).
    function layoutLeaf(uint256 step, uint256 slot, uint256 source) internal pure returns (bytes32) {
        return keccak256(abi.encode(step, slot, source));
    }

    /// @notice Encodes a source.
    function encodeSource(uint256 kind, uint256 index) internal pure returns (uint256) {
        return kind << 32 | index;
    }

    /// @notice Decodes a layout source for a state of `stateSlots` slots and a step of
    ///         `opsPerStep` operators. Total: a source of another kind, or an index out of
    ///         range, decodes as SOURCE_EMPTY (the slot must hold C = 0).
    function decode(uint256 src, uint32 stateSlots, uint32 opsPerStep)
        internal
        pure
        returns (uint256 kind, uint256 index)
    {
        kind = src >> 32;
        index = src & 0xffffffff;
        if (kind == TypesV4.SOURCE_STATE && index < stateSlots) return (kind, index);
        if (kind == TypesV4.SOURCE_OUTPUT && index < opsPerStep) return (kind, index);
        return (TypesV4.SOURCE_EMPTY, 0);
    }

    /// @notice Root of the outputs (or state) tree over tensor commitments `values`.
    function valuesRoot(uint256[] memory values) internal pure returns (bytes32) {
        bytes32[] memory nodes = new bytes32[](values.length);
        for (uint256 i; i < values.length; ++i) {
            nodes[i] = valueNode(values[i]);
        }
        return LibMerkle.root(nodes);
    }
}
