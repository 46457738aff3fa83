// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

import {Types} from "../../src/lib/Types.sol";
import "../../src/lib/Errors.sol" as Errors;
import "../../src/v4/lib/ErrorsV4.sol" as E;
import {InferenceMarketV4} from "../../src/v4/InferenceMarketV4.sol";
import {TypesV4} from "../../src/v4/lib/TypesV4.sol";
import {LibTraceV4} from "../../src/v4/lib/LibTraceV4.sol";
import {MarketV4Fixture, V4Model} from "./utils/MarketV4Fixture.sol";

/// @notice A challenger contract that refuses every payment (its receive reverts).
contract RefusingChallenger {
    InferenceMarketV4 internal immutable market;

    constructor(InferenceMarketV4 m) payable {
        market = m;
    }

    function challenge(uint256 requestId, bytes32 claimed, bytes32 root) external returns (uint256) {
        return market.challenge{value: 0.5 ether}(requestId, claimed, root);
    }

    function pull() external {
        market.withdraw();
    }

    receive() external payable {
        revert("no");
    }
}

/// @notice Attacks on the version-4 market by a party with money at stake, beyond those of
///         MarketV4Economics (self-disproof, self-challenge, squatting, BothLost). Each
///         `test_attack_<what>` plays an attack that broke the contracts before its fix and
///         asserts it now fails; each `test_attack_<what>_isRejected` plays one the contracts
///         already defend, as the spec.
contract MarketV4AttacksTest is MarketV4Fixture {
    uint32 internal constant STEPS = 5;

    /// @dev A liar's second address.
    address internal sybil = makeAddr("liar's second address");

    function setUp() public override {
        super.setUp();
        vm.deal(sybil, 10 ether);
    }

    /// @dev A liar that follows the truth up to step `step`, then commits an S_{step+1} with no
    ///      opening at all (a root nobody knows a preimage of), with a valid trace leaf over
    ///      it and the true P_step; every later leaf is junk, and it claims another output.
    function _junkStateLiar(uint32 n, uint32 step) internal pure returns (V4Model.Trace memory t) {
        t = V4Model.honest(n);
        t.S[step + 1] = keccak256("a state root with no preimage");
        t.L[step + 1] = LibTraceV4.traceLeaf(t.S[step + 1], t.P[step]);
        for (uint32 j = step + 2; j <= n; ++j) {
            t.L[j] = keccak256(abi.encode("junk", j));
        }
        t.claimed = keccak256("another output");
    }

    ////////////////////////////////////////////////////////////////
    //          Broke the contracts before the fix (2026-12-07)      //
    ////////////////////////////////////////////////////////////////

    /// @notice Attack (broke the contracts before the fix): a lying challenger whose trace
    ///         is true up to step 2, where its L_3 opens to the true P_2 and an S_3 that is
    ///         no tree of slot values (a root with no preimage). Level 2 found equal P_lo,
    ///         so the game entered AssemblyProving, where a fault is proven by opening a
    ///         slot of the liar's S_hi, which nobody could. The window ran out: BothLost
    ///         burned the honest submitter's bond and disproved its true response, for the
    ///         liar's bond (measured before the fix: status BothLost, submitter balance 0,
    ///         1.5 ETH burned). Now a side opens its S_hi by its W slot values: the liar
    ///         cannot open its L_3 at all and loses on its clock; nothing burns, the
    ///         response stands and finalises.
    function test_attack_unopenableStateHi_againstHonestSubmitter() public {
        uint32 n = STEPS;
        V4Model.Trace memory honest = V4Model.honest(n);
        V4Model.Trace memory liar = _junkStateLiar(n, 2);
        (uint256 requestId, uint256 gameId) = _game(n, 3, honest, liar);
        assertEq(_play(gameId, honest, liar), TypesV4.GameStatus.SubmitterWon, "the liar loses");
        assertEq(market.burned(), 0, "nothing burned");
        assertEq(market.balances(submitter), CHALLENGER_BOND, "the honest submitter takes the bond");
        assertEq(uint8(market.getResponse(1).status), uint8(TypesV4.ResponseStatus.Pending), "not disproven");
        vm.warp(market.getResponse(1).challengeDeadline + 1);
        market.finalize(requestId);
        assertEq(market.balances(submitter), CHALLENGER_BOND + FEE + RESPONSE_BOND, "paid in full");
    }

    /// @notice The same attack by a lying submitter against an honest challenger: the
    ///         challenger used to lose its bond to BothLost; now it wins.
    function test_attack_unopenableStateHi_againstHonestChallenger() public {
        uint32 n = STEPS;
        V4Model.Trace memory honest = V4Model.honest(n);
        V4Model.Trace memory liar = _junkStateLiar(n, 3);
        (, uint256 gameId) = _game(n, 3, liar, honest);
        assertEq(_play(gameId, liar, honest), TypesV4.GameStatus.ChallengerWon, "the liar loses");
        assertEq(market.balances(challenger), CHALLENGER_BOND + RESPONSE_BOND / 2, "bond + reward");
    }

    /// @notice Attack (broke the contracts before the fix; the helper's review of issue 14):
    ///         a liar whose response is beaten by an honest challenger's proven leaf steals
    ///         the challenger's reward in the block between `resolveLeaf` and `finishGame`.
    ///         It lied at an operator output (step 2) and, as an escape hatch, left its own
    ///         trace unbound to its claimed output; once the leaf is proven, its second
    ///         address disproves the response by the binding fault — the disprover's half of
    ///         the bond went to the liar's sybil, the honest challenger got only its bond back
    ///         (the game cancelled). A second escape — a sybil game against itself, armed by
    ///         letting its own clock run out there — fired the same way. Now a leaf proven for
    ///         the challenger holds the response: both revert `ResponseHeldByGame`, and
    ///         `finishGame` pays the proven challenger its bond and the reward.
    function test_attack_sybilPreemptsAProvenChallenger() public {
        uint32 n = STEPS;
        V4Model.Trace memory honest = V4Model.honest(n);
        V4Model.Trace memory liar = V4Model.build(n, _lie(V4Model.LieKind.Chunk, 2, 1, 1));
        liar.claimed = keccak256("another output"); // the escape hatch: S_n is not the claim
        uint256 requestId = _request(_register(n, 3), n);
        _respond(requestId, liar);
        // The armed sybil game: the sybil challenges first; the liar never moves in it.
        vm.prank(sybil);
        uint256 sybilGame = market.challenge{value: CHALLENGER_BOND}(requestId, honest.claimed, bytes32(uint256(1)));
        uint256 gameId = _challenge(requestId, honest);

        _playUntilProving(gameId, liar, honest);
        // The liar let its clock in the sybil game run out (the leaf's proving window is longer).
        vm.warp(uint256(market.turnDeadline(sybilGame)) + 1);
        Types.ChunkDescent memory d = market.getDescent(gameId);
        assertLe(_now(), d.provingDeadline, "the leaf is still in time");
        _proveLeaf(gameId, market.getGame(gameId), liar, d);
        assertEq(uint8(market.getDescent(gameId).phase), uint8(Types.DescentPhase.Resolved), "leaf proven");
        assertEq(market.getResponse(1).decidedGame, gameId, "the proven game holds the response");

        // The pre-emptions, in the block before finishGame.
        bytes memory held = abi.encodeWithSelector(E.ResponseHeldByGame.selector, 1, gameId);
        bytes32[] memory proof = V4Model.traceProof(liar, n);
        vm.prank(sybil);
        vm.expectRevert(held);
        market.proveBindingFault(requestId, n, liar.S[n], liar.P[n - 1], proof);
        vm.prank(sybil);
        vm.expectRevert(held);
        market.claimTimeout(sybilGame);

        vm.prank(anyone);
        market.finishGame(gameId);
        assertEq(market.balances(challenger), CHALLENGER_BOND + RESPONSE_BOND / 2, "the proven challenger is paid");
        market.cancelGame(sybilGame);
        assertEq(market.balances(sybil), CHALLENGER_BOND, "the sybil only gets its bond back");
        assertEq(market.burned(), RESPONSE_BOND / 2, "the rest of the liar's bond burns");
    }

    /// @notice The same theft by a second proven leaf (found reviewing the fix above): the
    ///         liar's sybil plays its own game from the true trace to its leaf and proves it
    ///         right after the honest challenger's. The first leaf proven for a challenger
    ///         holds the response; the later one does not take the hold over, its
    ///         `finishGame` reverts `ResponseHeldByGame`, and the honest challenger is paid.
    function test_attack_secondProvenLeafCannotTakeTheHold() public {
        uint32 n = STEPS;
        V4Model.Trace memory honest = V4Model.honest(n);
        V4Model.Trace memory liar = V4Model.build(n, _lie(V4Model.LieKind.Chunk, 2, 1, 1));
        uint256 requestId = _request(_register(n, 3), n);
        _respond(requestId, liar);
        uint256 gameId = _challenge(requestId, honest);
        bytes32 root = V4Model.traceRoot(honest);
        vm.prank(sybil);
        uint256 sybilGame = market.challenge{value: CHALLENGER_BOND}(requestId, honest.claimed, root);
        _playUntilProving(gameId, liar, honest);
        _playUntilProving(sybilGame, liar, honest);

        _proveLeaf(gameId, market.getGame(gameId), liar, market.getDescent(gameId));
        _proveLeaf(sybilGame, market.getGame(sybilGame), liar, market.getDescent(sybilGame));
        assertEq(uint8(market.getDescent(sybilGame).phase), uint8(Types.DescentPhase.Resolved), "both proven");
        assertEq(market.getResponse(1).decidedGame, gameId, "the first proven game keeps the hold");

        vm.prank(sybil);
        vm.expectRevert(abi.encodeWithSelector(E.ResponseHeldByGame.selector, 1, gameId));
        market.finishGame(sybilGame);
        market.finishGame(gameId);
        assertEq(market.balances(challenger), CHALLENGER_BOND + RESPONSE_BOND / 2, "the first prover is paid");
        market.cancelGame(sybilGame);
        assertEq(market.balances(sybil), CHALLENGER_BOND, "the sybil only gets its bond back");
    }

    ////////////////////////////////////////////////////////////////
    //                 Defended already (the spec)                 //
    ////////////////////////////////////////////////////////////////

    /// @notice A challenger contract whose receive reverts cannot block anyone: payouts are
    ///         credits, so the game's end, the other parties' withdrawals and the finalisation
    ///         go through; only its own withdrawal fails (TransferFailed), its credit kept.
    function test_attack_revertingRecipientBlocksOthers_isRejected() public {
        uint32 n = STEPS;
        V4Model.Trace memory honest = V4Model.honest(n);
        V4Model.Trace memory liar = V4Model.build(n, _lie(V4Model.LieKind.Chunk, 2, 0, 1));
        uint256 requestId = _request(_register(n, 3), n);
        _respond(requestId, liar);
        RefusingChallenger rc = new RefusingChallenger{value: 1 ether}(market);
        bytes32 root = V4Model.traceRoot(honest);
        uint256 gameId = rc.challenge(requestId, honest.claimed, root);
        assertEq(_play(gameId, liar, honest), TypesV4.GameStatus.ChallengerWon, "the refuser wins");
        uint256 owed = CHALLENGER_BOND + RESPONSE_BOND / 2;
        assertEq(market.balances(address(rc)), owed, "credited");
        vm.expectPartialRevert(Errors.TransferFailed.selector);
        rc.pull();
        assertEq(market.balances(address(rc)), owed, "the credit is kept");
        // Everyone else is unaffected: a new response, its finalisation, the withdrawal.
        vm.warp(_now() + 12);
        _respond(requestId, honest);
        vm.warp(market.getResponse(2).challengeDeadline + 1);
        market.finalize(requestId);
        uint256 before = submitter.balance;
        vm.prank(submitter);
        market.withdraw();
        assertEq(submitter.balance - before, FEE + RESPONSE_BOND, "the submitter withdrew");
    }

    /// @notice Deadlines at their boundaries: at t = challengeDeadline a challenge is accepted
    ///         and finalize refused; a move exactly at its turn's deadline is accepted and
    ///         claimTimeout is refused; one second later the move is refused and the timeout
    ///         accepted. No second at which both or neither are possible.
    function test_attack_deadlineEquality_isRejected() public {
        uint32 n = STEPS;
        V4Model.Trace memory honest = V4Model.honest(n);
        V4Model.Trace memory liar = V4Model.build(n, _lie(V4Model.LieKind.Chunk, 2, 0, 1));
        uint256 requestId = _request(_register(n, 3), n);
        _respond(requestId, honest);
        uint64 deadline = market.getResponse(1).challengeDeadline;
        vm.warp(deadline);
        vm.expectRevert(abi.encodeWithSelector(Errors.ChallengeWindowOpen.selector, requestId, deadline));
        market.finalize(requestId);
        uint256 gameId = _challenge(requestId, liar);
        // The submitter's first move exactly at its deadline.
        bytes32 root = V4Model.traceRoot(honest);
        vm.prank(submitter);
        market.commitTrace(requestId, root);
        vm.warp(market.turnDeadline(gameId));
        vm.expectPartialRevert(Errors.NoTimeout.selector);
        market.claimTimeout(gameId);
        (bytes32[] memory v, bytes32[][] memory p) = _openLeaves(honest, market.splitPoints(gameId));
        market.submitterReveal(gameId, v, p);
        // The challenger one second late.
        vm.warp(uint256(market.turnDeadline(gameId)) + 1);
        (bytes32[] memory lv, bytes32[][] memory lp) = _openLeaves(liar, market.splitPoints(gameId));
        vm.expectPartialRevert(Errors.ClockExpired.selector);
        market.challengerReveal(gameId, v, lv, lp);
        market.claimTimeout(gameId);
        assertEq(market.getGame(gameId).status, TypesV4.GameStatus.SubmitterWon, "late mover loses");
        // After the window nobody challenges, and the response finalises.
        vm.expectPartialRevert(Errors.ChallengeWindowClosed.selector);
        _challenge(requestId, liar);
        market.finalize(requestId);
        assertTrue(market.isFinal(requestId), "final");
    }

    /// @notice Moves after a game ended are refused (GameOver), whoever sends them and
    ///         whatever they carry: a decided game cannot be re-decided, and its bonds move
    ///         once.
    function test_attack_movesAfterResolution_isRejected() public {
        uint32 n = STEPS;
        V4Model.Trace memory honest = V4Model.honest(n);
        V4Model.Trace memory liar = V4Model.build(n, _lie(V4Model.LieKind.Assembly, 1, 0, 0));
        (, uint256 gameId) = _game(n, 3, honest, liar);
        assertEq(_play(gameId, honest, liar), TypesV4.GameStatus.SubmitterWon, "liar loses");
        bytes memory over = abi.encodeWithSelector(E.GameOver.selector, gameId, TypesV4.GameStatus.SubmitterWon);
        vm.expectRevert(over);
        market.claimTimeout(gameId);
        vm.expectRevert(over);
        market.descentReveal(gameId, Types.Side.Submitter, 0, 0);
        vm.expectRevert(over);
        market.proveAssemblyFault(gameId, Types.Side.Challenger, V4Model.assemblyOpening(liar, n, 1, 0));
        vm.expectRevert(over);
        market.cancelGame(gameId);
        vm.expectRevert(over);
        market.finishGame(gameId);
        assertEq(market.balances(submitter), CHALLENGER_BOND, "paid once");
    }
}
