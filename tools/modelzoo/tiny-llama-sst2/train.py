#!/usr/bin/python3
"""A tiny Llama language model trained on the SST-2 train sentences, byte-level (no tokenizer to learn).

    /usr/bin/python3 tools/modelzoo/tiny-llama-sst2/train.py [--shared ../shared] [--out tools/modelzoo/tiny-llama-sst2]
        [--steps 600] [--seed 0]

Tokens: the UTF-8 bytes of a sentence (ids 0..255), wrapped in BOS (256) and EOS (257); vocabulary 258. Model
(tools/eqtools/decoders.py, transformers' LlamaForCausalLM arithmetic): hidden 128, 4 blocks, 4 query heads sharing
2 key/value heads, SwiGLU MLP 352, RoPE θ = 10000, untied LM head, 128 positions. AdamW (lr 3e-3, cosine, warm-up
100), batches of 32 sentences, 600 steps, seeded; about 7 minutes on 2 cores (Zen 5; install libopenblas0 first:
Debian's reference BLAS makes it 5x slower). Never run by the tests.

Writes into --out: `hf/` (config.json + model.safetensors, F32), `valid_ids.txt` (the 872 SST-2 validation sentences
as token ids, one comma-separated line each: the held-out text for `edgequant perplexity`), `metrics.json` (PyTorch
FP32 perplexity on them, the reference the engine's FP32/W8/W4 perplexities are compared with, and a 100-token greedy
continuation of "this movie is" the engine's FP32 run must repeat). `--references-only` recomputes metrics.json's
references from a saved hf/ folder.
"""
import argparse
import json
import math
import os
import sys
import time

import numpy as np
import torch
import torch.nn.functional as F

REPO = os.path.abspath(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", ".."))
sys.path.insert(0, os.path.join(REPO, "tools"))
from eqtools import safetensors_io  # noqa: E402
from eqtools.data import read_tsv  # noqa: E402
from eqtools.decoders import LlamaForCausalLM  # noqa: E402

BOS, EOS, VOCAB, CTX = 256, 257, 258, 128
CONFIG = {
    "architectures": ["LlamaForCausalLM"], "model_type": "llama", "vocab_size": VOCAB, "hidden_size": 128,
    "intermediate_size": 352, "num_hidden_layers": 4, "num_attention_heads": 4, "num_key_value_heads": 2,
    "max_position_embeddings": CTX, "rms_norm_eps": 1e-5, "rope_theta": 10000.0, "hidden_act": "silu",
    "tie_word_embeddings": False, "bos_token_id": BOS, "eos_token_id": EOS, "torch_dtype": "float32",
}


def encode(sentence):
    ids = [BOS] + list(sentence.strip().encode("utf-8")) + [EOS]
    return ids[:CTX]


def batch_loss(model, seqs):
    """Mean next-token cross-entropy over the real tokens of a right-padded batch (causal attention: padding after a
    sentence cannot reach its tokens)."""
    t = max(len(s) for s in seqs)
    x = torch.full((len(seqs), t), EOS, dtype=torch.long)
    target = torch.full((len(seqs), t), -100, dtype=torch.long)
    for i, s in enumerate(seqs):
        x[i, :len(s)] = torch.tensor(s)
        target[i, :len(s) - 1] = torch.tensor(s[1:])
    logits = model(x)
    return F.cross_entropy(logits.reshape(-1, VOCAB), target.reshape(-1), ignore_index=-100)


def perplexity(model, seqs):
    with torch.no_grad():
        nll, n = 0.0, 0
        for ids in seqs:
            x = torch.tensor(ids)
            nll += float(F.cross_entropy(model(x)[:-1], x[1:], reduction="sum"))
            n += len(ids) - 1
    return math.exp(nll / n), n


GREEDY_PROMPT = "this movie is"
GREEDY_TOKENS = 100


def references(model, valid, out):
    """metrics.json: PyTorch FP32 perplexity on the validation sentences and a greedy continuation of GREEDY_PROMPT
    (the engine's FP32 run must produce the same ids)."""
    ppl, n = perplexity(model, valid)
    prompt = encode(GREEDY_PROMPT)[:-1]  # no EOS: the model continues the sentence
    ids = list(prompt)
    with torch.no_grad():
        for _ in range(GREEDY_TOKENS):
            ids.append(int(model(torch.tensor(ids))[-1].argmax()))
    return {"valid_perplexity_fp32_pytorch": round(ppl, 4), "valid_tokens": n, "greedy_prompt": prompt,
            "greedy": ids[len(prompt):], "greedy_text": bytes(i for i in ids[len(prompt):] if i < 256).decode("utf-8", "replace")}


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--shared", default=os.path.join(REPO, "..", "shared"))
    ap.add_argument("--out", default=os.path.dirname(os.path.abspath(__file__)))
    ap.add_argument("--steps", type=int, default=600)
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--references-only", action="store_true", help="load --out/hf and rewrite metrics.json's references")
    args = ap.parse_args()
    torch.manual_seed(args.seed)
    torch.set_num_threads(2)
    rng = np.random.default_rng(args.seed)
    train = [encode(s) for s, _ in read_tsv(os.path.join(args.shared, "data", "sst2", "train.tsv"))]
    valid = [encode(s) for s, _ in read_tsv(os.path.join(args.shared, "data", "sst2", "validation.tsv"))]
    model = LlamaForCausalLM(CONFIG)
    if args.references_only:
        tensors, _ = safetensors_io.load_file(os.path.join(args.out, "hf", "model.safetensors"))
        model.load_state_dict({k: torch.from_numpy(v) for k, v in tensors.items()}, strict=True)
        model.eval()
        path = os.path.join(args.out, "metrics.json")
        metrics = json.load(open(path)) if os.path.exists(path) else {}
        metrics.update(references(model, valid, args.out))
        with open(path, "w") as f:
            json.dump(metrics, f, indent=2)
        print(json.dumps({k: v for k, v in metrics.items() if k != "greedy"}))
        return
    opt = torch.optim.AdamW(model.parameters(), lr=3e-3, weight_decay=0.01)
    sched = torch.optim.lr_scheduler.LambdaLR(
        opt, lambda s: min(1.0, (s + 1) / 100) * 0.5 * (1 + math.cos(math.pi * min(s, args.steps) / args.steps)))
    t0 = time.time()
    for step in range(args.steps):
        idx = rng.integers(0, len(train), args.batch)
        loss = batch_loss(model, [train[i] for i in idx])
        opt.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        sched.step()
        if step % 100 == 0 or step == args.steps - 1:
            print(f"step {step:5d}  loss {float(loss):.4f}  ({time.time() - t0:.0f} s)", flush=True)
    model.eval()
    refs = references(model, valid, args.out)
    print(f"validation perplexity (PyTorch FP32, per byte): {refs['valid_perplexity_fp32_pytorch']:.4f} over {refs['valid_tokens']} tokens")
    hf = os.path.join(args.out, "hf")
    os.makedirs(hf, exist_ok=True)
    with open(os.path.join(hf, "config.json"), "w") as f:
        json.dump(CONFIG, f, indent=2)
    safetensors_io.save_file(model.state_dict(), os.path.join(hf, "model.safetensors"), {"format": "pt"})
    with open(os.path.join(args.out, "valid_ids.txt"), "w") as f:
        for ids in valid:
            f.write(",".join(map(str, ids)) + "\n")
    with open(os.path.join(args.out, "metrics.json"), "w") as f:
        json.dump({"steps": args.steps, "batch": args.batch, "seed": args.seed, "train_seconds": round(time.time() - t0), **refs}, f, indent=2)


if __name__ == "__main__":
    main()
