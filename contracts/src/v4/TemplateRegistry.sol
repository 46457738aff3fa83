// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

import {ITemplateRegistry} from "../interfaces/ITemplateRegistry.sol";
import {TypesV4} from "./lib/TypesV4.sol";
import "./lib/ErrorsV4.sol" as E;

/// @title TemplateRegistry
/// @notice The protocol's template verifiers (docs/protocol.md §10.3, §10.8), fixed at
///         deployment. There is no owner and no setter: a model can only name a template
///         registered here, so no model owner (and no deployer after deployment) can choose
///         or switch the verifier that decides who is slashed (issue 14, item 2).
contract TemplateRegistry is ITemplateRegistry {
    /// @dev One registered template.
    struct Template {
        address verifier;
        uint64 gasLimit;
    }

    /// @dev Templates by id (written in the constructor only).
    mapping(uint256 templateId => Template) internal _templates;

    /// @inheritdoc ITemplateRegistry
    uint256 public immutable templateCount;

    /// @notice Registers every template of the protocol, once.
    /// @param ids       Template ids (distinct).
    /// @param verifiers Their verifiers (each with code).
    /// @param gasLimits Gas budget of one verification of each, in [1, MAX_VERIFIER_GAS].
    constructor(uint256[] memory ids, address[] memory verifiers, uint64[] memory gasLimits) {
        // INVARIANT: one verifier and one budget per id.
        if (ids.length != verifiers.length || ids.length != gasLimits.length) {
            revert E.TemplateListMismatch(ids.length, verifiers.length, gasLimits.length);
        }
        for (uint256 i; i < ids.length; ++i) {
            uint256 id = ids[i];
            // INVARIANT: an id names one verifier forever.
            if (_templates[id].verifier != address(0)) revert E.DuplicateTemplate(id);
            // INVARIANT: a registered verifier exists (a missing one could never prove).
            if (verifiers[i].code.length == 0) revert E.TemplateVerifierHasNoCode(id, verifiers[i]);
            // INVARIANT: the budget is positive and bounded, so the market can always afford it.
            if (gasLimits[i] == 0 || gasLimits[i] > TypesV4.MAX_VERIFIER_GAS) {
                revert E.InvalidVerifierGas(id, gasLimits[i]);
            }
            _templates[id] = Template(verifiers[i], gasLimits[i]);
            emit TemplateRegistered(id, verifiers[i], gasLimits[i]);
        }
        templateCount = ids.length;
    }

    /// @inheritdoc ITemplateRegistry
    function templateOf(uint256 templateId) external view returns (address verifier, uint64 gasLimit) {
        Template storage t = _templates[templateId];
        return (t.verifier, t.gasLimit);
    }
}
