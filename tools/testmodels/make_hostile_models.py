#!/usr/bin/python3
"""Small ONNX files a hostile user could hand the converter (tests/assets/hostile), each a regression test:

    /usr/bin/python3 tools/testmodels/make_hostile_models.py [--out tests/assets/hostile]

  huge_input_dim.onnx    an image input [1, 1, 2147483647, 16] (must be refused before any allocation)
  dup_output.onnx        two nodes writing the same value (ONNX values are assigned once)
"""
import argparse
import os

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

REPO_ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))


def conv_graph(name, h, nodes_extra=None, dup=False):
    w = numpy_helper.from_array(np.full((4, 1, 4, 4), 0.1, dtype=np.float32), name="w")
    nodes = [helper.make_node("Conv", ["input", "w"], ["y"], name="conv", kernel_shape=[4, 4], strides=[4, 4])]
    if dup:
        nodes.append(helper.make_node("Relu", ["y"], ["y"], name="relu_again"))
    graph = helper.make_graph(nodes, name, [helper.make_tensor_value_info("input", TensorProto.FLOAT, [1, 1, h, 16])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)], initializer=[w])
    model = helper.make_model(graph, producer_name="edgequant-hostile", opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    return model


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", default=os.path.join(REPO_ROOT, "tests", "assets", "hostile"))
    args = ap.parse_args()
    os.makedirs(args.out, exist_ok=True)
    onnx.save(conv_graph("huge_input_dim", 2147483647), os.path.join(args.out, "huge_input_dim.onnx"))
    onnx.save(conv_graph("dup_output", 16, dup=True), os.path.join(args.out, "dup_output.onnx"))  # no checker: it rejects SSA violations
    for f in sorted(os.listdir(args.out)):
        print(f, os.path.getsize(os.path.join(args.out, f)))


if __name__ == "__main__":
    main()
