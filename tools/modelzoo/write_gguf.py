#!/usr/bin/python3
"""Hugging Face Llama folder (config.json + model.safetensors, BF16/F16/F32) -> GGUF v3 for llama.cpp, no `gguf` package.

    /usr/bin/python3 tools/modelzoo/write_gguf.py HF_DIR OUT.gguf --type q8_0|q4_0|f32

For speed comparisons with llama.cpp (tools/bench/EdgeQuant.LlmBench) on the random-weight models of
make_random_decoders.py: the tokenizer is synthetic ("<unk>", "<s>", "</s>", "<0x00>".."<0xFF>", "tok{i}"), the
benchmarks feed token ids. Streams tensor by tensor (peak memory ~ a few times the largest tensor in float32).

Layout (little-endian): "GGUF", uint32 version 3, uint64 tensor count, uint64 kv count, kv pairs (gguf string key,
uint32 value type, value), tensor infos (name, uint32 n_dims, uint64 ne[] innermost first, uint32 ggml type,
uint64 offset into the data block), zero padding to general.alignment (32), the data block (each tensor 32-aligned).

Types: f32 -> every tensor F32; q8_0 -> 2-D weights Q8_0; q4_0 -> 2-D weights Q4_0 except output.weight (Q8_0,
llama-quantize uses Q6_K there) and, when embeddings are tied, token_embd.weight (it is the output matrix, Q8_0).
Norm weights are always F32. Quantization bit-matches ggml's quantize_row_q8_0_ref / quantize_row_q4_0_ref.
"""
import argparse
import json
import os
import struct
import sys
import time

import numpy as np

REPO_ROOT = os.path.abspath(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))
sys.path.insert(0, os.path.join(REPO_ROOT, "tools"))
from eqtools import safetensors_io  # noqa: E402

ALIGN = 32
QK = 32
# ggml_type ids and bytes per block of QK values (F32: per value).
GGML_F32, GGML_Q4_0, GGML_Q8_0 = 0, 2, 8
FILE_TYPE = {"f32": 0, "q4_0": 2, "q8_0": 7}  # LLAMA_FTYPE_ALL_F32, MOSTLY_Q4_0, MOSTLY_Q8_0
# GGUF metadata value types.
T_UINT32, T_INT32, T_FLOAT32, T_BOOL, T_STRING, T_ARRAY = 4, 5, 6, 7, 8, 9
# llama_token_type
TT_NORMAL, TT_UNKNOWN, TT_CONTROL, TT_BYTE = 1, 2, 3, 6


def nbytes(ggml_type, shape):
    n = int(np.prod(shape, dtype=np.int64))
    if ggml_type == GGML_F32:
        return 4 * n
    return n // QK * (34 if ggml_type == GGML_Q8_0 else 18)


def quantize_q8_0(x):
    """float32 [rows, k] -> uint8 [rows * k / 32 * 34] (ggml block_q8_0: f16 d, int8 qs[32])."""
    b = x.reshape(-1, QK)
    amax = np.abs(b).max(axis=1)
    d = (amax / np.float32(127)).astype(np.float32)
    with np.errstate(divide="ignore"):
        inv = np.where(d != 0, np.float32(1) / d, np.float32(0)).astype(np.float32)
    v = (b * inv[:, None]).astype(np.float64)  # float32 product as ggml; round half away from zero (roundf) in f64
    q = np.trunc(v + np.copysign(0.5, v)).astype(np.int8)
    out = np.empty((b.shape[0], 34), dtype=np.uint8)
    out[:, :2] = d.astype("<f2").view(np.uint8).reshape(-1, 2)
    out[:, 2:] = q.view(np.uint8)
    return out.reshape(-1)


def quantize_q4_0(x):
    """float32 [rows, k] -> uint8 [rows * k / 32 * 18] (ggml block_q4_0: f16 d, qs[16]: q[j] | q[j + 16] << 4)."""
    b = x.reshape(-1, QK)
    idx = np.abs(b).argmax(axis=1)  # first index of the largest |x|, as ggml's strict '<' scan
    mx = b[np.arange(b.shape[0]), idx]
    d = (mx / np.float32(-8)).astype(np.float32)
    with np.errstate(divide="ignore"):
        inv = np.where(d != 0, np.float32(1) / d, np.float32(0)).astype(np.float32)
    v = (b * inv[:, None]).astype(np.float32) + np.float32(8.5)
    q = np.minimum(15, np.trunc(v).astype(np.int8)).astype(np.uint8)  # (int8_t) cast truncates toward zero
    out = np.empty((b.shape[0], 18), dtype=np.uint8)
    out[:, :2] = d.astype("<f2").view(np.uint8).reshape(-1, 2)
    out[:, 2:] = q[:, :16] | (q[:, 16:] << 4)
    return out.reshape(-1)


def permute_rope(w, n_head):
    """HF rotate-half q/k rows -> GGUF interleaved RoPE rows (convert_hf_to_gguf.py LlamaModel.permute)."""
    out_f = w.shape[0]
    return w.reshape(n_head, 2, out_f // n_head // 2, *w.shape[1:]).swapaxes(1, 2).reshape(w.shape)


class Writer:
    def __init__(self):
        self.kv = bytearray()
        self.n_kv = 0

    @staticmethod
    def _str(s):
        b = s.encode("utf-8")
        return struct.pack("<Q", len(b)) + b

    def add(self, key, vtype, value):
        self.kv += self._str(key) + struct.pack("<I", vtype)
        if vtype == T_STRING:
            self.kv += self._str(value)
        elif vtype == T_UINT32:
            self.kv += struct.pack("<I", value)
        elif vtype == T_INT32:
            self.kv += struct.pack("<i", value)
        elif vtype == T_FLOAT32:
            self.kv += struct.pack("<f", value)
        elif vtype == T_BOOL:
            self.kv += struct.pack("<B", 1 if value else 0)
        else:
            raise ValueError(vtype)
        self.n_kv += 1

    def add_array(self, key, etype, values):
        self.kv += self._str(key) + struct.pack("<IIQ", T_ARRAY, etype, len(values))
        if etype == T_STRING:
            self.kv += b"".join(self._str(s) for s in values)
        elif etype == T_FLOAT32:
            self.kv += np.asarray(values, dtype="<f4").tobytes()
        elif etype == T_INT32:
            self.kv += np.asarray(values, dtype="<i4").tobytes()
        else:
            raise ValueError(etype)
        self.n_kv += 1


class SafeTensorsReader:
    """Lazy float32 reads from one model.safetensors through a read-only memmap."""
    DT = {"F32": "<f4", "F16": "<f2", "BF16": "<u2"}

    def __init__(self, path):
        n, header = safetensors_io.load_header(path)
        header.pop("__metadata__", None)
        self.header = header
        self.mm = np.memmap(path, dtype=np.uint8, mode="r", offset=8 + n)

    def shape(self, name):
        return tuple(self.header[name]["shape"])

    def get(self, name):
        info = self.header[name]
        b, e = info["data_offsets"]
        raw = self.mm[b:e].view(self.DT[info["dtype"]]).reshape(info["shape"])
        if info["dtype"] == "BF16":
            return (raw.astype(np.uint32) << 16).view(np.float32)
        return raw.astype(np.float32)


def plan(cfg, st, qtype):
    """[(gguf name, hf name, gguf ggml type, HF shape, rope permute heads or 0)] in file order."""
    wt = {"f32": GGML_F32, "q8_0": GGML_Q8_0, "q4_0": GGML_Q4_0}[qtype]
    head_t = GGML_F32 if qtype == "f32" else GGML_Q8_0
    tied = bool(cfg.get("tie_word_embeddings", False)) or "lm_head.weight" not in st.header
    nh, nkv = cfg["num_attention_heads"], cfg.get("num_key_value_heads", cfg["num_attention_heads"])
    t = [("token_embd.weight", "model.embed_tokens.weight", head_t if tied else wt, 0)]
    for i in range(cfg["num_hidden_layers"]):
        p = f"model.layers.{i}."
        t += [(f"blk.{i}.attn_norm.weight", p + "input_layernorm.weight", GGML_F32, 0),
              (f"blk.{i}.attn_q.weight", p + "self_attn.q_proj.weight", wt, nh),
              (f"blk.{i}.attn_k.weight", p + "self_attn.k_proj.weight", wt, nkv),
              (f"blk.{i}.attn_v.weight", p + "self_attn.v_proj.weight", wt, 0),
              (f"blk.{i}.attn_output.weight", p + "self_attn.o_proj.weight", wt, 0),
              (f"blk.{i}.ffn_norm.weight", p + "post_attention_layernorm.weight", GGML_F32, 0),
              (f"blk.{i}.ffn_gate.weight", p + "mlp.gate_proj.weight", wt, 0),
              (f"blk.{i}.ffn_up.weight", p + "mlp.up_proj.weight", wt, 0),
              (f"blk.{i}.ffn_down.weight", p + "mlp.down_proj.weight", wt, 0)]
    t.append(("output_norm.weight", "model.norm.weight", GGML_F32, 0))
    if not tied:
        t.append(("output.weight", "lm_head.weight", head_t, 0))
    for g, h, _, _ in t:
        if h not in st.header:
            raise KeyError(f"{h} (for {g}) not in model.safetensors")
    return [(g, h, ty, st.shape(h), perm) for g, h, ty, perm in t], tied


def metadata(w, cfg, qtype, name):
    vocab = cfg["vocab_size"]
    hidden, nh = cfg["hidden_size"], cfg["num_attention_heads"]
    w.add("general.architecture", T_STRING, "llama")
    w.add("general.name", T_STRING, name)
    w.add("general.file_type", T_UINT32, FILE_TYPE[qtype])
    w.add("general.quantization_version", T_UINT32, 2)
    w.add("general.alignment", T_UINT32, ALIGN)
    w.add("llama.vocab_size", T_UINT32, vocab)
    w.add("llama.context_length", T_UINT32, cfg.get("max_position_embeddings", 2048))
    w.add("llama.embedding_length", T_UINT32, hidden)
    w.add("llama.block_count", T_UINT32, cfg["num_hidden_layers"])
    w.add("llama.feed_forward_length", T_UINT32, cfg["intermediate_size"])
    w.add("llama.attention.head_count", T_UINT32, nh)
    w.add("llama.attention.head_count_kv", T_UINT32, cfg.get("num_key_value_heads", nh))
    w.add("llama.rope.dimension_count", T_UINT32, cfg.get("head_dim", hidden // nh))
    w.add("llama.rope.freq_base", T_FLOAT32, float(cfg.get("rope_theta", 10000.0)))
    w.add("llama.attention.layer_norm_rms_epsilon", T_FLOAT32, float(cfg.get("rms_norm_eps", 1e-6)))
    if vocab < 3 + 256:
        raise ValueError(f"vocab_size {vocab}: the synthetic tokenizer needs at least 259 entries")
    tokens = ["<unk>", "<s>", "</s>"] + [f"<0x{b:02X}>" for b in range(256)] + [f"tok{i}" for i in range(259, vocab)]
    types = [TT_UNKNOWN, TT_CONTROL, TT_CONTROL] + [TT_BYTE] * 256 + [TT_NORMAL] * (vocab - 259)
    bos, eos = int(cfg.get("bos_token_id", 1)), int(cfg.get("eos_token_id", 2))
    for i in (bos, eos):  # the config's specials are control tokens (SmolLM: bos = eos = 0)
        types[i] = TT_CONTROL
    scores = np.zeros(vocab, dtype=np.float32)
    scores[259:] = -np.arange(vocab - 259, dtype=np.float32)  # SPM merge priority: lower id, higher score
    w.add("tokenizer.ggml.model", T_STRING, "llama")
    w.add_array("tokenizer.ggml.tokens", T_STRING, tokens)
    w.add_array("tokenizer.ggml.scores", T_FLOAT32, scores)
    w.add_array("tokenizer.ggml.token_type", T_INT32, types)
    w.add("tokenizer.ggml.bos_token_id", T_UINT32, bos)
    w.add("tokenizer.ggml.eos_token_id", T_UINT32, eos)
    if 0 not in (bos, eos):
        w.add("tokenizer.ggml.unknown_token_id", T_UINT32, 0)
    w.add("tokenizer.ggml.add_bos_token", T_BOOL, False)
    w.add("tokenizer.ggml.add_eos_token", T_BOOL, False)


def encode(x, ggml_type):
    if ggml_type == GGML_F32:
        return np.ascontiguousarray(x, dtype="<f4").view(np.uint8).reshape(-1)
    if x.shape[-1] % QK:
        raise ValueError(f"row length {x.shape[-1]} is not a multiple of {QK}")
    q = quantize_q8_0 if ggml_type == GGML_Q8_0 else quantize_q4_0
    rows = max(1, (1 << 22) // x.shape[-1])  # ~4M values per chunk keeps the temporaries small
    return [q(np.ascontiguousarray(x[r:r + rows])) for r in range(0, x.shape[0], rows)]


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("hf_dir")
    ap.add_argument("out")
    ap.add_argument("--type", choices=sorted(FILE_TYPE), default="q8_0")
    a = ap.parse_args()
    t0 = time.time()
    with open(os.path.join(a.hf_dir, "config.json")) as f:
        cfg = json.load(f)
    if cfg.get("model_type", "llama") != "llama":
        raise SystemExit(f"model_type {cfg.get('model_type')}: only llama is supported")
    st = SafeTensorsReader(os.path.join(a.hf_dir, "model.safetensors"))
    tensors, tied = plan(cfg, st, a.type)

    w = Writer()
    metadata(w, cfg, a.type, os.path.basename(os.path.normpath(a.hf_dir)))
    infos = bytearray()
    offset = 0
    offsets = []
    for g, _, ty, shape, _ in tensors:
        offset += (-offset) % ALIGN
        offsets.append(offset)
        ne = list(reversed(shape))  # innermost first
        infos += Writer._str(g) + struct.pack("<I", len(ne)) + struct.pack(f"<{len(ne)}Q", *ne)
        infos += struct.pack("<IQ", ty, offset)
        offset += nbytes(ty, shape)

    tmp = a.out + ".tmp"
    with open(tmp, "wb") as f:
        f.write(b"GGUF" + struct.pack("<IQQ", 3, len(tensors), w.n_kv))
        f.write(w.kv)
        f.write(infos)
        f.write(b"\0" * ((-f.tell()) % ALIGN))
        base = f.tell()
        for (g, h, ty, shape, perm), off in zip(tensors, offsets):
            f.write(b"\0" * (base + off - f.tell()))
            x = st.get(h)
            if perm:
                x = permute_rope(x, perm)
            parts = encode(x, ty)
            for p in parts if isinstance(parts, list) else [parts]:
                f.write(p.tobytes())
            if f.tell() - base - off != nbytes(ty, shape):
                raise AssertionError(f"{g}: wrote {f.tell() - base - off} bytes, expected {nbytes(ty, shape)}")
            del x, parts
    os.replace(tmp, a.out)
    size = os.path.getsize(a.out)
    print(f"{a.out}: {len(tensors)} tensors, {w.n_kv} kv, {a.type}{' (tied embeddings)' if tied else ''}, "
          f"{size / 1e6:.1f} MB in {time.time() - t0:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
