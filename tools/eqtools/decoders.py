"""Decoder LLM modules in plain torch whose parameter names and arithmetic are transformers' (eval mode, no cache):
LlamaForCausalLM (also Qwen2ForCausalLM with bias=True) and GPT2LMHeadModel. Shared by the test-model generator and
the tiny-LLM training recipes (no `transformers` package here).

RMSNorm in float32 as x * rsqrt(mean(x^2) + eps) * w; rotate-half RoPE with inverse frequencies 1 / theta^(2i / d)
(scaled as rope_scaling says); keys/values repeated per query group; causal softmax attention scaled by
1/sqrt(head_dim); SiLU-gated MLP. GPT-2: learned positions, Conv1D weights [in, out], gelu_new.
"""
import math

import torch
import torch.nn as nn
import torch.nn.functional as F


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
        *lead, t, _ = x.shape  # x: [t, d] or [batch, t, d] (right padding is harmless: attention is causal)
        q = self.q_proj(x).view(*lead, t, self.h, self.dh).transpose(-3, -2)  # [(batch,) h, t, dh]
        k = self.k_proj(x).view(*lead, t, self.kv, self.dh).transpose(-3, -2)
        v = self.v_proj(x).view(*lead, t, self.kv, self.dh).transpose(-3, -2)
        q, k = q * cos + rotate_half(q) * sin, k * cos + rotate_half(k) * sin
        rep = self.h // self.kv
        k, v = k.repeat_interleave(rep, dim=-3), v.repeat_interleave(rep, dim=-3)
        s = q @ k.transpose(-1, -2) / math.sqrt(self.dh)
        s = s.masked_fill(torch.triu(torch.ones(t, t, dtype=torch.bool), 1), float("-inf"))
        o = (F.softmax(s.float(), dim=-1) @ v).transpose(-3, -2).reshape(*lead, t, self.h * self.dh)
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
        pos = torch.arange(ids.shape[-1]).float()
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
