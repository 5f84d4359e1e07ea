#!/usr/bin/python3
"""Tiny random decoder LLM folders (Hugging Face layout) with their PyTorch outputs, for EdgeQuant's tests.

Run with Debian's interpreter (torch 1.13 CPU, numpy; no `transformers` needed):

    /usr/bin/python3 tools/testmodels/make_decoder_models.py [--out tests/assets/decoder]

Writes one folder per model (config.json, model.safetensors, expected.json):
  llama/   LlamaForCausalLM: grouped-query attention (4 query heads, 2 key/value heads), head_dim 24 != hidden/heads,
           rope_scaling "llama3", untied lm_head, F32
  qwen2/   Qwen2ForCausalLM: q/k/v biases, multi-query attention (1 key/value head), tied embeddings,
           rope_scaling "linear", BF16 weights
  gpt2/    GPT2LMHeadModel: learned positions, LayerNorm, GELU-tanh, Conv1D weights ([in, out]), tied lm_head,
           the causal-mask buffers old checkpoints carry ("h.N.attn.bias"), F16 weights

The modules (tools/eqtools/decoders.py) reproduce the arithmetic of transformers' modeling_llama / modeling_qwen2 / modeling_gpt2
(eval mode, no cache): RMSNorm in float32 as x * rsqrt(mean(x^2) + eps) * w, rotate-half RoPE with the inverse
frequencies 1 / theta^(2i / head_dim) (scaled as the config's rope_scaling says), keys/values repeated per query
group, causal softmax attention scaled by 1/sqrt(head_dim), SiLU-gated MLP; GPT-2 with learned positions and
gelu_new. Weights ~ N(0, 1/fan_in), biases 0.1 N(0,1), norm weights 1 + 0.1 N(0,1), embeddings 0.5 N(0,1)
(std 0.02 would make the logits nearly flat). Stored weights are rounded to the file's dtype before the reference
runs, so the reference sees exactly what the engine reads.

expected.json: "prompt" (ids), "logits" ([prompt length][vocab], every position), "greedy" (the 24 ids argmax
decoding appends to the prompt, recomputing the whole sequence each step) and "greedy_margin" (the smallest
top-1/top-2 logit gap along that path; the prompt is redrawn until it exceeds 0.02, so float error cannot decide
a token).
"""
import argparse
import json
import math
import os
import sys

import numpy as np
import torch

REPO_ROOT = os.path.abspath(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))
sys.path.insert(0, os.path.join(REPO_ROOT, "tools"))
from eqtools import safetensors_io  # noqa: E402
from eqtools.decoders import Conv1D, Gpt2LMHeadModel, LlamaForCausalLM  # noqa: E402

GREEDY_TOKENS = 24


def random_init(model, seed):
    torch.manual_seed(seed)
    for name, p in model.named_parameters():
        with torch.no_grad():
            if "embed" in name or "wte" in name or "wpe" in name:
                p.normal_(0, 0.5)
            elif "norm" in name or "ln_" in name:
                p.copy_((1 + 0.1 * torch.randn_like(p)) if name.endswith("weight") else 0.1 * torch.randn_like(p))
            elif p.dim() == 2:
                fan_in = p.shape[0] if isinstance(dict(model.named_modules()).get(name.rsplit(".", 1)[0]), Conv1D) else p.shape[1]
                p.normal_(0, 1 / math.sqrt(fan_in))
            else:
                p.normal_(0, 0.1)


def round_to(model, dtype):
    """Round every parameter to the stored dtype so the reference runs on the engine's exact weights."""
    tdt = {"F32": torch.float32, "F16": torch.float16, "BF16": torch.bfloat16}[dtype]
    with torch.no_grad():
        for p in model.parameters():
            p.copy_(p.to(tdt).float())


def state_for_file(model):
    sd = {k: v.float() for k, v in model.state_dict().items()}  # the GPT-2 mask buffers as 0/1 floats, as checkpoints hold them
    if model.c.get("tie_word_embeddings") and "lm_head.weight" in sd:
        del sd["lm_head.weight"]  # tied: transformers saves only the embedding
    return sd


SPECS = {
    "llama": dict(dtype="F32", seed=11, config={
        "architectures": ["LlamaForCausalLM"], "model_type": "llama", "vocab_size": 320, "hidden_size": 64,
        "intermediate_size": 176, "num_hidden_layers": 2, "num_attention_heads": 4, "num_key_value_heads": 2,
        "head_dim": 24, "max_position_embeddings": 128, "rms_norm_eps": 1e-5, "rope_theta": 500000.0,
        "rope_scaling": {"rope_type": "llama3", "factor": 8.0, "low_freq_factor": 1.0, "high_freq_factor": 4.0,
                         "original_max_position_embeddings": 64},
        "hidden_act": "silu", "tie_word_embeddings": False, "bos_token_id": 1, "eos_token_id": 2,
        "attention_bias": False, "torch_dtype": "float32"}),
    "qwen2": dict(dtype="BF16", seed=12, config={
        "architectures": ["Qwen2ForCausalLM"], "model_type": "qwen2", "vocab_size": 288, "hidden_size": 48,
        "intermediate_size": 120, "num_hidden_layers": 3, "num_attention_heads": 3, "num_key_value_heads": 1,
        "max_position_embeddings": 96, "rms_norm_eps": 1e-6, "rope_theta": 1000000.0,
        "rope_scaling": {"type": "linear", "factor": 2.0}, "hidden_act": "silu", "tie_word_embeddings": True,
        "use_sliding_window": False, "bos_token_id": 0, "eos_token_id": 3, "torch_dtype": "bfloat16"}),
    "gpt2": dict(dtype="F16", seed=13, config={
        "architectures": ["GPT2LMHeadModel"], "model_type": "gpt2", "vocab_size": 300, "n_embd": 40, "n_layer": 2,
        "n_head": 5, "n_positions": 64, "n_ctx": 64, "n_inner": None, "activation_function": "gelu_new",
        "layer_norm_epsilon": 1e-5, "bos_token_id": 0, "eos_token_id": 0, "tie_word_embeddings": True,
        "torch_dtype": "float16"}),
}


def build(name, spec):
    c = spec["config"]
    if name == "gpt2":
        return Gpt2LMHeadModel(c)
    return LlamaForCausalLM(c, bias=name == "qwen2")


def greedy(model, prompt, n):
    ids = list(prompt)
    margin = float("inf")
    with torch.no_grad():
        for _ in range(n):
            last = model(torch.tensor(ids))[-1]
            top = torch.topk(last, 2).values
            margin = min(margin, float(top[0] - top[1]))
            ids.append(int(last.argmax()))
    return ids[len(prompt):], margin


def generate(name, spec, out):
    d = os.path.join(out, name)
    os.makedirs(d, exist_ok=True)
    model = build(name, spec).eval()
    random_init(model, spec["seed"])
    round_to(model, spec["dtype"])
    with open(os.path.join(d, "config.json"), "w") as f:
        json.dump(spec["config"], f, indent=2)
    safetensors_io.save_file(state_for_file(model), os.path.join(d, "model.safetensors"), {"format": "pt"}, dtype=spec["dtype"])
    rng = np.random.default_rng(spec["seed"])
    for _ in range(100):  # a prompt whose greedy path has no near-ties (float error must not decide a token)
        prompt = [int(i) for i in rng.integers(4, spec["config"]["vocab_size"], 9)]
        cont, margin = greedy(model, prompt, GREEDY_TOKENS)
        if margin > 0.02:
            break
    with torch.no_grad():
        logits = model(torch.tensor(prompt))
    exp = {"prompt": prompt, "logits": [[float(v) for v in row] for row in logits], "greedy": cont, "greedy_margin": margin}
    with open(os.path.join(d, "expected.json"), "w") as f:
        json.dump(exp, f)
    print(f"{name}: {sum(p.numel() for p in model.parameters())} parameters, {spec['dtype']}, greedy margin {margin:.4f}")


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", default=os.path.join(REPO_ROOT, "tests", "assets", "decoder"))
    args = ap.parse_args()
    torch.set_num_threads(1)
    for name, spec in SPECS.items():
        generate(name, spec, args.out)


if __name__ == "__main__":
    main()
