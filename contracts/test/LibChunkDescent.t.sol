// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

import {console2} from "forge-std/console2.sol";
import {PoseidonT3} from "poseidon-solidity/PoseidonT3.sol";
import {LibTensorTree} from "../src/lib/LibTensorTree.sol";
import {Types} from "../src/lib/Types.sol";
import "../src/lib/Errors.sol" as Errors;
import {ChunkDescentFixture, ChunkTrees} from "./utils/ChunkDescentFixture.sol";

/// @notice LibChunkDescent as a spec (docs/protocol.md §10.2, level 3): honest-vs-liar games
///         over real chunk trees for every lie position (padding included), header lies and
///         silent liars, whichever side is honest; then each rule and each typed revert.
contract LibChunkDescentTest is ChunkDescentFixture {
    using ChunkTrees for ChunkTrees.Tree;

    ////////////////////////////////////////////////////////////////
    //                  Honest vs liar, exhaustive                 //
    ////////////////////////////////////////////////////////////////

    /// @notice A liar that changes one leaf digest, at any position of the tree (the first, the
    ///         last real chunk, and every padding position with a non-zero value), loses to an
    ///         honest side on either side; the descent stops exactly at the changed position.
    function _everyLiePosition(uint64 chunks) internal {
        uint256[] memory truth = _truth(chunks, chunks);
        ChunkTrees.Tree memory honest = _tree(truth);
        uint256 depth = LibTensorTree.depthOf(chunks);
        for (uint256 j; j < truth.length; ++j) {
            ChunkTrees.Tree memory liar = honest.withLeaf(j, _lie(j, truth[j]));
            for (uint8 side; side < 2; ++side) {
                Types.Side honestSide = Types.Side(side);
                (uint256 id, Types.GameStatus status) = _honestVsLiar(chunks, honest, liar, truth, honestSide, NEVER);
                string memory what = string.concat(
                    vm.toString(chunks), " chunks, lie at ", vm.toString(j), ", honest side ", vm.toString(side)
                );
                assertEq(status, _win(honestSide), what);
                Types.ChunkDescent memory s = h.get(id);
                assertEq(s.position, j, string.concat(what, ": stops at the lie"));
                assertEq(s.level, depth, string.concat(what, ": at a leaf"));
            }
        }
    }

    function test_honestWins_everyLiePosition_1chunk() public {
        _everyLiePosition(1);
    }

    function test_honestWins_everyLiePosition_2chunks() public {
        _everyLiePosition(2);
    }

    function test_honestWins_everyLiePosition_3chunks() public {
        _everyLiePosition(3);
    }

    function test_honestWins_everyLiePosition_5chunks() public {
        _everyLiePosition(5);
    }

    function test_honestWins_everyLiePosition_8chunks() public {
        _everyLiePosition(8);
    }

    function test_honestWins_everyLiePosition_13chunks() public {
        _everyLiePosition(13);
    }

    function test_honestWins_everyLiePosition_100chunks() public {
        _everyLiePosition(100);
    }

    /// @notice A liar that opens its commitment under another header loses at once, on either
    ///         side, whether or not its tree is also wrong.
    function test_honestWins_headerLie() public {
        uint64[7] memory counts = [uint64(1), 2, 3, 5, 8, 13, 100];
        for (uint256 c; c < counts.length; ++c) {
            uint64 chunks = counts[c];
            uint256[] memory truth = _truth(chunks, chunks);
            ChunkTrees.Tree memory honest = _tree(truth);
            for (uint256 l; l < 2; ++l) {
                // the true tree under another header, or another tree under header 0
                ChunkTrees.Tree memory liar =
                    l == 0 ? honest.withHeader(HEADER + 1) : honest.withLeaf(0, _lie(0, truth[0])).withHeader(0);
                for (uint8 side; side < 2; ++side) {
                    Types.Side honestSide = Types.Side(side);
                    (uint256 id, Types.GameStatus status) =
                        _honestVsLiar(chunks, honest, liar, truth, honestSide, NEVER);
                    assertEq(status, _win(honestSide), "a wrong header loses");
                    assertEq(h.get(id).level, 0, "at once, before any reveal");
                }
            }
        }
    }

    /// @notice A liar that stops answering at any of its moves (root opening or any level) loses
    ///         on its clock, on either side.
    function test_honestWins_liarRefusesToMove() public {
        uint64[7] memory counts = [uint64(1), 2, 3, 5, 8, 13, 100];
        for (uint256 c; c < counts.length; ++c) {
            uint64 chunks = counts[c];
            uint256[] memory truth = _truth(chunks, chunks);
            ChunkTrees.Tree memory honest = _tree(truth);
            ChunkTrees.Tree memory liar = honest.withLeaf(chunks - 1, _lie(0, truth[chunks - 1]));
            uint256 depth = LibTensorTree.depthOf(chunks);
            for (uint256 m; m <= depth; ++m) {
                for (uint8 side; side < 2; ++side) {
                    Types.Side honestSide = Types.Side(side);
                    (uint256 id, Types.GameStatus status) = _honestVsLiar(chunks, honest, liar, truth, honestSide, m);
                    assertEq(status, _win(honestSide), "a silent liar loses on its clock");
                    // its move 0 is the root opening, move m >= 1 the reveal at level m - 1
                    assertEq(h.get(id).level, m == 0 ? 0 : m - 1, "the liar stopped at this move");
                }
            }
        }
    }

    /// @notice Two liars that disagree only on non-zero padding values both lose.
    function test_bothLost_bothNonZeroPadding() public {
        uint256[] memory truth = _truth(5, 5);
        ChunkTrees.Tree memory honest = _tree(truth);
        ChunkTrees.Tree memory a = honest.withLeaf(6, 111);
        ChunkTrees.Tree memory b = honest.withLeaf(6, 222);
        uint256 id = _start(5, a, b);
        assertEq(_play(id, a, b, truth), Types.GameStatus.BothLost, "padding: both non-zero");
        assertEq(h.get(id).position, 6);
    }

    /// @notice Two liars that disagree on a real chunk, neither with the true digest: nobody
    ///         can prove, the proving window passes, both lose.
    function test_bothLost_nobodyProves() public {
        uint256[] memory truth = _truth(5, 5);
        ChunkTrees.Tree memory honest = _tree(truth);
        ChunkTrees.Tree memory a = honest.withLeaf(2, 111);
        ChunkTrees.Tree memory b = honest.withLeaf(2, 222);
        uint256 id = _start(5, a, b);
        assertEq(_play(id, a, b, truth), Types.GameStatus.BothLost, "proving window expired");
    }

    /// @notice Both headers wrong: the submitter opens first and loses at once (its commitment is
    ///         provably not the output's); the challenger never has to open.
    function test_bothHeadersWrong_submitterLosesFirst() public {
        uint256[] memory truth = _truth(3, 3);
        ChunkTrees.Tree memory a = _tree(truth).withHeader(1);
        ChunkTrees.Tree memory b = _tree(truth).withHeader(2);
        uint256 id = _start(3, a, b);
        assertEq(_play(id, a, b, truth), Types.GameStatus.ChallengerWon, "submitter caught first");
    }

    ////////////////////////////////////////////////////////////////
    //                        Fuzzed actors                       //
    ////////////////////////////////////////////////////////////////

    /// @notice Any chunk count, any lie position (padding included), any lie value (0 and
    ///         non-canonical-looking values alike, reduced mod r), either honest side: the honest
    ///         side wins, and the descent stops at the lie.
    function testFuzz_honestWins(uint64 chunks, uint256 liePos, uint256 lieValue, bool honestIsChallenger, uint256 seed)
        public
    {
        chunks = uint64(bound(chunks, 1, 100));
        uint256[] memory truth = _truth(chunks, seed);
        liePos = bound(liePos, 0, truth.length - 1);
        lieValue = lieValue % R;
        if (lieValue == truth[liePos]) lieValue = (lieValue + 1) % R;
        ChunkTrees.Tree memory honest = _tree(truth);
        ChunkTrees.Tree memory liar = honest.withLeaf(liePos, lieValue);
        Types.Side honestSide = honestIsChallenger ? Types.Side.Challenger : Types.Side.Submitter;
        (uint256 id, Types.GameStatus status) = _honestVsLiar(chunks, honest, liar, truth, honestSide, NEVER);
        assertEq(status, _win(honestSide), "the honest side wins");
        assertEq(h.get(id).position, liePos, "the descent stops at the lie");
    }

    /// @notice A liar with an arbitrary tree (every leaf its own, padding sometimes non-zero)
    ///         that also stops answering at an arbitrary move still loses.
    function testFuzz_honestWins_anyLiarTree(uint64 chunks, uint256 liarSeed, uint256 refuseAt, bool honestIsChallenger)
        public
    {
        chunks = uint64(bound(chunks, 1, 100));
        uint256[] memory truth = _truth(chunks, 0);
        uint256[] memory row = new uint256[](truth.length);
        for (uint256 i; i < row.length; ++i) {
            uint256 v = uint256(keccak256(abi.encode(liarSeed, i)));
            // a quarter of the positions keep the true value, and padding is mostly left empty
            if (v % 4 == 0 || (i >= chunks && v % 3 != 0)) row[i] = truth[i];
            else row[i] = v % R;
        }
        ChunkTrees.Tree memory liar = _tree(row);
        vm.assume(liar.root() != _tree(truth).root());
        refuseAt = bound(refuseAt, 0, LibTensorTree.depthOf(chunks) + 1); // depth + 1: never refuses
        Types.Side honestSide = honestIsChallenger ? Types.Side.Challenger : Types.Side.Submitter;
        (, Types.GameStatus status) = _honestVsLiar(chunks, _tree(truth), liar, truth, honestSide, refuseAt);
        assertEq(status, _win(honestSide), "the honest side wins");
    }

    ////////////////////////////////////////////////////////////////
    //                 Only the mover's own values                //
    ////////////////////////////////////////////////////////////////

    /// @notice At each level, the mover can post its own children and nothing else: not the
    ///         other side's, not its own swapped, not the true ones when it lied, and no move at
    ///         all out of turn.
    function test_moverRevealsOnlyItsOwnChildren() public {
        uint256[] memory truth = _truth(13, 13);
        ChunkTrees.Tree memory sub = _tree(truth);
        ChunkTrees.Tree memory chal = sub.withLeaf(9, 7);
        uint256 id = _start(13, sub, chal);

        // Root openings: only the side's own (header, root).
        vm.expectRevert(
            abi.encodeWithSelector(
                Errors.InvalidRootOpening.selector, Types.Side.Submitter, sub.commitment(), HEADER, chal.root()
            )
        );
        h.openRoot(id, Types.Side.Submitter, HEADER, chal.root());
        vm.expectRevert(abi.encodeWithSelector(Errors.NotSidesTurn.selector, Types.Side.Challenger));
        h.openRoot(id, Types.Side.Challenger, HEADER, chal.root());
        h.openRoot(id, Types.Side.Submitter, HEADER, sub.root());
        vm.expectRevert(abi.encodeWithSelector(Errors.NotSidesTurn.selector, Types.Side.Submitter));
        h.openRoot(id, Types.Side.Submitter, HEADER, sub.root());
        h.openRoot(id, Types.Side.Challenger, HEADER, chal.root());

        for (uint256 level; level < 4; ++level) {
            Types.ChunkDescent memory s = h.get(id);
            (uint256 sl, uint256 sr) = sub.children(level, s.position);
            (uint256 cl, uint256 cr) = chal.children(level, s.position);
            uint256 sNode = sub.at(level, s.position);
            uint256 cNode = chal.at(level, s.position);

            _expectInvalidChildren(Types.Side.Submitter, sNode, cl, cr);
            h.revealChildren(id, Types.Side.Submitter, cl, cr);
            _expectInvalidChildren(Types.Side.Submitter, sNode, sr, sl);
            h.revealChildren(id, Types.Side.Submitter, sr, sl);
            vm.expectRevert(abi.encodeWithSelector(Errors.NotSidesTurn.selector, Types.Side.Challenger));
            h.revealChildren(id, Types.Side.Challenger, cl, cr);
            h.revealChildren(id, Types.Side.Submitter, sl, sr);

            // The challenger lied: the true children do not open its node.
            if (sl != cl || sr != cr) {
                _expectInvalidChildren(Types.Side.Challenger, cNode, sl, sr);
                h.revealChildren(id, Types.Side.Challenger, sl, sr);
            }
            vm.expectRevert(abi.encodeWithSelector(Errors.NotSidesTurn.selector, Types.Side.Submitter));
            h.revealChildren(id, Types.Side.Submitter, sl, sr);
            h.revealChildren(id, Types.Side.Challenger, cl, cr);
        }
        (uint64 j,,) = h.leaf(id);
        assertEq(j, 9);
    }

    function _expectInvalidChildren(Types.Side side, uint256 parent, uint256 left, uint256 right) internal {
        vm.expectRevert(abi.encodeWithSelector(Errors.InvalidChildren.selector, side, parent, left, right));
    }

    /// @notice node(0, 0) = 0: a side whose node is 0 must reveal (0, 0), nothing else (no other
    ///         pair hashes to 0). Here the honest submitter's node over padding positions 6, 7
    ///         of a 5-chunk output is 0, and the liar put a digest at 6.
    function test_zeroNode_mustRevealZeroChildren() public {
        uint256[] memory truth = _truth(5, 5);
        ChunkTrees.Tree memory sub = _tree(truth);
        ChunkTrees.Tree memory chal = sub.withLeaf(6, 42);
        uint256 id = _start(5, sub, chal);
        h.openRoot(id, Types.Side.Submitter, HEADER, sub.root());
        h.openRoot(id, Types.Side.Challenger, HEADER, chal.root());
        for (uint256 level; level < 2; ++level) {
            uint256 pos = h.get(id).position;
            (uint256 l, uint256 r) = sub.children(level, pos);
            h.revealChildren(id, Types.Side.Submitter, l, r);
            (l, r) = chal.children(level, pos);
            h.revealChildren(id, Types.Side.Challenger, l, r);
        }
        Types.ChunkDescent memory s = h.get(id);
        assertEq(s.position, 3, "positions 6, 7");
        assertEq(s.submitterNode, 0, "the honest node over padding is 0");
        _expectInvalidChildren(Types.Side.Submitter, 0, 0, 42);
        h.revealChildren(id, Types.Side.Submitter, 0, 42);
        _expectInvalidChildren(Types.Side.Submitter, 0, 1, 0);
        h.revealChildren(id, Types.Side.Submitter, 1, 0);
        h.revealChildren(id, Types.Side.Submitter, 0, 0);
        assertEq(h.revealChildren(id, Types.Side.Challenger, 42, 0), Types.GameStatus.SubmitterWon, "padding rule");
        assertEq(h.get(id).position, 6);
    }

    /// @notice A liar whose root opens no tree at all (a random value) cannot reveal children
    ///         and loses on its clock.
    function test_liarWithNoTree_losesOnClock() public {
        uint256[] memory truth = _truth(8, 8);
        ChunkTrees.Tree memory sub = _tree(truth);
        uint256 fakeRoot = 123456789;
        uint256 id = ++lastId;
        h.init(id, HEADER, 8, sub.commitment(), LibTensorTree.commitment(HEADER, fakeRoot), CLOCK, PROVING);
        h.openRoot(id, Types.Side.Submitter, HEADER, sub.root());
        h.openRoot(id, Types.Side.Challenger, HEADER, fakeRoot);
        (uint256 l, uint256 r) = sub.children(0, 0);
        h.revealChildren(id, Types.Side.Submitter, l, r);
        _expectInvalidChildren(Types.Side.Challenger, fakeRoot, l, r);
        h.revealChildren(id, Types.Side.Challenger, l, r);
        vm.warp(vm.getBlockTimestamp() + CLOCK + 1);
        assertEq(h.timeout(id), Types.GameStatus.SubmitterWon);
    }

    ////////////////////////////////////////////////////////////////
    //                      Creation and roots                    //
    ////////////////////////////////////////////////////////////////

    function test_init_setsTheSubmittersTurn() public {
        uint256 id = _start(100, _tree(_truth(100, 1)), _tree(_truth(100, 2)));
        Types.ChunkDescent memory s = h.get(id);
        assertEq(s.phase, Types.DescentPhase.SubmitterOpen, "submitter opens first");
        assertEq(s.status, Types.GameStatus.InProgress, "in progress");
        assertEq(s.depth, 7);
        assertEq(s.level, 0);
        assertEq(s.outputChunks, 100);
        assertEq(s.submitterClock, CLOCK);
        assertEq(s.challengerClock, CLOCK);
        assertEq(s.turnStartedAt, vm.getBlockTimestamp());
        assertEq(h.turnDeadline(id), vm.getBlockTimestamp() + CLOCK);
    }

    function test_init_revertsOnZeroChunks() public {
        vm.expectRevert(Errors.ZeroOutputChunks.selector);
        h.init(1, HEADER, 0, 1, 2, CLOCK, PROVING);
    }

    function test_init_revertsOnEqualCommitments() public {
        vm.expectRevert(abi.encodeWithSelector(Errors.SameCommitments.selector, 5));
        h.init(1, HEADER, 4, 5, 5, CLOCK, PROVING);
    }

    function test_init_revertsOnNonFieldInputs() public {
        vm.expectRevert(abi.encodeWithSelector(Errors.NotAFieldElement.selector, bytes32(R)));
        h.init(1, R, 4, 1, 2, CLOCK, PROVING);
        vm.expectRevert(abi.encodeWithSelector(Errors.NotAFieldElement.selector, bytes32(R + 1)));
        h.init(1, HEADER, 4, R + 1, 2, CLOCK, PROVING);
        vm.expectRevert(abi.encodeWithSelector(Errors.NotAFieldElement.selector, bytes32(type(uint256).max)));
        h.init(1, HEADER, 4, 1, type(uint256).max, CLOCK, PROVING);
    }

    function test_init_onlyOnce() public {
        h.init(1, HEADER, 4, 1, 2, CLOCK, PROVING);
        vm.expectRevert(abi.encodeWithSelector(Errors.DescentAlreadyStarted.selector, Types.DescentPhase.SubmitterOpen));
        h.init(1, HEADER, 4, 1, 3, CLOCK, PROVING);
    }

    function test_openRoot_revertsOnNonFieldInputs() public {
        h.init(1, HEADER, 4, 1, 2, CLOCK, PROVING);
        vm.expectRevert(abi.encodeWithSelector(Errors.NotAFieldElement.selector, bytes32(R)));
        h.openRoot(1, Types.Side.Submitter, R, 0);
        vm.expectRevert(abi.encodeWithSelector(Errors.NotAFieldElement.selector, bytes32(R + 7)));
        h.openRoot(1, Types.Side.Submitter, HEADER, R + 7);
    }

    function test_revealChildren_revertsOnNonFieldInputs() public {
        uint256[] memory truth = _truth(4, 4);
        ChunkTrees.Tree memory sub = _tree(truth);
        ChunkTrees.Tree memory chal = sub.withLeaf(1, 5);
        uint256 id = _start(4, sub, chal);
        h.openRoot(id, Types.Side.Submitter, HEADER, sub.root());
        h.openRoot(id, Types.Side.Challenger, HEADER, chal.root());
        (uint256 l, uint256 r) = sub.children(0, 0);
        // x + r would hash like x inside PoseidonT3: only the canonical encoding is accepted.
        vm.expectRevert(abi.encodeWithSelector(Errors.NotAFieldElement.selector, bytes32(l + R)));
        h.revealChildren(id, Types.Side.Submitter, l + R, r);
        vm.expectRevert(abi.encodeWithSelector(Errors.NotAFieldElement.selector, bytes32(type(uint256).max)));
        h.revealChildren(id, Types.Side.Submitter, l, type(uint256).max);
        h.revealChildren(id, Types.Side.Submitter, l, r);
    }

    /// @notice Depth 0: after both openings the roots are the digests of chunk 0.
    function test_oneChunk_rootsAreTheLeaf() public {
        uint256[] memory truth = _truth(1, 1);
        ChunkTrees.Tree memory sub = _tree(truth);
        ChunkTrees.Tree memory chal = sub.withLeaf(0, 99);
        uint256 id = _start(1, sub, chal);
        assertEq(h.openRoot(id, Types.Side.Submitter, HEADER, truth[0]), Types.GameStatus.InProgress);
        vm.warp(vm.getBlockTimestamp() + 10);
        assertEq(h.openRoot(id, Types.Side.Challenger, HEADER, 99), Types.GameStatus.InProgress);
        (uint64 j, uint256 ds, uint256 dc) = h.leaf(id);
        assertEq(j, 0);
        assertEq(ds, truth[0]);
        assertEq(dc, 99);
        Types.ChunkDescent memory s = h.get(id);
        assertEq(s.phase, Types.DescentPhase.Proving, "straight to Proving");
        assertEq(s.provingDeadline, vm.getBlockTimestamp() + PROVING);
        vm.expectRevert(
            abi.encodeWithSelector(
                Errors.WrongDescentPhase.selector, Types.DescentPhase.SubmitterReveal, Types.DescentPhase.Proving
            )
        );
        h.revealChildren(id, Types.Side.Submitter, 0, 0);
        assertEq(h.resolveProven(id, false), Types.GameStatus.SubmitterWon);
    }

    ////////////////////////////////////////////////////////////////
    //                        Phases and turns                    //
    ////////////////////////////////////////////////////////////////

    function test_wrongPhase_reverts() public {
        uint256[] memory truth = _truth(4, 4);
        ChunkTrees.Tree memory sub = _tree(truth);
        ChunkTrees.Tree memory chal = sub.withLeaf(1, 5);
        uint256 id = _start(4, sub, chal);
        vm.expectRevert(
            abi.encodeWithSelector(
                Errors.WrongDescentPhase.selector, Types.DescentPhase.SubmitterReveal, Types.DescentPhase.SubmitterOpen
            )
        );
        h.revealChildren(id, Types.Side.Submitter, 0, 0);
        vm.expectRevert(
            abi.encodeWithSelector(
                Errors.WrongDescentPhase.selector, Types.DescentPhase.Proving, Types.DescentPhase.SubmitterOpen
            )
        );
        h.resolveProven(id, false);
        vm.expectRevert(
            abi.encodeWithSelector(
                Errors.WrongDescentPhase.selector, Types.DescentPhase.Proving, Types.DescentPhase.SubmitterOpen
            )
        );
        h.leaf(id);

        h.openRoot(id, Types.Side.Submitter, HEADER, sub.root());
        h.openRoot(id, Types.Side.Challenger, HEADER, chal.root());
        vm.expectRevert(
            abi.encodeWithSelector(
                Errors.WrongDescentPhase.selector, Types.DescentPhase.SubmitterOpen, Types.DescentPhase.SubmitterReveal
            )
        );
        h.openRoot(id, Types.Side.Submitter, HEADER, sub.root());
        vm.expectRevert(
            abi.encodeWithSelector(
                Errors.WrongDescentPhase.selector, Types.DescentPhase.ChallengerOpen, Types.DescentPhase.SubmitterReveal
            )
        );
        h.openRoot(id, Types.Side.Challenger, HEADER, chal.root());

        // Never initialised.
        vm.expectRevert(
            abi.encodeWithSelector(
                Errors.WrongDescentPhase.selector, Types.DescentPhase.SubmitterOpen, Types.DescentPhase.None
            )
        );
        h.openRoot(999, Types.Side.Submitter, HEADER, sub.root());
        vm.expectRevert(
            abi.encodeWithSelector(
                Errors.WrongDescentPhase.selector, Types.DescentPhase.SubmitterOpen, Types.DescentPhase.None
            )
        );
        h.timeout(999);
        assertEq(h.turnDeadline(999), 0);
    }

    function test_resolved_acceptsNothing() public {
        uint256[] memory truth = _truth(4, 4);
        ChunkTrees.Tree memory sub = _tree(truth);
        ChunkTrees.Tree memory chal = sub.withHeader(7);
        uint256 id = _start(4, sub, chal);
        h.openRoot(id, Types.Side.Submitter, HEADER, sub.root());
        assertEq(h.openRoot(id, Types.Side.Challenger, 7, chal.root()), Types.GameStatus.SubmitterWon);
        bytes memory over = abi.encodeWithSelector(Errors.DescentNotInProgress.selector, Types.GameStatus.SubmitterWon);
        vm.expectRevert(over);
        h.openRoot(id, Types.Side.Challenger, HEADER, chal.root());
        vm.expectRevert(over);
        h.revealChildren(id, Types.Side.Submitter, 0, 0);
        vm.expectRevert(over);
        h.resolveProven(id, true);
        vm.expectRevert(over);
        h.leaf(id);
        vm.warp(vm.getBlockTimestamp() + 10 * CLOCK);
        vm.expectRevert(over);
        h.timeout(id);
        assertEq(h.turnDeadline(id), 0);
    }

    ////////////////////////////////////////////////////////////////
    //                            Clocks                          //
    ////////////////////////////////////////////////////////////////

    /// @notice Each side is charged the time from the start of its turn to its move; a move is
    ///         accepted up to and including the last second of the mover's clock.
    function test_clocks_chargeTheMover() public {
        uint256[] memory truth = _truth(4, 4);
        ChunkTrees.Tree memory sub = _tree(truth);
        ChunkTrees.Tree memory chal = sub.withLeaf(3, 5);
        uint256 id = _start(4, sub, chal);
        uint256 t0 = vm.getBlockTimestamp();

        vm.warp(t0 + 100);
        h.openRoot(id, Types.Side.Submitter, HEADER, sub.root());
        vm.warp(t0 + 100 + 250);
        h.openRoot(id, Types.Side.Challenger, HEADER, chal.root());
        Types.ChunkDescent memory s = h.get(id);
        assertEq(s.submitterClock, CLOCK - 100);
        assertEq(s.challengerClock, CLOCK - 250);
        assertEq(s.turnStartedAt, t0 + 350);

        // The submitter moves at the very last second of its clock.
        uint64 deadline = h.turnDeadline(id);
        assertEq(deadline, t0 + 350 + CLOCK - 100);
        vm.warp(deadline);
        vm.expectRevert(abi.encodeWithSelector(Errors.NoDescentTimeout.selector, deadline));
        h.timeout(id);
        (uint256 l, uint256 r) = sub.children(0, 0);
        h.revealChildren(id, Types.Side.Submitter, l, r);
        assertEq(h.get(id).submitterClock, 0, "all used");
        assertEq(h.turnDeadline(id), deadline + CLOCK - 250, "challenger's turn");
    }

    /// @notice One second past its clock the mover's move is refused and anyone may claim the
    ///         timeout: the side to move loses.
    function test_clocks_lateMoveRevertsAndTimesOut() public {
        uint256[] memory truth = _truth(4, 4);
        ChunkTrees.Tree memory sub = _tree(truth);
        ChunkTrees.Tree memory chal = sub.withLeaf(3, 5);

        // Submitter late on its root.
        uint256 id = _start(4, sub, chal);
        uint64 deadline = uint64(vm.getBlockTimestamp()) + CLOCK;
        vm.warp(deadline + 1);
        vm.expectRevert(abi.encodeWithSelector(Errors.DescentClockExpired.selector, Types.Side.Submitter, deadline));
        h.openRoot(id, Types.Side.Submitter, HEADER, sub.root());
        assertEq(h.timeout(id), Types.GameStatus.ChallengerWon);

        // Challenger late on its children.
        id = _start(4, sub, chal);
        h.openRoot(id, Types.Side.Submitter, HEADER, sub.root());
        h.openRoot(id, Types.Side.Challenger, HEADER, chal.root());
        (uint256 l, uint256 r) = sub.children(0, 0);
        h.revealChildren(id, Types.Side.Submitter, l, r);
        deadline = h.turnDeadline(id);
        vm.warp(deadline + 1);
        (l, r) = chal.children(0, 0);
        vm.expectRevert(abi.encodeWithSelector(Errors.DescentClockExpired.selector, Types.Side.Challenger, deadline));
        h.revealChildren(id, Types.Side.Challenger, l, r);
        assertEq(h.timeout(id), Types.GameStatus.SubmitterWon);
    }

    ////////////////////////////////////////////////////////////////
    //                           The leaf                         //
    ////////////////////////////////////////////////////////////////

    /// @notice At a real chunk the embedding contract reads (j, dSub, dChal) and, within the
    ///         proving window, resolves for the side its verifier accepted; after the window
    ///         both lose.
    function test_proving_windowAndOutcomes() public {
        uint256[] memory truth = _truth(5, 5);
        ChunkTrees.Tree memory sub = _tree(truth);
        ChunkTrees.Tree memory chal = sub.withLeaf(4, 77);
        for (uint256 k; k < 3; ++k) {
            uint256 id = _start(5, sub, chal);
            h.openRoot(id, Types.Side.Submitter, HEADER, sub.root());
            h.openRoot(id, Types.Side.Challenger, HEADER, chal.root());
            for (uint256 level; level < 3; ++level) {
                uint256 pos = h.get(id).position;
                (uint256 l, uint256 r) = sub.children(level, pos);
                h.revealChildren(id, Types.Side.Submitter, l, r);
                (l, r) = chal.children(level, pos);
                h.revealChildren(id, Types.Side.Challenger, l, r);
            }
            (uint64 j, uint256 ds, uint256 dc) = h.leaf(id);
            assertEq(j, 4);
            assertEq(ds, truth[4]);
            assertEq(dc, 77);
            uint64 deadline = h.turnDeadline(id);
            assertEq(deadline, vm.getBlockTimestamp() + PROVING);
            assertEq(h.get(id).provingDeadline, deadline);
            if (k == 0) {
                vm.warp(deadline);
                assertEq(h.resolveProven(id, false), Types.GameStatus.SubmitterWon, "last second");
            } else if (k == 1) {
                assertEq(h.resolveProven(id, true), Types.GameStatus.ChallengerWon, "the library trusts its caller");
            } else {
                vm.warp(deadline);
                vm.expectRevert(abi.encodeWithSelector(Errors.NoDescentTimeout.selector, deadline));
                h.timeout(id);
                vm.warp(deadline + 1);
                vm.expectRevert(abi.encodeWithSelector(Errors.DescentProvingWindowClosed.selector, deadline));
                h.resolveProven(id, false);
                assertEq(h.timeout(id), Types.GameStatus.BothLost, "proving window passed");
            }
        }
    }

    /// @notice The padding rule, written out on a 3-chunk output (position 3 is padding).
    function test_padding_nonZeroDigestLoses() public {
        uint256[] memory truth = _truth(3, 3);
        ChunkTrees.Tree memory honest = _tree(truth);
        ChunkTrees.Tree memory liar = honest.withLeaf(3, 1);
        uint256 id = _start(3, liar, honest);
        h.openRoot(id, Types.Side.Submitter, HEADER, liar.root());
        h.openRoot(id, Types.Side.Challenger, HEADER, honest.root());
        (uint256 l, uint256 r) = liar.children(0, 0);
        h.revealChildren(id, Types.Side.Submitter, l, r);
        (l, r) = honest.children(0, 0);
        h.revealChildren(id, Types.Side.Challenger, l, r);
        assertEq(h.get(id).position, 1, "left halves agree: go right");
        h.revealChildren(id, Types.Side.Submitter, truth[2], 1);
        assertEq(
            h.revealChildren(id, Types.Side.Challenger, truth[2], 0), Types.GameStatus.ChallengerWon, "0 is the truth"
        );
        Types.ChunkDescent memory s = h.get(id);
        assertEq(s.position, 3);
        assertEq(s.submitterNode, 1);
        assertEq(s.challengerNode, 0);
        assertEq(s.phase, Types.DescentPhase.Resolved, "resolved");
    }
}

/// @notice Gas of each move and of whole descents at depth 10 and 17. Each move is measured as
///         its own transaction would run it: storage and PoseidonT3 cold. Execution gas of the
///         call into the harness; a transaction adds 21k plus calldata.
abstract contract ChunkDescentGasBase is ChunkDescentFixture {
    /// @dev Which PoseidonT3 bytecode the figures are for.
    function _label() internal pure virtual returns (string memory);

    /// @dev Nodes on the path from `leafDigest` at `j` up through `siblings`: path[k] at height k.
    function _path(uint256 leafDigest, uint256 j, uint256[] memory siblings)
        internal
        pure
        returns (uint256[] memory path)
    {
        path = new uint256[](siblings.length + 1);
        path[0] = leafDigest;
        for (uint256 k; k < siblings.length; ++k) {
            path[k + 1] =
                (j >> k) & 1 == 0 ? LibTensorTree.node(path[k], siblings[k]) : LibTensorTree.node(siblings[k], path[k]);
        }
    }

    /// @dev Children, from the path, of the node at `height` (> 0) on it.
    function _kids(uint256[] memory path, uint256[] memory siblings, uint256 j, uint256 height)
        internal
        pure
        returns (uint256 l, uint256 r)
    {
        uint256 k = height - 1;
        return (j >> k) & 1 == 0 ? (path[k], siblings[k]) : (siblings[k], path[k]);
    }

    /// @dev Storage and PoseidonT3 cold, as at the start of a transaction.
    function _cool() internal {
        vm.cool(address(h));
        vm.cool(address(PoseidonT3));
    }

    struct Figures {
        uint256 init;
        uint256 openSubmitter;
        uint256 openChallenger;
        uint256 revealMax;
        uint256 revealFirstSubmitter;
        uint256 revealFirstChallenger;
        uint256 revealLastChallenger;
        uint256 resolve;
        uint256 total;
    }

    /// @dev A full descent over 2^depth chunks to position 2^depth - 3 (the path turns both
    ///      ways): both trees share every sibling and differ only in that leaf, so the descent
    ///      goes all the way down. Only the path is built: the library sees nothing else.
    function _fullDescent(uint256 depth) internal returns (Figures memory f) {
        uint256 j = (1 << depth) - 3;
        uint256[] memory siblings = new uint256[](depth);
        for (uint256 k; k < depth; ++k) {
            siblings[k] = uint256(keccak256(abi.encode("sibling", k))) % R;
        }
        uint256[] memory sp = _path(uint256(keccak256("true digest")) % R, j, siblings);
        uint256[] memory cp = _path(uint256(keccak256("false digest")) % R, j, siblings);
        uint256 id = ++lastId;
        uint256 g;

        _cool();
        g = gasleft();
        h.init(
            id,
            HEADER,
            uint64(1 << depth),
            LibTensorTree.commitment(HEADER, sp[depth]),
            LibTensorTree.commitment(HEADER, cp[depth]),
            CLOCK,
            PROVING
        );
        f.init = g - gasleft();

        _cool();
        g = gasleft();
        h.openRoot(id, Types.Side.Submitter, HEADER, sp[depth]);
        f.openSubmitter = g - gasleft();
        _cool();
        g = gasleft();
        h.openRoot(id, Types.Side.Challenger, HEADER, cp[depth]);
        f.openChallenger = g - gasleft();
        f.total = f.openSubmitter + f.openChallenger;

        for (uint256 height = depth; height > 0; --height) {
            (uint256 l, uint256 r) = _kids(sp, siblings, j, height);
            _cool();
            g = gasleft();
            h.revealChildren(id, Types.Side.Submitter, l, r);
            uint256 s = g - gasleft();
            (l, r) = _kids(cp, siblings, j, height);
            _cool();
            g = gasleft();
            h.revealChildren(id, Types.Side.Challenger, l, r);
            uint256 c = g - gasleft();
            if (height == depth) (f.revealFirstSubmitter, f.revealFirstChallenger) = (s, c);
            if (height == 1) f.revealLastChallenger = c;
            f.revealMax = s > f.revealMax ? s : f.revealMax;
            f.revealMax = c > f.revealMax ? c : f.revealMax;
            f.total += s + c;
        }
        (uint64 leafPos, uint256 ds, uint256 dc) = h.leaf(id);
        assertEq(leafPos, j);
        assertEq(ds, sp[0]);
        assertEq(dc, cp[0]);

        _cool();
        g = gasleft();
        h.resolveProven(id, false);
        f.resolve = g - gasleft();

        string memory d = string.concat("depth ", vm.toString(depth), ", ", _label(), ": ");
        console2.log(string.concat(d, "init"), f.init);
        console2.log(string.concat(d, "openRoot submitter"), f.openSubmitter);
        console2.log(string.concat(d, "openRoot challenger"), f.openChallenger);
        console2.log(string.concat(d, "revealChildren submitter, first level"), f.revealFirstSubmitter);
        console2.log(string.concat(d, "revealChildren challenger, first level"), f.revealFirstChallenger);
        console2.log(string.concat(d, "revealChildren challenger, last level (enters Proving)"), f.revealLastChallenger);
        console2.log(string.concat(d, "revealChildren max"), f.revealMax);
        console2.log(string.concat(d, "resolveProven"), f.resolve);
        console2.log(string.concat(d, "moves"), 2 * depth + 2);
        console2.log(string.concat(d, "total of all moves"), f.total);
    }
}

/// @notice With the package's PoseidonT3, what a chain links: the figures that count, held to
///         the move target of §8 (<= 120k).
contract LibChunkDescentGasTest is ChunkDescentGasBase {
    uint256 internal constant MOVE_TARGET = 120_000;

    function _label() internal pure override returns (string memory) {
        return "package bytecode";
    }

    function _check(Figures memory f) internal pure {
        assertLe(f.openSubmitter, MOVE_TARGET, "openRoot submitter");
        assertLe(f.openChallenger, MOVE_TARGET, "openRoot challenger");
        assertLe(f.revealMax, MOVE_TARGET, "revealChildren");
    }

    function test_gas_fullDescent_depth10() public {
        _check(_fullDescent(10));
    }

    function test_gas_fullDescent_depth17() public {
        _check(_fullDescent(17));
    }
}

/// @notice For comparison: forge's own build of PoseidonT3.sol. Logged, not bounded.
contract LibChunkDescentGasForgeBuildTest is ChunkDescentGasBase {
    function _label() internal pure override returns (string memory) {
        return "forge build";
    }

    function _packagePoseidon() internal pure override returns (bool) {
        return false;
    }

    function test_gas_fullDescent_depth10() public {
        _fullDescent(10);
    }
}
