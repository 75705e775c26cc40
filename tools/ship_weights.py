"""Copy the leaderboard states fitted by a recorded run into the package, where the command line finds them.

    python tools/ship_weights.py [--scale medium]
    python tools/ship_weights.py --own-full     # the own certified model's finished full runs, one per sigma

Reads the run's cache (``build/leaderboard/<scale>/``, written by ``python -m pdedenoise.notebooks --scale <scale>
--only 05_``) and its results (``results/<scale>/05_leaderboard.json``, for the provenance), copies every state of a
method the book ships (our own fitting only: never the authors' checkpoints) into
``src/pdedenoise/leaderboard/weights/`` with a checksummed manifest, withholds (with the reason found) any state that
failed on some test image (output not finite, blown up, or below the noisy input's PSNR there:
:func:`pdedenoise.leaderboard.evaluate.failures`), skips states the run did not score, and refuses to exceed the size
budget.
"""
from __future__ import annotations

import argparse
import sys

import pandas as pd
import torch

from pdedenoise.checkout import repo_root
from pdedenoise.leaderboard import evaluate, methods, weights
from pdedenoise.results import load_results, results_dir


def _failed(fails, method: str, sigma: float) -> str:
    """Why a scored state must not be shipped ('' when it may): the test images it failed on at ``sigma``
    (``fails``: :func:`pdedenoise.leaderboard.evaluate.failures` of the recorded scores), with what was found."""
    mine = fails[(fails["method"] == method) & (fails["sigma"] == sigma)]
    return "; ".join(f"failed on {r.failed} of {r.images} {r.set} images: {r.reason}" for r in mine.itertuples())


def ship_own_full(scale: str = "full", prefix: str = "05_own_full", dest=None) -> int:
    """Ship the own certified model's finished runs of ``tools/record_own_full.py`` (``results/<scale>/
    <prefix>_s<sigma>.{json,pt}``) as ``own-certified`` at each sigma into ``dest`` (default the package's weights);
    an unfinished run ships nothing. Exit status 0 when one was shipped, 2 when none was finished."""
    from pdedenoise.leaderboard.ownfull import SIGMAS

    dest = weights.WEIGHTS_DIR if dest is None else dest
    shipped = 0
    for sigma in SIGMAS:
        record = load_results(f"{prefix}_s{sigma}", scale)
        path = results_dir(scale) / f"{prefix}_s{sigma}.pt"
        if record is None or not record.get("complete") or not path.is_file():
            print(f"own-certified at sigma {sigma}: no finished run in {results_dir(scale)}", file=sys.stderr)
            continue
        state = torch.load(path, weights_only=True)
        prov = record["provenance"]
        weights.save_state(state, "own-certified", sigma, dest,
                           {"scale": scale, "date": prov["date"], "commit": prov.get("commit"),
                            "device": prov.get("device"), "budget": record["run"],
                            "seconds": record["training"]["wall seconds"]})
        shipped += 1
        print(f"shipped own-certified at sigma {sigma} ({record['evaluation']['BSD68']['own PSNR']:.2f} dB on BSD68)")
    if weights.total_bytes(dest) > weights.BUDGET_BYTES:
        print(f"the shipped states take {weights.total_bytes(dest) / 2**20:.2f} MiB, over the budget", file=sys.stderr)
        return 1
    return 0 if shipped else 2


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--scale", default="medium", choices=("medium", "full"))
    ap.add_argument("--own-full", action="store_true",
                    help="ship the own certified model's finished full-protocol runs instead")
    args = ap.parse_args(argv)
    if args.own_full:
        return ship_own_full()
    cache = repo_root() / "build" / "leaderboard" / args.scale
    run = load_results("05_leaderboard", args.scale)
    if run is None or not weights.manifest(cache):
        print(f"no recorded {args.scale} run with fitted states (need results/{args.scale}/05_leaderboard.json and "
              f"{cache}); run: python -m pdedenoise.notebooks --scale {args.scale} --only 05_", file=sys.stderr)
        return 2
    prov = run["provenance"]
    board = {row["method"]: row for row in run["board"]}
    fails = evaluate.failures(pd.DataFrame(run["scores"]))
    picked, held = [], []
    for name, entry in weights.manifest(cache).items():
        method, sigma = weights.parse_file_name(name)
        if not methods.get(method).shipped:
            continue
        key = f"PSNR BSD68 s{sigma:g}"
        got, noisy = board.get(method, {}).get(key), board.get("noisy input", {}).get(key)
        if got is None or noisy is None:
            print(f"skipped {method} at sigma {sigma:g}: the recorded run has no BSD68 score for it", file=sys.stderr)
            continue
        reason = _failed(fails, method, sigma)
        if reason:
            held.append((method, sigma, reason))
        else:
            picked.append((method, sigma, entry))
    total = sum(int(e["bytes"]) for *_, e in picked)
    if total > weights.BUDGET_BYTES:
        print(f"the states take {total / 2**20:.2f} MiB, over the {weights.BUDGET_BYTES / 2**20:.0f} MiB budget",
              file=sys.stderr)
        return 1
    for method, sigma, entry in picked:
        state = weights.load_state(method, sigma, cache)
        weights.save_state(state, method, sigma, weights.WEIGHTS_DIR,
                           {"scale": args.scale, "date": prov["date"], "commit": prov.get("commit"),
                            "device": prov.get("device"), "budget": entry.get("budget"),
                            "seconds": entry.get("seconds")})
    for method, sigma, reason in held:
        weights.withhold(method, sigma, weights.WEIGHTS_DIR,
                         f"{reason} in the recorded {args.scale} run ({prov['date'][:10]}, commit {prov.get('commit')})")
        print(f"withheld {method} at sigma {sigma:g}: {reason}")
    print(f"shipped {len(picked)} states, {weights.total_bytes() / 2**20:.2f} MiB, into {weights.WEIGHTS_DIR}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
