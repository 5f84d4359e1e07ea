"""EdgeQuant: INT8 ViT inference, Python bindings over the C ABI (libedgequant.so) with ctypes and NumPy.

    import numpy as np, edgequant
    with edgequant.Model("vit-mnist.eqm") as model, model.session() as session:
        logits = session.run_pixels(np.zeros((28, 28), np.uint8))     # uint8 [H, W] or [H, W, C]
        logits = session.run(np.zeros((2, 1, 28, 28), np.float32))    # float32 [B, C, H, W] or [C, H, W]
        print(session.topk(logits[0], 3))

Decoder language models (token ids in and out; the files store no tokenizer):

    with edgequant.DecoderModel("llama.eqm") as model, model.session(threads=1, context=0) as session:
        logits = session.feed([1, 50, 130])                            # float32 [vocab] after the last id
        session.reset()
        for token_id in session.generate([1, 50, 130], max_tokens=32, temperature=0.8, seed=1):
            print(token_id)

Every failure of the library raises :class:`EdgeQuantError` with the status and the message of eq_last_error().
A :class:`Model` is immutable and may be shared by threads; create one :class:`Session` per thread (a session
serializes concurrent calls with a lock, so sharing one is safe but not parallel). The library releases the
GIL during inference (ctypes), so sessions on different threads run in parallel.
"""

from __future__ import annotations

import ctypes
import enum
import os
import threading
import weakref
from ctypes import byref, c_char_p, c_void_p
from typing import NamedTuple

import numpy as np

from . import _native

__all__ = [
    "ABI_VERSION",
    "DecoderModel",
    "DecoderSession",
    "EdgeQuantError",
    "Model",
    "Prediction",
    "Sampler",
    "Session",
    "Status",
    "abi_version",
    "read_pnm",
    "topk",
    "version",
]

ABI_VERSION = _native.ABI_VERSION


class Status(enum.IntEnum):
    """eq_status."""

    OK = _native.OK
    INVALID_ARGUMENT = _native.ERR_INVALID_ARGUMENT
    INVALID_HANDLE = _native.ERR_INVALID_HANDLE
    IO = _native.ERR_IO
    FORMAT = _native.ERR_FORMAT
    BUFFER_TOO_SMALL = _native.ERR_BUFFER_TOO_SMALL
    INTERNAL = _native.ERR_INTERNAL


class EdgeQuantError(Exception):
    """A failed EdgeQuant call: ``status`` (a :class:`Status`) and ``message`` (eq_last_error())."""

    def __init__(self, status: int, message: str):
        try:
            status = Status(status)
        except ValueError:
            pass
        super().__init__(status, message)
        self.status = status
        self.message = message

    def __str__(self) -> str:
        name = self.status.name if isinstance(self.status, Status) else str(self.status)
        return f"{self.message} [{name}]"


def _check(status: int) -> None:
    if status != _native.OK:
        raise EdgeQuantError(status, _native.last_error())


def _c_text(text: str) -> bytes:
    """UTF-8 for the C ABI's NUL-terminated strings: a NUL inside would silently cut the text there, so it is refused."""
    if "\x00" in text:
        raise EdgeQuantError(Status.INVALID_ARGUMENT, "text contains a NUL character; the C ABI takes NUL-terminated UTF-8")
    try:
        return text.encode("utf-8")
    except UnicodeEncodeError as e:  # lone surrogates
        raise EdgeQuantError(Status.INVALID_ARGUMENT, f"text is not valid Unicode: {e}") from None


def abi_version() -> int:
    """ABI version of the loaded library."""
    return _native.lib().eq_abi_version()


def version() -> str:
    """Library version string."""
    return _native.lib().eq_version().decode()


class Prediction(NamedTuple):
    """One entry of a top-k list."""

    index: int
    label: str
    probability: float
    logit: float


def topk(logits, k: int = 5) -> tuple[np.ndarray, np.ndarray]:
    """eq_topk: (indices int32 [k], softmax probabilities float32 [k]) of a 1-D logits vector, descending."""
    x = np.ascontiguousarray(logits, dtype=np.float32)
    if x.ndim != 1:
        raise EdgeQuantError(Status.INVALID_ARGUMENT, f"topk needs a 1-D logits vector, got shape {x.shape}")
    if not isinstance(k, (int, np.integer)) or isinstance(k, bool) or not -2**31 <= k < 2**31:
        raise EdgeQuantError(Status.INVALID_ARGUMENT, f"k must be an int32, got {k!r}")
    kk = max(int(k), 0)
    indices = np.zeros(kk, dtype=np.int32)
    probs = np.zeros(kk, dtype=np.float32)
    _check(_native.lib().eq_topk(x.ctypes.data if x.size else None, x.size, int(k),
                                 indices.ctypes.data if kk else None, probs.ctypes.data if kk else None))
    return indices, probs


class _NativeHandle:
    """Shared lifecycle of the library's opaque handles: ``closed``, context management, release on collection."""

    _kind = "handle"      # for error messages
    _destroy = ""         # name of the eq_*_destroy function
    _handle: int | None = None

    @property
    def closed(self) -> bool:
        return self._handle is None

    def _live_handle(self) -> int:
        h = self._handle
        if h is None:
            raise EdgeQuantError(Status.INVALID_HANDLE, f"{self._kind} is closed")
        return h

    def close(self) -> None:  # pragma: no cover - overridden
        raise NotImplementedError

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def __del__(self):
        # Garbage collection without close(): release the handle, never raise (interpreter shutdown included).
        try:
            if getattr(self, "_handle", None) is not None:
                getattr(_native.lib(), self._destroy)(self._handle)
                self._handle = None
        except Exception:
            pass


class Model(_NativeHandle):
    """An EdgeQuant model (.eqm): ``Model(path)``, ``Model.load(path)`` or ``Model.from_bytes(data)``.

    Immutable and shareable between threads. ``close()`` (or leaving a ``with`` block) closes the sessions
    still open on it and releases the model; it is idempotent.
    """

    _kind = "model"
    _destroy = "eq_model_destroy"  # sessions hold a reference to their model: none are alive when it is collected

    def __init__(self, path: str | os.PathLike | None = None, *, _data: bytes | None = None):
        self._handle = None
        self._lock = threading.RLock()
        self._sessions: weakref.WeakSet[Session] = weakref.WeakSet()
        lib = _native.lib()
        handle = c_void_p()
        if _data is not None:
            data = bytes(_data)
            # A non-null pointer even for b"" (the library then reports EQ_ERR_FORMAT).
            buf = ctypes.create_string_buffer(data, max(len(data), 1))
            _check(lib.eq_model_load_memory(ctypes.addressof(buf), len(data), byref(handle)))
            self.path = None
        else:
            if path is None:
                raise EdgeQuantError(Status.INVALID_ARGUMENT, "Model needs a path (or use Model.from_bytes)")
            self.path = os.fspath(path)
            _check(lib.eq_model_load(os.fsencode(self.path), byref(handle)))
        self._handle = handle.value
        try:
            self.info = self._read_info()
        except BaseException:
            lib.eq_model_destroy(self._handle)
            self._handle = None
            raise

    @classmethod
    def load(cls, path: str | os.PathLike) -> "Model":
        """eq_model_load: memory-maps and validates a model file."""
        return cls(path)

    @classmethod
    def from_bytes(cls, data: bytes | bytearray | memoryview) -> "Model":
        """eq_model_load_memory: a model from bytes (copied by the library)."""
        return cls(_data=bytes(data))

    def _read_info(self) -> dict:
        lib = _native.lib()
        info = _native.ModelInfo()
        info.size = ctypes.sizeof(_native.ModelInfo)
        _check(lib.eq_model_get_info(self._handle, byref(info)))
        labels = []
        for i in range(0 if info.is_embedding else info.num_classes):  # embedding models output [hidden], no labels
            label = c_char_p()
            _check(lib.eq_model_get_label(self._handle, i, byref(label)))
            labels.append(label.value.decode("utf-8"))
        c = info.channels
        return {
            "architecture": info.architecture.decode(),
            "precision": info.precision.decode(),
            "quantized": bool(info.quantized),
            "input_name": info.input_name.decode(),
            "output_name": info.output_name.decode(),
            "input_shape": (info.channels, info.height, info.width),
            "channels": info.channels,
            "height": info.height,
            "width": info.width,
            "num_classes": info.num_classes,
            "labels": labels,
            "pixel_scale": float(info.pixel_scale),
            "mean": [float(info.mean[i]) for i in range(min(c, 4))],
            "std": [float(info.std[i]) for i in range(min(c, 4))],
            "is_text": bool(info.is_text),
            "max_tokens": int(info.max_tokens),
            "has_tokenizer": bool(info.has_tokenizer),
            "is_embedding": bool(info.is_embedding),
        }

    @property
    def input_shape(self) -> tuple[int, int, int]:
        """(channels, height, width)."""
        return self.info["input_shape"]

    @property
    def num_classes(self) -> int:
        return self.info["num_classes"]

    @property
    def labels(self) -> list[str]:
        return self.info["labels"]

    def session(self, threads: int = 1) -> "Session":
        """A new session (one per calling thread); ``threads`` = the session's own worker threads."""
        return Session(self, threads)

    def close(self) -> None:
        """Closes the model's open sessions, then destroys the model. Idempotent."""
        with self._lock:
            if self._handle is None:
                return
            for s in list(self._sessions):
                s.close()
            _check(_native.lib().eq_model_destroy(self._handle))
            self._handle = None

    def __repr__(self) -> str:
        if self._handle is None:
            return "<edgequant.Model closed>"
        i = self.info
        if i["is_text"]:
            return (f"<edgequant.Model {i['architecture']} {i['precision']} text <= {i['max_tokens']} tokens, "
                    f"{i['num_classes']} {'embedding dims' if i['is_embedding'] else 'classes'}>")
        return (f"<edgequant.Model {i['architecture']} {i['precision']} input {list(i['input_shape'])} "
                f"{i['num_classes']} classes>")


class Session(_NativeHandle):
    """A session of a model: ``model.session()``. Use it from one thread at a time (calls are serialized)."""

    _kind = "session"
    _destroy = "eq_session_destroy"

    def __init__(self, model: Model, threads: int = 1):
        self.model = model
        self._lock = threading.Lock()
        self._handle = None
        handle = c_void_p()
        options = _native.SessionOptions()
        _native.lib().eq_session_default_options(byref(options))
        options.threads = int(threads)
        with model._lock:
            _check(_native.lib().eq_session_create(model._live_handle(), byref(options), byref(handle)))
            self._handle = handle.value
            model._sessions.add(self)
        c, h, w = model.input_shape
        self._input_len = c * h * w
        self._classes = model.num_classes

    def run(self, x) -> np.ndarray:
        """eq_session_run_f32: float32 [B, C, H, W] -> logits [B, classes]; [C, H, W] -> [classes]."""
        a = np.asarray(x)
        if a.dtype.kind not in "fiu" or a.dtype == np.bool_:
            raise EdgeQuantError(Status.INVALID_ARGUMENT, f"input must be a float32 array, got dtype {a.dtype}")
        a = np.ascontiguousarray(a, dtype=np.float32)
        shape = tuple(self.model.input_shape)
        if a.ndim == 3 and a.shape == shape:
            batch, single = 1, True
        elif a.ndim == 4 and a.shape[1:] == shape and a.shape[0] > 0:
            batch, single = a.shape[0], False
        else:
            raise EdgeQuantError(Status.INVALID_ARGUMENT,
                                 f"input has shape {a.shape}; expected [B, {shape[0]}, {shape[1]}, {shape[2]}] or {list(shape)}")
        out = np.empty((batch, self._classes), dtype=np.float32)
        with self._lock:
            _check(_native.lib().eq_session_run_f32(self._live_handle(), a.ctypes.data, a.size, out.ctypes.data, out.size))
        return out[0] if single else out

    def run_pixels(self, pixels) -> np.ndarray:
        """eq_session_run_u8: uint8 [H, W] or [H, W, C] pixels (model preprocessing applied) -> logits [classes]."""
        p = np.asarray(pixels)
        if p.dtype != np.uint8:
            raise EdgeQuantError(Status.INVALID_ARGUMENT, f"pixels must be a uint8 array, got dtype {p.dtype}")
        if p.ndim == 2:
            h, w, c = p.shape[0], p.shape[1], 1
        elif p.ndim == 3:
            h, w, c = p.shape
        else:
            raise EdgeQuantError(Status.INVALID_ARGUMENT, f"pixels have shape {p.shape}; expected [H, W] or [H, W, C]")
        if max(h, w, c) >= 2**31:
            raise EdgeQuantError(Status.INVALID_ARGUMENT, f"image of shape {p.shape} is too large")
        p = np.ascontiguousarray(p)
        out = np.empty(self._classes, dtype=np.float32)
        with self._lock:
            _check(_native.lib().eq_session_run_u8(self._live_handle(), p.ctypes.data if p.size else None,
                                                   h, w, c, out.ctypes.data, out.size))
        return out

    def run_tokens(self, input_ids, attention_mask=None, token_type_ids=None) -> np.ndarray:
        """eq_session_run_tokens: int ids [length] or [batch, length] (mask/types alike, optional) -> [outputs] or [batch, outputs]."""
        ids = np.ascontiguousarray(input_ids, dtype=np.int32)
        single = ids.ndim == 1
        ids2 = ids.reshape(1, -1) if single else ids
        if ids2.ndim != 2 or ids2.size == 0:
            raise EdgeQuantError(Status.INVALID_ARGUMENT, f"input_ids have shape {ids.shape}; expected [length] or [batch, length]")

        def aux(x, name):
            if x is None:
                return None
            a = np.ascontiguousarray(x, dtype=np.int32).reshape(ids2.shape) if np.size(x) == ids2.size else None
            if a is None:
                raise EdgeQuantError(Status.INVALID_ARGUMENT, f"{name} has {np.size(x)} values, input_ids {ids2.size}")
            return a

        mask, types = aux(attention_mask, "attention_mask"), aux(token_type_ids, "token_type_ids")
        out = np.empty((ids2.shape[0], self._classes), dtype=np.float32)
        with self._lock:
            _check(_native.lib().eq_session_run_tokens(self._live_handle(), ids2.ctypes.data,
                                                       mask.ctypes.data if mask is not None else None,
                                                       types.ctypes.data if types is not None else None,
                                                       ids2.shape[0], ids2.shape[1], out.ctypes.data, out.size))
        return out[0] if single else out

    def run_text(self, text: str) -> np.ndarray:
        """eq_session_run_text: tokenizes with the model's WordPiece tokenizer and runs -> logits or embedding."""
        out = np.empty(self._classes, dtype=np.float32)
        with self._lock:
            _check(_native.lib().eq_session_run_text(self._live_handle(), _c_text(text), out.ctypes.data, out.size, None))
        return out

    def tokenize(self, text: str) -> np.ndarray:
        """eq_session_tokenize: token ids ([CLS] ... [SEP], truncated to the model's maximum)."""
        cap = max(2, self.model.info["max_tokens"])
        ids = np.empty(cap, dtype=np.int32)
        n = ctypes.c_int32()
        with self._lock:
            _check(_native.lib().eq_session_tokenize(self._live_handle(), _c_text(text), ids.ctypes.data, cap, byref(n)))
        return ids[: n.value].copy()

    def embed(self, text: str, normalize: bool = True) -> np.ndarray:
        """Sentence embedding of a text (embedding models), L2-normalized unless normalize=False."""
        if not self.model.info["is_embedding"]:
            raise EdgeQuantError(Status.INVALID_ARGUMENT, "this model outputs logits, not embeddings")
        e = self.run_text(text)
        n = float(np.linalg.norm(e))
        return e / n if normalize and n > 0 else e

    def topk(self, logits, k: int = 5) -> list[Prediction]:
        """Top-k of a logits vector with the model's labels and softmax probabilities (eq_topk)."""
        x = np.ascontiguousarray(logits, dtype=np.float32)
        idx, probs = topk(x, k)
        labels = self.model.labels
        return [Prediction(int(i), labels[i] if i < len(labels) else str(int(i)), float(p), float(x[i]))
                for i, p in zip(idx, probs)]

    def classify(self, pixels, k: int = 5) -> list[Prediction]:
        """run_pixels + topk."""
        return self.topk(self.run_pixels(pixels), min(k, self._classes))

    def close(self) -> None:
        """eq_session_destroy. Idempotent."""
        with self._lock:
            if self._handle is None:
                return
            _check(_native.lib().eq_session_destroy(self._handle))
            self._handle = None
        self.model._sessions.discard(self)

    def __repr__(self) -> str:
        return f"<edgequant.Session {'closed' if self._handle is None else 'open'} of {self.model!r}>"


def read_pnm(path: str | os.PathLike) -> np.ndarray:
    """A binary PGM (P5) -> uint8 [H, W] or PPM (P6) -> uint8 [H, W, 3] image; maxval 255 (as the CLI)."""
    with open(path, "rb") as f:
        b = f.read()
    pos = 0

    def token() -> bytes:
        nonlocal pos
        while pos < len(b) and (b[pos:pos + 1].isspace() or b[pos] == 0x23):  # '#': comment to end of line
            if b[pos] == 0x23:
                while pos < len(b) and b[pos] != 0x0A:
                    pos += 1
            else:
                pos += 1
        start = pos
        while pos < len(b) and not b[pos:pos + 1].isspace():
            pos += 1
        return b[start:pos]

    magic = token()
    if magic not in (b"P5", b"P6"):
        raise ValueError(f"{path}: not a binary PGM/PPM (P5/P6) image")
    channels = 1 if magic == b"P5" else 3
    try:
        w, h, maxval = int(token()), int(token()), int(token())
    except ValueError:
        raise ValueError(f"{path}: bad PGM/PPM header") from None
    if w <= 0 or h <= 0 or maxval != 255:
        raise ValueError(f"{path}: bad PGM/PPM header (only maxval 255 is supported)")
    pos += 1  # the single whitespace byte after maxval
    size = w * h * channels
    if len(b) - pos < size:
        raise ValueError(f"{path}: truncated image data")
    img = np.frombuffer(b, dtype=np.uint8, count=size, offset=pos).copy()
    return img.reshape((h, w) if channels == 1 else (h, w, 3))


# ---------------------------------------------------------------------------------------------- decoder LLMs (ABI 3)


def _ids_array(ids, name: str = "ids") -> np.ndarray:
    """Token ids (an int or a 1-D sequence / array of ints) as a contiguous int32 array; values beyond int32 are refused
    (the library then checks them against the vocabulary)."""
    a = np.asarray(ids)
    if a.ndim == 0:
        a = a.reshape(1)
    if a.ndim != 1:
        raise EdgeQuantError(Status.INVALID_ARGUMENT, f"{name} must be 1-D, got shape {a.shape}")
    if a.size == 0:
        return np.zeros(0, dtype=np.int32)
    if a.dtype.kind not in "iu" and not (
            a.dtype == object and all(isinstance(v, (int, np.integer)) and not isinstance(v, bool) for v in a)):
        raise EdgeQuantError(Status.INVALID_ARGUMENT, f"{name} must be integers, got dtype {a.dtype}")
    lo, hi = int(a.min()), int(a.max())
    if lo < -2**31 or hi >= 2**31:
        bad = lo if lo < -2**31 else hi
        raise EdgeQuantError(Status.INVALID_ARGUMENT, f"token id {bad} in {name} is outside int32")
    return np.ascontiguousarray(a.astype(np.int64), dtype=np.int32)


def _int32(value, name: str, lo: int = -2**31, hi: int = 2**31 - 1) -> int:
    if not isinstance(value, (int, np.integer)) or isinstance(value, bool) or not lo <= value <= hi:
        raise EdgeQuantError(Status.INVALID_ARGUMENT, f"{name} must be an integer in {lo}..{hi}, got {value!r}")
    return int(value)


def _sampling_options(temperature, top_k, top_p, repetition_penalty, repetition_window, seed) -> "_native.SamplingOptions":
    o = _native.SamplingOptions()
    _native.lib().eq_sampling_default_options(byref(o))
    for name, v in (("temperature", temperature), ("top_p", top_p), ("repetition_penalty", repetition_penalty)):
        if not isinstance(v, (int, float, np.integer, np.floating)) or isinstance(v, bool):
            raise EdgeQuantError(Status.INVALID_ARGUMENT, f"{name} must be a number, got {v!r}")
    o.temperature = float(temperature)
    o.top_k = _int32(top_k, "top_k")
    o.top_p = float(top_p)
    o.repetition_penalty = float(repetition_penalty)
    o.repetition_window = _int32(repetition_window, "repetition_window")
    o.seed = _int32(seed, "seed", 0, 2**64 - 1)
    return o


class Sampler(_NativeHandle):
    """eq_sampler: picks the next token from logits. ``temperature`` 0 = greedy (argmax, ties to the lower id); otherwise
    temperature -> top-k (0 = off) -> top-p (1 = off) -> a seeded draw. ``repetition_penalty`` (1 = off) applies to the
    last ``repetition_window`` ids of the history. The same seed gives the same tokens on every machine. One per thread."""

    _kind = "sampler"
    _destroy = "eq_sampler_destroy"

    def __init__(self, vocab: int, temperature: float = 0.0, top_k: int = 40, top_p: float = 0.95,
                 repetition_penalty: float = 1.0, repetition_window: int = 64, seed: int = 0):
        self._handle = None
        self._lock = threading.Lock()
        self.vocab = _int32(vocab, "vocab")
        options = _sampling_options(temperature, top_k, top_p, repetition_penalty, repetition_window, seed)
        handle = c_void_p()
        _check(_native.lib().eq_sampler_create(self.vocab, byref(options), byref(handle)))
        self._handle = handle.value

    def next(self, logits, history=()) -> int:
        """eq_sampler_next: the next token after ``logits`` (float32 [vocab]) given the ids so far (``history``)."""
        x = np.ascontiguousarray(logits, dtype=np.float32)
        if x.ndim != 1:
            raise EdgeQuantError(Status.INVALID_ARGUMENT, f"logits must be 1-D, got shape {x.shape}")
        h = _ids_array(history, "history")
        return self._next(x, h, h.size)

    def _next(self, x: np.ndarray, h: np.ndarray, n: int) -> int:
        token = ctypes.c_int32()
        with self._lock:
            _check(_native.lib().eq_sampler_next(self._live_handle(), x.ctypes.data if x.size else None, x.size,
                                                 h.ctypes.data if n else None, n, byref(token)))
        return token.value

    def close(self) -> None:
        """eq_sampler_destroy. Idempotent."""
        with self._lock:
            if self._handle is None:
                return
            _check(_native.lib().eq_sampler_destroy(self._handle))
            self._handle = None

    def __repr__(self) -> str:
        return f"<edgequant.Sampler {'closed' if self._handle is None else 'open'} vocab {self.vocab}>"


class DecoderModel(_NativeHandle):
    """A decoder language model (.eqm of architecture "decoder"): ``DecoderModel(path)``.

    ``info``: model_type, precision, quantized, weight_bits, vocab_size, context_trained, layers, hidden, heads,
    kv_heads, head_dim, mlp_dim, bos_id (-1: none), eos_ids. Immutable and shareable between threads; ``close()``
    closes its open sessions first and is idempotent.
    """

    _kind = "decoder model"
    _destroy = "eq_decoder_destroy"

    def __init__(self, path: str | os.PathLike):
        self._handle = None
        self._lock = threading.RLock()
        self._sessions: weakref.WeakSet[DecoderSession] = weakref.WeakSet()
        self.path = os.fspath(path)
        lib = _native.lib()
        handle = c_void_p()
        _check(lib.eq_decoder_load(os.fsencode(self.path), byref(handle)))
        self._handle = handle.value
        try:
            info = _native.DecoderInfo()
            info.size = ctypes.sizeof(_native.DecoderInfo)
            _check(lib.eq_decoder_get_info(self._handle, byref(info)))
            self.info = {
                "model_type": info.model_type.decode(),
                "precision": info.precision.decode(),
                "quantized": info.weight_bits != 32,
                "weight_bits": int(info.weight_bits),
                "vocab_size": int(info.vocab_size),
                "context_trained": int(info.context_trained),
                "layers": int(info.layers),
                "hidden": int(info.hidden),
                "heads": int(info.heads),
                "kv_heads": int(info.kv_heads),
                "head_dim": int(info.head_dim),
                "mlp_dim": int(info.mlp_dim),
                "bos_id": int(info.bos_id),
                "eos_ids": tuple(int(info.eos_ids[i]) for i in range(info.eos_count)),
            }
        except BaseException:
            lib.eq_decoder_destroy(self._handle)
            self._handle = None
            raise

    @property
    def vocab_size(self) -> int:
        return self.info["vocab_size"]

    @property
    def eos_ids(self) -> tuple[int, ...]:
        return self.info["eos_ids"]

    @property
    def bos_id(self) -> int:
        return self.info["bos_id"]

    def session(self, threads: int = 1, context: int = 0) -> "DecoderSession":
        """A new session (one per calling thread) with its own key/value cache of ``context`` tokens (0 = the trained
        context, at most 2048); ``threads`` = the session's own worker threads."""
        return DecoderSession(self, threads, context)

    def close(self) -> None:
        """Closes the model's open sessions, then destroys the model. Idempotent."""
        with self._lock:
            if self._handle is None:
                return
            for s in list(self._sessions):
                s.close()
            _check(_native.lib().eq_decoder_destroy(self._handle))
            self._handle = None

    def __repr__(self) -> str:
        if self._handle is None:
            return "<edgequant.DecoderModel closed>"
        i = self.info
        return (f"<edgequant.DecoderModel {i['model_type']} {i['precision']} ({i['weight_bits']}-bit weights) "
                f"{i['layers']} layers, hidden {i['hidden']}, vocabulary {i['vocab_size']}>")


class DecoderSession(_NativeHandle):
    """A decoder session: ``model.session(threads=1, context=0)``. Holds the key/value cache: ``feed`` appends ids and
    returns the logits after the last one, ``generate`` streams new ids, ``reset`` starts a new conversation. Use it
    from one thread at a time (calls are serialized)."""

    _kind = "decoder session"
    _destroy = "eq_decoder_session_destroy"

    def __init__(self, model: DecoderModel, threads: int = 1, context: int = 0):
        self.model = model
        self._lock = threading.Lock()
        self._handle = None
        handle = c_void_p()
        with model._lock:
            _check(_native.lib().eq_decoder_session_create(model._live_handle(), _int32(threads, "threads"),
                                                           _int32(context, "context"), byref(handle)))
            self._handle = handle.value
            model._sessions.add(self)
        self._vocab = model.vocab_size
        pos, ctx = self._position()
        self.context_length = ctx
        self._history = np.zeros(ctx, dtype=np.int32)  # the ids in the cache (the repetition penalty's history)
        self._logits = np.zeros(self._vocab, dtype=np.float32)
        self._fresh = False  # _logits hold a feed's output not yet sampled by generate

    def _position(self) -> tuple[int, int]:
        pos, ctx = ctypes.c_int32(), ctypes.c_int32()
        _check(_native.lib().eq_decoder_position(self._live_handle(), byref(pos), byref(ctx)))
        return pos.value, ctx.value

    @property
    def position(self) -> int:
        """Tokens in the cache (the position of the next token fed)."""
        with self._lock:
            return self._position()[0]

    def _feed(self, ids: np.ndarray) -> None:
        """eq_decoder_feed of int32 ids into self._logits; the history follows the cache."""
        with self._lock:
            start = self._position()[0]
            _check(_native.lib().eq_decoder_feed(self._live_handle(), ids.ctypes.data if ids.size else None, ids.size,
                                                 self._logits.ctypes.data, self._logits.size))
            self._history[start:start + ids.size] = ids
            self._fresh = True

    def feed(self, ids) -> np.ndarray:
        """eq_decoder_feed: appends ``ids`` (an int or a sequence) to the cache -> logits float32 [vocab] after the last."""
        self._feed(_ids_array(ids))
        return self._logits.copy()

    def reset(self) -> None:
        """eq_decoder_reset: empties the cache."""
        with self._lock:
            _check(_native.lib().eq_decoder_reset(self._live_handle()))
            self._fresh = False

    def generate(self, prompt_ids, max_tokens: int = 64, temperature: float = 0.0, top_k: int = 40, top_p: float = 0.95,
                 repetition_penalty: float = 1.0, seed: int = 0, stop_ids=(), repetition_window: int = 64):
        """Feeds ``prompt_ids`` after what the cache holds (``reset()`` first for a new conversation; an empty prompt
        continues from the last ``feed``), then yields up to ``max_tokens`` ids, each sampled from the current logits
        (history: every id in the cache) and fed before the next is sampled. Stops after an EOS id of the model or one
        of ``stop_ids`` (which is yielded). The last yielded id is not fed: pass it as the next prompt to continue.

        Options and the context are checked here, before anything is fed (``EdgeQuantError``); generation runs as the
        generator is consumed (step-wise eq_decoder_feed + eq_sampler_next), so it may be abandoned at any token."""
        sampler = Sampler(self._vocab, temperature, top_k, top_p, repetition_penalty, repetition_window, seed)
        try:
            prompt = _ids_array(prompt_ids, "prompt_ids")
            stops = frozenset(int(i) for i in _ids_array(stop_ids, "stop_ids")) | frozenset(self.model.eos_ids)
            max_tokens = _int32(max_tokens, "max_tokens", 1)
            self._check_start(prompt, max_tokens)
        except BaseException:
            sampler.close()
            raise
        return self._generate(sampler, prompt, max_tokens, stops)

    def _check_start(self, prompt: np.ndarray, max_tokens: int) -> None:
        """eq_decoder_generate's preconditions: something to sample from, and the whole run fits the context."""
        pos = self.position
        if prompt.size == 0 and not self._fresh:
            raise EdgeQuantError(Status.INVALID_ARGUMENT, "the session is empty: give a prompt" if pos == 0 else
                                 "no feed since the last generation, whose last token is not in the cache: give it as the prompt")
        if pos + prompt.size + max_tokens - 1 > self.context_length:
            raise EdgeQuantError(Status.INVALID_ARGUMENT,
                                 f"context full: {pos} tokens in the cache + {prompt.size} prompt + {max_tokens} max_tokens - 1 "
                                 f"exceed the context length {self.context_length} (reset(), or a longer context)")

    def _generate(self, sampler: Sampler, prompt: np.ndarray, max_tokens: int, stops: frozenset):
        token = np.zeros(1, dtype=np.int32)
        with sampler:
            if prompt.size:
                self._feed(prompt)
            self._fresh = False
            for generated in range(1, max_tokens + 1):
                t = sampler._next(self._logits, self._history, self._position()[0])
                yield t
                if t in stops or generated == max_tokens:
                    return
                token[0] = t
                self._feed(token)
                self._fresh = False

    def generate_all(self, prompt_ids, max_tokens: int = 64, temperature: float = 0.0, top_k: int = 40,
                     top_p: float = 0.95, repetition_penalty: float = 1.0, seed: int = 0, stop_ids=(),
                     repetition_window: int = 64, on_token=None) -> list[int]:
        """eq_decoder_generate: the same tokens as ``list(generate(...))`` in one library call. ``on_token(id)`` (optional)
        is called with every token as it is made; returning True stops the generation."""
        sampler = Sampler(self._vocab, temperature, top_k, top_p, repetition_penalty, repetition_window, seed)
        with sampler:
            prompt = _ids_array(prompt_ids, "prompt_ids")
            stops = _ids_array(stop_ids, "stop_ids")
            max_tokens = _int32(max_tokens, "max_tokens", 1)
            self._check_start(prompt, max_tokens)
            tokens: list[int] = []
            raised: list[BaseException] = []

            def callback(token, _user):
                tokens.append(token)
                if on_token is None:
                    return 0
                try:
                    return 1 if on_token(token) else 0
                except BaseException as e:  # never let an exception unwind through the library
                    raised.append(e)
                    return 1

            cb = _native.TOKEN_CALLBACK(callback)
            n = ctypes.c_int32()
            with self._lock:
                start = self._position()[0]
                status = _native.lib().eq_decoder_generate(
                    self._live_handle(), sampler._live_handle(), prompt.ctypes.data if prompt.size else None, prompt.size,
                    max_tokens, stops.ctypes.data if stops.size else None, stops.size, cb, None, byref(n))
                # Mirror what reached the cache (the prompt, then every token but the last) in the history.
                fed = np.concatenate([prompt, np.asarray(tokens[:-1], dtype=np.int32)])[: self._position()[0] - start]
                self._history[start:start + fed.size] = fed
                if status == _native.OK or tokens:
                    self._fresh = False
            if raised:
                raise raised[0]
            _check(status)
            return tokens

    def close(self) -> None:
        """eq_decoder_session_destroy. Idempotent."""
        with self._lock:
            if self._handle is None:
                return
            _check(_native.lib().eq_decoder_session_destroy(self._handle))
            self._handle = None
        self.model._sessions.discard(self)

    def __repr__(self) -> str:
        if self._handle is None:
            return "<edgequant.DecoderSession closed>"
        return f"<edgequant.DecoderSession {self.position}/{self.context_length} tokens of {self.model!r}>"
