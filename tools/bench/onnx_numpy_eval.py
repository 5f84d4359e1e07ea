#!/usr/bin/python3
"""A tiny numpy ONNX interpreter, just enough for the ViT graphs EdgeQuant benchmarks.

It exists so the INT8 baseline written by quantize_dynamic.py can be checked without
ONNX Runtime (which cannot be installed here). It runs the graph node by node in
topological order (as stored), in float32 like ORT's CPU provider, and knows only the
ops listed in OPS below; anything else raises NotImplementedError. It is a checking
tool, not a fast or general runtime (single-threaded reference numpy BLAS).

Notes on exactness:
  * MatMulInteger is computed exactly: the int operands are converted to float64,
    whose 53-bit mantissa holds every possible partial sum for K < 2**53 / (255*128),
    then cast to int32 (the ONNX output type).
  * DynamicQuantizeLinear follows the ONNX spec: range includes 0, scale=(max-min)/255,
    zero point = saturate(round(-min/scale)), y = saturate(round(x/scale)+zp),
    rounding half to even.
  * Erf uses math.erf element-wise in float64 (numpy has no erf and scipy is absent).

Usage as a script:
    /usr/bin/python3 tools/bench/onnx_numpy_eval.py MODEL.onnx --input X.npy [--ref LOGITS.npy]
    /usr/bin/python3 tools/bench/onnx_numpy_eval.py --selftest
"""

import argparse
import math
import os
import sys
import time

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import numpy as np  # noqa: E402
import onnx  # noqa: E402
from onnx import numpy_helper  # noqa: E402
from onnx.mapping import TENSOR_TYPE_TO_NP_TYPE  # noqa: E402


def _attrs(node):
    return {a.name: onnx.helper.get_attribute_value(a) for a in node.attribute}


def _ints(v):
    return [int(i) for i in np.asarray(v).reshape(-1)]


_erf = np.frompyfunc(math.erf, 1, 1)


# --------------------------------------------------------------------------- #
# Op implementations: f(inputs: list[np.ndarray|None], attrs: dict, opset) -> list
# --------------------------------------------------------------------------- #

def op_constant(x, a, opset):
    if "value" in a:
        return [numpy_helper.to_array(a["value"])]
    for k, dt in (("value_float", np.float32), ("value_floats", np.float32),
                  ("value_int", np.int64), ("value_ints", np.int64)):
        if k in a:
            return [np.array(a[k], dtype=dt)]
    raise NotImplementedError("Constant with attrs %s" % list(a))


def op_conv(x, a, opset):
    X, W = x[0], x[1]
    B = x[2] if len(x) > 2 and x[2] is not None else None
    if a.get("group", 1) != 1:
        raise NotImplementedError("grouped Conv")
    n, c, h, w = X.shape
    m, cw, kh, kw = W.shape
    assert cw == c
    sh, sw = a.get("strides", [1, 1])
    dh, dw = a.get("dilations", [1, 1])
    pads = a.get("pads", [0, 0, 0, 0])
    if a.get("auto_pad", b"NOTSET") not in (b"NOTSET", "NOTSET"):
        raise NotImplementedError("Conv auto_pad")
    if any(pads):
        X = np.pad(X, ((0, 0), (0, 0), (pads[0], pads[2]), (pads[1], pads[3])))
        h, w = X.shape[2:]
    oh = (h - dh * (kh - 1) - 1) // sh + 1
    ow = (w - dw * (kw - 1) - 1) // sw + 1
    if (kh, kw) == (sh, sw) and (dh, dw) == (1, 1):
        # Non-overlapping patches (ViT patch embedding): a reshape, no im2col copy loop.
        p = X[:, :, :oh * kh, :ow * kw].reshape(n, c, oh, kh, ow, kw)
        cols = p.transpose(0, 2, 4, 1, 3, 5).reshape(n, oh * ow, c * kh * kw)
    else:
        cols = np.empty((n, oh * ow, c, kh, kw), dtype=X.dtype)
        for i in range(kh):
            for j in range(kw):
                sl = X[:, :, i * dh: i * dh + sh * (oh - 1) + 1: sh,
                       j * dw: j * dw + sw * (ow - 1) + 1: sw]      # [n,c,oh,ow]
                cols[:, :, :, i, j] = sl.transpose(0, 2, 3, 1).reshape(n, oh * ow, c)
        cols = cols.reshape(n, oh * ow, c * kh * kw)
    y = cols @ W.reshape(m, -1).T                                   # [n, oh*ow, m]
    if B is not None:
        y = y + B
    return [np.ascontiguousarray(y.transpose(0, 2, 1).reshape(n, m, oh, ow)).astype(X.dtype)]


def op_gemm(x, a, opset):
    A, Bm = x[0], x[1]
    C = x[2] if len(x) > 2 and x[2] is not None else None
    if a.get("transA", 0):
        A = A.T
    if a.get("transB", 0):
        Bm = Bm.T
    y = a.get("alpha", 1.0) * (A @ Bm)
    if C is not None:
        y = y + a.get("beta", 1.0) * C
    return [y.astype(A.dtype)]


def op_layernorm(x, a, opset):
    X, scale = x[0], x[1]
    bias = x[2] if len(x) > 2 and x[2] is not None else None
    axis = a.get("axis", -1)
    eps = a.get("epsilon", 1e-5)
    axis = axis % X.ndim
    axes = tuple(range(axis, X.ndim))
    Xd = X.astype(np.float32)
    mean = Xd.mean(axis=axes, keepdims=True)
    d = Xd - mean
    var = (d * d).mean(axis=axes, keepdims=True)
    y = d / np.sqrt(var + np.float32(eps)) * scale
    if bias is not None:
        y = y + bias
    return [y.astype(X.dtype)]


def op_softmax(x, a, opset):
    axis = a.get("axis", -1 if opset >= 13 else 1)
    X = x[0]
    if opset < 13:
        raise NotImplementedError("Softmax opset < 13 (coerced 2-D semantics)")
    e = np.exp(X - X.max(axis=axis, keepdims=True))
    return [(e / e.sum(axis=axis, keepdims=True)).astype(X.dtype)]


def op_reshape(x, a, opset):
    X, shape = x[0], _ints(x[1])
    allowzero = a.get("allowzero", 0)
    out = []
    for i, s in enumerate(shape):
        out.append(X.shape[i] if (s == 0 and not allowzero) else s)
    return [X.reshape(out)]


def op_transpose(x, a, opset):
    perm = a.get("perm")
    return [np.transpose(x[0], perm)]


def op_concat(x, a, opset):
    return [np.concatenate(x, axis=a["axis"])]


def op_gather(x, a, opset):
    axis = a.get("axis", 0)
    data, idx = x[0], np.asarray(x[1]).astype(np.int64)
    idx = np.where(idx < 0, idx + data.shape[axis], idx)
    return [np.take(data, idx, axis=axis)]


def op_shape(x, a, opset):
    s = np.array(x[0].shape, dtype=np.int64)
    start = a.get("start", 0)
    end = a.get("end", None)
    return [s[start:end]]


def op_slice(x, a, opset):
    X = x[0]
    starts, ends = _ints(x[1]), _ints(x[2])
    axes = _ints(x[3]) if len(x) > 3 and x[3] is not None else list(range(len(starts)))
    steps = _ints(x[4]) if len(x) > 4 and x[4] is not None else [1] * len(starts)
    sl = [slice(None)] * X.ndim
    for s, e, ax, st in zip(starts, ends, axes, steps):
        dim = X.shape[ax]
        # numpy slicing clamps like ONNX does, except for huge magnitudes, which are fine too
        s = max(min(s, 2 ** 62), -(2 ** 62))
        e = max(min(e, 2 ** 62), -(2 ** 62))
        if st < 0 and e < -dim:
            e = None
        sl[ax % X.ndim] = slice(s, e, st)
    return [X[tuple(sl)]]


def _axes_from(x, a, opset, first_input_opset):
    if opset >= first_input_opset:
        return _ints(x[1]) if len(x) > 1 and x[1] is not None else None
    return a.get("axes")


def op_unsqueeze(x, a, opset):
    axes = _axes_from(x, a, opset, 13)
    X = x[0]
    rank = X.ndim + len(axes)
    for ax in sorted(ax % rank for ax in axes):
        X = np.expand_dims(X, ax)
    return [X]


def op_squeeze(x, a, opset):
    axes = _axes_from(x, a, opset, 13)
    X = x[0]
    if axes is None:
        return [np.squeeze(X)]
    return [np.squeeze(X, axis=tuple(ax % X.ndim for ax in axes))]


def op_expand(x, a, opset):
    X, shape = x[0], _ints(x[1])
    out = np.broadcast_shapes(X.shape, tuple(shape))
    return [np.broadcast_to(X, out).copy()]


def op_constant_of_shape(x, a, opset):
    v = numpy_helper.to_array(a["value"]) if "value" in a else np.zeros(1, np.float32)
    return [np.full(_ints(x[0]), v.reshape(-1)[0], dtype=v.dtype)]


def op_cast(x, a, opset):
    return [x[0].astype(TENSOR_TYPE_TO_NP_TYPE[a["to"]])]


def op_mod(x, a, opset):
    if a.get("fmod", 0):
        return [np.fmod(x[0], x[1])]
    return [np.mod(x[0], x[1])]


def op_split(x, a, opset):
    X = x[0]
    axis = a.get("axis", 0) % X.ndim
    if opset >= 13:
        split = _ints(x[1]) if len(x) > 1 and x[1] is not None else None
    else:
        split = a.get("split")
    n_out = a["_n_outputs"]
    if split is None:
        dim = X.shape[axis]
        if "num_outputs" in a:
            n_out = a["num_outputs"]
        chunk = -(-dim // n_out)
        split = [min(chunk, dim - i * chunk) for i in range(n_out)]
    idx = np.cumsum(split)[:-1]
    return list(np.split(X, idx, axis=axis))


def op_reduce_mean(x, a, opset):
    axes = _axes_from(x, a, opset, 18)
    keep = bool(a.get("keepdims", 1))
    ax = None if axes is None else tuple(axes)
    return [x[0].mean(axis=ax, keepdims=keep).astype(x[0].dtype)]


def op_flatten(x, a, opset):
    X = x[0]
    axis = a.get("axis", 1) % (X.ndim + 1) if X.ndim else 0
    return [X.reshape(int(np.prod(X.shape[:axis])), -1)]


def op_dynamic_quantize_linear(x, a, opset):
    X = x[0].astype(np.float32)
    x_min = np.float32(min(0.0, float(X.min())))
    x_max = np.float32(max(0.0, float(X.max())))
    scale = np.float32((x_max - x_min) / np.float32(255.0))
    if scale == 0:
        # all-zero input: ORT would give scale 0 and zp 0; avoid dividing by zero.
        return [np.zeros(X.shape, np.uint8), np.array(scale, np.float32), np.array(0, np.uint8)]
    zp = np.uint8(np.clip(np.rint(-x_min / scale), 0, 255))
    y = np.clip(np.rint(X / scale) + np.float32(zp), 0, 255).astype(np.uint8)
    return [y, np.array(scale, np.float32), np.array(zp, np.uint8)]


def op_matmul_integer(x, a, opset):
    A, B = x[0], x[1]
    azp = x[2] if len(x) > 2 and x[2] is not None else np.zeros((), A.dtype)
    bzp = x[3] if len(x) > 3 and x[3] is not None else np.zeros((), B.dtype)
    if np.asarray(azp).size != 1:
        raise NotImplementedError("per-row A zero point")
    Ad = A.astype(np.float64) - float(np.asarray(azp).reshape(-1)[0])
    bz = np.asarray(bzp).astype(np.float64)
    if bz.size > 1:
        bz = bz.reshape(-1)                 # per-column zero points, shape [N]
    Bd = B.astype(np.float64) - bz
    y = Ad @ Bd                              # exact: |partial sums| << 2**53
    return [y.astype(np.int32)]


def _binary(f):
    def op(x, a, opset):
        r = f(x[0], x[1])
        if isinstance(r, np.ndarray) and x[0].dtype == np.float32 and r.dtype == np.float64:
            r = r.astype(np.float32)
        return [r]
    return op


def _div(p, q):
    if np.issubdtype(np.asarray(p).dtype, np.integer):
        # ONNX integer Div truncates toward zero
        return (np.trunc(p / q)).astype(np.asarray(p).dtype)
    return p / q


OPS = {
    "Constant": op_constant,
    "Identity": lambda x, a, o: [x[0]],
    "Conv": op_conv,
    "MatMul": _binary(np.matmul),
    "Gemm": op_gemm,
    "Add": _binary(np.add),
    "Sub": _binary(np.subtract),
    "Mul": _binary(np.multiply),
    "Div": _binary(_div),
    "Pow": _binary(np.power),
    "Sqrt": lambda x, a, o: [np.sqrt(x[0])],
    "Erf": lambda x, a, o: [_erf(x[0].astype(np.float64)).astype(x[0].dtype)],
    "Tanh": lambda x, a, o: [np.tanh(x[0])],
    "Relu": lambda x, a, o: [np.maximum(x[0], 0).astype(x[0].dtype)],
    "Softmax": op_softmax,
    "LayerNormalization": op_layernorm,
    "ReduceMean": op_reduce_mean,
    "Reshape": op_reshape,
    "Flatten": op_flatten,
    "Transpose": op_transpose,
    "Concat": op_concat,
    "Gather": op_gather,
    "Shape": op_shape,
    "Slice": op_slice,
    "Split": op_split,
    "Unsqueeze": op_unsqueeze,
    "Squeeze": op_squeeze,
    "Expand": op_expand,
    "ConstantOfShape": op_constant_of_shape,
    "Equal": _binary(np.equal),
    "Where": lambda x, a, o: [np.where(x[0], x[1], x[2])],
    "Cast": op_cast,
    "Mod": op_mod,
    "DynamicQuantizeLinear": op_dynamic_quantize_linear,
    "MatMulInteger": op_matmul_integer,
}


class Model:
    """Loads an ONNX model once; run(feeds) evaluates it."""

    def __init__(self, model_or_path):
        m = onnx.load(model_or_path) if isinstance(model_or_path, str) else model_or_path
        self.model = m
        self.opset = next((o.version for o in m.opset_import if o.domain in ("", "ai.onnx")), 1)
        self.inits = {t.name: numpy_helper.to_array(t) for t in m.graph.initializer}
        self.input_names = [i.name for i in m.graph.input if i.name not in self.inits]
        self.output_names = [o.name for o in m.graph.output]
        for n in m.graph.node:
            if n.domain not in ("", "ai.onnx"):
                raise NotImplementedError("op %s in domain %s" % (n.op_type, n.domain))
            if n.op_type not in OPS:
                raise NotImplementedError("op %s (node %s)" % (n.op_type, n.name))
        # last use of each value, so intermediates can be freed early (ViT-B is big)
        self.last_use = {}
        for i, n in enumerate(m.graph.node):
            for name in n.input:
                self.last_use[name] = i

    def run(self, feeds, keep=()):
        env = dict(self.inits)
        env.update(feeds)
        protect = set(self.output_names) | set(keep) | set(self.inits) | set(feeds)
        for i, n in enumerate(self.model.graph.node):
            ins = [env[name] if name else None for name in n.input]
            a = _attrs(n)
            a["_n_outputs"] = len(n.output)
            try:
                outs = OPS[n.op_type](ins, a, self.opset)
            except Exception as e:
                raise RuntimeError("node %s (%s) failed: %s" % (n.name, n.op_type, e)) from e
            for name, v in zip(n.output, outs):
                if name:
                    env[name] = np.asarray(v)
            for name in n.input:
                if name and self.last_use.get(name) == i and name not in protect:
                    env.pop(name, None)
        return [env[o] for o in self.output_names]


_loaded = {}


def run_graph(model, feeds):
    """Evaluates an onnx.ModelProto on feeds and returns its outputs; the interpreter is built once per model."""
    m = _loaded.get(id(model))
    if m is None or m.model is not model:
        m = _loaded[id(model)] = Model(model)
    return m.run(feeds)


def run(model_or_path, x):
    """Convenience: one input, first output."""
    m = Model(model_or_path)
    return m.run({m.input_names[0]: x})[0]


def selftest():
    """The ONNX operator documentation examples for the two integer ops."""
    y, s, z = op_dynamic_quantize_linear([np.array([0, 2, -3, -2.5, 1.34, 0.5], np.float32)], {}, 17)
    assert y.tolist() == [153, 255, 0, 26, 221, 179] and int(z) == 153, (y, z)
    assert abs(float(s) - 0.019607844) < 1e-8, s
    y, s, z = op_dynamic_quantize_linear([np.array([1, 2.1, 1.3, 2.5, 3.34, 4.0, 1.5, 2.6, 3.9, 4.0, 3.0,
                                                    2.345], np.float32).reshape(3, 4)], {}, 17)
    assert y.reshape(-1).tolist() == [64, 134, 83, 159, 213, 255, 96, 166, 249, 255, 191, 149], y
    assert int(z) == 0 and abs(float(s) - 0.015686275) < 1e-8
    a = np.array([[11, 7, 3], [10, 6, 2], [9, 5, 1], [8, 4, 0]], np.uint8)
    b = np.array([[1, 4], [2, 5], [3, 6]], np.uint8)
    y = op_matmul_integer([a, b, np.array(12, np.uint8), np.array(0, np.uint8)], {}, 17)[0]
    assert y.dtype == np.int32 and y.tolist() == [[-38, -83], [-44, -98], [-50, -113], [-56, -128]], y
    print("selftest ok (DynamicQuantizeLinear, MatMulInteger spec examples)")


def main():
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("model", nargs="?")
    ap.add_argument("--input", help=".npy fed to the (single) graph input")
    ap.add_argument("--ref", help=".npy of expected output, to report the max abs diff")
    ap.add_argument("--selftest", action="store_true", help="check the integer ops on spec examples")
    args = ap.parse_args()
    if args.selftest:
        selftest()
        if not args.model:
            return 0
    if not (args.model and args.input):
        ap.error("MODEL and --input are required (or --selftest)")
    x = np.load(args.input)
    t = time.time()
    y = run(args.model, x)
    print("output shape %s  (%.2f s)" % (y.shape, time.time() - t))
    print("argmax", y.reshape(y.shape[0], -1).argmax(-1).tolist())
    if args.ref:
        r = np.load(args.ref)
        print("max |out - ref| = %.3e   (max |ref| = %.3e)" % (np.abs(y - r).max(), np.abs(r).max()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
