"""Decoder LLM bindings (DecoderModel / DecoderSession / Sampler over eq_decoder_* and eq_sampler_*, ABI 3).

Models: the tiny HF folders in tests/assets/decoder (tools/testmodels/make_decoder_models.py), converted with the CLI
(``$EDGEQUANT_CLI`` or artifacts/linux-x64/edgequant). Their expected.json holds PyTorch's logits after every prompt
token and its 24-token greedy continuation: the FP32 engine reproduces it. Quantized models are held to the CLI's
``edgequant generate`` (the C# API) token for token.
"""

from __future__ import annotations

import gc
import json
import os
import subprocess
import sys

import numpy as np
import pytest

REPO = os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))
sys.path.insert(0, os.path.join(REPO, "src", "python"))

import edgequant  # noqa: E402
from edgequant import DecoderModel, EdgeQuantError, Model, Sampler, Status  # noqa: E402

CLI = os.environ.get("EDGEQUANT_CLI", os.path.join(REPO, "artifacts", "linux-x64", "edgequant"))
DECODERS = os.path.join(REPO, "tests", "assets", "decoder")
ASSETS = os.path.join(REPO, "tests", "assets")
SAMPLING = dict(temperature=0.9, top_k=20, top_p=0.9, repetition_penalty=1.3, seed=1234)


def expected(name):
    with open(os.path.join(DECODERS, name, "expected.json")) as f:
        return json.load(f)


def cli(*args):
    r = subprocess.run([CLI, *args], capture_output=True, text=True)
    assert r.returncode == 0, r.stdout + r.stderr
    return r.stdout


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    if not os.path.isfile(CLI):
        pytest.skip(f"{CLI} is not published")
    work = tmp_path_factory.mktemp("decoder")
    out = {}
    for name, folder, args in (("llama_fp32", "llama", ["--precision", "fp32"]),
                               ("qwen2_fp32", "qwen2", ["--precision", "fp32"]),
                               ("gpt2_fp32", "gpt2", ["--precision", "fp32"]),
                               ("llama_int8", "llama", []),
                               ("llama_w4", "llama", ["--weight-bits", "4"])):
        path = str(work / f"{name}.eqm")
        cli("convert", "--hf", os.path.join(DECODERS, folder), "-o", path, *args)
        out[name] = path
    path = str(work / "vit.eqm")
    cli("convert", os.path.join(ASSETS, "vit_meanpool.onnx"), "-o", path, "--calib-random", "8")
    out["vit"] = path
    return out


@pytest.fixture
def llama(models):
    with DecoderModel(models["llama_fp32"]) as m:
        yield m


PROMPT = expected("llama")["prompt"]
GREEDY = expected("llama")["greedy"]


# ---------------------------------------------------------------------------------------------- model, info


def test_abi_version():
    assert edgequant.abi_version() == edgequant.ABI_VERSION == 3


def test_info(llama):
    i = llama.info
    assert (i["model_type"], i["precision"], i["quantized"], i["weight_bits"]) == ("llama", "fp32", False, 32)
    assert (i["vocab_size"], i["context_trained"], i["layers"], i["hidden"]) == (320, 128, 2, 64)
    assert (i["heads"], i["kv_heads"], i["head_dim"], i["mlp_dim"]) == (4, 2, 24, 176)
    assert (llama.bos_id, llama.eos_ids, llama.vocab_size) == (1, (2,), 320)
    assert "llama fp32" in repr(llama)


@pytest.mark.parametrize("name,bits", [("llama_int8", 8), ("llama_w4", 4)])
def test_info_quantized(models, name, bits):
    with DecoderModel(models[name]) as m:
        assert (m.info["precision"], m.info["quantized"], m.info["weight_bits"]) == ("int8", True, bits)


def test_load_errors(models, tmp_path):
    with pytest.raises(EdgeQuantError) as e:
        DecoderModel(str(tmp_path / "missing.eqm"))
    assert e.value.status == Status.IO
    with pytest.raises(EdgeQuantError) as e:
        DecoderModel(models["vit"])  # an encoder file
    assert e.value.status == Status.FORMAT and "encoder" in e.value.message
    with pytest.raises(EdgeQuantError) as e:
        Model(models["llama_fp32"])  # a decoder file through the encoder API
    assert e.value.status == Status.FORMAT and "decoder" in e.value.message
    data = open(models["llama_fp32"], "rb").read()
    cut = tmp_path / "cut.eqm"
    cut.write_bytes(data[: len(data) // 2])
    with pytest.raises(EdgeQuantError) as e:
        DecoderModel(str(cut))
    assert e.value.status == Status.FORMAT


# ---------------------------------------------------------------------------------------------- feed, reset, position


@pytest.mark.parametrize("name", ["llama", "qwen2", "gpt2"])
def test_fp32_logits_match_pytorch(models, name):
    exp = expected(name)
    want = np.asarray(exp["logits"], dtype=np.float32)
    with DecoderModel(models[f"{name}_fp32"]) as m, m.session() as s:
        for t, token in enumerate(exp["prompt"]):
            got = s.feed(token)
            assert got.dtype == np.float32 and got.shape == (m.vocab_size,)
            err = np.max(np.abs(got - want[t])) / np.max(np.abs(want[t]))
            assert err <= 1e-4, f"{name} position {t}: relative error {err:.2e}"
        assert s.position == len(exp["prompt"])


def test_feed_reset_position(llama):
    with llama.session() as s:
        assert (s.position, s.context_length) == (0, 128)
        a = s.feed(PROMPT)
        assert s.position == len(PROMPT)
        s.reset()
        assert s.position == 0
        b = s.feed(np.asarray(PROMPT, dtype=np.int64))
        assert np.array_equal(a, b)  # bit for bit after a reset
        s.reset()
        for t in PROMPT[:-1]:
            s.feed(t)
        c = s.feed([PROMPT[-1]])  # token by token (M = 1 steps): the same within 1e-4
        assert np.max(np.abs(c - a)) / np.max(np.abs(a)) <= 1e-4
        assert int(np.argmax(a)) == GREEDY[0]


@pytest.mark.parametrize("bad", [[320], [-1], [5, 400, 6], [2**31 - 1]])
def test_feed_rejects_ids_outside_the_vocabulary(llama, bad):
    with llama.session() as s:
        s.feed(PROMPT[:3])
        with pytest.raises(EdgeQuantError) as e:
            s.feed(bad)
        assert e.value.status == Status.INVALID_ARGUMENT and "vocabulary" in e.value.message
        assert s.position == 3  # unchanged


@pytest.mark.parametrize("bad", [[2**31], [-2**31 - 1], [2**70], [1.5], [[1, 2]], [True], "12", []])
def test_feed_rejects_non_ids(llama, bad):
    with llama.session() as s:
        with pytest.raises(EdgeQuantError) as e:
            s.feed(bad)
        assert e.value.status == Status.INVALID_ARGUMENT
        assert s.position == 0


def test_context_full(llama):
    with llama.session(context=16) as s:
        assert s.context_length == 16
        s.feed(PROMPT)
        with pytest.raises(EdgeQuantError) as e:
            s.feed(GREEDY[:8])  # 9 + 8 > 16
        assert e.value.status == Status.INVALID_ARGUMENT and "context full" in e.value.message
        assert s.position == 9
        s.feed(GREEDY[:7])
        with pytest.raises(EdgeQuantError) as e:
            s.feed(1)
        assert "context full" in e.value.message
        s.reset()
        s.feed(PROMPT)  # usable again


def test_session_options(llama):
    for threads, context in ((0, 0), (257, 0), (1, -1), (1, 2**31 - 1)):
        with pytest.raises(EdgeQuantError) as e:
            llama.session(threads=threads, context=context)
        assert e.value.status == Status.INVALID_ARGUMENT
    with pytest.raises(EdgeQuantError):
        llama.session(threads=1.5)


def test_learned_positions_cap_the_context(models):
    with DecoderModel(models["gpt2_fp32"]) as m:
        assert m.info["context_trained"] == 64
        with pytest.raises(EdgeQuantError) as e:
            m.session(context=65)
        assert e.value.status == Status.INVALID_ARGUMENT
        with m.session(context=64) as s:
            assert s.context_length == 64


# ---------------------------------------------------------------------------------------------- generation


@pytest.mark.parametrize("name", ["llama", "qwen2", "gpt2"])
def test_fp32_greedy_equals_pytorch(models, name):
    exp = expected(name)
    with DecoderModel(models[f"{name}_fp32"]) as m, m.session() as s:
        # Generation stops at (and yields) the model's EOS id: GPT-2's continuation reaches it.
        want = exp["greedy"]
        stop = next((i for i, t in enumerate(want) if t in m.eos_ids), None)
        want = want if stop is None else want[: stop + 1]
        got = list(s.generate(exp["prompt"], max_tokens=24, temperature=0))
        assert got == want
        s.reset()
        assert s.generate_all(exp["prompt"], max_tokens=24) == want
    if name == "gpt2":
        assert len(want) == 10 and want[-1] == 0


def test_llama_greedy_step_wise(llama):
    with llama.session() as s, Sampler(llama.vocab_size) as greedy:
        logits = s.feed(PROMPT)
        history = list(PROMPT)
        out = []
        for _ in range(24):
            t = greedy.next(logits, history)
            assert t == int(np.argmax(logits))
            out.append(t)
            history.append(t)
            logits = s.feed(t)
        assert out == GREEDY


def test_generate_streams_lazily(llama):
    with llama.session() as s:
        g = s.generate(PROMPT, max_tokens=24)
        assert s.position == 0  # nothing runs before the first next()
        first = [next(g) for _ in range(3)]
        assert first == GREEDY[:3] and s.position == len(PROMPT) + 2
        g.close()  # abandoned: the cache keeps what was fed
        assert s.position == len(PROMPT) + 2
        # continue: the last yielded token is not in the cache, so it starts the next prompt
        rest = list(s.generate([first[-1]], max_tokens=21))
        assert first + rest == GREEDY


def test_generate_continuation(llama):
    with llama.session() as s:
        head = list(s.generate(PROMPT, max_tokens=10))
        assert s.position == len(PROMPT) + 9
        with pytest.raises(EdgeQuantError) as e:
            s.generate([], max_tokens=5)  # the 10th token is not fed
        assert "last token" in e.value.message
        tail = s.generate_all([head[-1]], max_tokens=14)
        assert head + tail == GREEDY
        # an empty prompt continues from a feed
        s.reset()
        with pytest.raises(EdgeQuantError) as e:
            s.generate_all([], max_tokens=5)
        assert "empty" in e.value.message
        s.feed(PROMPT)
        assert list(s.generate([], max_tokens=24)) == GREEDY


def test_generate_stop_ids_and_callback(llama):
    with llama.session() as s:
        first = GREEDY.index(GREEDY[5])
        assert list(s.generate(PROMPT, max_tokens=24, stop_ids=[999, GREEDY[5]])) == GREEDY[: first + 1]
        s.reset()
        assert s.generate_all(PROMPT, max_tokens=24, stop_ids=(GREEDY[5],)) == GREEDY[: first + 1]
        s.reset()
        seen = []
        got = s.generate_all(PROMPT, max_tokens=24, on_token=lambda t: seen.append(t) or len(seen) == 3)
        assert got == seen == GREEDY[:3]
        assert s.position == len(PROMPT) + 2

        def boom(t):
            raise KeyError("from the callback")

        s.reset()
        with pytest.raises(KeyError):
            s.generate_all(PROMPT, max_tokens=24, on_token=boom)
        assert s.position == len(PROMPT)  # stopped after the first token


def test_generate_errors(llama):
    with llama.session(context=16) as s:
        for kwargs in (dict(max_tokens=0), dict(temperature=-1), dict(temperature=float("nan")), dict(top_k=-1),
                       dict(top_p=0), dict(top_p=1.5), dict(repetition_penalty=0), dict(seed=-1), dict(seed=2**64),
                       dict(max_tokens=9)):  # 9 + 9 - 1 > 16
            for gen in (s.generate, s.generate_all):
                with pytest.raises(EdgeQuantError) as e:
                    gen(PROMPT, **kwargs)
                assert e.value.status == Status.INVALID_ARGUMENT, kwargs
                assert s.position == 0
        with pytest.raises(EdgeQuantError) as e:
            s.generate_all([5, 320], max_tokens=2)
        assert "vocabulary" in e.value.message and s.position == 0
        assert len(list(s.generate(PROMPT, max_tokens=8))) == 8  # exactly fills the context
        assert s.position == 16


def test_threads_generate_the_same(llama):
    with llama.session(threads=2) as s:
        assert list(s.generate(PROMPT, max_tokens=24)) == GREEDY


@pytest.mark.parametrize("name", ["llama_int8", "llama_w4", "llama_fp32"])
@pytest.mark.parametrize("sampling", [{}, SAMPLING], ids=["greedy", "sampled"])
def test_generation_equals_the_cli(models, name, sampling):
    """Python (step-wise and eq_decoder_generate) = the CLI's edgequant generate (the C# API), token for token."""
    args = ["generate", models[name], "--ids", ",".join(map(str, PROMPT)), "--max-tokens", "40"]
    for k, v in sampling.items():
        args += [f"--{k.replace('_', '-')}", str(v)]
    want = [int(t) for t in cli(*args).strip().split(",")]
    with DecoderModel(models[name]) as m, m.session() as s:
        assert list(s.generate(PROMPT, max_tokens=40, **sampling)) == want
        s.reset()
        assert s.generate_all(PROMPT, max_tokens=40, **sampling) == want


def test_seeded_sampling_repeats(llama):
    with llama.session() as a, llama.session() as b:
        x = list(a.generate(PROMPT, max_tokens=30, **SAMPLING))
        y = list(b.generate(PROMPT, max_tokens=30, **SAMPLING))
        assert x == y and len(x) == 30


# ---------------------------------------------------------------------------------------------- sampler


def test_sampler():
    with Sampler(10) as greedy:
        x = np.zeros(10, np.float32)
        assert greedy.next(x) == 0  # ties to the lower id
        x[0], x[7], x[9], x[1] = -np.inf, 2, 2, 1
        assert greedy.next(x) == 7
        assert greedy.next(x, [7, 9]) == 7  # no penalty by default
    with Sampler(10, repetition_penalty=4.0) as p:
        assert p.next(x, [7, 7, 9]) == 1
        assert p.next(x, [7]) == 9
    with Sampler(10) as s:
        for bad in (np.zeros(9, np.float32), np.zeros(11, np.float32), np.zeros((2, 10), np.float32)):
            with pytest.raises(EdgeQuantError) as e:
                s.next(bad)
            assert e.value.status == Status.INVALID_ARGUMENT
        for v in (np.nan, np.inf):
            y = np.zeros(10, np.float32)
            y[3] = v
            with pytest.raises(EdgeQuantError):
                s.next(y)
    with Sampler(50, temperature=1.0, top_k=0, top_p=1.0, seed=7) as a, \
            Sampler(50, temperature=1.0, top_k=0, top_p=1.0, seed=7) as b:
        z = np.linspace(-1, 1, 50).astype(np.float32)
        z[::3] = -np.inf
        da = [a.next(z) for _ in range(100)]
        assert da == [b.next(z) for _ in range(100)]
        assert all(t % 3 != 0 for t in da) and len(set(da)) > 5
    for bad in (dict(vocab=0), dict(vocab=2**20 + 1), dict(vocab=10, temperature=-0.5), dict(vocab=10, top_k=-2),
                dict(vocab=10, repetition_window=-1)):
        with pytest.raises(EdgeQuantError) as e:
            Sampler(**bad)
        assert e.value.status == Status.INVALID_ARGUMENT


# ---------------------------------------------------------------------------------------------- lifecycle


def test_close_and_use_after_close(models):
    m = DecoderModel(models["llama_fp32"])
    s = m.session()
    g = m.session(threads=2)
    m.close()  # closes its sessions first
    assert m.closed and s.closed and g.closed
    m.close()
    s.close()  # idempotent
    for call in (lambda: s.feed(1), s.reset, lambda: s.position, lambda: m.session()):
        with pytest.raises(EdgeQuantError) as e:
            call()
        assert e.value.status == Status.INVALID_HANDLE
    sampler = Sampler(320)
    sampler.close()
    sampler.close()
    with pytest.raises(EdgeQuantError) as e:
        sampler.next(np.zeros(320, np.float32))
    assert e.value.status == Status.INVALID_HANDLE


def test_garbage_collection_releases_handles(models):
    for _ in range(20):
        m = DecoderModel(models["llama_fp32"])
        s = m.session()
        s.feed(PROMPT[:2])
        del m, s
        gc.collect()
