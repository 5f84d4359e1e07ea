#!/usr/bin/python3
"""ONNX Runtime-style dynamic INT8 quantization, written by hand (onnxruntime is not installable here).

    /usr/bin/python3 tools/bench/quantize_dynamic.py IN.onnx OUT.onnx [--check] [--no-gemm]
                     [--input X.npy] [--ref LOGITS.npy] [--mnist N]

Equivalent to onnxruntime.quantization.quantize_dynamic(IN, OUT) with default settings
(weight_type QInt8, per_channel False, reduce_range False, MatMulConstBOnly True) for the
MatMuls of a ViT. Every MatMul whose second input is a 2-D float initializer W [K,N] becomes

    x --DynamicQuantizeLinear--> (x_q uint8, x_scale, x_zp)          (one per activation tensor)
    MatMulInteger(x_q, W_q int8 [K,N], x_zp, W_zp = int8 0) -> int32
    Cast(to FLOAT) -> Mul(cast, Mul(x_scale, W_scale)) -> original output name

with W quantized symmetric per tensor: W_scale = max|W| / 127, W_q = clip(round_half_even(W / W_scale),
-127, 127), zero point 0. Initializer names follow ORT (<W>_quantized, <W>_scale, <W>_zero_point,
<x>_quantized, ...), so ORT's MatMulIntegerToFloat fusion recognises the pattern.

Differences from ORT's default op set, on purpose:
  * Conv (the patch embedding) is left in FLOAT. ORT's default would make it ConvInteger.
  * Gemm with a constant B (transA = 0) is ALSO quantized (ORT's dynamic mode leaves Gemm float):
    it is rewritten as the MatMulInteger chain on alpha*B (transposed if transB) followed by
    Add(beta*C). Pass --no-gemm to leave Gemm nodes float like ORT does.
  * Gather on constant tables (embeddings) is not quantized (ViTs have none).
The opset is kept (DynamicQuantizeLinear needs >= 11, MatMulInteger >= 10, default domain).
The output is checked with onnx.checker (full_check, i.e. with strict shape inference).

--check evaluates the FP32 and INT8 graphs with tools/bench/onnx_numpy_eval.py (numpy, no ORT) on
--input (default: IN's sibling <stem>.input.npy if present, else a seeded uniform [0,1) tensor of the
input's shape with batch 1) and reports max |INT8 - FP32| and argmax agreement; with --ref (default
<stem>.logits.npy if present) also max |numpy FP32 - ref|. --mnist N instead feeds the first N MNIST
test images (pixel/255, from $EDGEQUANT_SHARED/data/mnist, default ../shared) and reports top-1.
--batch B (default 1) sets how many rows go through the graphs at once: the INT8 activation scale is
per tensor over the whole batch (as in ORT), so B = 1 is what one-image-per-run inference sees.
"""

import argparse
import collections
import os
import sys
import time

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

HERE = os.path.dirname(os.path.abspath(__file__))
REPO_ROOT = os.path.abspath(os.path.join(HERE, "..", ".."))


def quantize_weight(w):
    """Symmetric per-tensor int8: scale = max|W|/127, zero point 0 (ORT QInt8, symmetric)."""
    w = w.astype(np.float32)
    absmax = float(np.abs(w).max()) if w.size else 0.0
    scale = np.float32(absmax / 127.0) if absmax > 0 else np.float32(1.0)
    q = np.clip(np.rint(w / scale), -127, 127).astype(np.int8)
    return q, scale


class Quantizer:
    def __init__(self, model, quantize_gemm=True):
        self.model = model
        self.g = model.graph
        self.quantize_gemm = quantize_gemm
        self.inits = {t.name: t for t in self.g.initializer}
        self.new_inits = []
        self.dql_cache = {}        # activation name -> (x_q, x_scale, x_zp)
        self.wq_cache = {}         # (weight name, transpose, alpha) -> (W_q, W_scale, W_zp)
        self.used = set()
        self.stats = collections.Counter()

    # -- helpers ----------------------------------------------------------------
    def _fresh(self, name):
        base, i = name, 0
        while name in self.used:
            i += 1
            name = "%s_%d" % (base, i)
        self.used.add(name)
        return name

    def _add_init(self, arr, name):
        name = self._fresh(name)
        self.new_inits.append(numpy_helper.from_array(np.asarray(arr), name))
        return name

    def _const_2d_float(self, name):
        t = self.inits.get(name)
        if t is None or t.data_type != TensorProto.FLOAT or len(t.dims) != 2:
            return None
        return numpy_helper.to_array(t)

    def _dql(self, x, nodes):
        if x not in self.dql_cache:
            xq, xs, xz = (self._fresh(x + "_quantized"), self._fresh(x + "_scale"),
                          self._fresh(x + "_zero_point"))
            nodes.append(helper.make_node("DynamicQuantizeLinear", [x], [xq, xs, xz],
                                          name=self._fresh(x + "_QuantizeLinear")))
            self.dql_cache[x] = (xq, xs, xz)
            self.stats["DynamicQuantizeLinear"] += 1
        return self.dql_cache[x]

    def _weight(self, wname, w, key):
        if key not in self.wq_cache:
            q, s = quantize_weight(w)
            self.wq_cache[key] = (self._add_init(q, wname + "_quantized"),
                                  self._add_init(np.array(s, np.float32), wname + "_scale"),
                                  self._add_init(np.array(0, np.int8), wname + "_zero_point"))
            self.stats["weights_quantized"] += 1
            self.stats["weight_params"] += w.size
        return self.wq_cache[key]

    def _matmul_integer(self, node_name, x, wq, out, nodes):
        xq, xs, xz = self._dql(x, nodes)
        w_q, w_s, w_z = wq
        mmi_out = self._fresh(out + "_quantized")
        nodes.append(helper.make_node("MatMulInteger", [xq, w_q, xz, w_z], [mmi_out],
                                      name=self._fresh(node_name + "_quant")))
        cast_out = self._fresh(mmi_out + "_cast_output")
        nodes.append(helper.make_node("Cast", [mmi_out], [cast_out],
                                      name=self._fresh(mmi_out + "_cast"), to=TensorProto.FLOAT))
        scales = self._fresh(node_name + "_quant_scales_mul:0")
        nodes.append(helper.make_node("Mul", [xs, w_s], [scales],
                                      name=self._fresh(node_name + "_quant_scales_mul")))
        nodes.append(helper.make_node("Mul", [cast_out, scales], [out],
                                      name=self._fresh(node_name + "_quant_output_scale_mul")))
        self.stats["MatMulInteger"] += 1

    # -- rewrites ---------------------------------------------------------------
    def _matmul(self, n, nodes):
        w = self._const_2d_float(n.input[1])
        if w is None:
            return False
        wq = self._weight(n.input[1], w, (n.input[1], False, 1.0))
        self._matmul_integer(n.name or n.output[0], n.input[0], wq, n.output[0], nodes)
        self.stats["MatMul_quantized"] += 1
        return True

    def _gemm(self, n, nodes):
        a = {x.name: helper.get_attribute_value(x) for x in n.attribute}
        if a.get("transA", 0):
            return False
        b = self._const_2d_float(n.input[1])
        if b is None:
            return False
        trans_b, alpha, beta = bool(a.get("transB", 0)), float(a.get("alpha", 1.0)), float(a.get("beta", 1.0))
        w = (b.T if trans_b else b) * np.float32(alpha)
        wq = self._weight(n.input[1], np.ascontiguousarray(w), (n.input[1], trans_b, alpha))
        name = n.name or n.output[0]
        has_c = len(n.input) > 2 and n.input[2] != ""
        mm_out = self._fresh(n.output[0] + "_matmul") if has_c else n.output[0]
        self._matmul_integer(name, n.input[0], wq, mm_out, nodes)
        if has_c:
            c = n.input[2]
            if beta != 1.0:
                if c in self.inits:
                    c = self._add_init(numpy_helper.to_array(self.inits[c]) * np.float32(beta),
                                       c + "_beta")
                else:
                    bname = self._add_init(np.array(beta, np.float32), name + "_beta")
                    c_scaled = self._fresh(c + "_beta_scaled")
                    nodes.append(helper.make_node("Mul", [c, bname], [c_scaled],
                                                  name=self._fresh(name + "_beta_mul")))
                    c = c_scaled
            nodes.append(helper.make_node("Add", [mm_out, c], [n.output[0]],
                                          name=self._fresh(name + "_bias_add")))
        self.stats["Gemm_quantized"] += 1
        return True

    def run(self):
        self.used = set(self.inits)
        for n in self.g.node:
            self.used.update(n.input)
            self.used.update(n.output)
            if n.name:
                self.used.add(n.name)
        for vi in list(self.g.input) + list(self.g.output) + list(self.g.value_info):
            self.used.add(vi.name)

        new_nodes = []
        for n in self.g.node:
            done = False
            if n.domain in ("", "ai.onnx"):
                if n.op_type == "MatMul":
                    done = self._matmul(n, new_nodes)
                elif n.op_type == "Gemm" and self.quantize_gemm:
                    done = self._gemm(n, new_nodes)
                elif n.op_type == "Conv":
                    self.stats["Conv_left_float"] += 1
            if not done:
                if n.op_type == "MatMul":
                    self.stats["MatMul_left_float"] += 1
                if n.op_type == "Gemm":
                    self.stats["Gemm_left_float"] += 1
                new_nodes.append(n)
        del self.g.node[:]
        self.g.node.extend(new_nodes)

        # drop float initializers nobody reads any more
        still_used = {i for n in self.g.node for i in n.input} | {o.name for o in self.g.output}
        keep = [t for t in self.g.initializer if t.name in still_used]
        removed = len(self.g.initializer) - len(keep)
        del self.g.initializer[:]
        self.g.initializer.extend(keep + self.new_inits)
        # graph inputs that shadowed removed initializers (IR < 4 style) go too
        inputs = [i for i in self.g.input if i.name in still_used or i.name not in self.inits]
        del self.g.input[:]
        self.g.input.extend(inputs)
        self.stats["float_initializers_removed"] = removed
        return self.model


def quantize(in_path, out_path, quantize_gemm=True):
    model = onnx.load(in_path)
    opset = next((o.version for o in model.opset_import if o.domain in ("", "ai.onnx")), 0)
    if opset < 11:
        raise SystemExit("opset %d < 11: DynamicQuantizeLinear needs opset >= 11" % opset)
    q = Quantizer(model, quantize_gemm)
    q.run()
    model.producer_name = "edgequant-tools-bench-quantize_dynamic"
    model.producer_version = "1"
    onnx.save(model, out_path)
    onnx.checker.check_model(out_path, full_check=True)
    return q.stats, opset


def _first_input_shape(model):
    inits = {t.name for t in model.graph.initializer}
    inp = next(i for i in model.graph.input if i.name not in inits)
    dims = [d.dim_value if d.HasField("dim_value") else 1 for d in inp.type.tensor_type.shape.dim]
    return inp.name, dims


def _mnist(n):
    shared = os.environ.get("EDGEQUANT_SHARED", os.path.join(REPO_ROOT, "..", "shared"))
    d = os.path.join(shared, "data", "mnist")
    imgs = np.fromfile(os.path.join(d, "t10k-images-idx3-ubyte"), np.uint8)[16:].reshape(-1, 1, 28, 28)
    labels = np.fromfile(os.path.join(d, "t10k-labels-idx1-ubyte"), np.uint8)[8:]
    return imgs[:n].astype(np.float32) / 255.0, labels[:n].astype(np.int64)


def check(in_path, out_path, input_npy=None, ref_npy=None, mnist=0, batch=1):
    sys.path.insert(0, HERE)
    import onnx_numpy_eval as ev

    stem = os.path.splitext(in_path)[0]
    labels = None
    if mnist:
        x, labels = _mnist(mnist)
        src = "first %d MNIST test images (pixel/255)" % mnist
    else:
        input_npy = input_npy or (stem + ".input.npy" if os.path.exists(stem + ".input.npy") else None)
        if input_npy:
            x = np.load(input_npy).astype(np.float32)
            src = input_npy
        else:
            _, shape = _first_input_shape(onnx.load(in_path))
            x = np.random.RandomState(7).rand(*shape).astype(np.float32)
            src = "seeded uniform [0,1) %s" % (shape,)
        ref_npy = ref_npy or (stem + ".logits.npy" if os.path.exists(stem + ".logits.npy") else None)
    print("check input: %s, evaluated in batches of %d" % (src, batch))

    def run_all(path):
        m = ev.Model(path)
        name = m.input_names[0]
        t = time.time()
        ys = [m.run({name: x[i:i + batch]})[0] for i in range(0, x.shape[0], batch)]
        return np.concatenate(ys), time.time() - t

    # INT8 activations are quantized per tensor over the whole batch, so the INT8 result depends
    # on what is batched together; --batch 1 (default) matches one-image-per-run inference.
    y32, t32 = run_all(in_path)
    y8, t8 = run_all(out_path)
    d = np.abs(y8 - y32)
    print("  numpy eval: FP32 %.1f s, INT8 %.1f s" % (t32, t8))
    print("  FP32 logits: max|.| %.4f std %.4f" % (np.abs(y32).max(), y32.std()))
    print("  max |INT8 - FP32| = %.4e  mean %.4e  (relative to max|FP32|: %.2f %%)"
          % (d.max(), d.mean(), 100 * d.max() / max(np.abs(y32).max(), 1e-12)))
    cos = float((y8 * y32).sum() / (np.linalg.norm(y8) * np.linalg.norm(y32) + 1e-30))
    agree = (y8.argmax(-1) == y32.argmax(-1)).mean()
    print("  cosine(INT8, FP32) = %.6f, argmax agreement %.2f %% (%d rows)"
          % (cos, 100 * agree, y32.shape[0]))
    if labels is not None:
        print("  top-1 vs labels: FP32 %.2f %%, INT8 %.2f %%"
              % (100 * (y32.argmax(-1) == labels).mean(), 100 * (y8.argmax(-1) == labels).mean()))
    if ref_npy:
        r = np.load(ref_npy)
        print("  max |numpy FP32 - %s| = %.3e" % (os.path.basename(ref_npy), np.abs(y32 - r).max()))
    return d.max()


def main():
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("input_model")
    ap.add_argument("output_model")
    ap.add_argument("--no-gemm", action="store_true", help="leave Gemm float (ORT's default)")
    ap.add_argument("--check", action="store_true", help="numpy FP32 vs INT8 comparison")
    ap.add_argument("--input", help="npy input for --check")
    ap.add_argument("--ref", help="npy reference FP32 output for --check")
    ap.add_argument("--mnist", type=int, default=0, help="--check on the first N MNIST test images")
    ap.add_argument("--batch", type=int, default=1,
                    help="--check batch size (default 1; INT8 activation scales span the batch)")
    args = ap.parse_args()

    t0 = time.time()
    stats, opset = quantize(args.input_model, args.output_model, not args.no_gemm)
    tq = time.time() - t0
    m = onnx.load(args.output_model)
    ops = collections.Counter(n.op_type for n in m.graph.node)
    print("%s -> %s (opset %d): %.1f MB -> %.1f MB, quantize+save+checker %.1f s"
          % (args.input_model, args.output_model, opset,
             os.path.getsize(args.input_model) / 1e6, os.path.getsize(args.output_model) / 1e6, tq))
    print("  rewrites:", dict(sorted(stats.items())))
    print("  %d nodes, ops: %s" % (sum(ops.values()), dict(sorted(ops.items()))))
    if args.check or args.mnist:
        check(args.input_model, args.output_model, args.input, args.ref, args.mnist, args.batch)
    print("total %.1f s" % (time.time() - t0))


if __name__ == "__main__":
    main()
