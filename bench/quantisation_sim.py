"""What each part of the fixed-point quantisation costs mobilenet_v2, simulated in ONNX Runtime.

Rounds the model's Conv/Gemm weights to 15 significant bits per tensor (program version 3's
`weight_frac_bits`) or to 2^-12, the biases to 2^-12 or not at all, and inserts
`Mul(2^12) -> Round -> Mul(2^-12)` after every Conv/Gemm/MatMul/Add/GlobalAveragePool to
round activations; then compares top-1 and max abs error with the float references on the
100 fidelity inputs. A float simulation (ORT's Round is half-to-even), not our kernels:
docs/fidelity.md has the table and the engine's own figures.

Usage: .venv/bin/python bench/quantisation_sim.py   (needs testdata/mobilenet_v2 generated)
"""

import numpy as np
import onnx
import onnxruntime as ort
from onnx import helper, numpy_helper

DIR = "testdata/mobilenet_v2"


def weight_bits(a):
    mx = float(np.abs(a).max())
    if mx == 0:
        return 12
    e = int(np.floor(np.log2(mx))) + 1
    return min(max(15 - e, 12), 24)


def rounded(a, bits):
    return (np.round(a * 2.0**bits) / 2.0**bits).astype(np.float32)


def build(per_tensor_weights, round_bias, round_activations):
    m = onnx.load(f"{DIR}/model.onnx")
    inits = {i.name: i for i in m.graph.initializer}
    weights, biases = set(), set()
    for n in m.graph.node:
        if n.op_type in ("Conv", "Gemm", "MatMul"):
            weights.add(n.input[1])
            if len(n.input) > 2:
                biases.add(n.input[2])
    for name in weights:
        a = numpy_helper.to_array(inits[name])
        bits = weight_bits(a) if per_tensor_weights else 12
        inits[name].CopyFrom(numpy_helper.from_array(rounded(a, bits), name))
    if round_bias:
        for name in biases:
            a = numpy_helper.to_array(inits[name])
            inits[name].CopyFrom(numpy_helper.from_array(rounded(a, 12), name))
    if round_activations:
        m.graph.initializer.extend(
            [
                numpy_helper.from_array(np.array(4096.0, np.float32), "_scale"),
                numpy_helper.from_array(np.array(1 / 4096.0, np.float32), "_inv"),
            ]
        )
        nodes = []
        for n in m.graph.node:
            nodes.append(n)
            if n.op_type in ("Conv", "Gemm", "MatMul", "GlobalAveragePool", "Add"):
                out = n.output[0]
                raw = out + "_raw"
                n.output[0] = raw
                nodes += [
                    helper.make_node("Mul", [raw, "_scale"], [raw + "_s"]),
                    helper.make_node("Round", [raw + "_s"], [raw + "_r"]),
                    helper.make_node("Mul", [raw + "_r", "_inv"], [out]),
                ]
        del m.graph.node[:]
        m.graph.node.extend(nodes)
    return m


def main():
    base = onnx.load(f"{DIR}/model.onnx")
    inp = base.graph.input[0]
    shape = [d.dim_value for d in inp.type.tensor_type.shape.dim]
    x = np.fromfile(f"{DIR}/fidelity.inputs.f32", dtype=np.float32).reshape([100] + shape[1:])
    x = rounded(x, 12)
    ref = np.fromfile(f"{DIR}/fidelity.outputs.f32", dtype=np.float32).reshape(100, -1)
    print("| weights | biases | activations | top-1 | max abs error |")
    print("|---|---|---|---|---|")
    for per_tensor, round_bias, round_act in [
        (False, True, False),
        (True, False, False),
        (True, True, True),
        (True, False, True),
    ]:
        sess = ort.InferenceSession(build(per_tensor, round_bias, round_act).SerializeToString())
        out = np.concatenate([sess.run(None, {inp.name: x[i : i + 1]})[0] for i in range(100)])
        agree = int((out.argmax(1) == ref.argmax(1)).sum())
        print(
            f"| {'15 bits per tensor' if per_tensor else '2^-12'} "
            f"| {'2^-12' if round_bias else 'f32'} | {'2^-12' if round_act else 'f32'} "
            f"| {agree}/100 | {np.abs(out - ref).max():.3g} |"
        )


if __name__ == "__main__":
    main()
