#!/usr/bin/python3
"""Check tools/modelzoo/fashion-vit/model.onnx without onnxruntime.

    /usr/bin/python3 tools/modelzoo/fashion-vit/verify_onnx.py [--full]

1. onnx.checker (full check, with shape inference) and file-level checks:
   size < 2 MB, opset 17, every initializer stored inside the file.
2. Op-type histogram (collections.Counter), as listed in MODEL_CARD.md.
3. The project's numpy ONNX interpreter (tools/bench/onnx_numpy_eval.py) runs the ONNX
   graph on the first 64 test images and compares against the torch logits
   that train.py saved at export time (ref_logits_64.npy), and checks that the
   dynamic batch axis works (batch 1 and batch 64 give the same rows).
   With --full it also reports the ONNX-graph accuracy on all 10,000 test images.

Needs only onnx + numpy (onnx 1.12 has no onnx.reference evaluator).
"""
import argparse
import collections
import hashlib
import os
import sys

import numpy as np
import onnx

HERE = os.path.dirname(os.path.abspath(__file__))


sys.path.insert(0, os.path.join(HERE, "..", ".."))
from eqtools.data import read_idx  # noqa: E402

# The project's one numpy ONNX interpreter (tools/bench/onnx_numpy_eval.py).
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "bench"))
from onnx_numpy_eval import run_graph as run  # noqa: E402


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", default=os.path.join(HERE, "model.onnx"))
    ap.add_argument("--data", default="/usr/share/datasets/fashion-mnist")
    ap.add_argument("--ref", default=os.path.join(HERE, "ref_logits_64.npy"))
    ap.add_argument("--full", action="store_true",
                    help="also run the ONNX graph on all 10,000 test images")
    args = ap.parse_args()
    ok = True

    size = os.path.getsize(args.model)
    sha = hashlib.sha256(open(args.model, "rb").read()).hexdigest()
    print(f"file: {args.model}  {size} bytes  sha256 {sha}")
    if size >= 2 * 1024 * 1024:
        print("FAIL: model.onnx is not < 2 MB"); ok = False

    model = onnx.load(args.model, load_external_data=False)
    onnx.checker.check_model(model, full_check=True)
    print("onnx.checker: ok (full_check)")
    opsets = {o.domain or "ai.onnx": o.version for o in model.opset_import}
    print(f"ir_version {model.ir_version}  opsets {opsets}  producer "
          f"{model.producer_name} {model.producer_version}")
    if opsets.get("ai.onnx") != 17:
        print("FAIL: expected opset 17"); ok = False
    external = [i.name for i in model.graph.initializer
                if i.data_location == onnx.TensorProto.EXTERNAL]
    if external:
        print(f"FAIL: external-data initializers: {external}"); ok = False
    n_params = sum(int(np.prod(i.dims)) for i in model.graph.initializer)
    print(f"initializers: {len(model.graph.initializer)} tensors, {n_params} values, "
          "all embedded" if not external else "")
    for io in list(model.graph.input) + list(model.graph.output):
        dims = [d.dim_param or d.dim_value for d in io.type.tensor_type.shape.dim]
        print(f"  {io.name}: {onnx.TensorProto.DataType.Name(io.type.tensor_type.elem_type)} {dims}")

    counts = collections.Counter(n.op_type for n in model.graph.node)
    print(f"nodes: {sum(counts.values())}")
    for op, c in counts.most_common():
        print(f"  {op:20s} {c}")

    x = read_idx(os.path.join(args.data, "t10k-images-idx3-ubyte.gz"))
    y = read_idx(os.path.join(args.data, "t10k-labels-idx1-ubyte.gz")).astype(np.int64)
    x = (x.astype(np.float32) / 255.0)[:, None]

    logits = run(model, {"input": x[:64]})[0]
    if os.path.exists(args.ref):
        ref = np.load(args.ref)
        diff = np.abs(logits - ref).max()
        agree = (logits.argmax(1) == ref.argmax(1)).mean()
        print(f"numpy-ONNX vs torch logits (64 test images): max |diff| {diff:.3g}, "
              f"argmax agreement {agree * 100:.1f}%")
        if diff > 1e-3 or agree < 1.0:
            print("FAIL: ONNX graph does not match torch"); ok = False
    else:
        print(f"(no {args.ref}; skipped torch comparison)")
    single = np.concatenate([run(model, {"input": x[i:i + 1]})[0] for i in range(4)])
    bdiff = np.abs(single - logits[:4]).max()
    print(f"dynamic batch: batch-1 vs batch-64 rows max |diff| {bdiff:.3g}")
    if bdiff > 1e-4:
        print("FAIL: batch-1 and batch-64 disagree"); ok = False

    if args.full:
        correct = 0
        for i in range(0, x.shape[0], 500):
            correct += int((run(model, {"input": x[i:i + 500]})[0].argmax(1)
                            == y[i:i + 500]).sum())
        print(f"numpy-ONNX test accuracy (10000 images): {correct / 100:.2f}%")

    print("OK" if ok else "FAILED")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
