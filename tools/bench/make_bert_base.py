#!/usr/bin/python3
"""Write a random-weight, BERT-base-shaped BertForSequenceClassification for benchmarks.

    /usr/bin/python3 tools/bench/make_bert_base.py [--out out/bench/bert-base] [--seed 0] [--check-onnx]

No training: the weights are HF's initialisation (Linear/Embedding ~ N(0, 0.02^2), biases 0,
LayerNorm gamma 1 / beta 0; see train.py's init_weights) drawn after torch.manual_seed(seed).
Shape of bert-base-uncased: 12 layers, hidden 768, 12 heads, MLP 3072 (exact erf GELU),
512 positions, vocab 30522, 2 token types; 2 labels. ~110 M parameters.

The model is the plain-torch BertForSequenceClassification of tools/modelzoo/sst2-bert/train.py
(exact Hugging Face parameter names). Outputs in --out (default /work/main/out/bench/bert-base/,
git-ignored, ~880 MB in all):
    hf/config.json, hf/model.safetensors, hf/vocab.txt, hf/tokenizer_config.json,
    hf/special_tokens_map.json                      (train.py's write_hf)
    model.onnx + vocab.txt                          (train.py's export_onnx: opset 17, dynamic
                                                     batch/seq; inputs input_ids, attention_mask,
                                                     token_type_ids; output logits)
    reference.json                                  torch FP32 logits for 3 sequences of 128 tokens,
                                                     batch 1 each: ids seeded random in
                                                     [1000, 30000), first 101 ([CLS]), last 102
                                                     ([SEP]), mask all 1, token types all 0
With --check-onnx, model.onnx is also run on the 3 reference inputs with the numpy interpreter
tools/bench/onnx_numpy_eval.py and the max |ONNX - torch| is printed and stored in reference.json.
"""
import argparse
import json
import os
import shutil
import sys
import time

import numpy as np
import torch

HERE = os.path.dirname(os.path.abspath(__file__))
REPO_ROOT = os.path.abspath(os.path.join(HERE, "..", ".."))
sys.path.insert(0, os.path.join(REPO_ROOT, "tools", "modelzoo", "sst2-bert"))
import train  # noqa: E402  (BertForSequenceClassification, hf_config, write_hf, export_onnx)

VOCAB = "/work/shared/data/vocab/bert-base-uncased-vocab.txt"
SEQ_LEN = 128
N_REF = 3
# bert-base-uncased's shape; every other key (dropout, eps, init range, pad id) as in train.CONFIG
BERT_BASE = dict(train.CONFIG, vocab_size=30522, hidden_size=768, num_hidden_layers=12, num_attention_heads=12,
                 intermediate_size=3072, hidden_act="gelu", max_position_embeddings=512, type_vocab_size=2,
                 layer_norm_eps=1e-12, initializer_range=0.02, pad_token_id=0)


class train_config:
    """Context manager: train.py's hf_config()/write_hf() read the module-level train.CONFIG;
    point it at `cfg` for the duration of the block."""

    def __init__(self, cfg):
        self.cfg = cfg

    def __enter__(self):
        self.saved, train.CONFIG = train.CONFIG, self.cfg

    def __exit__(self, *exc):
        train.CONFIG = self.saved


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", default=os.path.join(REPO_ROOT, "out", "bench", "bert-base"))
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--vocab", default=VOCAB)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--check-onnx", action="store_true", help="run model.onnx with onnx_numpy_eval.py (slow)")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    t0 = time.time()

    torch.manual_seed(args.seed)
    model = train.BertForSequenceClassification(BERT_BASE, num_labels=2).eval()  # init_weights: HF init
    n_params = sum(p.numel() for p in model.parameters())
    print(f"built {n_params:,} parameters ({time.time() - t0:.1f}s)", flush=True)

    hf_dir = os.path.join(args.out, "hf")
    with train_config(BERT_BASE):
        train.write_hf(model, hf_dir, args.vocab)
    # write_hf's tokenizer_config.json says model_max_length 128 (the SST-2 model); bert-base takes 512
    tc_path = os.path.join(hf_dir, "tokenizer_config.json")
    with open(tc_path) as f:
        tc = json.load(f)
    tc["model_max_length"] = BERT_BASE["max_position_embeddings"]
    with open(tc_path, "w") as f:
        json.dump(tc, f, indent=2)
        f.write("\n")
    print(f"wrote {hf_dir} ({time.time() - t0:.1f}s)", flush=True)

    onnx_path = os.path.join(args.out, "model.onnx")
    train.export_onnx(model, onnx_path)
    shutil.copyfile(args.vocab, os.path.join(args.out, "vocab.txt"))
    print(f"wrote {onnx_path} ({time.time() - t0:.1f}s)", flush=True)

    # reference logits, batch 1 at exact length
    rng = np.random.default_rng(args.seed)
    items = []
    for _ in range(N_REF):
        ids = [101] + rng.integers(1000, 30000, size=SEQ_LEN - 2).tolist() + [102]
        x = torch.tensor([ids], dtype=torch.int64)
        t = time.time()
        with torch.no_grad():
            logits = model(x, torch.ones_like(x), torch.zeros_like(x))[0]
        items.append({"input_ids": ids, "logits": [float(np.float32(v)) for v in logits.tolist()]})
        print(f"reference {len(items)}: logits {items[-1]['logits']} ({time.time() - t:.1f}s)", flush=True)
    ref = {
        "generator": "tools/bench/make_bert_base.py", "torch_version": torch.__version__, "seed": args.seed,
        "description": f"Random-weight BERT-base BertForSequenceClassification (HF init, std 0.02). "
                       f"{N_REF} sequences of {SEQ_LEN} tokens, batch 1: attention_mask all 1, "
                       f"token_type_ids all 0; logits: torch FP32 (plain F.linear).",
        "config": BERT_BASE, "parameters": n_params, "items": items,
    }

    if args.check_onnx:
        import onnx_numpy_eval
        runner = onnx_numpy_eval.Model(onnx_path)
        worst = 0.0
        for it in items:
            ids = np.array([it["input_ids"]], np.int64)
            t = time.time()
            (y,) = runner.run({"input_ids": ids, "attention_mask": np.ones_like(ids),
                               "token_type_ids": np.zeros_like(ids)})
            worst = max(worst, float(np.abs(y[0] - np.array(it["logits"], np.float32)).max()))
            print(f"onnx_numpy_eval: {y[0].tolist()} ({time.time() - t:.1f}s)", flush=True)
        ref["onnx_numpy_eval_max_abs_diff"] = worst
        print(f"max |ONNX (numpy) - torch| = {worst:.3g}")

    with open(os.path.join(args.out, "reference.json"), "w") as f:
        json.dump(ref, f, indent=1)
        f.write("\n")
    for rel in ("hf/config.json", "hf/model.safetensors", "hf/vocab.txt", "hf/tokenizer_config.json",
                "hf/special_tokens_map.json", "model.onnx", "vocab.txt", "reference.json"):
        print(f"  {rel:28s} {os.path.getsize(os.path.join(args.out, rel)):>13,d} bytes")
    print(f"total {time.time() - t0:.0f}s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
