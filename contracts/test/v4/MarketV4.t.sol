// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

import {Types} from "../../src/lib/Types.sol";
import "../../src/lib/Errors.sol" as Errors;
import "../../src/v4/lib/ErrorsV4.sol" as E;
import {TypesV4} from "../../src/v4/lib/TypesV4.sol";
import {LibTraceV4} from "../../src/v4/lib/LibTraceV4.sol";
import {MarketV4Fixture, V4Model} from "./utils/MarketV4Fixture.sol";

/// @notice InferenceMarketV4, function by function and guard by guard (docs/protocol.md §10):
///         each test names the rule it checks and asserts the typed revert.
contract MarketV4Test is MarketV4Fixture {
    uint32 internal constant STEPS = 5;
    uint256 internal modelId;
    V4Model.Trace internal honestT;

    function setUp() public override {
        super.setUp();
        modelId = _register(STEPS, 3);
    }

    function _honest() internal pure returns (V4Model.Trace memory) {
        return V4Model.honest(STEPS);
    }

    function _liar() internal pure returns (V4Model.Trace memory) {
        return V4Model.build(STEPS, V4Model.Lie(V4Model.LieKind.Chunk, 2, 1, 1));
    }

    function _responded() internal returns (uint256 requestId) {
        requestId = _request(modelId, STEPS);
        _respond(requestId, _honest());
    }

    ////////////////////////////////////////////////////////////////
    //                   Requests and responses                   //
    ////////////////////////////////////////////////////////////////

    function test_request_copiesTheModelAndEscrowsTheFee() public {
        uint256 id = _request(modelId, STEPS);
        TypesV4.Request memory r = market.getRequest(id);
        assertEq(r.fee, FEE);
        assertEq(r.spec.numSteps, STEPS);
        assertEq(r.spec.opsPerStep, V4Model.N);
        assertEq(r.spec.stateSlots, V4Model.W);
        assertEq(uint8(r.status), uint8(TypesV4.RequestStatus.Open));
        assertEq(address(market).balance, FEE);
    }

    function test_request_reverts() public {
        vm.expectRevert(Errors.ZeroFee.selector);
        market.requestInference(modelId, bytes32(0), "in");
        vm.expectRevert(abi.encodeWithSelector(Errors.UnknownModel.selector, 99));
        market.requestInference{value: FEE}(99, bytes32(0), "in");
    }

    /// @notice Issue 13 item 1: a response carries only S_n and its CID; no trace root.
    function test_respond_carriesNoTrace() public {
        uint256 id = _responded();
        TypesV4.Response memory r = market.getResponse(1);
        assertEq(r.outputCommitment, _honest().S[STEPS]);
        assertEq(r.traceRoot, bytes32(0), "no trace on the happy path");
        assertEq(r.challengeDeadline, _now() + WINDOW);
        assertEq(uint8(market.getRequest(id).status), uint8(TypesV4.RequestStatus.Responded));
    }

    function test_respond_reverts() public {
        uint256 id = _request(modelId, STEPS);
        vm.expectRevert(abi.encodeWithSelector(Errors.WrongBond.selector, RESPONSE_BOND, 1));
        market.respond{value: 1}(id, bytes32(uint256(1)), "out");
        market.respond{value: RESPONSE_BOND}(id, bytes32(uint256(1)), "out");
        vm.expectPartialRevert(Errors.WrongRequestStatus.selector);
        market.respond{value: RESPONSE_BOND}(id, bytes32(uint256(1)), "out");
        vm.expectRevert(abi.encodeWithSelector(Errors.UnknownRequest.selector, 42));
        market.respond{value: RESPONSE_BOND}(42, bytes32(uint256(1)), "out");
    }

    function test_commitTrace_onlyTheSubmitterOnce() public {
        uint256 id = _responded();
        bytes32 root = V4Model.traceRoot(_honest());
        vm.expectRevert(abi.encodeWithSelector(E.NotSubmitter.selector, anyone, submitter));
        vm.prank(anyone);
        market.commitTrace(id, root);
        vm.prank(submitter);
        vm.expectRevert(E.ZeroTraceRoot.selector);
        market.commitTrace(id, bytes32(0));
        vm.prank(submitter);
        market.commitTrace(id, root);
        assertEq(market.getResponse(1).traceRoot, root);
        vm.prank(submitter);
        vm.expectRevert(abi.encodeWithSelector(E.TraceAlreadyCommitted.selector, 1, root));
        market.commitTrace(id, root);
    }

    function test_finalize_paysAfterTheWindow() public {
        uint256 id = _responded();
        vm.expectPartialRevert(Errors.ChallengeWindowOpen.selector);
        market.finalize(id);
        vm.warp(_now() + WINDOW + 1);
        assertTrue(market.isFinal(id));
        market.finalize(id);
        assertEq(market.balances(submitter), FEE + RESPONSE_BOND);
        (bytes32 out,) = market.result(id);
        assertEq(out, _honest().S[STEPS]);
    }

    function test_finalize_revertsWhileAGameIsOpen() public {
        uint256 id = _responded();
        _challenge(id, _liar());
        vm.warp(_now() + WINDOW + 1);
        vm.expectRevert(abi.encodeWithSelector(Errors.GamesInProgress.selector, 1, 1));
        market.finalize(id);
        assertFalse(market.isFinal(id));
    }

    function test_cancelRequest_rules() public {
        uint256 id = _request(modelId, STEPS);
        vm.prank(requester);
        vm.expectPartialRevert(Errors.CancelTooEarly.selector);
        market.cancelRequest(id);
        vm.warp(_now() + WINDOW + 1);
        vm.expectRevert(abi.encodeWithSelector(Errors.NotRequester.selector, anyone, requester));
        vm.prank(anyone);
        market.cancelRequest(id);
        vm.prank(requester);
        market.cancelRequest(id);
        assertEq(market.balances(requester), FEE);
        vm.prank(requester);
        market.withdraw();
        vm.expectRevert(abi.encodeWithSelector(Errors.NothingToWithdraw.selector, requester));
        vm.prank(requester);
        market.withdraw();
    }

    ////////////////////////////////////////////////////////////////
    //                        Challenges                          //
    ////////////////////////////////////////////////////////////////

    function test_challenge_opensLevelOne() public {
        uint256 id = _responded();
        uint256 gameId = _challenge(id, _liar());
        TypesV4.Game memory g = market.getGame(gameId);
        assertEq(g.lo, 0);
        assertEq(g.hi, STEPS);
        assertEq(g.phase, TypesV4.Phase.SubmitterReveal, "submitter first");
        assertEq(g.agreedLo, LibTraceV4.traceLeaf(_honest().S[0], bytes32(0)), "G1: the truth's L_0");
        assertEq(market.getResponse(1).openGames, 1);
    }

    function test_challenge_reverts() public {
        uint256 id = _responded();
        bytes32 out = _honest().S[STEPS];
        vm.expectRevert(abi.encodeWithSelector(Errors.WrongBond.selector, CHALLENGER_BOND, 1));
        market.challenge{value: 1}(id, keccak256("x"), keccak256("r"));
        vm.expectRevert(abi.encodeWithSelector(Errors.ClaimMatchesResponse.selector, out));
        market.challenge{value: CHALLENGER_BOND}(id, out, keccak256("r"));
        vm.expectRevert(E.ZeroTraceRoot.selector);
        market.challenge{value: CHALLENGER_BOND}(id, keccak256("x"), bytes32(0));
        vm.warp(_now() + WINDOW + 1);
        vm.expectPartialRevert(Errors.ChallengeWindowClosed.selector);
        market.challenge{value: CHALLENGER_BOND}(id, keccak256("x"), keccak256("r"));
    }

    ////////////////////////////////////////////////////////////////
    //                          Level 1                           //
    ////////////////////////////////////////////////////////////////

    /// @notice The submitter must have committed its trace before revealing (its clock runs).
    function test_submitterReveal_needsTheTrace() public {
        uint256 id = _responded();
        uint256 gameId = _challenge(id, _liar());
        uint32[] memory pts = market.splitPoints(gameId);
        (bytes32[] memory v, bytes32[][] memory p) = _openLeaves(_honest(), pts);
        vm.expectRevert(abi.encodeWithSelector(E.TraceNotCommitted.selector, 1));
        market.submitterReveal(gameId, v, p);
    }

    function test_reveals_revert() public {
        uint256 id = _responded();
        V4Model.Trace memory h = _honest();
        V4Model.Trace memory l = _liar();
        uint256 gameId = _challenge(id, l);
        bytes32 root = V4Model.traceRoot(h);
        vm.prank(submitter);
        market.commitTrace(id, root);
        uint32[] memory pts = market.splitPoints(gameId);
        (bytes32[] memory v, bytes32[][] memory p) = _openLeaves(h, pts);
        (bytes32[] memory lv, bytes32[][] memory lp) = _openLeaves(l, pts);
        // Wrong phase.
        vm.expectRevert(
            abi.encodeWithSelector(
                E.WrongGamePhase.selector, gameId, TypesV4.Phase.ChallengerReveal, TypesV4.Phase.SubmitterReveal
            )
        );
        market.challengerReveal(gameId, v, lv, lp);
        // Another trace's leaves do not open from the submitter's root (G2).
        vm.expectPartialRevert(Errors.InvalidTraceProof.selector);
        market.submitterReveal(gameId, lv, lp);
        // Wrong count.
        bytes32[] memory one = new bytes32[](1);
        vm.expectRevert(abi.encodeWithSelector(Errors.WrongStateCount.selector, pts.length, 1));
        market.submitterReveal(gameId, one, p);
        market.submitterReveal(gameId, v, p);
        // The challenger must pass back exactly the submitter's leaves.
        vm.expectPartialRevert(Errors.RevealMismatch.selector);
        market.challengerReveal(gameId, lv, lv, lp);
        // Its own leaves must open from its root.
        vm.expectPartialRevert(Errors.InvalidTraceProof.selector);
        market.challengerReveal(gameId, v, v, p);
        market.challengerReveal(gameId, v, lv, lp);
        TypesV4.Game memory g = market.getGame(gameId);
        assertEq(g.round, 1);
        assertLt(g.hi - g.lo, STEPS, "narrowed");
    }

    /// @notice Clocks: a late move reverts ClockExpired; claimTimeout then ends the game, and
    ///         not before.
    function test_clocks_lateMoveAndTimeout() public {
        uint256 id = _responded();
        uint256 gameId = _challenge(id, _liar());
        vm.expectPartialRevert(Errors.NoTimeout.selector);
        market.claimTimeout(gameId);
        vm.warp(_now() + CLOCK + 1);
        V4Model.Trace memory h = _honest();
        bytes32 root = V4Model.traceRoot(h);
        vm.prank(submitter);
        market.commitTrace(id, root);
        uint32[] memory pts = market.splitPoints(gameId);
        (bytes32[] memory v, bytes32[][] memory p) = _openLeaves(h, pts);
        vm.expectPartialRevert(Errors.ClockExpired.selector);
        market.submitterReveal(gameId, v, p);
        market.claimTimeout(gameId);
        assertEq(market.getGame(gameId).status, TypesV4.GameStatus.ChallengerWon, "outcome");
        assertEq(market.turnDeadline(gameId), 0);
        vm.expectRevert(abi.encodeWithSelector(E.GameOver.selector, gameId, TypesV4.GameStatus.ChallengerWon));
        market.claimTimeout(gameId);
    }

    ////////////////////////////////////////////////////////////////
    //                          Level 2                           //
    ////////////////////////////////////////////////////////////////

    function _atLevelTwo() internal returns (uint256 gameId, V4Model.Trace memory h, V4Model.Trace memory l) {
        uint256 id = _responded();
        h = _honest();
        l = _liar();
        gameId = _challenge(id, l);
        _playUntil(gameId, h, l, TypesV4.Phase.SubmitterOpenStep);
    }

    function test_openStep_reverts() public {
        (uint256 gameId, V4Model.Trace memory h, V4Model.Trace memory l) = _atLevelTwo();
        TypesV4.Game memory g = market.getGame(gameId);
        assertEq(g.lo, 2, "the liar's step");
        bytes32[] memory hp = V4Model.traceProof(h, g.hi);
        // L_lo must be the agreed leaf (G1).
        vm.expectPartialRevert(E.NotTheAgreedLeaf.selector);
        market.submitterOpenStep(gameId, h.S[g.lo + 1], h.P[g.lo], h.slots[g.hi], h.P[g.lo], hp);
        // L_hi must open from the submitter's trace (G2).
        vm.expectPartialRevert(E.InvalidTraceOpening.selector);
        market.submitterOpenStep(gameId, h.S[g.lo], h.P[g.lo - 1], l.slots[g.hi], l.P[g.lo], hp);
        market.submitterOpenStep(gameId, h.S[g.lo], h.P[g.lo - 1], h.slots[g.hi], h.P[g.lo], hp);
        vm.expectPartialRevert(E.InvalidTraceOpening.selector);
        market.challengerOpenStep(gameId, h.slots[g.hi], h.P[g.lo], hp);
    }

    function test_ops_revert() public {
        (uint256 gameId, V4Model.Trace memory h, V4Model.Trace memory l) = _atLevelTwo();
        _playUntil(gameId, h, l, TypesV4.Phase.SubmitterOps);
        uint32 lo = market.getGame(gameId).lo;
        // Assembly faults are not provable before both sides are open... they are now; but
        // the honest side has none.
        TypesV4.AssemblyOpening memory a = V4Model.assemblyOpening(h, STEPS, lo, 1);
        vm.expectRevert(abi.encodeWithSelector(E.NoAssemblyFault.selector, 1, a.value));
        market.proveAssemblyFault(gameId, Types.Side.Submitter, a);
        // Entries must be N, field elements, and the side's own P_lo.
        uint256[] memory two = new uint256[](2);
        vm.expectRevert(abi.encodeWithSelector(E.WrongOutputCount.selector, 3, 2));
        market.submitterOps(gameId, two);
        uint256[] memory big = new uint256[](3);
        big[1] = R;
        vm.expectRevert(abi.encodeWithSelector(Errors.NotAFieldElement.selector, bytes32(R)));
        market.submitterOps(gameId, big);
        vm.expectPartialRevert(E.WrongOutputs.selector);
        market.submitterOps(gameId, l.outs[lo]);
        market.submitterOps(gameId, h.outs[lo]);
        vm.expectPartialRevert(Errors.RevealMismatch.selector);
        market.challengerOps(gameId, l.outs[lo], l.outs[lo]);
        vm.expectPartialRevert(E.WrongOutputs.selector);
        market.challengerOps(gameId, h.outs[lo], h.outs[lo]);
        market.challengerOps(gameId, h.outs[lo], l.outs[lo]);
        TypesV4.Game memory g = market.getGame(gameId);
        assertEq(g.phase, TypesV4.Phase.DescentStart, "first differing operator found");
        assertEq(g.opPosition, 1);
    }

    function test_assemblyFault_notBeforeBothSidesOpened() public {
        (uint256 gameId, V4Model.Trace memory h,) = _atLevelTwo();
        TypesV4.AssemblyOpening memory a = V4Model.assemblyOpening(h, STEPS, 2, 0);
        vm.expectRevert(abi.encodeWithSelector(E.AssemblyNotOpen.selector, gameId, TypesV4.Phase.SubmitterOpenStep));
        market.proveAssemblyFault(gameId, Types.Side.Submitter, a);
    }

    function test_assemblyFault_layoutMustOpen() public {
        uint256 id = _responded();
        V4Model.Trace memory h = _honest();
        V4Model.Trace memory l = V4Model.build(STEPS, V4Model.Lie(V4Model.LieKind.Assembly, 3, 1, 0));
        uint256 gameId = _challenge(id, l);
        _playUntil(gameId, h, l, TypesV4.Phase.AssemblyProving);
        TypesV4.AssemblyOpening memory a = V4Model.assemblyOpening(l, STEPS, 3, 1);
        a.source = V4Model.layout(0);
        vm.expectPartialRevert(E.InvalidLayoutLeaf.selector);
        market.proveAssemblyFault(gameId, Types.Side.Challenger, a);
        a = V4Model.assemblyOpening(l, STEPS, 3, 1);
        a.value = h.slots[4][1];
        vm.expectPartialRevert(E.InvalidValueOpening.selector);
        market.proveAssemblyFault(gameId, Types.Side.Challenger, a);
        market.proveAssemblyFault(gameId, Types.Side.Challenger, V4Model.assemblyOpening(l, STEPS, 3, 1));
        assertEq(market.getGame(gameId).status, TypesV4.GameStatus.SubmitterWon, "outcome");
    }

    /// @notice AssemblyProving with no proof in the window: BothLost.
    function test_assemblyProving_windowExpires() public {
        uint256 id = _responded();
        V4Model.Trace memory h = _honest();
        V4Model.Trace memory l = V4Model.build(STEPS, V4Model.Lie(V4Model.LieKind.Assembly, 3, 1, 0));
        uint256 gameId = _challenge(id, l);
        _playUntil(gameId, h, l, TypesV4.Phase.AssemblyProving);
        assertEq(market.turnDeadline(gameId), _now() + PROVING);
        _timeOut(gameId);
        assertEq(market.getGame(gameId).status, TypesV4.GameStatus.BothLost, "outcome");
    }

    ////////////////////////////////////////////////////////////////
    //                          Level 3                           //
    ////////////////////////////////////////////////////////////////

    function test_startDescent_needsTheModelLeaf() public {
        (uint256 gameId, V4Model.Trace memory h, V4Model.Trace memory l) = _atLevelTwo();
        _playUntil(gameId, h, l, TypesV4.Phase.DescentStart);
        bytes32[] memory proof = _opProof(STEPS, 2, 1);
        vm.expectRevert(abi.encodeWithSelector(E.InvalidOperatorLeaf.selector, 7));
        market.startDescent(gameId, V4Model.op(2, 0), proof);
        market.startDescent(gameId, V4Model.op(2, 1), proof);
        Types.ChunkDescent memory d = market.getDescent(gameId);
        assertEq(uint8(d.phase), uint8(Types.DescentPhase.SubmitterOpen));
        assertEq(d.outputChunks, 5);
        assertEq(d.submitterCommitment, h.outs[2][1]);
        assertEq(d.challengerCommitment, l.outs[2][1]);
    }

    function test_resolveLeaf_reverts() public {
        (uint256 gameId, V4Model.Trace memory h, V4Model.Trace memory l) = _atLevelTwo();
        _playUntilProving(gameId, h, l);
        TypesV4.OperatorLeaf memory op = V4Model.op(2, 1);
        (uint256[] memory inputs, bytes32[][] memory proofs) = _inputs(op, h, 2);
        TypesV4.LeafStatement memory st = _statement(op);
        // Only the statement startDescent fixed: not another operator's, nor with another
        // source, param, verifier or budget.
        TypesV4.LeafStatement memory other = _statement(V4Model.op(2, 2));
        vm.expectPartialRevert(E.LeafStatementMismatch.selector);
        market.resolveLeaf(gameId, other, inputs, proofs, PROOF, false);
        uint256[] memory srcs = new uint256[](1);
        srcs[0] = st.inputSources[0] + 1;
        vm.expectPartialRevert(E.LeafStatementMismatch.selector);
        market.resolveLeaf(
            gameId, TypesV4.LeafStatement(st.verifier, st.gasLimit, srcs, st.params), inputs, proofs, PROOF, false
        );
        uint256[] memory params = new uint256[](2);
        (params[0], params[1]) = (st.params[0] + 1, st.params[1]);
        vm.expectPartialRevert(E.LeafStatementMismatch.selector);
        market.resolveLeaf(
            gameId,
            TypesV4.LeafStatement(st.verifier, st.gasLimit, st.inputSources, params),
            inputs,
            proofs,
            PROOF,
            false
        );
        vm.expectPartialRevert(E.LeafStatementMismatch.selector);
        market.resolveLeaf(
            gameId,
            TypesV4.LeafStatement(address(this), st.gasLimit, st.inputSources, st.params),
            inputs,
            proofs,
            PROOF,
            false
        );
        vm.expectPartialRevert(E.LeafStatementMismatch.selector);
        market.resolveLeaf(
            gameId, TypesV4.LeafStatement(st.verifier, 1, st.inputSources, st.params), inputs, proofs, PROOF, false
        );
        uint256[] memory none = new uint256[](0);
        vm.expectRevert(abi.encodeWithSelector(E.WrongInputCount.selector, 1, 0));
        market.resolveLeaf(gameId, st, none, proofs, PROOF, false);
        uint256[] memory wrong = new uint256[](1);
        wrong[0] = inputs[0] + 1;
        vm.expectPartialRevert(E.InvalidValueOpening.selector);
        market.resolveLeaf(gameId, st, wrong, proofs, PROOF, false);
        // Before the leaf is proven there is nothing to finish.
        vm.expectPartialRevert(Errors.WrongDescentPhase.selector);
        market.finishGame(gameId);
        vm.warp(_now() + PROVING + 1);
        vm.expectPartialRevert(Errors.DescentProvingWindowClosed.selector);
        market.resolveLeaf(gameId, st, inputs, proofs, PROOF, false);
        market.claimTimeout(gameId);
        assertEq(market.getGame(gameId).status, TypesV4.GameStatus.BothLost, "nobody proved in time");
    }

    /// @notice A proven leaf decides the game (§10.2, §10.10): until `finishGame` applies
    ///         the outcome nothing else ends it (no assembly proof, timeout or second leaf),
    ///         the response cannot finalise, and a `cancelGame` after another disproof of the
    ///         response pays the submitter whose leaf was proven, as `finishGame` would have.
    function test_provenLeaf_decidesTheGame() public {
        // The submitter's trace is true but it claims another S_n (a binding fault, provable
        // by a one-shot later); the challenger lies in chunk 1 of operator (2, 1).
        V4Model.Trace memory sub = V4Model.build(STEPS, V4Model.Lie(V4Model.LieKind.Output, 0, 0, 0));
        V4Model.Trace memory chal = _liar();
        uint256 requestId = _request(modelId, STEPS);
        _respond(requestId, sub);
        uint256 gameId = _challenge(requestId, chal);
        _playUntilProving(gameId, sub, chal);
        _proveLeaf(gameId, market.getGame(gameId), sub, market.getDescent(gameId));
        assertEq(market.getGame(gameId).status, TypesV4.GameStatus.InProgress, "decided, not finished");
        Types.ChunkDescent memory d = market.getDescent(gameId);
        assertEq(uint8(d.phase), uint8(Types.DescentPhase.Resolved), "the descent is over");
        assertEq(uint8(d.status), uint8(Types.GameStatus.SubmitterWon), "for the submitter");

        TypesV4.AssemblyOpening memory none;
        vm.expectRevert(abi.encodeWithSelector(E.LeafAlreadyProven.selector, gameId));
        market.proveAssemblyFault(gameId, Types.Side.Submitter, none);
        vm.warp(_now() + 30 days);
        vm.expectPartialRevert(Errors.DescentNotInProgress.selector);
        market.claimTimeout(gameId);
        TypesV4.OperatorLeaf memory op = V4Model.op(2, 1);
        (uint256[] memory inputs, bytes32[][] memory proofs) = _inputs(op, sub, 2);
        TypesV4.LeafStatement memory st = _statement(op);
        vm.expectPartialRevert(Errors.WrongDescentPhase.selector);
        market.resolveLeaf(gameId, st, inputs, proofs, PROOF, true);
        vm.expectPartialRevert(Errors.GamesInProgress.selector);
        market.finalize(requestId);

        // Another disproof ends the response first: the proven leaf still pays the submitter.
        vm.prank(anyone);
        market.proveBindingFault(requestId, STEPS, sub.S[STEPS], sub.P[STEPS - 1], V4Model.traceProof(sub, STEPS));
        uint256 before = market.balances(submitter);
        vm.expectPartialRevert(E.ResponseNotPendingV4.selector);
        market.finishGame(gameId);
        market.cancelGame(gameId);
        assertEq(market.getGame(gameId).status, TypesV4.GameStatus.SubmitterWon, "paid as decided");
        assertEq(market.balances(submitter) - before, CHALLENGER_BOND, "the challenger's bond");
        assertEq(market.balances(challenger), 0, "the liar gets nothing back");
    }

    ////////////////////////////////////////////////////////////////
    //                  One-shots and cancellation                //
    ////////////////////////////////////////////////////////////////

    function test_bindingFault_rules() public {
        uint256 id = _request(modelId, STEPS);
        V4Model.Trace memory h = _honest();
        _respond(id, h);
        bytes32[] memory p0 = V4Model.traceProof(h, 0);
        vm.expectRevert(abi.encodeWithSelector(E.TraceNotCommitted.selector, 1));
        market.proveBindingFault(id, 0, h.S[0], bytes32(0), p0);
        bytes32 root = V4Model.traceRoot(h);
        vm.prank(submitter);
        market.commitTrace(id, root);
        vm.expectRevert(abi.encodeWithSelector(E.NotABindingIndexV4.selector, 1, STEPS));
        market.proveBindingFault(id, 1, h.S[1], h.P[0], V4Model.traceProof(h, 1));
        vm.expectRevert(abi.encodeWithSelector(E.TraceLeafIsBound.selector, 0));
        market.proveBindingFault(id, 0, h.S[0], bytes32(0), p0);
        bytes32[] memory pn = V4Model.traceProof(h, STEPS);
        vm.expectRevert(abi.encodeWithSelector(E.TraceLeafIsBound.selector, STEPS));
        market.proveBindingFault(id, STEPS, h.S[STEPS], h.P[STEPS - 1], pn);
        vm.expectPartialRevert(E.InvalidTraceOpening.selector);
        market.proveBindingFault(id, STEPS, keccak256("other"), h.P[STEPS - 1], pn);
    }

    /// @notice A voluntarily committed trace with a mis-assembled state is disproven in one
    ///         transaction (the one-shot path of §5, for assembly).
    function test_assemblyOneShot_disprovesInOneTx() public {
        uint256 id = _request(modelId, STEPS);
        V4Model.Trace memory l = V4Model.build(STEPS, V4Model.Lie(V4Model.LieKind.Assembly, 1, 0, 0));
        _respond(id, l);
        bytes32 root = V4Model.traceRoot(l);
        vm.prank(submitter);
        market.commitTrace(id, root);
        TypesV4.AssemblyOpening memory a = V4Model.assemblyOpening(l, STEPS, 1, 0);
        bytes32[] memory loP = V4Model.traceProof(l, 1);
        bytes32[] memory hiP = V4Model.traceProof(l, 2);
        vm.expectRevert(abi.encodeWithSelector(E.StepOutOfRangeV4.selector, STEPS, STEPS));
        market.proveAssemblyFaultOneShot(id, STEPS, l.S[1], l.P[0], loP, l.S[2], l.P[1], hiP, a);
        vm.prank(anyone);
        market.proveAssemblyFaultOneShot(id, 1, l.S[1], l.P[0], loP, l.S[2], l.P[1], hiP, a);
        assertEq(uint8(market.getResponse(1).status), uint8(TypesV4.ResponseStatus.Disproven));
        assertEq(market.balances(anyone), RESPONSE_BOND / 2);
        // The honest slot is no fault.
        uint256 id2 = _request(modelId, STEPS);
        V4Model.Trace memory h = _honest();
        _respond(id2, h);
        bytes32 hroot = V4Model.traceRoot(h);
        vm.prank(submitter);
        market.commitTrace(id2, hroot);
        TypesV4.AssemblyOpening memory ha = V4Model.assemblyOpening(h, STEPS, 1, 0);
        bytes32[] memory hloP = V4Model.traceProof(h, 1);
        bytes32[] memory hhiP = V4Model.traceProof(h, 2);
        vm.expectRevert(abi.encodeWithSelector(E.NoAssemblyFault.selector, 0, ha.value));
        market.proveAssemblyFaultOneShot(id2, 1, h.S[1], h.P[0], hloP, h.S[2], h.P[1], hhiP, ha);
    }

    function test_cancelGame_onlyOnceTheResponseIsOver() public {
        uint256 id = _request(modelId, STEPS);
        V4Model.Trace memory l = V4Model.build(STEPS, V4Model.Lie(V4Model.LieKind.Output, 0, 0, 0));
        _respond(id, l);
        uint256 g1 = _challenge(id, _honest());
        vm.expectRevert(abi.encodeWithSelector(E.ResponseStillPending.selector, 1));
        market.cancelGame(g1);
        bytes32 root = V4Model.traceRoot(l);
        vm.prank(submitter);
        market.commitTrace(id, root);
        bytes32[] memory pn = V4Model.traceProof(l, STEPS);
        market.proveBindingFault(id, STEPS, l.S[STEPS], l.P[STEPS - 1], pn);
        vm.expectPartialRevert(E.ResponseNotPendingV4.selector);
        market.claimTimeout(g1);
        market.cancelGame(g1);
        assertEq(market.balances(challenger), CHALLENGER_BOND);
        vm.expectRevert(abi.encodeWithSelector(E.GameOver.selector, g1, TypesV4.GameStatus.Cancelled));
        market.cancelGame(g1);
        vm.expectRevert(abi.encodeWithSelector(Errors.UnknownGame.selector, 99));
        market.cancelGame(99);
    }

    /// @notice After a disproof the request re-opens; the next response waits for a later block.
    function test_reopen_nextResponseInALaterBlock() public {
        uint256 id = _request(modelId, STEPS);
        V4Model.Trace memory l = V4Model.build(STEPS, V4Model.Lie(V4Model.LieKind.Output, 0, 0, 0));
        _respond(id, l);
        bytes32 root = V4Model.traceRoot(l);
        vm.prank(submitter);
        market.commitTrace(id, root);
        market.proveBindingFault(id, STEPS, l.S[STEPS], l.P[STEPS - 1], V4Model.traceProof(l, STEPS));
        vm.expectPartialRevert(E.RespondTooEarly.selector);
        market.respond{value: RESPONSE_BOND}(id, keccak256("y"), "out");
        vm.warp(_now() + 1);
        market.respond{value: RESPONSE_BOND}(id, keccak256("y"), "out");
        assertEq(market.getRequest(id).responseCount, 2);
    }
}
