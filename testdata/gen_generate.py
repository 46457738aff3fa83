#!/usr/bin/env python3
"""Verifiable generation: unroll greedy decoding of an encoder-decoder ONNX model into one
ONNX program whose output is the token ids, so that the dispute game's trace covers the
encoder and every decoding step (a dispute can land in any step).

    .venv/bin/python testdata/gen_generate.py SRC.onnx OUT_DIR --start S --eos E [--pad P]
        [--ids decoder_input_ids] [--cases SRC_CASES.json] [--random N] [--check] [--untie SEED]

SRC takes the encoder's inputs and `decoder_input_ids` [B, L] (int64) and returns `logits`
[B, L, V] (a causal decoder: position t's logits depend on ids[:, :t+1] only). The program:

    ids_0 = [start, pad, …, pad]                       (a constant [B, L])
    step t = 0 … L−2:
        logits_t = SRC(encoder inputs, ids_t)         (the decoder nodes, copied per step;
                                                       nodes that do not depend on the ids —
                                                       the encoder — appear once)
        tok_t    = ArgMax(logits_t[:, t, :])          [B, 1] (first maximum on ties)
        tok_t    = Where(done_t, pad, tok_t)          (after end-of-sequence: padding)
        done_t+1 = Or(done_t, Equal(tok_t, eos))
        ids_t+1  = Where(onehot(t+1) [1, L], tok_t, ids_t)
    tokens = ids_{L−1}                                [B, L] int64 (the start token first)

OUT_DIR/model.onnx is the program; OUT_DIR/cases.json holds each case's encoder inputs (from
--cases, the source's tensor-file cases, `decoder_input_ids` dropped) and the tokens of a
plain greedy loop over the source model with ONNX Runtime (one thread, optimisations off).
--random N adds N cases (numpy default_rng(N)) drawn like the source's: a float input normal
with the mean and spread of its values over the source cases, an integer input uniform over
the range seen (an input named *mask* is copied from a source case).
--untie SEED (test models only): random-init models with a tied LM head greedily repeat
their start token forever (the residual stream carries the token's own embedding, and the
tied head scores it highest), which tests nothing; --untie replaces the head's weight (the
logits MatMul's B) by an independent draw of the same shape and spread (numpy default_rng
(SEED), normal), so the tokens depend on the input. --check also runs the unrolled program in ONNX Runtime and requires the same tokens. Byte-
reproducible: node order, names and constants are fixed.
"""
from __future__ import annotations

import argparse
import json
import os
import sys

import numpy as np
import onnx
import onnxruntime as ort
from onnx import TensorProto, helper, numpy_helper


def dependents(graph: onnx.GraphProto, seed: str) -> set[str]:
    """Names of the node outputs that depend on `seed`."""
    dep = {seed}
    for n in graph.node:  # topological order (ONNX requires it)
        if any(i in dep for i in n.input):
            dep.update(o for o in n.output if o)
    return dep


def untie(src: onnx.ModelProto, seed: int) -> None:
    """Replaces the LM head's weight (B of the MatMul producing the logits, an initializer or
    the Transpose of one) by an independent normal draw of the same shape and spread."""
    g = src.graph
    inits = {i.name: i for i in g.initializer}
    prod = {o: n for n in g.node for o in n.output}
    head = prod[g.output[0].name]
    if head.op_type != "MatMul":
        sys.exit(f"--untie: the logits come from {head.op_type}, not MatMul")
    b = head.input[1]
    if b in inits:
        w = numpy_helper.to_array(inits[b])
    elif b in prod and prod[b].op_type == "Transpose" and prod[b].input[0] in inits:
        w = numpy_helper.to_array(inits[prod[b].input[0]]).T
    else:
        sys.exit("--untie: the head's weight is neither an initializer nor its Transpose")
    rng = np.random.default_rng(seed)
    new = (rng.standard_normal(w.shape) * float(w.std())).astype(np.float32)
    g.initializer.append(numpy_helper.from_array(new, "gen/lm_head"))
    head.input[1] = "gen/lm_head"
    # The old head's Transpose and weight, where nothing else reads them.
    used = lambda name: any(name in n.input for n in g.node) or any(o.name == name for o in g.output)
    if b in prod and not used(b):
        w_name = prod[b].input[0]
        g.node.remove(prod[b])
        b = w_name
    if b in inits and not used(b):
        g.initializer.remove(inits[b])


def unroll(src: onnx.ModelProto, ids_name: str, start: int, eos: int, pad: int) -> onnx.ModelProto:
    g = src.graph
    ids_in = next(i for i in g.input if i.name == ids_name)
    dims = [d.dim_value for d in ids_in.type.tensor_type.shape.dim]
    if len(dims) != 2 or not all(dims):
        sys.exit(f"{ids_name} must have a fixed shape [B, L], not {dims}")
    b, length = dims
    logits = g.output[0].name
    dep = dependents(g, ids_name)
    nodes: list[onnx.NodeProto] = []
    inits = list(g.initializer)

    def const(name: str, array: np.ndarray) -> str:
        inits.append(numpy_helper.from_array(array, name))
        return name

    # The nodes that do not read the ids (the encoder), once.
    for n in g.node:
        if not any(o in dep for o in n.output):
            nodes.append(n)
    ids = const("gen/ids_0", np.array([[start] + [pad] * (length - 1)] * b, dtype=np.int64))
    done = const("gen/done_0", np.zeros((b, 1), dtype=bool))
    pad_c = const("gen/pad", np.array(pad, dtype=np.int64))
    eos_c = const("gen/eos", np.array(eos, dtype=np.int64))
    for t in range(length - 1):
        s = f"s{t}/"
        rename = {ids_name: ids}
        for n in g.node:
            if not any(o in dep for o in n.output):
                continue
            m = onnx.NodeProto()
            m.CopyFrom(n)
            m.name = s + (n.name or n.output[0])
            del m.input[:]
            m.input.extend(rename.get(i, i) for i in n.input)
            del m.output[:]
            for o in n.output:
                rename[o] = s + o if o else o
                m.output.append(rename[o])
            nodes.append(m)
        at = const(f"gen/pos_{t}", np.array(t, dtype=np.int64))
        row, tok, tok2 = s + "gen/row", s + "gen/argmax", s + "gen/token"
        nodes += [
            helper.make_node("Gather", [rename[logits], at], [row], name=row, axis=1),
            helper.make_node("ArgMax", [row], [tok], name=tok, axis=1, keepdims=1),
            helper.make_node("Where", [done, pad_c, tok], [tok2], name=tok2),
        ]
        is_eos, done2 = s + "gen/is_eos", f"gen/done_{t + 1}"
        nodes += [
            helper.make_node("Equal", [tok2, eos_c], [is_eos], name=is_eos),
            helper.make_node("Or", [done, is_eos], [done2], name=done2),
        ]
        onehot = np.zeros((1, length), dtype=bool)
        onehot[0, t + 1] = True
        hot = const(f"gen/onehot_{t + 1}", onehot)
        nxt = f"gen/ids_{t + 1}" if t + 2 < length else "tokens"
        nodes.append(helper.make_node("Where", [hot, tok2, ids], [nxt], name=nxt))
        ids, done = nxt, done2
    inputs = [i for i in g.input if i.name != ids_name]
    out = helper.make_tensor_value_info("tokens", TensorProto.INT64, [b, length])
    graph = helper.make_graph(nodes, g.name + "_greedy", inputs, [out], inits)
    model = helper.make_model(graph, opset_imports=list(src.opset_import),
                              producer_name="zkopml-testdata", producer_version="1")
    model.ir_version = src.ir_version
    onnx.checker.check_model(model)
    return model


def session(model: onnx.ModelProto) -> ort.InferenceSession:
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = 1
    opts.inter_op_num_threads = 1
    opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    return ort.InferenceSession(model.SerializeToString(), opts, providers=["CPUExecutionProvider"])


def greedy(sess: ort.InferenceSession, feeds: dict, ids_name: str, shape, start, eos, pad):
    """The reference: a plain greedy loop over the source model."""
    b, length = shape
    ids = np.full((b, length), pad, dtype=np.int64)
    ids[:, 0] = start
    done = np.zeros(b, dtype=bool)
    for t in range(length - 1):
        logits = sess.run(None, {**feeds, ids_name: ids})[0]
        tok = np.argmax(logits[:, t, :], axis=-1)
        tok = np.where(done, pad, tok)
        done |= tok == eos
        ids[:, t + 1] = tok
    return ids


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("src")
    ap.add_argument("out")
    ap.add_argument("--ids", default="decoder_input_ids")
    ap.add_argument("--start", type=int, required=True)
    ap.add_argument("--eos", type=int, required=True)
    ap.add_argument("--pad", type=int, default=0)
    ap.add_argument("--cases", help="the source's cases.json (default: SRC's folder)")
    ap.add_argument("--random", type=int, default=0, metavar="N", help="N more cases drawn like the source's")
    ap.add_argument("--untie", type=int, metavar="SEED", help="test models: an untied random LM head")
    ap.add_argument("--check", action="store_true", help="ORT on the program gives the loop's tokens")
    a = ap.parse_args()
    src = onnx.load(a.src)
    if a.untie is not None:
        untie(src, a.untie)
    model = unroll(src, a.ids, a.start, a.eos, a.pad)
    shape = [d.dim_value for d in next(i for i in src.graph.input if i.name == a.ids).type.tensor_type.shape.dim]
    cases_path = a.cases or os.path.join(os.path.dirname(a.src), "cases.json")
    with open(cases_path) as f:
        src_cases = json.load(f)["cases"]
    types = {i.name: i.type.tensor_type.elem_type for i in src.graph.input}
    np_type = {TensorProto.FLOAT: np.float32, TensorProto.INT64: np.int64, TensorProto.INT32: np.int32}
    rng = np.random.default_rng(a.random)
    for k in range(a.random):
        base = src_cases[k % len(src_cases)]["inputs"]
        new = {}
        for name, v in base.items():
            if name == a.ids:
                continue
            seen = np.array([x for c in src_cases for x in c["inputs"][name]["data"]])
            if "mask" in name:
                data = v["data"]
            elif types[name] == TensorProto.FLOAT:
                draw = rng.normal(seen.mean(), seen.std(), size=len(v["data"])).astype(np.float32)
                data = [float(x) for x in draw]
            else:
                data = [float(x) for x in rng.integers(int(seen.min()), int(seen.max()) + 1, size=len(v["data"]))]
            new[name] = {"shape": v["shape"], "data": data}
        src_cases.append({"inputs": new})
    ref, prog = session(src), session(model) if a.check else None
    cases = []
    for c in src_cases:
        inputs = {k: v for k, v in c["inputs"].items() if k != a.ids}
        feeds = {k: np.array(v["data"], dtype=np_type[types[k]]).reshape(v["shape"]) for k, v in inputs.items()}
        tokens = greedy(ref, feeds, a.ids, shape, a.start, a.eos, a.pad)
        if prog is not None:
            got = prog.run(None, feeds)[0]
            if not np.array_equal(got, tokens):
                sys.exit(f"the unrolled program's tokens {got.tolist()} differ from the loop's {tokens.tolist()}")
        cases.append({"inputs": inputs,
                      "outputs": {"tokens": {"shape": list(tokens.shape), "data": [float(v) for v in tokens.ravel()]}}})
    os.makedirs(a.out, exist_ok=True)
    onnx.save(model, os.path.join(a.out, "model.onnx"))
    with open(os.path.join(a.out, "cases.json"), "w") as f:
        json.dump({"cases": cases}, f, separators=(",", ":"))
        f.write("\n")
    steps = shape[1] - 1
    print(f"{a.out}: {len(model.graph.node)} nodes ({steps} decoding steps), {len(cases)} cases, "
          f"tokens of case 0: {cases[0]['outputs']['tokens']['data'] if cases else []}")


if __name__ == "__main__":
    main()
