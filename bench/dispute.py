"""Dispute time and cost per model, measured by the real demo on anvil.

Runs `zkopml demo --json` (a defective response at the middle step, a challenger that wins it,
then an honest response that finalises) and reports: steps, bisection moves, the gas of every
dispute transaction, the leaf's proving time, the dispute's measured wall time, and the total
computed the way the predecessor's table did: challenge window + moves × response window +
proving (120 s and 30 s, the predecessor's clock settings).

Usage: python3 bench/dispute.py MODEL [extra demo flags, e.g. --arity 16 or --one-shot]
Prints one JSON object (raw demo output lands in bench/out/).
"""

import json
import os
import re
import subprocess
import sys

CHALLENGE_WINDOW, RESPONSE_WINDOW = 120, 30
PREDECESSOR = {"dnn": 361, "lenet5": 494, "conv2d": 566, "mobilenet_v2": 1115}

root = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
model, flags = sys.argv[1], sys.argv[2:]
tag = "-".join([model] + [f.lstrip("-") for f in flags])
cmd = [os.path.join(root, "target/release/zkopml"), "demo", "--json", "--model", model,
       "--challenge-window", "20", *flags]
out = subprocess.run(cmd, cwd=root, check=True, capture_output=True, text=True).stdout
os.makedirs(os.path.join(root, "bench/out"), exist_ok=True)
open(os.path.join(root, f"bench/out/dispute-{tag}.json"), "w").write(out)
demo = json.loads(out)

txs = [e for e in demo["timeline"] if e["gas"] is not None]
dispute = [e for e in txs if re.search(r"game \d+|one-shot|challenge response", e["what"])]
moves = [e for e in dispute if "reveal" in e["what"]]
proofs = [float(m.group(1)) for e in demo["timeline"]
          if (m := re.search(r"proved step \d+ in ([\d.]+) s", e["what"]))]
proving = max(proofs) if proofs else 0.0
phases = dict(demo["phases"])
dispute_wall = next((v for k, v in phases.items() if "defect" in k or "dispute" in k), None)
one_shot = any("one-shot" in e["what"] for e in dispute)
total = CHALLENGE_WINDOW + len(moves) * RESPONSE_WINDOW + proving
print(json.dumps({
    "model": model,
    "flags": flags,
    "steps": demo["steps"],
    "challenger_won": demo["challenger_won"],
    "honest_final": demo["honest_final"],
    "moves": len(moves),
    "one_shot": one_shot,
    "proving_s": proving,
    "dispute_wall_s": dispute_wall,
    "predecessor_formula_s": round(total, 1),
    "predecessor_s": PREDECESSOR.get(model),
    "dispute_txs": [{"actor": e["actor"], "what": e["what"], "gas": e["gas"]} for e in dispute],
    "phases": phases,
}, indent=1))
