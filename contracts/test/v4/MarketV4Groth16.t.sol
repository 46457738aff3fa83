// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

import {PoseidonT3} from "poseidon-solidity/PoseidonT3.sol";
import {Types} from "../../src/lib/Types.sol";
import {InvalidProof} from "../../src/lib/Errors.sol";
import {InferenceMarketV4} from "../../src/v4/InferenceMarketV4.sol";
import {TemplateRegistry} from "../../src/v4/TemplateRegistry.sol";
import {IModelRegistryV4} from "../../src/interfaces/IModelRegistryV4.sol";
import {ITemplateRegistry} from "../../src/interfaces/ITemplateRegistry.sol";
import {Groth16TemplateVerifier} from "../../src/verifiers/Groth16TemplateVerifier.sol";
import {TypesV4} from "../../src/v4/lib/TypesV4.sol";
import {MarketV4Fixture, V4Model} from "./utils/MarketV4Fixture.sol";
import {MockTemplate} from "./mocks/MockTemplateVerifier.sol";
import {SyntheticKey} from "./Groth16TemplateVerifier.t.sol";

/// @notice The leaf of a version-4 game resolved by real Groth16TemplateVerifiers (the
///         precompiles, the IC data contract, n-input vk_x) with synthetic keys: the market
///         builds `[C(X_1) … C(X_r), j, params…, d]` itself, and a proof made for the true
///         digest's inputs verifies for that side and for no other. Gas of the whole leaf.
contract MarketV4Groth16Test is MarketV4Fixture, SyntheticKey {
    uint32 internal constant STEPS = 5;
    Groth16TemplateVerifier internal g5;
    Groth16TemplateVerifier internal g4;

    function setUp() public override {
        super.setUp();
        uint256[2][] memory ic5 = new uint256[2][](6);
        uint256[2][] memory ic4 = new uint256[2][](5);
        for (uint256 i; i <= 5; ++i) {
            ic5[i] = _g1(_k(i));
            if (i <= 4) ic4[i] = _g1(_k(i));
        }
        // Template 1 (operators 0 and 1) has 5 public inputs, template 2 (operator 2) has 4.
        g5 = new Groth16TemplateVerifier(_g1(ALPHA), _g2(), _g2(), _g2(), ic5);
        g4 = new Groth16TemplateVerifier(_g1(ALPHA), _g2(), _g2(), _g2(), ic4);
        uint256[] memory ids = new uint256[](2);
        address[] memory vs = new address[](2);
        uint64[] memory gl = new uint64[](2);
        (ids[0], ids[1]) = (1, 2);
        (vs[0], vs[1]) = (address(g5), address(g4));
        (gl[0], gl[1]) = (VERIFIER_GAS, VERIFIER_GAS);
        templates = new TemplateRegistry(ids, vs, gl);
        market = new InferenceMarketV4(IModelRegistryV4(address(registry)), ITemplateRegistry(address(templates)));
    }

    function _leafCase(uint32 pos, uint256 chunk, bool honestIsChallenger) internal {
        V4Model.Trace memory honest = V4Model.honest(STEPS);
        V4Model.Trace memory lie = V4Model.build(STEPS, _lie(V4Model.LieKind.Chunk, 2, pos, chunk));
        (V4Model.Trace memory sub, V4Model.Trace memory chal) = honestIsChallenger ? (lie, honest) : (honest, lie);
        (, uint256 gameId) = _game(STEPS, 3, sub, chal);
        _playUntilProving(gameId, sub, chal);
        Types.ChunkDescent memory d = market.getDescent(gameId);
        assertEq(d.position, chunk, "at the lie");

        TypesV4.OperatorLeaf memory l = V4Model.op(2, pos);
        // Inputs open from the agreed S_lo and from the submitter's P_lo (whose entries before o
        // equal the challenger's; the proofs' siblings are the submitter's entries).
        (uint256[] memory inputs, bytes32[][] memory proofs) = _inputs(l, sub, 2);
        uint256[] memory h = V4Model.head(l, inputs, chunk);
        uint256[] memory pub = new uint256[](h.length + 1);
        for (uint256 i; i < h.length; ++i) {
            pub[i] = h[i];
        }
        pub[h.length] = MockTemplate.digest(h); // the true digest of chunk j
        bytes memory proof = _proofFor(pub);
        TypesV4.LeafStatement memory st = _statement(l);

        // The proof is for the true digest: naming the liar's side fails.
        vm.expectRevert(InvalidProof.selector);
        market.resolveLeaf(gameId, st, inputs, proofs, proof, !honestIsChallenger);

        vm.cool(address(market));
        vm.cool(address(templates));
        vm.cool(address(g5));
        vm.cool(address(g4));
        vm.cool(g5.IC_DATA());
        vm.cool(g4.IC_DATA());
        market.resolveLeaf(gameId, st, inputs, proofs, proof, honestIsChallenger);
        uint256 used = vm.lastCallGas().gasTotalUsed;
        market.finishGame(gameId);
        emit log_named_uint(
            string.concat("resolveLeaf with Groth16TemplateVerifier, operator ", vm.toString(pos)), used
        );
        assertEq(
            market.getGame(gameId).status,
            honestIsChallenger ? TypesV4.GameStatus.ChallengerWon : TypesV4.GameStatus.SubmitterWon,
            "the true side wins"
        );
    }

    function test_leaf_realVerifier_honestSubmitter() public {
        _leafCase(0, 1, false);
    }

    function test_leaf_realVerifier_honestChallenger() public {
        _leafCase(1, 4, true);
    }

    function test_leaf_realVerifier_fourInputTemplate() public {
        _leafCase(2, 0, false);
    }
}
