// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

import {Types} from "../../src/lib/Types.sol";
import {LibMerkle} from "../../src/lib/LibMerkle.sol";
import {TypesV4} from "../../src/v4/lib/TypesV4.sol";
import {LibTraceV4} from "../../src/v4/lib/LibTraceV4.sol";
import {ChunkTrees} from "../utils/ChunkDescentFixture.sol";
import {MockTemplate} from "./mocks/MockTemplateVerifier.sol";
import {MarketV4Fixture} from "./utils/MarketV4Fixture.sol";

/// @notice Constant operator inputs (model weights, `SOURCE_CONST_FLAG | C`, §10.1): the
///         commitment carried in leaf_o becomes the public input without any opening.
///
///         Model: one step, one operator, one slot. The operator (template 1, params [5])
///         reads slot 0 of S_0 and the constant W; its output (2 chunks) becomes slot 0 of
///         S_1. The mock template (a test double accepting exactly the true digest) makes
///         the digest of chunk j `MockTemplate.digest([C(X), C(W), j, 5])`, so a proof only
///         verifies if the market passed C(W) through.
contract MarketV4ConstantsTest is MarketV4Fixture {
    using ChunkTrees for ChunkTrees.Tree;

    uint256 internal constant X = 0x1234;
    uint256 internal constant CW = 0xc0ffee;
    uint256 internal constant HDR = 0xabc;
    uint32 internal constant J_LIE = 1;

    struct Side1 {
        ChunkTrees.Tree tree;
        uint256 y;
        bytes32 s0;
        bytes32 s1;
        uint256[] s1Slots;
        bytes32 p0;
        bytes32 l0;
        bytes32 l1;
    }

    function _leaf(uint256 constant_) internal pure returns (TypesV4.OperatorLeaf memory l) {
        l.templateId = 1;
        l.params = new uint256[](1);
        l.params[0] = 5;
        l.inputSources = new uint256[](2);
        l.inputSources[0] = LibTraceV4.encodeSource(TypesV4.SOURCE_STATE, 0);
        l.inputSources[1] = TypesV4.SOURCE_CONST_FLAG | constant_;
        l.outputHeader = HDR;
        l.outputChunks = 2;
    }

    function _registerConst(uint256 constant_) internal returns (uint256) {
        bytes32[] memory ops = new bytes32[](1);
        ops[0] = LibTraceV4.operatorLeaf(0, _leaf(constant_));
        bytes32[] memory lay = new bytes32[](1);
        lay[0] = LibTraceV4.layoutLeaf(0, 0, LibTraceV4.encodeSource(TypesV4.SOURCE_OUTPUT, 0));
        TypesV4.Model memory m;
        m.modelRoot = LibMerkle.root(ops);
        m.layoutRoot = LibMerkle.root(lay);
        m.numSteps = 1;
        m.opsPerStep = 1;
        m.stateSlots = 1;
        m.onnxCid = "onnx";
        m.programCid = "program";
        m.params = _params(2);
        return registry.registerModel(m);
    }

    function _digest(uint256 j) internal pure returns (uint256) {
        uint256[] memory h = new uint256[](4);
        h[0] = X;
        h[1] = CW;
        h[2] = j;
        h[3] = 5;
        return MockTemplate.digest(h);
    }

    function _side(bool lie) internal pure returns (Side1 memory s) {
        uint256[] memory row = new uint256[](2);
        row[0] = _digest(0);
        row[1] = lie ? _digest(7) : _digest(1);
        s.tree = ChunkTrees.build(HDR, row);
        s.y = s.tree.commitment();
        uint256[] memory one = new uint256[](1);
        one[0] = X;
        s.s0 = LibTraceV4.valuesRoot(one);
        one[0] = s.y;
        s.s1 = LibTraceV4.valuesRoot(one);
        s.s1Slots = one;
        s.p0 = LibTraceV4.valuesRoot(one);
        s.l0 = LibTraceV4.traceLeaf(s.s0, bytes32(0));
        s.l1 = LibTraceV4.traceLeaf(s.s1, s.p0);
    }

    function _traceRoot(Side1 memory s) internal pure returns (bytes32) {
        bytes32[] memory nodes = new bytes32[](2);
        nodes[0] = LibMerkle.leafState(s.l0);
        nodes[1] = LibMerkle.leafState(s.l1);
        return LibMerkle.root(nodes);
    }

    function _traceProof1(Side1 memory s) internal pure returns (bytes32[] memory) {
        bytes32[] memory nodes = new bytes32[](2);
        nodes[0] = LibMerkle.leafState(s.l0);
        nodes[1] = LibMerkle.leafState(s.l1);
        return LibMerkle.proof(nodes, 1);
    }

    /// @dev Plays a one-step game to DescentStart: honest submitter, challenger lying in
    ///      chunk J_LIE of the operator's output.
    function _toDescentStart(uint256 constant_) internal returns (uint256 gameId, Side1 memory sub, Side1 memory chal) {
        sub = _side(false);
        chal = _side(true);
        uint256 modelId = _registerConst(constant_);
        vm.prank(requester);
        uint256 requestId = market.requestInference{value: FEE}(modelId, sub.s0, "in");
        vm.prank(submitter);
        market.respond{value: RESPONSE_BOND}(requestId, sub.s1, "out");
        vm.prank(challenger);
        gameId = market.challenge{value: CHALLENGER_BOND}(requestId, chal.s1, _traceRoot(chal));
        vm.prank(submitter);
        market.commitTrace(requestId, _traceRoot(sub));
        market.submitterOpenStep(gameId, sub.s0, bytes32(0), sub.s1Slots, sub.p0, _traceProof1(sub));
        market.challengerOpenStep(gameId, chal.s1Slots, chal.p0, _traceProof1(chal));
        uint256[] memory so = new uint256[](1);
        so[0] = sub.y;
        uint256[] memory co = new uint256[](1);
        co[0] = chal.y;
        market.submitterOps(gameId, so);
        market.challengerOps(gameId, so, co);
        assertEq(market.getGame(gameId).phase, TypesV4.Phase.DescentStart, "at level 3");
    }

    function test_constantInput_resolvesWithItsInlineCommitment() public {
        (uint256 gameId, Side1 memory sub, Side1 memory chal) = _toDescentStart(CW);
        bytes32[] memory noProof = new bytes32[](0);
        market.startDescent(gameId, _leaf(CW), noProof);
        market.descentOpenRoot(gameId, Types.Side.Submitter, HDR, sub.tree.root());
        market.descentOpenRoot(gameId, Types.Side.Challenger, HDR, chal.tree.root());
        (uint256 l, uint256 r) = sub.tree.children(0, 0);
        market.descentReveal(gameId, Types.Side.Submitter, l, r);
        (l, r) = chal.tree.children(0, 0);
        market.descentReveal(gameId, Types.Side.Challenger, l, r);
        Types.ChunkDescent memory d = market.getDescent(gameId);
        assertEq(uint8(d.phase), uint8(Types.DescentPhase.Proving), "proving");
        assertEq(d.position, J_LIE, "the lie's chunk");

        // The state input opens from S_0; the constant's entries are ignored (junk, no proof).
        uint256[] memory inputs = new uint256[](2);
        inputs[0] = X;
        inputs[1] = 0xdead;
        bytes32[][] memory proofs = new bytes32[][](2);
        proofs[0] = new bytes32[](0);
        proofs[1] = new bytes32[](0);
        // The challenger's digest is not the truth: the mock verifier (test double) refuses it.
        TypesV4.LeafStatement memory st = _statement(_leaf(CW));
        vm.expectRevert(abi.encodeWithSignature("InvalidProof()"));
        market.resolveLeaf(gameId, st, inputs, proofs, PROOF, true);
        market.resolveLeaf(gameId, st, inputs, proofs, PROOF, false);
        market.finishGame(gameId);
        assertEq(market.getGame(gameId).status, TypesV4.GameStatus.SubmitterWon, "the constant reached the verifier");
    }

    function test_constantInput_keepsTheArrayLengths() public {
        (uint256 gameId, Side1 memory sub, Side1 memory chal) = _toDescentStart(CW);
        bytes32[] memory noProof = new bytes32[](0);
        market.startDescent(gameId, _leaf(CW), noProof);
        market.descentOpenRoot(gameId, Types.Side.Submitter, HDR, sub.tree.root());
        market.descentOpenRoot(gameId, Types.Side.Challenger, HDR, chal.tree.root());
        (uint256 l, uint256 r) = sub.tree.children(0, 0);
        market.descentReveal(gameId, Types.Side.Submitter, l, r);
        (l, r) = chal.tree.children(0, 0);
        market.descentReveal(gameId, Types.Side.Challenger, l, r);
        uint256[] memory one = new uint256[](1);
        one[0] = X;
        bytes32[][] memory proofs = new bytes32[][](1);
        proofs[0] = new bytes32[](0);
        TypesV4.LeafStatement memory st = _statement(_leaf(CW));
        vm.expectRevert(abi.encodeWithSignature("WrongInputCount(uint256,uint256)", 2, 1));
        market.resolveLeaf(gameId, st, one, proofs, PROOF, false);
    }

    function test_constantAtLeastR_isNotWellFormed() public {
        (uint256 gameId,,) = _toDescentStart(R);
        bytes32[] memory noProof = new bytes32[](0);
        market.startDescent(gameId, _leaf(R), noProof);
        assertEq(market.getGame(gameId).status, TypesV4.GameStatus.Voided, "a constant >= r voids the game");
    }

    function test_constantBelowR_isWellFormed() public {
        (uint256 gameId,,) = _toDescentStart(R - 1);
        bytes32[] memory noProof = new bytes32[](0);
        market.startDescent(gameId, _leaf(R - 1), noProof);
        assertEq(market.getGame(gameId).phase, TypesV4.Phase.Descent, "r - 1 is a field element");
    }
}
