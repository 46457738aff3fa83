// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

import {Test} from "forge-std/Test.sol";
import {PoseidonT3} from "poseidon-solidity/PoseidonT3.sol";
import {LibTensorTree} from "../src/lib/LibTensorTree.sol";
import {Types} from "../src/lib/Types.sol";
import "../src/lib/Errors.sol" as Errors;
import {PoseidonT3Package} from "./utils/PoseidonT3Package.sol";

/// @notice Harness exposing LibTensorTree externally, so reverts can be expected.
contract TensorTreeHarness {
    function node(uint256 left, uint256 right) external pure returns (uint256) {
        return LibTensorTree.node(left, right);
    }

    function rootFromLeaf(uint256 leaf, uint256 index, uint256[] calldata siblings) external pure returns (uint256) {
        return LibTensorTree.rootFromLeaf(leaf, index, siblings);
    }

    function verify(uint256 root, uint256 chunks, uint256 index, uint256 leaf, uint256[] calldata siblings)
        external
        pure
        returns (bool)
    {
        return LibTensorTree.verify(root, chunks, index, leaf, siblings);
    }

    function commitment(uint256 header, uint256 root) external pure returns (uint256) {
        return LibTensorTree.commitment(header, root);
    }

    function checkChildren(uint256 parent, uint256 left, uint256 right) external pure returns (bool) {
        return LibTensorTree.checkChildren(parent, left, right);
    }
}

/// @notice Reference model of the tensor tree: every level, built the obvious way from
///         LibTensorTree.node, to derive roots and proofs the library must accept.
library TensorTreeModel {
    /// @notice levels[j] = the 2^(d-j) nodes of level j; level 0 is the leaves padded with 0.
    function levels(uint256[] memory leaves) internal pure returns (uint256[][] memory lv) {
        uint256 d = LibTensorTree.depthOf(leaves.length);
        lv = new uint256[][](d + 1);
        lv[0] = new uint256[](1 << d);
        for (uint256 i; i < leaves.length; ++i) {
            lv[0][i] = leaves[i];
        }
        for (uint256 j = 1; j <= d; ++j) {
            lv[j] = new uint256[](lv[j - 1].length / 2);
            for (uint256 i; i < lv[j].length; ++i) {
                lv[j][i] = LibTensorTree.node(lv[j - 1][2 * i], lv[j - 1][2 * i + 1]);
            }
        }
    }

    function root(uint256[] memory leaves) internal pure returns (uint256) {
        uint256[][] memory lv = levels(leaves);
        return lv[lv.length - 1][0];
    }

    function proof(uint256[] memory leaves, uint256 index) internal pure returns (uint256[] memory siblings) {
        siblings = proof(levels(leaves), index);
    }

    /// @notice Proof for `index` from precomputed levels (see `levels`).
    function proof(uint256[][] memory lv, uint256 index) internal pure returns (uint256[] memory siblings) {
        siblings = new uint256[](lv.length - 1);
        for (uint256 j; j < siblings.length; ++j) {
            siblings[j] = lv[j][(index >> j) ^ 1];
        }
    }
}

/// @notice LibTensorTree as a spec: known answers shared with the Rust side
///         (test/fixtures/tensor_tree.json, from gen_tensor_tree.mjs with poseidon-lite), the
///         padding rules, proofs that bind index and leaf, and typed reverts on malformed input.
contract LibTensorTreeTest is Test {
    uint256 internal constant R = Types.SNARK_SCALAR_FIELD;
    /// @dev circomlib's published poseidon([1, 2]).
    uint256 internal constant CIRCOMLIB_1_2 =
        7853200120776062878684798364095072458815029376092732009249414926327459813530;
    /// @dev Number of trees in the fixture (chunk counts 0, 1, 2, 3, 5, 8, 13).
    uint256 internal constant FIXTURE_TREES = 7;

    /// @dev The addresses LibTensorTree's NatSpec gives for the devnet recipe.
    address internal constant CREATE2_PROXY = 0x4e59b44847b379578588920cA78FbF26c0B4956C;
    address internal constant POSEIDON_T3_ADDRESS = 0x3333333C0A88F9BE4fd23ed0536F9B6c427e3B93;

    TensorTreeHarness internal h;
    string internal fixture;

    function setUp() public {
        h = new TensorTreeHarness();
        fixture = vm.readFile("test/fixtures/tensor_tree.json");
    }

    ////////////////////////////////////////////////////////////////
    //                        Known answers                       //
    ////////////////////////////////////////////////////////////////

    function test_poseidonT3_knownAnswers() public view {
        uint256 n;
        while (vm.keyExistsJson(fixture, string.concat(".poseidon_t3[", vm.toString(n), "]"))) {
            string memory p = string.concat(".poseidon_t3[", vm.toString(n), "]");
            uint256[] memory inputs = vm.parseJsonUintArray(fixture, string.concat(p, ".inputs"));
            uint256 output = vm.parseJsonUint(fixture, string.concat(p, ".output"));
            assertEq(PoseidonT3.hash([inputs[0], inputs[1]]), output, p);
            ++n;
        }
        assertEq(n, 3);
        assertEq(PoseidonT3.hash([uint256(1), 2]), CIRCOMLIB_1_2, "circomlib poseidon([1,2])");
    }

    /// @dev Every fixture tree: depth, root, commitment, and every position's proof (padding
    ///      positions prove the empty leaf 0) both through the library and the reference model.
    function test_fixture_rootsProofsCommitments() public view {
        _checkFixtureTrees();
    }

    /// @dev The same with the library linked to poseidon-solidity's published bytecode (what a
    ///      devnet links to) in place of forge's build of PoseidonT3.sol.
    function test_fixture_withPackageBytecode() public {
        PoseidonT3Package.deploy(vm);
        vm.etch(address(PoseidonT3), POSEIDON_T3_ADDRESS.code);
        assertEq(keccak256(address(PoseidonT3).code), keccak256(POSEIDON_T3_ADDRESS.code));
        _checkFixtureTrees();
        test_poseidonT3_knownAnswers();
    }

    function _checkFixtureTrees() internal view {
        assertFalse(vm.keyExistsJson(fixture, string.concat(".trees[", vm.toString(FIXTURE_TREES), "]")));
        for (uint256 t; t < FIXTURE_TREES; ++t) {
            string memory p = string.concat(".trees[", vm.toString(t), "]");
            uint256 chunks = vm.parseJsonUint(fixture, string.concat(p, ".chunks"));
            uint256 depth = vm.parseJsonUint(fixture, string.concat(p, ".depth"));
            uint256 root = vm.parseJsonUint(fixture, string.concat(p, ".root"));
            uint256 header = vm.parseJsonUint(fixture, string.concat(p, ".header"));
            uint256[] memory leaves = _leaves(p, chunks);

            assertEq(LibTensorTree.depthOf(chunks), depth, string.concat(p, ".depth"));
            assertEq(TensorTreeModel.root(leaves), root, string.concat(p, ".root"));
            assertEq(
                h.commitment(header, root),
                vm.parseJsonUint(fixture, string.concat(p, ".commitment")),
                string.concat(p, ".commitment")
            );
            for (uint256 i; i < 1 << depth; ++i) {
                uint256[] memory sib = _siblings(p, i, depth);
                uint256 leaf = i < chunks ? leaves[i] : 0;
                assertEq(h.rootFromLeaf(leaf, i, sib), root, string.concat(p, ".proofs[", vm.toString(i), "]"));
                assertTrue(h.verify(root, chunks, i, leaf, sib));
                assertEq(abi.encode(TensorTreeModel.proof(leaves, i)), abi.encode(sib));
            }
        }
    }

    ////////////////////////////////////////////////////////////////
    //                      Shape and padding                     //
    ////////////////////////////////////////////////////////////////

    function test_depthOf() public pure {
        assertEq(LibTensorTree.depthOf(0), 0);
        assertEq(LibTensorTree.depthOf(1), 0);
        assertEq(LibTensorTree.depthOf(2), 1);
        assertEq(LibTensorTree.depthOf(3), 2);
        assertEq(LibTensorTree.depthOf(4), 2);
        assertEq(LibTensorTree.depthOf(5), 3);
        assertEq(LibTensorTree.depthOf(8), 3);
        assertEq(LibTensorTree.depthOf(9), 4);
        assertEq(LibTensorTree.depthOf(13), 4);
        assertEq(LibTensorTree.depthOf(1 << 20), 20);
        assertEq(LibTensorTree.depthOf((1 << 20) + 1), 21);
        assertEq(LibTensorTree.depthOf(1 << 255), 255);
        assertEq(LibTensorTree.depthOf((1 << 255) + 1), 256);
        assertEq(LibTensorTree.depthOf(type(uint256).max), 256);
    }

    function testFuzz_depthOf_isSmallestCoveringPowerOfTwo(uint256 chunks) public pure {
        chunks = bound(chunks, 2, 1 << 128);
        uint256 d = LibTensorTree.depthOf(chunks);
        assertGe(1 << d, chunks);
        assertLt(1 << (d - 1), chunks);
    }

    /// @dev node(0, 0) = 0, but node(x, 0) and node(0, x) hash (and differ) for x != 0.
    function test_node_emptySubtreeIsZero() public view {
        uint256 poseidon00 = vm.parseJsonUint(fixture, ".poseidon_t3[1].output");
        assertEq(h.node(0, 0), 0);
        assertEq(PoseidonT3.hash([uint256(0), 0]), poseidon00);
        assertTrue(poseidon00 != 0);
        assertEq(h.node(1, 2), CIRCOMLIB_1_2);
        assertEq(h.node(7, 0), PoseidonT3.hash([uint256(7), 0]));
        assertEq(h.node(0, 7), PoseidonT3.hash([uint256(0), 7]));
        assertTrue(h.node(7, 0) != h.node(0, 7));
    }

    /// @dev No chunks: depth 0, root 0, the one position holds the empty leaf.
    function test_emptyTree() public {
        uint256[] memory none = new uint256[](0);
        assertEq(LibTensorTree.depthOf(0), 0);
        assertEq(TensorTreeModel.root(none), 0);
        assertEq(vm.parseJsonUint(fixture, ".trees[0].root"), 0);
        assertTrue(h.verify(0, 0, 0, 0, none));
        assertFalse(h.verify(0, 0, 0, 7, none), "a padding position holds 0");
        assertFalse(h.verify(7, 0, 0, 7, none), "even against a root that says otherwise");
        vm.expectRevert(abi.encodeWithSelector(Errors.TreeIndexOutOfRange.selector, 1, 0));
        h.verify(0, 0, 1, 0, none);
        assertEq(h.commitment(12345, 0), PoseidonT3.hash([uint256(12345), 0]));
    }

    /// @dev One chunk: the root is the leaf itself, no siblings.
    function test_singleChunk() public view {
        uint256[] memory none = new uint256[](0);
        uint256 d0 = vm.parseJsonUint(fixture, ".trees[1].leaves[0]");
        assertEq(vm.parseJsonUint(fixture, ".trees[1].root"), d0);
        assertTrue(h.verify(d0, 1, 0, d0, none));
        assertFalse(h.verify(d0, 1, 0, d0 + 1, none));
        assertEq(h.rootFromLeaf(d0, 0, none), d0);
        assertEq(h.commitment(12345, d0), vm.parseJsonUint(fixture, ".trees[1].commitment"));
    }

    /// @dev Five chunks, written out: width 8, leaves 5..7 are 0, so the right half is
    ///      node(node(d4, 0), node(0, 0)) = node(Poseidon(d4, 0), 0) = Poseidon(Poseidon(d4, 0), 0).
    function test_fiveChunks_paddingWrittenOut() public view {
        uint256[] memory d = vm.parseJsonUintArray(fixture, ".trees[4].leaves");
        assertEq(d.length, 5);
        uint256 a = PoseidonT3.hash([d[0], d[1]]);
        uint256 b = PoseidonT3.hash([d[2], d[3]]);
        uint256 c = PoseidonT3.hash([d[4], uint256(0)]);
        uint256 left = PoseidonT3.hash([a, b]);
        uint256 right = PoseidonT3.hash([c, uint256(0)]); // node(c, node(0, 0)) with node(0, 0) = 0
        uint256 root = PoseidonT3.hash([left, right]);
        assertEq(vm.parseJsonUint(fixture, ".trees[4].root"), root);
        assertEq(TensorTreeModel.root(d), root);

        // Position 6 (padding): siblings 0 (position 7), c (= node(d4, 0)), left.
        uint256[] memory sib = new uint256[](3);
        sib[0] = 0;
        sib[1] = c;
        sib[2] = left;
        assertTrue(h.verify(root, 5, 6, 0, sib));
        assertFalse(h.verify(root, 5, 6, 1, sib), "padding leaf must be 0");
        // Position 4 (last real chunk): siblings 0 (position 5), node(0, 0) = 0, left.
        sib[0] = 0;
        sib[1] = 0;
        assertTrue(h.verify(root, 5, 4, d[4], sib));
        assertFalse(h.verify(root, 5, 4, 0, sib));
    }

    /// @dev Odd chunk counts 1..33 against the model: every real and padding position opens.
    function test_oddChunkCounts_allPositionsOpen() public view {
        for (uint256 c = 1; c <= 33; c += 2) {
            uint256[] memory leaves = _distinctLeaves(c, bytes32(c));
            uint256[][] memory lv = TensorTreeModel.levels(leaves);
            uint256 root = lv[lv.length - 1][0];
            uint256 d = LibTensorTree.depthOf(c);
            assertEq(lv.length, d + 1);
            for (uint256 i; i < 1 << d; ++i) {
                uint256 leaf = i < c ? leaves[i] : 0;
                assertTrue(h.verify(root, c, i, leaf, TensorTreeModel.proof(lv, i)));
            }
        }
    }

    ////////////////////////////////////////////////////////////////
    //                  Proofs bind index and leaf                //
    ////////////////////////////////////////////////////////////////

    /// @dev A proof for real position i verifies there with d_i only: not at any other
    ///      position of the tree, not with any other leaf. (Another depth: a typed revert, see
    ///      test_revert_wrongSiblingCount.)
    function testFuzz_proofBindsIndexAndLeaf(
        uint256 chunks,
        uint256 index,
        uint256 other,
        uint256 otherLeaf,
        bytes32 salt
    ) public view {
        chunks = bound(chunks, 1, 40);
        index = bound(index, 0, chunks - 1);
        uint256[] memory leaves = _distinctLeaves(chunks, salt);
        uint256 root = TensorTreeModel.root(leaves);
        uint256 d = LibTensorTree.depthOf(chunks);
        uint256[] memory sib = TensorTreeModel.proof(leaves, index);

        assertTrue(h.verify(root, chunks, index, leaves[index], sib));
        if (d > 0) {
            other = bound(other, 0, (1 << d) - 2);
            if (other >= index) ++other; // any position but `index`
            assertFalse(h.verify(root, chunks, other, leaves[index], sib), "other position");
        }
        otherLeaf = bound(otherLeaf, 0, R - 2);
        if (otherLeaf >= leaves[index]) ++otherLeaf; // any field element but d_i
        assertFalse(h.verify(root, chunks, index, otherLeaf, sib), "other leaf");
    }

    /// @dev checkChildren accepts exactly the (left, right) pairs of the tree, in order.
    function test_checkChildren_alongTree() public view {
        uint256[] memory leaves = vm.parseJsonUintArray(fixture, ".trees[6].leaves"); // 13 chunks
        uint256[][] memory lv = TensorTreeModel.levels(leaves);
        for (uint256 j = 1; j < lv.length; ++j) {
            for (uint256 i; i < lv[j].length; ++i) {
                uint256 l = lv[j - 1][2 * i];
                uint256 r = lv[j - 1][2 * i + 1];
                assertTrue(h.checkChildren(lv[j][i], l, r));
                if (l != r) assertFalse(h.checkChildren(lv[j][i], r, l), "children swapped");
                assertFalse(h.checkChildren(lv[j][i], l, r == 0 ? 1 : r - 1), "wrong right child");
            }
        }
        // The empty subtree: (0, 0) opens 0, not Poseidon(0, 0).
        assertTrue(h.checkChildren(0, 0, 0));
        assertFalse(h.checkChildren(PoseidonT3.hash([uint256(0), 0]), 0, 0));
        assertEq(lv[lv.length - 1][0], vm.parseJsonUint(fixture, ".trees[6].root"));
    }

    ////////////////////////////////////////////////////////////////
    //                     Malformed input reverts                //
    ////////////////////////////////////////////////////////////////

    function testFuzz_revert_indexPastWidth(uint256 chunks, uint256 index) public {
        chunks = bound(chunks, 0, 40);
        uint256 d = LibTensorTree.depthOf(chunks);
        index = bound(index, 1 << d, type(uint256).max);
        uint256[] memory leaves = _distinctLeaves(chunks, bytes32(chunks));
        uint256[] memory sib = TensorTreeModel.proof(leaves, 0);
        uint256 root = TensorTreeModel.root(leaves);
        vm.expectRevert(abi.encodeWithSelector(Errors.TreeIndexOutOfRange.selector, index, d));
        h.verify(root, chunks, index, 0, sib);
        vm.expectRevert(abi.encodeWithSelector(Errors.TreeIndexOutOfRange.selector, index, d));
        h.rootFromLeaf(0, index, sib);
    }

    function test_revert_wrongSiblingCount() public {
        uint256[] memory leaves = vm.parseJsonUintArray(fixture, ".trees[4].leaves"); // 5 chunks, depth 3
        uint256 root = TensorTreeModel.root(leaves);
        uint256[] memory sib = TensorTreeModel.proof(leaves, 2);
        assertTrue(h.verify(root, 5, 2, leaves[2], sib));
        uint256[] memory shorter = new uint256[](2);
        shorter[0] = sib[0];
        shorter[1] = sib[1];
        vm.expectRevert(abi.encodeWithSelector(Errors.WrongSiblingCount.selector, 3, 2));
        h.verify(root, 5, 2, leaves[2], shorter);
        uint256[] memory longer = new uint256[](4);
        for (uint256 j; j < 3; ++j) {
            longer[j] = sib[j];
        }
        vm.expectRevert(abi.encodeWithSelector(Errors.WrongSiblingCount.selector, 3, 4));
        h.verify(root, 5, 2, leaves[2], longer);
        // A sound proof is not accepted for a tree of another chunk count's depth.
        vm.expectRevert(abi.encodeWithSelector(Errors.WrongSiblingCount.selector, 4, 3));
        h.verify(root, 9, 2, leaves[2], sib);
        vm.expectRevert(abi.encodeWithSelector(Errors.WrongSiblingCount.selector, 0, 3));
        h.verify(root, 1, 0, leaves[0], sib);
    }

    /// @dev PoseidonT3 itself reduces its inputs mod r, so x + r would hash like x: the
    ///      library rejects every non-canonical value instead of letting two encodings open.
    function testFuzz_revert_nonFieldInputs(uint256 bad, uint256 x) public {
        bad = bound(bad, R, type(uint256).max);
        x = bound(x, 0, R - 1);
        assertEq(PoseidonT3.hash([x + R, uint256(3)]), PoseidonT3.hash([x, uint256(3)]), "why: aliasing");
        bytes memory err = abi.encodeWithSelector(Errors.NotAFieldElement.selector, bytes32(bad));
        uint256[] memory one = new uint256[](1);

        vm.expectRevert(err);
        h.node(bad, x);
        vm.expectRevert(err);
        h.node(x, bad);
        vm.expectRevert(err);
        h.commitment(bad, x);
        vm.expectRevert(err);
        h.commitment(x, bad);
        vm.expectRevert(err);
        h.checkChildren(bad, x, x);
        vm.expectRevert(err);
        h.checkChildren(x, bad, x);
        vm.expectRevert(err);
        h.checkChildren(x, x, bad);
        vm.expectRevert(err);
        h.verify(bad, 2, 0, x, one); // root
        vm.expectRevert(err);
        h.verify(x, 2, 0, bad, one); // leaf
        one[0] = bad;
        vm.expectRevert(err);
        h.verify(x, 2, 1, x, one); // sibling
        vm.expectRevert(err);
        h.rootFromLeaf(x, 1, one);
    }

    ////////////////////////////////////////////////////////////////
    //                 Devnet deployment of PoseidonT3            //
    ////////////////////////////////////////////////////////////////

    /// @dev The devnet recipe of LibTensorTree's NatSpec: the package's published creation
    ///      bytecode, sent to the CREATE2 proxy with the package's salt, lands at
    ///      0x3333333C0A88F9BE4fd23ed0536F9B6c427e3B93 and agrees with the library we compile
    ///      on the known-answer vectors.
    function test_packageDeployment_matchesLibrary() public {
        assertGt(CREATE2_PROXY.code.length, 0, "forge's EVM, like anvil, has the CREATE2 proxy");
        assertEq(POSEIDON_T3_ADDRESS.code.length, 0);
        assertEq(PoseidonT3Package.deploy(vm), POSEIDON_T3_ADDRESS);
        assertGt(POSEIDON_T3_ADDRESS.code.length, 0);

        bool ok;
        bytes memory ret;
        for (uint256 n; n < 3; ++n) {
            string memory p = string.concat(".poseidon_t3[", vm.toString(n), "]");
            uint256[] memory inputs = vm.parseJsonUintArray(fixture, string.concat(p, ".inputs"));
            (ok, ret) = POSEIDON_T3_ADDRESS.staticcall(
                abi.encodeWithSelector(PoseidonT3.hash.selector, [inputs[0], inputs[1]])
            );
            assertTrue(ok);
            assertEq(abi.decode(ret, (uint256)), vm.parseJsonUint(fixture, string.concat(p, ".output")), p);
        }
        assertEq(PoseidonT3.hash.selector, bytes4(0x561558fe));
    }

    ////////////////////////////////////////////////////////////////
    //                           Helpers                          //
    ////////////////////////////////////////////////////////////////

    function _leaves(string memory p, uint256 chunks) internal view returns (uint256[] memory leaves) {
        leaves = new uint256[](chunks);
        for (uint256 i; i < chunks; ++i) {
            leaves[i] = vm.parseJsonUint(fixture, string.concat(p, ".leaves[", vm.toString(i), "]"));
            assertEq(leaves[i], i * 1000 + 7);
        }
    }

    function _siblings(string memory p, uint256 i, uint256 depth) internal view returns (uint256[] memory sib) {
        sib = new uint256[](depth);
        for (uint256 j; j < depth; ++j) {
            sib[j] = vm.parseJsonUint(fixture, string.concat(p, ".proofs[", vm.toString(i), "][", vm.toString(j), "]"));
        }
        assertFalse(
            vm.keyExistsJson(fixture, string.concat(p, ".proofs[", vm.toString(i), "][", vm.toString(depth), "]"))
        );
    }

    /// @dev `count` distinct nonzero field elements derived from `salt`.
    function _distinctLeaves(uint256 count, bytes32 salt) internal pure returns (uint256[] memory leaves) {
        leaves = new uint256[](count);
        for (uint256 i; i < count; ++i) {
            // (hash mod floor(r / 2^32)) * 2^32 + i + 1: nonzero, < r, distinct by the low bits.
            leaves[i] = (uint256(keccak256(abi.encode(salt, i))) % (R >> 32)) << 32 | (i + 1);
        }
    }
}
