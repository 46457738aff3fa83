// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

import {Types} from "../../src/lib/Types.sol";
import {TypesV4} from "../../src/v4/lib/TypesV4.sol";
import {MarketV4Fixture, V4Model} from "./utils/MarketV4Fixture.sol";
import "../../src/v4/lib/ErrorsV4.sol" as E;

/// @notice Version 4 end to end (docs/protocol.md §10.2), on real trees: S/P/L keccak trees and
///         Poseidon chunk trees built in Solidity, the mock template (a test double accepting
///         exactly the true digest). Every liar — at level 1, in assembly, at any operator of a
///         3-operator step, at any chunk (padding included), in a header, at the output
///         binding, or by stalling at any level — loses to an honest side on either side.
contract MarketV4EndToEndTest is MarketV4Fixture {
    uint32 internal constant STEPS = 5;
    uint32 internal constant ARITY = 3;

    /// @dev Plays honest vs `lie` with the honest trace on `honestSide`; returns the status.
    function _honestVsLiar(V4Model.Lie memory lie, Types.Side honestSide, TypesV4.Phase refuseAt)
        internal
        returns (uint256 requestId, uint256 gameId, TypesV4.GameStatus status)
    {
        V4Model.Trace memory honest = V4Model.honest(STEPS);
        V4Model.Trace memory liar = V4Model.build(STEPS, lie);
        bool subHonest = honestSide == Types.Side.Submitter;
        V4Model.Trace memory sub = subHonest ? honest : liar;
        V4Model.Trace memory chal = subHonest ? liar : honest;
        (requestId, gameId) = _game(STEPS, ARITY, sub, chal);
        Types.Side liarSide = subHonest ? Types.Side.Challenger : Types.Side.Submitter;
        status = _play(gameId, sub, chal, liarSide, refuseAt);
    }

    function _win(Types.Side side) internal pure returns (TypesV4.GameStatus) {
        return side == Types.Side.Submitter ? TypesV4.GameStatus.SubmitterWon : TypesV4.GameStatus.ChallengerWon;
    }

    function _bothSides(V4Model.Lie memory lie, string memory what) internal {
        for (uint8 s; s < 2; ++s) {
            uint256 snap = vm.snapshotState();
            (,, TypesV4.GameStatus status) = _honestVsLiar(lie, Types.Side(s), NEVER);
            assertEq(
                status, _win(Types.Side(s)), string.concat(what, s == 0 ? ": honest submitter" : ": honest challenger")
            );
            vm.revertToState(snap);
        }
    }

    ////////////////////////////////////////////////////////////////
    //                      Liars at each level                   //
    ////////////////////////////////////////////////////////////////

    /// @notice Level 1: a liar whose trace has a leaf it cannot open (no preimage) reaches
    ///         level 2 at that leaf and loses on its clock, on either side.
    function test_levelOne_junkLeafLiarLoses() public {
        for (uint32 step = 1; step <= STEPS; ++step) {
            _bothSides(_lie(V4Model.LieKind.Junk, step, 0, 0), string.concat("junk L at ", vm.toString(step)));
        }
    }

    /// @notice Level 2 binding: a liar whose trace is true but who claims another output is
    ///         caught at hi = n when its L_n opens to the true S_n.
    function test_levelTwo_bindingLiarLoses() public {
        _bothSides(_lie(V4Model.LieKind.Output, 0, 0, 0), "binding");
    }

    /// @notice Level 2, an opaque state: a liar whose trace is true up to its last leaf,
    ///         where S_n is a root of nothing (and its claim). Its step outputs are true, so
    ///         the game would wait for an assembly proof that nobody can make (no slot of an
    ///         opaque root opens) and end BothLost — the honest side's bond burned, an honest
    ///         response disproven — had a side not to open its S_hi by its slot values. Now
    ///         the liar cannot open its L_n at all and loses on its clock, on either side.
    function test_levelTwo_opaqueStateLiarLoses() public {
        _bothSides(_lie(V4Model.LieKind.Opaque, 0, 0, 0), "opaque S_n");
    }

    /// @notice Level 2, an opaque state: no slot values open it. The liar (here the
    ///         challenger) tries its L_n with the true slots, then with none: both revert.
    function test_levelTwo_anOpaqueStateCannotBeOpened() public {
        V4Model.Trace memory honest = V4Model.honest(STEPS);
        V4Model.Trace memory liar = V4Model.build(STEPS, _lie(V4Model.LieKind.Opaque, 0, 0, 0));
        (, uint256 gameId) = _game(STEPS, ARITY, honest, liar);
        _playUntil(gameId, honest, liar, TypesV4.Phase.ChallengerOpenStep);
        TypesV4.Game memory g = market.getGame(gameId);
        assertEq(g.hi, STEPS, "the liar's last leaf");
        bytes32[] memory proof = V4Model.traceProof(liar, g.hi);
        vm.expectPartialRevert(E.InvalidTraceOpening.selector);
        market.challengerOpenStep(gameId, liar.slots[g.hi], liar.P[g.lo], proof);
        vm.expectPartialRevert(E.WrongStateSlotCount.selector);
        market.challengerOpenStep(gameId, new uint256[](0), liar.P[g.lo], proof);
        _timeOut(gameId);
        assertEq(market.getGame(gameId).status, TypesV4.GameStatus.SubmitterWon, "the honest submitter wins");
    }

    /// @notice Level 2 assembly: a liar whose step outputs are true but whose next state puts
    ///         a wrong value in a produced, passed-through or empty slot loses by a one-tx
    ///         assembly proof.
    function test_levelTwo_assemblyLiarLoses() public {
        for (uint32 step; step < STEPS; step += 2) {
            for (uint32 slot; slot < V4Model.W; ++slot) {
                // An empty slot (3) is never read again: a lie there only reaches S_n at the last step.
                if (slot == 3 && step != STEPS - 1) continue;
                _bothSides(
                    _lie(V4Model.LieKind.Assembly, step, slot, 0),
                    string.concat("assembly at step ", vm.toString(step), " slot ", vm.toString(slot))
                );
            }
        }
    }

    /// @notice Levels 2-3: a liar at any operator of a 3-operator step, at any chunk of its
    ///         output (the padding positions included), loses at the chunk leaf.
    function test_levelThree_chunkLiarLoses_everyOperatorAndChunk() public {
        uint256[3] memory width = [uint256(4), 8, 1]; // 2^depth of 3, 5 and 1 chunks
        uint32[3] memory steps = [uint32(0), 2, 4];
        for (uint256 si; si < steps.length; ++si) {
            for (uint32 pos; pos < V4Model.N; ++pos) {
                for (uint256 j; j < width[pos]; ++j) {
                    if (si != 1 && j > 1) continue; // every chunk at step 2, the first two elsewhere
                    _bothSides(
                        _lie(V4Model.LieKind.Chunk, steps[si], pos, j),
                        string.concat(
                            "chunk lie step ",
                            vm.toString(steps[si]),
                            " op ",
                            vm.toString(pos),
                            " chunk ",
                            vm.toString(j)
                        )
                    );
                }
            }
        }
    }

    /// @notice Level 3: a liar committing an output under another shape header loses at its
    ///         root opening.
    function test_levelThree_headerLiarLoses() public {
        for (uint32 pos; pos < V4Model.N; ++pos) {
            _bothSides(_lie(V4Model.LieKind.Header, 3, pos, 0), string.concat("header lie op ", vm.toString(pos)));
        }
    }

    /// @notice The descent stops exactly at the lied chunk, and the leaf is proven there.
    function test_levelThree_descentStopsAtTheLie() public {
        (, uint256 gameId, TypesV4.GameStatus status) =
            _honestVsLiar(_lie(V4Model.LieKind.Chunk, 2, 1, 3), Types.Side.Submitter, NEVER);
        assertEq(status, TypesV4.GameStatus.SubmitterWon, "honest submitter wins");
        TypesV4.Game memory g = market.getGame(gameId);
        assertEq(g.lo, 2, "step");
        assertEq(g.hi, 3, "hi = lo + 1");
        assertEq(g.opPosition, 1, "operator");
        Types.ChunkDescent memory d = market.getDescent(gameId);
        assertEq(d.position, 3, "chunk");
        assertEq(uint8(d.status), uint8(Types.GameStatus.SubmitterWon), "descent outcome");
    }

    /// @notice A one-step model (n = 1) starts at level 2 directly.
    function test_oneStep_startsAtLevelTwo() public {
        V4Model.Trace memory honest = V4Model.honest(1);
        V4Model.Trace memory liar = V4Model.build(1, _lie(V4Model.LieKind.Chunk, 0, 2, 0));
        (, uint256 gameId) = _game(1, 2, liar, honest);
        assertEq(market.getGame(gameId).phase, TypesV4.Phase.SubmitterOpenStep, "level 2 at once");
        assertEq(_play(gameId, liar, honest), TypesV4.GameStatus.ChallengerWon, "liar loses");
    }

    /// @notice Arity 2 and arity 16 play the same game to the same end.
    function test_arities() public {
        uint32[3] memory ks = [uint32(2), 4, 16];
        for (uint256 i; i < ks.length; ++i) {
            V4Model.Trace memory honest = V4Model.honest(STEPS);
            V4Model.Trace memory liar = V4Model.build(STEPS, _lie(V4Model.LieKind.Chunk, 3, 0, 1));
            (, uint256 gameId) = _game(STEPS, ks[i], liar, honest);
            assertEq(_play(gameId, liar, honest), TypesV4.GameStatus.ChallengerWon, "liar loses");
        }
    }

    ////////////////////////////////////////////////////////////////
    //                     Clock-outs at every level              //
    ////////////////////////////////////////////////////////////////

    /// @notice A liar that stops moving loses on its clock at every level: level-1 reveals,
    ///         level-2 step openings and operator reveals, the level-3 start (submitter) and
    ///         every descent move.
    function test_clockOut_everyLevel() public {
        TypesV4.Phase[5] memory subPhases = [
            TypesV4.Phase.SubmitterReveal,
            TypesV4.Phase.SubmitterOpenStep,
            TypesV4.Phase.SubmitterOps,
            TypesV4.Phase.DescentStart,
            TypesV4.Phase.Descent
        ];
        TypesV4.Phase[4] memory chalPhases = [
            TypesV4.Phase.ChallengerReveal,
            TypesV4.Phase.ChallengerOpenStep,
            TypesV4.Phase.ChallengerOps,
            TypesV4.Phase.Descent
        ];
        V4Model.Lie memory lie = _lie(V4Model.LieKind.Chunk, 2, 1, 2);
        for (uint256 i; i < subPhases.length; ++i) {
            uint256 snap = vm.snapshotState();
            (,, TypesV4.GameStatus status) = _honestVsLiar(lie, Types.Side.Challenger, subPhases[i]);
            assertEq(status, TypesV4.GameStatus.ChallengerWon, string.concat("submitter stalls ", vm.toString(i)));
            vm.revertToState(snap);
        }
        for (uint256 i; i < chalPhases.length; ++i) {
            uint256 snap = vm.snapshotState();
            (,, TypesV4.GameStatus status) = _honestVsLiar(lie, Types.Side.Submitter, chalPhases[i]);
            assertEq(status, TypesV4.GameStatus.SubmitterWon, string.concat("challenger stalls ", vm.toString(i)));
            vm.revertToState(snap);
        }
    }

    /// @notice A submitter that never commits its trace loses on its clock.
    function test_clockOut_traceNeverCommitted() public {
        V4Model.Trace memory honest = V4Model.honest(STEPS);
        V4Model.Trace memory liar = V4Model.build(STEPS, _lie(V4Model.LieKind.Output, 0, 0, 0));
        (, uint256 gameId) = _game(STEPS, ARITY, liar, honest);
        _timeOut(gameId);
        assertEq(market.getGame(gameId).status, TypesV4.GameStatus.ChallengerWon, "no trace, no defence");
    }

    ////////////////////////////////////////////////////////////////
    //                           Gas                              //
    ////////////////////////////////////////////////////////////////

    /// @notice Every move of a full three-level game is at most 120k gas (execution gas of the
    ///         call with cold storage, plus 2,600 for the linked descent library's cold account
    ///         on the moves that call it; the leaf with the mock template is listed separately).
    function test_gas_everyMoveUnder120k() public {
        (,, TypesV4.GameStatus status) =
            _honestVsLiar(_lie(V4Model.LieKind.Chunk, 3, 2, 0), Types.Side.Submitter, NEVER);
        assertEq(status, TypesV4.GameStatus.SubmitterWon, "played out");
        (,, status) = _honestVsLiar(_lie(V4Model.LieKind.Chunk, 1, 1, 5), Types.Side.Challenger, NEVER);
        assertEq(status, TypesV4.GameStatus.ChallengerWon, "played out");
        string[11] memory names = [
            "submitterReveal",
            "challengerReveal",
            "submitterOpenStep",
            "challengerOpenStep",
            "submitterOps",
            "challengerOps",
            "-",
            "startDescent",
            "descent move (max)",
            "resolveLeaf (mock template)",
            "finishGame"
        ];
        for (uint256 p; p < 11; ++p) {
            uint256 used = maxGasByPhase[p];
            if (used != 0) {
                if (p == 7 || p == 8) used += 2600; // the linked library's account, warm in this test
                emit log_named_uint(names[p], used);
                if (p != 9) assertLe(used, 120_000, names[p]);
            }
            if (used != 0) emit log_named_uint(string.concat(names[p], " (transaction)"), maxTxGasByPhase[p]);
            uint256 ending = maxGasByPhase[p + RESOLVING];
            if (ending != 0) {
                if (p == 7 || p == 8) ending += 2600;
                emit log_named_uint(string.concat(names[p], ", ending the game"), ending);
                emit log_named_uint(
                    string.concat(names[p], ", ending the game (transaction)"), maxTxGasByPhase[p + RESOLVING]
                );
                // A move that ends the game also writes its payouts (fresh balance slots, burned).
                if (p != 9) assertLe(ending, 150_000, string.concat(names[p], ", ending the game"));
            }
        }
    }

    ////////////////////////////////////////////////////////////////
    //                 Fuzzed lies, both sides honest              //
    ////////////////////////////////////////////////////////////////

    /// @notice Any lie (kind, step, operator, chunk — padding included) against an honest side
    ///         on either side loses.
    /// forge-config: default.fuzz.runs = 48
    function testFuzz_honestWins(uint8 kind, uint32 step, uint32 pos, uint256 chunk, bool honestIsChallenger) public {
        V4Model.LieKind k = V4Model.LieKind(bound(kind, 1, 6));
        step = uint32(bound(step, 0, STEPS - 1));
        pos = uint32(bound(pos, 0, V4Model.N - 1));
        uint256[3] memory width = [uint256(4), 8, 1];
        chunk = bound(chunk, 0, width[pos] - 1);
        if (k == V4Model.LieKind.Junk) step += 1; // L_1 .. L_n (L_0 is never revealed)
        if (k == V4Model.LieKind.Assembly) {
            pos = uint32(bound(pos, 0, V4Model.W - 1));
            if (pos == 3) step = STEPS - 1; // an empty slot only matters at the last step
        }
        Types.Side honestSide = honestIsChallenger ? Types.Side.Challenger : Types.Side.Submitter;
        (,, TypesV4.GameStatus status) = _honestVsLiar(_lie(k, step, pos, chunk), honestSide, NEVER);
        assertEq(status, _win(honestSide), "the honest side wins");
    }

    ////////////////////////////////////////////////////////////////
    //                 Level-1 gas at n = 1023                     //
    ////////////////////////////////////////////////////////////////

    /// @notice Level-1 reveals at n = 1023 (trace depth 10), cold, for k = 2, 4 and 16 (as §8's
    ///         table for version 3). Asserted ≤ 120k for k ≤ 4.
    function test_gas_levelOne_n1023() public {
        uint32 n = 1023;
        uint32[3] memory ks = [uint32(2), 4, 16];
        for (uint256 t; t < ks.length; ++t) {
            uint256 snap = vm.snapshotState();
            V4Model.Trace memory a;
            V4Model.Trace memory b;
            a.L = new bytes32[](n + 1);
            b.L = new bytes32[](n + 1);
            for (uint256 i; i <= n; ++i) {
                a.L[i] = keccak256(abi.encode("L", i));
                b.L[i] = i < 700 ? a.L[i] : keccak256(abi.encode("L'", i));
            }
            a.claimed = keccak256("a");
            b.claimed = keccak256("b");
            uint256 modelId = registry.registerModel(_modelRoots(n, ks[t]));
            uint256 requestId = _request(modelId, STEPS);
            _respond(requestId, a);
            uint256 gameId = _challenge(requestId, b);
            bytes32 root = V4Model.traceRoot(a);
            vm.prank(submitter);
            market.commitTrace(requestId, root);
            uint256 maxS;
            uint256 maxC;
            while (market.getGame(gameId).phase == TypesV4.Phase.SubmitterReveal) {
                uint32[] memory pts = market.splitPoints(gameId);
                (bytes32[] memory sv, bytes32[][] memory sp) = _openLeaves(a, pts);
                (bytes32[] memory cv, bytes32[][] memory cp) = _openLeaves(b, pts);
                vm.cool(address(market));
                market.submitterReveal(gameId, sv, sp);
                uint256 gs = vm.lastCallGas().gasTotalUsed;
                vm.cool(address(market));
                market.challengerReveal(gameId, sv, cv, cp);
                uint256 gc = vm.lastCallGas().gasTotalUsed;
                if (gs > maxS) maxS = gs;
                if (gc > maxC) maxC = gc;
            }
            assertEq(market.getGame(gameId).lo, 699, "narrowed to the first difference");
            emit log_named_uint(string.concat("k = ", vm.toString(ks[t]), ": submitterReveal"), maxS);
            emit log_named_uint(string.concat("k = ", vm.toString(ks[t]), ": challengerReveal"), maxC);
            if (ks[t] <= 4) {
                assertLe(maxS, 120_000, "submitterReveal");
                assertLe(maxC, 120_000, "challengerReveal");
            }
            vm.revertToState(snap);
        }
    }

    /// @dev A model of n steps whose roots are placeholders (level 1 never opens them).
    function _modelRoots(uint32 n, uint32 arity) internal pure returns (TypesV4.Model memory m) {
        m.modelRoot = keccak256("ops");
        m.layoutRoot = keccak256("layout");
        m.numSteps = n;
        m.opsPerStep = V4Model.N;
        m.stateSlots = V4Model.W;
        m.params = _params(arity);
    }
}
