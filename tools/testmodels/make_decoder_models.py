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

The modules below reproduce the arithmetic of transformers' modeling_llama / modeling_qwen2 / modeling_gpt2
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
import torch.nn as nn
import torch.nn.functional as F

REPO_ROOT = os.path.abspath(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))
sys.path.insert(0, os.path.join(REPO_ROOT, "tools"))
from eqtools import safetensors_io  # noqa: E402

GREEDY_TOKENS = 24


class RmsNorm(nn.Module):
    def __init__(self, d, eps):
        super().__init__()
        self.weight = nn.Parameter(torch.ones(d))
        self.eps = eps

    def forward(self, x):
        var = x.float().pow(2).mean(-1, keepdim=True)
        return self.weight * (x * torch.rsqrt(var + self.eps))


def rope_inv_freq(c):
    dh = c.get("head_dim") or c["hidden_size"] // c["num_attention_heads"]
    inv = 1.0 / (c.get("rope_theta", 10000.0) ** (torch.arange(0, dh, 2, dtype=torch.int64).float() / dh))
    rs = c.get("rope_scaling")
    if not rs:
        return inv
    kind = rs.get("rope_type", rs.get("type"))
    if kind == "linear":
        return inv / rs["factor"]
    if kind == "llama3":
        factor, lo, hi, old = rs["factor"], rs["low_freq_factor"], rs["high_freq_factor"], rs["original_max_position_embeddings"]
        lo_wl, hi_wl = old / lo, old / hi
        wl = 2 * math.pi / inv
        scaled = torch.where(wl > lo_wl, inv / factor, inv)
        smooth = (old / wl - lo) / (hi - lo)
        smoothed = (1 - smooth) * scaled / factor + smooth * scaled
        medium = ~(wl < hi_wl) * ~(wl > lo_wl)
        return torch.where(medium, smoothed, scaled)
    raise ValueError(kind)


def rotate_half(x):
    h = x.shape[-1] // 2
    return torch.cat((-x[..., h:], x[..., :h]), dim=-1)


class LlamaAttention(nn.Module):
    def __init__(self, c, bias):
        super().__init__()
        d, self.h, self.kv = c["hidden_size"], c["num_attention_heads"], c["num_key_value_heads"]
        self.dh = c.get("head_dim") or d // self.h
        self.q_proj = nn.Linear(d, self.h * self.dh, bias=bias)
        self.k_proj = nn.Linear(d, self.kv * self.dh, bias=bias)
        self.v_proj = nn.Linear(d, self.kv * self.dh, bias=bias)
        self.o_proj = nn.Linear(self.h * self.dh, d, bias=False)

    def forward(self, x, cos, sin):
        t = x.shape[0]
        q = self.q_proj(x).view(t, self.h, self.dh).transpose(0, 1)  # [h, t, dh]
        k = self.k_proj(x).view(t, self.kv, self.dh).transpose(0, 1)
        v = self.v_proj(x).view(t, self.kv, self.dh).transpose(0, 1)
        q, k = q * cos + rotate_half(q) * sin, k * cos + rotate_half(k) * sin
        rep = self.h // self.kv
        k, v = k.repeat_interleave(rep, dim=0), v.repeat_interleave(rep, dim=0)
        s = q @ k.transpose(1, 2) / math.sqrt(self.dh)
        s = s.masked_fill(torch.triu(torch.ones(t, t, dtype=torch.bool), 1), float("-inf"))
        o = (F.softmax(s.float(), dim=-1) @ v).transpose(0, 1).reshape(t, self.h * self.dh)
        return self.o_proj(o)


class LlamaMlp(nn.Module):
    def __init__(self, d, f):
        super().__init__()
        self.gate_proj = nn.Linear(d, f, bias=False)
        self.up_proj = nn.Linear(d, f, bias=False)
        self.down_proj = nn.Linear(f, d, bias=False)

    def forward(self, x):
        return self.down_proj(F.silu(self.gate_proj(x)) * self.up_proj(x))


class LlamaLayer(nn.Module):
    def __init__(self, c, bias):
        super().__init__()
        d, eps = c["hidden_size"], c["rms_norm_eps"]
        self.input_layernorm = RmsNorm(d, eps)
        self.self_attn = LlamaAttention(c, bias)
        self.post_attention_layernorm = RmsNorm(d, eps)
        self.mlp = LlamaMlp(d, c["intermediate_size"])

    def forward(self, x, cos, sin):
        x = x + self.self_attn(self.input_layernorm(x), cos, sin)
        return x + self.mlp(self.post_attention_layernorm(x))


class LlamaBody(nn.Module):
    def __init__(self, c, bias):
        super().__init__()
        self.embed_tokens = nn.Embedding(c["vocab_size"], c["hidden_size"])
        self.layers = nn.ModuleList([LlamaLayer(c, bias) for _ in range(c["num_hidden_layers"])])
        self.norm = RmsNorm(c["hidden_size"], c["rms_norm_eps"])


class LlamaForCausalLM(nn.Module):
    """Also Qwen2ForCausalLM (bias=True): the same tree and arithmetic with q/k/v biases."""

    def __init__(self, c, bias=False):
        super().__init__()
        self.c = c
        self.model = LlamaBody(c, bias)
        self.lm_head = nn.Linear(c["hidden_size"], c["vocab_size"], bias=False)
        if c.get("tie_word_embeddings"):
            self.lm_head.weight = self.model.embed_tokens.weight
        self.register_buffer("inv_freq", rope_inv_freq(c), persistent=False)

    def forward(self, ids):
        pos = torch.arange(len(ids)).float()
        f = torch.outer(pos, self.inv_freq)
        emb = torch.cat((f, f), dim=-1)
        cos, sin = emb.cos(), emb.sin()
        x = self.model.embed_tokens(ids)
        for layer in self.model.layers:
            x = layer(x, cos, sin)
        return self.lm_head(self.model.norm(x))


class Conv1D(nn.Module):
    """GPT-2's linear: weight stored [in, out]."""

    def __init__(self, out_dim, in_dim):
        super().__init__()
        self.weight = nn.Parameter(torch.empty(in_dim, out_dim))
        self.bias = nn.Parameter(torch.zeros(out_dim))

    def forward(self, x):
        return x @ self.weight + self.bias


class Gpt2Attention(nn.Module):
    def __init__(self, c):
        super().__init__()
        d, self.h = c["n_embd"], c["n_head"]
        self.c_attn = Conv1D(3 * d, d)
        self.c_proj = Conv1D(d, d)
        n = c["n_positions"]
        self.register_buffer("bias", torch.tril(torch.ones(n, n, dtype=torch.bool)).view(1, 1, n, n))

    def forward(self, x):
        t, d = x.shape
        dh = d // self.h
        q, k, v = self.c_attn(x).split(d, dim=1)
        q, k, v = (z.view(t, self.h, dh).transpose(0, 1) for z in (q, k, v))
        s = q @ k.transpose(1, 2) / math.sqrt(dh)
        s = s.masked_fill(~self.bias[0, 0, :t, :t], torch.finfo(s.dtype).min)
        return self.c_proj((F.softmax(s, dim=-1) @ v).transpose(0, 1).reshape(t, d))


def gelu_new(x):
    return 0.5 * x * (1.0 + torch.tanh(math.sqrt(2.0 / math.pi) * (x + 0.044715 * torch.pow(x, 3.0))))


class Gpt2Mlp(nn.Module):
    def __init__(self, d, f):
        super().__init__()
        self.c_fc = Conv1D(f, d)
        self.c_proj = Conv1D(d, f)

    def forward(self, x):
        return self.c_proj(gelu_new(self.c_fc(x)))


class Gpt2Block(nn.Module):
    def __init__(self, c):
        super().__init__()
        d, eps = c["n_embd"], c["layer_norm_epsilon"]
        self.ln_1 = nn.LayerNorm(d, eps=eps)
        self.attn = Gpt2Attention(c)
        self.ln_2 = nn.LayerNorm(d, eps=eps)
        self.mlp = Gpt2Mlp(d, c.get("n_inner") or 4 * d)

    def forward(self, x):
        x = x + self.attn(self.ln_1(x))
        return x + self.mlp(self.ln_2(x))


class Gpt2Body(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.wte = nn.Embedding(c["vocab_size"], c["n_embd"])
        self.wpe = nn.Embedding(c["n_positions"], c["n_embd"])
        self.h = nn.ModuleList([Gpt2Block(c) for _ in range(c["n_layer"])])
        self.ln_f = nn.LayerNorm(c["n_embd"], eps=c["layer_norm_epsilon"])


class Gpt2LMHeadModel(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.c = c
        self.transformer = Gpt2Body(c)

    def forward(self, ids):
        tr = self.transformer
        x = tr.wte(ids) + tr.wpe(torch.arange(len(ids)))
        for block in tr.h:
            x = block(x)
        return tr.ln_f(x) @ tr.wte.weight.t()


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
