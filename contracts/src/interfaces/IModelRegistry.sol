// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

import {Types} from "../lib/Types.sol";

/// @title IModelRegistry
/// @notice Registry of models: ONNX/program CIDs, the per-step model commitment and the
///         dispute-game parameters. Entries are immutable once registered.
interface IModelRegistry {
    /// @notice A model was registered.
    /// @param modelId    New id (ids start at 1).
    /// @param owner      Registering account.
    /// @param modelRoot  Keccak Merkle root over the step leaves.
    /// @param numSteps   n.
    /// @param onnxCid    CID of the ONNX file.
    /// @param programCid CID of the compiled program.
    event ModelRegistered(
        uint256 indexed modelId,
        address indexed owner,
        bytes32 modelRoot,
        uint32 numSteps,
        string onnxCid,
        string programCid
    );

    /// @notice Registers a model.
    /// @param modelRoot  Root over leaves keccak256(abi.encode(uint256 step, uint256 opDigest,
    ///                   address verifier)) for step = 0..numSteps-1.
    /// @param numSteps   n > 0.
    /// @param opsPerStep N > 0 ONNX operators per step.
    /// @param onnxCid    CID of the ONNX file.
    /// @param programCid CID of the compiled program.
    /// @param params     Game parameters (arity in [2, 16], nonzero windows and bonds).
    /// @return modelId   The new model's id.
    function registerModel(
        bytes32 modelRoot,
        uint32 numSteps,
        uint32 opsPerStep,
        string calldata onnxCid,
        string calldata programCid,
        Types.GameParams calldata params
    ) external returns (uint256 modelId);

    /// @notice Returns a registered model; reverts UnknownModel otherwise.
    /// @param modelId Model id.
    /// @return model The model.
    function getModel(uint256 modelId) external view returns (Types.Model memory model);

    /// @notice The fields the market needs, without the CID strings.
    /// @param modelId Model id; reverts UnknownModel if not registered.
    /// @return modelRoot Model root.
    /// @return numSteps  n.
    /// @return params    Game parameters.
    function getGameSpec(uint256 modelId)
        external
        view
        returns (bytes32 modelRoot, uint32 numSteps, Types.GameParams memory params);

    /// @notice Number of registered models (the last id).
    /// @return count Model count.
    function modelCount() external view returns (uint256 count);
}
