// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

import {IModelRegistry} from "./interfaces/IModelRegistry.sol";
import {Types} from "./lib/Types.sol";
import "./lib/Errors.sol" as Errors;

/// @title ModelRegistry
/// @notice Append-only registry of models and their dispute-game parameters.
contract ModelRegistry is IModelRegistry {
    /// @dev Models by id; id 0 is never used.
    mapping(uint256 modelId => Types.Model) internal _models;

    /// @inheritdoc IModelRegistry
    uint256 public modelCount;

    /// @inheritdoc IModelRegistry
    function registerModel(
        bytes32 modelRoot,
        uint32 numSteps,
        uint32 opsPerStep,
        string calldata onnxCid,
        string calldata programCid,
        Types.GameParams calldata params
    ) external returns (uint256 modelId) {
        // INVARIANT: the model commitment is nonzero.
        if (modelRoot == bytes32(0)) revert Errors.ZeroModelRoot();
        // INVARIANT: 0 < n and the trace's n + 1 leaves index within uint32.
        if (numSteps == 0 || numSteps == type(uint32).max) revert Errors.InvalidNumSteps(numSteps);
        // INVARIANT: a step holds at least one operator.
        if (opsPerStep == 0) revert Errors.InvalidOpsPerStep(opsPerStep);
        // INVARIANT: 2 <= k <= MAX_ARITY, which bounds every per-move loop.
        if (params.arity < 2 || params.arity > Types.MAX_ARITY) revert Errors.InvalidArity(params.arity);
        // INVARIANT: every window and clock is positive.
        if (params.challengeWindow == 0 || params.clockPerSide == 0 || params.provingWindow == 0) {
            revert Errors.InvalidWindow(params.challengeWindow, params.clockPerSide, params.provingWindow);
        }
        // INVARIANT: every claim is bonded.
        if (params.responseBond == 0 || params.challengerBond == 0) {
            revert Errors.ZeroBond(params.responseBond, params.challengerBond);
        }

        modelId = ++modelCount;
        Types.Model storage m = _models[modelId];
        m.owner = msg.sender;
        m.registeredAt = uint64(block.timestamp);
        m.modelRoot = modelRoot;
        m.numSteps = numSteps;
        m.opsPerStep = opsPerStep;
        m.onnxCid = onnxCid;
        m.programCid = programCid;
        m.params = params;

        emit ModelRegistered(modelId, msg.sender, modelRoot, numSteps, onnxCid, programCid);
    }

    /// @inheritdoc IModelRegistry
    function getModel(uint256 modelId) external view returns (Types.Model memory model) {
        model = _models[modelId];
        if (model.numSteps == 0) revert Errors.UnknownModel(modelId);
    }

    /// @inheritdoc IModelRegistry
    function getGameSpec(uint256 modelId)
        external
        view
        returns (bytes32 modelRoot, uint32 numSteps, Types.GameParams memory params)
    {
        Types.Model storage m = _models[modelId];
        numSteps = m.numSteps;
        if (numSteps == 0) revert Errors.UnknownModel(modelId);
        modelRoot = m.modelRoot;
        params = m.params;
    }
}
