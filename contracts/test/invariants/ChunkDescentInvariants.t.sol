// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

import {Test} from "forge-std/Test.sol";
import {CommonBase} from "forge-std/Base.sol";
import {StdCheats} from "forge-std/StdCheats.sol";
import {StdUtils} from "forge-std/StdUtils.sol";
import {PoseidonT3} from "poseidon-solidity/PoseidonT3.sol";
import {LibTensorTree} from "../../src/lib/LibTensorTree.sol";
import {Types} from "../../src/lib/Types.sol";
import {ChunkDescentHarness, ChunkTrees} from "../utils/ChunkDescentFixture.sol";
import {PoseidonT3Package} from "../utils/PoseidonT3Package.sol";

/// @notice Plays chunk descents one after another between an honest side (alternately the
///         submitter and the challenger) and a liar whose tree differs from the truth in a
///         few random leaves (padding included) or whose header is wrong. The liar stalls,
///         posts garbage, posts for the wrong side, and claims timeouts; the honest side always
///         moves (and proves its leaf) before any time passes, which is its whole strategy.
contract ChunkDescentHandler is CommonBase, StdCheats, StdUtils {
    using ChunkTrees for ChunkTrees.Tree;

    uint256 internal constant R = Types.SNARK_SCALAR_FIELD;
    uint64 internal constant CLOCK = 1 hours;
    uint64 internal constant PROVING = 2 hours;
    uint256 internal constant HEADER = 0x1234567890abcdef;

    ChunkDescentHarness public immutable h;

    /// @notice The current descent and its setup.
    uint256 public id;
    uint64 public chunks;
    Types.Side public honestSide;
    uint256 public depth;
    uint256[] internal _truthRow;
    uint256[] internal _liarRow;
    uint256 internal _liarHeader;
    /// @dev Every node of both trees of the current game (built once per game, so moves do
    ///      not rehash): key = keccak256(abi.encode(id, isLiar, height, index)).
    mapping(bytes32 key => uint256) internal _nodes;

    /// @notice Counters the invariants read.
    uint256 public finished;
    uint256 public honestLosses;
    uint256 public honestMovesRejected;
    uint256 public liarGarbageAccepted;
    uint256 public d1Violations;

    constructor(ChunkDescentHarness harness) {
        h = harness;
        _newGame(0);
    }

    // ------------------------------------------------------------ liar actions

    /// @notice The liar makes its move from its own tree, after `delay` seconds (it may run out
    ///         of clock doing so).
    function liarMove(uint32 delay) external {
        _honestActs();
        if (!_liarsTurn()) return;
        vm.warp(vm.getBlockTimestamp() + bound(delay, 0, CLOCK / 2));
        Types.ChunkDescent memory s = h.get(id);
        if (_opening(s.phase)) {
            try h.openRoot(id, _liarSide(), _liarHeader, _root(true)) {} catch {}
        } else {
            (uint256 l, uint256 r) = _children(true, s.level, s.position);
            try h.revealChildren(id, _liarSide(), l, r) {} catch {}
        }
        _honestActs();
    }

    /// @notice The liar posts values that are not its committed ones (random, or the honest
    ///         side's), for itself or for the honest side. Every such move must be rejected.
    function liarGarbage(uint256 a, uint256 b, bool asHonest, bool copyHonest) external {
        _honestActs();
        if (!_liarsTurn()) return;
        Types.ChunkDescent memory s = h.get(id);
        Types.Side side = asHonest ? honestSide : _liarSide();
        if (_opening(s.phase)) {
            (uint256 header, uint256 root) = copyHonest ? (HEADER, _root(false)) : (a % R, b % R);
            if (!asHonest && header == _liarHeader && root == _root(true)) return;
            try h.openRoot(id, side, header, root) {
                ++liarGarbageAccepted;
            } catch {}
        } else {
            (uint256 l, uint256 r) = copyHonest ? _children(false, s.level, s.position) : (a % R, b % R);
            (uint256 ll, uint256 lr) = _children(true, s.level, s.position);
            if (!asHonest && l == ll && r == lr) return;
            try h.revealChildren(id, side, l, r) {
                ++liarGarbageAccepted;
            } catch {}
        }
        _honestActs();
    }

    /// @notice Time passes (after the honest side has moved).
    function wait(uint32 dt) external {
        _honestActs();
        vm.warp(vm.getBlockTimestamp() + bound(dt, 0, CLOCK));
        _honestActs();
    }

    /// @notice Anyone claims a timeout.
    function claimTimeout() external {
        _honestActs();
        try h.timeout(id) {} catch {}
        _honestActs();
    }

    // ------------------------------------------------------------ honest side

    /// @dev The honest side's strategy: whenever it is its turn, move at once; at a real leaf,
    ///      prove its digest at once (a truth-based verifier accepts exactly the true digest).
    ///      Then record finished games and start the next one.
    function _honestActs() internal {
        for (uint256 guard; guard < 200; ++guard) {
            Types.ChunkDescent memory s = h.get(id);
            if (s.phase == Types.DescentPhase.Resolved) {
                ++finished;
                if (s.status != _honestWin()) ++honestLosses;
                _newGame(uint256(keccak256(abi.encode(id, vm.getBlockTimestamp()))));
                continue;
            }
            if (uint8(s.phase) >= uint8(Types.DescentPhase.SubmitterReveal) && s.submitterNode == s.challengerNode) {
                ++d1Violations;
            }
            if (s.phase == Types.DescentPhase.Proving) {
                (uint64 j, uint256 ds, uint256 dc) = h.leaf(id);
                uint256 mine = honestSide == Types.Side.Submitter ? ds : dc;
                if (mine != _truthRow[j]) ++honestMovesRejected;
                try h.resolveProven(id, honestSide == Types.Side.Challenger) {}
                catch {
                    ++honestMovesRejected;
                    return;
                }
                continue;
            }
            if (_liarsTurn()) return;
            bool ok;
            if (_opening(s.phase)) {
                try h.openRoot(id, honestSide, HEADER, _root(false)) {
                    ok = true;
                } catch {}
            } else {
                (uint256 l, uint256 r) = _children(false, s.level, s.position);
                try h.revealChildren(id, honestSide, l, r) {
                    ok = true;
                } catch {}
            }
            if (!ok) {
                ++honestMovesRejected;
                return;
            }
        }
    }

    // ------------------------------------------------------------ games

    /// @dev Starts the next descent: 1..20 chunks, the honest side alternating, a liar with
    ///      1..3 changed leaves (any position, any value, padding included) or, one game in
    ///      eight, the true tree under a wrong header.
    function _newGame(uint256 seed) internal {
        chunks = uint64(1 + seed % 20);
        honestSide = id % 2 == 0 ? Types.Side.Submitter : Types.Side.Challenger;
        uint256 width = 1 << LibTensorTree.depthOf(chunks);
        delete _truthRow;
        for (uint256 i; i < width; ++i) {
            uint256 v = i < chunks ? uint256(keccak256(abi.encode("chunk", seed, i))) % R : 0;
            _truthRow.push(i < chunks && v == 0 ? 1 : v);
        }
        _liarRow = _truthRow;
        _liarHeader = HEADER;
        if ((seed >> 8) % 8 == 0) {
            _liarHeader = HEADER + 1 + (seed >> 16) % 3;
        } else {
            uint256 lies = 1 + (seed >> 16) % 3;
            for (uint256 k; k < lies; ++k) {
                uint256 r = uint256(keccak256(abi.encode("lie", seed, k)));
                uint256 pos = r % width;
                uint256 value = (r >> 64) % 4 == 0 ? 0 : (r >> 128) % R;
                _liarRow[pos] = value;
            }
            // at least one leaf differs
            _liarRow[seed % width] = (_truthRow[seed % width] + 1) % R;
        }
        ++id;
        depth = LibTensorTree.depthOf(chunks);
        ChunkTrees.Tree memory honest = _store(false, ChunkTrees.build(HEADER, _truthRow));
        ChunkTrees.Tree memory liar = _store(true, ChunkTrees.build(_liarHeader, _liarRow));
        (uint256 cSub, uint256 cChal) = honestSide == Types.Side.Submitter
            ? (honest.commitment(), liar.commitment())
            : (liar.commitment(), honest.commitment());
        h.init(id, HEADER, chunks, cSub, cChal, CLOCK, PROVING);
    }

    function _key(bool liar, uint256 height, uint256 index) internal view returns (bytes32) {
        return keccak256(abi.encode(id, liar, height, index));
    }

    function _store(bool liar, ChunkTrees.Tree memory t) internal returns (ChunkTrees.Tree memory) {
        for (uint256 k; k < t.lv.length; ++k) {
            for (uint256 i; i < t.lv[k].length; ++i) {
                _nodes[_key(liar, k, i)] = t.lv[k][i];
            }
        }
        return t;
    }

    function _root(bool liar) internal view returns (uint256) {
        return _nodes[_key(liar, depth, 0)];
    }

    /// @dev Children of the node at `level` from the top (0 = root) and `position`.
    function _children(bool liar, uint256 level, uint256 position) internal view returns (uint256, uint256) {
        uint256 height = depth - level - 1;
        return (_nodes[_key(liar, height, 2 * position)], _nodes[_key(liar, height, 2 * position + 1)]);
    }

    function _liarSide() internal view returns (Types.Side) {
        return honestSide == Types.Side.Submitter ? Types.Side.Challenger : Types.Side.Submitter;
    }

    function _honestWin() internal view returns (Types.GameStatus) {
        return honestSide == Types.Side.Submitter ? Types.GameStatus.SubmitterWon : Types.GameStatus.ChallengerWon;
    }

    function _opening(Types.DescentPhase phase) internal pure returns (bool) {
        return phase == Types.DescentPhase.SubmitterOpen || phase == Types.DescentPhase.ChallengerOpen;
    }

    function _liarsTurn() internal view returns (bool) {
        Types.DescentPhase phase = h.get(id).phase;
        if (phase == Types.DescentPhase.Proving || phase == Types.DescentPhase.Resolved) return false;
        bool submitterMoves = phase == Types.DescentPhase.SubmitterOpen || phase == Types.DescentPhase.SubmitterReveal;
        return submitterMoves != (honestSide == Types.Side.Submitter);
    }
}

/// @notice Invariants of the chunk descent against an adversarial liar (handler above).
contract ChunkDescentInvariantsTest is Test {
    ChunkDescentHandler internal handler;

    function setUp() public {
        ChunkDescentHarness h = new ChunkDescentHarness();
        vm.etch(address(PoseidonT3), PoseidonT3Package.deploy(vm).code);
        vm.warp(1_700_000_000);
        handler = new ChunkDescentHandler(h);
        targetContract(address(handler));
    }

    /// @notice Every finished descent was won by the honest side.
    function invariant_honestNeverLoses() public view {
        assertEq(handler.honestLosses(), 0);
    }

    /// @notice The honest side's moves and leaf proofs are always accepted in time.
    function invariant_honestMovesAlwaysAccepted() public view {
        assertEq(handler.honestMovesRejected(), 0);
    }

    /// @notice Nothing but the liar's own committed values is ever accepted from it.
    function invariant_onlyCommittedValuesAccepted() public view {
        assertEq(handler.liarGarbageAccepted(), 0);
    }

    /// @notice D1: the sides' current nodes differ throughout the descent.
    function invariant_currentNodesDiffer() public view {
        assertEq(handler.d1Violations(), 0);
    }
}
