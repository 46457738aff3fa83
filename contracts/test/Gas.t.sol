// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

import {MarketFixture} from "./utils/MarketFixture.sol";
import {Types} from "../src/lib/Types.sol";
import {console2} from "forge-std/console2.sol";

/// @notice Gas of one bisection move and of leaf resolution, against the targets
///         (move <= 120k, leaf <= 100k plus the verifier). Trace of n = 1023 steps (depth 10).
///         Figures are execution gas of the call with cold storage; a transaction adds 21k
///         plus calldata (16 gas per nonzero byte).
contract GasTest is MarketFixture {
    uint32 internal constant N = 1023;

    function _measure(uint32 arity) internal returns (uint256 sGas, uint256 cGas, uint256 leafGas) {
        uint256 id = _request(_register(N, arity));
        bytes32[] memory truth = _honest(N);
        bytes32[] memory lie = _divergent(N, 700, 1);
        _respond(id, truth);
        uint256 gameId = _challenge(id, challenger, lie);
        uint32[] memory pts = market.splitPoints(gameId);
        (bytes32[] memory sv, bytes32[][] memory sp) = _open(truth, pts);
        (bytes32[] memory cv, bytes32[][] memory cp) = _open(lie, pts);
        vm.cool(address(market)); // measure with cold storage, as in a fresh transaction
        vm.prank(submitter);
        uint256 g = gasleft();
        market.submitterReveal(gameId, sv, sp);
        sGas = g - gasleft();
        vm.cool(address(market));
        vm.prank(challenger);
        g = gasleft();
        market.challengerReveal(gameId, sv, cv, cp);
        cGas = g - gasleft();
        _bisect(gameId, truth, lie);
        Types.GameView memory gv = market.getGame(gameId);
        bytes32[] memory mp = _modelProof(N, gv.lo);
        uint256 op = _opDigest(gv.lo);
        vm.cool(address(market));
        vm.cool(address(mock));
        g = gasleft();
        market.resolveLeaf(gameId, op, address(mock), mp, PROOF, false);
        leafGas = g - gasleft();
    }

    function test_gas_binary() public {
        (uint256 s, uint256 c, uint256 l) = _measure(2);
        console2.log("k=2 submitterReveal", s);
        console2.log("k=2 challengerReveal", c);
        console2.log("k=2 resolveLeaf (mock verifier)", l);
        assertLe(s, 120_000);
        assertLe(c, 120_000);
        assertLe(l, 100_000);
    }

    function test_gas_arity4() public {
        (uint256 s, uint256 c, uint256 l) = _measure(4);
        console2.log("k=4 submitterReveal", s);
        console2.log("k=4 challengerReveal", c);
        console2.log("k=4 resolveLeaf (mock verifier)", l);
    }

    function test_gas_arity16() public {
        (uint256 s, uint256 c, uint256 l) = _measure(16);
        console2.log("k=16 submitterReveal", s);
        console2.log("k=16 challengerReveal", c);
        console2.log("k=16 resolveLeaf (mock verifier)", l);
    }
}
