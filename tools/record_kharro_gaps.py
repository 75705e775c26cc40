"""Chapter 1's gap experiments: why some of the paper's PSNRs lie more than 0.5 dB from the book's, tested
(:mod:`pdedenoise.papers.kharro2026.gaps`): every entry of Tables 3-5 (Barbara's included) and Figure 1 more than
0.5 dB from the paper, under noise seed, boundary, storage, rounding, PSNR peak, scheme, image file and resolution
(an upscaled Barbara), one final time per image (fitted to the image's whole row) and a final time per entry; and
Barbara's row for the standard and the upscaled images.

Uses the chapter's fitted protocol as recorded in ``results/medium/01_heat_pinn.json``. Writes
``results/medium/01_heat_pinn_gaps.json``; the chapter's page shows it.

    .venv/bin/python tools/record_kharro_gaps.py        # about ten minutes on one CPU core
"""
from __future__ import annotations

import argparse
import time

import pandas as pd

from pdedenoise import data, threads
from pdedenoise.papers.kharro2026 import gaps as G
from pdedenoise.papers.kharro2026 import protocol
from pdedenoise.results import load_results, provenance, save_results

NAME = "01_heat_pinn_gaps"


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", type=int, default=5, help="noise seeds tried per gap")
    args = ap.parse_args(argv)
    threads.configure()
    start = provenance("cpu")
    t0 = time.perf_counter()
    recorded = load_results("01_heat_pinn", "medium")
    if recorded is None:
        raise SystemExit("results/medium/01_heat_pinn.json is missing: record chapter 1 at medium scale first")
    choice = recorded["protocol"]
    images, paper_images, err = protocol.load_images()
    if not paper_images:
        raise SystemExit(f"the paper's images are not available ({err}); the gap experiments need them")
    variants = G.image_variants(lambda f: data.load_image("classic", f))
    rows = G.gap_experiments(images, variants, choice, seeds=tuple(range(args.seeds)))
    barbara = G.barbara_check(images, choice)
    save_results(NAME, "medium", {"protocol": choice, "seeds": args.seeds, "rows": rows,
                                  "gaps": [list(g) for g in G.find_gaps(images, choice)],
                                  "barbara": barbara.to_dict("records"), "seconds": time.perf_counter() - t0},
                 provenance_at_start=start)
    print(pd.DataFrame(rows)[["gap", "experiment", "PSNR", "change", "row rms (dB)", "verdict"]].to_string())
    print(barbara.to_string())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
