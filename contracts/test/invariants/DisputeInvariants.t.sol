// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

import {Test} from "forge-std/Test.sol";
import {CommonBase} from "forge-std/Base.sol";
import {StdCheats} from "forge-std/StdCheats.sol";
import {StdUtils} from "forge-std/StdUtils.sol";
import {ModelRegistry} from "../../src/ModelRegistry.sol";
import {InferenceMarket} from "../../src/InferenceMarket.sol";
import {IModelRegistry} from "../../src/interfaces/IModelRegistry.sol";
import {Types} from "../../src/lib/Types.sol";
import {LibMerkle} from "../../src/lib/LibMerkle.sol";
import {MockOperatorVerifier} from "../mocks/MockOperatorVerifier.sol";

/// @notice Drives the market with an honest submitter H, an honest challenger C and three
///         adversaries that respond with wrong traces, challenge with wrong claims (including
///         against themselves and as sybils), reveal contradictory states, stall, and race
///         timeouts. Honest actors always move before time passes (that is their strategy).
contract DisputeHandler is CommonBase, StdCheats, StdUtils {
    uint32 internal constant N = 9;
    uint128 internal constant RB = 1 ether;
    uint128 internal constant CB = 0.3 ether;
    uint256 internal constant FEE = 0.1 ether;
    uint64 internal constant WINDOW = 4 hours;
    uint64 internal constant CLOCK = 1 hours;
    uint64 internal constant PROVING = 2 hours;
    uint256 internal constant NUM_TRACES = 5; // 0 = truth, 1..4 = lies
    uint256 internal constant MAX_REQUESTS = 4;
    uint256 internal constant MAX_GAMES = 12;
    bytes32 internal constant INPUT = bytes32(uint256(42));

    InferenceMarket public market;
    MockOperatorVerifier public mock;
    uint256 public modelId;

    address public requester = makeAddr("requester");
    address public honestSubmitter = makeAddr("H");
    address public honestChallenger = makeAddr("C");
    address[3] public adversaries = [makeAddr("A0"), makeAddr("A1"), makeAddr("A2")];

    bytes32[][NUM_TRACES] internal traces;
    bytes32[NUM_TRACES] internal roots;
    bytes32[] internal modelLeaves;

    uint256[] public requestIds;
    uint256[] public responseIds;
    uint256[] public gameIds;
    mapping(uint256 responseId => uint256) public responseTrace;
    mapping(uint256 gameId => uint256) public challengerTrace;
    mapping(uint256 gameId => uint64) public gameCreatedAt;

    constructor() {
        mock = new MockOperatorVerifier();
        ModelRegistry registry = new ModelRegistry();
        market = new InferenceMarket(IModelRegistry(address(registry)));
        for (uint256 j; j < N; ++j) {
            modelLeaves.push(LibMerkle.leafModel(j, 1000 + j, address(mock)));
        }
        modelId = registry.registerModel(
            LibMerkle.root(modelLeaves), N, 1, "onnx", "prog", Types.GameParams(WINDOW, CLOCK, PROVING, 3, RB, CB)
        );
        // Truth and four lies diverging at steps 0, 3, 7, 8.
        uint32[4] memory div = [uint32(0), 3, 7, 8];
        for (uint256 t; t < NUM_TRACES; ++t) {
            bytes32[] memory s = new bytes32[](N + 1);
            s[0] = INPUT;
            for (uint256 i; i < N; ++i) {
                s[i + 1] = bytes32(mock.next(uint256(s[i]), 1000 + i));
                if (t > 0 && i == div[t - 1]) s[i + 1] = bytes32(uint256(s[i + 1]) ^ (t * 16));
            }
            traces[t] = s;
            roots[t] = LibMerkle.root(_nodes(s));
        }
        vm.deal(requester, 1e6 ether);
        vm.deal(honestSubmitter, 1e6 ether);
        vm.deal(honestChallenger, 1e6 ether);
        for (uint256 i; i < 3; ++i) {
            vm.deal(adversaries[i], 1e6 ether);
        }
    }

    // ---------------------------------------------------------------- helpers

    function _nodes(bytes32[] memory s) internal pure returns (bytes32[] memory n) {
        n = new bytes32[](s.length);
        for (uint256 i; i < s.length; ++i) {
            n[i] = LibMerkle.leafState(s[i]);
        }
    }

    function _open(uint256 t, uint32[] memory pts) internal view returns (bytes32[] memory v, bytes32[][] memory p) {
        bytes32[] memory nodes = _nodes(traces[t]);
        v = new bytes32[](pts.length);
        p = new bytes32[][](pts.length);
        for (uint256 j; j < pts.length; ++j) {
            v[j] = traces[t][pts[j]];
            p[j] = LibMerkle.proof(nodes, pts[j]);
        }
    }

    function actors() external view returns (address[6] memory a) {
        a = [requester, honestSubmitter, honestChallenger, adversaries[0], adversaries[1], adversaries[2]];
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

    function maxGameDuration() external pure returns (uint64) {
        return 2 * CLOCK + PROVING;
    }

    function _pickRequest(uint256 seed) internal view returns (uint256 id, bool ok) {
        if (requestIds.length == 0) return (0, false);
        return (requestIds[seed % requestIds.length], true);
    }

    // ---------------------------------------------------------------- actions

    function newRequest() external {
        if (requestIds.length >= MAX_REQUESTS) return;
        vm.prank(requester);
        requestIds.push(market.requestInference{value: FEE}(modelId, INPUT, "in"));
    }

    function respond(uint256 reqSeed, bool honest, uint256 lieSeed, uint256 advSeed) external {
        (uint256 id, bool ok) = _pickRequest(reqSeed);
        if (!ok || market.getRequest(id).status != Types.RequestStatus.Open) return;
        uint256 t = honest ? 0 : 1 + lieSeed % (NUM_TRACES - 1);
        address who = honest ? honestSubmitter : adversaries[advSeed % 3];
        vm.prank(who);
        market.respond{value: RB}(id, traces[t][N], "out", roots[t], "trace");
        uint256 rid = market.getRequest(id).responseId;
        responseIds.push(rid);
        responseTrace[rid] = t;
    }

    function challenge(uint256 reqSeed, uint256 actorSeed, uint256 traceSeed, bool garbageRoot) external {
        if (gameIds.length >= MAX_GAMES) return;
        (uint256 id, bool ok) = _pickRequest(reqSeed);
        if (!ok || market.getRequest(id).status != Types.RequestStatus.Responded) return;
        Types.Response memory resp = market.getResponse(id);
        if (block.timestamp > resp.challengeDeadline) return;
        uint256 st = responseTrace[market.getRequest(id).responseId];
        address who;
        uint256 t;
        if (actorSeed % 4 == 3) {
            // The honest challenger only disputes wrong outputs, with the truth.
            if (st == 0) return;
            who = honestChallenger;
            t = 0;
        } else {
            // Adversaries (possibly the submitter itself: self-challenge) with any other claim.
            who = actorSeed % 8 == 7 ? resp.submitter : adversaries[actorSeed % 3];
            t = traceSeed % NUM_TRACES;
            if (traces[t][N] == resp.outputCommitment) return;
        }
        // Only adversaries commit a root they cannot open (the honest challenger commits its trace).
        bool junk = garbageRoot && who != honestChallenger;
        vm.prank(who);
        uint256 gameId = market.challenge{value: CB}(id, traces[t][N], junk ? keccak256("junk") : roots[t]);
        gameIds.push(gameId);
        challengerTrace[gameId] = junk ? type(uint256).max : t;
        gameCreatedAt[gameId] = uint64(block.timestamp);
    }

    /// @dev One move by whichever side is to move, from its committed trace, or a
    ///      contradictory reveal (another trace's states), which must revert.
    function move(uint256 gameSeed, bool contradict, uint256 otherTrace) external {
        if (gameIds.length == 0) return;
        uint256 gameId = gameIds[gameSeed % gameIds.length];
        _move(gameId, contradict, otherTrace);
    }

    function _move(uint256 gameId, bool contradict, uint256 otherTrace) internal {
        Types.GameView memory g = market.getGame(gameId);
        if (g.status != Types.GameStatus.InProgress) return;
        if (market.getResponseById(g.responseId).status != Types.ResponseStatus.Pending) return;
        if (g.phase == Types.GamePhase.Proving) {
            _prove(gameId, g);
            return;
        }
        bool subTurn = g.phase == Types.GamePhase.SubmitterReveal;
        uint256 t = subTurn ? responseTrace[g.responseId] : challengerTrace[gameId];
        if (contradict) t = otherTrace % NUM_TRACES;
        if (t == type(uint256).max) return; // garbage root: cannot open anything, stalls
        uint32[] memory pts = market.splitPoints(gameId);
        (bytes32[] memory v, bytes32[][] memory p) = _open(t, pts);
        if (subTurn) {
            vm.prank(g.submitter);
            try market.submitterReveal(gameId, v, p) {} catch {}
        } else {
            (bytes32[] memory sv,) = _open(responseTrace[g.responseId], pts);
            vm.prank(g.challenger);
            try market.challengerReveal(gameId, sv, v, p) {} catch {}
        }
    }

    function _prove(uint256 gameId, Types.GameView memory g) internal {
        bytes32[] memory mp = LibMerkle.proof(modelLeaves, g.lo);
        // Whoever proves does not know in advance which claim is true: try both statements.
        try market.resolveLeaf(gameId, 1000 + g.lo, address(mock), mp, hex"01", false) {}
        catch {
            try market.resolveLeaf(gameId, 1000 + g.lo, address(mock), mp, hex"01", true) {} catch {}
        }
    }

    /// @dev Honest actors act on every game before time passes; then time passes.
    function warp(uint256 secs) external {
        for (uint256 i; i < gameIds.length; ++i) {
            uint256 gameId = gameIds[i];
            // Up to a full game of honest moves (the adversary's replies come via `move`).
            Types.GameView memory g = market.getGame(gameId);
            if (g.status != Types.GameStatus.InProgress) continue;
            bool honestToMove = (g.phase == Types.GamePhase.SubmitterReveal && g.submitter == honestSubmitter)
                || (g.phase == Types.GamePhase.ChallengerReveal && g.challenger == honestChallenger)
                || (g.phase == Types.GamePhase.Proving
                    && (g.submitter == honestSubmitter || g.challenger == honestChallenger));
            if (honestToMove) _move(gameId, false, 0);
        }
        vm.warp(block.timestamp + bound(secs, 1, 90 minutes));
    }

    function claimTimeout(uint256 gameSeed) external {
        if (gameIds.length == 0) return;
        try market.claimTimeout(gameIds[gameSeed % gameIds.length]) {} catch {}
    }

    function cancelGame(uint256 gameSeed) external {
        if (gameIds.length == 0) return;
        try market.cancelGame(gameIds[gameSeed % gameIds.length]) {} catch {}
    }

    function finalize(uint256 reqSeed) external {
        (uint256 id, bool ok) = _pickRequest(reqSeed);
        if (!ok) return;
        try market.finalize(id) {} catch {}
    }

    function cancelRequest(uint256 reqSeed) external {
        (uint256 id, bool ok) = _pickRequest(reqSeed);
        if (!ok) return;
        vm.prank(requester);
        try market.cancelRequest(id) {} catch {}
    }

    /// @dev The honest challenger's one-shot against a published wrong trace.
    function oneShot(uint256 reqSeed) external {
        (uint256 id, bool ok) = _pickRequest(reqSeed);
        if (!ok || market.getRequest(id).status != Types.RequestStatus.Responded) return;
        uint256 t = responseTrace[market.getRequest(id).responseId];
        if (t == 0) return;
        bytes32[] memory s = traces[t];
        bytes32[] memory nodes = _nodes(s);
        for (uint32 d; d < N; ++d) {
            bytes32 post = bytes32(mock.next(uint256(s[d]), 1000 + d));
            if (post == s[d + 1]) continue;
            bytes32[] memory mp = LibMerkle.proof(modelLeaves, d);
            vm.prank(honestChallenger);
            try market.challengeOneShot(
                id,
                d,
                s[d],
                LibMerkle.proof(nodes, d),
                s[d + 1],
                LibMerkle.proof(nodes, d + 1),
                post,
                1000 + d,
                address(mock),
                mp,
                hex"01"
            ) {}
                catch {}
            return;
        }
    }

    function withdraw(uint256 actorSeed) external {
        address[6] memory a = this.actors();
        address who = a[actorSeed % 6];
        if (market.balances(who) == 0) return;
        vm.prank(who);
        market.withdraw();
    }
}

/// @notice Invariants: (a) honest actors never lose a bond, (b) ETH is conserved,
///         (c) no game outlives its clocks.
contract DisputeInvariantsTest is Test {
    DisputeHandler internal handler;
    InferenceMarket internal market;

    function setUp() public {
        handler = new DisputeHandler();
        market = handler.market();
        targetContract(address(handler));
    }

    /// @notice (a) A side playing the true trace never loses its bond.
    function invariant_honestNeverLoses() public view {
        for (uint256 i; i < handler.gameCount(); ++i) {
            uint256 gameId = handler.gameIds(i);
            Types.GameView memory g = market.getGame(gameId);
            if (g.submitter == handler.honestSubmitter()) {
                assertTrue(
                    g.status != Types.GameStatus.ChallengerWon && g.status != Types.GameStatus.BothLost, "H lost"
                );
            }
            if (g.challenger == handler.honestChallenger()) {
                assertTrue(g.status != Types.GameStatus.SubmitterWon && g.status != Types.GameStatus.BothLost, "C lost");
            }
        }
        for (uint256 i; i < handler.responseCount(); ++i) {
            Types.Response memory r = market.getResponseById(handler.responseIds(i));
            if (r.submitter == handler.honestSubmitter()) {
                assertTrue(r.status != Types.ResponseStatus.Disproven, "honest response disproven");
            }
        }
    }

    /// @notice (b) Contract balance == balances owed + escrowed fees + bonds.
    function invariant_ethConserved() public view {
        uint256 owed;
        address[6] memory a = handler.actors();
        for (uint256 i; i < 6; ++i) {
            owed += market.balances(a[i]);
        }
        uint256 escrow;
        for (uint256 i; i < handler.requestCount(); ++i) {
            Types.Request memory r = market.getRequest(handler.requestIds(i));
            if (r.status == Types.RequestStatus.Open || r.status == Types.RequestStatus.Responded) escrow += r.fee;
        }
        for (uint256 i; i < handler.responseCount(); ++i) {
            Types.Response memory r = market.getResponseById(handler.responseIds(i));
            if (r.status == Types.ResponseStatus.Pending) escrow += r.bond;
        }
        for (uint256 i; i < handler.gameCount(); ++i) {
            Types.GameView memory g = market.getGame(handler.gameIds(i));
            if (g.status == Types.GameStatus.InProgress) escrow += g.bond;
        }
        assertEq(address(market).balance, owed + escrow, "ETH conservation");
    }

    /// @notice (c) Every game in progress has a deadline within its total budget, and once it
    ///         passes (or the response fell elsewhere) the game can be closed.
    function invariant_noGameOutlivesItsClocks() public {
        for (uint256 i; i < handler.gameCount(); ++i) {
            uint256 gameId = handler.gameIds(i);
            Types.GameView memory g = market.getGame(gameId);
            if (g.status != Types.GameStatus.InProgress) continue;
            bool pending = market.getResponseById(g.responseId).status == Types.ResponseStatus.Pending;
            if (pending) {
                assertLe(g.turnDeadline, handler.gameCreatedAt(gameId) + handler.maxGameDuration(), "bounded");
            }
            uint256 snap = vm.snapshotState();
            if (pending) {
                vm.warp(uint256(g.turnDeadline) + 1);
                market.claimTimeout(gameId);
            } else {
                market.cancelGame(gameId);
            }
            assertTrue(market.getGame(gameId).status != Types.GameStatus.InProgress, "closable");
            vm.revertToState(snap);
        }
    }
}
