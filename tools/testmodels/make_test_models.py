#!/usr/bin/python3
"""Generate small, randomly initialised ONNX ViT test assets for EdgeQuant.

Run with Debian's interpreter (torch 1.13 CPU, onnx 1.12, numpy):

    /usr/bin/python3 tools/testmodels/make_test_models.py [--out tests/assets]

Produces:
  vit_postln_relu.onnx       (+ .expected.json)
  vit_preln_oddheads.onnx    (+ .expected.json)
  vit_meanpool.onnx          (+ .expected.json)
  unknown_op.onnx            (hand-built with onnx.helper, contains a 'Celu' node)

No training; all weights are random and seeded (torch.manual_seed per model).
"""

import argparse
import collections
import json
import math
import os

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper
import torch
import torch.nn as nn

torch.set_num_threads(1)

REPO_ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
DEFAULT_OUT = os.path.join(REPO_ROOT, "tests", "assets")
MAX_BYTES = 200 * 1024


# --------------------------------------------------------------------------- #
# Model building blocks (hand written, no nn.MultiheadAttention)
# --------------------------------------------------------------------------- #

class Attention(nn.Module):
    def __init__(self, dim, heads, fused_qkv):
        super().__init__()
        assert dim % heads == 0
        self.dim = dim
        self.heads = heads
        self.head_dim = dim // heads
        self.scale = 1.0 / math.sqrt(self.head_dim)
        self.fused_qkv = fused_qkv
        if fused_qkv:
            self.qkv = nn.Linear(dim, 3 * dim)
        else:
            self.q = nn.Linear(dim, dim)
            self.k = nn.Linear(dim, dim)
            self.v = nn.Linear(dim, dim)
        self.proj = nn.Linear(dim, dim)

    def _split_heads(self, t, b, n):
        # [B, N, D] -> [B, H, N, hd]
        return t.reshape(b, n, self.heads, self.head_dim).permute(0, 2, 1, 3)

    def forward(self, x):
        b, n, _ = x.shape
        if self.fused_qkv:
            qkv = self.qkv(x)                       # [B, N, 3D]
            q, k, v = qkv.chunk(3, dim=-1)          # 3 x [B, N, D]
        else:
            # execution order: q, k, v
            q = self.q(x)
            k = self.k(x)
            v = self.v(x)
        q = self._split_heads(q, b, n)
        k = self._split_heads(k, b, n)
        v = self._split_heads(v, b, n)
        attn = torch.matmul(q, k.transpose(-2, -1)) * self.scale   # [B, H, N, N]
        attn = attn.softmax(dim=-1)
        out = torch.matmul(attn, v)                                # [B, H, N, hd]
        out = out.permute(0, 2, 1, 3).reshape(b, n, self.dim)
        return self.proj(out)


class Mlp(nn.Module):
    def __init__(self, dim, hidden, act):
        super().__init__()
        self.fc1 = nn.Linear(dim, hidden)
        self.act = nn.ReLU() if act == "relu" else nn.GELU()   # nn.GELU() = erf form
        self.fc2 = nn.Linear(hidden, dim)

    def forward(self, x):
        return self.fc2(self.act(self.fc1(x)))


class Block(nn.Module):
    def __init__(self, dim, heads, mlp_dim, act, pre_ln, fused_qkv):
        super().__init__()
        self.pre_ln = pre_ln
        self.ln1 = nn.LayerNorm(dim)
        self.attn = Attention(dim, heads, fused_qkv)
        self.ln2 = nn.LayerNorm(dim)
        self.mlp = Mlp(dim, mlp_dim, act)

    def forward(self, x):
        if self.pre_ln:
            x = x + self.attn(self.ln1(x))
            x = x + self.mlp(self.ln2(x))
        else:
            x = self.ln1(x + self.attn(x))
            x = self.ln2(x + self.mlp(x))
        return x


class TinyViT(nn.Module):
    def __init__(self, in_ch, img, patch, dim, heads, mlp_dim, depth, classes,
                 act="gelu", pre_ln=True, final_ln=True, cls_token=True,
                 fused_qkv=False):
        super().__init__()
        assert img % patch == 0
        self.num_patches = (img // patch) ** 2
        self.use_cls = cls_token
        self.patch_embed = nn.Conv2d(in_ch, dim, kernel_size=patch, stride=patch, padding=0)
        n_tok = self.num_patches + (1 if cls_token else 0)
        if cls_token:
            self.cls_token = nn.Parameter(torch.zeros(1, 1, dim))
        self.pos_embed = nn.Parameter(torch.zeros(1, n_tok, dim))
        self.blocks = nn.ModuleList(
            [Block(dim, heads, mlp_dim, act, pre_ln, fused_qkv) for _ in range(depth)])
        self.norm = nn.LayerNorm(dim) if final_ln else None
        self.head = nn.Linear(dim, classes)

    def forward(self, x):
        x = self.patch_embed(x)                   # [B, D, h, w]
        x = x.flatten(2).transpose(1, 2)          # [B, P, D]
        if self.use_cls:
            cls = self.cls_token.expand(x.shape[0], -1, -1)
            x = torch.cat((cls, x), dim=1)        # [B, 1+P, D]
        x = x + self.pos_embed
        for blk in self.blocks:
            x = blk(x)
        if self.norm is not None:
            x = self.norm(x)
        if self.use_cls:
            x = x[:, 0]                           # class token pooling
        else:
            x = x.mean(dim=1)                     # mean over tokens
        return self.head(x)


def random_init(model):
    """Non-trivial random init so nothing is degenerate (no unit LN, no zero bias)."""
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, nn.LayerNorm):
                m.weight.copy_(1.0 + 0.1 * torch.randn_like(m.weight))
                m.bias.copy_(0.1 * torch.randn_like(m.bias))
            elif isinstance(m, (nn.Linear, nn.Conv2d)):
                fan_in = m.weight[0].numel()
                m.weight.copy_(torch.randn_like(m.weight) / math.sqrt(fan_in))
                if m.bias is not None:
                    m.bias.copy_(0.1 * torch.randn_like(m.bias))
        if getattr(model, "use_cls", False):
            model.cls_token.copy_(0.5 * torch.randn_like(model.cls_token))
        model.pos_embed.copy_(0.5 * torch.randn_like(model.pos_embed))


# --------------------------------------------------------------------------- #
# Model specs
# --------------------------------------------------------------------------- #

TORCH_MODELS = [
    dict(name="vit_postln_relu", seed=1001,
         cfg=dict(in_ch=3, img=12, patch=4, dim=24, heads=3, mlp_dim=40, depth=2,
                  classes=5, act="relu", pre_ln=False, final_ln=False,
                  cls_token=True, fused_qkv=False)),
    dict(name="vit_preln_oddheads", seed=1002,
         cfg=dict(in_ch=1, img=10, patch=5, dim=20, heads=4, mlp_dim=36, depth=3,
                  classes=7, act="gelu", pre_ln=True, final_ln=True,
                  cls_token=True, fused_qkv=True)),
    dict(name="vit_meanpool", seed=1003,
         cfg=dict(in_ch=1, img=8, patch=4, dim=16, heads=2, mlp_dim=32, depth=1,
                  classes=3, act="gelu", pre_ln=True, final_ln=True,
                  cls_token=False, fused_qkv=False)),
]


def op_counter(path):
    m = onnx.load(path)
    return collections.Counter(n.op_type for n in m.graph.node)


def export_torch_model(spec, out_dir):
    name, cfg = spec["name"], spec["cfg"]
    torch.manual_seed(spec["seed"])
    model = TinyViT(**cfg)
    random_init(model)
    model.eval()

    c, hw = cfg["in_ch"], cfg["img"]
    path = os.path.join(out_dir, name + ".onnx")
    dummy = torch.randn(2, c, hw, hw)   # batch 2 so the exporter can't bake batch=1
    with torch.no_grad():
        torch.onnx.export(model.eval(), dummy, path, opset_version=17,
                          input_names=["input"], output_names=["logits"],
                          dynamic_axes={"input": {0: "batch"}, "logits": {0: "batch"}},
                          do_constant_folding=True)
    onnx.checker.check_model(onnx.load(path))

    # Deterministic reference input / output.
    torch.manual_seed(7)
    x = torch.rand(1, c, hw, hw)
    with torch.no_grad():
        logits = model(x)
    assert logits.shape == (1, cfg["classes"]), logits.shape
    assert torch.isfinite(logits).all()
    exp_path = os.path.join(out_dir, name + ".expected.json")
    with open(exp_path, "w") as f:
        json.dump({"input": [float(v) for v in x.flatten().tolist()],
                   "logits": [float(v) for v in logits.flatten().tolist()]}, f)
        f.write("\n")
    return [path, exp_path]


def build_unknown_op(out_dir):
    rng = np.random.RandomState(4242)
    w = rng.standard_normal((4, 1, 4, 4)).astype(np.float32) * 0.25
    w_init = numpy_helper.from_array(w, name="patch_conv.weight")
    conv = helper.make_node("Conv", ["input", "patch_conv.weight"], ["conv_out"],
                            name="patch_conv", kernel_shape=[4, 4], strides=[4, 4])
    celu = helper.make_node("Celu", ["conv_out"], ["output"],
                            name="weird_activation", alpha=1.0)
    graph = helper.make_graph(
        [conv, celu], "unknown_op",
        inputs=[helper.make_tensor_value_info("input", TensorProto.FLOAT, [1, 1, 8, 8])],
        outputs=[helper.make_tensor_value_info("output", TensorProto.FLOAT, [1, 4, 2, 2])],
        initializer=[w_init])
    model = helper.make_model(graph, producer_name="edgequant-testmodels",
                              opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.checker.check_model(model, full_check=True)
    path = os.path.join(out_dir, "unknown_op.onnx")
    onnx.save(model, path)
    return [path]


def main():
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", default=DEFAULT_OUT, help="output directory (default tests/assets)")
    args = ap.parse_args()
    os.makedirs(args.out, exist_ok=True)

    files = []
    for spec in TORCH_MODELS:
        files += export_torch_model(spec, args.out)
    files += build_unknown_op(args.out)

    for p in files:
        size = os.path.getsize(p)
        print("%-34s %8d bytes" % (os.path.basename(p), size))
        if p.endswith(".onnx"):
            assert size < MAX_BYTES, "%s is too large (%d bytes)" % (p, size)
            print("    ops:", dict(sorted(op_counter(p).items())))


if __name__ == "__main__":
    main()
