// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

import {Test} from "forge-std/Test.sol";
import {Types} from "../../../src/lib/Types.sol";
import {InferenceMarketV4} from "../../../src/v4/InferenceMarketV4.sol";
import {TypesV4} from "../../../src/v4/lib/TypesV4.sol";
import {MarketV4Fixture, V4Model} from "../utils/MarketV4Fixture.sol";
import {MockTemplate} from "../mocks/MockTemplateVerifier.sol";

/// @notice Drives the version-4 market with an honest submitter H, an honest challenger C, a
///         requester that sometimes poses as a (lying) challenger, and three adversaries that
///         respond with traces lying at every level (level 1 junk, binding, assembly, chunk at
///         a real or a padding position, header), challenge with lies (themselves included),
///         stall at any move, disprove their own responses and re-respond. Honest actors move
///         before time passes (their strategy), and C challenges every wrong response.
contract V4Handler is MarketV4Fixture {
    uint32 internal constant STEPS = 5;
    uint256 internal constant MAX_REQUESTS = 3;
    uint256 internal constant MAX_GAMES = 8;
    uint256 internal constant START = 1e6 ether;

    uint256 public modelId;
    address public honestSubmitter = makeAddr("H");
    address public honestChallenger = makeAddr("C");
    address[3] public adversaries = [makeAddr("A0"), makeAddr("A1"), makeAddr("A2")];

    /// @dev Trace 0 is the truth; the others lie at every level.
    V4Model.Lie[] internal lies;

    uint256[] public requestIds;
    uint256[] public responseIds;
    uint256[] public gameIds;
    mapping(uint256 responseId => uint256 trace) public responseTrace;
    mapping(uint256 gameId => uint256 trace) public challengerTrace;
    /// @notice Leaves proven, and proven leaves applied by `finishGame` (coverage, logged).
    uint256 public provenLeaves;
    uint256 public finishedGames;

    constructor() {
        setUp();
        modelId = _register(STEPS, 3);
        lies.push(V4Model.Lie(V4Model.LieKind.None, 0, 0, 0));
        lies.push(V4Model.Lie(V4Model.LieKind.Junk, 3, 0, 0));
        lies.push(V4Model.Lie(V4Model.LieKind.Output, 0, 0, 0));
        lies.push(V4Model.Lie(V4Model.LieKind.Assembly, 2, 1, 0));
        lies.push(V4Model.Lie(V4Model.LieKind.Chunk, 1, 1, 3));
        lies.push(V4Model.Lie(V4Model.LieKind.Chunk, 4, 1, 6)); // padding
        lies.push(V4Model.Lie(V4Model.LieKind.Header, 0, 2, 0));
        address[6] memory a = actors();
        for (uint256 i; i < a.length; ++i) {
            vm.deal(a[i], START);
        }
    }

    function actors() public view returns (address[6] memory) {
        return [requester, honestSubmitter, honestChallenger, adversaries[0], adversaries[1], adversaries[2]];
    }

    function gameCount() external view returns (uint256) {
        return gameIds.length;
    }

    function requestCount() external view returns (uint256) {
        return requestIds.length;
    }

    function responseCount() external view returns (uint256) {
        return responseIds.length;
    }

    /// @dev Traces built once per handler call (building one costs a few million gas).
    struct Cache {
        V4Model.Trace[] traces;
        bool[] built;
    }

    function _cache() internal view returns (Cache memory c) {
        c.traces = new V4Model.Trace[](lies.length);
        c.built = new bool[](lies.length);
    }

    function _get(Cache memory c, uint256 t) internal view returns (V4Model.Trace memory) {
        if (!c.built[t]) {
            c.traces[t] = V4Model.build(STEPS, lies[t]);
            c.built[t] = true;
        }
        return c.traces[t];
    }

    function _trace(uint256 t) internal view returns (V4Model.Trace memory) {
        return V4Model.build(STEPS, lies[t]);
    }

    /// @notice The market under test (for the invariants; not a fuzzed action).
    function marketAddress() external view returns (address) {
        return address(market);
    }

    function _isAdversary(address a) internal view returns (bool) {
        return a == adversaries[0] || a == adversaries[1] || a == adversaries[2];
    }

    // ------------------------------------------------------------ actions

    function newRequest() external {
        if (requestIds.length >= MAX_REQUESTS) return;
        bytes32 s0 = V4Model.honest(STEPS).S[0];
        vm.prank(requester);
        requestIds.push(market.requestInference{value: FEE}(modelId, s0, "in"));
    }

    function respond(uint256 reqSeed, bool honest, uint256 lieSeed, uint256 advSeed) external {
        if (requestIds.length == 0) return;
        uint256 id = requestIds[reqSeed % requestIds.length];
        TypesV4.Request memory r = market.getRequest(id);
        if (r.status != TypesV4.RequestStatus.Open || r.responseCount >= TypesV4.MAX_RESPONSES) return;
        if (r.responseCount != 0 && block.timestamp <= r.openSince) return;
        uint256 t = honest ? 0 : 1 + lieSeed % (lies.length - 1);
        address who = honest ? honestSubmitter : adversaries[advSeed % 3];
        bytes32 out = _trace(t).claimed;
        vm.prank(who);
        market.respond{value: RESPONSE_BOND}(id, out, "out");
        uint256 rid = market.getRequest(id).responseId;
        responseIds.push(rid);
        responseTrace[rid] = t;
    }

    /// @dev An adversary (or the requester posing as one, or the submitter itself) challenges
    ///      with any other claim.
    function challenge(uint256 reqSeed, uint256 actorSeed, uint256 traceSeed) external {
        if (gameIds.length >= MAX_GAMES || requestIds.length == 0) return;
        uint256 id = requestIds[reqSeed % requestIds.length];
        if (market.getRequest(id).status != TypesV4.RequestStatus.Responded) return;
        TypesV4.Response memory resp = market.getResponse(market.getRequest(id).responseId);
        if (block.timestamp > resp.challengeDeadline) return;
        uint256 t = traceSeed % lies.length;
        address who = actorSeed % 5 == 4 ? requester : actorSeed % 5 == 3 ? resp.submitter : adversaries[actorSeed % 3];
        if (who == honestSubmitter) who = adversaries[0];
        _challengeAs(id, who, t, resp.outputCommitment);
    }

    function _challengeAs(uint256 id, address who, uint256 t, bytes32 responded) internal {
        V4Model.Trace memory tr = _trace(t);
        if (tr.claimed == responded) return;
        bytes32 root = V4Model.traceRoot(tr);
        vm.prank(who);
        uint256 gameId = market.challenge{value: CHALLENGER_BOND}(id, tr.claimed, root);
        gameIds.push(gameId);
        challengerTrace[gameId] = t;
    }

    /// @dev One move of whoever is to move in a game (adversaries may also stall: `stall`).
    function move(uint256 gameSeed, bool stall) external {
        if (gameIds.length == 0 || stall) return;
        _step(gameIds[gameSeed % gameIds.length], _cache());
    }

    /// @dev An adversary submitter disproves its own response (binding fault) from another
    ///      address, when its committed trace allows it.
    function selfDisprove(uint256 respSeed, uint256 advSeed) external {
        if (responseIds.length == 0) return;
        uint256 rid = responseIds[respSeed % responseIds.length];
        TypesV4.Response memory resp = market.getResponse(rid);
        if (resp.status != TypesV4.ResponseStatus.Pending || !_isAdversary(resp.submitter)) return;
        if (lies[responseTrace[rid]].kind != V4Model.LieKind.Output) return;
        V4Model.Trace memory t = _trace(responseTrace[rid]);
        if (resp.traceRoot == bytes32(0)) {
            bytes32 root = V4Model.traceRoot(t);
            vm.prank(resp.submitter);
            market.commitTrace(resp.requestId, root);
        }
        bytes32[] memory proof = V4Model.traceProof(t, STEPS);
        vm.prank(adversaries[advSeed % 3]);
        try market.proveBindingFault(resp.requestId, STEPS, t.S[STEPS], t.P[STEPS - 1], proof) {} catch {}
    }

    /// @dev Honest actors act on every game (and C on every wrong response) before time passes.
    function warp(uint256 secs) external {
        _honestActs();
        vm.warp(block.timestamp + bound(secs, 1, 40 minutes));
    }

    function claimTimeout(uint256 gameSeed) external {
        if (gameIds.length == 0) return;
        _honestActs();
        try market.claimTimeout(gameIds[gameSeed % gameIds.length]) {} catch {}
    }

    function cancelGame(uint256 gameSeed) external {
        if (gameIds.length == 0) return;
        try market.cancelGame(gameIds[gameSeed % gameIds.length]) {} catch {}
    }

    function finalize(uint256 reqSeed) external {
        if (requestIds.length == 0) return;
        _honestActs();
        try market.finalize(requestIds[reqSeed % requestIds.length]) {} catch {}
    }

    function cancelRequest(uint256 reqSeed) external {
        if (requestIds.length == 0) return;
        vm.prank(requester);
        try market.cancelRequest(requestIds[reqSeed % requestIds.length]) {} catch {}
    }

    function withdraw(uint256 actorSeed) external {
        address who = actors()[actorSeed % 6];
        if (market.balances(who) == 0) return;
        vm.prank(who);
        market.withdraw();
    }

    // ------------------------------------------------------------ honest strategy

    function _honestActs() internal {
        Cache memory c = _cache();
        for (uint256 i; i < requestIds.length; ++i) {
            TypesV4.Request memory r = market.getRequest(requestIds[i]);
            if (r.status != TypesV4.RequestStatus.Responded) continue;
            TypesV4.Response memory resp = market.getResponse(r.responseId);
            if (responseTrace[r.responseId] == 0 || block.timestamp > resp.challengeDeadline) continue;
            if (_challengedByC[r.responseId] || gameIds.length >= MAX_GAMES + 4) continue;
            _challengedByC[r.responseId] = true;
            _challengeAs(requestIds[i], honestChallenger, 0, resp.outputCommitment);
        }
        for (uint256 i; i < gameIds.length; ++i) {
            for (uint256 k; k < 4 && _honestToMove(gameIds[i]); ++k) {
                _step(gameIds[i], c);
            }
        }
    }

    mapping(uint256 responseId => bool) internal _challengedByC;

    function _honestToMove(uint256 gameId) internal view returns (bool) {
        TypesV4.Game memory g = market.getGame(gameId);
        if (g.status != TypesV4.GameStatus.InProgress) return false;
        TypesV4.Response memory resp = market.getResponse(g.responseId);
        if (resp.status != TypesV4.ResponseStatus.Pending) return false;
        bool hSub = resp.submitter == honestSubmitter;
        bool hChal = g.challenger == honestChallenger;
        if (!hSub && !hChal) return false;
        TypesV4.Phase p = g.phase;
        if (p == TypesV4.Phase.AssemblyProving || p == TypesV4.Phase.DescentStart) return true;
        if (p == TypesV4.Phase.Descent) {
            Types.DescentPhase d = market.getDescent(gameId).phase;
            // The leaf is to prove, or proven and its outcome to apply (`finishGame`).
            if (d == Types.DescentPhase.Proving || d == Types.DescentPhase.Resolved) return true;
            bool subMoves = d == Types.DescentPhase.SubmitterOpen || d == Types.DescentPhase.SubmitterReveal;
            return subMoves ? hSub : hChal;
        }
        bool subMovesL = p == TypesV4.Phase.SubmitterReveal || p == TypesV4.Phase.SubmitterOpenStep
            || p == TypesV4.Phase.SubmitterOps;
        return subMovesL ? hSub : hChal;
    }

    /// @dev One move from the mover's own trace (or the proof, by a third party).
    function _step(uint256 gameId, Cache memory c) internal {
        TypesV4.Game memory g = market.getGame(gameId);
        if (g.status != TypesV4.GameStatus.InProgress) return;
        if (market.getResponse(g.responseId).status != TypesV4.ResponseStatus.Pending) return;
        V4Model.Trace memory sub = _get(c, responseTrace[g.responseId]);
        V4Model.Trace memory chal = _get(c, challengerTrace[gameId]);
        _lastGame = gameId;
        if (g.phase == TypesV4.Phase.Descent && market.getDescent(gameId).phase == Types.DescentPhase.Resolved) {
            // The leaf was proven: its outcome is applied by anyone, at any time.
            market.finishGame(gameId);
            ++finishedGames;
            return;
        }
        if (block.timestamp > market.turnDeadline(gameId)) return;
        if (g.phase == TypesV4.Phase.AssemblyProving) {
            (bool sf,) = V4Model.assemblyFault(sub, g.lo);
            (bool cf,) = V4Model.assemblyFault(chal, g.lo);
            if (sf || cf) _proveAssembly(gameId, g, sub, chal, STEPS);
            return;
        }
        if (g.phase == TypesV4.Phase.DescentStart) {
            market.startDescent(gameId, V4Model.op(g.lo, g.opPosition), _opProof(STEPS, g.lo, g.opPosition));
            return;
        }
        if (g.phase == TypesV4.Phase.Descent) {
            Types.ChunkDescent memory d = market.getDescent(gameId);
            if (d.phase == Types.DescentPhase.Proving) {
                _proveLeafIfPossible(gameId, g, sub, d);
                return;
            }
            _descentMove(gameId, g, sub, chal, Types.Side.Submitter, NEVER);
            return;
        }
        bool stuck = (g.phase == TypesV4.Phase.SubmitterOpenStep && !V4Model.opens(sub, g.hi))
            || (g.phase == TypesV4.Phase.ChallengerOpenStep && !V4Model.opens(chal, g.hi));
        if (stuck) return;
        _levelMove(gameId, g, sub, chal);
    }

    function _proveLeafIfPossible(
        uint256 gameId,
        TypesV4.Game memory g,
        V4Model.Trace memory sub,
        Types.ChunkDescent memory d
    ) internal {
        TypesV4.OperatorLeaf memory l = V4Model.op(g.lo, g.opPosition);
        (uint256[] memory inputs, bytes32[][] memory proofs) = _inputs(l, sub, g.lo);
        TypesV4.LeafStatement memory st = _statement(l);
        try market.resolveLeaf(
            gameId, st, inputs, proofs, PROOF, d.challengerNode != d.submitterNode && _chalTrue(l, inputs, d)
        ) {
            ++provenLeaves;
        } catch {}
    }

    function _chalTrue(TypesV4.OperatorLeaf memory l, uint256[] memory inputs, Types.ChunkDescent memory d)
        internal
        pure
        returns (bool)
    {
        return d.challengerNode == MockTemplate.digest(V4Model.head(l, inputs, d.position));
    }
}

/// @notice The version-4 invariants: honest actors never lose; ETH is conserved (balance =
///         credits + escrowed fees + bonds + burned); the adversaries together never profit;
///         the requester never profits (from BothLost or anything else).
/// forge-config: default.invariant.runs = 24
/// forge-config: default.invariant.depth = 40
contract MarketV4InvariantsTest is Test {
    V4Handler internal handler;
    InferenceMarketV4 internal market;

    function setUp() public {
        handler = new V4Handler();
        market = InferenceMarketV4(handler.marketAddress());
        targetContract(address(handler));
        bytes4[] memory selectors = new bytes4[](11);
        selectors[0] = V4Handler.newRequest.selector;
        selectors[1] = V4Handler.respond.selector;
        selectors[2] = V4Handler.challenge.selector;
        selectors[3] = V4Handler.move.selector;
        selectors[4] = V4Handler.selfDisprove.selector;
        selectors[5] = V4Handler.warp.selector;
        selectors[6] = V4Handler.claimTimeout.selector;
        selectors[7] = V4Handler.cancelGame.selector;
        selectors[8] = V4Handler.finalize.selector;
        selectors[9] = V4Handler.cancelRequest.selector;
        selectors[10] = V4Handler.withdraw.selector;
        targetSelector(FuzzSelector({addr: address(handler), selectors: selectors}));
    }

    /// @notice A side playing the true trace never loses a game, and an honest response is
    ///         never disproven.
    function invariant_honestNeverLoses() public view {
        for (uint256 i; i < handler.gameCount(); ++i) {
            TypesV4.Game memory g = market.getGame(handler.gameIds(i));
            if (g.status == TypesV4.GameStatus.InProgress && g.phase == TypesV4.Phase.Descent) {
                // A proven leaf already decided the game (`finishGame` not sent yet): judge that.
                Types.ChunkDescent memory d = market.getDescent(handler.gameIds(i));
                if (d.phase == Types.DescentPhase.Resolved) g.status = TypesV4.GameStatus(uint8(d.status));
            }
            TypesV4.Response memory r = market.getResponse(g.responseId);
            if (r.submitter == handler.honestSubmitter()) {
                assertTrue(
                    g.status != TypesV4.GameStatus.ChallengerWon && g.status != TypesV4.GameStatus.BothLost, "H lost"
                );
            }
            if (g.challenger == handler.honestChallenger()) {
                assertTrue(
                    g.status != TypesV4.GameStatus.SubmitterWon && g.status != TypesV4.GameStatus.BothLost, "C lost"
                );
            }
        }
        for (uint256 i; i < handler.responseCount(); ++i) {
            TypesV4.Response memory r = market.getResponse(handler.responseIds(i));
            if (r.submitter == handler.honestSubmitter()) {
                assertTrue(r.status != TypesV4.ResponseStatus.Disproven, "honest response disproven");
            }
        }
    }

    /// @notice Coverage: how many proven leaves `finishGame` applied in the run.
    function afterInvariant() public {
        emit log_named_uint("leaves proven", handler.provenLeaves());
        emit log_named_uint("games finished after a proven leaf", handler.finishedGames());
    }

    /// @notice Contract balance == credits owed + escrowed fees + bonds + burned.
    function invariant_ethConserved() public view {
        uint256 owed;
        address[6] memory a = handler.actors();
        for (uint256 i; i < 6; ++i) {
            owed += market.balances(a[i]);
        }
        uint256 escrow;
        for (uint256 i; i < handler.requestCount(); ++i) {
            TypesV4.Request memory r = market.getRequest(handler.requestIds(i));
            if (r.status == TypesV4.RequestStatus.Open || r.status == TypesV4.RequestStatus.Responded) escrow += r.fee;
        }
        for (uint256 i; i < handler.responseCount(); ++i) {
            TypesV4.Response memory r = market.getResponse(handler.responseIds(i));
            if (r.status == TypesV4.ResponseStatus.Pending) escrow += r.bond;
        }
        for (uint256 i; i < handler.gameCount(); ++i) {
            TypesV4.Game memory g = market.getGame(handler.gameIds(i));
            if (g.status == TypesV4.GameStatus.InProgress) escrow += g.bond;
        }
        assertEq(address(market).balance, owed + escrow + market.burned(), "ETH conservation");
    }

    function _wealth(address a) internal view returns (uint256) {
        return a.balance + market.balances(a);
    }

    /// @notice The adversaries together (self-disproof, self-challenge, sybils, squatting)
    ///         never end up with more than they started with.
    function invariant_liarNeverProfits() public view {
        uint256 total;
        for (uint256 i; i < 3; ++i) {
            total += _wealth(handler.adversaries(i));
        }
        // Escrowed bonds of adversaries are still theirs at best: count them as recoverable.
        for (uint256 i; i < handler.responseCount(); ++i) {
            TypesV4.Response memory r = market.getResponse(handler.responseIds(i));
            if (r.status == TypesV4.ResponseStatus.Pending && _isAdv(r.submitter)) total += r.bond;
        }
        for (uint256 i; i < handler.gameCount(); ++i) {
            TypesV4.Game memory g = market.getGame(handler.gameIds(i));
            if (g.status == TypesV4.GameStatus.InProgress && _isAdv(g.challenger)) total += g.bond;
        }
        assertLe(total, 3 * 1e6 ether, "the adversaries profited");
    }

    /// @notice The requester (who sometimes poses as a challenger) never ends up with more
    ///         than it started with, except the disproof reward of each game it won as a
    ///         challenger (a requester that disproves a wrong response did the challenger's
    ///         work): BothLost, games it lost and cancelled games pay it nothing.
    function invariant_requesterNeverProfitsFromBothLost() public view {
        address requester = handler.actors()[0];
        uint256 earned;
        for (uint256 i; i < handler.gameCount(); ++i) {
            TypesV4.Game memory g = market.getGame(handler.gameIds(i));
            if (g.challenger == requester && g.status == TypesV4.GameStatus.ChallengerWon) {
                earned += market.getResponse(g.responseId).bond * TypesV4.DISPROOF_REWARD_BPS / 10_000;
            }
        }
        uint256 total = _wealth(requester);
        for (uint256 i; i < handler.requestCount(); ++i) {
            TypesV4.Request memory r = market.getRequest(handler.requestIds(i));
            if (r.status == TypesV4.RequestStatus.Open || r.status == TypesV4.RequestStatus.Responded) total += r.fee;
        }
        for (uint256 i; i < handler.gameCount(); ++i) {
            TypesV4.Game memory g = market.getGame(handler.gameIds(i));
            if (g.status == TypesV4.GameStatus.InProgress && g.challenger == requester) total += g.bond;
        }
        assertLe(total, 1e6 ether + earned, "the requester profited beyond its disproof rewards");
    }

    function _isAdv(address a) internal view returns (bool) {
        return a == handler.adversaries(0) || a == handler.adversaries(1) || a == handler.adversaries(2);
    }
}
