#!/usr/bin/python3
"""Train the EdgeQuant embedded default model: a tiny ViT on Fashion-MNIST.

Run with Debian's interpreter (it ships torch 1.13 CPU + onnx 1.12):

    nice -n 10 /usr/bin/python3 tools/modelzoo/fashion-vit/train.py --epochs 14

Everything is seeded and runs on CPU with one thread (deterministic algorithms),
so a rerun on the same torch build should reproduce the same weights.

Outputs (in --out, default: this script's folder):
  model.onnx    opset 17, weights embedded, dynamic batch axis
  labels.txt    the 10 class names, index order
  metrics.json  epochs, per-epoch log, wall time, final FP32 test accuracy
  ref_logits_64.npy  torch FP32 logits of the first 64 test images (verify_onnx.py)

No .pt checkpoint is written: the model is exported straight from memory.
"""
import argparse
import json
import math
import os
import random
import sys
import time

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", ".."))
from eqtools.data import read_idx  # noqa: E402

LABELS = [
    "T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
    "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot",
]

# ---------------------------------------------------------------- data


def load_split(data_dir, prefix):
    x = read_idx(os.path.join(data_dir, f"{prefix}-images-idx3-ubyte.gz"))
    y = read_idx(os.path.join(data_dir, f"{prefix}-labels-idx1-ubyte.gz"))
    # Input convention: float32 pixel/255, shape [N,1,28,28], no mean/std.
    x = torch.from_numpy(x.astype(np.float32) / 255.0).unsqueeze(1)
    y = torch.from_numpy(y.astype(np.int64))
    return x, y

# ---------------------------------------------------------------- model

# Debian's torch 1.13 is built against the reference (netlib) BLAS, where
# nn.Linear's GEMMs run at ~5 GFLOP/s on one core.  oneDNN (MKL-DNN) is compiled
# in and its convolution path is ~6x faster, so during *training only* a Linear
# is computed as the mathematically identical 1x1 Conv2d on the same weight and
# bias tensors.  Evaluation of the final model, the reference logits and the
# ONNX export all run with FAST_LINEAR = False, i.e. plain F.linear, so the
# exported graph is the ordinary MatMul/Add (Gemm) form.
FAST_LINEAR = False


class Linear(nn.Linear):
    def forward(self, x):
        if not FAST_LINEAR:
            return F.linear(x, self.weight, self.bias)
        shape = x.shape
        y = F.conv2d(x.reshape(-1, shape[-1], 1, 1),
                     self.weight[:, :, None, None], self.bias)
        return y.reshape(*shape[:-1], self.weight.shape[0])



class Attention(nn.Module):
    """Hand-written multi-head self-attention with separate q/k/v projections."""

    def __init__(self, dim=64, heads=4):
        super().__init__()
        self.heads = heads
        self.head_dim = dim // heads
        self.scale = self.head_dim ** -0.5
        self.q = Linear(dim, dim)
        self.k = Linear(dim, dim)
        self.v = Linear(dim, dim)
        self.proj = Linear(dim, dim)

    def forward(self, x):
        b, n, c = x.shape
        q = self.q(x).reshape(b, n, self.heads, self.head_dim).transpose(1, 2)
        k = self.k(x).reshape(b, n, self.heads, self.head_dim).transpose(1, 2)
        v = self.v(x).reshape(b, n, self.heads, self.head_dim).transpose(1, 2)
        attn = torch.matmul(q, k.transpose(-2, -1)) * self.scale  # [B,H,N,N]
        attn = attn.softmax(dim=-1)
        out = torch.matmul(attn, v)  # [B,H,N,D]
        out = out.transpose(1, 2).reshape(b, n, c)
        return self.proj(out)


class Mlp(nn.Module):
    def __init__(self, dim=64, hidden=128):
        super().__init__()
        self.fc1 = Linear(dim, hidden)
        self.act = nn.GELU()  # exact erf GELU
        self.fc2 = Linear(hidden, dim)

    def forward(self, x):
        return self.fc2(self.act(self.fc1(x)))


class Block(nn.Module):
    """Pre-LayerNorm transformer block."""

    def __init__(self, dim=64, heads=4, hidden=128):
        super().__init__()
        self.norm1 = nn.LayerNorm(dim, eps=1e-5)
        self.attn = Attention(dim, heads)
        self.norm2 = nn.LayerNorm(dim, eps=1e-5)
        self.mlp = Mlp(dim, hidden)

    def forward(self, x):
        x = x + self.attn(self.norm1(x))
        x = x + self.mlp(self.norm2(x))
        return x


class TinyViT(nn.Module):
    def __init__(self, dim=64, depth=4, heads=4, hidden=128, patch=7, classes=10):
        super().__init__()
        self.patch_embed = nn.Conv2d(1, dim, kernel_size=patch, stride=patch)
        num_patches = (28 // patch) ** 2  # 16
        self.cls_token = nn.Parameter(torch.zeros(1, 1, dim))
        self.pos_embed = nn.Parameter(torch.zeros(1, num_patches + 1, dim))
        self.blocks = nn.ModuleList([Block(dim, heads, hidden) for _ in range(depth)])
        self.norm = nn.LayerNorm(dim, eps=1e-5)
        self.head = Linear(dim, classes)
        nn.init.trunc_normal_(self.pos_embed, std=0.02)
        nn.init.trunc_normal_(self.cls_token, std=0.02)
        self.apply(self._init)

    @staticmethod
    def _init(m):
        if isinstance(m, nn.Linear):
            nn.init.trunc_normal_(m.weight, std=0.02)
            nn.init.zeros_(m.bias)
        elif isinstance(m, nn.LayerNorm):
            nn.init.ones_(m.weight)
            nn.init.zeros_(m.bias)

    def forward(self, x):  # x: [B,1,28,28], pixel/255
        x = self.patch_embed(x)            # [B,64,4,4]
        x = x.flatten(2).transpose(1, 2)   # [B,16,64]
        cls = self.cls_token.expand(x.shape[0], -1, -1)
        x = torch.cat([cls, x], dim=1)     # [B,17,64]
        x = x + self.pos_embed
        for blk in self.blocks:
            x = blk(x)
        x = self.norm(x)
        return self.head(x[:, 0])          # [B,10]

# ---------------------------------------------------------------- train / eval


@torch.no_grad()
def evaluate(model, x, y, batch=1000):
    model.eval()
    correct, loss_sum = 0, 0.0
    for i in range(0, x.shape[0], batch):
        logits = model(x[i:i + batch])
        loss_sum += F.cross_entropy(logits, y[i:i + batch], reduction="sum").item()
        correct += (logits.argmax(1) == y[i:i + batch]).sum().item()
    return correct / x.shape[0], loss_sum / x.shape[0]


def export_onnx(model, path):
    model.eval()
    dummy = torch.zeros(1, 1, 28, 28)
    torch.onnx.export(
        model, dummy, path,
        opset_version=17,
        input_names=["input"], output_names=["logits"],
        dynamic_axes={"input": {0: "batch"}, "logits": {0: "batch"}},
        do_constant_folding=True,
    )


def main():
    global FAST_LINEAR
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", default="/usr/share/datasets/fashion-mnist")
    ap.add_argument("--out", default=HERE)
    ap.add_argument("--epochs", type=int, default=14)
    ap.add_argument("--batch", type=int, default=128)
    ap.add_argument("--lr", type=float, default=1e-3)
    ap.add_argument("--weight-decay", type=float, default=0.05)
    ap.add_argument("--warmup-epochs", type=float, default=1.0)
    ap.add_argument("--max-steps", type=int, default=0,
                    help="stop each epoch after this many steps (timing only; 0 = full)")
    ap.add_argument("--no-export", action="store_true")
    args = ap.parse_args()

    # Determinism: one thread, fixed seeds, deterministic kernels.
    torch.set_num_threads(1)
    torch.manual_seed(0)
    np.random.seed(0)
    random.seed(0)
    torch.use_deterministic_algorithms(True)

    os.makedirs(args.out, exist_ok=True)
    x_train, y_train = load_split(args.data, "train")
    x_test, y_test = load_split(args.data, "t10k")
    print(f"train {tuple(x_train.shape)}  test {tuple(x_test.shape)}", flush=True)

    model = TinyViT()
    n_params = sum(p.numel() for p in model.parameters())
    print(f"params: {n_params}", flush=True)

    # No weight decay on biases, LayerNorm weights, cls token, pos embedding.
    decay, no_decay = [], []
    for name, p in model.named_parameters():
        (no_decay if p.ndim <= 1 or name in ("cls_token", "pos_embed") else decay).append(p)
    opt = torch.optim.AdamW(
        [{"params": decay, "weight_decay": args.weight_decay},
         {"params": no_decay, "weight_decay": 0.0}],
        lr=args.lr, betas=(0.9, 0.999))

    n = x_train.shape[0]
    steps_per_epoch = math.ceil(n / args.batch)
    if args.max_steps:
        steps_per_epoch = min(steps_per_epoch, args.max_steps)
    total_steps = steps_per_epoch * args.epochs
    warmup = int(args.warmup_epochs * steps_per_epoch)

    def lr_at(step):  # linear warmup, then cosine decay to 0
        if step < warmup:
            return args.lr * (step + 1) / warmup
        t = (step - warmup) / max(1, total_steps - warmup)
        return args.lr * 0.5 * (1.0 + math.cos(math.pi * t))

    gen = torch.Generator().manual_seed(0)
    log = []
    t0 = time.time()
    step = 0
    for epoch in range(1, args.epochs + 1):
        model.train()
        FAST_LINEAR = True
        te = time.time()
        perm = torch.randperm(n, generator=gen)
        loss_sum, seen = 0.0, 0
        for i in range(steps_per_epoch):
            idx = perm[i * args.batch:(i + 1) * args.batch]
            xb, yb = x_train[idx], y_train[idx]
            # Augmentation: random horizontal flip (p=0.5).
            flip = torch.rand(xb.shape[0], generator=gen) < 0.5
            xb = torch.where(flip[:, None, None, None], xb.flip(-1), xb)
            for g in opt.param_groups:
                g["lr"] = lr_at(step)
            loss = F.cross_entropy(model(xb), yb)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            step += 1
            loss_sum += loss.item() * xb.shape[0]
            seen += xb.shape[0]
        train_time = time.time() - te
        # Per-epoch progress is measured on the fast path too (only speed).
        acc, test_loss = evaluate(model, x_test, y_test)
        rec = {"epoch": epoch, "train_loss": round(loss_sum / seen, 4),
               "test_loss": round(test_loss, 4), "test_acc": acc,
               "epoch_train_s": round(train_time, 1),
               "elapsed_s": round(time.time() - t0, 1)}
        log.append(rec)
        print(f"epoch {epoch:3d}/{args.epochs}  train_loss {rec['train_loss']:.4f}  "
              f"test_loss {rec['test_loss']:.4f}  test_acc {acc * 100:.2f}%  "
              f"({train_time:.1f}s train, {rec['elapsed_s']:.0f}s total)", flush=True)
    wall = time.time() - t0

    FAST_LINEAR = False  # final accuracy, reference logits, export: plain ops
    acc, _ = evaluate(model, x_test, y_test)
    print(f"final FP32 test accuracy (10000 images): {acc * 100:.2f}%  wall {wall:.0f}s",
          flush=True)

    with open(os.path.join(args.out, "labels.txt"), "w") as f:
        f.write("\n".join(LABELS) + "\n")

    metrics = {"epochs": args.epochs, "batch": args.batch, "lr": args.lr,
               "weight_decay": args.weight_decay, "params": n_params,
               "wall_time_s": round(wall, 1), "test_acc_fp32": acc,
               "torch": torch.__version__, "log": log}
    if not args.no_export:
        onnx_path = os.path.join(args.out, "model.onnx")
        export_onnx(model, onnx_path)
        # Reference logits for the first 64 test images, for verify_onnx.py.
        with torch.no_grad():
            ref = model.eval()(x_test[:64]).numpy()
        np.save(os.path.join(args.out, "ref_logits_64.npy"), ref)
        print(f"exported {onnx_path} ({os.path.getsize(onnx_path)} bytes)", flush=True)
    with open(os.path.join(args.out, "metrics.json"), "w") as f:
        json.dump(metrics, f, indent=1)


if __name__ == "__main__":
    main()
