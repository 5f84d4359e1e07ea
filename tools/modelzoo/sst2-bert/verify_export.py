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

HERE = os.path.dirname(os.path.abspath(__file__))

# The project's one numpy ONNX interpreter (tools/bench/onnx_numpy_eval.py).
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "bench"))
from onnx_numpy_eval import run_graph as run  # noqa: E402


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
    from eqtools import safetensors_io

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
