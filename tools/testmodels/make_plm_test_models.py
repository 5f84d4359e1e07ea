#!/usr/bin/python3
"""Generate tiny, randomly initialised Hugging Face-style model folders for EdgeQuant's tests.

Run with Debian's interpreter (torch 1.13 CPU, onnx 1.12, numpy; no `transformers` needed):

    /usr/bin/python3 tools/testmodels/make_plm_test_models.py [--out tests/assets/plm]
    /usr/bin/python3 tools/testmodels/make_plm_test_models.py --verify-only   # re-check existing assets

Writes into --out (default tests/assets/plm/):
  bert_cls/        BertForSequenceClassification (gelu, 3 labels)      config.json model.safetensors
                   vocab.txt tokenizer_config.json expected.json
  bert_onnx/       the same model exported to ONNX (opset 17)          model.onnx vocab.txt expected.json
  bert_emb/        BertModel without a head (relu, un-prefixed names)  config.json model.safetensors
                   vocab.txt tokenizer_config.json expected.json (output = masked mean of the last hidden state)
  distilbert_cls/  DistilBertForSequenceClassification (gelu)          config.json model.safetensors
                   vocab.txt tokenizer_config.json expected.json
  roberta_cls/     RobertaForSequenceClassification (no vocab: ids)    config.json model.safetensors expected.json
  vit_cls/         ViTForImageClassification                           config.json model.safetensors
                   preprocessor_config.json expected.json
  deit_distilled/  DeiTForImageClassificationWithTeacher               config.json model.safetensors
                   preprocessor_config.json expected.json

The models are plain torch modules whose module trees reproduce the parameter names of the
`transformers` classes. The BERT modules are imported from tools/modelzoo/sst2-bert/train.py;
DistilBERT, RoBERTa (embeddings + classification head) and ViT/DeiT are defined here.

Weights: no training. Everything is drawn from torch's generator after torch.manual_seed(seed)
(one seed per model), in module order:
  * Linear / Conv2d weights ~ N(0, 1/fan_in)   (not HF's N(0, 0.02^2): at these widths std 0.02
    gives q.k scores of ~1e-2, i.e. near-uniform attention, and logits dominated by the
    classifier bias, so an engine bug in the encoder would change the outputs by ~1e-3 only)
  * biases ~ 0.1 N(0,1); LayerNorm gamma = 1 + 0.1 N(0,1), beta = 0.1 N(0,1)
  * embedding tables, cls / distillation tokens, ViT position embeddings ~ 0.5 N(0,1)
    (padding rows too: trained checkpoints have non-zero pad embeddings)

expected.json (FP32 torch outputs, one thread, eval mode):
  text models:   "cases": [{input_ids, attention_mask, token_type_ids: [batch][seq] ints,
                            output: [batch][n] floats}], 3 cases: a right-padded batch of 2,
                 one sequence of the maximum length, one sequence of 2 tokens (CLS SEP).
                 token_type_ids: the second half of the real tokens are type 1 when the model
                 has 2 token types (0 for padding); all 0 otherwise (DistilBERT has no token
                 types: its graph ignores them, they are listed as zeros for a uniform format).
                 bert_cls (and bert_onnx) also have "text_cases": sentences tokenized with
                 tools/modelzoo/sst2-bert/tokenizer.py on the tiny vocab.txt (max_len 40),
                 batch 1 at exact length, flat lists.
  vision models: "pixels": per image a flat uint8 list in [H, W, C] order; "input": per image
                 the preprocessed float32 tensor, flat in [C, H, W] order, computed like the HF
                 image processor: float32(p * rescale_factor) then (x - mean) / std in float32;
                 "logits": [image][classes] (both images in one batch).

After writing, every folder is re-checked (this is also what --verify-only does): the model is
rebuilt from config.json alone, the safetensors file is re-read with safetensors_io.load_file
(strict key match) and all outputs are recomputed and compared bit for bit with expected.json;
bert_onnx/model.onnx goes through onnx.checker and tools/bench/onnx_numpy_eval.py; every
folder must stay under MAX_BYTES.
"""

import argparse
import json
import math
import os
import shutil
import sys

import numpy as np
import onnx
import torch
import torch.nn as nn
import torch.nn.functional as F

torch.set_num_threads(1)

HERE = os.path.dirname(os.path.abspath(__file__))
REPO_ROOT = os.path.abspath(os.path.join(HERE, "..", ".."))
SST2_DIR = os.path.join(REPO_ROOT, "tools", "modelzoo", "sst2-bert")
BENCH_DIR = os.path.join(REPO_ROOT, "tools", "bench")
sys.path.insert(0, SST2_DIR)
sys.path.insert(0, BENCH_DIR)
import train as bert  # noqa: E402  (HF-named BERT modules, hf_config(), export_onnx())
sys.path.insert(0, os.path.join(REPO_ROOT, "tools"))
from eqtools import safetensors_io  # noqa: E402
from tokenizer import BertTokenizer  # noqa: E402
import onnx_numpy_eval  # noqa: E402

DEFAULT_OUT = os.path.join(REPO_ROOT, "tests", "assets", "plm")
GENERATOR = "tools/testmodels/make_plm_test_models.py"
MAX_BYTES = 200 * 1024  # per folder (same budget as one asset of make_test_models.py)
NEG_INF = torch.finfo(torch.float32).min  # HF's mask value (DistilBERT masked_fill, RoBERTa additive)


# --------------------------------------------------------------------------- #
# Tiny WordPiece vocabulary
# --------------------------------------------------------------------------- #

SPECIALS = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]  # ids 0..4
WORDS = """the and or but not no is it was this that movie film good bad great terrible awful best
worst love hate like very really so too of to in on for with as at by from be are were has have
had you he she we they my your his her its our their me story plot acting actor character fun
funny boring dull beautiful nice fine ok well just all one two more most much some any what who
how why when there here time make made see seen watch think feel never ever always still even
than then only also about out up down new old long short little big""".split()
SUFFIXES = ["##s", "##ing", "##ed", "##ly", "##er", "##es", "##est", "##ness"]


def tiny_vocab():
    """Specials, single characters, common words, then '##' pieces: every lowercase ASCII word
    (and every number) is tokenizable; other punctuation and non-Latin scripts become [UNK]."""
    letters = [chr(c) for c in range(ord("a"), ord("z") + 1)]
    digits = [str(d) for d in range(10)]
    toks = SPECIALS + letters + digits + list(".,!?'-") + WORDS + SUFFIXES
    toks += ["##" + c for c in letters + digits]
    out = []
    for t in toks:  # de-duplicate, keep the first occurrence (load_vocab rejects duplicates)
        if t not in out:
            out.append(t)
    return out


def write_vocab(path, vocab):
    with open(path, "w", encoding="utf-8") as f:
        f.write("".join(t + "\n" for t in vocab))


def write_json(path, obj, indent=2):
    with open(path, "w", encoding="utf-8") as f:
        json.dump(obj, f, indent=indent)
        f.write("\n")


def tokenizer_config(max_len):
    return {"tokenizer_class": "BertTokenizer", "do_lower_case": True, "model_max_length": max_len,
            "unk_token": "[UNK]", "sep_token": "[SEP]", "pad_token": "[PAD]", "cls_token": "[CLS]",
            "mask_token": "[MASK]", "tokenize_chinese_chars": True, "strip_accents": None}


# --------------------------------------------------------------------------- #
# Model definitions (parameter names = transformers' module trees)
# --------------------------------------------------------------------------- #

class ActIntermediate(bert.BertIntermediate):
    """BertIntermediate with the activation taken from config (train.py's is always gelu)."""

    def __init__(self, c):
        super().__init__(c)
        self.act = {"gelu": F.gelu, "relu": F.relu}[c["hidden_act"]]

    def forward(self, x):
        return self.act(self.dense(x))


def use_config_activation(encoder, c):
    for layer in encoder.layer:
        layer.intermediate = ActIntermediate(c)


class BertEmbeddingModel(bert.BertModel):
    """BertModel (names embeddings.*, encoder.*, pooler.*); output = masked mean of the last
    hidden state, [batch, hidden] (sentence-embedding convention; the pooler is unused)."""

    def __init__(self, c):
        super().__init__(c)
        use_config_activation(self.encoder, c)

    def forward(self, input_ids, attention_mask, token_type_ids):
        ext = (1.0 - attention_mask[:, None, None, :].to(torch.float32)) * bert.MASK_VALUE
        h = self.encoder(self.embeddings(input_ids, token_type_ids), ext)
        m = attention_mask.to(torch.float32).unsqueeze(-1)
        return (h * m).sum(1) / m.sum(1)


def bert_cls_model(c):
    model = bert.BertForSequenceClassification(c, num_labels=len(c["id2label"]))
    use_config_activation(model.bert.encoder, c)
    return model


# ---- DistilBERT ----
class DistilEmbeddings(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.word_embeddings = nn.Embedding(c["vocab_size"], c["dim"], padding_idx=c["pad_token_id"])
        self.position_embeddings = nn.Embedding(c["max_position_embeddings"], c["dim"])
        self.LayerNorm = nn.LayerNorm(c["dim"], eps=1e-12)  # fixed in HF's DistilBERT

    def forward(self, input_ids):
        pos = torch.arange(input_ids.shape[1], dtype=torch.int64).unsqueeze(0)
        return self.LayerNorm(self.word_embeddings(input_ids) + self.position_embeddings(pos))


class DistilSelfAttention(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.n_heads, self.dim = c["n_heads"], c["dim"]
        self.dh = self.dim // self.n_heads
        self.q_lin = nn.Linear(self.dim, self.dim)
        self.k_lin = nn.Linear(self.dim, self.dim)
        self.v_lin = nn.Linear(self.dim, self.dim)
        self.out_lin = nn.Linear(self.dim, self.dim)

    def forward(self, x, mask):
        b, n, _ = x.shape

        def shape(t):  # [B, L, D] -> [B, nh, L, dh]
            return t.view(b, n, self.n_heads, self.dh).transpose(1, 2)

        q = shape(self.q_lin(x)) / math.sqrt(self.dh)  # DistilBERT scales q before the matmul
        k = shape(self.k_lin(x))
        v = shape(self.v_lin(x))
        scores = torch.matmul(q, k.transpose(2, 3))
        pad = (mask == 0).view(b, 1, 1, n).expand_as(scores)
        scores = scores.masked_fill(pad, NEG_INF)
        ctx = torch.matmul(torch.softmax(scores, dim=-1), v)
        return self.out_lin(ctx.transpose(1, 2).contiguous().view(b, n, self.dim))


class DistilFFN(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.lin1 = nn.Linear(c["dim"], c["hidden_dim"])
        self.lin2 = nn.Linear(c["hidden_dim"], c["dim"])
        self.act = {"gelu": F.gelu, "relu": F.relu}[c["activation"]]

    def forward(self, x):
        return self.lin2(self.act(self.lin1(x)))


class DistilBlock(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.attention = DistilSelfAttention(c)
        self.sa_layer_norm = nn.LayerNorm(c["dim"], eps=1e-12)
        self.ffn = DistilFFN(c)
        self.output_layer_norm = nn.LayerNorm(c["dim"], eps=1e-12)

    def forward(self, x, mask):
        x = self.sa_layer_norm(self.attention(x, mask) + x)
        return self.output_layer_norm(self.ffn(x) + x)


class DistilTransformer(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.layer = nn.ModuleList([DistilBlock(c) for _ in range(c["n_layers"])])


class DistilBertModel(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.embeddings = DistilEmbeddings(c)
        self.transformer = DistilTransformer(c)

    def forward(self, input_ids, attention_mask):
        h = self.embeddings(input_ids)
        for layer in self.transformer.layer:
            h = layer(h, attention_mask)
        return h


class DistilBertForSequenceClassification(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.distilbert = DistilBertModel(c)
        self.pre_classifier = nn.Linear(c["dim"], c["dim"])
        self.classifier = nn.Linear(c["dim"], len(c["id2label"]))

    def forward(self, input_ids, attention_mask, token_type_ids=None):  # no token types
        h = self.distilbert(input_ids, attention_mask)[:, 0]
        return self.classifier(F.relu(self.pre_classifier(h)))


# ---- RoBERTa ----
class RobertaEmbeddings(bert.BertEmbeddings):
    """BERT embeddings with HF RoBERTa's position ids: padding tokens get position pad_token_id,
    real tokens pad_token_id + 1, + 2, ... (cumulative count of non-pad tokens)."""

    def __init__(self, c):
        super().__init__(c)
        self.position_embeddings = nn.Embedding(c["max_position_embeddings"], c["hidden_size"],
                                                padding_idx=c["pad_token_id"])
        self.pad = c["pad_token_id"]

    def forward(self, input_ids, token_type_ids):
        mask = input_ids.ne(self.pad).int()
        position_ids = (torch.cumsum(mask, dim=1).type_as(mask) * mask).long() + self.pad
        emb = self.word_embeddings(input_ids) + self.token_type_embeddings(token_type_ids)
        return self.LayerNorm(emb + self.position_embeddings(position_ids))


class RobertaModel(nn.Module):
    """RobertaModel(add_pooling_layer=False), as inside RobertaForSequenceClassification."""

    def __init__(self, c):
        super().__init__()
        self.embeddings = RobertaEmbeddings(c)
        self.encoder = bert.BertEncoder(c)
        use_config_activation(self.encoder, c)

    def forward(self, input_ids, attention_mask, token_type_ids):
        ext = (1.0 - attention_mask[:, None, None, :].to(torch.float32)) * NEG_INF
        return self.encoder(self.embeddings(input_ids, token_type_ids), ext)


class RobertaClassificationHead(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.dense = nn.Linear(c["hidden_size"], c["hidden_size"])
        self.out_proj = nn.Linear(c["hidden_size"], len(c["id2label"]))

    def forward(self, h):
        return self.out_proj(torch.tanh(self.dense(h[:, 0])))


class RobertaForSequenceClassification(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.roberta = RobertaModel(c)
        self.classifier = RobertaClassificationHead(c)

    def forward(self, input_ids, attention_mask, token_type_ids):
        return self.classifier(self.roberta(input_ids, attention_mask, token_type_ids))


# ---- ViT / DeiT (pre-LN) ----
class PatchEmbeddings(nn.Module):
    def __init__(self, c):
        super().__init__()
        p = c["patch_size"]
        self.projection = nn.Conv2d(c["num_channels"], c["hidden_size"], kernel_size=p, stride=p)

    def forward(self, x):  # [B, C, H, W] -> [B, patches, D]
        return self.projection(x).flatten(2).transpose(1, 2)


class VitEmbeddings(nn.Module):
    def __init__(self, c, distillation_token=False):
        super().__init__()
        d = c["hidden_size"]
        self.cls_token = nn.Parameter(torch.zeros(1, 1, d))
        self.distillation_token = nn.Parameter(torch.zeros(1, 1, d)) if distillation_token else None
        self.patch_embeddings = PatchEmbeddings(c)
        n = (c["image_size"] // c["patch_size"]) ** 2 + (2 if distillation_token else 1)
        self.position_embeddings = nn.Parameter(torch.zeros(1, n, d))

    def forward(self, pixel_values):
        x = self.patch_embeddings(pixel_values)
        b = x.shape[0]
        toks = [self.cls_token.expand(b, -1, -1)]
        if self.distillation_token is not None:
            toks.append(self.distillation_token.expand(b, -1, -1))
        return torch.cat(toks + [x], dim=1) + self.position_embeddings


class VitSelfOutput(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.dense = nn.Linear(c["hidden_size"], c["hidden_size"])


class VitAttention(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.attention = bert.BertSelfAttention(c)  # query/key/value, same math as ViTSelfAttention
        self.output = VitSelfOutput(c)

    def forward(self, x):
        return self.output.dense(self.attention(x, 0.0))


class VitDense(nn.Module):
    def __init__(self, d_in, d_out):
        super().__init__()
        self.dense = nn.Linear(d_in, d_out)


class VitLayer(nn.Module):
    def __init__(self, c):
        super().__init__()
        d, eps = c["hidden_size"], c["layer_norm_eps"]
        self.attention = VitAttention(c)
        self.intermediate = VitDense(d, c["intermediate_size"])
        self.output = VitDense(c["intermediate_size"], d)
        self.layernorm_before = nn.LayerNorm(d, eps=eps)
        self.layernorm_after = nn.LayerNorm(d, eps=eps)
        self.act = {"gelu": F.gelu, "relu": F.relu}[c["hidden_act"]]

    def forward(self, x):
        x = self.attention(self.layernorm_before(x)) + x
        return self.output.dense(self.act(self.intermediate.dense(self.layernorm_after(x)))) + x


class VitEncoder(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.layer = nn.ModuleList([VitLayer(c) for _ in range(c["num_hidden_layers"])])


class VitModel(nn.Module):
    """ViTModel / DeiTModel with add_pooling_layer=False; returns the final-LN hidden states."""

    def __init__(self, c, distillation_token=False):
        super().__init__()
        self.embeddings = VitEmbeddings(c, distillation_token)
        self.encoder = VitEncoder(c)
        self.layernorm = nn.LayerNorm(c["hidden_size"], eps=c["layer_norm_eps"])

    def forward(self, pixel_values):
        h = self.embeddings(pixel_values)
        for layer in self.encoder.layer:
            h = layer(h)
        return self.layernorm(h)


class ViTForImageClassification(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.vit = VitModel(c)
        self.classifier = nn.Linear(c["hidden_size"], len(c["id2label"]))

    def forward(self, pixel_values):
        return self.classifier(self.vit(pixel_values)[:, 0])


class DeiTForImageClassificationWithTeacher(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.deit = VitModel(c, distillation_token=True)
        self.cls_classifier = nn.Linear(c["hidden_size"], len(c["id2label"]))
        self.distillation_classifier = nn.Linear(c["hidden_size"], len(c["id2label"]))

    def forward(self, pixel_values):
        h = self.deit(pixel_values)
        return (self.cls_classifier(h[:, 0]) + self.distillation_classifier(h[:, 1])) / 2


ARCHITECTURES = {
    "BertForSequenceClassification": bert_cls_model,
    "BertModel": BertEmbeddingModel,
    "DistilBertForSequenceClassification": DistilBertForSequenceClassification,
    "RobertaForSequenceClassification": RobertaForSequenceClassification,
    "ViTForImageClassification": ViTForImageClassification,
    "DeiTForImageClassificationWithTeacher": DeiTForImageClassificationWithTeacher,
}


def build_model(cfg):
    """Model from an HF config dict (config.json alone is enough), eval mode."""
    return ARCHITECTURES[cfg["architectures"][0]](cfg).eval()


@torch.no_grad()
def random_init(model):
    """Seeded by the caller (torch.manual_seed); see the module docstring for the scheme."""
    for m in model.modules():
        if isinstance(m, (nn.Linear, nn.Conv2d)):
            m.weight.copy_(torch.randn_like(m.weight) / math.sqrt(m.weight[0].numel()))
            m.bias.copy_(0.1 * torch.randn_like(m.bias))
        elif isinstance(m, nn.LayerNorm):
            m.weight.copy_(1.0 + 0.1 * torch.randn_like(m.weight))
            m.bias.copy_(0.1 * torch.randn_like(m.bias))
        elif isinstance(m, nn.Embedding):
            m.weight.copy_(0.5 * torch.randn_like(m.weight))
        elif isinstance(m, VitEmbeddings):
            for p in (m.cls_token, m.distillation_token, m.position_embeddings):
                if p is not None:
                    p.copy_(0.5 * torch.randn_like(p))


# --------------------------------------------------------------------------- #
# Configs
# --------------------------------------------------------------------------- #

def labels(names):
    return {"id2label": {str(i): n for i, n in enumerate(names)},
            "label2id": {n: i for i, n in enumerate(names)}}


def bert_style_config(**kw):
    """train.py's hf_config() (full BERT key set) with the given keys replaced."""
    c = bert.hf_config()
    c.update(kw)
    return c


def distilbert_config(vocab_size, **kw):
    c = {"architectures": ["DistilBertForSequenceClassification"], "model_type": "distilbert",
         "activation": "gelu", "attention_dropout": 0.1, "dim": 32, "dropout": 0.1, "hidden_dim": 48,
         "initializer_range": 0.02, "max_position_embeddings": 30, "n_heads": 2, "n_layers": 2,
         "pad_token_id": 0, "qa_dropout": 0.1, "seq_classif_dropout": 0.2, "sinusoidal_pos_embds": False,
         "tie_weights_": True, "torch_dtype": "float32", "vocab_size": vocab_size,
         "problem_type": "single_label_classification"}
    c.update(kw)
    return c


def vit_config(model_type, arch, **kw):
    c = {"architectures": [arch], "model_type": model_type, "hidden_size": 24, "num_hidden_layers": 2,
         "num_attention_heads": 3, "intermediate_size": 48, "hidden_act": "gelu",
         "hidden_dropout_prob": 0.0, "attention_probs_dropout_prob": 0.0, "initializer_range": 0.02,
         "layer_norm_eps": 1e-12, "image_size": 16, "patch_size": 4, "num_channels": 3,
         "qkv_bias": True, "encoder_stride": 4, "torch_dtype": "float32"}
    c.update(kw)
    return c


def preprocessor_config(processor, mean, std, size, crop):
    c = {"image_processor_type": processor, "do_resize": True, "size": {"height": size, "width": size},
         "resample": 2, "do_rescale": True, "rescale_factor": 0.00392156862745098,
         "do_normalize": True, "image_mean": mean, "image_std": std}
    if crop:
        c.update(do_center_crop=True, crop_size={"height": size, "width": size})
    return c


# --------------------------------------------------------------------------- #
# Inputs and reference outputs
# --------------------------------------------------------------------------- #

def f32list(t):
    """Tensor -> nested python floats (float32 values, json writes the shortest repr)."""
    return np.asarray(t, dtype=np.float32).astype(np.float64).tolist()


def text_cases(rng, first_id, vocab_size, cls_id, sep_id, pad_id, max_len, two_types, batch_lens):
    """The 3 id cases described in the module docstring (inputs only)."""
    def seq(n):
        return [cls_id] + rng.integers(first_id, vocab_size, size=n - 2).tolist() + [sep_id]

    def types(n, total):
        t = [0] * total
        if two_types:
            for i in range(n - n // 2, n):
                t[i] = 1
        return t

    out = []
    for lens in (batch_lens, [max_len], [2]):
        width = max(lens)
        ids, mask, tt = [], [], []
        for n in lens:
            ids.append(seq(n) + [pad_id] * (width - n))
            mask.append([1] * n + [0] * (width - n))
            tt.append(types(n, width))
        out.append({"input_ids": ids, "attention_mask": mask, "token_type_ids": tt})
    return out


@torch.no_grad()
def run_text(model, case):
    ids, mask, tt = (torch.tensor(case[k], dtype=torch.int64)
                     for k in ("input_ids", "attention_mask", "token_type_ids"))
    return model(ids, mask, tt)


TEXT_SENTENCES = [
    "This movie was great!",
    "It's not a good film, the plot is boring.",
    "Absolutely unwatchable... 0/10",            # "/" is not in the vocab -> [UNK]
    "Caf\u00e9 au lait \u2014 na\u00efve \u65e5\u672c",   # accents stripped; em dash and CJK -> [UNK]
    "I really really liked the actors, but the story dragged on and on and on, and the ending "
    "was so predictable that we left early; still, the music was nice and the photography "
    "beautiful.",                                  # longer than max_len 40: truncated
]


@torch.no_grad()
def bert_text_cases(model, vocab_path, max_len):
    tok = BertTokenizer(vocab_path, max_len=max_len)
    out = []
    for s in TEXT_SENTENCES:
        enc = tok.encode(s)
        pieces = ["[CLS]"] + tok.tokenize(s)[: max_len - 2] + ["[SEP]"]
        assert tok.convert_tokens_to_ids(pieces) == enc["input_ids"]
        ids = torch.tensor([enc["input_ids"]], dtype=torch.int64)
        logits = model(ids, torch.ones_like(ids), torch.zeros_like(ids))[0]
        out.append({"text": s, "tokens": pieces, "input_ids": enc["input_ids"],
                    "attention_mask": enc["attention_mask"], "token_type_ids": enc["token_type_ids"],
                    "logits": f32list(logits)})
    return out


def preprocess(pixels_hwc, pp):
    """HF ViT/DeiT image processor without resizing (images are already image_size):
    rescale in float64 -> float32, normalize in float32, HWC -> CHW."""
    x = (pixels_hwc.astype(np.float64) * pp["rescale_factor"]).astype(np.float32)
    x = (x - np.array(pp["image_mean"], np.float32)) / np.array(pp["image_std"], np.float32)
    return np.ascontiguousarray(x.transpose(2, 0, 1))


@torch.no_grad()
def run_vision(model, pixels, pp, size, ch):
    imgs = [preprocess(np.array(p, np.uint8).reshape(size, size, ch), pp) for p in pixels]
    x = torch.from_numpy(np.stack(imgs))
    return imgs, model(x)


# --------------------------------------------------------------------------- #
# Model specs
# --------------------------------------------------------------------------- #

def specs(vocab):
    v = len(vocab)
    return [
        dict(name="bert_cls", seed=2001, kind="text", vocab=True, batch_lens=[13, 6],
             cfg=bert_style_config(vocab_size=v, hidden_size=36, num_hidden_layers=2, num_attention_heads=3,
                                   intermediate_size=72, hidden_act="gelu", max_position_embeddings=40,
                                   type_vocab_size=2, layer_norm_eps=1e-12,
                                   **labels(["neg", "neu", "pos"]))),
        dict(name="bert_emb", seed=2002, kind="text", vocab=True, batch_lens=[9, 17],
             cfg={k: x for k, x in bert_style_config(
                 architectures=["BertModel"], vocab_size=v, hidden_size=32, num_hidden_layers=2,
                 num_attention_heads=4, intermediate_size=64, hidden_act="relu", max_position_embeddings=24,
                 type_vocab_size=2).items() if k not in ("id2label", "label2id", "problem_type")}),
        dict(name="distilbert_cls", seed=2003, kind="text", vocab=True, batch_lens=[11, 4],
             cfg=distilbert_config(v, **labels(["NEGATIVE", "POSITIVE"]))),
        dict(name="roberta_cls", seed=2004, kind="text", vocab=False, batch_lens=[8, 14],
             cfg=bert_style_config(
                 architectures=["RobertaForSequenceClassification"], model_type="roberta", vocab_size=64,
                 hidden_size=24, num_hidden_layers=2, num_attention_heads=2, intermediate_size=40,
                 hidden_act="gelu", max_position_embeddings=34, type_vocab_size=1, layer_norm_eps=1e-5,
                 pad_token_id=1, bos_token_id=0, eos_token_id=2, **labels(["LABEL_0", "LABEL_1"]))),
        dict(name="vit_cls", seed=2005, kind="vision",
             cfg=vit_config("vit", "ViTForImageClassification",
                            **labels(["cat", "dog", "bird", "fish", "frog"])),
             pp=preprocessor_config("ViTImageProcessor", [0.5, 0.5, 0.5], [0.5, 0.5, 0.5], 16, crop=False)),
        dict(name="deit_distilled", seed=2006, kind="vision",
             cfg=vit_config("deit", "DeiTForImageClassificationWithTeacher", num_attention_heads=2,
                            intermediate_size=40, **labels(["apple", "banana", "cherry", "date"])),
             pp=preprocessor_config("DeiTImageProcessor", [0.485, 0.456, 0.406], [0.229, 0.224, 0.225],
                                    16, crop=True)),
    ]


def text_ids(spec):
    """(first regular id, cls, sep, pad) for the spec's vocabulary."""
    c = spec["cfg"]
    if c["model_type"] == "roberta":
        return 3, c["bos_token_id"], c["eos_token_id"], c["pad_token_id"]  # <s>=0 <pad>=1 </s>=2
    return len(SPECIALS), SPECIALS.index("[CLS]"), SPECIALS.index("[SEP]"), SPECIALS.index("[PAD]")


def max_text_len(cfg):
    if cfg["model_type"] == "roberta":  # positions start at pad_token_id + 1
        return cfg["max_position_embeddings"] - cfg["pad_token_id"] - 1
    return cfg["max_position_embeddings"]


def header(name, description):
    return {"generator": GENERATOR, "torch_version": torch.__version__, "model": name,
            "description": description}


def generate(spec, out_dir, vocab):
    name, cfg = spec["name"], spec["cfg"]
    d = os.path.join(out_dir, name)
    if os.path.isdir(d):
        shutil.rmtree(d)
    os.makedirs(d)
    torch.manual_seed(spec["seed"])
    model = build_model(cfg)
    random_init(model)
    model.eval()

    write_json(os.path.join(d, "config.json"), cfg)
    safetensors_io.save_file(model.state_dict(), os.path.join(d, "model.safetensors"), {"format": "pt"})
    rng = np.random.default_rng(spec["seed"])

    if spec["kind"] == "text":
        if spec["vocab"]:
            write_vocab(os.path.join(d, "vocab.txt"), vocab)
            write_json(os.path.join(d, "tokenizer_config.json"), tokenizer_config(max_text_len(cfg)))
        first, cls_id, sep_id, pad_id = text_ids(spec)
        cases = text_cases(rng, first, cfg["vocab_size"], cls_id, sep_id, pad_id, max_text_len(cfg),
                           cfg.get("type_vocab_size", 1) == 2, spec["batch_lens"])
        for c in cases:
            c["output"] = f32list(run_text(model, c))
        embedding = cfg["architectures"] == ["BertModel"]
        what = "masked mean of the last hidden state [batch, hidden]" if embedding else "logits [batch, labels]"
        exp = header(name, "FP32 torch outputs. cases: ids right-padded with the pad id; output = " + what + ".")
        exp["output"] = "mean_pooled_last_hidden_state" if embedding else "logits"
        exp["cases"] = cases
        if name == "bert_cls":
            exp["text_cases"] = bert_text_cases(model, os.path.join(d, "vocab.txt"), max_text_len(cfg))
        write_json(os.path.join(d, "expected.json"), exp, indent=None)
        dirs = [d]
        if name == "bert_cls":  # the same model as ONNX, with vocab.txt next to it
            od = os.path.join(out_dir, "bert_onnx")
            if os.path.isdir(od):
                shutil.rmtree(od)
            os.makedirs(od)
            bert.export_onnx(model, os.path.join(od, "model.onnx"), [cls_id, 20, 30, 45, 50, 60, sep_id, pad_id])
            shutil.copyfile(os.path.join(d, "vocab.txt"), os.path.join(od, "vocab.txt"))
            exp_onnx = dict(exp, model="bert_onnx",
                            description=exp["description"] + " Same weights as bert_cls (torch outputs).")
            write_json(os.path.join(od, "expected.json"), exp_onnx, indent=None)
            dirs.append(od)
        return dirs

    # vision
    pp, size, ch = spec["pp"], cfg["image_size"], cfg["num_channels"]
    write_json(os.path.join(d, "preprocessor_config.json"), pp)
    pixels = [rng.integers(0, 256, size=size * size * ch).tolist() for _ in range(2)]
    imgs, logits = run_vision(model, pixels, pp, size, ch)
    exp = header(name, "FP32 torch outputs. pixels: uint8 [H, W, C] flat per image; input: preprocessed "
                       "float32 [C, H, W] flat per image; logits: [image, labels], both images in one batch.")
    exp.update(pixels=pixels, input=[f32list(x.reshape(-1)) for x in imgs], logits=f32list(logits))
    write_json(os.path.join(d, "expected.json"), exp, indent=None)
    return [d]


# --------------------------------------------------------------------------- #
# Verification
# --------------------------------------------------------------------------- #

def folder_bytes(d):
    return sum(os.path.getsize(os.path.join(d, f)) for f in os.listdir(d))


def load_folder_model(d):
    with open(os.path.join(d, "config.json")) as f:
        cfg = json.load(f)
    model = build_model(cfg)
    tensors, _ = safetensors_io.load_file(os.path.join(d, "model.safetensors"))
    want = set(model.state_dict())
    if set(tensors) != want:
        raise AssertionError(f"{d}: missing {sorted(want - set(tensors))}, extra {sorted(set(tensors) - want)}")
    model.load_state_dict({k: torch.from_numpy(v) for k, v in tensors.items()}, strict=True)
    return cfg, model.eval()


def same(a, b):
    return np.array_equal(np.asarray(a, np.float32), np.asarray(b, np.float32))


def verify(out_dir, vocab):
    """Raises AssertionError on any mismatch; prints one line per folder."""
    for spec in specs(vocab):
        ok = True
        d = os.path.join(out_dir, spec["name"])
        cfg, model = load_folder_model(d)
        with open(os.path.join(d, "expected.json")) as f:
            exp = json.load(f)
        if spec["kind"] == "text":
            if spec["vocab"]:
                with open(os.path.join(d, "vocab.txt"), encoding="utf-8") as f:
                    assert f.read().split("\n")[:-1] == vocab
            for c in exp["cases"]:
                ok &= same(run_text(model, c), c["output"])
            for c in exp.get("text_cases", []):
                tok = BertTokenizer(os.path.join(d, "vocab.txt"), max_len=max_text_len(cfg))
                ok &= tok.encode(c["text"])["input_ids"] == c["input_ids"]
                ids = torch.tensor([c["input_ids"]])
                with torch.no_grad():
                    ok &= same(model(ids, torch.ones_like(ids), torch.zeros_like(ids))[0], c["logits"])
        else:
            with open(os.path.join(d, "preprocessor_config.json")) as f:
                pp = json.load(f)
            imgs, logits = run_vision(model, exp["pixels"], pp, cfg["image_size"], cfg["num_channels"])
            ok &= all(same(x.reshape(-1), e) for x, e in zip(imgs, exp["input"]))
            ok &= same(logits, exp["logits"])
        size = folder_bytes(d)
        print(f"  {spec['name']:15s} {size:7d} bytes  reload + recompute: {'identical' if ok else 'MISMATCH'}")
        assert ok, d
        assert size < MAX_BYTES, f"{d} is too large ({size} bytes)"

    # ONNX: checker, then the numpy interpreter on every bert_cls case vs torch
    od = os.path.join(out_dir, "bert_onnx")
    path = os.path.join(od, "model.onnx")
    onnx.checker.check_model(onnx.load(path), full_check=True)
    with open(os.path.join(od, "expected.json")) as f:
        exp = json.load(f)
    runner = onnx_numpy_eval.Model(path)
    worst = 0.0
    feeds_list = [c for c in exp["cases"]] + [
        {"input_ids": [c["input_ids"]], "attention_mask": [c["attention_mask"]],
         "token_type_ids": [c["token_type_ids"]], "output": [c["logits"]]} for c in exp["text_cases"]]
    for c in feeds_list:
        feeds = {k: np.array(c[k], np.int64) for k in ("input_ids", "attention_mask", "token_type_ids")}
        (y,) = runner.run(feeds)
        worst = max(worst, float(np.abs(y - np.array(c["output"], np.float32)).max()))
    size = folder_bytes(od)
    ops = sorted({n.op_type for n in onnx.load(path).graph.node})
    print(f"  {'bert_onnx':15s} {size:7d} bytes  onnx_numpy_eval vs torch over {len(feeds_list)} inputs: "
          f"max |diff| {worst:.3g}")
    print(f"    ops: {', '.join(ops)}")
    assert worst < 1e-4, worst
    assert size < MAX_BYTES, f"{od} is too large ({size} bytes)"


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", default=DEFAULT_OUT, help="output directory (default tests/assets/plm)")
    ap.add_argument("--verify-only", action="store_true", help="only re-check the existing folders")
    args = ap.parse_args()
    vocab = tiny_vocab()
    if not args.verify_only:
        os.makedirs(args.out, exist_ok=True)
        for spec in specs(vocab):
            for d in generate(spec, args.out, vocab):
                print(f"wrote {os.path.relpath(d, REPO_ROOT)}: {', '.join(sorted(os.listdir(d)))}")
    print(f"verifying {args.out}")
    verify(args.out, vocab)
    print("all OK")
    return 0


if __name__ == "__main__":
    sys.exit(main())
