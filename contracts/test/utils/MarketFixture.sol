// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

import {Test} from "forge-std/Test.sol";
import {ModelRegistry} from "../../src/ModelRegistry.sol";
import {InferenceMarket} from "../../src/InferenceMarket.sol";
import {IModelRegistry} from "../../src/interfaces/IModelRegistry.sol";
import {Types} from "../../src/lib/Types.sol";
import {LibMerkle} from "../../src/lib/LibMerkle.sol";
import {MockOperatorVerifier} from "../mocks/MockOperatorVerifier.sol";

/// @notice Shared setup: a registry, a market, the mock verifier, and helpers that build
///         honest and divergent traces, Merkle proofs, and play games move by move.
abstract contract MarketFixture is Test {
    uint256 internal constant R = Types.SNARK_SCALAR_FIELD;
    uint128 internal constant RESPONSE_BOND = 1 ether;
    uint128 internal constant CHALLENGER_BOND = 0.5 ether;
    uint256 internal constant FEE = 0.1 ether;
    uint64 internal constant WINDOW = 1 days;
    uint64 internal constant CLOCK = 1 hours;
    uint64 internal constant PROVING = 2 hours;
    bytes32 internal constant INPUT = bytes32(uint256(42));
    bytes internal constant PROOF = hex"01";

    ModelRegistry internal registry;
    InferenceMarket internal market;
    MockOperatorVerifier internal mock;

    address internal requester = makeAddr("requester");
    address internal submitter = makeAddr("submitter");
    address internal challenger = makeAddr("challenger");
    address internal anyone = makeAddr("anyone");

    function setUp() public virtual {
        registry = new ModelRegistry();
        market = new InferenceMarket(IModelRegistry(address(registry)));
        mock = new MockOperatorVerifier();
        vm.deal(requester, 1000 ether);
        vm.deal(submitter, 1000 ether);
        vm.deal(challenger, 1000 ether);
        vm.deal(anyone, 1000 ether);
    }

    // ---------------------------------------------------------------- model

    function _params(uint32 arity) internal pure returns (Types.GameParams memory) {
        return Types.GameParams({
            challengeWindow: WINDOW,
            clockPerSide: CLOCK,
            provingWindow: PROVING,
            arity: arity,
            responseBond: RESPONSE_BOND,
            challengerBond: CHALLENGER_BOND
        });
    }

    function _opDigest(uint256 step) internal pure returns (uint256) {
        return 1000 + step;
    }

    function _modelLeaves(uint32 n) internal view returns (bytes32[] memory leaves) {
        leaves = new bytes32[](n);
        for (uint256 j; j < n; ++j) {
            leaves[j] = LibMerkle.leafModel(j, _opDigest(j), address(mock));
        }
    }

    function _modelProof(uint32 n, uint32 step) internal view returns (bytes32[] memory) {
        return LibMerkle.proof(_modelLeaves(n), step);
    }

    function _register(uint32 n, uint32 arity) internal returns (uint256) {
        return
            registry.registerModel(LibMerkle.root(_modelLeaves(n)), n, 1, "bafy-onnx", "bafy-program", _params(arity));
    }

    // ---------------------------------------------------------------- traces

    /// @dev The true trace S_0..S_n from INPUT.
    function _honest(uint32 n) internal view returns (bytes32[] memory s) {
        s = new bytes32[](uint256(n) + 1);
        s[0] = INPUT;
        for (uint256 i; i < n; ++i) {
            s[i + 1] = bytes32(mock.next(uint256(s[i]), _opDigest(i)));
        }
    }

    /// @dev A trace that follows the truth up to S_d, then applies a wrong step d (S_{d+1} off
    ///      by `salt`), then continues with true steps from the wrong state.
    function _divergent(uint32 n, uint32 d, uint256 salt) internal view returns (bytes32[] memory s) {
        s = _honest(n);
        s[d + 1] = bytes32(addmod(uint256(s[d + 1]), (salt % (R - 1)) + 1, R));
        for (uint256 i = d + 1; i < n; ++i) {
            s[i + 1] = bytes32(mock.next(uint256(s[i]), _opDigest(i)));
        }
    }

    function _nodes(bytes32[] memory states) internal pure returns (bytes32[] memory nodes) {
        nodes = new bytes32[](states.length);
        for (uint256 i; i < states.length; ++i) {
            nodes[i] = LibMerkle.leafState(states[i]);
        }
    }

    function _root(bytes32[] memory states) internal pure returns (bytes32) {
        return LibMerkle.root(_nodes(states));
    }

    function _proof(bytes32[] memory states, uint256 index) internal pure returns (bytes32[] memory) {
        return LibMerkle.proof(_nodes(states), index);
    }

    function _open(bytes32[] memory states, uint32[] memory points)
        internal
        pure
        returns (bytes32[] memory vals, bytes32[][] memory proofs)
    {
        bytes32[] memory nodes = _nodes(states);
        vals = new bytes32[](points.length);
        proofs = new bytes32[][](points.length);
        for (uint256 j; j < points.length; ++j) {
            vals[j] = states[points[j]];
            proofs[j] = LibMerkle.proof(nodes, points[j]);
        }
    }

    // ---------------------------------------------------------------- flows

    function _request(uint256 modelId) internal returns (uint256 requestId) {
        vm.prank(requester);
        requestId = market.requestInference{value: FEE}(modelId, INPUT, "bafy-input");
    }

    function _respond(uint256 requestId, bytes32[] memory trace) internal {
        vm.prank(submitter);
        market.respond{value: RESPONSE_BOND}(requestId, trace[trace.length - 1], "bafy-out", _root(trace), "bafy-trace");
    }

    function _challenge(uint256 requestId, address who, bytes32[] memory trace) internal returns (uint256) {
        vm.prank(who);
        return market.challenge{value: CHALLENGER_BOND}(requestId, trace[trace.length - 1], _root(trace));
    }

    /// @dev One full round: the submitter reveals from `sTrace`, the challenger from `cTrace`.
    function _round(uint256 gameId, bytes32[] memory sTrace, bytes32[] memory cTrace) internal {
        uint32[] memory pts = market.splitPoints(gameId);
        (bytes32[] memory sv, bytes32[][] memory sp) = _open(sTrace, pts);
        vm.prank(submitter);
        market.submitterReveal(gameId, sv, sp);
        (bytes32[] memory cv, bytes32[][] memory cp) = _open(cTrace, pts);
        vm.prank(challenger);
        market.challengerReveal(gameId, sv, cv, cp);
    }

    /// @dev Plays rounds until the leaf, asserting lo < hi and the narrowing invariants.
    function _bisect(uint256 gameId, bytes32[] memory sTrace, bytes32[] memory cTrace) internal {
        Types.GameView memory g = market.getGame(gameId);
        while (g.phase != Types.GamePhase.Proving) {
            uint32 width = g.hi - g.lo;
            _round(gameId, sTrace, cTrace);
            g = market.getGame(gameId);
            assertLt(g.lo, g.hi, "lo < hi");
            assertLt(g.hi - g.lo, width, "interval shrinks");
            assertEq(g.hiSubmitter, sTrace[g.hi], "hiSubmitter is the submitter's leaf");
            assertEq(g.hiChallenger, cTrace[g.hi], "hiChallenger is the challenger's leaf");
            assertTrue(g.hiSubmitter != g.hiChallenger, "disagree at hi");
            if (g.lo > 0) assertEq(g.loState, cTrace[g.lo], "agreed at lo");
        }
    }

    function _resolve(uint256 gameId, uint32 n) internal {
        Types.GameView memory g = market.getGame(gameId);
        vm.prank(anyone);
        market.resolveLeaf(gameId, _opDigest(g.lo), address(mock), _modelProof(n, g.lo), PROOF, _challengerIsRight(g));
    }

    /// @dev Whether the true post-state of the leaf step is the challenger's claim.
    function _challengerIsRight(Types.GameView memory g) internal view returns (bool) {
        bytes32 pre = g.lo == 0 ? INPUT : g.loState;
        return bytes32(mock.next(uint256(pre), _opDigest(g.lo))) == g.hiChallenger;
    }
}
