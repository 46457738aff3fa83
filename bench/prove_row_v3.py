"""One markdown row of bench/prove.sh from our prove JSON and EZKL's (empty object: not run)."""

import json
import sys

ours, peer = json.load(open(sys.argv[1])), json.load(open(sys.argv[2]))
model, step, ops, node, peak = sys.argv[3:]
row = (f"| {model} | {step}: {ops} (`{node}`) | {ours['constraints']:,} | {ours['setup_s']:.2f} "
       f"| {ours['prove_s']:.2f} | {peak} |")
if peer:
    t = peer["times_s"]
    row += (f" {peer['num_rows']:,} (2^{peer['logrows']}) | {t['setup']:.2f} | {t['prove']:.2f} "
            f"| {peer['peak_rss_mb']} | {t['prove'] / ours['prove_s']:.1f}x |")
else:
    row += " – | – | – | – | – |"
print(row)
