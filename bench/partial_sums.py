#!/usr/bin/env python3
"""Wide partial sums a version-4 trace holds when every block of every reduction is an
operator of its own (docs/protocol.md §10.11–§10.12): Conv taps x output length, Gemm
ceil(K/4) blocks x N rounded up to whole 616-value chunks, MaxPool kh*kw x output length.

Usage: .venv/bin/python bench/partial_sums.py [models...]   (default: the CNNs in testdata)
"""
import math
import sys

import onnx
from onnx import shape_inference

CHUNK = 616


def main(models):
    for name in models:
        m = shape_inference.infer_shapes(onnx.load(f"testdata/{name}/model.onnx"))
        shapes = {vi.name: [d.dim_value for d in vi.type.tensor_type.shape.dim]
                  for vi in list(m.graph.value_info) + list(m.graph.output) + list(m.graph.input)}
        inits = {i.name: list(i.dims) for i in m.graph.initializer}
        total, largest = 0, 0
        for n in m.graph.node:
            out = shapes.get(n.output[0])
            if not out:
                continue
            out_len = math.prod(out)
            if n.op_type == "Conv" and n.input[1] in inits:
                w = inits[n.input[1]]
                sums = math.prod(w[1:]) * out_len
            elif n.op_type == "Gemm" and n.input[1] in inits:
                trans_b = any(a.name == "transB" and a.i for a in n.attribute)
                k, cols = (inits[n.input[1]][1], inits[n.input[1]][0]) if trans_b else inits[n.input[1]]
                sums = math.ceil(k / 4) * math.ceil(cols / CHUNK) * CHUNK
            elif n.op_type == "MaxPool":
                kernel = next(a.ints for a in n.attribute if a.name == "kernel_shape")
                sums = math.prod(kernel) * out_len
            else:
                continue
            total += sums
            largest = max(largest, sums)
        print(f"{name}: {total / 1e6:.2f} M wide values ({total * 32 / 1e9:.2f} GB at 32 bytes), "
              f"largest operator {largest / 1e6:.2f} M")


if __name__ == "__main__":
    main(sys.argv[1:] or ["lenet5", "conv2d", "variable_cnn", "mobilenet_v2"])
