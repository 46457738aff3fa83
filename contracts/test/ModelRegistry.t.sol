// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

import {MarketFixture} from "./utils/MarketFixture.sol";
import {IModelRegistry} from "../src/interfaces/IModelRegistry.sol";
import {Types} from "../src/lib/Types.sol";
import "../src/lib/Errors.sol" as Errors;

/// @notice ModelRegistry: registration, immutability of entries, parameter validation.
contract ModelRegistryTest is MarketFixture {
    function test_register_idsStartAtOneAndEmit() public {
        vm.expectEmit(true, true, false, true, address(registry));
        emit IModelRegistry.ModelRegistered(1, address(this), bytes32(uint256(1)), 5, "onnx", "prog");
        uint256 id = registry.registerModel(bytes32(uint256(1)), 5, 3, "onnx", "prog", _params(2));
        assertEq(id, 1);
        assertEq(registry.registerModel(bytes32(uint256(2)), 5, 3, "onnx", "prog", _params(4)), 2);
        assertEq(registry.modelCount(), 2);
        Types.Model memory m = registry.getModel(1);
        assertEq(m.owner, address(this));
        assertEq(m.modelRoot, bytes32(uint256(1)));
        assertEq(m.numSteps, 5);
        assertEq(m.opsPerStep, 3);
        assertEq(m.onnxCid, "onnx");
        assertEq(m.programCid, "prog");
        assertEq(m.params.arity, 2);
        assertEq(m.params.responseBond, RESPONSE_BOND);
        (bytes32 root, uint32 n, Types.GameParams memory p) = registry.getGameSpec(2);
        assertEq(root, bytes32(uint256(2)));
        assertEq(n, 5);
        assertEq(p.arity, 4);
    }

    function test_register_revertsZeroRoot() public {
        vm.expectRevert(abi.encodeWithSelector(Errors.ZeroModelRoot.selector));
        registry.registerModel(bytes32(0), 5, 1, "", "", _params(2));
    }

    function test_register_revertsBadNumSteps() public {
        vm.expectRevert(abi.encodeWithSelector(Errors.InvalidNumSteps.selector, uint32(0)));
        registry.registerModel(bytes32(uint256(1)), 0, 1, "", "", _params(2));
        vm.expectRevert(abi.encodeWithSelector(Errors.InvalidNumSteps.selector, type(uint32).max));
        registry.registerModel(bytes32(uint256(1)), type(uint32).max, 1, "", "", _params(2));
    }

    function test_register_revertsZeroOpsPerStep() public {
        vm.expectRevert(abi.encodeWithSelector(Errors.InvalidOpsPerStep.selector, uint32(0)));
        registry.registerModel(bytes32(uint256(1)), 5, 0, "", "", _params(2));
    }

    function test_register_revertsBadArity() public {
        vm.expectRevert(abi.encodeWithSelector(Errors.InvalidArity.selector, uint32(1)));
        registry.registerModel(bytes32(uint256(1)), 5, 1, "", "", _params(1));
        vm.expectRevert(abi.encodeWithSelector(Errors.InvalidArity.selector, uint32(17)));
        registry.registerModel(bytes32(uint256(1)), 5, 1, "", "", _params(17));
    }

    function test_register_revertsZeroWindows() public {
        Types.GameParams memory p = _params(2);
        p.provingWindow = 0;
        vm.expectRevert(abi.encodeWithSelector(Errors.InvalidWindow.selector, WINDOW, CLOCK, uint64(0)));
        registry.registerModel(bytes32(uint256(1)), 5, 1, "", "", p);
        p = _params(2);
        p.challengeWindow = 0;
        vm.expectRevert(abi.encodeWithSelector(Errors.InvalidWindow.selector, uint64(0), CLOCK, PROVING));
        registry.registerModel(bytes32(uint256(1)), 5, 1, "", "", p);
        p = _params(2);
        p.clockPerSide = 0;
        vm.expectRevert(abi.encodeWithSelector(Errors.InvalidWindow.selector, WINDOW, uint64(0), PROVING));
        registry.registerModel(bytes32(uint256(1)), 5, 1, "", "", p);
    }

    /// @notice Regression (predecessor had no bonds): every claim must be bonded.
    function test_register_revertsZeroBonds() public {
        Types.GameParams memory p = _params(2);
        p.responseBond = 0;
        vm.expectRevert(abi.encodeWithSelector(Errors.ZeroBond.selector, uint128(0), CHALLENGER_BOND));
        registry.registerModel(bytes32(uint256(1)), 5, 1, "", "", p);
        p = _params(2);
        p.challengerBond = 0;
        vm.expectRevert(abi.encodeWithSelector(Errors.ZeroBond.selector, RESPONSE_BOND, uint128(0)));
        registry.registerModel(bytes32(uint256(1)), 5, 1, "", "", p);
    }

    function test_getModel_revertsUnknown() public {
        vm.expectRevert(abi.encodeWithSelector(Errors.UnknownModel.selector, uint256(1)));
        registry.getModel(1);
        vm.expectRevert(abi.encodeWithSelector(Errors.UnknownModel.selector, uint256(0)));
        registry.getGameSpec(0);
    }
}
