#!/usr/bin/env python3
"""Builds the Python wheel of one published target: the ctypes package (src/python/edgequant) with the target's
native library inside it, tagged for the CPU architecture and the glibc the library needs.

    tools/packaging/make_wheel.py artifacts/linux-x64      -> artifacts/linux-x64/edgequant-<version>-py3-none-manylinux_2_<n>_x86_64.whl

The manylinux tag comes from the library itself: the newest GLIBC_2.x symbol version it references (pip installs the
wheel on any system whose glibc is at least that). Standard library only: no setuptools or wheel package needed.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import os
import re
import sys
import zipfile

ARCH = {62: "x86_64", 183: "aarch64"}  # ELF e_machine


def elf_arch_and_glibc(lib: bytes) -> tuple[str, tuple[int, int]]:
    if lib[:4] != b"\x7fELF" or lib[4] != 2 or lib[5] != 1:
        raise SystemExit("the library is not a little-endian 64-bit ELF file")
    machine = int.from_bytes(lib[18:20], "little")
    if machine not in ARCH:
        raise SystemExit(f"unknown ELF machine {machine}")
    versions = {(int(a), int(b)) for a, b in re.findall(rb"GLIBC_(\d+)\.(\d+)", lib)}
    return ARCH[machine], max(versions, default=(2, 17))


def version_of(repo: str) -> str:
    props = open(os.path.join(repo, "Directory.Build.props"), encoding="utf-8").read()
    m = re.search(r"<Version>([^<]+)</Version>", props)
    if not m:
        raise SystemExit("no <Version> in Directory.Build.props")
    return m.group(1)


def record_line(name: str, data: bytes) -> str:
    digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
    return f"{name},sha256={digest},{len(data)}"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("target_dir", help="a published target folder (artifacts/<target>) holding libedgequant.so")
    args = ap.parse_args()
    repo = os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))
    lib_path = os.path.join(args.target_dir, "libedgequant.so")
    if not os.path.isfile(lib_path):
        raise SystemExit(f"{lib_path} not found: run ./build.sh publish <target> first")
    lib = open(lib_path, "rb").read()
    arch, (major, minor) = elf_arch_and_glibc(lib)
    version = version_of(repo)
    tag = f"py3-none-manylinux_{major}_{minor}_{arch}"
    dist = f"edgequant-{version}.dist-info"
    pkg = os.path.join(repo, "src", "python", "edgequant")
    files: list[tuple[str, bytes]] = []
    for name in sorted(os.listdir(pkg)):
        if name.endswith(".py"):
            files.append((f"edgequant/{name}", open(os.path.join(pkg, name), "rb").read()))
    files.append(("edgequant/libedgequant.so", lib))
    readme = open(os.path.join(repo, "src", "python", "README.md"), encoding="utf-8").read()
    metadata = (
        "Metadata-Version: 2.1\n"
        "Name: edgequant\n"
        f"Version: {version}\n"
        "Summary: Quantized transformer inference on edge devices (ctypes bindings over libedgequant)\n"
        "Requires-Python: >=3.9\n"
        "Requires-Dist: numpy\n"
        "Description-Content-Type: text/markdown\n\n" + readme
    ).encode()
    wheel = f"Wheel-Version: 1.0\nGenerator: edgequant make_wheel.py\nRoot-Is-Purelib: false\nTag: {tag}\n".encode()
    files += [(f"{dist}/METADATA", metadata), (f"{dist}/WHEEL", wheel)]
    record = "\n".join(record_line(n, d) for n, d in files) + f"\n{dist}/RECORD,,\n"
    out = os.path.join(args.target_dir, f"edgequant-{version}-{tag}.whl")
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as z:
        for name, data in files:
            info = zipfile.ZipInfo(name, date_time=(2020, 1, 1, 0, 0, 0))  # fixed: the same inputs give the same wheel
            info.external_attr = (0o755 if name.endswith(".so") else 0o644) << 16
            info.compress_type = zipfile.ZIP_DEFLATED
            z.writestr(info, data)
        info = zipfile.ZipInfo(f"{dist}/RECORD", date_time=(2020, 1, 1, 0, 0, 0))
        info.external_attr = 0o644 << 16
        z.writestr(info, record)
    print(f"{out} ({os.path.getsize(out)} bytes, {tag})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
