// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

import {Types} from "../lib/Types.sol";
import {TypesV4} from "../v4/lib/TypesV4.sol";

/// @title IInferenceMarketV4
/// @notice Events and views of the version-4 market (docs/protocol.md §10). The moves are
///         documented where they are implemented (`InferenceMarketV4`), in protocol order.
interface IInferenceMarketV4 {
    /// @notice A request was created with `fee` escrowed.
    event RequestCreated(
        uint256 indexed requestId,
        uint256 indexed modelId,
        address requester,
        bytes32 inputCommitment,
        string inputCid,
        uint256 fee
    );
    /// @notice A response (output commitment and CID only) was posted.
    event ResponseSubmitted(
        uint256 indexed requestId,
        uint256 indexed responseId,
        address submitter,
        bytes32 outputCommitment,
        string outputCid,
        uint64 challengeDeadline
    );
    /// @notice The submitter committed its trace root.
    event TraceCommitted(uint256 indexed responseId, bytes32 traceRoot);
    /// @notice The response was accepted.
    event RequestFinalized(uint256 indexed requestId, uint256 indexed responseId, bytes32 outputCommitment);
    /// @notice The requester took its fee back.
    event RequestCancelled(uint256 indexed requestId);
    /// @notice The response was disproven: `reward` credited to `payee`, `burned` burned.
    event ResponseDisproven(
        uint256 indexed requestId,
        uint256 indexed responseId,
        address payee,
        uint256 reward,
        uint256 burned,
        TypesV4.DisproofReason reason
    );
    /// @notice A verifier or model-leaf failure in `gameId` voided the response: refunds only.
    event ResponseVoided(uint256 indexed requestId, uint256 indexed responseId, uint256 gameId);
    /// @notice A game began (level 1, or level 2 at once if n = 1).
    event GameCreated(
        uint256 indexed gameId,
        uint256 indexed requestId,
        uint256 indexed responseId,
        address challenger,
        bytes32 claimedOutput,
        bytes32 challengerRoot
    );
    /// @notice Level 1: the submitter revealed `leaves` (L values) at `points`.
    event SubmitterRevealed(uint256 indexed gameId, uint32 round, uint32[] points, bytes32[] leaves);
    /// @notice Level 1: the challenger revealed; the game is now at (lo, hi).
    event ChallengerRevealed(uint256 indexed gameId, uint32 round, bytes32[] leaves, uint32 lo, uint32 hi);
    /// @notice Level 2: `side` opened its L_hi into (stateHi, outputs); `stateSlots` are
    ///         stateHi's W slot values (what an assembly-fault proof opens).
    event StepOpened(uint256 indexed gameId, Types.Side side, bytes32 stateHi, bytes32 outputs, uint256[] stateSlots);
    /// @notice Level 2: `side` revealed its N entries of P_lo.
    event OutputsRevealed(uint256 indexed gameId, Types.Side side, uint256[] outputs);
    /// @notice Level 2: the P_lo agree, so a side mis-assembled S_hi; proofs until `deadline`.
    event AssemblyProvingStarted(uint256 indexed gameId, uint64 deadline);
    /// @notice Level 2: the first differing operator output is at `position`.
    event OperatorFound(uint256 indexed gameId, uint32 position, uint256 submitterOutput, uint256 challengerOutput);
    /// @notice Level 3 began on operator `operatorIndex` (= lo·N + position).
    event DescentBegan(uint256 indexed gameId, uint256 operatorIndex, uint256 templateId);
    /// @notice Level 3: a descent move of `side` (LibChunkDescent's events of the same call
    ///         carry the details).
    event DescentMoved(uint256 indexed gameId, Types.Side side);
    /// @notice `side`'s S_hi slot `slot` differs from the layout's source.
    event AssemblyFaultProven(uint256 indexed gameId, Types.Side side, uint32 slot);
    /// @notice A game ended.
    event GameResolved(uint256 indexed gameId, uint256 indexed requestId, TypesV4.GameStatus status);
    /// @notice `amount` credited to `account`.
    event Credited(address indexed account, uint256 amount);
    /// @notice `amount` burned (held forever by the contract, counted in `burned`).
    event Burned(uint256 amount);
    /// @notice `account` withdrew `amount`.
    event Withdrawn(address indexed account, uint256 amount);

    /// @notice Withdrawable balance of `account`.
    function balances(address account) external view returns (uint256);
    /// @notice Wei burned so far.
    function burned() external view returns (uint256);
    /// @notice True iff the request's response is final (§3's rule).
    function isFinal(uint256 requestId) external view returns (bool);
    /// @notice The final (S_n, outputCid); reverts unless final.
    function result(uint256 requestId) external view returns (bytes32 outputCommitment, string memory outputCid);
    /// @notice The request.
    function getRequest(uint256 requestId) external view returns (TypesV4.Request memory);
    /// @notice The response with id `responseId`.
    function getResponse(uint256 responseId) external view returns (TypesV4.Response memory);
    /// @notice The game.
    function getGame(uint256 gameId) external view returns (TypesV4.Game memory);
    /// @notice The game's chunk descent (phase None before level 3).
    function getDescent(uint256 gameId) external view returns (Types.ChunkDescent memory);
    /// @notice Level-1 split points of the game (empty outside level 1).
    function splitPoints(uint256 gameId) external view returns (uint32[] memory);
    /// @notice Last timestamp the side to move (or the prover) may act; 0 once resolved.
    function turnDeadline(uint256 gameId) external view returns (uint64);
    /// @notice Ids issued so far.
    function counts() external view returns (uint256 requests, uint256 responses, uint256 games);
}
