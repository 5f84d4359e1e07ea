#!/usr/bin/python3
"""Check the sst2-bert exports without onnxruntime (onnx 1.12 has no onnx.reference either).

    /usr/bin/python3 tools/modelzoo/sst2-bert/verify_export.py [--out /work/main/out/sst2-bert]

1. safetensors: layout check with our own reader, key set == the HF BertForSequenceClassification
   names, reload into the torch model, FP32 dev accuracy (plain F.linear).
2. model.onnx: onnx.checker (full_check), opset 17, no external data, input/output signature,
   op-type histogram.
3. A small numpy interpreter for exactly the ops in this graph runs the ONNX graph on all 872
   dev sentences (length-sorted batches of 128 with padding, the same batching as the torch
   evaluation) and compares with the torch logits; it also runs the first 16 dev sentences at
   batch 1 / exact length and compares with dev_reference.json.
train.py calls check_onnx() right after exporting.
"""
import argparse
import collections
import json
import os
import sys

import numpy as np
import onnx
from onnx import numpy_helper

HERE = os.path.dirname(os.path.abspath(__file__))

try:
    import torch

    def erf(x):
        return torch.erf(torch.from_numpy(np.ascontiguousarray(x))).numpy()
except ImportError:  # Abramowitz & Stegun 7.1.26 in float64, |error| < 1.5e-7
    def erf(x):
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


_NP_TYPES = {onnx.TensorProto.FLOAT: np.float32, onnx.TensorProto.INT64: np.int64,
             onnx.TensorProto.INT32: np.int32, onnx.TensorProto.BOOL: np.bool_,
             onnx.TensorProto.DOUBLE: np.float64}


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
        elif op == "Sub":
            out = ins[0] - ins[1]
        elif op == "Mul":
            out = ins[0] * ins[1]
        elif op == "Div":
            if np.issubdtype(ins[0].dtype, np.integer):
                out = (ins[0] // ins[1]).astype(ins[0].dtype)
            else:
                out = ins[0] / ins[1]
        elif op == "Sqrt":
            out = np.sqrt(ins[0])
        elif op == "Pow":
            out = np.power(ins[0], ins[1]).astype(ins[0].dtype)
        elif op == "Tanh":
            out = np.tanh(ins[0])
        elif op == "Erf":
            out = erf(ins[0])
        elif op == "Cast":
            out = ins[0].astype(_NP_TYPES[attr(node, "to")])
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
            out = out.astype(np.float32)
        elif op == "Shape":
            out = np.array(ins[0].shape, dtype=np.int64)
        elif op == "Gather":
            out = np.take(ins[0], ins[1], axis=attr(node, "axis", 0))
        elif op == "Unsqueeze":
            out = ins[0]
            rank = out.ndim + ins[1].size
            for ax in sorted(int(a) + rank if a < 0 else int(a) for a in ins[1].ravel()):
                out = np.expand_dims(out, ax)
        elif op == "Squeeze":
            out = np.squeeze(ins[0], axis=tuple(int(a) for a in ins[1].ravel()))
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
            out = (x - mean) / np.sqrt(var + np.float32(eps)) * ins[1]
            if len(ins) > 2 and ins[2] is not None:
                out = out + ins[2]
            out = out.astype(x.dtype)
        elif op == "Softmax":
            axis = attr(node, "axis", -1)
            e = np.exp(ins[0] - ins[0].max(axis=axis, keepdims=True))
            out = e / e.sum(axis=axis, keepdims=True)
        else:
            raise NotImplementedError(f"op {op} ({node.name})")
        if isinstance(out, np.ndarray) and out.dtype == np.float64 and op not in ("Cast", "Constant"):
            out = out.astype(np.float32)
        env[node.output[0]] = np.asarray(out)
    return [env[o.name] for o in model.graph.output]


def pad_batch(seqs):
    L = max(len(s) for s in seqs)
    ids = np.zeros((len(seqs), L), np.int64)
    mask = np.zeros((len(seqs), L), np.int64)
    for i, s in enumerate(seqs):
        ids[i, :len(s)] = s
        mask[i, :len(s)] = 1
    return ids, mask


def check_onnx(path, dev, torch_logits, ref=None, batch_size=128):
    """dev: list of (input_ids, label); torch_logits: [len(dev), 2] float32 from the torch
    evaluation with the same length-sorted batching. Returns a report dict; raises on failure."""
    size = os.path.getsize(path)
    model = onnx.load(path, load_external_data=False)
    onnx.checker.check_model(model, full_check=True)
    opsets = {o.domain or "ai.onnx": o.version for o in model.opset_import}
    external = [i.name for i in model.graph.initializer if i.data_location == onnx.TensorProto.EXTERNAL]
    assert opsets.get("ai.onnx") == 17, opsets
    assert not external, external
    sig = {}
    for io in list(model.graph.input) + list(model.graph.output):
        tt = io.type.tensor_type
        sig[io.name] = [onnx.TensorProto.DataType.Name(tt.elem_type),
                        [d.dim_param or d.dim_value for d in tt.shape.dim]]
    counts = collections.Counter(n.op_type for n in model.graph.node)
    n_params = sum(int(np.prod(i.dims)) for i in model.graph.initializer)
    print(f"onnx: {size} bytes, checker ok (full_check), opsets {opsets}, IR {model.ir_version}, "
          f"{len(model.graph.initializer)} initializers / {n_params} values, all embedded")
    for k, v in sig.items():
        print(f"  {k}: {v[0]} {v[1]}")
    print(f"  nodes {sum(counts.values())}: " + ", ".join(f"{k} {v}" for k, v in counts.most_common()))

    order = sorted(range(len(dev)), key=lambda i: len(dev[i][0]))
    onnx_logits = np.zeros((len(dev), 2), np.float32)
    for s in range(0, len(order), batch_size):
        idx = order[s:s + batch_size]
        ids, mask = pad_batch([dev[i][0] for i in idx])
        onnx_logits[idx] = run(model, {"input_ids": ids, "attention_mask": mask,
                                       "token_type_ids": np.zeros_like(ids)})[0]
    labels = np.array([y for _, y in dev])
    acc = float((onnx_logits.argmax(1) == labels).mean())
    diff = float(np.abs(onnx_logits - torch_logits).max())
    agree = float((onnx_logits.argmax(1) == torch_logits.argmax(1)).mean())
    print(f"numpy-ONNX on {len(dev)} dev sentences: accuracy {acc * 100:.2f}%, max |logit diff| vs torch "
          f"{diff:.3g}, argmax agreement {agree * 100:.2f}%")
    report = {"bytes": size, "opsets": opsets, "ir_version": model.ir_version,
              "signature": sig, "op_counts": dict(counts.most_common()),
              "nodes": sum(counts.values()), "initializers": len(model.graph.initializer),
              "initializer_values": n_params, "numpy_onnx_dev_acc": round(acc * 100, 2),
              "max_abs_diff_vs_torch_dev": diff, "argmax_agreement_dev": agree}
    ok = diff < 1e-3 and agree == 1.0
    if ref is not None:
        single = np.stack([run(model, {"input_ids": np.array([it["input_ids"]], np.int64),
                                       "attention_mask": np.ones((1, len(it["input_ids"])), np.int64),
                                       "token_type_ids": np.zeros((1, len(it["input_ids"])), np.int64)})[0][0]
                           for it in ref["items"]])
        rdiff = float(np.abs(single - np.array([it["logits"] for it in ref["items"]], np.float32)).max())
        print(f"numpy-ONNX batch 1 / exact length vs dev_reference logits (16): max |diff| {rdiff:.3g}")
        report["max_abs_diff_vs_reference16"] = rdiff
        ok = ok and rdiff < 1e-3
    if not ok:
        raise AssertionError("ONNX graph does not match torch")
    return report


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", default="/work/main/out/sst2-bert")
    ap.add_argument("--dev", default="/work/shared/data/sst2/validation.tsv")
    ap.add_argument("--vocab", default="/work/shared/data/vocab/bert-base-uncased-vocab.txt")
    ap.add_argument("--ref", default=os.path.join(HERE, "dev_reference.json"))
    args = ap.parse_args()
    import torch
    torch.set_num_threads(1)
    sys.path.insert(0, HERE)
    import train as T
    from tokenizer import BertTokenizer
    import safetensors_io

    st = os.path.join(args.out, "hf", "model.safetensors")
    tensors, meta = safetensors_io.load_file(st)  # checks contiguity
    print(f"safetensors: {len(tensors)} tensors, metadata {meta}, layout ok")
    model = T.load_from_safetensors(st)
    tok = BertTokenizer(args.vocab)
    rows = T.read_tsv(args.dev)
    dev = T.encode_all(tok, rows, 128)
    acc, loss, logits = T.evaluate(model, dev)
    print(f"torch FP32 dev accuracy: {acc * 100:.2f}% ({int(round(acc * len(dev)))}/{len(dev)}), loss {loss:.4f}")
    ref = None
    if os.path.exists(args.ref):
        with open(args.ref) as f:
            ref = json.load(f)
        ids_ok = all(it["input_ids"] == dev[it["index"]][0] for it in ref["items"])
        single = T.logits_one_by_one(model, [it["input_ids"] for it in ref["items"]]).numpy()
        d = float(np.abs(single - np.array([it["logits"] for it in ref["items"]], np.float32)).max())
        print(f"dev_reference.json: token ids reproduce: {ids_ok}; torch logits max |diff| {d:.3g}")
        if not ids_ok or d != 0.0:
            print("FAIL")
            return 1
    check_onnx(os.path.join(args.out, "model.onnx"), dev, logits.numpy(), ref)
    print("OK")
    return 0


if __name__ == "__main__":
    sys.exit(main())
