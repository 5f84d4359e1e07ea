"""ctypes bindings of the EdgeQuant C ABI (include/edgequant.h, ABI version 3).

The library is located, in order, at:
  1. ``$EDGEQUANT_LIB`` (the .so itself or the folder holding ``libedgequant.so``),
  2. next to this package (``edgequant/libedgequant.so``) or two levels up (the ``./build.sh publish`` layout
     ``artifacts/<target>/{libedgequant.so, python/edgequant/}``),
  3. the repository's ``artifacts/linux-<arch>/libedgequant.so`` (``linux-x64`` or ``linux-arm64``),
  4. the dynamic loader's search path (``ctypes.util.find_library("edgequant")``).

It is loaded on first use (:func:`lib`), so ``import edgequant`` works without it.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import platform
import threading
from ctypes import CFUNCTYPE, POINTER, Structure, c_char_p, c_float, c_int32, c_size_t, c_uint64, c_void_p

ABI_VERSION = 3
LIBRARY_NAME = "libedgequant.so"

# eq_status
OK = 0
ERR_INVALID_ARGUMENT = -1
ERR_INVALID_HANDLE = -2
ERR_IO = -3
ERR_FORMAT = -4
ERR_BUFFER_TOO_SMALL = -5
ERR_INTERNAL = -99


class ModelInfo(Structure):
    """Mirror of ``eq_model_info``."""

    _fields_ = [
        ("size", c_size_t),
        ("architecture", c_char_p),
        ("precision", c_char_p),
        ("input_name", c_char_p),
        ("output_name", c_char_p),
        ("channels", c_int32),
        ("height", c_int32),
        ("width", c_int32),
        ("num_classes", c_int32),
        ("quantized", c_int32),
        ("pixel_scale", c_float),
        ("mean", c_float * 4),
        ("std", c_float * 4),
        ("is_text", c_int32),
        ("max_tokens", c_int32),
        ("has_tokenizer", c_int32),
        ("is_embedding", c_int32),
    ]


class SessionOptions(Structure):
    """Mirror of ``eq_session_options``."""

    _fields_ = [("size", c_size_t), ("threads", c_int32)]


class DecoderInfo(Structure):
    """Mirror of ``eq_decoder_info`` (ABI 3)."""

    _fields_ = [
        ("size", c_size_t),
        ("model_type", c_char_p),
        ("precision", c_char_p),
        ("vocab_size", c_int32),
        ("context_trained", c_int32),
        ("layers", c_int32),
        ("hidden", c_int32),
        ("heads", c_int32),
        ("kv_heads", c_int32),
        ("head_dim", c_int32),
        ("mlp_dim", c_int32),
        ("weight_bits", c_int32),
        ("bos_id", c_int32),
        ("eos_count", c_int32),
        ("eos_ids", POINTER(c_int32)),
    ]


class SamplingOptions(Structure):
    """Mirror of ``eq_sampling_options`` (ABI 3)."""

    _fields_ = [
        ("size", c_size_t),
        ("temperature", c_float),
        ("top_k", c_int32),
        ("top_p", c_float),
        ("repetition_penalty", c_float),
        ("repetition_window", c_int32),
        ("seed", c_uint64),
    ]


# eq_token_callback: int32_t (*)(int32_t token, void* user)
TOKEN_CALLBACK = CFUNCTYPE(c_int32, c_int32, c_void_p)


_ARCH_DIRS = {"x86_64": "linux-x64", "amd64": "linux-x64", "aarch64": "linux-arm64", "arm64": "linux-arm64"}


def candidate_paths() -> list[str]:
    """Where the library is looked for, in order (the first existing one is used)."""
    env = os.environ.get("EDGEQUANT_LIB")
    if env:
        # An explicit setting is never silently replaced by another library.
        return [os.path.join(env, LIBRARY_NAME) if os.path.isdir(env) else env]
    here = os.path.dirname(os.path.abspath(__file__))
    # next to the package, then the published layout artifacts/<target>/{libedgequant.so, python/edgequant/}
    paths = [os.path.join(here, LIBRARY_NAME), os.path.normpath(os.path.join(here, "..", "..", LIBRARY_NAME))]
    repo = os.path.normpath(os.path.join(here, "..", "..", ".."))
    arch = _ARCH_DIRS.get(platform.machine().lower())
    if arch:
        paths.append(os.path.join(repo, "artifacts", arch, LIBRARY_NAME))
    return paths


_lib = None
_lib_lock = threading.Lock()


def _declare(cdll: ctypes.CDLL) -> ctypes.CDLL:
    p_model = POINTER(c_void_p)  # eq_model** / eq_session**: handles are opaque pointers
    signatures = {
        "eq_abi_version": (c_int32, []),
        "eq_version": (c_char_p, []),
        "eq_last_error": (c_char_p, []),
        "eq_model_load": (c_int32, [c_char_p, p_model]),
        "eq_model_load_memory": (c_int32, [c_void_p, c_size_t, p_model]),
        "eq_model_destroy": (c_int32, [c_void_p]),
        "eq_model_get_info": (c_int32, [c_void_p, POINTER(ModelInfo)]),
        "eq_model_get_label": (c_int32, [c_void_p, c_int32, POINTER(c_char_p)]),
        "eq_session_default_options": (None, [POINTER(SessionOptions)]),
        "eq_session_create": (c_int32, [c_void_p, POINTER(SessionOptions), p_model]),
        "eq_session_destroy": (c_int32, [c_void_p]),
        "eq_session_run_f32": (c_int32, [c_void_p, c_void_p, c_size_t, c_void_p, c_size_t]),
        "eq_session_run_u8": (c_int32, [c_void_p, c_void_p, c_int32, c_int32, c_int32, c_void_p, c_size_t]),
        "eq_session_run_tokens": (c_int32, [c_void_p, c_void_p, c_void_p, c_void_p, c_int32, c_int32, c_void_p, c_size_t]),
        "eq_session_run_text": (c_int32, [c_void_p, c_char_p, c_void_p, c_size_t, c_void_p]),
        "eq_session_tokenize": (c_int32, [c_void_p, c_char_p, c_void_p, c_size_t, c_void_p]),
        "eq_topk": (c_int32, [c_void_p, c_size_t, c_int32, c_void_p, c_void_p]),
        "eq_decoder_load": (c_int32, [c_char_p, p_model]),
        "eq_decoder_destroy": (c_int32, [c_void_p]),
        "eq_decoder_get_info": (c_int32, [c_void_p, POINTER(DecoderInfo)]),
        "eq_decoder_session_create": (c_int32, [c_void_p, c_int32, c_int32, p_model]),
        "eq_decoder_session_destroy": (c_int32, [c_void_p]),
        "eq_decoder_feed": (c_int32, [c_void_p, c_void_p, c_size_t, c_void_p, c_size_t]),
        "eq_decoder_reset": (c_int32, [c_void_p]),
        "eq_decoder_position": (c_int32, [c_void_p, POINTER(c_int32), POINTER(c_int32)]),
        "eq_sampling_default_options": (None, [POINTER(SamplingOptions)]),
        "eq_sampler_create": (c_int32, [c_int32, POINTER(SamplingOptions), p_model]),
        "eq_sampler_destroy": (c_int32, [c_void_p]),
        "eq_sampler_next": (c_int32, [c_void_p, c_void_p, c_size_t, c_void_p, c_size_t, POINTER(c_int32)]),
        "eq_decoder_generate": (c_int32, [c_void_p, c_void_p, c_void_p, c_size_t, c_int32, c_void_p, c_size_t,
                                          TOKEN_CALLBACK, c_void_p, POINTER(c_int32)]),
    }
    for name, (restype, argtypes) in signatures.items():
        fn = getattr(cdll, name)
        fn.restype = restype
        fn.argtypes = argtypes
    return cdll


def lib() -> ctypes.CDLL:
    """The loaded library with its function signatures declared (loaded once, thread-safe)."""
    global _lib
    if _lib is not None:
        return _lib
    with _lib_lock:
        if _lib is None:
            tried = candidate_paths()
            path = next((p for p in tried if os.path.isfile(p)), None)
            if path is None and not os.environ.get("EDGEQUANT_LIB"):
                path = ctypes.util.find_library("edgequant")
                tried.append("find_library('edgequant')")
            if path is None:
                raise OSError(f"{LIBRARY_NAME} not found (tried: {', '.join(tried)}); set EDGEQUANT_LIB to its path")
            cdll = ctypes.CDLL(path)
            # The version first: an older library lacks the newer functions _declare looks up.
            cdll.eq_abi_version.restype = c_int32
            cdll.eq_abi_version.argtypes = []
            abi = cdll.eq_abi_version()
            if abi != ABI_VERSION:
                raise OSError(f"{path}: library ABI version {abi}, these bindings need {ABI_VERSION}")
            _declare(cdll)
            cdll._edgequant_path = path
            _lib = cdll
    return _lib


def library_path() -> str:
    """Path of the loaded library."""
    return lib()._edgequant_path


def last_error() -> str:
    """eq_last_error() of the calling thread."""
    msg = lib().eq_last_error()
    return msg.decode("utf-8", "replace") if msg else ""
