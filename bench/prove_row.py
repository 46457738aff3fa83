"""One markdown row of bench/prove.sh from our leaf-proof JSON and EZKL's ({}: not run)."""

import json
import sys

ours, peer = json.load(open(sys.argv[1])), json.load(open(sys.argv[2]))
model, node, op, leaves, peak = sys.argv[3:]
leaves = int(leaves)
row = (f"| {model} | `{node}` ({op}) | `{ours['template']}` | {ours['constraints']:,} | {leaves:,} "
       f"| {ours['keys_s']:.2f} | {ours['prove_s']:.2f} | {peak} |")
if "times_s" in peer:
    t = peer["times_s"]
    row += (f" {peer['num_rows']:,} (2^{peer['logrows']}) | {t['setup']:.2f} | {t['prove']:.2f} "
            f"| {peer['peak_rss_mb']} | {t['prove'] / ours['prove_s']:.1f}x "
            f"| {t['prove'] / (ours['prove_s'] * leaves):.2f}x |")
elif "failed" in peer:
    row += f" EZKL did not finish: {peer['failed']} | – | – | – | – | – |"
else:
    row += " – | – | – | – | – | – |"
print(row)
