// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

import {PoseidonT3} from "poseidon-solidity/PoseidonT3.sol";
import {Types} from "./Types.sol";
import "./Errors.sol" as Errors;

/// @title LibTensorTree
/// @notice Binary Poseidon Merkle tree over a tensor's chunk digests (program version 4), so a
///         tensor commitment opens one chunk at a time. Shared bit for bit with the Rust side;
///         known-answer vectors: `contracts/test/fixtures/tensor_tree.json`.
/// @dev Tree over `chunks` leaf digests d_0..d_{chunks-1} (BN254 field elements; each is a
///      circomlib Poseidon t = 13 digest of one chunk of packed words, computed off chain and
///      in circuits, never here):
///      - depth d = 0 if chunks <= 1, else ceil(log2(chunks)); width 2^d.
///      - Positions chunks..2^d - 1 hold the empty leaf 0.
///      - node(l, r) = PoseidonT3([l, r]) (circomlib t = 3), except node(0, 0) = 0: an
///        all-empty subtree is 0, not hashed.
///      - The root is the single top node: d_0 for one chunk, 0 for none.
///      - A proof for position i is exactly d siblings, bottom to top; bit j of i is 1 iff the
///        level-j node on the path is a right child. Positions >= 2^d do not exist.
///      - Tensor commitment C(T) = PoseidonT3([header, root]), header the shape digest.
///      Every input is a canonical field element (< r): PoseidonT3 reduces its inputs mod r,
///      so a non-canonical x + r would otherwise hash like x and two encodings would open.
///      Malformed input (non-field values, a position past the tree, a wrong sibling count)
///      reverts with a typed error; well-formed input that does not match returns false.
///
///      Linking. `PoseidonT3.hash` (npm poseidon-solidity 0.0.5) is a *public* library
///      function: a contract that uses this library DELEGATECALLs a deployed PoseidonT3, and its
///      bytecode carries a link placeholder for it until linked. `forge test` deploys and links
///      its own build by itself. A devnet (anvil) links the package's published build instead:
///      1. Deploy it at its deterministic address 0x3333333C0A88F9BE4fd23ed0536F9B6c427e3B93:
///         one transaction to the CREATE2 deployer proxy
///         0x4e59b44847b379578588920ca78fbf26c0b4956c (anvil pre-deploys it) whose calldata is
///         `data` of `.tools/node_modules/poseidon-solidity/deploy/PoseidonT3.js` (the 32-byte
///         salt 0x...25651515, then the package's creation bytecode); the proxy CREATE2s it
///         there (5,141,252 gas on anvil). Skip it when the address already has code. E.g.
///         from the repo root, `cast send --rpc-url $RPC --private-key $KEY
///         0x4e59b44847b379578588920ca78fbf26c0b4956c "$(node -p
///         "require('./.tools/node_modules/poseidon-solidity').PoseidonT3.data")"`. On a chain
///         without the proxy, first send `gas` wei to its keyless deployer `from`
///         (0x3fab184622dc19b6109349b94811493bf2a45362) and broadcast the pre-signed `tx`,
///         both from the same file.
///      2. Build the contracts that use this library with that address fixed at compile time:
///         `libraries = ["poseidon-solidity/PoseidonT3.sol:PoseidonT3:0x3333333C0A88F9BE4fd23ed0536F9B6c427e3B93"]`
///         in a foundry.toml profile used for export (not the default one: there `forge test`
///         would call the empty address instead of deploying the library), or the same string
///         to `forge build --libraries`. The path must be the remapped import path: the
///         resolved `../.tools/node_modules/...` path is silently left unlinked. The artifact
///         then holds the address in place of the placeholder, with empty `linkReferences`.
///      The package's bytecode (solc 0.7.6) differs from forge's build of the same source
///      (solc 0.8.28, via_ir); a linked caller only needs the selector of `hash(uint256[2])`
///      (0x561558fe). The package's build is also about 3x cheaper: 18,791 gas per warm hash
///      against 59,020 (test/GasTensorTree.t.sol). `LibTensorTreeTest` deploys the package
///      through the proxy, checks the address, and runs the known-answer vectors through this
///      library linked to it.
library LibTensorTree {
    /// @notice Parent of two children: PoseidonT3([left, right]), except node(0, 0) = 0.
    /// @param left  Left child, < r.
    /// @param right Right child, < r.
    /// @return parent The parent node.
    function node(uint256 left, uint256 right) internal pure returns (uint256 parent) {
        _requireField(left);
        _requireField(right);
        parent = _node(left, right);
    }

    /// @notice Depth of the tree over `chunks` leaves.
    /// @param chunks Number of chunks (any value; 0 is the empty tensor).
    /// @return depth 0 if chunks <= 1, else ceil(log2(chunks)) (at most 256).
    function depthOf(uint256 chunks) internal pure returns (uint256 depth) {
        if (chunks <= 1) return 0;
        // ceil(log2(c)) = bit length of c - 1 for c >= 2.
        uint256 x = chunks - 1;
        while (x != 0) {
            x >>= 1;
            ++depth;
        }
    }

    /// @notice Root reached from `leaf` at position `index` through `siblings`.
    /// @dev The depth is `siblings.length`. Siblings are taken as given: callers that need the
    ///      depth of a `chunks`-leaf tree use `verify`, which checks the count.
    /// @param leaf     Leaf digest at `index` (0 for a padding position), < r.
    /// @param index    Position; must be < 2**siblings.length.
    /// @param siblings Siblings bottom to top, each < r.
    /// @return root The root the path reconstructs.
    function rootFromLeaf(uint256 leaf, uint256 index, uint256[] memory siblings) internal pure returns (uint256 root) {
        uint256 depth = siblings.length;
        // INVARIANT: the position exists in a tree of this depth (Solidity's shift by >= 256
        //            is 0, so every index fits a depth >= 256).
        if (index >> depth != 0) revert Errors.TreeIndexOutOfRange(index, depth);
        _requireField(leaf);
        root = leaf;
        for (uint256 j; j < depth; ++j) {
            uint256 sibling = siblings[j];
            _requireField(sibling);
            root = (index >> j) & 1 == 0 ? _node(root, sibling) : _node(sibling, root);
        }
    }

    /// @notice Checks that `leaf` sits at position `index` of the `chunks`-leaf tree `root`.
    /// @dev Positions in [chunks, 2^d) exist and hold the empty leaf 0: a proof of any other
    ///      value there returns false, whatever the root.
    /// @param root     Tree root, < r.
    /// @param chunks   Number of chunks; fixes the depth d = depthOf(chunks).
    /// @param index    Position; must be < 2**d.
    /// @param leaf     Claimed leaf digest, < r.
    /// @param siblings Exactly d siblings, bottom to top, each < r.
    /// @return ok True iff the path from `leaf` reconstructs `root` (and a padding leaf is 0).
    function verify(uint256 root, uint256 chunks, uint256 index, uint256 leaf, uint256[] memory siblings)
        internal
        pure
        returns (bool ok)
    {
        _requireField(root);
        uint256 depth = depthOf(chunks);
        // INVARIANT: a proof is exactly `depth` siblings (the tree's shape is fixed by `chunks`).
        if (siblings.length != depth) revert Errors.WrongSiblingCount(depth, siblings.length);
        uint256 computed = rootFromLeaf(leaf, index, siblings);
        // INVARIANT: padding positions hold the empty leaf 0.
        ok = computed == root && (index < chunks || leaf == 0);
    }

    /// @notice Tensor commitment C(T) = PoseidonT3([header, root]).
    /// @param header Shape digest of the tensor (Poseidon t = 13, computed off chain), < r.
    /// @param root   Root of the tensor's chunk tree, < r.
    /// @return c The tensor commitment.
    function commitment(uint256 header, uint256 root) internal pure returns (uint256 c) {
        _requireField(header);
        _requireField(root);
        c = PoseidonT3.hash([header, root]);
    }

    /// @notice One descent move of a chunk-level dispute: do `left` and `right` open `parent`?
    /// @param parent The node both sides agreed on (or that the mover committed to), < r.
    /// @param left   Claimed left child, < r.
    /// @param right  Claimed right child, < r.
    /// @return ok True iff node(left, right) == parent.
    function checkChildren(uint256 parent, uint256 left, uint256 right) internal pure returns (bool ok) {
        _requireField(parent);
        _requireField(left);
        _requireField(right);
        ok = _node(left, right) == parent;
    }

    /// @dev node() without the field checks (callers have checked both children).
    function _node(uint256 left, uint256 right) private pure returns (uint256 parent) {
        if (left | right == 0) return 0;
        parent = PoseidonT3.hash([left, right]);
    }

    /// @dev Reverts unless `value` is a canonical BN254 scalar-field element.
    function _requireField(uint256 value) private pure {
        // INVARIANT: every tree value is canonical (< r), so each field element has one encoding.
        if (value >= Types.SNARK_SCALAR_FIELD) revert Errors.NotAFieldElement(bytes32(value));
    }
}
