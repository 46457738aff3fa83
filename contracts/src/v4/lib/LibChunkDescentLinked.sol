// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

import {Types} from "../../lib/Types.sol";
import {LibChunkDescent} from "../../lib/LibChunkDescent.sol";

/// @title LibChunkDescentLinked
/// @notice `LibChunkDescent`'s moves as public (linked, DELEGATECALLed) library functions, so
///         that `InferenceMarketV4` stays under EIP-170's code size: the descent's code lives
///         once in this library's deployment and runs on the market's storage. (`resolveProven`
///         is small and runs inline in the market's `resolveLeaf`, which so skips the
///         library's cold account.) Each function
///         only forwards to the internal one of the same name (same rules, same events, emitted
///         by the market). Linking is as for PoseidonT3 (`LibTensorTree`'s notes): `forge test`
///         links it itself; a deployment deploys it and links its address.
library LibChunkDescentLinked {
    using LibChunkDescent for Types.ChunkDescent;

    /// @notice `LibChunkDescent.init`.
    function init(
        Types.ChunkDescent storage d,
        uint256 outputHeader,
        uint64 outputChunks,
        uint256 submitterCommitment,
        uint256 challengerCommitment,
        uint64 clockPerSide,
        uint64 provingWindow,
        uint64 timestamp
    ) public {
        d.init(
            outputHeader,
            outputChunks,
            submitterCommitment,
            challengerCommitment,
            clockPerSide,
            provingWindow,
            timestamp
        );
    }

    /// @notice `LibChunkDescent.openRoot`.
    function openRoot(Types.ChunkDescent storage d, Types.Side side, uint256 header, uint256 root, uint64 timestamp)
        public
        returns (Types.GameStatus)
    {
        return d.openRoot(side, header, root, timestamp);
    }

    /// @notice `LibChunkDescent.revealChildren`.
    function revealChildren(
        Types.ChunkDescent storage d,
        Types.Side side,
        uint256 left,
        uint256 right,
        uint64 timestamp
    ) public returns (Types.GameStatus) {
        return d.revealChildren(side, left, right, timestamp);
    }

    /// @notice `LibChunkDescent.timeout`.
    function timeout(Types.ChunkDescent storage d, uint64 timestamp) public returns (Types.GameStatus) {
        return d.timeout(timestamp);
    }
}
