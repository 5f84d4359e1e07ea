#!/usr/bin/python3
"""Train a small BERT from scratch on GLUE SST-2 and export it (HF folder + ONNX).

    cd /work/main
    nice -n 10 /usr/bin/python3 tools/modelzoo/sst2-bert/train.py --bench 60       # measure throughput
    nice -n 10 /usr/bin/python3 tools/modelzoo/sst2-bert/train.py --epochs N       # train + export
    nice -n 10 /usr/bin/python3 tools/modelzoo/sst2-bert/train.py --export-only    # re-export from out/hf

The model is written by hand with plain torch modules but has exactly the module tree and the
parameter names of Hugging Face `BertForSequenceClassification` (post-LN BERT), so
`out/hf/` loads with `BertForSequenceClassification.from_pretrained(out/hf)`.

Outputs (in --out, default /work/main/out/sst2-bert/, git-ignored):
    hf/config.json, hf/model.safetensors, hf/vocab.txt, hf/tokenizer_config.json
    model.onnx, metrics.json
and in this script's folder (small, meant for the repo): dev_reference.json, metrics.json.
"""
import argparse
import hashlib
import json
import math
import os
import random
import shutil
import sys
import time

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(HERE, "..", ".."))  # tools/: the shared eqtools package
from tokenizer import BertTokenizer  # noqa: E402
from eqtools import safetensors_io  # noqa: E402
from eqtools.data import read_tsv  # noqa: E402,F401  (also used as T.read_tsv / base.read_tsv by the sibling scripts)

CONFIG = dict(
    vocab_size=30522, hidden_size=256, num_hidden_layers=4, num_attention_heads=4,
    intermediate_size=1024, hidden_act="gelu", hidden_dropout_prob=0.1,
    attention_probs_dropout_prob=0.1, max_position_embeddings=128, type_vocab_size=2,
    layer_norm_eps=1e-12, initializer_range=0.02, pad_token_id=0,
)
MASK_VALUE = -10000.0  # additive attention-mask value for padded keys (classic BERT)

# ---------------------------------------------------------------------------------------
# Fast training path. Debian's torch uses the reference (netlib) BLAS: nn.Linear runs at
# ~3 GFLOP/s on one thread, while oneDNN's mkldnn_linear runs at ~100 GFLOP/s. During the
# training steps only, every Linear is computed by this autograd Function (same weight and
# bias tensors, mathematically identical; float32 rounding differs at ~1e-6). All reported
# final numbers, the reference logits and the exports use plain F.linear (FAST_LINEAR False).
# ---------------------------------------------------------------------------------------
FAST_LINEAR = False
_mk_linear = torch._C._nn.mkldnn_linear


class _MkldnnLinear(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, w, b):
        ctx.save_for_backward(x, w)
        return _mk_linear(x.to_mkldnn(), w.to_mkldnn(), b.to_mkldnn()).to_dense()

    @staticmethod
    def backward(ctx, gy):
        x, w = ctx.saved_tensors
        gy = gy.contiguous()
        gx = _mk_linear(gy.to_mkldnn(), w.t().contiguous().to_mkldnn()).to_dense()
        gw = _mk_linear(gy.t().contiguous().to_mkldnn(), x.t().contiguous().to_mkldnn()).to_dense()
        return gx, gw, gy.sum(0)


def linear(mod, x):
    if not FAST_LINEAR:
        return mod(x)
    shape = x.shape
    y = _MkldnnLinear.apply(x.reshape(-1, shape[-1]).contiguous(), mod.weight, mod.bias)
    return y.view(*shape[:-1], y.shape[-1])


# ------------------------------------ model ---------------------------------------------
class BertEmbeddings(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.word_embeddings = nn.Embedding(c["vocab_size"], c["hidden_size"], padding_idx=c["pad_token_id"])
        self.position_embeddings = nn.Embedding(c["max_position_embeddings"], c["hidden_size"])
        self.token_type_embeddings = nn.Embedding(c["type_vocab_size"], c["hidden_size"])
        self.LayerNorm = nn.LayerNorm(c["hidden_size"], eps=c["layer_norm_eps"])
        self.dropout = nn.Dropout(c["hidden_dropout_prob"])
        self.register_buffer("position_ids", torch.arange(c["max_position_embeddings"]).unsqueeze(0),
                             persistent=False)

    def forward(self, input_ids, token_type_ids):
        seq_len = input_ids.shape[1]
        position_ids = self.position_ids[:, :seq_len]
        emb = self.word_embeddings(input_ids) + self.token_type_embeddings(token_type_ids)
        emb = emb + self.position_embeddings(position_ids)
        return self.dropout(self.LayerNorm(emb))


class BertSelfAttention(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.num_heads = c["num_attention_heads"]
        self.head_dim = c["hidden_size"] // self.num_heads
        h = c["hidden_size"]
        self.query = nn.Linear(h, h)
        self.key = nn.Linear(h, h)
        self.value = nn.Linear(h, h)
        self.dropout = nn.Dropout(c["attention_probs_dropout_prob"])

    def _heads(self, x):  # [B, L, H] -> [B, nh, L, hd]
        b, l, _ = x.shape
        return x.view(b, l, self.num_heads, self.head_dim).permute(0, 2, 1, 3)

    def forward(self, h, ext_mask):
        q = self._heads(linear(self.query, h))
        k = self._heads(linear(self.key, h))
        v = self._heads(linear(self.value, h))
        scores = torch.matmul(q, k.transpose(-1, -2)) / math.sqrt(self.head_dim)
        scores = scores + ext_mask
        probs = self.dropout(torch.softmax(scores, dim=-1))
        ctx = torch.matmul(probs, v).permute(0, 2, 1, 3).contiguous()
        b, l = ctx.shape[0], ctx.shape[1]
        return ctx.view(b, l, self.num_heads * self.head_dim)


class BertSelfOutput(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.dense = nn.Linear(c["hidden_size"], c["hidden_size"])
        self.LayerNorm = nn.LayerNorm(c["hidden_size"], eps=c["layer_norm_eps"])
        self.dropout = nn.Dropout(c["hidden_dropout_prob"])

    def forward(self, x, residual):
        return self.LayerNorm(self.dropout(linear(self.dense, x)) + residual)


class BertAttention(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.self = BertSelfAttention(c)
        self.output = BertSelfOutput(c)

    def forward(self, h, ext_mask):
        return self.output(self.self(h, ext_mask), h)


class BertIntermediate(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.dense = nn.Linear(c["hidden_size"], c["intermediate_size"])

    def forward(self, x):
        return F.gelu(linear(self.dense, x))  # exact erf GELU


class BertOutput(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.dense = nn.Linear(c["intermediate_size"], c["hidden_size"])
        self.LayerNorm = nn.LayerNorm(c["hidden_size"], eps=c["layer_norm_eps"])
        self.dropout = nn.Dropout(c["hidden_dropout_prob"])

    def forward(self, x, residual):
        return self.LayerNorm(self.dropout(linear(self.dense, x)) + residual)


class BertLayer(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.attention = BertAttention(c)
        self.intermediate = BertIntermediate(c)
        self.output = BertOutput(c)

    def forward(self, h, ext_mask):
        a = self.attention(h, ext_mask)
        return self.output(self.intermediate(a), a)


class BertEncoder(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.layer = nn.ModuleList([BertLayer(c) for _ in range(c["num_hidden_layers"])])

    def forward(self, h, ext_mask):
        for layer in self.layer:
            h = layer(h, ext_mask)
        return h


class BertPooler(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.dense = nn.Linear(c["hidden_size"], c["hidden_size"])

    def forward(self, h):
        return torch.tanh(linear(self.dense, h[:, 0]))


class BertModel(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.embeddings = BertEmbeddings(c)
        self.encoder = BertEncoder(c)
        self.pooler = BertPooler(c)

    def forward(self, input_ids, attention_mask, token_type_ids):
        # [B, L] -> [B, 1, 1, L]: 0 for real tokens, MASK_VALUE for padding
        ext = (1.0 - attention_mask[:, None, None, :].to(torch.float32)) * MASK_VALUE
        h = self.encoder(self.embeddings(input_ids, token_type_ids), ext)
        return self.pooler(h)


class BertForSequenceClassification(nn.Module):
    def __init__(self, c, num_labels=2):
        super().__init__()
        self.bert = BertModel(c)
        self.dropout = nn.Dropout(c["hidden_dropout_prob"])
        self.classifier = nn.Linear(c["hidden_size"], num_labels)
        self.init_weights(c["initializer_range"], c["pad_token_id"])

    def init_weights(self, std, pad):
        """Same as HF BertPreTrainedModel._init_weights."""
        for m in self.modules():
            if isinstance(m, nn.Linear):
                m.weight.data.normal_(0.0, std)
                m.bias.data.zero_()
            elif isinstance(m, nn.Embedding):
                m.weight.data.normal_(0.0, std)
                if m.padding_idx is not None:
                    m.weight.data[m.padding_idx].zero_()
            elif isinstance(m, nn.LayerNorm):
                m.weight.data.fill_(1.0)
                m.bias.data.zero_()

    def forward(self, input_ids, attention_mask, token_type_ids):
        pooled = self.bert(input_ids, attention_mask, token_type_ids)
        return linear(self.classifier, self.dropout(pooled))


# ------------------------------------ data ----------------------------------------------
def encode_all(tok, rows, max_len):
    return [(tok.encode(s, max_len=max_len)["input_ids"], y) for s, y in rows]


def collate(items):
    """Dynamic padding to the longest sequence in the batch. Returns int64 tensors."""
    L = max(len(ids) for ids, _ in items)
    ids = torch.zeros(len(items), L, dtype=torch.int64)
    mask = torch.zeros(len(items), L, dtype=torch.int64)
    for i, (seq, _) in enumerate(items):
        ids[i, :len(seq)] = torch.tensor(seq, dtype=torch.int64)
        mask[i, :len(seq)] = 1
    labels = torch.tensor([y for _, y in items], dtype=torch.int64)
    return ids, mask, torch.zeros_like(ids), labels


def bucketed_batches(data, batch_size, rng, pool=50):
    """Shuffle, then sort by length inside pools of pool*batch_size examples, cut into
    batches, shuffle the batch order. All randomness from the numpy Generator `rng`."""
    perm = rng.permutation(len(data))
    batches = []
    chunk = batch_size * pool
    for s in range(0, len(perm), chunk):
        idx = sorted(perm[s:s + chunk].tolist(), key=lambda i: len(data[i][0]))
        batches += [idx[j:j + batch_size] for j in range(0, len(idx), batch_size)]
    order = rng.permutation(len(batches))
    return [batches[i] for i in order]


@torch.no_grad()
def evaluate(model, data, batch_size=128):
    """Batches sorted by length (dynamic padding). Returns (accuracy, mean loss, logits in data order)."""
    model.eval()
    order = sorted(range(len(data)), key=lambda i: len(data[i][0]))
    logits = torch.zeros(len(data), 2)
    for s in range(0, len(order), batch_size):
        idx = order[s:s + batch_size]
        ids, mask, tt, _ = collate([data[i] for i in idx])
        logits[idx] = model(ids, mask, tt)
    labels = torch.tensor([y for _, y in data])
    acc = (logits.argmax(1) == labels).float().mean().item()
    loss = F.cross_entropy(logits, labels).item()
    return acc, loss, logits


@torch.no_grad()
def logits_one_by_one(model, seqs):
    """Batch 1, exact length (no padding): the reference convention for dev_reference.json."""
    model.eval()
    out = []
    for seq in seqs:
        ids = torch.tensor([seq], dtype=torch.int64)
        out.append(model(ids, torch.ones_like(ids), torch.zeros_like(ids))[0])
    return torch.stack(out)


# ------------------------------------ export --------------------------------------------
def hf_config():
    return {
        "architectures": ["BertForSequenceClassification"],
        "model_type": "bert",
        "vocab_size": CONFIG["vocab_size"],
        "hidden_size": CONFIG["hidden_size"],
        "num_hidden_layers": CONFIG["num_hidden_layers"],
        "num_attention_heads": CONFIG["num_attention_heads"],
        "intermediate_size": CONFIG["intermediate_size"],
        "hidden_act": CONFIG["hidden_act"],
        "hidden_dropout_prob": CONFIG["hidden_dropout_prob"],
        "attention_probs_dropout_prob": CONFIG["attention_probs_dropout_prob"],
        "max_position_embeddings": CONFIG["max_position_embeddings"],
        "type_vocab_size": CONFIG["type_vocab_size"],
        "initializer_range": CONFIG["initializer_range"],
        "layer_norm_eps": CONFIG["layer_norm_eps"],
        "pad_token_id": CONFIG["pad_token_id"],
        "position_embedding_type": "absolute",
        "classifier_dropout": None,
        "id2label": {"0": "negative", "1": "positive"},
        "label2id": {"negative": 0, "positive": 1},
        "problem_type": "single_label_classification",
        "torch_dtype": "float32",
        "use_cache": True,
    }


def sha256(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for blk in iter(lambda: f.read(1 << 20), b""):
            h.update(blk)
    return h.hexdigest()


def write_hf(model, hf_dir, vocab_path):
    os.makedirs(hf_dir, exist_ok=True)
    with open(os.path.join(hf_dir, "config.json"), "w") as f:
        json.dump(hf_config(), f, indent=2)
        f.write("\n")
    sd = {k: v for k, v in model.state_dict().items()}
    safetensors_io.save_file(sd, os.path.join(hf_dir, "model.safetensors"), {"format": "pt"})
    shutil.copyfile(vocab_path, os.path.join(hf_dir, "vocab.txt"))
    with open(os.path.join(hf_dir, "tokenizer_config.json"), "w") as f:
        json.dump({"tokenizer_class": "BertTokenizer", "do_lower_case": True,
                   "model_max_length": 128, "unk_token": "[UNK]", "sep_token": "[SEP]",
                   "pad_token": "[PAD]", "cls_token": "[CLS]", "mask_token": "[MASK]",
                   "tokenize_chinese_chars": True, "strip_accents": None}, f, indent=2)
        f.write("\n")
    with open(os.path.join(hf_dir, "special_tokens_map.json"), "w") as f:
        json.dump({"unk_token": "[UNK]", "sep_token": "[SEP]", "pad_token": "[PAD]",
                   "cls_token": "[CLS]", "mask_token": "[MASK]"}, f, indent=2)
        f.write("\n")


def write_reference(ref, path, list_key="items"):
    """Reference JSON: indented, but each item of ref[list_key] on a few lines (lists kept on one line)."""
    head = {k: v for k, v in ref.items() if k != list_key}
    text = json.dumps(head, indent=1, ensure_ascii=False)[:-2]
    items = []
    for it in ref[list_key]:
        fields = [f"{json.dumps(k)}: {json.dumps(v, ensure_ascii=False)}" for k, v in it.items()]
        items.append("  {" + ",\n   ".join(fields) + "}")
    text += f',\n "{list_key}": [\n' + ",\n".join(items) + "\n ]\n}\n"
    assert json.loads(text) == ref
    with open(path, "w", encoding="utf-8", newline="\n") as f:
        f.write(text)


def load_from_safetensors(path):
    tensors, meta = safetensors_io.load_file(path)
    model = BertForSequenceClassification(CONFIG)
    expected = set(model.state_dict().keys())
    if set(tensors) != expected:
        raise ValueError(f"key mismatch: missing {expected - set(tensors)}, extra {set(tensors) - expected}")
    model.load_state_dict({k: torch.from_numpy(v) for k, v in tensors.items()}, strict=True)
    return model.eval()


def export_onnx(model, path, dummy_ids=(101, 2009, 1005, 1055, 1037, 11951, 102, 0)):
    """Export with a traced batch of 2 x 8 (second row partly padded); dummy_ids must exist in the model's vocab."""
    model.eval()
    ids = torch.tensor([list(dummy_ids)], dtype=torch.int64)
    ids = ids.repeat(2, 1)
    mask = (ids != 0).to(torch.int64)
    mask[1, 5:] = 0
    tt = torch.zeros_like(ids)
    torch.onnx.export(
        model, (ids, mask, tt), path, opset_version=17,
        input_names=["input_ids", "attention_mask", "token_type_ids"], output_names=["logits"],
        dynamic_axes={"input_ids": {0: "batch", 1: "seq"}, "attention_mask": {0: "batch", 1: "seq"},
                      "token_type_ids": {0: "batch", 1: "seq"}, "logits": {0: "batch"}},
        do_constant_folding=True)


# ------------------------------------ main ----------------------------------------------
def set_seed(seed):
    torch.manual_seed(seed)
    np.random.seed(seed)
    random.seed(seed)


def param_groups(model, wd):
    decay, no_decay = [], []
    for n, p in model.named_parameters():
        (no_decay if n.endswith(".bias") or "LayerNorm" in n else decay).append(p)
    return [{"params": decay, "weight_decay": wd}, {"params": no_decay, "weight_decay": 0.0}]


def main():
    global FAST_LINEAR
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--train", default="/work/shared/data/sst2/train.tsv")
    ap.add_argument("--dev", default="/work/shared/data/sst2/validation.tsv")
    ap.add_argument("--vocab", default="/work/shared/data/vocab/bert-base-uncased-vocab.txt")
    ap.add_argument("--out", default="/work/main/out/sst2-bert")
    ap.add_argument("--epochs", type=float, default=3.0, help="may be fractional")
    ap.add_argument("--batch-size", type=int, default=64)
    ap.add_argument("--lr", type=float, default=5e-4)
    ap.add_argument("--weight-decay", type=float, default=0.01)
    ap.add_argument("--warmup-frac", type=float, default=0.06)
    ap.add_argument("--max-train-len", type=int, default=64, help="drop longer train sentences (tokens incl. CLS/SEP)")
    ap.add_argument("--max-len", type=int, default=128)
    ap.add_argument("--eval-every", type=int, default=250)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--no-fast-linear", action="store_true", help="train with plain F.linear (slow)")
    ap.add_argument("--bench", type=int, default=0, metavar="STEPS", help="only time STEPS training steps")
    ap.add_argument("--export-only", action="store_true", help="skip training; reload OUT/hf/model.safetensors")
    ap.add_argument("--ref-dir", default=HERE, help="where dev_reference.json and metrics.json go")
    args = ap.parse_args()

    torch.set_num_threads(args.threads)
    torch.set_num_interop_threads(args.threads) if torch.get_num_interop_threads() != args.threads else None
    torch.use_deterministic_algorithms(True)
    set_seed(args.seed)
    t_start = time.time()

    tok = BertTokenizer(args.vocab, max_len=args.max_len)
    dev_rows = read_tsv(args.dev)
    dev = encode_all(tok, dev_rows, args.max_len)
    hf_dir = os.path.join(args.out, "hf")
    os.makedirs(args.out, exist_ok=True)
    metrics_path = os.path.join(args.out, "metrics.json")

    if not args.export_only:
        train_rows = read_tsv(args.train)
        train_all = encode_all(tok, train_rows, args.max_len)
        train = [d for d in train_all if len(d[0]) <= args.max_train_len]
        print(f"train {len(train_rows)} rows, kept {len(train)} (<= {args.max_train_len} tokens), "
              f"{sum(len(d[0]) for d in train)} tokens; dev {len(dev)}; tokenize {time.time() - t_start:.1f}s",
              flush=True)

        set_seed(args.seed)
        model = BertForSequenceClassification(CONFIG)
        n_params = sum(p.numel() for p in model.parameters())
        print(f"parameters: {n_params}", flush=True)
        rng = np.random.default_rng(args.seed)
        FAST_LINEAR = not args.no_fast_linear

        steps_per_epoch = math.ceil(len(train) / args.batch_size)  # upper bound; pools may add a few
        epoch_batches = [bucketed_batches(train, args.batch_size, rng)]
        steps_per_epoch = len(epoch_batches[0])
        total_steps = args.bench if args.bench else int(round(args.epochs * steps_per_epoch))
        warmup = max(1, int(round(args.warmup_frac * total_steps)))
        opt = torch.optim.AdamW(param_groups(model, args.weight_decay), lr=args.lr,
                                betas=(0.9, 0.999), eps=1e-6, foreach=True)
        sched = torch.optim.lr_scheduler.LambdaLR(
            opt, lambda s: (s + 1) / warmup if s < warmup else max(0.0, (total_steps - s) / max(1, total_steps - warmup)))
        print(f"steps/epoch {steps_per_epoch}, total steps {total_steps}, warmup {warmup}", flush=True)

        log = []
        step = 0
        epoch = 0
        t_train = time.time()
        run_loss, run_n, run_tok = 0.0, 0, 0
        t_last = time.time()
        while step < total_steps:
            if epoch >= len(epoch_batches):
                epoch_batches.append(bucketed_batches(train, args.batch_size, rng))
            for b in epoch_batches[epoch]:
                if step >= total_steps:
                    break
                model.train()
                ids, mask, tt, labels = collate([train[i] for i in b])
                logits = model(ids, mask, tt)
                loss = F.cross_entropy(logits, labels)
                opt.zero_grad(set_to_none=True)
                loss.backward()
                torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
                opt.step()
                sched.step()
                step += 1
                run_loss += loss.item() * len(b)
                run_n += len(b)
                run_tok += int(mask.sum())
                if args.bench and step % 10 == 0:
                    dt = time.time() - t_last
                    print(f"bench step {step}: {dt / 10 * 1000:.0f} ms/step, {run_tok / dt:.0f} tok/s, "
                          f"train loss {run_loss / run_n:.6f}", flush=True)
                    run_loss, run_n, run_tok, t_last = 0.0, 0, 0, time.time()
                if not args.bench and (step % args.eval_every == 0 or step == total_steps):
                    acc, dloss, _ = evaluate(model, dev)
                    el = time.time() - t_train
                    rec = {"step": step, "epoch": round(step / steps_per_epoch, 3),
                           "train_loss": round(run_loss / max(1, run_n), 4),
                           "dev_loss": round(dloss, 4), "dev_acc": round(acc * 100, 2),
                           "lr": opt.param_groups[0]["lr"], "elapsed_s": round(el, 1)}
                    log.append(rec)
                    print(f"step {step:5d} ep {rec['epoch']:.2f} train_loss {rec['train_loss']:.4f} "
                          f"dev_loss {dloss:.4f} dev_acc {acc * 100:.2f}% lr {rec['lr']:.2e} "
                          f"{run_tok / (time.time() - t_last):.0f} tok/s elapsed {el:.0f}s", flush=True)
                    run_loss, run_n, run_tok, t_last = 0.0, 0, 0, time.time()
            epoch += 1
        train_time = time.time() - t_train
        FAST_LINEAR = False
        if args.bench:
            print(f"bench: {total_steps} steps in {train_time:.1f}s", flush=True)
            return 0
        print(f"training done: {total_steps} steps, {train_time:.0f}s", flush=True)

        write_hf(model, hf_dir, args.vocab)
        mem_acc, _, mem_logits = evaluate(model, dev)
        metrics = {
            "config": CONFIG, "mask_value": MASK_VALUE, "parameters": n_params,
            "recipe": {k: v for k, v in vars(args).items() if k not in ("bench", "export_only", "ref_dir")},
            "train_kept": len(train), "train_rows": len(train_rows), "steps_per_epoch": steps_per_epoch,
            "total_steps": total_steps, "warmup_steps": warmup, "train_time_s": round(train_time, 1),
            "log": log, "torch": torch.__version__,
        }
        with open(metrics_path, "w") as f:
            json.dump(metrics, f, indent=1)
    else:
        with open(metrics_path) as f:
            metrics = json.load(f)
        mem_logits = None

    # ----- round trip: reload the safetensors with our reader into a fresh model -----
    st_path = os.path.join(hf_dir, "model.safetensors")
    model = load_from_safetensors(st_path)
    acc, dloss, st_logits = evaluate(model, dev)
    print(f"FP32 dev accuracy (reloaded safetensors, plain F.linear): {acc * 100:.2f}% "
          f"({int(round(acc * len(dev)))}/{len(dev)}), dev loss {dloss:.4f}", flush=True)
    roundtrip = None
    if mem_logits is not None:
        roundtrip = bool(torch.equal(mem_logits, st_logits))
        print(f"safetensors round trip: logits identical to in-memory model: {roundtrip}", flush=True)
        if not roundtrip:
            print(f"  max |diff| {(mem_logits - st_logits).abs().max().item():.3g}")

    # ----- reference logits for the first 16 dev sentences (batch 1, no padding) -----
    n_ref = 16
    ref_logits = logits_one_by_one(model, [d[0] for d in dev[:n_ref]])
    pad_vs_single = (ref_logits - st_logits[:n_ref]).abs().max().item()
    ref = {
        "description": "First 16 sentences of SST-2 validation.tsv (file order, header skipped). "
                       "input_ids: BERT uncased WordPiece (tokenizer.py), [CLS] ... [SEP], max_len 128, "
                       "no padding; attention_mask all 1, token_type_ids all 0. logits: PyTorch FP32, "
                       "plain F.linear, batch 1 at exact length, from hf/model.safetensors.",
        "model_sha256": {"model.safetensors": sha256(st_path)},
        "labels": {"0": "negative", "1": "positive"},
        "items": [],
    }
    for i in range(n_ref):
        lg = ref_logits[i].tolist()
        ref["items"].append({"index": i, "sentence": dev_rows[i][0], "label": dev_rows[i][1],
                             "input_ids": dev[i][0], "logits": [float(np.float32(x)) for x in lg],
                             "pred": int(np.argmax(lg))})

    # ----- ONNX -----
    onnx_path = os.path.join(args.out, "model.onnx")
    export_onnx(model, onnx_path)
    import verify_export
    onnx_report = verify_export.check_onnx(onnx_path, dev, st_logits.numpy(), ref)
    ref["model_sha256"]["model.onnx"] = sha256(onnx_path)
    write_reference(ref, os.path.join(args.ref_dir, "dev_reference.json"))

    files = {}
    for rel in ("hf/config.json", "hf/model.safetensors", "hf/vocab.txt", "hf/tokenizer_config.json",
                "hf/special_tokens_map.json", "model.onnx"):
        p = os.path.join(args.out, rel)
        files[rel] = {"bytes": os.path.getsize(p), "sha256": sha256(p)}
    if roundtrip is not None:  # --export-only keeps the value recorded by the training run
        metrics["safetensors_roundtrip_exact"] = roundtrip
    metrics.update({
        "fp32_dev_acc": round(acc * 100, 2), "fp32_dev_correct": int(round(acc * len(dev))),
        "fp32_dev_loss": round(dloss, 4),
        "ref16_padded_vs_single_maxdiff": pad_vs_single, "onnx": onnx_report, "files": files,
    })
    with open(metrics_path, "w") as f:
        json.dump(metrics, f, indent=1)
    if os.path.abspath(args.ref_dir) != os.path.abspath(args.out):
        shutil.copyfile(metrics_path, os.path.join(args.ref_dir, "metrics.json"))
    for rel, info in files.items():
        print(f"  {rel:28s} {info['bytes']:>11,d}  {info['sha256']}")
    print(f"total wall time {time.time() - t_start:.0f}s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
