// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

import {MarketFixture} from "./utils/MarketFixture.sol";
import {IInferenceMarket} from "../src/interfaces/IInferenceMarket.sol";
import {Types} from "../src/lib/Types.sol";
import {LibMerkle} from "../src/lib/LibMerkle.sol";
import "../src/lib/Errors.sol" as Errors;

/// @notice Rejects ETH, to exercise TransferFailed.
contract Rejector {
    function go(IInferenceMarket m, uint256 modelId) external payable returns (uint256) {
        return m.requestInference{value: msg.value}(modelId, bytes32(uint256(42)), "");
    }

    function cancel(IInferenceMarket m, uint256 id) external {
        m.cancelRequest(id);
    }

    function pull(IInferenceMarket m) external {
        m.withdraw();
    }
}

/// @notice InferenceMarket unit tests: every path and every typed revert.
contract InferenceMarketTest is MarketFixture {
    uint32 internal constant N = 8;
    uint256 internal modelId;
    bytes32[] internal truth;
    bytes32[] internal lie;

    function setUp() public override {
        super.setUp();
        modelId = _register(N, 2);
        truth = _honest(N);
        lie = _divergent(N, 5, 1);
    }

    // ------------------------------------------------------------ requests

    function test_request_escrowsFeeAndEmits() public {
        vm.expectEmit(true, true, true, true, address(market));
        emit IInferenceMarket.RequestCreated(1, modelId, requester, INPUT, "bafy-input", FEE, N);
        uint256 id = _request(modelId);
        assertEq(id, 1);
        Types.Request memory r = market.getRequest(id);
        assertEq(r.requester, requester);
        assertEq(uint8(r.status), uint8(Types.RequestStatus.Open));
        assertEq(r.fee, FEE);
        assertEq(r.numSteps, N);
        assertEq(r.params.arity, 2);
        assertEq(address(market).balance, FEE);
    }

    function test_request_revertsZeroFee() public {
        vm.expectRevert(abi.encodeWithSelector(Errors.ZeroFee.selector));
        market.requestInference(modelId, INPUT, "");
    }

    function test_request_revertsNonFieldInput() public {
        vm.expectRevert(abi.encodeWithSelector(Errors.NotAFieldElement.selector, bytes32(R)));
        market.requestInference{value: 1}(modelId, bytes32(R), "");
    }

    function test_request_revertsUnknownModel() public {
        vm.expectRevert(abi.encodeWithSelector(Errors.UnknownModel.selector, uint256(99)));
        market.requestInference{value: 1}(99, INPUT, "");
    }

    // ------------------------------------------------------------ responses

    function test_respond_startsWindow() public {
        uint256 id = _request(modelId);
        vm.expectEmit(true, true, true, true, address(market));
        emit IInferenceMarket.ResponseSubmitted(
            id, 1, submitter, truth[N], "bafy-out", _root(truth), "bafy-trace", uint64(block.timestamp) + WINDOW
        );
        _respond(id, truth);
        Types.Response memory resp = market.getResponse(id);
        assertEq(resp.submitter, submitter);
        assertEq(resp.outputCommitment, truth[N]);
        assertEq(uint8(resp.status), uint8(Types.ResponseStatus.Pending));
        assertEq(uint8(market.getRequest(id).status), uint8(Types.RequestStatus.Responded));
        assertFalse(market.isFinal(id));
    }

    function test_respond_revertsWrongBond() public {
        uint256 id = _request(modelId);
        vm.expectRevert(abi.encodeWithSelector(Errors.WrongBond.selector, uint256(RESPONSE_BOND), uint256(0)));
        market.respond(id, truth[N], "", bytes32(0), "");
    }

    function test_respond_revertsUnknownAndTwice() public {
        vm.expectRevert(abi.encodeWithSelector(Errors.UnknownRequest.selector, uint256(5)));
        market.respond{value: RESPONSE_BOND}(5, truth[N], "", bytes32(0), "");
        uint256 id = _request(modelId);
        _respond(id, truth);
        vm.expectRevert(
            abi.encodeWithSelector(
                Errors.WrongRequestStatus.selector, id, Types.RequestStatus.Open, Types.RequestStatus.Responded
            )
        );
        market.respond{value: RESPONSE_BOND}(id, truth[N], "", bytes32(0), "");
    }

    function test_respond_revertsNonFieldOutput() public {
        uint256 id = _request(modelId);
        vm.expectRevert(abi.encodeWithSelector(Errors.NotAFieldElement.selector, bytes32(R + 1)));
        market.respond{value: RESPONSE_BOND}(id, bytes32(R + 1), "", bytes32(0), "");
    }

    // ------------------------------------------------------------ finalize / cancel / withdraw

    function test_finalize_paysFeeAndBond() public {
        uint256 id = _request(modelId);
        _respond(id, truth);
        vm.expectRevert(
            abi.encodeWithSelector(Errors.ChallengeWindowOpen.selector, id, uint64(block.timestamp) + WINDOW)
        );
        market.finalize(id);
        vm.expectRevert(
            abi.encodeWithSelector(
                Errors.WrongRequestStatus.selector, id, Types.RequestStatus.Finalized, Types.RequestStatus.Responded
            )
        );
        market.result(id);
        vm.warp(block.timestamp + WINDOW + 1);
        assertTrue(market.isFinal(id), "final once the window passed");
        market.finalize(id);
        assertEq(market.balances(submitter), FEE + RESPONSE_BOND);
        (bytes32 out, string memory cid) = market.result(id);
        assertEq(out, truth[N]);
        assertEq(cid, "bafy-out");
        uint256 before = submitter.balance;
        vm.prank(submitter);
        market.withdraw();
        assertEq(submitter.balance, before + FEE + RESPONSE_BOND);
        assertEq(address(market).balance, 0);
    }

    function test_finalize_revertsWhileGameOpen() public {
        uint256 id = _request(modelId);
        _respond(id, truth);
        _challenge(id, challenger, lie);
        vm.warp(block.timestamp + WINDOW + 1);
        assertFalse(market.isFinal(id));
        vm.expectRevert(abi.encodeWithSelector(Errors.GamesInProgress.selector, uint256(1), uint32(1)));
        market.finalize(id);
    }

    function test_cancelRequest() public {
        uint256 id = _request(modelId);
        vm.expectRevert(abi.encodeWithSelector(Errors.NotRequester.selector, address(this), requester));
        market.cancelRequest(id);
        vm.prank(requester);
        vm.expectRevert(abi.encodeWithSelector(Errors.CancelTooEarly.selector, id, uint64(block.timestamp) + WINDOW));
        market.cancelRequest(id);
        vm.warp(block.timestamp + WINDOW + 1);
        vm.prank(requester);
        market.cancelRequest(id);
        assertEq(market.balances(requester), FEE);
        assertEq(uint8(market.getRequest(id).status), uint8(Types.RequestStatus.Cancelled));
    }

    function test_cancelRequest_revertsOnceResponded() public {
        uint256 id = _request(modelId);
        _respond(id, truth);
        vm.warp(block.timestamp + WINDOW + 1);
        vm.prank(requester);
        vm.expectRevert(
            abi.encodeWithSelector(
                Errors.WrongRequestStatus.selector, id, Types.RequestStatus.Open, Types.RequestStatus.Responded
            )
        );
        market.cancelRequest(id);
    }

    function test_withdraw_reverts() public {
        vm.expectRevert(abi.encodeWithSelector(Errors.NothingToWithdraw.selector, address(this)));
        market.withdraw();
        Rejector rej = new Rejector();
        uint256 id = rej.go{value: 1}(market, modelId);
        vm.warp(block.timestamp + WINDOW + 1);
        rej.cancel(market, id);
        vm.expectRevert(abi.encodeWithSelector(Errors.TransferFailed.selector, address(rej), uint256(1)));
        rej.pull(market);
    }

    // ------------------------------------------------------------ challenges

    function test_challenge_opensGame() public {
        uint256 id = _request(modelId);
        _respond(id, truth);
        uint256 gameId = _challenge(id, challenger, lie);
        assertEq(gameId, 1);
        Types.GameView memory g = market.getGame(gameId);
        assertEq(g.requestId, id);
        assertEq(g.submitter, submitter);
        assertEq(g.challenger, challenger);
        assertEq(g.lo, 0);
        assertEq(g.hi, N);
        assertEq(g.loState, INPUT);
        assertEq(g.hiSubmitter, truth[N]);
        assertEq(g.hiChallenger, lie[N]);
        assertEq(g.submitterClock, CLOCK);
        assertEq(g.turnDeadline, uint64(block.timestamp) + CLOCK);
        assertEq(uint8(g.phase), uint8(Types.GamePhase.SubmitterReveal));
        assertEq(market.getResponse(id).openGames, 1);
        uint32[] memory pts = market.splitPoints(gameId);
        assertEq(pts.length, 1);
        assertEq(pts[0], 4);
    }

    function test_challenge_reverts() public {
        uint256 id = _request(modelId);
        vm.expectRevert(
            abi.encodeWithSelector(
                Errors.WrongRequestStatus.selector, id, Types.RequestStatus.Responded, Types.RequestStatus.Open
            )
        );
        market.challenge{value: CHALLENGER_BOND}(id, lie[N], bytes32(0));
        _respond(id, truth);
        vm.expectRevert(abi.encodeWithSelector(Errors.WrongBond.selector, uint256(CHALLENGER_BOND), uint256(1)));
        market.challenge{value: 1}(id, lie[N], bytes32(0));
        vm.expectRevert(abi.encodeWithSelector(Errors.ClaimMatchesResponse.selector, truth[N]));
        market.challenge{value: CHALLENGER_BOND}(id, truth[N], bytes32(0));
        vm.expectRevert(abi.encodeWithSelector(Errors.NotAFieldElement.selector, bytes32(type(uint256).max)));
        market.challenge{value: CHALLENGER_BOND}(id, bytes32(type(uint256).max), bytes32(0));
        vm.warp(block.timestamp + WINDOW + 1);
        vm.expectRevert(abi.encodeWithSelector(Errors.ChallengeWindowClosed.selector, id, uint64(block.timestamp) - 1));
        market.challenge{value: CHALLENGER_BOND}(id, lie[N], bytes32(0));
    }

    // ------------------------------------------------------------ moves

    function _game() internal returns (uint256 id, uint256 gameId) {
        id = _request(modelId);
        _respond(id, truth);
        gameId = _challenge(id, challenger, lie);
    }

    function test_moves_revertUnknownGame() public {
        vm.expectRevert(abi.encodeWithSelector(Errors.UnknownGame.selector, uint256(7)));
        market.submitterReveal(7, new bytes32[](0), new bytes32[][](0));
        vm.expectRevert(abi.encodeWithSelector(Errors.UnknownGame.selector, uint256(7)));
        market.getGame(7);
    }

    function test_submitterReveal_reverts() public {
        (, uint256 gameId) = _game();
        uint32[] memory pts = market.splitPoints(gameId);
        (bytes32[] memory v, bytes32[][] memory p) = _open(truth, pts);
        vm.expectRevert(abi.encodeWithSelector(Errors.WrongStateCount.selector, uint256(1), uint256(0)));
        market.submitterReveal(gameId, new bytes32[](0), p);
        vm.expectRevert(abi.encodeWithSelector(Errors.WrongStateCount.selector, uint256(1), uint256(0)));
        market.submitterReveal(gameId, v, new bytes32[][](0));
        // A state not in the submitter's trace.
        bytes32[] memory bad = new bytes32[](1);
        bad[0] = lie[6];
        vm.expectRevert(abi.encodeWithSelector(Errors.InvalidTraceProof.selector, uint256(4), lie[6]));
        market.submitterReveal(gameId, bad, p);
        // Not the challenger's turn.
        vm.expectRevert(
            abi.encodeWithSelector(
                Errors.WrongPhase.selector, gameId, Types.GamePhase.ChallengerReveal, Types.GamePhase.SubmitterReveal
            )
        );
        market.challengerReveal(gameId, v, v, p);
        // Too late.
        vm.warp(block.timestamp + CLOCK + 1);
        vm.expectRevert(abi.encodeWithSelector(Errors.ClockExpired.selector, gameId, uint64(block.timestamp) - 1));
        market.submitterReveal(gameId, v, p);
    }

    function test_challengerReveal_reverts() public {
        (, uint256 gameId) = _game();
        uint32[] memory pts = market.splitPoints(gameId);
        (bytes32[] memory sv, bytes32[][] memory sp) = _open(truth, pts);
        vm.warp(block.timestamp + 100);
        market.submitterReveal(gameId, sv, sp);
        Types.GameView memory g = market.getGame(gameId);
        assertEq(g.submitterClock, CLOCK - 100, "submitter charged for its turn");
        assertEq(uint8(g.phase), uint8(Types.GamePhase.ChallengerReveal));
        (bytes32[] memory cv, bytes32[][] memory cp) = _open(lie, pts);
        // Submitter states tampered.
        vm.expectRevert(
            abi.encodeWithSelector(
                Errors.RevealMismatch.selector, keccak256(abi.encodePacked(sv)), keccak256(abi.encodePacked(uint256(9)))
            )
        );
        market.challengerReveal(gameId, _one(bytes32(uint256(9))), cv, cp);
        // Challenger's state not in its trace.
        vm.expectRevert(abi.encodeWithSelector(Errors.InvalidTraceProof.selector, uint256(4), lie[3]));
        market.challengerReveal(gameId, sv, _one(lie[3]), cp);
        vm.expectRevert(
            abi.encodeWithSelector(
                Errors.WrongPhase.selector, gameId, Types.GamePhase.SubmitterReveal, Types.GamePhase.ChallengerReveal
            )
        );
        market.submitterReveal(gameId, sv, sp);
        vm.warp(block.timestamp + CLOCK + 1);
        vm.expectRevert(abi.encodeWithSelector(Errors.ClockExpired.selector, gameId, uint64(block.timestamp) - 1));
        market.challengerReveal(gameId, sv, cv, cp);
    }

    function _one(bytes32 x) internal pure returns (bytes32[] memory a) {
        a = new bytes32[](1);
        a[0] = x;
    }

    function test_game_honestSubmitterWinsAtLeaf() public {
        (uint256 id, uint256 gameId) = _game();
        _bisect(gameId, truth, lie);
        Types.GameView memory g = market.getGame(gameId);
        assertEq(g.lo, 5, "lie diverges at step 5");
        assertEq(g.hi, 6);
        assertEq(g.provingDeadline, uint64(block.timestamp) + PROVING);
        vm.expectEmit(true, true, false, true, address(market));
        emit IInferenceMarket.GameResolved(gameId, id, Types.GameStatus.SubmitterWon);
        _resolve(gameId, N);
        assertEq(market.balances(submitter), CHALLENGER_BOND);
        assertEq(market.getResponse(id).openGames, 0);
        vm.expectRevert(
            abi.encodeWithSelector(Errors.GameNotInProgress.selector, gameId, Types.GameStatus.SubmitterWon)
        );
        market.claimTimeout(gameId);
        vm.warp(1 + WINDOW + 1);
        market.finalize(id);
        assertEq(market.balances(submitter), CHALLENGER_BOND + FEE + RESPONSE_BOND);
    }

    function test_game_honestChallengerWinsAndRequestReopens() public {
        uint256 id = _request(modelId);
        _respond(id, lie);
        uint256 gameId = _challenge(id, challenger, truth);
        _bisect(gameId, lie, truth);
        vm.expectEmit(true, true, true, true, address(market));
        emit IInferenceMarket.ResponseDisproven(id, 1, challenger, Types.DisproofReason.Bisection);
        _resolve(gameId, N);
        assertEq(uint8(market.getGame(gameId).status), uint8(Types.GameStatus.ChallengerWon));
        assertEq(market.balances(challenger), CHALLENGER_BOND + RESPONSE_BOND);
        assertEq(uint8(market.getRequest(id).status), uint8(Types.RequestStatus.Open));
        assertEq(uint8(market.getResponseById(1).status), uint8(Types.ResponseStatus.Disproven));
        // A new, honest response is accepted and finalized; the fee was kept in escrow.
        _respond(id, truth);
        vm.warp(block.timestamp + WINDOW + 1);
        market.finalize(id);
        assertEq(market.balances(submitter), FEE + RESPONSE_BOND);
        assertEq(market.getRequest(id).responseCount, 2);
    }

    function test_resolveLeaf_reverts() public {
        (, uint256 gameId) = _game();
        vm.expectRevert(
            abi.encodeWithSelector(
                Errors.WrongPhase.selector, gameId, Types.GamePhase.Proving, Types.GamePhase.SubmitterReveal
            )
        );
        market.resolveLeaf(gameId, _opDigest(0), address(mock), _modelProof(N, 0), PROOF, false);
        _bisect(gameId, truth, lie);
        // Wrong leaf for step 5 (step 4's digest).
        bytes32[] memory mp = _modelProof(N, 5);
        vm.expectRevert(
            abi.encodeWithSelector(Errors.InvalidModelProof.selector, uint256(5), _opDigest(4), address(mock))
        );
        market.resolveLeaf(gameId, _opDigest(4), address(mock), mp, PROOF, false);
        // No valid proof (empty proof is rejected by the mock).
        vm.expectRevert(abi.encodeWithSelector(Errors.InvalidProof.selector));
        market.resolveLeaf(gameId, _opDigest(5), address(mock), mp, "", false);
        // A valid proof presented as the other side's claim: the liar's post-state does not verify.
        vm.expectRevert(abi.encodeWithSelector(Errors.InvalidProof.selector));
        market.resolveLeaf(gameId, _opDigest(5), address(mock), mp, PROOF, true);
        vm.warp(block.timestamp + PROVING + 1);
        vm.expectRevert(
            abi.encodeWithSelector(Errors.ProvingWindowClosed.selector, gameId, uint64(block.timestamp) - 1)
        );
        market.resolveLeaf(gameId, _opDigest(5), address(mock), mp, PROOF, false);
    }

    function test_resolveLeaf_revertsVerifierWithoutCode() public {
        // A model whose step-0 verifier is an EOA.
        bytes32[] memory leaves = new bytes32[](1);
        leaves[0] = LibMerkle.leafModel(0, 5, anyone);
        uint256 m = registry.registerModel(LibMerkle.root(leaves), 1, 1, "", "", _params(2));
        uint256 id = _request(m);
        bytes32[] memory t = new bytes32[](2);
        t[0] = INPUT;
        t[1] = bytes32(uint256(1));
        _respond(id, t);
        t[1] = bytes32(uint256(2));
        uint256 gameId = _challenge(id, challenger, t);
        assertEq(uint8(market.getGame(gameId).phase), uint8(Types.GamePhase.Proving), "n == 1 starts at the leaf");
        vm.expectRevert(abi.encodeWithSelector(Errors.VerifierHasNoCode.selector, anyone));
        market.resolveLeaf(gameId, 5, anyone, new bytes32[](0), PROOF, true);
    }

    // ------------------------------------------------------------ timeouts

    function test_claimTimeout_submitterStalls() public {
        (uint256 id, uint256 gameId) = _game();
        vm.warp(block.timestamp + CLOCK);
        vm.expectRevert(abi.encodeWithSelector(Errors.NoTimeout.selector, gameId, uint64(block.timestamp)));
        market.claimTimeout(gameId);
        vm.warp(block.timestamp + 1);
        market.claimTimeout(gameId);
        assertEq(uint8(market.getGame(gameId).status), uint8(Types.GameStatus.ChallengerWon));
        assertEq(market.balances(challenger), CHALLENGER_BOND + RESPONSE_BOND);
        assertEq(uint8(market.getRequest(id).status), uint8(Types.RequestStatus.Open));
    }

    function test_claimTimeout_challengerStalls() public {
        (, uint256 gameId) = _game();
        uint32[] memory pts = market.splitPoints(gameId);
        (bytes32[] memory sv, bytes32[][] memory sp) = _open(truth, pts);
        market.submitterReveal(gameId, sv, sp);
        vm.warp(block.timestamp + CLOCK + 1);
        market.claimTimeout(gameId);
        assertEq(uint8(market.getGame(gameId).status), uint8(Types.GameStatus.SubmitterWon));
        assertEq(market.balances(submitter), CHALLENGER_BOND);
    }

    function test_claimTimeout_provingWindowBothLose() public {
        (uint256 id, uint256 gameId) = _game();
        _bisect(gameId, truth, lie);
        vm.warp(block.timestamp + PROVING + 1);
        market.claimTimeout(gameId);
        assertEq(uint8(market.getGame(gameId).status), uint8(Types.GameStatus.BothLost));
        assertEq(market.balances(requester), CHALLENGER_BOND + RESPONSE_BOND);
        assertEq(market.balances(submitter), 0);
        assertEq(market.balances(challenger), 0);
        assertEq(uint8(market.getResponse(id).status), uint8(Types.ResponseStatus.Disproven));
        assertEq(uint8(market.getRequest(id).status), uint8(Types.RequestStatus.Open));
    }

    // ------------------------------------------------------------ parallel games

    function test_parallelGames_firstWinCancelsOthers() public {
        uint256 id = _request(modelId);
        _respond(id, lie);
        uint256 g1 = _challenge(id, challenger, truth);
        uint256 g2 = _challenge(id, anyone, _divergent(N, 2, 9));
        assertEq(market.getResponse(id).openGames, 2);
        vm.expectRevert(
            abi.encodeWithSelector(Errors.ResponseNotDisproven.selector, uint256(1), Types.ResponseStatus.Pending)
        );
        market.cancelGame(g2);
        _bisect(g1, lie, truth);
        _resolve(g1, N);
        // g2 is now dead: moves revert, cancellation refunds its bond.
        uint32[] memory pts = market.splitPoints(g2);
        (bytes32[] memory sv, bytes32[][] memory sp) = _open(lie, pts);
        vm.expectRevert(
            abi.encodeWithSelector(Errors.ResponseNotPending.selector, uint256(1), Types.ResponseStatus.Disproven)
        );
        market.submitterReveal(g2, sv, sp);
        market.cancelGame(g2);
        assertEq(market.balances(anyone), CHALLENGER_BOND);
        assertEq(uint8(market.getGame(g2).status), uint8(Types.GameStatus.Cancelled));
        vm.expectRevert(abi.encodeWithSelector(Errors.GameNotInProgress.selector, g2, Types.GameStatus.Cancelled));
        market.cancelGame(g2);
    }

    // ------------------------------------------------------------ one-shot & binding

    function _oneShot(uint256 id, bytes32[] memory subTrace, uint32 step, bytes32 provenPost, bytes memory proof)
        internal
    {
        vm.prank(anyone);
        market.challengeOneShot(
            id,
            step,
            subTrace[step],
            _proof(subTrace, step),
            subTrace[step + 1],
            _proof(subTrace, step + 1),
            provenPost,
            _opDigest(step),
            address(mock),
            _modelProof(N, step),
            proof
        );
    }

    function test_oneShot_disprovesInOneTx() public {
        uint256 id = _request(modelId);
        _respond(id, lie);
        bytes32 provenPost = bytes32(mock.next(uint256(lie[5]), _opDigest(5)));
        vm.expectEmit(true, true, true, true, address(market));
        emit IInferenceMarket.ResponseDisproven(id, 1, anyone, Types.DisproofReason.OneShot);
        _oneShot(id, lie, 5, provenPost, PROOF);
        assertEq(market.balances(anyone), RESPONSE_BOND);
        assertEq(uint8(market.getRequest(id).status), uint8(Types.RequestStatus.Open));
    }

    function test_oneShot_reverts() public {
        uint256 id = _request(modelId);
        _respond(id, truth);
        // The submitter's step 5 is correct: its own post-state is all one can prove.
        vm.expectRevert(abi.encodeWithSelector(Errors.NoFaultProven.selector, truth[6]));
        _oneShot(id, truth, 5, truth[6], PROOF);
        // Any other post-state is not provable.
        vm.expectRevert(abi.encodeWithSelector(Errors.InvalidProof.selector));
        _oneShot(id, truth, 5, bytes32(uint256(123)), PROOF);
        // States not from the submitter's trace.
        vm.expectRevert(abi.encodeWithSelector(Errors.InvalidTraceProof.selector, uint256(5), lie[5]));
        _oneShot(id, lie, 5, truth[6], PROOF);
        vm.expectRevert(abi.encodeWithSelector(Errors.StepOutOfRange.selector, uint32(N), N));
        market.challengeOneShot(
            id, N, 0, new bytes32[](0), 0, new bytes32[](0), 0, 0, address(mock), new bytes32[](0), PROOF
        );
        bytes32[] memory pre = _proof(truth, 2);
        bytes32[] memory post = _proof(truth, 3);
        bytes32[] memory mp = _modelProof(N, 3);
        vm.expectRevert(
            abi.encodeWithSelector(Errors.InvalidModelProof.selector, uint256(2), _opDigest(2), address(mock))
        );
        market.challengeOneShot(
            id, 2, truth[2], pre, truth[3], post, bytes32(uint256(1)), _opDigest(2), address(mock), mp, PROOF
        );
        vm.warp(block.timestamp + WINDOW + 1);
        vm.expectRevert(abi.encodeWithSelector(Errors.ChallengeWindowClosed.selector, id, uint64(block.timestamp) - 1));
        _oneShot(id, truth, 5, bytes32(uint256(123)), PROOF);
    }

    function test_bindingFault_inputAndOutput() public {
        // Trace starting from a state other than the request's input.
        bytes32[] memory t = _honest(N);
        t[0] = bytes32(uint256(43));
        uint256 id = _request(modelId);
        _respond(id, t);
        vm.expectRevert(abi.encodeWithSelector(Errors.NotABindingIndex.selector, uint32(3), N));
        market.proveBindingFault(id, 3, t[3], _proof(t, 3));
        bytes32[] memory p8 = _proof(t, N);
        vm.expectRevert(abi.encodeWithSelector(Errors.LeafIsBound.selector, N, t[N]));
        market.proveBindingFault(id, N, t[N], p8);
        bytes32[] memory p0 = _proof(t, 0);
        vm.expectRevert(abi.encodeWithSelector(Errors.InvalidTraceProof.selector, uint256(0), INPUT));
        market.proveBindingFault(id, 0, INPUT, p0);
        vm.prank(anyone);
        market.proveBindingFault(id, 0, t[0], p0);
        assertEq(market.balances(anyone), RESPONSE_BOND);
    }

    /// @notice Regression: the predecessor published an output not bound to its trace.
    function test_regression_outputNotBoundToTrace() public {
        uint256 id = _request(modelId);
        vm.prank(submitter);
        market.respond{value: RESPONSE_BOND}(id, bytes32(uint256(77)), "", _root(truth), "");
        vm.expectEmit(true, true, true, true, address(market));
        emit IInferenceMarket.ResponseDisproven(id, 1, anyone, Types.DisproofReason.BindingFault);
        vm.prank(anyone);
        market.proveBindingFault(id, N, truth[N], _proof(truth, N));
    }
}
