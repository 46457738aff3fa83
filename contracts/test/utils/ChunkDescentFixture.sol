// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

import {Test} from "forge-std/Test.sol";
import {PoseidonT3} from "poseidon-solidity/PoseidonT3.sol";
import {LibChunkDescent} from "../../src/lib/LibChunkDescent.sol";
import {LibTensorTree} from "../../src/lib/LibTensorTree.sol";
import {Types} from "../../src/lib/Types.sol";
import {PoseidonT3Package} from "./PoseidonT3Package.sol";

/// @notice Embeds one `Types.ChunkDescent` per id, as a game contract embeds one per game,
///         and passes `block.timestamp` like it would.
contract ChunkDescentHarness {
    using LibChunkDescent for Types.ChunkDescent;

    mapping(uint256 id => Types.ChunkDescent) internal _descents;

    function init(
        uint256 id,
        uint256 outputHeader,
        uint64 outputChunks,
        uint256 submitterCommitment,
        uint256 challengerCommitment,
        uint64 clockPerSide,
        uint64 provingWindow
    ) external {
        _descents[id].init(
            outputHeader,
            outputChunks,
            submitterCommitment,
            challengerCommitment,
            clockPerSide,
            provingWindow,
            uint64(block.timestamp)
        );
    }

    function openRoot(uint256 id, Types.Side side, uint256 header, uint256 root) external returns (Types.GameStatus) {
        return _descents[id].openRoot(side, header, root, uint64(block.timestamp));
    }

    function revealChildren(uint256 id, Types.Side side, uint256 left, uint256 right)
        external
        returns (Types.GameStatus)
    {
        return _descents[id].revealChildren(side, left, right, uint64(block.timestamp));
    }

    function resolveProven(uint256 id, bool forChallenger) external returns (Types.GameStatus) {
        return _descents[id].resolveProven(forChallenger, uint64(block.timestamp));
    }

    function timeout(uint256 id) external returns (Types.GameStatus) {
        return _descents[id].timeout(uint64(block.timestamp));
    }

    function leaf(uint256 id) external view returns (uint64, uint256, uint256) {
        return _descents[id].leaf();
    }

    function turnDeadline(uint256 id) external view returns (uint64) {
        return _descents[id].turnDeadline();
    }

    function get(uint256 id) external view returns (Types.ChunkDescent memory) {
        return _descents[id];
    }
}

/// @notice One side's chunk tree with every level, built the obvious way from
///         LibTensorTree.node, so actors can answer any reveal.
library ChunkTrees {
    /// @param header Shape header the side opens its commitment with.
    /// @param lv     lv[0] = the 2^depth leaf digests (padding included), lv[k] = level k above
    ///               the leaves, lv[depth] = [root].
    struct Tree {
        uint256 header;
        uint256[][] lv;
    }

    function build(uint256 header, uint256[] memory row) internal pure returns (Tree memory t) {
        uint256 height;
        while (1 << height < row.length) ++height;
        require(1 << height == row.length, "row is not a power of two");
        t.header = header;
        t.lv = new uint256[][](height + 1);
        t.lv[0] = row;
        for (uint256 k = 1; k <= height; ++k) {
            t.lv[k] = new uint256[](t.lv[k - 1].length / 2);
            for (uint256 i; i < t.lv[k].length; ++i) {
                t.lv[k][i] = LibTensorTree.node(t.lv[k - 1][2 * i], t.lv[k - 1][2 * i + 1]);
            }
        }
    }

    function depth(Tree memory t) internal pure returns (uint256) {
        return t.lv.length - 1;
    }

    function root(Tree memory t) internal pure returns (uint256) {
        return t.lv[depth(t)][0];
    }

    function commitment(Tree memory t) internal pure returns (uint256) {
        return LibTensorTree.commitment(t.header, root(t));
    }

    /// @notice Node at `level` from the top (0 = root) and `position` within the level.
    function at(Tree memory t, uint256 level, uint256 position) internal pure returns (uint256) {
        return t.lv[depth(t) - level][position];
    }

    /// @notice Children of the node at (level, position), level < depth.
    function children(Tree memory t, uint256 level, uint256 position)
        internal
        pure
        returns (uint256 left, uint256 right)
    {
        uint256[] memory below = t.lv[depth(t) - level - 1];
        return (below[2 * position], below[2 * position + 1]);
    }

    /// @notice A copy of `t` whose leaf `j` is `value` (the path above it recomputed).
    function withLeaf(Tree memory t, uint256 j, uint256 value) internal pure returns (Tree memory u) {
        u.header = t.header;
        u.lv = new uint256[][](t.lv.length);
        for (uint256 k; k < t.lv.length; ++k) {
            u.lv[k] = new uint256[](t.lv[k].length);
            for (uint256 i; i < t.lv[k].length; ++i) {
                u.lv[k][i] = t.lv[k][i];
            }
        }
        u.lv[0][j] = value;
        for (uint256 k = 1; k < u.lv.length; ++k) {
            uint256 i = j >> k;
            u.lv[k][i] = LibTensorTree.node(u.lv[k - 1][2 * i], u.lv[k - 1][2 * i + 1]);
        }
    }

    /// @notice `t` opened under another header (same tree).
    function withHeader(Tree memory t, uint256 header) internal pure returns (Tree memory u) {
        u.header = header;
        u.lv = t.lv;
    }
}

/// @notice Shared fixture: a harness, the package's PoseidonT3 (what a chain links), true
///         outputs and actors that play a descent move by move.
abstract contract ChunkDescentFixture is Test {
    using ChunkTrees for ChunkTrees.Tree;

    uint256 internal constant R = Types.SNARK_SCALAR_FIELD;
    uint64 internal constant CLOCK = 1 hours;
    uint64 internal constant PROVING = 2 hours;
    /// @dev Seconds each actor takes per move.
    uint64 internal constant THINK = 30;
    /// @dev The true output's shape header (any field element; the tree does not depend on it).
    uint256 internal constant HEADER = 0x1234567890abcdef;
    /// @dev `refuseAt` of an actor that never stops answering.
    ///      (Time is read with vm.getBlockTimestamp(): under via_ir a test's `block.timestamp`
    ///      may be read once and reused across vm.warp calls.)
    uint256 internal constant NEVER = type(uint256).max;

    ChunkDescentHarness internal h;
    uint256 internal lastId;

    function setUp() public virtual {
        h = new ChunkDescentHarness();
        if (_packagePoseidon()) vm.etch(address(PoseidonT3), PoseidonT3Package.deploy(vm).code);
        vm.warp(1_700_000_000);
    }

    /// @notice Whether PoseidonT3 is the package's published bytecode (default) or forge's own
    ///         build of PoseidonT3.sol (about 3x the gas per hash; see GasTensorTree.t.sol).
    function _packagePoseidon() internal pure virtual returns (bool) {
        return true;
    }

    // ------------------------------------------------------------ outputs

    /// @notice The true leaf row of a `chunks`-chunk output: non-zero digests, then 0 padding.
    function _truth(uint256 chunks, uint256 seed) internal pure returns (uint256[] memory row) {
        row = new uint256[](1 << LibTensorTree.depthOf(chunks));
        for (uint256 i; i < chunks; ++i) {
            row[i] = uint256(keccak256(abi.encode("chunk", seed, i))) % R;
            if (row[i] == 0) row[i] = 1;
        }
    }

    /// @notice A value other than `truthValue`, non-zero where the truth is 0 (padding).
    function _lie(uint256 j, uint256 truthValue) internal pure returns (uint256 v) {
        v = uint256(keccak256(abi.encode("lie", j))) % R;
        if (v == truthValue || v == 0) v = (truthValue + 1) % R;
    }

    function _tree(uint256[] memory row) internal pure returns (ChunkTrees.Tree memory) {
        return ChunkTrees.build(HEADER, row);
    }

    // ------------------------------------------------------------ playing

    /// @notice Starts a descent between `sub` and `chal` over a `chunks`-chunk output.
    function _start(uint64 chunks, ChunkTrees.Tree memory sub, ChunkTrees.Tree memory chal)
        internal
        returns (uint256 id)
    {
        id = ++lastId;
        h.init(id, HEADER, chunks, sub.commitment(), chal.commitment(), CLOCK, PROVING);
    }

    function _mover(Types.DescentPhase phase) internal pure returns (Types.Side) {
        return phase == Types.DescentPhase.SubmitterOpen || phase == Types.DescentPhase.SubmitterReveal
            ? Types.Side.Submitter
            : Types.Side.Challenger;
    }

    /// @notice Makes the move the descent waits for, from the mover's own tree.
    function _move(uint256 id, Types.ChunkDescent memory s, ChunkTrees.Tree memory t)
        internal
        returns (Types.GameStatus)
    {
        Types.Side mover = _mover(s.phase);
        if (s.phase == Types.DescentPhase.SubmitterOpen || s.phase == Types.DescentPhase.ChallengerOpen) {
            return h.openRoot(id, mover, t.header, t.root());
        }
        (uint256 l, uint256 r) = t.children(s.level, s.position);
        return h.revealChildren(id, mover, l, r);
    }

    /// @notice Plays descent `id` to the end. Each side answers from its own tree after
    ///         THINK seconds; `refuser` stops answering at its `refuseAt`-th move (0 = its root
    ///         opening), and the other side then claims the timeout. At a real leaf the
    ///         verifier is truth-based: it accepts only `truth[j]`, so the side holding it
    ///         resolves (nobody can prove anything if neither does). Checks D1 on the way.
    function _play(
        uint256 id,
        ChunkTrees.Tree memory sub,
        ChunkTrees.Tree memory chal,
        uint256[] memory truth,
        Types.Side refuser,
        uint256 refuseAt
    ) internal returns (Types.GameStatus) {
        uint256[2] memory moves;
        while (true) {
            Types.ChunkDescent memory s = h.get(id);
            if (s.phase == Types.DescentPhase.Resolved) return s.status;
            if (uint8(s.phase) >= uint8(Types.DescentPhase.SubmitterReveal)) {
                assertTrue(s.submitterNode != s.challengerNode, "D1: the current nodes differ");
                assertLe(s.level, s.depth);
            }
            if (s.phase == Types.DescentPhase.Proving) return _proveTruth(id, truth);
            Types.Side mover = _mover(s.phase);
            if (mover == refuser && moves[uint8(mover)] == refuseAt) {
                vm.warp(h.turnDeadline(id) + 1);
                return h.timeout(id);
            }
            vm.warp(vm.getBlockTimestamp() + THINK);
            _move(id, s, mover == Types.Side.Submitter ? sub : chal);
            ++moves[uint8(mover)];
        }
        revert("unreachable");
    }

    function _play(uint256 id, ChunkTrees.Tree memory sub, ChunkTrees.Tree memory chal, uint256[] memory truth)
        internal
        returns (Types.GameStatus)
    {
        return _play(id, sub, chal, truth, Types.Side.Submitter, NEVER);
    }

    /// @notice The embedding contract's leaf step with a truth-based verifier.
    function _proveTruth(uint256 id, uint256[] memory truth) internal returns (Types.GameStatus) {
        (uint64 j, uint256 subDigest, uint256 chalDigest) = h.leaf(id);
        Types.ChunkDescent memory s = h.get(id);
        assertLt(j, s.outputChunks, "Proving only at a real chunk");
        assertEq(s.level, s.depth, "Proving only at a leaf");
        vm.warp(vm.getBlockTimestamp() + THINK);
        if (chalDigest == truth[j]) return h.resolveProven(id, true);
        if (subDigest == truth[j]) return h.resolveProven(id, false);
        vm.warp(h.turnDeadline(id) + 1);
        return h.timeout(id);
    }

    /// @notice The outcome in which `side` won.
    function _win(Types.Side side) internal pure returns (Types.GameStatus) {
        return side == Types.Side.Submitter ? Types.GameStatus.SubmitterWon : Types.GameStatus.ChallengerWon;
    }

    function _other(Types.Side side) internal pure returns (Types.Side) {
        return side == Types.Side.Submitter ? Types.Side.Challenger : Types.Side.Submitter;
    }

    /// @notice Starts and plays honest vs liar with the honest tree on `honestSide`.
    function _honestVsLiar(
        uint64 chunks,
        ChunkTrees.Tree memory honest,
        ChunkTrees.Tree memory liar,
        uint256[] memory truth,
        Types.Side honestSide,
        uint256 refuseAt
    ) internal returns (uint256 id, Types.GameStatus status) {
        bool subHonest = honestSide == Types.Side.Submitter;
        ChunkTrees.Tree memory sub = subHonest ? honest : liar;
        ChunkTrees.Tree memory chal = subHonest ? liar : honest;
        id = _start(chunks, sub, chal);
        status = _play(id, sub, chal, truth, _other(honestSide), refuseAt);
    }

    function assertEq(Types.GameStatus a, Types.GameStatus b, string memory err) internal pure {
        assertEq(uint8(a), uint8(b), err);
    }

    function assertEq(Types.GameStatus a, Types.GameStatus b) internal pure {
        assertEq(uint8(a), uint8(b));
    }

    function assertEq(Types.DescentPhase a, Types.DescentPhase b, string memory err) internal pure {
        assertEq(uint8(a), uint8(b), err);
    }
}
