// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

import {IInferenceMarket} from "./interfaces/IInferenceMarket.sol";
import {IModelRegistry} from "./interfaces/IModelRegistry.sol";
import {IOperatorVerifier} from "./interfaces/IOperatorVerifier.sol";
import {Types} from "./lib/Types.sol";
import {LibMerkle} from "./lib/LibMerkle.sol";
import "./lib/Errors.sol" as Errors;

/// @title InferenceMarket
/// @notice Requests, optimistic responses, and the k-ary bisection dispute games that settle
///         them, in one contract (one address for agents). Normative spec: docs/protocol.md.
/// @dev Money is pull-based: every payout is a credit to `balances`, withdrawn by `withdraw`.
///      Escrow held at any time = fees of Open/Responded requests + bonds of Pending responses
///      + bonds of InProgress games. No function loops over games or requests; the only loops
///      are over split points (< MAX_ARITY) and Merkle proofs (< 33 levels).
contract InferenceMarket is IInferenceMarket {
    /// @notice The model registry this market reads models from.
    IModelRegistry public immutable REGISTRY;

    /// @notice Withdrawable balances.
    mapping(address account => uint256 amount) public balances;

    /// @dev Requests by id (from 1).
    mapping(uint256 requestId => Types.Request) internal _requests;
    /// @dev Responses by id (from 1).
    mapping(uint256 responseId => Types.Response) internal _responses;
    /// @dev Games by id (from 1).
    mapping(uint256 gameId => Types.Game) internal _games;

    /// @dev Last ids issued.
    uint256 internal _requestCount;
    uint256 internal _responseCount;
    uint256 internal _gameCount;

    /// @param registry The model registry.
    constructor(IModelRegistry registry) {
        REGISTRY = registry;
    }

    ////////////////////////////////////////////////////////////////
    //                     Requests & responses                   //
    ////////////////////////////////////////////////////////////////

    /// @inheritdoc IInferenceMarket
    function requestInference(uint256 modelId, bytes32 inputCommitment, string calldata inputCid)
        external
        payable
        returns (uint256 requestId)
    {
        // INVARIANT: every request pays a fee.
        if (msg.value == 0) revert Errors.ZeroFee();
        // INVARIANT: S_0 is a field element (else no step from it could ever be proven).
        _checkField(inputCommitment);
        (bytes32 modelRoot, uint32 numSteps, Types.GameParams memory params) = REGISTRY.getGameSpec(modelId);

        requestId = ++_requestCount;
        Types.Request storage req = _requests[requestId];
        req.requester = msg.sender;
        req.openSince = uint64(block.timestamp);
        req.status = Types.RequestStatus.Open;
        req.numSteps = numSteps;
        req.modelId = modelId;
        req.inputCommitment = inputCommitment;
        req.modelRoot = modelRoot;
        req.fee = msg.value;
        req.params = params;
        req.inputCid = inputCid;

        emit RequestCreated(requestId, modelId, msg.sender, inputCommitment, inputCid, msg.value, numSteps);
    }

    /// @inheritdoc IInferenceMarket
    function respond(
        uint256 requestId,
        bytes32 outputCommitment,
        string calldata outputCid,
        bytes32 traceRoot,
        string calldata traceCid
    ) external payable {
        Types.Request storage req = _requestIn(requestId, Types.RequestStatus.Open);
        // INVARIANT: the response is bonded with exactly responseBond.
        if (msg.value != req.params.responseBond) revert Errors.WrongBond(req.params.responseBond, msg.value);
        // INVARIANT: S_n is a field element.
        _checkField(outputCommitment);

        uint256 responseId = ++_responseCount;
        uint64 deadline = uint64(block.timestamp) + req.params.challengeWindow;
        Types.Response storage resp = _responses[responseId];
        resp.submitter = msg.sender;
        resp.challengeDeadline = deadline;
        resp.status = Types.ResponseStatus.Pending;
        resp.submittedAt = uint64(block.timestamp);
        resp.bond = uint128(msg.value);
        resp.requestId = requestId;
        resp.outputCommitment = outputCommitment;
        resp.traceRoot = traceRoot;
        resp.outputCid = outputCid;
        resp.traceCid = traceCid;

        req.status = Types.RequestStatus.Responded;
        req.responseId = responseId;
        ++req.responseCount;

        emit ResponseSubmitted(
            requestId, responseId, msg.sender, outputCommitment, outputCid, traceRoot, traceCid, deadline
        );
    }

    /// @inheritdoc IInferenceMarket
    function finalize(uint256 requestId) external {
        Types.Request storage req = _requestIn(requestId, Types.RequestStatus.Responded);
        uint256 responseId = req.responseId;
        Types.Response storage resp = _responses[responseId];
        // INVARIANT: the challenge window has passed.
        if (block.timestamp <= resp.challengeDeadline) {
            revert Errors.ChallengeWindowOpen(requestId, resp.challengeDeadline);
        }
        // INVARIANT: every game on the response was won by the submitter.
        if (resp.openGames != 0) revert Errors.GamesInProgress(responseId, resp.openGames);

        resp.status = Types.ResponseStatus.Finalized;
        req.status = Types.RequestStatus.Finalized;
        _credit(resp.submitter, req.fee + resp.bond);

        emit RequestFinalized(requestId, responseId, resp.outputCommitment);
    }

    /// @inheritdoc IInferenceMarket
    function cancelRequest(uint256 requestId) external {
        Types.Request storage req = _requestIn(requestId, Types.RequestStatus.Open);
        // INVARIANT: only the requester cancels.
        if (msg.sender != req.requester) revert Errors.NotRequester(msg.sender, req.requester);
        // INVARIANT: the request stayed un-responded for a whole challengeWindow.
        uint64 notBefore = req.openSince + req.params.challengeWindow;
        if (block.timestamp <= notBefore) revert Errors.CancelTooEarly(requestId, notBefore);

        req.status = Types.RequestStatus.Cancelled;
        _credit(req.requester, req.fee);

        emit RequestCancelled(requestId);
    }

    /// @inheritdoc IInferenceMarket
    function withdraw() external {
        uint256 amount = balances[msg.sender];
        if (amount == 0) revert Errors.NothingToWithdraw(msg.sender);
        balances[msg.sender] = 0;
        emit Withdrawn(msg.sender, amount);
        (bool ok,) = msg.sender.call{value: amount}("");
        if (!ok) revert Errors.TransferFailed(msg.sender, amount);
    }

    ////////////////////////////////////////////////////////////////
    //                   One-shot disproofs                       //
    ////////////////////////////////////////////////////////////////

    /// @inheritdoc IInferenceMarket
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
    ) external {
        (Types.Request storage req, Types.Response storage resp) = _disputableResponse(requestId);
        uint32 n = req.numSteps;
        // INVARIANT: the step exists.
        if (step >= n) revert Errors.StepOutOfRange(step, n);
        // INVARIANT: both states are the submitter's own, opened from its trace root.
        _checkTraceLeaf(resp.traceRoot, n, step, preState, preProof);
        _checkTraceLeaf(resp.traceRoot, n, step + 1, postState, postProof);
        // INVARIANT: the proven post-state contradicts the submitter's.
        if (provenPost == postState) revert Errors.NoFaultProven(postState);
        _checkModelLeaf(req.modelRoot, n, step, opDigest, verifier, modelProof);
        // INVARIANT: step `step` really maps preState to provenPost.
        if (!_tryVerify(verifier, proof, preState, provenPost, opDigest)) revert Errors.InvalidProof();

        _disprove(req, resp, msg.sender, Types.DisproofReason.OneShot);
    }

    /// @inheritdoc IInferenceMarket
    function proveBindingFault(uint256 requestId, uint32 index, bytes32 leafValue, bytes32[] calldata proof) external {
        (Types.Request storage req, Types.Response storage resp) = _disputableResponse(requestId);
        uint32 n = req.numSteps;
        // INVARIANT: only the ends of the trace are bound (to the input and the output).
        if (index != 0 && index != n) revert Errors.NotABindingIndex(index, n);
        _checkTraceLeaf(resp.traceRoot, n, index, leafValue, proof);
        bytes32 bound = index == 0 ? req.inputCommitment : resp.outputCommitment;
        // INVARIANT: the opened leaf differs from what it must equal.
        if (leafValue == bound) revert Errors.LeafIsBound(index, leafValue);

        _disprove(req, resp, msg.sender, Types.DisproofReason.BindingFault);
    }

    ////////////////////////////////////////////////////////////////
    //                       Dispute games                        //
    ////////////////////////////////////////////////////////////////

    /// @inheritdoc IInferenceMarket
    function challenge(uint256 requestId, bytes32 claimedOutput, bytes32 traceRoot)
        external
        payable
        returns (uint256 gameId)
    {
        Types.Request storage req = _requestIn(requestId, Types.RequestStatus.Responded);
        uint256 responseId = req.responseId;
        Types.Response storage resp = _responses[responseId];
        // INVARIANT: challenges only within the window.
        if (block.timestamp > resp.challengeDeadline) {
            revert Errors.ChallengeWindowClosed(requestId, resp.challengeDeadline);
        }
        // INVARIANT: the challenge is bonded with exactly challengerBond.
        if (msg.value != req.params.challengerBond) revert Errors.WrongBond(req.params.challengerBond, msg.value);
        // INVARIANT: the claim is a field element that disagrees with the response.
        _checkField(claimedOutput);
        if (claimedOutput == resp.outputCommitment) revert Errors.ClaimMatchesResponse(claimedOutput);

        uint32 n = req.numSteps;
        uint64 clock = req.params.clockPerSide;
        gameId = ++_gameCount;
        Types.Game storage g = _games[gameId];
        g.challenger = msg.sender;
        g.hi = n;
        g.submitterClock = clock;
        g.challengerClock = clock;
        g.turnStartedAt = uint64(block.timestamp);
        g.bond = uint128(msg.value);
        g.responseId = responseId;
        g.challengerRoot = traceRoot;
        g.loState = req.inputCommitment;
        g.hiSubmitter = resp.outputCommitment;
        g.hiChallenger = claimedOutput;
        ++resp.openGames;

        emit GameCreated(
            gameId,
            requestId,
            msg.sender,
            responseId,
            claimedOutput,
            traceRoot,
            0,
            n,
            _splitPoints(0, n, req.params.arity),
            clock
        );
        if (n == 1) _enterProving(g, gameId, req.params.provingWindow);
    }

    /// @inheritdoc IInferenceMarket
    function submitterReveal(uint256 gameId, bytes32[] calldata states, bytes32[][] calldata proofs) external {
        (Types.Game storage g, Types.Request storage req, Types.Response storage resp) = _activeGame(gameId);
        _checkPhase(g, gameId, Types.GamePhase.SubmitterReveal);
        uint64 elapsed = _elapsedWithin(g, gameId, g.submitterClock);

        uint32[] memory points = _splitPoints(g.lo, g.hi, req.params.arity);
        _checkReveal(resp.traceRoot, req.numSteps, points, states, proofs);

        g.submitterClock -= elapsed;
        g.turnStartedAt = uint64(block.timestamp);
        g.phase = Types.GamePhase.ChallengerReveal;
        g.revealHash = keccak256(abi.encodePacked(states));

        emit SubmitterRevealed(gameId, g.round, points, states);
    }

    /// @inheritdoc IInferenceMarket
    function challengerReveal(
        uint256 gameId,
        bytes32[] calldata submitterStates,
        bytes32[] calldata states,
        bytes32[][] calldata proofs
    ) external {
        (Types.Game storage g, Types.Request storage req,) = _activeGame(gameId);
        _checkPhase(g, gameId, Types.GamePhase.ChallengerReveal);
        uint64 elapsed = _elapsedWithin(g, gameId, g.challengerClock);
        // INVARIANT: the submitter's states are exactly the ones it revealed.
        bytes32 got = keccak256(abi.encodePacked(submitterStates));
        if (got != g.revealHash) revert Errors.RevealMismatch(g.revealHash, got);

        uint32 arity = req.params.arity;
        uint32[] memory points = _splitPoints(g.lo, g.hi, arity);
        _checkReveal(g.challengerRoot, req.numSteps, points, states, proofs);

        _narrow(g, points, submitterStates, states);
        g.challengerClock -= elapsed;
        g.turnStartedAt = uint64(block.timestamp);
        g.revealHash = bytes32(0);
        uint32 round = g.round++;
        uint32 lo = g.lo;
        uint32 hi = g.hi;

        uint32[] memory next;
        if (hi - lo == 1) {
            _enterProving(g, gameId, req.params.provingWindow);
        } else {
            g.phase = Types.GamePhase.SubmitterReveal;
            next = _splitPoints(lo, hi, arity);
        }
        emit ChallengerRevealed(gameId, round, states, lo, hi, g.loState, g.hiSubmitter, g.hiChallenger, next);
    }

    /// @inheritdoc IInferenceMarket
    function resolveLeaf(
        uint256 gameId,
        uint256 opDigest,
        address verifier,
        bytes32[] calldata modelProof,
        bytes calldata proof,
        bool forChallenger
    ) external {
        (Types.Game storage g, Types.Request storage req, Types.Response storage resp) = _activeGame(gameId);
        _checkPhase(g, gameId, Types.GamePhase.Proving);
        // INVARIANT: proofs only within the proving window.
        if (block.timestamp > g.provingDeadline) revert Errors.ProvingWindowClosed(gameId, g.provingDeadline);
        uint32 step = g.lo;
        _checkModelLeaf(req.modelRoot, req.numSteps, step, opDigest, verifier, modelProof);

        // Public inputs come from game state only: the agreed pre-state and the named side's claim.
        // INVARIANT: a sound verifier accepts at most one post-state for (pre, opDigest), and the
        // two claims differ at hi, so the side whose claim is proven is the side that told the truth.
        bytes32 pre = step == 0 ? req.inputCommitment : g.loState;
        bytes32 post = forChallenger ? g.hiChallenger : g.hiSubmitter;
        if (!_tryVerify(verifier, proof, pre, post, opDigest)) revert Errors.InvalidProof();
        _resolveGame(
            g, req, resp, gameId, forChallenger ? Types.GameStatus.ChallengerWon : Types.GameStatus.SubmitterWon
        );
    }

    /// @inheritdoc IInferenceMarket
    function claimTimeout(uint256 gameId) external {
        (Types.Game storage g, Types.Request storage req, Types.Response storage resp) = _activeGame(gameId);
        Types.GamePhase phase = g.phase;
        uint64 deadline = _turnDeadline(g);
        // INVARIANT: the side to move (or the proving window) ran out of time.
        if (block.timestamp <= deadline) revert Errors.NoTimeout(gameId, deadline);
        if (phase == Types.GamePhase.SubmitterReveal) {
            _resolveGame(g, req, resp, gameId, Types.GameStatus.ChallengerWon);
        } else if (phase == Types.GamePhase.ChallengerReveal) {
            _resolveGame(g, req, resp, gameId, Types.GameStatus.SubmitterWon);
        } else {
            _resolveGame(g, req, resp, gameId, Types.GameStatus.BothLost);
        }
    }

    /// @inheritdoc IInferenceMarket
    function cancelGame(uint256 gameId) external {
        Types.Game storage g = _existingGame(gameId);
        if (g.status != Types.GameStatus.InProgress) revert Errors.GameNotInProgress(gameId, g.status);
        Types.Response storage resp = _responses[g.responseId];
        // INVARIANT: only games whose response someone else already disproved are cancelled.
        if (resp.status != Types.ResponseStatus.Disproven) {
            revert Errors.ResponseNotDisproven(g.responseId, resp.status);
        }
        g.status = Types.GameStatus.Cancelled;
        g.phase = Types.GamePhase.Resolved;
        _credit(g.challenger, g.bond);
        emit GameResolved(gameId, resp.requestId, Types.GameStatus.Cancelled);
    }

    ////////////////////////////////////////////////////////////////
    //                            Views                           //
    ////////////////////////////////////////////////////////////////

    /// @inheritdoc IInferenceMarket
    function isFinal(uint256 requestId) public view returns (bool) {
        Types.Request storage req = _requests[requestId];
        if (req.status == Types.RequestStatus.Finalized) return true;
        if (req.status != Types.RequestStatus.Responded) return false;
        Types.Response storage resp = _responses[req.responseId];
        return block.timestamp > resp.challengeDeadline && resp.openGames == 0;
    }

    /// @inheritdoc IInferenceMarket
    function result(uint256 requestId) external view returns (bytes32 outputCommitment, string memory outputCid) {
        if (!isFinal(requestId)) {
            revert Errors.WrongRequestStatus(requestId, Types.RequestStatus.Finalized, _requests[requestId].status);
        }
        Types.Response storage resp = _responses[_requests[requestId].responseId];
        return (resp.outputCommitment, resp.outputCid);
    }

    /// @inheritdoc IInferenceMarket
    function getRequest(uint256 requestId) external view returns (Types.Request memory) {
        return _requests[requestId];
    }

    /// @inheritdoc IInferenceMarket
    function getResponse(uint256 requestId) external view returns (Types.Response memory) {
        return _responses[_requests[requestId].responseId];
    }

    /// @inheritdoc IInferenceMarket
    function getResponseById(uint256 responseId) external view returns (Types.Response memory) {
        return _responses[responseId];
    }

    /// @inheritdoc IInferenceMarket
    function getGame(uint256 gameId) external view returns (Types.GameView memory v) {
        Types.Game storage g = _existingGame(gameId);
        Types.Response storage resp = _responses[g.responseId];
        Types.Request storage req = _requests[resp.requestId];
        v.requestId = resp.requestId;
        v.responseId = g.responseId;
        v.submitter = resp.submitter;
        v.challenger = g.challenger;
        v.submitterRoot = resp.traceRoot;
        v.challengerRoot = g.challengerRoot;
        v.numSteps = req.numSteps;
        v.arity = req.params.arity;
        v.lo = g.lo;
        v.hi = g.hi;
        v.round = g.round;
        v.phase = g.phase;
        v.status = g.status;
        v.loState = g.loState;
        v.hiSubmitter = g.hiSubmitter;
        v.hiChallenger = g.hiChallenger;
        v.revealHash = g.revealHash;
        v.submitterClock = g.submitterClock;
        v.challengerClock = g.challengerClock;
        v.turnStartedAt = g.turnStartedAt;
        v.turnDeadline = g.phase == Types.GamePhase.Resolved ? 0 : _turnDeadline(g);
        v.provingDeadline = g.provingDeadline;
        v.bond = g.bond;
    }

    /// @inheritdoc IInferenceMarket
    function splitPoints(uint256 gameId) external view returns (uint32[] memory points) {
        Types.Game storage g = _existingGame(gameId);
        if (g.phase == Types.GamePhase.SubmitterReveal || g.phase == Types.GamePhase.ChallengerReveal) {
            points = _splitPoints(g.lo, g.hi, _requests[_responses[g.responseId].requestId].params.arity);
        }
    }

    /// @inheritdoc IInferenceMarket
    function counts() external view returns (uint256 requests, uint256 responses, uint256 games) {
        return (_requestCount, _responseCount, _gameCount);
    }

    ////////////////////////////////////////////////////////////////
    //                          Internals                         //
    ////////////////////////////////////////////////////////////////

    /// @dev Split points of (lo, hi) for arity k: p_j = lo + ((hi - lo) * j) / k, j = 1..k-1,
    ///      without duplicates or endpoints; m = min(k, hi - lo) - 1 points, strictly increasing.
    ///      For hi - lo <= k that is lo+1 .. hi-1.
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
    function _requestIn(uint256 requestId, Types.RequestStatus expected)
        internal
        view
        returns (Types.Request storage req)
    {
        req = _requests[requestId];
        if (req.status == Types.RequestStatus.None) revert Errors.UnknownRequest(requestId);
        if (req.status != expected) revert Errors.WrongRequestStatus(requestId, expected, req.status);
    }

    /// @dev The request's pending response, if it can still be disproven: within the window, or
    ///      after it while games keep the response open (the response is not final yet).
    function _disputableResponse(uint256 requestId)
        internal
        view
        returns (Types.Request storage req, Types.Response storage resp)
    {
        req = _requestIn(requestId, Types.RequestStatus.Responded);
        resp = _responses[req.responseId];
        if (block.timestamp > resp.challengeDeadline && resp.openGames == 0) {
            revert Errors.ChallengeWindowClosed(requestId, resp.challengeDeadline);
        }
    }

    /// @dev Loads an existing game.
    function _existingGame(uint256 gameId) internal view returns (Types.Game storage g) {
        g = _games[gameId];
        if (g.challenger == address(0)) revert Errors.UnknownGame(gameId);
    }

    /// @dev Loads a game that is in progress on a pending response.
    function _activeGame(uint256 gameId)
        internal
        view
        returns (Types.Game storage g, Types.Request storage req, Types.Response storage resp)
    {
        g = _existingGame(gameId);
        if (g.status != Types.GameStatus.InProgress) revert Errors.GameNotInProgress(gameId, g.status);
        resp = _responses[g.responseId];
        if (resp.status != Types.ResponseStatus.Pending) revert Errors.ResponseNotPending(g.responseId, resp.status);
        req = _requests[resp.requestId];
    }

    /// @dev Reverts unless the game is in `expected` phase.
    function _checkPhase(Types.Game storage g, uint256 gameId, Types.GamePhase expected) internal view {
        if (g.phase != expected) revert Errors.WrongPhase(gameId, expected, g.phase);
    }

    /// @dev Seconds spent on the current turn; reverts ClockExpired if beyond `clock`.
    function _elapsedWithin(Types.Game storage g, uint256 gameId, uint64 clock) internal view returns (uint64 elapsed) {
        uint64 start = g.turnStartedAt;
        elapsed = uint64(block.timestamp) - start;
        if (elapsed > clock) revert Errors.ClockExpired(gameId, start + clock);
    }

    /// @dev Last timestamp at which the side to move may still move (or prove).
    function _turnDeadline(Types.Game storage g) internal view returns (uint64) {
        Types.GamePhase phase = g.phase;
        if (phase == Types.GamePhase.SubmitterReveal) return g.turnStartedAt + g.submitterClock;
        if (phase == Types.GamePhase.ChallengerReveal) return g.turnStartedAt + g.challengerClock;
        return g.provingDeadline;
    }

    /// @dev Narrows (lo, hi): with p_0 = lo (agreed) and p_{m+1} = hi (disagreed), the new
    ///      interval is the first adjacent pair (p_{j-1}, p_j) agreed at p_{j-1} and disagreed
    ///      at p_j. The agreed state at the new lo is the (common) revealed state there.
    function _narrow(
        Types.Game storage g,
        uint32[] memory points,
        bytes32[] calldata submitterStates,
        bytes32[] calldata states
    ) internal {
        uint256 m = points.length;
        uint256 j;
        for (; j < m; ++j) {
            if (submitterStates[j] != states[j]) break;
        }
        if (j > 0) {
            g.lo = points[j - 1];
            g.loState = states[j - 1];
        }
        if (j < m) {
            g.hi = points[j];
            g.hiSubmitter = submitterStates[j];
            g.hiChallenger = states[j];
        }
    }

    /// @dev Checks one revealed state per point against `traceRoot`.
    function _checkReveal(
        bytes32 traceRoot,
        uint32 numSteps,
        uint32[] memory points,
        bytes32[] calldata states,
        bytes32[][] calldata proofs
    ) internal pure {
        uint256 m = points.length;
        if (states.length != m) revert Errors.WrongStateCount(m, states.length);
        if (proofs.length != m) revert Errors.WrongStateCount(m, proofs.length);
        uint256 depth = LibMerkle.depthFor(uint256(numSteps) + 1);
        for (uint256 j; j < m; ++j) {
            if (!LibMerkle.verify(traceRoot, LibMerkle.leafState(states[j]), points[j], proofs[j], depth)) {
                revert Errors.InvalidTraceProof(points[j], states[j]);
            }
        }
    }

    /// @dev Reverts unless `state` opens at `index` of the trace tree (n + 1 leaves) at `traceRoot`.
    function _checkTraceLeaf(bytes32 traceRoot, uint32 n, uint32 index, bytes32 state, bytes32[] calldata proof)
        internal
        pure
    {
        uint256 depth = LibMerkle.depthFor(uint256(n) + 1);
        if (!LibMerkle.verify(traceRoot, LibMerkle.leafState(state), index, proof, depth)) {
            revert Errors.InvalidTraceProof(index, state);
        }
    }

    /// @dev Reverts unless (step, opDigest, verifier) opens from the model root and the
    ///      verifier has code.
    function _checkModelLeaf(
        bytes32 modelRoot,
        uint32 numSteps,
        uint32 step,
        uint256 opDigest,
        address verifier,
        bytes32[] calldata modelProof
    ) internal view {
        bytes32 leaf = LibMerkle.leafModel(step, opDigest, verifier);
        if (!LibMerkle.verify(modelRoot, leaf, step, modelProof, LibMerkle.depthFor(numSteps))) {
            revert Errors.InvalidModelProof(step, opDigest, verifier);
        }
        if (verifier.code.length == 0) revert Errors.VerifierHasNoCode(verifier);
    }

    /// @dev True iff `verifier` accepts `proof` for [pre, post, opDigest].
    function _tryVerify(address verifier, bytes calldata proof, bytes32 pre, bytes32 post, uint256 opDigest)
        internal
        view
        returns (bool)
    {
        try IOperatorVerifier(verifier).verifyProof(proof, [uint256(pre), uint256(post), opDigest]) {
            return true;
        } catch {
            return false;
        }
    }

    /// @dev hi - lo == 1: the game waits for a leaf proof until now + provingWindow.
    function _enterProving(Types.Game storage g, uint256 gameId, uint64 provingWindow) internal {
        uint64 deadline = uint64(block.timestamp) + provingWindow;
        g.phase = Types.GamePhase.Proving;
        g.provingDeadline = deadline;
        g.turnStartedAt = uint64(block.timestamp);
        uint32 lo = g.lo;
        emit LeafReached(gameId, lo, g.loState, g.hiSubmitter, g.hiChallenger, deadline);
    }

    /// @dev Ends a game with `outcome` and moves its bond (and, if the response falls, the
    ///      response's bond).
    function _resolveGame(
        Types.Game storage g,
        Types.Request storage req,
        Types.Response storage resp,
        uint256 gameId,
        Types.GameStatus outcome
    ) internal {
        g.status = outcome;
        g.phase = Types.GamePhase.Resolved;
        --resp.openGames;
        uint256 requestId = resp.requestId;
        emit GameResolved(gameId, requestId, outcome);
        if (outcome == Types.GameStatus.SubmitterWon) {
            _credit(resp.submitter, g.bond);
        } else if (outcome == Types.GameStatus.ChallengerWon) {
            _credit(g.challenger, g.bond);
            _disprove(req, resp, g.challenger, Types.DisproofReason.Bisection);
        } else {
            // BothLost: nobody proved either claim in time; the requester takes both bonds.
            _credit(req.requester, g.bond);
            _disprove(req, resp, req.requester, Types.DisproofReason.ProvingTimeout);
        }
    }

    /// @dev Marks the response disproven, pays its bond to `payee`, re-opens the request.
    ///      Other games on the response are cancelled lazily (`cancelGame`).
    function _disprove(
        Types.Request storage req,
        Types.Response storage resp,
        address payee,
        Types.DisproofReason reason
    ) internal {
        resp.status = Types.ResponseStatus.Disproven;
        req.status = Types.RequestStatus.Open;
        req.openSince = uint64(block.timestamp);
        _credit(payee, resp.bond);
        emit ResponseDisproven(resp.requestId, req.responseId, payee, reason);
    }

    /// @dev Credits `amount` to `account`'s withdrawable balance.
    function _credit(address account, uint256 amount) internal {
        balances[account] += amount;
        emit Credited(account, amount);
    }

    /// @dev Reverts unless `value` < r.
    function _checkField(bytes32 value) internal pure {
        if (uint256(value) >= Types.SNARK_SCALAR_FIELD) revert Errors.NotAFieldElement(value);
    }
}
