// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

import {Types} from "./Types.sol";
import {LibTensorTree} from "./LibTensorTree.sol";
import "./Errors.sol" as Errors;

/// @title LibChunkDescent
/// @notice Level 3 of the version-4 dispute (docs/protocol.md §10.2): the binary descent of two
///         chunk trees of one disputed operator output, down to the first chunk whose digests
///         differ. One `Types.ChunkDescent` in storage per disputed output, so a game contract
///         embeds one per game; this library holds every rule, the embedding contract only
///         passes `block.timestamp`, moves bonds on the outcome and runs the leaf verifier.
/// @dev Call order (every move is permissionless: `side` names whose values are posted, and
///      only that side's committed values can pass the checks):
///      1. `init` with the truth's shape (`outputHeader`, `outputChunks`, from the model leaf)
///         and the two sides' commitments C = PoseidonT3(header, root), C_sub != C_chal.
///      2. `openRoot` by the submitter, then by the challenger: (header, root) must open the
///         side's C. A header other than `outputHeader` loses at once (shapes are static, so
///         the side's C is provably not the output's). The first wrong header ends the game:
///         if the submitter's is wrong the challenger never has to open.
///      3. `revealChildren` by the submitter, then by the challenger, once per level: the two
///         children of the side's current node (`LibTensorTree.checkChildren`). The descent
///         follows the left children if the sides' left children differ, else the right ones.
///      4. At level `depth` = depthOf(outputChunks) the current nodes are the two leaf digests
///         at position j (depth 0: the roots are the digests at j = 0).
///         - j >= outputChunks (padding): the true digest is 0. A side with a non-zero digest
///           loses; both non-zero is BothLost.
///         - otherwise Proving: the embedding contract reads `leaf`, builds the template's
///           public inputs and, once its verifier accepted the digest of the side it names,
///           calls `resolveProven`. After `provingDeadline`, `timeout` gives BothLost.
///      `timeout` ends the game whenever the side to move ran out of clock (it loses), or the
///      proving window passed. Every state-changing call returns the resulting status.
///
///      Invariants (each move below is guarded so they hold):
///      - D1: while the descent is in progress after both roots are open, the sides' current
///        nodes differ: `submitterNode != challengerNode`.
///      - D2: every node the game holds was opened from the same side's previous node (from
///        its commitment, at the root). So an honest side's nodes are nodes of the true tree
///        (PoseidonT3 is collision resistant: no other children open a true node), and a
///        liar is held to whatever tree its commitment binds it to.
///      Together: the descent ends at a position whose two digests differ, at most one of them
///      true; the truth-based leaf (or the padding rule) then pays the side whose digest is
///      true, and a side that stops moving loses on its clock.
///
///      Clocks are the chess clocks of §4: the time from the start of a side's turn to its move
///      is charged to that side; a move is accepted iff that time <= the side's remaining clock.
///      Timestamps are the caller's `block.timestamp` (non-decreasing); windows are validated
///      at registration (§2), not here.
///
///      Events carry no game id: an embedding contract that runs several descents emits its
///      own event with the id from the same call.
library LibChunkDescent {
    /// @notice A descent began: the submitter opens first.
    event DescentStarted(
        uint256 outputHeader,
        uint64 outputChunks,
        uint8 depth,
        uint256 submitterCommitment,
        uint256 challengerCommitment,
        uint64 clockPerSide
    );

    /// @notice `side` opened its commitment into (header, root).
    event DescentRootOpened(Types.Side indexed side, uint256 header, uint256 root);

    /// @notice `side` revealed the children of its node at (level, position).
    event DescentChildrenRevealed(Types.Side indexed side, uint8 level, uint64 position, uint256 left, uint256 right);

    /// @notice Both sides revealed; the descent moved to the (differing) nodes at (level, position).
    event DescentNarrowed(uint8 level, uint64 position, uint256 submitterNode, uint256 challengerNode);

    /// @notice The descent reached leaf `position`. `provingDeadline` is 0 for a padding
    ///         position (resolved at once by the padding rule).
    event DescentLeafReached(
        uint64 position, uint256 submitterDigest, uint256 challengerDigest, uint64 provingDeadline
    );

    /// @notice The descent ended with `status`.
    event DescentResolved(Types.GameStatus status);

    ////////////////////////////////////////////////////////////////
    //                           Moves                            //
    ////////////////////////////////////////////////////////////////

    /// @notice Starts a descent between two different commitments to one operator output.
    /// @param d                    Uninitialised descent (phase None).
    /// @param outputHeader         The output's shape header (from the model leaf), < r.
    /// @param outputChunks         The output's chunk count (from the model leaf), >= 1.
    /// @param submitterCommitment  Submitter's C(Y_o), < r.
    /// @param challengerCommitment Challenger's C(Y_o), < r, != submitterCommitment.
    /// @param clockPerSide         Each side's chess-clock budget, in seconds.
    /// @param provingWindow        Seconds for the leaf proof once a real chunk is reached.
    /// @param timestamp            Now; the submitter's first turn starts here.
    function init(
        Types.ChunkDescent storage d,
        uint256 outputHeader,
        uint64 outputChunks,
        uint256 submitterCommitment,
        uint256 challengerCommitment,
        uint64 clockPerSide,
        uint64 provingWindow,
        uint64 timestamp
    ) internal {
        // INVARIANT: a descent is initialised once.
        if (d.phase != Types.DescentPhase.None) revert Errors.DescentAlreadyStarted(d.phase);
        // INVARIANT: an operator output has at least one chunk (there is a leaf to reach).
        if (outputChunks == 0) revert Errors.ZeroOutputChunks();
        // INVARIANT: the truth's header and both commitments are canonical field elements.
        _requireField(outputHeader);
        _requireField(submitterCommitment);
        _requireField(challengerCommitment);
        // INVARIANT: the sides disagree (D1 at the root rests on it).
        if (submitterCommitment == challengerCommitment) revert Errors.SameCommitments(submitterCommitment);

        // depthOf(outputChunks) <= 64 for a uint64 count.
        uint8 depth = uint8(LibTensorTree.depthOf(outputChunks));
        d.phase = Types.DescentPhase.SubmitterOpen;
        d.status = Types.GameStatus.InProgress;
        d.depth = depth;
        d.turnStartedAt = timestamp;
        d.submitterClock = clockPerSide;
        d.challengerClock = clockPerSide;
        d.outputChunks = outputChunks;
        d.provingWindow = provingWindow;
        d.outputHeader = outputHeader;
        d.submitterCommitment = submitterCommitment;
        d.challengerCommitment = challengerCommitment;

        emit DescentStarted(outputHeader, outputChunks, depth, submitterCommitment, challengerCommitment, clockPerSide);
    }

    /// @notice `side` opens its commitment into (header, root): the submitter first, then the
    ///         challenger.
    /// @dev A header other than `outputHeader` ends the descent at once against `side`.
    ///      After the challenger's opening the descent is at the roots (level 0, position 0),
    ///      or, for a one-chunk output (depth 0), at the leaf.
    /// @param d         Descent in phase SubmitterOpen (side Submitter) or ChallengerOpen.
    /// @param side      Whose commitment is opened; must be the side to move.
    /// @param header    Shape header of the side's tensor, < r.
    /// @param root      Root of the side's chunk tree, < r.
    /// @param timestamp Now.
    /// @return status The status after the move: the other side's win if `header` is wrong,
    ///                else InProgress (a one-chunk output enters Proving: j = 0 is real).
    function openRoot(Types.ChunkDescent storage d, Types.Side side, uint256 header, uint256 root, uint64 timestamp)
        internal
        returns (Types.GameStatus status)
    {
        bool bySubmitter = side == Types.Side.Submitter;
        uint64 elapsed =
            _startMove(d, side, Types.DescentPhase.SubmitterOpen, Types.DescentPhase.ChallengerOpen, timestamp);
        uint256 c = bySubmitter ? d.submitterCommitment : d.challengerCommitment;
        // INVARIANT: D2 at the root: (header, root) opens the side's own commitment (non-field
        //            values revert NotAFieldElement inside `commitment`).
        if (LibTensorTree.commitment(header, root) != c) revert Errors.InvalidRootOpening(side, c, header, root);
        emit DescentRootOpened(side, header, root);

        // INVARIANT: shapes are static (§10.2): a header other than the model leaf's makes the
        //            side's commitment provably not the output's, and the side loses at once.
        if (header != d.outputHeader) {
            return _resolve(d, bySubmitter ? Types.GameStatus.ChallengerWon : Types.GameStatus.SubmitterWon);
        }
        _endTurn(d, side, elapsed, timestamp);
        if (bySubmitter) {
            d.submitterNode = root;
            d.phase = Types.DescentPhase.ChallengerOpen;
            return Types.GameStatus.InProgress;
        }
        d.challengerNode = root;
        // D1 at the root: both headers equal outputHeader and the commitments differ, so the
        // roots differ (equal roots would give equal PoseidonT3(outputHeader, root)).
        if (d.depth == 0) return _atLeaf(d, 0, d.submitterNode, root, timestamp);
        d.phase = Types.DescentPhase.SubmitterReveal;
        return Types.GameStatus.InProgress;
    }

    /// @notice `side` reveals the two children of its current node: the submitter first, then
    ///         the challenger, once per level.
    /// @dev After the challenger's reveal the descent moves one level down: to the left
    ///      children if the sides' left children differ, else to the right ones. At level
    ///      `depth` it is at a leaf: a padding position resolves at once, a real one enters
    ///      Proving.
    /// @param d         Descent in phase SubmitterReveal (side Submitter) or ChallengerReveal.
    /// @param side      Whose node's children are revealed; must be the side to move.
    /// @param left      Left child, < r.
    /// @param right     Right child, < r. node(left, right) must be the side's current node;
    ///                  for a node 0 that means (0, 0).
    /// @param timestamp Now.
    /// @return status The status after the move.
    function revealChildren(
        Types.ChunkDescent storage d,
        Types.Side side,
        uint256 left,
        uint256 right,
        uint64 timestamp
    ) internal returns (Types.GameStatus status) {
        bool bySubmitter = side == Types.Side.Submitter;
        uint64 elapsed =
            _startMove(d, side, Types.DescentPhase.SubmitterReveal, Types.DescentPhase.ChallengerReveal, timestamp);
        uint256 parent = bySubmitter ? d.submitterNode : d.challengerNode;
        // INVARIANT: D2: the children open the side's own current node (non-field values revert
        //            NotAFieldElement). No other pair can pass: the pair's PoseidonT3 would
        //            collide with the true one (node(0, 0) = 0 has no other preimage either).
        if (!LibTensorTree.checkChildren(parent, left, right)) {
            revert Errors.InvalidChildren(side, parent, left, right);
        }
        uint8 level = d.level;
        uint64 position = d.position;
        emit DescentChildrenRevealed(side, level, position, left, right);
        _endTurn(d, side, elapsed, timestamp);

        if (bySubmitter) {
            d.submitterLeft = left;
            d.submitterRight = right;
            d.phase = Types.DescentPhase.ChallengerReveal;
            return Types.GameStatus.InProgress;
        }

        uint256 subLeft = d.submitterLeft;
        uint256 subNode;
        uint256 chalNode;
        // INVARIANT: D1 carries down a level. The parents differ (D1) and node() is a function,
        //            so the child pairs differ: (subLeft, subRight) == (left, right) would give
        //            equal parents. Hence if the left children agree, the right ones differ.
        if (subLeft != left) {
            position = position << 1;
            subNode = subLeft;
            chalNode = left;
        } else {
            position = (position << 1) | 1;
            subNode = d.submitterRight;
            chalNode = right;
        }
        ++level;
        d.level = level;
        d.position = position;
        d.submitterNode = subNode;
        d.challengerNode = chalNode;
        emit DescentNarrowed(level, position, subNode, chalNode);

        if (level == d.depth) return _atLeaf(d, position, subNode, chalNode, timestamp);
        d.phase = Types.DescentPhase.SubmitterReveal;
        return Types.GameStatus.InProgress;
    }

    /// @notice Ends a descent in Proving for the side whose leaf digest the embedding
    ///         contract's verifier just accepted.
    /// @dev The caller must have verified a template proof for the public inputs it built from
    ///      `leaf(d)` with the named side's digest. Truth-based (§4, §10.2): a sound template
    ///      verifier accepts at most one digest for (inputs, j, params), and the two digests
    ///      differ (D1), so only the side whose digest is true can be named successfully.
    /// @param d             Descent in phase Proving.
    /// @param forChallenger True if the accepted digest is the challenger's.
    /// @param timestamp     Now; must be <= provingDeadline.
    /// @return status ChallengerWon if `forChallenger`, else SubmitterWon.
    function resolveProven(Types.ChunkDescent storage d, bool forChallenger, uint64 timestamp)
        internal
        returns (Types.GameStatus status)
    {
        _requirePhase(d, Types.DescentPhase.Proving);
        uint64 deadline = d.provingDeadline;
        // INVARIANT: leaf proofs only within the proving window.
        if (timestamp > deadline) revert Errors.DescentProvingWindowClosed(deadline);
        return _resolve(d, forChallenger ? Types.GameStatus.ChallengerWon : Types.GameStatus.SubmitterWon);
    }

    /// @notice Ends a descent whose side to move ran out of clock (that side loses), or whose
    ///         proving window passed without a proof (BothLost).
    /// @param d         Descent in progress.
    /// @param timestamp Now; must be > `turnDeadline(d)`.
    /// @return status The outcome.
    function timeout(Types.ChunkDescent storage d, uint64 timestamp) internal returns (Types.GameStatus status) {
        Types.DescentPhase phase = d.phase;
        // INVARIANT: only a running descent times out.
        if (phase == Types.DescentPhase.Resolved) revert Errors.DescentNotInProgress(d.status);
        if (phase == Types.DescentPhase.None) {
            revert Errors.WrongDescentPhase(Types.DescentPhase.SubmitterOpen, phase);
        }
        uint64 deadline = turnDeadline(d);
        // INVARIANT: the side to move (or the leaf's prover) ran out of time.
        if (timestamp <= deadline) revert Errors.NoDescentTimeout(deadline);
        if (phase == Types.DescentPhase.Proving) return _resolve(d, Types.GameStatus.BothLost);
        return _resolve(
            d, _mover(phase) == Types.Side.Submitter ? Types.GameStatus.ChallengerWon : Types.GameStatus.SubmitterWon
        );
    }

    ////////////////////////////////////////////////////////////////
    //                            Views                           //
    ////////////////////////////////////////////////////////////////

    /// @notice The leaf the descent stopped at, for the embedding contract's proof check.
    /// @param d Descent in phase Proving.
    /// @return position        Chunk index j (< outputChunks).
    /// @return submitterDigest Submitter's digest of chunk j.
    /// @return challengerDigest Challenger's digest of chunk j (!= submitterDigest).
    function leaf(Types.ChunkDescent storage d)
        internal
        view
        returns (uint64 position, uint256 submitterDigest, uint256 challengerDigest)
    {
        _requirePhase(d, Types.DescentPhase.Proving);
        return (d.position, d.submitterNode, d.challengerNode);
    }

    /// @notice Last timestamp at which the side to move may still move (the proving deadline in
    ///         Proving); after it `timeout` succeeds. 0 before `init` and once resolved.
    /// @param d The descent.
    /// @return deadline The deadline.
    function turnDeadline(Types.ChunkDescent storage d) internal view returns (uint64 deadline) {
        Types.DescentPhase phase = d.phase;
        if (phase == Types.DescentPhase.None || phase == Types.DescentPhase.Resolved) return 0;
        if (phase == Types.DescentPhase.Proving) return d.provingDeadline;
        uint64 clock = _mover(phase) == Types.Side.Submitter ? d.submitterClock : d.challengerClock;
        return d.turnStartedAt + clock;
    }

    ////////////////////////////////////////////////////////////////
    //                          Internals                         //
    ////////////////////////////////////////////////////////////////

    /// @dev The side that moves in `phase` (an Open or Reveal phase).
    function _mover(Types.DescentPhase phase) private pure returns (Types.Side) {
        return phase == Types.DescentPhase.SubmitterOpen || phase == Types.DescentPhase.SubmitterReveal
            ? Types.Side.Submitter
            : Types.Side.Challenger;
    }

    /// @dev Checks that `side` may make this move now (the move is made in `submitterPhase` by
    ///      the submitter, in `challengerPhase` by the challenger); returns the seconds of the
    ///      side's turn used so far.
    function _startMove(
        Types.ChunkDescent storage d,
        Types.Side side,
        Types.DescentPhase submitterPhase,
        Types.DescentPhase challengerPhase,
        uint64 timestamp
    ) private view returns (uint64 elapsed) {
        bool bySubmitter = side == Types.Side.Submitter;
        Types.DescentPhase expected = bySubmitter ? submitterPhase : challengerPhase;
        Types.DescentPhase phase = d.phase;
        if (phase != expected) {
            // INVARIANT: a move is the current phase's, posted for the side whose turn it is.
            if (phase == Types.DescentPhase.Resolved) revert Errors.DescentNotInProgress(d.status);
            if (phase == (bySubmitter ? challengerPhase : submitterPhase)) revert Errors.NotSidesTurn(side);
            revert Errors.WrongDescentPhase(expected, phase);
        }
        uint64 start = d.turnStartedAt;
        uint64 clock = bySubmitter ? d.submitterClock : d.challengerClock;
        elapsed = timestamp - start;
        // INVARIANT: a move is accepted iff the time since its turn began fits the mover's clock.
        if (elapsed > clock) revert Errors.DescentClockExpired(side, start + clock);
    }

    /// @dev Charges `elapsed` to `side`'s clock and starts the next turn at `timestamp`.
    function _endTurn(Types.ChunkDescent storage d, Types.Side side, uint64 elapsed, uint64 timestamp) private {
        if (side == Types.Side.Submitter) d.submitterClock -= elapsed;
        else d.challengerClock -= elapsed;
        d.turnStartedAt = timestamp;
    }

    /// @dev The descent is at leaf `position` with digests `subDigest` and `chalDigest`.
    function _atLeaf(
        Types.ChunkDescent storage d,
        uint64 position,
        uint256 subDigest,
        uint256 chalDigest,
        uint64 timestamp
    ) private returns (Types.GameStatus status) {
        // INVARIANT: subDigest != chalDigest (D1 at the leaf). By induction over the levels:
        //            the roots differ (C_sub != C_chal under one header, and PoseidonT3 is a
        //            function); if two parents differ, their child pairs differ (node() is a
        //            function, so equal pairs would give equal parents) and the descent takes a
        //            differing child. No hardness is needed for this direction. Collision
        //            resistance is what D2 needs: it makes the honest side's digests the true
        //            ones, since no other pair opens a true node. So at most one digest is the
        //            true value of chunk `position`, and the rules below (or the truth-based leaf
        //            proof) can only pay the side holding it. Not re-checked: it cannot fail.
        if (position >= d.outputChunks) {
            emit DescentLeafReached(position, subDigest, chalDigest, 0);
            // INVARIANT: a padding position holds the empty leaf 0 (LibTensorTree), so a side
            //            with a non-zero digest there lied; by D1 at most one digest is 0.
            if (subDigest == 0) return _resolve(d, Types.GameStatus.SubmitterWon);
            if (chalDigest == 0) return _resolve(d, Types.GameStatus.ChallengerWon);
            return _resolve(d, Types.GameStatus.BothLost);
        }
        uint64 deadline = timestamp + d.provingWindow;
        d.phase = Types.DescentPhase.Proving;
        d.provingDeadline = deadline;
        d.turnStartedAt = timestamp;
        emit DescentLeafReached(position, subDigest, chalDigest, deadline);
        return Types.GameStatus.InProgress;
    }

    /// @dev Ends the descent with `outcome`.
    function _resolve(Types.ChunkDescent storage d, Types.GameStatus outcome)
        private
        returns (Types.GameStatus status)
    {
        d.status = outcome;
        d.phase = Types.DescentPhase.Resolved;
        emit DescentResolved(outcome);
        return outcome;
    }

    /// @dev Reverts unless the descent is in `expected` phase.
    function _requirePhase(Types.ChunkDescent storage d, Types.DescentPhase expected) private view {
        Types.DescentPhase phase = d.phase;
        if (phase == expected) return;
        if (phase == Types.DescentPhase.Resolved) revert Errors.DescentNotInProgress(d.status);
        revert Errors.WrongDescentPhase(expected, phase);
    }

    /// @dev Reverts unless `value` is a canonical BN254 scalar-field element.
    function _requireField(uint256 value) private pure {
        // INVARIANT: every committed value is canonical (< r): one encoding per field element.
        if (value >= Types.SNARK_SCALAR_FIELD) revert Errors.NotAFieldElement(bytes32(value));
    }
}
