"""Chapter 3's gap experiments: why the book's runs of the released KA, U-Net and Perona-Malik differ from the
authors' README, tested on the released checkpoints (:mod:`pdedenoise.papers.valdivia2024.gaps`).

Runs on a subset of the chapter's 500 BSDS500 val crops: the first crop of each of the 100 val images
(``protocol.val_crops(500)[::5]``), KA (PSNR and SSIM) at the sigmas of ``--ka-sigmas``, the U-Net and the
authors' Perona-Malik grid at every sigma, and (``pm_settings``) PSNR and SSIM of the README's usage example of the
baseline and of the grid setting nearest the README row (read from the recorded grid) at every sigma.
The pre-2023-09-26 U-Net checkpoints are read from a clone of the authors' repository (``--authors-repo``, a work
tree or a bare git directory; without it that experiment is left out). Writes
``results/medium/03_learned_diffusivities_gaps.json``; the chapter's page shows it.

Each row's verdict here is against the subset's own gap; the page judges the recorded changes against the gap
of the full 500-crop run (``gaps.reverdict``).

    .venv/bin/python tools/record_valdivia_gaps.py --authors-repo PATH --stride 50   # minutes to an hour (load)
    .venv/bin/python tools/record_valdivia_gaps.py --stride 50 --only ka --ka-sigmas 15 25 50  # minutes a sigma
    .venv/bin/python tools/record_valdivia_gaps.py --stride 50 --only pm_settings  # after the grid (--only pm)
"""
from __future__ import annotations

import argparse
import time

import pandas as pd

from pdedenoise import threads
from pdedenoise.papers.valdivia2024 import gaps as G
from pdedenoise.papers.valdivia2024 import protocol as P
from pdedenoise.results import load_results, provenance, save_results

NAME = "03_learned_diffusivities_gaps"


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--authors-repo", default=None, help="a clone of github.com/JoelVO/anisotropic_diffusion")
    ap.add_argument("--stride", type=int, default=5, help="every stride-th of the 500 val crops (5: 100 crops)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--only", choices=("ka", "unet", "pm", "pm_settings"), nargs="*",
                    default=("ka", "unet", "pm", "pm_settings"))
    ap.add_argument("--ka-sigmas", type=int, nargs="*", default=list(P.SIGMAS))
    args = ap.parse_args(argv)
    threads.configure()
    start = provenance("cpu")
    val = P.val_crops(500, P.CROP, seed=args.seed)
    clean = val[::args.stride]
    subset = {"subset": f"every {args.stride}th of the chapter's 500 val crops (the first crop of every "
                        f"{args.stride // 5}th val image): {clean.shape[0]} crops of {P.CROP}x{P.CROP}",
              "n_crops": int(clean.shape[0]), "seed": args.seed}
    payload = {}

    def save():  # parts may run as parallel processes: merge into what is on disk now
        merged = load_results(NAME, "medium") or {}
        for key in ("name", "scale", "provenance"):
            merged.pop(key, None)
        merged.update(payload)
        save_results(NAME, "medium", merged, provenance_at_start=start)

    if "ka" in args.only:
        t0 = time.perf_counter()
        other = P.val_crops(500, P.CROP, seed=args.seed + 1000)[::args.stride]
        c = (P.CROP - 128) // 2
        # the rows of the sigmas not run now are kept (a recording of sigma 25 alone stored no sigma per row)
        before = (load_results(NAME, "medium") or {}).get("ka") or {}
        kept = [dict(r, sigma=int(r.get("sigma", before.get("sigma", 25)))) for r in before.get("rows", [])]
        kept = [r for r in kept if r["sigma"] not in args.ka_sigmas and before.get("n_crops") == subset["n_crops"]]
        seconds = {int(k): v for k, v in (before.get("seconds_by_sigma") or (
            {before["sigma"]: before.get("seconds")} if "sigma" in before else {})).items()
            if int(k) not in args.ka_sigmas}
        rows = []
        for sigma in args.ka_sigmas:
            t1 = time.perf_counter()
            rows += G.ka_experiments(clean, other, clean[..., c:c + 128, c:c + 128], sigma, args.seed)
            seconds[sigma] = time.perf_counter() - t1
            every = sorted(kept + rows, key=lambda r: r["sigma"])
            payload["ka"] = {**subset, "sigmas": sorted({r["sigma"] for r in every}), "rows": every,
                             "seconds_by_sigma": seconds, "seconds": sum(seconds.values())}
            save()
            print("KA", sigma, pd.DataFrame([r for r in rows if r["sigma"] == sigma])[
                ["experiment", "PSNR", "verdict", "SSIM", "SSIM verdict"]], flush=True)
    if "unet" in args.only:
        t0 = time.perf_counter()
        payload["unet"] = {**subset, "rows": [r for s in P.SIGMAS for r in G.unet_experiments(clean, s, args.authors_repo,
                                                                                      args.seed)],
                           "seconds": time.perf_counter() - t0}
        if args.authors_repo is not None:
            import tempfile
            with tempfile.TemporaryDirectory() as tmp:
                payload["unet"]["old_training_mse"] = {
                    s: G.old_training_loss(G.extract_old_unet(args.authors_repo, s, tmp)) for s in P.SIGMAS}
        save()
        print("U-Net", pd.DataFrame(payload["unet"]["rows"])[["sigma", "experiment", "PSNR"]], flush=True)
    if "pm" in args.only:
        t0 = time.perf_counter()
        grids = {s: G.authors_pm_grid(clean, s, args.seed) for s in P.SIGMAS}
        payload["pm"] = {**subset, "grid": pd.concat(grids.values(), ignore_index=True).to_dict("records"),
                         "seconds": time.perf_counter() - t0}
        save()
        print("PM best", {s: float(g.PSNR.max()) for s, g in grids.items()}, flush=True)
    if "pm_settings" in args.only:
        t0 = time.perf_counter()
        recorded = (load_results(NAME, "medium") or {}).get("pm") or payload.get("pm")
        if recorded is None:
            raise SystemExit("pm_settings needs the recorded grid: run --only pm first")
        settings = {"README example": dict(G.README_PM_EXAMPLE),
                    "nearest single setting": G.nearest_pm_setting(recorded["grid"])}
        tuned = (load_results("03_learned_diffusivities", "medium") or {}).get("pm") or {}  # the book's baseline
        recorded = dict(recorded)
        recorded["settings"] = [r for s in P.SIGMAS for r in G.pm_setting_scores(clean, s, {**settings, **(
            {"book (tuned)": {"option": P.PM_GRID["option"], "K": tuned[str(s)]["K"], "niter": tuned[str(s)]["niter"]}}
            if str(s) in tuned else {})}, args.seed)]
        recorded["settings_seconds"] = time.perf_counter() - t0
        payload["pm"] = recorded
        save()
        print("PM settings", pd.DataFrame(recorded["settings"]), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
