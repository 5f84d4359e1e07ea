#!/usr/bin/python3
"""Minimal safetensors writer/reader (F32, F16, BF16) with no dependency on the `safetensors` package.

File layout (https://github.com/huggingface/safetensors):
    8 bytes   little-endian uint64 N = length of the JSON header in bytes
    N bytes   UTF-8 JSON: {"__metadata__": {"format": "pt"},
                           "<name>": {"dtype": "F32", "shape": [...], "data_offsets": [begin, end]}, ...}
              padded at the end with spaces (0x20) so that the data starts at an 8-byte
              aligned file offset (8 + N is a multiple of 8), like the reference writer does
    rest      raw little-endian tensor data, row-major (C order); offsets are relative to
              the start of this block

This writer sorts the tensors by name and stores them back to back (the first begins at 0,
each next one begins where the previous one ends, the last ends at the end of the file).

    /usr/bin/python3 safetensors_io.py FILE      # list the tensors and check the layout
"""
import json
import struct
import sys

import numpy as np

_DTYPES = {"F32": np.dtype("<f4"), "F16": np.dtype("<f2"), "BF16": np.dtype("<u2")}


def _encode(a, dtype):
    """float32 array -> the stored little-endian array of `dtype` (BF16: round to nearest even)."""
    if dtype == "F32":
        return np.ascontiguousarray(a, dtype="<f4")
    if dtype == "F16":
        return np.ascontiguousarray(a.astype("<f2"))
    u = np.ascontiguousarray(a, dtype="<f4").view("<u4").astype(np.uint64)
    return ((u + 0x7FFF + ((u >> 16) & 1)) >> 16).astype("<u2")


def _decode(raw, dtype):
    if dtype == "BF16":
        return (raw.astype(np.uint32) << 16).view(np.float32)
    return raw.astype(np.float32)


def save_file(tensors, path, metadata=None, dtype="F32"):
    """tensors: dict name -> float32 array-like (numpy array or torch tensor), stored as `dtype` (F32, F16 or BF16)."""
    if dtype not in _DTYPES:
        raise ValueError(f"dtype {dtype}: use one of {sorted(_DTYPES)}")
    meta = {"format": "pt"} if metadata is None else dict(metadata)
    arrays = {}
    for name in sorted(tensors):
        if name == "__metadata__":
            raise ValueError("reserved name __metadata__")
        t = tensors[name]
        if hasattr(t, "detach"):  # torch tensor
            t = t.detach().cpu().numpy()
        a = np.asarray(t)
        if a.dtype != np.float32:
            raise TypeError(f"{name}: only float32 is supported, got {a.dtype}")
        arrays[name] = _encode(a, dtype)
    header = {"__metadata__": {str(k): str(v) for k, v in meta.items()}}
    offset = 0
    for name, a in arrays.items():
        header[name] = {"dtype": dtype, "shape": list(a.shape),
                        "data_offsets": [offset, offset + a.nbytes]}
        offset += a.nbytes
    hbytes = json.dumps(header, separators=(",", ":"), ensure_ascii=True).encode("utf-8")
    hbytes += b" " * ((-(8 + len(hbytes))) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(hbytes)))
        f.write(hbytes)
        for a in arrays.values():
            f.write(a.tobytes(order="C"))
    return path


def save_streaming(entries, path, make, metadata=None, dtype="F32"):
    """Writes a file tensor by tensor without holding them all: entries = [(name, shape)], make(name, shape) -> float32 array.

    For multi-GB checkpoints (random-weight models with real shapes): peak memory is one tensor."""
    if dtype not in _DTYPES:
        raise ValueError(f"dtype {dtype}: use one of {sorted(_DTYPES)}")
    entries = sorted(entries)
    meta = {"format": "pt"} if metadata is None else dict(metadata)
    header = {"__metadata__": {str(k): str(v) for k, v in meta.items()}}
    offset, size = 0, _DTYPES[dtype].itemsize
    for name, shape in entries:
        n = int(np.prod(shape, dtype=np.int64)) * size
        header[name] = {"dtype": dtype, "shape": list(shape), "data_offsets": [offset, offset + n]}
        offset += n
    hbytes = json.dumps(header, separators=(",", ":"), ensure_ascii=True).encode("utf-8")
    hbytes += b" " * ((-(8 + len(hbytes))) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(hbytes)))
        f.write(hbytes)
        for name, shape in entries:
            a = np.asarray(make(name, shape), dtype=np.float32)
            if a.shape != tuple(shape):
                raise ValueError(f"{name}: made {a.shape}, declared {tuple(shape)}")
            f.write(_encode(a, dtype).tobytes(order="C"))
    return path


def load_header(path):
    with open(path, "rb") as f:
        (n,) = struct.unpack("<Q", f.read(8))
        header = json.loads(f.read(n).decode("utf-8"))
    return n, header


def load_file(path, check=True):
    """Returns (dict name -> numpy float32 array (copy), metadata dict)."""
    with open(path, "rb") as f:
        buf = f.read()
    (n,) = struct.unpack("<Q", buf[:8])
    header = json.loads(buf[8:8 + n].decode("utf-8"))
    meta = header.pop("__metadata__", {})
    data = memoryview(buf)[8 + n:]
    out = {}
    spans = []
    for name, info in header.items():
        dt = _DTYPES.get(info["dtype"])
        if dt is None:
            raise TypeError(f"{name}: unsupported dtype {info['dtype']}")
        b, e = info["data_offsets"]
        shape = tuple(info["shape"])
        count = int(np.prod(shape, dtype=np.int64)) if shape else 1
        if e - b != count * dt.itemsize:
            raise ValueError(f"{name}: data_offsets {b},{e} do not match shape {shape}")
        out[name] = _decode(np.frombuffer(data[b:e], dtype=dt), info["dtype"]).reshape(shape)
        spans.append((b, e, name))
    if check:
        spans.sort()
        pos = 0
        for b, e, name in spans:
            if b != pos:
                raise ValueError(f"{name}: gap or overlap at offset {b} (expected {pos})")
            pos = e
        if pos != len(data):
            raise ValueError(f"data block is {len(data)} bytes, tensors end at {pos}")
    return out, meta


def main():
    if len(sys.argv) != 2:
        print(__doc__)
        return 2
    n, header = load_header(sys.argv[1])
    tensors, meta = load_file(sys.argv[1])
    print(f"header {n} bytes (data at offset {8 + n}), metadata {meta}")
    total = 0
    for name, a in tensors.items():
        total += a.size
        print(f"  {name:60s} {str(list(a.shape)):15s} {header[name]['data_offsets']}")
    print(f"{len(tensors)} tensors, {total} float32 values; layout OK")
    return 0


if __name__ == "__main__":
    sys.exit(main())
