"""Command line: python3 -m edgequant {info,classify,version} ...

  info MODEL.eqm                          model description (key: value lines)
  classify MODEL.eqm IMAGE [--top K]      top-K labels of a binary PGM/PPM image ("<label> p=<prob> logit=<logit>")
           [--logits] [--f32]             every logit with %.9g, one per line / preprocess here and use run()
  version                                 library version, ABI and path
"""

from __future__ import annotations

import argparse
import sys

import numpy as np

from . import EdgeQuantError, Model, abi_version, read_pnm, version, _native


def _preprocess(pixels: np.ndarray, info: dict) -> np.ndarray:
    """The model's preprocessing in float32, as the engine does it: (p * scale - mean[c]) * (1 / std[c]) -> [C, H, W]."""
    hwc = pixels.reshape(pixels.shape[0], pixels.shape[1], -1)
    chw = np.transpose(hwc, (2, 0, 1)).astype(np.float32)
    out = np.empty(chw.shape, dtype=np.float32)
    scale = np.float32(info["pixel_scale"])
    for c in range(chw.shape[0]):
        mean = np.float32(info["mean"][c]) if c < len(info["mean"]) else np.float32(0)
        inv_std = np.float32(1) / (np.float32(info["std"][c]) if c < len(info["std"]) else np.float32(1))
        out[c] = (chw[c] * scale - mean) * inv_std
    return out


def cmd_info(args) -> int:
    with Model(args.model) as m:
        i = m.info
        print(f"architecture  {i['architecture']}")
        print(f"precision     {i['precision']} (quantized: {'yes' if i['quantized'] else 'no'})")
        if i["is_text"]:
            print(f"input         token ids int32 [batch, <= {i['max_tokens']}] (tokenizer: {'WordPiece' if i['has_tokenizer'] else 'none, pass ids'})")
            print(f"output        {'embedding' if i['is_embedding'] else 'logits'} float32 [batch, {i['num_classes']}]")
            if not i["is_embedding"]:
                print(f"labels        {', '.join(i['labels'])}")
            return 0
        print(f"input         {i['input_name']} float32 [batch, {', '.join(str(d) for d in i['input_shape'])}]")
        print(f"output        {i['output_name']} float32 [batch, {i['num_classes']}]")
        print(f"classes       {i['num_classes']}")
        print(f"labels        {', '.join(i['labels'])}")
        print(f"pixel_scale   {i['pixel_scale']:.9g}")
        print(f"mean          {', '.join(f'{v:.9g}' for v in i['mean'])}")
        print(f"std           {', '.join(f'{v:.9g}' for v in i['std'])}")
    return 0


def cmd_classify(args) -> int:
    try:
        pixels = read_pnm(args.image)
    except (OSError, ValueError) as e:
        print(f"edgequant: error: {e}", file=sys.stderr)
        return 1
    with Model(args.model) as m, m.session() as s:
        if args.f32:
            if pixels.shape[:2] != m.input_shape[1:] or (pixels.shape[2] if pixels.ndim == 3 else 1) != m.input_shape[0]:
                s.run_pixels(pixels)  # raises the library's size error
            logits = s.run(_preprocess(pixels, m.info))
        else:
            logits = s.run_pixels(pixels)
        if args.logits:
            for v in logits:
                print("%.9g" % float(v))
        else:
            for p in s.topk(logits, min(args.top, m.num_classes)):
                print(f"{p.label:<16} p={p.probability:.4f}  logit={p.logit:.4f}")
    return 0


def cmd_text(args) -> int:
    with Model(args.model) as m, m.session() as s:
        if not m.info["is_text"]:
            print("edgequant: error: this is an image model; use classify", file=sys.stderr)
            return 1
        for text in args.texts:
            print(f"tokens        {' '.join(str(int(i)) for i in s.tokenize(text))}")
            if m.info["is_embedding"]:
                e = s.embed(text, normalize=not args.no_normalize)
                print(f"embedding     [{e.size}] {' '.join(f'{v:.4f}' for v in e[:8])} ...")
            else:
                for p in s.topk(s.run_text(text), min(args.top, m.num_classes)):
                    print(f"{p.label:<16} p={p.probability:.4f}  logit={p.logit:.4f}")
    return 0


def cmd_version(_args) -> int:
    print(f"{version()}, ABI {abi_version()}, {_native.library_path()}")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python3 -m edgequant", description="EdgeQuant INT8 ViT and BERT-family inference (C ABI bindings)")
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("info", help="describe a model")
    p.add_argument("model")
    p.set_defaults(fn=cmd_info)
    p = sub.add_parser("classify", help="classify a binary PGM/PPM image")
    p.add_argument("model")
    p.add_argument("image")
    p.add_argument("--top", type=int, default=5, help="number of labels (default 5)")
    p.add_argument("--logits", action="store_true", help="print every logit with %%.9g, one per line")
    p.add_argument("--f32", action="store_true", help="preprocess in Python and call run() instead of run_pixels()")
    p.set_defaults(fn=cmd_classify)
    for name, what in (("text", "classify texts with a text model"), ("embed", "sentence embeddings of texts")):
        p = sub.add_parser(name, help=what)
        p.add_argument("model")
        p.add_argument("texts", nargs="+")
        p.add_argument("--top", type=int, default=5, help="number of labels (default 5)")
        p.add_argument("--no-normalize", action="store_true", help="embed: do not L2-normalize")
        p.set_defaults(fn=cmd_text)
    p = sub.add_parser("version", help="library version")
    p.set_defaults(fn=cmd_version)
    args = parser.parse_args(argv)
    if getattr(args, "top", 1) < 1:
        parser.error("--top must be at least 1")
    try:
        return args.fn(args)
    except EdgeQuantError as e:
        print(f"edgequant: error: {e}", file=sys.stderr)
        return 1
    except OSError as e:
        print(f"edgequant: error: {e}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
