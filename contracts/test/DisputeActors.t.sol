// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

import {MarketFixture} from "./utils/MarketFixture.sol";
import {Types} from "../src/lib/Types.sol";
import {LibMerkle} from "../src/lib/LibMerkle.sol";
import "../src/lib/Errors.sol" as Errors;

/// @notice Honest-vs-dishonest actor games with fuzzed trace lengths, arities and divergence
///         points, plus regression tests for the predecessor's bugs.
contract DisputeActorsTest is MarketFixture {
    function _setup(uint32 n, uint32 arity) internal returns (uint256 requestId) {
        requestId = _request(_register(n, arity));
    }

    /// @notice An honest submitter beats a challenger whose trace diverges at any step.
    function testFuzz_honestSubmitterWins(uint32 n, uint32 arity, uint32 d, uint256 salt) public {
        n = uint32(bound(n, 1, 40));
        arity = uint32(bound(arity, 2, 16));
        d = uint32(bound(d, 0, n - 1));
        uint256 id = _setup(n, arity);
        bytes32[] memory truth = _honest(n);
        bytes32[] memory lie = _divergent(n, d, salt);
        _respond(id, truth);
        uint256 gameId = _challenge(id, challenger, lie);
        _bisect(gameId, truth, lie);
        Types.GameView memory g = market.getGame(gameId);
        assertEq(g.lo, d, "the game ends at the divergent step");
        assertLe(g.round, 6 * 16, "rounds bounded by log_k(n)");
        _resolve(gameId, n);
        assertEq(uint8(market.getGame(gameId).status), uint8(Types.GameStatus.SubmitterWon));
        assertEq(market.balances(submitter), CHALLENGER_BOND);
        assertEq(market.balances(challenger), 0);
    }

    /// @notice An honest challenger beats a submitter whose trace diverges at any step.
    function testFuzz_honestChallengerWins(uint32 n, uint32 arity, uint32 d, uint256 salt) public {
        n = uint32(bound(n, 1, 40));
        arity = uint32(bound(arity, 2, 16));
        d = uint32(bound(d, 0, n - 1));
        uint256 id = _setup(n, arity);
        bytes32[] memory truth = _honest(n);
        bytes32[] memory lie = _divergent(n, d, salt);
        _respond(id, lie);
        uint256 gameId = _challenge(id, challenger, truth);
        _bisect(gameId, lie, truth);
        assertEq(market.getGame(gameId).lo, d);
        _resolve(gameId, n);
        assertEq(uint8(market.getGame(gameId).status), uint8(Types.GameStatus.ChallengerWon));
        assertEq(market.balances(challenger), CHALLENGER_BOND + RESPONSE_BOND);
        assertEq(uint8(market.getRequest(id).status), uint8(Types.RequestStatus.Open));
    }

    /// @notice A liar whose trace is internally inconsistent (one interior state flipped, and a
    ///         wrong output) still loses: at the leaf the honest side proves its step.
    function testFuzz_singleFlippedStateLoses(uint32 n, uint32 arity, uint32 i, bool liarIsSubmitter) public {
        n = uint32(bound(n, 2, 40));
        arity = uint32(bound(arity, 2, 16));
        i = uint32(bound(i, 1, n - 1));
        uint256 id = _setup(n, arity);
        bytes32[] memory truth = _honest(n);
        bytes32[] memory lie = _honest(n);
        lie[i] = bytes32(uint256(lie[i]) ^ 1);
        // Outputs are equal, so a challenge needs different claims: the liar also lies at n.
        lie[n] = bytes32(uint256(lie[n]) ^ 2);
        if (liarIsSubmitter) {
            _respond(id, lie);
            uint256 gameId = _challenge(id, challenger, truth);
            _bisect(gameId, lie, truth);
            _resolve(gameId, n);
            assertEq(uint8(market.getGame(gameId).status), uint8(Types.GameStatus.ChallengerWon));
        } else {
            _respond(id, truth);
            uint256 gameId = _challenge(id, challenger, lie);
            _bisect(gameId, truth, lie);
            _resolve(gameId, n);
            assertEq(uint8(market.getGame(gameId).status), uint8(Types.GameStatus.SubmitterWon));
        }
    }

    /// @notice One-shot: a challenger with no trace of its own disproves a published bad trace.
    function testFuzz_oneShot(uint32 n, uint32 d, uint256 salt) public {
        n = uint32(bound(n, 1, 40));
        d = uint32(bound(d, 0, n - 1));
        uint256 id = _setup(n, 2);
        bytes32[] memory lie = _divergent(n, d, salt);
        _respond(id, lie);
        bytes32 provenPost = bytes32(mock.next(uint256(lie[d]), _opDigest(d)));
        vm.prank(anyone);
        market.challengeOneShot(
            id,
            d,
            lie[d],
            _proof(lie, d),
            lie[d + 1],
            _proof(lie, d + 1),
            provenPost,
            _opDigest(d),
            address(mock),
            _modelProof(n, d),
            PROOF
        );
        assertEq(market.balances(anyone), RESPONSE_BOND);
    }

    /// @notice Sybil flood: many challengers in parallel, each its own game; the honest
    ///         submitter wins all of them and collects every bond.
    function testFuzz_sybilChallengersAllLose(uint8 count, uint32 n, uint32 arity) public {
        count = uint8(bound(count, 1, 8));
        n = uint32(bound(n, 2, 24));
        arity = uint32(bound(arity, 2, 8));
        uint256 id = _setup(n, arity);
        bytes32[] memory truth = _honest(n);
        _respond(id, truth);
        uint256[] memory games = new uint256[](count);
        bytes32[][] memory lies = new bytes32[][](count);
        for (uint256 i; i < count; ++i) {
            lies[i] = _divergent(n, uint32(i % n), i);
            vm.deal(address(this), 100 ether);
            games[i] = _challenge(id, challenger, lies[i]);
        }
        for (uint256 i; i < count; ++i) {
            _bisect(games[i], truth, lies[i]);
            _resolve(games[i], n);
        }
        vm.warp(block.timestamp + WINDOW + 1);
        market.finalize(id);
        assertEq(market.balances(submitter), uint256(count) * CHALLENGER_BOND + FEE + RESPONSE_BOND);
    }

    // ------------------------------------------------------------ regressions

    /// @notice Regression: the predecessor let a challenger re-propose after the leaf.
    function test_regression_noMovesAfterLeaf() public {
        uint256 id = _setup(8, 2);
        bytes32[] memory truth = _honest(8);
        bytes32[] memory lie = _divergent(8, 3, 1);
        _respond(id, truth);
        uint256 gameId = _challenge(id, challenger, lie);
        _bisect(gameId, truth, lie);
        uint32[] memory none = market.splitPoints(gameId);
        assertEq(none.length, 0);
        vm.expectRevert(
            abi.encodeWithSelector(
                Errors.WrongPhase.selector, gameId, Types.GamePhase.ChallengerReveal, Types.GamePhase.Proving
            )
        );
        market.challengerReveal(gameId, new bytes32[](0), new bytes32[](0), new bytes32[][](0));
        vm.expectRevert(
            abi.encodeWithSelector(
                Errors.WrongPhase.selector, gameId, Types.GamePhase.SubmitterReveal, Types.GamePhase.Proving
            )
        );
        market.submitterReveal(gameId, new bytes32[](0), new bytes32[][](0));
        _resolve(gameId, 8);
        vm.expectRevert(
            abi.encodeWithSelector(Errors.GameNotInProgress.selector, gameId, Types.GameStatus.SubmitterWon)
        );
        market.submitterReveal(gameId, new bytes32[](0), new bytes32[][](0));
    }

    /// @notice Regression: contradictory yes/no answers drove low above high. Here there are no
    ///         answers, only states opened from fixed roots; a challenger that agrees everywhere
    ///         just moves lo up to the last point, and lo < hi holds after every move.
    function testFuzz_regression_loNeverPassesHi(uint32 n, uint32 arity, uint256 seed) public {
        n = uint32(bound(n, 2, 40));
        arity = uint32(bound(arity, 2, 16));
        uint256 id = _setup(n, arity);
        bytes32[] memory truth = _honest(n);
        // Challenger agrees with everything but the output (its root commits to that).
        bytes32[] memory agree = _honest(n);
        agree[n] = bytes32(seed % R);
        if (agree[n] == truth[n]) agree[n] = bytes32(uint256(truth[n]) ^ 1);
        _respond(id, truth);
        uint256 gameId = _challenge(id, challenger, agree);
        _bisect(gameId, truth, agree); // asserts lo < hi each round
        Types.GameView memory g = market.getGame(gameId);
        assertEq(g.lo, n - 1);
        assertEq(g.hi, n);
    }

    /// @notice Regression: the predecessor hard-coded a 30 s proving window; ours is a model
    ///         parameter and the leaf's deadline is exactly now + provingWindow.
    function testFuzz_regression_provingWindowIsAParameter(uint64 window) public {
        window = uint64(bound(window, 1, 365 days));
        Types.GameParams memory p = _params(2);
        p.provingWindow = window;
        uint256 m = registry.registerModel(LibMerkle.root(_modelLeaves(4)), 4, 1, "", "", p);
        uint256 id = _request(m);
        bytes32[] memory truth = _honest(4);
        bytes32[] memory lie = _divergent(4, 1, 0);
        _respond(id, truth);
        uint256 gameId = _challenge(id, challenger, lie);
        _bisect(gameId, truth, lie);
        assertEq(market.getGame(gameId).provingDeadline, uint64(block.timestamp) + window);
        vm.warp(block.timestamp + window);
        _resolve(gameId, 4); // still in time at the deadline itself
    }

    /// @notice Regression: no bonds. Responding and challenging without the bond revert.
    function test_regression_claimsMustBeBonded() public {
        uint256 id = _setup(4, 2);
        vm.expectRevert(abi.encodeWithSelector(Errors.WrongBond.selector, uint256(RESPONSE_BOND), uint256(0)));
        market.respond(id, INPUT, "", bytes32(0), "");
        _respond(id, _honest(4));
        vm.expectRevert(abi.encodeWithSelector(Errors.WrongBond.selector, uint256(CHALLENGER_BOND), uint256(0)));
        market.challenge(id, bytes32(uint256(5)), bytes32(0));
    }
}

