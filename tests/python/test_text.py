"""Text-model bindings (eq_session_run_tokens / run_text / tokenize, ABI 2) against the CLI and PyTorch outputs.

Models: the tiny HF folders in tests/assets/plm (tools/testmodels/make_plm_test_models.py), converted with the CLI.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
import pytest

REPO = os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))
sys.path.insert(0, os.path.join(REPO, "src", "python"))

from edgequant import EdgeQuantError, Model, Status  # noqa: E402
from edgequant import _native  # noqa: E402

CLI = os.path.join(REPO, "artifacts", "linux-x64", "edgequant")
PLM = os.path.join(REPO, "tests", "assets", "plm")
SHARED = os.path.abspath(os.environ.get("EDGEQUANT_SHARED", os.path.join(REPO, "..", "shared")))
SST2 = os.path.join(SHARED, "data", "sst2", "train.tsv")


@pytest.fixture(scope="module")
def text_models(tmp_path_factory):
    if not os.path.isfile(CLI):
        pytest.skip(f"{CLI} is not published")
    work = tmp_path_factory.mktemp("text")
    out = {}
    for name, args in (("bert_cls_fp32", ["--hf", os.path.join(PLM, "bert_cls"), "--precision", "fp32"]),
                       ("bert_cls_int8", ["--hf", os.path.join(PLM, "bert_cls"), "--calib-text", SST2, "--calib-range", "0:32"]),
                       ("bert_emb_fp32", ["--hf", os.path.join(PLM, "bert_emb"), "--precision", "fp32"])):
        path = str(work / f"{name}.eqm")
        r = subprocess.run([CLI, "convert", *args, "-o", path], capture_output=True, text=True)
        assert r.returncode == 0, r.stdout + r.stderr
        out[name] = path
    return out


def expected(folder):
    with open(os.path.join(PLM, folder, "expected.json")) as f:
        return json.load(f)


def test_info_describes_text_model(text_models):
    with Model(text_models["bert_cls_fp32"]) as m:
        i = m.info
        assert (i["architecture"], i["is_text"], i["has_tokenizer"], i["is_embedding"], i["max_tokens"]) == ("bert", True, True, False, 40)
        assert m.labels == ["neg", "neu", "pos"]


def test_padded_batch_matches_torch(text_models):
    with Model(text_models["bert_cls_fp32"]) as m, m.session() as s:
        for case in expected("bert_cls")["cases"]:
            y = s.run_tokens(case["input_ids"], case["attention_mask"], case["token_type_ids"])
            np.testing.assert_allclose(y, np.array(case["output"], dtype=np.float32), atol=1e-4)


def test_text_matches_torch_and_cli_bits(text_models):
    exp = expected("bert_cls")["text_cases"][0]
    with Model(text_models["bert_cls_fp32"]) as m, m.session() as s:
        assert s.tokenize(exp["text"]).tolist() == exp["input_ids"]
        np.testing.assert_allclose(s.run_text(exp["text"]), np.array(exp["logits"], dtype=np.float32), atol=1e-4)
    with Model(text_models["bert_cls_int8"]) as m, m.session() as s:
        y = s.run_text(exp["text"])
    r = subprocess.run([CLI, "run", text_models["bert_cls_int8"], "--text", exp["text"], "--bits"], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    assert [int(v, 16) for v in r.stdout.split()] == [int(b) for b in y.view(np.uint32)]


def test_embedding_is_normalized(text_models):
    with Model(text_models["bert_emb_fp32"]) as m, m.session() as s:
        e = s.embed("good movie")
        assert e.shape == (32,) and abs(float(np.linalg.norm(e)) - 1.0) < 1e-5
        raw = s.embed("good movie", normalize=False)
        np.testing.assert_allclose(e, raw / np.linalg.norm(raw), rtol=1e-6)


def test_bad_text_input_raises(text_models):
    with Model(text_models["bert_cls_fp32"]) as m, m.session() as s:
        with pytest.raises(EdgeQuantError) as e:
            s.run_tokens([2, 10_000, 3])
        assert e.value.status == Status.INVALID_ARGUMENT and "vocabulary" in str(e.value)
        with pytest.raises(EdgeQuantError) as e:
            s.run_tokens(np.zeros(41, dtype=np.int32) + 5)
        assert "more than 40" in str(e.value)
        with pytest.raises(EdgeQuantError) as e:
            s.run_tokens([2, 3], [0, 0])
        assert "no unmasked token" in str(e.value)
        with pytest.raises(EdgeQuantError):
            s.run_pixels(np.zeros((4, 4), dtype=np.uint8))
        with pytest.raises(EdgeQuantError):
            s.embed("an embedding of a classifier")
        # eq_session_run_f32 called directly on a text session: an argument error naming the text entry points
        # (it once returned the internal-error class after a division by zero).
        x = np.zeros(8, dtype=np.float32)
        y = np.zeros(8, dtype=np.float32)
        status = _native.lib().eq_session_run_f32(s._live_handle(), x.ctypes.data, x.size, y.ctypes.data, y.size)
        assert status == Status.INVALID_ARGUMENT, status
        assert "eq_session_run_text or eq_session_run_tokens" in _native.last_error()
        for bad in ("a film\x00 that was dropped", "lone \ud800 surrogate"):
            with pytest.raises(EdgeQuantError) as e:
                s.run_text(bad)
            assert e.value.status == Status.INVALID_ARGUMENT


def test_cli_text_verbs(text_models):
    r = subprocess.run([sys.executable, "-m", "edgequant", "text", text_models["bert_cls_fp32"], "good movie"],
                       capture_output=True, text=True, env=dict(os.environ, PYTHONPATH=os.path.join(REPO, "src", "python")))
    assert r.returncode == 0, r.stderr
    assert r.stdout.splitlines()[0].startswith("tokens")
    r = subprocess.run([CLI, "embed", text_models["bert_emb_fp32"], "good movie", "bad film"], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    assert "cosine similarity" in r.stdout
