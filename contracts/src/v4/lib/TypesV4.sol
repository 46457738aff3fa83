// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

/// @title TypesV4
/// @notice Constants, enums and structs of the version-4 market (docs/protocol.md §10). Kept
///         apart from `Types` so that the deployed version-3 contracts (whose exported bytecode
///         embeds the hash of every source they import) stay byte for byte unchanged. The
///         chunk descent's state (`Types.ChunkDescent`) and outcomes (`Types.GameStatus`) are
///         shared with `LibChunkDescent`.
library TypesV4 {
    ////////////////////////////////////////////////////////////////
    //                 Protocol bounds (§10.8, §10.9)              //
    ////////////////////////////////////////////////////////////////

    /// @notice Order of the BN254 scalar field (same value as `Types.SNARK_SCALAR_FIELD`).
    uint256 internal constant SNARK_SCALAR_FIELD = 0x30644e72e131a029b85045b68181585d2833e84879b9709143e1f593f0000001;

    /// @notice Smallest and largest bisection arity.
    uint32 internal constant MIN_ARITY = 2;
    uint32 internal constant MAX_ARITY = 16;

    /// @notice Largest number of steps: the trace's n + 1 leaves index within uint32.
    uint32 internal constant MAX_STEPS = type(uint32).max - 1;

    /// @notice Largest N (operators per step): bounds the operator reveal of level 2.
    uint32 internal constant MAX_OPS_PER_STEP = 64;

    /// @notice Largest W (tensor slots of a state S_i): bounds the slot values an opened
    ///         S_hi carries at level 2, as MAX_OPS_PER_STEP bounds the operator reveal.
    uint32 internal constant MAX_STATE_SLOTS = 64;

    /// @notice Largest number of public inputs of a template leaf (inputs + params + 2).
    uint256 internal constant MAX_TEMPLATE_INPUTS = 64;

    /// @notice Bounds of the challenge window (also the un-responded cancel timeout).
    uint64 internal constant MIN_CHALLENGE_WINDOW = 10 minutes;
    uint64 internal constant MAX_CHALLENGE_WINDOW = 30 days;

    /// @notice Bounds of each side's chess clock (per level group, §10.2).
    uint64 internal constant MIN_CLOCK = 5 minutes;
    uint64 internal constant MAX_CLOCK = 7 days;

    /// @notice Bounds of the proving window (leaf proof, or the assembly proof of level 2).
    uint64 internal constant MIN_PROVING_WINDOW = 5 minutes;
    uint64 internal constant MAX_PROVING_WINDOW = 7 days;

    /// @notice Responses a request accepts in all: after this many were disproven (or voided),
    ///         it accepts no more and its requester may cancel (§10.9, squatting).
    uint32 internal constant MAX_RESPONSES = 8;

    /// @notice Share of a disproven response's bond paid to the disprover, in basis points;
    ///         the rest is burned (§10.9).
    uint256 internal constant DISPROOF_REWARD_BPS = 5000;

    /// @notice Gas kept back when calling a template verifier, so that the market can always
    ///         finish the call's bookkeeping (§10.8).
    uint256 internal constant VERIFIER_CALL_RESERVE = 50_000;

    /// @notice Largest gas budget a template may register.
    uint64 internal constant MAX_VERIFIER_GAS = 5_000_000;

    /// @notice Kinds of a source (layout leaves and operator inputs), in bits 32..39 of the
    ///         encoded source `kind << 32 | index`.
    uint256 internal constant SOURCE_STATE = 0;
    uint256 internal constant SOURCE_OUTPUT = 1;
    uint256 internal constant SOURCE_EMPTY = 2;

    /// @notice Top bit of an operator input source: `SOURCE_CONST_FLAG | C` is a *constant*
    ///         input (a model weight) whose tensor commitment C (< r) is carried inline in
    ///         leaf_o, committed by the model root; no state or output opens it. Only operator
    ///         leaves' `inputSources` use it (a layout source with this bit decodes as empty).
    ///
    ///         | bit 255 | bits 254..40 | bits 39..32 | bits 31..0 |
    ///         |---------|--------------|-------------|------------|
    ///         | 0       | 0            | kind (0/1)  | index      |
    ///         | 1       |        C (< r, so bits 254.. are free)     |
    uint256 internal constant SOURCE_CONST_FLAG = 1 << 255;

    ////////////////////////////////////////////////////////////////
    //                           Models                           //
    ////////////////////////////////////////////////////////////////

    /// @notice Dispute parameters fixed per model at registration (seconds and wei), each in
    ///         its protocol bounds (§10.8).
    /// @param challengeWindow Seconds after a response during which challenges are accepted.
    /// @param clockPerSide    Chess-clock budget of each side for levels 1-2, and again for
    ///                        level 3.
    /// @param provingWindow   Seconds for a leaf proof (or, at level 2, an assembly proof).
    /// @param arity           k of the level-1 bisection.
    /// @param responseBond    Wei a submitter bonds with a response.
    /// @param challengerBond  Wei a challenger bonds with each challenge.
    struct GameParams {
        uint64 challengeWindow;
        uint64 clockPerSide;
        uint64 provingWindow;
        uint32 arity;
        uint128 responseBond;
        uint128 challengerBond;
    }

    /// @notice A version-4 model (immutable once registered).
    /// @param owner       Registering account (has no powers afterwards).
    /// @param modelRoot   LibMerkle root over the n·N operator leaves (`leafOperator`).
    /// @param layoutRoot  LibMerkle root over the n·W layout leaves (`leafLayout`).
    /// @param numSteps    n.
    /// @param opsPerStep  N.
    /// @param stateSlots  W: tensor slots of every state S_i.
    /// @param onnxCid     CID of the ONNX file.
    /// @param programCid  CID of the compiled program (from which the trees are rebuilt).
    /// @param params      Dispute parameters.
    struct Model {
        address owner;
        bytes32 modelRoot;
        bytes32 layoutRoot;
        uint32 numSteps;
        uint32 opsPerStep;
        uint32 stateSlots;
        string onnxCid;
        string programCid;
        GameParams params;
    }

    /// @notice What the market copies from a model into each request.
    struct ModelSpec {
        bytes32 modelRoot;
        bytes32 layoutRoot;
        uint32 numSteps;
        uint32 opsPerStep;
        uint32 stateSlots;
        GameParams params;
    }

    /// @notice Model leaf of one operator (§10.1): leaf_o =
    ///         keccak256(abi.encode(o, templateId, params, inputSources, outputHeader, outputChunks))
    ///         at index o = step·N + position of the model tree.
    /// @param templateId   The protocol template proving this operator's chunks.
    /// @param params       Field elements the template takes (public inputs after j).
    /// @param inputSources Encoded `kind << 32 | index`: SOURCE_STATE = a slot of S_step,
    ///                     SOURCE_OUTPUT = an earlier entry of P_step (index < position);
    ///                     or `SOURCE_CONST_FLAG | C`: a constant (model weight) whose
    ///                     commitment C < r is carried inline.
    /// @param outputHeader Shape header of the output tensor (< r).
    /// @param outputChunks Number of chunks of the output (>= 1).
    struct OperatorLeaf {
        uint256 templateId;
        uint256[] params;
        uint256[] inputSources;
        uint256 outputHeader;
        uint64 outputChunks;
    }

    /// @notice What a leaf proof is checked against, fixed at `startDescent` from leaf_o and
    ///         the template registry (its hash is stored, §10.10) and passed again to
    ///         `resolveLeaf`, which opens the inputs by their sources and builds the public
    ///         inputs `[C(X_1) … C(X_r), j, params…, d]`.
    /// @param verifier     The template's verifier (`TemplateRegistry.templateOf(templateId)`).
    /// @param gasLimit     The template's registered gas budget.
    /// @param inputSources leaf_o's input sources.
    /// @param params       leaf_o's params.
    struct LeafStatement {
        address verifier;
        uint64 gasLimit;
        uint256[] inputSources;
        uint256[] params;
    }

    ////////////////////////////////////////////////////////////////
    //                    Requests and responses                  //
    ////////////////////////////////////////////////////////////////

    /// @notice Lifecycle of a request (as version 3).
    enum RequestStatus {
        None,
        Open,
        Responded,
        Finalized,
        Cancelled
    }

    /// @notice A request. `inputCommitment` is S_0 (a keccak state root, §10.1).
    /// @param requester       Pays the fee; may cancel (§10.9).
    /// @param openSince       When the request was (re-)opened.
    /// @param status          Lifecycle state.
    /// @param responseCount   Responses received so far (at most MAX_RESPONSES).
    /// @param modelId         Model id.
    /// @param inputCommitment S_0.
    /// @param fee             Escrowed fee.
    /// @param responseId      Latest response id (0 if none).
    /// @param spec            Copied from the model.
    /// @param inputCid        CID of the input.
    struct Request {
        address requester;
        uint64 openSince;
        RequestStatus status;
        uint32 responseCount;
        uint256 modelId;
        bytes32 inputCommitment;
        uint256 fee;
        uint256 responseId;
        ModelSpec spec;
        string inputCid;
    }

    /// @notice Lifecycle of a response.
    /// @custom:value Voided A template verifier failed (§10.8): everything was refunded.
    enum ResponseStatus {
        None,
        Pending,
        Disproven,
        Finalized,
        Voided
    }

    /// @notice A response: only the output commitment and its CID (no trace, §10.3).
    /// @param submitter         Who posted it and its bond.
    /// @param challengeDeadline Last timestamp `challenge` is accepted.
    /// @param status            Lifecycle state.
    /// @param openGames         Games on it still in progress.
    /// @param bond              The submitter's bond.
    /// @param decidedGame       A game whose leaf was proven for its challenger (0 if none):
    ///                          it holds the response, which only its `finishGame` disproves.
    /// @param requestId         The request answered.
    /// @param outputCommitment  S_n.
    /// @param traceRoot         LibMerkle root over L_0..L_n, 0 until `commitTrace`.
    /// @param outputCid         CID of the output.
    struct Response {
        address submitter;
        uint64 challengeDeadline;
        ResponseStatus status;
        uint32 openGames;
        uint128 bond;
        uint64 decidedGame;
        uint256 requestId;
        bytes32 outputCommitment;
        bytes32 traceRoot;
        string outputCid;
    }

    ////////////////////////////////////////////////////////////////
    //                            Games                           //
    ////////////////////////////////////////////////////////////////

    /// @notice Whose move a version-4 game waits for (§10.2).
    /// @custom:value SubmitterReveal    Level 1: submitter reveals L at the split points.
    /// @custom:value ChallengerReveal   Level 1: challenger reveals L at the split points.
    /// @custom:value SubmitterOpenStep  Level 2: submitter opens L_lo and its L_hi.
    /// @custom:value ChallengerOpenStep Level 2: challenger opens its L_hi.
    /// @custom:value SubmitterOps       Level 2: submitter reveals its N entries of P_lo.
    /// @custom:value ChallengerOps      Level 2: challenger reveals its N entries of P_lo.
    /// @custom:value AssemblyProving    Level 2: the P_lo agree, so one side mis-assembled;
    ///                                  waiting for an assembly-fault proof (anyone).
    /// @custom:value DescentStart       Level 3: waiting for leaf_o (anyone; submitter's clock).
    /// @custom:value Descent            Level 3: the chunk descent (`LibChunkDescent`) runs.
    /// @custom:value Resolved           Over; see `status`.
    enum Phase {
        SubmitterReveal,
        ChallengerReveal,
        SubmitterOpenStep,
        ChallengerOpenStep,
        SubmitterOps,
        ChallengerOps,
        AssemblyProving,
        DescentStart,
        Descent,
        Resolved
    }

    /// @notice Outcome of a version-4 game. `BothLost`: nobody proved in time, or both
    ///         digests non-zero at a padding chunk; `Voided`: a verifier or the model leaf
    ///         failed (§10.8), everything refunded.
    enum GameStatus {
        InProgress,
        SubmitterWon,
        ChallengerWon,
        BothLost,
        Cancelled,
        Voided
    }

    /// @notice Why a response was disproven.
    enum DisproofReason {
        Game,
        BindingFault,
        AssemblyFault
    }

    /// @notice Stored state of one version-4 game (one challenger vs the submitter). Its chunk
    ///         descent lives beside it (`InferenceMarketV4._descents[gameId]`).
    /// @dev Slot 0: challenger (160) | lo (32) | hi (32) | phase (8) | status (8).
    ///      Slot 1: submitterClock | challengerClock | turnStartedAt | deadline (64 each).
    ///      Slot 2: round (32) | opPosition (32) | bond (128).
    /// @param challenger       Challenging account.
    /// @param lo               Agreed trace index.
    /// @param hi               Disagreed trace index.
    /// @param phase            Whose move.
    /// @param status           Outcome.
    /// @param submitterClock   Submitter's seconds left (levels 1-2) as of turnStartedAt.
    /// @param challengerClock  Challenger's seconds left (levels 1-2) as of turnStartedAt.
    /// @param turnStartedAt    Start of the current turn.
    /// @param deadline         End of the AssemblyProving window (0 otherwise).
    /// @param round            Completed level-1 rounds.
    /// @param opPosition       Level 3: position o (< N) of the disputed operator in its step.
    /// @param bond             The challenger's bond.
    /// @param responseId       Response challenged.
    /// @param challengerTrace  Level 1: the challenger's trace root over L'_0..L'_n. Once the
    ///                         challenger opened its step (level 2): its S_hi (the root is
    ///                         not read again; one slot serves both, §10.10).
    /// @param claimedOutput    Challenger's S'_n.
    /// @param agreedLo         Level 1: the agreed L_lo (keccak256(S_0 ‖ 0) at lo = 0). Once
    ///                         the submitter opened its step (level 2): the agreed S_lo that
    ///                         L_lo opened to (one slot serves both, §10.10).
    /// @param revealHash       Hash of the submitter's pending reveal (levels 1 and 2); stale
    ///                         (not cleared) outside the phase right after its write, the
    ///                         only one that compares it. From `startDescent` on (level 3):
    ///                         the hash of the leaf statement (`LeafStatement`, §10.10).
    /// @param submitterStateHi Submitter's S_hi.
    /// @param submitterOutputs Submitter's P_lo.
    /// @param challengerOutputs Challenger's P_lo.
    ///      The sides' L_hi at level 1 are not stored (nothing on chain reads them):
    ///      `ChallengerRevealed` carries them.
    struct Game {
        address challenger;
        uint32 lo;
        uint32 hi;
        Phase phase;
        GameStatus status;
        uint64 submitterClock;
        uint64 challengerClock;
        uint64 turnStartedAt;
        uint64 deadline;
        uint32 round;
        uint32 opPosition;
        uint128 bond;
        uint256 responseId;
        bytes32 challengerTrace;
        bytes32 claimedOutput;
        bytes32 agreedLo;
        bytes32 revealHash;
        bytes32 submitterStateHi;
        bytes32 submitterOutputs;
        bytes32 challengerOutputs;
    }

    /// @notice One side's opening of a state slot and of the slot's source, for an assembly
    ///         fault (§10.2 level 2).
    /// @param slot        Slot s of S_hi.
    /// @param source      The layout's source of (step, s), encoded `kind << 32 | index`.
    /// @param layoutProof LibMerkle proof of `leafLayout(step, s, source)` at step·W + s.
    /// @param value       The side's C at slot s of its S_hi.
    /// @param valueProof  LibMerkle proof of `value` at s of the side's S_hi.
    /// @param sourceValue The C the source holds (S_lo's slot, or the side's P_lo entry; 0
    ///                    for an empty source).
    /// @param sourceProof LibMerkle proof of `sourceValue` (empty for an empty source).
    struct AssemblyOpening {
        uint32 slot;
        uint256 source;
        bytes32[] layoutProof;
        uint256 value;
        bytes32[] valueProof;
        uint256 sourceValue;
        bytes32[] sourceProof;
    }
}
