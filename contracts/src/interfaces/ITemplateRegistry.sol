// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

/// @title ITemplateRegistry
/// @notice The protocol's fixed set of template verifiers (docs/protocol.md §10.3, §10.8):
///         templateId → (verifier, gas budget), set once at deployment, never changed.
interface ITemplateRegistry {
    /// @notice A template was registered (constructor only).
    event TemplateRegistered(uint256 indexed templateId, address verifier, uint64 gasLimit);

    /// @notice The verifier and gas budget of `templateId`; (address(0), 0) if unregistered.
    /// @param templateId Template id, as named by model leaves.
    /// @return verifier The template's ITemplateVerifier.
    /// @return gasLimit Gas the market gives each verification.
    function templateOf(uint256 templateId) external view returns (address verifier, uint64 gasLimit);

    /// @notice Number of registered templates.
    function templateCount() external view returns (uint256);
}
