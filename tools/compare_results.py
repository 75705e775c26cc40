"""Compare the numbers of two results folders (e.g. ``results/ci`` before and after a change).

Walks every ``*.json`` present in both folders and reports, per file, how many numeric leaves differ and
the largest absolute difference (provenance, timings and other wall-clock fields are skipped)::

    python tools/compare_results.py /tmp/before/ci results/ci

Exit status 0 when every compared number is bit-identical, 1 otherwise (the report says by how much).
"""
from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path

SKIP_KEYS = {"provenance", "seconds", "notebook_seconds", "wall_seconds", "explicit_s", "spectral_s",
             "throughput_images_per_s", "train_images_per_s", "images_per_s", "date", "commit"}


def leaves(obj, path=""):
    """(path, value) for every number or string in a JSON tree, skipping wall-clock fields."""
    if isinstance(obj, dict):
        for k, v in obj.items():
            if k in SKIP_KEYS or "second" in k or "time" in k.lower():
                continue
            yield from leaves(v, f"{path}/{k}")
    elif isinstance(obj, list):
        for i, v in enumerate(obj):
            yield from leaves(v, f"{path}[{i}]")
    else:
        yield path, obj


def compare(a: Path, b: Path) -> tuple[int, int, float, str]:
    la, lb = dict(leaves(json.loads(a.read_text()))), dict(leaves(json.loads(b.read_text())))
    differ, worst, where = 0, 0.0, ""
    for key in la.keys() & lb.keys():
        x, y = la[key], lb[key]
        if isinstance(x, (int, float)) and isinstance(y, (int, float)) and not isinstance(x, bool):
            if x != y and not (isinstance(x, float) and math.isnan(x) and math.isnan(y)):
                differ += 1
                d = abs(x - y)
                if d > worst:
                    worst, where = d, key
        elif x != y:
            differ += 1
            where = where or key
    missing = len(la.keys() ^ lb.keys())
    return len(la.keys() & lb.keys()), differ + missing, worst, where


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("before", type=Path)
    ap.add_argument("after", type=Path)
    args = ap.parse_args(argv)
    status = 0
    for a in sorted(args.before.glob("[!_]*.json")):
        b = args.after / a.name
        if not b.exists():
            print(f"{a.name}: missing in {args.after}")
            status = 1
            continue
        n, differ, worst, where = compare(a, b)
        status |= differ > 0
        print(f"{a.name}: {n} values, {differ} differ" + (f", largest |difference| {worst:.3g} at {where}" if differ else ""))
    return status


if __name__ == "__main__":
    sys.exit(main())
