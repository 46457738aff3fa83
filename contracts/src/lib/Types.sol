// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

/// @title Types
/// @notice Shared enums, structs and constants of the (ZK+OP)ML contracts. The Rust side
///         (`crates/chain`) mirrors these layouts exactly; change them on both sides at once.
library Types {
    /// @notice Order of the BN254 scalar field. State commitments, tensor commitments and
    ///         operator digests are elements of this field carried as `bytes32` / `uint256`.
    uint256 internal constant SNARK_SCALAR_FIELD = 0x30644e72e131a029b85045b68181585d2833e84879b9709143e1f593f0000001;

    /// @notice Largest bisection arity a model may register (bounds every per-move loop).
    uint32 internal constant MAX_ARITY = 16;

    /// @notice Dispute-game parameters fixed per model at registration (seconds and wei).
    /// @param challengeWindow Seconds after a response during which challenges are accepted.
    ///        Also the time after which a requester may cancel an un-responded request.
    /// @param clockPerSide    Chess-clock budget, in seconds, of each side of each game.
    /// @param provingWindow   Seconds, after the leaf is reached, for anyone to submit the
    ///        leaf proof. Sized from the measured worst-case leaf proving time.
    /// @param arity           k of the k-ary bisection (2 <= k <= MAX_ARITY).
    /// @param responseBond    Wei a submitter posts with a response.
    /// @param challengerBond  Wei a challenger posts with each challenge.
    struct GameParams {
        uint64 challengeWindow;
        uint64 clockPerSide;
        uint64 provingWindow;
        uint32 arity;
        uint128 responseBond;
        uint128 challengerBond;
    }

    /// @notice A registered model. Immutable once registered.
    /// @param owner        Account that registered the model.
    /// @param modelRoot    Keccak Merkle root over the steps' leaves
    ///        `keccak256(abi.encode(uint256 stepIndex, uint256 opDigest, address verifier))`.
    /// @param numSteps     n: number of steps (groups of `opsPerStep` ONNX operators).
    /// @param opsPerStep   N: consecutive ONNX operators per step.
    /// @param registeredAt Block timestamp of registration.
    /// @param onnxCid      CID of the ONNX file.
    /// @param programCid   CID of the compiled fixed-point program.
    /// @param params       Dispute-game parameters.
    struct Model {
        address owner;
        uint64 registeredAt;
        bytes32 modelRoot;
        uint32 numSteps;
        uint32 opsPerStep;
        string onnxCid;
        string programCid;
        GameParams params;
    }

    /// @notice Lifecycle of an inference request.
    /// @custom:value None      No such request.
    /// @custom:value Open      Waiting for a response (new, or re-opened after a disproof).
    /// @custom:value Responded A response is pending (challenge window and/or games running).
    /// @custom:value Finalized The response was accepted and the submitter paid.
    /// @custom:value Cancelled The requester took the fee back before any accepted response.
    enum RequestStatus {
        None,
        Open,
        Responded,
        Finalized,
        Cancelled
    }

    /// @notice An inference request. `inputCommitment` is S_0 of the trace.
    /// @param requester       Who pays the fee and receives forfeited bonds nobody wins.
    /// @param openSince       When the request was (re-)opened; cancel timeout counts from it.
    /// @param status          Lifecycle state.
    /// @param numSteps        n, copied from the model.
    /// @param responseCount   Responses submitted so far (disproven ones included).
    /// @param modelId         Registered model id.
    /// @param inputCommitment S_0 (a BN254 field element).
    /// @param modelRoot       Copied from the model.
    /// @param fee             Wei escrowed for the accepted submitter.
    /// @param responseId      Current (latest) response id, 0 if none.
    /// @param params          Game parameters copied from the model.
    /// @param inputCid        CID of the input data.
    struct Request {
        address requester;
        uint64 openSince;
        RequestStatus status;
        uint32 numSteps;
        uint32 responseCount;
        uint256 modelId;
        bytes32 inputCommitment;
        bytes32 modelRoot;
        uint256 fee;
        uint256 responseId;
        GameParams params;
        string inputCid;
    }

    /// @notice Lifecycle of a response.
    /// @custom:value None      No such response.
    /// @custom:value Pending   Optimistically posted; may still be disproven.
    /// @custom:value Disproven A game, one-shot proof or binding fault showed it wrong.
    /// @custom:value Finalized Accepted; the submitter was paid fee + bond.
    enum ResponseStatus {
        None,
        Pending,
        Disproven,
        Finalized
    }

    /// @notice A response to a request. `outputCommitment` is S_n of the trace.
    /// @param submitter         Who posted it (and its bond).
    /// @param challengeDeadline Last timestamp at which `challenge` is accepted.
    /// @param status            Lifecycle state.
    /// @param openGames         Games on this response still in progress.
    /// @param submittedAt       Block timestamp of the response.
    /// @param bond              Wei bonded by the submitter.
    /// @param requestId         The request answered.
    /// @param outputCommitment  S_n (a BN254 field element).
    /// @param traceRoot         Keccak Merkle root over S_0..S_n (leaf = keccak256(abi.encode(S_i))).
    /// @param outputCid         CID of the output data.
    /// @param traceCid          CID of the published trace (states), if any.
    struct Response {
        address submitter;
        uint64 challengeDeadline;
        ResponseStatus status;
        uint32 openGames;
        uint64 submittedAt;
        uint128 bond;
        uint256 requestId;
        bytes32 outputCommitment;
        bytes32 traceRoot;
        string outputCid;
        string traceCid;
    }

    /// @notice Whose move a game is waiting for.
    /// @custom:value SubmitterReveal  Submitter must reveal its states at the split points.
    /// @custom:value ChallengerReveal Challenger must reveal its states at the split points.
    /// @custom:value Proving          hi - lo == 1: waiting for a leaf proof (anyone).
    /// @custom:value Resolved         Game over; see GameStatus.
    enum GamePhase {
        SubmitterReveal,
        ChallengerReveal,
        Proving,
        Resolved
    }

    /// @notice Outcome of a game.
    /// @custom:value InProgress    Not resolved yet.
    /// @custom:value SubmitterWon  Submitter gets the challenger's bond.
    /// @custom:value ChallengerWon Response disproven; challenger gets the submitter's bond.
    /// @custom:value BothLost      Proving window passed without a valid proof (in a chunk
    ///                             descent also: both digests non-zero at a padding position):
    ///                             response disproven, both bonds go to the requester.
    /// @custom:value Cancelled     Another party disproved the response first; bond refunded.
    enum GameStatus {
        InProgress,
        SubmitterWon,
        ChallengerWon,
        BothLost,
        Cancelled
    }

    /// @notice One side of a dispute.
    /// @custom:value Submitter The response's submitter (moves first at every level).
    /// @custom:value Challenger The challenger.
    enum Side {
        Submitter,
        Challenger
    }

    /// @notice Whose move a chunk descent (docs/protocol.md §10.2, level 3) is waiting for.
    /// @custom:value None             Not initialised (`LibChunkDescent.init` not called).
    /// @custom:value SubmitterOpen    Submitter must open its C into (header, root).
    /// @custom:value ChallengerOpen   Challenger must open its C into (header, root).
    /// @custom:value SubmitterReveal  Submitter must reveal the children of its current node.
    /// @custom:value ChallengerReveal Challenger must reveal the children of its current node.
    /// @custom:value Proving          At a real chunk (position < outputChunks): waiting for the
    ///                                embedding contract's leaf proof (anyone).
    /// @custom:value Resolved         Over; see `ChunkDescent.status`.
    enum DescentPhase {
        None,
        SubmitterOpen,
        ChallengerOpen,
        SubmitterReveal,
        ChallengerReveal,
        Proving,
        Resolved
    }

    /// @notice Stored state of one chunk descent (`LibChunkDescent`): two different tensor
    ///         commitments C = PoseidonT3(header, root) of one operator output, searched
    ///         level by level for the first chunk whose digests differ.
    /// @dev Slot 0 (read and written by every move):
    ///      | bits     | field           |
    ///      |----------|-----------------|
    ///      | 0..7     | phase           |
    ///      | 8..15    | status          |
    ///      | 16..23   | depth           |
    ///      | 24..31   | level           |
    ///      | 32..95   | turnStartedAt   |
    ///      | 96..159  | submitterClock  |
    ///      | 160..223 | challengerClock |
    ///      Slot 1: position (64) | outputChunks (64) | provingWindow (64) | provingDeadline (64).
    ///      Then one slot each for the header, the two commitments, the two current nodes and
    ///      the submitter's pending children. Clocks hold the seconds left as of `turnStartedAt`.
    ///      Not part of any deployed ABI yet: the Rust mirror follows when InferenceMarket embeds it.
    /// @param phase                Whose move.
    /// @param status               Outcome (only InProgress, SubmitterWon, ChallengerWon and
    ///                             BothLost occur).
    /// @param depth                depthOf(outputChunks) <= 64: the level of the leaves.
    /// @param level                Level of the current nodes: 0 is the root, `depth` a leaf.
    /// @param turnStartedAt        When the current turn began (the leaf was reached, in Proving).
    /// @param submitterClock       Seconds left on the submitter's clock.
    /// @param challengerClock      Seconds left on the challenger's clock.
    /// @param position             Index of the current nodes within their level.
    /// @param outputChunks         Number of real chunks of the output (>= 1).
    /// @param provingWindow        Seconds for the leaf proof once a real chunk is reached.
    /// @param provingDeadline      Last timestamp a leaf proof is accepted (Proving only).
    /// @param outputHeader         The output's shape header from the model leaf (the truth).
    /// @param submitterCommitment  Submitter's C of the output.
    /// @param challengerCommitment Challenger's C of the output.
    /// @param submitterNode        Submitter's node at (level, position); its leaf digest at the end.
    /// @param challengerNode       Challenger's node at (level, position); its leaf digest at the end.
    /// @param submitterLeft        Submitter's revealed left child (ChallengerReveal phase).
    /// @param submitterRight       Submitter's revealed right child (ChallengerReveal phase).
    struct ChunkDescent {
        DescentPhase phase;
        GameStatus status;
        uint8 depth;
        uint8 level;
        uint64 turnStartedAt;
        uint64 submitterClock;
        uint64 challengerClock;
        uint64 position;
        uint64 outputChunks;
        uint64 provingWindow;
        uint64 provingDeadline;
        uint256 outputHeader;
        uint256 submitterCommitment;
        uint256 challengerCommitment;
        uint256 submitterNode;
        uint256 challengerNode;
        uint256 submitterLeft;
        uint256 submitterRight;
    }

    /// @notice Why a response was disproven.
    enum DisproofReason {
        Bisection,
        Timeout,
        ProvingTimeout,
        OneShot,
        BindingFault
    }

    /// @notice Stored state of one dispute game (one challenger vs the response's submitter).
    /// @dev Slot 0: challenger (160) | lo (32) | hi (32) | phase (8) | status (8).
    ///      Slot 1: submitterClock (64) | challengerClock (64) | turnStartedAt (64) |
    ///      provingDeadline (64). Clocks hold the seconds left as of `turnStartedAt`.
    /// @param challenger      Challenging account.
    /// @param lo              Agreed step index.
    /// @param hi              Disagreed step index (lo < hi).
    /// @param phase           Whose move.
    /// @param status          Outcome.
    /// @param submitterClock  Seconds left on the submitter's clock.
    /// @param challengerClock Seconds left on the challenger's clock.
    /// @param turnStartedAt   When the current turn (phase) began.
    /// @param provingDeadline Last timestamp a leaf proof is accepted (Proving phase only).
    /// @param round           Completed bisection rounds.
    /// @param bond            Challenger's bond in wei.
    /// @param responseId      Response challenged.
    /// @param challengerRoot  Challenger's trace root over S'_0..S'_n.
    /// @param loState         Agreed state at lo (the request's input at lo == 0).
    /// @param hiSubmitter     Submitter's claimed state at hi.
    /// @param hiChallenger    Challenger's claimed state at hi.
    /// @param revealHash      keccak256(abi.encode(states)) of the submitter's pending reveal.
    struct Game {
        address challenger;
        uint32 lo;
        uint32 hi;
        GamePhase phase;
        GameStatus status;
        uint64 submitterClock;
        uint64 challengerClock;
        uint64 turnStartedAt;
        uint64 provingDeadline;
        uint32 round;
        uint128 bond;
        uint256 responseId;
        bytes32 challengerRoot;
        bytes32 loState;
        bytes32 hiSubmitter;
        bytes32 hiChallenger;
        bytes32 revealHash;
    }

    /// @notice Everything an agent needs about a game, assembled by `getGame`.
    /// @param requestId       Request under dispute.
    /// @param responseId      Response challenged.
    /// @param submitter       Response's submitter.
    /// @param challenger      Challenger.
    /// @param submitterRoot   Submitter's trace root.
    /// @param challengerRoot  Challenger's trace root.
    /// @param numSteps        n.
    /// @param arity           k.
    /// @param lo              Agreed step index.
    /// @param hi              Disagreed step index.
    /// @param round           Completed bisection rounds.
    /// @param phase           Whose move.
    /// @param status          Outcome.
    /// @param loState         Agreed state at lo.
    /// @param hiSubmitter     Submitter's claim at hi.
    /// @param hiChallenger    Challenger's claim at hi.
    /// @param revealHash      Hash of the submitter's pending reveal (ChallengerReveal phase).
    /// @param submitterClock  Seconds left on the submitter's clock as of turnStartedAt.
    /// @param challengerClock Seconds left on the challenger's clock as of turnStartedAt.
    /// @param turnStartedAt   Start of the current turn.
    /// @param turnDeadline    Last timestamp the side to move may move (proving deadline in
    ///                        Proving; 0 when resolved). After it, `claimTimeout` succeeds.
    /// @param provingDeadline Proving deadline (0 before the leaf).
    /// @param bond            Challenger's bond.
    struct GameView {
        uint256 requestId;
        uint256 responseId;
        address submitter;
        address challenger;
        bytes32 submitterRoot;
        bytes32 challengerRoot;
        uint32 numSteps;
        uint32 arity;
        uint32 lo;
        uint32 hi;
        uint32 round;
        GamePhase phase;
        GameStatus status;
        bytes32 loState;
        bytes32 hiSubmitter;
        bytes32 hiChallenger;
        bytes32 revealHash;
        uint64 submitterClock;
        uint64 challengerClock;
        uint64 turnStartedAt;
        uint64 turnDeadline;
        uint64 provingDeadline;
        uint128 bond;
    }
}
