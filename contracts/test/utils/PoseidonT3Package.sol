// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

import {Vm} from "forge-std/Vm.sol";

/// @notice poseidon-solidity's published PoseidonT3 (npm 0.0.5, built by its authors with solc
///         0.7.6), deployed the way a devnet deploys it: its `data` (salt ‖ creation bytecode,
///         from deploy/PoseidonT3.js under .tools) sent to the CREATE2 deployer proxy, which
///         forge's test EVM pre-deploys like anvil does.
library PoseidonT3Package {
    /// @notice The deterministic deployment proxy (Nick's method), pre-deployed by anvil and forge.
    address internal constant CREATE2_PROXY = 0x4e59b44847b379578588920cA78FbF26c0B4956C;
    /// @notice Where the proxy puts the package's PoseidonT3 on every EVM chain.
    address internal constant ADDRESS = 0x3333333C0A88F9BE4fd23ed0536F9B6c427e3B93;
    /// @notice The package's deployment file (readable per foundry.toml's fs_permissions).
    string internal constant DEPLOY_JS = "../.tools/node_modules/poseidon-solidity/deploy/PoseidonT3.js";

    /// @notice The proxy calldata of the package: 32-byte salt followed by the creation bytecode.
    function data(Vm vm) internal view returns (bytes memory) {
        string memory js = vm.readFile(DEPLOY_JS);
        return vm.parseBytes(vm.split(vm.split(js, "data: '")[1], "'")[0]);
    }

    /// @notice Deploys the package's PoseidonT3 at `ADDRESS` (no-op if it already has code).
    /// @return deployed The address the proxy returned (`ADDRESS`).
    function deploy(Vm vm) internal returns (address deployed) {
        if (ADDRESS.code.length != 0) return ADDRESS;
        (bool ok, bytes memory ret) = CREATE2_PROXY.call(data(vm));
        require(ok && ret.length == 20, "PoseidonT3Package: proxy call failed");
        deployed = address(bytes20(ret));
    }
}
