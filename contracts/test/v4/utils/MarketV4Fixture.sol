// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

import {Test} from "forge-std/Test.sol";
import {PoseidonT3} from "poseidon-solidity/PoseidonT3.sol";
import {InferenceMarketV4} from "../../../src/v4/InferenceMarketV4.sol";
import {ModelRegistryV4} from "../../../src/v4/ModelRegistryV4.sol";
import {TemplateRegistry} from "../../../src/v4/TemplateRegistry.sol";
import {IModelRegistryV4} from "../../../src/interfaces/IModelRegistryV4.sol";
import {ITemplateRegistry} from "../../../src/interfaces/ITemplateRegistry.sol";
import {Types} from "../../../src/lib/Types.sol";
import {LibMerkle} from "../../../src/lib/LibMerkle.sol";
import {LibTensorTree} from "../../../src/lib/LibTensorTree.sol";
import {TypesV4} from "../../../src/v4/lib/TypesV4.sol";
import {LibTraceV4} from "../../../src/v4/lib/LibTraceV4.sol";
import {PoseidonT3Package} from "../../utils/PoseidonT3Package.sol";
import {ChunkTrees} from "../../utils/ChunkDescentFixture.sol";
import {MockTemplate, MockTemplateVerifier} from "../mocks/MockTemplateVerifier.sol";

/// @notice The version-4 test model and its traces, built for real: every operator output is
///         a chunk tree (LibTensorTree nodes, package PoseidonT3) whose leaves are the mock
///         template's digests of the operator's input commitments; states and step outputs are
///         LibMerkle trees of tensor commitments; the trace is over L_i = keccak(S_i ‖ P_{i−1}).
///
///         Model (n steps, N = 3 operators per step, W = 4 state slots), for step i:
///         - o = 0: template 1, params [100 + i], inputs [S_i slot 0, S_i slot 2], 3 chunks
///         - o = 1: template 1, params [200 + i, 7], inputs [P_i entry 0], 5 chunks
///         - o = 2: template 2, no params, inputs [P_i entry 1, S_i slot 1], 1 chunk
///         - S_{i+1} = [P_i entry 2, S_i slot 1 (passed through), P_i entry 1, empty].
library V4Model {
    using ChunkTrees for ChunkTrees.Tree;

    uint256 internal constant R = TypesV4.SNARK_SCALAR_FIELD;
    uint32 internal constant N = 3;
    uint32 internal constant W = 4;
    uint256 internal constant HEADER = 0xabcdef0123;

    /// @notice Where a trace departs from the truth.
    enum LieKind {
        None,
        Chunk, // leaf `chunk` of output (step, pos) changed (padding included)
        Header, // output (step, pos) committed under another header
        Assembly, // slot `pos` of S_{step+1} changed (P_step true)
        Junk, // L_step replaced by a value with no preimage, and another S_n claimed
        Output, // the claimed S_n differs from the trace's (a binding liar)
        Opaque // S_n replaced (and claimed) by a root that is no tree of slot values
    }

    struct Lie {
        LieKind kind;
        uint32 step;
        uint32 pos;
        uint256 chunk;
    }

    struct Trace {
        uint256[][] slots; // slots[i][s], i = 0..n
        bytes32[] S; // S_i
        uint256[][] outs; // outs[i][o]
        bytes32[] P; // P_i, i < n
        bytes32[] L; // L_i
        ChunkTrees.Tree[][] trees; // trees[i][o]
        bytes32 claimed; // the S_n its owner claims
        bytes32[][] levels; // the trace tree's levels, if cached (`cacheTree`); else recomputed
    }

    /// @dev The free memory pointer.
    function freeMemory() internal pure returns (uint256 p) {
        assembly ("memory-safe") {
            p := mload(0x40)
        }
    }

    /// @dev Frees everything allocated since `freeMemory()` returned `p` (nothing allocated
    ///      since may be used afterwards).
    function rewind(uint256 p) internal pure {
        assembly ("memory-safe") {
            mstore(0x40, p)
        }
    }

    function src(uint256 kind, uint256 index) internal pure returns (uint256) {
        return kind << 32 | index;
    }

    /// @notice From this step on, operator 0 is "wide" (template 3, as `gemm_block`): inputs
    ///         [S slot 0, S slot 2, a constant], params [100 + i, 7] — 7 public inputs; and
    ///         operator 2 takes 8 (template 4): inputs [P entry 1, S slot 1, a constant], params
    ///         [300 + i, 7, 9], 4 chunks. Only the deep-trace gas test (MarketV4DeepGas) has
    ///         steps this far.
    uint32 internal constant WIDE_FROM = 4096;
    /// @notice The wide operator's constant input C (a model weight's commitment, < r).
    uint256 internal constant WIDE_CONST = 0x1234567890abcdef1234567890abcdef1234567890abcdef1234567890abcdef;

    function op(uint32 step, uint32 pos) internal pure returns (TypesV4.OperatorLeaf memory l) {
        if (pos == 0 && step >= WIDE_FROM) {
            l.templateId = 3;
            l.params = new uint256[](2);
            l.params[0] = 100 + step;
            l.params[1] = 7;
            l.inputSources = new uint256[](3);
            l.inputSources[0] = src(TypesV4.SOURCE_STATE, 0);
            l.inputSources[1] = src(TypesV4.SOURCE_STATE, 2);
            l.inputSources[2] = TypesV4.SOURCE_CONST_FLAG | WIDE_CONST;
            l.outputChunks = 3;
        } else if (pos == 0) {
            l.templateId = 1;
            l.params = new uint256[](1);
            l.params[0] = 100 + step;
            l.inputSources = new uint256[](2);
            l.inputSources[0] = src(TypesV4.SOURCE_STATE, 0);
            l.inputSources[1] = src(TypesV4.SOURCE_STATE, 2);
            l.outputChunks = 3;
        } else if (pos == 2 && step >= WIDE_FROM) {
            l.templateId = 4;
            l.params = new uint256[](3);
            l.params[0] = 300 + step;
            l.params[1] = 7;
            l.params[2] = 9;
            l.inputSources = new uint256[](3);
            l.inputSources[0] = src(TypesV4.SOURCE_OUTPUT, 1);
            l.inputSources[1] = src(TypesV4.SOURCE_STATE, 1);
            l.inputSources[2] = TypesV4.SOURCE_CONST_FLAG | WIDE_CONST;
            l.outputChunks = 4;
        } else if (pos == 1) {
            l.templateId = 1;
            l.params = new uint256[](2);
            l.params[0] = 200 + step;
            l.params[1] = 7;
            l.inputSources = new uint256[](1);
            l.inputSources[0] = src(TypesV4.SOURCE_OUTPUT, 0);
            l.outputChunks = 5;
        } else {
            l.templateId = 2;
            l.inputSources = new uint256[](2);
            l.inputSources[0] = src(TypesV4.SOURCE_OUTPUT, 1);
            l.inputSources[1] = src(TypesV4.SOURCE_STATE, 1);
            l.outputChunks = 1;
        }
        l.outputHeader = HEADER + pos;
    }

    function layout(uint32 slot) internal pure returns (uint256) {
        if (slot == 0) return src(TypesV4.SOURCE_OUTPUT, 2);
        if (slot == 1) return src(TypesV4.SOURCE_STATE, 1);
        if (slot == 2) return src(TypesV4.SOURCE_OUTPUT, 1);
        return src(TypesV4.SOURCE_EMPTY, 0);
    }

    function operatorLeaves(uint32 n) internal pure returns (bytes32[] memory leaves) {
        leaves = new bytes32[](uint256(n) * N);
        for (uint32 i; i < n; ++i) {
            for (uint32 p; p < N; ++p) {
                uint256 fmp = freeMemory();
                leaves[i * N + p] = LibTraceV4.operatorLeaf(i * N + p, op(i, p));
                rewind(fmp); // the leaf's temporaries (long models stay within memory)
            }
        }
    }

    function layoutLeaves(uint32 n) internal pure returns (bytes32[] memory leaves) {
        leaves = new bytes32[](uint256(n) * W);
        for (uint32 i; i < n; ++i) {
            for (uint32 s; s < W; ++s) {
                uint256 fmp = freeMemory();
                leaves[i * W + s] = LibTraceV4.layoutLeaf(i, s, layout(s));
                rewind(fmp);
            }
        }
    }

    function input() internal pure returns (uint256[] memory s0) {
        s0 = new uint256[](W);
        s0[0] = uint256(keccak256("x0")) % R;
        s0[1] = uint256(keccak256("x1")) % R;
        s0[2] = uint256(keccak256("x2")) % R;
    }

    /// @notice The public-input head [inputs…, j, params…] of chunk j of operator (step, pos).
    function head(TypesV4.OperatorLeaf memory l, uint256[] memory inputs, uint256 j)
        internal
        pure
        returns (uint256[] memory h)
    {
        h = new uint256[](inputs.length + 1 + l.params.length);
        for (uint256 k; k < inputs.length; ++k) {
            h[k] = inputs[k];
        }
        h[inputs.length] = j;
        for (uint256 k; k < l.params.length; ++k) {
            h[inputs.length + 1 + k] = l.params[k];
        }
    }

    function inputsOf(TypesV4.OperatorLeaf memory l, uint256[] memory slots, uint256[] memory outs)
        internal
        pure
        returns (uint256[] memory inputs)
    {
        inputs = new uint256[](l.inputSources.length);
        for (uint256 k; k < inputs.length; ++k) {
            uint256 s = l.inputSources[k];
            if (s & TypesV4.SOURCE_CONST_FLAG != 0) inputs[k] = s & ~TypesV4.SOURCE_CONST_FLAG;
            else inputs[k] = s >> 32 == TypesV4.SOURCE_STATE ? slots[s & 0xffffffff] : outs[s & 0xffffffff];
        }
    }

    function lieValue(uint256 j, uint256 truth) internal pure returns (uint256 v) {
        v = uint256(keccak256(abi.encode("lie", j, truth))) % R;
        if (v == truth || v == 0) v = (truth + 1) % R;
        if (v == 0) v = 2;
    }

    /// @notice The trace of an actor that follows the model except for `lie` (and computes
    ///         everything after its lie consistently from its own wrong values).
    function build(uint32 n, Lie memory lie) internal pure returns (Trace memory t) {
        t.slots = new uint256[][](n + 1);
        t.S = new bytes32[](n + 1);
        t.outs = new uint256[][](n);
        t.P = new bytes32[](n);
        t.L = new bytes32[](n + 1);
        t.trees = new ChunkTrees.Tree[][](n);
        t.slots[0] = input();
        for (uint32 i; i < n; ++i) {
            runStep(t, i, lie);
        }
        for (uint32 i; i <= n; ++i) {
            t.S[i] = LibTraceV4.valuesRoot(t.slots[i]);
            t.L[i] = LibTraceV4.traceLeaf(t.S[i], i == 0 ? bytes32(0) : t.P[i - 1]);
        }
        if (lie.kind == LieKind.Junk) t.L[lie.step] = keccak256(abi.encode("junk", lie.step));
        if (lie.kind == LieKind.Opaque) {
            t.S[n] = keccak256("opaque state");
            t.L[n] = LibTraceV4.traceLeaf(t.S[n], t.P[n - 1]);
        }
        bool otherClaim = lie.kind == LieKind.Output || lie.kind == LieKind.Junk;
        t.claimed = otherClaim ? keccak256("another output") : t.S[n];
    }

    /// @notice Computes step i of `t` (outputs, their chunk trees, P_i, S_{i+1}'s slots) from
    ///         t.slots[i], applying `lie` where it falls.
    function runStep(Trace memory t, uint32 i, Lie memory lie) internal pure {
        t.outs[i] = new uint256[](N);
        t.trees[i] = new ChunkTrees.Tree[](N);
        for (uint32 p; p < N; ++p) {
            TypesV4.OperatorLeaf memory l = op(i, p);
            uint256[] memory inputs = inputsOf(l, t.slots[i], t.outs[i]);
            uint256[] memory row = new uint256[](1 << LibTensorTree.depthOf(l.outputChunks));
            for (uint256 j; j < l.outputChunks; ++j) {
                row[j] = MockTemplate.digest(head(l, inputs, j));
            }
            bool here = lie.step == i && lie.pos == p;
            if (here && lie.kind == LieKind.Chunk) row[lie.chunk] = lieValue(lie.chunk, row[lie.chunk]);
            uint256 header = here && lie.kind == LieKind.Header ? l.outputHeader + 1 : l.outputHeader;
            t.trees[i][p] = ChunkTrees.build(header, row);
            t.outs[i][p] = t.trees[i][p].commitment();
        }
        t.P[i] = LibTraceV4.valuesRoot(t.outs[i]);
        t.slots[i + 1] = new uint256[](W);
        for (uint32 s; s < W; ++s) {
            (uint256 kind, uint256 index) = LibTraceV4.decode(layout(s), W, N);
            if (kind == TypesV4.SOURCE_STATE) t.slots[i + 1][s] = t.slots[i][index];
            else if (kind == TypesV4.SOURCE_OUTPUT) t.slots[i + 1][s] = t.outs[i][index];
        }
        if (lie.kind == LieKind.Assembly && lie.step == i) {
            t.slots[i + 1][lie.pos] = lieValue(99, t.slots[i + 1][lie.pos]);
        }
    }

    function honest(uint32 n) internal pure returns (Trace memory) {
        return build(n, Lie(LieKind.None, 0, 0, 0));
    }

    function traceNodes(Trace memory t) internal pure returns (bytes32[] memory nodes) {
        nodes = new bytes32[](t.L.length);
        for (uint256 i; i < nodes.length; ++i) {
            nodes[i] = LibMerkle.leafState(t.L[i]);
        }
    }

    function traceRoot(Trace memory t) internal pure returns (bytes32) {
        if (t.levels.length != 0) return t.levels[t.levels.length - 1][0];
        return LibMerkle.root(traceNodes(t));
    }

    function traceProof(Trace memory t, uint256 index) internal pure returns (bytes32[] memory p) {
        if (t.levels.length == 0) return LibMerkle.proof(traceNodes(t), index);
        p = new bytes32[](t.levels.length - 1);
        for (uint256 j; j < p.length; ++j) {
            p[j] = t.levels[j][(index >> j) ^ 1];
        }
    }

    /// @notice Builds and keeps `t`'s trace tree (for long traces: proofs then cost no
    ///         rebuild). `t.L` must not change afterwards.
    function cacheTree(Trace memory t) internal pure {
        uint256 depth = LibMerkle.depthFor(t.L.length);
        t.levels = new bytes32[][](depth + 1);
        t.levels[0] = new bytes32[](1 << depth);
        for (uint256 i; i < t.L.length; ++i) {
            t.levels[0][i] = LibMerkle.leafState(t.L[i]);
        }
        for (uint256 k = 1; k <= depth; ++k) {
            bytes32[] memory below = t.levels[k - 1];
            bytes32[] memory level = new bytes32[](below.length / 2);
            for (uint256 i; i < level.length; ++i) {
                level[i] = keccak256(abi.encodePacked(below[2 * i], below[2 * i + 1]));
            }
            t.levels[k] = level;
        }
    }

    function valueProof(uint256[] memory values, uint256 index) internal pure returns (bytes32[] memory) {
        bytes32[] memory nodes = new bytes32[](values.length);
        for (uint256 i; i < values.length; ++i) {
            nodes[i] = LibTraceV4.valueNode(values[i]);
        }
        return LibMerkle.proof(nodes, index);
    }

    /// @notice Whether L_i of `t` opens: into S_i and P_{i−1} (a Junk liar's has no
    ///         preimage), with S_i the tree of its slot values (an Opaque liar's S_n is not).
    function opens(Trace memory t, uint256 i) internal pure returns (bool) {
        return t.L[i] == LibTraceV4.traceLeaf(t.S[i], i == 0 ? bytes32(0) : t.P[i - 1])
            && t.S[i] == LibTraceV4.valuesRoot(t.slots[i]);
    }

    /// @notice A slot of S_{step+1} of `t` that differs from its layout source, if any.
    function assemblyFault(Trace memory t, uint32 step) internal pure returns (bool found, uint32 slot) {
        for (uint32 s; s < W; ++s) {
            (uint256 kind, uint256 index) = LibTraceV4.decode(layout(s), W, N);
            uint256 expected;
            if (kind == TypesV4.SOURCE_STATE) expected = t.slots[step][index];
            else if (kind == TypesV4.SOURCE_OUTPUT) expected = t.outs[step][index];
            if (t.slots[step + 1][s] != expected) return (true, s);
        }
    }

    /// @notice The opening that proves `t`'s assembly fault at (step, slot).
    function assemblyOpening(Trace memory t, uint32 n, uint32 step, uint32 slot)
        internal
        pure
        returns (TypesV4.AssemblyOpening memory a)
    {
        a.slot = slot;
        a.source = layout(slot);
        a.layoutProof = LibMerkle.proof(layoutLeaves(n), uint256(step) * W + slot);
        a.value = t.slots[step + 1][slot];
        a.valueProof = valueProof(t.slots[step + 1], slot);
        (uint256 kind, uint256 index) = LibTraceV4.decode(a.source, W, N);
        if (kind == TypesV4.SOURCE_STATE) {
            a.sourceValue = t.slots[step][index];
            a.sourceProof = valueProof(t.slots[step], index);
        } else if (kind == TypesV4.SOURCE_OUTPUT) {
            a.sourceValue = t.outs[step][index];
            a.sourceProof = valueProof(t.outs[step], index);
        }
    }
}

/// @notice Shared setup and actors for the version-4 market: registries, the mock template
///         verifier (a test double accepting exactly the true digest), the package PoseidonT3,
///         and `_play`, which drives a game through all three levels with each side answering
///         from its own trace.
abstract contract MarketV4Fixture is Test {
    using ChunkTrees for ChunkTrees.Tree;

    uint256 internal constant R = TypesV4.SNARK_SCALAR_FIELD;
    uint128 internal constant RESPONSE_BOND = 1 ether;
    uint128 internal constant CHALLENGER_BOND = 0.5 ether;
    uint256 internal constant BOND_FLOOR = 0.1 ether;
    uint256 internal constant FEE = 0.1 ether;
    uint64 internal constant WINDOW = 1 days;
    uint64 internal constant CLOCK = 1 hours;
    uint64 internal constant PROVING = 2 hours;
    uint64 internal constant THINK = 30;
    uint64 internal constant VERIFIER_GAS = 500_000;
    bytes internal constant PROOF = hex"01";
    /// @dev `refuseAt` of an actor that never stops.
    TypesV4.Phase internal constant NEVER = TypesV4.Phase.Resolved;

    InferenceMarketV4 internal market;
    ModelRegistryV4 internal registry;
    TemplateRegistry internal templates;
    MockTemplateVerifier internal mockVerifier;

    address internal requester = makeAddr("requester");
    address internal submitter = makeAddr("submitter");
    address internal challenger = makeAddr("challenger");
    address internal anyone = makeAddr("anyone");

    /// @dev Gas of the last move `_play` made, per phase it was made in (0 if none).
    mapping(uint256 phase => uint256 gas) internal maxGasByPhase;

    function setUp() public virtual {
        vm.etch(address(PoseidonT3), PoseidonT3Package.deploy(vm).code);
        vm.warp(1_700_000_000);
        mockVerifier = new MockTemplateVerifier();
        templates = _templates(address(mockVerifier));
        registry = new ModelRegistryV4(BOND_FLOOR, TypesV4.MIN_CLOCK);
        market = new InferenceMarketV4(IModelRegistryV4(address(registry)), ITemplateRegistry(address(templates)));
        vm.deal(requester, 1000 ether);
        vm.deal(submitter, 1000 ether);
        vm.deal(challenger, 1000 ether);
        vm.deal(anyone, 1000 ether);
    }

    function _templates(address verifier) internal returns (TemplateRegistry) {
        uint256[] memory ids = new uint256[](2);
        address[] memory vs = new address[](2);
        uint64[] memory gl = new uint64[](2);
        ids[0] = 1;
        ids[1] = 2;
        vs[0] = verifier;
        vs[1] = verifier;
        gl[0] = VERIFIER_GAS;
        gl[1] = VERIFIER_GAS;
        return new TemplateRegistry(ids, vs, gl);
    }

    // ------------------------------------------------------------ model

    function _params(uint32 arity) internal pure returns (TypesV4.GameParams memory) {
        return TypesV4.GameParams(WINDOW, CLOCK, PROVING, arity, RESPONSE_BOND, CHALLENGER_BOND);
    }

    function _model(uint32 n, uint32 arity) internal pure returns (TypesV4.Model memory m) {
        m.modelRoot = LibMerkle.root(V4Model.operatorLeaves(n));
        m.layoutRoot = LibMerkle.root(V4Model.layoutLeaves(n));
        m.numSteps = n;
        m.opsPerStep = V4Model.N;
        m.stateSlots = V4Model.W;
        m.onnxCid = "onnx";
        m.programCid = "program";
        m.params = _params(arity);
    }

    function _register(uint32 n, uint32 arity) internal returns (uint256) {
        return registry.registerModel(_model(n, arity));
    }

    function _lie(V4Model.LieKind kind, uint32 step, uint32 pos, uint256 chunk)
        internal
        pure
        returns (V4Model.Lie memory)
    {
        return V4Model.Lie(kind, step, pos, chunk);
    }

    // ------------------------------------------------------------ flows

    function _request(uint256 modelId, uint32 n) internal returns (uint256 requestId) {
        bytes32 s0 = V4Model.honest(n).S[0];
        vm.prank(requester);
        requestId = market.requestInference{value: FEE}(modelId, s0, "in");
    }

    function _respond(uint256 requestId, V4Model.Trace memory t) internal {
        vm.prank(submitter);
        market.respond{value: RESPONSE_BOND}(requestId, t.claimed, "out");
    }

    function _challenge(uint256 requestId, V4Model.Trace memory t) internal returns (uint256 gameId) {
        bytes32 root = V4Model.traceRoot(t);
        vm.prank(challenger);
        gameId = market.challenge{value: CHALLENGER_BOND}(requestId, t.claimed, root);
    }

    /// @notice A request on a fresh n-step model, answered from `sub` and challenged from `chal`.
    function _game(uint32 n, uint32 arity, V4Model.Trace memory sub, V4Model.Trace memory chal)
        internal
        returns (uint256 requestId, uint256 gameId)
    {
        requestId = _request(_register(n, arity), n);
        _respond(requestId, sub);
        gameId = _challenge(requestId, chal);
    }

    function _now() internal view returns (uint256) {
        return vm.getBlockTimestamp();
    }

    // ------------------------------------------------------------ actors

    /// @notice Plays game `gameId` to its end: each side answers from its own trace after THINK
    ///         seconds; `refuser` stops answering the first time it must move in phase
    ///         `refuseAt` (Descent for any level-3 move), and the other side claims the timeout.
    ///         A side whose trace cannot make a move (a Junk leaf) stalls the same way. At
    ///         AssemblyProving and at the leaf, a third party proves the truth (or nobody can,
    ///         and the window runs out). Returns the game's status.
    function _play(
        uint256 gameId,
        V4Model.Trace memory sub,
        V4Model.Trace memory chal,
        Types.Side refuser,
        TypesV4.Phase refuseAt
    ) internal returns (TypesV4.GameStatus) {
        uint32 n = uint32(sub.L.length - 1);
        _lastGame = gameId;
        for (uint256 guard; guard < 500; ++guard) {
            TypesV4.Game memory g = market.getGame(gameId);
            if (g.status != TypesV4.GameStatus.InProgress) return g.status;
            if (g.phase == stopAt) return g.status;
            if (stopAtProving && g.phase == TypesV4.Phase.Descent) {
                if (market.getDescent(gameId).phase == Types.DescentPhase.Proving) return g.status;
            }
            if (g.phase == TypesV4.Phase.AssemblyProving) {
                _proveAssembly(gameId, g, sub, chal, n);
                continue;
            }
            if (g.phase == TypesV4.Phase.DescentStart) {
                if (refuser == Types.Side.Submitter && refuseAt == TypesV4.Phase.DescentStart) {
                    _timeOut(gameId);
                    continue;
                }
                vm.warp(_now() + THINK);
                TypesV4.OperatorLeaf memory leaf = V4Model.op(g.lo, g.opPosition);
                bytes32[] memory opProof = _opProof(n, g.lo, g.opPosition);
                _measure(g.phase, abi.encodeCall(market.startDescent, (gameId, leaf, opProof)));
                market.startDescent(gameId, leaf, opProof);
                _record(g.phase);
                continue;
            }
            if (g.phase == TypesV4.Phase.Descent) {
                _descentMove(gameId, g, sub, chal, refuser, refuseAt);
                continue;
            }
            bool subMoves = g.phase == TypesV4.Phase.SubmitterReveal || g.phase == TypesV4.Phase.SubmitterOpenStep
                || g.phase == TypesV4.Phase.SubmitterOps;
            Types.Side mover = subMoves ? Types.Side.Submitter : Types.Side.Challenger;
            V4Model.Trace memory t = subMoves ? sub : chal;
            bool stuck = (g.phase == TypesV4.Phase.SubmitterOpenStep || g.phase == TypesV4.Phase.ChallengerOpenStep)
                && !V4Model.opens(t, g.hi);
            if ((mover == refuser && g.phase == refuseAt) || stuck) {
                _timeOut(gameId);
                continue;
            }
            vm.warp(_now() + THINK);
            _levelMove(gameId, g, sub, chal);
        }
        revert("game did not end");
    }

    function _play(uint256 gameId, V4Model.Trace memory sub, V4Model.Trace memory chal)
        internal
        returns (TypesV4.GameStatus)
    {
        return _play(gameId, sub, chal, Types.Side.Submitter, NEVER);
    }

    /// @dev `_play` stops (without moving) when the game reaches `stopAt`, or the descent
    ///      reaches Proving if `stopAtProving`. Both off by default.
    TypesV4.Phase internal stopAt = TypesV4.Phase.Resolved;
    bool internal stopAtProving;

    /// @notice Plays honestly from both traces until the game is in `phase` (or over).
    function _playUntil(uint256 gameId, V4Model.Trace memory sub, V4Model.Trace memory chal, TypesV4.Phase phase)
        internal
    {
        stopAt = phase;
        _play(gameId, sub, chal);
        stopAt = TypesV4.Phase.Resolved;
    }

    /// @notice Plays until the descent waits for the leaf proof.
    function _playUntilProving(uint256 gameId, V4Model.Trace memory sub, V4Model.Trace memory chal) internal {
        stopAtProving = true;
        _play(gameId, sub, chal);
        stopAtProving = false;
    }

    function _timeOut(uint256 gameId) internal {
        vm.warp(uint256(market.turnDeadline(gameId)) + 1);
        vm.prank(anyone);
        market.claimTimeout(gameId);
    }

    /// @dev Starts measuring one move with cold storage, as in a fresh transaction (the linked
    ///      LibChunkDescentLinked account stays warm: callers add its 2,600 cold-access gas).
    function _measure(TypesV4.Phase, bytes memory callData) internal {
        _calldataGas = calldataGas(callData);
        vm.cool(address(market));
        vm.cool(address(PoseidonT3));
        vm.cool(address(templates));
        vm.cool(address(mockVerifier));
        _gasMark = gasleft();
    }

    uint256 internal _gasMark;
    uint256 internal _calldataGas;

    /// @dev Intrinsic calldata gas of a transaction carrying `data` (EIP-2028: 16 per non-zero
    ///      byte, 4 per zero byte).
    function calldataGas(bytes memory data) internal pure returns (uint256 g) {
        for (uint256 i; i < data.length; ++i) {
            g += data[i] == 0 ? 4 : 16;
        }
    }

    /// @dev Per phase (and RESOLVING + phase), the largest estimated transaction gas of a move:
    ///      21,000 + calldata + the market's call frame (+ 2,600 for the linked descent
    ///      library's cold account on startDescent and the descent moves). Refunds are not
    ///      subtracted.
    mapping(uint256 phase => uint256 gas) internal maxTxGasByPhase;

    /// @dev Records the gas of the move just made under its phase, or under RESOLVING + phase
    ///      if the move also ended the game (and so credited payouts).
    function _record(TypesV4.Phase phase) internal {
        _recordKey(uint8(phase), phase == TypesV4.Phase.DescentStart || phase == TypesV4.Phase.Descent);
    }

    /// @dev Key of `finishGame`'s gas records (after the phases' keys 0..9).
    uint256 internal constant FINISH = 10;

    /// @dev `_record` under `key` (a phase, or FINISH); `linked`: the move calls the linked
    ///      descent library.
    function _recordKey(uint256 key, bool linked) internal {
        // The market's own frame (the caller's argument encoding excluded).
        uint256 used = vm.lastCallGas().gasTotalUsed;
        if (market.getGame(_lastGame).status != TypesV4.GameStatus.InProgress) key += RESOLVING;
        if (used > maxGasByPhase[key]) maxGasByPhase[key] = used;
        uint256 txGas = used + 21_000 + _calldataGas + (linked ? 2600 : 0);
        if (txGas > maxTxGasByPhase[key]) maxTxGasByPhase[key] = txGas;
    }

    /// @dev Offset of the gas records of moves that ended their game.
    uint256 internal constant RESOLVING = 16;
    uint256 internal _lastGame;

    function _levelMove(uint256 gameId, TypesV4.Game memory g, V4Model.Trace memory sub, V4Model.Trace memory chal)
        internal
    {
        if (g.phase == TypesV4.Phase.SubmitterReveal || g.phase == TypesV4.Phase.SubmitterOpenStep) {
            TypesV4.Response memory resp = market.getResponse(g.responseId);
            if (resp.traceRoot == bytes32(0)) {
                bytes32 root = V4Model.traceRoot(sub);
                vm.prank(resp.submitter);
                market.commitTrace(resp.requestId, root);
            }
        }
        if (g.phase == TypesV4.Phase.SubmitterReveal) {
            uint32[] memory pts = market.splitPoints(gameId);
            (bytes32[] memory v, bytes32[][] memory p) = _openLeaves(sub, pts);
            _measure(g.phase, abi.encodeCall(market.submitterReveal, (gameId, v, p)));
            market.submitterReveal(gameId, v, p);
            _record(g.phase);
        } else if (g.phase == TypesV4.Phase.ChallengerReveal) {
            uint32[] memory pts = market.splitPoints(gameId);
            (bytes32[] memory sv,) = _openLeaves(sub, pts);
            (bytes32[] memory v, bytes32[][] memory p) = _openLeaves(chal, pts);
            _measure(g.phase, abi.encodeCall(market.challengerReveal, (gameId, sv, v, p)));
            market.challengerReveal(gameId, sv, v, p);
            _record(g.phase);
        } else if (g.phase == TypesV4.Phase.SubmitterOpenStep) {
            bytes32[] memory proof = V4Model.traceProof(sub, g.hi);
            // The agreed L_lo's preimage: the honest side's (both sides' L_lo are equal).
            (bytes32 sLo, bytes32 pBefore) = _agreedPreimage(g.lo, sub, chal);
            _measure(
                g.phase,
                abi.encodeCall(market.submitterOpenStep, (gameId, sLo, pBefore, sub.slots[g.hi], sub.P[g.lo], proof))
            );
            market.submitterOpenStep(gameId, sLo, pBefore, sub.slots[g.hi], sub.P[g.lo], proof);
            _record(g.phase);
        } else if (g.phase == TypesV4.Phase.ChallengerOpenStep) {
            bytes32[] memory proof = V4Model.traceProof(chal, g.hi);
            _measure(
                g.phase, abi.encodeCall(market.challengerOpenStep, (gameId, chal.slots[g.hi], chal.P[g.lo], proof))
            );
            market.challengerOpenStep(gameId, chal.slots[g.hi], chal.P[g.lo], proof);
            _record(g.phase);
        } else if (g.phase == TypesV4.Phase.SubmitterOps) {
            _measure(g.phase, abi.encodeCall(market.submitterOps, (gameId, sub.outs[g.lo])));
            market.submitterOps(gameId, sub.outs[g.lo]);
            _record(g.phase);
        } else if (g.phase == TypesV4.Phase.ChallengerOps) {
            _measure(g.phase, abi.encodeCall(market.challengerOps, (gameId, sub.outs[g.lo], chal.outs[g.lo])));
            market.challengerOps(gameId, sub.outs[g.lo], chal.outs[g.lo]);
            _record(g.phase);
        }
    }

    function _agreedPreimage(uint32 lo, V4Model.Trace memory sub, V4Model.Trace memory chal)
        internal
        pure
        returns (bytes32, bytes32)
    {
        V4Model.Trace memory t = V4Model.opens(sub, lo) ? sub : chal;
        return (t.S[lo], lo == 0 ? bytes32(0) : t.P[lo - 1]);
    }

    function _openLeaves(V4Model.Trace memory t, uint32[] memory pts)
        internal
        pure
        returns (bytes32[] memory v, bytes32[][] memory p)
    {
        v = new bytes32[](pts.length);
        p = new bytes32[][](pts.length);
        if (t.levels.length != 0) {
            for (uint256 j; j < pts.length; ++j) {
                v[j] = t.L[pts[j]];
                p[j] = V4Model.traceProof(t, pts[j]);
            }
            return (v, p);
        }
        bytes32[] memory nodes = V4Model.traceNodes(t);
        for (uint256 j; j < pts.length; ++j) {
            v[j] = t.L[pts[j]];
            p[j] = LibMerkle.proof(nodes, pts[j]);
        }
    }

    function _opProof(uint32 n, uint32 step, uint32 pos) internal pure returns (bytes32[] memory p) {
        uint256 fmp = V4Model.freeMemory();
        bytes32[] memory tmp = LibMerkle.proof(V4Model.operatorLeaves(n), uint256(step) * V4Model.N + pos);
        // Keep only the proof: copy it down to where the leaves' memory began.
        V4Model.rewind(fmp);
        p = new bytes32[](tmp.length);
        for (uint256 j; j < tmp.length; ++j) {
            p[j] = tmp[j]; // tmp lies above p's end: p's words never overwrite unread ones
        }
    }

    function _proveAssembly(
        uint256 gameId,
        TypesV4.Game memory g,
        V4Model.Trace memory sub,
        V4Model.Trace memory chal,
        uint32 n
    ) internal {
        (bool subFault, uint32 subSlot) = V4Model.assemblyFault(sub, g.lo);
        (bool chalFault, uint32 chalSlot) = V4Model.assemblyFault(chal, g.lo);
        vm.warp(_now() + THINK);
        vm.prank(anyone);
        if (subFault) {
            market.proveAssemblyFault(gameId, Types.Side.Submitter, V4Model.assemblyOpening(sub, n, g.lo, subSlot));
        } else if (chalFault) {
            market.proveAssemblyFault(gameId, Types.Side.Challenger, V4Model.assemblyOpening(chal, n, g.lo, chalSlot));
        } else {
            _timeOut(gameId);
        }
    }

    function _descentMove(
        uint256 gameId,
        TypesV4.Game memory g,
        V4Model.Trace memory sub,
        V4Model.Trace memory chal,
        Types.Side refuser,
        TypesV4.Phase refuseAt
    ) internal {
        Types.ChunkDescent memory d = market.getDescent(gameId);
        if (d.phase == Types.DescentPhase.Proving) {
            _proveLeaf(gameId, g, sub, d);
            return;
        }
        if (d.phase == Types.DescentPhase.Resolved) {
            // The leaf was proven: anyone applies its outcome.
            _measure(TypesV4.Phase.Resolved, abi.encodeCall(market.finishGame, (gameId)));
            vm.prank(anyone);
            market.finishGame(gameId);
            _recordKey(FINISH, false);
            return;
        }
        bool subMoves = d.phase == Types.DescentPhase.SubmitterOpen || d.phase == Types.DescentPhase.SubmitterReveal;
        Types.Side mover = subMoves ? Types.Side.Submitter : Types.Side.Challenger;
        if (mover == refuser && refuseAt == TypesV4.Phase.Descent) {
            _timeOut(gameId);
            return;
        }
        ChunkTrees.Tree memory t = (subMoves ? sub : chal).trees[g.lo][g.opPosition];
        vm.warp(_now() + THINK);
        if (d.phase == Types.DescentPhase.SubmitterOpen || d.phase == Types.DescentPhase.ChallengerOpen) {
            uint256 root = t.root();
            _measure(TypesV4.Phase.Descent, abi.encodeCall(market.descentOpenRoot, (gameId, mover, t.header, root)));
            market.descentOpenRoot(gameId, mover, t.header, root);
        } else {
            (uint256 l, uint256 r) = t.children(d.level, d.position);
            _measure(TypesV4.Phase.Descent, abi.encodeCall(market.descentReveal, (gameId, mover, l, r)));
            market.descentReveal(gameId, mover, l, r);
        }
        _record(TypesV4.Phase.Descent);
    }

    /// @notice The leaf with the truth-accepting mock: a third party computes the true digest
    ///         of chunk j from the agreed inputs and names the side holding it (if any).
    function _proveLeaf(uint256 gameId, TypesV4.Game memory g, V4Model.Trace memory sub, Types.ChunkDescent memory d)
        internal
    {
        TypesV4.OperatorLeaf memory l = V4Model.op(g.lo, g.opPosition);
        (uint256[] memory inputs, bytes32[][] memory proofs) = _inputs(l, sub, g.lo);
        TypesV4.LeafStatement memory st = _statement(l);
        uint256 trueDigest = MockTemplate.digest(V4Model.head(l, inputs, d.position));
        bool forChallenger;
        if (d.challengerNode == trueDigest) forChallenger = true;
        else if (d.submitterNode != trueDigest) return _timeOut(gameId);
        vm.warp(_now() + THINK);
        vm.prank(anyone);
        _measure(
            TypesV4.Phase.Resolved,
            abi.encodeCall(market.resolveLeaf, (gameId, st, inputs, proofs, PROOF, forChallenger))
        );
        market.resolveLeaf(gameId, st, inputs, proofs, PROOF, forChallenger);
        _record(TypesV4.Phase.Resolved);
    }

    /// @notice The leaf statement `startDescent` fixes for leaf `l`: its template's verifier and
    ///         budget (from the registry), its input sources and params.
    function _statement(TypesV4.OperatorLeaf memory l) internal view returns (TypesV4.LeafStatement memory s) {
        (address verifier, uint64 gasLimit) = templates.templateOf(l.templateId);
        s = TypesV4.LeafStatement(verifier, gasLimit, l.inputSources, l.params);
    }

    /// @notice The operator's agreed inputs (from `t`'s S_lo and P_lo) and their proofs.
    function _inputs(TypesV4.OperatorLeaf memory l, V4Model.Trace memory t, uint32 lo)
        internal
        pure
        returns (uint256[] memory inputs, bytes32[][] memory proofs)
    {
        inputs = V4Model.inputsOf(l, t.slots[lo], t.outs[lo]);
        proofs = new bytes32[][](inputs.length);
        for (uint256 k; k < inputs.length; ++k) {
            uint256 s = l.inputSources[k];
            if (s & TypesV4.SOURCE_CONST_FLAG != 0) continue; // a constant: no opening
            proofs[k] = s >> 32 == TypesV4.SOURCE_STATE
                ? V4Model.valueProof(t.slots[lo], s & 0xffffffff)
                : V4Model.valueProof(t.outs[lo], s & 0xffffffff);
        }
    }

    // ------------------------------------------------------------ assertions

    function assertEq(TypesV4.GameStatus a, TypesV4.GameStatus b, string memory err) internal pure {
        assertEq(uint8(a), uint8(b), err);
    }

    function assertEq(TypesV4.Phase a, TypesV4.Phase b, string memory err) internal pure {
        assertEq(uint8(a), uint8(b), err);
    }
}
