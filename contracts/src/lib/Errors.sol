// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

import {Types} from "./Types.sol";

////////////////////////////////////////////////////////////////
//                     ModelRegistry errors                   //
////////////////////////////////////////////////////////////////

/// @notice The model root is zero.
error ZeroModelRoot();

/// @notice numSteps is zero or too large (n + 1 trace leaves must fit in uint32).
error InvalidNumSteps(uint32 numSteps);

/// @notice opsPerStep is zero.
error InvalidOpsPerStep(uint32 opsPerStep);

/// @notice The bisection arity is outside [2, MAX_ARITY].
error InvalidArity(uint32 arity);

/// @notice A time window or clock is zero.
error InvalidWindow(uint64 challengeWindow, uint64 clockPerSide, uint64 provingWindow);

/// @notice A bond is zero (every claim must be bonded).
error ZeroBond(uint128 responseBond, uint128 challengerBond);

/// @notice No model with this id.
error UnknownModel(uint256 modelId);

////////////////////////////////////////////////////////////////
//                    InferenceMarket errors                  //
////////////////////////////////////////////////////////////////

/// @notice A request must carry a nonzero fee.
error ZeroFee();

/// @notice A commitment is not a BN254 scalar-field element.
error NotAFieldElement(bytes32 value);

/// @notice No request with this id.
error UnknownRequest(uint256 requestId);

/// @notice The request is not in the status the call needs.
error WrongRequestStatus(uint256 requestId, Types.RequestStatus expected, Types.RequestStatus actual);

/// @notice msg.value differs from the bond required.
error WrongBond(uint256 expected, uint256 got);

/// @notice The response is not pending (already disproven or finalized).
error ResponseNotPending(uint256 responseId, Types.ResponseStatus status);

/// @notice The call needs the response to have been disproven.
error ResponseNotDisproven(uint256 responseId, Types.ResponseStatus status);

/// @notice The challenge window is closed (and no game keeps the response open).
error ChallengeWindowClosed(uint256 requestId, uint64 deadline);

/// @notice The challenge window is still open.
error ChallengeWindowOpen(uint256 requestId, uint64 deadline);

/// @notice Games on the response are still in progress.
error GamesInProgress(uint256 responseId, uint32 openGames);

/// @notice A challenge must claim an output different from the response's.
error ClaimMatchesResponse(bytes32 claimedOutput);

/// @notice Only the requester may do this.
error NotRequester(address caller, address requester);

/// @notice The un-responded request may not be cancelled before `notBefore`.
error CancelTooEarly(uint256 requestId, uint64 notBefore);

/// @notice No game with this id.
error UnknownGame(uint256 gameId);

/// @notice The game is not in the phase the move needs.
error WrongPhase(uint256 gameId, Types.GamePhase expected, Types.GamePhase actual);

/// @notice The game is already resolved.
error GameNotInProgress(uint256 gameId, Types.GameStatus status);

/// @notice The mover's clock ran out; the move comes too late.
error ClockExpired(uint256 gameId, uint64 deadline);

/// @notice Nothing has timed out yet.
error NoTimeout(uint256 gameId, uint64 deadline);

/// @notice The proving window has closed.
error ProvingWindowClosed(uint256 gameId, uint64 deadline);

/// @notice Wrong number of revealed states (or proofs) for this round.
error WrongStateCount(uint256 expected, uint256 got);

/// @notice A revealed state does not open at `index` from the mover's trace root.
error InvalidTraceProof(uint256 index, bytes32 state);

/// @notice The submitter states passed back do not match the stored reveal.
error RevealMismatch(bytes32 expected, bytes32 got);

/// @notice The (opDigest, verifier) leaf does not open at `step` from the model root.
error InvalidModelProof(uint256 step, uint256 opDigest, address verifier);

/// @notice The operator verifier address has no code.
error VerifierHasNoCode(address verifier);

/// @notice A step index is outside [0, numSteps).
error StepOutOfRange(uint32 step, uint32 numSteps);

/// @notice The one-shot proof proves the submitter's own post-state: no fault.
error NoFaultProven(bytes32 postState);

/// @notice A binding fault needs index 0 or numSteps.
error NotABindingIndex(uint32 index, uint32 numSteps);

/// @notice The opened leaf matches what it is bound to: no binding fault.
error LeafIsBound(uint32 index, bytes32 leafValue);

/// @notice Nothing to withdraw.
error NothingToWithdraw(address account);

/// @notice The ETH transfer failed.
error TransferFailed(address to, uint256 amount);

////////////////////////////////////////////////////////////////
//                       Verifier errors                      //
////////////////////////////////////////////////////////////////

/// @notice The proof does not verify (or is malformed) for the given public inputs.
error InvalidProof();

////////////////////////////////////////////////////////////////
//                      Tensor tree errors                    //
////////////////////////////////////////////////////////////////

/// @notice A tensor-tree index is not a position of the tree (it must be < 2**depth).
error TreeIndexOutOfRange(uint256 index, uint256 depth);

/// @notice A tensor-tree proof does not carry exactly `depth` siblings.
error WrongSiblingCount(uint256 expected, uint256 got);

////////////////////////////////////////////////////////////////
//                    Chunk descent errors                    //
////////////////////////////////////////////////////////////////

/// @notice `LibChunkDescent.init` on a descent that was already initialised.
error DescentAlreadyStarted(Types.DescentPhase phase);

/// @notice An operator output has at least one chunk.
error ZeroOutputChunks();

/// @notice The two sides' commitments are equal: there is nothing to dispute.
error SameCommitments(uint256 commitment);

/// @notice The descent is not in the phase the call needs.
error WrongDescentPhase(Types.DescentPhase expected, Types.DescentPhase actual);

/// @notice A move posted for `side` while it is the other side's turn.
error NotSidesTurn(Types.Side side);

/// @notice The descent is already resolved.
error DescentNotInProgress(Types.GameStatus status);

/// @notice The mover's clock ran out at `deadline`; the move comes too late.
error DescentClockExpired(Types.Side side, uint64 deadline);

/// @notice Nothing has timed out yet: the side to move (or the prover) has until `deadline`.
error NoDescentTimeout(uint64 deadline);

/// @notice The leaf's proving window closed at `deadline`.
error DescentProvingWindowClosed(uint64 deadline);

/// @notice (header, root) does not open the side's tensor commitment.
error InvalidRootOpening(Types.Side side, uint256 commitment, uint256 header, uint256 root);

/// @notice (left, right) are not the children of the side's current node `parent`.
error InvalidChildren(Types.Side side, uint256 parent, uint256 left, uint256 right);
