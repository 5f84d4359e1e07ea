"""Tests of the Python bindings (src/python/edgequant) against the C example and the edgequant CLI.

Run:  /usr/bin/python3 -m pytest tests/python -q
Needs the published artifacts/linux-x64/{edgequant,libedgequant.so}, cc + make (for the C example) and, for the
vit-mnist tests, the shared folder ($EDGEQUANT_SHARED, default ../shared next to the repository).
The models are converted with the CLI into a temporary folder.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import threading

import numpy as np
import pytest

REPO = os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))
sys.path.insert(0, os.path.join(REPO, "src", "python"))

import edgequant  # noqa: E402
from edgequant import EdgeQuantError, Model, Status  # noqa: E402

ARTIFACTS = os.path.join(REPO, "artifacts", "linux-x64")
CLI = os.path.join(ARTIFACTS, "edgequant")
SHARED = os.path.abspath(os.environ.get("EDGEQUANT_SHARED", os.path.join(REPO, "..", "shared")))
MNIST_ONNX = os.path.join(SHARED, "models", "vit-mnist", "vit-mnist.onnx")
MNIST_IMAGES = os.path.join(SHARED, "data", "mnist", "t10k-images-idx3-ubyte")
ASSETS = os.path.join(REPO, "tests", "assets")
PY_ENV = dict(os.environ, PYTHONPATH=os.path.join(REPO, "src", "python"))

LINE = re.compile(r"^(.*?)\s+p=([0-9.]+)\s+logit=(-?[0-9.]+)$")


def run(cmd, **kw):
    return subprocess.run(cmd, capture_output=True, text=True, **kw)


def write_pnm(path, pixels: np.ndarray, comment: bool = False):
    h, w = pixels.shape[:2]
    magic = b"P5" if pixels.ndim == 2 else b"P6"
    with open(path, "wb") as f:
        f.write(magic + (b"\n# made by test_edgequant.py\n" if comment else b"\n") + f"{w} {h}\n255\n".encode())
        f.write(np.ascontiguousarray(pixels, dtype=np.uint8).tobytes())


# ---------------------------------------------------------------------------------------------- fixtures


@pytest.fixture(scope="session")
def work(tmp_path_factory):
    if not os.path.isfile(CLI):
        pytest.skip(f"{CLI} is not published")
    return tmp_path_factory.mktemp("edgequant")


def convert(work, onnx, name, *args):
    out = str(work / name)
    r = run([CLI, "convert", onnx, "-o", out, *args])
    assert r.returncode == 0, r.stdout + r.stderr
    return out


@pytest.fixture(scope="session")
def models(work):
    """name -> (model path, [image paths]); the vit-mnist entries only when the shared folder is present."""
    rng = np.random.default_rng(1234)
    m = {}
    tiny_imgs = []
    for i in range(3):
        p = str(work / f"tiny{i}.pgm")
        write_pnm(p, rng.integers(0, 256, (8, 8), dtype=np.uint8), comment=(i == 1))
        tiny_imgs.append(p)
    onnx = os.path.join(ASSETS, "vit_meanpool.onnx")
    m["tiny"] = (convert(work, onnx, "tiny.eqm", "--calib-random", "8"), tiny_imgs)
    m["tiny_fp32"] = (convert(work, onnx, "tiny_fp32.eqm", "--precision", "fp32"), tiny_imgs)
    rgb_imgs = []
    for i in range(2):
        p = str(work / f"rgb{i}.ppm")
        write_pnm(p, rng.integers(0, 256, (12, 12, 3), dtype=np.uint8))
        rgb_imgs.append(p)
    m["rgb"] = (convert(work, os.path.join(ASSETS, "vit_postln_relu.onnx"), "rgb.eqm", "--calib-random", "8",
                        "--labels", "chat noir,chien,oiseau bleu,été,x", "--mean", "0.5,0.4,0.3", "--std", "0.2,0.25,0.3"),
                rgb_imgs)
    if os.path.isfile(MNIST_ONNX) and os.path.isfile(MNIST_IMAGES):
        data = open(MNIST_IMAGES, "rb").read()
        mnist_imgs = []
        for idx in (0, 1, 2, 3, 4, 9999):
            p = str(work / f"mnist{idx}.pgm")
            write_pnm(p, np.frombuffer(data, np.uint8, 784, 16 + 784 * idx).reshape(28, 28))
            mnist_imgs.append(p)
        m["mnist"] = (convert(work, MNIST_ONNX, "mnist.eqm", "--calib-images", MNIST_IMAGES, "--calib-range", "9000:10000"),
                      mnist_imgs)
        m["mnist_fp32"] = (convert(work, MNIST_ONNX, "mnist_fp32.eqm", "--precision", "fp32"), mnist_imgs)
    return m


ALL_MODELS = ["tiny", "tiny_fp32", "rgb", "mnist", "mnist_fp32"]


@pytest.fixture(params=ALL_MODELS)
def model_case(request, models):
    if request.param not in models:
        pytest.skip(f"shared folder {SHARED} not present")
    return (request.param, *models[request.param])


@pytest.fixture(scope="session")
def c_classify(work):
    """The C example built against artifacts/linux-x64."""
    if not shutil.which("make") or not shutil.which("cc"):
        pytest.skip("make/cc not installed")
    build = str(work / "c-x64")
    r = run(["make", "-C", os.path.join(REPO, "examples", "c"), f"BUILD={build}", f"EQ_DIR={ARTIFACTS}",
             f"{build}/classify"])
    assert r.returncode == 0, r.stdout + r.stderr
    return os.path.join(build, "classify")


@pytest.fixture
def mnist(models):
    if "mnist" not in models:
        pytest.skip(f"shared folder {SHARED} not present")
    return models["mnist"]


# ---------------------------------------------------------------------------------------------- basics


def test_versions():
    assert edgequant.abi_version() == edgequant.ABI_VERSION == 3
    assert edgequant.version().startswith("edgequant")


def test_info_fields(model_case):
    name, path, _ = model_case
    with Model(path) as m:
        i = m.info
        assert i["architecture"] == "vit"
        assert i["precision"] == ("fp32" if name.endswith("fp32") else "int8")
        assert i["quantized"] is (i["precision"] == "int8")
        assert i["input_name"] == "input" and i["output_name"] == "logits"
        expected = {"tiny": ((1, 8, 8), 3), "tiny_fp32": ((1, 8, 8), 3), "rgb": ((3, 12, 12), 5),
                    "mnist": ((1, 28, 28), 10), "mnist_fp32": ((1, 28, 28), 10)}[name]
        assert i["input_shape"] == expected[0] == m.input_shape
        assert (i["channels"], i["height"], i["width"]) == expected[0]
        assert i["num_classes"] == expected[1] == m.num_classes == len(i["labels"])
        assert i["pixel_scale"] == pytest.approx(1 / 255, rel=1e-6)
        c = expected[0][0]
        assert len(i["mean"]) == len(i["std"]) == c
        if name == "rgb":
            assert i["labels"] == ["chat noir", "chien", "oiseau bleu", "été", "x"]
            assert i["mean"] == pytest.approx([0.5, 0.4, 0.3]) and i["std"] == pytest.approx([0.2, 0.25, 0.3])
        else:
            assert i["labels"] == [str(k) for k in range(expected[1])]
            assert i["mean"] == [0.0] and i["std"] == [1.0]
        assert "vit" in repr(m)


def test_cli_info(models):
    path = models["rgb"][0]
    r = run([sys.executable, "-m", "edgequant", "info", path], env=PY_ENV)
    assert r.returncode == 0, r.stderr
    assert "precision     int8" in r.stdout
    assert "input float32 [batch, 3, 12, 12]" in r.stdout
    assert "labels        chat noir, chien, oiseau bleu, été, x" in r.stdout


def test_read_pnm(models, tmp_path):
    img = edgequant.read_pnm(models["tiny"][1][1])  # has a comment line
    assert img.shape == (8, 8) and img.dtype == np.uint8
    rgb = edgequant.read_pnm(models["rgb"][1][0])
    assert rgb.shape == (12, 12, 3)
    bad = tmp_path / "bad.pgm"
    bad.write_bytes(b"P2\n2 2\n255\n0 0 0 0\n")
    with pytest.raises(ValueError):
        edgequant.read_pnm(bad)
    bad.write_bytes(b"P5\n4 4\n255\n" + bytes(10))
    with pytest.raises(ValueError, match="truncated"):
        edgequant.read_pnm(bad)


# ---------------------------------------------------------------------------------------------- equality


def c_logits(c_classify, model, image, *flags):
    r = run([c_classify, "--logits", *flags, model, image])
    assert r.returncode == 0, r.stderr
    lines = r.stdout.split()
    return lines, np.array([np.float32(float(s)) for s in lines], dtype=np.float32)


def test_logits_equal_c_example_bit_for_bit(model_case, c_classify):
    name, path, images = model_case
    with Model(path) as m, m.session() as s:
        for img in images:
            pixels = edgequant.read_pnm(img)
            logits = s.run_pixels(pixels)
            text, ref = c_logits(c_classify, path, img)
            assert logits.dtype == np.float32 and logits.shape == (m.num_classes,)
            assert ["%.9g" % float(v) for v in logits] == text, (name, img)
            assert logits.tobytes() == ref.tobytes(), (name, img)
            # the f32 path (preprocessing done in C / in Python) gives the same bits
            text_f32, _ = c_logits(c_classify, path, img, "--f32")
            assert text_f32 == text
            from edgequant.__main__ import _preprocess
            assert s.run(_preprocess(pixels, m.info)).tobytes() == logits.tobytes()


def test_python_cli_classify_equals_c_example(models, c_classify):
    for name in ("rgb", "mnist"):
        if name not in models:
            continue
        path, images = models[name]
        for img in images[:2]:
            for flags in ([], ["--top", "3"], ["--logits"]):
                c = run([c_classify, *flags, path, img])
                p = run([sys.executable, "-m", "edgequant", "classify", path, img, *flags], env=PY_ENV)
                assert c.returncode == 0 and p.returncode == 0, c.stderr + p.stderr
                assert p.stdout == c.stdout


def test_equals_edgequant_run_to_4_decimals(model_case):
    name, path, images = model_case
    with Model(path) as m, m.session() as s:
        for img in images:
            logits = s.run_pixels(edgequant.read_pnm(img))
            r = run([CLI, "run", path, img, "--top", str(m.num_classes)])
            assert r.returncode == 0, r.stderr
            rows = [LINE.match(line) for line in r.stdout.splitlines()]
            assert len(rows) == m.num_classes and all(rows), r.stdout
            preds = s.topk(logits, m.num_classes)
            for row, pred in zip(rows, preds):
                label, p, logit = row.group(1), float(row.group(2)), float(row.group(3))
                assert label == pred.label
                assert abs(logit - float(logits[pred.index])) <= 0.5e-4 + 1e-6, (name, img, label)
                assert f"{float(logits[pred.index]):.4f}" == row.group(3) or abs(logit - pred.logit) <= 0.5e-4 + 1e-6
                assert abs(p - pred.probability) <= 0.5e-4 + 1e-6


def test_mnist_top1_from_idx(mnist):
    """The PGM written from the IDX file classifies like `edgequant run IDX --index N`."""
    path, images = mnist
    with Model(path) as m, m.session() as s:
        for idx, img in zip((0, 1, 2), images[:3]):
            r = run([CLI, "run", path, MNIST_IMAGES, "--index", str(idx), "--top", "1"])
            assert r.returncode == 0, r.stderr
            label = LINE.match(r.stdout.splitlines()[0]).group(1)
            assert s.classify(edgequant.read_pnm(img), 1)[0].label == label


def test_from_bytes_equals_load(models):
    path, images = models["rgb"]
    data = open(path, "rb").read()
    with Model.load(path) as a, Model.from_bytes(data) as b, a.session() as sa, b.session() as sb:
        assert a.info == b.info
        px = edgequant.read_pnm(images[0])
        assert sa.run_pixels(px).tobytes() == sb.run_pixels(px).tobytes()
    with Model.from_bytes(bytearray(data)) as c:
        assert c.num_classes == 5


def test_batch_equals_single_runs(model_case):
    name, path, images = model_case
    with Model(path) as m, m.session() as s:
        rng = np.random.default_rng(7)
        x = rng.standard_normal((3, *m.input_shape)).astype(np.float32)
        batch = s.run(x)
        assert batch.shape == (3, m.num_classes)
        for b in range(3):
            assert s.run(x[b]).tobytes() == batch[b].tobytes()
        # float64 and non-contiguous inputs are converted
        assert s.run(x[::-1].astype(np.float64)).tobytes() == batch[::-1].tobytes()


def test_topk():
    idx, probs = edgequant.topk(np.array([0.5, 3.0, -1.0, 2.0], np.float32), 3)
    assert idx.tolist() == [1, 3, 0]
    e = np.exp(np.array([0.5, 3.0, -1.0, 2.0]) - 3.0)
    assert probs == pytest.approx((e / e.sum())[[1, 3, 0]], rel=1e-5)


# ---------------------------------------------------------------------------------------------- errors


def expect_error(status, fn, *args, match=None):
    with pytest.raises(EdgeQuantError) as ei:
        fn(*args)
    e = ei.value
    assert e.status == status, (e.status, e.message)
    assert isinstance(e.message, str) and e.message.strip(), "error without a message"
    assert e.args == (status, e.message)
    if match:
        assert re.search(match, e.message), e.message
    return e


def test_load_errors(models, tmp_path):
    expect_error(Status.IO, Model, str(tmp_path / "missing.eqm"), match="missing.eqm")
    garbage = tmp_path / "garbage.eqm"
    garbage.write_bytes(b"definitely not a model" * 10)
    expect_error(Status.FORMAT, Model, str(garbage))
    data = open(models["tiny"][0], "rb").read()
    expect_error(Status.FORMAT, Model.from_bytes, b"")
    expect_error(Status.FORMAT, Model.from_bytes, data[: len(data) // 2])
    expect_error(Status.FORMAT, Model.from_bytes, data[:-1])
    flipped = bytearray(data)
    flipped[-10] ^= 0x40  # inside the last tensor's data: CRC mismatch
    expect_error(Status.FORMAT, Model.from_bytes, flipped)


def test_run_errors(models):
    path, images = models["tiny"]
    with Model(path) as m, m.session() as s:
        px = edgequant.read_pnm(images[0])
        expect_error(Status.INVALID_ARGUMENT, s.run_pixels, np.zeros((9, 8), np.uint8), match="expects 8x8")
        expect_error(Status.INVALID_ARGUMENT, s.run_pixels, np.zeros((8, 8, 3), np.uint8), match="channel")
        expect_error(Status.INVALID_ARGUMENT, s.run_pixels, np.zeros((0, 8), np.uint8))
        expect_error(Status.INVALID_ARGUMENT, s.run_pixels, px.astype(np.float32), match="uint8")
        expect_error(Status.INVALID_ARGUMENT, s.run_pixels, np.zeros(64, np.uint8))
        x = np.zeros((2, 1, 8, 8), np.float32)
        expect_error(Status.INVALID_ARGUMENT, s.run, x[:, :, :7], match="shape")
        expect_error(Status.INVALID_ARGUMENT, s.run, np.zeros((0, 1, 8, 8), np.float32))
        expect_error(Status.INVALID_ARGUMENT, s.run, np.array(["a"] * 64).reshape(1, 8, 8))
        for bad in (np.nan, np.inf, -np.inf):
            y = x.copy()
            y[1, 0, 3, 5] = bad
            expect_error(Status.INVALID_ARGUMENT, s.run, y, match="non-finite")
        expect_error(Status.INVALID_ARGUMENT, edgequant.topk, np.zeros(3, np.float32), 0)
        expect_error(Status.INVALID_ARGUMENT, edgequant.topk, np.zeros(3, np.float32), 4)
        expect_error(Status.INVALID_ARGUMENT, edgequant.topk, np.zeros(0, np.float32), 1)
        expect_error(Status.INVALID_ARGUMENT, edgequant.topk, np.array([1, np.nan], np.float32), 1)
        # still fine after the errors
        assert s.run_pixels(px).shape == (3,)


def test_closed_session_and_model_raise(models):
    path, images = models["tiny"]
    px = edgequant.read_pnm(images[0])
    m = Model(path)
    s = m.session()
    ref = s.run_pixels(px)
    s.close()
    s.close()  # idempotent
    assert s.closed
    expect_error(Status.INVALID_HANDLE, s.run_pixels, px, match="closed")
    expect_error(Status.INVALID_HANDLE, s.run, np.zeros((1, 8, 8), np.float32), match="closed")
    with s:  # a closed session in a with block
        pass
    s2 = m.session()
    s3 = m.session()
    assert s2.run_pixels(px).tobytes() == ref.tobytes()
    s3.close()
    m.close()  # closes s2 too
    m.close()
    assert m.closed and s2.closed
    expect_error(Status.INVALID_HANDLE, s2.run_pixels, px)
    expect_error(Status.INVALID_HANDLE, m.session)


def test_context_managers(models):
    path, images = models["tiny"]
    with Model(path) as m, m.session() as s:
        s.run_pixels(edgequant.read_pnm(images[0]))
    assert s.closed and m.closed


def test_cli_errors(models, tmp_path):
    path, images = models["tiny"]
    r = run([sys.executable, "-m", "edgequant", "classify", path, models["rgb"][1][0]], env=PY_ENV)
    assert r.returncode == 1 and "error" in r.stderr and "expects 8x8" in r.stderr
    r = run([sys.executable, "-m", "edgequant", "info", str(tmp_path / "nope.eqm")], env=PY_ENV)
    assert r.returncode == 1 and "nope.eqm" in r.stderr and "Traceback" not in r.stderr


def test_library_env_var(tmp_path):
    code = "import edgequant, edgequant._native as n; print(edgequant.version()); print(n.library_path())"
    r = run([sys.executable, "-c", code], env=dict(PY_ENV, EDGEQUANT_LIB=ARTIFACTS))
    assert r.returncode == 0, r.stderr
    assert r.stdout.splitlines()[1] == os.path.join(ARTIFACTS, "libedgequant.so")
    r = run([sys.executable, "-c", code], env=dict(PY_ENV, EDGEQUANT_LIB=str(tmp_path / "none.so")))
    assert r.returncode != 0 and "not found" in r.stderr


# ---------------------------------------------------------------------------------------------- threads


def test_four_threads_share_one_model(models):
    name = "mnist" if "mnist" in models else "rgb"
    path, images = models[name]
    with Model(path) as m:
        pixels = [edgequant.read_pnm(p) for p in images]
        with m.session() as s:
            ref = [s.run_pixels(px) for px in pixels]
        results, errors = [None] * 4, []
        barrier = threading.Barrier(4)

        def worker(t):
            try:
                with m.session() as s:
                    barrier.wait()
                    out = []
                    for it in range(20):
                        for px in pixels:
                            out.append(s.run_pixels(px))
                    results[t] = out
            except BaseException as e:  # pragma: no cover - reported below
                errors.append(e)

        threads = [threading.Thread(target=worker, args=(t,)) for t in range(4)]
        for th in threads:
            th.start()
        for th in threads:
            th.join()
        assert not errors, errors
        for t in range(4):
            assert len(results[t]) == 20 * len(pixels)
            for i, logits in enumerate(results[t]):
                assert logits.tobytes() == ref[i % len(pixels)].tobytes(), (t, i)


def test_stale_native_handles_return_invalid_handle(models):
    """Below the Python guards: the library itself rejects destroyed handles with EQ_ERR_INVALID_HANDLE."""
    from edgequant import _native

    lib = _native.lib()
    path, images = models["tiny"]
    px = np.ascontiguousarray(edgequant.read_pnm(images[0]))
    out = np.zeros(3, np.float32)
    m = Model(path)
    s = m.session()
    mh, sh = m._handle, s._handle
    m.close()
    assert lib.eq_session_run_u8(sh, px.ctypes.data, 8, 8, 1, out.ctypes.data, 3) == Status.INVALID_HANDLE
    assert "not a live" in _native.last_error()
    assert lib.eq_session_destroy(sh) == Status.INVALID_HANDLE
    assert lib.eq_model_destroy(mh) == Status.INVALID_HANDLE
    assert lib.eq_session_create(mh, None, ctypes_handle()) == Status.INVALID_HANDLE


def ctypes_handle():
    import ctypes

    return ctypes.byref(ctypes.c_void_p())



def test_multithreaded_session_equals_single_thread(models):
    """A session with 2 worker threads gives the same logits bit for bit as a 1-thread session; 0 threads is refused."""
    path, _ = models["rgb"]
    with edgequant.Model(path) as m, m.session() as one, m.session(threads=2) as two:
        x = np.random.default_rng(3).random(m.input_shape, dtype=np.float32)
        assert np.array_equal(one.run(x).view(np.uint32), two.run(x).view(np.uint32))
        with pytest.raises(edgequant.EdgeQuantError):
            m.session(threads=0)
