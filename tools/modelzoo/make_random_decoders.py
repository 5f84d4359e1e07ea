#!/usr/bin/python3
"""Random-weight Hugging Face decoder folders with the shapes of real small LLMs, for speed benchmarks.

    /usr/bin/python3 tools/modelzoo/make_random_decoders.py [--out out/llm] [--only tinyllama-1.1b]

Writes out/llm/<name>/{config.json, model.safetensors} (BF16, as the published checkpoints). The configs copy the
published ones' shapes (no weights, no tokenizer: the benchmarks feed token ids). Never commit these folders:
tinyllama-1.1b is 2.2 GB, qwen2.5-0.5b 1.0 GB, smollm-135m 0.27 GB.

Weights ~ N(0, 1/fan_in) (embeddings N(0, 1), norm weights 1): activations stay in the range trained models have,
so quantization and softmax see realistic magnitudes; the text the models produce is noise. Seeded.
"""
import argparse
import json
import os
import sys

import numpy as np

REPO_ROOT = os.path.abspath(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))
sys.path.insert(0, os.path.join(REPO_ROOT, "tools"))
from eqtools import safetensors_io  # noqa: E402

SHAPES = {
    "smollm-135m": {"architectures": ["LlamaForCausalLM"], "model_type": "llama", "vocab_size": 49152, "hidden_size": 576,
                    "intermediate_size": 1536, "num_hidden_layers": 30, "num_attention_heads": 9, "num_key_value_heads": 3,
                    "max_position_embeddings": 2048, "rms_norm_eps": 1e-5, "rope_theta": 10000.0, "hidden_act": "silu",
                    "tie_word_embeddings": True, "bos_token_id": 0, "eos_token_id": 0, "torch_dtype": "bfloat16"},
    "qwen2.5-0.5b": {"architectures": ["Qwen2ForCausalLM"], "model_type": "qwen2", "vocab_size": 151936, "hidden_size": 896,
                     "intermediate_size": 4864, "num_hidden_layers": 24, "num_attention_heads": 14, "num_key_value_heads": 2,
                     "max_position_embeddings": 32768, "rms_norm_eps": 1e-6, "rope_theta": 1000000.0, "hidden_act": "silu",
                     "tie_word_embeddings": True, "use_sliding_window": False, "bos_token_id": 151643,
                     "eos_token_id": 151643, "torch_dtype": "bfloat16"},
    "tinyllama-1.1b": {"architectures": ["LlamaForCausalLM"], "model_type": "llama", "vocab_size": 32000, "hidden_size": 2048,
                       "intermediate_size": 5632, "num_hidden_layers": 22, "num_attention_heads": 32, "num_key_value_heads": 4,
                       "max_position_embeddings": 2048, "rms_norm_eps": 1e-5, "rope_theta": 10000.0, "hidden_act": "silu",
                       "tie_word_embeddings": False, "bos_token_id": 1, "eos_token_id": 2, "torch_dtype": "bfloat16"},
}


def tensors(c):
    d, f, v = c["hidden_size"], c["intermediate_size"], c["vocab_size"]
    dh = d // c["num_attention_heads"]
    qd, kvd = c["num_attention_heads"] * dh, c["num_key_value_heads"] * dh
    bias = c["model_type"] == "qwen2"
    out = [("model.embed_tokens.weight", (v, d)), ("model.norm.weight", (d,))]
    if not c["tie_word_embeddings"]:
        out.append(("lm_head.weight", (v, d)))
    for i in range(c["num_hidden_layers"]):
        p = f"model.layers.{i}."
        out += [(p + "input_layernorm.weight", (d,)), (p + "post_attention_layernorm.weight", (d,)),
                (p + "self_attn.q_proj.weight", (qd, d)), (p + "self_attn.k_proj.weight", (kvd, d)),
                (p + "self_attn.v_proj.weight", (kvd, d)), (p + "self_attn.o_proj.weight", (d, qd)),
                (p + "mlp.gate_proj.weight", (f, d)), (p + "mlp.up_proj.weight", (f, d)), (p + "mlp.down_proj.weight", (d, f))]
        if bias:
            out += [(p + "self_attn.q_proj.bias", (qd,)), (p + "self_attn.k_proj.bias", (kvd,)), (p + "self_attn.v_proj.bias", (kvd,))]
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", default=os.path.join(REPO_ROOT, "out", "llm"))
    ap.add_argument("--only", choices=sorted(SHAPES), action="append")
    args = ap.parse_args()
    for name in args.only or sorted(SHAPES):
        c = SHAPES[name]
        d = os.path.join(args.out, name)
        os.makedirs(d, exist_ok=True)
        with open(os.path.join(d, "config.json"), "w") as f:
            json.dump(c, f, indent=2)
        rng = np.random.default_rng(len(name) * 7919)

        def make(tname, shape):
            if tname.endswith("norm.weight"):
                return np.ones(shape, np.float32)
            if "embed" in tname:
                return rng.standard_normal(shape, dtype=np.float32)
            if tname.endswith(".bias"):
                return 0.1 * rng.standard_normal(shape, dtype=np.float32)
            return rng.standard_normal(shape, dtype=np.float32) * np.float32(1 / np.sqrt(shape[1]))

        ts = tensors(c)
        safetensors_io.save_streaming(ts, os.path.join(d, "model.safetensors"), make, dtype="BF16")
        n = sum(int(np.prod(s)) for _, s in ts)
        print(f"{name}: {n / 1e6:.0f}M parameters -> {d}")


if __name__ == "__main__":
    main()
