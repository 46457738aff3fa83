// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

import {Test} from "forge-std/Test.sol";
import {ModelRegistryV4} from "../../src/v4/ModelRegistryV4.sol";
import {TemplateRegistry} from "../../src/v4/TemplateRegistry.sol";
import {TypesV4} from "../../src/v4/lib/TypesV4.sol";
import {UnknownModel} from "../../src/lib/Errors.sol";
import "../../src/v4/lib/ErrorsV4.sol" as E;
import {MockTemplateVerifier} from "./mocks/MockTemplateVerifier.sol";

/// @notice ModelRegistryV4 (docs/protocol.md §10.8): every parameter bounded, bonds at least
///         the floor; TemplateRegistry: fixed at deployment, each verifier with code and a
///         bounded gas budget.
contract RegistriesV4Test is Test {
    ModelRegistryV4 internal registry;
    uint256 internal constant FLOOR = 0.1 ether;
    /// @dev A public chain's floor: a party is never timed out in under a day.
    uint64 internal constant TIME_FLOOR = 1 days;

    function setUp() public {
        registry = new ModelRegistryV4(FLOOR, TIME_FLOOR);
    }

    function _model() internal pure returns (TypesV4.Model memory m) {
        m.modelRoot = keccak256("ops");
        m.layoutRoot = keccak256("layout");
        m.numSteps = 10;
        m.opsPerStep = 3;
        m.stateSlots = 4;
        m.onnxCid = "onnx";
        m.programCid = "program";
        m.params = TypesV4.GameParams(3 days, 1 days, 2 days, 4, 1 ether, 0.5 ether);
    }

    function test_register_storesTheModel() public {
        vm.prank(address(0xA11CE));
        uint256 id = registry.registerModel(_model());
        assertEq(id, 1);
        TypesV4.Model memory m = registry.getModel(id);
        assertEq(m.owner, address(0xA11CE));
        assertEq(m.numSteps, 10);
        TypesV4.ModelSpec memory s = registry.getSpec(id);
        assertEq(s.layoutRoot, keccak256("layout"));
        assertEq(s.params.arity, 4);
        assertEq(registry.modelCount(), 1);
    }

    function test_register_acceptsTheBounds() public {
        TypesV4.Model memory m = _model();
        m.numSteps = TypesV4.MAX_STEPS;
        m.opsPerStep = TypesV4.MAX_OPS_PER_STEP;
        m.stateSlots = TypesV4.MAX_STATE_SLOTS;
        m.params = TypesV4.GameParams(
            TypesV4.MAX_CHALLENGE_WINDOW,
            TypesV4.MAX_CLOCK,
            TypesV4.MAX_PROVING_WINDOW,
            16,
            uint128(FLOOR),
            uint128(FLOOR)
        );
        registry.registerModel(m);
        m.numSteps = 1;
        m.opsPerStep = 1;
        m.stateSlots = 1;
        m.params = TypesV4.GameParams(TIME_FLOOR, TIME_FLOOR, TIME_FLOOR, 2, uint128(FLOOR), uint128(FLOOR));
        registry.registerModel(m);
        // The protocol's minimums, on a deployment whose floor is the smallest allowed.
        m.params = TypesV4.GameParams(
            TypesV4.MIN_CHALLENGE_WINDOW,
            TypesV4.MIN_CLOCK,
            TypesV4.MIN_PROVING_WINDOW,
            2,
            uint128(FLOOR),
            uint128(FLOOR)
        );
        new ModelRegistryV4(FLOOR, TypesV4.MIN_CLOCK).registerModel(m);
    }

    function test_register_revertsOutOfBounds() public {
        TypesV4.Model memory m = _model();
        m.modelRoot = 0;
        vm.expectRevert(E.ZeroRoot.selector);
        registry.registerModel(m);
        m = _model();
        m.layoutRoot = 0;
        vm.expectRevert(E.ZeroRoot.selector);
        registry.registerModel(m);

        m = _model();
        m.numSteps = 0;
        vm.expectRevert(abi.encodeWithSelector(E.StepsOutOfBounds.selector, 0));
        registry.registerModel(m);
        m.numSteps = type(uint32).max;
        vm.expectRevert(abi.encodeWithSelector(E.StepsOutOfBounds.selector, type(uint32).max));
        registry.registerModel(m);

        m = _model();
        m.opsPerStep = 0;
        vm.expectRevert(abi.encodeWithSelector(E.OpsPerStepOutOfBounds.selector, 0));
        registry.registerModel(m);
        m.opsPerStep = TypesV4.MAX_OPS_PER_STEP + 1;
        vm.expectRevert(abi.encodeWithSelector(E.OpsPerStepOutOfBounds.selector, TypesV4.MAX_OPS_PER_STEP + 1));
        registry.registerModel(m);

        m = _model();
        m.stateSlots = 0;
        vm.expectRevert(abi.encodeWithSelector(E.StateSlotsOutOfBounds.selector, 0));
        registry.registerModel(m);
        m.stateSlots = TypesV4.MAX_STATE_SLOTS + 1;
        vm.expectRevert(abi.encodeWithSelector(E.StateSlotsOutOfBounds.selector, TypesV4.MAX_STATE_SLOTS + 1));
        registry.registerModel(m);

        m = _model();
        m.params.arity = 1;
        vm.expectRevert(abi.encodeWithSelector(E.ArityOutOfBounds.selector, 1));
        registry.registerModel(m);
        m.params.arity = 17;
        vm.expectRevert(abi.encodeWithSelector(E.ArityOutOfBounds.selector, 17));
        registry.registerModel(m);
    }

    /// @notice Issue 14 item 5: windows near 2^64 (or zero) are refused, so no deadline sum
    ///         can overflow.
    function testFuzz_register_revertsUnboundedWindows(uint64 w, uint8 which) public {
        TypesV4.Model memory m = _model();
        which %= 3;
        // The deployment's floor (a day) is above every protocol minimum.
        (uint64 min, uint64 max) = which == 0
            ? (TIME_FLOOR, TypesV4.MAX_CHALLENGE_WINDOW)
            : which == 1 ? (TIME_FLOOR, TypesV4.MAX_CLOCK) : (TIME_FLOOR, TypesV4.MAX_PROVING_WINDOW);
        vm.assume(w < min || w > max);
        if (which == 0) m.params.challengeWindow = w;
        else if (which == 1) m.params.clockPerSide = w;
        else m.params.provingWindow = w;
        vm.expectRevert(abi.encodeWithSelector(E.WindowOutOfBounds.selector, w, min, max));
        registry.registerModel(m);
    }

    /// @notice Issue 14 item 1: bonds below the floor (10x the defending cost) are refused.
    function test_register_revertsBondsBelowTheFloor() public {
        TypesV4.Model memory m = _model();
        m.params.responseBond = uint128(FLOOR - 1);
        vm.expectRevert(abi.encodeWithSelector(E.BondBelowFloor.selector, FLOOR - 1, FLOOR));
        registry.registerModel(m);
        m = _model();
        m.params.challengerBond = 0;
        vm.expectRevert(abi.encodeWithSelector(E.BondBelowFloor.selector, 0, FLOOR));
        registry.registerModel(m);
    }

    function test_constructor_revertsZeroFloor() public {
        vm.expectRevert(E.ZeroBondFloor.selector);
        new ModelRegistryV4(0, TIME_FLOOR);
    }

    /// @notice The helper's review of issue 14: a 5-minute clock lets a hostile or congested
    ///         chain time out an honest party. A deployment's TIME_FLOOR is bounded like a
    ///         clock, and no clock or window below it is registered.
    function test_timeFloor_boundsEveryClockAndWindow() public {
        vm.expectRevert(
            abi.encodeWithSelector(E.WindowOutOfBounds.selector, 1 minutes, TypesV4.MIN_CLOCK, TypesV4.MAX_CLOCK)
        );
        new ModelRegistryV4(FLOOR, 1 minutes);
        vm.expectRevert(
            abi.encodeWithSelector(E.WindowOutOfBounds.selector, 8 days, TypesV4.MIN_CLOCK, TypesV4.MAX_CLOCK)
        );
        new ModelRegistryV4(FLOOR, 8 days);
        assertEq(registry.TIME_FLOOR(), TIME_FLOOR);

        // Minutes, as a devnet registers them, are refused on this deployment...
        TypesV4.Model memory m = _model();
        m.params.clockPerSide = 5 minutes;
        vm.expectRevert(abi.encodeWithSelector(E.WindowOutOfBounds.selector, 5 minutes, TIME_FLOOR, TypesV4.MAX_CLOCK));
        registry.registerModel(m);
        m = _model();
        m.params.provingWindow = 1 hours;
        vm.expectRevert(
            abi.encodeWithSelector(E.WindowOutOfBounds.selector, 1 hours, TIME_FLOOR, TypesV4.MAX_PROVING_WINDOW)
        );
        registry.registerModel(m);
        m = _model();
        m.params.challengeWindow = TIME_FLOOR - 1;
        vm.expectRevert(
            abi.encodeWithSelector(
                E.WindowOutOfBounds.selector, TIME_FLOOR - 1, TIME_FLOOR, TypesV4.MAX_CHALLENGE_WINDOW
            )
        );
        registry.registerModel(m);
        // ...and the floor itself is accepted.
        m = _model();
        m.params.challengeWindow = TIME_FLOOR;
        m.params.clockPerSide = TIME_FLOOR;
        m.params.provingWindow = TIME_FLOOR;
        registry.registerModel(m);

        // A devnet's floor is the protocol's minimum: minutes are accepted there.
        ModelRegistryV4 devnet = new ModelRegistryV4(FLOOR, TypesV4.MIN_CLOCK);
        m.params.challengeWindow = TypesV4.MIN_CHALLENGE_WINDOW;
        m.params.clockPerSide = TypesV4.MIN_CLOCK;
        m.params.provingWindow = TypesV4.MIN_PROVING_WINDOW;
        devnet.registerModel(m);
    }

    function test_getModel_revertsUnknown() public {
        vm.expectRevert(abi.encodeWithSelector(UnknownModel.selector, 7));
        registry.getModel(7);
        vm.expectRevert(abi.encodeWithSelector(UnknownModel.selector, 7));
        registry.getSpec(7);
    }

    ////////////////////////////////////////////////////////////////
    //                       TemplateRegistry                     //
    ////////////////////////////////////////////////////////////////

    function _lists(uint256 count) internal returns (uint256[] memory ids, address[] memory vs, uint64[] memory gl) {
        ids = new uint256[](count);
        vs = new address[](count);
        gl = new uint64[](count);
        for (uint256 i; i < count; ++i) {
            ids[i] = i + 1;
            vs[i] = address(new MockTemplateVerifier());
            gl[i] = 300_000;
        }
    }

    function test_templates_fixedAtDeployment() public {
        (uint256[] memory ids, address[] memory vs, uint64[] memory gl) = _lists(3);
        TemplateRegistry t = new TemplateRegistry(ids, vs, gl);
        assertEq(t.templateCount(), 3);
        (address v, uint64 g) = t.templateOf(2);
        assertEq(v, vs[1]);
        assertEq(g, 300_000);
        (v, g) = t.templateOf(99);
        assertEq(v, address(0), "unregistered");
        assertEq(g, 0);
    }

    function test_templates_revertMalformedLists() public {
        (uint256[] memory ids, address[] memory vs, uint64[] memory gl) = _lists(2);
        uint256[] memory one = new uint256[](1);
        vm.expectRevert(abi.encodeWithSelector(E.TemplateListMismatch.selector, 1, 2, 2));
        new TemplateRegistry(one, vs, gl);

        ids[1] = ids[0];
        vm.expectRevert(abi.encodeWithSelector(E.DuplicateTemplate.selector, ids[0]));
        new TemplateRegistry(ids, vs, gl);

        (ids, vs, gl) = _lists(2);
        vs[1] = address(0xBEEF);
        vm.expectRevert(abi.encodeWithSelector(E.TemplateVerifierHasNoCode.selector, 2, address(0xBEEF)));
        new TemplateRegistry(ids, vs, gl);

        (ids, vs, gl) = _lists(2);
        gl[0] = 0;
        vm.expectRevert(abi.encodeWithSelector(E.InvalidVerifierGas.selector, 1, 0));
        new TemplateRegistry(ids, vs, gl);
        gl[0] = TypesV4.MAX_VERIFIER_GAS + 1;
        vm.expectRevert(abi.encodeWithSelector(E.InvalidVerifierGas.selector, 1, TypesV4.MAX_VERIFIER_GAS + 1));
        new TemplateRegistry(ids, vs, gl);
    }
}
