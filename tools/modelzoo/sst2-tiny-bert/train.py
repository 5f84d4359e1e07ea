#!/usr/bin/python3
"""Train a *tiny* BERT sentiment classifier on GLUE SST-2 and write it as a test asset (< 1.2 MB).

Purpose
    The zoo's real BERT (tools/modelzoo/sst2-bert, 44 MB) only lives in the git-ignored out/ folder.
    This script makes a trained model that is small enough to commit to tests/assets/, so the test
    suite (and CI) can check quantization on a model with a real accuracy, on real sentences.
    It reuses, by import, the plain-torch HF-named BERT modules and helpers of
    tools/modelzoo/sst2-bert/train.py, its WordPiece tokenizer (tokenizer.py) and safetensors_io.py.

What it does
    1. Reduced WordPiece vocabulary (--vocab-size, default 3000): tokenize every SST-2 train sentence
       with the full bert-base-uncased vocab and count the pieces. Keep [PAD] [UNK] [CLS] [SEP] [MASK]
       (ids 0..4), then for every printable ASCII character except A-Z (a-z, 0-9, the 32 ASCII
       punctuation chars) the piece "c" and "##c" (all 136 are in the full vocab), so every
       lowercase ASCII word stays tokenizable, then the most frequent remaining pieces (ties: lower
       full-vocab id first) up to --vocab-size. The model's tokenizer is tokenizer.py's BertTokenizer
       over THIS vocab (greedy longest match on the subset), max_len 64.
    2. Train a post-LN BERT (HF names) from scratch: hidden 64, 2 layers, 4 heads, intermediate 128,
       erf GELU, 64 positions, 2 token types, 2 labels, dropout 0.1; AdamW, linear warmup/decay;
       seed 0; CPU, 1 thread, deterministic algorithms.
    3. Write an HF folder (--out, default tests/assets/plm/sst2_tiny/): config.json, model.safetensors
       (F32), vocab.txt, tokenizer_config.json, special_tokens_map.json, expected.json (FP32 torch dev
       accuracy on all 872 dev sentences + token ids and logits of the first 32 dev sentences).
    4. Reload the safetensors with safetensors_io.load_file into a fresh model (exact key-set match,
       strict=True), re-evaluate, check the logits are identical, and write MODEL_CARD.md next to
       this script.

Usage
    cd /work/main
    nice -n 10 /usr/bin/python3 tools/modelzoo/sst2-tiny-bert/train.py                 # train + export
    nice -n 10 /usr/bin/python3 tools/modelzoo/sst2-tiny-bert/train.py --bench 100     # timing only
    nice -n 10 /usr/bin/python3 tools/modelzoo/sst2-tiny-bert/train.py --verify-only   # re-check the folder

Time
    About 2.5 min on one thread of the shared 2-core machine: tokenizing ~15 s, training ~2 min
    (3 epochs x 1,053 steps at ~40 ms/step), export and checks a few seconds. --verify-only: ~5 s.
    See MODEL_CARD.md for the measured run.
"""
import argparse
import collections
import hashlib
import importlib.util
import json
import math
import os
import shutil
import sys
import tempfile
import time

import numpy as np
import torch
import torch.nn.functional as F

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.abspath(os.path.join(HERE, "..", "..", ".."))
BASE_DIR = os.path.join(REPO, "tools", "modelzoo", "sst2-bert")

# The base script is also called train.py, so load it under its own module name.
_spec = importlib.util.spec_from_file_location("sst2_bert_train", os.path.join(BASE_DIR, "train.py"))
base = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(base)  # puts BASE_DIR (tokenizer) and tools/ (eqtools) on sys.path
from tokenizer import BertTokenizer, load_vocab  # noqa: E402
from eqtools import safetensors_io  # noqa: E402  (tools/ is on sys.path via the base script)

SPECIALS = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
# printable ASCII minus upper case: a-z, 0-9 and the 32 chars tokenizer.py treats as ASCII punctuation
BASE_CHARS = [chr(c) for c in range(33, 127) if not ("A" <= chr(c) <= "Z")]

TINY_CONFIG = dict(
    vocab_size=3000, hidden_size=64, num_hidden_layers=2, num_attention_heads=4,
    intermediate_size=128, hidden_act="gelu", hidden_dropout_prob=0.1,
    attention_probs_dropout_prob=0.1, max_position_embeddings=64, type_vocab_size=2,
    layer_norm_eps=1e-12, initializer_range=0.02, pad_token_id=0,
)
MAX_LEN = 64
N_REF = 32


# ------------------------------------ vocabulary ----------------------------------------
def build_vocab(full_vocab_path, train_sentences, size):
    """Returns (tokens, stats). tokens[i] is the piece with id i."""
    full_tok = BertTokenizer(full_vocab_path, max_len=10 ** 9)
    full = full_tok.vocab
    counts = collections.Counter()
    for s in train_sentences:
        counts.update(full_tok.tokenize(s))
    tokens = list(SPECIALS)
    for c in BASE_CHARS:
        for piece in (c, "##" + c):
            if piece in full and piece not in tokens:
                tokens.append(piece)
    n_fixed = len(tokens)
    have = set(tokens)
    rest = sorted((p for p in counts if p not in have), key=lambda p: (-counts[p], full[p]))
    if len(tokens) + len(rest) < size:
        raise ValueError(f"only {len(tokens) + len(rest)} distinct pieces, cannot fill {size}")
    tokens += rest[: size - len(tokens)]
    total = sum(counts.values())
    kept = sum(counts[p] for p in tokens if p in counts)
    stats = {
        "full_vocab_size": len(full), "distinct_train_pieces": len(counts), "train_pieces": total,
        "fixed_tokens": n_fixed, "frequency_tokens": size - n_fixed,
        "train_piece_coverage": round(kept / total, 4),
        "min_kept_count": counts[tokens[-1]],
    }
    return tokens, stats


def write_vocab(tokens, path):
    with open(path, "w", encoding="utf-8", newline="\n") as f:
        for t in tokens:
            f.write(t + "\n")


def encode_all(tok, rows):
    return [(tok.encode(s, max_len=MAX_LEN)["input_ids"], y) for s, y in rows]


def token_stats(tok, rows, data):
    n_trunc = sum(1 for s, _ in rows if len(tok.tokenize(s)) > MAX_LEN - 2)
    unk = sum(ids.count(tok.unk_id) for ids, _ in data)
    lens = [len(ids) for ids, _ in data]
    return {"sentences": len(data), "tokens": sum(lens), "mean_len": round(float(np.mean(lens)), 2),
            "max_len": max(lens), "truncated": n_trunc, "unk_tokens": unk}


# ------------------------------------ helpers -------------------------------------------
class _ChannelScale(torch.nn.Module):
    """LayerNorm parameter reparameterization: the trained parameter times a fixed per-channel multiplier."""

    def __init__(self, mult):
        super().__init__()
        self.register_buffer("mult", mult)

    def forward(self, x):
        return x * self.mult


def plant_outliers(model, n, factor, seed):
    """Scale gamma and beta of n seeded hidden channels by `factor` in every LayerNorm, during training too."""
    if n <= 0:
        return []
    from torch.nn.utils import parametrize
    hidden = TINY_CONFIG["hidden_size"]
    picked = sorted(np.random.default_rng(seed + 1).choice(hidden, size=n, replace=False).tolist())
    mult = torch.ones(hidden)
    mult[picked] = factor
    for m in model.modules():
        if isinstance(m, torch.nn.LayerNorm):
            parametrize.register_parametrization(m, "weight", _ChannelScale(mult.clone()))
            parametrize.register_parametrization(m, "bias", _ChannelScale(mult.clone()))
    # The linears that read a LayerNorm output start with those input columns divided by the factor (as in trained
    # BERTs, whose weights on the outlier dims are small); otherwise attention saturates and training stalls at chance.
    bert = model.bert
    readers = [bert.pooler.dense]
    for layer in bert.encoder.layer:
        readers += [layer.attention.self.query, layer.attention.self.key, layer.attention.self.value,
                    layer.intermediate.dense]
    with torch.no_grad():
        for lin in readers:
            lin.weight[:, picked] /= factor
        # Real BERTs' outlier dims are nearly the same on every token (a large, consistent offset); a constant word-
        # embedding column starts them that way. With token-random outlier values the LayerNorm statistics are
        # dominated by noise and training stalls at chance (tried: 50.9 % after an epoch).
        bert.embeddings.word_embeddings.weight[:, picked] = 0.05
    return picked


def fold_outliers(model):
    """Replace the parametrized LayerNorm weight/bias by their effective values (plain HF tensor names at export)."""
    from torch.nn.utils import parametrize
    for m in model.modules():
        if isinstance(m, torch.nn.LayerNorm) and parametrize.is_parametrized(m):
            parametrize.remove_parametrizations(m, "weight", leave_parametrized=True)
            parametrize.remove_parametrizations(m, "bias", leave_parametrized=True)


def sha256(path):
    return base.sha256(path)


def folder_files(out):
    return sorted(f for f in os.listdir(out) if os.path.isfile(os.path.join(out, f)))


def write_expected(exp, path):
    """Indented JSON, one dev_reference item per few lines (lists on one line)."""
    base.write_reference(exp, path, list_key="dev_reference")


def reload_model(path):
    """safetensors_io.load_file -> fresh model, exact key-set match, strict=True (base helper)."""
    base.CONFIG = TINY_CONFIG
    return base.load_from_safetensors(path)


# ------------------------------------ model card ----------------------------------------
def write_model_card(path, exp, files, out_rel, timing):
    """timing: wall times, kept out of expected.json so that a re-run leaves it byte-identical."""
    r = exp["recipe"]
    t = dict(exp["training"], **timing)
    v = exp["vocab"]
    ts, ds = exp["tokens"]["train"], exp["tokens"]["dev"]
    c = TINY_CONFIG
    rows = "\n".join(
        f"| {e['epoch']} | {e['step']:,} | {e['train_loss']:.4f} | {e['dev_loss']:.4f} | {e['dev_acc']:.2f} % "
        f"| {el:.0f} |" for e, el in zip(t["log"], t["elapsed_s"]))
    frows = "\n".join(f"| `{name}` | {info['bytes']:,} | `{info['sha256']}` |" for name, info in files.items())
    total = sum(i["bytes"] for i in files.values())
    acc = exp["dev_accuracy_torch"]
    outliers = ""
    if r.get("outlier_channels", 0) > 0:
        outliers = (f"\n**Outlier variant** (`--outlier-channels {r['outlier_channels']} --outlier-factor {r['outlier_factor']:g}`): "
                    f"{r['outlier_channels']} seeded hidden channels have their LayerNorm gamma and beta multiplied by "
                    f"{r['outlier_factor']:g} in every LayerNorm, during training (a fixed multiplier on the trained parameter, "
                    "folded into the exported tensors), like the outlier dimensions of real BERTs; the linears reading "
                    "LayerNorm outputs start with those input columns divided by the factor and the word-embedding column "
                    "starts constant (real outlier dims are nearly token-independent; with random ones training stalled at "
                    "chance). Used by the synthetic-outlier quantization test (`Sst2OutlierTests`).\n")
    text = f"""# sst2-tiny-bert: a trained BERT small enough for the test suite
{outliers}
A **trained** post-LN BERT sentiment classifier (GLUE SST-2, from scratch, no pre-training) that fits in
{total / 1e6:.2f} MB, committed as a test asset in `{out_rel}/`. The zoo's real BERT
(`tools/modelzoo/sst2-bert`, 44 MB) lives only in the git-ignored `out/`, so tests that need a model with a
*real* accuracy on real text (e.g. quantization experiments: INT8 vs FP32 dev accuracy, calibration on
train sentences) can use this one in CI. It is a test model, not a good sentiment model.

| | |
| --- | --- |
| FP32 dev accuracy (PyTorch) | **{acc * 100:.2f} %** ({exp['dev_correct']} / {exp['dev_total']} SST-2 validation sentences, weights reloaded from `model.safetensors`) |
| dev loss | {exp['dev_loss']:.4f} |
| parameters | {exp['parameters']:,} ({c['vocab_size'] * c['hidden_size']:,} of them in the word-embedding table) |
| training | {r['epochs']} epochs = {t['total_steps']:,} steps of batch {r['batch_size']}, **{t['train_time_s']:.0f} s** on 1 thread; seed {exp['seed']} |
| torch | {exp['torch_version']} (Debian, CPU) |

## Architecture

The modules and helpers are imported from `tools/modelzoo/sst2-bert/train.py` (same HF
`BertForSequenceClassification` module tree and parameter names, same init, mask value -10000, exact erf GELU,
post-LN, pooler tanh); only the sizes differ:
`vocab_size` {c['vocab_size']}, `hidden_size` {c['hidden_size']}, `num_hidden_layers` {c['num_hidden_layers']},
`num_attention_heads` {c['num_attention_heads']} (head dim {c['hidden_size'] // c['num_attention_heads']}),
`intermediate_size` {c['intermediate_size']}, `max_position_embeddings` {c['max_position_embeddings']},
`type_vocab_size` {c['type_vocab_size']}, `layer_norm_eps` 1e-12, `hidden_act` "gelu", dropout 0.1, 2 labels
(`id2label` 0 negative, 1 positive). {exp['tensors']} tensors; no `position_ids` buffer in the file.

## Vocabulary (`vocab.txt`, {c['vocab_size']} tokens)

A subset of bert-base-uncased (`/work/shared/data/vocab/bert-base-uncased-vocab.txt`), with new ids:

1. ids 0-4: `[PAD] [UNK] [CLS] [SEP] [MASK]`;
2. ids 5-{v['fixed_tokens'] - 1}: for each printable ASCII char except `A`-`Z` (a-z, 0-9 and the 32 ASCII
   punctuation chars, in code-point order) the piece `c` then `##c` ({v['fixed_tokens'] - 5} pieces, all in the full vocab),
   so any lower-case ASCII word can still be tokenized (worst case one piece per character);
3. ids {v['fixed_tokens']}-{c['vocab_size'] - 1}: the {v['frequency_tokens']:,} most frequent other pieces when all
   {r['train_rows']:,} train sentences are tokenized with the **full** vocab (ties: lower full-vocab id first;
   the last one kept occurs {v['min_kept_count']} times). These {c['vocab_size']:,} pieces cover
   {v['train_piece_coverage'] * 100:.1f} % of the {v['train_pieces']:,} full-vocab train pieces
   ({v['distinct_train_pieces']:,} distinct).

The model's tokenizer is `tokenizer.py`'s `BertTokenizer` (uncased, accent stripping, greedy longest-match
WordPiece) **over this reduced vocab**, so a word whose full-vocab pieces were dropped is re-split into the
longest pieces that remain. `encode(text, max_len=64)`: `[CLS]` (2) + pieces + `[SEP]` (3), `[PAD]` = 0,
`[UNK]` = 1. Train: mean {ts['mean_len']} tokens, longest {ts['max_len']}, {ts['truncated']} sentences
truncated at 64, {ts['unk_tokens']} `[UNK]`. Dev: mean {ds['mean_len']}, longest {ds['max_len']},
{ds['truncated']} truncated, {ds['unk_tokens']} `[UNK]` (a tokenizer must truncate at 64 to reproduce the accuracy).
HF `BertTokenizer` with `vocab.txt` and `tokenizer_config.json` (`do_lower_case` true, `model_max_length` 64)
runs the same algorithm and should give the same ids; this was not checked (no `transformers` here).

## Training

* Data: `/work/shared/data/sst2/train.tsv` ({r['train_rows']:,} sentences, all used, truncated to 64 tokens),
  `validation.tsv` (872) for monitoring. Nothing from the data is in the repo except the 32 reference sentences.
* AdamW lr {r['lr']:g}, betas (0.9, 0.999), eps 1e-6, weight decay {r['weight_decay']} (not on biases / LayerNorm),
  grad-norm clip 1.0, cross-entropy; linear warmup {t['warmup_steps']} steps ({r['warmup_frac'] * 100:.0f} %) then
  linear decay to 0. Batches of {r['batch_size']} from length-sorted pools (`bucketed_batches`, dynamic padding).
* Seed {exp['seed']} (`set_seed`, numpy `default_rng({exp['seed']})` for batching), `torch.set_num_threads(1)`,
  `torch.use_deterministic_algorithms(True)`, CPU. Training steps use the base script's oneDNN linear
  (`FAST_LINEAR`); every reported number uses plain `F.linear`.
* **Dev-set use**: the dev set was used only to pick the number of epochs ({r['epochs']}); see below. The
  learning rate, batch size and all other settings were fixed beforehand and not tuned. The exported model is
  the one after the last step (no early stopping).
{exp['epoch_choice']}

| epoch | step | train loss | dev loss | dev acc | elapsed s |
| ---: | ---: | ---: | ---: | ---: | ---: |
{rows}

(Per-epoch dev numbers use the fast linear path; the final {acc * 100:.2f} % is recomputed with `F.linear` on the
reloaded weights.) Whole script: {t['script_time_s']:.0f} s (tokenizing with both vocabs {t['tokenize_s']:.0f} s).

## Files (`{out_rel}/`)

| file | bytes | SHA256 |
| --- | ---: | --- |
{frows}
| **total** | **{total:,}** | |

* `model.safetensors`: F32, written by `safetensors_io.py` (tensors sorted by name, contiguous, 8-byte aligned data).
* `expected.json`: `dev_accuracy_torch` ({acc:.6f}, a fraction, = `dev_correct` / `dev_total`; FP32 torch, masked
  length-sorted batches of 128), `dev_reference`: the first {N_REF} dev sentences (file order) with `sentence`,
  `label`, `input_ids` (reduced-vocab tokenizer, `[CLS]`..`[SEP]`, max_len 64, no padding) and FP32 torch `logits`
  (batch 1 at exact length; max |diff| to the padded batches {exp['ref_padded_vs_single_maxdiff']:.1e}) and `pred`,
  plus `recipe`, `torch_version`, `seed`, `model_sha256`, the vocab/token statistics and the training log.
* Round trip: the file is read back with `safetensors_io.load_file`, loaded into a fresh model with an exact key-set
  match and `strict=True`; its dev logits are identical to the in-memory model's (`torch.equal`: {exp['roundtrip_exact']}).

## Regenerate

```sh
cd /work/main
nice -n 10 /usr/bin/python3 tools/modelzoo/sst2-tiny-bert/train.py            # rewrites {out_rel}/ and this card
nice -n 10 /usr/bin/python3 tools/modelzoo/sst2-tiny-bert/train.py --verify-only
```

Options: `--vocab-size`, `--epochs`, `--lr`, `--batch-size`, `--seed`, `--out`, `--train`, `--dev`, `--vocab`;
`--bench N` only times N steps. Same machine, same torch: the run is deterministic (seeded, 1 thread,
deterministic algorithms); other BLAS/CPU builds may differ in the last float bits.
"""
    with open(path, "w", encoding="utf-8", newline="\n") as f:
        f.write(text)


# ------------------------------------ main ----------------------------------------------
def verify(out, dev_rows):
    """Reload the folder and re-check it against expected.json. Returns the accuracy."""
    with open(os.path.join(out, "expected.json"), encoding="utf-8") as f:
        exp = json.load(f)
    tok = BertTokenizer(os.path.join(out, "vocab.txt"), max_len=MAX_LEN)
    assert len(tok.vocab) == TINY_CONFIG["vocab_size"], len(tok.vocab)
    model = reload_model(os.path.join(out, "model.safetensors"))
    dev = encode_all(tok, dev_rows)
    acc, _, logits = base.evaluate(model, dev)
    correct = int((logits.argmax(1) == torch.tensor([y for _, y in dev])).sum())
    assert correct == exp["dev_correct"], (correct, exp["dev_correct"])
    ref = exp["dev_reference"]
    single = base.logits_one_by_one(model, [it["input_ids"] for it in ref])
    worst = 0.0
    for i, it in enumerate(ref):
        assert it["sentence"] == dev_rows[i][0]
        assert it["input_ids"] == dev[i][0], i
        worst = max(worst, float(np.abs(single[i].numpy() - np.array(it["logits"], np.float32)).max()))
    assert worst == 0.0, worst
    assert exp["model_sha256"] == sha256(os.path.join(out, "model.safetensors"))
    size = sum(os.path.getsize(os.path.join(out, f)) for f in folder_files(out))
    print(f"verify: dev accuracy {acc * 100:.2f}% ({correct}/{len(dev)}), reference logits exact, "
          f"folder {size:,} bytes", flush=True)
    return acc


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--train", default="/work/shared/data/sst2/train.tsv")
    ap.add_argument("--dev", default="/work/shared/data/sst2/validation.tsv")
    ap.add_argument("--vocab", default="/work/shared/data/vocab/bert-base-uncased-vocab.txt")
    ap.add_argument("--out", default=os.path.join(REPO, "tests", "assets", "plm", "sst2_tiny"))
    ap.add_argument("--card", default=os.path.join(HERE, "MODEL_CARD.md"))
    ap.add_argument("--vocab-size", type=int, default=3000)
    ap.add_argument("--epochs", type=int, default=3)
    ap.add_argument("--batch-size", type=int, default=64)
    ap.add_argument("--lr", type=float, default=1e-3)
    ap.add_argument("--weight-decay", type=float, default=0.01)
    ap.add_argument("--warmup-frac", type=float, default=0.06)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--max-bytes", type=int, default=1_200_000, help="fail if the folder is larger")
    ap.add_argument("--bench", type=int, default=0, metavar="STEPS", help="only time STEPS training steps")
    ap.add_argument("--explore", action="store_true",
                    help="train and log dev accuracy per epoch, but write nothing (for picking --epochs)")
    ap.add_argument("--verify-only", action="store_true", help="re-check an existing --out folder")
    ap.add_argument("--outlier-channels", type=int, default=0, metavar="N",
                    help="train with N hidden channels whose LayerNorm gamma and beta are scaled by --outlier-factor in every "
                         "LayerNorm (a fixed multiplier inside the forward pass, folded into the weights at export), "
                         "the outlier structure of real BERTs (Outlier Suppression, Wei et al. 2022)")
    ap.add_argument("--outlier-factor", type=float, default=50.0)
    args = ap.parse_args()

    torch.set_num_threads(1)
    torch.use_deterministic_algorithms(True)
    t_start = time.time()
    dev_rows = base.read_tsv(args.dev)
    if args.verify_only:
        verify(args.out, dev_rows)
        return 0

    TINY_CONFIG["vocab_size"] = args.vocab_size
    base.CONFIG = TINY_CONFIG  # hf_config(), write_hf() and load_from_safetensors() read the module global

    # ----- 1. reduced vocabulary and tokenizer -----
    train_rows = base.read_tsv(args.train)
    tokens, vstats = build_vocab(args.vocab, [s for s, _ in train_rows], args.vocab_size)
    tmp = tempfile.mkdtemp(prefix="sst2tiny-")
    vocab_path = os.path.join(tmp, "vocab.txt")
    write_vocab(tokens, vocab_path)
    tok = BertTokenizer(vocab_path, max_len=MAX_LEN)
    assert [tok.vocab[s] for s in SPECIALS] == [0, 1, 2, 3, 4]
    assert load_vocab(vocab_path) == {t: i for i, t in enumerate(tokens)}
    train = encode_all(tok, train_rows)
    dev = encode_all(tok, dev_rows)
    tstats = {"train": token_stats(tok, train_rows, train), "dev": token_stats(tok, dev_rows, dev)}
    # any lower-case ASCII word is tokenizable: no [UNK] for a word made of every base char
    probe = "".join(c for c in BASE_CHARS if c.isalnum())
    assert tok.unk_id not in tok.encode(probe + " " + probe[::-1], max_len=1000)["input_ids"]
    t_tok = time.time() - t_start
    print(f"vocab: {vstats}", flush=True)
    print(f"tokens: {tstats}; tokenize {t_tok:.1f}s", flush=True)

    # ----- 2. training -----
    base.set_seed(args.seed)
    model = base.BertForSequenceClassification(TINY_CONFIG)
    outliers = plant_outliers(model, args.outlier_channels, args.outlier_factor, args.seed)
    if outliers:
        print(f"outlier channels {outliers} x{args.outlier_factor:g} in every LayerNorm's gamma and beta", flush=True)
    n_params = sum(p.numel() for p in model.parameters())
    rng = np.random.default_rng(args.seed)
    steps_per_epoch = len(base.bucketed_batches(train, args.batch_size, np.random.default_rng(args.seed)))
    total_steps = args.bench if args.bench else args.epochs * steps_per_epoch
    warmup = max(1, int(round(args.warmup_frac * total_steps)))
    opt = torch.optim.AdamW(base.param_groups(model, args.weight_decay), lr=args.lr,
                            betas=(0.9, 0.999), eps=1e-6, foreach=True)
    sched = torch.optim.lr_scheduler.LambdaLR(
        opt, lambda s: (s + 1) / warmup if s < warmup else max(0.0, (total_steps - s) / max(1, total_steps - warmup)))
    print(f"parameters {n_params:,}; steps/epoch {steps_per_epoch}, total {total_steps}, warmup {warmup}", flush=True)

    base.FAST_LINEAR = True
    log, elapsed = [], []
    step = 0
    epoch = 0
    t_train = time.time()
    while step < total_steps:
        run_loss, run_n = 0.0, 0
        for b in base.bucketed_batches(train, args.batch_size, rng):
            if step >= total_steps:
                break
            model.train()
            ids, mask, tt, labels = base.collate([train[i] for i in b])
            loss = F.cross_entropy(model(ids, mask, tt), labels)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            opt.step()
            sched.step()
            step += 1
            run_loss += loss.item() * len(b)
            run_n += len(b)
            if args.bench and step % 50 == 0:
                dt = time.time() - t_train
                print(f"bench step {step}: {dt / step * 1000:.1f} ms/step", flush=True)
        epoch += 1
        if args.bench:
            break
        acc, dloss, _ = base.evaluate(model, dev)
        rec = {"epoch": epoch, "step": step, "train_loss": round(run_loss / max(1, run_n), 4),
               "dev_loss": round(dloss, 4), "dev_acc": round(acc * 100, 2)}
        log.append(rec)
        elapsed.append(round(time.time() - t_train, 1))
        print(f"epoch {epoch} step {step} train_loss {rec['train_loss']:.4f} dev_loss {dloss:.4f} "
              f"dev_acc {acc * 100:.2f}% elapsed {elapsed[-1]:.0f}s", flush=True)
    train_time = time.time() - t_train
    base.FAST_LINEAR = False
    if args.bench:
        print(f"bench: {total_steps} steps in {train_time:.1f}s "
              f"({train_time / total_steps * steps_per_epoch:.0f} s/epoch est.)", flush=True)
        return 0
    print(f"training done: {total_steps} steps, {train_time:.0f}s", flush=True)
    if args.explore:
        return 0

    # ----- 3. export -----
    out = args.out
    os.makedirs(out, exist_ok=True)
    for f in folder_files(out):  # a clean folder: nothing stale left behind
        os.remove(os.path.join(out, f))
    fold_outliers(model)
    _, _, mem_logits = base.evaluate(model, dev)
    base.write_hf(model, out, vocab_path)  # config.json, model.safetensors, vocab.txt, tokenizer files
    shutil.rmtree(tmp)
    with open(os.path.join(out, "tokenizer_config.json"), "w") as f:  # write_hf says 128; this model has 64
        json.dump({"tokenizer_class": "BertTokenizer", "do_lower_case": True,
                   "model_max_length": MAX_LEN, "unk_token": "[UNK]", "sep_token": "[SEP]",
                   "pad_token": "[PAD]", "cls_token": "[CLS]", "mask_token": "[MASK]",
                   "tokenize_chinese_chars": True, "strip_accents": None}, f, indent=2)
        f.write("\n")

    # ----- 4. reload and evaluate -----
    st_path = os.path.join(out, "model.safetensors")
    model = reload_model(st_path)
    acc, dloss, st_logits = base.evaluate(model, dev)
    labels = torch.tensor([y for _, y in dev])
    correct = int((st_logits.argmax(1) == labels).sum())
    roundtrip = bool(torch.equal(mem_logits, st_logits))
    print(f"FP32 dev accuracy (reloaded, F.linear): {acc * 100:.2f}% ({correct}/{len(dev)}), "
          f"dev loss {dloss:.4f}; round trip exact: {roundtrip}", flush=True)
    ref_logits = base.logits_one_by_one(model, [d[0] for d in dev[:N_REF]])
    pad_vs_single = (ref_logits - st_logits[:N_REF]).abs().max().item()

    recipe = {k: v for k, v in vars(args).items()
              if k not in ("bench", "explore", "verify_only", "out", "card", "max_bytes")}
    recipe.update({"max_len": MAX_LEN, "optimizer": "AdamW(betas=(0.9, 0.999), eps=1e-6), no decay on bias/LayerNorm",
                   "schedule": "linear warmup then linear decay to 0", "grad_clip": 1.0,
                   "train_rows": len(train_rows), "generator": "tools/modelzoo/sst2-tiny-bert/train.py"})
    exp = {
        "description": "Tiny trained BERT (SST-2). dev_accuracy_torch: FP32 PyTorch on all dev sentences "
                       "(validation.tsv), masked length-sorted batches. dev_reference: the first "
                       f"{N_REF} dev sentences; input_ids from tokenizer.py's BertTokenizer over vocab.txt "
                       "([CLS] ... [SEP], max_len 64, no padding; attention_mask all 1, token_type_ids all 0); "
                       "logits: FP32 PyTorch, batch 1 at exact length, from model.safetensors.",
        "dev_accuracy_torch": correct / len(dev), "dev_correct": correct, "dev_total": len(dev),
        "dev_loss": round(dloss, 4),
        "labels": {"0": "negative", "1": "positive"},
        "parameters": n_params, "tensors": len(model.state_dict()),
        "torch_version": torch.__version__, "seed": args.seed,
        "model_sha256": sha256(st_path),
        "recipe": recipe,
        "vocab": vstats, "tokens": tstats,
        "training": {"steps_per_epoch": steps_per_epoch, "total_steps": total_steps, "warmup_steps": warmup,
                     "log": log},
        "roundtrip_exact": roundtrip, "ref_padded_vs_single_maxdiff": pad_vs_single,
        "dev_reference": [],
    }
    for i in range(N_REF):
        lg = [float(np.float32(x)) for x in ref_logits[i].tolist()]
        exp["dev_reference"].append({"index": i, "sentence": dev_rows[i][0], "label": dev_rows[i][1],
                                     "input_ids": dev[i][0], "logits": lg, "pred": int(np.argmax(lg))})
    write_expected(exp, os.path.join(out, "expected.json"))

    files = {f: {"bytes": os.path.getsize(os.path.join(out, f)), "sha256": sha256(os.path.join(out, f))}
             for f in folder_files(out)}
    size = sum(i["bytes"] for i in files.values())
    for name, info in files.items():
        print(f"  {name:24s} {info['bytes']:>10,d}  {info['sha256']}")
    print(f"  total {size:,} bytes", flush=True)
    if size > args.max_bytes:
        raise SystemExit(f"folder is {size:,} bytes > {args.max_bytes:,}")
    exp["epoch_choice"] = EPOCH_CHOICE
    timing = {"train_time_s": round(train_time, 1), "tokenize_s": round(t_tok, 1), "elapsed_s": elapsed,
              "script_time_s": round(time.time() - t_start, 1)}
    write_model_card(args.card, exp, files, os.path.relpath(out, REPO), timing)
    verify(out, dev_rows)
    print(f"total wall time {time.time() - t_start:.0f}s", flush=True)
    return 0


# How --epochs was chosen (the only use of the dev set besides reporting); goes into MODEL_CARD.md.
EPOCH_CHOICE = """* Epoch choice: one exploration run with the same settings and `--epochs 10 --explore` (the linear decay then
  spans 10 epochs; nothing written) logged the dev set after each epoch: accuracy 78.21, 81.54, 79.93, 81.08, 80.50,
  79.47, 80.39, 79.70, 80.62, 81.19 % and dev loss 0.452, **0.445**, 0.460, 0.514, 0.547, 0.651, 0.658, 0.704, 0.742,
  0.787 for epochs 1-10. The accuracy is flat (79.5-81.5 %) after epoch 1 while the dev loss rises from epoch 3 on
  (overfitting), so the shortest schedule past the dev-loss minimum was taken: 3 epochs. The final run below was done
  once with that setting; no other run was compared."""

if __name__ == "__main__":
    sys.exit(main())
