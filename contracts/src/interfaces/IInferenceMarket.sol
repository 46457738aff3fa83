// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

import {Types} from "../lib/Types.sol";

/// @title IInferenceMarket
/// @notice Optimistic ML inference market with a k-ary bisection fault dispute game whose leaf
///         is settled by a succinct proof of one step. See docs/protocol.md for the full spec.
/// @dev Call order for one request:
///      requestInference -> respond -> (challenge -> [submitterReveal -> challengerReveal]*
///      -> resolveLeaf | claimTimeout)* | challengeOneShot | proveBindingFault
///      -> finalize (after the window, no game open) -> withdraw.
///      A disproven response re-opens the request for a new `respond`.
interface IInferenceMarket {
    /// @notice A request was created (or its fee escrowed).
    event RequestCreated(
        uint256 indexed requestId,
        uint256 indexed modelId,
        address indexed requester,
        bytes32 inputCommitment,
        string inputCid,
        uint256 fee,
        uint32 numSteps
    );

    /// @notice A response was posted; challenges are accepted until `challengeDeadline`.
    event ResponseSubmitted(
        uint256 indexed requestId,
        uint256 indexed responseId,
        address indexed submitter,
        bytes32 outputCommitment,
        string outputCid,
        bytes32 traceRoot,
        string traceCid,
        uint64 challengeDeadline
    );

    /// @notice A challenger opened a game against the current response.
    /// @param lo,hi Initial interval (0, n). `splitPoints` are the points the submitter must
    ///        reveal first (empty when n == 1: the game starts in Proving, see LeafReached).
    event GameCreated(
        uint256 indexed gameId,
        uint256 indexed requestId,
        address indexed challenger,
        uint256 responseId,
        bytes32 claimedOutput,
        bytes32 traceRoot,
        uint32 lo,
        uint32 hi,
        uint32[] splitPoints,
        uint64 clockPerSide
    );

    /// @notice The submitter revealed its states at `points` (opened from its trace root).
    event SubmitterRevealed(uint256 indexed gameId, uint32 round, uint32[] points, bytes32[] states);

    /// @notice The challenger revealed its states; the interval narrowed to (lo, hi).
    /// @param nextSplitPoints Points the submitter must reveal next (empty once hi - lo == 1).
    event ChallengerRevealed(
        uint256 indexed gameId,
        uint32 round,
        bytes32[] states,
        uint32 lo,
        uint32 hi,
        bytes32 loState,
        bytes32 hiSubmitter,
        bytes32 hiChallenger,
        uint32[] nextSplitPoints
    );

    /// @notice hi - lo == 1: a proof of step `step` from `preState` decides the game.
    event LeafReached(
        uint256 indexed gameId,
        uint32 step,
        bytes32 preState,
        bytes32 hiSubmitter,
        bytes32 hiChallenger,
        uint64 provingDeadline
    );

    /// @notice A game ended with `outcome` (never InProgress).
    event GameResolved(uint256 indexed gameId, uint256 indexed requestId, Types.GameStatus outcome);

    /// @notice The response was shown wrong; the request is open again.
    event ResponseDisproven(
        uint256 indexed requestId, uint256 indexed responseId, address indexed by, Types.DisproofReason reason
    );

    /// @notice The response was accepted and the submitter credited fee + bond.
    event RequestFinalized(uint256 indexed requestId, uint256 indexed responseId, bytes32 outputCommitment);

    /// @notice The requester cancelled an un-responded request and was credited the fee.
    event RequestCancelled(uint256 indexed requestId);

    /// @notice `account`'s withdrawable balance grew by `amount`.
    event Credited(address indexed account, uint256 amount);

    /// @notice `account` withdrew `amount`.
    event Withdrawn(address indexed account, uint256 amount);

    /// @notice Requests an inference of model `modelId`; msg.value (> 0) is the fee.
    /// @param modelId         Registered model.
    /// @param inputCommitment S_0, a BN254 field element.
    /// @param inputCid        CID of the input data.
    /// @return requestId      New request id (ids start at 1).
    function requestInference(uint256 modelId, bytes32 inputCommitment, string calldata inputCid)
        external
        payable
        returns (uint256 requestId);

    /// @notice Responds to an open request; msg.value must equal the model's responseBond.
    /// @param requestId        Open request.
    /// @param outputCommitment S_n, a BN254 field element.
    /// @param outputCid        CID of the output data.
    /// @param traceRoot        Keccak Merkle root over S_0..S_n.
    /// @param traceCid         CID of the trace states ("" if withheld).
    function respond(
        uint256 requestId,
        bytes32 outputCommitment,
        string calldata outputCid,
        bytes32 traceRoot,
        string calldata traceCid
    ) external payable;

    /// @notice Opens a game against the current response; msg.value must equal challengerBond.
    /// @param requestId     Responded request, within its challenge window.
    /// @param claimedOutput Challenger's S_n (a field element, != the response's).
    /// @param traceRoot     Challenger's trace root over S'_0..S'_n.
    /// @return gameId       New game id (ids start at 1).
    function challenge(uint256 requestId, bytes32 claimedOutput, bytes32 traceRoot)
        external
        payable
        returns (uint256 gameId);

    /// @notice Submitter's move: its states at `splitPoints(gameId)`, each opened from its root.
    /// @param gameId Game in SubmitterReveal phase.
    /// @param states One state per split point.
    /// @param proofs Merkle proof of each state.
    function submitterReveal(uint256 gameId, bytes32[] calldata states, bytes32[][] calldata proofs) external;

    /// @notice Challenger's move: its states at the same points; narrows the interval.
    /// @param gameId          Game in ChallengerReveal phase.
    /// @param submitterStates The submitter's revealed states (checked against their hash).
    /// @param states          Challenger's states, one per split point.
    /// @param proofs          Merkle proof of each state against the challenger's root.
    function challengerReveal(
        uint256 gameId,
        bytes32[] calldata submitterStates,
        bytes32[] calldata states,
        bytes32[][] calldata proofs
    ) external;

    /// @notice Settles a game at its leaf with a proof of step `lo`. Anyone may call.
    /// @param gameId     Game in Proving phase, before its proving deadline.
    /// @param opDigest   Step lo's circuit digest.
    /// @param verifier   Step lo's verifier.
    /// @param modelProof Proof of the (lo, opDigest, verifier) leaf against the model root.
    /// @param proof      Proof bytes for the verifier.
    /// @param forChallenger Which claim at hi the proof shows: the challenger's (true) or the
    ///                   submitter's (false). Only that statement is verified (one pairing check);
    ///                   the side it proves wins.
    function resolveLeaf(
        uint256 gameId,
        uint256 opDigest,
        address verifier,
        bytes32[] calldata modelProof,
        bytes calldata proof,
        bool forChallenger
    ) external;

    /// @notice Ends a game whose mover's clock, or whose proving window, has run out.
    /// @param gameId Game in progress.
    function claimTimeout(uint256 gameId) external;

    /// @notice Refunds the bond of a game whose response another party already disproved.
    /// @param gameId Game in progress on a disproven response.
    function cancelGame(uint256 gameId) external;

    /// @notice One-transaction disproof from the submitter's own trace: step `step` maps
    ///         preState to provenPost != postState. Caller receives the submitter's bond.
    function challengeOneShot(
        uint256 requestId,
        uint32 step,
        bytes32 preState,
        bytes32[] calldata preProof,
        bytes32 postState,
        bytes32[] calldata postProof,
        bytes32 provenPost,
        uint256 opDigest,
        address verifier,
        bytes32[] calldata modelProof,
        bytes calldata proof
    ) external;

    /// @notice Disproves a response whose trace leaf 0 != inputCommitment or leaf n !=
    ///         outputCommitment. Caller receives the submitter's bond.
    /// @param requestId Responded request.
    /// @param index     0 or n.
    /// @param leafValue The submitter's trace leaf at `index`.
    /// @param proof     Its Merkle proof against the submitter's trace root.
    function proveBindingFault(uint256 requestId, uint32 index, bytes32 leafValue, bytes32[] calldata proof) external;

    /// @notice Accepts a response after its window with no game open: credits fee + bond.
    /// @param requestId Responded request.
    function finalize(uint256 requestId) external;

    /// @notice Requester takes the fee back from a request un-responded for challengeWindow.
    /// @param requestId Open request.
    function cancelRequest(uint256 requestId) external;

    /// @notice Withdraws the caller's whole balance.
    function withdraw() external;

    /// @notice Withdrawable balance of `account`.
    function balances(address account) external view returns (uint256);

    /// @notice Whether request `requestId` has an accepted output (window passed, no game open,
    ///         not disproven), whether or not `finalize` was called yet.
    function isFinal(uint256 requestId) external view returns (bool);

    /// @notice The accepted output of a final request; reverts WrongRequestStatus otherwise.
    function result(uint256 requestId) external view returns (bytes32 outputCommitment, string memory outputCid);

    /// @notice A request.
    function getRequest(uint256 requestId) external view returns (Types.Request memory);

    /// @notice The request's current (latest) response; zeroed if none.
    function getResponse(uint256 requestId) external view returns (Types.Response memory);

    /// @notice A response by id.
    function getResponseById(uint256 responseId) external view returns (Types.Response memory);

    /// @notice A game, with the response and parameters an agent needs.
    function getGame(uint256 gameId) external view returns (Types.GameView memory);

    /// @notice The points whose states the current round reveals (empty once at the leaf).
    function splitPoints(uint256 gameId) external view returns (uint32[] memory);

    /// @notice Counters: last request, response and game ids.
    function counts() external view returns (uint256 requests, uint256 responses, uint256 games);
}
