"""Speed of the learned diffusion models, restoration and training, the earlier path against today's, in one run.

    python benchmarks/bench_learned.py [--repeat 3] [--threads 1]

Rows (each the best of ``--repeat`` interleaved repetitions, wall time, one thread unless told):

* **Restoration** with the authors' released chapter-3 models at sigma = 25 (their ten steps on 256² crops padded
  by 8): FoE-S on the earlier path (spline lookups through autograd: :func:`pdedenoise.kernels.reference_path`), the
  fused spline sum (eager) and its compiled kernels; KA and the U-Net diffusivity. Batch 1 and 8: images/s,
  Mpixel-steps/s and the batch's time over eight single images (the target is <= 1).
* **Training steps** (forward, MSE, backward, Adam): FoE-S on 10 crops of 128² (the authors' batch) on the three
  paths, KA and the U-Net diffusivity on the same batch, and the TNRD-style model (5 stages, 24 filters 5x5) on 4
  crops of 180² on the earlier path (table lookup through autograd, oneDNN's convolutions), today's eager path and
  compiled; from its rate, the time of one full-batch forward + backward over Chen and Pock's 400 images of 180²
  (also timed compiled on two threads, the target's two cores);
  the book's own certified model (8 stages, each applied twice) on its full-protocol batch of 16 crops of 64², on the
  three paths (earlier: its spline lookups through autograd).

The compiled rows are timed after their compilation (first calls excluded, as in a long run), and one more call of
each (and of KA and the U-Net diffusivity) is profiled to say where its time goes (convolutions, the compiled
kernels, the rest). Needs the authors'
checkpoints (``learned_diffusivities_ckpt`` in the data folder). Writes ``benchmarks/results/learned_<device>.json``.
"""
from __future__ import annotations

import argparse
import os
import time

import torch

from pdedenoise import kernels
from pdedenoise.leaderboard.certified import CertifiedModel
from pdedenoise.leaderboard.ownfull import REPEATS
from pdedenoise.papers.barbeiro2020.tnrd import TNRD
from pdedenoise.papers.valdivia2024 import analysis as A
from pdedenoise.papers.valdivia2024 import protocol as P
from pdedenoise.results import provenance, write_json_atomic
from pdedenoise.speed import COMPILED_PATH, record_path

PATHS = {"earlier (lookups, oneDNN backward)": dict(reference=True, compiled=False),
         "fused, eager": dict(reference=False, compiled=False),
         COMPILED_PATH: dict(reference=False, compiled=True)}
TNRD_BATCH = 4


def _timed(fn, path: dict) -> float:
    kernels.use_compiled(path["compiled"])
    ctx = kernels.reference_path() if path["reference"] else _nothing()
    with ctx:
        t0 = time.perf_counter()
        fn()
        return time.perf_counter() - t0


def _time_shares(fn, path: dict, grad: bool) -> dict[str, float]:
    """Where one call's time goes (torch's profiler, self CPU time): convolutions (forward and backward), the
    compiled kernels, everything else; fractions summing to 1."""
    from torch.profiler import ProfilerActivity, profile

    kernels.use_compiled(path["compiled"])
    with torch.set_grad_enabled(grad), profile(activities=[ProfilerActivity.CPU]) as prof:
        fn()
    parts = {"convolutions": 0.0, "compiled kernels": 0.0, "other": 0.0}
    for event in prof.key_averages():
        name = event.key
        part = ("compiled kernels" if "CompiledFxGraph" in name else "convolutions" if "conv" in name.lower()
                else "other")
        parts[part] += event.self_cpu_time_total
    total = sum(parts.values()) or 1.0
    return {k: v / total for k, v in parts.items()}


class _nothing:
    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False


def main(argv=None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--crop", type=int, default=P.CROP, help="restoration crop (the paper's 256)")
    ap.add_argument("--train-crop", type=int, default=128)
    ap.add_argument("--tnrd-crop", type=int, default=180)
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)
    load_before = os.getloadavg()[0]
    started = provenance("cpu")  # the commit that runs, even if the checkout moves on meanwhile
    t_start = time.perf_counter()
    released = A.released(25, ["FoE-S", "KA", "U-Net"])
    clean = P.val_crops(8, args.crop, seed=0)
    noisy = P.noisy(clean, 25, 1)
    x_train = P.noisy(P.train_crops(10, args.train_crop, 0), 25, 3)
    y_train = P.train_crops(10, args.train_crop, 0)
    g = torch.Generator().manual_seed(0)
    tnrd_clean = torch.rand(TNRD_BATCH, 1, args.tnrd_crop, args.tnrd_crop, generator=g) * 255
    tnrd_noisy = tnrd_clean + 25 * torch.randn(tnrd_clean.shape, generator=g)
    own_clean = torch.rand(16, 1, 64, 64, generator=g) * 255   # the own model's full-protocol batch (16 x 64²)
    own_noisy = own_clean + 25 * torch.randn(own_clean.shape, generator=g)

    cases = {}  # name -> (function, path, images, pixel-steps)
    for path_name, path in PATHS.items():
        foe = released["FoE-S"]
        for b in (1, 8):
            cases[("restore", f"FoE-S, {path_name}", b)] = (lambda b=b, m=foe: m(noisy[:b]), path)
    for label in ("KA", "U-Net"):
        for b in (1, 8):
            cases[("restore", label, b)] = (lambda b=b, m=released[label]: m(noisy[:b]), PATHS["fused, eager"])

    def trainer(model, x, y):
        opt = torch.optim.Adam(model.parameters(), 1e-4)

        def step():
            opt.zero_grad(set_to_none=True)
            torch.nn.functional.mse_loss(model(x), y).backward()
            opt.step()
        return step

    for path_name, path in PATHS.items():
        cases[("train", f"FoE-S, {path_name}", 10)] = (trainer(A._Unpadded(A.fresh_model("FoE-S", 25)), x_train, y_train), path)
        torch.manual_seed(0)
        cases[("train", f"TNRD-style 5x5, {path_name}", TNRD_BATCH)] = (trainer(TNRD(), tnrd_noisy, tnrd_clean), path)
        torch.manual_seed(0)
        own = CertifiedModel(repeats=REPEATS)
        cases[("train", f"own certified, {path_name}", 16)] = (trainer(own, own_noisy, own_clean), path)
    for label in ("KA", "U-Net"):
        cases[("train", label, 10)] = (trainer(A._Unpadded(A.fresh_model(label, 25)), x_train, y_train), PATHS["fused, eager"])

    best: dict = {}
    with torch.inference_mode(False):
        for key, (fn, path) in cases.items():  # warm-up (and compilation) outside the timing
            grad = key[0] == "train"
            with torch.set_grad_enabled(grad):
                _timed(fn, path)
        for _ in range(args.repeat):
            for key, (fn, path) in cases.items():
                with torch.set_grad_enabled(key[0] == "train"):
                    best[key] = min(best.get(key, float("inf")), _timed(fn, path))
    shares = {key: _time_shares(fn, path, key[0] == "train") for key, (fn, path) in cases.items()
              if path["compiled"] or "," not in key[1]}   # every model's fastest path
    # the TNRD step on two threads (the target's "two cores"), compiled, best of --repeat
    tnrd_fn, tnrd_path = cases[("train", f"TNRD-style 5x5, {COMPILED_PATH}", TNRD_BATCH)]
    torch.set_num_threads(2)
    try:
        with torch.inference_mode(False), torch.set_grad_enabled(True):
            _timed(tnrd_fn, tnrd_path)   # the kernels compile again for the thread count
            two_threads = min(_timed(tnrd_fn, tnrd_path) for _ in range(args.repeat))
    finally:
        torch.set_num_threads(args.threads)
    kernels.use_compiled(False)
    rows = []
    for (kind, name, b), s in best.items():
        size = args.crop + 2 * 8 if kind == "restore" else (
            args.tnrd_crop if name.startswith("TNRD") else 64 if name.startswith("own") else args.train_crop)
        steps = 5 if name.startswith("TNRD") else 8 * REPEATS if name.startswith("own") else 10
        row = {"task": kind, "model": name, "batch": b, "seconds": s, "images_per_s": b / s,
               "mpixel_steps_per_s": b * size * size * steps / s / 1e6}
        if kind == "restore" and b == 8:
            row["batch_over_8_singles"] = s / (8 * best[(kind, name, 1)])
        if (kind, name, b) in shares:
            row["time_shares"] = shares[(kind, name, b)]
        rows.append(row)
    by = {(r["task"], r["model"], r["batch"]): r for r in rows}
    for kind, base, b in (("restore", "FoE-S", 1), ("restore", "FoE-S", 8), ("train", "FoE-S", 10),
                          ("train", "TNRD-style 5x5", TNRD_BATCH), ("train", "own certified", 16)):
        ref = by[(kind, f"{base}, earlier (lookups, oneDNN backward)", b)]["seconds"]
        for path_name in PATHS:
            by[(kind, f"{base}, {path_name}", b)]["speed-up vs earlier"] = ref / by[(kind, f"{base}, {path_name}", b)]["seconds"]
    tnrd_best = min(by[("train", f"TNRD-style 5x5, {p}", TNRD_BATCH)]["seconds"] for p in PATHS)
    out = {"provenance": started, "threads": args.threads, "restore_crop": args.crop,
           "train_crop": args.train_crop, "tnrd_crop": args.tnrd_crop, "tnrd_batch": TNRD_BATCH,
           "tnrd_full_batch_seconds_estimate": tnrd_best / TNRD_BATCH * 400,
           "tnrd_full_batch_seconds_two_threads": two_threads / TNRD_BATCH * 400,
           "load_average": {"before": load_before, "after": os.getloadavg()[0]},
           "seconds": time.perf_counter() - t_start, "rows": rows}
    path = record_path("learned", "cpu")
    write_json_atomic(path, out)
    for r in rows:
        print(f"{r['task']:8s} {r['model']:46s} b{r['batch']:<3d} {r['seconds']:8.3f} s  {r['images_per_s']:7.2f} img/s"
              + (f"  x{r['speed-up vs earlier']:.2f}" if "speed-up vs earlier" in r else "")
              + (f"  batch/8 singles {r['batch_over_8_singles']:.2f}" if "batch_over_8_singles" in r else ""))
    print(f"TNRD full batch (400 x {args.tnrd_crop}²) forward + backward: {out['tnrd_full_batch_seconds_estimate']:.0f} s "
          f"on one thread, {out['tnrd_full_batch_seconds_two_threads']:.0f} s on two; written to {path}")
    return out


if __name__ == "__main__":
    main()
