#!/usr/bin/python3
"""Check tools/modelzoo/fashion-vit/model.onnx without onnxruntime.

    /usr/bin/python3 tools/modelzoo/fashion-vit/verify_onnx.py [--full]

1. onnx.checker (full check, with shape inference) and file-level checks:
   size < 2 MB, opset 17, every initializer stored inside the file.
2. Op-type histogram (collections.Counter), as listed in MODEL_CARD.md.
3. A tiny numpy interpreter for exactly the ops this graph uses runs the ONNX
   graph on the first 64 test images and compares against the torch logits
   that train.py saved at export time (ref_logits_64.npy), and checks that the
   dynamic batch axis works (batch 1 and batch 64 give the same rows).
   With --full it also reports the ONNX-graph accuracy on all 10,000 test images.

Needs only onnx + numpy (onnx 1.12 has no onnx.reference evaluator).
"""
import argparse
import collections
import gzip
import hashlib
import os
import sys

import numpy as np
import onnx
from onnx import numpy_helper

HERE = os.path.dirname(os.path.abspath(__file__))


def read_idx(path):
    with gzip.open(path, "rb") as f:
        data = f.read()
    ndim = data[3]
    dims = [int.from_bytes(data[4 + 4 * i: 8 + 4 * i], "big") for i in range(ndim)]
    return np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * ndim).reshape(dims)


def erf(x):
    """erf for the Erf node: math.erf (exact) for small tensors, otherwise
    Abramowitz & Stegun 7.1.26 in float64 (|error| < 1.5e-7, i.e. float32 level)."""
    if x.size <= 200_000:
        import math
        flat = x.astype(np.float64).ravel()
        out = np.fromiter((math.erf(v) for v in flat), np.float64, count=flat.size)
        return out.reshape(x.shape).astype(x.dtype)
    z = x.astype(np.float64)
    a = np.abs(z)
    t = 1.0 / (1.0 + 0.3275911 * a)
    poly = t * (0.254829592 + t * (-0.284496736 + t * (1.421413741
                + t * (-1.453152027 + t * 1.061405429))))
    return (np.sign(z) * (1.0 - poly * np.exp(-a * a))).astype(x.dtype)


def attr(node, name, default=None):
    for a in node.attribute:
        if a.name == name:
            return onnx.helper.get_attribute_value(a)
    return default


def conv2d(x, w, b, strides, pads, dilations, group):
    if group != 1 or any(d != 1 for d in dilations):
        raise NotImplementedError("Conv: only group=1, dilation=1")
    x = np.pad(x, ((0, 0), (0, 0), (pads[0], pads[2]), (pads[1], pads[3])))
    n, c, h, wd = x.shape
    m, _, kh, kw = w.shape
    oh = (h - kh) // strides[0] + 1
    ow = (wd - kw) // strides[1] + 1
    cols = np.empty((n, c, kh, kw, oh, ow), dtype=x.dtype)
    for i in range(kh):
        for j in range(kw):
            cols[:, :, i, j] = x[:, :, i:i + strides[0] * oh:strides[0],
                                 j:j + strides[1] * ow:strides[1]]
    y = np.einsum("nckluv,mckl->nmuv", cols, w)
    if b is not None:
        y = y + b[None, :, None, None]
    return y.astype(x.dtype)


def run(model, feeds):
    env = {i.name: numpy_helper.to_array(i) for i in model.graph.initializer}
    env.update(feeds)
    for node in model.graph.node:
        ins = [env[n] if n else None for n in node.input]
        op = node.op_type
        if op == "Constant":
            out = numpy_helper.to_array(attr(node, "value"))
        elif op == "Add":
            out = ins[0] + ins[1]
        elif op == "Mul":
            out = ins[0] * ins[1]
        elif op == "Div":
            out = ins[0] / ins[1]
            if np.issubdtype(ins[0].dtype, np.integer):
                out = (ins[0] // ins[1]).astype(ins[0].dtype)
        elif op == "MatMul":
            out = np.matmul(ins[0], ins[1])
        elif op == "Gemm":
            a, b = ins[0], ins[1]
            if attr(node, "transA", 0):
                a = a.T
            if attr(node, "transB", 0):
                b = b.T
            out = attr(node, "alpha", 1.0) * (a @ b)
            if len(ins) > 2 and ins[2] is not None:
                out = out + attr(node, "beta", 1.0) * ins[2]
        elif op == "Conv":
            w = ins[1]
            k = w.ndim - 2
            out = conv2d(ins[0], w, ins[2] if len(ins) > 2 else None,
                         attr(node, "strides", [1] * k), attr(node, "pads", [0] * 2 * k),
                         attr(node, "dilations", [1] * k), attr(node, "group", 1))
        elif op == "Shape":
            out = np.array(ins[0].shape, dtype=np.int64)
        elif op == "Gather":
            out = np.take(ins[0], ins[1], axis=attr(node, "axis", 0))
        elif op == "Unsqueeze":
            out = ins[0]
            rank = out.ndim + ins[1].size
            for ax in sorted(int(a) + rank if a < 0 else int(a) for a in ins[1].ravel()):
                out = np.expand_dims(out, ax)
        elif op == "Concat":
            out = np.concatenate(ins, axis=attr(node, "axis"))
        elif op == "Reshape":
            shape = [int(s) for s in ins[1]]
            if not attr(node, "allowzero", 0):
                shape = [ins[0].shape[i] if s == 0 else s for i, s in enumerate(shape)]
            out = ins[0].reshape(shape)
        elif op == "Transpose":
            out = np.transpose(ins[0], attr(node, "perm"))
        elif op == "Slice":
            data, starts, ends = ins[0], ins[1], ins[2]
            axes = ins[3] if len(ins) > 3 and ins[3] is not None else np.arange(len(starts))
            steps = ins[4] if len(ins) > 4 and ins[4] is not None else np.ones(len(starts), np.int64)
            sl = [slice(None)] * data.ndim
            for s, e, a, st in zip(starts, ends, axes, steps):
                dim = data.shape[int(a)]
                s, e = int(max(min(s, dim), -dim - 1)), int(max(min(e, dim), -dim - 1))
                sl[int(a)] = slice(s, e, int(st))
            out = data[tuple(sl)]
        elif op == "ConstantOfShape":
            v = attr(node, "value")
            v = numpy_helper.to_array(v) if v is not None else np.zeros(1, np.float32)
            out = np.full(tuple(int(s) for s in ins[0]), v.ravel()[0], dtype=v.dtype)
        elif op == "Equal":
            out = ins[0] == ins[1]
        elif op == "Where":
            out = np.where(ins[0], ins[1], ins[2])
        elif op == "Expand":
            shape = np.broadcast_shapes(ins[0].shape, tuple(int(s) for s in ins[1]))
            out = np.broadcast_to(ins[0], shape).copy()
        elif op == "LayerNormalization":
            axis = attr(node, "axis", -1)
            eps = attr(node, "epsilon", 1e-5)
            x = ins[0]
            axes = tuple(range(axis % x.ndim, x.ndim))
            mean = x.mean(axis=axes, keepdims=True)
            var = ((x - mean) ** 2).mean(axis=axes, keepdims=True)
            out = (x - mean) / np.sqrt(var + eps) * ins[1]
            if len(ins) > 2 and ins[2] is not None:
                out = out + ins[2]
            out = out.astype(x.dtype)
        elif op == "Softmax":
            axis = attr(node, "axis", -1)
            e = np.exp(ins[0] - ins[0].max(axis=axis, keepdims=True))
            out = e / e.sum(axis=axis, keepdims=True)
        elif op == "Erf":
            out = erf(ins[0])
        else:
            raise NotImplementedError(f"op {op} ({node.name})")
        env[node.output[0]] = out
    return [env[o.name] for o in model.graph.output]


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
