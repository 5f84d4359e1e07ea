#!/usr/bin/python3
"""Export random-weight, full-size ViTs (DeiT-S and ViT-B/16 shapes) for EdgeQuant benchmarks.

Run with Debian's interpreter (torch 1.13 CPU, onnx 1.12, numpy):

    /usr/bin/python3 tools/bench/make_bench_models.py [--out out/bench] [--only deit_s|vit_b16]

Produces, in --out (default <repo>/out/bench, git-ignored -- never commit these files):
  deit_s.onnx          3x224x224, patch 16 (197 tokens), 12 layers, D=384,  6 heads, MLP 1536, 1000 classes
  vit_b16.onnx         3x224x224, patch 16 (197 tokens), 12 layers, D=768, 12 heads, MLP 3072, 1000 classes
  <name>.input.npy     [1,3,224,224] float32 reference input (see convention below)
  <name>.pixels.npy    [1,3,224,224] uint8 (NCHW) pixels the reference input was made from
  <name>.logits.npy    [1,1000] float32 torch FP32 logits for <name>.input.npy

Input convention: float32 [B,3,224,224], NCHW, x = (pixel/255 - 0.5) / 0.5, i.e. mean 0.5, std 0.5
per channel, range [-1, 1]. The reference pixels are np.random.RandomState(7).randint(0, 256) uint8.

Weights are random (torch.manual_seed(0) before building each model), no training:
  Linear/Conv weight trunc_normal(std 0.02, bounds +-2, drawn in float64: see trunc_normal_), biases 0.01*randn, LayerNorm weight 1+0.05*randn,
  LayerNorm bias 0.02*randn, class token and position embedding 0.02*randn; LayerNorm eps 1e-6.
Architecture (timm-like, written by hand): Conv2d patch embedding (kernel=stride=16, no padding),
class token prepended with torch.cat, learned position embedding, pre-LN blocks with a fused
qkv Linear(D,3D) (reshape [B,T,3,H,dh], permute, unbind), softmax(q k^T * dh**-0.5) v,
proj Linear(D,D), MLP Linear(D,F) -> GELU (exact erf) -> Linear(F,D), final LayerNorm,
Linear head on the class token.
Export: torch.onnx.export opset 17, input 'input', output 'logits', dynamic batch on both,
constant folding on, all weights inside the .onnx (no external data).
"""

import argparse
import collections
import os
import time

import numpy as np
import onnx
import onnx.numpy_helper
import torch
import torch.nn as nn

torch.set_num_threads(1)

REPO_ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
DEFAULT_OUT = os.path.join(REPO_ROOT, "out", "bench")
LN_EPS = 1e-6


class Attention(nn.Module):
    def __init__(self, dim, heads):
        super().__init__()
        assert dim % heads == 0
        self.heads = heads
        self.head_dim = dim // heads
        self.scale = self.head_dim ** -0.5
        self.qkv = nn.Linear(dim, 3 * dim)
        self.proj = nn.Linear(dim, dim)

    def forward(self, x):
        b, t, d = x.shape
        qkv = self.qkv(x).reshape(b, t, 3, self.heads, self.head_dim)
        qkv = qkv.permute(2, 0, 3, 1, 4)                      # [3, B, H, T, dh]
        q, k, v = qkv.unbind(0)
        attn = (q @ k.transpose(-2, -1)) * self.scale         # [B, H, T, T]
        attn = attn.softmax(dim=-1)
        x = (attn @ v).transpose(1, 2).reshape(b, t, d)       # [B, T, D]
        return self.proj(x)


class Mlp(nn.Module):
    def __init__(self, dim, hidden):
        super().__init__()
        self.fc1 = nn.Linear(dim, hidden)
        self.act = nn.GELU()                                  # exact (erf) form
        self.fc2 = nn.Linear(hidden, dim)

    def forward(self, x):
        return self.fc2(self.act(self.fc1(x)))


class Block(nn.Module):
    def __init__(self, dim, heads, mlp_dim):
        super().__init__()
        self.norm1 = nn.LayerNorm(dim, eps=LN_EPS)
        self.attn = Attention(dim, heads)
        self.norm2 = nn.LayerNorm(dim, eps=LN_EPS)
        self.mlp = Mlp(dim, mlp_dim)

    def forward(self, x):
        x = x + self.attn(self.norm1(x))
        x = x + self.mlp(self.norm2(x))
        return x


class ViT(nn.Module):
    def __init__(self, img=224, patch=16, in_ch=3, dim=384, depth=12, heads=6, mlp_dim=1536,
                 classes=1000):
        super().__init__()
        n_patches = (img // patch) ** 2
        self.patch_embed = nn.Conv2d(in_ch, dim, kernel_size=patch, stride=patch, padding=0)
        self.cls_token = nn.Parameter(torch.zeros(1, 1, dim))
        self.pos_embed = nn.Parameter(torch.zeros(1, n_patches + 1, dim))
        self.blocks = nn.ModuleList([Block(dim, heads, mlp_dim) for _ in range(depth)])
        self.norm = nn.LayerNorm(dim, eps=LN_EPS)
        self.head = nn.Linear(dim, classes)

    def forward(self, x):
        x = self.patch_embed(x).flatten(2).transpose(1, 2)   # [B, 196, D]
        cls = self.cls_token.expand(x.shape[0], -1, -1)
        x = torch.cat((cls, x), dim=1)                        # [B, 197, D]
        x = x + self.pos_embed
        for blk in self.blocks:
            x = blk(x)
        x = self.norm(x)
        return self.head(x[:, 0])


def trunc_normal_(w, std):
    # nn.init.trunc_normal_ (a=-2, b=2) run in float32 can draw uniform(-1,1) = +-1 exactly, so
    # erfinv gives +-inf and the value is clamped to the bound: a lone |w| = 2.0 = 100 sigma outlier
    # (it happened in deit_s block 10 fc1 and wrecked its per-tensor scale). Sample in float64.
    w64 = torch.empty(w.shape, dtype=torch.float64)
    nn.init.trunc_normal_(w64, std=std, a=-2.0, b=2.0)
    assert float(w64.abs().max()) < 10 * std, "implausible trunc_normal outlier"
    w.copy_(w64.to(w.dtype))


def init_weights(model):
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, (nn.Linear, nn.Conv2d)):
                trunc_normal_(m.weight, std=0.02)
                if m.bias is not None:
                    m.bias.copy_(0.01 * torch.randn_like(m.bias))
            elif isinstance(m, nn.LayerNorm):
                m.weight.copy_(1.0 + 0.05 * torch.randn_like(m.weight))
                m.bias.copy_(0.02 * torch.randn_like(m.bias))
        model.cls_token.copy_(0.02 * torch.randn_like(model.cls_token))
        model.pos_embed.copy_(0.02 * torch.randn_like(model.pos_embed))


MODELS = {
    "deit_s": dict(dim=384, depth=12, heads=6, mlp_dim=1536),
    "vit_b16": dict(dim=768, depth=12, heads=12, mlp_dim=3072),
}


def reference_input():
    pixels = np.random.RandomState(7).randint(0, 256, size=(1, 3, 224, 224)).astype(np.uint8)
    x = ((pixels.astype(np.float32) / 255.0 - 0.5) / 0.5).astype(np.float32)
    return pixels, x


def op_counts(model):
    return collections.Counter(n.op_type for n in model.graph.node)


def export(name, cfg, out_dir):
    t0 = time.time()
    torch.manual_seed(0)
    model = ViT(**cfg)
    init_weights(model)
    model.eval()
    n_params = sum(p.numel() for p in model.parameters())

    path = os.path.join(out_dir, name + ".onnx")
    dummy = torch.randn(2, 3, 224, 224)     # batch 2 so the exporter cannot bake batch = 1
    with torch.no_grad():
        torch.onnx.export(model, dummy, path, opset_version=17,
                          input_names=["input"], output_names=["logits"],
                          dynamic_axes={"input": {0: "batch"}, "logits": {0: "batch"}},
                          do_constant_folding=True)
    m = onnx.load(path)
    onnx.checker.check_model(m)
    ext = [t.name for t in m.graph.initializer
           if t.data_location == onnx.TensorProto.EXTERNAL or len(t.external_data)]
    assert not ext, "external data in %s: %s" % (path, ext[:3])

    pixels, x = reference_input()
    with torch.no_grad():
        logits = model(torch.from_numpy(x)).numpy().astype(np.float32)
    assert logits.shape == (1, 1000) and np.isfinite(logits).all()
    np.save(os.path.join(out_dir, name + ".input.npy"), x)
    np.save(os.path.join(out_dir, name + ".pixels.npy"), pixels)
    np.save(os.path.join(out_dir, name + ".logits.npy"), logits)

    size = os.path.getsize(path)
    print("%s: %d params, %s = %d bytes (%.1f MB), export %.1f s"
          % (name, n_params, os.path.basename(path), size, size / 1e6, time.time() - t0))
    print("    logits: mean %.4f std %.4f max|.| %.4f argmax %d"
          % (logits.mean(), logits.std(), np.abs(logits).max(), logits.argmax()))
    ops = op_counts(m)
    print("    %d nodes, ops: %s" % (sum(ops.values()), dict(sorted(ops.items()))))
    ratios = [float(np.abs(a).max() / a.std()) for t in m.graph.initializer
              for a in [onnx.numpy_helper.to_array(t)] if a.ndim == 2 and a.size > 4096]
    print("    2-D weights: max|W|/std median %.2f, max %.2f" % (np.median(ratios), max(ratios)))
    const_mm = sum(1 for n in m.graph.node if n.op_type == "MatMul"
                   and n.input[1] in {t.name for t in m.graph.initializer})
    print("    MatMul with constant weight: %d, Gemm: %d" % (const_mm, ops.get("Gemm", 0)))


def main():
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", default=DEFAULT_OUT, help="output directory (default out/bench)")
    ap.add_argument("--only", choices=sorted(MODELS), action="append",
                    help="export only this model (repeatable)")
    args = ap.parse_args()
    os.makedirs(args.out, exist_ok=True)
    t0 = time.time()
    for name in (args.only or list(MODELS)):
        export(name, MODELS[name], args.out)
    for f in sorted(os.listdir(args.out)):
        if f.endswith(".npy") or f.endswith(".onnx"):
            print("%-28s %12d bytes" % (f, os.path.getsize(os.path.join(args.out, f))))
    print("total %.1f s" % (time.time() - t0))


if __name__ == "__main__":
    main()
