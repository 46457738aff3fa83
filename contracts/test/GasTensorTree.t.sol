// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

import {Test} from "forge-std/Test.sol";
import {console2} from "forge-std/console2.sol";
import {PoseidonT3} from "poseidon-solidity/PoseidonT3.sol";
import {LibTensorTree} from "../src/lib/LibTensorTree.sol";
import {Types} from "../src/lib/Types.sol";
import {PoseidonT3Package} from "./utils/PoseidonT3Package.sol";

/// @notice Measures LibTensorTree as a dispute contract would run it: gas between two
///         gasleft() reads inside the calling contract, siblings arriving in calldata.
contract TensorTreeGasHarness {
    function hash(uint256 a, uint256 b) external view returns (uint256 gasUsed) {
        uint256 g = gasleft();
        PoseidonT3.hash([a, b]);
        gasUsed = g - gasleft();
    }

    function checkChildren(uint256 parent, uint256 left, uint256 right) external view returns (uint256 gasUsed) {
        uint256 g = gasleft();
        bool ok = LibTensorTree.checkChildren(parent, left, right);
        gasUsed = g - gasleft();
        require(ok, "checkChildren");
    }

    function verify(uint256 root, uint256 chunks, uint256 index, uint256 leaf, uint256[] calldata siblings)
        external
        view
        returns (uint256 gasUsed)
    {
        uint256 g = gasleft();
        bool ok = LibTensorTree.verify(root, chunks, index, leaf, siblings);
        gasUsed = g - gasleft();
        require(ok, "verify");
    }
}

/// @notice Gas of the tensor tree's on-chain operations: one PoseidonT3 hash, one descent
///         check (checkChildren), and a chunk opening (verify) at depth 10 and 20.
///         Figures are execution gas inside the caller with PoseidonT3 cold (first use in a
///         transaction: +2,500 for the account access) unless said "warm"; the call into the
///         caller, 21k per transaction and calldata (32 bytes per sibling) come on top.
abstract contract GasTensorTreeBase is Test {
    TensorTreeGasHarness internal h;
    /// @dev Inputs are built in setUp, a transaction of its own, so that each test's first
    ///      call into PoseidonT3 is the measured one and pays the cold account access.
    uint256 internal parent;
    uint256 internal leaf;
    mapping(uint256 depth => uint256[]) internal siblings;
    mapping(uint256 depth => uint256) internal roots;

    /// @dev Which PoseidonT3 bytecode the figures are for.
    function _label() internal pure virtual returns (string memory);

    function setUp() public virtual {
        h = new TensorTreeGasHarness();
        parent = LibTensorTree.node(11, 22);
        leaf = uint256(keccak256("leaf")) % Types.SNARK_SCALAR_FIELD;
        for (uint256 depth = 10; depth <= 20; depth += 10) {
            for (uint256 j; j < depth; ++j) {
                siblings[depth].push(uint256(keccak256(abi.encode(j))) % Types.SNARK_SCALAR_FIELD);
            }
            roots[depth] = LibTensorTree.rootFromLeaf(leaf, _index(depth), siblings[depth]);
        }
    }

    /// @dev The opened position: 2^depth - 3, so the path turns both left and right.
    function _index(uint256 depth) internal pure returns (uint256) {
        return (1 << depth) - 3;
    }

    function _log(string memory what, uint256 gasUsed) internal pure {
        console2.log(string.concat(what, ", ", _label()), gasUsed);
    }

    function _hash() internal returns (uint256 cold, uint256 warm) {
        cold = h.hash(1, 2);
        warm = h.hash(3, 4);
        _log("PoseidonT3.hash, cold", cold);
        _log("PoseidonT3.hash, warm", warm);
    }

    function _checkChildren() internal returns (uint256 g) {
        g = h.checkChildren(parent, 11, 22);
        _log("checkChildren", g);
    }

    function _verify(uint256 depth) internal returns (uint256 g) {
        g = h.verify(roots[depth], 1 << depth, _index(depth), leaf, siblings[depth]);
        _log(string.concat("verify depth ", vm.toString(depth), " (2^", vm.toString(depth), " chunks)"), g);
    }
}

/// @notice Linked to poseidon-solidity's published bytecode, what a devnet deploys at
///         0x3333333C0A88F9BE4fd23ed0536F9B6c427e3B93 and links: the figures that count.
contract GasTensorTreeTest is GasTensorTreeBase {
    function _label() internal pure override returns (string memory) {
        return "package bytecode";
    }

    /// @dev Replaces the PoseidonT3 forge linked with the package's runtime code.
    function setUp() public override {
        super.setUp();
        vm.etch(address(PoseidonT3), PoseidonT3Package.deploy(vm).code);
    }

    function test_gas_poseidonT3() public {
        (, uint256 warm) = _hash();
        assertLe(warm, 20_000);
    }

    function test_gas_checkChildren() public {
        assertLe(_checkChildren(), 25_000);
    }

    function test_gas_verify_depth10() public {
        assertLe(_verify(10), 10 * 20_000 + 5_000);
    }

    function test_gas_verify_depth20() public {
        assertLe(_verify(20), 20 * 20_000 + 5_000);
    }
}

/// @notice For comparison: linked to forge's own build of PoseidonT3.sol (solc 0.8.28, via_ir,
///         how `forge test` links it elsewhere), about 3x the package's gas. Logged, not bounded.
contract GasTensorTreeForgeBuildTest is GasTensorTreeBase {
    function _label() internal pure override returns (string memory) {
        return "forge build";
    }

    function test_gas_poseidonT3() public {
        _hash();
    }

    function test_gas_checkChildren() public {
        _checkChildren();
    }

    function test_gas_verify_depth10() public {
        _verify(10);
    }

    function test_gas_verify_depth20() public {
        _verify(20);
    }
}
