// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

import {Types} from "../../src/lib/Types.sol";
import {InvalidProof} from "../../src/lib/Errors.sol";
import {InferenceMarketV4} from "../../src/v4/InferenceMarketV4.sol";
import {TemplateRegistry} from "../../src/v4/TemplateRegistry.sol";
import {IModelRegistryV4} from "../../src/interfaces/IModelRegistryV4.sol";
import {ITemplateRegistry} from "../../src/interfaces/ITemplateRegistry.sol";
import {TypesV4} from "../../src/v4/lib/TypesV4.sol";
import "../../src/v4/lib/ErrorsV4.sol" as E;
import {MarketV4Fixture, V4Model} from "./utils/MarketV4Fixture.sol";
import {BrokenTemplateVerifier} from "./mocks/MockTemplateVerifier.sol";

/// @notice A contract that squats a request: in one transaction it disproves its own response
///         (a binding fault in the trace it committed) and responds again, so that the request
///         would never be Open between transactions (issue 14, item 2 of the review).
contract Squatter {
    InferenceMarketV4 internal immutable market;

    constructor(InferenceMarketV4 m) payable {
        market = m;
    }

    function respond(uint256 requestId, bytes32 output, bytes32 traceRoot) external {
        market.respond{value: 1 ether}(requestId, output, "squat");
        market.commitTrace(requestId, traceRoot);
    }

    /// @dev Disproves its own response at index n, then responds again at once.
    function squat(
        uint256 requestId,
        uint32 n,
        bytes32 state,
        bytes32 prev,
        bytes32[] calldata proof,
        bytes32 output,
        bytes32 traceRoot
    ) external {
        market.proveBindingFault(requestId, n, state, prev, proof);
        market.respond{value: 1 ether}(requestId, output, "squat");
        market.commitTrace(requestId, traceRoot);
    }

    function pull() external {
        market.withdraw();
    }

    receive() external payable {}
}

/// @notice Version-4 economics (docs/protocol.md §10.9) and the attacks of issue 14, each
///         played as the attacker would and shown to lose money: self-disproof, self-challenge,
///         squatting, a requester posing as a challenger (BothLost), and verifier failures
///         that must refund rather than slash.
contract MarketV4EconomicsTest is MarketV4Fixture {
    uint32 internal constant STEPS = 5;

    address internal liar = makeAddr("liar");
    address internal liarsSybil = makeAddr("liar's second address");

    function setUp() public override {
        super.setUp();
        vm.deal(liar, 1000 ether);
        vm.deal(liarsSybil, 1000 ether);
    }

    function _netOf(address a, uint256 startBalance) internal view returns (int256) {
        return int256(a.balance + market.balances(a)) - int256(startBalance);
    }

    /// @notice Sum of what the market owes plus escrow equals its balance (the accounting
    ///         identity with `burned`).
    function _assertConserved(uint256 escrow) internal view {
        address[6] memory a = [requester, submitter, challenger, anyone, liar, liarsSybil];
        uint256 owed;
        for (uint256 i; i < a.length; ++i) {
            owed += market.balances(a[i]);
        }
        assertEq(address(market).balance, owed + escrow + market.burned(), "ETH conservation");
    }

    ////////////////////////////////////////////////////////////////
    //                     A liar always loses                    //
    ////////////////////////////////////////////////////////////////

    /// @notice Issue 14 item 1: a lying submitter, challenged by an honest challenger,
    ///         disproves its own response from a second address (binding fault in its own
    ///         trace). Its second address gets half its bond; the rest burns; the honest
    ///         challenger is refunded. The liar's two addresses together lose half the bond.
    function test_attack_selfDisproofLosesHalfTheBond() public {
        uint32 n = STEPS;
        uint256 requestId = _request(_register(n, 3), n);
        V4Model.Trace memory lie = V4Model.build(n, _lie(V4Model.LieKind.Output, 0, 0, 0));
        V4Model.Trace memory honest = V4Model.honest(n);
        uint256 liarStart = liar.balance + liarsSybil.balance;
        vm.prank(liar);
        market.respond{value: RESPONSE_BOND}(requestId, lie.claimed, "out");
        uint256 gameId = _challenge(requestId, honest);
        bytes32 lieRoot = V4Model.traceRoot(lie);
        vm.prank(liar);
        market.commitTrace(requestId, lieRoot);

        bytes32[] memory proof = V4Model.traceProof(lie, n);
        vm.prank(liarsSybil);
        market.proveBindingFault(requestId, n, lie.S[n], lie.P[n - 1], proof);

        assertEq(market.balances(liarsSybil), RESPONSE_BOND / 2, "self-disprover gets half");
        assertEq(market.burned(), RESPONSE_BOND / 2, "the rest burns");
        market.cancelGame(gameId);
        assertEq(market.balances(challenger), CHALLENGER_BOND, "honest challenger refunded");
        int256 liarNet = int256(liar.balance + liarsSybil.balance + market.balances(liarsSybil)) - int256(liarStart);
        assertEq(liarNet, -int256(uint256(RESPONSE_BOND / 2)), "the liar loses half its bond");
        _assertConserved(FEE);
    }

    /// @notice A lying submitter that challenges itself with the truth from a second address
    ///         (racing the honest challengers) wins its own game but still loses half its bond.
    function test_attack_selfChallengeLosesHalfTheBond() public {
        uint32 n = STEPS;
        uint256 requestId = _request(_register(n, 3), n);
        V4Model.Trace memory lie = V4Model.build(n, _lie(V4Model.LieKind.Chunk, 2, 1, 1));
        V4Model.Trace memory honest = V4Model.honest(n);
        uint256 start = liar.balance + liarsSybil.balance;
        vm.prank(liar);
        market.respond{value: RESPONSE_BOND}(requestId, lie.claimed, "out");
        bytes32 root = V4Model.traceRoot(honest);
        vm.prank(liarsSybil);
        uint256 gameId = market.challenge{value: CHALLENGER_BOND}(requestId, honest.claimed, root);
        // The liar concedes as fast as it can: it never commits its trace.
        _timeOut(gameId);
        assertEq(market.getGame(gameId).status, TypesV4.GameStatus.ChallengerWon, "sybil won");
        uint256 total = liar.balance + liarsSybil.balance + market.balances(liarsSybil);
        assertEq(int256(total) - int256(start), -int256(uint256(RESPONSE_BOND / 2)), "still a loss");
    }

    /// @notice An honest challenger that wins is paid: its bond back plus half the response bond.
    function test_honestChallengerIsPaid() public {
        uint32 n = STEPS;
        V4Model.Trace memory lie = V4Model.build(n, _lie(V4Model.LieKind.Chunk, 4, 0, 2));
        V4Model.Trace memory honest = V4Model.honest(n);
        (uint256 requestId, uint256 gameId) = _game(n, 3, lie, honest);
        assertEq(_play(gameId, lie, honest), TypesV4.GameStatus.ChallengerWon, "liar loses");
        assertEq(market.balances(challenger), CHALLENGER_BOND + RESPONSE_BOND / 2, "bond + reward");
        assertEq(uint8(market.getRequest(requestId).status), uint8(TypesV4.RequestStatus.Open), "re-opened");
        _assertConserved(FEE);
    }

    /// @notice An honest submitter that wins takes the lying challenger's whole bond, then
    ///         finalizes for fee + its bond.
    function test_honestSubmitterIsPaid() public {
        uint32 n = STEPS;
        V4Model.Trace memory lie = V4Model.build(n, _lie(V4Model.LieKind.Assembly, 1, 0, 0));
        V4Model.Trace memory honest = V4Model.honest(n);
        (uint256 requestId, uint256 gameId) = _game(n, 3, honest, lie);
        assertEq(_play(gameId, honest, lie), TypesV4.GameStatus.SubmitterWon, "liar loses");
        vm.warp(market.getResponse(1).challengeDeadline + 1);
        market.finalize(requestId);
        assertEq(market.balances(submitter), CHALLENGER_BOND + FEE + RESPONSE_BOND, "bond + fee + own bond");
        assertTrue(market.isFinal(requestId), "final");
        _assertConserved(0);
    }

    ////////////////////////////////////////////////////////////////
    //                          Squatting                         //
    ////////////////////////////////////////////////////////////////

    /// @notice Issue 14 squatting: a contract that disproves its own response and responds
    ///         again in the same transaction is refused (a re-opened request takes its next
    ///         response only in a later block), and the requester cancels at once.
    function test_attack_squattingInOneTransactionFails() public {
        uint32 n = STEPS;
        uint256 requestId = _request(_register(n, 3), n);
        V4Model.Trace memory lie = V4Model.build(n, _lie(V4Model.LieKind.Output, 0, 0, 0));
        Squatter sq = new Squatter{value: 20 ether}(market);
        bytes32 root = V4Model.traceRoot(lie);
        sq.respond(requestId, lie.claimed, root);
        bytes32[] memory proof = V4Model.traceProof(lie, n);
        vm.expectRevert(abi.encodeWithSelector(E.RespondTooEarly.selector, requestId, uint64(_now())));
        sq.squat(requestId, n, lie.S[n], lie.P[n - 1], proof, lie.claimed, root);

        // The squatter's own disproof alone re-opens the request; the requester cancels at once.
        vm.prank(anyone);
        market.proveBindingFault(requestId, n, lie.S[n], lie.P[n - 1], proof);
        vm.prank(requester);
        market.cancelRequest(requestId);
        assertEq(market.balances(requester), FEE, "fee recovered");
        assertEq(market.burned(), RESPONSE_BOND / 2, "squatting cost half a bond");
    }

    /// @notice Squatting across blocks costs half a response bond per round and ends after
    ///         MAX_RESPONSES responses; the requester can cancel after any disproof.
    function test_attack_squattingAcrossBlocksIsCappedAndCosts() public {
        uint32 n = STEPS;
        uint256 requestId = _request(_register(n, 3), n);
        V4Model.Trace memory lie = V4Model.build(n, _lie(V4Model.LieKind.Output, 0, 0, 0));
        Squatter sq = new Squatter{value: 20 ether}(market);
        bytes32 root = V4Model.traceRoot(lie);
        bytes32[] memory proof = V4Model.traceProof(lie, n);
        for (uint256 i; i < TypesV4.MAX_RESPONSES; ++i) {
            vm.warp(_now() + 12);
            sq.respond(requestId, lie.claimed, root);
            vm.prank(address(sq));
            market.proveBindingFault(requestId, n, lie.S[n], lie.P[n - 1], proof);
        }
        vm.warp(_now() + 12);
        vm.expectRevert(abi.encodeWithSelector(E.TooManyResponses.selector, requestId, TypesV4.MAX_RESPONSES));
        sq.respond(requestId, lie.claimed, root);
        vm.prank(requester);
        market.cancelRequest(requestId);
        assertEq(market.balances(requester), FEE, "fee recovered");
        assertEq(market.burned(), TypesV4.MAX_RESPONSES * uint256(RESPONSE_BOND) / 2, "each round burned half a bond");
        assertEq(
            address(market).balance,
            market.balances(requester) + market.balances(address(sq)) + market.burned(),
            "ETH conservation"
        );
    }

    ////////////////////////////////////////////////////////////////
    //                    BothLost: no one profits                 //
    ////////////////////////////////////////////////////////////////

    /// @notice Issue 14 item 3: a requester posing as a (lying) challenger, where the honest
    ///         leaf proof never lands (late, censored): BothLost burns both bonds; the
    ///         requester is paid nothing and loses its challenger bond.
    function test_attack_requesterGainsNothingFromBothLost() public {
        uint32 n = STEPS;
        V4Model.Trace memory honest = V4Model.honest(n);
        V4Model.Trace memory lie = V4Model.build(n, _lie(V4Model.LieKind.Chunk, 1, 0, 1));
        uint256 modelId = _register(n, 3);
        uint256 start = requester.balance;
        uint256 requestId = _request(modelId, n);
        _respond(requestId, honest);
        bytes32 lieRoot = V4Model.traceRoot(lie);
        vm.prank(requester);
        uint256 gameId = market.challenge{value: CHALLENGER_BOND}(requestId, lie.claimed, lieRoot);
        _playUntilProving(gameId, honest, lie);
        _timeOut(gameId);
        assertEq(market.getGame(gameId).status, TypesV4.GameStatus.BothLost, "nobody proved");
        assertEq(market.balances(requester), 0, "the requester is paid nothing");
        assertEq(market.burned(), CHALLENGER_BOND + RESPONSE_BOND, "both bonds burn");
        vm.prank(requester);
        market.cancelRequest(requestId);
        assertEq(_netOf(requester, start), -int256(uint256(CHALLENGER_BOND)), "the colluder lost its bond");
        _assertConserved(0);
    }

    ////////////////////////////////////////////////////////////////
    //               Verifier failures refund, never slash         //
    ////////////////////////////////////////////////////////////////

    function _marketWith(address verifier1, address verifier2) internal {
        uint256[] memory ids = new uint256[](verifier2 == address(0) ? 1 : 2);
        address[] memory vs = new address[](ids.length);
        uint64[] memory gl = new uint64[](ids.length);
        ids[0] = 1;
        vs[0] = verifier1;
        gl[0] = VERIFIER_GAS;
        if (ids.length == 2) {
            ids[1] = 2;
            vs[1] = verifier2;
            gl[1] = VERIFIER_GAS;
        }
        templates = new TemplateRegistry(ids, vs, gl);
        market = new InferenceMarketV4(IModelRegistryV4(address(registry)), ITemplateRegistry(address(templates)));
    }

    /// @notice Issue 14 item 2: a template verifier that fails (another revert, out of gas
    ///         within its budget, an empty revert) voids the game: requester, submitter and
    ///         challenger are all refunded in full, nobody is slashed.
    function test_verifierFailure_refundsEveryone() public {
        for (uint256 mode; mode < 3; ++mode) {
            uint256 snap = vm.snapshotState();
            BrokenTemplateVerifier broken = new BrokenTemplateVerifier(mode);
            _marketWith(address(broken), address(broken));
            uint32 n = STEPS;
            V4Model.Trace memory honest = V4Model.honest(n);
            V4Model.Trace memory lie = V4Model.build(n, _lie(V4Model.LieKind.Chunk, 2, 0, 0));
            (uint256 requestId, uint256 gameId) = _game(n, 3, honest, lie);
            _playUntilProving(gameId, honest, lie);
            TypesV4.Game memory g = market.getGame(gameId);
            (uint256[] memory inputs, bytes32[][] memory proofs) = _inputs(V4Model.op(2, 0), honest, 2);
            market.resolveLeaf(gameId, _statement(V4Model.op(2, 0)), inputs, proofs, PROOF, false);
            assertEq(market.getGame(gameId).status, TypesV4.GameStatus.Voided, "voided");
            assertEq(g.lo, 2, "at the lie");
            assertEq(market.balances(requester), FEE, "fee refunded");
            assertEq(market.balances(submitter), RESPONSE_BOND, "submitter refunded");
            assertEq(market.balances(challenger), CHALLENGER_BOND, "challenger refunded");
            assertEq(uint8(market.getRequest(requestId).status), uint8(TypesV4.RequestStatus.Cancelled), "cancelled");
            assertEq(market.burned(), 0, "nothing burned");
            vm.revertToState(snap);
        }
    }

    /// @notice A caller cannot starve the verifier to void a game: without the verifier's
    ///         full budget (+ reserve) the call reverts and the game goes on.
    function test_verifierGas_callerCannotStarveIt() public {
        uint32 n = STEPS;
        V4Model.Trace memory honest = V4Model.honest(n);
        V4Model.Trace memory lie = V4Model.build(n, _lie(V4Model.LieKind.Chunk, 2, 0, 0));
        (, uint256 gameId) = _game(n, 3, honest, lie);
        _playUntilProving(gameId, honest, lie);
        TypesV4.OperatorLeaf memory l = V4Model.op(2, 0);
        (uint256[] memory inputs, bytes32[][] memory proofs) = _inputs(l, honest, 2);
        TypesV4.LeafStatement memory st = _statement(l);
        vm.expectPartialRevert(E.InsufficientVerifierGas.selector);
        market.resolveLeaf{gas: 400_000}(gameId, st, inputs, proofs, PROOF, false);
        assertEq(market.getGame(gameId).status, TypesV4.GameStatus.InProgress, "still running");
        market.resolveLeaf(gameId, st, inputs, proofs, PROOF, false);
        market.finishGame(gameId);
        assertEq(market.getGame(gameId).status, TypesV4.GameStatus.SubmitterWon, "the true digest wins");
    }

    /// @notice Naming the side whose digest is false reverts InvalidProof: the game goes on.
    function test_leaf_wrongSideRevertsInvalidProof() public {
        uint32 n = STEPS;
        V4Model.Trace memory honest = V4Model.honest(n);
        V4Model.Trace memory lie = V4Model.build(n, _lie(V4Model.LieKind.Chunk, 2, 0, 0));
        (, uint256 gameId) = _game(n, 3, honest, lie);
        _playUntilProving(gameId, honest, lie);
        TypesV4.OperatorLeaf memory l = V4Model.op(2, 0);
        (uint256[] memory inputs, bytes32[][] memory proofs) = _inputs(l, honest, 2);
        TypesV4.LeafStatement memory st = _statement(l);
        vm.expectRevert(InvalidProof.selector);
        market.resolveLeaf(gameId, st, inputs, proofs, PROOF, true);
    }

    /// @notice A model leaf naming a template the protocol does not have voids the game at
    ///         the level-3 start: the defective model slashes nobody.
    function test_unregisteredTemplate_voidsAtDescentStart() public {
        _marketWith(address(mockVerifier), address(0)); // template 2 (operator 2) missing
        uint32 n = STEPS;
        V4Model.Trace memory honest = V4Model.honest(n);
        V4Model.Trace memory lie = V4Model.build(n, _lie(V4Model.LieKind.Chunk, 3, 2, 0));
        (, uint256 gameId) = _game(n, 3, honest, lie);
        assertEq(_play(gameId, honest, lie), TypesV4.GameStatus.Voided, "voided");
        assertEq(market.balances(submitter), RESPONSE_BOND, "submitter refunded");
        assertEq(market.balances(challenger), CHALLENGER_BOND, "challenger refunded");
        assertEq(market.balances(requester), FEE, "requester refunded");
    }
}
