// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

import {IModelRegistryV4} from "../interfaces/IModelRegistryV4.sol";
import {TypesV4} from "./lib/TypesV4.sol";
import {UnknownModel} from "../lib/Errors.sol";
import "./lib/ErrorsV4.sol" as E;

/// @title ModelRegistryV4
/// @notice Append-only registry of version-4 models (docs/protocol.md §10.8). Every parameter
///         is bounded, so no deadline sum can overflow and every loop is bounded; every bond is
///         at least the protocol's floor (the bond rule of §10.9).
contract ModelRegistryV4 is IModelRegistryV4 {
    /// @inheritdoc IModelRegistryV4
    uint256 public immutable BOND_FLOOR;

    /// @dev Models by id; id 0 is never used.
    mapping(uint256 modelId => TypesV4.Model) internal _models;

    /// @inheritdoc IModelRegistryV4
    uint256 public modelCount;

    /// @inheritdoc IModelRegistryV4
    uint64 public immutable TIME_FLOOR;

    /// @param bondFloor Wei below which no bond may be registered: 10 × the measured cost of
    ///                  defending one game at the deployment's reference gas price (§10.9).
    /// @param timeFloor Seconds below which no clock or window may be registered: the time
    ///                  the deployment gives an honest party to get a transaction included
    ///                  against a hostile or congested chain (§10.8: a public chain, ≥ 1 day;
    ///                  a devnet, MIN_CLOCK).
    constructor(uint256 bondFloor, uint64 timeFloor) {
        // INVARIANT: every claim is bonded by a positive amount.
        if (bondFloor == 0) revert E.ZeroBondFloor();
        // INVARIANT: the floor is itself within the protocol's bounds on a clock.
        _bounded(timeFloor, TypesV4.MIN_CLOCK, TypesV4.MAX_CLOCK);
        BOND_FLOOR = bondFloor;
        TIME_FLOOR = timeFloor;
    }

    /// @inheritdoc IModelRegistryV4
    function registerModel(TypesV4.Model calldata model) external returns (uint256 modelId) {
        // INVARIANT: both trees are committed.
        if (model.modelRoot == bytes32(0) || model.layoutRoot == bytes32(0)) revert E.ZeroRoot();
        // INVARIANT: 1 <= n <= 2^32 - 2: the trace's n + 1 leaves index within uint32.
        if (model.numSteps == 0 || model.numSteps > TypesV4.MAX_STEPS) revert E.StepsOutOfBounds(model.numSteps);
        // INVARIANT: 1 <= N <= MAX_OPS_PER_STEP bounds the level-2 reveal.
        if (model.opsPerStep == 0 || model.opsPerStep > TypesV4.MAX_OPS_PER_STEP) {
            revert E.OpsPerStepOutOfBounds(model.opsPerStep);
        }
        // INVARIANT: 1 <= W <= MAX_STATE_SLOTS.
        if (model.stateSlots == 0 || model.stateSlots > TypesV4.MAX_STATE_SLOTS) {
            revert E.StateSlotsOutOfBounds(model.stateSlots);
        }
        TypesV4.GameParams calldata p = model.params;
        // INVARIANT: MIN_ARITY <= k <= MAX_ARITY bounds every level-1 loop.
        if (p.arity < TypesV4.MIN_ARITY || p.arity > TypesV4.MAX_ARITY) revert E.ArityOutOfBounds(p.arity);
        // INVARIANT: every window and clock is within [min, max], so timestamp + window fits
        //            uint64 for any timestamp below 2^63 and no deadline arithmetic overflows;
        //            and at least the deployment's TIME_FLOOR, so no honest party can be timed
        //            out faster than the deployment promises it can get a transaction in.
        uint64 floor = TIME_FLOOR;
        _bounded(p.challengeWindow, _max(TypesV4.MIN_CHALLENGE_WINDOW, floor), TypesV4.MAX_CHALLENGE_WINDOW);
        _bounded(p.clockPerSide, _max(TypesV4.MIN_CLOCK, floor), TypesV4.MAX_CLOCK);
        _bounded(p.provingWindow, _max(TypesV4.MIN_PROVING_WINDOW, floor), TypesV4.MAX_PROVING_WINDOW);
        // INVARIANT: both bonds are at least the floor (challenger bond >= 10x proving cost).
        if (p.responseBond < BOND_FLOOR) revert E.BondBelowFloor(p.responseBond, BOND_FLOOR);
        if (p.challengerBond < BOND_FLOOR) revert E.BondBelowFloor(p.challengerBond, BOND_FLOOR);

        modelId = ++modelCount;
        TypesV4.Model storage m = _models[modelId];
        m.owner = msg.sender;
        m.modelRoot = model.modelRoot;
        m.layoutRoot = model.layoutRoot;
        m.numSteps = model.numSteps;
        m.opsPerStep = model.opsPerStep;
        m.stateSlots = model.stateSlots;
        m.onnxCid = model.onnxCid;
        m.programCid = model.programCid;
        m.params = p;

        emit ModelRegistered(
            modelId,
            msg.sender,
            model.modelRoot,
            model.layoutRoot,
            model.numSteps,
            model.opsPerStep,
            model.stateSlots,
            model.onnxCid,
            model.programCid
        );
    }

    /// @inheritdoc IModelRegistryV4
    function getModel(uint256 modelId) external view returns (TypesV4.Model memory model) {
        model = _models[modelId];
        if (model.numSteps == 0) revert UnknownModel(modelId);
    }

    /// @inheritdoc IModelRegistryV4
    function getSpec(uint256 modelId) external view returns (TypesV4.ModelSpec memory spec) {
        TypesV4.Model storage m = _models[modelId];
        if (m.numSteps == 0) revert UnknownModel(modelId);
        spec = TypesV4.ModelSpec(m.modelRoot, m.layoutRoot, m.numSteps, m.opsPerStep, m.stateSlots, m.params);
    }

    /// @dev The larger of `a` and `b`.
    function _max(uint64 a, uint64 b) internal pure returns (uint64) {
        return a > b ? a : b;
    }

    /// @dev Reverts unless min <= value <= max.
    function _bounded(uint64 value, uint64 min, uint64 max) internal pure {
        if (value < min || value > max) revert E.WindowOutOfBounds(value, min, max);
    }
}
