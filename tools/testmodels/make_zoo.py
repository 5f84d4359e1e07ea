#!/usr/bin/python3
"""Export the variant zoo: tiny, seeded, randomly initialised image transformers that nobody on the team designed
for the engine's template (stems, heads, block flavours, odd sizes), with their PyTorch outputs.

    /usr/bin/python3 tools/testmodels/make_zoo.py [--out tests/assets/zoo]

Debian's python3-torch 1.13 / python3-onnx / python3-torchvision. Image variants: NAME.onnx and NAME.expected.json
({"input": [...], "logits": [...]}). Text variants (BERT blocks from tools/modelzoo/sst2-bert/train.py with heads the
engine has no template for): NAME/model.onnx (inputs input_ids, attention_mask, token_type_ids; no vocabulary: they
take token ids) and NAME/expected.json (cases as in tests/assets/plm). Trained variants (fashion_*): --train-seconds of
Adam on Fashion-MNIST train (Debian dataset-fashion-mnist), PyTorch's test top-1 recorded in NAME.expected.json.
"""

import argparse
import json
import math
import os
import sys

import onnx
import torch
import torch.nn as nn

torch.set_num_threads(1)
REPO_ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
sys.path.insert(0, os.path.join(REPO_ROOT, "tools"))
from eqtools.data import read_idx  # noqa: E402
DEFAULT_OUT = os.path.join(REPO_ROOT, "tests", "assets", "zoo")
MAX_BYTES = 300 * 1024


class Attention(nn.Module):
    """Hand-written multi-head self-attention: fused or separate q/k/v, with or without biases."""

    def __init__(self, dim, heads, fused=True, bias=True):
        super().__init__()
        self.heads, self.hd = heads, dim // heads
        self.fused = fused
        if fused:
            self.qkv = nn.Linear(dim, 3 * dim, bias=bias)
        else:
            self.q, self.k, self.v = (nn.Linear(dim, dim, bias=bias) for _ in range(3))
        self.proj = nn.Linear(dim, dim, bias=bias)

    def forward(self, x):
        b, n, d = x.shape
        if self.fused:
            q, k, v = self.qkv(x).chunk(3, dim=-1)
        else:
            q, k, v = self.q(x), self.k(x), self.v(x)
        split = lambda t: t.reshape(b, n, self.heads, self.hd).permute(0, 2, 1, 3)
        q, k, v = split(q), split(k), split(v)
        a = (q @ k.transpose(-2, -1) / math.sqrt(self.hd)).softmax(dim=-1)
        return self.proj((a @ v).permute(0, 2, 1, 3).reshape(b, n, d))


class Block(nn.Module):
    def __init__(self, dim, heads, mlp, pre=True, act="gelu", fused=True, bias=True):
        super().__init__()
        self.pre = pre
        self.ln1, self.ln2 = nn.LayerNorm(dim), nn.LayerNorm(dim)
        self.attn = Attention(dim, heads, fused, bias)
        self.fc1, self.fc2 = nn.Linear(dim, mlp), nn.Linear(mlp, dim)
        self.act = nn.GELU() if act == "gelu" else nn.ReLU()

    def mlp(self, x):
        return self.fc2(self.act(self.fc1(x)))

    def forward(self, x):
        if self.pre:
            x = x + self.attn(self.ln1(x))
            return x + self.mlp(self.ln2(x))
        x = self.ln1(x + self.attn(x))
        return self.ln2(x + self.mlp(x))


def sincos_table(n, d):
    pos = torch.arange(n, dtype=torch.float32)[:, None]
    i = torch.arange(0, d, 2, dtype=torch.float32)[None, :]
    ang = pos / torch.pow(10000.0, i / d)
    t = torch.zeros(n, d)
    t[:, 0::2], t[:, 1::2] = torch.sin(ang), torch.cos(ang)
    return t[None]


class ZooViT(nn.Module):
    """Stems: conv | conv+linear | unfold (reshape/permute + linear). Tokens: cls, dist. Positions: learned | sincos | none.
    Heads: cls | mean | max | cls+dist average | embedding (mean + projection + L2 normalization)."""

    def __init__(self, img=16, ch=1, patch=4, dim=24, heads=3, mlp=48, layers=2, classes=5, stem="conv", cls=True, dist=False,
                 pos="learned", head="cls", pre=True, act="gelu", fused=True, bias=True, blocks=None):
        super().__init__()
        self.patch, self.stem, self.head_kind, self.dist = patch, stem, head, dist
        n = (img // patch) ** 2
        if stem in ("conv", "conv+linear"):
            self.conv = nn.Conv2d(ch, dim, patch, patch)
            if stem == "conv+linear":
                self.lin = nn.Linear(dim, dim)
        else:
            self.lin = nn.Linear(ch * patch * patch, dim)
        self.cls = nn.Parameter(torch.randn(1, 1, dim) * 0.5) if cls else None
        self.dtok = nn.Parameter(torch.randn(1, 1, dim) * 0.5) if dist else None
        t = n + (1 if cls else 0) + (1 if dist else 0)
        if pos == "learned":
            self.pos = nn.Parameter(torch.randn(1, t, dim) * 0.2)
        elif pos == "sincos":
            self.register_buffer("pos", sincos_table(t, dim))
        else:
            self.pos = None
        self.blocks = blocks if blocks is not None else nn.ModuleList(
            [Block(dim, heads, mlp, pre, act, fused, bias) for _ in range(layers)])
        self.norm = nn.LayerNorm(dim) if pre else nn.Identity()
        self.fc = nn.Linear(dim, classes)
        if dist:
            self.fc_dist = nn.Linear(dim, classes)
        if head == "embedding":
            self.proj = nn.Linear(dim, classes, bias=False)

    def tokens(self, x):
        b, c, h, w = x.shape
        p = self.patch
        if self.stem == "unfold":
            x = x.reshape(b, c, h // p, p, w // p, p).permute(0, 2, 4, 1, 3, 5).reshape(b, (h // p) * (w // p), c * p * p)
            return self.lin(x)
        x = self.conv(x).flatten(2).transpose(1, 2)
        return self.lin(x) if self.stem == "conv+linear" else x

    def forward(self, x):
        x = self.tokens(x)
        b = x.shape[0]
        pre = [t.expand(b, -1, -1) for t in (self.cls, self.dtok) if t is not None]
        if pre:
            x = torch.cat(pre + [x], dim=1)
        if self.pos is not None:
            x = x + self.pos
        if isinstance(self.blocks, nn.ModuleList):
            for blk in self.blocks:
                x = blk(x)
        else:
            x = self.blocks(x)
        x = self.norm(x)
        if self.head_kind == "cls":
            return self.fc(x[:, 0])
        if self.head_kind == "dist":
            return (self.fc(x[:, 0]) + self.fc_dist(x[:, 1])) / 2
        if self.head_kind == "mean":
            return self.fc(x.mean(dim=1))
        if self.head_kind == "max":
            return torch.sigmoid(self.fc(x.max(dim=1).values)).clamp(0.05, 0.95)
        e = self.proj(x.mean(dim=1))
        return e / torch.linalg.vector_norm(e, dim=-1, keepdim=True)


def encoder(dim, heads, mlp, layers, pre, act, batch_first=True):
    layer = nn.TransformerEncoderLayer(dim, heads, mlp, dropout=0.0, activation=act, batch_first=batch_first, norm_first=pre)
    return nn.TransformerEncoder(layer, layers, enable_nested_tensor=False)


class SeqFirst(nn.Module):
    """nn.TransformerEncoder with batch_first=False: the stream runs [T, B, D]."""

    def __init__(self, enc):
        super().__init__()
        self.enc = enc

    def forward(self, x):
        return self.enc(x.transpose(0, 1)).transpose(0, 1)


def torchvision_vit():
    from torchvision.models.vision_transformer import VisionTransformer
    m = VisionTransformer(image_size=16, patch_size=4, num_layers=2, num_heads=2, hidden_dim=24, mlp_dim=48, num_classes=5)
    nn.init.normal_(m.heads.head.weight, std=0.3)  # torchvision zero-initialises the head: all-zero logits test nothing
    return m


VARIANTS = {
    # name: (constructor, input channels, image size)
    "torchvision_vit": (torchvision_vit, 3, 16),
    "conv_linear_stem": (lambda: ZooViT(stem="conv+linear"), 1, 16),
    "unfold_meanpool": (lambda: ZooViT(stem="unfold", cls=False, head="mean", dim=40, heads=2, mlp=80), 1, 16),
    "distill_token": (lambda: ZooViT(ch=3, cls=True, dist=True, head="dist"), 3, 16),
    "sincos_nocls": (lambda: ZooViT(cls=False, pos="sincos", head="mean", dim=40, heads=2, mlp=64), 1, 16),
    "sep_qkv_nobias": (lambda: ZooViT(fused=False, bias=False, dim=24, heads=3), 1, 16),
    "postln_relu_h40": (lambda: ZooViT(pre=False, act="relu", dim=40, heads=5, mlp=72), 1, 16),
    "maxpool_sigmoid": (lambda: ZooViT(img=12, cls=False, head="max", dim=72, heads=6, mlp=96), 1, 12),
    "embedding_l2": (lambda: ZooViT(cls=False, head="embedding", dim=24, heads=2, classes=16), 1, 16),
    "tenc_preln_gelu": (lambda: ZooViT(dim=72, heads=6, mlp=96, blocks=encoder(72, 6, 96, 2, True, "gelu")), 1, 16),
    "tenc_postln_relu": (lambda: ZooViT(pre=False, dim=40, heads=2, mlp=64, blocks=encoder(40, 2, 64, 2, False, "relu")), 1, 16),
    "tenc_seqfirst": (lambda: ZooViT(dim=24, heads=3, mlp=48, blocks=SeqFirst(encoder(24, 3, 48, 2, True, "gelu", batch_first=False))), 1, 16),
}


# --------------------------------------------------------------------------- text encoders with graph heads
sys.path.insert(0, os.path.join(REPO_ROOT, "tools", "modelzoo", "sst2-bert"))
import train as bert  # noqa: E402  (HF-named BERT modules)


def text_config(**kw):
    c = dict(bert.CONFIG, vocab_size=100, hidden_size=24, num_hidden_layers=2, num_attention_heads=3, intermediate_size=48,
             max_position_embeddings=24, hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0, layer_norm_eps=1e-12)
    c.update(kw)
    return c


class SentenceEncoder(nn.Module):
    """BERT blocks, then a head the engine has no template for: masked mean (or max) pooling, a projection, L2 norm."""

    def __init__(self, c, out=16, pool="mean", normalize=True):
        super().__init__()
        self.bert, self.pool, self.normalize = bert.BertModel(c), pool, normalize
        self.proj = nn.Linear(c["hidden_size"], out)

    def forward(self, input_ids, attention_mask, token_type_ids):
        ext = (1.0 - attention_mask[:, None, None, :].to(torch.float32)) * bert.MASK_VALUE
        h = self.bert.encoder(self.bert.embeddings(input_ids, token_type_ids), ext)
        m = attention_mask.to(torch.float32).unsqueeze(-1)
        if self.pool == "mean":
            p = (h * m).sum(1) / m.sum(1).clamp(min=1e-9)
        else:
            p = h.masked_fill(m == 0, -1e4).max(dim=1).values
        y = self.proj(p)
        return torch.nn.functional.normalize(y, dim=-1) if self.normalize else y


TEXT_VARIANTS = {
    "text_meanpool_proj_l2": lambda: SentenceEncoder(text_config(), out=16),
    "text_maxpool_classifier": lambda: SentenceEncoder(text_config(hidden_size=40, num_attention_heads=2), out=3, pool="max", normalize=False),
}


def text_cases(rng, vocab, max_len):
    """A right-padded batch of 2, one sequence of the maximum length, one of 2 tokens; ids from 5 up (1..4 special)."""
    cases = []
    for lens, total in (((7, 4), 9), ((max_len,), max_len), ((2,), 2)):
        ids, mask, types = [], [], []
        for n in lens:
            row = [int(v) for v in rng.randint(5, vocab, size=n)] + [0] * (total - n)
            ids.append(row)
            mask.append([1] * n + [0] * (total - n))
            types.append([0] * (n // 2) + [1] * (n - n // 2) + [0] * (total - n))
        cases.append({"input_ids": ids, "attention_mask": mask, "token_type_ids": types})
    return cases


def export_text(name, make, out_dir, seed):
    import numpy as np
    torch.manual_seed(seed)
    model = make().eval()
    d = os.path.join(out_dir, name)
    os.makedirs(d, exist_ok=True)
    ids = torch.tensor([[1, 20, 30, 45, 50, 60, 2, 0], [1, 21, 31, 46, 2, 0, 0, 0]], dtype=torch.int64)
    mask = (ids != 0).to(torch.int64)
    torch.onnx.export(model, (ids, mask, torch.zeros_like(ids)), os.path.join(d, "model.onnx"), opset_version=17,
                      input_names=["input_ids", "attention_mask", "token_type_ids"], output_names=["output"],
                      dynamic_axes={k: {0: "batch", 1: "seq"} for k in ("input_ids", "attention_mask", "token_type_ids")} | {"output": {0: "batch"}},
                      do_constant_folding=True)
    onnx.checker.check_model(onnx.load(os.path.join(d, "model.onnx")))
    cases = text_cases(np.random.RandomState(seed), model.bert.embeddings.word_embeddings.num_embeddings,
                       model.bert.embeddings.position_embeddings.num_embeddings)
    with torch.no_grad():
        for c in cases:
            c["output"] = model(*(torch.tensor(c[k]) for k in ("input_ids", "attention_mask", "token_type_ids"))).tolist()
    with open(os.path.join(d, "expected.json"), "w") as f:
        json.dump({"model": name, "cases": cases}, f)
        f.write("\n")
    return os.path.join(d, "model.onnx")


# --------------------------------------------------------------------------- trained on Fashion-MNIST
FASHION = "/usr/share/datasets/fashion-mnist"  # Debian dataset-fashion-mnist (./build.sh deps installs it)


TRAINED = {
    # name: constructor of a 28x28 model (patch 7 -> 16 patches)
    "fashion_conv_linear": lambda: ZooViT(img=28, patch=7, dim=32, heads=4, mlp=64, layers=2, classes=10, stem="conv+linear"),
    "fashion_unfold_meanpool": lambda: ZooViT(img=28, patch=7, dim=40, heads=4, mlp=80, layers=2, classes=10, stem="unfold", cls=False, head="mean"),
}


def train_variant(name, make, out_dir, seconds, seed):
    """Adam on Fashion-MNIST train for a fixed wall time; accuracy of PyTorch on the 10k test images is recorded."""
    import time
    import numpy as np
    torch.manual_seed(seed)
    model = make()
    xs = torch.from_numpy(read_idx(os.path.join(FASHION, "train-images-idx3-ubyte.gz")).astype(np.float32) / 255).unsqueeze(1)
    ys = torch.from_numpy(read_idx(os.path.join(FASHION, "train-labels-idx1-ubyte.gz")).astype(np.int64))
    opt = torch.optim.Adam(model.parameters(), lr=2e-3)
    g = torch.Generator().manual_seed(seed)
    t0, steps = time.time(), 0
    model.train()
    while time.time() - t0 < seconds:
        idx = torch.randint(0, len(xs), (128,), generator=g)
        loss = nn.functional.cross_entropy(model(xs[idx]), ys[idx])
        opt.zero_grad()
        loss.backward()
        opt.step()
        steps += 1
    model.eval()
    tx = torch.from_numpy(read_idx(os.path.join(FASHION, "t10k-images-idx3-ubyte.gz")).astype(np.float32) / 255).unsqueeze(1)
    ty = torch.from_numpy(read_idx(os.path.join(FASHION, "t10k-labels-idx1-ubyte.gz")).astype(np.int64))
    with torch.no_grad():
        pred = torch.cat([model(tx[i:i + 1000]).argmax(1) for i in range(0, len(tx), 1000)])
    acc = float((pred == ty).float().mean()) * 100
    path = os.path.join(out_dir, name + ".onnx")
    torch.onnx.export(model, tx[:1], path, opset_version=17, input_names=["input"], output_names=["logits"], do_constant_folding=True)
    onnx.checker.check_model(onnx.load(path))
    with torch.no_grad():
        y = model(tx[:1])
    with open(os.path.join(out_dir, name + ".expected.json"), "w") as f:
        json.dump({"input": tx[0].flatten().tolist(), "logits": y.flatten().tolist(), "fashion_test_top1": acc,
                   "train": f"{steps} Adam steps of batch 128 in {seconds} s, seed {seed}"}, f)
        f.write("\n")
    print(f"{name:24s} trained {steps} steps: Fashion-MNIST test top-1 {acc:.2f} %")
    return path


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", default=DEFAULT_OUT)
    ap.add_argument("--only", nargs="*", help="variant names (default: all)")
    ap.add_argument("--train-seconds", type=float, default=20, help="training time of each Fashion-MNIST variant (default 20)")
    args = ap.parse_args()
    os.makedirs(args.out, exist_ok=True)
    for i, (name, (make, ch, img)) in enumerate(VARIANTS.items()):
        if args.only and name not in args.only:
            continue
        torch.manual_seed(100 + i)
        model = make().eval()
        path = os.path.join(args.out, name + ".onnx")
        # Grad stays enabled while exporting: it keeps nn.MultiheadAttention off its fused fast path
        # (aten::_native_multi_head_attention), which has no ONNX export in torch 1.13.
        torch.onnx.export(model, torch.randn(1, ch, img, img), path, opset_version=17,
                          input_names=["input"], output_names=["logits"], do_constant_folding=True)
        onnx.checker.check_model(onnx.load(path))
        torch.manual_seed(7)
        x = torch.rand(1, ch, img, img)
        with torch.no_grad():
            y = model(x)
        with open(os.path.join(args.out, name + ".expected.json"), "w") as f:
            json.dump({"input": x.flatten().tolist(), "logits": y.flatten().tolist()}, f)
            f.write("\n")
        size = os.path.getsize(path)
        assert size < MAX_BYTES, (name, size)
        ops = sorted({n.op_type for n in onnx.load(path).graph.node})
        print(f"{name:20s} {size:7d} bytes  {' '.join(ops)}")
    for i, (name, make) in enumerate(TRAINED.items()):
        if args.only and name not in args.only:
            continue
        path = train_variant(name, make, args.out, args.train_seconds, 300 + i)
        assert os.path.getsize(path) < MAX_BYTES
    for i, (name, make) in enumerate(TEXT_VARIANTS.items()):
        if args.only and name not in args.only:
            continue
        path = export_text(name, make, args.out, 200 + i)
        size = os.path.getsize(path)
        assert size < MAX_BYTES, (name, size)
        ops = sorted({n.op_type for n in onnx.load(path).graph.node})
        print(f"{name:24s} {size:7d} bytes  {' '.join(ops)}")


if __name__ == "__main__":
    main()
