"""Command line: ``pdedenoise denoise IN OUT`` and ``pdedenoise notebooks``."""
from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path


def _denoise(args: argparse.Namespace) -> int:
    import numpy as np
    import torch
    from PIL import Image

    from . import data, diffusion

    try:
        img = data.to_tensor(data.read_image(Path(args.input)), grey=not args.colour)
    except data.DataError as exc:
        print(f"pdedenoise: {exc}", file=sys.stderr)
        return 2
    if args.method == "heat":
        out = diffusion.heat(img, rho=args.rho, T=args.T, dt=args.dt, bc=args.bc, substeps=True)
    else:
        out = diffusion.perona_malik(img, K=args.K, dt=min(args.dt, 0.25), steps=args.steps, bc=args.bc)
    arr = out[0].clamp(0, 255).round().to(torch.uint8).permute(1, 2, 0).squeeze(-1).numpy()
    out = Path(args.output)
    tmp = out.with_name(f".{out.stem}.partial{out.suffix}")  # same suffix: PIL picks the format from it
    try:
        Image.fromarray(np.ascontiguousarray(arr)).save(tmp)
        os.replace(tmp, out)
    finally:
        tmp.unlink(missing_ok=True)
    print(f"wrote {out}")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="pdedenoise")
    sub = parser.add_subparsers(dest="command", required=True)
    d = sub.add_parser("denoise", help="denoise an 8-bit image file by heat or Perona-Malik diffusion")
    d.add_argument("input")
    d.add_argument("output")
    d.add_argument("--method", choices=["heat", "perona-malik"], default="perona-malik")
    d.add_argument("--rho", type=float, default=1.0, help="heat: diffusivity")
    d.add_argument("--T", type=float, default=1.0, help="heat: final time")
    d.add_argument("--dt", type=float, default=0.2)
    d.add_argument("--K", type=float, default=10.0, help="Perona-Malik contrast, 0-255 scale")
    d.add_argument("--steps", type=int, default=20)
    d.add_argument("--bc", choices=["neumann", "dirichlet"], default="neumann")
    d.add_argument("--colour", action="store_true", help="keep colour channels")
    n = sub.add_parser("notebooks", help="execute the notebooks with papermill (see python -m pdedenoise.notebooks -h)")
    n.add_argument("rest", nargs=argparse.REMAINDER)
    args = parser.parse_args(argv)
    from .threads import configure

    configure()
    if args.command == "denoise":
        return _denoise(args)
    from .notebooks import main as nb_main

    return nb_main(args.rest)


if __name__ == "__main__":
    sys.exit(main())
