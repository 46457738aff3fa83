// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

import {IInferenceMarketV4} from "../interfaces/IInferenceMarketV4.sol";
import {IModelRegistryV4} from "../interfaces/IModelRegistryV4.sol";
import {ITemplateRegistry} from "../interfaces/ITemplateRegistry.sol";
import {ITemplateVerifier} from "../interfaces/ITemplateVerifier.sol";
import {Types} from "../lib/Types.sol";
import {LibMerkle} from "../lib/LibMerkle.sol";
import {LibChunkDescent} from "../lib/LibChunkDescent.sol";
import {LibChunkDescentLinked} from "./lib/LibChunkDescentLinked.sol";
import {TypesV4} from "./lib/TypesV4.sol";
import {LibTraceV4} from "./lib/LibTraceV4.sol";
import "../lib/Errors.sol" as Errors;
import "./lib/ErrorsV4.sol" as E;

/// @title InferenceMarketV4
/// @notice The version-4 market (docs/protocol.md §10): responses carry only the output
///         commitment; the submitter commits its trace when a game opens (or voluntarily);
///         disputes run three levels — k-ary bisection over trace leaves L_i, the operator
///         inside the step (or a one-transaction assembly fault), the binary chunk descent —
///         and end at a leaf proven by one of the protocol's fixed template verifiers, with
///         public inputs the contract builds itself.
/// @dev Money is pull-based (`balances`, `withdraw`). Escrow at any time (tested as an
///      invariant): balance = Σ balances + Σ fees of Open/Responded requests + Σ bonds of
///      Pending responses + Σ bonds of InProgress games + burned. No function loops over
///      games or requests; loops are bounded by k − 1 ≤ 15, N ≤ 64, template inputs ≤ 64 and
///      Merkle depths ≤ 48.
contract InferenceMarketV4 is IInferenceMarketV4 {
    using LibChunkDescent for Types.ChunkDescent;

    /// @notice The model registry.
    IModelRegistryV4 public immutable REGISTRY;
    /// @notice The protocol's template verifiers (fixed at their deployment).
    ITemplateRegistry public immutable TEMPLATES;

    /// @dev Withdrawable balances, stored + 1 once an account's slot is opened (0: never
    ///      opened, balance 0). A credit to an opened slot is a warm non-zero write (2,900
    ///      gas) instead of a fresh one (20,000): the slots of a game's parties are opened when
    ///      they join a dispute (`challenge`, `commitTrace`), so the move that ends a game
    ///      writes no fresh slot (§10.10). `withdraw` leaves the slot opened.
    mapping(address account => uint256 amountPlusOne) internal _balances;
    /// @dev Wei burned so far, + 1 (set to 1 at deployment, so the first burn is no fresh write).
    uint256 internal _burnedPlusOne = 1;

    mapping(uint256 requestId => TypesV4.Request) internal _requests;
    mapping(uint256 responseId => TypesV4.Response) internal _responses;
    mapping(uint256 gameId => TypesV4.Game) internal _games;
    mapping(uint256 gameId => Types.ChunkDescent) internal _descents;

    uint256 internal _requestCount;
    uint256 internal _responseCount;
    uint256 internal _gameCount;

    /// @param registry  The version-4 model registry.
    /// @param templates The protocol's template registry.
    constructor(IModelRegistryV4 registry, ITemplateRegistry templates) {
        REGISTRY = registry;
        TEMPLATES = templates;
    }

    ////////////////////////////////////////////////////////////////
    //                   Requests and responses                   //
    ////////////////////////////////////////////////////////////////

    /// @notice Requests an inference of `modelId` on the input committed by S_0.
    /// @param modelId         A registered version-4 model.
    /// @param inputCommitment S_0, the keccak state root of the input (§10.1).
    /// @param inputCid        CID of the input.
    /// @return requestId The new request id (from 1).
    function requestInference(uint256 modelId, bytes32 inputCommitment, string calldata inputCid)
        external
        payable
        returns (uint256 requestId)
    {
        // INVARIANT: every request pays a fee.
        if (msg.value == 0) revert Errors.ZeroFee();
        TypesV4.ModelSpec memory spec = REGISTRY.getSpec(modelId);

        requestId = ++_requestCount;
        TypesV4.Request storage req = _requests[requestId];
        req.requester = msg.sender;
        req.openSince = uint64(block.timestamp);
        req.status = TypesV4.RequestStatus.Open;
        req.modelId = modelId;
        req.inputCommitment = inputCommitment;
        req.fee = msg.value;
        req.spec = spec;
        req.inputCid = inputCid;
        emit RequestCreated(requestId, modelId, msg.sender, inputCommitment, inputCid, msg.value);
    }

    /// @notice Posts a response: the output commitment S_n and its CID, bonded. No trace
    ///         (§10.3): the trace root comes with `commitTrace`, when a game needs it.
    /// @param requestId        An Open request.
    /// @param outputCommitment S_n.
    /// @param outputCid        CID of the output.
    function respond(uint256 requestId, bytes32 outputCommitment, string calldata outputCid) external payable {
        TypesV4.Request storage req = _requestIn(requestId, TypesV4.RequestStatus.Open);
        uint32 count = req.responseCount;
        // INVARIANT: a request takes at most MAX_RESPONSES responses (§10.9: squatting is capped).
        if (count >= TypesV4.MAX_RESPONSES) revert E.TooManyResponses(requestId, count);
        // INVARIANT: a re-opened request stays Open past the block that re-opened it, so its
        //            requester can always cancel between a disproof and the next response.
        if (count != 0 && block.timestamp <= req.openSince) revert E.RespondTooEarly(requestId, req.openSince);
        uint128 bond = req.spec.params.responseBond;
        // INVARIANT: the response is bonded with exactly responseBond.
        if (msg.value != bond) revert Errors.WrongBond(bond, msg.value);

        uint256 responseId = ++_responseCount;
        uint64 deadline = uint64(block.timestamp) + req.spec.params.challengeWindow;
        TypesV4.Response storage resp = _responses[responseId];
        resp.submitter = msg.sender;
        resp.challengeDeadline = deadline;
        resp.status = TypesV4.ResponseStatus.Pending;
        resp.bond = bond;
        resp.requestId = requestId;
        resp.outputCommitment = outputCommitment;
        resp.outputCid = outputCid;

        req.status = TypesV4.RequestStatus.Responded;
        req.responseId = responseId;
        req.responseCount = count + 1;
        emit ResponseSubmitted(requestId, responseId, msg.sender, outputCommitment, outputCid, deadline);
    }

    /// @notice The submitter commits its trace root over L_0..L_n, once per response: when a
    ///         game opens (its reveal waits on it, on the submitter's clock) or voluntarily
    ///         (then the one-shot disproofs are available against it).
    /// @param requestId The request whose pending response is the caller's.
    /// @param traceRoot LibMerkle root over L_0..L_n, non-zero.
    function commitTrace(uint256 requestId, bytes32 traceRoot) external {
        TypesV4.Request storage req = _requestIn(requestId, TypesV4.RequestStatus.Responded);
        uint256 responseId = req.responseId;
        TypesV4.Response storage resp = _responses[responseId];
        // INVARIANT: only the submitter binds its response to a trace (anyone else could bind
        //            it to a root nobody can open).
        if (msg.sender != resp.submitter) revert E.NotSubmitter(msg.sender, resp.submitter);
        // INVARIANT: one trace per response: every game and one-shot reads the same root.
        if (resp.traceRoot != bytes32(0)) revert E.TraceAlreadyCommitted(responseId, resp.traceRoot);
        if (traceRoot == bytes32(0)) revert E.ZeroTraceRoot();
        resp.traceRoot = traceRoot;
        // The submitter may now win games: its balance slot is opened here (see `_balances`).
        _openBalance(msg.sender);
        emit TraceCommitted(responseId, traceRoot);
    }

    /// @notice Accepts the response once its window passed with no game in progress: the
    ///         submitter is credited fee + bond.
    function finalize(uint256 requestId) external {
        TypesV4.Request storage req = _requestIn(requestId, TypesV4.RequestStatus.Responded);
        uint256 responseId = req.responseId;
        TypesV4.Response storage resp = _responses[responseId];
        // INVARIANT: the challenge window has passed.
        if (block.timestamp <= resp.challengeDeadline) {
            revert Errors.ChallengeWindowOpen(requestId, resp.challengeDeadline);
        }
        // INVARIANT: every game on the response was won by the submitter.
        if (resp.openGames != 0) revert Errors.GamesInProgress(responseId, resp.openGames);
        resp.status = TypesV4.ResponseStatus.Finalized;
        req.status = TypesV4.RequestStatus.Finalized;
        _credit(resp.submitter, req.fee + resp.bond);
        emit RequestFinalized(requestId, responseId, resp.outputCommitment);
    }

    /// @notice The requester takes its fee back from an Open request: at once if a response
    ///         was already disproven (§10.9), else after a whole challenge window un-responded.
    function cancelRequest(uint256 requestId) external {
        TypesV4.Request storage req = _requestIn(requestId, TypesV4.RequestStatus.Open);
        // INVARIANT: only the requester cancels.
        if (msg.sender != req.requester) revert Errors.NotRequester(msg.sender, req.requester);
        // INVARIANT: a request that had a response may be cancelled at once (so repeated
        //            responses can never hold the fee); a fresh one after challengeWindow.
        if (req.responseCount == 0) {
            uint64 notBefore = req.openSince + req.spec.params.challengeWindow;
            if (block.timestamp <= notBefore) revert Errors.CancelTooEarly(requestId, notBefore);
        }
        req.status = TypesV4.RequestStatus.Cancelled;
        _credit(req.requester, req.fee);
        emit RequestCancelled(requestId);
    }

    /// @notice Withdraws the caller's balance.
    function withdraw() external {
        uint256 amount = balances(msg.sender);
        if (amount == 0) revert Errors.NothingToWithdraw(msg.sender);
        _balances[msg.sender] = 1;
        emit Withdrawn(msg.sender, amount);
        (bool ok,) = msg.sender.call{value: amount}("");
        if (!ok) revert Errors.TransferFailed(msg.sender, amount);
    }

    ////////////////////////////////////////////////////////////////
    //              One-shot disproofs (committed trace)          //
    ////////////////////////////////////////////////////////////////

    /// @notice Disproves a response whose committed trace is not bound to its ends: L_0 must
    ///         be keccak256(S_0 ‖ 0), and L_n must open to the response's S_n.
    /// @param requestId   Request with a disputable response whose trace is committed.
    /// @param index       0 or n.
    /// @param state       S of the opened leaf.
    /// @param prevOutputs P_{index−1} of the opened leaf.
    /// @param proof       LibMerkle proof of L = keccak256(state ‖ prevOutputs) at `index`.
    function proveBindingFault(
        uint256 requestId,
        uint32 index,
        bytes32 state,
        bytes32 prevOutputs,
        bytes32[] calldata proof
    ) external {
        (TypesV4.Request storage req, TypesV4.Response storage resp) = _disputableResponse(requestId);
        uint32 n = req.spec.numSteps;
        // INVARIANT: only the ends of the trace are bound (to the input and the output).
        if (index != 0 && index != n) revert E.NotABindingIndexV4(index, n);
        _checkTraceOpening(resp.traceRoot, n, index, LibTraceV4.traceLeaf(state, prevOutputs), proof);
        // INVARIANT: the opened leaf differs from what it must be.
        bool fault =
            index == 0 ? (state != req.inputCommitment || prevOutputs != bytes32(0)) : state != resp.outputCommitment;
        if (!fault) revert E.TraceLeafIsBound(index);
        _disprove(req, resp, req.responseId, msg.sender, TypesV4.DisproofReason.BindingFault, 0);
    }

    /// @notice Disproves a response whose committed trace mis-assembles a state: slot `a.slot`
    ///         of S_{step+1} differs from the layout's source (S_step's slot, or P_step's entry).
    /// @param requestId  Request with a disputable response whose trace is committed.
    /// @param step       Step i < n.
    /// @param stateLo    S_i.
    /// @param prevOutputs P_{i−1} (0 at i = 0).
    /// @param loProof    Proof of L_i at i.
    /// @param stateHi    S_{i+1}.
    /// @param outputs    P_i.
    /// @param hiProof    Proof of L_{i+1} at i + 1.
    /// @param a          The slot, its layout leaf and both openings.
    function proveAssemblyFaultOneShot(
        uint256 requestId,
        uint32 step,
        bytes32 stateLo,
        bytes32 prevOutputs,
        bytes32[] calldata loProof,
        bytes32 stateHi,
        bytes32 outputs,
        bytes32[] calldata hiProof,
        TypesV4.AssemblyOpening calldata a
    ) external {
        (TypesV4.Request storage req, TypesV4.Response storage resp) = _disputableResponse(requestId);
        uint32 n = req.spec.numSteps;
        // INVARIANT: the step exists.
        if (step >= n) revert E.StepOutOfRangeV4(step, n);
        bytes32 root = resp.traceRoot;
        _checkTraceOpening(root, n, step, LibTraceV4.traceLeaf(stateLo, prevOutputs), loProof);
        _checkTraceOpening(root, n, step + 1, LibTraceV4.traceLeaf(stateHi, outputs), hiProof);
        _checkAssemblyFault(req.spec, step, stateLo, stateHi, outputs, a);
        _disprove(req, resp, req.responseId, msg.sender, TypesV4.DisproofReason.AssemblyFault, 0);
    }

    ////////////////////////////////////////////////////////////////
    //                    Games: creation, level 1                //
    ////////////////////////////////////////////////////////////////

    /// @notice Opens a game against the pending response, bonded with challengerBond.
    /// @param requestId     A Responded request within its challenge window.
    /// @param claimedOutput The challenger's S'_n (≠ S_n).
    /// @param traceRoot     The challenger's trace root over L'_0..L'_n (non-zero).
    /// @return gameId The new game id (from 1).
    function challenge(uint256 requestId, bytes32 claimedOutput, bytes32 traceRoot)
        external
        payable
        returns (uint256 gameId)
    {
        TypesV4.Request storage req = _requestIn(requestId, TypesV4.RequestStatus.Responded);
        uint256 responseId = req.responseId;
        TypesV4.Response storage resp = _responses[responseId];
        // INVARIANT: challenges only within the window.
        if (block.timestamp > resp.challengeDeadline) {
            revert Errors.ChallengeWindowClosed(requestId, resp.challengeDeadline);
        }
        uint128 bond = req.spec.params.challengerBond;
        // INVARIANT: the challenge is bonded with exactly challengerBond.
        if (msg.value != bond) revert Errors.WrongBond(bond, msg.value);
        // INVARIANT: the claim disagrees with the response (G1 at hi = n).
        if (claimedOutput == resp.outputCommitment) revert Errors.ClaimMatchesResponse(claimedOutput);
        if (traceRoot == bytes32(0)) revert E.ZeroTraceRoot();

        uint32 n = req.spec.numSteps;
        uint64 clock = req.spec.params.clockPerSide;
        gameId = ++_gameCount;
        TypesV4.Game storage g = _games[gameId];
        g.challenger = msg.sender;
        g.hi = n;
        g.phase = n == 1 ? TypesV4.Phase.SubmitterOpenStep : TypesV4.Phase.SubmitterReveal;
        g.submitterClock = clock;
        g.challengerClock = clock;
        g.turnStartedAt = uint64(block.timestamp);
        g.bond = bond;
        g.responseId = responseId;
        g.challengerTrace = traceRoot;
        g.claimedOutput = claimedOutput;
        // G1 at lo = 0: the agreed leaf is the truth's L_0, not either side's.
        g.agreedLo = LibTraceV4.traceLeaf(req.inputCommitment, bytes32(0));
        ++resp.openGames;
        // The challenger is paid when the game ends: its balance slot is opened here.
        _openBalance(msg.sender);
        emit GameCreated(gameId, requestId, responseId, msg.sender, claimedOutput, traceRoot);
    }

    /// @notice Level 1: the submitter's trace leaves at the split points, opened from its
    ///         committed trace root (which must be committed by now: its clock runs).
    function submitterReveal(uint256 gameId, bytes32[] calldata leaves, bytes32[][] calldata proofs) external {
        (TypesV4.Game storage g, TypesV4.Request storage req, TypesV4.Response storage resp) = _activeGame(gameId);
        _checkPhase(g, gameId, TypesV4.Phase.SubmitterReveal);
        uint64 elapsed = _elapsedWithin(g, gameId, g.submitterClock);
        bytes32 root = _committedTrace(resp, g.responseId);
        uint32[] memory points = _splitPoints(g.lo, g.hi, req.spec.params.arity);
        _checkReveal(root, req.spec.numSteps, points, leaves, proofs);

        g.submitterClock -= elapsed;
        g.turnStartedAt = uint64(block.timestamp);
        g.phase = TypesV4.Phase.ChallengerReveal;
        g.revealHash = keccak256(abi.encodePacked(leaves));
        emit SubmitterRevealed(gameId, g.round, points, leaves);
    }

    /// @notice Level 1: the challenger's leaves at the same points; the game narrows to the
    ///         first adjacent pair agreed at its lo and disagreed at its hi (§4 on L values).
    function challengerReveal(
        uint256 gameId,
        bytes32[] calldata submitterLeaves,
        bytes32[] calldata leaves,
        bytes32[][] calldata proofs
    ) external {
        (TypesV4.Game storage g, TypesV4.Request storage req,) = _activeGame(gameId);
        _checkPhase(g, gameId, TypesV4.Phase.ChallengerReveal);
        uint64 elapsed = _elapsedWithin(g, gameId, g.challengerClock);
        // INVARIANT: the submitter's leaves are exactly the ones it revealed.
        bytes32 got = keccak256(abi.encodePacked(submitterLeaves));
        if (got != g.revealHash) revert Errors.RevealMismatch(g.revealHash, got);
        uint32[] memory points = _splitPoints(g.lo, g.hi, req.spec.params.arity);
        _checkReveal(g.challengerTrace, req.spec.numSteps, points, leaves, proofs);

        // Narrow: with p_0 = lo (agreed) and p_{m+1} = hi (disagreed), the first j whose
        // leaves differ gives (p_{j-1}, p_j).
        uint256 m = points.length;
        uint256 j;
        while (j < m && submitterLeaves[j] == leaves[j]) ++j;
        if (j > 0) {
            g.lo = points[j - 1];
            g.agreedLo = leaves[j - 1];
        }
        // The sides' L_hi are not stored (nothing reads them on chain; this event carries
        // them), and revealHash stays as it is (it is compared only in the phase right after
        // its write): no fresh slot is written here (§10.10).
        if (j < m) g.hi = points[j];
        g.challengerClock -= elapsed;
        g.turnStartedAt = uint64(block.timestamp);
        uint32 round = g.round++;
        // INVARIANT: hi − lo strictly shrinks; at 1 the game enters level 2.
        g.phase = g.hi - g.lo == 1 ? TypesV4.Phase.SubmitterOpenStep : TypesV4.Phase.SubmitterReveal;
        emit ChallengerRevealed(gameId, round, leaves, g.lo, g.hi);
    }

    ////////////////////////////////////////////////////////////////
    //                     Level 2: the operator                  //
    ////////////////////////////////////////////////////////////////

    /// @notice Level 2: opens the agreed L_lo into (S_lo, P_{lo−1}) and the submitter's L_hi
    ///         into (S_hi, P_lo), S_hi given by its W slot values (so that any slot of it can be
    ///         opened by anyone: an assembly fault is then always provable). At hi = n, an S_hi
    ///         other than the response's S_n loses.
    /// @param stateLo      S_lo.
    /// @param outputsBefore P_{lo−1} (0 at lo = 0).
    /// @param stateHiSlots The submitter's S_hi: its W tensor commitments, slot by slot.
    /// @param outputs      The submitter's P_lo.
    /// @param proof        Proof of keccak256(S_hi ‖ outputs) at hi of the submitter's trace.
    function submitterOpenStep(
        uint256 gameId,
        bytes32 stateLo,
        bytes32 outputsBefore,
        uint256[] calldata stateHiSlots,
        bytes32 outputs,
        bytes32[] calldata proof
    ) external {
        (TypesV4.Game storage g, TypesV4.Request storage req, TypesV4.Response storage resp) = _activeGame(gameId);
        _checkPhase(g, gameId, TypesV4.Phase.SubmitterOpenStep);
        uint64 elapsed = _elapsedWithin(g, gameId, g.submitterClock);
        bytes32 stateHi = _stateRoot(req.spec.stateSlots, stateHiSlots);
        bytes32 root = _committedTrace(resp, g.responseId);
        // INVARIANT: G1: S_lo is the preimage of the agreed L_lo (at lo = 0: S_0 and P = 0).
        bytes32 lo = LibTraceV4.traceLeaf(stateLo, outputsBefore);
        if (lo != g.agreedLo) revert E.NotTheAgreedLeaf(g.agreedLo, lo);
        uint32 hi = g.hi;
        _checkTraceOpening(root, req.spec.numSteps, hi, LibTraceV4.traceLeaf(stateHi, outputs), proof);

        g.submitterClock -= elapsed;
        g.turnStartedAt = uint64(block.timestamp);
        // L_lo is opened: its slot holds S_lo from now on (no fresh slot, §10.10).
        g.agreedLo = stateLo;
        g.submitterStateHi = stateHi;
        g.submitterOutputs = outputs;
        emit StepOpened(gameId, Types.Side.Submitter, stateHi, outputs, stateHiSlots);
        // INVARIANT: binding at hi = n: the submitter's trace ends in its response's S_n.
        if (hi == req.spec.numSteps && stateHi != resp.outputCommitment) {
            _resolveGame(g, req, resp, gameId, TypesV4.GameStatus.ChallengerWon);
            return;
        }
        g.phase = TypesV4.Phase.ChallengerOpenStep;
    }

    /// @notice Level 2: opens the challenger's L_hi into (S_hi, P_lo), S_hi by its W slot
    ///         values (as `submitterOpenStep`). At hi = n, an S_hi other than its claimed output
    ///         loses.
    function challengerOpenStep(
        uint256 gameId,
        uint256[] calldata stateHiSlots,
        bytes32 outputs,
        bytes32[] calldata proof
    ) external {
        (TypesV4.Game storage g, TypesV4.Request storage req, TypesV4.Response storage resp) = _activeGame(gameId);
        _checkPhase(g, gameId, TypesV4.Phase.ChallengerOpenStep);
        uint64 elapsed = _elapsedWithin(g, gameId, g.challengerClock);
        bytes32 stateHi = _stateRoot(req.spec.stateSlots, stateHiSlots);
        uint32 hi = g.hi;
        _checkTraceOpening(g.challengerTrace, req.spec.numSteps, hi, LibTraceV4.traceLeaf(stateHi, outputs), proof);

        g.challengerClock -= elapsed;
        g.turnStartedAt = uint64(block.timestamp);
        // The challenger's root is no longer read: its slot holds its S_hi (no fresh slot).
        g.challengerTrace = stateHi;
        g.challengerOutputs = outputs;
        // Staging (see `startDescent`): the descent's clocks, in its still uninitialised slot 0.
        uint64 clock = req.spec.params.clockPerSide;
        Types.ChunkDescent storage d = _descents[gameId];
        d.submitterClock = clock;
        d.challengerClock = clock;
        emit StepOpened(gameId, Types.Side.Challenger, stateHi, outputs, stateHiSlots);
        // INVARIANT: binding at hi = n: the challenger's trace ends in its claimed output.
        if (hi == req.spec.numSteps && stateHi != g.claimedOutput) {
            _resolveGame(g, req, resp, gameId, TypesV4.GameStatus.SubmitterWon);
            return;
        }
        g.phase = TypesV4.Phase.SubmitterOps;
    }

    /// @notice Level 2: the submitter's N entries of P_lo (each a C < r).
    function submitterOps(uint256 gameId, uint256[] calldata outputs) external {
        (TypesV4.Game storage g, TypesV4.Request storage req,) = _activeGame(gameId);
        _checkPhase(g, gameId, TypesV4.Phase.SubmitterOps);
        uint64 elapsed = _elapsedWithin(g, gameId, g.submitterClock);
        _checkOutputs(req.spec.opsPerStep, g.submitterOutputs, outputs);

        g.submitterClock -= elapsed;
        g.turnStartedAt = uint64(block.timestamp);
        g.revealHash = keccak256(abi.encodePacked(outputs));
        g.phase = TypesV4.Phase.ChallengerOps;
        // Staging (see `startDescent`): the descent's proving window, in its slot 1, and a
        // placeholder 1 in its outputHeader slot (the header is leaf_o's, known at startDescent).
        Types.ChunkDescent storage d = _descents[gameId];
        d.provingWindow = req.spec.params.provingWindow;
        d.outputHeader = 1;
        emit OutputsRevealed(gameId, Types.Side.Submitter, outputs);
    }

    /// @notice Level 2: the challenger's N entries of P_lo. The first differing entry o starts
    ///         level 3; if none differs, the sides' S_hi differ over the same P_lo, so one of
    ///         them mis-assembled: the game waits for an assembly-fault proof.
    function challengerOps(uint256 gameId, uint256[] calldata submitterOutputs, uint256[] calldata outputs) external {
        (TypesV4.Game storage g, TypesV4.Request storage req,) = _activeGame(gameId);
        _checkPhase(g, gameId, TypesV4.Phase.ChallengerOps);
        uint64 elapsed = _elapsedWithin(g, gameId, g.challengerClock);
        // INVARIANT: the submitter's entries are exactly the ones it revealed.
        bytes32 got = keccak256(abi.encodePacked(submitterOutputs));
        if (got != g.revealHash) revert Errors.RevealMismatch(g.revealHash, got);
        _checkOutputs(req.spec.opsPerStep, g.challengerOutputs, outputs);

        g.challengerClock -= elapsed;
        g.turnStartedAt = uint64(block.timestamp);
        emit OutputsRevealed(gameId, Types.Side.Challenger, outputs);
        uint256 o;
        uint256 count = outputs.length;
        while (o < count && submitterOutputs[o] == outputs[o]) ++o;
        if (o == count) {
            // INVARIANT: equal P_lo and different L_hi mean different S_hi; assembly is a
            //            function of (S_lo, P_lo), so at least one side has a provable fault.
            uint64 deadline = uint64(block.timestamp) + req.spec.params.provingWindow;
            g.deadline = deadline;
            g.phase = TypesV4.Phase.AssemblyProving;
            emit AssemblyProvingStarted(gameId, deadline);
            return;
        }
        // INVARIANT: every input of o is agreed: a slot of S_lo or an entry of P_lo before o.
        g.opPosition = uint32(o);
        g.phase = TypesV4.Phase.DescentStart;
        // Staging (see `startDescent`): the two C(Y_o), in the descent's own slots.
        Types.ChunkDescent storage d = _descents[gameId];
        d.submitterCommitment = submitterOutputs[o];
        d.challengerCommitment = outputs[o];
        emit OperatorFound(gameId, uint32(o), submitterOutputs[o], outputs[o]);
    }

    /// @notice Proves that `side`'s S_hi mis-assembles slot `a.slot`: `side` loses at once.
    ///         Valid from the moment both sides opened their step (level 2) to the game's end.
    function proveAssemblyFault(uint256 gameId, Types.Side side, TypesV4.AssemblyOpening calldata a) external {
        (TypesV4.Game storage g, TypesV4.Request storage req, TypesV4.Response storage resp) = _activeGame(gameId);
        TypesV4.Phase phase = g.phase;
        // INVARIANT: both sides' (S_hi, P_lo) are open.
        if (phase < TypesV4.Phase.SubmitterOps) revert E.AssemblyNotOpen(gameId, phase);
        // INVARIANT: a proven leaf decided the game (`finishGame` applies it): nothing else ends it.
        if (phase == TypesV4.Phase.Descent && _descents[gameId].phase == Types.DescentPhase.Resolved) {
            revert E.LeafAlreadyProven(gameId);
        }
        bool bySubmitter = side == Types.Side.Submitter;
        _checkAssemblyFault(
            req.spec,
            g.lo,
            g.agreedLo,
            bySubmitter ? g.submitterStateHi : g.challengerTrace,
            bySubmitter ? g.submitterOutputs : g.challengerOutputs,
            a
        );
        emit AssemblyFaultProven(gameId, side, a.slot);
        _resolveGame(
            g, req, resp, gameId, bySubmitter ? TypesV4.GameStatus.ChallengerWon : TypesV4.GameStatus.SubmitterWon
        );
    }

    ////////////////////////////////////////////////////////////////
    //                   Level 3: the chunk descent               //
    ////////////////////////////////////////////////////////////////

    /// @notice Level 3: fixes leaf_o of the disputed operator (anyone may post it; the
    ///         submitter's clock runs) and starts the chunk descent. A malformed leaf (an
    ///         unregistered template, a value >= r, no chunk, a bad input source, too many
    ///         public inputs) voids the game: a defective model slashes nobody (§10.8).
    ///         Otherwise the hash of the leaf statement — the template's verifier and gas
    ///         budget, leaf_o's input sources and params (`TypesV4.LeafStatement`) — is stored,
    ///         so that `resolveLeaf` checks the statement against it instead of opening leaf_o
    ///         from the model root and looking the template up again (§10.10).
    /// @dev Storage staging: `LibChunkDescent.init` writes five fresh slots (≈ 110k gas). The
    ///      level-2 moves already wrote the values it re-writes unchanged — the clocks
    ///      (`challengerOpenStep`), the proving window and a placeholder header
    ///      (`submitterOps`) and the two commitments (`challengerOps`) — while the descent's
    ///      phase stays None, so `init` finds non-zero slots; the statement hash goes to the
    ///      spent `revealHash` slot (non-zero since `submitterOps`). Every move stays under the
    ///      120k target (§10.10).
    /// @param leaf       leaf_o.
    /// @param modelProof LibMerkle proof of leaf_o at lo·N + o of the model tree.
    function startDescent(uint256 gameId, TypesV4.OperatorLeaf calldata leaf, bytes32[] calldata modelProof) external {
        (TypesV4.Game storage g, TypesV4.Request storage req, TypesV4.Response storage resp) = _activeGame(gameId);
        _checkPhase(g, gameId, TypesV4.Phase.DescentStart);
        uint64 elapsed = _elapsedWithin(g, gameId, g.submitterClock);
        TypesV4.ModelSpec storage spec = req.spec;
        uint32 position = g.opPosition;
        _checkOperatorLeaf(spec, g, leaf, modelProof);

        g.submitterClock -= elapsed;
        g.turnStartedAt = uint64(block.timestamp);
        (address verifier, uint64 gasLimit) = TEMPLATES.templateOf(leaf.templateId);
        if (verifier == address(0) || !_wellFormed(leaf, spec.stateSlots, position)) {
            _void(g, req, resp, gameId);
            return;
        }
        // INVARIANT: the leaf statement is fixed from leaf_o (opened from the model root) and
        //            the registry's entry for its template; `resolveLeaf` accepts only it.
        g.revealHash = keccak256(abi.encode(TypesV4.LeafStatement(verifier, gasLimit, leaf.inputSources, leaf.params)));
        g.phase = TypesV4.Phase.Descent;
        Types.ChunkDescent storage d = _descents[gameId];
        LibChunkDescentLinked.init(
            d,
            leaf.outputHeader,
            leaf.outputChunks,
            d.submitterCommitment,
            d.challengerCommitment,
            spec.params.clockPerSide,
            spec.params.provingWindow,
            uint64(block.timestamp)
        );
        emit DescentBegan(gameId, uint256(g.lo) * spec.opsPerStep + position, leaf.templateId);
    }

    /// @notice Level 3: `side` opens its C(Y_o) into (header, root) (`LibChunkDescent.openRoot`).
    function descentOpenRoot(uint256 gameId, Types.Side side, uint256 header, uint256 root) external {
        (TypesV4.Game storage g, TypesV4.Request storage req, TypesV4.Response storage resp) = _activeGame(gameId);
        _checkPhase(g, gameId, TypesV4.Phase.Descent);
        Types.GameStatus s =
            LibChunkDescentLinked.openRoot(_descents[gameId], side, header, root, uint64(block.timestamp));
        emit DescentMoved(gameId, side);
        _afterDescent(g, req, resp, gameId, s);
    }

    /// @notice Level 3: `side` reveals the children of its current node
    ///         (`LibChunkDescent.revealChildren`).
    function descentReveal(uint256 gameId, Types.Side side, uint256 left, uint256 right) external {
        (TypesV4.Game storage g, TypesV4.Request storage req, TypesV4.Response storage resp) = _activeGame(gameId);
        _checkPhase(g, gameId, TypesV4.Phase.Descent);
        Types.GameStatus s =
            LibChunkDescentLinked.revealChildren(_descents[gameId], side, left, right, uint64(block.timestamp));
        emit DescentMoved(gameId, side);
        _afterDescent(g, req, resp, gameId, s);
    }

    /// @notice The leaf: proves chunk j of the disputed output with leaf_o's template and so
    ///         decides the game; `finishGame` then applies the outcome (the money, the
    ///         response's status) in a transaction of its own (§10.10). The statement `s` must be
    ///         the one `startDescent` fixed (its hash); the contract builds the public inputs
    ///         `[C(X_1) … C(X_r), j, params…, d]` itself — inputs opened from the agreed S_lo /
    ///         P_lo by the statement's sources (a constant's inline C), j from the descent, d the
    ///         digest of the side named by `forChallenger` — and calls the template's verifier
    ///         with its registered gas budget. Truth-based (§4): only the side whose digest is
    ///         true can be named successfully. `InvalidProof` reverts; a verifier failure (no
    ///         code, any other revert, out of gas within the budget) voids the game at once
    ///         (§10.8).
    /// @param s             The leaf statement fixed at `startDescent`: the template's verifier
    ///                      and gas budget (`TemplateRegistry.templateOf(leaf_o.templateId)`)
    ///                      and leaf_o's input sources and params.
    /// @param inputs        C(X_k) for each input source, in order (ignored for a constant).
    /// @param inputProofs   LibMerkle proof of each from S_lo (slot) or P_lo (entry); any
    ///                      (e.g. empty) for a constant source.
    /// @param proof         The template proof.
    /// @param forChallenger Whose digest the proof shows.
    function resolveLeaf(
        uint256 gameId,
        TypesV4.LeafStatement calldata s,
        uint256[] calldata inputs,
        bytes32[][] calldata inputProofs,
        bytes calldata proof,
        bool forChallenger
    ) external {
        (TypesV4.Game storage g, TypesV4.Request storage req, TypesV4.Response storage resp) = _activeGame(gameId);
        _checkPhase(g, gameId, TypesV4.Phase.Descent);
        Types.ChunkDescent storage d = _descents[gameId];
        Types.DescentPhase dPhase = d.phase;
        if (dPhase != Types.DescentPhase.Proving) revert Errors.WrongDescentPhase(Types.DescentPhase.Proving, dPhase);
        // INVARIANT: proofs only within the proving window.
        if (block.timestamp > d.provingDeadline) revert Errors.DescentProvingWindowClosed(d.provingDeadline);
        // INVARIANT: the statement is the one fixed from leaf_o at startDescent.
        bytes32 expected = g.revealHash;
        bytes32 got = keccak256(abi.encode(s));
        if (got != expected) revert E.LeafStatementMismatch(expected, got);
        // Only the named side's digest is read (the descent ended at two different digests).
        uint256[] memory pub = _publicInputs(
            g, req.spec, s, inputs, inputProofs, d.position, forChallenger ? d.challengerNode : d.submitterNode
        );

        address verifier = s.verifier;
        uint64 gasLimit = s.gasLimit;
        if (verifier.code.length == 0) {
            _void(g, req, resp, gameId);
            return;
        }
        // INVARIANT: the verifier gets its whole budget, so running out of gas is its failure,
        //            never the caller's choice (63/64 of the gas left is forwarded).
        uint256 needed = uint256(gasLimit) * 64 / 63 + TypesV4.VERIFIER_CALL_RESERVE;
        if (gasleft() < needed) revert E.InsufficientVerifierGas(needed, gasleft());
        (bool ok, bytes memory ret) =
            verifier.staticcall{gas: gasLimit}(abi.encodeCall(ITemplateVerifier.verifyProof, (proof, pub)));
        if (!ok) {
            // INVARIANT: only `InvalidProof()` means "no such proof"; the call reverts and the
            //            game goes on.
            if (ret.length == 4 && bytes4(ret) == Errors.InvalidProof.selector) revert Errors.InvalidProof();
            _void(g, req, resp, gameId);
            return;
        }
        // INVARIANT: the proven side's outcome is final from here: the descent is Resolved, so
        //            no timeout, assembly proof or other leaf can end the game otherwise;
        //            `finishGame` (anyone) applies exactly this outcome.
        // Inline (not through LibChunkDescentLinked): the leaf saves the library's cold account.
        d.resolveProven(forChallenger, uint64(block.timestamp));
        // INVARIANT: the first leaf proven for a challenger holds the response for its game:
        //            no one-shot, other game (a later proven one included) or void can
        //            disprove it before `finishGame` pays that challenger (§10.9).
        if (forChallenger && resp.decidedGame == 0) resp.decidedGame = uint64(gameId);
        emit DescentMoved(gameId, forChallenger ? Types.Side.Challenger : Types.Side.Submitter);
    }

    /// @notice Applies the outcome `resolveLeaf` decided (the descent is Resolved, the game
    ///         still in progress): the money moves and the response is disproven if the
    ///         challenger won, as for any game end (§10.9). Anyone may call; the winner has the
    ///         reason to. Until then the response cannot finalise (the game is open).
    function finishGame(uint256 gameId) external {
        (TypesV4.Game storage g, TypesV4.Request storage req, TypesV4.Response storage resp) = _activeGame(gameId);
        _checkPhase(g, gameId, TypesV4.Phase.Descent);
        Types.ChunkDescent storage d = _descents[gameId];
        Types.DescentPhase dPhase = d.phase;
        // INVARIANT: only a proven leaf leaves a decided descent in a running game.
        if (dPhase != Types.DescentPhase.Resolved) {
            revert Errors.WrongDescentPhase(Types.DescentPhase.Resolved, dPhase);
        }
        _resolveGame(g, req, resp, gameId, TypesV4.GameStatus(uint8(d.status)));
    }

    ////////////////////////////////////////////////////////////////
    //                   Timeouts and cancellation                //
    ////////////////////////////////////////////////////////////////

    /// @notice Ends a game whose side to move ran out of clock (it loses) or whose proving
    ///         window (assembly, or the leaf) passed with no proof (BothLost).
    function claimTimeout(uint256 gameId) external {
        (TypesV4.Game storage g, TypesV4.Request storage req, TypesV4.Response storage resp) = _activeGame(gameId);
        TypesV4.Phase phase = g.phase;
        if (phase == TypesV4.Phase.Descent) {
            _afterDescent(
                g, req, resp, gameId, LibChunkDescentLinked.timeout(_descents[gameId], uint64(block.timestamp))
            );
            return;
        }
        uint64 deadline = _turnDeadline(g, gameId);
        // INVARIANT: the side to move (or the assembly proving window) ran out of time.
        if (block.timestamp <= deadline) revert Errors.NoTimeout(gameId, deadline);
        TypesV4.GameStatus outcome;
        if (phase == TypesV4.Phase.AssemblyProving) outcome = TypesV4.GameStatus.BothLost;
        else if (_submitterMoves(phase)) outcome = TypesV4.GameStatus.ChallengerWon;
        else outcome = TypesV4.GameStatus.SubmitterWon;
        _resolveGame(g, req, resp, gameId, outcome);
    }

    /// @notice Refunds the bond of a game whose response is over (disproven or voided by
    ///         something else). Lazy: anyone may call. A game whose leaf was already proven for
    ///         the submitter (`resolveLeaf`, not yet `finishGame`d) pays the submitter instead,
    ///         as it would have; one proven for the challenger refunds it (the response's bond
    ///         was already shared out by the disproof that ended it).
    function cancelGame(uint256 gameId) external {
        TypesV4.Game storage g = _existingGame(gameId);
        if (g.status != TypesV4.GameStatus.InProgress) revert E.GameOver(gameId, g.status);
        TypesV4.Response storage resp = _responses[g.responseId];
        // INVARIANT: only games whose response is already over are cancelled.
        if (resp.status == TypesV4.ResponseStatus.Pending) revert E.ResponseStillPending(g.responseId);
        if (g.phase == TypesV4.Phase.Descent) {
            Types.ChunkDescent storage d = _descents[gameId];
            if (d.phase == Types.DescentPhase.Resolved && d.status == Types.GameStatus.SubmitterWon) {
                // INVARIANT: a leaf proven for the submitter pays it, whatever ended the response.
                g.status = TypesV4.GameStatus.SubmitterWon;
                g.phase = TypesV4.Phase.Resolved;
                _credit(resp.submitter, g.bond);
                emit GameResolved(gameId, resp.requestId, TypesV4.GameStatus.SubmitterWon);
                return;
            }
        }
        g.status = TypesV4.GameStatus.Cancelled;
        g.phase = TypesV4.Phase.Resolved;
        _credit(g.challenger, g.bond);
        emit GameResolved(gameId, resp.requestId, TypesV4.GameStatus.Cancelled);
    }

    ////////////////////////////////////////////////////////////////
    //                            Views                           //
    ////////////////////////////////////////////////////////////////

    /// @inheritdoc IInferenceMarketV4
    function balances(address account) public view returns (uint256) {
        uint256 raw = _balances[account];
        return raw == 0 ? 0 : raw - 1;
    }

    /// @inheritdoc IInferenceMarketV4
    function burned() external view returns (uint256) {
        return _burnedPlusOne - 1;
    }

    /// @inheritdoc IInferenceMarketV4
    function isFinal(uint256 requestId) public view returns (bool) {
        TypesV4.Request storage req = _requests[requestId];
        if (req.status == TypesV4.RequestStatus.Finalized) return true;
        if (req.status != TypesV4.RequestStatus.Responded) return false;
        TypesV4.Response storage resp = _responses[req.responseId];
        return block.timestamp > resp.challengeDeadline && resp.openGames == 0;
    }

    /// @inheritdoc IInferenceMarketV4
    function result(uint256 requestId) external view returns (bytes32 outputCommitment, string memory outputCid) {
        if (!isFinal(requestId)) {
            revert Errors.WrongRequestStatus(
                requestId, Types.RequestStatus.Finalized, Types.RequestStatus(uint8(_requests[requestId].status))
            );
        }
        TypesV4.Response storage resp = _responses[_requests[requestId].responseId];
        return (resp.outputCommitment, resp.outputCid);
    }

    /// @inheritdoc IInferenceMarketV4
    function getRequest(uint256 requestId) external view returns (TypesV4.Request memory) {
        return _requests[requestId];
    }

    /// @inheritdoc IInferenceMarketV4
    function getResponse(uint256 responseId) external view returns (TypesV4.Response memory) {
        return _responses[responseId];
    }

    /// @inheritdoc IInferenceMarketV4
    function getGame(uint256 gameId) external view returns (TypesV4.Game memory) {
        return _games[gameId];
    }

    /// @inheritdoc IInferenceMarketV4
    function getDescent(uint256 gameId) external view returns (Types.ChunkDescent memory) {
        return _descents[gameId];
    }

    /// @inheritdoc IInferenceMarketV4
    function splitPoints(uint256 gameId) external view returns (uint32[] memory points) {
        TypesV4.Game storage g = _existingGame(gameId);
        if (g.phase == TypesV4.Phase.SubmitterReveal || g.phase == TypesV4.Phase.ChallengerReveal) {
            points = _splitPoints(g.lo, g.hi, _requests[_responses[g.responseId].requestId].spec.params.arity);
        }
    }

    /// @inheritdoc IInferenceMarketV4
    function turnDeadline(uint256 gameId) external view returns (uint64) {
        TypesV4.Game storage g = _existingGame(gameId);
        if (g.phase == TypesV4.Phase.Resolved) return 0;
        return _turnDeadline(g, gameId);
    }

    /// @inheritdoc IInferenceMarketV4
    function counts() external view returns (uint256 requests, uint256 responses, uint256 games) {
        return (_requestCount, _responseCount, _gameCount);
    }

    ////////////////////////////////////////////////////////////////
    //                          Internals                         //
    ////////////////////////////////////////////////////////////////

    /// @dev Split points of (lo, hi) for arity k (§4): p_j = lo + ⌊(hi − lo)·j/k⌋, j = 1..k−1,
    ///      without duplicates or endpoints; lo+1 .. hi−1 when hi − lo <= k.
    function _splitPoints(uint32 lo, uint32 hi, uint32 k) internal pure returns (uint32[] memory points) {
        uint256 d = hi - lo;
        if (d <= k) {
            points = new uint32[](d - 1);
            for (uint256 j = 1; j < d; ++j) {
                points[j - 1] = uint32(lo + j);
            }
        } else {
            points = new uint32[](k - 1);
            for (uint256 j = 1; j < k; ++j) {
                points[j - 1] = uint32(lo + (d * j) / k);
            }
        }
    }

    /// @dev Loads a request and checks its status.
    function _requestIn(uint256 requestId, TypesV4.RequestStatus expected)
        internal
        view
        returns (TypesV4.Request storage req)
    {
        req = _requests[requestId];
        if (req.status == TypesV4.RequestStatus.None) revert Errors.UnknownRequest(requestId);
        if (req.status != expected) {
            revert Errors.WrongRequestStatus(
                requestId, Types.RequestStatus(uint8(expected)), Types.RequestStatus(uint8(req.status))
            );
        }
    }

    /// @dev The request's pending response, if it can still be disproven (within its window,
    ///      or after it while games keep it open) and its trace is committed.
    function _disputableResponse(uint256 requestId)
        internal
        view
        returns (TypesV4.Request storage req, TypesV4.Response storage resp)
    {
        req = _requestIn(requestId, TypesV4.RequestStatus.Responded);
        resp = _responses[req.responseId];
        if (block.timestamp > resp.challengeDeadline && resp.openGames == 0) {
            revert Errors.ChallengeWindowClosed(requestId, resp.challengeDeadline);
        }
        _checkNotHeld(resp, req.responseId, 0);
        _committedTrace(resp, req.responseId);
    }

    /// @dev The response's trace root; reverts TraceNotCommitted while it is 0.
    function _committedTrace(TypesV4.Response storage resp, uint256 responseId) internal view returns (bytes32 root) {
        root = resp.traceRoot;
        // INVARIANT: the submitter's openings come from the root it committed.
        if (root == bytes32(0)) revert E.TraceNotCommitted(responseId);
    }

    /// @dev Loads an existing game.
    function _existingGame(uint256 gameId) internal view returns (TypesV4.Game storage g) {
        g = _games[gameId];
        if (g.challenger == address(0)) revert Errors.UnknownGame(gameId);
    }

    /// @dev Loads a game in progress on a pending response, with its request and response.
    function _activeGame(uint256 gameId)
        internal
        view
        returns (TypesV4.Game storage g, TypesV4.Request storage req, TypesV4.Response storage resp)
    {
        g = _existingGame(gameId);
        if (g.status != TypesV4.GameStatus.InProgress) revert E.GameOver(gameId, g.status);
        resp = _responses[g.responseId];
        if (resp.status != TypesV4.ResponseStatus.Pending) revert E.ResponseNotPendingV4(g.responseId, resp.status);
        req = _requests[resp.requestId];
    }

    /// @dev Reverts unless the game is in `expected` phase.
    function _checkPhase(TypesV4.Game storage g, uint256 gameId, TypesV4.Phase expected) internal view {
        if (g.phase != expected) revert E.WrongGamePhase(gameId, expected, g.phase);
    }

    /// @dev Seconds of the current turn; reverts ClockExpired beyond `clock`.
    function _elapsedWithin(TypesV4.Game storage g, uint256 gameId, uint64 clock)
        internal
        view
        returns (uint64 elapsed)
    {
        uint64 start = g.turnStartedAt;
        elapsed = uint64(block.timestamp) - start;
        // INVARIANT: a move is accepted iff the time since its turn began fits the mover's clock.
        if (elapsed > clock) revert Errors.ClockExpired(gameId, start + clock);
    }

    /// @dev Whether the submitter is the side to move in a level-1/2 phase.
    function _submitterMoves(TypesV4.Phase phase) internal pure returns (bool) {
        return phase == TypesV4.Phase.SubmitterReveal || phase == TypesV4.Phase.SubmitterOpenStep
            || phase == TypesV4.Phase.SubmitterOps || phase == TypesV4.Phase.DescentStart;
    }

    /// @dev Last timestamp the side to move (or the prover, in AssemblyProving and level 3's
    ///      Proving) may act.
    function _turnDeadline(TypesV4.Game storage g, uint256 gameId) internal view returns (uint64) {
        TypesV4.Phase phase = g.phase;
        if (phase == TypesV4.Phase.Descent) return _descents[gameId].turnDeadline();
        if (phase == TypesV4.Phase.AssemblyProving) return g.deadline;
        return g.turnStartedAt + (_submitterMoves(phase) ? g.submitterClock : g.challengerClock);
    }

    /// @dev Checks one revealed trace leaf per point against `root`.
    function _checkReveal(
        bytes32 root,
        uint32 numSteps,
        uint32[] memory points,
        bytes32[] calldata leaves,
        bytes32[][] calldata proofs
    ) internal pure {
        uint256 m = points.length;
        if (leaves.length != m) revert Errors.WrongStateCount(m, leaves.length);
        if (proofs.length != m) revert Errors.WrongStateCount(m, proofs.length);
        uint256 depth = LibMerkle.depthFor(uint256(numSteps) + 1);
        for (uint256 j; j < m; ++j) {
            // INVARIANT: G2: every leaf entering the game opens from the mover's trace root.
            if (!LibMerkle.verify(root, LibMerkle.leafState(leaves[j]), points[j], proofs[j], depth)) {
                revert Errors.InvalidTraceProof(points[j], leaves[j]);
            }
        }
    }

    /// @dev Reverts unless trace leaf `leaf` opens at `index` of the (n + 1)-leaf trace tree `root`.
    function _checkTraceOpening(bytes32 root, uint32 n, uint32 index, bytes32 leaf, bytes32[] calldata proof)
        internal
        pure
    {
        // INVARIANT: G2: the leaf opens at `index` from the side's trace root.
        if (!LibMerkle.verify(root, LibMerkle.leafState(leaf), index, proof, LibMerkle.depthFor(uint256(n) + 1))) {
            revert E.InvalidTraceOpening(index, leaf);
        }
    }

    /// @dev Reverts unless `outputs` are N field elements forming the outputs tree `root`.
    function _checkOutputs(uint32 opsPerStep, bytes32 root, uint256[] calldata outputs) internal pure {
        if (outputs.length != opsPerStep) revert E.WrongOutputCount(opsPerStep, outputs.length);
        bytes32 got = _valuesRoot(outputs);
        // INVARIANT: the entries are the side's own committed P_lo.
        if (got != root) revert E.WrongOutputs(root, got);
    }

    /// @dev The state tree over `slots`, which must be W field elements.
    function _stateRoot(uint32 stateSlots, uint256[] calldata slots) internal pure returns (bytes32) {
        // INVARIANT: an opened S_hi is a tree of W known values (never an opaque root), so a
        //            slot that differs from its layout source can always be proven.
        if (slots.length != stateSlots) revert E.WrongStateSlotCount(stateSlots, slots.length);
        return _valuesRoot(slots);
    }

    /// @dev The LibMerkle tree over `values` (field elements) as tensor commitments.
    function _valuesRoot(uint256[] calldata values) internal pure returns (bytes32) {
        bytes32[] memory nodes = new bytes32[](values.length);
        for (uint256 i; i < values.length; ++i) {
            // INVARIANT: every tensor commitment is a canonical field element.
            _checkField(values[i]);
            nodes[i] = LibTraceV4.valueNode(values[i]);
        }
        return LibMerkle.root(nodes);
    }

    /// @dev Reverts unless `a` proves that slot `a.slot` of `stateHi` differs from its source
    ///      for step `step` (sources: a slot of `stateLo`, an entry of `outputs`, or empty = 0).
    function _checkAssemblyFault(
        TypesV4.ModelSpec storage spec,
        uint32 step,
        bytes32 stateLo,
        bytes32 stateHi,
        bytes32 outputs,
        TypesV4.AssemblyOpening calldata a
    ) internal view {
        uint32 w = spec.stateSlots;
        uint32 nOps = spec.opsPerStep;
        if (a.slot >= w) revert E.InvalidValueOpening(stateHi, a.slot, a.value);
        uint256 index = uint256(step) * w + a.slot;
        uint256 layoutDepth = LibMerkle.depthFor(uint256(spec.numSteps) * w);
        // INVARIANT: the source is the model's layout for (step, slot).
        if (!LibMerkle.verify(
                spec.layoutRoot, LibTraceV4.layoutLeaf(step, a.slot, a.source), index, a.layoutProof, layoutDepth
            )) {
            revert E.InvalidLayoutLeaf(index, a.source);
        }
        uint256 stateDepth = LibMerkle.depthFor(w);
        _checkValue(stateHi, a.slot, a.value, a.valueProof, stateDepth);
        (uint256 kind, uint256 srcIndex) = LibTraceV4.decode(a.source, w, nOps);
        uint256 expected;
        if (kind == TypesV4.SOURCE_STATE) {
            _checkValue(stateLo, srcIndex, a.sourceValue, a.sourceProof, stateDepth);
            expected = a.sourceValue;
        } else if (kind == TypesV4.SOURCE_OUTPUT) {
            _checkValue(outputs, srcIndex, a.sourceValue, a.sourceProof, LibMerkle.depthFor(nOps));
            expected = a.sourceValue;
        }
        // INVARIANT: the slot differs from what the static layout puts there.
        if (a.value == expected) revert E.NoAssemblyFault(a.slot, a.value);
    }

    /// @dev Reverts unless tensor commitment `value` opens at `index` of the state or outputs
    ///      tree `root` of depth `depth`.
    function _checkValue(bytes32 root, uint256 index, uint256 value, bytes32[] calldata proof, uint256 depth)
        internal
        pure
    {
        if (!LibMerkle.verify(root, LibTraceV4.valueNode(value), index, proof, depth)) {
            revert E.InvalidValueOpening(root, index, value);
        }
    }

    /// @dev Whether leaf_o can be proven at all, given that its template is registered: its
    ///      header and params are field elements, it has a chunk, each input source is a slot of S_lo,
    ///      an entry of P_lo before `position` or a constant C < r, and its public inputs are
    ///      bounded.
    function _wellFormed(TypesV4.OperatorLeaf calldata leaf, uint32 stateSlots, uint32 position)
        internal
        pure
        returns (bool)
    {
        if (leaf.outputChunks == 0 || leaf.outputHeader >= TypesV4.SNARK_SCALAR_FIELD) return false;
        if (leaf.inputSources.length + leaf.params.length + 2 > TypesV4.MAX_TEMPLATE_INPUTS) return false;
        for (uint256 i; i < leaf.params.length; ++i) {
            if (leaf.params[i] >= TypesV4.SNARK_SCALAR_FIELD) return false;
        }
        for (uint256 i; i < leaf.inputSources.length; ++i) {
            uint256 src = leaf.inputSources[i];
            if ((src & TypesV4.SOURCE_CONST_FLAG) != 0) {
                // A constant: its commitment, carried inline, must be a field element.
                if ((src & ~TypesV4.SOURCE_CONST_FLAG) >= TypesV4.SNARK_SCALAR_FIELD) return false;
                continue;
            }
            uint256 kind = src >> 32;
            uint256 index = src & 0xffffffff;
            bool ok = (kind == TypesV4.SOURCE_STATE && index < stateSlots)
                || (kind == TypesV4.SOURCE_OUTPUT && index < position);
            if (!ok) return false;
        }
        return true;
    }

    /// @dev Reverts unless `leaf` is leaf_o of the game's operator (at lo·N + o of the model).
    function _checkOperatorLeaf(
        TypesV4.ModelSpec storage spec,
        TypesV4.Game storage g,
        TypesV4.OperatorLeaf calldata leaf,
        bytes32[] calldata modelProof
    ) internal view {
        uint32 nOps = spec.opsPerStep;
        uint256 index = uint256(g.lo) * nOps + g.opPosition;
        uint256 depth = LibMerkle.depthFor(uint256(spec.numSteps) * nOps);
        // INVARIANT: leaf_o is the model's, at the disputed operator.
        if (!LibMerkle.verify(spec.modelRoot, LibTraceV4.operatorLeaf(index, leaf), index, modelProof, depth)) {
            revert E.InvalidOperatorLeaf(index);
        }
    }

    /// @dev Builds `[C(X_1) … C(X_r), j, params…, digest]` from the leaf statement, opening
    ///      every input that is a slot or an entry; a constant source contributes its inline C.
    function _publicInputs(
        TypesV4.Game storage g,
        TypesV4.ModelSpec storage spec,
        TypesV4.LeafStatement calldata s,
        uint256[] calldata inputs,
        bytes32[][] calldata inputProofs,
        uint64 j,
        uint256 digest
    ) internal view returns (uint256[] memory pub) {
        uint256 r = s.inputSources.length;
        if (inputs.length != r) revert E.WrongInputCount(r, inputs.length);
        if (inputProofs.length != r) revert E.WrongInputCount(r, inputProofs.length);
        uint256 m = s.params.length;
        pub = new uint256[](r + m + 2);
        uint256 stateDepth = LibMerkle.depthFor(spec.stateSlots);
        uint256 opsDepth = LibMerkle.depthFor(spec.opsPerStep);
        for (uint256 k; k < r; ++k) {
            uint256 src = s.inputSources[k];
            if ((src & TypesV4.SOURCE_CONST_FLAG) != 0) {
                // INVARIANT: a constant input is committed by leaf_o itself (which opened from
                //            the model root); inputs[k] and inputProofs[k] are ignored.
                //            `_wellFormed` checked C < r at startDescent.
                pub[k] = src & ~TypesV4.SOURCE_CONST_FLAG;
                continue;
            }
            uint256 index = src & 0xffffffff;
            // INVARIANT: every input is agreed: S_lo (G1), or P_lo before o (level 2), which
            //            both sides share, so it is opened from the submitter's P_lo.
            if (src >> 32 == TypesV4.SOURCE_STATE) {
                _checkValue(g.agreedLo, index, inputs[k], inputProofs[k], stateDepth);
            } else {
                _checkValue(g.submitterOutputs, index, inputs[k], inputProofs[k], opsDepth);
            }
            // INVARIANT: every public input the market builds is a canonical field element.
            _checkField(inputs[k]);
            pub[k] = inputs[k];
        }
        pub[r] = j;
        for (uint256 i; i < m; ++i) {
            pub[r + 1 + i] = s.params[i];
        }
        pub[r + m + 1] = digest;
    }

    /// @dev Maps a descent outcome onto the game.
    function _afterDescent(
        TypesV4.Game storage g,
        TypesV4.Request storage req,
        TypesV4.Response storage resp,
        uint256 gameId,
        Types.GameStatus s
    ) internal {
        if (s == Types.GameStatus.InProgress) return;
        _resolveGame(g, req, resp, gameId, TypesV4.GameStatus(uint8(s)));
    }

    /// @dev Ends a game and moves its money (§10.9):
    ///      SubmitterWon — the submitter takes the challenger's bond;
    ///      ChallengerWon — the challenger gets its bond back and the response is disproven
    ///        (the challenger gets the disproof reward, the rest of the response bond burns);
    ///      BothLost — both bonds burn and the response is disproven (nobody is paid).
    function _resolveGame(
        TypesV4.Game storage g,
        TypesV4.Request storage req,
        TypesV4.Response storage resp,
        uint256 gameId,
        TypesV4.GameStatus outcome
    ) internal {
        if (outcome != TypesV4.GameStatus.SubmitterWon) {
            _checkNotHeld(resp, g.responseId, gameId);
        }
        g.status = outcome;
        g.phase = TypesV4.Phase.Resolved;
        --resp.openGames;
        emit GameResolved(gameId, resp.requestId, outcome);
        if (outcome == TypesV4.GameStatus.SubmitterWon) {
            _credit(resp.submitter, g.bond);
        } else if (outcome == TypesV4.GameStatus.ChallengerWon) {
            // The challenger's bond back and the disproof reward, in one credit.
            _disprove(req, resp, g.responseId, g.challenger, TypesV4.DisproofReason.Game, g.bond);
        } else {
            // BothLost: nobody proved either claim in time; neither side nor the requester is
            // paid (a requester posing as a challenger gains nothing from a late honest proof).
            _burn(g.bond);
            _disprove(req, resp, g.responseId, address(0), TypesV4.DisproofReason.Game, 0);
        }
    }

    /// @dev Marks response `responseId` (`resp`, the request's latest: the caller has its id
    ///      at hand, warm) disproven and re-opens the request. `payee` gets
    ///      DISPROOF_REWARD_BPS of the response bond (plus `alsoOwed`, in the same credit), the
    ///      rest burns (all of it if payee is 0, when `alsoOwed` must be 0).
    function _disprove(
        TypesV4.Request storage req,
        TypesV4.Response storage resp,
        uint256 responseId,
        address payee,
        TypesV4.DisproofReason reason,
        uint256 alsoOwed
    ) internal {
        resp.status = TypesV4.ResponseStatus.Disproven;
        req.status = TypesV4.RequestStatus.Open;
        req.openSince = uint64(block.timestamp);
        uint256 bond = resp.bond;
        uint256 reward = payee == address(0) ? 0 : bond * TypesV4.DISPROOF_REWARD_BPS / 10_000;
        if (reward + alsoOwed != 0) _credit(payee, reward + alsoOwed);
        _burn(bond - reward);
        emit ResponseDisproven(resp.requestId, responseId, payee, reward, bond - reward, reason);
    }

    /// @dev A verifier or model-leaf failure: the game and the response end with every party
    ///      refunded — the challenger's bond, the submitter's bond, the requester's fee (the
    ///      request is cancelled). Other games on the response are cancelled lazily.
    function _void(TypesV4.Game storage g, TypesV4.Request storage req, TypesV4.Response storage resp, uint256 gameId)
        internal
    {
        _checkNotHeld(resp, g.responseId, 0);
        g.status = TypesV4.GameStatus.Voided;
        g.phase = TypesV4.Phase.Resolved;
        --resp.openGames;
        resp.status = TypesV4.ResponseStatus.Voided;
        req.status = TypesV4.RequestStatus.Cancelled;
        uint256 requestId = resp.requestId;
        emit GameResolved(gameId, requestId, TypesV4.GameStatus.Voided);
        emit ResponseVoided(requestId, req.responseId, gameId);
        _credit(g.challenger, g.bond);
        _credit(resp.submitter, resp.bond);
        _credit(req.requester, req.fee);
    }

    /// @dev Reverts if a game other than `gameId` holds the response (its leaf was proven
    ///      for its challenger): only that game's end may disprove it.
    function _checkNotHeld(TypesV4.Response storage resp, uint256 responseId, uint256 gameId) internal view {
        uint64 held = resp.decidedGame;
        // INVARIANT: a proven challenger's reward is never pre-empted (§10.9).
        if (held != 0 && held != gameId) revert E.ResponseHeldByGame(responseId, held);
    }

    /// @dev Credits `amount` to `account`'s withdrawable balance (opening its slot if needed).
    function _credit(address account, uint256 amount) internal {
        uint256 raw = _balances[account];
        _balances[account] = (raw == 0 ? 1 : raw) + amount;
        emit Credited(account, amount);
    }

    /// @dev Opens `account`'s balance slot (balance unchanged): see `_balances`.
    function _openBalance(address account) internal {
        if (_balances[account] == 0) _balances[account] = 1;
    }

    /// @dev Burns `amount`: it stays in the contract forever, counted in `burned`.
    function _burn(uint256 amount) internal {
        if (amount == 0) return;
        _burnedPlusOne += amount;
        emit Burned(amount);
    }

    /// @dev Reverts unless `value` < r.
    function _checkField(uint256 value) internal pure {
        if (value >= TypesV4.SNARK_SCALAR_FIELD) revert Errors.NotAFieldElement(bytes32(value));
    }
}
