// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

import {TypesV4} from "../v4/lib/TypesV4.sol";

/// @title IModelRegistryV4
/// @notice Append-only registry of version-4 models (docs/protocol.md §10.8).
interface IModelRegistryV4 {
    /// @notice A model was registered.
    event ModelRegistered(
        uint256 indexed modelId,
        address indexed owner,
        bytes32 modelRoot,
        bytes32 layoutRoot,
        uint32 numSteps,
        uint32 opsPerStep,
        uint32 stateSlots,
        string onnxCid,
        string programCid
    );

    /// @notice Registers a model; every parameter must be in its protocol bounds (§10.8).
    /// @param model The model (its `owner` field is ignored: the caller is the owner).
    /// @return modelId The new id (from 1).
    function registerModel(TypesV4.Model calldata model) external returns (uint256 modelId);

    /// @notice The model `modelId`; reverts UnknownModel.
    function getModel(uint256 modelId) external view returns (TypesV4.Model memory);

    /// @notice What a request copies from the model; reverts UnknownModel.
    function getSpec(uint256 modelId) external view returns (TypesV4.ModelSpec memory);

    /// @notice Wei below which no bond may be registered.
    function BOND_FLOOR() external view returns (uint256);

    /// @notice Seconds below which no clock, proving window or challenge window may be
    ///         registered (at least MIN_CLOCK; set by the deployment, §10.8).
    function TIME_FLOOR() external view returns (uint64);

    /// @notice Number of registered models.
    function modelCount() external view returns (uint256);
}
