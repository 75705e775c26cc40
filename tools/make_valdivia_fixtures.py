"""Reference outputs of the authors' TensorFlow models (Valdivia Ortega, Haas, Effland 2024) for the tests.

Run once, in a throw-away environment that has TensorFlow (not a dependency of this project)::

    python -m venv /tmp/tf && /tmp/tf/bin/pip install "tensorflow-cpu==2.12.1" "numpy<2" pillow
    /tmp/tf/bin/python tools/make_valdivia_fixtures.py --authors /path/to/JoelVO/anisotropic_diffusion \\
        --data ../shared/data --out tests/fixtures/valdivia2024_reference.npz

It builds each of the 18 published models with the authors' own code (their ``architectures.py``, from a
checkout of their repository at a3b279a; nothing of it is copied here), loads the checkpoint from the data
folder, and runs it on two 32x32 grey crops of BSDS500 val with Gaussian noise of the model's sigma (0-255
scale, unclipped, NumPy seed 0). The file keeps, per model, only the noisy inputs, the restored outputs
(float32 arrays) and TensorFlow's SSIM and PSNR of each output (about 280 KB in all): ``tests/test_valdivia2024.py`` runs the torch models of
``pdedenoise.papers.valdivia2024`` on the same inputs and compares.
"""
from __future__ import annotations

import argparse
import csv
import sys
from pathlib import Path

import numpy as np

CROP = 32
SIGMAS = (15, 25, 50)


def crops(data: Path) -> np.ndarray:
    """Two CROP x CROP grey crops (0-255) from the centres of the first two BSDS500 val images."""
    from PIL import Image

    files = sorted((data / "BSDS500" / "val").glob("*.jpg"))[:2]
    out = []
    for f in files:
        rgb = np.asarray(Image.open(f).convert("RGB"), dtype=np.float64)
        grey = rgb @ np.array([0.299, 0.587, 0.114])
        h, w = grey.shape
        out.append(grey[h // 2 - CROP // 2:h // 2 + CROP // 2, w // 2 - CROP // 2:w // 2 + CROP // 2])
    return np.stack(out).astype(np.float32)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--authors", type=Path, required=True, help="checkout of JoelVO/anisotropic_diffusion")
    ap.add_argument("--data", type=Path, required=True, help="the data folder (with learned_diffusivities_ckpt)")
    ap.add_argument("--out", type=Path, required=True)
    args = ap.parse_args(argv)
    sys.path.insert(0, str(args.authors))
    import tensorflow as tf
    from architectures import get_nn  # the authors' code, from their checkout

    ckpt = args.data / "learned_diffusivities_ckpt"
    with open(ckpt / "architecture_description.csv", newline="") as fh:
        rows = list(csv.DictReader(fh))
    clean = crops(args.data)
    rng = np.random.default_rng(0)
    out = {"clean": clean}
    models = [("KAutomation", "base", s, 2, 0, f"{s}_2") for s in SIGMAS] + [
        (r["architecture"], r["function_type"], int(r["variance"]), int(r["first_parameter"]),
         int(r["second_parameter"]),
         f"{r['architecture']}_{r['function_type']}_{r['variance']}_{r['first_parameter']}_{r['second_parameter']}")
        for r in rows]
    for arch, ftype, sigma, first, second, name in models:
        noisy = (clean + sigma * rng.standard_normal(clean.shape)).astype(np.float32)[..., None]
        model = get_nn(arch, crop=CROP, first=first, second=second, function_type=ftype)
        model(tf.constant(noisy))  # build the variables
        model.load_weights(str(ckpt / "checkpoints" / name)).expect_partial()
        restored = model(tf.constant(noisy)).numpy()[..., 0]
        out[f"{name}/noisy"] = noisy[..., 0]
        out[f"{name}/restored"] = restored.astype(np.float32)
        # TensorFlow's own metrics on the unclipped output, peak 255 (the authors' evaluation convention)
        ref = tf.constant(clean[..., None])
        out[f"{name}/tf_ssim"] = tf.image.ssim(tf.constant(restored[..., None]), ref, max_val=255.0).numpy().astype(np.float64)
        out[f"{name}/tf_psnr"] = tf.image.psnr(tf.constant(restored[..., None]), ref, max_val=255.0).numpy().astype(np.float64)
        print(f"{name}: input {np.abs(noisy[..., 0] - clean).mean():.2f}, output {np.abs(restored - clean).mean():.2f}"
              " mean abs error (grey levels)", flush=True)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(args.out, **out)
    print(f"wrote {len(models)} models to {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
