// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

import {TypesV4} from "./TypesV4.sol";

// Version-4 errors (docs/protocol.md §10). Errors shared with version 3 (`InvalidProof`,
// `NotAFieldElement`, ...) are imported from `lib/Errors.sol`; these are the new ones.

////////////////////////////////////////////////////////////////
//                     TemplateRegistry errors                //
////////////////////////////////////////////////////////////////

/// @notice The template lists differ in length.
error TemplateListMismatch(uint256 ids, uint256 verifiers, uint256 gasLimits);

/// @notice A template id is listed twice.
error DuplicateTemplate(uint256 templateId);

/// @notice A template's verifier has no code.
error TemplateVerifierHasNoCode(uint256 templateId, address verifier);

/// @notice A template's gas budget is 0 or above MAX_VERIFIER_GAS.
error InvalidVerifierGas(uint256 templateId, uint64 gasLimit);

////////////////////////////////////////////////////////////////
//                     ModelRegistryV4 errors                 //
////////////////////////////////////////////////////////////////

/// @notice A model root (operators or layout) is zero.
error ZeroRoot();

/// @notice numSteps is outside [1, MAX_STEPS].
error StepsOutOfBounds(uint32 numSteps);

/// @notice opsPerStep is outside [1, MAX_OPS_PER_STEP].
error OpsPerStepOutOfBounds(uint32 opsPerStep);

/// @notice stateSlots is outside [1, MAX_STATE_SLOTS].
error StateSlotsOutOfBounds(uint32 stateSlots);

/// @notice arity is outside [MIN_ARITY, MAX_ARITY].
error ArityOutOfBounds(uint32 arity);

/// @notice A window or clock is outside its [min, max].
error WindowOutOfBounds(uint64 value, uint64 min, uint64 max);

/// @notice A bond is below the protocol's floor.
error BondBelowFloor(uint128 bond, uint256 floor);

/// @notice The registry's bond floor is zero.
error ZeroBondFloor();

////////////////////////////////////////////////////////////////
//                    InferenceMarketV4 errors                //
////////////////////////////////////////////////////////////////

/// @notice Game `gameId`'s leaf was proven for its challenger: it holds response
///         `responseId`, which nothing but that game's `finishGame` may disprove or void
///         (§10.9: a proven challenger's reward cannot be pre-empted).
error ResponseHeldByGame(uint256 responseId, uint256 gameId);

/// @notice The request already took MAX_RESPONSES responses.
error TooManyResponses(uint256 requestId, uint32 responses);

/// @notice A re-opened request takes its next response only after the block that re-opened it.
error RespondTooEarly(uint256 requestId, uint64 openSince);

/// @notice Only the response's submitter commits its trace.
error NotSubmitter(address caller, address submitter);

/// @notice The response's trace root is already committed.
error TraceAlreadyCommitted(uint256 responseId, bytes32 traceRoot);

/// @notice The trace root must be non-zero.
error ZeroTraceRoot();

/// @notice The response has no trace root yet (`commitTrace` first).
error TraceNotCommitted(uint256 responseId);

/// @notice The game is not in the phase the call needs.
error WrongGamePhase(uint256 gameId, TypesV4.Phase expected, TypesV4.Phase actual);

/// @notice The game is already over.
error GameOver(uint256 gameId, TypesV4.GameStatus status);

/// @notice The call needs the response to be over (disproven or voided).
error ResponseStillPending(uint256 responseId);

/// @notice The response is not pending.
error ResponseNotPendingV4(uint256 responseId, TypesV4.ResponseStatus status);

/// @notice The trace leaf does not open at `index` from the side's trace root.
error InvalidTraceOpening(uint256 index, bytes32 traceLeaf);

/// @notice (state, previous outputs) do not hash to the agreed L_lo.
error NotTheAgreedLeaf(bytes32 expected, bytes32 got);

/// @notice A value does not open from a state or output tree.
error InvalidValueOpening(bytes32 root, uint256 index, uint256 value);

/// @notice The revealed operator outputs do not form the side's P_lo.
error WrongOutputs(bytes32 expected, bytes32 got);

/// @notice Wrong number of revealed operator outputs.
error WrongOutputCount(uint256 expected, uint256 got);

/// @notice An opened state was given by `got` slot values; the model's states have `expected`.
error WrongStateSlotCount(uint256 expected, uint256 got);

/// @notice The operator leaf does not open at `index` from the model root.
error InvalidOperatorLeaf(uint256 index);

/// @notice The leaf statement passed differs from the one `startDescent` fixed (by hash).
error LeafStatementMismatch(bytes32 expected, bytes32 got);

/// @notice The game's leaf is already proven (it awaits `finishGame`): nothing else ends it.
error LeafAlreadyProven(uint256 gameId);

/// @notice The layout leaf does not open at `index` from the layout root.
error InvalidLayoutLeaf(uint256 index, uint256 source);

/// @notice The opened slot equals its source: no assembly fault.
error NoAssemblyFault(uint32 slot, uint256 value);

/// @notice An assembly fault needs both sides' openings (level 2 or later).
error AssemblyNotOpen(uint256 gameId, TypesV4.Phase phase);

/// @notice Wrong number of operator inputs (or their proofs) for the leaf.
error WrongInputCount(uint256 expected, uint256 got);

/// @notice Not enough gas left to give the template verifier its full budget.
error InsufficientVerifierGas(uint256 needed, uint256 left);

/// @notice A binding fault needs index 0 or n.
error NotABindingIndexV4(uint32 index, uint32 numSteps);

/// @notice The opened trace leaf is correctly bound: no binding fault.
error TraceLeafIsBound(uint32 index);

/// @notice The step index is outside [0, n).
error StepOutOfRangeV4(uint32 step, uint32 numSteps);
