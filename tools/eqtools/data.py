"""Data-set readers shared by the recipes."""

import gzip

import numpy as np


def read_idx(path):
    """An IDX file (the MNIST format; gzip'ed or not) of unsigned bytes as a numpy array of its dims."""
    with open(path, "rb") as f:
        data = f.read()
    if data[:2] == b"\x1f\x8b":
        data = gzip.decompress(data)
    magic = int.from_bytes(data[0:4], "big")
    dtype_code, ndim = (magic >> 8) & 0xFF, magic & 0xFF
    if dtype_code != 0x08:
        raise ValueError(f"{path}: unsupported IDX dtype 0x{dtype_code:02x} (only unsigned bytes)")
    dims = [int.from_bytes(data[4 + 4 * i: 8 + 4 * i], "big") for i in range(ndim)]
    return np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * ndim).reshape(dims)


def read_tsv(path):
    """`sentence<TAB>label` lines (SST-2); a first line `sentence<TAB>label` is a header and skipped."""
    rows = []
    with open(path, "r", encoding="utf-8") as f:
        for i, line in enumerate(f):
            line = line.rstrip("\n").rstrip("\r")
            if not line:
                continue
            sent, lab = line.rsplit("\t", 1)
            if i == 0 and lab.strip() == "label":
                continue
            rows.append((sent, int(lab)))
    return rows
